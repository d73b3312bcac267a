//! Puts the board's memory map where the runtime's `link.x` finds it, and links with `link.x`:
//! `memory-mps2-an386.x` for Cortex-M, `memory-riscv-virt.x` for RISC-V (copied to `OUT_DIR` as
//! `memory.x`, the name the runtimes include; no `memory.x` in the crate directory, where the
//! linker would look first).

use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let target = env::var("TARGET").unwrap_or_default();
    let memory: &[u8] = if target.starts_with("riscv") {
        include_bytes!("memory-riscv-virt.x")
    } else {
        include_bytes!("memory-mps2-an386.x")
    };
    fs::write(out.join("memory.x"), memory).expect("write memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory-mps2-an386.x");
    println!("cargo:rerun-if-changed=memory-riscv-virt.x");
    if target.starts_with("riscv") {
        // riscv-rt's link.x expects memory.x to be given first.
        println!("cargo:rustc-link-arg=-Tmemory.x");
    }
    println!("cargo:rustc-link-arg=-Tlink.x");
}
