//! `report.json`: run metadata and every selected statement with its verdict and scenarios;
//! failing scenarios carry their transcripts and their finding's id; `findings` groups them by
//! root cause, each with one representative's transcripts.

use crate::verdict::{RunReport, Verdict};
use serde_json::{json, Value};

/// The report as pretty JSON.
pub fn render(report: &RunReport) -> String {
    let mut summary = serde_json::Map::new();
    for &v in &report.meta.versions {
        let counts: serde_json::Map<String, Value> = report
            .counts(Some(v))
            .into_iter()
            .map(|(k, n)| (k.as_str().to_string(), json!(n)))
            .collect();
        summary.insert(v.to_string(), Value::Object(counts));
    }
    summary.insert("line".into(), json!(report.violations_line(None)));
    if let Some(line) = report.isolation_line() {
        let (reproduce, rerun) = report.isolation_counts();
        summary.insert(
            "isolated".into(),
            json!({ "rerun": rerun, "reproduce": reproduce, "line": line }),
        );
    }
    let statements: Vec<Value> = report
        .statements
        .iter()
        .map(|s| {
            let st = &s.statement;
            let scenarios: Vec<Value> = s
                .scenarios
                .iter()
                .map(|&i| {
                    let r = &report.scenarios[i];
                    let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
                    if r.has_evidence() || r.outcome == crate::verdict::Outcome::Blocked {
                        v["evidence"] = serde_json::to_value(&r.evidence).unwrap_or(Value::Null);
                    }
                    if let Some(f) = report.finding_of(i) {
                        v["finding"] = json!(f.id);
                    }
                    v
                })
                .collect();
            let skip_reasons: Vec<&str> = if s.verdict == Verdict::Skipped {
                s.scenarios
                    .iter()
                    .filter_map(|&i| report.scenarios[i].skip_reason.as_deref())
                    .collect()
            } else {
                Vec::new()
            };
            let mut o = json!({
                "id": st.id,
                "version": s.version,
                "section": st.section,
                "title": st.title,
                "level": st.level.as_str(),
                "role": st.role.as_str(),
                "summary": st.summary,
                "observable": st.observable,
                "verdict": s.verdict.as_str(),
                "scenarios": scenarios,
            });
            if let Some(reason) = &st.reason {
                o["not_observable_reason"] = json!(reason);
            }
            if !skip_reasons.is_empty() {
                o["skip_reasons"] = json!(skip_reasons);
            }
            if s.verdict == Verdict::Blocked {
                let causes: Vec<Value> = s
                    .scenarios
                    .iter()
                    .map(|&i| &report.scenarios[i])
                    .filter(|r| r.outcome == crate::verdict::Outcome::Blocked)
                    .map(|r| {
                        json!({
                            "scenario": r.name,
                            "cause": r.blocked,
                            "breaks": r.blocked_by,
                        })
                    })
                    .collect();
                o["blocked_by"] = json!(causes);
            }
            o
        })
        .collect();
    let findings: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let mut v = serde_json::to_value(f).unwrap_or(Value::Null);
            v["representative"] = json!(report.scenarios[f.representative].name);
            v["evidence"] = serde_json::to_value(&report.scenarios[f.representative].evidence)
                .unwrap_or(Value::Null);
            v
        })
        .collect();
    let doc = json!({
        "meta": report.meta,
        "summary": summary,
        "warnings": report.warnings,
        "findings": findings,
        "statements": statements,
    });
    let mut text =
        serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}
