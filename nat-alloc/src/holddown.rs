//! The hold-down of freed ports ([RFC 6888] REQ-8).
//!
//! "Once an external port is deallocated, it SHOULD NOT be reallocated to a new mapping until at
//! least 120 seconds have passed"; "the length of time and the maximum number of ports in this
//! state MUST be configurable". A freed port stays marked as used in its bitmap and enters a FIFO
//! ring; since every entry waits the same time, the ring is ordered by expiry and expiring N
//! ports costs O(N), with no scan. When the ring is full (the configured maximum), the oldest
//! entry is released early, and counted.
//!
//! [RFC 6888]: https://www.rfc-editor.org/rfc/rfc6888#section-3

use nat_core::flow::L4Proto;
use nat_core::time::{Duration, Instant};

/// One port waiting out its hold-down (storage element of the hold-down ring; [RFC 6888]
/// REQ-8).
///
/// [RFC 6888]: https://www.rfc-editor.org/rfc/rfc6888#section-3
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HoldSlot {
    expires: u64,
    addr: u32,
    port: u16,
    proto: u8,
}

impl HoldSlot {
    /// An unused slot, to fill the storage with.
    pub const EMPTY: HoldSlot = HoldSlot {
        expires: 0,
        addr: 0,
        port: 0,
        proto: 0,
    };

    /// The dense pool index of the address.
    pub(crate) fn addr(&self) -> u32 {
        self.addr
    }

    /// The port.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// The protocol.
    pub(crate) fn proto(&self) -> L4Proto {
        L4Proto::ALL[usize::from(self.proto).min(2)]
    }
}

/// The FIFO of ports in hold-down, over caller storage.
#[derive(Debug)]
pub(crate) struct HoldDown<'a> {
    ring: &'a mut [HoldSlot],
    head: usize,
    len: usize,
    cap: usize,
    duration_ms: u64,
    evicted: u64,
}

impl<'a> HoldDown<'a> {
    /// A ring over the first `cap` slots of `ring`, holding ports for `duration`.
    pub(crate) fn new(ring: &'a mut [HoldSlot], cap: usize, duration: Duration) -> Self {
        let cap = cap.min(ring.len());
        HoldDown {
            ring,
            head: 0,
            len: 0,
            cap,
            duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
            evicted: 0,
        }
    }

    /// Whether released ports are held at all.
    pub(crate) fn enabled(&self) -> bool {
        self.duration_ms > 0 && self.cap > 0
    }

    /// Ports in hold-down now.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Ports released before their time because the ring was full.
    pub(crate) fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Puts a freed port on hold from `now`; returns the entry evicted to make room, which
    /// the caller must free at once.
    #[inline(always)]
    pub(crate) fn push(
        &mut self,
        now: Instant,
        addr: u32,
        proto: L4Proto,
        port: u16,
    ) -> Option<HoldSlot> {
        if self.cap == 0 {
            return None;
        }
        let evicted = if self.len == self.cap {
            self.evicted += 1;
            self.pop_front()
        } else {
            None
        };
        let mut i = self.head + self.len;
        if i >= self.cap {
            i -= self.cap;
        }
        self.ring[i] = HoldSlot {
            expires: now.as_millis().saturating_add(self.duration_ms),
            addr,
            port,
            proto: proto.index() as u8,
        };
        self.len += 1;
        evicted
    }

    fn pop_front(&mut self) -> Option<HoldSlot> {
        if self.len == 0 {
            return None;
        }
        let e = self.ring[self.head];
        self.head += 1;
        if self.head == self.cap {
            self.head = 0;
        }
        self.len -= 1;
        Some(e)
    }

    /// When the oldest hold-down ends.
    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        (self.len > 0).then(|| Instant::from_millis(self.ring[self.head].expires))
    }

    /// Whether the oldest hold-down is over at `now`.
    #[inline]
    pub(crate) fn is_due(&self, now: Instant) -> bool {
        self.len > 0 && self.ring[self.head].expires <= now.as_millis()
    }

    /// The oldest entry if its hold-down is over at `now`.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<HoldSlot> {
        if self.is_due(now) {
            self.pop_front()
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_expiry_and_eviction() {
        let mut ring = [HoldSlot::EMPTY; 4];
        let mut h = HoldDown::new(&mut ring, 3, Duration::from_secs(120));
        let t = Instant::from_secs(10);
        for p in 0..3u16 {
            assert!(
                h.push(t + Duration::from_secs(u64::from(p)), 0, L4Proto::Udp, p)
                    .is_none()
            );
        }
        let ev = h
            .push(t + Duration::from_secs(5), 0, L4Proto::Udp, 9)
            .unwrap();
        assert_eq!((ev.port(), h.evicted(), h.len()), (0, 1, 3));
        assert!(h.pop_expired(Instant::from_secs(130)).is_none());
        assert_eq!(
            h.pop_expired(Instant::from_secs(131)).map(|e| e.port()),
            Some(1)
        );
        assert!(h.pop_expired(Instant::from_secs(131)).is_none());
    }
}
