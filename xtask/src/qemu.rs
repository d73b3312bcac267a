//! `cargo xtask qemu`: run the core's test vectors on an emulated microcontroller.
//!
//! Builds `reference/core-embedded-tests` for `thumbv7em-none-eabihf` once without and once
//! with `alloc` and runs each image on QEMU's MPS2 AN386 board (Cortex-M4), then builds it for
//! `riscv32imc-unknown-none-elf` without `alloc` and runs it on QEMU's RISC-V `virt` board; all
//! report over semihosting. (No `alloc` run on riscv32imc: it has no atomic compare-and-swap,
//! which the heap's lock needs, and a critical-section heap needs an `unsafe impl GlobalAlloc`
//! that the lints forbid.) It reads what each prints: one `test NAME ... ok|FAILED` line per case and a
//! final `test result: ok|FAILED. N passed; M failed`. A run fails when QEMU's exit status
//! (the firmware's semihosting exit) is not 0, when a case failed, when no summary line
//! came, or when QEMU is still running after the time bound (it is killed).

use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const CRATE_DIR: &str = "reference/core-embedded-tests";
const BIN: &str = "mqttref-core-embedded-tests";

/// Options of `cargo xtask qemu`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Kill QEMU and fail a run that has not finished after this many seconds.
    #[arg(long, default_value_t = 120)]
    timeout_secs: u64,
    /// Print every case's line, not only the failed ones.
    #[arg(long)]
    verbose: bool,
}

/// One firmware build and run.
struct Run {
    /// The board and feature set, for the output.
    label: &'static str,
    target: &'static str,
    features: &'static [&'static str],
    /// The emulator binary and its arguments before `-kernel IMAGE`.
    qemu: &'static str,
    qemu_args: &'static [&'static str],
}

const MPS2_AN386: &[&str] = &["-machine", "mps2-an386", "-cpu", "cortex-m4"];
/// `-bios none`: no OpenSBI; the image is loaded at 0x80000000 and started there.
const RISCV_VIRT: &[&str] = &["-machine", "virt", "-bios", "none"];

const RUNS: &[Run] = &[
    Run {
        label: "mps2-an386 (Cortex-M4, thumbv7em-none-eabihf), no alloc",
        target: "thumbv7em-none-eabihf",
        features: &[],
        qemu: "qemu-system-arm",
        qemu_args: MPS2_AN386,
    },
    Run {
        label: "mps2-an386 (Cortex-M4, thumbv7em-none-eabihf), alloc",
        target: "thumbv7em-none-eabihf",
        features: &["alloc"],
        qemu: "qemu-system-arm",
        qemu_args: MPS2_AN386,
    },
    Run {
        label: "virt (riscv32imc-unknown-none-elf), no alloc",
        target: "riscv32imc-unknown-none-elf",
        features: &[],
        qemu: "qemu-system-riscv32",
        qemu_args: RISCV_VIRT,
    },
];

/// What one run printed and how it ended.
struct Outcome {
    passed: usize,
    failed: usize,
}

pub fn run(args: Args) -> Result<()> {
    let root = crate::workspace_root();
    let mut targets: Vec<&str> = RUNS.iter().map(|r| r.target).collect();
    targets.dedup();
    crate::nostd::ensure_targets(&targets)?;
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let mut problems = Vec::new();
    let mut totals = (0, 0);
    for r in RUNS {
        let qemu = find_qemu(&root, r.qemu)?;
        println!("qemu: building the firmware for {}", r.label);
        let mut cmd = Command::new(env!("CARGO"));
        cmd.current_dir(root.join(CRATE_DIR))
            .args(["build", "--locked", "--target", r.target, "--target-dir"])
            .arg(&target_dir);
        if !r.features.is_empty() {
            cmd.args(["--features", &r.features.join(",")]);
        }
        let status = cmd.status().context("running cargo build")?;
        if !status.success() {
            bail!("building {CRATE_DIR} for {} failed", r.label);
        }
        let image = target_dir.join(r.target).join("debug").join(BIN);
        let limit = Duration::from_secs(args.timeout_secs);
        match run_image(&qemu, r.qemu_args, &image, limit, args.verbose) {
            Ok(o) => {
                println!(
                    "qemu: {}: {} passed; {} failed",
                    r.label, o.passed, o.failed
                );
                totals.0 += o.passed;
                totals.1 += o.failed;
                if o.failed > 0 {
                    problems.push(format!("{}: {} failed", r.label, o.failed));
                }
            }
            Err(e) => {
                println!("qemu: {}: {e:#}", r.label);
                problems.push(format!("{}: {e:#}", r.label));
            }
        }
    }
    println!(
        "qemu: {} passed; {} failed over {} runs",
        totals.0,
        totals.1,
        RUNS.len()
    );
    if !problems.is_empty() {
        bail!("qemu: {}", problems.join("; "));
    }
    Ok(())
}

/// `target/qemu/usr/bin/<name>` (where `.ci/install-qemu` unpacks Debian's packages when apt
/// cannot install them), else the one on PATH.
fn find_qemu(root: &Path, name: &str) -> Result<PathBuf> {
    let local = root.join("target/qemu/usr/bin").join(name);
    if local.is_file() {
        return Ok(local);
    }
    let on_path = Command::new(name)
        .arg("--version")
        .stdout(Stdio::null())
        .status();
    match on_path {
        Ok(s) if s.success() => Ok(PathBuf::from(name)),
        _ => bail!(
            "{name} not found (neither {} nor on PATH): run .ci/install-qemu",
            local.display()
        ),
    }
}

/// Boots `image` on QEMU, echoes failed cases (every case with `verbose`), and checks the exit
/// status and the summary line. Kills QEMU after `limit`.
fn run_image(
    qemu: &Path,
    board: &[&str],
    image: &Path,
    limit: Duration,
    verbose: bool,
) -> Result<Outcome> {
    let mut child = Command::new(qemu)
        .args(board)
        .args([
            "-nographic",
            "-monitor",
            "none",
            "-serial",
            "none",
            "-semihosting-config",
            "enable=on,target=native",
            "-kernel",
        ])
        .arg(image)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", qemu.display()))?;
    let stdout = child.stdout.take().context("QEMU's stdout")?;
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let status = wait_bounded(&mut child, limit)?;
    // QEMU has exited (or was killed): the pipe closes and the reader ends.
    let _ = reader.join();
    let mut passed_lines = 0;
    let mut failed_lines = 0;
    let mut summary = None;
    for line in rx.try_iter() {
        if line.starts_with("test ") && line.contains(" ... ok") {
            passed_lines += 1;
            if verbose {
                println!("{line}");
            }
        } else if line.starts_with("test ") && line.contains(" ... FAILED") {
            failed_lines += 1;
            println!("{line}");
        } else if let Some(rest) = line.strip_prefix("test result: ") {
            summary = Some(parse_summary(rest)?);
            println!("{line}");
        } else {
            println!("{line}");
        }
    }
    let Some(status) = status else {
        bail!(
            "timed out after {} s and killed ({passed_lines} ok and {failed_lines} FAILED lines so far)",
            limit.as_secs()
        );
    };
    let Some((passed, failed)) = summary else {
        bail!("no summary line ({passed_lines} ok, {failed_lines} FAILED lines; QEMU {status})");
    };
    if (passed, failed) != (passed_lines, failed_lines) {
        bail!(
            "the summary says {passed} passed, {failed} failed, but {passed_lines} ok and \
             {failed_lines} FAILED lines were printed"
        );
    }
    if passed == 0 {
        bail!("no case ran");
    }
    if failed == 0 && !status.success() {
        bail!("QEMU exited with {status} although no case failed");
    }
    if failed > 0 && status.success() {
        bail!("{failed} cases failed but the firmware exited with success");
    }
    Ok(Outcome { passed, failed })
}

/// `ok. N passed; M failed` or `FAILED. N passed; M failed`.
fn parse_summary(rest: &str) -> Result<(usize, usize)> {
    let counts = rest
        .split_once(". ")
        .map(|(_, c)| c)
        .context("summary line without counts")?;
    let (p, f) = counts
        .split_once("; ")
        .context("summary line without `; `")?;
    let num = |s: &str, word: &str| -> Result<usize> {
        s.strip_suffix(word)
            .and_then(|n| n.trim().parse().ok())
            .with_context(|| format!("bad count {s:?} in the summary line"))
    };
    Ok((num(p, " passed")?, num(f, " failed")?))
}

/// Waits for `child` up to `limit`; kills it and returns `None` when it takes longer.
fn wait_bounded(child: &mut Child, limit: Duration) -> Result<Option<ExitStatus>> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().context("waiting for QEMU")? {
            return Ok(Some(status));
        }
        if start.elapsed() >= limit {
            child.kill().context("killing QEMU")?;
            child.wait().context("reaping QEMU")?;
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::parse_summary;

    #[test]
    fn summary_line() {
        assert_eq!(parse_summary("ok. 326 passed; 0 failed").unwrap(), (326, 0));
        assert_eq!(parse_summary("FAILED. 3 passed; 2 failed").unwrap(), (3, 2));
        assert!(parse_summary("ok. many passed; 0 failed").is_err());
        assert!(parse_summary("ok").is_err());
    }
}
