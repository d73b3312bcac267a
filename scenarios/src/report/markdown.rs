//! `report.md`: summary counts, a per-section table, every failure with its transcripts in a
//! fenced block, every blocked scenario with its cause, skip reasons, then the choices the
//! target made where the spec allows several.

use super::top_section;
use crate::verdict::{Outcome, RunReport, Verdict};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Escapes a table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// A fence longer than any backtick run in `text`.
fn fence(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    "`".repeat(longest.max(2) + 1)
}

/// `- alone: reproduces alone (fail)` under a failure that was rerun alone, with the rerun's
/// own expected/got when they differ.
fn isolated_line(md: &mut String, r: &crate::verdict::ScenarioResult) {
    let Some(i) = &r.isolated else { return };
    let _ = write!(md, "- rerun alone: {}", i.line());
    if let Some(cause) = &i.cause {
        let _ = write!(md, "; {}", cell(cause));
    }
    if (&i.expected, &i.got) != (&r.expected, &r.got) {
        if let (Some(e), Some(g)) = (&i.expected, &i.got) {
            let _ = write!(md, "; expected {}; got {}", cell(e), cell(g));
        }
    }
    md.push('\n');
}

/// The report as Markdown.
pub fn render(report: &RunReport) -> String {
    let m = &report.meta;
    let mut md = String::new();
    let _ = writeln!(md, "# MQTT conformance: {}\n", m.target_name);
    let _ = writeln!(
        md,
        "Target `{}` over {}, started {}, {:.1} s, {} scenarios, jobs {}{}.\n",
        m.target_address,
        m.transport,
        m.started_at,
        m.duration.as_secs_f64(),
        report.scenarios.len(),
        m.jobs,
        if m.only.is_empty() {
            String::new()
        } else {
            format!(", only {}", m.only.join(" "))
        }
    );

    md.push_str(
        "## Summary\n\n| version | pass | fail | lenient | blocked | skipped | untested | not-observable | total |\n",
    );
    md.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for &v in &m.versions {
        let c = report.counts(Some(v));
        let total: usize = c.values().sum();
        let _ = write!(md, "| {v} |");
        for verdict in Verdict::ALL {
            let _ = write!(md, " {} |", c[&verdict]);
        }
        let _ = writeln!(md, " {total} |");
    }
    let _ = writeln!(
        md,
        "\n{}: `lenient` counts statements whose only findings are a broker accepting a packet \
         the spec forbids the client to send (MQTT 5.0 4.13.1 lets a receiver not detect it); \
         not failures.",
        report.violations_line(None)
    );

    if let Some(line) = report.isolation_line() {
        let _ = writeln!(
            md,
            "\nRerun alone (`--isolate-failures`): {line}. A failure that does not reproduce \
             alone points to a cascade or flakiness; its verdict is unchanged."
        );
    }

    if !report.warnings.is_empty() {
        let _ = writeln!(md, "\n## Warnings ({})\n", report.warnings.len());
        for w in &report.warnings {
            let _ = writeln!(md, "- {}", cell(w));
        }
    }

    let _ = writeln!(
        md,
        "\n## Findings ({})\n\nFailures grouped by root cause: the same expectation and the same \
         result once run-specific tokens (topic prefixes, client ids, packet ids, measured \
         times) are normalised away.\n",
        report.findings.len()
    );
    if report.findings.is_empty() {
        md.push_str("None.\n");
    }
    for f in &report.findings {
        let _ = writeln!(
            md,
            "### {} ({}): {}\n",
            f.id,
            f.outcome.as_str(),
            cell(&f.summary)
        );
        let names: Vec<String> = f.scenarios.iter().map(|n| format!("`{n}`")).collect();
        let _ = writeln!(md, "- scenarios: {}", names.join(", "));
        let _ = writeln!(md, "- statements: {}\n", f.statements.join(", "));
        let r = &report.scenarios[f.representative];
        for e in &r.evidence {
            let fe = fence(&e.transcript);
            let _ = writeln!(
                md,
                "Transcript of `{}` in `{}`:\n\n{fe}text\n{}\n{fe}\n",
                e.label,
                r.name,
                e.transcript.trim_end()
            );
        }
    }

    md.push_str("\n## Sections\n");
    for &v in &m.versions {
        let mut sections: BTreeMap<String, (String, BTreeMap<Verdict, usize>)> = BTreeMap::new();
        for s in report.statements.iter().filter(|s| s.version == v) {
            let key = top_section(&s.statement.section);
            let entry = sections.entry(key.clone()).or_default();
            if s.statement.section == key && entry.0.is_empty() {
                entry.0 = s.statement.title.clone();
            }
            *entry.1.entry(s.verdict).or_default() += 1;
        }
        if sections.is_empty() {
            continue;
        }
        let mut keys: Vec<&String> = sections.keys().collect();
        keys.sort_by(|a, b| spec_manifest::model::section_cmp(a, b));
        let _ = writeln!(md, "\n### MQTT {v}\n");
        md.push_str(
            "| section | title | pass | fail | lenient | blocked | skipped | untested | not-observable |\n",
        );
        md.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
        for k in keys {
            let (title, counts) = &sections[k];
            let _ = write!(md, "| {k} | {} |", cell(title));
            for verdict in Verdict::ALL {
                let _ = write!(md, " {} |", counts.get(&verdict).copied().unwrap_or(0));
            }
            md.push('\n');
        }
    }

    let failed: Vec<_> = report
        .scenarios
        .iter()
        .enumerate()
        .filter(|(_, r)| r.failed())
        .collect();
    let _ = writeln!(md, "\n## Failures ({})\n", failed.len());
    if failed.is_empty() {
        md.push_str("None.\n");
    }
    for (i, r) in failed {
        let _ = writeln!(
            md,
            "### {} ({}){}{}\n",
            r.name,
            r.ids.join(", "),
            report
                .finding_of(i)
                .map(|f| format!(", finding {}", f.id))
                .unwrap_or_default(),
            if r.outcome == Outcome::Error {
                " — runner error"
            } else {
                ""
            }
        );
        let _ = writeln!(md, "- expected: {}", r.expected.as_deref().unwrap_or(""));
        let _ = writeln!(md, "- got: {}", r.got.as_deref().unwrap_or(""));
        isolated_line(&mut md, r);
        md.push('\n');
        for e in &r.evidence {
            let f = fence(&e.transcript);
            let _ = writeln!(
                md,
                "Transcript of `{}`:\n\n{f}text\n{}\n{f}\n",
                e.label,
                e.transcript.trim_end()
            );
        }
    }

    let lenient: Vec<_> = report
        .scenarios
        .iter()
        .enumerate()
        .filter(|(_, r)| r.outcome == Outcome::Lenient)
        .collect();
    if !lenient.is_empty() {
        let _ = writeln!(
            md,
            "## Lenient receiver ({})\n\nThe target accepted a packet a statement forbids the \
             client to send. MQTT 5.0 4.13.1 lets a receiver skip such checks: reported, not \
             counted as failures.\n",
            lenient.len()
        );
        for (i, r) in lenient {
            let _ = writeln!(
                md,
                "### {} ({}){}\n",
                r.name,
                r.ids.join(", "),
                report
                    .finding_of(i)
                    .map(|f| format!(", finding {}", f.id))
                    .unwrap_or_default()
            );
            let _ = writeln!(md, "- expected: {}", r.expected.as_deref().unwrap_or(""));
            let _ = writeln!(md, "- got: {}", r.got.as_deref().unwrap_or(""));
            isolated_line(&mut md, r);
            md.push('\n');
            for e in &r.evidence {
                let f = fence(&e.transcript);
                let _ = writeln!(
                    md,
                    "Transcript of `{}`:\n\n{f}text\n{}\n{f}\n",
                    e.label,
                    e.transcript.trim_end()
                );
            }
        }
    }

    let blocked: Vec<_> = report
        .scenarios
        .iter()
        .filter(|r| r.outcome == Outcome::Blocked)
        .collect();
    if !blocked.is_empty() {
        let _ = writeln!(
            md,
            "## Blocked ({})\n\nA setup step failed before the step under test: these \
             scenarios' statements were not checked.\n",
            blocked.len()
        );
        for r in blocked {
            let _ = writeln!(
                md,
                "- `{}` ({}): {}",
                r.name,
                r.ids.join(", "),
                r.blocked_cause().unwrap_or_default()
            );
        }
        md.push('\n');
    }

    let skipped: Vec<_> = report
        .scenarios
        .iter()
        .filter(|r| r.outcome == Outcome::Skipped)
        .collect();
    if !skipped.is_empty() {
        let _ = writeln!(md, "## Skipped ({})\n", skipped.len());
        for r in skipped {
            let _ = writeln!(
                md,
                "- `{}`: {}",
                r.name,
                r.skip_reason.as_deref().unwrap_or("")
            );
        }
        md.push('\n');
    }

    let with_choices: Vec<_> = report
        .scenarios
        .iter()
        .filter(|r| !r.choices.is_empty())
        .collect();
    let _ = writeln!(md, "## Choices the target made ({})\n", with_choices.len());
    if with_choices.is_empty() {
        md.push_str("None recorded.\n");
    }
    for r in with_choices {
        let _ = writeln!(
            md,
            "- `{}` ({}): {}",
            r.name,
            r.ids.join(", "),
            r.choices.join("; ")
        );
    }
    let contaminated: Vec<_> = report.scenarios.iter().filter(|r| r.contaminated).collect();
    if !contaminated.is_empty() {
        let _ = writeln!(
            md,
            "\n## Contaminated by cross-talk ({})\n\nForeign PUBLISHes (no subscription of the \
             scenario matches) were acknowledged and set aside; the finding is reported once, \
             under `crosstalk`.\n",
            contaminated.len()
        );
        for r in contaminated {
            let topics: Vec<String> = r.foreign.iter().map(|f| format!("`{}`", f.topic)).collect();
            let _ = writeln!(md, "- `{}`: {}", r.name, topics.join(", "));
        }
    }
    let notes: Vec<_> = report
        .scenarios
        .iter()
        .filter(|r| !r.notes.is_empty())
        .collect();
    if !notes.is_empty() {
        md.push_str("\n## Notes\n\n");
        for r in notes {
            let _ = writeln!(md, "- `{}`: {}", r.name, r.notes.join("; "));
        }
    }
    md
}
