//! Internet checksum arithmetic: the full sum of [RFC 1071], the incremental update of
//! [RFC 1624] and the pseudo-headers of IPv4 ([RFC 768]) and IPv6 ([RFC 8200 § 8.1]).
//!
//! A translator rewrites a few fields of a packet and must leave every checksum valid. Summing
//! the whole packet again costs O(length); [RFC 1624] Eqn. 3, `HC' = ~(~HC + ~m + m')`, costs
//! O(changed words). A [`Delta`] collects the `~m + m'` terms of every rewritten field once, and
//! is then applied to each checksum that covers those fields (the IPv4 header checksum covers the
//! addresses, the TCP/UDP checksum covers them through the pseudo-header and the ports directly).
//!
//! [RFC 768]: https://www.rfc-editor.org/rfc/rfc768
//! [RFC 1071]: https://www.rfc-editor.org/rfc/rfc1071
//! [RFC 1624]: https://www.rfc-editor.org/rfc/rfc1624
//! [RFC 8200 § 8.1]: https://www.rfc-editor.org/rfc/rfc8200#section-8.1

use core::net::{Ipv4Addr, Ipv6Addr};

/// Folds a 32-bit accumulator into 16 bits with end-around carry.
#[inline]
pub const fn fold(mut sum: u32) -> u16 {
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum as u16
}

/// Adds `data` as big-endian 16-bit words to `initial` ([RFC 1071 § 4.1]); an odd final byte
/// is padded with zero. The result is folded, so sums of separate pieces can be added together
/// as long as every piece but the last has even length.
///
/// [RFC 1071 § 4.1]: https://www.rfc-editor.org/rfc/rfc1071#section-4.1
pub fn sum(initial: u16, data: &[u8]) -> u16 {
    let mut acc: u64 = u64::from(initial);
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        acc += u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
        acc += u64::from(u32::from_be_bytes([c[4], c[5], c[6], c[7]]));
    }
    let mut words = chunks.remainder().chunks_exact(2);
    for w in &mut words {
        acc += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        acc += u64::from(*last) << 8;
    }
    // Fold 64 -> 32 -> 16 bits; each addition of the high half may carry once more.
    acc = (acc & 0xffff_ffff) + (acc >> 32);
    acc = (acc & 0xffff_ffff) + (acc >> 32);
    fold(acc as u32)
}

/// One's-complement addition of two folded sums.
#[inline]
pub const fn add(a: u16, b: u16) -> u16 {
    fold(a as u32 + b as u32)
}

/// The checksum of `data`: the complement of its one's-complement sum ([RFC 1071]).
///
/// [RFC 1071]: https://www.rfc-editor.org/rfc/rfc1071
pub fn checksum(data: &[u8]) -> u16 {
    !sum(0, data)
}

/// Whether `data`, checksum field included, sums to −0, the receive-side check of
/// [RFC 1624 § 5]. Both encodings of zero in the checksum field pass (CK-1624-§5).
///
/// [RFC 1624 § 5]: https://www.rfc-editor.org/rfc/rfc1624#section-5
pub fn verify(initial: u16, data: &[u8]) -> bool {
    sum(initial, data) == 0xffff
}

/// The sum of the IPv4 pseudo-header of [RFC 768] (also TCP's): source, destination, zero,
/// protocol and upper-layer length.
///
/// [RFC 768]: https://www.rfc-editor.org/rfc/rfc768
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, len: u16) -> u16 {
    let s = src.octets();
    let d = dst.octets();
    let words = [
        u16::from_be_bytes([s[0], s[1]]),
        u16::from_be_bytes([s[2], s[3]]),
        u16::from_be_bytes([d[0], d[1]]),
        u16::from_be_bytes([d[2], d[3]]),
        u16::from(protocol),
        len,
    ];
    words.iter().fold(0, |acc, &w| add(acc, w))
}

/// The sum of the IPv6 pseudo-header of [RFC 8200 § 8.1]: source, final destination, 32-bit
/// upper-layer length and next header.
///
/// [RFC 8200 § 8.1]: https://www.rfc-editor.org/rfc/rfc8200#section-8.1
pub fn pseudo_header_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, len: u32) -> u16 {
    let mut acc = sum(0, &src.octets());
    acc = sum(acc, &dst.octets());
    acc = add(acc, (len >> 16) as u16);
    acc = add(acc, len as u16);
    add(acc, u16::from(next_header))
}

/// The one's-complement difference that rewriting some 16-bit words makes to a sum: the
/// `~m + m'` terms of [RFC 1624] Eqn. 3, collected once and applied to every checksum that
/// covers the rewritten words.
///
/// [RFC 1624]: https://www.rfc-editor.org/rfc/rfc1624#section-3
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delta(u32);

impl Delta {
    /// No change.
    pub const NONE: Delta = Delta(0);

    /// Records that the word `old` became `new`.
    #[inline]
    #[must_use]
    pub const fn word(self, old: u16, new: u16) -> Delta {
        // Kept unfolded: at most a few dozen words are added, far from overflowing 32 bits.
        Delta(self.0 + (!old) as u32 + new as u32)
    }

    /// Records that a span of words whose sum was `old` now sums to `new` (both folded, as
    /// returned by [`sum`]); used for pseudo-header changes across address families.
    #[inline]
    #[must_use]
    pub const fn sums(self, old: u16, new: u16) -> Delta {
        self.word(old, new)
    }

    /// Records that an IPv4 address changed.
    #[inline]
    #[must_use]
    pub const fn ipv4(self, old: Ipv4Addr, new: Ipv4Addr) -> Delta {
        let o = old.to_bits();
        let n = new.to_bits();
        self.word((o >> 16) as u16, (n >> 16) as u16)
            .word(o as u16, n as u16)
    }

    /// Records that an IPv6 address changed.
    #[inline]
    #[must_use]
    pub const fn ipv6(self, old: Ipv6Addr, new: Ipv6Addr) -> Delta {
        let o = old.segments();
        let n = new.segments();
        let mut d = self;
        let mut i = 0;
        while i < 8 {
            d = d.word(o[i], n[i]);
            i += 1;
        }
        d
    }

    /// Combines two deltas.
    #[inline]
    #[must_use]
    pub const fn and(self, other: Delta) -> Delta {
        Delta(fold(self.0) as u32 + fold(other.0) as u32)
    }

    /// Applies the delta to checksum `hc` with [RFC 1624] Eqn. 3. An unchanged packet keeps its
    /// checksum, including +0 (CK-1624-E4782).
    ///
    /// [RFC 1624]: https://www.rfc-editor.org/rfc/rfc1624#section-3
    #[inline]
    #[must_use]
    pub const fn apply(self, hc: u16) -> u16 {
        if fold(self.0) == 0 || fold(self.0) == 0xffff {
            // Every change cancelled out (m == m'): leave the field alone so that +0 stays +0.
            return hc;
        }
        !fold((!hc) as u32 + fold(self.0) as u32)
    }

    /// Applies the delta to a UDP-over-IPv4 checksum: 0 means "no checksum" and stays 0
    /// (CK-768-NONE), and a computed 0 is sent as 0xFFFF (CK-768-0, [RFC 768]).
    ///
    /// [RFC 768]: https://www.rfc-editor.org/rfc/rfc768
    #[inline]
    #[must_use]
    pub const fn apply_udp(self, hc: u16) -> u16 {
        if hc == 0 {
            return 0;
        }
        udp_nonzero(self.apply(hc))
    }
}

/// Encodes a computed UDP checksum for transmission: a result of 0 is sent as 0xFFFF
/// ([RFC 768]; [RFC 8200 § 8.1] for IPv6).
///
/// [RFC 768]: https://www.rfc-editor.org/rfc/rfc768
/// [RFC 8200 § 8.1]: https://www.rfc-editor.org/rfc/rfc8200#section-8.1
#[inline]
pub const fn udp_nonzero(c: u16) -> u16 {
    if c == 0 { 0xffff } else { c }
}

/// Recomputes the checksum field at `csum_at` of an upper-layer message `data`, given the sum of
/// its pseudo-header (0 for ICMPv4, which has none).
pub fn fill(data: &mut [u8], csum_at: usize, pseudo: u16) -> Option<u16> {
    let field = data.get_mut(csum_at..csum_at + 2)?;
    field.copy_from_slice(&[0, 0]);
    let c = !sum(pseudo, data);
    data[csum_at..csum_at + 2].copy_from_slice(&c.to_be_bytes());
    Some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Golden header of RFC 1071 § 3's worked example bytes (00 01 f2 03 f4 f5 f6 f7).
    #[test]
    fn rfc1071_example_sum() {
        assert_eq!(
            sum(0, &[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0xddf2
        );
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(sum(0, &[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
    }

    /// The IPv4 header used as the worked example of the header checksum on Wikipedia's
    /// "Internet checksum" page: 45 00 00 73 00 00 40 00 40 11 [b8 61] c0 a8 00 01 c0 a8 00 c7.
    #[test]
    fn ipv4_header_golden_checksum() {
        let mut hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        let c = checksum(&hdr);
        assert_eq!(c, 0xb861);
        hdr[10..12].copy_from_slice(&c.to_be_bytes());
        assert!(verify(0, &hdr));
    }

    #[test]
    fn ck_1624_ex_eqn3_vector() {
        // RFC 1624 § 4: HC = 0xDD2F, m = 0x5555 -> m' = 0x3285 gives HC' = 0x0000.
        assert_eq!(Delta::NONE.word(0x5555, 0x3285).apply(0xdd2f), 0x0000);
    }

    #[test]
    fn ck_1624_eq4_rfc1141_form_is_wrong() {
        // Emulating Eqn. 4 by addition (RFC 1141's HC + m + ~m') yields -0 on the § 4 vector;
        // Eqn. 3 as implemented yields +0.
        let rfc1141 = fold(0xdd2f + 0x5555 + u32::from(!0x3285u16));
        assert_eq!(rfc1141, 0xffff);
        assert_eq!(Delta::NONE.word(0x5555, 0x3285).apply(0xdd2f), 0x0000);
    }

    #[test]
    fn ck_1624_e4782_unchanged_field_keeps_plus_zero() {
        assert_eq!(Delta::NONE.word(0x5555, 0x5555).apply(0x0000), 0x0000);
    }

    #[test]
    fn ck_1624_neg0_never_emitted_for_ipv4_header() {
        // Exhaustive over one word: a valid header checksum is never -0 after an update.
        let mut hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        for new in 0..=u16::MAX {
            let old = u16::from_be_bytes([hdr[12], hdr[13]]);
            let hc = u16::from_be_bytes([hdr[10], hdr[11]]);
            let hc2 = Delta::NONE.word(old, new).apply(hc);
            assert_ne!(hc2, 0xffff);
            hdr[12..14].copy_from_slice(&new.to_be_bytes());
            hdr[10..12].copy_from_slice(&hc2.to_be_bytes());
            assert!(verify(0, &hdr));
        }
    }

    #[test]
    fn ck_768_0_zero_result_sent_as_all_ones() {
        // A UDP checksum whose update yields 0 is transmitted as 0xFFFF.
        let hc = 0x0001;
        let d = Delta::NONE.word(0x0000, 0x0001);
        assert_eq!(d.apply(hc), 0x0000);
        assert_eq!(d.apply_udp(hc), 0xffff);
        // 0xFFFF in the field with an unchanged word stays 0xFFFF (never 0).
        assert_eq!(Delta::NONE.word(7, 7).apply_udp(0xffff), 0xffff);
    }

    #[test]
    fn ck_768_none_zero_checksum_left_alone() {
        let d = Delta::NONE.ipv4(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(198, 51, 100, 1));
        assert_eq!(d.apply_udp(0), 0);
    }

    #[test]
    fn rfc6052_4_2_wkp_is_checksum_neutral() {
        // 6052-§4.2: 64:ff9b::/96 adds nothing to a sum.
        let v4 = Ipv4Addr::new(192, 0, 2, 33);
        let o = v4.octets();
        let v6 = Ipv6Addr::new(
            0x64,
            0xff9b,
            0,
            0,
            0,
            0,
            u16::from_be_bytes([o[0], o[1]]),
            u16::from_be_bytes([o[2], o[3]]),
        );
        assert_eq!(sum(0, &v6.octets()), sum(0, &o));
    }

    #[test]
    fn pseudo_header_v6_matches_byte_layout() {
        let src = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
        let dst = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
        let mut bytes = [0u8; 40];
        bytes[..16].copy_from_slice(&src.octets());
        bytes[16..32].copy_from_slice(&dst.octets());
        bytes[32..36].copy_from_slice(&70000u32.to_be_bytes());
        bytes[39] = 17;
        assert_eq!(pseudo_header_v6(src, dst, 17, 70000), sum(0, &bytes));
    }
}
