//! The configuration after [`Config::validate`]: checked, and in the terms of the engine, the
//! allocator and the log.

use super::file::{
    AllocMode, Behavior, BlockLayoutSetting, Config, Ipv4Prefix, LogEvents, LogSection,
    LogTargetKind, UnreachableSection,
};
use super::{ConfigError, field_at, line_col};
use nat_alloc::BlockLayout;
use nat_core::behavior::{FilteringBehavior, MappingBehavior, PerProto, Timeouts};
use nat_core::flow::{Endpoint, L4Proto};
use nat_core::nat44::{IcmpErrorPolicy, MAX_PREFIXES, Nat44Config, PrefixList, UnreachableCode};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

/// A static mapping, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StaticMapping {
    /// Protocol.
    pub proto: L4Proto,
    /// Inside endpoint.
    pub inside: Endpoint<Ipv4Addr>,
    /// Outside endpoint.
    pub outside: Endpoint<Ipv4Addr>,
}

/// The allocation policy, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllocPolicy {
    /// The mode.
    pub mode: AllocMode,
    /// The pool.
    pub pool: Vec<Ipv4Prefix>,
    /// Ports of every address, first and last.
    pub ports: (u16, u16),
    /// Port preservation.
    pub port_preservation: bool,
    /// Hold-down of released ports or blocks.
    pub hold_down: Duration,
    /// Ports per block (port-block mode).
    pub block_size: u16,
    /// Blocks per subscriber (port-block mode).
    pub max_blocks: u16,
    /// Contiguous or scattered blocks (port-block mode).
    pub block_layout: BlockLayout,
    /// Ports per subscriber (deterministic mode).
    pub ports_per_subscriber: u16,
    /// Hash key.
    pub seed: u64,
    /// Ports per subscriber per protocol (indexed by [`L4Proto::index`]); `u32::MAX`: none.
    pub port_quota: [u32; 3],
    /// Concurrent sessions per subscriber; `u32::MAX`: none.
    pub session_quota: u32,
    /// Subscriber prefixes.
    pub inside: Vec<Ipv4Prefix>,
    /// Session table capacity (bounds the subscriber table).
    pub max_sessions: usize,
}

/// Where translation logs go, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogTarget {
    /// Nowhere.
    None,
    /// Standard error.
    Stderr,
    /// A file.
    File(PathBuf),
    /// A UDP syslog collector.
    Udp(SocketAddr),
}

impl std::fmt::Display for LogTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LogTarget::None => f.write_str("none"),
            LogTarget::Stderr => f.write_str("stderr"),
            LogTarget::File(p) => write!(f, "file {}", p.display()),
            LogTarget::Udp(a) => write!(f, "udp {a}"),
        }
    }
}

/// Translation log settings, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSettings {
    /// Where.
    pub target: LogTarget,
    /// Which events.
    pub events: LogEvents,
    /// Queue length.
    pub queue: usize,
    /// HOSTNAME field.
    pub hostname: Option<String>,
}

/// What every translator binary's runtime needs besides its engine: the TUN device, the
/// translation log and the operator's reports.
#[derive(Clone, Debug)]
pub struct RuntimeSettings {
    /// TUN device name.
    pub tun_name: String,
    /// TUN MTU.
    pub tun_mtu: u16,
    /// TUN queues, one worker each.
    pub tun_queues: usize,
    /// Translation logs.
    pub log: LogSettings,
    /// Summary interval (`None`: no summaries).
    pub summary_interval: Option<Duration>,
    /// SIGUSR1 dump limit.
    pub dump_limit: usize,
}

impl RuntimeSettings {
    /// The `[tun]`, `[log]` and `[runtime]` sections, checked.
    pub(super) fn check(
        ctx: &Ctx<'_>,
        tun: &super::file::TunSection,
        log: &LogSection,
        runtime: &super::file::RuntimeSection,
        default_events: LogEvents,
        ipv6: bool,
        max_queues: usize,
    ) -> Result<RuntimeSettings, ConfigError> {
        if tun.name.is_empty() || tun.name.len() > 15 {
            return Err(ctx.err(0..0, "tun.name", "must be 1 to 15 characters"));
        }
        if ipv6 && tun.mtu < 1280 {
            return Err(ctx.err(0..0, "tun.mtu", "below 1280 (the device carries IPv6)"));
        }
        if tun.mtu < 576 {
            return Err(ctx.err(0..0, "tun.mtu", "below 576"));
        }
        Ok(RuntimeSettings {
            tun_name: tun.name.clone(),
            tun_mtu: tun.mtu,
            tun_queues: check_queues(ctx, tun.queues, max_queues)?,
            log: log_settings(ctx, log, default_events)?,
            summary_interval: (runtime.summary_interval > 0)
                .then(|| Duration::from_secs(runtime.summary_interval)),
            dump_limit: runtime.dump_limit,
        })
    }
}

/// A configuration that passed [`Config::validate`]: everything the runtime needs.
#[derive(Clone, Debug)]
pub struct Validated {
    /// The engine's configuration (already accepted by [`Nat44Config::validate`]).
    pub nat: Nat44Config,
    /// Session table capacity.
    pub max_sessions: usize,
    /// Allocation policy.
    pub alloc: AllocPolicy,
    /// Static mappings.
    pub statics: Vec<StaticMapping>,
    /// The TUN device, the translation log and the reports.
    pub runtime: RuntimeSettings,
}

/// Where a configuration came from, to point errors at their line.
pub(super) struct Ctx<'a> {
    pub(super) path: &'a Path,
    pub(super) text: &'a str,
}

impl Ctx<'_> {
    /// An error at `span` (`0..0`: no position) about `field`.
    pub(super) fn err(
        &self,
        span: Range<usize>,
        field: &str,
        message: impl Into<String>,
    ) -> ConfigError {
        let position = (span != (0..0)).then(|| line_col(self.text, span.start));
        ConfigError {
            path: self.path.to_path_buf(),
            position,
            field: field.to_string(),
            message: message.into(),
        }
    }
}

fn prefix_list(
    ctx: &Ctx<'_>,
    field: &str,
    list: &Spanned<Vec<Ipv4Prefix>>,
) -> Result<PrefixList, ConfigError> {
    let mut out = PrefixList::new();
    for p in list.get_ref() {
        out.push(p.0).map_err(|_| {
            ctx.err(
                list.span(),
                field,
                format!("at most {MAX_PREFIXES} prefixes"),
            )
        })?;
    }
    Ok(out)
}

fn endpoint(a: SocketAddrV4) -> Endpoint<Ipv4Addr> {
    Endpoint::new(*a.ip(), a.port())
}

fn behavior(b: Behavior) -> (MappingBehavior, FilteringBehavior) {
    match b {
        Behavior::EndpointIndependent => (
            MappingBehavior::EndpointIndependent,
            FilteringBehavior::EndpointIndependent,
        ),
        Behavior::AddressDependent => (
            MappingBehavior::AddressDependent,
            FilteringBehavior::AddressDependent,
        ),
        Behavior::AddressAndPortDependent => (
            MappingBehavior::AddressAndPortDependent,
            FilteringBehavior::AddressAndPortDependent,
        ),
    }
}

/// A random 64-bit key from the standard library's per-process hash keys (which the OS seeds).
pub(super) fn random_seed() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(std::process::id())
}

impl Config {
    /// Reads and parses a file (the checks of [`validate`](Self::validate) come after).
    pub fn load(path: &Path) -> Result<(Config, String), ConfigError> {
        let text = read_text(path)?;
        let c = Config::parse(path, &text)?;
        Ok((c, text))
    }

    /// Parses TOML text; `path` is only used in error messages. Unknown fields are errors.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        parse_toml(path, text)
    }

    /// Reads, parses and validates a file: what the binaries call.
    pub fn load_validated(path: &Path) -> Result<Validated, ConfigError> {
        let (c, text) = Config::load(path)?;
        c.validate(path, &text)
    }

    /// Checks what the types cannot and builds the runtime's configuration. `path` and `text`
    /// (the file the configuration came from) are used to point errors at their line.
    pub fn validate(&self, path: &Path, text: &str) -> Result<Validated, ConfigError> {
        let ctx = Ctx { path, text };
        let n = &self.nat;
        if n.inside.get_ref().is_empty() {
            return Err(ctx.err(n.inside.span(), "nat.inside", "at least one prefix"));
        }
        if n.pool.get_ref().is_empty() {
            return Err(ctx.err(n.pool.span(), "nat.pool", "at least one prefix"));
        }
        for p in n.pool.get_ref() {
            if let Some(q) = n.inside.get_ref().iter().find(|q| q.overlaps(p)) {
                return Err(ctx.err(
                    n.pool.span(),
                    "nat.pool",
                    format!("{p} overlaps the inside prefix {q}"),
                ));
            }
        }
        let pool_size: u64 = n
            .pool
            .get_ref()
            .iter()
            .map(|p| u64::from(p.bounds().1 - p.bounds().0) + 1)
            .sum();
        if pool_size > 65536 {
            return Err(ctx.err(n.pool.span(), "nat.pool", "more than 65536 addresses"));
        }
        let ia = *n.inside_address.get_ref();
        if !n.inside.get_ref().iter().any(|p| p.0.contains(ia)) {
            return Err(ctx.err(
                n.inside_address.span(),
                "nat.inside_address",
                format!("{ia} is not in nat.inside"),
            ));
        }
        let max_sessions = *n.max_sessions.get_ref();
        if max_sessions == 0 || max_sessions > (1 << 31) {
            return Err(ctx.err(
                n.max_sessions.span(),
                "nat.max_sessions",
                "must be 1 to 2^31",
            ));
        }
        if let Some(m) = &n.outside_mtu
            && *m.get_ref() < 68
        {
            return Err(ctx.err(m.span(), "nat.outside_mtu", "below 68"));
        }

        let mut c = Nat44Config::default();
        let (map, _) = behavior(n.mapping);
        let (_, filt) = behavior(n.filtering);
        c.mapping = PerProto::all(map);
        c.filtering = PerProto::all(filt);
        c.inside_prefixes = prefix_list(&ctx, "nat.inside", &n.inside)?;
        c.outside_prefixes = prefix_list(&ctx, "nat.pool", &n.pool)?;
        c.passthrough = prefix_list(&ctx, "nat.passthrough", &n.passthrough)?;
        c.inside_address = ia;
        c.hairpinning = n.hairpinning;
        c.inbound_refresh = n.inbound_refresh;
        c.decrement_ttl = n.decrement_ttl;
        c.answer_unsolicited_syn = n.answer_unsolicited_syn;
        c.outside_mtu = n.outside_mtu.as_ref().map(|m| *m.get_ref());
        c.unreachable_code = match n.unreachable_code {
            UnreachableSection::AdminProhibited => UnreachableCode::AdminProhibited,
            UnreachableSection::HostUnreachable => UnreachableCode::HostUnreachable,
        };
        c.icmp_errors = IcmpErrorPolicy {
            send: n.icmp_errors.send,
            per_sec: n.icmp_errors.per_sec,
            burst: n.icmp_errors.burst,
        };
        let t = &self.timeouts;
        let secs = |s: &Spanned<u64>| Duration::from_secs(*s.get_ref());
        c.timeouts = Timeouts {
            udp: secs(&t.udp),
            tcp_established: secs(&t.tcp_established),
            tcp_opening: secs(&t.tcp_transitory),
            tcp_closing: secs(&t.tcp_transitory),
            tcp_syn_hold: secs(&t.tcp_syn_hold),
            icmp: secs(&t.icmp),
        };
        c.fragment_timeout = secs(&t.fragment);
        if let Err(e) = c.validate() {
            use nat_core::nat44::ConfigError as E;
            let (span, field) = match e {
                E::UdpTimeoutTooShort => (t.udp.span(), "timeouts.udp"),
                E::TcpEstablishedTimeoutTooShort => {
                    (t.tcp_established.span(), "timeouts.tcp_established")
                }
                E::SynHoldTooShort => (t.tcp_syn_hold.span(), "timeouts.tcp_syn_hold"),
                E::IcmpTimeoutTooShort => (t.icmp.span(), "timeouts.icmp"),
                E::NoOutsidePrefix => (n.pool.span(), "nat.pool"),
                E::MtuTooSmall => (0..0, "nat.outside_mtu"),
                _ => (0..0, ""),
            };
            let msg = e.to_string();
            let msg = msg
                .strip_prefix(&format!("{field}: "))
                .unwrap_or(&msg)
                .to_string();
            return Err(ctx.err(span, field, msg));
        }

        let alloc = self.alloc_policy(&ctx, max_sessions as usize)?;
        let statics = self.static_mappings(&ctx, &alloc)?;
        let default_events = match alloc.mode {
            AllocMode::PerPort => LogEvents::Sessions,
            AllocMode::PortBlock | AllocMode::Deterministic => LogEvents::Blocks,
        };
        let runtime = RuntimeSettings::check(
            &ctx,
            &self.tun,
            &self.log,
            &self.runtime,
            default_events,
            false,
            crate::runtime::MAX_WORKERS,
        )?;
        if runtime.tun_queues > 1 {
            crate::runtime::Nat44Shards::check(runtime.tun_queues, &alloc)
                .map_err(|m| ctx.err(0..0, "tun.queues", &m))?;
        }
        Ok(Validated {
            nat: c,
            max_sessions: max_sessions as usize,
            alloc,
            statics,
            runtime,
        })
    }

    fn alloc_policy(&self, ctx: &Ctx<'_>, max_sessions: usize) -> Result<AllocPolicy, ConfigError> {
        let a = &self.allocation;
        let q = &a.quota;
        let unl = |v: Option<u32>| v.unwrap_or(u32::MAX);
        let mut port_quota = [u32::MAX; 3];
        port_quota[L4Proto::Tcp.index()] = unl(q.tcp);
        port_quota[L4Proto::Udp.index()] = unl(q.udp);
        port_quota[L4Proto::Icmp.index()] = unl(q.icmp);
        if port_quota.contains(&0) || q.sessions == Some(0) {
            return Err(ctx.err(0..0, "allocation.quota", "a quota of 0 refuses everything"));
        }
        let mode = *a.mode.get_ref();
        let ports = *a.ports.get_ref();
        if mode != AllocMode::PerPort && ports.hi != 65535 {
            return Err(ctx.err(
                a.ports.span(),
                "allocation.ports",
                "blocks and deterministic ranges tile first-65535: the last port must be 65535",
            ));
        }
        let policy = AllocPolicy {
            mode,
            pool: self.nat.pool.get_ref().clone(),
            ports: (ports.lo, ports.hi),
            port_preservation: a.port_preservation,
            hold_down: Duration::from_secs(a.hold_down),
            block_size: *a.block_size.get_ref(),
            max_blocks: *a.max_blocks.get_ref(),
            block_layout: match a.block_layout.get_ref() {
                BlockLayoutSetting::Contiguous => BlockLayout::Contiguous,
                BlockLayoutSetting::Scattered => BlockLayout::Scattered,
            },
            ports_per_subscriber: *a.ports_per_subscriber.get_ref(),
            seed: a.seed.unwrap_or_else(random_seed),
            port_quota,
            session_quota: unl(q.sessions),
            inside: self.nat.inside.get_ref().clone(),
            max_sessions,
        };
        match mode {
            AllocMode::PerPort => {}
            AllocMode::PortBlock => {
                let b = u32::from(policy.block_size);
                let span = 65536 - u32::from(ports.lo);
                if b == 0 || b > span {
                    return Err(ctx.err(
                        a.block_size.span(),
                        "allocation.block_size",
                        format!("must be 1 to {span} (the port range)"),
                    ));
                }
                if policy.max_blocks == 0 {
                    return Err(ctx.err(
                        a.max_blocks.span(),
                        "allocation.max_blocks",
                        "must be at least 1",
                    ));
                }
                if policy.block_layout == BlockLayout::Scattered {
                    if span % 2 == 1 {
                        return Err(ctx.err(
                            a.ports.span(),
                            "allocation.ports",
                            "scattered blocks permute pairs of ports: the range needs an even \
                             number of ports",
                        ));
                    }
                    if a.seed.is_none() {
                        return Err(ctx.err(
                            a.block_layout.span(),
                            "allocation.seed",
                            "scattered blocks need a fixed seed: their ports are listed from \
                             the log with it (`nat44 --config FILE --who ADDR:PORT`)",
                        ));
                    }
                }
            }
            AllocMode::Deterministic => {
                if self.nat.inside.get_ref().len() != 1 {
                    return Err(ctx.err(
                        self.nat.inside.span(),
                        "nat.inside",
                        "deterministic mode maps exactly one inside prefix",
                    ));
                }
                let ranges = policy.ranges();
                let cfg = policy.deterministic_config(&ranges);
                if let Err(e) = nat_alloc::DeterministicMap::new(&cfg) {
                    let (span, field) = match e.field() {
                        "ports_per_subscriber" => (
                            a.ports_per_subscriber.span(),
                            "allocation.ports_per_subscriber",
                        ),
                        "first_port" => (a.ports.span(), "allocation.ports"),
                        _ => (self.nat.pool.span(), "nat.pool"),
                    };
                    return Err(ctx.err(
                        span,
                        field,
                        format!("{e} (the inside prefix's subscribers must fit in pool × ports)"),
                    ));
                }
            }
        }
        Ok(policy)
    }

    fn static_mappings(
        &self,
        ctx: &Ctx<'_>,
        alloc: &AllocPolicy,
    ) -> Result<Vec<StaticMapping>, ConfigError> {
        let mut out: Vec<StaticMapping> = Vec::new();
        for s in &self.statics {
            let m = StaticMapping {
                proto: s.proto.into(),
                inside: endpoint(*s.inside.get_ref()),
                outside: endpoint(*s.outside.get_ref()),
            };
            if !self
                .nat
                .inside
                .get_ref()
                .iter()
                .any(|p| p.0.contains(m.inside.addr))
            {
                return Err(ctx.err(s.inside.span(), "static.inside", "not in nat.inside"));
            }
            if !alloc.pool.iter().any(|p| p.0.contains(m.outside.addr)) {
                return Err(ctx.err(s.outside.span(), "static.outside", "not in nat.pool"));
            }
            if alloc.mode == AllocMode::Deterministic {
                let ranges = alloc.ranges();
                let cfg = alloc.deterministic_config(&ranges);
                let own = nat_alloc::DeterministicMap::new(&cfg)
                    .ok()
                    .and_then(|map| map.forward(m.inside.addr));
                let fits = own.is_some_and(|r| {
                    r.outside == m.outside.addr
                        && (r.first_port..=r.last_port).contains(&m.outside.port)
                });
                if !fits {
                    let hint = own.map_or(String::new(), |r| {
                        format!(
                            ": {} owns {}:{}-{}",
                            m.inside.addr, r.outside, r.first_port, r.last_port
                        )
                    });
                    return Err(ctx.err(
                        s.outside.span(),
                        "static.outside",
                        format!("deterministic mode: not in the inside host's own range{hint}"),
                    ));
                }
            }
            if m.outside.port == 0 && m.proto != L4Proto::Icmp {
                return Err(ctx.err(s.outside.span(), "static.outside", "port 0"));
            }
            if out
                .iter()
                .any(|o| o.proto == m.proto && (o.outside == m.outside || o.inside == m.inside))
            {
                return Err(ctx.err(
                    s.outside.span(),
                    "static",
                    "a second static mapping of the same endpoint",
                ));
            }
            out.push(m);
        }
        Ok(out)
    }
}

/// Deserializes TOML text into `T`; `path` is only used in error messages, which name the line
/// and the field. Unknown fields are errors where `T` says so.
pub(super) fn parse_toml<T: serde::de::DeserializeOwned>(
    path: &Path,
    text: &str,
) -> Result<T, ConfigError> {
    toml::from_str::<T>(text).map_err(|e| {
        let (position, field) = match e.span() {
            Some(s) => (Some(line_col(text, s.start)), field_at(text, s.start)),
            None => (None, String::new()),
        };
        ConfigError {
            path: path.to_path_buf(),
            position,
            field,
            message: e.message().trim().to_string(),
        }
    })
}

/// Reads a configuration file's text.
pub(super) fn read_text(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| ConfigError {
        path: path.to_path_buf(),
        position: None,
        field: String::new(),
        message: format!("cannot read: {e}"),
    })
}

/// The `[log]` section, checked; `default_events` when it names none.
pub(super) fn log_settings(
    ctx: &Ctx<'_>,
    l: &LogSection,
    default_events: LogEvents,
) -> Result<LogSettings, ConfigError> {
    let span = l.target.span();
    let target =
        match *l.target.get_ref() {
            LogTargetKind::None => LogTarget::None,
            LogTargetKind::Stderr => LogTarget::Stderr,
            LogTargetKind::File => {
                LogTarget::File(l.path.clone().ok_or_else(|| {
                    ctx.err(span.clone(), "log.path", "needed by target = \"file\"")
                })?)
            }
            LogTargetKind::Udp => LogTarget::Udp(l.collector.ok_or_else(|| {
                ctx.err(span.clone(), "log.collector", "needed by target = \"udp\"")
            })?),
        };
    if l.path.is_some() && !matches!(target, LogTarget::File(_)) {
        return Err(ctx.err(span, "log.path", "only with target = \"file\""));
    }
    if l.collector.is_some() && !matches!(target, LogTarget::Udp(_)) {
        return Err(ctx.err(span, "log.collector", "only with target = \"udp\""));
    }
    let queue = *l.queue.get_ref();
    if queue == 0 || queue > 1 << 24 {
        return Err(ctx.err(l.queue.span(), "log.queue", "must be 1 to 16777216"));
    }
    let events = l.events.unwrap_or(default_events);
    Ok(LogSettings {
        target,
        events,
        queue,
        hostname: l.hostname.clone(),
    })
}

/// `tun.queues`: 1 to `max` (1 where the translator cannot be sharded).
fn check_queues(ctx: &Ctx<'_>, queues: usize, max: usize) -> Result<usize, ConfigError> {
    if queues == 0 || queues > max {
        let why = if max == 1 {
            "must be 1: this translator keeps its state in one worker".to_string()
        } else {
            format!("must be 1 to {max}")
        };
        return Err(ctx.err(0..0, "tun.queues", &why));
    }
    Ok(queues)
}
