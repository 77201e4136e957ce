//! A keyed permutation of an address's ports, so that a port block need not be contiguous.
//!
//! [RFC 7269 § 5.1] notes that "port-range-based allocation should consider port randomization
//! as described in [RFC6056]". A scattered block is a run of *logical* ports, mapped to real
//! ports by a keyed permutation: a three-round Feistel network on 15 bits with cycle walking,
//! applied to `port >> 1` so that parity is kept ([RFC 4787] REQ-4). Anyone with the key can
//! list a block's ports from its log record.
//!
//! [RFC 7269 § 5.1]: https://www.rfc-editor.org/rfc/rfc7269#section-5.1
//! [RFC 4787]: https://www.rfc-editor.org/rfc/rfc4787#section-4.2.2

use crate::hash::{SecretKey, mix};

/// Three rounds: the fewest for which a Feistel network with random round functions is a
/// pseudo-random permutation (Luby and Rackoff, 1988); each round costs a dependent load on
/// both `allocate` (forward) and `release` (inverse).
const ROUNDS: usize = 3;
const DOMAIN: u32 = 1 << 15;

/// The round function: one keyed multiply, high bits out.
fn round(key: u64, v: u32) -> u32 {
    let x = (u64::from(v) ^ 0x9e37_79b9).wrapping_mul(key);
    (x >> 40) as u32
}

/// A parity-keeping keyed permutation of `0..2 * half`.
#[derive(Clone, Copy)]
pub(crate) struct Scatter {
    /// The round function's values, one table per round: its argument is a half of the
    /// block (7 or 8 bits), so a lookup replaces a multiply. 768 bytes.
    rounds: [[u8; 256]; ROUNDS],
    half: u32,
}

impl core::fmt::Debug for Scatter {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Scatter").field("half", &self.half).finish()
    }
}

impl Scatter {
    /// A permutation of `0..len` (`len` even, at most 65,536).
    pub(crate) fn new(key: &SecretKey, len: u32) -> Self {
        let k = key.derive(0x5ca7);
        let round_keys: [u64; ROUNDS] = core::array::from_fn(|r| mix(&k, r as u64, 0) | 1);
        // Even rounds update the 8-bit half, odd rounds the 7-bit half.
        let mask = |r: usize| if r.is_multiple_of(2) { 0xff } else { 0x7f };
        Scatter {
            rounds: core::array::from_fn(|r| {
                core::array::from_fn(|v| (round(round_keys[r], v as u32) & mask(r)) as u8)
            }),
            half: (len / 2).min(DOMAIN),
        }
    }

    #[inline]
    fn encrypt(&self, y: u32) -> u32 {
        let (mut a, mut b) = ((y >> 7) & 0xff, y & 0x7f);
        for (r, t) in self.rounds.iter().enumerate() {
            if r % 2 == 0 {
                a ^= u32::from(t[b as usize]);
            } else {
                b ^= u32::from(t[a as usize]);
            }
        }
        (a << 7) | b
    }

    #[inline]
    fn decrypt(&self, y: u32) -> u32 {
        let (mut a, mut b) = ((y >> 7) & 0xff, y & 0x7f);
        for (r, t) in self.rounds.iter().enumerate().rev() {
            if r % 2 == 0 {
                a ^= u32::from(t[b as usize]);
            } else {
                b ^= u32::from(t[a as usize]);
            }
        }
        (a << 7) | b
    }

    /// Cycle walking: apply `step` until the value falls back into `0..half`. It always does,
    /// since the value started there and `step` permutes a finite set.
    fn walk(&self, x: u32, step: impl Fn(u32) -> u32) -> u32 {
        let mut y = x;
        for _ in 0..DOMAIN {
            y = step(y);
            if y < self.half {
                return y;
            }
        }
        x
    }

    /// The real offset of logical offset `x` (`x < 2 * half`).
    pub(crate) fn forward(&self, x: u32) -> u32 {
        (self.walk(x >> 1, |y| self.encrypt(y)) << 1) | (x & 1)
    }

    /// The logical offset of real offset `x` (`x < 2 * half`).
    pub(crate) fn inverse(&self, x: u32) -> u32 {
        (self.walk(x >> 1, |y| self.decrypt(y)) << 1) | (x & 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_a_parity_keeping_permutation() {
        let s = Scatter::new(&SecretKey::new(5, 6), 64512);
        let mut seen = std::vec![false; 64512];
        for x in 0..64512 {
            let y = s.forward(x);
            assert!(y < 64512 && y % 2 == x % 2);
            assert!(!seen[y as usize]);
            seen[y as usize] = true;
            assert_eq!(s.inverse(y), x);
        }
    }

    #[test]
    fn round_tables_compute_the_keyed_multiply_rounds() {
        // The permutation must not change with its implementation: logged blocks are listed
        // with it (`block_ports`).
        let key = SecretKey::new(5, 6);
        let s = Scatter::new(&key, 64512);
        let k = key.derive(0x5ca7);
        let rk: [u64; ROUNDS] = core::array::from_fn(|r| mix(&k, r as u64, 0) | 1);
        for y in 0..DOMAIN {
            let (mut a, mut b) = (y >> 7, y & 0x7f);
            for (r, &key) in rk.iter().enumerate() {
                if r % 2 == 0 {
                    a ^= round(key, b) & 0xff;
                } else {
                    b ^= round(key, a) & 0x7f;
                }
            }
            assert_eq!(s.encrypt(y), (a << 7) | b);
        }
    }
}
