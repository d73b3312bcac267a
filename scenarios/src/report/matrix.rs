//! The cross-broker matrix: one run report per broker (written as usual into its own
//! directory), joined into a statement × broker table with a summary per broker, as
//! `report.md`, `report.json` and `report.html` in the matrix directory. A broker that could not
//! be run is a column saying why, never left out.
//!
//! Cells are the statement verdicts of each broker's own report (the same rule, nothing
//! recomputed here), with `(contaminated)` added when a scenario behind the verdict received
//! foreign PUBLISHes.

use super::html::{self, esc, statement_anchor, verdict_span};
use crate::verdict::{RunReport, Verdict};
use serde_json::{json, Value};
use spec_manifest::Version;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One broker of the matrix.
#[derive(Debug, Clone)]
pub struct Column {
    /// Its report name (`mosquitto-2.0`), also its directory under the matrix directory.
    pub name: String,
    /// What ran, with its version (`Mosquitto 2.0.11`), or what would have.
    pub software: String,
    /// Its report, or why it was not run.
    pub run: Result<RunReport, String>,
}

/// Every broker's result.
#[derive(Debug, Clone)]
pub struct Matrix {
    /// When the matrix run started, RFC 3339 UTC.
    pub started_at: String,
    /// How long it took, brokers' start and stop included.
    pub duration: Duration,
    /// The brokers, in run order.
    pub columns: Vec<Column>,
}

/// One statement's verdict on one broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// The verdict from that broker's report.
    pub verdict: Verdict,
    /// Whether a scenario behind it received foreign PUBLISHes.
    pub contaminated: bool,
    /// The findings of its failed or lenient scenarios.
    pub findings: Vec<String>,
}

impl Cell {
    /// `fail`, or `pass (contaminated)`.
    pub fn label(&self) -> String {
        if self.contaminated {
            format!("{} (contaminated)", self.verdict.as_str())
        } else {
            self.verdict.as_str().to_string()
        }
    }
}

/// One statement of the matrix.
#[derive(Debug, Clone)]
pub struct Row {
    /// Its version.
    pub version: Version,
    /// Its id.
    pub id: String,
    /// Its section.
    pub section: String,
    /// MUST, SHOULD, ...
    pub level: String,
    /// The manifest's one-line summary.
    pub summary: String,
    /// Per column: its verdict there, or `None` (not run, or not selected).
    pub cells: Vec<Option<Cell>>,
}

impl Row {
    /// Whether the brokers that have a verdict for it disagree.
    pub fn differs(&self) -> bool {
        let mut it = self.cells.iter().flatten().map(|c| c.verdict);
        match it.next() {
            Some(first) => it.any(|v| v != first),
            None => false,
        }
    }
}

impl Matrix {
    /// The rows: every statement any broker has a verdict for, 5.0 then 3.1.1, in section order.
    pub fn rows(&self) -> Vec<Row> {
        let mut rows: BTreeMap<(usize, String), Row> = BTreeMap::new();
        let n = self.columns.len();
        for (c, col) in self.columns.iter().enumerate() {
            let Ok(report) = &col.run else { continue };
            for s in &report.statements {
                let order = Version::ALL
                    .iter()
                    .position(|v| *v == s.version)
                    .unwrap_or(usize::MAX);
                let row = rows
                    .entry((order, s.statement.id.clone()))
                    .or_insert_with(|| Row {
                        version: s.version,
                        id: s.statement.id.clone(),
                        section: s.statement.section.clone(),
                        level: s.statement.level.as_str().to_string(),
                        summary: s.statement.summary.clone(),
                        cells: vec![None; n],
                    });
                let mut findings: Vec<String> = s
                    .scenarios
                    .iter()
                    .filter_map(|&i| report.finding_of(i).map(|f| f.id.clone()))
                    .collect();
                findings.dedup();
                row.cells[c] = Some(Cell {
                    verdict: s.verdict,
                    contaminated: s
                        .scenarios
                        .iter()
                        .any(|&i| report.scenarios[i].contaminated),
                    findings,
                });
            }
        }
        let mut rows: Vec<Row> = rows.into_values().collect();
        rows.sort_by(|a, b| {
            let va = Version::ALL.iter().position(|v| *v == a.version);
            let vb = Version::ALL.iter().position(|v| *v == b.version);
            va.cmp(&vb)
                .then_with(|| spec_manifest::model::section_cmp(&a.section, &b.section))
                .then_with(|| id_cmp(&a.id, &b.id))
        });
        rows
    }
}

/// `MQTT-3.1.2-9` before `MQTT-3.1.2-10`.
fn id_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let key = |s: &str| -> (String, u32) {
        match s.rsplit_once('-') {
            Some((head, n)) => (head.to_string(), n.parse().unwrap_or(u32::MAX)),
            None => (s.to_string(), 0),
        }
    };
    key(a).cmp(&key(b))
}

/// Writes `report.md`, `report.json` and `report.html` of the matrix into `dir`. The brokers'
/// own reports are expected in `dir/<name>/` (the cells link there).
pub fn write_all(matrix: &Matrix, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for (name, text) in [
        ("report.md", render_markdown(matrix)),
        ("report.json", render_json(matrix)),
        ("report.html", render_html(matrix)),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text)?;
        written.push(path);
    }
    Ok(written)
}

/// Escapes a Markdown table cell.
fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The matrix as Markdown.
pub fn render_markdown(matrix: &Matrix) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# MQTT conformance matrix\n\nStarted {}, {:.1} s, {} broker(s). Each broker's full \
         report is in `<broker>/report.md` beside this file.\n",
        matrix.started_at,
        matrix.duration.as_secs_f64(),
        matrix.columns.len()
    );
    md.push_str("## Brokers\n\n| broker | software | target | version | pass | fail | lenient | blocked | skipped | untested | not-observable | findings | time |\n");
    md.push_str("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    let mut not_run = Vec::new();
    for col in &matrix.columns {
        match &col.run {
            Ok(r) => {
                for &v in &r.meta.versions {
                    let c = r.counts(Some(v));
                    let _ = write!(
                        md,
                        "| {} | {} | `{}` | {v} |",
                        md_cell(&col.name),
                        md_cell(&col.software),
                        md_cell(&r.meta.target_address)
                    );
                    for verdict in Verdict::ALL {
                        let _ = write!(md, " {} |", c[&verdict]);
                    }
                    let _ = writeln!(
                        md,
                        " {} | {:.0} s |",
                        r.findings.len(),
                        r.meta.duration.as_secs_f64()
                    );
                }
            }
            Err(why) => {
                let _ = writeln!(
                    md,
                    "| {} | {} | — | — | | | | | | | | | |",
                    md_cell(&col.name),
                    md_cell(&col.software)
                );
                not_run.push((col, why));
            }
        }
    }
    md.push('\n');
    for col in &matrix.columns {
        if let Ok(r) = &col.run {
            let _ = write!(md, "- {}: {}", col.name, r.violations_line(None));
            if let Some(line) = r.isolation_line() {
                let _ = write!(md, "; {line}");
            }
            let contaminated = r.scenarios.iter().filter(|s| s.contaminated).count();
            if contaminated > 0 {
                let _ = write!(md, "; {contaminated} contaminated scenario(s)");
            }
            if !r.warnings.is_empty() {
                let _ = write!(md, "; {} run-level warning(s)", r.warnings.len());
            }
            md.push('\n');
        }
    }
    for (col, why) in &not_run {
        let _ = writeln!(md, "- {}: **not run**: {}", col.name, md_cell(why));
    }

    let rows = matrix.rows();
    let _ = writeln!(
        md,
        "\n## Statements ({})\n\nOne cell per broker: the statement's verdict in that broker's \
         report; `—` where it was not run.\n",
        rows.len()
    );
    md.push_str("| version | statement | summary |");
    for col in &matrix.columns {
        let _ = write!(md, " {} |", md_cell(&col.name));
    }
    md.push_str("\n|---|---|---|");
    for _ in &matrix.columns {
        md.push_str("---|");
    }
    md.push('\n');
    for row in &rows {
        let _ = write!(
            md,
            "| {} | {} | {} |",
            row.version,
            row.id,
            md_cell(&row.summary)
        );
        for cell in &row.cells {
            match cell {
                Some(c) => {
                    let _ = write!(md, " {} |", c.label());
                }
                None => md.push_str(" — |"),
            }
        }
        md.push('\n');
    }
    md
}

/// The matrix as pretty JSON.
pub fn render_json(matrix: &Matrix) -> String {
    let brokers: Vec<Value> = matrix
        .columns
        .iter()
        .map(|col| match &col.run {
            Ok(r) => {
                let mut summary = serde_json::Map::new();
                for &v in &r.meta.versions {
                    let counts: serde_json::Map<String, Value> = r
                        .counts(Some(v))
                        .into_iter()
                        .map(|(k, n)| (k.as_str().to_string(), json!(n)))
                        .collect();
                    summary.insert(v.to_string(), Value::Object(counts));
                }
                let (reproduce, rerun) = r.isolation_counts();
                json!({
                    "name": col.name,
                    "software": col.software,
                    "status": "ran",
                    "target": r.meta.target_address,
                    "report": format!("{}/report.json", col.name),
                    "duration_ms": r.meta.duration.as_millis() as u64,
                    "summary": summary,
                    "line": r.violations_line(None),
                    "findings": r.findings.len(),
                    "contaminated_scenarios": r.scenarios.iter().filter(|s| s.contaminated).count(),
                    "isolated": { "rerun": rerun, "reproduce": reproduce },
                    "warnings": r.warnings,
                })
            }
            Err(why) => json!({
                "name": col.name,
                "software": col.software,
                "status": "not-run",
                "reason": why,
            }),
        })
        .collect();
    let statements: Vec<Value> = matrix
        .rows()
        .iter()
        .map(|row| {
            let verdicts: serde_json::Map<String, Value> = matrix
                .columns
                .iter()
                .zip(&row.cells)
                .filter_map(|(col, cell)| {
                    let c = cell.as_ref()?;
                    let mut v = json!({ "verdict": c.verdict.as_str() });
                    if c.contaminated {
                        v["contaminated"] = json!(true);
                    }
                    if !c.findings.is_empty() {
                        v["findings"] = json!(c.findings);
                    }
                    Some((col.name.clone(), v))
                })
                .collect();
            json!({
                "version": row.version.to_string(),
                "id": row.id,
                "section": row.section,
                "level": row.level,
                "summary": row.summary,
                "differs": row.differs(),
                "verdicts": verdicts,
            })
        })
        .collect();
    let doc = json!({
        "started_at": matrix.started_at,
        "duration_ms": matrix.duration.as_millis() as u64,
        "brokers": brokers,
        "statements": statements,
    });
    let mut text =
        serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

/// The matrix as one HTML page; each cell links to the statement in that broker's
/// `report.html`.
pub fn render_html(matrix: &Matrix) -> String {
    let mut out = String::new();
    html::head(&mut out, "MQTT conformance matrix");
    let _ = writeln!(
        out,
        "<h1>MQTT conformance matrix</h1>\n<p>Started {}, {:.1} s, {} broker(s).</p>\n\
         <h2>Brokers</h2>\n<table>\n<tr><th>broker</th><th>software</th><th>target</th>\
         <th>version</th>",
        esc(&matrix.started_at),
        matrix.duration.as_secs_f64(),
        matrix.columns.len()
    );
    for v in Verdict::ALL {
        let _ = write!(out, "<th>{}</th>", v.as_str());
    }
    out.push_str("<th>findings</th><th>notes</th></tr>\n");
    for col in &matrix.columns {
        match &col.run {
            Ok(r) => {
                for (k, &v) in r.meta.versions.iter().enumerate() {
                    let c = r.counts(Some(v));
                    let _ = write!(
                        out,
                        "<tr><td><a href=\"{}/report.html\">{}</a></td><td>{}</td><td><code>{}</code></td><td>{v}</td>",
                        esc(&col.name),
                        esc(&col.name),
                        esc(&col.software),
                        esc(&r.meta.target_address)
                    );
                    for verdict in Verdict::ALL {
                        let _ = write!(out, "<td class=\"n\">{}</td>", c[&verdict]);
                    }
                    let _ = write!(out, "<td class=\"n\">{}</td><td>", r.findings.len());
                    if k == 0 {
                        let mut notes = vec![r.violations_line(None)];
                        notes.extend(r.isolation_line());
                        let contaminated = r.scenarios.iter().filter(|s| s.contaminated).count();
                        if contaminated > 0 {
                            notes.push(format!("{contaminated} contaminated scenario(s)"));
                        }
                        if !r.warnings.is_empty() {
                            notes.push(format!("{} run-level warning(s)", r.warnings.len()));
                        }
                        out.push_str(&esc(&notes.join("; ")));
                    }
                    out.push_str("</td></tr>\n");
                }
            }
            Err(why) => {
                let _ = writeln!(
                    out,
                    "<tr><td>{}</td><td>{}</td><td colspan=\"{}\">{} {}</td></tr>",
                    esc(&col.name),
                    esc(&col.software),
                    Verdict::ALL.len() + 4,
                    verdict_span("not-run"),
                    esc(why)
                );
            }
        }
    }
    out.push_str("</table>\n");

    let rows = matrix.rows();
    let _ = writeln!(
        out,
        "<h2>Statements ({})</h2>\n<div class=\"filters\">",
        rows.len()
    );
    html::verdict_select(&mut out, &["contaminated"]);
    out.push_str(
        "<label>broker <select id=\"f-column\" onchange=\"mqttFilter()\"><option value=\"\">any</option>",
    );
    for (i, col) in matrix.columns.iter().enumerate() {
        let _ = write!(out, "<option value=\"{i}\">{}</option>", esc(&col.name));
    }
    out.push_str("</select></label>\n");
    html::text_filter(&mut out);
    out.push_str(
        "<label><input id=\"f-differ\" type=\"checkbox\" onchange=\"mqttFilter()\"/> only where \
         brokers differ</label>\n</div>\n<table>\n<tr><th>version</th><th>statement</th>\
         <th>section</th><th>summary</th>",
    );
    for col in &matrix.columns {
        let _ = write!(out, "<th>{}</th>", esc(&col.name));
    }
    out.push_str("</tr>\n");
    for row in &rows {
        let verdicts: Vec<&str> = row
            .cells
            .iter()
            .map(|c| match c {
                Some(c) if c.contaminated => "contaminated",
                Some(c) => c.verdict.as_str(),
                None => "-",
            })
            .collect();
        let version = row.version.to_string();
        let _ = write!(
            out,
            "<tr class=\"row\" data-verdicts=\"{}\" data-differ=\"{}\"><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td>",
            verdicts.join(" "),
            u8::from(row.differs()),
            esc(&version),
            esc(&row.id),
            esc(&row.section),
            esc(&row.summary)
        );
        for (col, cell) in matrix.columns.iter().zip(&row.cells) {
            match cell {
                Some(c) => {
                    let _ = write!(
                        out,
                        "<td class=\"c-{}\"><a href=\"{}/report.html#{}\">{}</a>{}</td>",
                        c.verdict.as_str(),
                        esc(&col.name),
                        statement_anchor(&version, &row.id),
                        verdict_span(c.verdict.as_str()),
                        if c.contaminated {
                            format!(" {}", verdict_span("contaminated"))
                        } else {
                            String::new()
                        }
                    );
                }
                None => out.push_str("<td class=\"muted\">—</td>"),
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
    out.push_str(html::FILTER_SCRIPT);
    out.push_str("</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_runs_are_one_report() {
        use crate::report::html::tests::sample;
        let a = sample("x");
        let mut b = sample("x");
        b.meta.target_address = "mqtt://127.0.0.1:2".into();
        b.meta.versions = vec![Version::V3_1_1];
        b.statements.retain(|s| s.version == Version::V3_1_1);
        let (na, nb) = (a.scenarios.len(), b.scenarios.len());
        let m = RunReport::merge(vec![a, b]).unwrap();
        assert_eq!(m.scenarios.len(), na + nb);
        assert_eq!(
            m.meta.target_address,
            "mqtt://127.0.0.1:1883, mqtt://127.0.0.1:2"
        );
        assert_eq!(m.meta.duration, Duration::from_secs(3));
        // Same signatures: the findings are merged, not repeated; indexes still point right.
        assert_eq!(m.findings.len(), 2);
        assert_eq!(m.findings[0].scenarios.len(), 2);
        for s in &m.statements {
            for &i in &s.scenarios {
                assert!(m.scenarios[i].ids.contains(&s.statement.id));
            }
        }
        assert!(RunReport::merge(Vec::new()).is_none());
    }

    #[test]
    fn ids_sort_by_number() {
        let mut ids = vec!["MQTT-3.1.2-10", "MQTT-3.1.2-9", "MQTT-3.1.2-1"];
        ids.sort_by(|a, b| id_cmp(a, b));
        assert_eq!(ids, ["MQTT-3.1.2-1", "MQTT-3.1.2-9", "MQTT-3.1.2-10"]);
    }

    #[test]
    fn matrix_joins_the_reports_and_its_page_is_well_formed() {
        use crate::report::html::tests::{parse_ids, sample};
        let mut b = sample("b");
        // Broker b passes what a failed: the row differs.
        let i = b
            .statements
            .iter()
            .position(|s| s.statement.id == "MQTT-3.1.0-2")
            .unwrap();
        b.statements[i].verdict = Verdict::Pass;
        let m = Matrix {
            started_at: "2026-01-01T00:00:00Z".into(),
            duration: Duration::from_secs(3),
            columns: vec![
                Column {
                    name: "a".into(),
                    software: "A 1.0".into(),
                    run: Ok(sample("a")),
                },
                Column {
                    name: "b".into(),
                    software: "B 2.0".into(),
                    run: Ok(b),
                },
                Column {
                    name: "c".into(),
                    software: "C".into(),
                    run: Err("c not found".into()),
                },
            ],
        };
        let rows = m.rows();
        assert_eq!(rows.len(), 7, "every statement of both versions, once");
        let row = rows.iter().find(|r| r.id == "MQTT-3.1.0-2").unwrap();
        assert!(row.differs());
        assert_eq!(row.cells[0].as_ref().unwrap().verdict, Verdict::Fail);
        assert_eq!(row.cells[0].as_ref().unwrap().findings.len(), 1);
        assert!(row.cells[2].is_none());
        let contaminated = rows
            .iter()
            .find(|r| r.id == "MQTT-3.1.0-1" && r.version == Version::V3_1_1)
            .unwrap();
        assert_eq!(
            contaminated.cells[0].as_ref().unwrap().label(),
            "pass (contaminated)"
        );

        let page = render_html(&m);
        parse_ids(&page);
        assert_eq!(page.matches("<tr class=\"row\"").count(), rows.len());
        for r in &rows {
            assert!(page.contains(&format!(
                "a/report.html#{}",
                statement_anchor(&r.version.to_string(), &r.id)
            )));
        }
        let md = render_markdown(&m);
        assert!(
            md.contains("| 5.0 | MQTT-3.1.0-2 |") && md.contains("| fail | pass | — |"),
            "{md}"
        );
        let j: Value = serde_json::from_str(&render_json(&m)).unwrap();
        assert_eq!(j["statements"].as_array().unwrap().len(), rows.len());
        assert_eq!(j["brokers"][2]["status"], "not-run");
    }

    #[test]
    fn a_broker_not_run_is_a_column_that_says_why() {
        let m = Matrix {
            started_at: "2026-01-01T00:00:00Z".into(),
            duration: Duration::from_secs(1),
            columns: vec![Column {
                name: "rumqttd-0.20".into(),
                software: "rumqttd 0.20.0".into(),
                run: Err("no rumqttd: cargo install rumqttd".into()),
            }],
        };
        assert!(render_markdown(&m).contains("rumqttd-0.20: **not run**: no rumqttd"));
        let j: Value = serde_json::from_str(&render_json(&m)).unwrap();
        assert_eq!(j["brokers"][0]["status"], "not-run");
        assert!(render_html(&m).contains("no rumqttd: cargo install rumqttd"));
    }
}
