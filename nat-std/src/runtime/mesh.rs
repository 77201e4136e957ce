//! Packets handed between workers of a sharded translator, without a lock.
//!
//! Each worker has an inbox (a bounded `std::sync::mpsc` channel: lock-free for `try_send`
//! and `try_recv`) and a fixed set of packet buffers, allocated at start. To hand a packet on,
//! a worker copies it into one of its free buffers and sends it to the owner's inbox; the owner
//! translates it in that buffer and sends the buffer back. Nothing is allocated per packet, and
//! memory is bounded: when a worker has no free buffer or the owner's inbox is full, the packet
//! is dropped and counted (the owner is overloaded; queueing more would only add delay).
//!
//! A worker with nothing to do sleeps in its TUN read, which a [`Waker`] interrupts. It first
//! says so (`parked`), then looks at its inbox once more; a sender that finds it parked wakes
//! it. Either the worker sees the packet or the sender sees the flag: no packet waits for the
//! read's timeout.

use super::shard::{FragmentKey, Route};
use crate::tun::Waker;
use nat_core::fragments::FragmentTable;
use nat_core::time::Instant;
use nat_core::verdict::Direction;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::time::Duration;

/// How long a first fragment's owner is remembered for the rest of its datagram.
const FRAGMENT_FOLLOW: Duration = Duration::from_secs(5);

/// Packet buffers each worker owns for hand-offs.
pub const BUFFERS_PER_WORKER: usize = 1024;

/// First fragments remembered per worker, to route their later fragments.
const FIRST_FRAGMENTS: usize = 64;
/// Later fragments that may wait for their first, per worker.
const ORPHANS: usize = 16;

/// The owners of datagrams by their first fragment, and later fragments waiting for theirs.
pub type FragmentOwners = FragmentTable<FragmentKey, u16, FIRST_FRAGMENTS, ORPHANS>;

/// What the owner does with a handed-off packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Translate it as read from the TUN device, from this side.
    Packet(Direction),
    /// Finish a hairpin: another worker translated it out, to an outside endpoint of ours.
    Hairpin,
}

/// A packet in transit between workers: `buf[start..start + len]`, in a buffer of worker
/// `from`.
#[derive(Debug)]
pub struct Handoff {
    /// What to do with it.
    pub kind: Kind,
    /// The buffer (with headroom before `start`).
    pub buf: Box<[u8]>,
    /// Where the packet starts.
    pub start: usize,
    /// Its length.
    pub len: usize,
    /// The worker whose buffer it is.
    pub from: usize,
}

/// How to reach one worker.
#[derive(Debug)]
struct Peer {
    inbox: SyncSender<Handoff>,
    returns: SyncSender<Box<[u8]>>,
    parked: AtomicBool,
    waker: Arc<Waker>,
}

/// Hand-off counters of one worker.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MeshCounters {
    /// Packets handed to another worker.
    pub handed_off: u64,
    /// Packets received from other workers.
    pub received: u64,
    /// Packets dropped: no free buffer, or the owner's inbox full.
    pub dropped: u64,
    /// Later fragments dropped: their first never came (or the waiting room was full).
    pub orphans_dropped: u64,
}

/// One worker's end of the mesh.
#[derive(Debug)]
pub struct Mesh {
    id: usize,
    peers: Arc<[Peer]>,
    inbox: Receiver<Handoff>,
    returned: Receiver<Box<[u8]>>,
    free: Vec<Box<[u8]>>,
    /// Owners of fragmented datagrams.
    pub fragments: FragmentOwners,
    /// Counters.
    pub counters: MeshCounters,
}

/// The mesh of `wakers.len()` workers, with buffers of `buf_len` bytes.
pub fn build(wakers: &[Arc<Waker>], buf_len: usize) -> Vec<Mesh> {
    let n = wakers.len();
    let mut peers = Vec::with_capacity(n);
    let mut ends = Vec::with_capacity(n);
    for w in wakers {
        let (inbox_tx, inbox) = sync_channel(BUFFERS_PER_WORKER * n.saturating_sub(1).max(1));
        let (returns, returned) = sync_channel(BUFFERS_PER_WORKER);
        peers.push(Peer {
            inbox: inbox_tx,
            returns,
            parked: AtomicBool::new(false),
            waker: Arc::clone(w),
        });
        ends.push((inbox, returned));
    }
    let peers: Arc<[Peer]> = peers.into();
    ends.into_iter()
        .enumerate()
        .map(|(id, (inbox, returned))| Mesh {
            id,
            peers: Arc::clone(&peers),
            inbox,
            returned,
            free: (0..BUFFERS_PER_WORKER)
                .map(|_| vec![0u8; buf_len].into_boxed_slice())
                .collect(),
            fragments: FragmentOwners::new(),
            counters: MeshCounters::default(),
        })
        .collect()
}

impl Mesh {
    /// This worker's number.
    pub fn id(&self) -> usize {
        self.id
    }

    /// Copies `pkt` into a free buffer (at `headroom`) and sends it to worker `to`. Counts a
    /// drop when there is no buffer or no room in the inbox.
    pub fn send(&mut self, to: usize, kind: Kind, pkt: &[u8], headroom: usize) {
        let Some(peer) = self.peers.get(to) else {
            self.counters.dropped += 1;
            return;
        };
        if self.free.is_empty() {
            while let Ok(b) = self.returned.try_recv() {
                self.free.push(b);
            }
        }
        let Some(mut buf) = self.free.pop() else {
            self.counters.dropped += 1;
            return;
        };
        let Some(dst) = buf.get_mut(headroom..headroom + pkt.len()) else {
            self.free.push(buf);
            self.counters.dropped += 1;
            return;
        };
        dst.copy_from_slice(pkt);
        let h = Handoff {
            kind,
            buf,
            start: headroom,
            len: pkt.len(),
            from: self.id,
        };
        match peer.inbox.try_send(h) {
            Ok(()) => {
                self.counters.handed_off += 1;
                if peer.parked.swap(false, Ordering::SeqCst) {
                    let _ = peer.waker.wake();
                }
            }
            Err(e) => {
                let h = match e {
                    std::sync::mpsc::TrySendError::Full(h)
                    | std::sync::mpsc::TrySendError::Disconnected(h) => h,
                };
                self.free.push(h.buf);
                self.counters.dropped += 1;
            }
        }
    }

    /// The worker that translates `pkt`, whose [`Route`] is `route`: its owner, or whoever
    /// reads it if it has none; a later fragment goes where its first went. `None`: a later
    /// fragment whose first has not been seen waits for it ([`take_ready`] releases it) or,
    /// with no room to wait, is dropped and counted.
    ///
    /// [`take_ready`]: FragmentOwners::take_ready
    pub fn owner(&mut self, route: &Route, pkt: &[u8], now: Instant) -> Option<usize> {
        let until = now + FRAGMENT_FOLLOW;
        match route.fragment {
            Some((key, true)) => {
                let o = route.owner.unwrap_or(self.id);
                self.fragments.remember(key, o as u16, now, until);
                Some(o)
            }
            Some((key, false)) => {
                let o = self.fragments.lookup(&key, now).map(usize::from);
                let o = o.or(route.owner);
                if o.is_none() && !self.fragments.wait(key, pkt, now, until) {
                    self.counters.orphans_dropped += 1;
                }
                o
            }
            None => Some(route.owner.unwrap_or(self.id)),
        }
    }

    /// The next packet another worker handed to this one.
    #[inline]
    pub fn recv(&mut self) -> Option<Handoff> {
        match self.inbox.try_recv() {
            Ok(h) => {
                self.counters.received += 1;
                Some(h)
            }
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => None,
        }
    }

    /// Gives a handed-off packet's buffer back to the worker that owns it.
    pub fn give_back(&mut self, buf: Box<[u8]>, from: usize) {
        if from == self.id {
            self.free.push(buf);
        } else if let Some(p) = self.peers.get(from) {
            // The owner's return channel holds all its buffers: never full.
            let _ = p.returns.try_send(buf);
        }
    }

    /// Says this worker is about to sleep; returns a packet that came in meanwhile, in which
    /// case it is not parked.
    pub fn park(&mut self) -> Option<Handoff> {
        let peers = Arc::clone(&self.peers);
        let me = &peers[self.id];
        me.parked.store(true, Ordering::SeqCst);
        let h = self.recv();
        if h.is_some() {
            me.parked.store(false, Ordering::SeqCst);
        }
        h
    }

    /// Says this worker is awake.
    pub fn unpark(&self) {
        self.peers[self.id].parked.store(false, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mesh(n: usize) -> Vec<Mesh> {
        let wakers: Vec<_> = (0..n).map(|_| Arc::new(Waker::new().unwrap())).collect();
        build(&wakers, 128)
    }

    #[test]
    fn a_packet_reaches_its_owner_and_its_buffer_comes_back() {
        let mut m = mesh(2);
        let (a, b) = m.split_at_mut(1);
        let (a, b) = (&mut a[0], &mut b[0]);
        a.send(1, Kind::Hairpin, b"hello", 16);
        assert_eq!(a.counters.handed_off, 1);
        assert_eq!(a.free.len(), BUFFERS_PER_WORKER - 1);
        let h = b.recv().expect("delivered");
        assert_eq!((h.kind, h.from, h.start, h.len), (Kind::Hairpin, 0, 16, 5));
        assert_eq!(&h.buf[16..21], b"hello");
        b.give_back(h.buf, h.from);
        assert!(b.recv().is_none());
        // The buffer is back in a's pool once a needs it again.
        for _ in 0..BUFFERS_PER_WORKER {
            a.send(1, Kind::Packet(Direction::Inbound), b"x", 16);
            let h = b.recv().unwrap();
            b.give_back(h.buf, h.from);
        }
        assert_eq!(a.counters.dropped, 0);
    }

    #[test]
    fn bounded_when_the_owner_does_not_keep_up() {
        let mut m = mesh(2);
        let (a, _b) = m.split_at_mut(1);
        for _ in 0..BUFFERS_PER_WORKER + 10 {
            a[0].send(1, Kind::Packet(Direction::Outbound), b"x", 16);
        }
        assert_eq!(a[0].counters.handed_off, BUFFERS_PER_WORKER as u64);
        assert_eq!(a[0].counters.dropped, 10);
        // Too big for a buffer: dropped, not truncated.
        let mut m = mesh(2);
        m[0].send(1, Kind::Hairpin, &[0; 200], 16);
        assert_eq!(m[0].counters.dropped, 1);
    }

    #[test]
    fn later_fragments_follow_their_first_and_early_ones_wait() {
        let mut m = mesh(3);
        let m0 = &mut m[0];
        let key = (
            std::net::Ipv4Addr::new(203, 0, 113, 9),
            std::net::Ipv4Addr::new(198, 51, 100, 1),
            77,
            17,
        );
        let t = Instant::from_millis(1000);
        let later = Route {
            owner: None,
            fragment: Some((key, false)),
        };
        // Before its first: it waits.
        assert_eq!(m0.owner(&later, b"later-bytes", t), None);
        assert_eq!(m0.fragments.waiting_count(), 1);
        // The first names worker 2; the waiting one is released to it, and the next follows.
        let first = Route {
            owner: Some(2),
            fragment: Some((key, true)),
        };
        assert_eq!(m0.owner(&first, b"first", t), Some(2));
        let mut out = [0u8; 64];
        assert_eq!(m0.fragments.take_ready(t, &mut out), Some((11, 2)));
        assert_eq!(&out[..11], b"later-bytes");
        assert_eq!(m0.owner(&later, b"x", t), Some(2));
        // Outbound later fragments name their owner (the subscriber's) when no first was seen.
        let other = Route {
            owner: Some(1),
            fragment: Some(((key.1, key.0, 5, 17), false)),
        };
        assert_eq!(m0.owner(&other, b"x", t), Some(1));
        // An orphan flood fills only the waiting room, and is counted.
        for id in 0..100u16 {
            let r = Route {
                owner: None,
                fragment: Some(((key.0, key.1, 1000 + id, 17), false)),
            };
            assert_eq!(m0.owner(&r, b"x", t), None);
        }
        assert_eq!(m0.fragments.waiting_count(), ORPHANS);
        assert_eq!(m0.counters.orphans_dropped, 100 - ORPHANS as u64);
    }

    #[test]
    fn a_parked_worker_is_woken() {
        let mut m = mesh(2);
        assert!(m[1].park().is_none());
        assert!(m[1].peers[1].parked.load(Ordering::SeqCst));
        m[0].send(1, Kind::Hairpin, b"x", 16);
        assert!(
            !m[1].peers[1].parked.load(Ordering::SeqCst),
            "the sender cleared the flag and woke it"
        );
        assert!(m[1].recv().is_some());
    }
}
