//! Fragments ([RFC 6146 § 3.4]): only the first fragment of a datagram carries the ports, so
//! the addresses it was translated to are remembered under (source, destination,
//! identification, protocol) for a while ([`Nat64Config::fragment_timeout`], at least
//! FRAGMENT_MIN by default) and the later fragments follow them. A fragment that arrives
//! before its first waits in a bounded buffer and is released once the first is translated;
//! a flood of orphans fills only that buffer ([RFC 6146 § 3.4]: "MUST limit the amount of
//! resources").
//!
//! [RFC 6146 § 3.4]: https://www.rfc-editor.org/rfc/rfc6146#section-3.4
//! [`Nat64Config::fragment_timeout`]: super::Nat64Config::fragment_timeout

use core::net::{Ipv4Addr, Ipv6Addr};

/// What identifies the fragments of one datagram as they arrive ([RFC 8200 § 4.5],
/// [RFC 791]).
///
/// [RFC 8200 § 4.5]: https://www.rfc-editor.org/rfc/rfc8200#section-4.5
/// [RFC 791]: https://www.rfc-editor.org/rfc/rfc791
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FragKey {
    /// An IPv6 datagram from the IPv6 side.
    V6 {
        src: Ipv6Addr,
        dst: Ipv6Addr,
        id: u32,
        proto: u8,
    },
    /// An IPv4 datagram from the IPv4 side.
    V4 {
        src: Ipv4Addr,
        dst: Ipv4Addr,
        id: u16,
        proto: u8,
    },
}

/// The addresses the first fragment was translated to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FragMap {
    /// To IPv4, and back to IPv6 when the datagram was hairpinned.
    To4 {
        src: Ipv4Addr,
        dst: Ipv4Addr,
        back: Option<(Ipv6Addr, Ipv6Addr)>,
    },
    /// To IPv6.
    To6 { src: Ipv6Addr, dst: Ipv6Addr },
}

/// First-fragment translations and early fragments of the NAT64 ([`crate::fragments`]).
pub(crate) type FragmentTable<const F: usize, const W: usize> =
    crate::fragments::FragmentTable<FragKey, FragMap, F, W>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fragments::WAITING_BYTES;
    use crate::time::Instant;

    fn k(id: u16) -> FragKey {
        FragKey::V4 {
            src: Ipv4Addr::new(192, 0, 2, 5),
            dst: Ipv4Addr::new(192, 0, 2, 2),
            id,
            proto: 17,
        }
    }

    const MAP: FragMap = FragMap::To6 {
        src: Ipv6Addr::LOCALHOST,
        dst: Ipv6Addr::UNSPECIFIED,
    };

    #[test]
    fn waiting_fragment_released_by_its_first_then_expires() {
        let mut t = FragmentTable::<2, 1>::new();
        let now = Instant::from_secs(1);
        let until = Instant::from_secs(3);
        assert!(t.wait(k(1), &[7; 30], now, until));
        assert!(!t.wait(k(2), &[7; 30], now, until), "bounded");
        assert!(!t.wait(k(2), &[0; WAITING_BYTES + 1], now, until));
        let mut out = [0u8; 64];
        assert_eq!(t.take_ready(now, &mut out), None);
        t.remember(k(1), MAP, now, until);
        assert_eq!(t.lookup(&k(1), now), Some(MAP));
        assert_eq!(t.take_ready(now, &mut out), Some((30, MAP)));
        assert_eq!(t.waiting_count(), 0);
        assert_eq!(t.lookup(&k(1), until), None);
        // A full table replaces an entry.
        t.remember(k(2), MAP, now, until);
        t.remember(k(3), MAP, now, until);
        assert_eq!(t.lookup(&k(3), now), Some(MAP));
    }
}
