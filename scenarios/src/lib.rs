//! `scenarios`: the MQTT conformance scenarios, the runner that plays them against a broker,
//! and the reports it writes.
//!
//! A scenario checks one behaviour of the target through a raw byte-level client, declares the
//! manifest statement ids it checks, and ends in `Ok(())` (pass), a [`Fail`] (expected vs got,
//! with every transcript of its clients attached by the runner as evidence), or a skip. The
//! runner joins the outcomes with the manifest: a statement passes only when every scenario
//! checking it passes. How to write one: `WRITING.md` beside this crate's `Cargo.toml`.
//!
//! # Layout
//! - [`scenario`]: the [`Scenario`] descriptor and its constructor taking an `async fn`.
//! - [`ctx`]: [`Ctx`] (unique ids and topics, connections, choices, retained cleanup) and
//!   [`Client`] with the assertion helpers; [`Closing`] for "close, or DISCONNECT X then close".
//! - [`fail`]: [`Fail`] and the [`ensure!`] macro.
//! - [`caps`]: [`Capability`] and the probed [`Capabilities`].
//! - [`target`]: the target address and the target file.
//! - [`wire`]: minimal readers of received frames for the helpers and the probe.
//! - [`run`]: selection (`--version`, `--only`), probe, concurrent execution, timeouts, panics.
//! - [`verdict`]: outcomes, verdicts and the joining rule.
//! - [`report`]: `report.json`, `report.xml` (JUnit), `report.md`, `verdicts.json` and baselines.
//! - `v5`, `v311`: the scenarios, one module per spec section (`v5::connect` is 5.0 section 3.1).

pub mod adapter;
pub mod caps;
pub mod client_role;
pub mod ctx;
pub mod fail;
pub mod findings;
pub mod report;
pub mod run;
pub mod scenario;
pub mod target;
pub mod verdict;
pub mod wire;

mod client_scenarios;
mod v311;
mod v5;

pub use caps::{Capabilities, Capability};
pub use ctx::{Client, Closing, Ctx, EXPECT, QUIET};
pub use fail::{Fail, Setup};
pub use run::{run, run_scenarios, RunError, RunOptions};
pub use scenario::{Role, Scenario};
pub use spec_manifest::Version;
pub use verdict::{Outcome, RunReport, Verdict};

/// Every registered scenario, 5.0 first, each version in section order.
pub fn all() -> Vec<Scenario> {
    let mut all = v5::scenarios();
    all.extend(v311::scenarios());
    all.extend(client_scenarios::scenarios());
    all
}

#[cfg(test)]
mod tidy {
    //! Invariants of the registry: the project's acceptance test "fails when any scenario names
    //! an id the manifest does not have" lives here.

    use super::*;
    use spec_manifest::Manifest;
    use std::collections::BTreeSet;

    #[test]
    fn names_are_unique_and_prefixed_by_version() {
        let mut seen = BTreeSet::new();
        for s in all() {
            assert!(
                seen.insert(s.name()),
                "duplicate scenario name {}",
                s.name()
            );
            let prefix = match s.version() {
                Version::V5_0 => "v5.",
                Version::V3_1_1 => "v311.",
            };
            assert!(
                s.name().starts_with(prefix),
                "{} should start with {prefix}",
                s.name()
            );
        }
    }

    #[test]
    fn every_scenario_declares_ids_the_manifest_has() {
        let mut problems = Vec::new();
        for v in Version::ALL {
            let m = Manifest::builtin(v).expect("builtin manifest loads");
            for s in all().into_iter().filter(|s| s.version() == v) {
                if s.ids().is_empty() {
                    problems.push(format!("{}: declares no statement id", s.name()));
                }
                for id in s.ids() {
                    if m.get(id).is_none() {
                        problems.push(format!("{}: {id} is not in the {v} manifest", s.name()));
                    }
                }
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
