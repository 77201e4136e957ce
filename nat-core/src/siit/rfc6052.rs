//! IPv4-embedded IPv6 addresses ([RFC 6052]): a [`Pref64`] and the embedding and extraction of
//! an IPv4 address for the six prefix lengths of [RFC 6052 § 2.2].
//!
//! The IPv4 address is written right after the prefix, skipping the "u" octet (bits 64–71,
//! always zero), and the suffix after it is zero. Reading it back ignores the suffix
//! ([RFC 6052 § 2.2]: non-zero suffix bits are ignored on receipt).
//!
//! [RFC 6052]: https://www.rfc-editor.org/rfc/rfc6052
//! [RFC 6052 § 2.2]: https://www.rfc-editor.org/rfc/rfc6052#section-2.2

use core::net::{Ipv4Addr, Ipv6Addr};

/// Index of the "u" octet (bits 64–71), which an IPv4-embedded address never uses.
const U_OCTET: usize = 8;

/// Why a prefix cannot serve as a [`Pref64`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Pref64Error {
    /// The length is not one of 32, 40, 48, 56, 64 or 96 ([RFC 6052 § 2.2]).
    ///
    /// [RFC 6052 § 2.2]: https://www.rfc-editor.org/rfc/rfc6052#section-2.2
    BadLength(u8),
    /// Bits beyond the prefix length are set.
    HostBitsSet,
    /// A /96 prefix whose bits 64–71 are not zero ([RFC 6052 § 2.2]: the administrator MUST
    /// ensure they are).
    ///
    /// [RFC 6052 § 2.2]: https://www.rfc-editor.org/rfc/rfc6052#section-2.2
    NonZeroU,
    /// The Well-Known Prefix `64:ff9b::` with a length other than 96 ([RFC 6052 § 2.1]: the
    /// WKP is only the /96).
    ///
    /// [RFC 6052 § 2.1]: https://www.rfc-editor.org/rfc/rfc6052#section-2.1
    WellKnownNot96,
}

impl core::fmt::Display for Pref64Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Pref64Error::BadLength(l) => write!(f, "prefix length /{l} is not 32/40/48/56/64/96"),
            Pref64Error::HostBitsSet => f.write_str("bits beyond the prefix length are set"),
            Pref64Error::NonZeroU => f.write_str("bits 64-71 of a /96 prefix must be zero"),
            Pref64Error::WellKnownNot96 => {
                f.write_str("64:ff9b:: is the Well-Known Prefix only as a /96")
            }
        }
    }
}

/// An IPv6 prefix that embeds IPv4 addresses ([RFC 6052 § 2.2]): the Well-Known Prefix
/// `64:ff9b::/96` or a Network-Specific Prefix of length 32, 40, 48, 56, 64 or 96.
///
/// It is the one piece of configuration that lets a translator map addresses without state:
/// IPv4 address `a` is represented in IPv6 as `embed(a)`, and back with `extract`.
///
/// ```
/// use core::net::{Ipv4Addr, Ipv6Addr};
/// use nat_core::siit::Pref64;
/// let p = Pref64::new("2001:db8:100::".parse().unwrap(), 40).unwrap();
/// let v6 = p.embed(Ipv4Addr::new(192, 0, 2, 33));
/// assert_eq!(v6, "2001:db8:1c0:2:21::".parse::<Ipv6Addr>().unwrap());
/// assert_eq!(p.extract(v6), Some(Ipv4Addr::new(192, 0, 2, 33)));
/// ```
///
/// [RFC 6052 § 2.2]: https://www.rfc-editor.org/rfc/rfc6052#section-2.2
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Pref64 {
    prefix: [u8; 16],
    len: u8,
}

impl Pref64 {
    /// The Well-Known Prefix `64:ff9b::/96` ([RFC 6052 § 2.1]).
    ///
    /// [RFC 6052 § 2.1]: https://www.rfc-editor.org/rfc/rfc6052#section-2.1
    pub const WELL_KNOWN: Pref64 = Pref64 {
        prefix: [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        len: 96,
    };

    /// The prefix lengths [RFC 6052 § 2.2] allows.
    ///
    /// [RFC 6052 § 2.2]: https://www.rfc-editor.org/rfc/rfc6052#section-2.2
    pub const LENGTHS: [u8; 6] = [32, 40, 48, 56, 64, 96];

    /// A prefix from its address and length, checked against [RFC 6052 § 2.2]: a valid length,
    /// no bits set beyond it, and a zero "u" octet for a /96.
    ///
    /// [RFC 6052 § 2.2]: https://www.rfc-editor.org/rfc/rfc6052#section-2.2
    pub const fn new(prefix: Ipv6Addr, len: u8) -> Result<Pref64, Pref64Error> {
        if !matches!(len, 32 | 40 | 48 | 56 | 64 | 96) {
            return Err(Pref64Error::BadLength(len));
        }
        let bytes = prefix.octets();
        let mut i = (len / 8) as usize;
        while i < 16 {
            if bytes[i] != 0 {
                return Err(Pref64Error::HostBitsSet);
            }
            i += 1;
        }
        if len == 96 && bytes[U_OCTET] != 0 {
            return Err(Pref64Error::NonZeroU);
        }
        if len != 96 && bytes[0] == 0 && bytes[1] == 0x64 && bytes[2] == 0xff && bytes[3] == 0x9b {
            return Err(Pref64Error::WellKnownNot96);
        }
        Ok(Pref64 { prefix: bytes, len })
    }

    /// The prefix address (bits beyond the length are zero).
    pub const fn prefix(&self) -> Ipv6Addr {
        Ipv6Addr::from_bits(u128::from_be_bytes(self.prefix))
    }

    /// The prefix length in bits.
    pub const fn prefix_len(&self) -> u8 {
        self.len
    }

    /// Whether this is the Well-Known Prefix, to which [RFC 6052 § 3.1] restricts the IPv4
    /// addresses that may be embedded.
    ///
    /// [RFC 6052 § 3.1]: https://www.rfc-editor.org/rfc/rfc6052#section-3.1
    pub fn is_well_known(&self) -> bool {
        *self == Self::WELL_KNOWN
    }

    /// The byte positions that hold the four IPv4 octets: right after the prefix, skipping the
    /// "u" octet ([RFC 6052 § 2.2], Figure 1).
    ///
    /// [RFC 6052 § 2.2]: https://www.rfc-editor.org/rfc/rfc6052#section-2.2
    const fn positions(&self) -> [usize; 4] {
        let mut out = [0; 4];
        let mut at = (self.len / 8) as usize;
        let mut n = 0;
        while n < 4 {
            if at == U_OCTET {
                at += 1;
            }
            out[n] = at;
            at += 1;
            n += 1;
        }
        out
    }

    /// The IPv4-embedded IPv6 address of `v4` ([RFC 6052 § 2.3]): prefix, IPv4 address around
    /// the zero "u" octet, zero suffix.
    ///
    /// [RFC 6052 § 2.3]: https://www.rfc-editor.org/rfc/rfc6052#section-2.3
    pub const fn embed(&self, v4: Ipv4Addr) -> Ipv6Addr {
        let mut out = self.prefix;
        let o = v4.octets();
        let pos = self.positions();
        let mut i = 0;
        while i < 4 {
            out[pos[i]] = o[i];
            i += 1;
        }
        Ipv6Addr::from_bits(u128::from_be_bytes(out))
    }

    /// Whether `v6` starts with this prefix.
    pub fn contains(&self, v6: Ipv6Addr) -> bool {
        let mask = u128::MAX << (128 - u32::from(self.len));
        v6.to_bits() & mask == u128::from_be_bytes(self.prefix)
    }

    /// The IPv4 address embedded in `v6`, or `None` if `v6` is not under this prefix
    /// ([RFC 6052 § 2.3]). The "u" octet and the suffix are not read.
    ///
    /// [RFC 6052 § 2.3]: https://www.rfc-editor.org/rfc/rfc6052#section-2.3
    pub fn extract(&self, v6: Ipv6Addr) -> Option<Ipv4Addr> {
        if !self.contains(v6) {
            return None;
        }
        let b = v6.octets();
        let [a, c, d, e] = self.positions();
        Some(Ipv4Addr::new(b[a], b[c], b[d], b[e]))
    }
}

impl core::fmt::Display for Pref64 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}/{}", self.prefix(), self.len)
    }
}

/// Whether `v4` is one of the non-global addresses that the Well-Known Prefix must not
/// represent ([RFC 6052 § 3.1], which cites RFC 1918 and [RFC 5735 § 3]).
///
/// The set is RFC 5735 § 3 taken literally: 0/8, 10/8, 127/8, 169.254/16, 172.16/12,
/// 192.0.0/24, 192.0.2/24, 192.88.99/24, 192.168/16, 198.18/15, 198.51.100/24, 203.0.113/24,
/// 224/4, 240/4 (which holds 255.255.255.255). It includes the documentation range of
/// RFC 6052's own Table 2 example, which is why the rule is a configuration switch.
///
/// [RFC 6052 § 3.1]: https://www.rfc-editor.org/rfc/rfc6052#section-3.1
/// [RFC 5735 § 3]: https://www.rfc-editor.org/rfc/rfc5735#section-3
pub const fn is_non_global(v4: Ipv4Addr) -> bool {
    const SET: [(u32, u8); 14] = [
        (0x0000_0000, 8),
        (0x0a00_0000, 8),
        (0x7f00_0000, 8),
        (0xa9fe_0000, 16),
        (0xac10_0000, 12),
        (0xc000_0000, 24),
        (0xc000_0200, 24),
        (0xc058_6300, 24),
        (0xc0a8_0000, 16),
        (0xc612_0000, 15),
        (0xc633_6400, 24),
        (0xcb00_7100, 24),
        (0xe000_0000, 4),
        (0xf000_0000, 4),
    ];
    let a = v4.to_bits();
    let mut i = 0;
    while i < SET.len() {
        let (net, len) = SET[i];
        let mask = u32::MAX << (32 - len);
        if a & mask == net {
            return true;
        }
        i += 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    const V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 33);

    /// RFC 6052 § 2.4 Table 1, one row per prefix length: (prefix, length, embedded address).
    const TABLE_1: [(&str, u8, &str); 6] = [
        ("2001:db8::", 32, "2001:db8:c000:221::"),
        ("2001:db8:100::", 40, "2001:db8:1c0:2:21::"),
        ("2001:db8:122::", 48, "2001:db8:122:c000:2:2100::"),
        ("2001:db8:122:300::", 56, "2001:db8:122:3c0:0:221::"),
        ("2001:db8:122:344::", 64, "2001:db8:122:344:c0:2:2100::"),
        ("2001:db8:122:344::", 96, "2001:db8:122:344::192.0.2.33"),
    ];

    fn table_1_row(len: u8) {
        let (p, l, want) = TABLE_1.iter().copied().find(|r| r.1 == len).unwrap();
        let pref = Pref64::new(v6(p), l).unwrap();
        assert_eq!(pref.embed(V4), v6(want), "embed /{len}");
        assert_eq!(pref.extract(v6(want)), Some(V4), "extract /{len}");
        assert_eq!(pref.embed(V4).octets()[U_OCTET], 0, "u octet /{len}");
    }

    #[test]
    fn rfc6052_2_4_table_1_pl32() {
        table_1_row(32);
    }
    #[test]
    fn rfc6052_2_4_table_1_pl40() {
        table_1_row(40);
    }
    #[test]
    fn rfc6052_2_4_table_1_pl48() {
        table_1_row(48);
    }
    #[test]
    fn rfc6052_2_4_table_1_pl56() {
        table_1_row(56);
    }
    #[test]
    fn rfc6052_2_4_table_1_pl64() {
        table_1_row(64);
    }
    #[test]
    fn rfc6052_2_4_table_1_pl96() {
        table_1_row(96);
    }

    #[test]
    fn rfc6052_2_4_table_2_well_known_prefix() {
        let w = Pref64::WELL_KNOWN;
        assert!(w.is_well_known());
        assert_eq!(w.embed(V4), v6("64:ff9b::192.0.2.33"));
        assert_eq!(w.embed(V4), v6("64:ff9b::c000:221"));
        assert_eq!(w.extract(v6("64:ff9b::192.0.2.33")), Some(V4));
        assert_eq!(Pref64::new(v6("64:ff9b::"), 96), Ok(w));
    }

    #[test]
    fn rfc7915_appendix_a_pl40_vector() {
        let p = Pref64::new(v6("2001:db8:100::"), 40).unwrap();
        let a = Ipv4Addr::new(198, 51, 100, 2);
        assert_eq!(p.embed(a), v6("2001:db8:1c6:3364:2::"));
        assert_eq!(p.extract(v6("2001:db8:1c6:3364:2::")), Some(a));
    }

    #[test]
    fn rfc6052_2_2_1_prefix_lengths_restricted() {
        for l in [0, 8, 31, 33, 44, 72, 95, 97, 128] {
            assert_eq!(
                Pref64::new(Ipv6Addr::UNSPECIFIED, l),
                Err(Pref64Error::BadLength(l))
            );
        }
        for l in Pref64::LENGTHS {
            assert!(Pref64::new(Ipv6Addr::UNSPECIFIED, l).is_ok());
        }
        assert_eq!(
            Pref64::new(v6("2001:db8::1"), 64),
            Err(Pref64Error::HostBitsSet)
        );
    }

    #[test]
    fn rfc6052_2_2_3_pl96_u_octet_must_be_zero() {
        assert_eq!(
            Pref64::new(v6("2001:db8:0:0:100::"), 96),
            Err(Pref64Error::NonZeroU)
        );
    }

    #[test]
    fn rfc6052_2_2_2_u_octet_zero_for_every_length() {
        for (p, l, _) in TABLE_1 {
            let pref = Pref64::new(v6(p), l).unwrap();
            for a in [Ipv4Addr::BROADCAST, Ipv4Addr::new(1, 2, 3, 4)] {
                assert_eq!(pref.embed(a).octets()[U_OCTET], 0);
            }
        }
    }

    #[test]
    fn rfc6052_2_2_5_suffix_zero() {
        let p = Pref64::new(v6("2001:db8:100::"), 40).unwrap();
        let o = p.embed(Ipv4Addr::BROADCAST).octets();
        assert!(o[10..].iter().all(|&b| b == 0));
    }

    #[test]
    fn rfc6052_2_2_6_suffix_ignored_on_receipt() {
        let p = Pref64::new(v6("2001:db8:100::"), 40).unwrap();
        assert_eq!(p.extract(v6("2001:db8:1c0:2:21:ffff:ffff:ffff")), Some(V4));
    }

    #[test]
    fn rfc6052_2_3_2_decoder_skips_u_octet() {
        // A non-zero u octet must not leak into the IPv4 address.
        let p = Pref64::new(v6("2001:db8:122:344::"), 64).unwrap();
        assert_eq!(p.extract(v6("2001:db8:122:344:ffc0:2:2100::")), Some(V4));
    }

    #[test]
    fn extract_outside_prefix_is_none() {
        let p = Pref64::new(v6("2001:db8:100::"), 40).unwrap();
        assert_eq!(p.extract(v6("2001:db8:200::1")), None);
    }

    #[test]
    fn rfc6052_3_1_1_non_global_set() {
        for a in [
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(192, 168, 1, 1),
            Ipv4Addr::new(172, 31, 0, 1),
            Ipv4Addr::new(127, 0, 0, 1),
            Ipv4Addr::new(192, 0, 2, 33),
            Ipv4Addr::BROADCAST,
            Ipv4Addr::new(224, 0, 0, 1),
        ] {
            assert!(is_non_global(a), "{a}");
        }
        for a in [
            Ipv4Addr::new(8, 8, 8, 8),
            Ipv4Addr::new(172, 32, 0, 1),
            Ipv4Addr::new(198, 20, 0, 1),
        ] {
            assert!(!is_non_global(a), "{a}");
        }
    }
}
