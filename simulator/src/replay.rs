//! Replay files: everything needed to re-run one simulation exactly — build identity, seed,
//! the expanded options and the explicit fault and workload schedules (a replay never
//! re-expands the seed, so a changed generator cannot change the replay), the trace digests,
//! the history and the violations found. [`replay`] re-runs a file and reports identical
//! digests or the first event that diverged.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::auditor::Violation;
use crate::history::{Event, DIGEST_EVERY};
use crate::plan::Plan;
use crate::Outcome;

/// Version of the file format.
pub const FORMAT: u32 = 1;

/// What built the simulator that wrote a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Build {
    /// `git rev-parse HEAD`, if available.
    pub git_rev: Option<String>,
    /// Whether the work tree had uncommitted changes.
    pub git_dirty: bool,
    /// Cargo features of the simulator build.
    pub features: Vec<String>,
    /// Simulator crate version.
    pub version: String,
}

impl Build {
    /// The current build, with the git revision of `repo` if git can tell.
    pub fn detect(repo: &Path) -> Build {
        let git = |args: &[&str]| {
            std::process::Command::new("git")
                .args(args)
                .current_dir(repo)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        };
        Build {
            git_rev: git(&["rev-parse", "HEAD"]),
            git_dirty: git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty()),
            features: features(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

/// The simulator's enabled features.
pub fn features() -> Vec<String> {
    let mut f = Vec::new();
    if cfg!(feature = "fault-injection") {
        f.push("fault-injection".to_string());
    }
    f
}

/// A replay file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayFile {
    /// [`FORMAT`].
    pub format: u32,
    /// Who wrote it.
    pub build: Build,
    /// The seed (also in `plan.options`).
    pub seed: u64,
    /// The command that reproduces it.
    pub command: String,
    /// Options and explicit schedules.
    pub plan: Plan,
    /// Events between digests.
    pub digest_every: usize,
    /// Trace digests (hex), every `digest_every` events and at the end.
    pub digests: Vec<String>,
    /// Number of events.
    pub events: usize,
    /// Simulated time at the end (ms).
    pub sim_ms: u64,
    /// What the auditor found.
    pub violations: Vec<Violation>,
    /// The whole history, to name the first diverging event on replay.
    pub history: Vec<Event>,
}

impl ReplayFile {
    /// The file for an audited run.
    pub fn new(outcome: &Outcome, build: Build, command: String) -> ReplayFile {
        ReplayFile {
            format: FORMAT,
            build,
            seed: outcome.plan.options.seed,
            command,
            plan: outcome.plan.clone(),
            digest_every: DIGEST_EVERY,
            digests: hex(&outcome.result.history.digests),
            events: outcome.result.history.events.len(),
            sim_ms: outcome.result.sim_ms,
            violations: outcome.violations.clone(),
            history: outcome.result.history.events.clone(),
        }
    }

    /// Writes `dir/seed-<n>.json` (creating `dir`).
    ///
    /// # Errors
    /// I/O errors, with the path.
    pub fn write(&self, dir: &Path) -> Result<PathBuf, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = dir.join(format!("seed-{}.json", self.seed));
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(path)
    }

    /// Reads a replay file.
    ///
    /// # Errors
    /// I/O or format errors, with the path.
    pub fn read(path: &Path) -> Result<ReplayFile, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let f: ReplayFile =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        if f.format != FORMAT {
            return Err(format!(
                "{}: format {} (this simulator reads {FORMAT})",
                path.display(),
                f.format
            ));
        }
        Ok(f)
    }
}

fn hex(d: &[u64]) -> Vec<String> {
    d.iter().map(|x| format!("{x:016x}")).collect()
}

/// Where a replay first differed from the recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    /// First differing digest checkpoint.
    pub checkpoint: usize,
    /// First differing event index (when the file has the history).
    pub event: Option<usize>,
    /// The recorded event there.
    pub recorded: Option<Event>,
    /// The replayed event there.
    pub replayed: Option<Event>,
}

/// The result of a replay.
#[derive(Debug, Clone)]
pub struct ReplayReport {
    /// The re-run.
    pub outcome: Outcome,
    /// `None`: identical digests.
    pub divergence: Option<Divergence>,
}

/// Re-runs `file`'s plan and compares traces.
///
/// # Errors
/// As [`crate::check`].
pub fn replay(file: &ReplayFile) -> Result<ReplayReport, String> {
    let outcome = crate::check(file.plan.clone())?;
    let now = hex(&outcome.result.history.digests);
    let checkpoint =
        (0..file.digests.len().max(now.len())).find(|&i| file.digests.get(i) != now.get(i));
    let divergence = checkpoint.map(|checkpoint| {
        let ev = &outcome.result.history.events;
        let event = (0..file.history.len().max(ev.len()))
            .find(|&i| file.history.get(i) != ev.get(i))
            .filter(|_| !file.history.is_empty());
        Divergence {
            checkpoint,
            event,
            recorded: event.and_then(|i| file.history.get(i).cloned()),
            replayed: event.and_then(|i| ev.get(i).cloned()),
        }
    });
    Ok(ReplayReport {
        outcome,
        divergence,
    })
}
