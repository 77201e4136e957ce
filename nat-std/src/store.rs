//! A session store for tens of millions of sessions: slabs in `Vec`s, two `hashbrown` index
//! tables per table (inside key and outside key), and the timer wheel of `nat-core`, so that
//! expiring N sessions costs O(N) and never a scan.
//!
//! Memory is bounded by the configured capacity, never by what the network sends: an insert
//! past it is [`StoreError::Full`]. The bytes a session costs are measured by the
//! `bytes_per_session` test and the scale bench (BENCHMARKS.md).

use hashbrown::HashTable;
use nat_core::flow::{Endpoint, FlowKey, IpAddress, L4Proto};
use nat_core::session::{
    BibEntry, BibKey, BibRef, FlowHasher, Link, SessionEntry, SessionRef, SessionStore, StoreError,
    TimerWheel, WheelLinks,
};
use nat_core::time::Instant;
use nat_core::verdict::Direction;

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

/// A slab: entries addressed by `u32` ids, freed ids reused first.
#[derive(Debug)]
struct Slab<T> {
    slots: Vec<Option<T>>,
    free: Vec<u32>,
    len: usize,
    cap: usize,
}

impl<T> Slab<T> {
    fn new(cap: usize) -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
            cap,
        }
    }

    fn insert(&mut self, v: T) -> Option<u32> {
        if self.len >= self.cap {
            return None;
        }
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = Some(v);
                id
            }
            None => {
                self.slots.push(Some(v));
                (self.slots.len() - 1) as u32
            }
        };
        self.len += 1;
        Some(id)
    }

    fn remove(&mut self, id: u32) -> Option<T> {
        let v = self.slots.get_mut(id as usize)?.take()?;
        self.free.push(id);
        self.len -= 1;
        Some(v)
    }

    #[inline]
    fn get(&self, id: u32) -> Option<&T> {
        self.slots.get(id as usize)?.as_ref()
    }

    #[inline]
    fn get_mut(&mut self, id: u32) -> Option<&mut T> {
        self.slots.get_mut(id as usize)?.as_mut()
    }
}

struct Links<'a, I, O>(&'a mut Slab<SessionSlot<I, O>>);

impl<I, O> WheelLinks for Links<'_, I, O> {
    fn link_mut(&mut self, id: u32) -> Option<&mut Link> {
        self.0.get_mut(id).map(|s| &mut s.link)
    }

    fn expires_ms(&self, id: u32) -> Option<u64> {
        self.0.get(id).map(|s| s.entry.expires.as_millis())
    }
}

/// A [`SessionStore`] on the heap for large tables.
pub struct HashStore<I, O> {
    hasher: FlowHasher,
    sessions: Slab<SessionSlot<I, O>>,
    bibs: Slab<BibSlot<I, O>>,
    by_inside: HashTable<u32>,
    by_outside: HashTable<u32>,
    bib_by_inside: HashTable<u32>,
    bib_by_outside: HashTable<u32>,
    wheel: Box<TimerWheel>,
}

impl<I: IpAddress, O: IpAddress> HashStore<I, O> {
    /// A store for at most `sessions` sessions and as many bindings, with hashes keyed by
    /// `seed`. Memory is reserved as the tables fill, up to the capacity.
    pub fn with_capacity(sessions: usize, seed: u64) -> Self {
        let cap = sessions.min(u32::MAX as usize - 1);
        HashStore {
            hasher: FlowHasher::new(seed),
            sessions: Slab::new(cap),
            bibs: Slab::new(cap),
            by_inside: HashTable::new(),
            by_outside: HashTable::new(),
            bib_by_inside: HashTable::new(),
            bib_by_outside: HashTable::new(),
            wheel: Box::new(TimerWheel::new()),
        }
    }

    /// Reserves memory for `n` sessions and bindings now, so that the packet path never
    /// grows a table (growing rehashes: a latency spike).
    pub fn reserve(&mut self, n: usize) {
        let n = n.min(self.sessions.cap);
        self.sessions.slots.reserve(n);
        self.bibs.slots.reserve(n);
        let h = self.hasher;
        let (ss, bs) = (&self.sessions, &self.bibs);
        self.by_inside.reserve(n, |&id| {
            ss.get(id).map_or(0, |s| h.hash(&s.entry.inside_key()))
        });
        self.by_outside.reserve(n, |&id| {
            ss.get(id).map_or(0, |s| h.hash(&s.entry.outside_key()))
        });
        self.bib_by_inside
            .reserve(n, |&id| bs.get(id).map_or(0, |b| h.hash(&b.entry.key)));
        self.bib_by_outside.reserve(n, |&id| {
            bs.get(id)
                .map_or(0, |b| h.hash(&(b.entry.key.proto, &b.entry.outside)))
        });
    }

    /// Heap bytes held by the tables (slabs, free lists and indexes) and the wheel.
    pub fn heap_bytes(&self) -> usize {
        use core::mem::size_of;
        let table = |t: &HashTable<u32>| t.capacity() * (size_of::<u32>() + 1);
        self.sessions.slots.capacity() * size_of::<Option<SessionSlot<I, O>>>()
            + self.sessions.free.capacity() * 4
            + self.bibs.slots.capacity() * size_of::<Option<BibSlot<I, O>>>()
            + self.bibs.free.capacity() * 4
            + table(&self.by_inside)
            + table(&self.by_outside)
            + table(&self.bib_by_inside)
            + table(&self.bib_by_outside)
            + size_of::<TimerWheel>()
    }

    fn hash_bib_outside(&self, proto: L4Proto, outside: &Endpoint<O>) -> u64 {
        self.hasher.hash(&(proto, outside))
    }
}

impl<I: IpAddress, O: IpAddress> SessionStore<I, O> for HashStore<I, O> {
    #[inline]
    fn hash_inside(&self, key: &FlowKey<I>) -> u64 {
        self.hasher.hash(key)
    }

    #[inline]
    fn hash_outside(&self, key: &FlowKey<O>) -> u64 {
        self.hasher.hash(key)
    }

    /// Probes the index for `hash`, which loads its control group into the cache; hashbrown
    /// offers no prefetch call, and a probe that matches nothing is the next best.
    #[inline]
    fn prefetch(&self, dir: Direction, hash: u64) {
        let table = match dir {
            Direction::Outbound => &self.by_inside,
            Direction::Inbound => &self.by_outside,
        };
        core::hint::black_box(table.find(hash, |_| false));
    }

    #[inline]
    fn find_inside(&self, hash: u64, key: &FlowKey<I>) -> Option<SessionRef> {
        let s = &self.sessions;
        self.by_inside
            .find(hash, |&id| {
                s.get(id).is_some_and(|x| x.entry.inside_key() == *key)
            })
            .map(|&id| SessionRef(id))
    }

    #[inline]
    fn find_outside(&self, hash: u64, key: &FlowKey<O>) -> Option<SessionRef> {
        let s = &self.sessions;
        self.by_outside
            .find(hash, |&id| {
                s.get(id).is_some_and(|x| x.entry.outside_key() == *key)
            })
            .map(|&id| SessionRef(id))
    }

    #[inline]
    fn session(&self, s: SessionRef) -> Option<SessionEntry<I, O>> {
        self.sessions.get(s.0).map(|x| x.entry)
    }

    #[inline]
    fn update(&mut self, s: SessionRef, state: u8, expires: Instant) -> Result<(), StoreError> {
        let slot = self.sessions.get_mut(s.0).ok_or(StoreError::Stale)?;
        slot.entry.state = state;
        slot.entry.expires = expires;
        self.wheel
            .reschedule(&mut Links(&mut self.sessions), s.0, expires.as_millis());
        Ok(())
    }

    fn insert_session(&mut self, entry: SessionEntry<I, O>) -> Result<SessionRef, StoreError> {
        let first = self
            .bibs
            .get(entry.bib.0)
            .ok_or(StoreError::Stale)?
            .first_session;
        let slot = SessionSlot {
            entry,
            link: Link::UNLINKED,
            next_in_bib: first,
        };
        let id = self.sessions.insert(slot).ok_or(StoreError::Full)?;
        let h = self.hasher;
        let s = &self.sessions;
        self.by_inside
            .insert_unique(h.hash(&entry.inside_key()), id, |&i| {
                s.get(i).map_or(0, |x| h.hash(&x.entry.inside_key()))
            });
        self.by_outside
            .insert_unique(h.hash(&entry.outside_key()), id, |&i| {
                s.get(i).map_or(0, |x| h.hash(&x.entry.outside_key()))
            });
        if let Some(b) = self.bibs.get_mut(entry.bib.0) {
            b.first_session = id;
            b.entry.sessions += 1;
        }
        self.wheel.insert(
            &mut Links(&mut self.sessions),
            id,
            entry.expires.as_millis(),
        );
        Ok(SessionRef(id))
    }

    fn remove_session(&mut self, s: SessionRef) -> Option<SessionEntry<I, O>> {
        let slot = *self.sessions.get(s.0)?;
        let e = slot.entry;
        self.wheel.remove(&mut Links(&mut self.sessions), s.0);
        if let Ok(o) = self
            .by_inside
            .find_entry(self.hasher.hash(&e.inside_key()), |&i| i == s.0)
        {
            o.remove();
        }
        if let Ok(o) = self
            .by_outside
            .find_entry(self.hasher.hash(&e.outside_key()), |&i| i == s.0)
        {
            o.remove();
        }
        if let Some(b) = self.bibs.get_mut(e.bib.0) {
            b.entry.sessions = b.entry.sessions.saturating_sub(1);
            if b.first_session == s.0 {
                b.first_session = slot.next_in_bib;
            } else {
                let mut cur = b.first_session;
                while let Some(c) = self.sessions.get(cur) {
                    if c.next_in_bib == s.0 {
                        if let Some(c) = self.sessions.get_mut(cur) {
                            c.next_in_bib = slot.next_in_bib;
                        }
                        break;
                    }
                    cur = c.next_in_bib;
                }
            }
        }
        self.sessions.remove(s.0);
        Some(e)
    }

    fn find_bib_inside(&self, key: &BibKey<I, O>) -> Option<BibRef> {
        let b = &self.bibs;
        self.bib_by_inside
            .find(self.hasher.hash(key), |&id| {
                b.get(id).is_some_and(|x| x.entry.key == *key)
            })
            .map(|&id| BibRef(id))
    }

    fn find_bib_outside(&self, proto: L4Proto, outside: &Endpoint<O>) -> Option<BibRef> {
        let b = &self.bibs;
        self.bib_by_outside
            .find(self.hash_bib_outside(proto, outside), |&id| {
                b.get(id)
                    .is_some_and(|x| x.entry.key.proto == proto && x.entry.outside == *outside)
            })
            .map(|&id| BibRef(id))
    }

    fn bib(&self, b: BibRef) -> Option<BibEntry<I, O>> {
        self.bibs.get(b.0).map(|x| x.entry)
    }

    fn insert_bib(&mut self, mut entry: BibEntry<I, O>) -> Result<BibRef, StoreError> {
        entry.sessions = 0;
        let id = self
            .bibs
            .insert(BibSlot {
                entry,
                first_session: NIL,
            })
            .ok_or(StoreError::Full)?;
        let h = self.hasher;
        let b = &self.bibs;
        self.bib_by_inside
            .insert_unique(h.hash(&entry.key), id, |&i| {
                b.get(i).map_or(0, |x| h.hash(&x.entry.key))
            });
        self.bib_by_outside
            .insert_unique(h.hash(&(entry.key.proto, &entry.outside)), id, |&i| {
                b.get(i)
                    .map_or(0, |x| h.hash(&(x.entry.key.proto, &x.entry.outside)))
            });
        Ok(BibRef(id))
    }

    fn remove_bib(&mut self, b: BibRef) -> Result<BibEntry<I, O>, StoreError> {
        let e = self.bibs.get(b.0).ok_or(StoreError::Stale)?.entry;
        if e.sessions > 0 {
            return Err(StoreError::InUse);
        }
        if let Ok(o) = self
            .bib_by_inside
            .find_entry(self.hasher.hash(&e.key), |&i| i == b.0)
        {
            o.remove();
        }
        let h = self.hash_bib_outside(e.key.proto, &e.outside);
        if let Ok(o) = self.bib_by_outside.find_entry(h, |&i| i == b.0) {
            o.remove();
        }
        self.bibs.remove(b.0);
        Ok(e)
    }

    fn bib_sessions(
        &self,
        b: BibRef,
        mut visit: impl FnMut(SessionRef, &SessionEntry<I, O>) -> bool,
    ) {
        let Some(bib) = self.bibs.get(b.0) else {
            return;
        };
        let mut cur = bib.first_session;
        while let Some(s) = self.sessions.get(cur) {
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
        let e = self.remove_session(SessionRef(id))?;
        Some((SessionRef(id), e))
    }

    fn session_count(&self) -> usize {
        self.sessions.len
    }

    fn bib_count(&self) -> usize {
        self.bibs.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn fill(n: u32) -> HashStore<Ipv4Addr, Ipv4Addr> {
        let mut st = HashStore::with_capacity(n as usize, 1);
        st.reserve(n as usize);
        let none = Endpoint::new(Ipv4Addr::UNSPECIFIED, 0);
        for i in 0..n {
            let inside = Endpoint::new(
                Ipv4Addr::from(0x0a00_0000 | (i >> 10)),
                (i & 1023) as u16 + 1024,
            );
            let outside = Endpoint::new(Ipv4Addr::from(0xc633_6400 | (i >> 16)), i as u16);
            let remote = Endpoint::new(Ipv4Addr::new(203, 0, 113, (i % 200) as u8), 443);
            let key = BibKey {
                proto: L4Proto::Udp,
                inside,
                remote: none,
            };
            let b = st
                .insert_bib(BibEntry {
                    key,
                    outside,
                    is_static: false,
                    sessions: 0,
                })
                .unwrap();
            let e = SessionEntry {
                bib: b,
                proto: L4Proto::Udp,
                inside,
                outside,
                remote_in: remote,
                remote_out: remote,
                state: 0,
                tag: 0,
                expires: Instant::from_secs(u64::from(i % 600)),
            };
            st.insert_session(e).unwrap();
        }
        st
    }

    #[test]
    fn sessions_found_and_expired() {
        let mut st = fill(10_000);
        assert_eq!(st.session_count(), 10_000);
        let mut n = 0;
        while st.pop_expired(Instant::from_secs(300)).is_some() {
            n += 1;
        }
        // Expiries 0..=299 s of each 600 s cycle (16 full cycles, then 400 sessions of which
        // 300 are due); the tick of 300 s itself is not yet due.
        assert_eq!(n, 16 * 300 + 300);
        assert!(
            st.insert_bib(BibEntry {
                key: BibKey {
                    proto: L4Proto::Tcp,
                    inside: Endpoint::new(Ipv4Addr::LOCALHOST, 1),
                    remote: Endpoint::new(Ipv4Addr::UNSPECIFIED, 0)
                },
                outside: Endpoint::new(Ipv4Addr::LOCALHOST, 1),
                is_static: false,
                sessions: 0,
            })
            .is_err(),
            "bindings are bounded by the capacity too"
        );
    }

    #[test]
    fn bytes_per_session() {
        let n = 100_000;
        let st = fill(n);
        let per = st.heap_bytes() / n as usize;
        println!("HashStore NAT44: {per} bytes per session (session + its binding, all indexes)");
        assert!(per <= 200, "{per}");
    }
}
