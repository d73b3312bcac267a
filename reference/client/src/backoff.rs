//! Reconnect delays: exponential backoff with jitter from a seeded PRNG (no global RNG, so a
//! simulation run is reproducible from its seed).

use std::time::Duration;

pub(crate) use mqttref_core::rng::SplitMix64;

/// When and how often to reconnect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconnectPolicy {
    /// Reconnect at all after a connection is lost.
    pub enabled: bool,
    /// The first delay.
    pub initial_delay: Duration,
    /// The delay doubles per failed attempt up to this.
    pub max_delay: Duration,
    /// Give up after this many failed attempts in a row; `None`: never.
    pub max_attempts: Option<u32>,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy {
            enabled: true,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(30),
            max_attempts: None,
        }
    }
}

impl ReconnectPolicy {
    /// No reconnect: a lost connection ends the client.
    pub fn disabled() -> Self {
        ReconnectPolicy {
            enabled: false,
            ..ReconnectPolicy::default()
        }
    }

    /// The delay before attempt `attempt` (0-based): `initial * 2^attempt` capped at `max`,
    /// then "equal jitter": uniformly in `[d/2, d]`, so clients that lost the same server do not
    /// come back in lockstep.
    pub(crate) fn delay(&self, attempt: u32, rng: &mut SplitMix64) -> Duration {
        let base = self.initial_delay.as_millis() as u64;
        let max = self.max_delay.as_millis().max(1) as u64;
        let d = base.saturating_mul(1u64 << attempt.min(32)).min(max).max(1);
        let half = d / 2;
        Duration::from_millis(half + rng.next_u64() % (d - half + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_are_capped_and_jittered_deterministically() {
        let p = ReconnectPolicy {
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            ..ReconnectPolicy::default()
        };
        let mut rng = SplitMix64::new(7);
        let ds: Vec<u64> = (0..8)
            .map(|a| p.delay(a, &mut rng).as_millis() as u64)
            .collect();
        for (a, d) in ds.iter().enumerate() {
            let full = (100u64 << a).min(1000);
            assert!(
                (full / 2..=full).contains(d),
                "attempt {a}: {d} not in [{}, {full}]",
                full / 2
            );
        }
        let mut again = SplitMix64::new(7);
        let ds2: Vec<u64> = (0..8)
            .map(|a| p.delay(a, &mut again).as_millis() as u64)
            .collect();
        assert_eq!(ds, ds2, "same seed, same delays");
    }
}
