//! A session store for tens of millions of sessions: packed records in `Vec` slabs, two
//! `hashbrown` index tables per table (inside key and outside key), and the timer wheel of
//! `nat-core`, so that expiring N sessions costs O(N) and never a scan.
//!
//! Memory is bounded by the configured capacity, never by what the network sends: an insert
//! past it is [`StoreError::Full`].
//!
//! # Bytes per session
//!
//! A NAT44 session (`HashStore<Ipv4Addr, Ipv4Addr>`) is a 44-byte record with no padding:
//! expiry 8, wheel links 8 (next, previous; a list head marks its slot in place of a previous
//! id, so no tick is stored), next session of its binding 4, binding id 4, inside, outside and
//! remote endpoints 3 × 6, TCP state 1, protocol and flags 1. Freed slots are chained through
//! the records themselves: no free list, no `Option` tag.
//!
//! The remote as the outside sees it and the translator's tag are not in a NAT44 record: NAT44
//! never translates the remote and keeps no tag, so they are rebuilt from the inside remote.
//! The third type parameter, a [`KeptRemote`], says what the record keeps: nothing
//! ([`SameRemote`], the default within a family), the remote (an [`Endpoint`], the default
//! between families: a NAT64 record is 76 bytes), or the remote and the tag ([`RemoteAndTag`],
//! for LSNAT: 56 bytes). A session whose values its record cannot hold keeps them in a column
//! of 10 bytes per session beside the records, allocated the first time one is needed: always
//! correct, at one more memory access per packet.
//!
//! Each index holds a `u32` id and a control byte per bucket; at 10 million entries a `hashbrown`
//! table has 2^24 buckets: 8.4 bytes per entry. Measured by `cargo run --release -p nat-benches
//! --bin scale` at 10 M sessions, each with its own binding (the worst case), 2026-11-22:
//!
//! | part | bytes per session |
//! |---|---|
//! | session record + inside and outside indexes | 44 + 16.8 = 60.8 |
//! | binding record + inside and outside indexes | 27 + 16.8 = 43.8 |
//! | total, one binding per session, and the 8 KiB wheel | 104.6 |
//!
//! A binding record: session count 4, first session 4, inside, projected remote and outside
//! endpoints 18, protocol and static flag 1. At 100,000 sessions (2^17 buckets per index) the
//! total is 97.3 bytes; the `bytes_per_session` test fails above 97.5.

mod record;
#[cfg(test)]
mod tests;

use hashbrown::HashTable;
use nat_core::flow::{Endpoint, FlowKey, IpAddress, L4Proto};
use nat_core::session::{
    BibEntry, BibKey, BibRef, FlowHasher, Link, MAX_ENTRIES, SessionEntry, SessionRef,
    SessionStore, StoreError, TimerWheel, WheelLinks,
};
use nat_core::time::Instant;
use nat_core::verdict::Direction;
use record::{BibRecord, NIL, STATIC, SessionRecord, Sessions, Slab, TRANSLATED};
pub use record::{KeptRemote, RemoteAndTag, SameRemote, SessionLayout};

struct Links<'a, I, O, K>(&'a mut Slab<SessionRecord<I, O, K>>);

impl<I: IpAddress, O: IpAddress, K: KeptRemote<O>> WheelLinks for Links<'_, I, O, K> {
    #[inline]
    fn link_mut(&mut self, id: u32) -> Option<&mut Link> {
        self.0.get_mut(id).map(|s| &mut s.link)
    }

    fn expires_ms(&self, id: u32) -> Option<u64> {
        self.0.get(id).map(|s| s.expires_ms)
    }
}

/// The heap a [`HashStore`] holds, by part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeapUsage {
    /// Session records, the translated column, and the inside and outside session indexes.
    pub sessions: usize,
    /// Binding records and their inside and outside indexes.
    pub bindings: usize,
    /// The timer wheel's slot heads.
    pub wheel: usize,
}

/// A [`SessionStore`] on the heap for large tables: 61 bytes per NAT44 session with its two
/// indexes, 44 more per binding with its two (see the module doc).
pub struct HashStore<I: SessionLayout<O>, O: IpAddress, K = <I as SessionLayout<O>>::Kept> {
    hasher: FlowHasher,
    sessions: Sessions<I, O, K>,
    bibs: Slab<BibRecord<I, O>>,
    by_inside: HashTable<u32>,
    by_outside: HashTable<u32>,
    bib_by_inside: HashTable<u32>,
    bib_by_outside: HashTable<u32>,
    wheel: Box<TimerWheel>,
}

impl<I: SessionLayout<O>, O: IpAddress, K: KeptRemote<O>> HashStore<I, O, K> {
    /// A store for at most `sessions` sessions and as many bindings, with hashes keyed by
    /// `seed`. Memory is reserved as the tables fill, up to the capacity.
    pub fn with_capacity(sessions: usize, seed: u64) -> Self {
        let cap = sessions.min(MAX_ENTRIES as usize);
        HashStore {
            hasher: FlowHasher::new(seed),
            sessions: Sessions {
                slab: Slab::new(cap),
                translated: Vec::new(),
            },
            bibs: Slab::new(cap),
            by_inside: HashTable::new(),
            by_outside: HashTable::new(),
            bib_by_inside: HashTable::new(),
            bib_by_outside: HashTable::new(),
            wheel: Box::new(TimerWheel::new()),
        }
    }

    /// Reserves memory for `n` sessions and bindings now, so that the packet path never
    /// grows a table (growing rehashes: a latency spike). Once the column of translated
    /// remotes is in use, it is reserved too.
    pub fn reserve(&mut self, n: usize) {
        let n = n.min(self.sessions.slab.cap);
        self.sessions.slab.slots.reserve(n);
        self.bibs.slots.reserve(n);
        if !self.sessions.translated.is_empty() {
            self.sessions.grow_translated();
        }
        let h = self.hasher;
        let (ss, bs) = (&self.sessions, &self.bibs);
        self.by_inside.reserve(n, |&id| {
            ss.slab
                .get(id)
                .map_or(0, |r| h.hash(&Sessions::inside_key(r)))
        });
        self.by_outside.reserve(n, |&id| {
            ss.slab
                .get(id)
                .map_or(0, |r| h.hash(&ss.outside_key(id, r)))
        });
        self.bib_by_inside
            .reserve(n, |&id| bs.get(id).map_or(0, |b| h.hash(&b.key())));
        self.bib_by_outside.reserve(n, |&id| {
            bs.get(id).map_or(0, |b| h.hash(&b.outside_hash_key()))
        });
    }

    /// Heap bytes held by the tables (records, the translated column and the indexes, as
    /// allocated) and the wheel.
    pub fn heap_bytes(&self) -> usize {
        let u = self.heap_usage();
        u.sessions + u.bindings + u.wheel
    }

    /// [`heap_bytes`](Self::heap_bytes) by part, as allocated.
    pub fn heap_usage(&self) -> HeapUsage {
        use core::mem::size_of;
        HeapUsage {
            sessions: self.sessions.slab.slots.capacity() * size_of::<SessionRecord<I, O, K>>()
                + self.sessions.translated.capacity() * size_of::<RemoteAndTag<O>>()
                + self.by_inside.allocation_size()
                + self.by_outside.allocation_size(),
            bindings: self.bibs.slots.capacity() * size_of::<BibRecord<I, O>>()
                + self.bib_by_inside.allocation_size()
                + self.bib_by_outside.allocation_size(),
            wheel: size_of::<TimerWheel>(),
        }
    }

    fn hash_bib_outside(&self, proto: L4Proto, outside: &Endpoint<O>) -> u64 {
        self.hasher.hash(&(proto, *outside))
    }
}

impl<I: SessionLayout<O>, O: IpAddress, K: KeptRemote<O>> SessionStore<I, O>
    for HashStore<I, O, K>
{
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
        let s = &self.sessions.slab;
        self.by_inside
            .find(hash, |&id| {
                s.get(id).is_some_and(|r| Sessions::inside_key(r) == *key)
            })
            .map(|&id| SessionRef(id))
    }

    #[inline]
    fn find_outside(&self, hash: u64, key: &FlowKey<O>) -> Option<SessionRef> {
        let s = &self.sessions;
        self.by_outside
            .find(hash, |&id| {
                s.slab.get(id).is_some_and(|r| {
                    let outside = r.outside;
                    outside == key.dst && s.outside_key(id, r) == *key
                })
            })
            .map(|&id| SessionRef(id))
    }

    #[inline]
    fn session(&self, s: SessionRef) -> Option<SessionEntry<I, O>> {
        self.sessions.entry(s.0)
    }

    #[inline]
    fn update(&mut self, s: SessionRef, state: u8, expires: Instant) -> Result<(), StoreError> {
        let r = self.sessions.slab.get_mut(s.0).ok_or(StoreError::Stale)?;
        let old = r.expires_ms;
        r.expires_ms = expires.as_millis();
        r.state = state;
        self.wheel.reschedule(
            &mut Links(&mut self.sessions.slab),
            s.0,
            old,
            expires.as_millis(),
        );
        Ok(())
    }

    fn insert_session(&mut self, entry: SessionEntry<I, O>) -> Result<SessionRef, StoreError> {
        let first = self.bibs.get(entry.bib.0).ok_or(StoreError::Stale)?.first;
        let kept = K::keep(entry.remote_in, entry.remote_out, entry.tag);
        let translated = kept.is_none();
        let record = SessionRecord {
            expires_ms: entry.expires.as_millis(),
            link: Link::UNLINKED,
            next: first,
            bib: entry.bib.0,
            inside: entry.inside,
            outside: entry.outside,
            remote_in: entry.remote_in,
            kept: kept.unwrap_or(K::VACANT),
            state: entry.state,
            meta: entry.proto.index() as u8 | if translated { TRANSLATED } else { 0 },
        };
        let id = self.sessions.slab.insert(record).ok_or(StoreError::Full)?;
        let ss = &mut self.sessions;
        if translated {
            if ss.translated.len() <= id as usize {
                ss.grow_translated();
            }
            if let Some(t) = ss.translated.get_mut(id as usize) {
                *t = RemoteAndTag {
                    remote_out: entry.remote_out,
                    tag: entry.tag,
                };
            }
        }
        let h = self.hasher;
        let ss = &self.sessions;
        self.by_inside
            .insert_unique(h.hash(&entry.inside_key()), id, |&i| {
                ss.slab
                    .get(i)
                    .map_or(0, |r| h.hash(&Sessions::inside_key(r)))
            });
        self.by_outside
            .insert_unique(h.hash(&entry.outside_key()), id, |&i| {
                ss.slab.get(i).map_or(0, |r| h.hash(&ss.outside_key(i, r)))
            });
        if let Some(b) = self.bibs.get_mut(entry.bib.0) {
            b.first = id;
            b.sessions += 1;
        }
        self.wheel.insert(
            &mut Links(&mut self.sessions.slab),
            id,
            entry.expires.as_millis(),
        );
        Ok(SessionRef(id))
    }

    fn remove_session(&mut self, s: SessionRef) -> Option<SessionEntry<I, O>> {
        let e = self.sessions.entry(s.0)?;
        let next = self.sessions.slab.get(s.0)?.next;
        self.wheel.remove(&mut Links(&mut self.sessions.slab), s.0);
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
            b.sessions = b.sessions.saturating_sub(1);
            if b.first == s.0 {
                b.first = next;
            } else {
                let mut cur = b.first;
                while let Some(c) = self.sessions.slab.get_mut(cur) {
                    if c.next == s.0 {
                        c.next = next;
                        break;
                    }
                    cur = c.next;
                }
            }
        }
        self.sessions.slab.remove(s.0);
        Some(e)
    }

    fn find_bib_inside(&self, key: &BibKey<I, O>) -> Option<BibRef> {
        let b = &self.bibs;
        self.bib_by_inside
            .find(self.hasher.hash(key), |&id| {
                b.get(id).is_some_and(|x| x.key() == *key)
            })
            .map(|&id| BibRef(id))
    }

    fn find_bib_outside(&self, proto: L4Proto, outside: &Endpoint<O>) -> Option<BibRef> {
        let b = &self.bibs;
        self.bib_by_outside
            .find(self.hash_bib_outside(proto, outside), |&id| {
                b.get(id)
                    .is_some_and(|x| x.outside_hash_key() == (proto, *outside))
            })
            .map(|&id| BibRef(id))
    }

    fn bib(&self, b: BibRef) -> Option<BibEntry<I, O>> {
        self.bibs.get(b.0).map(BibRecord::entry)
    }

    fn insert_bib(&mut self, entry: BibEntry<I, O>) -> Result<BibRef, StoreError> {
        let record = BibRecord {
            sessions: 0,
            first: NIL,
            inside: entry.key.inside,
            remote: entry.key.remote,
            outside: entry.outside,
            meta: entry.key.proto.index() as u8 | if entry.is_static { STATIC } else { 0 },
        };
        let id = self.bibs.insert(record).ok_or(StoreError::Full)?;
        let h = self.hasher;
        let b = &self.bibs;
        self.bib_by_inside
            .insert_unique(h.hash(&entry.key), id, |&i| {
                b.get(i).map_or(0, |x| h.hash(&x.key()))
            });
        self.bib_by_outside
            .insert_unique(h.hash(&(entry.key.proto, entry.outside)), id, |&i| {
                b.get(i).map_or(0, |x| h.hash(&x.outside_hash_key()))
            });
        Ok(BibRef(id))
    }

    fn remove_bib(&mut self, b: BibRef) -> Result<BibEntry<I, O>, StoreError> {
        let e = self.bibs.get(b.0).ok_or(StoreError::Stale)?.entry();
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
        let mut cur = bib.first;
        while let Some(e) = self.sessions.entry(cur) {
            if !visit(SessionRef(cur), &e) {
                return;
            }
            cur = self.sessions.slab.get(cur).map_or(NIL, |r| r.next);
        }
    }

    fn next_expiry(&self) -> Option<Instant> {
        self.wheel.next_due_ms().map(Instant::from_millis)
    }

    fn pop_expired(&mut self, now: Instant) -> Option<(SessionRef, SessionEntry<I, O>)> {
        let id = self
            .wheel
            .pop(&mut Links(&mut self.sessions.slab), now.as_millis())?;
        let e = self.remove_session(SessionRef(id))?;
        Some((SessionRef(id), e))
    }

    fn session_count(&self) -> usize {
        self.sessions.slab.len
    }

    fn bib_count(&self) -> usize {
        self.bibs.len
    }
}
