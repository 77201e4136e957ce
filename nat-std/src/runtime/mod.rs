//! The worker loop of the translator binaries: packets from a TUN device through an engine and
//! back, timers, logs, counters and signals.
//!
//! One worker owns one TUN queue and one translator (see [`crate::tun`] for why the stateful
//! translators run one queue). The loop ([`run`]) is generic over the translator ([`Engine`],
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
mod nat64;
mod report;

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

use crate::config::{RuntimeSettings, Validated};
use crate::log::{Origin, TranslationLog, hostname};
use crate::store::HashStore;
use crate::tun::{Recv, Tun, TunQueue, Waker, device_exists};
use nat_core::flow::{Endpoint, IpAddress};
use nat_core::nat44::Nat44;
use nat_core::session::{BibEntry, BibRef, SessionStore};
use nat_core::time::Instant;
use nat_core::verdict::Verdict;
use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR1};
use signal_hook::iterator::Signals;
use std::cell::RefCell;
use std::fmt;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
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

/// What the signal thread tells the worker.
#[derive(Debug, Default)]
struct Flags {
    shutdown: AtomicBool,
    dump: AtomicBool,
    signal: AtomicI32,
}

/// What the worker shares with the signal thread, and the clock.
#[derive(Debug)]
pub struct Control {
    clock: Clock,
    flags: Arc<Flags>,
    waker: Arc<Waker>,
}

impl Control {
    /// The run's clock.
    pub fn clock(&self) -> Clock {
        self.clock
    }
}

/// The worker's state: everything the packet path touches.
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
}

impl<E: Engine> Worker<'_, E> {
    /// Writes what a verdict says to send.
    #[inline]
    fn emit(&mut self, buf: &[u8], v: Verdict) {
        let (start, len, reply) = match v {
            Verdict::Forward { start, len } => (start, len, false),
            Verdict::Reply { start, len } => (start, len, true),
            Verdict::Hold | Verdict::Drop(_) => return,
        };
        let Some(pkt) = buf.get(start..start.saturating_add(len)) else {
            self.counters.tx_errors += 1;
            return;
        };
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
        let v = self.engine.process(now, dir, buf, HEADROOM, n);
        self.emit(buf, v);
        self.transmit(now, buf);
        self.drain_events();
    }

    /// Sends what the engine has to send on its own (released fragments, answers to held SYNs).
    fn transmit(&mut self, now: Instant, buf: &mut [u8]) {
        for _ in 0..1024 {
            let Some(v) = self.engine.poll_transmit(now, buf, HEADROOM) else {
                break;
            };
            self.emit(buf, v);
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
}

/// Sets up the clock, the signal handlers (SIGINT and SIGTERM stop, SIGUSR1 dumps) and a
/// worker for the engine `build` makes, then runs it on the TUN device of `rt` until a
/// signal. `build` gets the clock (for static entries) and returns the engine and a line
/// saying what it translates; its errors end the run before the TUN device is created.
///
/// This is the loop of every translator binary; `app` names the program in messages and log
/// records.
pub fn run<E: Engine>(
    rt: &RuntimeSettings,
    app: &str,
    build: impl FnOnce(&Control) -> Result<(E, String), RunError>,
) -> Result<(), RunError> {
    let clock = Clock::start();
    let flags = Arc::new(Flags::default());
    let waker = Arc::new(Waker::new().map_err(|e| RunError::Setup(format!("wake-up pipe: {e}")))?);
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGUSR1])
        .map_err(|e| RunError::Setup(format!("signal handlers: {e}")))?;
    let signal_handle = signals.handle();
    let signal_thread = {
        let (flags, waker) = (Arc::clone(&flags), Arc::clone(&waker));
        std::thread::Builder::new()
            .name("nat-signals".into())
            .spawn(move || {
                for sig in signals.forever() {
                    if sig == SIGUSR1 {
                        flags.dump.store(true, Ordering::SeqCst);
                    } else {
                        flags.signal.store(sig, Ordering::SeqCst);
                        flags.shutdown.store(true, Ordering::SeqCst);
                    }
                    let _ = waker.wake();
                }
            })
            .map_err(|e| RunError::Setup(format!("signal thread: {e}")))?
    };
    let ctl = Control {
        clock,
        flags,
        waker,
    };
    let result = build(&ctl).and_then(|(engine, what)| serve(engine, &what, rt, app, &ctl));
    signal_handle.close();
    let _ = signal_thread.join();
    result
}

fn serve<E: Engine>(
    engine: E,
    what: &str,
    rt: &RuntimeSettings,
    app: &str,
    ctl: &Control,
) -> Result<(), RunError> {
    let origin = Origin {
        epoch: ctl.clock.epoch(),
        hostname: rt.log.hostname.clone().unwrap_or_else(hostname),
        app: app.to_string(),
        pid: std::process::id(),
    };
    let log = TranslationLog::start(&rt.log, origin)
        .map_err(|e| RunError::Setup(format!("translation log {}: {e}", rt.log.target)))?;
    let tun = Tun::open(&rt.tun_name, rt.tun_mtu, 1).map_err(|e| {
        RunError::Setup(format!(
            "cannot open TUN device {}: {e} (root or CAP_NET_ADMIN needed)",
            rt.tun_name
        ))
    })?;
    note!(
        "{app}: translating on {} (mtu {}): {what}; translation log: {}",
        tun.name(),
        rt.tun_mtu,
        rt.log.target,
    );
    let Some(queue) = tun.queues().first() else {
        return Err(RunError::Setup("TUN device without a queue".into()));
    };
    let mut w = Worker {
        engine,
        queue,
        log,
        counters: RuntimeCounters::default(),
        clock: ctl.clock,
    };
    let outcome = worker_loop(&mut w, rt, app, ctl, &tun);
    w.drain_events();
    w.log.finish();
    note!("{app}: {}", summary(&w));
    if outcome.is_ok() {
        note!(
            "{app}: stopped by signal {}",
            ctl.flags.signal.load(Ordering::SeqCst)
        );
    }
    outcome
}

/// Runs the CGN NAT44 of a validated configuration on its TUN device until SIGINT or SIGTERM.
/// `app` names the program in messages and log records.
pub fn run_nat44(cfg: &Validated, app: &str) -> Result<(), RunError> {
    let mut memory = AllocMemory::new(&cfg.alloc);
    let memory = &mut memory;
    run(&cfg.runtime(), app, move |ctl| {
        // Moved in, so that the allocator may borrow it beyond this call.
        let memory: &mut AllocMemory = memory;
        let alloc = memory
            .build(&cfg.alloc)
            .map_err(|e| RunError::Config(e.0))?;
        let mode = alloc.name();
        let mut store = Nat44Store::with_capacity(cfg.max_sessions, cfg.alloc.seed ^ 0x5e55_1075);
        store.reserve(cfg.max_sessions);
        let mut nat = Nat44::new(cfg.nat.clone(), store, SharedAllocator(RefCell::new(alloc)))
            .map_err(|e| RunError::Config(e.to_string()))?;
        for s in &cfg.statics {
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
        let what = format!(
            "inside {} -> pool {}, {mode} allocation, {} static, up to {} sessions",
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
        );
        let engine = Nat44Engine {
            nat,
            capacity: cfg.max_sessions,
        };
        Ok((engine, what))
    })
}

fn worker_loop<E: Engine>(
    w: &mut Worker<'_, E>,
    rt: &RuntimeSettings,
    app: &str,
    ctl: &Control,
    tun: &Tun,
) -> Result<(), RunError> {
    let (flags, waker) = (&*ctl.flags, &*ctl.waker);
    let mut buf = vec![0u8; HEADROOM + 65536];
    let mut next_summary = rt.summary_interval.map(|d| w.clock.now() + d);
    let mut next_housekeeping = w.clock.now();
    let mut errors_in_a_row: u32 = 0;
    loop {
        if flags.shutdown.load(Ordering::SeqCst) {
            return Ok(());
        }
        if flags.dump.swap(false, Ordering::SeqCst) {
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
            note!("{app}: {}", summary(w));
            next_summary = Some(now + every);
        }
        let mut until = next_housekeeping;
        if let Some(t) = w.engine.poll_timeout() {
            until = until.min(t);
        }
        if let Some(s) = next_summary {
            until = until.min(s);
        }
        let wait = until.saturating_since(now).max(Duration::from_millis(1));
        let rx = buf.get_mut(HEADROOM..).unwrap_or_default();
        match w.queue.recv(rx, waker, Some(wait)) {
            Recv::Packet(n) => {
                errors_in_a_row = 0;
                let now = w.clock.now();
                w.packet(now, &mut buf, n);
                for _ in 1..BURST {
                    let rx = buf.get_mut(HEADROOM..).unwrap_or_default();
                    match w.queue.try_recv(rx) {
                        Ok(Some(n)) => w.packet(now, &mut buf, n),
                        Ok(None) => break,
                        Err(_) => {
                            w.counters.rx_errors += 1;
                            break;
                        }
                    }
                }
            }
            Recv::Timeout => {}
            Recv::Woken => {
                // Re-arm first, then look at the flags (top of the loop): a signal that
                // arrives in between leaves its flag set and is seen there.
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
                        "{app}: read error on {} ({errors_in_a_row} in a row): {e}",
                        tun.name()
                    );
                }
                // Do not spin on a persistent error; the device is checked again next time.
                std::thread::sleep(Duration::from_millis(u64::from(errors_in_a_row.min(100))));
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
