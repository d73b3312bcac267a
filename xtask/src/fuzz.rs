//! `cargo xtask fuzz`: run each cargo-fuzz target of the protocol core (`reference/core/fuzz`)
//! for a bounded time.
//!
//! Installs nothing: it needs `cargo fuzz` (`cargo install cargo-fuzz --locked`). It works on
//! stable Rust: the targets are built with `--sanitizer none`, which needs no `-Z` flag (the core
//! forbids `unsafe`, so AddressSanitizer would find nothing the Rust checks do not; debug
//! assertions and overflow checks stay on). New inputs the fuzzer finds go to a scratch corpus
//! in `target/fuzz/corpus/<target>`; the committed seeds in `reference/core/fuzz/corpus/<target>`
//! are only read. A crash, a hang (over 10 s for one input) or running out of memory writes the
//! input to `reference/core/fuzz/artifacts/<target>/` and fails the command, naming the file.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

/// Options of `cargo xtask fuzz`.
#[derive(clap::Args)]
pub struct Args {
    /// Seconds to fuzz each target.
    #[arg(long, value_name = "N", default_value_t = 60)]
    secs: u64,
    /// Fuzz only this target (repeatable); default: every target `cargo fuzz list` shows.
    #[arg(long = "target", value_name = "NAME")]
    targets: Vec<String>,
}

/// The fuzz project, relative to the workspace root.
const FUZZ_DIR: &str = "reference/core/fuzz";

pub fn run(args: Args) -> Result<()> {
    let root = crate::workspace_root();
    let fuzz_dir = root.join(FUZZ_DIR);
    let target_dir = root.join("target/fuzz");

    let version = cargo_fuzz(&root, &["--version"]).output();
    if !version.as_ref().is_ok_and(|o| o.status.success()) {
        bail!("`cargo fuzz` is not installed: cargo install cargo-fuzz --locked");
    }
    let listed = cargo_fuzz(&root, &["list", "--fuzz-dir", FUZZ_DIR])
        .output()
        .context("running cargo fuzz list")?;
    if !listed.status.success() {
        bail!(
            "cargo fuzz list failed: {}",
            String::from_utf8_lossy(&listed.stderr)
        );
    }
    let all: Vec<String> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    let targets = if args.targets.is_empty() {
        all
    } else {
        if let Some(unknown) = args.targets.iter().find(|t| !all.contains(t)) {
            bail!("no fuzz target {unknown}; the targets: {}", all.join(", "));
        }
        args.targets
    };

    let started = Instant::now();
    let status = cargo_fuzz(
        &root,
        &["build", "--fuzz-dir", FUZZ_DIR, "--sanitizer", "none"],
    )
    .arg("--target-dir")
    .arg(&target_dir)
    .status()
    .context("running cargo fuzz build")?;
    if !status.success() {
        bail!("cargo fuzz build failed ({status})");
    }
    println!("built in {:.0?}", started.elapsed());

    let mut failed = Vec::new();
    for target in &targets {
        if let Err(e) = fuzz_one(&root, &fuzz_dir, &target_dir, target, args.secs) {
            println!("FAIL {target}: {e:#}");
            failed.push(target.clone());
        }
    }
    if !failed.is_empty() {
        bail!("fuzz targets failed: {}", failed.join(", "));
    }
    Ok(())
}

/// `cargo fuzz ARGS...`, from the workspace root.
fn cargo_fuzz(root: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root).arg("fuzz").args(args);
    c
}

/// Fuzzes one target for `secs` seconds. Its libFuzzer output goes to
/// `target/fuzz/logs/<target>.log`; the summary (coverage, executions per second) is printed.
fn fuzz_one(
    root: &Path,
    fuzz_dir: &Path,
    target_dir: &Path,
    target: &str,
    secs: u64,
) -> Result<()> {
    let scratch = target_dir.join("corpus").join(target);
    let seeds = fuzz_dir.join("corpus").join(target);
    let logs = target_dir.join("logs");
    for dir in [&scratch, &seeds, &logs] {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let log_path = logs.join(format!("{target}.log"));
    let log =
        fs::File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;

    println!(
        "fuzzing {target} for {secs} s (log: {})",
        rel(root, &log_path)
    );
    let started = Instant::now();
    let status = cargo_fuzz(
        root,
        &["run", "--fuzz-dir", FUZZ_DIR, "--sanitizer", "none"],
    )
    .arg("--target-dir")
    .arg(target_dir)
    .arg(target)
    .arg(&scratch)
    .arg(&seeds)
    .arg("--")
    .arg(format!("-max_total_time={secs}"))
    .arg("-timeout=10")
    .stdout(log.try_clone()?)
    .stderr(log)
    .status()
    .context("running cargo fuzz run")?;
    let elapsed = started.elapsed();
    let output = fs::read_to_string(&log_path).unwrap_or_default();
    if let Some(last) = output.lines().rev().find(|l| l.contains(" cov: ")) {
        println!("  {}", last.trim());
    }
    if let Some(done) = output.lines().rev().find(|l| l.starts_with("Done ")) {
        println!("  {done} (wall {:.0?})", elapsed);
    }

    // libFuzzer names the input it saved (in `artifacts/<target>/`).
    let crashes: Vec<String> = output
        .lines()
        .filter_map(|l| l.split_once("Test unit written to ").map(|(_, f)| f.trim()))
        .map(String::from)
        .collect();
    if status.success() && crashes.is_empty() {
        return Ok(());
    }
    let mut shown = failure_lines(&output);
    if shown.is_empty() {
        // Not a crash (a build error, say): the end of the log.
        let lines: Vec<&str> = output.lines().collect();
        shown = lines[lines.len().saturating_sub(40)..].to_vec();
    }
    for line in shown {
        println!("  | {line}");
    }
    let Some(first) = crashes.first() else {
        bail!("cargo fuzz run exited with {status} (see the log)");
    };
    bail!(
        "crash input written to {}; reproduce with `cargo fuzz run --fuzz-dir {FUZZ_DIR} \
         --sanitizer none {target} {first}`",
        crashes.join(", "),
    )
}

/// The lines of a libFuzzer log that say why it stopped: the panic message (without its
/// backtrace) and libFuzzer's own error (deadly signal, timeout, out of memory).
fn failure_lines(log: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut in_panic = false;
    for line in log.lines() {
        if line.contains(" panicked at ") {
            in_panic = true;
        } else if in_panic
            && (line.starts_with("stack backtrace:")
                || line.starts_with("note:")
                || out.len() >= 12)
        {
            in_panic = false;
        }
        if in_panic || line.contains("ERROR: libFuzzer:") {
            out.push(line);
        }
    }
    out
}

/// `path` relative to the workspace root, for messages.
fn rel(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}
