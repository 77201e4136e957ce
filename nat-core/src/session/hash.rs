//! A keyed hash for table lookups: fast on the small fixed-size keys of flows, and seeded from
//! configuration so that a sender who does not know the seed cannot aim keys at one bucket.

use core::hash::{Hash, Hasher};

const MULTIPLE: u64 = 0x5851_f42d_4c95_7f2d;
const SECOND: u64 = 0x9e37_79b9_7f4a_7c15;

#[inline]
const fn folded_multiply(a: u64, b: u64) -> u64 {
    let full = (a as u128).wrapping_mul(b as u128);
    (full as u64) ^ ((full >> 64) as u64)
}

/// Builds keyed hashers; the seed comes from configuration (the core draws no randomness).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowHasher {
    seed: u64,
}

impl FlowHasher {
    /// A hasher keyed by `seed`.
    pub const fn new(seed: u64) -> Self {
        FlowHasher {
            seed: seed ^ SECOND,
        }
    }

    /// Hashes `key`.
    #[inline]
    pub fn hash<K: Hash + ?Sized>(&self, key: &K) -> u64 {
        let mut state = FlowHasherState { acc: self.seed };
        key.hash(&mut state);
        state.finish()
    }
}

/// The running state of one [`FlowHasher`] hash.
#[derive(Debug)]
pub struct FlowHasherState {
    acc: u64,
}

impl FlowHasherState {
    #[inline]
    fn mix(&mut self, v: u64) {
        self.acc = folded_multiply(self.acc ^ v, MULTIPLE);
    }
}

impl Hasher for FlowHasherState {
    #[inline]
    fn finish(&self) -> u64 {
        folded_multiply(self.acc, SECOND).rotate_left(23)
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.mix(u64::from_le_bytes([
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
            ]));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(last) ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, v: u8) {
        self.mix(u64::from(v) | 0x100);
    }

    #[inline]
    fn write_u16(&mut self, v: u16) {
        self.mix(u64::from(v) | 0x1_0000);
    }

    #[inline]
    fn write_u32(&mut self, v: u32) {
        self.mix(u64::from(v) | 0x1_0000_0000);
    }

    #[inline]
    fn write_u64(&mut self, v: u64) {
        self.mix(v);
    }

    #[inline]
    fn write_usize(&mut self, v: usize) {
        self.mix(v as u64);
    }

    #[inline]
    fn write_isize(&mut self, v: isize) {
        self.mix(v as u64);
    }

    #[inline]
    fn write_u128(&mut self, v: u128) {
        self.mix(v as u64);
        self.mix((v >> 64) as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{Endpoint, FlowKey, L4Proto};
    use core::net::Ipv4Addr;

    fn key(port: u16) -> FlowKey<Ipv4Addr> {
        FlowKey::new(
            L4Proto::Udp,
            Endpoint::new(Ipv4Addr::new(10, 0, 0, 1), port),
            Endpoint::new(Ipv4Addr::new(192, 0, 2, 1), 53),
        )
    }

    #[test]
    fn seed_changes_every_hash() {
        let (a, b) = (FlowHasher::new(1), FlowHasher::new(2));
        for p in 0..1000 {
            assert_ne!(a.hash(&key(p)), b.hash(&key(p)));
        }
    }

    #[test]
    fn sequential_ports_spread_over_buckets() {
        // 4096 consecutive source ports into 64 buckets by the top bits: no bucket gets more
        // than twice its share.
        let h = FlowHasher::new(42);
        let mut buckets = [0u32; 64];
        for p in 0..4096 {
            buckets[(h.hash(&key(p)) >> 58) as usize] += 1;
        }
        assert!(buckets.iter().all(|&n| n > 0 && n < 128), "{buckets:?}");
    }
}
