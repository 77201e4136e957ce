//! The `nat64` binary's engines: the stateful NAT64 ([RFC 6146]) over a pool4 allocator, and
//! the stateless SIIT ([RFC 7915]).
//!
//! Both take the direction from the IP version: IPv6 in is outbound (towards the IPv4 side),
//! IPv4 in is inbound. Both split a translated packet that is larger than the next hop allows
//! and may be fragmented ([`super::fragment_mtu`]) into a scratch buffer allocated at start.
//!
//! pool4 is `nat-alloc`'s [`PooledAllocator`] over IPv6 subscribers (it is generic over the
//! inside family): paired pooling, port preservation or RFC 6056 ports, hold-down. The
//! translator owns the allocator in a `RefCell` ([`Pool4`]) and lends out no `&mut`; the
//! worker borrows it through the translator to drain its events and expire hold-downs, never
//! while the translator is inside a call.
//!
//! [RFC 6146]: https://www.rfc-editor.org/rfc/rfc6146
//! [RFC 7915]: https://www.rfc-editor.org/rfc/rfc7915

use super::engine::{per_proto, send_split, write_drops, write_state, write_table};
use super::{AllocBuildError, Engine, RunError, fragment_mtu, run};
use crate::config::{MAX_EAM, Nat64Settings, Nat64Validated, Pool4Policy, StatefulSettings};
use crate::log::{LogRecord, TranslationLog, proto_name};
use crate::store::HashStore;
use nat_alloc::{
    AddressSlot, AllocEvent, HoldSlot, Ipv4Range, PooledAllocator, PooledConfig, PooledStorage,
    PortPolicy, PortRange, SecretKey, SubscriberSlot,
};
use nat_core::allocator::{AllocError, AllocRequest, PortAllocator};
use nat_core::flow::{Endpoint, L4Proto};
use nat_core::nat64::{Nat64, Nat64ConfigError};
use nat_core::siit::{Siit, SiitConfig};
use nat_core::time::Instant;
use nat_core::verdict::{Direction, DropCounters, DropReason, Verdict};
use std::cell::RefCell;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The session store of the NAT64.
pub type Nat64Store = HashStore<Ipv6Addr, Ipv4Addr>;

/// The stateful NAT64 the worker runs.
pub type Nat64Translator<'a> = Nat64<Nat64Store, Pool4<'a>>;

/// The SIIT the worker runs.
pub type SiitTranslator = Siit<MAX_EAM>;

/// Events the pool4 allocator queues before the worker drains them.
const POOL4_EVENTS: usize = 4096;
/// Most IPv6 hosts holding pool4 ports at once (subscriber records, at a load of 7/8).
const MAX_POOL4_SUBSCRIBERS: usize = 1 << 16;
/// Most ports waiting out the hold-down at once.
const MAX_HELD_PORTS: usize = 1 << 16;
/// The largest packet, for the fragmentation scratch buffer.
const MAX_PACKET: usize = 65536;

/// The memory of the pool4 allocator, allocated once at start.
#[derive(Debug, Default)]
pub struct Pool4Memory {
    ranges: Vec<Ipv4Range>,
    subscribers: Vec<SubscriberSlot<Ipv6Addr>>,
    addresses: Vec<AddressSlot>,
    hold: Vec<HoldSlot>,
    events: Vec<Option<AllocEvent<Ipv6Addr>>>,
}

impl Pool4Memory {
    /// Memory for `policy`'s allocator, with subscriber records for up to `max_sessions` IPv6
    /// hosts (at most 65536).
    pub fn new(policy: &Pool4Policy, max_sessions: usize) -> Pool4Memory {
        let ranges: Vec<Ipv4Range> = policy
            .prefixes
            .iter()
            .map(|p| {
                let (a, b) = p.bounds();
                Ipv4Range::new(Ipv4Addr::from(a), Ipv4Addr::from(b))
                    .unwrap_or(Ipv4Range::single(Ipv4Addr::from(a)))
            })
            .collect();
        let n = max_sessions.clamp(1, MAX_POOL4_SUBSCRIBERS);
        let addresses = ranges.iter().map(|r| r.size() as usize).sum();
        Pool4Memory {
            ranges,
            subscribers: vec![SubscriberSlot::EMPTY; n + n / 7 + 8],
            addresses: vec![AddressSlot::EMPTY; addresses],
            hold: vec![HoldSlot::EMPTY; MAX_HELD_PORTS],
            events: vec![None; POOL4_EVENTS],
        }
    }

    /// Builds the allocator of `policy` over this memory.
    pub fn build<'a>(
        &'a mut self,
        policy: &Pool4Policy,
    ) -> Result<PooledAllocator<'a, Ipv6Addr>, AllocBuildError> {
        let key = SecretKey::new(
            policy.seed,
            policy.seed.rotate_left(32) ^ 0x6e61_7436_345f_6b65,
        );
        let mut cfg = PooledConfig::new(&self.ranges, key);
        cfg.ports = PortRange {
            first: policy.ports.0,
            last: policy.ports.1,
        };
        cfg.policy = if policy.port_preservation {
            PortPolicy::TRANSPARENT
        } else {
            PortPolicy::HARD_TO_GUESS
        };
        cfg.hold_down = policy.hold_down;
        cfg.max_held_ports = MAX_HELD_PORTS;
        // The engine tracks TCP state: a closed TCP port may be reused at once.
        cfg.tcp_immediate_reuse = true;
        let storage = PooledStorage {
            subscribers: &mut self.subscribers,
            addresses: &mut self.addresses,
            hold_down: &mut self.hold,
            exempt: &mut [],
            events: &mut self.events,
        };
        PooledAllocator::new(&cfg, storage).map_err(|e| AllocBuildError(format!("pool4: {e}")))
    }
}

/// The pool4 allocator, owned by the translator and borrowed by the worker (events,
/// hold-downs). A borrow that fails (it cannot: the worker never holds one across a
/// translator call) refuses the mapping instead of panicking.
#[derive(Debug)]
pub struct Pool4<'a>(pub RefCell<PooledAllocator<'a, Ipv6Addr>>);

impl PortAllocator<Ipv6Addr, Ipv4Addr> for Pool4<'_> {
    #[inline]
    fn allocate(
        &mut self,
        now: Instant,
        req: &AllocRequest<Ipv6Addr, Ipv4Addr>,
    ) -> Result<Endpoint<Ipv4Addr>, AllocError> {
        match self.0.try_borrow_mut() {
            Ok(mut a) => a.allocate(now, req),
            Err(_) => Err(AllocError::PoolExhausted),
        }
    }

    fn reserve(
        &mut self,
        now: Instant,
        proto: L4Proto,
        inside: Endpoint<Ipv6Addr>,
        outside: Endpoint<Ipv4Addr>,
    ) -> Result<(), AllocError> {
        match self.0.try_borrow_mut() {
            Ok(mut a) => a.reserve(now, proto, inside, outside),
            Err(_) => Err(AllocError::Unavailable),
        }
    }

    fn release(
        &mut self,
        now: Instant,
        proto: L4Proto,
        inside: Endpoint<Ipv6Addr>,
        outside: Endpoint<Ipv4Addr>,
    ) {
        if let Ok(mut a) = self.0.try_borrow_mut() {
            a.release(now, proto, inside, outside);
        }
    }

    #[inline]
    fn admit_session(
        &mut self,
        now: Instant,
        proto: L4Proto,
        inside: Ipv6Addr,
    ) -> Result<(), AllocError> {
        match self.0.try_borrow_mut() {
            Ok(mut a) => a.admit_session(now, proto, inside),
            Err(_) => Err(AllocError::RateLimited),
        }
    }

    fn session_closed(&mut self, now: Instant, proto: L4Proto, inside: Ipv6Addr) {
        if let Ok(mut a) = self.0.try_borrow_mut() {
            a.session_closed(now, proto, inside);
        }
    }
}

/// The IP version of a packet as a direction: IPv6 from the inside is outbound, IPv4 from the
/// outside inbound. Anything else goes outbound, where the engine counts it as malformed.
#[inline]
fn by_version(pkt: &[u8]) -> Direction {
    match pkt.first().map(|b| b >> 4) {
        Some(4) => Direction::Inbound,
        _ => Direction::Outbound,
    }
}

/// The stateful NAT64 as the worker drives it.
pub struct Nat64Engine<'a> {
    /// The translator.
    pub nat: Nat64Translator<'a>,
    /// Session table capacity (bounds the dump's scan).
    pub capacity: usize,
    scratch: Vec<u8>,
    local_drops: DropCounters,
}

impl<'a> Nat64Engine<'a> {
    /// An engine around a translator.
    pub fn new(nat: Nat64Translator<'a>, capacity: usize) -> Self {
        Nat64Engine {
            nat,
            capacity,
            scratch: vec![0; MAX_PACKET],
            local_drops: DropCounters::default(),
        }
    }
}

impl Engine for Nat64Engine<'_> {
    #[inline]
    fn direction(&self, pkt: &[u8]) -> Option<Direction> {
        Some(by_version(pkt))
    }

    #[inline]
    fn process(
        &mut self,
        now: Instant,
        dir: Direction,
        buf: &mut [u8],
        start: usize,
        len: usize,
    ) -> Verdict {
        self.nat.process(now, dir, buf, start, len)
    }

    #[inline]
    fn forward<F: FnMut(&[u8])>(&mut self, pkt: &[u8], send: F) {
        let mtu = fragment_mtu(&self.nat.config().xlat, pkt);
        send_split(pkt, mtu, &mut self.scratch, &mut self.local_drops, send);
    }

    /// Released fragments, Port Unreachable for stored V4 SYNs whose time ran out, probes of
    /// idle TCP sessions (RFC 6146 § 3.4, § 3.5.2.2).
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8], start: usize) -> Option<Verdict> {
        self.nat.poll_transmit(now, buf, start)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.nat.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Instant, max: usize) -> usize {
        self.nat.handle_timeout(now, max)
    }

    /// Lets pool4 expire hold-downs.
    fn housekeeping(&mut self, now: Instant) {
        if let Ok(mut a) = self.nat.allocator().0.try_borrow_mut() {
            a.poll(now);
        }
    }

    #[inline]
    fn drain_events(&mut self, log: &mut TranslationLog) {
        while let Some(e) = self.nat.poll_event() {
            log.record(LogRecord::Engine64(e));
        }
        if let Ok(mut a) = self.nat.allocator().0.try_borrow_mut() {
            let q = a.events();
            while let Some(e) = q.pop() {
                log.record(LogRecord::Alloc64(e));
            }
        }
    }

    fn drops(&self) -> &DropCounters {
        // Packets that could not be split for the next hop are counted apart (summary, dump).
        &self.nat.counters().drops
    }

    fn events_lost(&self) -> u64 {
        self.nat.events_lost()
    }

    fn summary(&self, _now: Instant, s: &mut String) {
        let c = self.nat.counters();
        let st = self.nat.state_counters();
        let _ = write!(
            s,
            "out {} in {} hairpin {} icmp-err sent {} | sessions t/u/i {} mappings {}",
            c.outbound,
            c.inbound,
            c.hairpinned,
            c.icmp_errors_sent,
            per_proto(&st.sessions),
            per_proto(&st.mappings),
        );
        if self.local_drops.total() > 0 {
            let _ = write!(s, " | unfragmentable {}", self.local_drops.total());
        }
    }

    fn dump(&self, now: Instant, limit: usize, text: &mut String) {
        let c = self.nat.counters();
        let cfg = self.nat.config();
        let _ = writeln!(
            text,
            "engine: stateful NAT64, pool6 {}/{}, pool4 {}",
            cfg.pool6.prefix(),
            cfg.pool6.prefix_len(),
            cfg.pool4
                .iter()
                .map(|p| format!("{}/{}", p.addr(), p.len()))
                .collect::<Vec<_>>()
                .join(",")
        );
        let _ = writeln!(
            text,
            "  stored V4 SYNs {}, waiting fragments {}, events lost {}",
            self.nat.stored_syns(),
            self.nat.waiting_fragments(),
            self.nat.events_lost()
        );
        write_state(text, self.nat.state_counters(), &c.drops);
        if self.local_drops.total() > 0 {
            let _ = writeln!(text, "not split for the next hop:");
            write_drops(text, &self.local_drops);
        }
        if let Ok(a) = self.nat.allocator().0.try_borrow() {
            let st = a.stats();
            let _ = writeln!(
                text,
                "pool4: allocated {}, released {}, pool rejections {}, ports in hold-down {}, IPv6 hosts {}",
                st.allocated,
                st.released,
                st.pool_rejections,
                a.held_ports(),
                a.subscribers()
            );
        }
        write_table(text, self.nat.store(), self.capacity, now, limit);
    }
}

/// Counters of the SIIT engine (the translator itself keeps none: it is stateless and
/// shared by reference).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SiitCounters {
    /// IPv6 → IPv4 translations.
    pub outbound: u64,
    /// IPv4 → IPv6 translations.
    pub inbound: u64,
    /// Packets hairpinned by an explicit address mapping (IPv6 in, IPv6 out).
    pub hairpinned: u64,
    /// ICMP errors sent.
    pub icmp_errors_sent: u64,
    /// Drops by reason.
    pub drops: DropCounters,
}

/// The stateless SIIT as the worker drives it.
pub struct SiitEngine {
    /// The translator.
    pub siit: SiitTranslator,
    /// Its counters.
    pub counters: SiitCounters,
    scratch: Vec<u8>,
}

impl SiitEngine {
    /// An engine around a translator.
    pub fn new(siit: SiitTranslator) -> Self {
        SiitEngine {
            siit,
            counters: SiitCounters::default(),
            scratch: vec![0; MAX_PACKET],
        }
    }
}

impl Engine for SiitEngine {
    const STATELESS: bool = true;

    #[inline]
    fn direction(&self, pkt: &[u8]) -> Option<Direction> {
        Some(by_version(pkt))
    }

    #[inline]
    fn process(
        &mut self,
        _now: Instant,
        dir: Direction,
        buf: &mut [u8],
        start: usize,
        len: usize,
    ) -> Verdict {
        let v = match dir {
            Direction::Outbound => self.siit.translate_6to4(buf, start, len),
            Direction::Inbound => self.siit.translate_4to6(buf, start, len),
        };
        let c = &mut self.counters;
        match v {
            Verdict::Drop(r) => c.drops.bump(r),
            Verdict::Reply { .. } => c.icmp_errors_sent += 1,
            Verdict::Forward { start: s, .. } => {
                let out6 = buf.get(s).is_some_and(|b| b >> 4 == 6);
                match (dir, out6) {
                    (Direction::Outbound, true) => c.hairpinned += 1,
                    (Direction::Outbound, false) => c.outbound += 1,
                    (Direction::Inbound, _) => c.inbound += 1,
                }
            }
            Verdict::Hold => {}
        }
        v
    }

    #[inline]
    fn forward<F: FnMut(&[u8])>(&mut self, pkt: &[u8], send: F) {
        let mtu = self.siit.fragment_mtu(pkt);
        send_split(pkt, mtu, &mut self.scratch, &mut self.counters.drops, send);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    fn handle_timeout(&mut self, _now: Instant, _max: usize) -> usize {
        0
    }

    fn drain_events(&mut self, _log: &mut TranslationLog) {}

    fn drops(&self) -> &DropCounters {
        &self.counters.drops
    }

    fn summary(&self, _now: Instant, s: &mut String) {
        let c = &self.counters;
        let _ = write!(
            s,
            "6to4 {} 4to6 {} hairpin {} icmp-err sent {}",
            c.outbound, c.inbound, c.hairpinned, c.icmp_errors_sent
        );
    }

    fn dump(&self, _now: Instant, _limit: usize, text: &mut String) {
        let cfg = self.siit.config();
        let _ = writeln!(
            text,
            "engine: SIIT, pool6 {}, {} explicit address mappings",
            cfg.pool6.map_or("none".to_string(), |p| format!(
                "{}/{}",
                p.prefix(),
                p.prefix_len()
            )),
            cfg.eamt.len()
        );
        for e in cfg.eamt.entries() {
            let _ = writeln!(
                text,
                "  eam {}/{} <-> {}/{}",
                e.ipv4().addr(),
                e.ipv4().prefix_len(),
                e.ipv6().addr(),
                e.ipv6().prefix_len()
            );
        }
        write_drops(text, &self.counters.drops);
    }
}

fn config_error(e: Nat64ConfigError) -> RunError {
    RunError::Config(format!("nat64: {e}"))
}

fn run_stateful(s: &StatefulSettings, cfg: &Nat64Validated, app: &str) -> Result<(), RunError> {
    let mut memory = Pool4Memory::new(&s.pool4, s.max_sessions);
    let memory = &mut memory;
    run(&cfg.runtime, app, move |ctl| {
        // Moved in, so that the allocator may borrow it beyond this call.
        let memory: &mut Pool4Memory = memory;
        let alloc = memory.build(&s.pool4).map_err(|e| RunError::Config(e.0))?;
        let pool4 = Pool4(RefCell::new(alloc));
        let mut store = Nat64Store::with_capacity(s.max_sessions, s.pool4.seed ^ 0x5e55_1064);
        store.reserve(s.max_sessions);
        let mut nat = Nat64::new(s.config.clone(), store, pool4).map_err(config_error)?;
        for m in &s.statics {
            nat.add_static(ctl.clock().now(), m.proto, m.inside, m.outside)
                .map_err(|r: DropReason| {
                    RunError::Config(format!(
                        "static BIB entry {} [{}]:{} -> {}:{}: {}",
                        proto_name(m.proto),
                        m.inside.addr,
                        m.inside.port,
                        m.outside.addr,
                        m.outside.port,
                        r.as_str()
                    ))
                })?;
        }
        let c = &s.config;
        let what = format!(
            "stateful NAT64, pool6 {}/{} -> pool4 {} ports {}-{}, {} static, up to {} sessions",
            c.pool6.prefix(),
            c.pool6.prefix_len(),
            s.pool4
                .prefixes
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(","),
            s.pool4.ports.0,
            s.pool4.ports.1,
            s.statics.len(),
            s.max_sessions
        );
        Ok((vec![Nat64Engine::new(nat, s.max_sessions)], what))
    })
}

fn run_siit(c: &SiitConfig<MAX_EAM>, cfg: &Nat64Validated, app: &str) -> Result<(), RunError> {
    run(&cfg.runtime, app, |_| {
        // Stateless: one translator per queue, no hand-off between them.
        let engines = (0..cfg.runtime.tun_queues.max(1))
            .map(|_| Siit::new(c.clone()).map(SiitEngine::new))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| RunError::Config(format!("nat64: {e}")))?;
        let what = format!(
            "SIIT, pool6 {}, {} explicit address mappings",
            c.pool6.map_or("none".to_string(), |p| format!(
                "{}/{}",
                p.prefix(),
                p.prefix_len()
            )),
            c.eamt.len()
        );
        Ok((engines, what))
    })
}

/// Runs the NAT64 or SIIT of a validated configuration on its TUN device until SIGINT or
/// SIGTERM. `app` names the program in messages and log records.
pub fn run_nat64(cfg: &Nat64Validated, app: &str) -> Result<(), RunError> {
    match &cfg.engine {
        Nat64Settings::Stateful(s) => run_stateful(s, cfg, app),
        Nat64Settings::Siit(c) => run_siit(c, cfg, app),
    }
}
