//! Events a stateful translator emits for translation logs: bindings and sessions created and
//! deleted, with the fields of draft-nishitani-cgn § 6.1 (timestamp, untranslated and translated
//! source address and port, destination address and port) and the protocol. The core only
//! queues them; the runtime writes them.

use crate::flow::{Endpoint, L4Proto};
use crate::time::Instant;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventKind {
    /// A binding (BIB entry, mapping) was created.
    MappingCreated,
    /// A binding was deleted.
    MappingDeleted,
    /// A session was created.
    SessionCreated,
    /// A session was deleted.
    SessionDeleted,
    /// A subscriber was refused a mapping because its quota is used up.
    QuotaExhausted,
    /// A mapping could not be made because the pool is exhausted.
    PoolExhausted,
}

/// One event, in the terms of draft-nishitani-cgn § 6.1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event<I, O> {
    /// When.
    pub time: Instant,
    /// What.
    pub kind: EventKind,
    /// Transport protocol.
    pub proto: L4Proto,
    /// Untranslated source (the inside endpoint).
    pub inside: Endpoint<I>,
    /// Translated source (the outside endpoint); unspecified when none was given.
    pub outside: Endpoint<O>,
    /// Destination (for session events and refusals; unspecified for bindings).
    pub remote: Endpoint<O>,
}

/// A bounded queue of events: when the runtime falls behind, new events are counted as lost
/// rather than grow memory.
#[derive(Clone, Debug)]
pub struct EventQueue<I, O, const N: usize> {
    queue: heapless::Deque<Event<I, O>, N>,
    lost: u64,
}

impl<I, O, const N: usize> Default for EventQueue<I, O, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<I, O, const N: usize> EventQueue<I, O, N> {
    /// An empty queue.
    pub const fn new() -> Self {
        EventQueue {
            queue: heapless::Deque::new(),
            lost: 0,
        }
    }

    /// Queues an event, or counts it lost if the queue is full.
    pub fn push(&mut self, e: Event<I, O>) {
        if self.queue.push_back(e).is_err() {
            self.lost += 1;
        }
    }

    /// Takes the oldest event.
    pub fn pop(&mut self) -> Option<Event<I, O>> {
        self.queue.pop_front()
    }

    /// Events lost to a full queue since creation.
    pub const fn lost(&self) -> u64 {
        self.lost
    }

    /// Events waiting.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether no event waits.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}
