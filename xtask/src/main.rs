//! `cargo xtask`: the project's commands, one module per task (rust-analyzer's xtask shape).
//!
//! Every subcommand's doc comment is its `--help` text.

mod conformance;
mod coverage;
mod manifest;
mod nostd;
mod sim;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// The project's commands.
#[derive(Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build the protocol core for embedded and wasm targets, without std; fails if any build
    /// needs std. Adds missing targets with `rustup target add`.
    Nostd,
    /// Run the conformance scenarios against a broker (`--target mqtt://host:port`) and write
    /// report.json, report.xml (JUnit), report.md and verdicts.json into the report directory.
    /// Exits 1 when a statement fails (unless --report-only) or the verdicts differ from
    /// --baseline, 2 on bad arguments or an unreachable target.
    Conformance(conformance::Args),
    /// Work with the spec manifests (spec-manifest/mqtt-v5.0.toml, mqtt-v3.1.1.toml).
    Manifest {
        #[command(subcommand)]
        command: manifest::Command,
    },
    /// Report which normative statements the scenarios declare: totals, per section and per
    /// role, for 5.0 and 3.1.1; writes reports/coverage.json and reports/coverage.md.
    Coverage(coverage::Args),
    /// Run the deterministic simulator: the reference broker and clients on a turmoil network
    /// with swarm faults drawn from each seed, audited against MQTT's guarantees. Prints SEED=
    /// first, one line per seed; on failure the violated property, a witness and the replay
    /// command, and writes reports/replays/seed-<n>.json. Exits 1 if any seed fails.
    Sim(sim::Args),
    /// Re-run a replay file written by `sim`; reports identical trace digests or the first
    /// event that diverged (exit 1).
    Replay(sim::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Nostd => nostd::run(),
        Command::Conformance(args) => conformance::main(args),
        Command::Manifest { command } => manifest::run(command),
        Command::Coverage(args) => coverage::run(args),
        Command::Sim(args) => sim::run("run", args),
        Command::Replay(args) => sim::run("replay", args),
    }
}

/// The workspace root: xtask lives one level below it.
pub fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(PathBuf::from)
        .unwrap_or(manifest_dir)
}
