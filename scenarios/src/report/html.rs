//! `report.html`: one self-contained page (inline CSS and a few lines of inline JavaScript for
//! filtering; no external asset, readable from disk) with the summary, a coverage map (section ×
//! verdict), the findings, every statement with its verdict, summary and scenarios, and the
//! failures with their transcripts collapsed.
//!
//! The markup is also well-formed XML (void elements closed, every `&` and `<` escaped, the
//! script free of both), so a test can parse it with an XML reader.

use super::top_section;
use crate::verdict::{Outcome, RunReport, ScenarioResult, Verdict};
use std::collections::BTreeMap;
use std::fmt::Write;

/// `text` escaped for element content and attribute values.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters other than tab and newline are not allowed in XML.
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// An element id made of `parts`: anything but ASCII letters, digits, `.`, `-` and `_` becomes
/// `_`.
pub(crate) fn anchor(parts: &[&str]) -> String {
    parts
        .join("-")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The anchor of a statement's row: `st-5.0-MQTT-3.1.2-3`.
pub(crate) fn statement_anchor(version: &str, id: &str) -> String {
    anchor(&["st", version, id])
}

/// The anchor of a scenario's details: `sc-v5.connect.x`.
pub(crate) fn scenario_anchor(name: &str) -> String {
    anchor(&["sc", name])
}

/// The style shared by the run's page and the matrix's.
pub(crate) const STYLE: &str =
    "body{font-family:system-ui,sans-serif;margin:1.5em;line-height:1.4;color:#222}\
table{border-collapse:collapse;margin:.5em 0}\
th,td{border:1px solid #ccc;padding:.2em .5em;vertical-align:top;text-align:left}\
th{background:#f3f3f3}\
td.n{text-align:right}\
pre{background:#f7f7f7;padding:.5em;overflow-x:auto;font-size:.85em}\
code{font-size:.9em}\
.v{font-weight:600;white-space:nowrap}\
.v-pass{color:#176f2c}.v-fail{color:#b00020}.v-lenient{color:#8a5a00}.v-blocked{color:#6a1b9a}\
.v-skipped{color:#555}.v-untested{color:#888}.v-not-observable{color:#888}.v-not-run{color:#888}\
.v-error{color:#b00020}.v-contaminated{color:#a04000}\
td.c-pass{background:#e6f4ea}td.c-fail{background:#fde7e9}td.c-lenient{background:#fff4d6}\
td.c-blocked{background:#f1e6f7}td.c-skipped{background:#f1f1f1}\
.filters{margin:.5em 0;padding:.5em;background:#f3f3f3}\
.filters label{margin-right:1em}\
details{margin:.3em 0}\
summary{cursor:pointer}\
.muted{color:#666}";

/// `<!DOCTYPE html>` and the head with `title`, up to the opening `<body>`.
pub(crate) fn head(html: &mut String, title: &str) {
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        esc(title)
    );
}

/// A verdict (or outcome) word with its colour class.
pub(crate) fn verdict_span(word: &str) -> String {
    format!("<span class=\"v v-{}\">{}</span>", esc(word), esc(word))
}

/// A collapsed block of preformatted text.
fn collapsed_pre(html: &mut String, label: &str, text: &str) {
    let _ = writeln!(
        html,
        "<details><summary>{}</summary><pre>{}</pre></details>",
        label,
        esc(text.trim_end())
    );
}

/// The filter script for tables whose rows have class `row` and `data-verdicts`
/// (space-separated, one per column) and whose filters have the ids `f-verdict`, `f-column`
/// (optional), `f-text` and `f-differ` (optional). Written without `<` and `&`, so that the
/// page stays well-formed XML.
pub(crate) const FILTER_SCRIPT: &str = "<script>\n\
function mqttFilter() {\n\
  var verdict = document.getElementById('f-verdict').value;\n\
  var colEl = document.getElementById('f-column');\n\
  var col = colEl ? colEl.value : '';\n\
  var text = document.getElementById('f-text').value.toLowerCase();\n\
  var differEl = document.getElementById('f-differ');\n\
  var differ = differEl ? differEl.checked : false;\n\
  var rows = document.querySelectorAll('tr.row');\n\
  for (var i = 0; i != rows.length; i++) {\n\
    var r = rows[i];\n\
    var vs = r.getAttribute('data-verdicts').split(' ');\n\
    var show = true;\n\
    if (verdict != '') {\n\
      if (col != '') { show = vs[parseInt(col, 10)] == verdict; }\n\
      else { show = vs.indexOf(verdict) != -1; }\n\
    }\n\
    if (show) { if (text != '') { show = r.textContent.toLowerCase().indexOf(text) != -1; } }\n\
    if (show) { if (differ) { show = r.getAttribute('data-differ') == '1'; } }\n\
    r.style.display = show ? '' : 'none';\n\
  }\n\
}\n\
</script>\n";

/// The `<select>` of verdicts for the filter.
pub(crate) fn verdict_select(html: &mut String, extra: &[&str]) {
    html.push_str(
        "<label>verdict <select id=\"f-verdict\" onchange=\"mqttFilter()\">\
         <option value=\"\">any</option>",
    );
    for v in Verdict::ALL
        .iter()
        .map(|v| v.as_str())
        .chain(extra.iter().copied())
    {
        let _ = write!(html, "<option value=\"{v}\">{v}</option>");
    }
    html.push_str("</select></label>\n");
}

/// The text filter input.
pub(crate) fn text_filter(html: &mut String) {
    html.push_str(
        "<label>text <input id=\"f-text\" type=\"search\" placeholder=\"id, section, words\" \
         oninput=\"mqttFilter()\"/></label>\n",
    );
}

/// The report as one HTML page.
pub fn render(report: &RunReport) -> String {
    let m = &report.meta;
    let mut html = String::new();
    head(&mut html, &format!("MQTT conformance: {}", m.target_name));
    let _ = writeln!(
        html,
        "<h1>MQTT conformance: {}</h1>\n<p>Target <code>{}</code> over {}, started {}, {:.1} s, {} \
         scenarios, jobs {}{}.</p>",
        esc(&m.target_name),
        esc(&m.target_address),
        esc(&m.transport),
        esc(&m.started_at),
        m.duration.as_secs_f64(),
        report.scenarios.len(),
        m.jobs,
        if m.only.is_empty() {
            String::new()
        } else {
            format!(", only {}", esc(&m.only.join(" ")))
        }
    );

    summary(&mut html, report);
    coverage_map(&mut html, report);

    if !report.warnings.is_empty() {
        let _ = writeln!(html, "<h2>Warnings ({})</h2>\n<ul>", report.warnings.len());
        for w in &report.warnings {
            let _ = writeln!(html, "<li>{}</li>", esc(w));
        }
        html.push_str("</ul>\n");
    }

    findings(&mut html, report);
    statements(&mut html, report);
    scenario_details(&mut html, report);
    html.push_str(FILTER_SCRIPT);
    html.push_str("</body>\n</html>\n");
    html
}

fn summary(html: &mut String, report: &RunReport) {
    html.push_str("<h2 id=\"summary\">Summary</h2>\n<table>\n<tr><th>version</th>");
    for v in Verdict::ALL {
        let _ = write!(html, "<th>{}</th>", v.as_str());
    }
    html.push_str("<th>total</th></tr>\n");
    for &v in &report.meta.versions {
        let c = report.counts(Some(v));
        let _ = write!(html, "<tr><td>{v}</td>");
        for verdict in Verdict::ALL {
            let _ = write!(html, "<td class=\"n\">{}</td>", c[&verdict]);
        }
        let _ = writeln!(
            html,
            "<td class=\"n\">{}</td></tr>",
            c.values().sum::<usize>()
        );
    }
    html.push_str("</table>\n");
    let _ = writeln!(
        html,
        "<p>{}; {} finding(s), one per root cause. <code>lenient</code>: the broker accepted a \
         packet the spec forbids the client to send (MQTT 5.0 4.13.1 lets a receiver not detect \
         it); not counted as a failure.</p>",
        esc(&report.violations_line(None)),
        report.findings.len()
    );
    if let Some(line) = report.isolation_line() {
        let _ = writeln!(
            html,
            "<p>Rerun alone (<code>--isolate-failures</code>): {}.</p>",
            esc(&line)
        );
    }
}

/// Per version, a section × verdict table.
fn coverage_map(html: &mut String, report: &RunReport) {
    html.push_str("<h2 id=\"coverage\">Coverage map</h2>\n");
    for &v in &report.meta.versions {
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
        let _ = writeln!(
            html,
            "<h3>MQTT {v}</h3>\n<table>\n<tr><th>section</th><th>title</th>"
        );
        for verdict in Verdict::ALL {
            let _ = write!(html, "<th>{}</th>", verdict.as_str());
        }
        html.push_str("</tr>\n");
        for k in keys {
            let (title, counts) = &sections[k];
            let _ = write!(html, "<tr><td>{}</td><td>{}</td>", esc(k), esc(title));
            for verdict in Verdict::ALL {
                let n = counts.get(&verdict).copied().unwrap_or(0);
                if n == 0 {
                    html.push_str("<td class=\"n muted\">0</td>");
                } else {
                    let _ = write!(html, "<td class=\"n c-{}\">{n}</td>", verdict.as_str());
                }
            }
            html.push_str("</tr>\n");
        }
        html.push_str("</table>\n");
    }
}

fn findings(html: &mut String, report: &RunReport) {
    let _ = writeln!(
        html,
        "<h2 id=\"findings\">Findings ({})</h2>\n<p>Failures grouped by root cause: the same \
         expectation and the same result once run-specific tokens are normalised away.</p>",
        report.findings.len()
    );
    if report.findings.is_empty() {
        html.push_str("<p>None.</p>\n");
    }
    for f in &report.findings {
        let _ = writeln!(
            html,
            "<h3 id=\"{}\">{} ({})</h3>\n<p>{}</p>\n<ul>\n<li>scenarios: {}</li>\n<li>statements: {}</li>\n</ul>",
            anchor(&["finding", &f.id]),
            esc(&f.id),
            verdict_span(f.outcome.as_str()),
            esc(&f.summary),
            f.scenarios
                .iter()
                .map(|n| format!(
                    "<a href=\"#{}\"><code>{}</code></a>",
                    scenario_anchor(n),
                    esc(n)
                ))
                .collect::<Vec<_>>()
                .join(", "),
            esc(&f.statements.join(", "))
        );
        let r = &report.scenarios[f.representative];
        for e in &r.evidence {
            collapsed_pre(
                html,
                &format!(
                    "Transcript of <code>{}</code> in <code>{}</code>",
                    esc(&e.label),
                    esc(&r.name)
                ),
                &e.transcript,
            );
        }
    }
}

/// The outcome word of a scenario for the statement table, `contaminated` appended when it was.
fn outcome_word(r: &ScenarioResult) -> String {
    let mut s = verdict_span(r.outcome.as_str());
    if r.contaminated {
        s.push(' ');
        s.push_str(&verdict_span("contaminated"));
    }
    s
}

fn statements(html: &mut String, report: &RunReport) {
    let _ = writeln!(
        html,
        "<h2 id=\"statements\">Statements ({})</h2>\n<div class=\"filters\">",
        report.statements.len()
    );
    verdict_select(html, &[]);
    text_filter(html);
    html.push_str(
        "</div>\n<table id=\"statements-table\">\n<tr><th>version</th><th>statement</th>\
         <th>section</th><th>level</th><th>verdict</th><th>summary</th><th>scenarios</th></tr>\n",
    );
    for s in &report.statements {
        let st = &s.statement;
        let version = s.version.to_string();
        let _ = write!(
            html,
            "<tr class=\"row\" id=\"{}\" data-verdicts=\"{}\"><td>{}</td><td><code>{}</code></td>\
             <td>{}</td><td>{}</td><td class=\"c-{}\">{}</td><td>{}",
            statement_anchor(&version, &st.id),
            s.verdict.as_str(),
            esc(&version),
            esc(&st.id),
            esc(&st.section),
            esc(st.level.as_str()),
            s.verdict.as_str(),
            verdict_span(s.verdict.as_str()),
            esc(&st.summary)
        );
        if let Some(reason) = &st.reason {
            let _ = write!(
                html,
                "<br/><span class=\"muted\">not observable: {}</span>",
                esc(reason)
            );
        }
        html.push_str("</td><td>");
        let cells: Vec<String> = s
            .scenarios
            .iter()
            .map(|&i| {
                let r = &report.scenarios[i];
                let name = if r.has_evidence() || r.outcome == Outcome::Blocked {
                    format!(
                        "<a href=\"#{}\"><code>{}</code></a>",
                        scenario_anchor(&r.name),
                        esc(&r.name)
                    )
                } else {
                    format!("<code>{}</code>", esc(&r.name))
                };
                let mut cell = format!("{name} {}", outcome_word(r));
                if let Some(why) = r.blocked_cause().or_else(|| r.skip_reason.clone()) {
                    let _ = write!(cell, " <span class=\"muted\">({})</span>", esc(&why));
                }
                cell
            })
            .collect();
        html.push_str(&cells.join("<br/>"));
        html.push_str("</td></tr>\n");
    }
    html.push_str("</table>\n");
}

/// Failed, lenient and blocked scenarios: expected, got, the rerun alone, transcripts collapsed.
fn scenario_details(html: &mut String, report: &RunReport) {
    let shown: Vec<(usize, &ScenarioResult)> = report
        .scenarios
        .iter()
        .enumerate()
        .filter(|(_, r)| r.has_evidence() || r.outcome == Outcome::Blocked)
        .collect();
    let _ = writeln!(
        html,
        "<h2 id=\"failures\">Failed, lenient and blocked scenarios ({})</h2>",
        shown.len()
    );
    if shown.is_empty() {
        html.push_str("<p>None.</p>\n");
    }
    for (i, r) in shown {
        let _ = writeln!(
            html,
            "<h3 id=\"{}\"><code>{}</code> {}</h3>\n<ul>\n<li>statements: {}</li>",
            scenario_anchor(&r.name),
            esc(&r.name),
            outcome_word(r),
            esc(&r.ids.join(", "))
        );
        if let Some(f) = report.finding_of(i) {
            let _ = writeln!(
                html,
                "<li>finding: <a href=\"#{}\">{}</a></li>",
                anchor(&["finding", &f.id]),
                esc(&f.id)
            );
        }
        if let Some(cause) = r.blocked_cause() {
            let _ = writeln!(html, "<li>blocked: {}</li>", esc(&cause));
        }
        if let Some(e) = &r.expected {
            let _ = writeln!(html, "<li>expected: {}</li>", esc(e));
        }
        if let Some(g) = &r.got {
            let _ = writeln!(html, "<li>got: {}</li>", esc(g));
        }
        if let Some(iso) = &r.isolated {
            let _ = writeln!(html, "<li>rerun alone: {}</li>", esc(&iso.line()));
        }
        html.push_str("</ul>\n");
        for e in &r.evidence {
            collapsed_pre(
                html,
                &format!("Transcript of <code>{}</code>", esc(&e.label)),
                &e.transcript,
            );
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ctx::Evidence;
    use crate::verdict::{join, RunMeta, ScenarioResult};
    use spec_manifest::{Manifest, Version};
    use std::time::Duration;

    fn result(name: &str, version: Version, ids: &[&str], outcome: Outcome) -> ScenarioResult {
        ScenarioResult {
            name: name.into(),
            version,
            ids: ids.iter().map(|s| s.to_string()).collect(),
            outcome,
            duration: Duration::from_millis(12),
            choices: Vec::new(),
            expected: None,
            got: None,
            skip_reason: None,
            blocked: None,
            blocked_by: None,
            notes: Vec::new(),
            cleanup_failed: None,
            contaminated: false,
            foreign: Vec::new(),
            isolated: None,
            evidence: Vec::new(),
        }
    }

    /// A small fixed report: a pass, a failure with a transcript full of markup, a lenient
    /// finding, a blocked and a skipped scenario, an untested statement, in both versions.
    pub(crate) fn sample(target_name: &str) -> RunReport {
        let mut manifests = std::collections::BTreeMap::new();
        for v in Version::ALL {
            manifests.insert(v, Manifest::builtin(v).expect("builtin manifest"));
        }
        let v5 = Version::V5_0;
        let v3 = Version::V3_1_1;
        let mut fail = result(
            "v5.connect.sample_fail",
            v5,
            &["MQTT-3.1.0-2"],
            Outcome::Fail,
        );
        fail.expected = Some("the connection closed <no packet> & nothing else".into());
        fail.got = Some("CONNACK [20 03 00 00 00]".into());
        fail.evidence = vec![Evidence {
            label: "c<1>".into(),
            transcript: "-> CONNECT [10 0d ...] \"a&b\"\n<- CONNACK [20 03 00 00 00]\n".into(),
        }];
        let mut lenient = result(
            "v5.packet_format.sample_lenient",
            v5,
            &["MQTT-2.1.3-1"],
            Outcome::Lenient,
        );
        lenient.expected = Some("close".into());
        lenient.got = Some("PINGRESP [d0 00]".into());
        let mut blocked = result(
            "v5.publish.sample_blocked",
            v5,
            &["MQTT-3.3.1-1"],
            Outcome::Blocked,
        );
        blocked.blocked = Some("setup: no SUBACK".into());
        let mut skipped = result(
            "v311.subscribe.sample_skipped",
            v3,
            &["MQTT-3.8.4-1"],
            Outcome::Skipped,
        );
        skipped.skip_reason = Some("no refused topic".into());
        let mut contaminated = result(
            "v311.connect.sample_pass",
            v3,
            &["MQTT-3.1.0-1"],
            Outcome::Pass,
        );
        contaminated.contaminated = true;
        let scenarios = vec![
            result(
                "v5.connect.sample_pass",
                v5,
                &["MQTT-3.1.0-1"],
                Outcome::Pass,
            ),
            fail,
            lenient,
            blocked,
            contaminated,
            skipped,
        ];
        let mut selected = std::collections::BTreeMap::new();
        selected.insert(
            v5,
            [
                "MQTT-3.1.0-1",
                "MQTT-3.1.0-2",
                "MQTT-2.1.3-1",
                "MQTT-3.3.1-1",
                "MQTT-3.1.2-1",
            ]
            .map(String::from)
            .to_vec(),
        );
        selected.insert(
            v3,
            ["MQTT-3.1.0-1", "MQTT-3.8.4-1"].map(String::from).to_vec(),
        );
        let meta = RunMeta {
            tool: "mqttref conformance".into(),
            tool_version: "0.1.0".into(),
            target_name: target_name.into(),
            target_address: "mqtt://127.0.0.1:1883".into(),
            transport: "tcp".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
            duration: Duration::from_millis(1500),
            versions: vec![v5, v3],
            only: Vec::new(),
            jobs: 4,
            capabilities: Default::default(),
            run_token: "tok".into(),
        };
        join(meta, &manifests, &selected, scenarios)
    }

    /// Parses `html` as XML (the page is written to be well-formed XML too); returns every
    /// element id. Panics, naming the position, on the first error.
    pub(crate) fn parse_ids(html: &str) -> Vec<String> {
        use quick_xml::events::Event;
        // The doctype line is HTML's, not an XML declaration; quick-xml reads it as DocType.
        let mut reader = quick_xml::Reader::from_str(html);
        reader.config_mut().check_end_names = true;
        let mut ids = Vec::new();
        let mut depth = 0i32;
        loop {
            match reader.read_event() {
                Ok(Event::Start(e)) => {
                    depth += 1;
                    collect_id(&e, &mut ids);
                }
                Ok(Event::Empty(e)) => collect_id(&e, &mut ids),
                Ok(Event::End(_)) => depth -= 1,
                Ok(Event::Text(t)) => {
                    t.unescape().unwrap_or_else(|e| {
                        panic!("bad text at {}: {e}", reader.buffer_position())
                    });
                }
                Ok(Event::Eof) => break,
                Ok(_) => {}
                Err(e) => panic!("not well-formed at {}: {e}", reader.buffer_position()),
            }
        }
        assert_eq!(depth, 0, "unclosed elements");
        ids
    }

    fn collect_id(e: &quick_xml::events::BytesStart<'_>, ids: &mut Vec<String>) {
        for a in e.attributes() {
            let a = a.expect("attribute");
            a.unescape_value().expect("attribute value");
            if a.key.as_ref() == b"id" {
                ids.push(String::from_utf8_lossy(&a.value).into_owned());
            }
        }
    }

    #[test]
    fn page_is_well_formed_and_lists_every_statement() {
        let report = sample("sample");
        let page = render(&report);
        let ids = parse_ids(&page);
        let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "duplicate element ids");
        for s in &report.statements {
            let id = statement_anchor(&s.version.to_string(), &s.statement.id);
            assert!(ids.contains(&id), "no row for {id}");
            assert!(
                page.contains(&esc(&s.statement.summary)),
                "no summary of {id}"
            );
        }
        // Escaped, not interpreted; transcripts collapsed; no external asset.
        assert!(page.contains("the connection closed &lt;no packet&gt; &amp; nothing else"));
        assert!(page.contains("<details><summary>Transcript of <code>c&lt;1&gt;</code>"));
        assert!(!page.contains("src=") && !page.contains("<link"));
        assert!(page.contains("v v-contaminated"));
    }

    #[test]
    fn page_matches_its_snapshot() {
        let page = render(&sample("sample"));
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/report/snapshots/report.html");
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &page).unwrap();
        }
        let expected = std::fs::read_to_string(&path)
            .expect("snapshot missing: run with UPDATE_SNAPSHOTS=1 and review the file");
        assert!(
            page == expected,
            "report.html differs from {}; rerun with UPDATE_SNAPSHOTS=1 and review the diff",
            path.display()
        );
    }
}
