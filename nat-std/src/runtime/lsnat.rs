//! The `lsnat` binary's engine: the LSNAT / LS-NAPT translator of `nat-lsnat`
//! (draft-srisuresh-lsnat, [RFC 2391]) with active probes for dead host detection (§ 6).
//!
//! Directions: a packet to a virtual server address is inbound (a client's), a packet from a
//! real server is outbound (an answer); anything else is not ours.
//!
//! The probes run in their own thread: every `interval` it TCP-connects to each server's
//! service port (with [`TcpStream::connect_timeout`], from the translator's network namespace)
//! and sends the outcome over a bounded channel. The worker drains the channel in its
//! housekeeping and feeds the server pools ([`ServerPool::record_probe`]); the packet path
//! takes no lock, and a worker that falls behind loses probe results, never blocks the prober.
//!
//! [RFC 2391]: https://www.rfc-editor.org/rfc/rfc2391
//! [`ServerPool::record_probe`]: nat_lsnat::pool::ServerPool::record_probe

use super::engine::write_drops;
use super::{Engine, RunError, run};
use crate::config::{LsnatValidated, MAX_SERVERS, MAX_VIRTUAL_SERVERS, ProbeSettings};
use crate::log::{LogRecord, TranslationLog};
use crate::store::{HashStore, RemoteAndTag};
use nat_core::time::Instant;
use nat_core::verdict::{Direction, DropCounters, Verdict};
use nat_lsnat::event::LsnatEvent;
use nat_lsnat::health::{DeadCause, Health};
use nat_lsnat::server::{AdminState, ServerId};
use nat_lsnat::translator::{Lsnat, Mode};
use nat_lsnat::virtual_server::{VirtualServer, VirtualServerTable};
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

/// Entries of each virtual server's Maglev table: a prime above 100 × [`MAX_SERVERS`].
pub const LSNAT_MAGLEV: usize = 3203;

/// The session store of the LSNAT translator: its records keep the real server's endpoint and
/// the server's id, so that a packet reads one record.
pub type LsnatStore = HashStore<Ipv4Addr, Ipv4Addr, RemoteAndTag<Ipv4Addr>>;

/// The virtual servers of the translator.
pub type LsnatTable = VirtualServerTable<Ipv4Addr, MAX_VIRTUAL_SERVERS, MAX_SERVERS, LSNAT_MAGLEV>;

/// The LSNAT translator the worker runs.
pub type LsnatTranslator = Lsnat<LsnatStore, MAX_VIRTUAL_SERVERS, MAX_SERVERS, LSNAT_MAGLEV>;

/// A server the probes connect to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeTarget {
    /// Index of its virtual server in the table.
    pub vs: usize,
    /// The server.
    pub server: ServerId,
    /// Where to connect.
    pub addr: SocketAddrV4,
}

/// The outcome of one probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeResult {
    /// Index of the virtual server.
    pub vs: usize,
    /// The server.
    pub server: ServerId,
    /// Whether the connection was made.
    pub ok: bool,
    /// How long connecting took.
    pub rtt: Duration,
}

/// Builds the virtual server table of a validated configuration; returns it with the probe
/// targets. `now` starts the pools' clocks (administrative states).
pub fn build_lsnat(
    cfg: &LsnatValidated,
    now: Instant,
) -> Result<(Box<LsnatTable>, Vec<ProbeTarget>), RunError> {
    let err = |what: &str, e: &dyn std::fmt::Display| RunError::Config(format!("{what}: {e}"));
    let mut table = Box::new(LsnatTable::new());
    let mut targets = Vec::new();
    for v in &cfg.virtual_servers {
        let mut vs: VirtualServer<Ipv4Addr, MAX_SERVERS, LSNAT_MAGLEV> =
            VirtualServer::new(v.addr, v.algorithm, v.config)
                .map_err(|e| err(&format!("virtual server {}", v.addr), &e))?;
        for s in &v.services {
            vs.add_service(*s)
                .map_err(|e| err(&format!("virtual server {} service", v.addr), &e))?;
        }
        let mut ids = Vec::new();
        for s in &v.servers {
            let id = vs
                .pool_mut()
                .add(s.spec)
                .map_err(|e| err(&format!("server {}", s.spec.addr), &e))?;
            if s.admin != AdminState::Active {
                vs.pool_mut()
                    .set_admin(now, id, s.admin)
                    .map_err(|e| err(&format!("server {}", s.spec.addr), &e))?;
            }
            ids.push((id, s.probe_port, s.spec.addr));
        }
        let index = table
            .insert(vs)
            .map_err(|e| err(&format!("virtual server {}", v.addr), &e))?;
        for (server, port, addr) in ids {
            if let Some(port) = port {
                targets.push(ProbeTarget {
                    vs: index,
                    server,
                    addr: SocketAddrV4::new(addr, port),
                });
            }
        }
    }
    Ok((table, targets))
}

/// Probe counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProbeCounters {
    /// Probes that connected.
    pub ok: u64,
    /// Probes that failed.
    pub failed: u64,
}

/// The prober thread and its stop switch; stopped and joined on drop.
struct Prober {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Prober {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Connects to every target each `interval`, sending results until `stop`.
fn probe_loop(
    targets: &[ProbeTarget],
    settings: ProbeSettings,
    tx: &SyncSender<ProbeResult>,
    stop: &AtomicBool,
) {
    const STEP: Duration = Duration::from_millis(50);
    loop {
        let round = std::time::Instant::now();
        for t in targets {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            let t0 = std::time::Instant::now();
            let ok = TcpStream::connect_timeout(&SocketAddr::V4(t.addr), settings.timeout).is_ok();
            let r = ProbeResult {
                vs: t.vs,
                server: t.server,
                ok,
                rtt: t0.elapsed(),
            };
            // A full channel means the worker is behind: this result is lost, the next counts.
            let _ = tx.try_send(r);
        }
        while round.elapsed() < settings.interval {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(STEP.min(settings.interval.saturating_sub(round.elapsed())));
        }
    }
}

/// The LSNAT translator as the worker drives it, with the receiving end of the probes.
pub struct LsnatEngine {
    /// The translator (boxed: its virtual server table is inline).
    pub lsnat: Box<LsnatTranslator>,
    vips: Vec<Ipv4Addr>,
    servers: Vec<Ipv4Addr>,
    probes: Option<Receiver<ProbeResult>>,
    prober: Option<Prober>,
    /// Probe counters.
    pub probe_counters: ProbeCounters,
    capacity: usize,
}

impl LsnatEngine {
    /// An engine around a translator: `vips` are the virtual server addresses, `servers` the
    /// real servers' (their packets are outbound).
    pub fn new(
        lsnat: Box<LsnatTranslator>,
        vips: Vec<Ipv4Addr>,
        servers: Vec<Ipv4Addr>,
        capacity: usize,
    ) -> Self {
        LsnatEngine {
            lsnat,
            vips,
            servers,
            probes: None,
            prober: None,
            probe_counters: ProbeCounters::default(),
            capacity,
        }
    }

    /// Starts the prober thread over `targets`; its results reach the pools in
    /// [`Engine::housekeeping`]. The thread stops when the engine is dropped.
    pub fn start_probes(
        &mut self,
        targets: Vec<ProbeTarget>,
        settings: ProbeSettings,
    ) -> std::io::Result<()> {
        if targets.is_empty() {
            return Ok(());
        }
        let (tx, rx) = sync_channel(targets.len() * 4 + 16);
        let stop = Arc::new(AtomicBool::new(false));
        let st = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("lsnat-probes".into())
            .spawn(move || probe_loop(&targets, settings, &tx, &st))?;
        self.probes = Some(rx);
        self.prober = Some(Prober {
            stop,
            thread: Some(thread),
        });
        Ok(())
    }

    fn vs_count(&self) -> usize {
        self.lsnat.servers().iter().count()
    }
}

fn health_name(h: Health) -> &'static str {
    match h {
        Health::Alive => "alive",
        Health::Dead => "dead",
        Health::Retrying => "retrying",
    }
}

fn admin_name(a: AdminState) -> &'static str {
    match a {
        AdminState::Active => "active",
        AdminState::Draining => "draining",
        AdminState::Maintenance => "maintenance",
        AdminState::Standby => "standby",
    }
}

impl Engine for LsnatEngine {
    #[inline]
    fn direction(&self, pkt: &[u8]) -> Option<Direction> {
        let (Some(s), Some(d)) = (pkt.get(12..16), pkt.get(16..20)) else {
            return Some(Direction::Inbound);
        };
        if pkt[0] >> 4 != 4 {
            return Some(Direction::Inbound);
        }
        let dst = Ipv4Addr::new(d[0], d[1], d[2], d[3]);
        if self.vips.contains(&dst) {
            return Some(Direction::Inbound);
        }
        let src = Ipv4Addr::new(s[0], s[1], s[2], s[3]);
        if self.servers.contains(&src) {
            return Some(Direction::Outbound);
        }
        None
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
        self.lsnat.process(now, dir, buf, start, len)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.lsnat.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Instant, max: usize) -> usize {
        self.lsnat.handle_timeout(now, max)
    }

    /// Feeds the probe results that arrived to the server pools.
    fn housekeeping(&mut self, now: Instant) {
        let Some(rx) = &self.probes else {
            return;
        };
        loop {
            match rx.try_recv() {
                Ok(r) => {
                    if r.ok {
                        self.probe_counters.ok += 1;
                    } else {
                        self.probe_counters.failed += 1;
                    }
                    if let Some(vs) = self.lsnat.servers_mut().get_mut(r.vs) {
                        let _ = vs.pool_mut().record_probe(now, r.server, r.ok, r.rtt);
                    }
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    self.probes = None;
                    break;
                }
            }
        }
    }

    fn drain_events(&mut self, log: &mut TranslationLog) {
        for i in 0..MAX_VIRTUAL_SERVERS {
            let Some(vs) = self.lsnat.servers_mut().get_mut(i) else {
                continue;
            };
            let vip = vs.addr();
            while let Some(e) = vs.poll_event() {
                match e {
                    LsnatEvent::ServerDead { addr, cause, .. } => note!(
                        "lsnat: virtual server {vip}: server {addr} is dead ({})",
                        match cause {
                            DeadCause::Unanswered => "a new session went unanswered",
                            DeadCause::ProbeFailures => "probes failed",
                        }
                    ),
                    LsnatEvent::ServerRetrying { addr, .. } => {
                        note!("lsnat: virtual server {vip}: retrying server {addr}")
                    }
                    LsnatEvent::ServerAlive { addr, .. } => {
                        note!("lsnat: virtual server {vip}: server {addr} is alive")
                    }
                    LsnatEvent::ServerDrained { addr, .. } => {
                        note!("lsnat: virtual server {vip}: server {addr} drained")
                    }
                    _ => {}
                }
                log.record(LogRecord::Lsnat(e));
            }
        }
    }

    fn drops(&self) -> &DropCounters {
        &self.lsnat.counters().drops
    }

    fn summary(&self, _now: Instant, s: &mut String) {
        let c = self.lsnat.counters();
        let (mut alive, mut total) = (0, 0);
        for (_, vs) in self.lsnat.servers().iter() {
            for id in vs.pool().ids() {
                total += 1;
                if vs.pool().health(id) == Ok(Health::Alive) {
                    alive += 1;
                }
            }
        }
        let _ = write!(
            s,
            "in {} out {} | sessions {} bound {} unbound {} | servers alive {alive}/{total} | probes ok {} failed {}",
            c.inbound,
            c.outbound,
            nat_core::session::SessionStore::session_count(self.lsnat.store()),
            c.bound,
            c.unbound,
            self.probe_counters.ok,
            self.probe_counters.failed,
        );
    }

    fn dump(&self, now: Instant, limit: usize, text: &mut String) {
        let c = self.lsnat.counters();
        let _ = writeln!(
            text,
            "engine: {} virtual servers, sessions bound {} unbound {}, probes ok {} failed {}",
            self.vs_count(),
            c.bound,
            c.unbound,
            self.probe_counters.ok,
            self.probe_counters.failed
        );
        write_drops(text, &c.drops);
        let mut lines = 0usize;
        for (_, vs) in self.lsnat.servers().iter() {
            let vc = vs.counters();
            let _ = writeln!(
                text,
                "virtual server {} ({}): chosen {}, no server {}, not load-shared {}",
                vs.addr(),
                vs.algorithm().name(),
                vc.chosen,
                vc.no_server,
                vc.not_load_shared
            );
            for id in vs.pool().ids() {
                if lines >= limit {
                    break;
                }
                lines += 1;
                if let Ok(st) = vs.pool().stats(now, id) {
                    let _ = writeln!(
                        text,
                        "  server {}{} weight {} {} {}: sessions {} bindings {} srtt {}",
                        st.spec.addr,
                        st.spec.port.map_or(String::new(), |p| format!(":{p}")),
                        st.spec.weight,
                        admin_name(st.admin),
                        health_name(st.health),
                        st.sessions,
                        st.bindings,
                        st.srtt_micros
                            .map_or("-".to_string(), |us| format!("{us}us"))
                    );
                }
            }
        }
        let _ = writeln!(
            text,
            "table: {} sessions (capacity {})",
            nat_core::session::SessionStore::session_count(self.lsnat.store()),
            self.capacity
        );
    }
}

/// Runs the LSNAT of a validated configuration on its TUN device, with its probes, until
/// SIGINT or SIGTERM. `app` names the program in messages and log records.
pub fn run_lsnat(cfg: &LsnatValidated, app: &str) -> Result<(), RunError> {
    run(&cfg.runtime, app, |ctl| {
        let (table, targets) = build_lsnat(cfg, ctl.clock().now())?;
        let mut store = LsnatStore::with_capacity(cfg.max_sessions, cfg.config.seed ^ 0x15_9a7);
        store.reserve(cfg.max_sessions);
        let lsnat = Box::new(Lsnat::new(cfg.config, *table, store));
        let vips = cfg.virtual_servers.iter().map(|v| v.addr).collect();
        let servers = cfg
            .virtual_servers
            .iter()
            .flat_map(|v| v.servers.iter().map(|s| s.spec.addr))
            .collect();
        let mut engine = LsnatEngine::new(lsnat, vips, servers, cfg.max_sessions);
        let probes = match cfg.probe {
            Some(p) if !targets.is_empty() => {
                let n = targets.len();
                engine
                    .start_probes(targets, p)
                    .map_err(|e| RunError::Setup(format!("probe thread: {e}")))?;
                format!(
                    "{n} servers probed every {}s (timeout {}ms)",
                    p.interval.as_secs(),
                    p.timeout.as_millis()
                )
            }
            _ => "no probes".to_string(),
        };
        let mode = match cfg.config.mode {
            Mode::Lsnat => "LSNAT".to_string(),
            Mode::LsNapt { router } => format!("LS-NAPT via {router}"),
        };
        let vss = cfg
            .virtual_servers
            .iter()
            .map(|v| {
                format!(
                    "{} ({}, {} servers)",
                    v.addr,
                    v.algorithm.name(),
                    v.servers.len()
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let what = format!(
            "{mode}, virtual servers {vss}, {probes}, up to {} sessions",
            cfg.max_sessions
        );
        Ok((vec![engine], what))
    })
}
