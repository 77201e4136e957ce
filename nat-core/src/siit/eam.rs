//! Explicit Address Mappings ([RFC 7757]): a fixed-capacity table of IPv4 prefix ↔ IPv6
//! prefix pairs, looked up by longest prefix in either direction.
//!
//! An entry maps the host bits of an IPv4 address, unchanged, to the bits right after its IPv6
//! prefix (the remaining IPv6 bits are zero); the reverse reads them back from there. The table
//! is consulted before the [RFC 6052](super::rfc6052) prefix ([RFC 7757 § 3.3]).
//!
//! [RFC 7757]: https://www.rfc-editor.org/rfc/rfc7757
//! [RFC 7757 § 3.3]: https://www.rfc-editor.org/rfc/rfc7757#section-3.3

use core::net::{Ipv4Addr, Ipv6Addr};

/// Why a prefix or an explicit address mapping was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EamError {
    /// A prefix length beyond the address width.
    BadLength(u8),
    /// Bits beyond the prefix length are set.
    HostBitsSet,
    /// The IPv4 prefix has more host bits than the IPv6 prefix can carry ([RFC 7757 § 3.2]).
    ///
    /// [RFC 7757 § 3.2]: https://www.rfc-editor.org/rfc/rfc7757#section-3.2
    SuffixTooLong,
    /// An entry with the same IPv4 or IPv6 prefix is already present.
    Duplicate,
    /// The table is at capacity.
    Full,
}

impl core::fmt::Display for EamError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            EamError::BadLength(l) => write!(f, "prefix length /{l} is too long"),
            EamError::HostBitsSet => f.write_str("bits beyond the prefix length are set"),
            EamError::SuffixTooLong => {
                f.write_str("the IPv4 suffix is longer than the IPv6 suffix")
            }
            EamError::Duplicate => f.write_str("an entry with this prefix exists"),
            EamError::Full => f.write_str("the table is full"),
        }
    }
}

/// An IPv4 prefix (network address and length).
///
/// It names the IPv4 side of an explicit address mapping and the RFC 6791 pool; the host bits
/// must be zero so that one prefix has one spelling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv4Prefix {
    addr: Ipv4Addr,
    len: u8,
}

impl Ipv4Prefix {
    /// A prefix from its network address and length (≤ 32, no host bits set).
    pub const fn new(addr: Ipv4Addr, len: u8) -> Result<Self, EamError> {
        if len > 32 {
            return Err(EamError::BadLength(len));
        }
        if addr.to_bits() & !mask32(len) != 0 {
            return Err(EamError::HostBitsSet);
        }
        Ok(Ipv4Prefix { addr, len })
    }

    /// A /32 prefix holding one address.
    pub const fn host(addr: Ipv4Addr) -> Self {
        Ipv4Prefix { addr, len: 32 }
    }

    /// The network address.
    pub const fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// The prefix length in bits.
    pub const fn prefix_len(&self) -> u8 {
        self.len
    }

    /// Whether `a` lies inside the prefix.
    pub const fn contains(&self, a: Ipv4Addr) -> bool {
        a.to_bits() & mask32(self.len) == self.addr.to_bits()
    }

    /// The address at host index `n` (taken modulo the prefix size), for picking pool members.
    pub const fn nth(&self, n: u32) -> Ipv4Addr {
        Ipv4Addr::from_bits(self.addr.to_bits() | (n & !mask32(self.len)))
    }
}

/// An IPv6 prefix (network address and length).
///
/// It names the IPv6 side of an explicit address mapping and the RFC 6791 IPv6 pool; the host
/// bits must be zero so that one prefix has one spelling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv6Prefix {
    addr: Ipv6Addr,
    len: u8,
}

impl Ipv6Prefix {
    /// A prefix from its network address and length (≤ 128, no host bits set).
    pub const fn new(addr: Ipv6Addr, len: u8) -> Result<Self, EamError> {
        if len > 128 {
            return Err(EamError::BadLength(len));
        }
        if addr.to_bits() & !mask128(len) != 0 {
            return Err(EamError::HostBitsSet);
        }
        Ok(Ipv6Prefix { addr, len })
    }

    /// A /128 prefix holding one address.
    pub const fn host(addr: Ipv6Addr) -> Self {
        Ipv6Prefix { addr, len: 128 }
    }

    /// The network address.
    pub const fn addr(&self) -> Ipv6Addr {
        self.addr
    }

    /// The prefix length in bits.
    pub const fn prefix_len(&self) -> u8 {
        self.len
    }

    /// Whether `a` lies inside the prefix.
    pub const fn contains(&self, a: Ipv6Addr) -> bool {
        a.to_bits() & mask128(self.len) == self.addr.to_bits()
    }

    /// The address at host index `n` (taken modulo the prefix size), for picking pool members.
    pub const fn nth(&self, n: u32) -> Ipv6Addr {
        Ipv6Addr::from_bits(self.addr.to_bits() | (n as u128 & !mask128(self.len)))
    }
}

const fn mask32(len: u8) -> u32 {
    if len == 0 { 0 } else { u32::MAX << (32 - len) }
}

const fn mask128(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - len)
    }
}

/// One explicit address mapping ([RFC 7757 § 3.2]): an IPv4 prefix and an IPv6 prefix whose
/// suffix is at least as long as the IPv4 one.
///
/// It lets an operator pin chosen IPv4 addresses to arbitrary IPv6 addresses, which RFC 6052
/// alone cannot express.
///
/// [RFC 7757 § 3.2]: https://www.rfc-editor.org/rfc/rfc7757#section-3.2
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Eam {
    v4: Ipv4Prefix,
    v6: Ipv6Prefix,
}

impl Eam {
    /// A mapping of `v4` to `v6`; refused if `v6` leaves fewer host bits than `v4` has.
    pub const fn new(v4: Ipv4Prefix, v6: Ipv6Prefix) -> Result<Self, EamError> {
        if 32 - v4.len as u32 > 128 - v6.len as u32 {
            return Err(EamError::SuffixTooLong);
        }
        Ok(Eam { v4, v6 })
    }

    /// The IPv4 side.
    pub const fn ipv4(&self) -> Ipv4Prefix {
        self.v4
    }

    /// The IPv6 side.
    pub const fn ipv6(&self) -> Ipv6Prefix {
        self.v6
    }

    const fn suffix_len(&self) -> u32 {
        32 - self.v4.len as u32
    }

    /// `a` (inside the IPv4 prefix) mapped to IPv6: the IPv6 prefix, then the IPv4 host bits,
    /// then zeros ([RFC 7757 § 3.3]).
    ///
    /// [RFC 7757 § 3.3]: https://www.rfc-editor.org/rfc/rfc7757#section-3.3
    pub const fn map_4to6(&self, a: Ipv4Addr) -> Ipv6Addr {
        let s = self.suffix_len();
        let host = (a.to_bits() & !mask32(self.v4.len)) as u128;
        let shift = 128 - self.v6.len as u32 - s;
        let host = if s == 0 { 0 } else { host << shift };
        Ipv6Addr::from_bits(self.v6.addr.to_bits() | host)
    }

    /// `a` (inside the IPv6 prefix) mapped to IPv4: the IPv4 prefix with the host bits read
    /// right after the IPv6 prefix; later IPv6 bits are ignored ([RFC 7757 § 3.3]).
    ///
    /// [RFC 7757 § 3.3]: https://www.rfc-editor.org/rfc/rfc7757#section-3.3
    pub const fn map_6to4(&self, a: Ipv6Addr) -> Ipv4Addr {
        let s = self.suffix_len();
        if s == 0 {
            return self.v4.addr;
        }
        let shift = 128 - self.v6.len as u32 - s;
        let host = ((a.to_bits() >> shift) as u32) & !mask32(self.v4.len);
        Ipv4Addr::from_bits(self.v4.addr.to_bits() | host)
    }
}

/// The explicit address mapping table ([RFC 7757 § 3.1]) with room for `N` entries, held
/// inline so that it needs no heap.
///
/// Lookups pick the longest matching prefix on the side being searched ([RFC 7757 § 3.2]);
/// a table of a few dozen entries is searched linearly.
///
/// ```
/// use core::net::{Ipv4Addr, Ipv6Addr};
/// use nat_core::siit::{Eam, EamTable, Ipv4Prefix, Ipv6Prefix};
/// let mut t = EamTable::<4>::new();
/// t.insert(Eam::new(
///     Ipv4Prefix::new(Ipv4Addr::new(1, 0, 0, 0), 24).unwrap(),
///     Ipv6Prefix::new("2001:db8:3::".parse().unwrap(), 120).unwrap(),
/// ).unwrap()).unwrap();
/// assert_eq!(t.map_4to6(Ipv4Addr::new(1, 0, 0, 9)), Some("2001:db8:3::9".parse().unwrap()));
/// assert_eq!(t.map_6to4("2001:db8:3::9".parse().unwrap()), Some(Ipv4Addr::new(1, 0, 0, 9)));
/// ```
///
/// [RFC 7757 § 3.1]: https://www.rfc-editor.org/rfc/rfc7757#section-3.1
/// [RFC 7757 § 3.2]: https://www.rfc-editor.org/rfc/rfc7757#section-3.2
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EamTable<const N: usize> {
    entries: heapless::Vec<Eam, N>,
}

impl<const N: usize> EamTable<N> {
    /// An empty table.
    pub const fn new() -> Self {
        EamTable {
            entries: heapless::Vec::new(),
        }
    }

    /// Adds an entry; an entry with the same IPv4 or IPv6 prefix is refused, as the table
    /// would then map one address two ways.
    pub fn insert(&mut self, eam: Eam) -> Result<(), EamError> {
        if self
            .entries
            .iter()
            .any(|e| e.v4 == eam.v4 || e.v6 == eam.v6)
        {
            return Err(EamError::Duplicate);
        }
        self.entries.push(eam).map_err(|_| EamError::Full)
    }

    /// Removes the entry whose IPv4 prefix is `v4`, returning it.
    pub fn remove(&mut self, v4: Ipv4Prefix) -> Option<Eam> {
        let i = self.entries.iter().position(|e| e.v4 == v4)?;
        Some(self.entries.swap_remove(i))
    }

    /// The entries, in no particular order.
    pub fn entries(&self) -> &[Eam] {
        &self.entries
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry with the longest IPv4 prefix containing `a`.
    pub fn find4(&self, a: Ipv4Addr) -> Option<&Eam> {
        self.entries
            .iter()
            .filter(|e| e.v4.contains(a))
            .max_by_key(|e| e.v4.len)
    }

    /// The entry with the longest IPv6 prefix containing `a`.
    pub fn find6(&self, a: Ipv6Addr) -> Option<&Eam> {
        self.entries
            .iter()
            .filter(|e| e.v6.contains(a))
            .max_by_key(|e| e.v6.len)
    }

    /// `a` mapped to IPv6 by the longest matching IPv4 prefix, if any.
    pub fn map_4to6(&self, a: Ipv4Addr) -> Option<Ipv6Addr> {
        self.find4(a).map(|e| e.map_4to6(a))
    }

    /// `a` mapped to IPv4 by the longest matching IPv6 prefix, if any.
    pub fn map_6to4(&self, a: Ipv6Addr) -> Option<Ipv4Addr> {
        self.find6(a).map(|e| e.map_6to4(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p4(s: &str, l: u8) -> Ipv4Prefix {
        Ipv4Prefix::new(s.parse().unwrap(), l).unwrap()
    }
    fn p6(s: &str, l: u8) -> Ipv6Prefix {
        Ipv6Prefix::new(s.parse().unwrap(), l).unwrap()
    }
    fn a6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    fn jool_table() -> EamTable<8> {
        let mut t = EamTable::new();
        t.insert(Eam::new(p4("1.0.0.0", 24), p6("2001:db8:3::", 120)).unwrap())
            .unwrap();
        t.insert(Eam::new(p4("10.0.0.0", 24), p6("2001:db8:2::", 120)).unwrap())
            .unwrap();
        t
    }

    #[test]
    fn rfc7915_6_2_eam_same_suffix_length_both_ways() {
        let t = jool_table();
        assert_eq!(
            t.map_4to6(Ipv4Addr::new(1, 0, 0, 96)),
            Some(a6("2001:db8:3::60"))
        );
        assert_eq!(
            t.map_6to4(a6("2001:db8:2::60")),
            Some(Ipv4Addr::new(10, 0, 0, 96))
        );
        assert_eq!(t.map_4to6(Ipv4Addr::new(1, 0, 1, 1)), None);
        assert_eq!(t.map_6to4(a6("2001:db8:4::1")), None);
    }

    #[test]
    fn eam_longer_ipv6_suffix_places_host_bits_after_prefix() {
        // 192.0.2.0/24 <-> 2001:db8:1c0:2::/72: 192.0.2.33 -> 2001:db8:1c0:2:21::.
        let e = Eam::new(p4("192.0.2.0", 24), p6("2001:db8:1c0:2::", 72)).unwrap();
        assert_eq!(
            e.map_4to6(Ipv4Addr::new(192, 0, 2, 33)),
            a6("2001:db8:1c0:2:21::")
        );
        assert_eq!(
            e.map_6to4(a6("2001:db8:1c0:2:21:ffff::1")),
            Ipv4Addr::new(192, 0, 2, 33)
        );
    }

    #[test]
    fn eam_single_addresses() {
        let e = Eam::new(
            Ipv4Prefix::host(Ipv4Addr::new(192, 0, 2, 1)),
            Ipv6Prefix::host(a6("2001:db8:6::1")),
        )
        .unwrap();
        assert_eq!(e.map_4to6(Ipv4Addr::new(192, 0, 2, 1)), a6("2001:db8:6::1"));
        assert_eq!(e.map_6to4(a6("2001:db8:6::1")), Ipv4Addr::new(192, 0, 2, 1));
    }

    #[test]
    fn eam_longest_prefix_wins_both_ways() {
        let mut t = EamTable::<4>::new();
        t.insert(Eam::new(p4("10.0.0.0", 8), p6("2001:db8:a::", 104)).unwrap())
            .unwrap();
        t.insert(Eam::new(p4("10.1.0.0", 16), p6("2001:db8:b::", 112)).unwrap())
            .unwrap();
        t.insert(Eam::new(p4("10.1.2.3", 32), p6("2001:db8:a::1:203", 128)).unwrap())
            .unwrap();
        assert_eq!(
            t.map_4to6(Ipv4Addr::new(10, 1, 2, 4)),
            Some(a6("2001:db8:b::204"))
        );
        assert_eq!(
            t.map_4to6(Ipv4Addr::new(10, 2, 2, 4)),
            Some(a6("2001:db8:a::2:204"))
        );
        // The /128 is more specific than the /104 that also covers it.
        assert_eq!(
            t.map_6to4(a6("2001:db8:a::1:203")),
            Some(Ipv4Addr::new(10, 1, 2, 3))
        );
        assert_eq!(
            t.map_6to4(a6("2001:db8:a::1:204")),
            Some(Ipv4Addr::new(10, 1, 2, 4))
        );
    }

    #[test]
    fn eam_refusals() {
        assert_eq!(
            Eam::new(p4("10.0.0.0", 8), p6("2001:db8::", 112)),
            Err(EamError::SuffixTooLong)
        );
        assert_eq!(
            Ipv4Prefix::new(Ipv4Addr::new(10, 0, 0, 1), 8),
            Err(EamError::HostBitsSet)
        );
        assert_eq!(
            Ipv6Prefix::new(Ipv6Addr::UNSPECIFIED, 129),
            Err(EamError::BadLength(129))
        );
        let mut t = EamTable::<1>::new();
        let e = Eam::new(p4("10.0.0.0", 24), p6("2001:db8::", 120)).unwrap();
        t.insert(e).unwrap();
        assert_eq!(t.insert(e), Err(EamError::Duplicate));
        let f = Eam::new(p4("10.0.1.0", 24), p6("2001:db8:1::", 120)).unwrap();
        assert_eq!(t.insert(f), Err(EamError::Full));
        assert_eq!(t.remove(p4("10.0.0.0", 24)), Some(e));
        assert!(t.is_empty());
    }

    #[test]
    fn prefix_nth_stays_inside() {
        let p = p4("203.0.113.8", 30);
        for n in 0..10 {
            assert!(p.contains(p.nth(n)));
        }
        assert_eq!(
            Ipv4Prefix::host(Ipv4Addr::new(1, 2, 3, 4)).nth(77),
            Ipv4Addr::new(1, 2, 3, 4)
        );
        let q = p6("2::", 127);
        assert!(q.contains(q.nth(3)));
    }
}
