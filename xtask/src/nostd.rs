//! `cargo xtask nostd`: prove that the protocol core builds without std.
//!
//! The targets chosen have no `std` at all, so any accidental use of std in the core (or in a
//! dependency) is a build error there, not a silent success on the host.

use anyhow::{bail, Context, Result};
use std::process::Command;

/// A build of the core for one target with one feature set.
struct Build {
    target: &'static str,
    features: &'static [&'static str],
}

const BUILDS: &[Build] = &[
    Build {
        target: "thumbv7em-none-eabihf",
        features: &[],
    },
    Build {
        target: "thumbv7em-none-eabihf",
        features: &["alloc"],
    },
    Build {
        target: "riscv32imc-unknown-none-elf",
        features: &[],
    },
    Build {
        target: "riscv32imc-unknown-none-elf",
        features: &["alloc"],
    },
    Build {
        target: "wasm32-unknown-unknown",
        features: &["alloc"],
    },
];

pub fn run() -> Result<()> {
    let root = crate::workspace_root();
    let mut targets: Vec<&str> = BUILDS.iter().map(|b| b.target).collect();
    targets.dedup();
    ensure_targets(&targets)?;
    let mut failed = Vec::new();
    for build in BUILDS {
        let features = build.features.join(",");
        let label = if features.is_empty() {
            format!("{} (no default features)", build.target)
        } else {
            format!("{} (features: {features})", build.target)
        };
        println!("building mqttref-core for {label}");
        let mut cmd = Command::new(env!("CARGO"));
        cmd.current_dir(&root).args([
            "build",
            "--package",
            "mqttref-core",
            "--lib",
            "--target",
            build.target,
            "--no-default-features",
        ]);
        if !features.is_empty() {
            cmd.args(["--features", &features]);
        }
        let status = cmd.status().context("running cargo build")?;
        if !status.success() {
            failed.push(label);
        }
    }
    if !failed.is_empty() {
        bail!(
            "the core does not build without std for: {}",
            failed.join("; ")
        );
    }
    println!("nostd: all {} builds passed", BUILDS.len());
    Ok(())
}

/// Adds the rustup targets of `targets` that are not installed yet.
pub fn ensure_targets(targets: &[&str]) -> Result<()> {
    let installed = installed_targets()?;
    let missing: Vec<&str> = targets
        .iter()
        .copied()
        .filter(|t| !installed.iter().any(|i| i == t))
        .collect();
    if !missing.is_empty() {
        println!("adding targets: {}", missing.join(" "));
        let status = Command::new("rustup")
            .args(["target", "add"])
            .args(&missing)
            .status()
            .context("running rustup target add")?;
        if !status.success() {
            bail!("rustup target add {} failed", missing.join(" "));
        }
    }
    Ok(())
}

fn installed_targets() -> Result<Vec<String>> {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("running rustup target list --installed")?;
    if !out.status.success() {
        bail!("rustup target list --installed failed");
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .collect())
}
