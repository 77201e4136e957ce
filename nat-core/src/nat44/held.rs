//! Unsolicited inbound SYNs held for six seconds ([RFC 5382] REQ-4): dropped silently if an
//! outbound SYN of the same connection comes in time (simultaneous open), otherwise answered
//! with ICMP Port Unreachable. Memory is `H` slots of at most [`HELD_BYTES`] each; when they are
//! full, further unsolicited SYNs are dropped.
//!
//! [RFC 5382]: https://www.rfc-editor.org/rfc/rfc5382

use crate::flow::FlowKey;
use crate::time::Instant;
use core::net::Ipv4Addr;

/// Bytes kept of a held SYN: a full IPv4 header with options and the 8 transport bytes an
/// ICMP error must quote ([RFC 792]).
///
/// [RFC 792]: https://www.rfc-editor.org/rfc/rfc792
pub const HELD_BYTES: usize = 60 + 8;

#[derive(Clone, Copy, Debug)]
struct Held {
    key: FlowKey<Ipv4Addr>,
    until: Instant,
    bytes: [u8; HELD_BYTES],
    len: u8,
}

/// The held SYNs.
#[derive(Clone, Debug)]
pub(crate) struct HeldSyns<const H: usize> {
    slots: [Option<Held>; H],
}

impl<const H: usize> HeldSyns<H> {
    pub(crate) const fn new() -> Self {
        HeldSyns { slots: [None; H] }
    }

    /// Holds the SYN `pkt` (key as it arrived from the outside) until `until`; `false` when full.
    /// A retransmission of a held SYN keeps the first one's deadline.
    pub(crate) fn hold(&mut self, key: FlowKey<Ipv4Addr>, pkt: &[u8], until: Instant) -> bool {
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
            bytes,
            len: len as u8,
        });
        true
    }

    /// Forgets the SYN held for `key`: an outbound SYN claimed the connection.
    pub(crate) fn claim(&mut self, key: &FlowKey<Ipv4Addr>) -> bool {
        for s in &mut self.slots {
            if s.is_some_and(|h| h.key == *key) {
                *s = None;
                return true;
            }
        }
        false
    }

    /// Takes one SYN whose hold ran out at `now`, copying its bytes into `out`; returns their
    /// length.
    pub(crate) fn take_due(&mut self, now: Instant, out: &mut [u8]) -> Option<usize> {
        let slot = self
            .slots
            .iter_mut()
            .find(|s| s.is_some_and(|h| h.until <= now))?;
        let h = slot.take()?;
        let len = usize::from(h.len).min(out.len());
        out[..len].copy_from_slice(&h.bytes[..len]);
        Some(len)
    }

    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.slots.iter().flatten().map(|h| h.until).min()
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.iter().flatten().count()
    }
}
