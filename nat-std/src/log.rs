//! Translation logs: one RFC 5424 syslog record per session or binding event, with the fields of
//! draft-nishitani-cgn § 6.1 (timestamp, untranslated and translated source address and port,
//! destination address and port) and the protocol, written to a file, standard error or a UDP
//! collector ([RFC 5426]).
//!
//! Writing never blocks the packet path: the worker hands events (small `Copy` values) to a
//! bounded channel with `try_send`, and a writer thread formats and writes them. When the
//! writer falls behind, events are dropped and counted ([`TranslationLog::dropped`]), as the
//! core's own event queue does.
//!
//! A record looks like this (one line):
//!
//! ```text
//! <134>1 2026-11-22T15:31:39.123Z nat-box nat44 4242 SESSION-CREATE [nat@32473 proto="udp"
//!   isrc="10.0.0.2" isport="40000" tsrc="198.51.100.1" tsport="40000" dst="203.0.113.2"
//!   dport="7"] udp 10.0.0.2:40000 as 198.51.100.1:40000 to 203.0.113.2:7
//! ```
//!
//! PRI 134 is facility local0, severity informational; the SD-ID uses the documentation
//! enterprise number 32473 ([RFC 5612]).
//!
//! [RFC 5426]: https://www.rfc-editor.org/rfc/rfc5426
//! [RFC 5612]: https://www.rfc-editor.org/rfc/rfc5612

use crate::config::{LogEvents, LogSettings, LogTarget};
use nat_alloc::{AllocEvent, BlockLayout};
use nat_core::event::{Event, EventKind};
use nat_core::flow::{Endpoint, L4Proto};
use nat_lsnat::event::LsnatEvent;
use nat_lsnat::health::DeadCause;
use std::fmt::{self, Write as _};
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A NAT44 event, as the engine reports it.
pub type Nat44Event = Event<Ipv4Addr, Ipv4Addr>;

/// A NAT64 event: IPv6 inside, IPv4 outside.
pub type Nat64Event = Event<Ipv6Addr, Ipv4Addr>;

/// What a record is about: an engine event (sessions, bindings), an allocator event (port
/// blocks, exhaustion) or a load-sharing event (server health).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogRecord {
    /// From the NAT44 translator.
    Engine(Nat44Event),
    /// From the NAT44 allocator.
    Alloc(AllocEvent<Ipv4Addr>),
    /// From the NAT64 translator.
    Engine64(Nat64Event),
    /// From the NAT64 pool4 allocator.
    Alloc64(AllocEvent<Ipv6Addr>),
    /// From the LSNAT server pools: a server declared dead, retried, alive again or drained.
    Lsnat(LsnatEvent<Ipv4Addr>),
}

/// What the writer thread reports back.
#[derive(Debug, Default)]
struct WriterStats {
    written: AtomicU64,
    errors: AtomicU64,
}

/// The sending side of the translation log, owned by the worker.
#[derive(Debug)]
pub struct TranslationLog {
    tx: Option<SyncSender<LogRecord>>,
    events: LogEvents,
    dropped: u64,
    stats: Arc<WriterStats>,
    writer: Option<JoinHandle<()>>,
}

/// The identity fields of every record.
#[derive(Clone, Debug)]
pub struct Origin {
    /// Wall-clock time of the engine's `Instant` zero.
    pub epoch: SystemTime,
    /// HOSTNAME.
    pub hostname: String,
    /// APP-NAME.
    pub app: String,
    /// PROCID.
    pub pid: u32,
}

impl TranslationLog {
    /// A log that writes nothing.
    pub fn disabled() -> TranslationLog {
        TranslationLog {
            tx: None,
            events: LogEvents::All,
            dropped: 0,
            stats: Arc::default(),
            writer: None,
        }
    }

    /// Opens the target and starts the writer thread. Fails if the file cannot be opened or
    /// the UDP socket cannot be made: the binary then refuses to start.
    pub fn start(settings: &LogSettings, origin: Origin) -> io::Result<TranslationLog> {
        let sink = match &settings.target {
            LogTarget::None => return Ok(TranslationLog::disabled()),
            LogTarget::Stderr => Sink::Stderr,
            LogTarget::File(p) => Sink::File(io::BufWriter::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)?,
            )),
            LogTarget::Udp(addr) => {
                let bind = if addr.is_ipv4() {
                    "0.0.0.0:0"
                } else {
                    "[::]:0"
                };
                let s = UdpSocket::bind(bind)?;
                s.connect(addr)?;
                Sink::Udp(s)
            }
        };
        let (tx, rx) = sync_channel(settings.queue);
        let stats = Arc::new(WriterStats::default());
        let st = Arc::clone(&stats);
        let writer = std::thread::Builder::new()
            .name("nat-log".into())
            .spawn(move || write_loop(rx, sink, origin, &st))?;
        Ok(TranslationLog {
            tx: Some(tx),
            events: settings.events,
            dropped: 0,
            stats,
            writer: Some(writer),
        })
    }

    /// Another sending side of the same log, for another worker: its records go to the same
    /// queue and writer thread; it counts its own drops. The writer finishes when every
    /// handle is dropped and [`finish`](Self::finish) is called on the first.
    pub fn handle(&self) -> TranslationLog {
        TranslationLog {
            tx: self.tx.clone(),
            events: self.events,
            dropped: 0,
            stats: Arc::clone(&self.stats),
            writer: None,
        }
    }

    /// Whether a record is logged. The engine reports exhaustion per refused packet, the
    /// allocator once until the subscriber frees a port: only the latter is logged, except
    /// with [`LogEvents::All`].
    fn wanted(&self, r: &LogRecord) -> bool {
        let block = |a: bool| {
            if a {
                self.events == LogEvents::Blocks
            } else {
                true
            }
        };
        let engine = |kind: EventKind| match self.events {
            LogEvents::All => true,
            LogEvents::Sessions => {
                matches!(kind, EventKind::SessionCreated | EventKind::SessionDeleted)
            }
            LogEvents::Mappings => {
                matches!(kind, EventKind::MappingCreated | EventKind::MappingDeleted)
            }
            LogEvents::Blocks => false,
        };
        match (self.events, r) {
            (LogEvents::All, _) => true,
            (_, LogRecord::Alloc(a)) => block(is_block(a)),
            (_, LogRecord::Alloc64(a)) => block(is_block(a)),
            (_, LogRecord::Engine(e)) => engine(e.kind),
            (_, LogRecord::Engine64(e)) => engine(e.kind),
            (_, LogRecord::Lsnat(e)) => {
                !matches!(e, LsnatEvent::Bound { .. } | LsnatEvent::Unbound { .. })
            }
        }
    }

    /// Hands a record to the writer without waiting; counts it dropped if the queue is full.
    #[inline]
    pub fn record(&mut self, r: LogRecord) {
        let Some(tx) = &self.tx else { return };
        if !self.wanted(&r) {
            return;
        }
        match tx.try_send(r) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => self.dropped += 1,
        }
    }

    /// Events dropped because the writer fell behind (or died).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Records written so far.
    pub fn written(&self) -> u64 {
        self.stats.written.load(Ordering::Relaxed)
    }

    /// Write errors so far (a full disk, an unreachable collector).
    pub fn errors(&self) -> u64 {
        self.stats.errors.load(Ordering::Relaxed)
    }

    /// Closes the channel and waits for the writer to write and flush what is queued.
    pub fn finish(&mut self) {
        self.tx = None;
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

impl Drop for TranslationLog {
    fn drop(&mut self) {
        self.finish();
    }
}

enum Sink {
    Stderr,
    File(io::BufWriter<std::fs::File>),
    Udp(UdpSocket),
}

impl Sink {
    fn write(&mut self, line: &str) -> io::Result<()> {
        match self {
            Sink::Stderr => {
                let mut e = io::stderr().lock();
                e.write_all(line.as_bytes())?;
                e.write_all(b"\n")
            }
            Sink::File(f) => {
                f.write_all(line.as_bytes())?;
                f.write_all(b"\n")
            }
            // One record per datagram, no trailing newline (RFC 5426 § 3.1).
            Sink::Udp(s) => s.send(line.as_bytes()).map(|_| ()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::File(f) => f.flush(),
            _ => Ok(()),
        }
    }
}

fn write_loop(rx: Receiver<LogRecord>, mut sink: Sink, origin: Origin, stats: &WriterStats) {
    let mut line = String::with_capacity(512);
    let mut write = |sink: &mut Sink, r: &LogRecord| {
        line.clear();
        match r {
            LogRecord::Engine(e) => format_record(&mut line, e, &origin),
            LogRecord::Alloc(a) => format_alloc_record(&mut line, a, &origin),
            LogRecord::Engine64(e) => format_record(&mut line, e, &origin),
            LogRecord::Alloc64(a) => format_alloc_record(&mut line, a, &origin),
            LogRecord::Lsnat(e) => format_lsnat_record(&mut line, e, &origin),
        }
        match sink.write(&line) {
            Ok(()) => stats.written.fetch_add(1, Ordering::Relaxed),
            Err(_) => stats.errors.fetch_add(1, Ordering::Relaxed),
        };
    };
    // Block for the first event of a batch, drain the rest, flush when the queue is empty.
    while let Ok(e) = rx.recv() {
        write(&mut sink, &e);
        loop {
            match rx.try_recv() {
                Ok(e) => write(&mut sink, &e),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => break,
            }
        }
        if sink.flush().is_err() {
            stats.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
    let _ = sink.flush();
}

/// The MSGID of an event.
pub fn msgid(kind: EventKind) -> &'static str {
    match kind {
        EventKind::MappingCreated => "MAPPING-CREATE",
        EventKind::MappingDeleted => "MAPPING-DELETE",
        EventKind::SessionCreated => "SESSION-CREATE",
        EventKind::SessionDeleted => "SESSION-DELETE",
        EventKind::QuotaExhausted => "QUOTA-EXHAUSTED",
        EventKind::PoolExhausted => "POOL-EXHAUSTED",
        _ => "EVENT",
    }
}

/// The protocol's name in records.
pub fn proto_name(p: L4Proto) -> &'static str {
    match p {
        L4Proto::Tcp => "tcp",
        L4Proto::Udp => "udp",
        L4Proto::Icmp => "icmp",
    }
}

/// Appends `t` as an RFC 3339 UTC timestamp with milliseconds ([RFC 5424 § 6.2.3]).
///
/// [RFC 5424 § 6.2.3]: https://www.rfc-editor.org/rfc/rfc5424#section-6.2.3
pub fn format_timestamp(out: &mut String, t: SystemTime) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(days as i64);
    let _ = write!(
        out,
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    );
}

/// Year, month, day of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn is_block<I>(a: &AllocEvent<I>) -> bool {
    matches!(
        a,
        AllocEvent::BlockAllocated { .. } | AllocEvent::BlockFreed { .. }
    )
}

/// An endpoint as text: `a.b.c.d:port`, or `[v6]:port`.
fn ep<A: Copy + Into<IpAddr>>(e: Endpoint<A>) -> SocketAddr {
    SocketAddr::new(e.addr.into(), e.port)
}

/// Appends the RFC 5424 record of `e` (without newline): a NAT44 event, or a NAT64 one (IPv6
/// inside).
pub fn format_record<I, O>(out: &mut String, e: &Event<I, O>, o: &Origin)
where
    I: Copy + Into<IpAddr> + fmt::Display,
    O: Copy + Into<IpAddr> + fmt::Display,
{
    header(out, e.time, o, msgid(e.kind), PRI_INFO);
    let proto = proto_name(e.proto);
    let _ = write!(
        out,
        "[nat@32473 proto=\"{proto}\" isrc=\"{}\" isport=\"{}\" tsrc=\"{}\" tsport=\"{}\" dst=\"{}\" dport=\"{}\"] {proto} {} as {} to {}",
        e.inside.addr,
        e.inside.port,
        e.outside.addr,
        e.outside.port,
        e.remote.addr,
        e.remote.port,
        ep(e.inside),
        ep(e.outside),
        ep(e.remote),
    );
}

/// Appends the RFC 5424 record of a load-sharing event (draft-srisuresh-lsnat § 6): a server
/// declared dead (severity warning), retried, alive again or drained.
pub fn format_lsnat_record(out: &mut String, e: &LsnatEvent<Ipv4Addr>, o: &Origin) {
    let (at, addr, msgid, pri, text) = match *e {
        LsnatEvent::ServerDead {
            addr, cause, at, ..
        } => (
            at,
            addr,
            "SERVER-DEAD",
            PRI_WARNING,
            match cause {
                DeadCause::Unanswered => "declared dead: a new session went unanswered",
                DeadCause::ProbeFailures => "declared dead: probes failed",
            },
        ),
        LsnatEvent::ServerRetrying { addr, at, .. } => (
            at,
            addr,
            "SERVER-RETRY",
            PRI_INFO,
            "pause over: gets a trial session",
        ),
        LsnatEvent::ServerAlive { addr, at, .. } => (
            at,
            addr,
            "SERVER-ALIVE",
            PRI_INFO,
            "alive: takes new sessions",
        ),
        LsnatEvent::ServerDrained { addr, at, .. } => (
            at,
            addr,
            "SERVER-DRAINED",
            PRI_INFO,
            "drained: its last session ended",
        ),
        _ => (
            nat_core::time::Instant::ZERO,
            Ipv4Addr::UNSPECIFIED,
            "EVENT",
            PRI_INFO,
            "binding",
        ),
    };
    header(out, at, o, msgid, pri);
    let _ = write!(out, "[lsnat@32473 server=\"{addr}\"] server {addr} {text}");
}

/// PRI of informational records: facility local0 (16), severity informational (6).
const PRI_INFO: u8 = 134;
/// PRI of warnings: facility local0, severity warning (4).
const PRI_WARNING: u8 = 132;

fn header(out: &mut String, at: nat_core::time::Instant, o: &Origin, msgid: &str, pri: u8) {
    let _ = write!(out, "<{pri}>1 ");
    format_timestamp(out, o.epoch + Duration::from_millis(at.as_millis()));
    let _ = write!(out, " {} {} {} {msgid} ", o.hostname, o.app, o.pid);
}

/// Appends the RFC 5424 record of an allocator event: a port block given or taken back (one
/// record per block, [RFC 7269 § 5.1]), or a subscriber's exhaustion ([RFC 6888] REQ-11c).
///
/// [RFC 7269 § 5.1]: https://www.rfc-editor.org/rfc/rfc7269#section-5.1
/// [RFC 6888]: https://www.rfc-editor.org/rfc/rfc6888
pub fn format_alloc_record<I: Copy + fmt::Display>(
    out: &mut String,
    e: &AllocEvent<I>,
    o: &Origin,
) {
    match *e {
        AllocEvent::BlockAllocated {
            at,
            subscriber,
            outside,
            first_port,
            len,
            proto,
            layout,
        }
        | AllocEvent::BlockFreed {
            at,
            subscriber,
            outside,
            first_port,
            len,
            proto,
            layout,
        } => {
            let alloc = matches!(e, AllocEvent::BlockAllocated { .. });
            let msgid = match (alloc, len) {
                (true, 1) => "PORT-ALLOC",
                (false, 1) => "PORT-FREE",
                (true, _) => "PORT-BLOCK-ALLOC",
                (false, _) => "PORT-BLOCK-FREE",
            };
            header(out, at, o, msgid, PRI_INFO);
            let proto = proto.map_or("all", proto_name);
            let last = u32::from(first_port) + u32::from(len.max(1)) - 1;
            // A scattered block's ports are logical (RFC 7269 § 5.1): the record says so, and
            // `nat44 --who ADDR:PORT` finds the block of a real port.
            let (sd_layout, scattered) = match layout {
                BlockLayout::Scattered => (" tslayout=\"scattered\"", "scattered block "),
                BlockLayout::Contiguous => ("", ""),
            };
            let _ = write!(
                out,
                "[nat@32473 proto=\"{proto}\" isrc=\"{subscriber}\" tsrc=\"{outside}\" tsport=\"{first_port}\" tsportend=\"{last}\"{sd_layout}] {subscriber} {} {scattered}{outside}:{first_port}-{last} ({proto})",
                if alloc { "gets" } else { "frees" },
            );
        }
        AllocEvent::QuotaExhausted {
            at,
            subscriber,
            proto,
        }
        | AllocEvent::PoolExhausted {
            at,
            subscriber,
            proto,
        } => {
            let quota = matches!(e, AllocEvent::QuotaExhausted { .. });
            header(
                out,
                at,
                o,
                if quota {
                    "QUOTA-EXHAUSTED"
                } else {
                    "POOL-EXHAUSTED"
                },
                PRI_INFO,
            );
            let proto = proto_name(proto);
            let _ = write!(
                out,
                "[nat@32473 proto=\"{proto}\" isrc=\"{subscriber}\"] {subscriber} refused a {proto} mapping: {}",
                if quota {
                    "quota used up"
                } else {
                    "no free port"
                },
            );
        }
        _ => {
            header(out, nat_core::time::Instant::ZERO, o, "EVENT", PRI_INFO);
            out.push_str("- unknown allocator event");
        }
    }
}

/// This host's name, for the HOSTNAME field (`-` when unknown, RFC 5424 NILVALUE).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty() && s.is_ascii() && !s.contains(' '))
        .unwrap_or_else(|| "-".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nat_core::time::Instant;

    #[test]
    fn timestamp_is_rfc3339_utc() {
        let mut s = String::new();
        format_timestamp(
            &mut s,
            UNIX_EPOCH + Duration::from_millis(1_795_879_899_123),
        );
        assert_eq!(s, "2026-11-28T15:31:39.123Z");
        s.clear();
        format_timestamp(&mut s, UNIX_EPOCH + Duration::from_secs(951_782_400));
        assert_eq!(s, "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn record_carries_the_draft_fields() {
        let e = Event {
            time: Instant::from_millis(1500),
            kind: EventKind::SessionCreated,
            proto: L4Proto::Udp,
            inside: Endpoint::new(Ipv4Addr::new(10, 0, 0, 2), 40000),
            outside: Endpoint::new(Ipv4Addr::new(198, 51, 100, 1), 40001),
            remote: Endpoint::new(Ipv4Addr::new(203, 0, 113, 2), 7),
        };
        let o = Origin {
            epoch: UNIX_EPOCH,
            hostname: "box".into(),
            app: "nat44".into(),
            pid: 42,
        };
        let mut s = String::new();
        format_record(&mut s, &e, &o);
        assert_eq!(
            s,
            "<134>1 1970-01-01T00:00:01.500Z box nat44 42 SESSION-CREATE [nat@32473 proto=\"udp\" \
             isrc=\"10.0.0.2\" isport=\"40000\" tsrc=\"198.51.100.1\" tsport=\"40001\" \
             dst=\"203.0.113.2\" dport=\"7\"] udp 10.0.0.2:40000 as 198.51.100.1:40001 to 203.0.113.2:7"
        );
    }

    #[test]
    fn nat64_record_brackets_ipv6_endpoints() {
        let e = Event {
            time: Instant::ZERO,
            kind: EventKind::SessionCreated,
            proto: L4Proto::Tcp,
            inside: Endpoint::new("2001:db8:1::2".parse::<Ipv6Addr>().unwrap(), 40000),
            outside: Endpoint::new(Ipv4Addr::new(198, 51, 100, 1), 40000),
            remote: Endpoint::new(Ipv4Addr::new(203, 0, 113, 2), 80),
        };
        let o = Origin {
            epoch: UNIX_EPOCH,
            hostname: "box".into(),
            app: "nat64".into(),
            pid: 7,
        };
        let mut s = String::new();
        format_record(&mut s, &e, &o);
        assert_eq!(
            s,
            "<134>1 1970-01-01T00:00:00.000Z box nat64 7 SESSION-CREATE [nat@32473 proto=\"tcp\" \
             isrc=\"2001:db8:1::2\" isport=\"40000\" tsrc=\"198.51.100.1\" tsport=\"40000\" \
             dst=\"203.0.113.2\" dport=\"80\"] tcp [2001:db8:1::2]:40000 as 198.51.100.1:40000 \
             to 203.0.113.2:80"
        );
    }

    #[test]
    fn lsnat_dead_server_is_a_warning() {
        let e = LsnatEvent::ServerDead {
            server: nat_lsnat::server::ServerId::from_parts(1, 0),
            addr: Ipv4Addr::new(10, 0, 0, 12),
            cause: DeadCause::ProbeFailures,
            at: Instant::from_millis(2000),
        };
        let o = Origin {
            epoch: UNIX_EPOCH,
            hostname: "lb".into(),
            app: "lsnat".into(),
            pid: 9,
        };
        let mut s = String::new();
        format_lsnat_record(&mut s, &e, &o);
        assert_eq!(
            s,
            "<132>1 1970-01-01T00:00:02.000Z lb lsnat 9 SERVER-DEAD [lsnat@32473 \
             server=\"10.0.0.12\"] server 10.0.0.12 declared dead: probes failed"
        );
        let log = TranslationLog {
            tx: None,
            events: LogEvents::Blocks,
            dropped: 0,
            stats: Arc::default(),
            writer: None,
        };
        assert!(log.wanted(&LogRecord::Lsnat(e)), "health is always logged");
    }

    #[test]
    fn block_record_names_the_range() {
        let block = |layout| AllocEvent::BlockAllocated {
            at: Instant::from_millis(0),
            subscriber: Ipv4Addr::new(10, 0, 0, 2),
            outside: Ipv4Addr::new(198, 51, 100, 1),
            first_port: 1024,
            len: 256,
            proto: None,
            layout,
        };
        let o = Origin {
            epoch: UNIX_EPOCH,
            hostname: "box".into(),
            app: "nat44".into(),
            pid: 1,
        };
        let mut s = String::new();
        format_alloc_record(&mut s, &block(BlockLayout::Contiguous), &o);
        assert_eq!(
            s,
            "<134>1 1970-01-01T00:00:00.000Z box nat44 1 PORT-BLOCK-ALLOC [nat@32473 proto=\"all\" \
             isrc=\"10.0.0.2\" tsrc=\"198.51.100.1\" tsport=\"1024\" tsportend=\"1279\"] \
             10.0.0.2 gets 198.51.100.1:1024-1279 (all)"
        );
        let mut s = String::new();
        format_alloc_record(&mut s, &block(BlockLayout::Scattered), &o);
        assert_eq!(
            s,
            "<134>1 1970-01-01T00:00:00.000Z box nat44 1 PORT-BLOCK-ALLOC [nat@32473 proto=\"all\" \
             isrc=\"10.0.0.2\" tsrc=\"198.51.100.1\" tsport=\"1024\" tsportend=\"1279\" \
             tslayout=\"scattered\"] 10.0.0.2 gets scattered block 198.51.100.1:1024-1279 (all)"
        );
    }

    #[test]
    fn udp_collector_gets_one_record_per_datagram() {
        let collector = UdpSocket::bind("127.0.0.1:0").unwrap();
        collector
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let settings = LogSettings {
            target: LogTarget::Udp(collector.local_addr().unwrap()),
            events: LogEvents::Sessions,
            queue: 16,
            hostname: None,
        };
        let origin = Origin {
            epoch: UNIX_EPOCH,
            hostname: "h".into(),
            app: "t".into(),
            pid: 1,
        };
        let mut log = TranslationLog::start(&settings, origin).unwrap();
        let e = Event {
            time: Instant::ZERO,
            kind: EventKind::SessionCreated,
            proto: L4Proto::Tcp,
            inside: Endpoint::new(Ipv4Addr::new(10, 0, 0, 2), 1),
            outside: Endpoint::new(Ipv4Addr::new(198, 51, 100, 1), 2),
            remote: Endpoint::new(Ipv4Addr::new(203, 0, 113, 2), 80),
        };
        log.record(LogRecord::Engine(Event {
            kind: EventKind::MappingCreated,
            ..e
        }));
        log.record(LogRecord::Engine(e));
        log.finish();
        let mut buf = [0u8; 1024];
        let n = collector.recv(&mut buf).unwrap();
        let text = std::str::from_utf8(&buf[..n]).unwrap();
        assert!(
            text.starts_with("<134>1 1970-01-01T00:00:00.000Z h t 1 SESSION-CREATE "),
            "{text}"
        );
        assert!(!text.ends_with('\n'));
        assert_eq!(log.written(), 1, "the mapping event is filtered out");
    }

    #[test]
    fn full_queue_drops_and_counts() {
        let dir = std::env::temp_dir().join(format!("natlog-{}", std::process::id()));
        let settings = LogSettings {
            target: LogTarget::File(dir.clone()),
            events: LogEvents::All,
            queue: 1,
            hostname: None,
        };
        let origin = Origin {
            epoch: UNIX_EPOCH,
            hostname: "h".into(),
            app: "t".into(),
            pid: 1,
        };
        let mut log = TranslationLog::start(&settings, origin).unwrap();
        let e = Event {
            time: Instant::ZERO,
            kind: EventKind::MappingCreated,
            proto: L4Proto::Tcp,
            inside: Endpoint::new(Ipv4Addr::LOCALHOST, 1),
            outside: Endpoint::new(Ipv4Addr::LOCALHOST, 2),
            remote: Endpoint::new(Ipv4Addr::UNSPECIFIED, 0),
        };
        for _ in 0..10_000 {
            log.record(LogRecord::Engine(e));
        }
        log.finish();
        assert_eq!(log.written() + log.dropped(), 10_000);
        let lines = std::fs::read_to_string(&dir).unwrap().lines().count() as u64;
        assert_eq!(lines, log.written());
        let _ = std::fs::remove_file(dir);
    }
}
