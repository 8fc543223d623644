//! A fixed-bucket, log-linear histogram of latencies (HDR-style).
//!
//! Values up to 255 have a bucket each; above that every power of two is cut
//! into 128 equal buckets, so a bucket is never wider than 1/128 (0.8 %) of
//! the values it holds. The whole `u64` range fits in 7,424 counters
//! allocated once, so recording is an index computation and an increment:
//! no allocation, no branches on the value's size beyond a `leading_zeros`.

/// Bits of precision kept below a value's highest set bit, plus one.
const SUB_BITS: u32 = 8;
/// Buckets per power of two above the exact range.
const HALF: usize = 1 << (SUB_BITS - 1);
/// Values `0..EXACT` have a bucket each.
const EXACT: usize = 2 * HALF;
/// Every `u64`: the exact range plus `HALF` buckets for each shift 1..=56.
const BUCKETS: usize = (64 - SUB_BITS as usize + 2) * HALF;

/// A histogram of `u64` values (nanoseconds, in this crate).
///
/// ```
/// use rs_load::Histogram;
/// let mut latencies = Histogram::new();
/// for micros in 1..=1000u64 {
///     latencies.record(micros * 1000);
/// }
/// let p50 = latencies.value_at_quantile(0.5);
/// assert!((500_000..=504_000).contains(&p50), "{p50}");
/// assert_eq!(latencies.value_at_quantile(1.0), 1_000_000);
/// assert_eq!(latencies.count(), 1000);
/// ```
#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64; BUCKETS]>,
    count: u64,
    sum: u128,
    min: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("count", &self.count)
            .field("min", &self.min())
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

impl Histogram {
    /// An empty histogram (one allocation of about 58 KiB).
    pub fn new() -> Self {
        Self {
            counts: Box::new([0; BUCKETS]),
            count: 0,
            sum: 0,
            min: u64::MAX,
            max: 0,
        }
    }

    /// Adds one value.
    #[inline]
    pub fn record(&mut self, value: u64) {
        self.counts[bucket_of(value)] += 1;
        self.count += 1;
        self.sum += u128::from(value);
        self.min = self.min.min(value);
        self.max = self.max.max(value);
    }

    /// Adds one duration, in nanoseconds (saturating).
    #[inline]
    pub fn record_duration(&mut self, duration: std::time::Duration) {
        self.record(u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX));
    }

    /// How many values were recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The smallest value recorded (0 when empty).
    pub fn min(&self) -> u64 {
        if self.count == 0 { 0 } else { self.min }
    }

    /// The largest value recorded, exactly (0 when empty).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The mean of the values recorded (0 when empty).
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum as f64 / self.count as f64
        }
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
            *mine += theirs;
        }
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// The value at quantile `q` (0.5 for the median, 0.999 for p99.9): the
    /// highest value of the bucket holding the value of rank ⌈q · count⌉,
    /// never above the exact maximum. 0 when empty; `q` is clamped to 0..=1.
    pub fn value_at_quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let q = if q.is_nan() { 1.0 } else { q.clamp(0.0, 1.0) };
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (bucket, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return bucket_range(bucket).1.min(self.max);
            }
        }
        self.max
    }
}

/// The bucket holding `value`.
#[inline]
fn bucket_of(value: u64) -> usize {
    let msb = 63 - (value | 1).leading_zeros();
    let shift = msb.saturating_sub(SUB_BITS - 1);
    shift as usize * HALF + (value >> shift) as usize
}

/// The lowest and highest value of `bucket`.
fn bucket_range(bucket: usize) -> (u64, u64) {
    if bucket < EXACT {
        return (bucket as u64, bucket as u64);
    }
    let shift = bucket / HALF - 1;
    let low = ((bucket - shift * HALF) as u64) << shift;
    (low, low + ((1u64 << shift) - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_have_exact_buckets() {
        for value in 0..EXACT as u64 {
            assert_eq!(bucket_of(value), value as usize);
            assert_eq!(bucket_range(value as usize), (value, value));
        }
    }

    #[test]
    fn buckets_tile_the_whole_range_without_gaps() {
        let mut next = 0u64;
        for bucket in 0..BUCKETS {
            let (low, high) = bucket_range(bucket);
            assert_eq!(low, next, "bucket {bucket} starts where the last ended");
            assert!(high >= low);
            assert_eq!(bucket_of(low), bucket);
            assert_eq!(bucket_of(high), bucket);
            next = high.wrapping_add(1);
        }
        assert_eq!(next, 0, "the last bucket ends at u64::MAX");
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn bucket_width_is_within_one_128th_of_its_values() {
        for bucket in EXACT..BUCKETS {
            let (low, high) = bucket_range(bucket);
            assert!((high - low) as u128 * 128 <= low as u128, "bucket {bucket}");
        }
    }

    #[test]
    fn quantiles_of_a_uniform_range() {
        let mut h = Histogram::new();
        for v in 1..=10_000u64 {
            h.record(v);
        }
        for (q, exact) in [(0.5, 5_000u64), (0.99, 9_900), (0.999, 9_990)] {
            let got = h.value_at_quantile(q);
            assert!(got >= exact && got <= exact + exact / 128, "q {q}: {got}");
        }
        assert_eq!(h.value_at_quantile(0.0), 1);
        assert_eq!(h.value_at_quantile(1.0), 10_000);
        assert_eq!(h.min(), 1);
        assert_eq!(h.max(), 10_000);
        assert_eq!(h.mean(), 5_000.5);
    }

    #[test]
    fn a_quantile_never_exceeds_the_exact_maximum() {
        let mut h = Histogram::new();
        h.record(1_000_001);
        assert_eq!(h.value_at_quantile(0.5), 1_000_001);
        assert_eq!(h.value_at_quantile(f64::NAN), 1_000_001);
    }

    #[test]
    fn an_empty_histogram_reports_zeros() {
        let h = Histogram::new();
        assert_eq!(h.count(), 0);
        assert_eq!(h.value_at_quantile(0.99), 0);
        assert_eq!(h.min(), 0);
        assert_eq!(h.max(), 0);
        assert_eq!(h.mean(), 0.0);
    }

    #[test]
    fn merging_equals_recording_everything_in_one() {
        let (mut a, mut b, mut all) = (Histogram::new(), Histogram::new(), Histogram::new());
        for v in (0..5000u64).map(|i| i * i * 37 + 11) {
            if v % 3 == 0 { &mut a } else { &mut b }.record(v);
            all.record(v);
        }
        a.merge(&b);
        assert_eq!(a.count(), all.count());
        assert_eq!(
            (a.min(), a.max(), a.mean()),
            (all.min(), all.max(), all.mean())
        );
        for q in [0.1, 0.5, 0.9, 0.99, 0.999] {
            assert_eq!(a.value_at_quantile(q), all.value_at_quantile(q), "q {q}");
        }
    }

    #[test]
    fn extreme_values_are_recorded() {
        let mut h = Histogram::new();
        h.record(0);
        h.record(u64::MAX);
        assert_eq!(h.value_at_quantile(0.5), 0);
        assert_eq!(h.value_at_quantile(1.0), u64::MAX);
    }
}
