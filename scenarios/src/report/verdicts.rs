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
    /// The run-level warnings (not compared with a baseline: they are not verdicts).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
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
        v.warnings.clone_from(&report.warnings);
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

/// What a [`Change`] is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A statement's verdict in one version.
    Statement {
        /// `5.0` or `3.1.1`.
        version: String,
        /// The statement id.
        id: String,
    },
    /// A scenario's outcome.
    Scenario(String),
}

/// One difference between a baseline and a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// What changed.
    pub subject: Subject,
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
        diff(a, b, &mut out, |id| Subject::Statement {
            version: v.clone(),
            id: id.to_string(),
        });
    }
    diff(&baseline.scenarios, &new.scenarios, &mut out, |n| {
        Subject::Scenario(n.to_string())
    });
    out
}

fn diff(
    a: &BTreeMap<String, String>,
    b: &BTreeMap<String, String>,
    out: &mut Vec<Change>,
    subject: impl Fn(&str) -> Subject,
) {
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for k in keys {
        let (old, new) = (a.get(k), b.get(k));
        if old != new {
            let subject = subject(k);
            let what = match &subject {
                Subject::Statement { version, id } => format!("{version} {id}"),
                Subject::Scenario(n) => format!("scenario {n}"),
            };
            out.push(Change {
                subject,
                what,
                old: old.cloned().unwrap_or_else(|| "absent".into()),
                new: new.cloned().unwrap_or_else(|| "absent".into()),
            });
        }
    }
}

/// Scenarios whose outcome on one broker varies from run to run for a reason outside the
/// scenario (a broker that checks its timers only when traffic wakes it), listed with that
/// reason in the baseline directory's `unstable.toml`:
///
/// ```toml
/// [[scenario]]
/// name = "v5.connect.keep_alive_timeout_closes"
/// reason = "Mosquitto 2.0.11 usually closes 7-8 s late; now and then on time"
/// ```
///
/// A change of such a scenario, or of a statement it checks, is still printed but does not fail
/// the comparison. A statement whose verdict changes because of another scenario still fails,
/// since that scenario's own change is not tolerated.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unstable {
    /// The listed scenarios.
    #[serde(default, rename = "scenario")]
    pub scenarios: Vec<UnstableScenario>,
}

/// One entry of `unstable.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnstableScenario {
    /// The scenario name.
    pub name: String,
    /// Why its outcome varies (shown with every tolerated change).
    pub reason: String,
}

impl Unstable {
    /// Reads `dir/unstable.toml`; no file means nothing is unstable. Every name must be a
    /// registered scenario.
    ///
    /// # Errors
    /// An unreadable or invalid file, or an unknown scenario name.
    pub fn load(dir: &std::path::Path) -> Result<Unstable, String> {
        let path = dir.join("unstable.toml");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Unstable::default()),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let u: Unstable = toml::from_str(&text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
            match line {
                Some(l) => format!("{}:{l}: {}", path.display(), e.message()),
                None => format!("{}: {}", path.display(), e.message()),
            }
        })?;
        let all = crate::all();
        for s in &u.scenarios {
            if !all.iter().any(|a| a.name() == s.name) {
                return Err(format!(
                    "{}: `{}` is not a registered scenario",
                    path.display(),
                    s.name
                ));
            }
        }
        Ok(u)
    }

    /// The reason `change` is tolerated, if it is.
    pub fn tolerates(&self, change: &Change) -> Option<&str> {
        let listed = |name: &str| {
            self.scenarios
                .iter()
                .find(|s| s.name == name)
                .map(|s| s.reason.as_str())
        };
        match &change.subject {
            Subject::Scenario(name) => listed(name),
            Subject::Statement { version, id } => crate::all()
                .iter()
                .filter(|s| s.version().to_string() == *version && s.ids().contains(&id.as_str()))
                .find_map(|s| listed(s.name())),
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

    #[test]
    fn unstable_scenarios_tolerate_their_own_changes_and_their_statements_only() {
        let unstable: Unstable = toml::from_str(
            "[[scenario]]\nname = \"v5.connect.keep_alive_timeout_closes\"\nreason = \"timer\"\n",
        )
        .unwrap();
        let change = |subject: Subject| Change {
            subject,
            what: String::new(),
            old: "fail".into(),
            new: "pass".into(),
        };
        let scenario = change(Subject::Scenario(
            "v5.connect.keep_alive_timeout_closes".into(),
        ));
        assert_eq!(unstable.tolerates(&scenario), Some("timer"));
        let statement = change(Subject::Statement {
            version: "5.0".into(),
            id: "MQTT-3.1.2-22".into(),
        });
        assert_eq!(unstable.tolerates(&statement), Some("timer"));
        // The same id in the other version, another scenario, another statement: not tolerated.
        let other_version = change(Subject::Statement {
            version: "3.1.1".into(),
            id: "MQTT-3.1.2-22".into(),
        });
        assert_eq!(unstable.tolerates(&other_version), None);
        let other = change(Subject::Scenario("v5.connect.reserved_flag_closes".into()));
        assert_eq!(unstable.tolerates(&other), None);
        let other = change(Subject::Statement {
            version: "5.0".into(),
            id: "MQTT-3.1.2-3".into(),
        });
        assert_eq!(unstable.tolerates(&other), None);
    }

    #[test]
    fn unstable_file_rejects_unknown_scenarios() {
        let dir = std::env::temp_dir().join(format!("unstable-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(
            Unstable::load(&dir).unwrap().scenarios.is_empty(),
            "no file: nothing unstable"
        );
        std::fs::write(
            dir.join("unstable.toml"),
            "[[scenario]]\nname = \"v5.no.such\"\nreason = \"x\"\n",
        )
        .unwrap();
        let err = Unstable::load(&dir).unwrap_err();
        assert!(err.contains("v5.no.such"), "{err}");
        std::fs::write(dir.join("unstable.toml"), "[[scenario]]\nname = 3\n").unwrap();
        let err = Unstable::load(&dir).unwrap_err();
        assert!(err.contains("unstable.toml:2"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
