//! Events the runtime logs or acts upon: health transitions, drains and bindings.
//!
//! Health transitions happen inside calls that take `now` (a timer expiring inside `choose`, a
//! probe result), so they wait in a small fixed queue until drained with `poll_event`. Bindings
//! are the caller's own acts: `bind` and `unbind` return their event directly, and it is never
//! queued, so that a busy server cannot crowd a dead-server report out of the queue.

use crate::health::DeadCause;
use crate::server::ServerId;
use nat_core::time::Instant;

/// Something that happened to a server (draft-srisuresh-lsnat § 4, § 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LsnatEvent<A> {
    /// The server was declared dead: it takes no new session (draft-srisuresh-lsnat § 6).
    ServerDead {
        /// The server.
        server: ServerId,
        /// Its address.
        addr: A,
        /// Why.
        cause: DeadCause,
        /// When.
        at: Instant,
    },
    /// The pause after death ended: the server may take a trial session
    /// (draft-srisuresh-lsnat § 6).
    ServerRetrying {
        /// The server.
        server: ServerId,
        /// Its address.
        addr: A,
        /// When.
        at: Instant,
    },
    /// The server answered again and takes new sessions (draft-srisuresh-lsnat § 6).
    ServerAlive {
        /// The server.
        server: ServerId,
        /// Its address.
        addr: A,
        /// When.
        at: Instant,
    },
    /// A draining server's last session ended: it can be removed (draft-srisuresh-lsnat § 4.3).
    ServerDrained {
        /// The server.
        server: ServerId,
        /// Its address.
        addr: A,
        /// When.
        at: Instant,
    },
    /// A session was bound to the server (draft-srisuresh-lsnat § 4.1). Returned by `bind`.
    Bound {
        /// The server.
        server: ServerId,
        /// Sessions bound to it now.
        sessions: u32,
    },
    /// A session was unbound from the server (draft-srisuresh-lsnat § 4.3). Returned by `unbind`.
    Unbound {
        /// The server.
        server: ServerId,
        /// Sessions bound to it now.
        sessions: u32,
    },
}

/// Capacity of the event queue of a pool; when full the oldest event is dropped and counted
/// (draft-srisuresh-lsnat § 6).
pub const EVENT_QUEUE_LEN: usize = 32;

/// A bounded FIFO of events; when full, the oldest event is dropped and counted.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EventQueue<A> {
    ring: [Option<LsnatEvent<A>>; EVENT_QUEUE_LEN],
    head: usize,
    len: usize,
    dropped: u64,
}

impl<A: Copy> EventQueue<A> {
    pub(crate) const fn new() -> Self {
        EventQueue {
            ring: [None; EVENT_QUEUE_LEN],
            head: 0,
            len: 0,
            dropped: 0,
        }
    }

    pub(crate) fn push(&mut self, event: LsnatEvent<A>) {
        if self.len == EVENT_QUEUE_LEN {
            self.head = (self.head + 1) % EVENT_QUEUE_LEN;
            self.len -= 1;
            self.dropped = self.dropped.saturating_add(1);
        }
        let tail = (self.head + self.len) % EVENT_QUEUE_LEN;
        if let Some(slot) = self.ring.get_mut(tail) {
            *slot = Some(event);
            self.len += 1;
        }
    }

    pub(crate) fn pop(&mut self) -> Option<LsnatEvent<A>> {
        if self.len == 0 {
            return None;
        }
        let event = self.ring.get_mut(self.head).and_then(Option::take);
        self.head = (self.head + 1) % EVENT_QUEUE_LEN;
        self.len -= 1;
        event
    }

    pub(crate) const fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(n: u32) -> LsnatEvent<u8> {
        LsnatEvent::Bound {
            server: ServerId::from_parts(0, 0),
            sessions: n,
        }
    }

    #[test]
    fn events_come_out_in_order() {
        let mut q = EventQueue::new();
        q.push(ev(1));
        q.push(ev(2));
        assert_eq!(q.pop(), Some(ev(1)));
        assert_eq!(q.pop(), Some(ev(2)));
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn full_queue_drops_oldest_and_counts() {
        let mut q = EventQueue::new();
        for n in 0..(EVENT_QUEUE_LEN as u32 + 3) {
            q.push(ev(n));
        }
        assert_eq!(q.dropped(), 3);
        assert_eq!(q.pop(), Some(ev(3)));
        let mut rest = 0;
        while q.pop().is_some() {
            rest += 1;
        }
        assert_eq!(rest, EVENT_QUEUE_LEN - 1);
    }
}
