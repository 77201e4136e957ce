//! State: the binding table (BIB) and session table of [RFC 6146 § 3], the one model every
//! stateful translator of the library uses.
//!
//! A [`BibEntry`] binds an inside endpoint X:x to an outside endpoint X':x' (for
//! address-dependent or address-and-port-dependent mapping, per projected remote endpoint, so
//! that one table design serves all three mapping behaviours of [RFC 4787 § 4.1]). A
//! [`SessionEntry`] is one flow through a binding: it adds the remote endpoint, as the inside
//! sees it (Y':y) and as the outside sees it (Z:z), the TCP state and the expiry time. Filtering
//! is then a session lookup.
//!
//! The store is a trait so that the caller chooses the memory: [`FixedStore`] here needs no heap
//! and has a capacity fixed at compile time; `nat-std` offers one for tens of millions of
//! sessions. Lookups on the packet path take a hash computed beforehand ([`SessionStore::hash_inside`]),
//! so that a burst of packets can be hashed first, their slots prefetched
//! ([`SessionStore::prefetch`]), and then translated, overlapping the cache misses. Expiry is
//! driven by `now` through [`SessionStore::pop_expired`] and costs O(expired), never a table scan.
//!
//! [RFC 6146 § 3]: https://www.rfc-editor.org/rfc/rfc6146#section-3
//! [RFC 4787 § 4.1]: https://www.rfc-editor.org/rfc/rfc4787#section-4.1

mod fixed;
mod hash;
pub(crate) mod index;
#[cfg(feature = "std")]
pub mod model;
mod wheel;

pub use fixed::FixedStore;
pub use hash::{FlowHasher, FlowHasherState};
pub use wheel::{Link, MAX_ENTRIES, TICK_MS, TimerWheel, WHEEL_SLOTS, WheelLinks};

use crate::flow::{Endpoint, FlowKey, IpAddress, L4Proto};
use crate::time::Instant;
use crate::verdict::Direction;

/// A handle to a session in a store. Stale after the session is removed: lookups through a
/// stale handle return `None` or an entry reused since, never panic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionRef(pub u32);

/// A handle to a binding in a store, with the same staleness rule as [`SessionRef`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BibRef(pub u32);

/// The key under which a binding is found from the inside: protocol, inside endpoint, and the
/// projection of the remote endpoint that the mapping behaviour keeps (unspecified address and
/// port 0 for endpoint-independent mapping).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BibKey<I, O> {
    /// Transport protocol.
    pub proto: L4Proto,
    /// The inside endpoint X:x.
    pub inside: Endpoint<I>,
    /// The projected remote endpoint (see [RFC 4787 § 4.1]).
    ///
    /// [RFC 4787 § 4.1]: https://www.rfc-editor.org/rfc/rfc4787#section-4.1
    pub remote: Endpoint<O>,
}

/// A binding: inside endpoint ↔ outside endpoint ([RFC 6146 § 3.1]).
///
/// [RFC 6146 § 3.1]: https://www.rfc-editor.org/rfc/rfc6146#section-3.1
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BibEntry<I, O> {
    /// The inside lookup key (protocol, inside endpoint, projected remote).
    pub key: BibKey<I, O>,
    /// The outside endpoint X':x'.
    pub outside: Endpoint<O>,
    /// A static (configured) binding: never removed when its last session ends.
    pub is_static: bool,
    /// How many sessions use the binding; maintained by the store.
    pub sessions: u32,
}

/// A session: one flow through a binding ([RFC 6146 § 3.2]).
///
/// [RFC 6146 § 3.2]: https://www.rfc-editor.org/rfc/rfc6146#section-3.2
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionEntry<I, O> {
    /// The binding the session belongs to.
    pub bib: BibRef,
    /// Transport protocol.
    pub proto: L4Proto,
    /// The inside endpoint X:x.
    pub inside: Endpoint<I>,
    /// The outside endpoint X':x' of its binding.
    pub outside: Endpoint<O>,
    /// The remote endpoint as inside packets address it (Y':y).
    pub remote_in: Endpoint<I>,
    /// The remote endpoint as outside packets come from it (Z:z).
    pub remote_out: Endpoint<O>,
    /// The translator's state for the flow (TCP state machine; free for other protocols).
    pub state: u8,
    /// A value the translator keeps with the session (e.g. the LSNAT server it is bound to).
    pub tag: u32,
    /// When the session expires unless refreshed.
    pub expires: Instant,
}

impl<I: IpAddress, O: IpAddress> SessionEntry<I, O> {
    /// The key of the session's packets from the inside (X:x → Y':y).
    pub const fn inside_key(&self) -> FlowKey<I> {
        FlowKey::new(self.proto, self.inside, self.remote_in)
    }

    /// The key of the session's packets from the outside (Z:z → X':x').
    pub const fn outside_key(&self) -> FlowKey<O> {
        FlowKey::new(self.proto, self.remote_out, self.outside)
    }
}

/// Why a store refused a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreError {
    /// No room for another entry: capacity is fixed by configuration.
    Full,
    /// The handle does not name a live entry.
    Stale,
    /// A binding still has sessions and cannot be removed.
    InUse,
}

impl core::fmt::Display for StoreError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            StoreError::Full => "table full",
            StoreError::Stale => "stale handle",
            StoreError::InUse => "binding in use",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for StoreError {}

/// The binding and session tables of a stateful translator between inside family `I` and
/// outside family `O`.
///
/// Implementations keep two indexes per table (inside key and outside key) and a timer
/// structure for expiry. The caller must not insert a session or binding whose key is already
/// present (translators look up before they insert). Every method is O(1) except where noted.
pub trait SessionStore<I: IpAddress, O: IpAddress> {
    /// The hash of an inside session key, for [`find_inside`](Self::find_inside).
    fn hash_inside(&self, key: &FlowKey<I>) -> u64;
    /// The hash of an outside session key, for [`find_outside`](Self::find_outside).
    fn hash_outside(&self, key: &FlowKey<O>) -> u64;
    /// Hints that a lookup with `hash` is coming from `dir` (outbound packets look up the
    /// inside index, inbound ones the outside index), so the store can start loading its slot.
    /// A no-op where the store cannot.
    #[inline]
    fn prefetch(&self, dir: Direction, hash: u64) {
        let _ = (dir, hash);
    }

    /// The session whose inside key is `key` (`hash` from [`hash_inside`](Self::hash_inside)).
    fn find_inside(&self, hash: u64, key: &FlowKey<I>) -> Option<SessionRef>;
    /// The session whose outside key is `key` (`hash` from [`hash_outside`](Self::hash_outside)).
    fn find_outside(&self, hash: u64, key: &FlowKey<O>) -> Option<SessionRef>;
    /// A live session, by value: a store may keep a packed record and rebuild the entry.
    fn session(&self, s: SessionRef) -> Option<SessionEntry<I, O>>;
    /// Sets a session's state and expiry: the refresh on the packet path.
    fn update(&mut self, s: SessionRef, state: u8, expires: Instant) -> Result<(), StoreError>;
    /// Adds a session to its binding (whose session count goes up).
    fn insert_session(&mut self, entry: SessionEntry<I, O>) -> Result<SessionRef, StoreError>;
    /// Removes a session; its binding's count goes down but the binding stays (the translator
    /// decides whether to remove it).
    fn remove_session(&mut self, s: SessionRef) -> Option<SessionEntry<I, O>>;

    /// The binding found from the inside.
    fn find_bib_inside(&self, key: &BibKey<I, O>) -> Option<BibRef>;
    /// The binding of an outside endpoint.
    fn find_bib_outside(&self, proto: L4Proto, outside: &Endpoint<O>) -> Option<BibRef>;
    /// A live binding, by value (as [`session`](Self::session)).
    fn bib(&self, b: BibRef) -> Option<BibEntry<I, O>>;
    /// Adds a binding (its session count starts at 0).
    fn insert_bib(&mut self, entry: BibEntry<I, O>) -> Result<BibRef, StoreError>;
    /// Removes a binding that has no sessions left.
    fn remove_bib(&mut self, b: BibRef) -> Result<BibEntry<I, O>, StoreError>;
    /// Visits the sessions of a binding until `visit` returns `false`; O(sessions of the
    /// binding). Used by address-dependent filtering and by binding removal.
    fn bib_sessions(&self, b: BibRef, visit: impl FnMut(SessionRef, &SessionEntry<I, O>) -> bool);

    /// The earliest time at which [`pop_expired`](Self::pop_expired) may return a session
    /// (a lower bound: the caller may call earlier and get nothing).
    fn next_expiry(&self) -> Option<Instant>;
    /// Removes and returns one session whose expiry is at or before `now`, if any. Draining all
    /// expired sessions costs O(expired + ticks elapsed), never a scan of the table.
    fn pop_expired(&mut self, now: Instant) -> Option<(SessionRef, SessionEntry<I, O>)>;

    /// Live sessions.
    fn session_count(&self) -> usize;
    /// Live bindings.
    fn bib_count(&self) -> usize;
}

/// Forwards the store trait through a pointer type, so a translator can own a `&mut` to a
/// store in a `static` (firmware) or a `Box` (a large store off the stack).
macro_rules! forward_store {
    ($($ptr:tt)*) => {
        impl<I: IpAddress, O: IpAddress, S: SessionStore<I, O> + ?Sized> SessionStore<I, O> for $($ptr)* {
            #[inline]
            fn hash_inside(&self, key: &FlowKey<I>) -> u64 { (**self).hash_inside(key) }
            #[inline]
            fn hash_outside(&self, key: &FlowKey<O>) -> u64 { (**self).hash_outside(key) }
            #[inline]
            fn prefetch(&self, dir: Direction, hash: u64) { (**self).prefetch(dir, hash) }
            #[inline]
            fn find_inside(&self, hash: u64, key: &FlowKey<I>) -> Option<SessionRef> { (**self).find_inside(hash, key) }
            #[inline]
            fn find_outside(&self, hash: u64, key: &FlowKey<O>) -> Option<SessionRef> { (**self).find_outside(hash, key) }
            #[inline]
            fn session(&self, s: SessionRef) -> Option<SessionEntry<I, O>> { (**self).session(s) }
            #[inline]
            fn update(&mut self, s: SessionRef, state: u8, expires: Instant) -> Result<(), StoreError> { (**self).update(s, state, expires) }
            fn insert_session(&mut self, entry: SessionEntry<I, O>) -> Result<SessionRef, StoreError> { (**self).insert_session(entry) }
            fn remove_session(&mut self, s: SessionRef) -> Option<SessionEntry<I, O>> { (**self).remove_session(s) }
            fn find_bib_inside(&self, key: &BibKey<I, O>) -> Option<BibRef> { (**self).find_bib_inside(key) }
            fn find_bib_outside(&self, proto: L4Proto, outside: &Endpoint<O>) -> Option<BibRef> { (**self).find_bib_outside(proto, outside) }
            fn bib(&self, b: BibRef) -> Option<BibEntry<I, O>> { (**self).bib(b) }
            fn insert_bib(&mut self, entry: BibEntry<I, O>) -> Result<BibRef, StoreError> { (**self).insert_bib(entry) }
            fn remove_bib(&mut self, b: BibRef) -> Result<BibEntry<I, O>, StoreError> { (**self).remove_bib(b) }
            fn bib_sessions(&self, b: BibRef, visit: impl FnMut(SessionRef, &SessionEntry<I, O>) -> bool) { (**self).bib_sessions(b, visit) }
            fn next_expiry(&self) -> Option<Instant> { (**self).next_expiry() }
            fn pop_expired(&mut self, now: Instant) -> Option<(SessionRef, SessionEntry<I, O>)> { (**self).pop_expired(now) }
            fn session_count(&self) -> usize { (**self).session_count() }
            fn bib_count(&self) -> usize { (**self).bib_count() }
        }
    };
}

forward_store!(&mut S);
#[cfg(feature = "std")]
forward_store!(std::boxed::Box<S>);
