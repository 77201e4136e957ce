//! The records of [`HashStore`](super::HashStore): a session and a binding packed with no
//! padding, the column of translated remotes, and a slab that chains free slots through them.

use core::net::{Ipv4Addr, Ipv6Addr};
use nat_core::flow::{Endpoint, FlowKey, IpAddress, L4Proto};
use nat_core::session::{BibEntry, BibKey, BibRef, Link, SessionEntry};
use nat_core::time::Instant;

/// Where a [`HashStore`](super::HashStore) between inside family `Self` and outside family `O`
/// keeps a session's remote endpoint as the outside sees it. Implemented for the four pairs of
/// families.
///
/// Between families (NAT64) the remote changes family on every session, so the record keeps it
/// ([`Endpoint<O>`]). Within a family it is [`SameRemote`]: the record keeps nothing, the remote
/// is rebuilt from the inside one (NAT44 never translates it), and a session that does
/// translate it (LSNAT) keeps it in a column beside the records.
pub trait SessionLayout<O: IpAddress>: IpAddress {
    /// [`Endpoint<O>`] or [`SameRemote`].
    type RemoteOut: Copy + core::fmt::Debug + From<Endpoint<O>> + Into<Option<Endpoint<O>>>;
}

/// The remote as the outside sees it, not kept in the record: the same bytes as the inside
/// remote, or in the column of translated remotes (see [`SessionLayout`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SameRemote;

impl<O> From<Endpoint<O>> for SameRemote {
    fn from(_: Endpoint<O>) -> Self {
        SameRemote
    }
}

impl<O> From<SameRemote> for Option<Endpoint<O>> {
    fn from(_: SameRemote) -> Self {
        None
    }
}

impl SessionLayout<Ipv4Addr> for Ipv4Addr {
    type RemoteOut = SameRemote;
}

impl SessionLayout<Ipv6Addr> for Ipv6Addr {
    type RemoteOut = SameRemote;
}

impl SessionLayout<Ipv4Addr> for Ipv6Addr {
    type RemoteOut = Endpoint<Ipv4Addr>;
}

impl SessionLayout<Ipv6Addr> for Ipv4Addr {
    type RemoteOut = Endpoint<Ipv6Addr>;
}

pub(super) const NIL: u32 = u32::MAX;

/// The protocol field of a free slot (protocols use 0..3).
pub(super) const VACANT: u8 = 3;
pub(super) const PROTO_MASK: u8 = 0b11;
/// Session flag: the translated remote and the tag are in the `translated` column.
pub(super) const TRANSLATED: u8 = 0b100;
/// Binding flag: a static binding.
pub(super) const STATIC: u8 = 0b100;

pub(super) fn proto_of(meta: u8) -> L4Proto {
    L4Proto::ALL[usize::from(meta & PROTO_MASK).min(2)]
}

/// A session as stored: no padding, the fields NAT44 does not use left out (see the module doc).
/// Packed to 4 so that the wheel can borrow the links.
#[derive(Clone, Copy, Debug)]
#[repr(C, packed(4))]
pub(super) struct SessionRecord<I: SessionLayout<O>, O: IpAddress> {
    pub(super) expires_ms: u64,
    pub(super) link: Link,
    /// The next session of the same binding; in a free slot, the next free slot.
    pub(super) next: u32,
    pub(super) bib: u32,
    pub(super) inside: Endpoint<I>,
    pub(super) outside: Endpoint<O>,
    pub(super) remote_in: Endpoint<I>,
    /// Nothing for NAT44 (see [`SessionLayout`]).
    pub(super) remote_out: I::RemoteOut,
    pub(super) state: u8,
    /// Protocol (bits 0-1, [`VACANT`] in a free slot) and [`TRANSLATED`].
    pub(super) meta: u8,
}

/// The part of a session that only translators of the remote endpoint use.
#[derive(Clone, Copy, Debug)]
#[repr(C, packed(2))]
pub(super) struct Translated<O> {
    pub(super) remote_out: Endpoint<O>,
    pub(super) tag: u32,
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

impl<I: SessionLayout<O>, O: IpAddress> Slot for SessionRecord<I, O> {
    fn vacant(next_free: u32) -> Self {
        SessionRecord {
            expires_ms: 0,
            link: Link::UNLINKED,
            next: next_free,
            bib: NIL,
            inside: Endpoint::new(I::UNSPECIFIED, 0),
            outside: Endpoint::new(O::UNSPECIFIED, 0),
            remote_in: Endpoint::new(I::UNSPECIFIED, 0),
            remote_out: Endpoint::new(O::UNSPECIFIED, 0).into(),
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

/// The sessions: records, and the column of translated remotes and tags (empty until a session
/// needs it; then as long as the records).
pub(super) struct Sessions<I: SessionLayout<O>, O: IpAddress> {
    pub(super) slab: Slab<SessionRecord<I, O>>,
    pub(super) translated: Vec<Translated<O>>,
}

impl<I: SessionLayout<O>, O: IpAddress> Sessions<I, O> {
    pub(super) const UNTRANSLATED: Translated<O> = Translated {
        remote_out: Endpoint::new(O::UNSPECIFIED, 0),
        tag: 0,
    };

    /// The remote as the outside sees it and the tag of live session `id`.
    #[inline]
    pub(super) fn translated(&self, id: u32, r: &SessionRecord<I, O>) -> (Endpoint<O>, u32) {
        if r.meta & TRANSLATED != 0 {
            let t = self
                .translated
                .get(id as usize)
                .copied()
                .unwrap_or(Self::UNTRANSLATED);
            return (t.remote_out, t.tag);
        }
        let (remote_in, kept): (Endpoint<I>, Option<Endpoint<O>>) =
            (r.remote_in, r.remote_out.into());
        let remote_out = kept.unwrap_or_else(|| {
            Endpoint::new(O::from_bytes(remote_in.addr.bytes()), remote_in.port)
        });
        (remote_out, 0)
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
    pub(super) fn inside_key(r: &SessionRecord<I, O>) -> FlowKey<I> {
        FlowKey::new(proto_of(r.meta), r.inside, r.remote_in)
    }

    #[inline]
    pub(super) fn outside_key(&self, id: u32, r: &SessionRecord<I, O>) -> FlowKey<O> {
        FlowKey::new(proto_of(r.meta), self.translated(id, r).0, r.outside)
    }

    /// Makes the translated column as long as the slab, reserving as much as the slab has.
    pub(super) fn grow_translated(&mut self) {
        let (len, cap) = (self.slab.slots.len(), self.slab.slots.capacity());
        if self.translated.capacity() < cap {
            self.translated.reserve_exact(cap - self.translated.len());
        }
        self.translated.resize(len, Self::UNTRANSLATED);
    }
}

/// Whether a session keeps its remote as the outside sees it and its tag in the column: when
/// the tag is set, or when the record does not keep the remote and it is not the same bytes as
/// the inside one.
pub(super) fn is_translated<I: SessionLayout<O>, O: IpAddress>(e: &SessionEntry<I, O>) -> bool {
    let kept: Option<Endpoint<O>> = I::RemoteOut::from(e.remote_out).into();
    e.tag != 0
        || (kept.is_none()
            && (I::LEN != O::LEN
                || e.remote_in.port != e.remote_out.port
                || e.remote_in.addr.bytes() != e.remote_out.addr.bytes()))
}
