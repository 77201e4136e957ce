//! A session store of fixed capacity that needs no heap: for firmware, tests and small boxes.

use super::index::Index;
use super::wheel::{Link, MAX_ENTRIES, TimerWheel, WheelLinks};
use super::{
    BibEntry, BibKey, BibRef, FlowHasher, SessionEntry, SessionRef, SessionStore, StoreError,
};
use crate::flow::{Endpoint, FlowKey, IpAddress, L4Proto};
use crate::time::Instant;
use crate::verdict::Direction;

const NIL: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
struct SessionSlot<I, O> {
    entry: SessionEntry<I, O>,
    link: Link,
    next_in_bib: u32,
}

#[derive(Clone, Copy, Debug)]
struct BibSlot<I, O> {
    entry: BibEntry<I, O>,
    first_session: u32,
}

/// Free ids of one table: a stack of freed ids over a high-water mark, so that creating the
/// store costs O(1) whatever its capacity.
#[derive(Clone, Debug)]
struct FreeIds<const N: usize> {
    freed: heapless::Vec<u32, N>,
    fresh: u32,
}

impl<const N: usize> FreeIds<N> {
    const fn new() -> Self {
        FreeIds {
            freed: heapless::Vec::new(),
            fresh: 0,
        }
    }

    fn take(&mut self) -> Option<u32> {
        if let Some(id) = self.freed.pop() {
            return Some(id);
        }
        ((self.fresh as usize) < N).then(|| {
            self.fresh += 1;
            self.fresh - 1
        })
    }

    fn give(&mut self, id: u32) {
        // Each id is given back once, so the stack never holds more than N.
        let _ = self.freed.push(id);
    }
}

/// A [`SessionStore`] holding at most `N` sessions and `N` bindings in arrays, with open
/// addressing indexes at load factor ≤ ½ and a [`TimerWheel`] for expiry.
///
/// Memory is `size_of::<FixedStore<I, O, N>>()`, fixed at compile time: about 170 bytes per
/// unit of `N` for NAT44 (176 measured by the `memory_per_entry_is_bounded` test). Put a large one in a `static` or a `Box`, not on
/// the stack.
#[derive(Clone, Debug)]
pub struct FixedStore<I, O, const N: usize> {
    hasher: FlowHasher,
    sessions: [Option<SessionSlot<I, O>>; N],
    bibs: [Option<BibSlot<I, O>>; N],
    free_sessions: FreeIds<N>,
    free_bibs: FreeIds<N>,
    by_inside: Index<N>,
    by_outside: Index<N>,
    bib_by_inside: Index<N>,
    bib_by_outside: Index<N>,
    wheel: TimerWheel,
    session_count: usize,
    bib_count: usize,
}

struct Links<'a, I, O, const N: usize>(&'a mut [Option<SessionSlot<I, O>>; N]);

impl<I, O, const N: usize> WheelLinks for Links<'_, I, O, N> {
    fn link_mut(&mut self, id: u32) -> Option<&mut Link> {
        self.0
            .get_mut(id as usize)?
            .as_mut()
            .map(|slot| &mut slot.link)
    }

    fn expires_ms(&self, id: u32) -> Option<u64> {
        self.0
            .get(id as usize)?
            .as_ref()
            .map(|slot| slot.entry.expires.as_millis())
    }
}

impl<I: IpAddress, O: IpAddress, const N: usize> FixedStore<I, O, N> {
    /// An empty store whose hashes are keyed by `seed` (from configuration).
    pub const fn new(seed: u64) -> Self {
        assert!(
            N <= MAX_ENTRIES as usize,
            "capacity must fit in the wheel's ids"
        );
        FixedStore {
            hasher: FlowHasher::new(seed),
            sessions: [const { None }; N],
            bibs: [const { None }; N],
            free_sessions: FreeIds::new(),
            free_bibs: FreeIds::new(),
            by_inside: Index::new(),
            by_outside: Index::new(),
            bib_by_inside: Index::new(),
            bib_by_outside: Index::new(),
            wheel: TimerWheel::new(),
            session_count: 0,
            bib_count: 0,
        }
    }

    /// The capacity `N`, for sessions and for bindings each.
    pub const fn capacity(&self) -> usize {
        N
    }

    fn hash_bib_inside(&self, key: &BibKey<I, O>) -> u64 {
        self.hasher.hash(key)
    }

    fn hash_bib_outside(&self, proto: L4Proto, outside: &Endpoint<O>) -> u64 {
        self.hasher.hash(&(proto, outside))
    }

    fn slot(&self, s: SessionRef) -> Option<&SessionSlot<I, O>> {
        self.sessions.get(s.0 as usize)?.as_ref()
    }
}

impl<I: IpAddress, O: IpAddress, const N: usize> SessionStore<I, O> for FixedStore<I, O, N> {
    #[inline]
    fn hash_inside(&self, key: &FlowKey<I>) -> u64 {
        self.hasher.hash(key)
    }

    #[inline]
    fn hash_outside(&self, key: &FlowKey<O>) -> u64 {
        self.hasher.hash(key)
    }

    #[inline]
    fn prefetch(&self, dir: Direction, hash: u64) {
        match dir {
            Direction::Outbound => self.by_inside.prefetch(hash),
            Direction::Inbound => self.by_outside.prefetch(hash),
        }
    }

    #[inline]
    fn find_inside(&self, hash: u64, key: &FlowKey<I>) -> Option<SessionRef> {
        let sessions = &self.sessions;
        self.by_inside
            .find(hash, |id| {
                matches!(sessions.get(id as usize), Some(Some(s)) if s.entry.inside_key() == *key)
            })
            .map(SessionRef)
    }

    #[inline]
    fn find_outside(&self, hash: u64, key: &FlowKey<O>) -> Option<SessionRef> {
        let sessions = &self.sessions;
        self.by_outside
            .find(hash, |id| {
                matches!(sessions.get(id as usize), Some(Some(s)) if s.entry.outside_key() == *key)
            })
            .map(SessionRef)
    }

    #[inline]
    fn session(&self, s: SessionRef) -> Option<SessionEntry<I, O>> {
        self.slot(s).map(|slot| slot.entry)
    }

    #[inline]
    fn update(&mut self, s: SessionRef, state: u8, expires: Instant) -> Result<(), StoreError> {
        let Some(Some(slot)) = self.sessions.get_mut(s.0 as usize) else {
            return Err(StoreError::Stale);
        };
        let old = core::mem::replace(&mut slot.entry.expires, expires);
        slot.entry.state = state;
        self.wheel.reschedule(
            &mut Links(&mut self.sessions),
            s.0,
            old.as_millis(),
            expires.as_millis(),
        );
        Ok(())
    }

    fn insert_session(&mut self, entry: SessionEntry<I, O>) -> Result<SessionRef, StoreError> {
        let bib_id = entry.bib.0;
        let Some(Some(bib)) = self.bibs.get(bib_id as usize) else {
            return Err(StoreError::Stale);
        };
        let first = bib.first_session;
        let id = self.free_sessions.take().ok_or(StoreError::Full)?;
        let (hi, ho) = (
            self.hash_inside(&entry.inside_key()),
            self.hash_outside(&entry.outside_key()),
        );
        self.sessions[id as usize] = Some(SessionSlot {
            entry,
            link: Link::UNLINKED,
            next_in_bib: first,
        });
        self.by_inside.insert(hi, id);
        self.by_outside.insert(ho, id);
        if let Some(Some(bib)) = self.bibs.get_mut(bib_id as usize) {
            bib.first_session = id;
            bib.entry.sessions += 1;
        }
        self.wheel.insert(
            &mut Links(&mut self.sessions),
            id,
            entry.expires.as_millis(),
        );
        self.session_count += 1;
        Ok(SessionRef(id))
    }

    fn remove_session(&mut self, s: SessionRef) -> Option<SessionEntry<I, O>> {
        let slot = *self.slot(s)?;
        let entry = slot.entry;
        self.wheel.remove(&mut Links(&mut self.sessions), s.0);
        self.by_inside
            .remove(self.hash_inside(&entry.inside_key()), s.0);
        self.by_outside
            .remove(self.hash_outside(&entry.outside_key()), s.0);
        // Unlink from the binding's session list.
        if let Some(Some(bib)) = self.bibs.get_mut(entry.bib.0 as usize) {
            bib.entry.sessions = bib.entry.sessions.saturating_sub(1);
            if bib.first_session == s.0 {
                bib.first_session = slot.next_in_bib;
            } else {
                let mut cur = bib.first_session;
                while let Some(Some(c)) = self.sessions.get(cur as usize) {
                    let next = c.next_in_bib;
                    if next == s.0 {
                        if let Some(Some(c)) = self.sessions.get_mut(cur as usize) {
                            c.next_in_bib = slot.next_in_bib;
                        }
                        break;
                    }
                    cur = next;
                }
            }
        }
        self.sessions[s.0 as usize] = None;
        self.free_sessions.give(s.0);
        self.session_count -= 1;
        Some(entry)
    }

    fn find_bib_inside(&self, key: &BibKey<I, O>) -> Option<BibRef> {
        let bibs = &self.bibs;
        self.bib_by_inside
            .find(
                self.hash_bib_inside(key),
                |id| matches!(bibs.get(id as usize), Some(Some(b)) if b.entry.key == *key),
            )
            .map(BibRef)
    }

    fn find_bib_outside(&self, proto: L4Proto, outside: &Endpoint<O>) -> Option<BibRef> {
        let bibs = &self.bibs;
        self.bib_by_outside
            .find(self.hash_bib_outside(proto, outside), |id| {
                matches!(bibs.get(id as usize),
                    Some(Some(b)) if b.entry.key.proto == proto && b.entry.outside == *outside)
            })
            .map(BibRef)
    }

    fn bib(&self, b: BibRef) -> Option<BibEntry<I, O>> {
        self.bibs.get(b.0 as usize)?.as_ref().map(|slot| slot.entry)
    }

    fn insert_bib(&mut self, mut entry: BibEntry<I, O>) -> Result<BibRef, StoreError> {
        let id = self.free_bibs.take().ok_or(StoreError::Full)?;
        entry.sessions = 0;
        self.bib_by_inside
            .insert(self.hash_bib_inside(&entry.key), id);
        self.bib_by_outside
            .insert(self.hash_bib_outside(entry.key.proto, &entry.outside), id);
        self.bibs[id as usize] = Some(BibSlot {
            entry,
            first_session: NIL,
        });
        self.bib_count += 1;
        Ok(BibRef(id))
    }

    fn remove_bib(&mut self, b: BibRef) -> Result<BibEntry<I, O>, StoreError> {
        let entry = self.bib(b).ok_or(StoreError::Stale)?;
        if entry.sessions > 0 {
            return Err(StoreError::InUse);
        }
        self.bib_by_inside
            .remove(self.hash_bib_inside(&entry.key), b.0);
        self.bib_by_outside
            .remove(self.hash_bib_outside(entry.key.proto, &entry.outside), b.0);
        self.bibs[b.0 as usize] = None;
        self.free_bibs.give(b.0);
        self.bib_count -= 1;
        Ok(entry)
    }

    fn bib_sessions(
        &self,
        b: BibRef,
        mut visit: impl FnMut(SessionRef, &SessionEntry<I, O>) -> bool,
    ) {
        let Some(Some(bib)) = self.bibs.get(b.0 as usize) else {
            return;
        };
        let mut cur = bib.first_session;
        while let Some(Some(s)) = self.sessions.get(cur as usize) {
            if !visit(SessionRef(cur), &s.entry) {
                return;
            }
            cur = s.next_in_bib;
        }
    }

    fn next_expiry(&self) -> Option<Instant> {
        self.wheel.next_due_ms().map(Instant::from_millis)
    }

    fn pop_expired(&mut self, now: Instant) -> Option<(SessionRef, SessionEntry<I, O>)> {
        let id = self
            .wheel
            .pop(&mut Links(&mut self.sessions), now.as_millis())?;
        let entry = self.remove_session(SessionRef(id))?;
        Some((SessionRef(id), entry))
    }

    fn session_count(&self) -> usize {
        self.session_count
    }

    fn bib_count(&self) -> usize {
        self.bib_count
    }
}
