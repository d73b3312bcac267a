//! `cargo xtask sim` and `cargo xtask replay`: run the `sim` binary of the `simulator` crate in
//! release mode (a debug simulation is about 30 times slower, and building it here would also
//! build every other xtask dependency in release). `sim --plant BUG`, and replaying a file that
//! plants broker bugs, build it with `--features fault-injection`. The options are the
//! simulator's own; see `cargo xtask sim --help`.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

/// Options passed through to the simulator.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// `--seed N | --seeds A..B`, `--clients N`, `--duration SECS`, `--liveness SECS`,
    /// `--faults swarm|swarm+KIND|none|LIST`, `--storage swarm|memory|file`, `--record`,
    /// `--out DIR`, `--jobs N`, `--plant qos1-drop-on-resume|qos2-duplicate|
    /// store-ack-before-sync|store-forgets-qos2` (for `replay`: FILE).
    /// `--debug` (xtask's own) runs the simulator in the dev profile instead of release: no
    /// release build, but runs about 30 times slower.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

/// Runs `sim <sub> args...` in release mode (dev with `--debug`).
pub fn run(sub: &str, mut a: Args) -> Result<()> {
    let debug = a.args.iter().any(|x| x == "--debug");
    a.args.retain(|x| x != "--debug");
    let profile: &[&str] = if debug { &[] } else { &["--release"] };
    let mut features = Vec::new();
    if sub == "run"
        && a.args
            .iter()
            .any(|x| x == "--plant" || x.starts_with("--plant="))
    {
        features = vec!["--features", "fault-injection"];
    } else if sub == "replay" {
        if let Some(file) = a.args.iter().find(|x| !x.starts_with('-')) {
            if plants_bugs(Path::new(file)) {
                features = vec!["--features", "fault-injection"];
            }
        }
    }
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(crate::workspace_root())
        .args(["run", "--quiet"])
        .args(profile)
        .args(["-p", "simulator", "--bin", "sim"])
        .args(features)
        .arg("--")
        .arg(sub)
        .args(&a.args)
        .status()
        .context("running cargo")?;
    if !status.success() {
        bail!("simulator {sub} failed ({status})");
    }
    Ok(())
}

/// Whether a replay file plants broker bugs (then the simulator needs `fault-injection`).
fn plants_bugs(file: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(file) else {
        return false;
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
        return false;
    };
    v.pointer("/plan/options/planted")
        .and_then(|p| p.as_object())
        .is_some_and(|p| p.values().any(|x| x.as_bool() == Some(true)))
}
