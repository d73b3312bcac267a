//! The core's own clock value: a millisecond [`Instant`] that the driver supplies with every
//! input.
//!
//! The core never reads a clock (`std::time` does not exist in `no_std`, and a state machine that
//! reads the clock cannot be replayed). A driver picks an epoch (process start, simulation start)
//! and passes milliseconds since it; only differences between instants matter. The shape follows
//! `embassy-time`: a `u64` of ticks, here fixed at one tick per millisecond, which is finer than
//! anything MQTT expresses (its intervals are whole seconds).

use core::fmt;

/// A point in time, in milliseconds since an epoch the driver chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

impl Instant {
    /// The epoch itself.
    pub const ZERO: Instant = Instant(0);
    /// The furthest representable instant, used for "never".
    pub const MAX: Instant = Instant(u64::MAX);

    /// The instant `ms` milliseconds after the epoch.
    pub const fn from_millis(ms: u64) -> Self {
        Instant(ms)
    }

    /// The instant `s` seconds after the epoch.
    pub const fn from_secs(s: u64) -> Self {
        Instant(s.saturating_mul(1000))
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// This instant plus `ms` milliseconds, saturating at [`Instant::MAX`].
    #[must_use]
    pub const fn add_millis(self, ms: u64) -> Self {
        Instant(self.0.saturating_add(ms))
    }

    /// This instant plus `s` seconds, saturating at [`Instant::MAX`].
    #[must_use]
    pub const fn add_secs(self, s: u64) -> Self {
        self.add_millis(s.saturating_mul(1000))
    }

    /// Milliseconds from `earlier` to `self`; zero if `earlier` is later.
    pub const fn millis_since(self, earlier: Instant) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}s", self.0 / 1000, self.0 % 1000)
    }
}
