//! Keyed hashes, the only source of "randomness" in this crate.
//!
//! [RFC 6056 § 3.3.3] and [§ 3.3.4] pick an ephemeral port offset with a keyed hash `F` of the
//! connection identifiers: unpredictable without the key, repeatable with it. We use SipHash-1-3
//! for `F`, and a folded multiply (as in foldhash) for table indexes and for the round function
//! of the port-block scatter permutation, where speed matters more than strength.
//!
//! [RFC 6056 § 3.3.3]: https://www.rfc-editor.org/rfc/rfc6056#section-3.3.3
//! [§ 3.3.4]: https://www.rfc-editor.org/rfc/rfc6056#section-3.3.4

/// A 128-bit secret from configuration that keys every hash of an allocator.
///
/// Keep it secret and random (RFC 6056 § 3.3.3 `secret_key`): it is what makes ports "hard to
/// guess" ([RFC 6888] REQ-15). A backup given the same key and the same events chooses the same
/// ports.
///
/// [RFC 6888]: https://www.rfc-editor.org/rfc/rfc6888#section-5
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct SecretKey {
    k0: u64,
    k1: u64,
}

impl core::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl SecretKey {
    /// A key from 16 bytes (little-endian halves), as RFC 6056 § 3.3.3 `secret_key`.
    pub const fn from_bytes(b: [u8; 16]) -> Self {
        let mut k0 = [0u8; 8];
        let mut k1 = [0u8; 8];
        let mut i = 0;
        while i < 8 {
            k0[i] = b[i];
            k1[i] = b[i + 8];
            i += 1;
        }
        SecretKey {
            k0: u64::from_le_bytes(k0),
            k1: u64::from_le_bytes(k1),
        }
    }

    /// A key from two 64-bit halves, as RFC 6056 § 3.3.3 `secret_key`.
    pub const fn new(k0: u64, k1: u64) -> Self {
        SecretKey { k0, k1 }
    }

    /// An independent key derived from this one for another purpose (RFC 6056 § 3.3.4 uses two
    /// keys, for `F` and `G`).
    pub(crate) fn derive(&self, purpose: u64) -> SecretKey {
        SecretKey {
            k0: sip13_words(self, &[purpose, 0x6b65_795f_6465_7276]),
            k1: sip13_words(self, &[purpose, 0x6b65_795f_6465_7277]),
        }
    }
}

#[inline(always)]
fn sip_round(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13);
    v[1] ^= v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16);
    v[3] ^= v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21);
    v[3] ^= v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17);
    v[1] ^= v[2];
    v[2] = v[2].rotate_left(32);
}

#[inline(always)]
fn sip_init(key: &SecretKey) -> [u64; 4] {
    [
        key.k0 ^ 0x736f_6d65_7073_6575,
        key.k1 ^ 0x646f_7261_6e64_6f6d,
        key.k0 ^ 0x6c79_6765_6e65_7261,
        key.k1 ^ 0x7465_6462_7974_6573,
    ]
}

#[inline(always)]
fn sip_compress<const C: usize>(v: &mut [u64; 4], m: u64) {
    v[3] ^= m;
    for _ in 0..C {
        sip_round(v);
    }
    v[0] ^= m;
}

#[inline(always)]
fn sip_finish<const D: usize>(v: &mut [u64; 4]) -> u64 {
    v[2] ^= 0xff;
    for _ in 0..D {
        sip_round(v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// SipHash-C-D of a byte string (the reference algorithm; tests check 2-4 against `core`).
#[cfg(test)]
pub(crate) fn sip_bytes<const C: usize, const D: usize>(key: &SecretKey, data: &[u8]) -> u64 {
    let mut v = sip_init(key);
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        sip_compress::<C>(&mut v, u64::from_le_bytes(w));
    }
    let mut last = [0u8; 8];
    let rem = chunks.remainder();
    last[..rem.len()].copy_from_slice(rem);
    let b = u64::from_le_bytes(last) | ((data.len() as u64 & 0xff) << 56);
    sip_compress::<C>(&mut v, b);
    sip_finish::<D>(&mut v)
}

/// SipHash-1-3 of the little-endian bytes of `words`: RFC 6056's `F` on fixed-size inputs,
/// without building a byte buffer.
#[inline]
pub(crate) fn sip13_words(key: &SecretKey, words: &[u64]) -> u64 {
    Sip13::new(key).words(words)
}

/// SipHash-1-3 under one key, its initial state computed once: what a hot path keeps instead
/// of the key. Its `Debug` shows nothing of the key.
#[derive(Clone, Copy)]
pub(crate) struct Sip13 {
    v: [u64; 4],
}

impl core::fmt::Debug for Sip13 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Sip13(..)")
    }
}

impl Sip13 {
    pub(crate) fn new(key: &SecretKey) -> Self {
        Sip13 { v: sip_init(key) }
    }

    /// [`sip13_words`] under this key.
    #[inline]
    pub(crate) fn words(&self, words: &[u64]) -> u64 {
        let mut v = self.v;
        for &m in words {
            sip_compress::<1>(&mut v, m);
        }
        sip_compress::<1>(&mut v, ((words.len() as u64 * 8) & 0xff) << 56);
        sip_finish::<3>(&mut v)
    }
}

#[inline(always)]
fn fold_mul(a: u64, b: u64) -> u64 {
    let p = u128::from(a).wrapping_mul(u128::from(b));
    (p as u64) ^ ((p >> 64) as u64)
}

/// A fast keyed mix of two words (two folded multiplies), for table indexes and permutation
/// rounds: not a MAC, but an attacker without the key cannot aim at one bucket.
#[inline]
pub(crate) fn mix(key: &SecretKey, a: u64, b: u64) -> u64 {
    let x = fold_mul(a ^ key.k0, b ^ key.k1 ^ 0x243f_6a88_85a3_08d3);
    fold_mul(
        x ^ 0x1319_8a2e_0370_7344,
        key.k0.rotate_left(29) ^ 0xa409_3822_299f_31d0,
    )
}

/// An index in `0..n` from a 64-bit hash, by multiply-shift (no division, no bias worth noting).
#[inline]
pub(crate) fn reduce(hash: u64, n: usize) -> usize {
    ((u128::from(hash) * n as u128) >> 64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(deprecated)]
    fn siphash_2_4_matches_core() {
        use core::hash::{Hasher, SipHasher};
        let key = SecretKey::new(0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908);
        let data: [u8; 64] = core::array::from_fn(|i| i as u8);
        for len in 0..=64 {
            let mut h = SipHasher::new_with_keys(key.k0, key.k1);
            h.write(&data[..len]);
            assert_eq!(
                sip_bytes::<2, 4>(&key, &data[..len]),
                h.finish(),
                "len {len}"
            );
        }
        // The reference vector of the SipHash paper (64-byte message prefix of length 15).
        assert_eq!(sip_bytes::<2, 4>(&key, &data[..15]), 0xa129_ca61_49be_45e5);
    }

    #[test]
    fn word_form_equals_byte_form() {
        let key = SecretKey::from_bytes(*b"0123456789abcdef");
        let words = [1u64, 0xdead_beef, u64::MAX];
        let mut bytes = [0u8; 24];
        for (i, w) in words.iter().enumerate() {
            bytes[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
        }
        assert_eq!(sip13_words(&key, &words), sip_bytes::<1, 3>(&key, &bytes));
        assert_eq!(
            Sip13::new(&key).words(&words[..1]),
            sip_bytes::<1, 3>(&key, &bytes[..8])
        );
    }

    #[test]
    fn reduce_stays_in_range() {
        for n in [1usize, 2, 7, 1000] {
            assert!(reduce(u64::MAX, n) < n);
            assert_eq!(reduce(0, n), 0);
        }
    }
}
