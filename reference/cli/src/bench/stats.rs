//! The statistics of a bench run, kept apart from the I/O so they can be unit-tested: a latency
//! [`Histogram`] with percentiles, the per-subscriber delivery [`Tally`] (unique, duplicate,
//! out-of-order) and the [`Counts`] check, and [`median`] across rounds.

/// Sub-buckets per power of two: 128, so a recorded value is reported within 1/128 (< 0.8%).
const SUB_BITS: u32 = 7;
const SUB_MASK: usize = (1 << SUB_BITS) - 1;
/// Enough buckets for any `u64`.
const BUCKETS: usize = ((64 - SUB_BITS as usize) + 1) << SUB_BITS;

/// A log-linear histogram of `u64` values (nanoseconds here), in the manner of HdrHistogram:
/// exact below 128, then 128 buckets per power of two. Fixed size (59 KiB), no allocation per
/// value, so recording costs a few instructions on the hot path.
#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    sum: u128,
    max: u64,
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("len", &self.total)
            .field("p50", &self.percentile(0.5))
            .field("max", &self.max())
            .finish()
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            sum: 0,
            max: 0,
        }
    }
}

fn bucket(v: u64) -> usize {
    if v < (1 << SUB_BITS) {
        // v < 128: fits.
        v as usize
    } else {
        let exp = 63 - v.leading_zeros(); // >= SUB_BITS
        let shift = exp - SUB_BITS;
        let sub = (v >> shift) as usize & SUB_MASK;
        ((shift as usize + 1) << SUB_BITS) + sub
    }
}

/// The largest value that falls in bucket `i`.
fn bucket_high(i: usize) -> u64 {
    if i < (1 << SUB_BITS) {
        i as u64
    } else {
        let shift = (i >> SUB_BITS) - 1;
        let sub = (i & SUB_MASK) as u64;
        (((1u64 << SUB_BITS) | sub) << shift).saturating_add((1u64 << shift) - 1)
    }
}

impl Histogram {
    /// Records one value.
    pub fn record(&mut self, v: u64) {
        if let Some(c) = self.counts.get_mut(bucket(v)) {
            *c += 1;
        }
        self.total += 1;
        self.sum += u128::from(v);
        self.max = self.max.max(v);
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.sum += other.sum;
        self.max = self.max.max(other.max);
    }

    /// Values recorded.
    #[cfg(test)]
    pub fn len(&self) -> u64 {
        self.total
    }

    /// The `q`-quantile (`0.0..=1.0`), nearest-rank: the smallest recorded value with at least
    /// `ceil(q * n)` values at or below it, reported as its bucket's upper bound (never above the
    /// maximum). `None` when empty.
    pub fn percentile(&self, q: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(bucket_high(i).min(self.max));
            }
        }
        Some(self.max)
    }

    /// The mean, `None` when empty.
    pub fn mean(&self) -> Option<f64> {
        (self.total > 0).then(|| self.sum as f64 / self.total as f64)
    }

    /// The largest value, `None` when empty.
    pub fn max(&self) -> Option<u64> {
        (self.total > 0).then_some(self.max)
    }
}

/// Exact nearest-rank percentile of a sorted slice (the reference the histogram is tested
/// against).
#[cfg(test)]
pub fn exact_percentile(sorted: &[u64], q: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize).max(1);
    sorted.get(rank - 1).copied()
}

/// What one subscriber received, per publisher: which sequence numbers (a bitset, so
/// duplicates are told from new messages), and whether each arrived after a later one.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    seen: Vec<Vec<u64>>,
    /// One past the highest sequence number seen, per publisher.
    next: Vec<u64>,
    /// Distinct messages received.
    pub unique: u64,
    /// Messages received again.
    pub duplicates: u64,
    /// Messages received after a later one of the same publisher (MQTT orders messages per
    /// topic and QoS; each publisher has its own topic).
    pub out_of_order: u64,
    /// Messages whose payload did not carry a bench header (foreign traffic on the topics).
    pub foreign: u64,
}

impl Tally {
    /// A tally for `publishers` publishers.
    pub fn new(publishers: usize) -> Self {
        Tally {
            seen: vec![Vec::new(); publishers],
            next: vec![0; publishers],
            ..Tally::default()
        }
    }

    /// Records message `seq` of `publisher`.
    pub fn record(&mut self, publisher: usize, seq: u64) {
        let (Some(bits), Some(next)) = (self.seen.get_mut(publisher), self.next.get_mut(publisher))
        else {
            self.foreign += 1;
            return;
        };
        let (word, bit) = ((seq / 64) as usize, seq % 64);
        if word >= bits.len() {
            bits.resize((word + 1).max(bits.len() * 2), 0);
        }
        let w = &mut bits[word];
        if *w & (1 << bit) != 0 {
            self.duplicates += 1;
            return;
        }
        *w |= 1 << bit;
        self.unique += 1;
        if seq < *next {
            self.out_of_order += 1;
        } else {
            *next = seq + 1;
        }
    }

    /// One past the highest sequence number seen from `publisher`.
    pub fn high(&self, publisher: usize) -> u64 {
        self.next.get(publisher).copied().unwrap_or(0)
    }
}

/// The delivery check over all subscribers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Messages published (sent at QoS 0, acknowledged at QoS 1).
    pub published: u64,
    /// Deliveries expected: every message to every subscriber.
    pub expected: u64,
    /// Distinct deliveries received.
    pub unique: u64,
    /// Deliveries received more than once.
    pub duplicates: u64,
    /// Deliveries received after a later message of the same publisher.
    pub out_of_order: u64,
    /// Deliveries never received (`expected - unique`).
    pub missing: u64,
}

impl Counts {
    /// Joins the subscribers' tallies against `published` messages.
    pub fn check(published: u64, tallies: &[Tally]) -> Counts {
        let expected = published * tallies.len() as u64;
        let unique: u64 = tallies.iter().map(|t| t.unique).sum();
        Counts {
            published,
            expected,
            unique,
            duplicates: tallies.iter().map(|t| t.duplicates).sum(),
            out_of_order: tallies.iter().map(|t| t.out_of_order).sum(),
            missing: expected.saturating_sub(unique),
        }
    }

    /// Every message reached every subscriber exactly once, in order (what QoS 1 without
    /// reconnections must give).
    pub fn complete(&self) -> bool {
        self.missing == 0 && self.unique == self.expected && self.duplicates == 0
    }
}

/// The median (mean of the middle two for an even count); `None` when empty. NaNs sort last.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => v.get(n / 2).copied(),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_exact_below_128_and_bounded_above() {
        for v in 0..128 {
            assert_eq!(bucket_high(bucket(v)), v);
        }
        for v in [
            128u64,
            129,
            255,
            256,
            257,
            1000,
            123_456,
            9_999_999_999,
            u64::MAX,
        ] {
            let hi = bucket_high(bucket(v));
            assert!(hi >= v, "{v}: {hi}");
            assert!((hi - v) as f64 <= v as f64 / 128.0, "{v}: {hi}");
        }
        assert!(bucket(u64::MAX) < BUCKETS);
        // Buckets are monotonic.
        let mut last = 0;
        for v in (0..1_000_000u64).step_by(37) {
            let b = bucket(v);
            assert!(b >= last);
            last = b;
        }
    }

    #[test]
    fn percentiles_match_exact_within_bucket_precision() {
        // A skewed distribution: mostly ~50 µs, a tail up to 20 ms.
        let mut values: Vec<u64> = (0..10_000u64)
            .map(|i| {
                if i % 100 == 0 {
                    20_000_000 - i
                } else {
                    50_000 + (i * 7919) % 10_000
                }
            })
            .collect();
        let mut h = Histogram::default();
        for &v in &values {
            h.record(v);
        }
        values.sort_unstable();
        for q in [0.0, 0.01, 0.5, 0.9, 0.99, 0.999, 1.0] {
            let exact = exact_percentile(&values, q).unwrap();
            let approx = h.percentile(q).unwrap();
            assert!(approx >= exact, "q={q}: {approx} < {exact}");
            assert!(
                (approx - exact) as f64 <= exact as f64 / 128.0,
                "q={q}: {approx} vs {exact}"
            );
        }
        assert_eq!(h.max(), Some(20_000_000));
        assert_eq!(h.len(), 10_000);
    }

    #[test]
    fn percentiles_of_small_and_empty_sets() {
        let h = Histogram::default();
        assert_eq!(h.percentile(0.5), None);
        assert_eq!(h.mean(), None);
        let mut h = Histogram::default();
        for v in [10, 20, 30, 40] {
            h.record(v);
        }
        assert_eq!(h.percentile(0.5), Some(20));
        assert_eq!(h.percentile(0.99), Some(40));
        assert_eq!(h.percentile(0.0), Some(10));
        assert_eq!(h.mean(), Some(25.0));
        assert_eq!(exact_percentile(&[10, 20, 30, 40], 0.5), Some(20));
        assert_eq!(exact_percentile(&[10, 20, 30, 40], 0.75), Some(30));
        assert_eq!(exact_percentile(&[], 0.5), None);
        let mut m = Histogram::default();
        m.record(1_000);
        m.merge(&h);
        assert_eq!(m.len(), 5);
        assert_eq!(m.max(), Some(1_000));
    }

    #[test]
    fn tally_counts_unique_duplicates_and_order() {
        let mut t = Tally::new(2);
        for seq in 0..100 {
            t.record(0, seq);
        }
        t.record(0, 5); // duplicate
        t.record(1, 3);
        t.record(1, 1); // out of order
        t.record(1, 1); // and then a duplicate
        t.record(7, 0); // no such publisher
        assert_eq!(t.unique, 102);
        assert_eq!(t.duplicates, 2);
        assert_eq!(t.out_of_order, 1);
        assert_eq!(t.foreign, 1);
        assert_eq!(t.high(0), 100);
        assert_eq!(t.high(1), 4);
        // Large sequence numbers grow the bitset.
        t.record(1, 1_000_000);
        assert_eq!(t.high(1), 1_000_001);
    }

    #[test]
    fn counts_check_every_message_to_every_subscriber() {
        let full = {
            let mut t = Tally::new(2);
            for p in 0..2 {
                for s in 0..50 {
                    t.record(p, s);
                }
            }
            t
        };
        let c = Counts::check(100, &[full.clone(), full.clone()]);
        assert_eq!(c.expected, 200);
        assert_eq!(c.missing, 0);
        assert!(c.complete());

        let mut lossy = Tally::new(2);
        for s in (0..50).filter(|s| s % 10 != 0) {
            lossy.record(0, s);
            lossy.record(1, s);
        }
        let c = Counts::check(100, &[full.clone(), lossy]);
        assert_eq!(c.unique, 190);
        assert_eq!(c.missing, 10);
        assert!(!c.complete());

        let mut dup = full.clone();
        dup.record(0, 0);
        let c = Counts::check(100, &[full, dup]);
        assert_eq!(c.missing, 0);
        assert_eq!(c.duplicates, 1);
        assert!(!c.complete());
    }

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[7.0]), Some(7.0));
        assert_eq!(median(&[]), None);
    }
}
