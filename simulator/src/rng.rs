//! The simulator's only source of randomness: the core's SplitMix64 seeded from the run's
//! seed, with integer-ratio helpers (TigerBeetle's VOPR style: `chance(1, 4)`, never floats).

use mqttref_core::rng::SplitMix64;
use serde::{Deserialize, Serialize};

/// The core's [`SplitMix64`] with the simulator's helpers.
#[derive(Debug, Clone)]
pub struct Rng(SplitMix64);

impl Rng {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(SplitMix64::new(seed))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A value in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// True with probability `ratio.num / ratio.den`.
    pub fn chance(&mut self, ratio: Ratio) -> bool {
        ratio.den > 0 && self.next_u64() % u64::from(ratio.den) < u64::from(ratio.num)
    }

    /// An index into a slice of `len` elements (`len > 0`).
    pub fn index(&mut self, len: usize) -> usize {
        (self.next_u64() % (len.max(1) as u64)) as usize
    }

    /// A derived seed for a sub-generator, so that adding draws in one place does not shift
    /// every other stream.
    pub fn fork(&mut self) -> Rng {
        Rng::new(self.next_u64())
    }
}

/// An integer-ratio probability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ratio {
    /// Numerator.
    pub num: u32,
    /// Denominator.
    pub den: u32,
}

impl Ratio {
    /// `num / den`.
    pub const fn new(num: u32, den: u32) -> Self {
        Ratio { num, den }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reproducible_and_in_range() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        for _ in 0..100 {
            let x = a.range(3, 9);
            assert_eq!(x, b.range(3, 9));
            assert!((3..=9).contains(&x));
        }
        assert_eq!(Rng::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
        let mut r = Rng::new(1);
        assert!(!(0..100).any(|_| r.chance(Ratio::new(0, 5))));
        assert!((0..100).all(|_| r.chance(Ratio::new(5, 5))));
    }
}
