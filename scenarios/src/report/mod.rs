//! The files a run writes into its report directory:
//! - `report.json`: everything (metadata, every statement with its scenarios, evidence of failures);
//! - `report.xml`: JUnit, a testsuite per version and section, a testcase per scenario;
//! - `report.md`: counts, a per-section table, failures with transcripts, recorded choices;
//! - `report.html`: one self-contained page: summary, coverage map, findings, every statement
//!   with its verdict and summary, failures with their transcripts collapsed;
//! - `verdicts.json`: the stable part (no timings) that baselines compare.
//!
//! [`matrix`] joins the reports of several brokers into one statement × broker table.

mod html;
mod json;
mod junit;
mod markdown;
pub mod matrix;
mod verdicts;

pub use verdicts::{compare, Change, Subject, Unstable, UnstableScenario, Verdicts};

use crate::verdict::RunReport;
use std::path::{Path, PathBuf};

/// Writes the five files into `dir` (created if missing); returns their paths.
pub fn write_all(report: &RunReport, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let files = [
        ("report.json", json::render(report)),
        ("report.xml", junit::render(report)),
        ("report.md", markdown::render(report)),
        ("report.html", html::render(report)),
        ("verdicts.json", Verdicts::of(report).to_json()),
    ];
    let mut written = Vec::new();
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text)?;
        written.push(path);
    }
    Ok(written)
}

pub use html::render as render_html;
pub use json::render as render_json;
pub use junit::render as render_junit;
pub use markdown::render as render_markdown;

/// The section a scenario is filed under: the section of its first statement, cut to the
/// spec's chapter.section (`3.1.2.5` -> `3.1`).
pub(crate) fn scenario_section(report: &RunReport, index: usize) -> String {
    report
        .statements
        .iter()
        .find(|s| s.scenarios.contains(&index))
        .map(|s| top_section(&s.statement.section))
        .unwrap_or_else(|| "other".into())
}

/// `3.1.2.5` -> `3.1`; `4` -> `4`.
pub(crate) fn top_section(section: &str) -> String {
    section.split('.').take(2).collect::<Vec<_>>().join(".")
}
