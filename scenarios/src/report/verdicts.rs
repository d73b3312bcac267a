//! `verdicts.json`: the stable, sorted part of a run (statement verdicts and scenario outcomes,
//! no timings), and its comparison with a baseline.

use crate::verdict::RunReport;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Statement verdicts per version and scenario outcomes, sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verdicts {
    /// version -> id -> verdict.
    pub statements: BTreeMap<String, BTreeMap<String, String>>,
    /// scenario name -> outcome.
    pub scenarios: BTreeMap<String, String>,
}

impl Verdicts {
    /// The stable part of `report`.
    pub fn of(report: &RunReport) -> Verdicts {
        let mut v = Verdicts::default();
        for s in &report.statements {
            v.statements
                .entry(s.version.to_string())
                .or_default()
                .insert(s.statement.id.clone(), s.verdict.as_str().to_string());
        }
        for r in &report.scenarios {
            v.scenarios
                .insert(r.name.clone(), r.outcome.as_str().to_string());
        }
        v
    }

    /// Pretty JSON with a final newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Parses a `verdicts.json`.
    pub fn from_json(text: &str) -> Result<Verdicts, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// One difference between a baseline and a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// `5.0 MQTT-3.1.2-3` or `scenario v5.connect.x`.
    pub what: String,
    /// Baseline value (`absent` if missing).
    pub old: String,
    /// New value (`absent` if missing).
    pub new: String,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} -> {}", self.what, self.old, self.new)
    }
}

/// Every difference between `baseline` and `new`, statements first, sorted.
pub fn compare(baseline: &Verdicts, new: &Verdicts) -> Vec<Change> {
    let mut out = Vec::new();
    let versions: std::collections::BTreeSet<&String> = baseline
        .statements
        .keys()
        .chain(new.statements.keys())
        .collect();
    let empty = BTreeMap::new();
    for v in versions {
        let a = baseline.statements.get(v).unwrap_or(&empty);
        let b = new.statements.get(v).unwrap_or(&empty);
        diff(a, b, &mut out, |id| format!("{v} {id}"));
    }
    diff(&baseline.scenarios, &new.scenarios, &mut out, |n| {
        format!("scenario {n}")
    });
    out
}

fn diff(
    a: &BTreeMap<String, String>,
    b: &BTreeMap<String, String>,
    out: &mut Vec<Change>,
    name: impl Fn(&str) -> String,
) {
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for k in keys {
        let (old, new) = (a.get(k), b.get(k));
        if old != new {
            out.push(Change {
                what: name(k),
                old: old.cloned().unwrap_or_else(|| "absent".into()),
                new: new.cloned().unwrap_or_else(|| "absent".into()),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_lists_every_change() {
        let mut a = Verdicts::default();
        a.statements
            .entry("5.0".into())
            .or_default()
            .insert("MQTT-1".into(), "pass".into());
        a.statements
            .entry("5.0".into())
            .or_default()
            .insert("MQTT-2".into(), "pass".into());
        a.scenarios.insert("v5.x".into(), "pass".into());
        let mut b = a.clone();
        assert!(compare(&a, &b).is_empty());
        b.statements
            .get_mut("5.0")
            .unwrap()
            .insert("MQTT-2".into(), "fail".into());
        b.statements.get_mut("5.0").unwrap().remove("MQTT-1");
        b.scenarios.insert("v5.y".into(), "skipped".into());
        let changes: Vec<String> = compare(&a, &b).iter().map(|c| c.to_string()).collect();
        assert_eq!(
            changes,
            [
                "5.0 MQTT-1: pass -> absent",
                "5.0 MQTT-2: pass -> fail",
                "scenario v5.y: absent -> skipped"
            ]
        );
        assert_eq!(Verdicts::from_json(&b.to_json()).unwrap(), b);
    }
}
