//! The worker loop of the translator binaries: packets from a TUN device through an engine and
//! back, timers, logs, counters and signals.
//!
//! One worker owns one TUN queue and one translator. The NAT44 may run several (`tun.queues`):
//! it is then sharded, each worker owning the subscribers that hash to it and a slice of the
//! outside ports ([`shard`]), and the workers hand each other the packets the kernel gave to
//! the wrong one ([`mesh`]): no lock on the packet path. The NAT64 and LSNAT keep one worker.
//! The loop ([`run`]) is generic over the translator ([`Engine`],
//! static dispatch): [`Nat44Engine`] (`nat44`), [`Nat64Engine`] and [`SiitEngine`] (`nat64`),
//! [`LsnatEngine`] (`lsnat`). Its loop:
//!
//! 1. wait for a packet, at most until the engine's next timer ([`Engine::poll_timeout`]), the
//!    next summary, or a second;
//! 2. read it into a buffer with [`HEADROOM`] bytes in front (the engine writes the ICMP errors
//!    it owes there, and NAT64 the IPv6 header that is 20 bytes longer), then read up to
//!    [`BURST`] more without waiting;
//! 3. let the engine choose the direction ([`Engine::direction`]): NAT44 by its inside and pool
//!    prefixes, NAT64 and SIIT by IP version (IPv6 is outbound), LSNAT by destination (a virtual
//!    server: inbound from clients) and source (a real server: outbound); anything else is not
//!    ours (counted);
//! 4. [`Engine::process`], and write `Forward` and `Reply` packets back to the TUN device,
//!    whose kernel routes them on;
//! 5. hand the engine's events to the translation log ([`Engine::drain_events`]), call
//!    [`Engine::handle_timeout`] and [`Engine::housekeeping`] when due.
//!
//! SIGINT and SIGTERM stop the loop cleanly (the log is flushed, a last summary printed);
//! SIGUSR1 dumps the counters and the engine's tables to stderr. Drops and I/O errors are
//! counted, never fatal, except that a TUN device that no longer exists ends the run with
//! [`RunError::TunVanished`]. Nothing is allocated per packet: the buffer, the tables and the
//! allocators' memory are allocated at start.

/// Writes a line to stderr, ignoring failure: `eprintln!` panics when stderr is gone (a
/// closed pipe), and a translator must not die of its own chatter.
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

mod alloc;
mod engine;
mod lsnat;
pub mod mesh;
mod nat64;
mod report;
pub mod shard;
mod who;

pub use alloc::{AllocBuildError, AllocMemory, AnyAllocator, SharedAllocator};
pub use engine::{Engine, Nat44Engine, fragment_mtu};
pub use lsnat::{
    LSNAT_MAGLEV, LsnatEngine, LsnatStore, LsnatTable, LsnatTranslator, ProbeCounters, ProbeResult,
    ProbeTarget, build_lsnat, run_lsnat,
};
pub use nat64::{
    Nat64Engine, Nat64Store, Nat64Translator, Pool4, Pool4Memory, SiitCounters, SiitEngine,
    SiitTranslator, run_nat64,
};
pub use report::{dump, summary};
pub use shard::{MAX_WORKERS, Nat44Shards};
pub use who::{Owner, who};

use crate::config::{AllocPolicy, RuntimeSettings, Validated};
use crate::log::{Origin, TranslationLog, hostname};
use crate::store::HashStore;
use crate::tun::{Recv, Tun, TunQueue, Waker, device_exists};
use mesh::{Handoff, Kind, Mesh, MeshCounters};
use nat_core::flow::{Endpoint, IpAddress};
use nat_core::nat44::Nat44;
use nat_core::session::{BibEntry, BibRef, SessionStore};
use nat_core::time::Instant;
use nat_core::verdict::{Direction, Verdict};
use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR1};
use signal_hook::iterator::Signals;
use std::cell::RefCell;
use std::fmt;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// The session store of the runtime: the one line to change to try another store.
pub type Nat44Store = HashStore<Ipv4Addr, Ipv4Addr>;

/// The NAT44 translator `nat44` runs (the name predates the other engines).
pub type Translator<'a> = Nat44<Nat44Store, SharedAllocator<'a>>;

/// Bytes kept free before each packet: the engine writes the ICMP error it owes there (NAT44
/// needs 28; IPv4 → IPv6 translation up to [`nat_core::siit::HEADROOM`], 48).
pub const HEADROOM: usize = 64;
/// Packets read without waiting after the first of a wake-up.
pub const BURST: usize = 64;
/// Sessions expired per `handle_timeout` call: each may queue two events, and the engine's
/// event queue holds 256, which is drained between calls.
pub(crate) const EXPIRE_BATCH: usize = 100;
/// The longest wait for a packet, so that housekeeping runs at least this often.
const MAX_WAIT: Duration = Duration::from_secs(1);

/// Why a run ended badly. [`exit_code`](Self::exit_code) is what the binaries return.
#[derive(Debug)]
pub enum RunError {
    /// The configuration cannot be used (exit code 2).
    Config(String),
    /// Something the run needs could not be set up: the TUN device, the log target, the signal
    /// handlers (exit code 1).
    Setup(String),
    /// The TUN device disappeared while running (exit code 3).
    TunVanished(String),
}

impl RunError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            RunError::Config(_) => 2,
            RunError::Setup(_) => 1,
            RunError::TunVanished(_) => 3,
        }
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Config(m) => write!(f, "configuration: {m}"),
            RunError::Setup(m) => write!(f, "setup: {m}"),
            RunError::TunVanished(m) => write!(f, "TUN device vanished: {m}"),
        }
    }
}

impl std::error::Error for RunError {}

/// Counters of the runtime, besides the engine's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuntimeCounters {
    /// Packets read from the TUN device.
    pub rx_packets: u64,
    /// Bytes read.
    pub rx_bytes: u64,
    /// Packets written back.
    pub tx_packets: u64,
    /// Bytes written.
    pub tx_bytes: u64,
    /// ICMP errors the engine owed and the worker wrote (part of `tx_packets`).
    pub replies: u64,
    /// Read errors.
    pub rx_errors: u64,
    /// Write errors.
    pub tx_errors: u64,
    /// Packets the engine's [`Engine::direction`] did not take (NAT44: neither from an inside
    /// prefix nor to the pool; LSNAT: neither to a virtual server nor from a real one).
    pub not_ours: u64,
}

/// The wall clock and monotonic clock at start: the engine's `Instant` zero.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    start: std::time::Instant,
    epoch: SystemTime,
}

impl Clock {
    /// Starts the clock.
    pub fn start() -> Clock {
        Clock {
            start: std::time::Instant::now(),
            epoch: SystemTime::now(),
        }
    }

    /// Now, on the engine's clock.
    #[inline]
    pub fn now(&self) -> Instant {
        Instant::from_millis(u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    /// The wall-clock time of the engine's zero.
    pub fn epoch(&self) -> SystemTime {
        self.epoch
    }
}

/// What the signal thread tells the workers.
#[derive(Debug, Default)]
struct Flags {
    shutdown: AtomicBool,
    /// Bumped by each SIGUSR1: every worker dumps once per change.
    dump: AtomicU64,
    signal: AtomicI32,
}

/// What the workers share with the signal thread, and the clock.
#[derive(Debug)]
pub struct Control {
    clock: Clock,
    flags: Arc<Flags>,
    wakers: Vec<Arc<Waker>>,
}

impl Control {
    /// The run's clock.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Asks every worker to stop.
    fn stop_all(&self) {
        self.flags.shutdown.store(true, Ordering::SeqCst);
        for w in &self.wakers {
            let _ = w.wake();
        }
    }
}

/// A worker's state: everything the packet path touches.
pub struct Worker<'q, E> {
    /// The translator.
    pub engine: E,
    /// The TUN queue.
    queue: &'q TunQueue,
    /// The translation log.
    pub log: TranslationLog,
    /// Runtime counters.
    pub counters: RuntimeCounters,
    /// The clock.
    pub clock: Clock,
    /// The hand-off to the other workers of a sharded translator.
    mesh: Option<Mesh>,
    /// Interrupts this worker's wait.
    waker: Arc<Waker>,
    /// The SIGUSR1 count this worker last dumped for.
    dump_seen: u64,
    /// This worker's number and how many there are.
    id: (usize, usize),
}

/// How many hairpins deep a packet may go between workers (out, back in, an error about it).
const MAX_HAIRPIN_DEPTH: u8 = 2;

impl<E: Engine> Worker<'_, E> {
    /// The hand-off counters, for a sharded translator.
    pub fn mesh_counters(&self) -> Option<(usize, &MeshCounters)> {
        self.mesh.as_ref().map(|m| (m.id(), &m.counters))
    }

    /// Writes what a verdict says to send, or hands a packet to a pool address of the
    /// translator itself to the worker that owns that address and port (hairpinning between
    /// shards).
    #[inline]
    fn emit(&mut self, now: Instant, buf: &mut [u8], v: Verdict, depth: u8) {
        let (start, len, reply) = match v {
            Verdict::Forward { start, len } => (start, len, false),
            Verdict::Reply { start, len } => (start, len, true),
            Verdict::Hold | Verdict::Drop(_) => return,
        };
        let Some(pkt) = buf.get(start..start.saturating_add(len)) else {
            self.counters.tx_errors += 1;
            return;
        };
        if self.mesh.is_some() && depth < MAX_HAIRPIN_DEPTH && self.engine.needs_hairpin(pkt) {
            self.dispatch(now, Kind::Hairpin, buf, start, len, depth + 1);
            return;
        }
        let Worker {
            engine,
            queue,
            counters,
            ..
        } = self;
        let mut send = |p: &[u8]| match queue.send(p) {
            Ok(()) => {
                counters.tx_packets += 1;
                counters.tx_bytes += p.len() as u64;
                counters.replies += u64::from(reply);
            }
            Err(_) => counters.tx_errors += 1,
        };
        if reply {
            send(pkt);
        } else {
            engine.forward(pkt, send);
        }
    }

    /// Translates the packet of `n` bytes at `buf[HEADROOM..]` and sends what comes out.
    #[inline]
    pub fn packet(&mut self, now: Instant, buf: &mut [u8], n: usize) {
        self.counters.rx_packets += 1;
        self.counters.rx_bytes += n as u64;
        let Some(pkt) = buf.get(HEADROOM..HEADROOM + n) else {
            return;
        };
        let Some(dir) = self.engine.direction(pkt) else {
            self.counters.not_ours += 1;
            return;
        };
        if self.mesh.is_some() {
            self.dispatch(now, Kind::Packet(dir), buf, HEADROOM, n, 0);
        } else {
            let v = self.engine.process(now, dir, buf, HEADROOM, n);
            self.emit(now, buf, v, 0);
        }
        self.transmit(now, buf);
        self.drain_events();
    }

    /// Translates `buf[start..start + len]` here if this worker owns it, or hands it to the
    /// worker that does ([`shard`]). A later fragment follows its first; one that comes
    /// before its first waits for it.
    fn dispatch(
        &mut self,
        now: Instant,
        kind: Kind,
        buf: &mut [u8],
        start: usize,
        len: usize,
        depth: u8,
    ) {
        let dir = match kind {
            Kind::Packet(d) => d,
            Kind::Hairpin => Direction::Inbound,
        };
        let Some(pkt) = buf.get(start..start + len) else {
            return;
        };
        let route = self.engine.route(dir, pkt);
        let Some(mesh) = self.mesh.as_mut() else {
            return self.translate(now, kind, buf, start, len, depth);
        };
        let me = mesh.id();
        let Some(owner) = mesh.owner(&route, pkt, now) else {
            return;
        };
        if owner == me {
            self.translate(now, kind, buf, start, len, depth);
        } else {
            mesh.send(owner, kind, pkt, HEADROOM);
        }
        if matches!(route.fragment, Some((_, true))) {
            self.release_orphans(now, depth);
        }
    }

    /// Later fragments that waited for a first fragment just seen go to its owner.
    fn release_orphans(&mut self, now: Instant, depth: u8) {
        let mut scratch = [0u8; HEADROOM + nat_core::fragments::WAITING_BYTES];
        loop {
            let Some(mesh) = self.mesh.as_mut() else {
                return;
            };
            let Some((len, owner)) = mesh.fragments.take_ready(now, &mut scratch[HEADROOM..])
            else {
                return;
            };
            let owner = usize::from(owner);
            let kind = Kind::Packet(Direction::Inbound);
            if owner == mesh.id() {
                self.translate(now, kind, &mut scratch, HEADROOM, len, depth);
            } else {
                mesh.send(owner, kind, &scratch[HEADROOM..HEADROOM + len], HEADROOM);
            }
        }
    }

    /// Translates a packet this worker owns and sends what comes out.
    fn translate(
        &mut self,
        now: Instant,
        kind: Kind,
        buf: &mut [u8],
        start: usize,
        len: usize,
        depth: u8,
    ) {
        let v = match kind {
            Kind::Packet(dir) => self.engine.process(now, dir, buf, start, len),
            Kind::Hairpin => self.engine.hairpin(now, buf, start, len),
        };
        self.emit(now, buf, v, depth);
    }

    /// Translates up to `max` packets other workers handed to this one; returns how many.
    fn drain_inbox(&mut self, now: Instant, max: usize) -> usize {
        let mut n = 0;
        while n < max {
            let Some(mut h) = self.mesh.as_mut().and_then(Mesh::recv) else {
                break;
            };
            n += 1;
            self.handoff(now, &mut h);
            if let Some(m) = self.mesh.as_mut() {
                m.give_back(h.buf, h.from);
            }
        }
        if n > 0 {
            self.drain_events();
        }
        n
    }

    fn handoff(&mut self, now: Instant, h: &mut Handoff) {
        let depth = if h.kind == Kind::Hairpin { 1 } else { 0 };
        self.translate(now, h.kind, &mut h.buf, h.start, h.len, depth);
    }

    /// Sends what the engine has to send on its own (released fragments, answers to held SYNs).
    fn transmit(&mut self, now: Instant, buf: &mut [u8]) {
        for _ in 0..1024 {
            let Some(v) = self.engine.poll_transmit(now, buf, HEADROOM) else {
                break;
            };
            self.emit(now, buf, v, 0);
        }
    }

    /// Moves queued engine events to the translation log.
    #[inline]
    fn drain_events(&mut self) {
        self.engine.drain_events(&mut self.log);
    }

    /// Timers: expires due sessions (in batches, draining events between), lets the engine do
    /// its other periodic work, and sends what it owes.
    pub fn housekeeping(&mut self, now: Instant, buf: &mut [u8]) {
        if self.engine.poll_timeout().is_some_and(|t| t <= now) {
            while self.engine.handle_timeout(now, EXPIRE_BATCH) == EXPIRE_BATCH {
                self.drain_events();
            }
            self.drain_events();
        }
        self.engine.housekeeping(now);
        self.transmit(now, buf);
        self.drain_events();
    }

    /// How the worker names itself in messages: `app`, or `app[k]` when there are several.
    fn label(&self, app: &str) -> String {
        match self.id {
            (_, 1) => app.to_string(),
            (k, _) => format!("{app}[{k}]"),
        }
    }
}

/// Sets up the clock, the signal handlers (SIGINT and SIGTERM stop, SIGUSR1 dumps) and one
/// worker per engine `build` makes, each on its own queue of the TUN device of `rt` (which
/// says how many: `rt.tun_queues`), and runs them until a signal. `build` gets the clock (for
/// static entries) and returns the engines and a line saying what they translate; its errors
/// end the run before the TUN device is created. With several engines, the engines' `route`
/// says which worker owns which packet ([`shard`]) and the workers hand packets to each other
/// ([`mesh`]).
///
/// This is the loop of every translator binary; `app` names the program in messages and log
/// records.
pub fn run<E: Engine + Send>(
    rt: &RuntimeSettings,
    app: &str,
    build: impl FnOnce(&Control) -> Result<(Vec<E>, String), RunError>,
) -> Result<(), RunError> {
    let clock = Clock::start();
    let flags = Arc::new(Flags::default());
    let wakers = (0..rt.tun_queues.max(1))
        .map(|_| Waker::new().map(Arc::new))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| RunError::Setup(format!("wake-up pipe: {e}")))?;
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGUSR1])
        .map_err(|e| RunError::Setup(format!("signal handlers: {e}")))?;
    let signal_handle = signals.handle();
    let signal_thread = {
        let (flags, wakers) = (Arc::clone(&flags), wakers.clone());
        std::thread::Builder::new()
            .name("nat-signals".into())
            .spawn(move || {
                for sig in signals.forever() {
                    if sig == SIGUSR1 {
                        flags.dump.fetch_add(1, Ordering::SeqCst);
                    } else {
                        flags.signal.store(sig, Ordering::SeqCst);
                        flags.shutdown.store(true, Ordering::SeqCst);
                    }
                    for w in &wakers {
                        let _ = w.wake();
                    }
                }
            })
            .map_err(|e| RunError::Setup(format!("signal thread: {e}")))?
    };
    let ctl = Control {
        clock,
        flags,
        wakers,
    };
    let result = build(&ctl).and_then(|(engines, what)| serve(engines, &what, rt, app, &ctl));
    signal_handle.close();
    let _ = signal_thread.join();
    result
}

fn serve<E: Engine + Send>(
    engines: Vec<E>,
    what: &str,
    rt: &RuntimeSettings,
    app: &str,
    ctl: &Control,
) -> Result<(), RunError> {
    let n = engines.len();
    if n == 0 || n != ctl.wakers.len() {
        return Err(RunError::Setup(format!(
            "{n} engines for {} queues",
            ctl.wakers.len()
        )));
    }
    let origin = Origin {
        epoch: ctl.clock.epoch(),
        hostname: rt.log.hostname.clone().unwrap_or_else(hostname),
        app: app.to_string(),
        pid: std::process::id(),
    };
    let mut log = TranslationLog::start(&rt.log, origin)
        .map_err(|e| RunError::Setup(format!("translation log {}: {e}", rt.log.target)))?;
    let tun = Tun::open(&rt.tun_name, rt.tun_mtu, n).map_err(|e| {
        RunError::Setup(format!(
            "cannot open TUN device {}: {e} (root or CAP_NET_ADMIN needed)",
            rt.tun_name
        ))
    })?;
    note!(
        "{app}: translating on {} (mtu {}, {n} queue{}): {what}; translation log: {}",
        tun.name(),
        rt.tun_mtu,
        if n == 1 { "" } else { "s, one worker each" },
        rt.log.target,
    );
    let meshes: Vec<Option<Mesh>> = if n > 1 && !E::STATELESS {
        mesh::build(&ctl.wakers, HEADROOM + usize::from(rt.tun_mtu))
            .into_iter()
            .map(Some)
            .collect()
    } else {
        (0..n).map(|_| None).collect()
    };
    let tun = &tun;
    let outcomes: Vec<Result<(), RunError>> = std::thread::scope(|s| {
        let mut handles = Vec::with_capacity(n);
        for (id, (engine, mesh)) in engines.into_iter().zip(meshes).enumerate() {
            let (Some(queue), Some(waker)) = (tun.queues().get(id), ctl.wakers.get(id)) else {
                ctl.stop_all();
                break;
            };
            let mut w = Worker {
                engine,
                queue,
                log: log.handle(),
                counters: RuntimeCounters::default(),
                clock: ctl.clock,
                mesh,
                waker: Arc::clone(waker),
                dump_seen: 0,
                id: (id, n),
            };
            let spawned = std::thread::Builder::new()
                .name(format!("nat-worker-{id}"))
                .spawn_scoped(s, move || {
                    let outcome = worker_loop(&mut w, rt, app, ctl, tun);
                    if outcome.is_err() {
                        ctl.stop_all();
                    }
                    w.drain_events();
                    note!("{}: {}", w.label(app), summary(&w));
                    outcome
                });
            match spawned {
                Ok(h) => handles.push(h),
                Err(e) => {
                    ctl.stop_all();
                    handles.clear();
                    return vec![Err(RunError::Setup(format!("worker thread: {e}")))];
                }
            }
        }
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(RunError::Setup("a worker panicked".into())))
            })
            .collect()
    });
    log.finish();
    let outcome = outcomes.into_iter().find(Result::is_err).unwrap_or(Ok(()));
    if outcome.is_ok() {
        note!(
            "{app}: stopped by signal {}",
            ctl.flags.signal.load(Ordering::SeqCst)
        );
    }
    outcome
}

/// The allocation policy of worker `k` of a sharded NAT44: its slice of the ports and its
/// share of the session capacity.
fn shard_policy(cfg: &Validated, shards: Option<&Nat44Shards>, k: usize) -> AllocPolicy {
    let mut p = cfg.alloc.clone();
    if let Some(s) = shards {
        if let Some(ports) = s.ports_of(k) {
            p.ports = ports;
        }
        p.max_sessions = (cfg.max_sessions / s.workers()).max(1);
    }
    p
}

/// Runs the CGN NAT44 of a validated configuration on its TUN device until SIGINT or SIGTERM.
/// `app` names the program in messages and log records.
///
/// With `tun.queues` > 1 the translator is sharded: one NAT44 per worker, each with its share
/// of `max_sessions`, its own allocator over its slice of the ports, and the subscribers whose
/// address hashes to it ([`shard`]).
pub fn run_nat44(cfg: &Validated, app: &str) -> Result<(), RunError> {
    let n = cfg.runtime.tun_queues.max(1);
    let shards = if n > 1 {
        Some(Arc::new(
            Nat44Shards::new(n, &cfg.nat.outside_prefixes, &cfg.alloc, &cfg.statics)
                .map_err(RunError::Config)?,
        ))
    } else {
        None
    };
    let policies: Vec<AllocPolicy> = (0..n)
        .map(|k| shard_policy(cfg, shards.as_deref(), k))
        .collect();
    let mut memories: Vec<AllocMemory> = policies.iter().map(AllocMemory::new).collect();
    let memories = &mut memories;
    run(&cfg.runtime, app, move |ctl| {
        // Moved in, so that the allocators may borrow them beyond this call.
        let memories: &mut Vec<AllocMemory> = memories;
        let mut engines = Vec::with_capacity(n);
        let mut mode = "";
        for (k, (memory, policy)) in memories.iter_mut().zip(&policies).enumerate() {
            let alloc = memory.build(policy).map_err(|e| RunError::Config(e.0))?;
            mode = alloc.name();
            let capacity = policy.max_sessions;
            let mut store = Nat44Store::with_capacity(capacity, cfg.alloc.seed ^ 0x5e55_1075);
            store.reserve(capacity);
            let mut c = cfg.nat.clone();
            c.hairpin_handoff = shards.is_some();
            let mut nat = Nat44::new(c, store, SharedAllocator(RefCell::new(alloc)))
                .map_err(|e| RunError::Config(e.to_string()))?;
            for s in &cfg.statics {
                if shards.as_ref().is_some_and(|sh| sh.static_owner(s) != k) {
                    continue;
                }
                nat.add_static(ctl.clock.now(), s.proto, s.inside, s.outside)
                    .map_err(|r| {
                        RunError::Config(format!(
                            "static mapping {} {} -> {}: {}",
                            crate::log::proto_name(s.proto),
                            fmt_ep(s.inside),
                            fmt_ep(s.outside),
                            r.as_str()
                        ))
                    })?;
            }
            engines.push(Nat44Engine {
                nat,
                capacity,
                shards: shards.clone(),
            });
        }
        let what = format!(
            "inside {} -> pool {}, {mode} allocation, {} static, up to {} sessions{}",
            list(
                cfg.nat
                    .inside_prefixes
                    .iter()
                    .map(|p| format!("{}/{}", p.addr(), p.len()))
            ),
            list(
                cfg.nat
                    .outside_prefixes
                    .iter()
                    .map(|p| format!("{}/{}", p.addr(), p.len()))
            ),
            cfg.statics.len(),
            cfg.max_sessions,
            match &shards {
                Some(s) => format!(
                    ", sharded over {n} workers by subscriber{}",
                    s.ports_of(0)
                        .map(|(a, b)| format!(" (worker 0 ports {a}-{b}, ...)"))
                        .unwrap_or_default()
                ),
                None => String::new(),
            }
        );
        Ok((engines, what))
    })
}

fn worker_loop<E: Engine>(
    w: &mut Worker<'_, E>,
    rt: &RuntimeSettings,
    app: &str,
    ctl: &Control,
    tun: &Tun,
) -> Result<(), RunError> {
    let flags = &*ctl.flags;
    let waker = Arc::clone(&w.waker);
    let mut buf = vec![0u8; HEADROOM + 65536];
    let mut next_summary = rt.summary_interval.map(|d| w.clock.now() + d);
    let mut next_housekeeping = w.clock.now();
    let mut errors_in_a_row: u32 = 0;
    let label = w.label(app);
    loop {
        if flags.shutdown.load(Ordering::SeqCst) {
            return Ok(());
        }
        let dumps = flags.dump.load(Ordering::SeqCst);
        if dumps != w.dump_seen {
            w.dump_seen = dumps;
            dump(w, rt.dump_limit, &mut std::io::stderr().lock());
        }
        let now = w.clock.now();
        let timer = w.engine.poll_timeout();
        if now >= next_housekeeping || timer.is_some_and(|t| t <= now) {
            w.housekeeping(now, &mut buf);
            next_housekeeping = now + MAX_WAIT;
        }
        if let (Some(at), Some(every)) = (next_summary, rt.summary_interval)
            && now >= at
        {
            note!("{label}: {}", summary(w));
            next_summary = Some(now + every);
        }
        if w.drain_inbox(now, BURST) > 0 {
            // Busy: read what the queue has without sleeping, then look again.
            read_burst(w, &mut buf, now, BURST);
            continue;
        }
        let mut until = next_housekeeping;
        if let Some(t) = w.engine.poll_timeout() {
            until = until.min(t);
        }
        if let Some(s) = next_summary {
            until = until.min(s);
        }
        let wait = until.saturating_since(now).max(Duration::from_millis(1));
        if let Some(mut h) = w.mesh.as_mut().and_then(Mesh::park) {
            w.handoff(now, &mut h);
            if let Some(m) = w.mesh.as_mut() {
                m.give_back(h.buf, h.from);
            }
            continue;
        }
        let rx = buf.get_mut(HEADROOM..).unwrap_or_default();
        let got = w.queue.recv(rx, &waker, Some(wait));
        if let Some(m) = &w.mesh {
            m.unpark();
        }
        match got {
            Recv::Packet(n) => {
                errors_in_a_row = 0;
                let now = w.clock.now();
                w.packet(now, &mut buf, n);
                read_burst(w, &mut buf, now, BURST - 1);
            }
            Recv::Timeout => {}
            Recv::Woken => {
                // Re-arm first, then look at the flags and the inbox (top of the loop): a
                // signal or packet that arrives in between is seen there.
                let _ = waker.reset();
            }
            Recv::Error(e) => {
                w.counters.rx_errors += 1;
                if !tun.exists() || !device_exists(tun.name()) {
                    return Err(RunError::TunVanished(format!("{}: {e}", tun.name())));
                }
                errors_in_a_row = errors_in_a_row.saturating_add(1);
                if errors_in_a_row.is_power_of_two() {
                    note!(
                        "{label}: read error on {} ({errors_in_a_row} in a row): {e}",
                        tun.name()
                    );
                }
                // Do not spin on a persistent error; the device is checked again next time.
                std::thread::sleep(Duration::from_millis(u64::from(errors_in_a_row.min(100))));
            }
        }
    }
}

/// Reads and translates up to `max` packets that wait on the worker's queue, without waiting.
fn read_burst<E: Engine>(w: &mut Worker<'_, E>, buf: &mut [u8], now: Instant, max: usize) {
    for _ in 0..max {
        let rx = buf.get_mut(HEADROOM..).unwrap_or_default();
        match w.queue.try_recv(rx) {
            Ok(Some(n)) => w.packet(now, buf, n),
            Ok(None) => break,
            Err(_) => {
                w.counters.rx_errors += 1;
                break;
            }
        }
    }
}

fn fmt_ep(e: Endpoint<Ipv4Addr>) -> String {
    format!("{}:{}", e.addr, e.port)
}

fn list(it: impl Iterator<Item = String>) -> String {
    it.collect::<Vec<_>>().join(",")
}

/// The session table's entries, for a dump: visited binding by binding. Stores give out handles
/// that are dense slab indexes below their capacity (both stores of the library do), so the
/// scan stops at `capacity` or when every live binding has been seen.
pub fn for_each_binding<I: IpAddress, O: IpAddress, S: SessionStore<I, O>>(
    store: &S,
    capacity: usize,
    mut visit: impl FnMut(BibRef, &BibEntry<I, O>) -> bool,
) {
    let total = store.bib_count();
    let mut seen = 0;
    for i in 0..u32::try_from(capacity).unwrap_or(u32::MAX) {
        if seen >= total {
            break;
        }
        if let Some(b) = store.bib(BibRef(i)) {
            seen += 1;
            if !visit(BibRef(i), &b) {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nat_core::allocator::{AllocRequest, PortAllocator};
    use nat_core::flow::L4Proto;
    use std::collections::HashMap;

    /// A NAT44 configuration on `queues` queues, inside prefix `inside`, pool
    /// 198.51.100.0/31, seed 7, with `extra` lines in `[allocation]`.
    pub(super) fn validated_with(
        queues: usize,
        inside: &str,
        max_sessions: usize,
        extra: &str,
    ) -> Validated {
        let text = format!(
            "[tun]\nname = \"t\"\nqueues = {queues}\n[nat]\ninside = [\"{inside}\"]\n\
             pool = [\"198.51.100.0/31\"]\ninside_address = \"10.0.0.1\"\n\
             max_sessions = {max_sessions}\n[allocation]\nseed = 7\n{extra}"
        );
        let p = std::path::Path::new("t.toml");
        crate::config::Config::parse(p, &text)
            .and_then(|c| c.validate(p, &text))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn validated(extra: &str) -> Validated {
        validated_with(3, "10.0.0.0/22", 30000, extra)
    }

    /// Every mode: the allocators of the workers of a sharded NAT44 never hand out the same
    /// outside endpoint, and each port they hand out is one the ownership rule sends back to
    /// them.
    #[test]
    fn workers_allocators_are_disjoint_and_own_what_they_hand_out() {
        for extra in [
            "mode = \"per-port\"\nport_preservation = false\n",
            "mode = \"per-port\"\n",
            "mode = \"port-block\"\nblock_size = 256\nmax_blocks = 4\n",
            "mode = \"port-block\"\nblock_size = 255\nblock_layout = \"scattered\"\n",
            "mode = \"deterministic\"\nports_per_subscriber = 60\n",
        ] {
            let cfg = validated(extra);
            let n = cfg.runtime.tun_queues;
            let shards =
                Nat44Shards::new(n, &cfg.nat.outside_prefixes, &cfg.alloc, &cfg.statics).unwrap();
            let policies: Vec<_> = (0..n)
                .map(|k| shard_policy(&cfg, Some(&shards), k))
                .collect();
            let mut mems: Vec<_> = policies.iter().map(AllocMemory::new).collect();
            let mut allocs: Vec<_> = mems
                .iter_mut()
                .zip(&policies)
                .map(|(m, p)| m.build(p).unwrap_or_else(|e| panic!("{extra}: {}", e.0)))
                .collect();
            let mut holder: HashMap<Endpoint<Ipv4Addr>, usize> = HashMap::new();
            for i in 2..600u32 {
                let inside = Ipv4Addr::from(0x0a00_0000 + i);
                let k = shards.subscriber_owner(inside);
                for port in [5000u16, 5001, 40000] {
                    let req = AllocRequest {
                        proto: L4Proto::Udp,
                        inside: Endpoint::new(inside, port),
                        remote: Endpoint::new(Ipv4Addr::new(203, 0, 113, 1), 53),
                    };
                    let Ok(out) = allocs[k].allocate(Instant::ZERO, &req) else {
                        continue;
                    };
                    if let Some(other) = holder.insert(out, k) {
                        panic!("{extra}: {out:?} handed out by workers {other} and {k}");
                    }
                    let mut pkt = vec![0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0];
                    pkt.extend([203, 0, 113, 1]);
                    pkt.extend(out.addr.octets());
                    pkt.extend(53u16.to_be_bytes());
                    pkt.extend(out.port.to_be_bytes());
                    pkt.extend([0, 8, 0, 0]);
                    assert_eq!(
                        shards.route(Direction::Inbound, &pkt).owner,
                        Some(k),
                        "{extra}: {out:?} from worker {k}"
                    );
                }
            }
            assert!(
                holder.len() > 1000,
                "{extra}: only {} mappings",
                holder.len()
            );
        }
    }
}
