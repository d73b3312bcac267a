//! Test-only planted bugs (feature `fault-injection`), so the simulator can show that its
//! auditor catches a broker that breaks its promises. Never enable in a real build.
//!
//! The switches are read from a thread-local when an engine is created ([`set_thread_faults`]
//! before the engine starts): the broker driver builds its engine from its own config, which
//! has no field for this, and a turmoil simulation runs every host on the calling thread.

use core::cell::Cell;

/// Which bugs to plant. All off by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// On every session resume, forget the oldest unacknowledged outbound QoS 1 message
    /// instead of resending it (violates [MQTT-4.4.0-1]).
    pub drop_qos1_on_resume: bool,
    /// Deliver the first outbound QoS 2 message twice, under two packet identifiers
    /// (violates exactly-once).
    pub duplicate_qos2: bool,
}

std::thread_local! {
    static FAULTS: Cell<Faults> = const { Cell::new(Faults { drop_qos1_on_resume: false, duplicate_qos2: false }) };
}

/// Plants `faults` in every engine created on this thread from now on.
pub fn set_thread_faults(faults: Faults) {
    FAULTS.with(|f| f.set(faults));
}

/// The faults engines created on this thread get.
pub fn thread_faults() -> Faults {
    FAULTS.with(Cell::get)
}
