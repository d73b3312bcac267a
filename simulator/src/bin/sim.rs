//! The simulator's command line; `cargo xtask sim` and `cargo xtask replay` run it in release
//! mode. `sim run [options]` and `sim replay FILE` take the options of those commands.

use clap::{Parser, Subcommand};

/// Deterministic simulation of the reference broker and clients.
#[derive(Parser)]
#[command(name = "sim")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run seeds (see `cargo xtask sim --help`).
    Run(simulator::cli::SimArgs),
    /// Re-run a replay file.
    Replay(simulator::cli::ReplayArgs),
    /// Join the `--summary` files of a sharded sweep into one report.
    Merge(simulator::cli::MergeArgs),
}

fn main() {
    let result = match Cli::parse().command {
        Command::Run(a) => simulator::cli::sim(a),
        Command::Replay(a) => simulator::cli::replay_file(a),
        Command::Merge(a) => simulator::cli::merge(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
