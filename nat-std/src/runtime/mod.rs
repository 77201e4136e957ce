//! The NAT44 worker: packets from a TUN device through the engine and back, timers, logs,
//! counters and signals.
//!
//! One worker owns one TUN queue and one translator (see [`crate::tun`] for why NAT44 runs one
//! queue). Its loop:
//!
//! 1. wait for a packet, at most until the engine's next timer ([`Nat44::poll_timeout`]), the
//!    next summary, or a second;
//! 2. read it into a buffer with [`HEADROOM`] bytes in front (the engine writes the ICMP errors
//!    it owes there), then read up to [`BURST`] more without waiting;
//! 3. choose the direction: from a `nat.inside` prefix is outbound, to a `nat.pool` prefix is
//!    inbound, anything else is not ours (counted);
//! 4. [`Nat44::process`], and write `Forward` and `Reply` packets back to the TUN device,
//!    whose kernel routes them on;
//! 5. hand the engine's and the allocator's events to the translation log, call
//!    [`Nat44::handle_timeout`] and [`Nat44::poll_transmit`] when due.
//!
//! SIGINT and SIGTERM stop the loop cleanly (the log is flushed, a last summary printed);
//! SIGUSR1 dumps the counters and the session table to stderr. Drops and I/O errors are counted,
//! never fatal, except that a TUN device that no longer exists ends the run with
//! [`RunError::TunVanished`]. Nothing is allocated per packet: the buffer, the tables and the
//! allocator's memory are allocated at start.

/// Writes a line to stderr, ignoring failure: `eprintln!` panics when stderr is gone (a
/// closed pipe), and a translator must not die of its own chatter.
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

mod alloc;
mod report;

pub use alloc::{AllocBuildError, AllocMemory, AnyAllocator, SharedAllocator};
pub use report::{dump, summary};

use crate::config::Validated;
use crate::log::{LogRecord, Origin, TranslationLog, hostname};
use crate::store::HashStore;
use crate::tun::{Recv, Tun, TunQueue, Waker, device_exists};
use nat_core::flow::Endpoint;
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
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{Duration, SystemTime};

/// The session store of the runtime: the one line to change to try another store.
pub type Nat44Store = HashStore<Ipv4Addr, Ipv4Addr>;

/// The translator the worker runs.
pub type Translator<'a> = Nat44<Nat44Store, SharedAllocator<'a>>;

/// Bytes kept free before each packet: the engine writes the ICMP error it owes there (it
/// needs 28; NAT64 will need 20 more for the IPv6 header).
pub const HEADROOM: usize = 64;
/// Packets read without waiting after the first of a wake-up.
pub const BURST: usize = 64;
/// Sessions expired per `handle_timeout` call: each may queue two events, and the engine's
/// event queue holds 256, which is drained between calls.
const EXPIRE_BATCH: usize = 100;
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
    /// Packets neither from an inside prefix nor to the pool.
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

/// The worker's state: everything the packet path touches.
pub struct Worker<'a, 'q> {
    /// The translator.
    pub nat: Translator<'a>,
    /// The TUN queue.
    queue: &'q TunQueue,
    /// The translation log.
    pub log: TranslationLog,
    /// Runtime counters.
    pub counters: RuntimeCounters,
    /// The clock.
    pub clock: Clock,
    /// Session table capacity (bounds the dump's scan).
    pub capacity: usize,
}

impl<'a, 'q> Worker<'a, 'q> {
    /// Which side a packet comes from, by its addresses; `None` if neither (not ours). What is
    /// too short or not IPv4 goes to the engine, which counts it under its drop reason.
    #[inline]
    fn direction(&self, pkt: &[u8]) -> Option<Direction> {
        let (Some(s), Some(d)) = (pkt.get(12..16), pkt.get(16..20)) else {
            return Some(Direction::Outbound);
        };
        if pkt[0] >> 4 != 4 {
            return Some(Direction::Outbound);
        }
        let src = Ipv4Addr::new(s[0], s[1], s[2], s[3]);
        let dst = Ipv4Addr::new(d[0], d[1], d[2], d[3]);
        let c = self.nat.config();
        if c.inside_prefixes.iter().any(|p| p.contains(src)) {
            Some(Direction::Outbound)
        } else if c.outside_prefixes.iter().any(|p| p.contains(dst)) {
            Some(Direction::Inbound)
        } else {
            None
        }
    }

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
        match self.queue.send(pkt) {
            Ok(()) => {
                self.counters.tx_packets += 1;
                self.counters.tx_bytes += len as u64;
                self.counters.replies += u64::from(reply);
            }
            Err(_) => self.counters.tx_errors += 1,
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
        let Some(dir) = self.direction(pkt) else {
            self.counters.not_ours += 1;
            return;
        };
        let v = self.nat.process(now, dir, buf, HEADROOM, n);
        self.emit(buf, v);
        self.transmit(now, buf);
        self.drain_events();
    }

    /// Sends what the engine has to send on its own (released fragments, answers to held SYNs).
    fn transmit(&mut self, now: Instant, buf: &mut [u8]) {
        for _ in 0..1024 {
            let Some(v) = self.nat.poll_transmit(now, buf, HEADROOM) else {
                break;
            };
            self.emit(buf, v);
        }
    }

    /// Moves queued engine and allocator events to the translation log.
    #[inline]
    fn drain_events(&mut self) {
        while let Some(e) = self.nat.poll_event() {
            self.log.record(LogRecord::Engine(e));
        }
        let log = &mut self.log;
        if let Ok(mut a) = self.nat.allocator().0.try_borrow_mut() {
            a.drain_events(|e| log.record(LogRecord::Alloc(e)));
        }
    }

    /// Timers: expires due sessions (in batches, draining events between), lets the allocator
    /// expire hold-downs and idle blocks, and sends what the engine owes.
    pub fn housekeeping(&mut self, now: Instant, buf: &mut [u8]) {
        if self.nat.poll_timeout().is_some_and(|t| t <= now) {
            while self.nat.handle_timeout(now, EXPIRE_BATCH) == EXPIRE_BATCH {
                self.drain_events();
            }
            self.drain_events();
        }
        if let Ok(mut a) = self.nat.allocator().0.try_borrow_mut() {
            a.poll(now);
        }
        self.transmit(now, buf);
        self.drain_events();
    }
}

/// Runs the CGN NAT44 of a validated configuration on its TUN device until SIGINT or SIGTERM.
/// `app` names the program in messages and log records.
pub fn run_nat44(cfg: &Validated, app: &str) -> Result<(), RunError> {
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
    let result = run_inner(cfg, app, clock, &flags, &waker);
    signal_handle.close();
    let _ = signal_thread.join();
    result
}

fn run_inner(
    cfg: &Validated,
    app: &str,
    clock: Clock,
    flags: &Flags,
    waker: &Waker,
) -> Result<(), RunError> {
    let origin = Origin {
        epoch: clock.epoch(),
        hostname: cfg.log.hostname.clone().unwrap_or_else(hostname),
        app: app.to_string(),
        pid: std::process::id(),
    };
    let log = TranslationLog::start(&cfg.log, origin)
        .map_err(|e| RunError::Setup(format!("translation log {}: {e}", cfg.log.target)))?;

    let mut memory = AllocMemory::new(&cfg.alloc);
    let alloc = memory
        .build(&cfg.alloc)
        .map_err(|e| RunError::Config(e.0))?;
    let mode = alloc.name();
    let mut store = Nat44Store::with_capacity(cfg.max_sessions, cfg.alloc.seed ^ 0x5e55_1075);
    store.reserve(cfg.max_sessions);
    let mut nat = Nat44::new(cfg.nat.clone(), store, SharedAllocator(RefCell::new(alloc)))
        .map_err(|e| RunError::Config(e.to_string()))?;
    for s in &cfg.statics {
        nat.add_static(clock.now(), s.proto, s.inside, s.outside)
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

    let tun = Tun::open(&cfg.tun_name, cfg.tun_mtu, 1).map_err(|e| {
        RunError::Setup(format!(
            "cannot open TUN device {}: {e} (root or CAP_NET_ADMIN needed)",
            cfg.tun_name
        ))
    })?;
    note!(
        "{app}: translating on {} (mtu {}): inside {} -> pool {}, {mode} allocation, {} static, up to {} sessions; translation log: {}",
        tun.name(),
        cfg.tun_mtu,
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
        cfg.log.target,
    );

    let Some(queue) = tun.queues().first() else {
        return Err(RunError::Setup("TUN device without a queue".into()));
    };
    let mut w = Worker {
        nat,
        queue,
        log,
        counters: RuntimeCounters::default(),
        clock,
        capacity: cfg.max_sessions,
    };
    let outcome = worker_loop(&mut w, cfg, app, flags, waker, &tun);
    w.drain_events();
    w.log.finish();
    note!("{app}: {}", summary(&w));
    if outcome.is_ok() {
        note!(
            "{app}: stopped by signal {}",
            flags.signal.load(Ordering::SeqCst)
        );
    }
    outcome
}

fn worker_loop(
    w: &mut Worker<'_, '_>,
    cfg: &Validated,
    app: &str,
    flags: &Flags,
    waker: &Waker,
    tun: &Tun,
) -> Result<(), RunError> {
    let mut buf = vec![0u8; HEADROOM + 65536];
    let mut next_summary = cfg.summary_interval.map(|d| w.clock.now() + d);
    let mut next_housekeeping = w.clock.now();
    let mut errors_in_a_row: u32 = 0;
    loop {
        if flags.shutdown.load(Ordering::SeqCst) {
            return Ok(());
        }
        if flags.dump.swap(false, Ordering::SeqCst) {
            dump(w, cfg.dump_limit, &mut std::io::stderr().lock());
        }
        let now = w.clock.now();
        let timer = w.nat.poll_timeout();
        if now >= next_housekeeping || timer.is_some_and(|t| t <= now) {
            w.housekeeping(now, &mut buf);
            next_housekeeping = now + MAX_WAIT;
        }
        if let (Some(at), Some(every)) = (next_summary, cfg.summary_interval)
            && now >= at
        {
            note!("{app}: {}", summary(w));
            next_summary = Some(now + every);
        }
        let mut until = next_housekeeping;
        if let Some(t) = w.nat.poll_timeout() {
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
pub fn for_each_binding<S: SessionStore<Ipv4Addr, Ipv4Addr>>(
    store: &S,
    capacity: usize,
    mut visit: impl FnMut(BibRef, &BibEntry<Ipv4Addr, Ipv4Addr>) -> bool,
) {
    let total = store.bib_count();
    let mut seen = 0;
    for i in 0..u32::try_from(capacity).unwrap_or(u32::MAX) {
        if seen >= total {
            break;
        }
        if let Some(b) = store.bib(BibRef(i)) {
            seen += 1;
            if !visit(BibRef(i), b) {
                break;
            }
        }
    }
}
