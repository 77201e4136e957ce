//! A keyed permutation of an address's ports, so that a port block need not be contiguous.
//!
//! [RFC 7269 § 5.1] notes that "port-range-based allocation should consider port randomization
//! as described in [RFC6056]". A scattered block is a run of *logical* ports, mapped to real
//! ports by a keyed permutation: a small Feistel network on 15 bits with cycle walking, applied
//! to `port >> 1` so that parity is kept ([RFC 4787] REQ-4). Anyone with the key can list a
//! block's ports from its log record.
//!
//! [RFC 7269 § 5.1]: https://www.rfc-editor.org/rfc/rfc7269#section-5.1
//! [RFC 4787]: https://www.rfc-editor.org/rfc/rfc4787#section-4.2.2

use crate::hash::{SecretKey, mix};

const ROUNDS: usize = 4;
const DOMAIN: u32 = 1 << 15;

/// A parity-keeping keyed permutation of `0..2 * half`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scatter {
    round_keys: [u64; ROUNDS],
    half: u32,
}

impl Scatter {
    /// A permutation of `0..len` (`len` even, at most 65,536).
    pub(crate) fn new(key: &SecretKey, len: u32) -> Self {
        let k = key.derive(0x5ca7);
        Scatter {
            round_keys: core::array::from_fn(|r| mix(&k, r as u64, 0) | 1),
            half: (len / 2).min(DOMAIN),
        }
    }

    /// The round function: one keyed multiply, high bits out.
    fn round(&self, r: usize, v: u32) -> u32 {
        let x = (u64::from(v) ^ 0x9e37_79b9).wrapping_mul(self.round_keys[r]);
        (x >> 40) as u32
    }

    fn encrypt(&self, y: u32) -> u32 {
        let (mut a, mut b) = (y >> 7, y & 0x7f);
        for r in 0..ROUNDS {
            if r % 2 == 0 {
                a ^= self.round(r, b) & 0xff;
            } else {
                b ^= self.round(r, a) & 0x7f;
            }
        }
        (a << 7) | b
    }

    fn decrypt(&self, y: u32) -> u32 {
        let (mut a, mut b) = (y >> 7, y & 0x7f);
        for r in (0..ROUNDS).rev() {
            if r % 2 == 0 {
                a ^= self.round(r, b) & 0xff;
            } else {
                b ^= self.round(r, a) & 0x7f;
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
}
