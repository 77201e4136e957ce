//! The file as written: what serde reads, field by field. Unknown fields are errors.

use nat_core::behavior::Timeouts;
use nat_core::flow::L4Proto;
use nat_core::nat44::IcmpErrorPolicy;
use nat_core::prefix::Prefix;
use serde::Deserialize;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::time::Duration;
use toml::Spanned;

/// An IPv4 prefix written `a.b.c.d/len` (or a bare address, a /32).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Ipv4Prefix(pub Prefix<Ipv4Addr>);

impl TryFrom<String> for Ipv4Prefix {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let (a, len) = s.split_once('/').unwrap_or((&s, "32"));
        let addr: Ipv4Addr = a
            .trim()
            .parse()
            .map_err(|_| format!("`{s}` is not an IPv4 prefix (like 10.0.0.0/24)"))?;
        let len: u8 = len
            .trim()
            .parse()
            .map_err(|_| format!("`{s}`: prefix length is not a number"))?;
        Prefix::new(addr, len)
            .map(Ipv4Prefix)
            .map_err(|e| format!("`{s}`: {e:?} (host bits set or length above 32)"))
    }
}

impl fmt::Display for Ipv4Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.0.addr(), self.0.len())
    }
}

impl Ipv4Prefix {
    /// First and last address of the prefix, as integers.
    pub fn bounds(&self) -> (u32, u32) {
        let base = u32::from(self.0.addr());
        let host = u32::MAX.checked_shr(u32::from(self.0.len())).unwrap_or(0);
        (base, base | host)
    }

    pub(super) fn overlaps(&self, other: &Ipv4Prefix) -> bool {
        let (a, b) = (self.bounds(), other.bounds());
        a.0 <= b.1 && b.0 <= a.1
    }
}

/// A port range written `lo-hi`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct PortSpan {
    /// First port.
    pub lo: u16,
    /// Last port.
    pub hi: u16,
}

impl TryFrom<String> for PortSpan {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a port range like 1024-65535");
        let (lo, hi) = s.split_once('-').ok_or_else(bad)?;
        let lo: u16 = lo.trim().parse().map_err(|_| bad())?;
        let hi: u16 = hi.trim().parse().map_err(|_| bad())?;
        if lo == 0 || lo > hi {
            return Err(format!("`{s}`: need 1 <= first <= last"));
        }
        Ok(PortSpan { lo, hi })
    }
}

/// A transport protocol: `tcp`, `udp` or `icmp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMP query (the identifier plays the port).
    Icmp,
}

impl From<Proto> for L4Proto {
    fn from(p: Proto) -> L4Proto {
        match p {
            Proto::Tcp => L4Proto::Tcp,
            Proto::Udp => L4Proto::Udp,
            Proto::Icmp => L4Proto::Icmp,
        }
    }
}

/// Mapping or filtering behaviour ([RFC 4787 § 4.1, § 5]).
///
/// [RFC 4787 § 4.1, § 5]: https://www.rfc-editor.org/rfc/rfc4787#section-4.1
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Behavior {
    /// Endpoint-independent.
    EndpointIndependent,
    /// Address-dependent.
    AddressDependent,
    /// Address-and-port-dependent.
    AddressAndPortDependent,
}

/// The `[tun]` section.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TunSection {
    /// Name of the TUN device to create.
    pub name: String,
    /// Its MTU.
    #[serde(default = "default_mtu")]
    pub mtu: u16,
    /// Queues, each read by its own worker thread (NAT44 shards its subscribers over them).
    #[serde(default = "default_queues")]
    pub queues: usize,
}

fn default_queues() -> usize {
    1
}

fn default_mtu() -> u16 {
    1500
}

/// The ICMP errors the translator owes: `[nat.icmp_errors]`.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IcmpErrorsSection {
    /// Send them at all.
    pub send: bool,
    /// Average per second.
    pub per_sec: u32,
    /// Burst.
    pub burst: u32,
}

impl Default for IcmpErrorsSection {
    fn default() -> Self {
        let d = IcmpErrorPolicy::default();
        IcmpErrorsSection {
            send: d.send,
            per_sec: d.per_sec,
            burst: d.burst,
        }
    }
}

/// The code of the Destination Unreachable sent when no mapping can be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnreachableSection {
    /// Code 13 ([RFC 5508] REQ-8, draft-nishitani-cgn § 4.3).
    ///
    /// [RFC 5508]: https://www.rfc-editor.org/rfc/rfc5508
    AdminProhibited,
    /// Code 1 ([RFC 6888] REQ-11).
    ///
    /// [RFC 6888]: https://www.rfc-editor.org/rfc/rfc6888
    HostUnreachable,
}

/// The `[nat]` section: realms and behaviours.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatSection {
    /// Subscriber prefixes: packets from them are outbound.
    pub inside: Spanned<Vec<Ipv4Prefix>>,
    /// The outside pool: packets to it are inbound.
    pub pool: Spanned<Vec<Ipv4Prefix>>,
    /// The translator's inside address, source of the ICMP errors it sends inside.
    pub inside_address: Spanned<Ipv4Addr>,
    /// Destinations forwarded untranslated (draft-nishitani-cgn § 7).
    #[serde(default = "no_prefixes")]
    pub passthrough: Spanned<Vec<Ipv4Prefix>>,
    /// Mapping behaviour.
    #[serde(default = "eim")]
    pub mapping: Behavior,
    /// Filtering behaviour.
    #[serde(default = "eim")]
    pub filtering: Behavior,
    /// Hairpinning between subscribers.
    #[serde(default = "yes")]
    pub hairpinning: bool,
    /// Inbound packets refresh UDP and ICMP sessions.
    #[serde(default)]
    pub inbound_refresh: bool,
    /// Decrement the TTL as a router would (off when the host kernel routes to the TUN).
    #[serde(default)]
    pub decrement_ttl: bool,
    /// Answer unsolicited inbound SYNs with Port Unreachable after the hold time.
    #[serde(default = "yes")]
    pub answer_unsolicited_syn: bool,
    /// Outside MTU: larger DF packets get Fragmentation Needed.
    #[serde(default)]
    pub outside_mtu: Option<Spanned<u16>>,
    /// Code of the Destination Unreachable sent when no mapping can be made.
    #[serde(default = "admin")]
    pub unreachable_code: UnreachableSection,
    /// Most sessions (and bindings) in the table.
    #[serde(default = "default_sessions")]
    pub max_sessions: Spanned<u64>,
    /// Sending of owed ICMP errors.
    #[serde(default)]
    pub icmp_errors: IcmpErrorsSection,
}

fn no_prefixes() -> Spanned<Vec<Ipv4Prefix>> {
    Spanned::new(0..0, Vec::new())
}
fn eim() -> Behavior {
    Behavior::EndpointIndependent
}
fn yes() -> bool {
    true
}
fn admin() -> UnreachableSection {
    UnreachableSection::AdminProhibited
}
fn default_sessions() -> Spanned<u64> {
    Spanned::new(0..0, 1 << 20)
}

/// Session timers in seconds: `[timeouts]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimeoutsSection {
    /// UDP mapping timer (≥ 120, RFC 4787 REQ-5).
    pub udp: Spanned<u64>,
    /// TCP established idle timeout (≥ 7440, RFC 5382 REQ-5).
    pub tcp_established: Spanned<u64>,
    /// TCP transitory timeout while opening and after close (RFC 7857 § 2.1).
    pub tcp_transitory: Spanned<u64>,
    /// Hold of unsolicited inbound SYNs (≥ 6, RFC 5382 REQ-4).
    pub tcp_syn_hold: Spanned<u64>,
    /// ICMP query timer (≥ 60, RFC 5508 REQ-1).
    pub icmp: Spanned<u64>,
    /// How long a first fragment's translation is kept for the rest.
    pub fragment: Spanned<u64>,
}

impl Default for TimeoutsSection {
    fn default() -> Self {
        let t = Timeouts::default();
        let s = |d: Duration| Spanned::new(0..0, d.as_secs());
        TimeoutsSection {
            udp: s(t.udp),
            tcp_established: s(t.tcp_established),
            tcp_transitory: s(t.tcp_opening),
            tcp_syn_hold: s(t.tcp_syn_hold),
            icmp: s(t.icmp),
            fragment: Spanned::new(0..0, 5),
        }
    }
}

/// How outside ports are given out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AllocMode {
    /// One port at a time, each logged per session.
    PerPort,
    /// Blocks of ports per subscriber, one log line per block (RFC 7269 § 5.1).
    PortBlock,
    /// Ports computed from the subscriber (RFC 7422), no per-session log.
    Deterministic,
}

/// Where a port block's ports lie (RFC 7269 § 5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BlockLayoutSetting {
    /// `block_size` consecutive ports.
    Contiguous,
    /// `block_size` ports spread over the range by a keyed permutation of `seed`.
    Scattered,
}

/// Per-subscriber limits: `[allocation.quota]`.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaSection {
    /// TCP ports per subscriber (absent: no limit).
    pub tcp: Option<u32>,
    /// UDP ports per subscriber.
    pub udp: Option<u32>,
    /// ICMP identifiers per subscriber.
    pub icmp: Option<u32>,
    /// Concurrent sessions per subscriber.
    pub sessions: Option<u32>,
}

/// The `[allocation]` section.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AllocationSection {
    /// The policy.
    pub mode: Spanned<AllocMode>,
    /// Outside ports of every pool address (port-block and deterministic modes: `first-65535`).
    pub ports: Spanned<PortSpan>,
    /// Keep the inside port when it is free (RFC 4787 § 4.2.1); else hard to guess (RFC 6056).
    pub port_preservation: bool,
    /// Seconds a released port or block waits before reuse (RFC 6888 REQ-8).
    pub hold_down: u64,
    /// Ports per block (port-block mode).
    pub block_size: Spanned<u16>,
    /// Blocks a subscriber may hold (port-block mode).
    pub max_blocks: Spanned<u16>,
    /// Contiguous or scattered blocks (port-block mode).
    pub block_layout: Spanned<BlockLayoutSetting>,
    /// Ports per subscriber (deterministic mode).
    pub ports_per_subscriber: Spanned<u16>,
    /// Key of the port choice hashes; absent: random at start.
    pub seed: Option<u64>,
    /// Per-subscriber limits.
    pub quota: QuotaSection,
}

impl Default for AllocationSection {
    fn default() -> Self {
        AllocationSection {
            mode: Spanned::new(0..0, AllocMode::PerPort),
            ports: Spanned::new(
                0..0,
                PortSpan {
                    lo: 1024,
                    hi: 65535,
                },
            ),
            port_preservation: true,
            hold_down: 120,
            block_size: Spanned::new(0..0, 256),
            max_blocks: Spanned::new(0..0, 4),
            block_layout: Spanned::new(0..0, BlockLayoutSetting::Contiguous),
            ports_per_subscriber: Spanned::new(0..0, 2016),
            seed: None,
            quota: QuotaSection::default(),
        }
    }
}

/// A static mapping (port forwarding): one `[[static]]` table.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticSection {
    /// Protocol.
    pub proto: Proto,
    /// Inside endpoint `a.b.c.d:port`.
    pub inside: Spanned<SocketAddrV4>,
    /// Outside endpoint `a.b.c.d:port`, in the pool.
    pub outside: Spanned<SocketAddrV4>,
}

/// Where translation logs go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogTargetKind {
    /// Nowhere.
    None,
    /// Standard error.
    Stderr,
    /// A file, appended to.
    File,
    /// A syslog collector over UDP (RFC 5426).
    Udp,
}

/// Which events are logged. Subscriber exhaustion (once until the subscriber frees a port) is
/// always logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogEvents {
    /// Session creation and deletion (draft-nishitani-cgn § 6.1): the default of per-port mode.
    Sessions,
    /// Binding (mapping) creation and deletion.
    Mappings,
    /// Port blocks given and taken back (RFC 7269 § 5.1): the default of port-block mode.
    /// Deterministic mode logs nothing else (RFC 7422 needs no log).
    Blocks,
    /// Everything, including the engine's exhaustion event per refused packet.
    All,
}

/// The `[log]` section: translation logs.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// Where.
    pub target: Spanned<LogTargetKind>,
    /// File for `target = "file"`.
    pub path: Option<PathBuf>,
    /// Collector for `target = "udp"`.
    pub collector: Option<SocketAddr>,
    /// Which events; absent: by allocation mode (sessions, blocks, none for deterministic).
    pub events: Option<LogEvents>,
    /// Records waiting for the writer; more are dropped (counted), never block packets.
    pub queue: Spanned<usize>,
    /// HOSTNAME field of the records; absent: the host's name.
    pub hostname: Option<String>,
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            target: Spanned::new(0..0, LogTargetKind::Stderr),
            path: None,
            collector: None,
            events: None,
            queue: Spanned::new(0..0, 65536),
            hostname: None,
        }
    }
}

/// The `[runtime]` section.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeSection {
    /// Seconds between one-line counter summaries on stderr; 0: none.
    pub summary_interval: u64,
    /// Most sessions listed by a SIGUSR1 dump.
    pub dump_limit: usize,
}

impl Default for RuntimeSection {
    fn default() -> Self {
        RuntimeSection {
            summary_interval: 10,
            dump_limit: 10_000,
        }
    }
}

/// A configuration file as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[tun]`.
    pub tun: TunSection,
    /// `[nat]`.
    pub nat: NatSection,
    /// `[timeouts]`.
    #[serde(default)]
    pub timeouts: TimeoutsSection,
    /// `[allocation]`.
    #[serde(default)]
    pub allocation: AllocationSection,
    /// `[[static]]` mappings.
    #[serde(default, rename = "static")]
    pub statics: Vec<StaticSection>,
    /// `[log]`.
    #[serde(default)]
    pub log: LogSection,
    /// `[runtime]`.
    #[serde(default)]
    pub runtime: RuntimeSection,
}
