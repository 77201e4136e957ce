//! The per-port allocator: paired pooling, port choice, quotas, hold-down and exemptions, one
//! outside port at a time.
//!
//! Each pool address has one 65,536-port [bitmap](crate::bitmap) per protocol; a subscriber is
//! paired with one address ([RFC 4787] REQ-2, [RFC 6888] REQ-2, draft-nishitani-cgn REQ-1) and
//! every port it gets comes from that address's bitmaps, chosen by the [`PortPolicy`].
//!
//! # The release contract (REQ-2a, 3a, 4a)
//!
//! The translator calls [`release`](PortAllocator::release) only when the mapping is gone: its
//! UDP mapping timer or ICMP query timer ran out, or no TCP session uses the port any more. Until
//! then the port stays marked in the bitmap and nobody else can get it ("MUST NOT overload ...
//! while a NAT UDP mapping timer does not expire", draft-nishitani-cgn REQ-2a, 3a, 4a; [RFC 4787]
//! REQ-3 no port overloading). After the release the port waits out the hold-down
//! ([RFC 6888] REQ-8, 120 s by default) before any new mapping gets it; with
//! `tcp_immediate_reuse` TCP ports skip it (REQ-8a: the translator tracks TCP state).
//!
//! [RFC 4787]: https://www.rfc-editor.org/rfc/rfc4787#section-4.1
//! [RFC 6888]: https://www.rfc-editor.org/rfc/rfc6888#section-3

use core::net::Ipv4Addr;

use nat_core::allocator::{AllocError, AllocRequest, PortAllocator};
use nat_core::flow::{Endpoint, L4Proto};
use nat_core::time::{Duration, Instant};

use crate::admission::{Admission, Admitted, admission_by_fields};
use crate::bitmap::{Parity, PortBitmap};
use crate::blocks::BlockLayout;
use crate::error::{ConfigError, need};
use crate::events::{AllocEvent, AllocStats, EventQueue};
use crate::exemption::{ExemptSlot, ExemptTable, Exemption, Exemptions};
use crate::hash::SecretKey;
use crate::holddown::{HoldDown, HoldSlot};
use crate::pool::{AddressPool, Ipv4Range};
use crate::port::{FlowId, PortChooser, PortPolicy, PortRange, Window};
use crate::quota::{self, Bucket, Quotas};
use crate::subscriber::{InsideAddress, NONE, SubscriberSlot, SubscriberTable};

/// The per-port state of one pool address (storage element): a port bitmap per protocol and
/// the number of subscribers paired with it ([RFC 4787] REQ-2, REQ-3). About 25 KiB.
///
/// [RFC 4787]: https://www.rfc-editor.org/rfc/rfc4787#section-4
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressSlot {
    subscribers: u32,
    maps: [PortBitmap; 3],
}

impl AddressSlot {
    /// A free address, to fill the storage with.
    pub const EMPTY: AddressSlot = AddressSlot {
        subscribers: 0,
        maps: [PortBitmap::EMPTY, PortBitmap::EMPTY, PortBitmap::EMPTY],
    };
}

/// The RFC 6888 REQ-8 default hold-down: 120 seconds.
pub const DEFAULT_HOLD_DOWN: Duration = Duration::from_secs(120);

/// Configuration of a [`PooledAllocator`] (draft-nishitani-cgn § 3, [RFC 6888] § 3).
///
/// [RFC 6888]: https://www.rfc-editor.org/rfc/rfc6888#section-3
#[derive(Clone, Copy, Debug)]
pub struct PooledConfig<'a> {
    /// The outside addresses ([RFC 6888] REQ-3).
    ///
    /// [RFC 6888]: https://www.rfc-editor.org/rfc/rfc6888#section-3
    pub pool: &'a [Ipv4Range],
    /// The outside ports of every address.
    pub ports: PortRange,
    /// How ports are chosen.
    pub policy: PortPolicy,
    /// Per-subscriber limits.
    pub quotas: Quotas,
    /// How long a released port waits before a new mapping may get it (REQ-8; 0 disables).
    pub hold_down: Duration,
    /// At most this many ports wait in hold-down (REQ-8 "maximum number of ports in this
    /// state"); needs as many [`HoldSlot`]s. `usize::MAX`: as many as the storage holds.
    pub max_held_ports: usize,
    /// Reuse TCP ports at once (REQ-8a), for translators that track TCP state.
    pub tcp_immediate_reuse: bool,
    /// Length of the prefix that identifies a subscriber; `None` for the whole address.
    pub subscriber_prefix_len: Option<u8>,
    /// At most this many subscribers share one outside address.
    pub max_subscribers_per_address: u32,
    /// Destinations outside the quota (draft-nishitani-cgn REQ-5, § 7).
    pub exemptions: &'a [Exemption],
    /// Queue a `BlockAllocated`/`BlockFreed` event of one port per mapping (per-session
    /// logging, draft-nishitani-cgn § 6.1).
    pub log_ports: bool,
    /// The key of every hash (RFC 6056 `secret_key`).
    pub key: SecretKey,
}

impl<'a> PooledConfig<'a> {
    /// Defaults around a pool and a key: ports 1024-65535, [`PortPolicy::HARD_TO_GUESS`], no
    /// quotas, 120 s hold-down for as many ports as the storage holds, whole-address
    /// subscribers, no logging.
    pub fn new(pool: &'a [Ipv4Range], key: SecretKey) -> Self {
        PooledConfig {
            pool,
            ports: PortRange::DYNAMIC,
            policy: PortPolicy::HARD_TO_GUESS,
            quotas: Quotas::UNLIMITED,
            hold_down: DEFAULT_HOLD_DOWN,
            max_held_ports: usize::MAX,
            tcp_immediate_reuse: false,
            subscriber_prefix_len: None,
            max_subscribers_per_address: u32::MAX,
            exemptions: &[],
            log_ports: false,
            key,
        }
    }
}

/// The caller's memory for a [`PooledAllocator`] (draft-nishitani-cgn § 3 state): slices the
/// firmware takes from statics and `nat-std` from `Vec`s. Contents are overwritten by
/// [`PooledAllocator::new`].
#[derive(Debug)]
pub struct PooledStorage<'a, I> {
    /// Subscriber records; at most 7/8 of them are used.
    pub subscribers: &'a mut [SubscriberSlot<I>],
    /// One per pool address.
    pub addresses: &'a mut [AddressSlot],
    /// At least `max_held_ports`.
    pub hold_down: &'a mut [HoldSlot],
    /// Exempt mappings remembered for release; 3/4 are used. May be empty.
    pub exempt: &'a mut [ExemptSlot],
    /// The event queue; may be empty.
    pub events: &'a mut [Option<AllocEvent<I>>],
}

/// Per-port allocation with paired pooling, quotas, hold-down and exemptions
/// ([RFC 4787] REQ-2/3/3a/4, [RFC 6888] REQ-2..8 and 13..15, draft-nishitani-cgn REQ-1..5).
///
/// Pairing is strict: a subscriber whose address has no free port left gets
/// `PoolExhausted`, even if other addresses have room. Keep `max_subscribers_per_address` ×
/// the port quota within the ports of an address to rule that out.
///
/// [RFC 4787]: https://www.rfc-editor.org/rfc/rfc4787#section-4
/// [RFC 6888]: https://www.rfc-editor.org/rfc/rfc6888#section-3
#[derive(Debug)]
pub struct PooledAllocator<'a, I> {
    pool: AddressPool<'a>,
    ports: PortRange,
    /// [`spans`] of `ports`.
    spans: [(u32, u32); 2],
    addrs: &'a mut [AddressSlot],
    subs: SubscriberTable<'a, I>,
    held: HoldDown<'a>,
    exempt: ExemptTable<'a>,
    exemptions: Exemptions<'a>,
    events: EventQueue<'a, I>,
    chooser: PortChooser,
    quotas: Quotas,
    tcp_immediate_reuse: bool,
    max_subs_per_addr: u32,
    log_ports: bool,
    stats: AllocStats,
}

impl<'a, I: InsideAddress> PooledAllocator<'a, I> {
    /// Validates `cfg` against `storage` and builds the allocator.
    pub fn new(cfg: &PooledConfig<'a>, storage: PooledStorage<'a, I>) -> Result<Self, ConfigError> {
        let pool = AddressPool::new(cfg.pool)?;
        cfg.ports.validate("ports")?;
        cfg.quotas.validate()?;
        let exemptions = Exemptions::new(cfg.exemptions)?;
        let bits = (I::LEN * 8) as u8;
        let prefix_len = cfg.subscriber_prefix_len.unwrap_or(bits);
        if prefix_len > bits {
            return Err(ConfigError::OutOfRange {
                field: "subscriber_prefix_len",
            });
        }
        if cfg.max_subscribers_per_address == 0 {
            return Err(ConfigError::OutOfRange {
                field: "max_subscribers_per_address",
            });
        }
        if storage.subscribers.is_empty() {
            return Err(ConfigError::Empty {
                field: "storage.subscribers",
            });
        }
        need(
            "storage.addresses",
            pool.len() as usize,
            storage.addresses.len(),
        )?;
        let max_held = match cfg.max_held_ports {
            usize::MAX => storage.hold_down.len(),
            n => n,
        };
        need("storage.hold_down", max_held, storage.hold_down.len())?;
        let addrs = storage.addresses;
        addrs.fill(AddressSlot::EMPTY);
        storage.hold_down.fill(HoldSlot::EMPTY);
        Ok(PooledAllocator {
            pool,
            ports: cfg.ports,
            spans: spans(cfg.ports, &cfg.policy),
            addrs,
            subs: SubscriberTable::new(storage.subscribers, &cfg.key, prefix_len),
            held: HoldDown::new(storage.hold_down, max_held, cfg.hold_down),
            exempt: ExemptTable::new(storage.exempt, &cfg.key),
            exemptions,
            events: EventQueue::new(storage.events),
            chooser: PortChooser::new(cfg.policy, &cfg.key),
            quotas: cfg.quotas,
            tcp_immediate_reuse: cfg.tcp_immediate_reuse,
            max_subs_per_addr: cfg.max_subscribers_per_address,
            log_ports: cfg.log_ports,
            stats: AllocStats::default(),
        })
    }

    /// The event queue, to drain.
    pub fn events(&mut self) -> &mut EventQueue<'a, I> {
        &mut self.events
    }

    /// The counters.
    pub fn stats(&self) -> AllocStats {
        AllocStats {
            hold_down_evictions: self.held.evicted(),
            ..self.stats
        }
    }

    /// Ports now in hold-down (REQ-8).
    pub fn held_ports(&self) -> usize {
        self.held.len()
    }

    /// Subscribers with a live record.
    pub fn subscribers(&self) -> usize {
        self.subs.len()
    }

    /// The outside address paired with the subscriber of `inside`, if it holds anything.
    pub fn paired_address(&self, inside: I) -> Option<Ipv4Addr> {
        let i = self.subs.find(self.subs.subscriber_of(inside))?;
        let a = self.subs.get(i).addr;
        if a == NONE {
            None
        } else {
            self.pool.address(a)
        }
    }

    /// Whether `outside` is in use or in hold-down for `proto`.
    pub fn is_taken(&self, proto: L4Proto, outside: Endpoint<Ipv4Addr>) -> bool {
        self.pool
            .index_of(outside.addr)
            .and_then(|a| self.addrs.get(a as usize))
            .is_some_and(|s| s.maps[proto.index()].is_set(outside.port))
    }

    /// When [`poll`](Self::poll) next has work (a hold-down ends), for the caller's timer
    /// (quinn-style `poll_timeout`).
    pub fn next_timeout(&self) -> Option<Instant> {
        self.held.next_expiry()
    }

    /// Ends the hold-downs due at `now` (every call does it too).
    #[inline]
    pub fn poll(&mut self, now: Instant) {
        // The common case, nothing due, without a call.
        if self.held.is_due(now) || self.quotas.tcp_rate.is_some() {
            self.expire_due(now);
        }
    }

    #[inline(never)]
    fn expire_due(&mut self, now: Instant) {
        while let Some(e) = self.held.pop_expired(now) {
            self.free_port(e.addr(), e.proto(), e.port());
        }
        // Records outlive their holdings only to remember a token bucket (REQ-3e): sweep one
        // slot per call for those, and only when there can be any.
        if self.quotas.tcp_rate.is_some()
            && let Some(i) = self.subs.next_sweep()
        {
            self.forget_if_idle(i, now);
        }
    }

    fn free_port(&mut self, addr: u32, proto: L4Proto, port: u16) {
        if let Some(a) = self.addrs.get_mut(addr as usize) {
            a.maps[proto.index()].clear(port);
        }
    }

    /// Drops the record of subscriber `i` if it holds nothing and its bucket is full.
    /// When subscriber `i` holds nothing: unpairs its address, and drops the record unless its
    /// token bucket still remembers recent sessions. Unpairing at once (not when the record is
    /// dropped) keeps what others get independent of when records are swept.
    fn forget_if_idle(&mut self, i: usize, now: Instant) {
        let s = self.subs.get_mut(i);
        if !s.holds_nothing() {
            return;
        }
        if let Some(a) = self.addrs.get_mut(s.addr as usize) {
            a.subscribers = a.subscribers.saturating_sub(1);
        }
        s.addr = NONE;
        if quota::bucket_full(&s.bucket, &self.quotas, now) {
            self.subs.remove(i);
        }
    }

    /// The search window for an inside port: its range (REQ-3a) and parity (REQ-4).
    #[inline]
    fn window(&self, inside_port: u16) -> Window {
        let (lo, hi) = self.spans[usize::from(inside_port >= 1024)];
        let p = u32::from(inside_port);
        Window {
            lo,
            hi,
            parity: self.chooser.parity_for(inside_port),
            preferred: (lo..=hi).contains(&p).then_some(p),
        }
    }
}

/// The port spans searched for inside ports below 1024 and from 1024 up: with range
/// preservation (REQ-3a) the part of `ports` in the inside port's range, when there is one;
/// else all of `ports`.
fn spans(ports: PortRange, policy: &PortPolicy) -> [(u32, u32); 2] {
    let (first, last) = (u32::from(ports.first), u32::from(ports.last));
    let span = |l: u32, h: u32| {
        if policy.range && l <= h {
            (l, h)
        } else {
            (first, last)
        }
    };
    [span(first, last.min(1023)), span(first.max(1024), last)]
}

admission_by_fields!(PooledAllocator);

impl<I: InsideAddress> PortAllocator<I, Ipv4Addr> for PooledAllocator<'_, I> {
    fn poll(&mut self, now: Instant) {
        Self::poll(self, now);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.next_timeout()
    }

    fn allocate(
        &mut self,
        now: Instant,
        req: &AllocRequest<I, Ipv4Addr>,
    ) -> Result<Endpoint<Ipv4Addr>, AllocError> {
        let Admitted {
            sub,
            hash,
            si,
            exempt,
        } = self.admit(now, req)?;
        let proto = req.proto;
        let p = proto.index();
        let s = self.subs.get(si);
        let addr = if s.addr != NONE {
            s.addr
        } else {
            let (addrs, max) = (&*self.addrs, self.max_subs_per_addr);
            let picked = self.pool.pick(hash, |i| {
                let n = addrs.get(i as usize)?.subscribers;
                (n < max).then_some(u64::from(n))
            });
            match picked {
                Some(a) => a,
                None => return Err(self.reject(si, now, proto, AllocError::PoolExhausted)),
            }
        };
        let Some(outside) = self.pool.address(addr) else {
            return Err(self.reject(si, now, proto, AllocError::PoolExhausted));
        };
        let win = self.window(req.inside.port);
        let flow = FlowId::new(
            hash,
            req.inside.port,
            req.remote.addr.to_bits(),
            req.remote.port,
            p as u8,
        );
        let map = &self.addrs[addr as usize].maps[p];
        let mut found = None;
        // Parity is a SHOULD (REQ-4): a port of the other parity beats no port.
        for parity in [win.parity, Parity::Any] {
            found = self.chooser.choose(map, Window { parity, ..win }, &flow);
            if found.is_some() || win.parity == Parity::Any {
                break;
            }
        }
        let Some(port) = found.and_then(|f| u16::try_from(f).ok()) else {
            return Err(self.reject(si, now, proto, AllocError::PoolExhausted));
        };
        let a = &mut self.addrs[addr as usize];
        a.maps[p].set(port);
        let s = self.subs.get_mut(si);
        if s.addr == NONE {
            s.addr = addr;
            a.subscribers += 1;
        }
        if exempt && self.exempt.insert(addr, proto, port) {
            s.exempt[p] = s.exempt[p].saturating_add(1);
        } else {
            s.used[p] += 1;
        }
        self.stats.allocated += 1;
        if self.log_ports {
            self.events.push(AllocEvent::BlockAllocated {
                at: now,
                subscriber: sub,
                outside,
                first_port: port,
                len: 1,
                proto: Some(proto),
                layout: BlockLayout::Contiguous,
            });
        }
        Ok(Endpoint::new(outside, port))
    }

    fn reserve(
        &mut self,
        now: Instant,
        proto: L4Proto,
        inside: Endpoint<I>,
        outside: Endpoint<Ipv4Addr>,
    ) -> Result<(), AllocError> {
        self.poll(now);
        let addr = self
            .pool
            .index_of(outside.addr)
            .ok_or(AllocError::Unavailable)?;
        if !self.ports.contains(outside.port) {
            return Err(AllocError::Unavailable);
        }
        let sub = self.subs.subscriber_of(inside.addr);
        let si = self
            .subs
            .find_or_insert(sub, || Bucket::full(&self.quotas, now.as_millis()))
            .ok_or(AllocError::PoolExhausted)?;
        let s = self.subs.get(si);
        let a = &mut self.addrs[addr as usize];
        if (s.addr != NONE && s.addr != addr) || !a.maps[proto.index()].set(outside.port) {
            self.forget_if_idle(si, now);
            return Err(AllocError::Unavailable);
        }
        let s = self.subs.get_mut(si);
        if s.addr == NONE {
            s.addr = addr;
            a.subscribers += 1;
        }
        s.used[proto.index()] += 1;
        self.stats.allocated += 1;
        Ok(())
    }

    fn release(
        &mut self,
        now: Instant,
        proto: L4Proto,
        inside: Endpoint<I>,
        outside: Endpoint<Ipv4Addr>,
    ) {
        self.poll(now);
        let p = proto.index();
        let sub = self.subs.subscriber_of(inside.addr);
        let (Some(addr), Some(si)) = (self.pool.index_of(outside.addr), self.subs.find(sub)) else {
            self.stats.ignored_releases += 1;
            return;
        };
        let s = self.subs.get_mut(si);
        let in_use = self
            .addrs
            .get(addr as usize)
            .is_some_and(|a| a.maps[p].is_set(outside.port));
        if s.addr != addr || !in_use {
            self.stats.ignored_releases += 1;
            return;
        }
        if s.exempt[p] > 0 && self.exempt.remove(addr, proto, outside.port) {
            s.exempt[p] -= 1;
        } else if s.used[p] > 0 {
            s.used[p] -= 1;
        } else {
            self.stats.ignored_releases += 1;
            return;
        }
        s.logged = 0;
        let subscriber = s.key;
        if self.held.enabled() && !(self.tcp_immediate_reuse && proto == L4Proto::Tcp) {
            if let Some(e) = self.held.push(now, addr, proto, outside.port) {
                self.free_port(e.addr(), e.proto(), e.port());
            }
        } else {
            self.free_port(addr, proto, outside.port);
        }
        self.stats.released += 1;
        if self.log_ports {
            self.events.push(AllocEvent::BlockFreed {
                at: now,
                subscriber,
                outside: outside.addr,
                first_port: outside.port,
                len: 1,
                proto: Some(proto),
                layout: BlockLayout::Contiguous,
            });
        }
        self.forget_if_idle(si, now);
    }

    fn admit_session(&mut self, now: Instant, proto: L4Proto, inside: I) -> Result<(), AllocError> {
        self.poll(now);
        let sub = self.subs.subscriber_of(inside);
        let si = self
            .subs
            .find_or_insert(sub, || Bucket::full(&self.quotas, now.as_millis()))
            .ok_or(AllocError::PoolExhausted)?;
        let r = quota::admit(&mut self.subs.get_mut(si).bucket, &self.quotas, now, proto);
        if r.is_err() {
            self.stats.session_rejections += 1;
            self.forget_if_idle(si, now);
        }
        r
    }

    fn session_closed(&mut self, now: Instant, _proto: L4Proto, inside: I) {
        let sub = self.subs.subscriber_of(inside);
        if let Some(si) = self.subs.find(sub) {
            quota::close(&mut self.subs.get_mut(si).bucket);
            self.forget_if_idle(si, now);
        }
    }
}
