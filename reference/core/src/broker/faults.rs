//! Test-only planted bugs (feature `fault-injection`), so the simulator can show that its
//! auditor catches a broker that breaks its promises. Never enable in a real build.
//!
//! They are an engine parameter like any other ([`Config::faults`](super::Config::faults)),
//! so the simulator sets them in the broker's configuration for the run that plants them and
//! nothing else is affected.

/// Which bugs to plant. All off by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// On every session resume, forget the oldest unacknowledged outbound QoS 1 message
    /// instead of resending it (violates [MQTT-4.4.0-1] (both)).
    pub drop_qos1_on_resume: bool,
    /// Deliver the first outbound QoS 2 message twice, under two packet identifiers
    /// (violates exactly-once).
    pub duplicate_qos2: bool,
}
