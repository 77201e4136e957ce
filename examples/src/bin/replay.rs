//! `replay`: a capture file through the NAT44 of a configuration, without a network.
//!
//! ```text
//! replay --config FILE INPUT.pcap OUTPUT.pcap
//! ```
//!
//! Reads the configuration (the format of `nat44`, see `examples/config/replay.toml`; the
//! `[tun]`, `[log]` and `[runtime]` sections are not used), then every record of INPUT (a
//! classic pcap file of raw IP, Ethernet or Linux cooked frames). Each IPv4 packet goes
//! through the engine, outbound when its source is in `nat.inside`, inbound otherwise, on a
//! clock that follows the capture's timestamps (so sessions expire and held SYNs are answered
//! as they would have been). What the engine sends is written to OUTPUT, a raw-IP pcap file,
//! and one line per record to stdout:
//!
//! ```text
//! #1 outbound forward len=36 udp 198.51.100.1:5000 -> 203.0.113.5:53
//! #2 inbound drop reason=no_mapping
//! #3 skip not_ipv4
//! timer t=6000ms reply len=56 icmp-error type=3 code=3 198.51.100.1 -> 203.0.113.9
//! ```
//!
//! `timer` lines are packets the engine sends on its own when the clock reaches `t` (time since
//! the first record). A summary goes to stderr. Exit codes: 0 when every record was read, 2
//! for a wrong command line, a configuration, an input or an output that cannot be used (the
//! message says which).

use nat_core::flow::L4Proto;
use nat_core::nat44::Nat44;
use nat_core::time::Instant;
use nat_core::verdict::{Direction, Verdict};
use nat_core::wire::{Transport, parse_ipv4};
use nat_std::config::{Config, Validated};
use nat_std::log::proto_name;
use nat_std::pcap::{LinkType, PcapReader, PcapWriter};
use nat_std::runtime::{AllocMemory, HEADROOM, Nat44Store, SharedAllocator, Translator};
use std::cell::RefCell;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: replay --config FILE INPUT.pcap OUTPUT.pcap";
/// Sessions expired per `handle_timeout` call, with the event queues drained between calls.
const EXPIRE_BATCH: usize = 100;
/// The largest IPv4 packet.
const MAX_PACKET: usize = 65535;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (config, input, output) = match argv.as_slice() {
        ["--config" | "-c", c, i, o] => (*c, *i, *o),
        ["--help" | "-h"] => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(Path::new(config), Path::new(input), Path::new(output)) {
        Ok(t) => {
            eprintln!(
                "replay: {} records ({} skipped): {} forwarded, {} replies, {} held, {} dropped; {} packets written to {output}",
                t.records, t.skipped, t.forwarded, t.replies, t.held, t.dropped, t.written
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("replay: {e}");
            ExitCode::from(2)
        }
    }
}

/// What happened to the records.
#[derive(Debug, Default)]
struct Tally {
    records: u64,
    skipped: u64,
    forwarded: u64,
    replies: u64,
    held: u64,
    dropped: u64,
    written: u64,
}

/// Builds the translator of `config`, then replays `input` into `output`.
fn run(config: &Path, input: &Path, output: &Path) -> Result<Tally, String> {
    let cfg = Config::load_validated(config).map_err(|e| e.to_string())?;
    let mut memory = AllocMemory::new(&cfg.alloc);
    let alloc = memory
        .build(&cfg.alloc)
        .map_err(|e| format!("{}: {}", config.display(), e.0))?;
    let store = Nat44Store::with_capacity(cfg.max_sessions, cfg.alloc.seed ^ 0x5e55_1075);
    let mut nat = Nat44::new(cfg.nat.clone(), store, SharedAllocator(RefCell::new(alloc)))
        .map_err(|e| format!("{}: {e}", config.display()))?;
    add_statics(&mut nat, &cfg).map_err(|e| format!("{}: {e}", config.display()))?;

    let file = File::open(input).map_err(|e| format!("{}: {e}", input.display()))?;
    let mut reader =
        PcapReader::new(BufReader::new(file)).map_err(|e| format!("{}: {e}", input.display()))?;
    let file = File::create(output).map_err(|e| format!("{}: {e}", output.display()))?;
    let mut writer = PcapWriter::new(BufWriter::new(file), LinkType::Raw)
        .map_err(|e| format!("{}: {e}", output.display()))?;
    let mut lines = std::io::stdout().lock();
    let mut replay = Replay {
        nat,
        buf: vec![0; HEADROOM + MAX_PACKET + 1],
        epoch: None,
        now: Instant::ZERO,
        tally: Tally::default(),
    };
    replay.all(&mut reader, &mut writer, &mut lines, input, output)?;
    writer
        .flush()
        .and_then(|()| lines.flush())
        .map_err(|e| format!("{}: {e}", output.display()))?;
    Ok(replay.tally)
}

fn add_statics(nat: &mut Translator<'_>, cfg: &Validated) -> Result<(), String> {
    for s in &cfg.statics {
        nat.add_static(Instant::ZERO, s.proto, s.inside, s.outside)
            .map_err(|r| {
                format!(
                    "static mapping {} {}:{} -> {}:{}: {}",
                    proto_name(s.proto),
                    s.inside.addr,
                    s.inside.port,
                    s.outside.addr,
                    s.outside.port,
                    r.as_str()
                )
            })?;
    }
    Ok(())
}

/// The replay's state: the translator, its packet buffer and the capture's clock.
struct Replay<'a> {
    nat: Translator<'a>,
    /// [`HEADROOM`] bytes for the ICMP errors the engine writes, then the packet.
    buf: Vec<u8>,
    /// Timestamp of the first record: the engine's zero.
    epoch: Option<Duration>,
    /// The engine's clock: time since `epoch`, never going back.
    now: Instant,
    tally: Tally,
}

/// Where a write went wrong: the verdict lines or the output file.
enum Sink {
    Lines,
    Output,
}

impl Replay<'_> {
    /// Replays every record of `reader`.
    fn all<R: Read, W: Write, L: Write>(
        &mut self,
        reader: &mut PcapReader<R>,
        writer: &mut PcapWriter<W>,
        lines: &mut L,
        input: &Path,
        output: &Path,
    ) -> Result<(), String> {
        let link = reader.link_type();
        if let LinkType::Unknown(n) = link {
            return Err(format!(
                "{}: link type {n} not supported (raw IP, Ethernet, Linux cooked)",
                input.display()
            ));
        }
        let mut frame = Vec::new();
        loop {
            let n = self.tally.records + 1;
            let rec = match reader.next_record(&mut frame) {
                Ok(Some(rec)) => rec,
                Ok(None) => return Ok(()),
                Err(e) => return Err(format!("{}: record {n}: {e}", input.display())),
            };
            self.tally.records = n;
            self.record(n, rec.ts, link.ipv4_packet(&frame), writer, lines)
                .map_err(|(sink, e)| match sink {
                    Sink::Lines => format!("stdout: {e}"),
                    Sink::Output => format!("{}: {e}", output.display()),
                })?;
        }
    }

    /// Runs the timers up to the record's time, then translates its packet, if any.
    fn record<W: Write, L: Write>(
        &mut self,
        n: u64,
        ts: Duration,
        pkt: Option<&[u8]>,
        writer: &mut PcapWriter<W>,
        lines: &mut L,
    ) -> Result<(), (Sink, std::io::Error)> {
        let epoch = *self.epoch.get_or_insert(ts);
        let since = u64::try_from(ts.saturating_sub(epoch).as_millis()).unwrap_or(u64::MAX);
        let at = self.now.max(Instant::from_millis(since));
        // Timers fire at their own time between records, not at the next record's.
        while let Some(due) = self.nat.poll_timeout().filter(|&t| t > self.now && t <= at) {
            self.now = due;
            self.timers(epoch, writer, lines)?;
        }
        self.now = at;
        self.timers(epoch, writer, lines)?;
        let out = |e| (Sink::Lines, e);
        let Some(pkt) = pkt else {
            self.tally.skipped += 1;
            return writeln!(lines, "#{n} skip not_ipv4").map_err(out);
        };
        if pkt.len() > MAX_PACKET {
            self.tally.skipped += 1;
            return writeln!(lines, "#{n} skip too_long len={}", pkt.len()).map_err(out);
        }
        let len = pkt.len();
        self.buf[HEADROOM..HEADROOM + len].copy_from_slice(pkt);
        let dir = self.direction(pkt);
        let v = self
            .nat
            .process(self.now, dir, &mut self.buf, HEADROOM, len);
        let dir = match dir {
            Direction::Outbound => "outbound",
            Direction::Inbound => "inbound",
        };
        self.verdict(&format!("#{n} {dir}"), v, ts, writer, lines)?;
        self.timers(epoch, writer, lines)
    }

    /// Outbound when the source is a subscriber (`nat.inside`), else inbound. What is too
    /// short to have a source goes outbound, for the engine to count under its drop reason.
    fn direction(&self, pkt: &[u8]) -> Direction {
        let Some(&[a, b, c, d]) = pkt.get(12..16) else {
            return Direction::Outbound;
        };
        let src = Ipv4Addr::new(a, b, c, d);
        if self
            .nat
            .config()
            .inside_prefixes
            .iter()
            .any(|p| p.contains(src))
        {
            Direction::Outbound
        } else {
            Direction::Inbound
        }
    }

    /// Prints a verdict line and writes the packet it sends, if any.
    fn verdict<W: Write, L: Write>(
        &mut self,
        prefix: &str,
        v: Verdict,
        ts: Duration,
        writer: &mut PcapWriter<W>,
        lines: &mut L,
    ) -> Result<(), (Sink, std::io::Error)> {
        let out = |e| (Sink::Lines, e);
        let (what, start, len) = match v {
            Verdict::Forward { start, len } => {
                self.tally.forwarded += 1;
                ("forward", start, len)
            }
            Verdict::Reply { start, len } => {
                self.tally.replies += 1;
                ("reply", start, len)
            }
            Verdict::Hold => {
                self.tally.held += 1;
                return writeln!(lines, "{prefix} hold").map_err(out);
            }
            Verdict::Drop(r) => {
                self.tally.dropped += 1;
                return writeln!(lines, "{prefix} drop reason={}", r.as_str()).map_err(out);
            }
        };
        let pkt = self
            .buf
            .get(start..start.saturating_add(len))
            .unwrap_or_default();
        writeln!(lines, "{prefix} {what} len={len} {}", describe(pkt)).map_err(out)?;
        writer
            .write_packet(ts, pkt)
            .map_err(|e| (Sink::Output, e))?;
        self.tally.written += 1;
        Ok(())
    }

    /// Expires due sessions, lets the allocator expire hold-downs, and writes what the engine
    /// sends on its own (answers to held SYNs, released fragments).
    fn timers<W: Write, L: Write>(
        &mut self,
        epoch: Duration,
        writer: &mut PcapWriter<W>,
        lines: &mut L,
    ) -> Result<(), (Sink, std::io::Error)> {
        let now = self.now;
        if self.nat.poll_timeout().is_some_and(|t| t <= now) {
            while self.nat.handle_timeout(now, EXPIRE_BATCH) == EXPIRE_BATCH {
                self.drain_events();
            }
        }
        if let Ok(mut a) = self.nat.allocator().0.try_borrow_mut() {
            a.poll(now);
        }
        self.drain_events();
        let ts = epoch.saturating_add(Duration::from_millis(now.as_millis()));
        let prefix = format!("timer t={}ms", now.as_millis());
        // Each call sends at most one packet; the bound only guards against a loop.
        for _ in 0..1024 {
            let Some(v) = self.nat.poll_transmit(now, &mut self.buf, HEADROOM) else {
                break;
            };
            self.verdict(&prefix, v, ts, writer, lines)?;
        }
        Ok(())
    }

    /// Empties the engine's and the allocator's event queues (replay logs no events).
    fn drain_events(&mut self) {
        while self.nat.poll_event().is_some() {}
        if let Ok(mut a) = self.nat.allocator().0.try_borrow_mut() {
            a.drain_events(|_| {});
        }
    }
}

/// A packet in a few words: protocol, endpoints.
fn describe(pkt: &[u8]) -> String {
    let Ok(info) = parse_ipv4(pkt) else {
        return "unparsable".to_string();
    };
    let (src, dst) = (info.src, info.dst);
    match info.transport {
        Transport::Flow { key, .. } if key.proto == L4Proto::Icmp => {
            format!("icmp id={} {src} -> {dst}", key.src.port)
        }
        Transport::Flow { key, .. } => format!(
            "{} {src}:{} -> {dst}:{}",
            proto_name(key.proto),
            key.src.port,
            key.dst.port
        ),
        Transport::IcmpError {
            icmp_type, code, ..
        } => format!("icmp-error type={icmp_type} code={code} {src} -> {dst}"),
        Transport::LaterFragment => format!("fragment proto={} {src} -> {dst}", info.protocol),
        Transport::Other => format!("proto={} {src} -> {dst}", info.protocol),
    }
}
