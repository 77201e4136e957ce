//! The allocators of `nat-alloc`, built from an [`AllocPolicy`] over memory owned here.
//!
//! `nat-alloc` works in caller-provided slices (so that firmware can use statics); the runtime
//! allocates them once, at start, in [`AllocMemory`], and the allocator borrows them for the
//! life of the worker. Nothing is allocated afterwards.

use crate::config::{AllocMode, AllocPolicy};
use nat_alloc::{
    AddressSlot, AllocEvent, AllocStats, BlockAllocator, BlockConfig, BlockSlot, BlockStorage,
    DeterministicAllocator, DeterministicConfig, DeterministicSlot, HoldSlot, InsidePrefix,
    Ipv4Range, PooledAllocator, PooledConfig, PooledStorage, PortPolicy, PortRange, Quotas,
    SecretKey, SubscriberSlot,
};
use nat_core::allocator::{AllocError, AllocRequest, PortAllocator};
use nat_core::flow::{Endpoint, L4Proto};
use nat_core::time::Instant;
use std::cell::RefCell;
use std::net::Ipv4Addr;

/// Events the per-port and block allocators queue before the runtime drains them.
const ALLOC_EVENTS: usize = 4096;
/// The most ports waiting out the hold-down at once (per-port mode).
const MAX_HELD_PORTS: usize = 1 << 16;

impl AllocPolicy {
    /// The pool as `nat-alloc` ranges.
    pub fn ranges(&self) -> Vec<Ipv4Range> {
        self.pool
            .iter()
            .map(|p| {
                let (a, b) = p.bounds();
                Ipv4Range::new(Ipv4Addr::from(a), Ipv4Addr::from(b))
                    .unwrap_or(Ipv4Range::single(Ipv4Addr::from(a)))
            })
            .collect()
    }

    fn key(&self) -> SecretKey {
        SecretKey::new(self.seed, self.seed.rotate_left(32) ^ 0x6e61_7434_345f_6b65)
    }

    fn port_policy(&self) -> PortPolicy {
        if self.port_preservation {
            PortPolicy::TRANSPARENT
        } else {
            PortPolicy::HARD_TO_GUESS
        }
    }

    fn quotas(&self) -> Quotas {
        let mut q = Quotas::ports(
            self.port_quota[L4Proto::Tcp.index()],
            self.port_quota[L4Proto::Udp.index()],
            self.port_quota[L4Proto::Icmp.index()],
        );
        q.sessions = self.session_quota;
        q
    }

    /// Subscriber records: one per inside address, up to the session capacity, at a load of
    /// 7/8.
    fn subscriber_slots(&self) -> usize {
        let inside: u64 = self
            .inside
            .iter()
            .map(|p| u64::from(p.bounds().1 - p.bounds().0) + 1)
            .sum();
        let n = inside.min(self.max_sessions as u64) as usize;
        n + n / 7 + 8
    }

    /// The block allocator's configuration (port-block mode).
    pub fn block_config<'a>(&self, ranges: &'a [Ipv4Range]) -> BlockConfig<'a> {
        BlockConfig {
            ports: PortRange {
                first: self.ports.0,
                last: self.ports.1,
            },
            block_size: self.block_size,
            max_blocks: self.max_blocks,
            layout: self.block_layout,
            hold_down: self.hold_down,
            policy: self.port_policy(),
            quotas: self.quotas(),
            ..BlockConfig::new(ranges, self.key())
        }
    }

    /// The deterministic configuration (the first inside prefix; validation checked there is
    /// exactly one).
    pub fn deterministic_config<'a>(
        &self,
        ranges: &'a [Ipv4Range],
    ) -> DeterministicConfig<'a, Ipv4Addr> {
        let inside = self.inside.first().map_or(
            InsidePrefix {
                addr: Ipv4Addr::UNSPECIFIED,
                len: 32,
            },
            |p| InsidePrefix {
                addr: p.0.addr(),
                len: p.0.len(),
            },
        );
        DeterministicConfig {
            inside,
            subscriber_prefix_len: None,
            outside: ranges,
            first_port: self.ports.0,
            ports_per_subscriber: self.ports_per_subscriber,
            policy: self.port_policy(),
            quotas: self.quotas(),
            key: self.key(),
        }
    }
}

/// The memory of an allocator, allocated once at start.
#[derive(Debug, Default)]
pub struct AllocMemory {
    ranges: Vec<Ipv4Range>,
    subscribers: Vec<SubscriberSlot<Ipv4Addr>>,
    addresses: Vec<AddressSlot>,
    hold: Vec<HoldSlot>,
    events: Vec<Option<AllocEvent<Ipv4Addr>>>,
    pool_bits: Vec<u64>,
    blocks: Vec<BlockSlot<Ipv4Addr>>,
    block_bits: Vec<u64>,
    det_slots: Vec<DeterministicSlot>,
}

/// One of the allocators of `nat-alloc`, chosen by configuration.
// One value per runtime: the block allocator's 768 B of scatter tables costs nothing worth a
// pointer on every allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum AnyAllocator<'a> {
    /// Per-port pool.
    Pooled(PooledAllocator<'a, Ipv4Addr>),
    /// Port blocks.
    Block(BlockAllocator<'a, Ipv4Addr>),
    /// Deterministic NAT.
    Deterministic(DeterministicAllocator<'a, Ipv4Addr>),
}

/// An allocator could not be built: the message names the setting.
#[derive(Debug)]
pub struct AllocBuildError(pub String);

impl AllocMemory {
    /// Memory for `policy`'s allocator.
    pub fn new(policy: &AllocPolicy) -> AllocMemory {
        AllocMemory {
            ranges: policy.ranges(),
            ..AllocMemory::default()
        }
    }

    /// Builds the allocator of `policy` over this memory.
    pub fn build<'a>(&'a mut self, p: &AllocPolicy) -> Result<AnyAllocator<'a>, AllocBuildError> {
        let err = |e: nat_alloc::ConfigError| AllocBuildError(format!("allocation: {e}"));
        let subs = p.subscriber_slots();
        match p.mode {
            AllocMode::PerPort => {
                let mut cfg = PooledConfig::new(&self.ranges, p.key());
                cfg.ports = PortRange {
                    first: p.ports.0,
                    last: p.ports.1,
                };
                cfg.policy = p.port_policy();
                cfg.quotas = p.quotas();
                cfg.hold_down = p.hold_down;
                cfg.max_held_ports = MAX_HELD_PORTS;
                // The engine tracks TCP state: a closed TCP port may be reused at once
                // (RFC 6888 REQ-8a).
                cfg.tcp_immediate_reuse = true;
                self.subscribers = vec![SubscriberSlot::EMPTY; subs];
                self.addresses =
                    vec![AddressSlot::EMPTY; self.ranges.iter().map(|r| r.size() as usize).sum()];
                self.hold = vec![HoldSlot::EMPTY; MAX_HELD_PORTS];
                self.events = vec![None; ALLOC_EVENTS];
                let storage = PooledStorage {
                    subscribers: &mut self.subscribers,
                    addresses: &mut self.addresses,
                    hold_down: &mut self.hold,
                    exempt: &mut [],
                    events: &mut self.events,
                };
                PooledAllocator::new(&cfg, storage)
                    .map(AnyAllocator::Pooled)
                    .map_err(err)
            }
            AllocMode::PortBlock => {
                let mut cfg = p.block_config(&self.ranges);
                // Every subscriber's blocks, and as many again waiting out the hold-down.
                let nblocks = (subs * usize::from(p.max_blocks)).min(1 << 22);
                cfg.max_held_blocks = nblocks;
                self.subscribers = vec![SubscriberSlot::EMPTY; subs];
                self.pool_bits = vec![0; cfg.pool_words().map_err(err)?];
                self.blocks = vec![BlockSlot::EMPTY; 2 * nblocks];
                self.block_bits = vec![0; cfg.block_words(2 * nblocks)];
                self.events = vec![None; ALLOC_EVENTS];
                let storage = BlockStorage {
                    subscribers: &mut self.subscribers,
                    pool_bits: &mut self.pool_bits,
                    blocks: &mut self.blocks,
                    block_bits: &mut self.block_bits,
                    exempt: &mut [],
                    events: &mut self.events,
                };
                BlockAllocator::new(&cfg, storage)
                    .map(AnyAllocator::Block)
                    .map_err(err)
            }
            AllocMode::Deterministic => {
                let cfg = p.deterministic_config(&self.ranges);
                let map = nat_alloc::DeterministicMap::new(&cfg).map_err(err)?;
                self.det_slots = vec![DeterministicSlot::EMPTY; map.subscribers() as usize];
                self.pool_bits = vec![0; DeterministicAllocator::bitmap_words(&map)];
                DeterministicAllocator::new(&cfg, &mut self.det_slots, &mut self.pool_bits)
                    .map(AnyAllocator::Deterministic)
                    .map_err(err)
            }
        }
    }
}

impl AnyAllocator<'_> {
    /// Drains queued allocator events into `f`.
    pub fn drain_events(&mut self, mut f: impl FnMut(AllocEvent<Ipv4Addr>)) {
        let q = match self {
            AnyAllocator::Pooled(a) => a.events(),
            AnyAllocator::Block(a) => a.events(),
            AnyAllocator::Deterministic(_) => return,
        };
        while let Some(e) = q.pop() {
            f(e);
        }
    }

    /// Allocator events lost to a full queue.
    pub fn events_overflowed(&mut self) -> u64 {
        match self {
            AnyAllocator::Pooled(a) => a.events().overflowed(),
            AnyAllocator::Block(a) => a.events().overflowed(),
            AnyAllocator::Deterministic(_) => 0,
        }
    }

    /// Expires hold-downs and idle blocks due at `now`.
    pub fn poll(&mut self, now: Instant) {
        match self {
            AnyAllocator::Pooled(a) => a.poll(now),
            AnyAllocator::Block(a) => a.poll(now),
            AnyAllocator::Deterministic(_) => {}
        }
    }

    /// The allocator's counters.
    pub fn stats(&self) -> AllocStats {
        match self {
            AnyAllocator::Pooled(a) => a.stats(),
            AnyAllocator::Block(a) => a.stats(),
            AnyAllocator::Deterministic(a) => a.stats(),
        }
    }

    /// The mode's name, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            AnyAllocator::Pooled(_) => "per-port",
            AnyAllocator::Block(_) => "port-block",
            AnyAllocator::Deterministic(_) => "deterministic",
        }
    }
}

macro_rules! each {
    ($self:expr, $a:ident => $e:expr) => {
        match $self {
            AnyAllocator::Pooled($a) => $e,
            AnyAllocator::Block($a) => $e,
            AnyAllocator::Deterministic($a) => $e,
        }
    };
}

impl PortAllocator<Ipv4Addr, Ipv4Addr> for AnyAllocator<'_> {
    #[inline]
    fn allocate(
        &mut self,
        now: Instant,
        req: &AllocRequest<Ipv4Addr, Ipv4Addr>,
    ) -> Result<Endpoint<Ipv4Addr>, AllocError> {
        each!(self, a => a.allocate(now, req))
    }

    fn reserve(
        &mut self,
        now: Instant,
        proto: L4Proto,
        inside: Endpoint<Ipv4Addr>,
        outside: Endpoint<Ipv4Addr>,
    ) -> Result<(), AllocError> {
        each!(self, a => a.reserve(now, proto, inside, outside))
    }

    fn release(
        &mut self,
        now: Instant,
        proto: L4Proto,
        inside: Endpoint<Ipv4Addr>,
        outside: Endpoint<Ipv4Addr>,
    ) {
        each!(self, a => a.release(now, proto, inside, outside))
    }

    #[inline]
    fn admit_session(
        &mut self,
        now: Instant,
        proto: L4Proto,
        inside: Ipv4Addr,
    ) -> Result<(), AllocError> {
        each!(self, a => a.admit_session(now, proto, inside))
    }

    fn session_closed(&mut self, now: Instant, proto: L4Proto, inside: Ipv4Addr) {
        each!(self, a => a.session_closed(now, proto, inside))
    }
}

/// The allocator as the engine holds it: [`Nat44`](nat_core::nat44::Nat44) lends only `&A`
/// once it owns the allocator, and draining the allocator's event queue needs `&mut`; a
/// `RefCell` (single thread, no lock) lets the worker do both. The engine borrows it only
/// inside its own calls, so the worker's borrows never overlap them.
#[derive(Debug)]
pub struct SharedAllocator<'a>(pub RefCell<AnyAllocator<'a>>);

impl PortAllocator<Ipv4Addr, Ipv4Addr> for SharedAllocator<'_> {
    #[inline]
    fn allocate(
        &mut self,
        now: Instant,
        req: &AllocRequest<Ipv4Addr, Ipv4Addr>,
    ) -> Result<Endpoint<Ipv4Addr>, AllocError> {
        self.0.get_mut().allocate(now, req)
    }

    fn reserve(
        &mut self,
        now: Instant,
        proto: L4Proto,
        inside: Endpoint<Ipv4Addr>,
        outside: Endpoint<Ipv4Addr>,
    ) -> Result<(), AllocError> {
        self.0.get_mut().reserve(now, proto, inside, outside)
    }

    fn release(
        &mut self,
        now: Instant,
        proto: L4Proto,
        inside: Endpoint<Ipv4Addr>,
        outside: Endpoint<Ipv4Addr>,
    ) {
        self.0.get_mut().release(now, proto, inside, outside)
    }

    #[inline]
    fn admit_session(
        &mut self,
        now: Instant,
        proto: L4Proto,
        inside: Ipv4Addr,
    ) -> Result<(), AllocError> {
        self.0.get_mut().admit_session(now, proto, inside)
    }

    fn session_closed(&mut self, now: Instant, proto: L4Proto, inside: Ipv4Addr) {
        self.0.get_mut().session_closed(now, proto, inside)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::path::Path;

    fn policy(extra: &str) -> AllocPolicy {
        let text = format!(
            "[tun]\nname = \"t\"\n[nat]\ninside = [\"10.0.0.0/24\"]\npool = [\"198.51.100.0/30\"]\n\
             inside_address = \"10.0.0.1\"\nmax_sessions = 1024\n[allocation]\nseed = 7\n{extra}"
        );
        let p = Path::new("t.toml");
        Config::parse(p, &text)
            .and_then(|c| c.validate(p, &text))
            .unwrap_or_else(|e| panic!("{e}"))
            .alloc
    }

    fn first_mapping(extra: &str) -> Endpoint<Ipv4Addr> {
        let p = policy(extra);
        let mut mem = AllocMemory::new(&p);
        let mut a = mem.build(&p).unwrap_or_else(|e| panic!("{}", e.0));
        let req = AllocRequest {
            proto: L4Proto::Udp,
            inside: Endpoint::new(Ipv4Addr::new(10, 0, 0, 2), 40000),
            remote: Endpoint::new(Ipv4Addr::new(203, 0, 113, 2), 7),
        };
        a.allocate(Instant::ZERO, &req).unwrap()
    }

    #[test]
    fn every_mode_gives_a_pool_endpoint() {
        for mode in [
            "mode = \"per-port\"",
            "mode = \"port-block\"\nblock_size = 64",
            "mode = \"deterministic\"\nports_per_subscriber = 1000",
        ] {
            let e = first_mapping(mode);
            assert_eq!(e.addr.octets()[..3], [198, 51, 100], "{mode}: {e:?}");
            assert!(e.port >= 1024, "{mode}: {e:?}");
        }
    }

    #[test]
    fn per_port_preserves_the_port_and_logs_nothing_per_port() {
        let p = policy("");
        let mut mem = AllocMemory::new(&p);
        let mut a = mem.build(&p).unwrap_or_else(|e| panic!("{}", e.0));
        let req = AllocRequest {
            proto: L4Proto::Tcp,
            inside: Endpoint::new(Ipv4Addr::new(10, 0, 0, 9), 33333),
            remote: Endpoint::new(Ipv4Addr::new(203, 0, 113, 2), 80),
        };
        assert_eq!(a.allocate(Instant::ZERO, &req).unwrap().port, 33333);
        let mut n = 0;
        a.drain_events(|_| n += 1);
        assert_eq!(n, 0);
        assert_eq!(a.stats().allocated, 1);
    }

    #[test]
    fn quota_refuses_the_next_mapping() {
        let p = policy("[allocation.quota]\nudp = 2");
        let mut mem = AllocMemory::new(&p);
        let mut a = mem.build(&p).unwrap_or_else(|e| panic!("{}", e.0));
        let mut req = AllocRequest {
            proto: L4Proto::Udp,
            inside: Endpoint::new(Ipv4Addr::new(10, 0, 0, 2), 1),
            remote: Endpoint::new(Ipv4Addr::new(203, 0, 113, 2), 7),
        };
        for port in [40001, 40002] {
            req.inside.port = port;
            a.allocate(Instant::ZERO, &req).unwrap();
        }
        req.inside.port = 40003;
        assert_eq!(
            a.allocate(Instant::ZERO, &req),
            Err(AllocError::QuotaExhausted)
        );
        let mut exhausted = 0;
        a.drain_events(|e| exhausted += u32::from(matches!(e, AllocEvent::QuotaExhausted { .. })));
        assert_eq!(exhausted, 1);
    }
}
