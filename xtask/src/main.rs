//! `cargo xtask`: the project's commands, one module per task (rust-analyzer's xtask shape).
//!
//! Every subcommand's doc comment is its `--help` text.

mod coverage;
mod manifest;
mod nostd;

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
    /// Work with the spec manifests (spec-manifest/mqtt-v5.0.toml, mqtt-v3.1.1.toml).
    Manifest {
        #[command(subcommand)]
        command: manifest::Command,
    },
    /// Report which normative statements the scenarios declare: totals, per section and per
    /// role, for 5.0 and 3.1.1; writes reports/coverage.json and reports/coverage.md.
    Coverage(coverage::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Nostd => nostd::run(),
        Command::Manifest { command } => manifest::run(command),
        Command::Coverage(args) => coverage::run(args),
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
