//! The records of [`HashStore`](super::HashStore): a session and a binding packed with no
//! padding, the column of translated remotes, and a slab that chains free slots through them.

use core::net::{Ipv4Addr, Ipv6Addr};
use nat_core::flow::{Endpoint, FlowKey, IpAddress, L4Proto};
use nat_core::session::{BibEntry, BibKey, BibRef, Link, SessionEntry};
use nat_core::time::Instant;

/// What a session record of a [`HashStore`](super::HashStore) keeps of the remote endpoint as
/// the outside sees it (Z:z) and of the translator's tag.
///
/// A session whose values the record cannot hold keeps them in a column beside the records,
/// allocated the first time one is needed: correct for any translator, at one more memory
/// access per packet. Choose the layout that holds what the translator stores: [`SameRemote`]
/// for NAT44, [`Endpoint`] for NAT64, [`RemoteAndTag`] for LSNAT.
pub trait KeptRemote<O: IpAddress>: Copy + core::fmt::Debug {
    /// What a free slot holds.
    const VACANT: Self;
    /// The record's part for a session, or `None` if the record cannot hold these values.
    fn keep<I: IpAddress>(
        remote_in: Endpoint<I>,
        remote_out: Endpoint<O>,
        tag: u32,
    ) -> Option<Self>;
    /// The remote as the outside sees it and the tag, given the remote as the inside sees it.
    fn get<I: IpAddress>(&self, remote_in: Endpoint<I>) -> (Endpoint<O>, u32);
}

/// Keeps nothing, 0 bytes: the remote is the same bytes on both sides and the tag is 0, as
/// in NAT44, which never translates the remote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SameRemote;

impl<O: IpAddress> KeptRemote<O> for SameRemote {
    const VACANT: Self = SameRemote;

    #[inline]
    fn keep<I: IpAddress>(
        remote_in: Endpoint<I>,
        remote_out: Endpoint<O>,
        tag: u32,
    ) -> Option<Self> {
        let same = I::LEN == O::LEN
            && remote_in.port == remote_out.port
            && remote_in.addr.bytes() == remote_out.addr.bytes();
        (same && tag == 0).then_some(SameRemote)
    }

    #[inline]
    fn get<I: IpAddress>(&self, remote_in: Endpoint<I>) -> (Endpoint<O>, u32) {
        let addr = O::from_bytes(remote_in.addr.bytes());
        (Endpoint::new(addr, remote_in.port), 0)
    }
}

/// Keeps the remote, with a tag of 0: between address families (NAT64), where the remote
/// always changes family.
impl<O: IpAddress> KeptRemote<O> for Endpoint<O> {
    const VACANT: Self = Endpoint::new(O::UNSPECIFIED, 0);

    #[inline]
    fn keep<I: IpAddress>(_: Endpoint<I>, remote_out: Endpoint<O>, tag: u32) -> Option<Self> {
        (tag == 0).then_some(remote_out)
    }

    #[inline]
    fn get<I: IpAddress>(&self, _: Endpoint<I>) -> (Endpoint<O>, u32) {
        (*self, 0)
    }
}

/// Keeps the remote and the tag (10 bytes for IPv4): for a translator that changes the remote
/// and tags its sessions, as LSNAT does (virtual server to real server, tagged with the
/// server's id). Also the record of the column beside the records.
#[derive(Clone, Copy, Debug)]
#[repr(C, packed(2))]
pub struct RemoteAndTag<O> {
    pub(super) remote_out: Endpoint<O>,
    pub(super) tag: u32,
}

impl<O: IpAddress> KeptRemote<O> for RemoteAndTag<O> {
    const VACANT: Self = RemoteAndTag {
        remote_out: Endpoint::new(O::UNSPECIFIED, 0),
        tag: 0,
    };

    #[inline]
    fn keep<I: IpAddress>(_: Endpoint<I>, remote_out: Endpoint<O>, tag: u32) -> Option<Self> {
        Some(RemoteAndTag { remote_out, tag })
    }

    #[inline]
    fn get<I: IpAddress>(&self, _: Endpoint<I>) -> (Endpoint<O>, u32) {
        (self.remote_out, self.tag)
    }
}

/// The default [`KeptRemote`] of a [`HashStore`](super::HashStore) between inside family
/// `Self` and outside family `O`: [`SameRemote`] within a family, [`Endpoint<O>`] between
/// families. Implemented for the four pairs.
pub trait SessionLayout<O: IpAddress>: IpAddress {
    /// The layout.
    type Kept: KeptRemote<O>;
}

impl SessionLayout<Ipv4Addr> for Ipv4Addr {
    type Kept = SameRemote;
}

impl SessionLayout<Ipv6Addr> for Ipv6Addr {
    type Kept = SameRemote;
}

impl SessionLayout<Ipv4Addr> for Ipv6Addr {
    type Kept = Endpoint<Ipv4Addr>;
}

impl SessionLayout<Ipv6Addr> for Ipv4Addr {
    type Kept = Endpoint<Ipv6Addr>;
}

pub(super) const NIL: u32 = u32::MAX;

/// The protocol field of a free slot (protocols use 0..3).
pub(super) const VACANT: u8 = 3;
pub(super) const PROTO_MASK: u8 = 0b11;
/// Session flag: the remote as the outside sees it and the tag are in the column.
pub(super) const TRANSLATED: u8 = 0b100;
/// Binding flag: a static binding.
pub(super) const STATIC: u8 = 0b100;

pub(super) fn proto_of(meta: u8) -> L4Proto {
    L4Proto::ALL[usize::from(meta & PROTO_MASK).min(2)]
}

/// A session as stored: no padding, the fields the layout `K` does not need left out (see the
/// module doc). Packed to 4 so that the wheel can borrow the links.
#[derive(Clone, Copy, Debug)]
#[repr(C, packed(4))]
pub(super) struct SessionRecord<I, O, K> {
    pub(super) expires_ms: u64,
    pub(super) link: Link,
    /// The next session of the same binding; in a free slot, the next free slot.
    pub(super) next: u32,
    pub(super) bib: u32,
    pub(super) inside: Endpoint<I>,
    pub(super) outside: Endpoint<O>,
    pub(super) remote_in: Endpoint<I>,
    /// Nothing for NAT44 (see [`KeptRemote`]).
    pub(super) kept: K,
    pub(super) state: u8,
    /// Protocol (bits 0-1, [`VACANT`] in a free slot) and [`TRANSLATED`].
    pub(super) meta: u8,
}

/// A binding as stored, with no padding.
#[derive(Clone, Copy, Debug)]
#[repr(C, packed)]
pub(super) struct BibRecord<I, O> {
    pub(super) sessions: u32,
    /// The first session of the binding; in a free slot, the next free slot.
    pub(super) first: u32,
    pub(super) inside: Endpoint<I>,
    pub(super) remote: Endpoint<O>,
    pub(super) outside: Endpoint<O>,
    /// Protocol (bits 0-1, [`VACANT`] in a free slot) and [`STATIC`].
    pub(super) meta: u8,
}

impl<I: IpAddress, O: IpAddress> BibRecord<I, O> {
    pub(super) fn entry(&self) -> BibEntry<I, O> {
        BibEntry {
            key: self.key(),
            outside: self.outside,
            is_static: self.meta & STATIC != 0,
            sessions: self.sessions,
        }
    }

    pub(super) fn key(&self) -> BibKey<I, O> {
        BibKey {
            proto: proto_of(self.meta),
            inside: self.inside,
            remote: self.remote,
        }
    }

    pub(super) fn outside_hash_key(&self) -> (L4Proto, Endpoint<O>) {
        (proto_of(self.meta), self.outside)
    }
}

/// A slab slot that chains free slots through itself.
pub(super) trait Slot: Copy {
    fn vacant(next_free: u32) -> Self;
    fn is_live(&self) -> bool;
    fn next_free(&self) -> u32;
}

impl<I: IpAddress, O: IpAddress, K: KeptRemote<O>> Slot for SessionRecord<I, O, K> {
    fn vacant(next_free: u32) -> Self {
        SessionRecord {
            expires_ms: 0,
            link: Link::UNLINKED,
            next: next_free,
            bib: NIL,
            inside: Endpoint::new(I::UNSPECIFIED, 0),
            outside: Endpoint::new(O::UNSPECIFIED, 0),
            remote_in: Endpoint::new(I::UNSPECIFIED, 0),
            kept: K::VACANT,
            state: 0,
            meta: VACANT,
        }
    }
    #[inline]
    fn is_live(&self) -> bool {
        self.meta & PROTO_MASK != VACANT
    }
    fn next_free(&self) -> u32 {
        self.next
    }
}

impl<I: IpAddress, O: IpAddress> Slot for BibRecord<I, O> {
    fn vacant(next_free: u32) -> Self {
        BibRecord {
            sessions: 0,
            first: next_free,
            inside: Endpoint::new(I::UNSPECIFIED, 0),
            remote: Endpoint::new(O::UNSPECIFIED, 0),
            outside: Endpoint::new(O::UNSPECIFIED, 0),
            meta: VACANT,
        }
    }
    #[inline]
    fn is_live(&self) -> bool {
        self.meta & PROTO_MASK != VACANT
    }
    fn next_free(&self) -> u32 {
        self.first
    }
}

/// A slab: entries addressed by `u32` ids, freed ids reused first (last freed, first reused),
/// free slots chained through themselves.
#[derive(Debug)]
pub(super) struct Slab<T> {
    pub(super) slots: Vec<T>,
    pub(super) free: u32,
    pub(super) len: usize,
    pub(super) cap: usize,
}

impl<T: Slot> Slab<T> {
    pub(super) fn new(cap: usize) -> Self {
        Slab {
            slots: Vec::new(),
            free: NIL,
            len: 0,
            cap,
        }
    }

    pub(super) fn insert(&mut self, v: T) -> Option<u32> {
        if self.len >= self.cap {
            return None;
        }
        let id = match self.slots.get_mut(self.free as usize) {
            Some(slot) => {
                let id = self.free;
                self.free = slot.next_free();
                *slot = v;
                id
            }
            None => {
                self.slots.push(v);
                (self.slots.len() - 1) as u32
            }
        };
        self.len += 1;
        Some(id)
    }

    pub(super) fn remove(&mut self, id: u32) -> Option<T> {
        let slot = self.slots.get_mut(id as usize)?;
        if !slot.is_live() {
            return None;
        }
        let v = core::mem::replace(slot, T::vacant(self.free));
        self.free = id;
        self.len -= 1;
        Some(v)
    }

    #[inline]
    pub(super) fn get(&self, id: u32) -> Option<&T> {
        self.slots.get(id as usize).filter(|s| s.is_live())
    }

    #[inline]
    pub(super) fn get_mut(&mut self, id: u32) -> Option<&mut T> {
        self.slots.get_mut(id as usize).filter(|s| s.is_live())
    }
}

/// The sessions: records, and the column of remotes and tags the records cannot hold (empty
/// until a session needs it; then as long as the records).
pub(super) struct Sessions<I, O, K> {
    pub(super) slab: Slab<SessionRecord<I, O, K>>,
    pub(super) translated: Vec<RemoteAndTag<O>>,
}

impl<I: IpAddress, O: IpAddress, K: KeptRemote<O>> Sessions<I, O, K> {
    /// The remote as the outside sees it and the tag of live session `id`.
    #[inline]
    pub(super) fn translated(&self, id: u32, r: &SessionRecord<I, O, K>) -> (Endpoint<O>, u32) {
        if r.meta & TRANSLATED != 0 {
            let t = self
                .translated
                .get(id as usize)
                .copied()
                .unwrap_or(RemoteAndTag::VACANT);
            return (t.remote_out, t.tag);
        }
        let kept = r.kept;
        kept.get(r.remote_in)
    }

    #[inline]
    pub(super) fn entry(&self, id: u32) -> Option<SessionEntry<I, O>> {
        let r = self.slab.get(id)?;
        let (remote_out, tag) = self.translated(id, r);
        Some(SessionEntry {
            bib: BibRef(r.bib),
            proto: proto_of(r.meta),
            inside: r.inside,
            outside: r.outside,
            remote_in: r.remote_in,
            remote_out,
            state: r.state,
            tag,
            expires: Instant::from_millis(r.expires_ms),
        })
    }

    #[inline]
    pub(super) fn inside_key(r: &SessionRecord<I, O, K>) -> FlowKey<I> {
        FlowKey::new(proto_of(r.meta), r.inside, r.remote_in)
    }

    #[inline]
    pub(super) fn outside_key(&self, id: u32, r: &SessionRecord<I, O, K>) -> FlowKey<O> {
        FlowKey::new(proto_of(r.meta), self.translated(id, r).0, r.outside)
    }

    /// Makes the translated column as long as the slab, reserving as much as the slab has.
    pub(super) fn grow_translated(&mut self) {
        let (len, cap) = (self.slab.slots.len(), self.slab.slots.capacity());
        if self.translated.capacity() < cap {
            self.translated.reserve_exact(cap - self.translated.len());
        }
        self.translated.resize(len, RemoteAndTag::VACANT);
    }
}
