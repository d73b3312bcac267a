//! `report.xml`: JUnit XML. A testsuite per version and section, a testcase per scenario; the
//! failure text is expected/got followed by the transcripts. A blocked scenario is a skipped
//! testcase whose message starts with `blocked:` and names the cause; a lenient-receiver finding
//! is a skipped testcase whose message starts with `lenient receiver:`. Written by hand with a strict
//! escaper (markup characters, and characters XML 1.0 cannot hold at all).

use super::scenario_section;
use crate::verdict::{Outcome, RunReport};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Escapes text for XML 1.0 content and attribute values. Characters XML cannot represent
/// (most C0 controls, U+FFFE, U+FFFF, lone surrogates cannot occur in `str`) become U+FFFD.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// `finding F…: ` for a scenario in a finding (its root-cause group), else nothing.
fn finding_prefix(report: &RunReport, index: usize) -> String {
    report
        .finding_of(index)
        .map(|f| format!("finding {} ({} scenario(s)): ", f.id, f.scenarios.len()))
        .unwrap_or_default()
}

/// The report as JUnit XML.
pub fn render(report: &RunReport) -> String {
    // (version order, section) -> scenario indexes
    let mut suites: BTreeMap<(usize, String), Vec<usize>> = BTreeMap::new();
    for (i, r) in report.scenarios.iter().enumerate() {
        let vpos = report
            .meta
            .versions
            .iter()
            .position(|v| *v == r.version)
            .unwrap_or(0);
        suites
            .entry((vpos, scenario_section(report, i)))
            .or_default()
            .push(i);
    }
    let mut ordered: Vec<_> = suites.into_iter().collect();
    ordered.sort_by(|a, b| {
        a.0 .0
            .cmp(&b.0 .0)
            .then_with(|| spec_manifest::model::section_cmp(&a.0 .1, &b.0 .1))
    });

    let count = |o: Outcome| report.scenarios.iter().filter(|r| r.outcome == o).count();
    let mut x = String::new();
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3}\" timestamp=\"{}\">",
        escape(&format!("MQTT conformance: {}", report.meta.target_name)),
        report.scenarios.len(),
        count(Outcome::Fail),
        count(Outcome::Error),
        count(Outcome::Skipped) + count(Outcome::Blocked) + count(Outcome::Lenient),
        report.meta.duration.as_secs_f64(),
        escape(&report.meta.started_at),
    );
    let mut first_suite = true;
    for ((_, section), idx) in ordered {
        let version = report.scenarios[idx[0]].version;
        let of = |o: Outcome| {
            idx.iter()
                .filter(|&&i| report.scenarios[i].outcome == o)
                .count()
        };
        let time: f64 = idx
            .iter()
            .map(|&i| report.scenarios[i].duration.as_secs_f64())
            .sum();
        let title = report
            .statements
            .iter()
            .find(|s| s.version == version && s.statement.section == section)
            .map(|s| format!(" {}", s.statement.title))
            .unwrap_or_default();
        let _ = writeln!(
            x,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{time:.3}\">",
            escape(&format!("MQTT {version} section {section}{title}")),
            idx.len(),
            of(Outcome::Fail),
            of(Outcome::Error),
            of(Outcome::Skipped) + of(Outcome::Blocked) + of(Outcome::Lenient),
        );
        // Run-level warnings, once, on the first suite: JUnit has no run-level element for them.
        if std::mem::take(&mut first_suite) && !report.warnings.is_empty() {
            x.push_str("    <properties>\n");
            for w in &report.warnings {
                let _ = writeln!(
                    x,
                    "      <property name=\"warning\" value=\"{}\"/>",
                    escape(w)
                );
            }
            x.push_str("    </properties>\n");
        }
        for i in idx {
            let r = &report.scenarios[i];
            let _ = write!(
                x,
                "    <testcase name=\"{}\" classname=\"{}\" time=\"{:.3}\"",
                escape(&r.name),
                escape(&format!("mqtt-{version}.{section}")),
                r.duration.as_secs_f64()
            );
            let mut ids = format!("statements: {}", r.ids.join(", "));
            if r.contaminated {
                let topics: Vec<&str> = r.foreign.iter().map(|f| f.topic.as_str()).collect();
                let _ = write!(
                    ids,
                    "\ncontaminated: foreign PUBLISHes set aside ({})",
                    topics.join(", ")
                );
            }
            match r.outcome {
                Outcome::Pass => {
                    let _ = writeln!(x, ">");
                    let mut out = ids;
                    for c in &r.choices {
                        out.push_str("\nchoice: ");
                        out.push_str(c);
                    }
                    let _ = writeln!(x, "      <system-out>{}</system-out>", escape(&out));
                    x.push_str("    </testcase>\n");
                }
                Outcome::Blocked => {
                    let _ = writeln!(x, ">");
                    let cause = r.blocked_cause().unwrap_or_default();
                    let mut text = format!("{ids}\nblocked: {cause}\n");
                    for e in &r.evidence {
                        let _ = write!(
                            text,
                            "\n--- transcript of {} ---\n{}\n",
                            e.label, e.transcript
                        );
                    }
                    let _ = writeln!(
                        x,
                        "      <skipped message=\"{}\">{}</skipped>",
                        escape(&format!("blocked: {cause}")),
                        escape(&text)
                    );
                    x.push_str("    </testcase>\n");
                }
                Outcome::Lenient => {
                    // Not a failure (the spec lets a receiver skip the check), so JUnit shows
                    // it as skipped, with the finding and its transcripts.
                    let _ = writeln!(x, ">");
                    let expected = r.expected.as_deref().unwrap_or("");
                    let got = r.got.as_deref().unwrap_or("");
                    let mut text = format!("{ids}\nexpected: {expected}\ngot: {got}\n");
                    for e in &r.evidence {
                        let _ = write!(
                            text,
                            "\n--- transcript of {} ---\n{}\n",
                            e.label, e.transcript
                        );
                    }
                    let _ = writeln!(
                        x,
                        "      <skipped message=\"{}\">{}</skipped>",
                        escape(&format!(
                            "lenient receiver: {}expected: {expected}; got: {got}",
                            finding_prefix(report, i)
                        )),
                        escape(&text)
                    );
                    x.push_str("    </testcase>\n");
                }
                Outcome::Skipped => {
                    let _ = writeln!(x, ">");
                    let _ = writeln!(
                        x,
                        "      <skipped message=\"{}\"/>",
                        escape(r.skip_reason.as_deref().unwrap_or("skipped"))
                    );
                    x.push_str("    </testcase>\n");
                }
                Outcome::Fail | Outcome::Error => {
                    let _ = writeln!(x, ">");
                    let tag = if r.outcome == Outcome::Fail {
                        "failure"
                    } else {
                        "error"
                    };
                    let expected = r.expected.as_deref().unwrap_or("");
                    let got = r.got.as_deref().unwrap_or("");
                    let mut text = format!("{ids}\nexpected: {expected}\ngot: {got}\n");
                    for e in &r.evidence {
                        let _ = write!(
                            text,
                            "\n--- transcript of {} ---\n{}\n",
                            e.label, e.transcript
                        );
                    }
                    let _ = writeln!(
                        x,
                        "      <{tag} message=\"{}\" type=\"{}\">{}</{tag}>",
                        escape(&format!(
                            "{}expected: {expected}; got: {got}",
                            finding_prefix(report, i)
                        )),
                        if r.outcome == Outcome::Fail {
                            "conformance"
                        } else {
                            "runner"
                        },
                        escape(&text)
                    );
                    x.push_str("    </testcase>\n");
                }
            }
        }
        x.push_str("  </testsuite>\n");
    }
    x.push_str("</testsuites>\n");
    x
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_markup_and_forbidden_characters() {
        assert_eq!(escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(escape("x\u{0}y\u{1b}z\n\t"), "x\u{FFFD}y\u{FFFD}z\n\t");
    }
}
