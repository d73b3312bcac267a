//! `simulator`: the reference broker and clients on a deterministic simulated network
//! (turmoil), VOPR style. One `u64` seed expands into the options, the fault schedule (swarm:
//! each run draws which fault kinds are on) and the workload; the real `mqttref-broker` and
//! `mqttref-client` run on it; every operation and delivery goes into a Jepsen-style history;
//! an auditor checks the history against what MQTT promises given the broker's storage (memory
//! forgives a broker crash, the file store does not); a failing
//! run writes a replay file that reproduces it.
//!
//! # Layout
//! - [`plan`]: [`Plan`] = [`Options`] + explicit fault and workload schedules, from a seed.
//! - [`world`]: the turmoil world, hosts, nemesis loop; [`world::run`].
//! - [`disk`]: the simulated disk under the broker's file store (power loss, torn writes).
//! - [`history`]: events (invoke / ok / fail / unknown / info) and FNV-1a trace digests.
//! - [`auditor`]: the properties and their checks.
//! - [`replay`]: replay files (write, read, re-run and compare).
//! - [`rng`]: SplitMix64 and integer ratios.
//! - [`cli`]: the `sim` binary behind `cargo xtask sim` / `cargo xtask replay`.

pub mod auditor;
pub mod cli;
pub mod disk;
pub mod history;
pub mod plan;
pub mod replay;
pub mod rng;
pub mod world;

pub use auditor::{audit, Violation};
pub use history::History;
pub use plan::{FaultSelection, Options, Plan, Settings};
pub use world::{run, RunResult};

/// A run and its audit.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The plan that ran.
    pub plan: Plan,
    /// What happened.
    pub result: RunResult,
    /// Broken properties (empty: pass).
    pub violations: Vec<Violation>,
}

/// Runs `plan` and audits it.
///
/// # Errors
/// As [`world::run`].
pub fn check(plan: Plan) -> Result<Outcome, String> {
    let result = run(&plan)?;
    let mut violations = audit(&plan, &result.history);
    if let Some(e) = &result.error {
        violations.insert(
            0,
            Violation {
                property: "host-error".into(),
                message: format!("a host's software failed: {e}"),
                witness: Vec::new(),
            },
        );
    }
    Ok(Outcome {
        plan,
        result,
        violations,
    })
}
