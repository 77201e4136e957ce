//! Traffic over a sliding window: a ring of `K` buckets advanced by `now`.
//!
//! "Least traffic first" measures "packet count or byte count directed from or to each of the
//! member hosts over a period of time" (draft-srisuresh-lsnat § 5.1, item 3, § 5.2, item 2). The
//! period is `K` buckets of a configured width; the newest bucket is the one `now` falls in, so
//! the window covers between `K - 1` and `K` widths. Nothing is scanned per packet: a record adds
//! to one bucket and keeps a running total.

use core::time::Duration;
use nat_core::time::Instant;

/// Packets and bytes counted together (draft-srisuresh-lsnat § 5.1, item 3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Traffic {
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
}

impl Traffic {
    fn add(&mut self, other: Traffic) {
        self.packets = self.packets.saturating_add(other.packets);
        self.bytes = self.bytes.saturating_add(other.bytes);
    }

    fn sub(&mut self, other: Traffic) {
        self.packets = self.packets.saturating_sub(other.packets);
        self.bytes = self.bytes.saturating_sub(other.bytes);
    }
}

/// The bucket number `now` falls in for buckets of width `width` (at least 1 ms).
pub(crate) fn bucket_of(now: Instant, width: Duration) -> u64 {
    let w = u64::try_from(width.as_millis()).unwrap_or(u64::MAX).max(1);
    now.as_millis() / w
}

/// Packet and byte counts over the last `K` buckets (draft-srisuresh-lsnat § 5.1, item 3).
#[derive(Clone, Copy, Debug)]
pub struct TrafficWindow<const K: usize> {
    buckets: [Traffic; K],
    /// Absolute number of the newest bucket.
    head: u64,
    /// Sum of all buckets.
    total: Traffic,
}

impl<const K: usize> Default for TrafficWindow<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const K: usize> TrafficWindow<K> {
    /// An empty window (draft-srisuresh-lsnat § 5.1, item 3).
    pub const fn new() -> Self {
        const { assert!(K > 0, "a traffic window needs at least one bucket") };
        TrafficWindow {
            buckets: [Traffic {
                packets: 0,
                bytes: 0,
            }; K],
            head: 0,
            total: Traffic {
                packets: 0,
                bytes: 0,
            },
        }
    }

    fn index(bucket: u64) -> usize {
        // The remainder is < K, which is a usize.
        (bucket % K as u64) as usize
    }

    /// Move the newest bucket forward to `bucket`, zeroing the buckets that fall out.
    fn advance(&mut self, bucket: u64) {
        if bucket <= self.head {
            return;
        }
        let steps = bucket - self.head;
        if steps >= K as u64 {
            self.buckets = [Traffic::default(); K];
            self.total = Traffic::default();
        } else {
            for s in 1..=steps {
                if let Some(b) = self.buckets.get_mut(Self::index(self.head + s)) {
                    self.total.sub(*b);
                    *b = Traffic::default();
                }
            }
        }
        self.head = bucket;
    }

    /// Count `packets` and `bytes` in bucket number `bucket` (draft-srisuresh-lsnat § 5.1).
    ///
    /// A bucket older than the newest is counted in the newest: the caller's clock is monotonic,
    /// and a late report is still recent traffic.
    pub fn record(&mut self, bucket: u64, packets: u64, bytes: u64) {
        self.advance(bucket);
        let t = Traffic { packets, bytes };
        if let Some(b) = self.buckets.get_mut(Self::index(self.head)) {
            b.add(t);
        }
        self.total.add(t);
    }

    /// The traffic of the window whose newest bucket is `bucket`, without changing the window
    /// (draft-srisuresh-lsnat § 5.1, item 3).
    pub fn total_at(&self, bucket: u64) -> Traffic {
        if bucket <= self.head {
            return self.total;
        }
        let steps = bucket - self.head;
        if steps >= K as u64 {
            return Traffic::default();
        }
        let mut t = self.total;
        for s in 1..=steps {
            if let Some(b) = self.buckets.get(Self::index(self.head + s)) {
                t.sub(*b);
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traffic_accumulates_within_a_bucket() {
        let mut w = TrafficWindow::<4>::new();
        w.record(10, 1, 100);
        w.record(10, 2, 200);
        assert_eq!(
            w.total_at(10),
            Traffic {
                packets: 3,
                bytes: 300
            }
        );
    }

    #[test]
    fn old_buckets_fall_out_of_the_window() {
        let mut w = TrafficWindow::<4>::new();
        w.record(10, 1, 10);
        w.record(11, 2, 20);
        w.record(13, 4, 40);
        assert_eq!(w.total_at(13).packets, 7);
        // Bucket 10 leaves the window when bucket 14 is the newest.
        assert_eq!(w.total_at(14).packets, 6);
        assert_eq!(w.total_at(15).packets, 4);
        assert_eq!(w.total_at(17).packets, 0);
        w.record(14, 1, 1);
        assert_eq!(w.total_at(14).packets, 7);
    }

    #[test]
    fn long_silence_clears_the_window() {
        let mut w = TrafficWindow::<3>::new();
        w.record(1, 5, 5);
        w.record(1_000_000, 1, 1);
        assert_eq!(w.total_at(1_000_000).packets, 1);
    }

    #[test]
    fn late_record_counts_in_newest_bucket() {
        let mut w = TrafficWindow::<2>::new();
        w.record(5, 1, 1);
        w.record(3, 1, 1);
        assert_eq!(w.total_at(5).packets, 2);
        assert_eq!(w.total_at(6).packets, 2);
        assert_eq!(w.total_at(7).packets, 0);
    }

    #[test]
    fn bucket_of_uses_width_and_never_divides_by_zero() {
        let now = Instant::from_millis(2_500);
        assert_eq!(bucket_of(now, Duration::from_secs(1)), 2);
        assert_eq!(bucket_of(now, Duration::ZERO), 2_500);
    }

    #[test]
    fn counters_saturate_instead_of_overflowing() {
        let mut w = TrafficWindow::<2>::new();
        w.record(0, u64::MAX, u64::MAX);
        w.record(0, 1, 1);
        assert_eq!(w.total_at(0).packets, u64::MAX);
    }
}
