//! Outcomes of scenarios and verdicts of statements, and the rule that joins them:
//! a statement `fail`s if any scenario checking it fails, is `lenient` when none failed but a
//! lenient-receiver scenario found the target accepting a forbidden client packet, `pass`es only
//! when every one passes, is `blocked` when none failed but a setup step of one did not work (its cause named), is
//! `skipped` when none failed or was blocked but some were skipped, and is `untested` (or
//! `not-observable`, from the manifest) when no scenario checks it.

use crate::caps::Capabilities;
use crate::ctx::{Evidence, Foreign};
use crate::scenario::Scenario;
use serde::Serialize;
use spec_manifest::{Manifest, Statement, Version};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// How one scenario ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Every check held.
    Pass,
    /// A check did not hold (or the scenario timed out).
    Fail,
    /// A needed capability is missing.
    Skipped,
    /// The scenario itself broke (panic): a runner error, counted as a failure.
    Error,
    /// A setup step failed before the step under test (no CONNACK, subscription refused, ...):
    /// its statements were not checked. The cause is in [`ScenarioResult::blocked`].
    Blocked,
    /// A lenient-receiver scenario ([`Scenario::lenient_receiver`]) failed its check: the
    /// target accepted a packet the spec forbids the client to send, which 5.0 §4.13.1 lets a
    /// receiver do. Reported (expected, got, transcripts) but counted apart from failures.
    Lenient,
}

impl Outcome {
    /// `pass`, `fail`, `skipped`, `error`, `blocked`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Skipped => "skipped",
            Outcome::Error => "error",
            Outcome::Blocked => "blocked",
            Outcome::Lenient => "lenient",
        }
    }
}

/// The verdict on one statement.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Every scenario checking it passed.
    Pass,
    /// Some scenario checking it failed.
    Fail,
    /// None failed; some lenient-receiver scenario checking it found the target accepting a
    /// packet the statement forbids the client to send (see [`Outcome::Lenient`]).
    Lenient,
    /// None failed; a setup step of some scenario checking it failed, so it was not checked.
    Blocked,
    /// None failed or was blocked, some were skipped.
    Skipped,
    /// No scenario checks it.
    Untested,
    /// No scenario checks it, and the manifest says it cannot be seen on the wire.
    NotObservable,
}

impl Verdict {
    /// Every verdict, in report column order.
    pub const ALL: [Verdict; 7] = [
        Verdict::Pass,
        Verdict::Fail,
        Verdict::Lenient,
        Verdict::Blocked,
        Verdict::Skipped,
        Verdict::Untested,
        Verdict::NotObservable,
    ];

    /// `pass`, `fail`, `lenient`, `blocked`, `skipped`, `untested`, `not-observable`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Lenient => "lenient",
            Verdict::Blocked => "blocked",
            Verdict::Skipped => "skipped",
            Verdict::Untested => "untested",
            Verdict::NotObservable => "not-observable",
        }
    }

    /// The verdict of a statement from the outcomes of the scenarios that check it.
    pub fn of(outcomes: &[Outcome], observable: bool) -> Verdict {
        if outcomes.is_empty() {
            if observable {
                Verdict::Untested
            } else {
                Verdict::NotObservable
            }
        } else if outcomes
            .iter()
            .any(|o| matches!(o, Outcome::Fail | Outcome::Error))
        {
            Verdict::Fail
        } else if outcomes.contains(&Outcome::Lenient) {
            Verdict::Lenient
        } else if outcomes.iter().all(|o| *o == Outcome::Pass) {
            Verdict::Pass
        } else if outcomes.contains(&Outcome::Blocked) {
            Verdict::Blocked
        } else {
            Verdict::Skipped
        }
    }
}

/// What one scenario run produced.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: Version,
    /// The statement ids it declares.
    pub ids: Vec<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// How long the body ran.
    #[serde(rename = "duration_ms", serialize_with = "millis")]
    pub duration: Duration,
    /// The allowed options the target took.
    pub choices: Vec<String>,
    /// For a failure: what was expected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// For a failure: what happened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub got: Option<String>,
    /// For a skip: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_reason: Option<String>,
    /// For a block: the setup step that failed, what it needed and what happened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked: Option<String>,
    /// For a block: the statement the failed setup step itself breaks, if one does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked_by: Option<String>,
    /// Remarks that do not change the outcome.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Why clearing its retained messages failed: a run-level warning (a retained message
    /// left behind can reach later scenarios on brokers that leak retained messages).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cleanup_failed: Option<String>,
    /// Whether its clients received foreign PUBLISHes (cross-talk from the broker's shared
    /// state): set aside by the helpers, so its outcome judges its own traffic only, and
    /// reported once for the run as a finding against MQTT-3.3.2-3.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub contaminated: bool,
    /// Those foreign PUBLISHes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub foreign: Vec<Foreign>,
    /// With `--isolate-failures`, for a failed or lenient scenario: the outcome of running it
    /// again alone. Its own verdict is not changed by it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isolated: Option<Isolated>,
    /// The transcripts of its clients (reports show them for failures).
    #[serde(skip)]
    pub evidence: Vec<Evidence>,
}

/// A failed or lenient scenario run a second time, alone against the same target
/// (`--isolate-failures`). A failure that does not reproduce alone is evidence of a cascade
/// (another scenario's traffic or state) or of flakiness; the verdict stays what the full run
/// found.
#[derive(Debug, Clone, Serialize)]
pub struct Isolated {
    /// Whether the rerun ended the same way: failed (or errored) again for a failure, lenient
    /// again for a lenient finding.
    pub reproduces: bool,
    /// How the rerun ended.
    pub outcome: Outcome,
    /// The rerun's expectation, when it failed or was lenient.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// What happened in the rerun, when it failed or was lenient.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub got: Option<String>,
    /// The rerun's blocked or skip cause, if it was blocked or skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

impl Isolated {
    /// Compares `rerun` with the first outcome `first`.
    pub fn of(first: Outcome, rerun: &ScenarioResult) -> Isolated {
        let failed = |o: Outcome| matches!(o, Outcome::Fail | Outcome::Error);
        let reproduces = if failed(first) {
            failed(rerun.outcome)
        } else {
            rerun.outcome == first
        };
        Isolated {
            reproduces,
            outcome: rerun.outcome,
            expected: rerun.expected.clone(),
            got: rerun.got.clone(),
            cause: rerun.blocked_cause().or_else(|| rerun.skip_reason.clone()),
        }
    }

    /// For reports: `reproduces alone (fail)` or `does not reproduce alone (pass)`.
    pub fn line(&self) -> String {
        format!(
            "{} alone ({})",
            if self.reproduces {
                "reproduces"
            } else {
                "does not reproduce"
            },
            self.outcome.as_str()
        )
    }
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

impl ScenarioResult {
    pub(crate) fn new(s: &Scenario) -> ScenarioResult {
        ScenarioResult {
            name: s.name().to_string(),
            version: s.version(),
            ids: s.ids().iter().map(|i| i.to_string()).collect(),
            outcome: Outcome::Skipped,
            duration: Duration::ZERO,
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

    /// The cause of a block, for reports: the failed step, and the statement it breaks.
    pub fn blocked_cause(&self) -> Option<String> {
        let cause = self.blocked.as_deref()?;
        Some(match &self.blocked_by {
            Some(id) => format!("{cause} (breaks {id})"),
            None => cause.to_string(),
        })
    }

    /// Whether it failed or broke.
    pub fn failed(&self) -> bool {
        matches!(self.outcome, Outcome::Fail | Outcome::Error)
    }

    /// Whether it failed, broke, or found a lenient receiver: it has expected, got and
    /// transcripts to show.
    pub fn has_evidence(&self) -> bool {
        self.failed() || self.outcome == Outcome::Lenient
    }
}

/// The verdict on one statement with the scenarios behind it.
#[derive(Debug, Clone)]
pub struct StatementResult {
    /// Its version.
    pub version: Version,
    /// The manifest entry.
    pub statement: Statement,
    /// The verdict.
    pub verdict: Verdict,
    /// Indexes into [`RunReport::scenarios`] of the scenarios that check it.
    pub scenarios: Vec<usize>,
}

/// What a run was: for the report headers.
#[derive(Debug, Clone, Serialize)]
pub struct RunMeta {
    /// The tool's name.
    pub tool: String,
    /// The tool's version.
    pub tool_version: String,
    /// The target's name.
    pub target_name: String,
    /// The target's URL.
    pub target_address: String,
    /// How the scenarios reached it: `tcp`, `tls`, `ws` or `wss`.
    pub transport: String,
    /// When the run started, RFC 3339 UTC.
    pub started_at: String,
    /// How long the run took.
    #[serde(rename = "duration_ms", serialize_with = "millis")]
    pub duration: Duration,
    /// Versions selected.
    pub versions: Vec<Version>,
    /// `--only` filters.
    pub only: Vec<String>,
    /// Concurrency.
    pub jobs: usize,
    /// Capabilities per version, as probed and overridden.
    pub capabilities: BTreeMap<Version, Capabilities>,
    /// The token every client id and topic prefix of this run starts with (normalised away in
    /// finding signatures).
    pub run_token: String,
}

/// Everything a run produced.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// Run metadata.
    pub meta: RunMeta,
    /// Per statement, per version in run order then manifest order.
    pub statements: Vec<StatementResult>,
    /// Every scenario run, in registration order (then the run's own findings, such as
    /// cross-talk).
    pub scenarios: Vec<ScenarioResult>,
    /// Run-level warnings: trouble outside any verdict that may still affect verdicts (a
    /// retained-message cleanup that failed). Every report format shows them.
    pub warnings: Vec<String>,
    /// One per root cause: the failed, errored and lenient scenarios grouped by failure
    /// signature (see [`crate::findings`]).
    pub findings: Vec<crate::findings::Finding>,
}

impl RunReport {
    /// How many statements have each verdict.
    pub fn counts(&self, version: Option<Version>) -> BTreeMap<Verdict, usize> {
        let mut c: BTreeMap<Verdict, usize> = Verdict::ALL.iter().map(|v| (*v, 0)).collect();
        for s in self
            .statements
            .iter()
            .filter(|s| version.is_none_or(|v| v == s.version))
        {
            *c.entry(s.verdict).or_default() += 1;
        }
        c
    }

    /// The finding scenario `index` belongs to, if it failed, broke or was lenient.
    pub fn finding_of(&self, index: usize) -> Option<&crate::findings::Finding> {
        let name = &self.scenarios.get(index)?.name;
        self.findings.iter().find(|f| f.scenarios.contains(name))
    }

    /// With `--isolate-failures`: (how many of the rerun scenarios reproduced alone, how many
    /// were rerun).
    pub fn isolation_counts(&self) -> (usize, usize) {
        let rerun: Vec<&Isolated> = self
            .scenarios
            .iter()
            .filter_map(|r| r.isolated.as_ref())
            .collect();
        (rerun.iter().filter(|i| i.reproduces).count(), rerun.len())
    }

    /// "N of M failures reproduce alone", when anything was rerun alone.
    pub fn isolation_line(&self) -> Option<String> {
        let (n, m) = self.isolation_counts();
        (m > 0).then(|| format!("{n} of {m} failures reproduce alone"))
    }

    /// Whether any statement failed (`lenient` is not a failure: see [`Verdict::Lenient`]).
    pub fn any_failed(&self) -> bool {
        self.statements.iter().any(|s| s.verdict == Verdict::Fail)
    }

    /// "N violations, M lenient-receiver findings": statements that `fail` and that are
    /// `lenient`, for `version` or all.
    pub fn violations_line(&self, version: Option<Version>) -> String {
        let c = self.counts(version);
        format!(
            "{} violations, {} lenient-receiver findings",
            c[&Verdict::Fail],
            c[&Verdict::Lenient]
        )
    }
}

impl RunReport {
    /// Several runs against one broker as one report: a broker that serves each protocol version
    /// on its own listener (rumqttd) is run once per listener. Statements, scenarios, warnings
    /// and versions are concatenated in order; findings with the same id (the same normalised
    /// signature) are one finding; the durations add up. `None` for no part.
    pub fn merge(parts: Vec<RunReport>) -> Option<RunReport> {
        let mut parts = parts.into_iter();
        let mut out = parts.next()?;
        for p in parts {
            let offset = out.scenarios.len();
            if !out
                .meta
                .target_address
                .split(", ")
                .any(|a| a == p.meta.target_address)
            {
                out.meta.target_address =
                    format!("{}, {}", out.meta.target_address, p.meta.target_address);
            }
            out.meta.duration += p.meta.duration;
            for v in p.meta.versions {
                if !out.meta.versions.contains(&v) {
                    out.meta.versions.push(v);
                }
            }
            out.meta.capabilities.extend(p.meta.capabilities);
            out.statements.extend(p.statements.into_iter().map(|mut s| {
                for i in &mut s.scenarios {
                    *i += offset;
                }
                s
            }));
            out.scenarios.extend(p.scenarios);
            out.warnings.extend(p.warnings);
            for mut f in p.findings {
                match out.findings.iter_mut().find(|g| g.id == f.id) {
                    Some(g) => {
                        g.scenarios.extend(f.scenarios);
                        for st in f.statements {
                            if !g.statements.contains(&st) {
                                g.statements.push(st);
                            }
                        }
                        g.statements.sort();
                    }
                    None => {
                        f.representative += offset;
                        out.findings.push(f);
                    }
                }
            }
        }
        Some(out)
    }
}

/// Joins scenario outcomes with the manifests into a report.
pub fn join(
    meta: RunMeta,
    manifests: &BTreeMap<Version, Manifest>,
    selected: &BTreeMap<Version, Vec<String>>,
    scenarios: Vec<ScenarioResult>,
) -> RunReport {
    let mut statements = Vec::new();
    for &v in &meta.versions {
        let (Some(m), Some(ids)) = (manifests.get(&v), selected.get(&v)) else {
            continue;
        };
        // id (canonical) -> scenario indexes
        let mut by_id: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, r) in scenarios.iter().enumerate().filter(|(_, r)| r.version == v) {
            for id in &r.ids {
                if let Some(st) = m.get(id) {
                    by_id.entry(st.id.as_str()).or_default().push(i);
                }
            }
        }
        for id in ids {
            let Some(st) = m.get(id) else { continue };
            let idx = by_id.get(st.id.as_str()).cloned().unwrap_or_default();
            let outcomes: Vec<Outcome> = idx.iter().map(|&i| scenarios[i].outcome).collect();
            statements.push(StatementResult {
                version: v,
                statement: st.clone(),
                verdict: Verdict::of(&outcomes, st.observable),
                scenarios: idx,
            });
        }
    }
    let warnings = scenarios
        .iter()
        .filter_map(|r| {
            r.cleanup_failed.as_ref().map(|why| {
                format!(
                    "{}: clearing its retained messages failed ({why}); a retained message left \
                     behind may reach later scenarios",
                    r.name
                )
            })
        })
        .collect();
    let findings = crate::findings::group(&scenarios, &meta.run_token);
    RunReport {
        meta,
        statements,
        scenarios,
        warnings,
        findings,
    }
}

/// RFC 3339 UTC with seconds, e.g. `2026-05-01T12:00:00Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_rules() {
        use Outcome::*;
        assert_eq!(Verdict::of(&[], true), Verdict::Untested);
        assert_eq!(Verdict::of(&[], false), Verdict::NotObservable);
        assert_eq!(Verdict::of(&[Pass, Pass], true), Verdict::Pass);
        assert_eq!(Verdict::of(&[Pass, Skipped], true), Verdict::Skipped);
        assert_eq!(Verdict::of(&[Pass, Skipped, Fail], true), Verdict::Fail);
        assert_eq!(Verdict::of(&[Error, Pass], false), Verdict::Fail);
        assert_eq!(
            Verdict::of(&[Pass, Blocked, Skipped], true),
            Verdict::Blocked
        );
        assert_eq!(
            Verdict::of(&[Blocked, Fail], true),
            Verdict::Fail,
            "a fail stays a fail"
        );
        assert_eq!(Verdict::of(&[Blocked], true), Verdict::Blocked);
        assert_eq!(
            Verdict::of(&[Pass, Lenient, Blocked], true),
            Verdict::Lenient
        );
        assert_eq!(
            Verdict::of(&[Lenient, Fail], true),
            Verdict::Fail,
            "a fail stays a fail"
        );
    }

    #[test]
    fn dates() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400 + 3661);
        assert_eq!(rfc3339(t), "2000-02-29T01:01:01Z");
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }
}
