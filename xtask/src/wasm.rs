//! `cargo xtask wasm`: build `mqttref-wasm` for the web, and `cargo xtask wasm test`: run its
//! wasm tests in Node.
//!
//! Both need `wasm-bindgen` / `wasm-bindgen-test-runner` (crate wasm-bindgen-cli) at exactly
//! the version of the `wasm-bindgen` crate in Cargo.lock: the CLI and the crate share a schema
//! that changes between versions. A missing or mismatched CLI is an error naming the
//! `cargo install` command that fixes it; nothing is installed here.

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use std::path::Path;
use std::process::Command;

const TARGET: &str = "wasm32-unknown-unknown";

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Option<WasmCommand>,
}

#[derive(Subcommand)]
enum WasmCommand {
    /// Run the crate's wasm tests (tests/node.rs) in Node with wasm-bindgen-test-runner.
    Test,
}

pub fn run(args: Args) -> Result<()> {
    let root = crate::workspace_root();
    crate::nostd::ensure_targets(&[TARGET])?;
    let version = locked_version(&root)?;
    match args.command {
        None => build(&root, &version),
        Some(WasmCommand::Test) => test(&root, &version),
    }
}

/// The `wasm-bindgen` crate's version in Cargo.lock.
fn locked_version(root: &Path) -> Result<String> {
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).context("reading Cargo.lock")?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == "name = \"wasm-bindgen\"" {
            if let Some(v) = lines
                .next()
                .and_then(|l| l.strip_prefix("version = \""))
                .and_then(|l| l.strip_suffix('"'))
            {
                return Ok(v.to_string());
            }
        }
    }
    bail!("no wasm-bindgen in Cargo.lock")
}

/// Fails unless `tool --version` reports `version`.
fn check_cli(tool: &str, version: &str) -> Result<()> {
    let install = format!("cargo install wasm-bindgen-cli --version {version}");
    let out = match Command::new(tool).arg("--version").output() {
        Ok(out) => out,
        Err(e) => bail!("{tool} not found ({e}); install it with `{install}`"),
    };
    let said = String::from_utf8_lossy(&out.stdout);
    let found = said.split_whitespace().nth(1).unwrap_or("?");
    if found != version {
        bail!("{tool} is {found}, Cargo.lock has wasm-bindgen {version}; run `{install}`");
    }
    Ok(())
}

fn build(root: &Path, version: &str) -> Result<()> {
    check_cli("wasm-bindgen", version)?;
    let status = Command::new(env!("CARGO"))
        .current_dir(root)
        .args([
            "build",
            "--package",
            "mqttref-wasm",
            "--lib",
            "--release",
            "--target",
            TARGET,
        ])
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build of mqttref-wasm for {TARGET} failed");
    }
    let target = crate::brokers::target_dir(root);
    let wasm = target
        .join(TARGET)
        .join("release")
        .join("mqttref_wasm.wasm");
    let out = target.join("wasm").join("pkg");
    let status = Command::new("wasm-bindgen")
        .args(["--target", "web", "--out-dir"])
        .arg(&out)
        .arg(&wasm)
        .status()
        .context("running wasm-bindgen")?;
    if !status.success() {
        bail!("wasm-bindgen failed on {}", wasm.display());
    }
    let bundle = out.join("mqttref_wasm_bg.wasm");
    let size = std::fs::metadata(&bundle)
        .with_context(|| format!("reading {}", bundle.display()))?
        .len();
    println!(
        "wasm: {} ({size} bytes; release, not run through wasm-opt) and its JavaScript glue in {}",
        bundle.display(),
        out.display()
    );
    Ok(())
}

fn test(root: &Path, version: &str) -> Result<()> {
    check_cli("wasm-bindgen-test-runner", version)?;
    let status = Command::new(env!("CARGO"))
        .current_dir(root)
        .args(["test", "--package", "mqttref-wasm", "--target", TARGET])
        .env(
            "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER",
            "wasm-bindgen-test-runner",
        )
        .status()
        .context("running cargo test")?;
    if !status.success() {
        bail!("the wasm tests of mqttref-wasm failed");
    }
    Ok(())
}
