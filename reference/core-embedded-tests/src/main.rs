//! Runs mqttref-core's test vectors on a bare-metal Cortex-M (QEMU's MPS2 AN386 board) or
//! RISC-V (QEMU's `virt` board, riscv32imc), prints
//! one `test NAME ... ok|FAILED` line per case and a final `N passed; M failed` over semihosting,
//! and exits QEMU with a failure status if any case failed. `cargo xtask qemu` builds and runs
//! it, once without and once with `alloc`.
//!
//! The cases are the core's own tables (`codec::vectors`, `topic::vectors`), the same ones its
//! host tests iterate; each check returns a mismatch instead of panicking, so one failure does
//! not hide the others. A panic still ends the run as a failure (see [`panic`]).

#![no_std]
#![no_main]

use core::fmt::Display;
#[cfg(target_arch = "arm")]
use cortex_m_rt::entry;
#[cfg(target_arch = "arm")]
use cortex_m_semihosting::{debug, hprintln};
use mqttref_core::{codec::vectors as codec, topic::vectors as topic};
#[cfg(target_arch = "riscv32")]
use riscv_rt::entry;
#[cfg(target_arch = "riscv32")]
use riscv_semihosting::{debug, hprintln};

#[cfg(feature = "alloc")]
mod heap;

/// Pass and fail counts.
#[derive(Default)]
struct Tally {
    passed: usize,
    failed: usize,
}

impl Tally {
    /// Records one case's outcome and prints its line.
    fn record<M: Display>(&mut self, group: &str, name: impl Display, outcome: Result<(), M>) {
        match outcome {
            Ok(()) => {
                self.passed += 1;
                hprintln!("test {}::{} ... ok", group, name);
            }
            Err(why) => {
                self.failed += 1;
                hprintln!("test {}::{} ... FAILED: {}", group, name, why);
            }
        }
    }
}

#[entry]
fn main() -> ! {
    #[cfg(feature = "alloc")]
    heap::init();
    let mut tally = Tally::default();
    for case in codec::GOLDEN {
        tally.record("golden", case.name, codec::check_golden(case));
    }
    for case in codec::MALFORMED {
        tally.record("malformed", case.name, codec::check_malformed(case));
    }
    for case in topic::NAMES {
        tally.record(
            "topic_name",
            format_args!("{:?}", case.topic),
            topic::check_name(case),
        );
    }
    for case in topic::FILTERS {
        tally.record(
            "topic_filter",
            format_args!("{:?}", case.topic),
            topic::check_filter(case),
        );
    }
    for case in topic::MATCHES {
        let name = format_args!("{}({:?}, {:?})", case.test, case.filter, case.name);
        tally.record("matches", name, topic::check_match(case));
    }
    #[cfg(feature = "alloc")]
    heap::run(&mut tally);
    hprintln!(
        "test result: {}. {} passed; {} failed",
        if tally.failed == 0 { "ok" } else { "FAILED" },
        tally.passed,
        tally.failed
    );
    debug::exit(if tally.failed == 0 {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    // Semihosting exit returns only when no debugger or emulator is listening.
    #[allow(clippy::empty_loop)]
    loop {}
}

/// A panic (a bug in the core or in this runner: the checks themselves never panic) is a
/// failed run: print where, then exit QEMU with the failure status.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    hprintln!("test panicked ... FAILED: {}", info);
    debug::exit(debug::EXIT_FAILURE);
    #[allow(clippy::empty_loop)]
    loop {}
}
