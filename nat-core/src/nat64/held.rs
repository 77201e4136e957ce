//! Stored V4 SYNs ([RFC 6146 § 3.5.2.2], state V4 INIT): an IPv4 SYN for which no session may
//! be created yet is kept for TCP_INCOMING_SYN (6 s). A V6 SYN of the same connection within
//! that time claims it (simultaneous open); otherwise the translator answers its sender with
//! Port Unreachable. Memory is `H` slots of at most [`HELD_BYTES`] each, whatever the SYN rate
//! ([RFC 6146 § 5.3]); when they are full, further SYNs are dropped.
//!
//! A SYN that came through the hairpin is stored as the IPv6 packet its host sent, so that the
//! error can go back to that host in its own family.
//!
//! [RFC 6146 § 3.5.2.2]: https://www.rfc-editor.org/rfc/rfc6146#section-3.5.2.2
//! [RFC 6146 § 5.3]: https://www.rfc-editor.org/rfc/rfc6146#section-5.3

/// Bytes kept of a stored SYN: the IP header with options or extension headers and a TCP
/// header with options, enough for the quote of the ICMP error that may follow. Longer SYNs
/// are quoted cut.
pub const HELD_BYTES: usize = 128;

/// The family of a stored SYN, which is the family of the error it may get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HeldFamily {
    /// An IPv4 SYN from the IPv4 side.
    V4,
    /// An IPv6 SYN that reached pool4 through the hairpin ([RFC 6146 § 3.8]).
    ///
    /// [RFC 6146 § 3.8]: https://www.rfc-editor.org/rfc/rfc6146#section-3.8
    V6,
}

/// The stored V4 SYNs of the NAT64, tagged with the family they were stored in.
pub(crate) type HeldSyns<const H: usize> = crate::held::HeldPackets<HeldFamily, H, HELD_BYTES>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::FlowKey;
    use crate::flow::{Endpoint, L4Proto};
    use crate::time::Instant;
    use core::net::Ipv4Addr;

    fn key(p: u16) -> FlowKey<Ipv4Addr> {
        FlowKey::new(
            L4Proto::Tcp,
            Endpoint::new(Ipv4Addr::new(192, 0, 2, 5), p),
            Endpoint::new(Ipv4Addr::new(192, 0, 2, 2), 80),
        )
    }

    #[test]
    fn bounded_claimed_and_due() {
        let mut h = HeldSyns::<2>::new();
        let t = Instant::from_secs(6);
        assert!(h.hold(key(1), &[1; 200], HeldFamily::V4, t));
        assert!(h.hold(key(1), &[2; 10], HeldFamily::V4, Instant::from_secs(9)));
        assert!(h.hold(key(2), &[3; 10], HeldFamily::V6, t));
        assert!(!h.hold(key(3), &[4; 10], HeldFamily::V4, t));
        assert_eq!(h.len(), 2);
        assert!(h.claim(&key(2)));
        assert!(!h.claim(&key(2)));
        let mut out = [0u8; 256];
        assert_eq!(h.take_due(Instant::from_secs(5), &mut out), None);
        assert_eq!(h.next_due(), Some(t));
        assert_eq!(h.take_due(t, &mut out), Some((HELD_BYTES, HeldFamily::V4)));
        assert_eq!(out[0], 1);
        assert_eq!(h.len(), 0);
    }
}
