//! Linux TUN I/O on `tun-rs` (its synchronous API, no async runtime): a device with one or more
//! queues, reads that wait with a timeout and can be woken from another thread, and writes.
//!
//! # Queues and state
//!
//! With `IFF_MULTI_QUEUE` the kernel spreads packets over the queues by flow hash, one worker
//! thread per queue. That suits stateless translation (SIIT): any worker can translate any
//! packet. A stateful NAT44 shards its state instead: each worker owns a set of subscribers
//! and a slice of the outside ports ([`crate::runtime::shard`]), and a worker that reads a
//! packet another owns hands it over without a lock ([`crate::runtime::mesh`]): the kernel
//! hashes the outbound packet of a flow (inside addresses) and its reply (outside addresses,
//! after translation) independently, so the reply may land on any queue.

use std::io;
use std::time::Duration;
use tun_rs::{DeviceBuilder, InterruptEvent, SyncDevice};

/// A wake-up call for a worker blocked in [`TunQueue::recv`]: set from a signal thread, it
/// makes the read return [`Recv::Woken`] until [`reset`](Waker::reset).
pub struct Waker(InterruptEvent);

impl std::fmt::Debug for Waker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waker").finish_non_exhaustive()
    }
}

impl Waker {
    /// A waker (a pipe underneath).
    pub fn new() -> io::Result<Waker> {
        InterruptEvent::new().map(Waker)
    }

    /// Wakes the worker.
    pub fn wake(&self) -> io::Result<()> {
        self.0.trigger()
    }

    /// Re-arms after a wake-up has been handled.
    pub fn reset(&self) -> io::Result<()> {
        self.0.reset()
    }
}

impl std::fmt::Debug for TunQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunQueue").finish_non_exhaustive()
    }
}

/// The outcome of a waiting read.
#[derive(Debug)]
pub enum Recv {
    /// A packet of this many bytes was read.
    Packet(usize),
    /// The timeout passed with nothing to read.
    Timeout,
    /// The [`Waker`] was set.
    Woken,
    /// The read failed (the device may be gone; see [`device_exists`]).
    Error(io::Error),
}

/// One queue of a TUN device: reads and writes whole IP packets (no packet information header).
pub struct TunQueue {
    dev: SyncDevice,
}

impl TunQueue {
    /// Waits up to `timeout` (forever if `None`) for a packet and reads it into `buf`.
    pub fn recv(&self, buf: &mut [u8], waker: &Waker, timeout: Option<Duration>) -> Recv {
        match self.dev.recv_intr_timeout(buf, &waker.0, timeout) {
            Ok(n) => Recv::Packet(n),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => Recv::Timeout,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Recv::Woken,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Recv::Timeout,
            Err(e) => Recv::Error(e),
        }
    }

    /// Reads a packet if one is waiting, without waiting: `Ok(None)` when there is none.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        // The device is non-blocking: a plain read returns `WouldBlock` when nothing waits.
        match self.dev.recv(buf) {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes one packet. The kernel takes it at once (a TUN write does not wait for room).
    pub fn send(&self, pkt: &[u8]) -> io::Result<()> {
        let n = self.dev.send(pkt)?;
        if n == pkt.len() {
            Ok(())
        } else {
            Err(io::Error::new(io::ErrorKind::WriteZero, "short write"))
        }
    }
}

/// A TUN device and its queues.
#[derive(Debug)]
pub struct Tun {
    name: String,
    queues: Vec<TunQueue>,
}

impl Tun {
    /// Creates (or attaches to a persistent) device `name` with `queues` queues (at least 1),
    /// sets its MTU and brings it up. Addresses and routes are the operator's business.
    pub fn open(name: &str, mtu: u16, queues: usize) -> io::Result<Tun> {
        let queues = queues.max(1);
        let first = DeviceBuilder::new()
            .name(name)
            .mtu(mtu)
            .packet_information(false)
            .multi_queue(queues > 1)
            .enable(true)
            .build_sync()?;
        first.set_nonblocking(true)?;
        let mut all = Vec::with_capacity(queues);
        for _ in 1..queues {
            let q = first.try_clone()?;
            q.set_nonblocking(true)?;
            all.push(TunQueue { dev: q });
        }
        all.insert(0, TunQueue { dev: first });
        Ok(Tun {
            name: name.to_string(),
            queues: all,
        })
    }

    /// The device's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The queues, one per worker.
    pub fn queues(&self) -> &[TunQueue] {
        &self.queues
    }

    /// Whether the device still exists.
    pub fn exists(&self) -> bool {
        device_exists(&self.name)
    }
}

/// Whether a network device of this name exists in the network namespace of this process
/// (`/proc/self/net/dev` is per namespace, unlike a `/sys` mounted elsewhere). If that file
/// cannot be read the answer is `true`: only a positive sighting of absence counts.
pub fn device_exists(name: &str) -> bool {
    match std::fs::read_to_string("/proc/self/net/dev") {
        Ok(t) => t
            .lines()
            .skip(2)
            .any(|l| l.split_once(':').is_some_and(|(n, _)| n.trim() == name)),
        Err(_) => true,
    }
}
