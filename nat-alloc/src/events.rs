//! Allocation events for translation logs, in a bounded queue the caller drains.
//!
//! draft-nishitani-cgn § 6.1 and [RFC 6888 § 4] ask for logs that tie an outside address and
//! port at a time to a subscriber; [RFC 7269 § 5.1] shows that logging per session costs
//! terabytes, and that logging per block of ports ("bulk port allocation") cuts the volume by
//! about a thousand. An allocator therefore reports *allocation* events (a block, or a single
//! port in per-port mode) rather than sessions, plus exhaustion events for the management
//! system ([RFC 6888] REQ-11c). The queue never grows: when it is full, new events are counted
//! as overflowed and dropped, and the caller sees the count.
//!
//! [RFC 6888 § 4]: https://www.rfc-editor.org/rfc/rfc6888#section-4
//! [RFC 6888]: https://www.rfc-editor.org/rfc/rfc6888#section-3
//! [RFC 7269 § 5.1]: https://www.rfc-editor.org/rfc/rfc7269#section-5.1

use core::net::Ipv4Addr;

use nat_core::flow::L4Proto;
use nat_core::time::Instant;

use crate::blocks::BlockLayout;

/// Something a translation log or a management system should hear about
/// (draft-nishitani-cgn § 6.1, [RFC 7269 § 5.1], [RFC 6888] REQ-11c).
///
/// [RFC 7269 § 5.1]: https://www.rfc-editor.org/rfc/rfc7269#section-5.1
/// [RFC 6888]: https://www.rfc-editor.org/rfc/rfc6888#section-3
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AllocEvent<I> {
    /// Ports `first_port..first_port + len` of `outside` now belong to `subscriber`. In
    /// per-port mode `len` is 1 and `proto` is set; a block covers all protocols (`None`).
    /// For scattered blocks the ports are those of
    /// [`BlockAllocator::block_ports`](crate::BlockAllocator::block_ports).
    BlockAllocated {
        /// When.
        at: Instant,
        /// The subscriber (its address or prefix).
        subscriber: I,
        /// The outside address.
        outside: Ipv4Addr,
        /// First port (first logical port for scattered blocks).
        first_port: u16,
        /// Number of ports.
        len: u16,
        /// The protocol, when the allocation is for one protocol.
        proto: Option<L4Proto>,
        /// How the ports lie: for a scattered block, `first_port..first_port + len` are
        /// logical ports, which the allocator's keyed permutation maps to real ones.
        layout: BlockLayout,
    },
    /// The ports of a previous `BlockAllocated` are no longer the subscriber's (they enter
    /// the [RFC 6888] REQ-8 hold-down).
    BlockFreed {
        /// When.
        at: Instant,
        /// The subscriber (its address or prefix).
        subscriber: I,
        /// The outside address.
        outside: Ipv4Addr,
        /// First port (first logical port for scattered blocks).
        first_port: u16,
        /// Number of ports.
        len: u16,
        /// The protocol, when the allocation was for one protocol.
        proto: Option<L4Proto>,
        /// How the ports lie (as in `BlockAllocated`).
        layout: BlockLayout,
    },
    /// The subscriber reached its quota for `proto` (draft-nishitani-cgn REQ-2c/3c/4c); sent
    /// once until the subscriber frees a port.
    QuotaExhausted {
        /// When.
        at: Instant,
        /// The subscriber (its address or prefix).
        subscriber: I,
        /// The protocol.
        proto: L4Proto,
    },
    /// No outside port was left for the subscriber ([RFC 6888] REQ-11); sent once until the
    /// subscriber frees a port.
    PoolExhausted {
        /// When.
        at: Instant,
        /// The subscriber (its address or prefix).
        subscriber: I,
        /// The protocol.
        proto: L4Proto,
    },
}

/// A bounded FIFO of [`AllocEvent`]s over caller storage (`&mut [Option<AllocEvent<I>>]`), for
/// the translation log (draft-nishitani-cgn § 6.1, RFC 7269 § 5.1).
///
/// It drops and counts events when full ([`overflowed`](Self::overflowed)), never grows, and
/// a zero-length storage turns logging off.
#[derive(Debug)]
pub struct EventQueue<'a, I> {
    buf: &'a mut [Option<AllocEvent<I>>],
    head: usize,
    len: usize,
    overflowed: u64,
    pushed: u64,
}

impl<'a, I: Copy> EventQueue<'a, I> {
    /// A queue over `buf` (cleared).
    pub fn new(buf: &'a mut [Option<AllocEvent<I>>]) -> Self {
        buf.fill(None);
        EventQueue {
            buf,
            head: 0,
            len: 0,
            overflowed: 0,
            pushed: 0,
        }
    }

    /// Appends `e`, or counts it as overflowed when the queue is full.
    pub(crate) fn push(&mut self, e: AllocEvent<I>) {
        self.pushed += 1;
        let cap = self.buf.len();
        if self.len == cap {
            self.overflowed += 1;
            return;
        }
        let mut i = self.head + self.len;
        if i >= cap {
            i -= cap;
        }
        self.buf[i] = Some(e);
        self.len += 1;
    }

    /// Takes the oldest event.
    pub fn pop(&mut self) -> Option<AllocEvent<I>> {
        if self.len == 0 {
            return None;
        }
        let e = self.buf[self.head].take();
        self.head += 1;
        if self.head == self.buf.len() {
            self.head = 0;
        }
        self.len -= 1;
        e
    }

    /// Events waiting.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no event waits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Events dropped because the queue was full.
    pub fn overflowed(&self) -> u64 {
        self.overflowed
    }

    /// Events produced since creation, queued or dropped: what the log volume would be.
    pub fn produced(&self) -> u64 {
        self.pushed
    }
}

impl<I: Copy> Iterator for EventQueue<'_, I> {
    type Item = AllocEvent<I>;
    /// Drains the queue, oldest first.
    fn next(&mut self) -> Option<AllocEvent<I>> {
        self.pop()
    }
}

/// Counters of an allocator, for the operator's dashboards ([RFC 6888] REQ-10, REQ-11).
///
/// [RFC 6888]: https://www.rfc-editor.org/rfc/rfc6888#section-3
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct AllocStats {
    /// Outside endpoints handed out by `allocate` or `reserve`.
    pub allocated: u64,
    /// Outside endpoints given back by `release`.
    pub released: u64,
    /// Releases ignored: not in the pool, not in use, or not the caller's subscriber's.
    pub ignored_releases: u64,
    /// Requests refused for quota (draft-nishitani-cgn REQ-2c/3c/4c).
    pub quota_rejections: u64,
    /// Requests refused for lack of ports, blocks or subscriber records.
    pub pool_rejections: u64,
    /// Sessions refused by the rate limit (REQ-3e) or the session cap.
    pub session_rejections: u64,
    /// Ports or blocks let out of hold-down early because its configured capacity was reached
    /// ([RFC 6888] REQ-8).
    pub hold_down_evictions: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(n: u8) -> AllocEvent<Ipv4Addr> {
        AllocEvent::QuotaExhausted {
            at: Instant::from_secs(u64::from(n)),
            subscriber: Ipv4Addr::new(10, 0, 0, n),
            proto: L4Proto::Udp,
        }
    }

    #[test]
    fn bounded_fifo_counts_overflow() {
        let mut buf = [None; 3];
        let mut q = EventQueue::new(&mut buf);
        for n in 0..5 {
            q.push(ev(n));
        }
        assert_eq!((q.len(), q.overflowed(), q.produced()), (3, 2, 5));
        assert_eq!(q.pop(), Some(ev(0)));
        q.push(ev(9));
        let rest: [_; 3] = core::array::from_fn(|_| q.pop());
        assert_eq!(rest, [Some(ev(1)), Some(ev(2)), Some(ev(9))]);
        assert!(q.is_empty());
        let mut none: [Option<AllocEvent<Ipv4Addr>>; 0] = [];
        let mut off = EventQueue::new(&mut none);
        off.push(ev(1));
        assert_eq!((off.len(), off.overflowed()), (0, 1));
    }
}
