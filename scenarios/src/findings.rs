//! One finding per root cause: failures (and lenient-receiver findings, and runner errors) that
//! share a failure signature are grouped into one [`Finding`] that lists its scenarios and
//! statements, so a broker bug that breaks ten scenarios is read once.
//!
//! The signature of a scenario result is its outcome, its expectation and what it got, with the
//! run-specific tokens normalised away:
//! - every word (run of ASCII letters and digits) that starts with the run token — the topic
//!   prefixes `mqttconf/<token><seq>/` and the client ids — becomes `*`;
//! - a number followed by ` ms` (a measured time) becomes `#`;
//! - `packet_id=<n>` becomes `packet_id=#`.
//!
//! Everything else, bytes received included, stays: two failures are one finding only when they
//! expected the same thing and got the same thing. The id is `F` and 10 hex digits of the 64-bit
//! FNV-1a hash of the signature: stable across runs, builds and machines.

use crate::verdict::{Outcome, ScenarioResult};
use serde::Serialize;
use std::collections::BTreeMap;

/// A group of scenario results with the same failure signature.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// `F` and 10 hex digits of the signature's hash.
    pub id: String,
    /// `fail`, `lenient` or `error`.
    pub outcome: Outcome,
    /// One line: what was expected and what happened, normalised.
    pub summary: String,
    /// The scenarios, in run order.
    pub scenarios: Vec<String>,
    /// The statements they check, `<version> <id>`, sorted, without repeats.
    pub statements: Vec<String>,
    /// Index into the report's scenarios of the representative (the first in run order),
    /// whose transcripts the reports show.
    #[serde(skip)]
    pub representative: usize,
}

/// `text` with the run-specific tokens replaced (see the module doc).
pub fn normalise(text: &str, run_token: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String, next: &str| {
        if word.is_empty() {
            return;
        }
        if !run_token.is_empty() && word.starts_with(run_token) {
            out.push('*');
        } else if word.bytes().all(|b| b.is_ascii_digit())
            && (next.starts_with(" ms") || out.ends_with("packet_id="))
        {
            out.push('#');
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for (i, c) in text.char_indices() {
        if c.is_ascii_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut out, &text[i..]);
            out.push(c);
        }
    }
    flush(&mut word, &mut out, "");
    out
}

/// The failure signature of `r` (see the module doc).
pub fn signature(r: &ScenarioResult, run_token: &str) -> String {
    format!(
        "{}\nexpected: {}\ngot: {}",
        r.outcome.as_str(),
        normalise(r.expected.as_deref().unwrap_or(""), run_token),
        normalise(r.got.as_deref().unwrap_or(""), run_token)
    )
}

/// 64-bit FNV-1a.
fn fnv1a(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The findings of a run: one per signature among the failed, errored and lenient results, in
/// the order of their first scenario.
pub fn group(results: &[ScenarioResult], run_token: &str) -> Vec<Finding> {
    let mut by_sig: BTreeMap<String, usize> = BTreeMap::new();
    let mut out: Vec<Finding> = Vec::new();
    for (i, r) in results.iter().enumerate() {
        if !r.has_evidence() {
            continue;
        }
        let sig = signature(r, run_token);
        let at = *by_sig.entry(sig.clone()).or_insert_with(|| {
            let mut summary = format!(
                "expected {}; got {}",
                normalise(r.expected.as_deref().unwrap_or(""), run_token),
                normalise(r.got.as_deref().unwrap_or(""), run_token)
            )
            .replace('\n', " ");
            if summary.chars().count() > 200 {
                summary = summary.chars().take(199).collect::<String>() + "…";
            }
            out.push(Finding {
                id: format!("F{:010x}", fnv1a(&sig) >> 24),
                outcome: r.outcome,
                summary,
                scenarios: Vec::new(),
                statements: Vec::new(),
                representative: i,
            });
            out.len() - 1
        });
        let f = &mut out[at];
        f.scenarios.push(r.name.clone());
        for id in &r.ids {
            let s = format!("{} {id}", r.version);
            if !f.statements.contains(&s) {
                f.statements.push(s);
            }
        }
    }
    for f in &mut out {
        f.statements.sort();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_run_tokens_timings_and_packet_ids() {
        assert_eq!(
            normalise(
                "PUBLISH(topic=\"mqttconf/ab1cd02q/rm\", qos=1, packet_id=4) to ab1cd05100group after 4220 ms, SUBACK [90 04 00 01 00 01], 1.5 × 2 s",
                "ab1cd"
            ),
            "PUBLISH(topic=\"mqttconf/*/rm\", qos=1, packet_id=#) to * after # ms, SUBACK [90 04 00 01 00 01], 1.5 × 2 s"
        );
        assert_eq!(fnv1a(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a("a"), 0xaf63_dc4c_8601_ec8c);
    }
}
