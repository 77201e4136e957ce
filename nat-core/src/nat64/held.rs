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

use crate::flow::FlowKey;
use crate::time::Instant;
use core::net::Ipv4Addr;

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

#[derive(Clone, Copy, Debug)]
struct Held {
    /// The SYN's key as the IPv4 side sees it (Z:z → T:t).
    key: FlowKey<Ipv4Addr>,
    until: Instant,
    family: HeldFamily,
    len: u8,
    bytes: [u8; HELD_BYTES],
}

/// The stored SYNs.
#[derive(Clone, Debug)]
pub(crate) struct HeldSyns<const H: usize> {
    slots: [Option<Held>; H],
}

impl<const H: usize> HeldSyns<H> {
    pub(crate) const fn new() -> Self {
        HeldSyns { slots: [None; H] }
    }

    /// Stores the SYN `pkt` with IPv4 key `key` until `until`; `false` when every slot is
    /// taken. A retransmission of a stored SYN keeps the first one's deadline.
    pub(crate) fn hold(
        &mut self,
        key: FlowKey<Ipv4Addr>,
        pkt: &[u8],
        family: HeldFamily,
        until: Instant,
    ) -> bool {
        if self.slots.iter().flatten().any(|h| h.key == key) {
            return true;
        }
        let Some(slot) = self.slots.iter_mut().find(|s| s.is_none()) else {
            return false;
        };
        let len = pkt.len().min(HELD_BYTES);
        let mut bytes = [0; HELD_BYTES];
        bytes[..len].copy_from_slice(&pkt[..len]);
        *slot = Some(Held {
            key,
            until,
            family,
            len: len as u8,
            bytes,
        });
        true
    }

    /// Forgets the SYN stored for `key`: a V6 SYN claimed the connection.
    pub(crate) fn claim(&mut self, key: &FlowKey<Ipv4Addr>) -> bool {
        for s in &mut self.slots {
            if s.is_some_and(|h| h.key == *key) {
                *s = None;
                return true;
            }
        }
        false
    }

    /// Takes one SYN whose time ran out at `now`, copying its bytes to the start of `out`;
    /// returns their length and family. A SYN that does not fit in `out` is dropped.
    pub(crate) fn take_due(&mut self, now: Instant, out: &mut [u8]) -> Option<(usize, HeldFamily)> {
        let slot = self
            .slots
            .iter_mut()
            .find(|s| s.is_some_and(|h| h.until <= now))?;
        let h = slot.take()?;
        let len = usize::from(h.len).min(out.len());
        out[..len].copy_from_slice(&h.bytes[..len]);
        Some((len, h.family))
    }

    /// When the next stored SYN runs out.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.slots.iter().flatten().map(|h| h.until).min()
    }

    /// SYNs stored.
    pub(crate) fn len(&self) -> usize {
        self.slots.iter().flatten().count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{Endpoint, L4Proto};

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
