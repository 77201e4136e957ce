//! Packets held for a while before the translator decides what to answer: the unsolicited
//! inbound SYNs of [RFC 5382] REQ-4 (NAT44) and the stored V4 SYNs of [RFC 6146 § 3.5.2.2]
//! (NAT64). A SYN of the other side for the same connection claims a held one (simultaneous
//! open); otherwise, once its time is up, the translator answers it. Memory is `H` slots of at
//! most `B` bytes each, whatever the rate of SYNs; when they are full, further SYNs are dropped.
//!
//! [RFC 5382]: https://www.rfc-editor.org/rfc/rfc5382
//! [RFC 6146 § 3.5.2.2]: https://www.rfc-editor.org/rfc/rfc6146#section-3.5.2.2

use crate::flow::FlowKey;
use crate::time::Instant;
use core::net::Ipv4Addr;

#[derive(Clone, Copy, Debug)]
struct Held<T, const B: usize> {
    key: FlowKey<Ipv4Addr>,
    until: Instant,
    tag: T,
    len: u16,
    bytes: [u8; B],
}

/// Up to `H` held packets of at most `B` bytes, each under its key (as it arrived from the
/// outside) with a tag `T` the translator keeps with it.
#[derive(Clone, Debug)]
pub(crate) struct HeldPackets<T, const H: usize, const B: usize> {
    slots: [Option<Held<T, B>>; H],
}

impl<T: Copy, const H: usize, const B: usize> HeldPackets<T, H, B> {
    pub(crate) const fn new() -> Self {
        HeldPackets { slots: [None; H] }
    }

    /// Holds `pkt` (its first `B` bytes) under `key` until `until`; `false` when full. A
    /// retransmission of a held packet keeps the first one's deadline.
    pub(crate) fn hold(
        &mut self,
        key: FlowKey<Ipv4Addr>,
        pkt: &[u8],
        tag: T,
        until: Instant,
    ) -> bool {
        if self.slots.iter().flatten().any(|h| h.key == key) {
            return true;
        }
        let Some(slot) = self.slots.iter_mut().find(|s| s.is_none()) else {
            return false;
        };
        let len = pkt.len().min(B);
        let mut bytes = [0; B];
        bytes[..len].copy_from_slice(&pkt[..len]);
        *slot = Some(Held {
            key,
            until,
            tag,
            len: len as u16,
            bytes,
        });
        true
    }

    /// Forgets the packet held for `key`: the other side's SYN claimed the connection.
    pub(crate) fn claim(&mut self, key: &FlowKey<Ipv4Addr>) -> bool {
        for s in &mut self.slots {
            if s.is_some_and(|h| h.key == *key) {
                *s = None;
                return true;
            }
        }
        false
    }

    /// Takes one packet whose time ran out at `now`, copying its bytes into `out`; returns
    /// their length and its tag.
    pub(crate) fn take_due(&mut self, now: Instant, out: &mut [u8]) -> Option<(usize, T)> {
        let slot = self
            .slots
            .iter_mut()
            .find(|s| s.is_some_and(|h| h.until <= now))?;
        let h = slot.take()?;
        let len = usize::from(h.len).min(out.len());
        out[..len].copy_from_slice(&h.bytes[..len]);
        Some((len, h.tag))
    }

    /// When the next held packet's time runs out.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.slots.iter().flatten().map(|h| h.until).min()
    }

    /// Packets held.
    pub(crate) fn len(&self) -> usize {
        self.slots.iter().flatten().count()
    }
}
