//! The configuration file of the `nat64` binary: `[tun]`, `[nat64]`, `[log]`, `[runtime]`.
//!
//! `[nat64]` runs either a stateful NAT64 ([RFC 6146], `mode = "stateful"`: IPv6 hosts share a
//! pool4 of IPv4 transport addresses, with static BIB entries) or a stateless SIIT ([RFC 7915],
//! `mode = "siit"`: addresses mapped by the RFC 6052 prefix and explicit address mappings,
//! [RFC 7757]). Errors name the file, the line and the field, as those of the NAT44 file.
//!
//! [RFC 6146]: https://www.rfc-editor.org/rfc/rfc6146
//! [RFC 7915]: https://www.rfc-editor.org/rfc/rfc7915
//! [RFC 7757]: https://www.rfc-editor.org/rfc/rfc7757

use super::ConfigError;
use super::checked::{Ctx, RuntimeSettings, parse_toml, random_seed, read_text};
use super::file::{
    Behavior, Ipv4Prefix, LogEvents, LogSection, PortSpan, Proto, RuntimeSection, TimeoutsSection,
    TunSection,
};
use nat_core::behavior::{FilteringBehavior, PerProto, Timeouts};
use nat_core::flow::{Endpoint, L4Proto};
use nat_core::nat64::{ErrorSource, MAX_POOL4, Nat64Config};
use nat_core::siit::{
    Eam, HairpinMode, Ipv4Prefix as SiitIpv4Prefix, Ipv6Prefix as SiitIpv6Prefix, Pref64,
    SiitConfig, UdpZeroChecksum, XlatConfig,
};
use serde::Deserialize;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
use std::path::Path;
use std::time::Duration;
use toml::Spanned;

/// Most explicit address mappings of a SIIT.
pub const MAX_EAM: usize = 64;

/// An IPv6 prefix written `addr/len` (or a bare address, a /128).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Ipv6Net {
    /// The network address.
    pub addr: Ipv6Addr,
    /// The prefix length.
    pub len: u8,
}

impl TryFrom<String> for Ipv6Net {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let (a, len) = s.split_once('/').unwrap_or((&s, "128"));
        let addr: Ipv6Addr = a
            .trim()
            .parse()
            .map_err(|_| format!("`{s}` is not an IPv6 prefix (like 2001:db8::/32)"))?;
        let len: u8 = len
            .trim()
            .parse()
            .map_err(|_| format!("`{s}`: prefix length is not a number"))?;
        if len > 128 {
            return Err(format!("`{s}`: prefix length above 128"));
        }
        let host = u128::MAX.checked_shr(u32::from(len)).unwrap_or(0);
        if u128::from(addr) & host != 0 {
            return Err(format!("`{s}`: bits beyond the prefix length are set"));
        }
        Ok(Ipv6Net { addr, len })
    }
}

impl fmt::Display for Ipv6Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// Which translator `[nat64]` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Nat64ModeName {
    /// Stateful NAT64 (RFC 6146).
    Stateful,
    /// Stateless IP/ICMP translation (RFC 7915).
    Siit,
}

/// IPv4 UDP datagrams with checksum 0 ([RFC 7915 § 4.5]).
///
/// [RFC 7915 § 4.5]: https://www.rfc-editor.org/rfc/rfc7915#section-4.5
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ZeroChecksumName {
    /// Drop them.
    Drop,
    /// Compute the checksum.
    Compute,
}

/// A static BIB entry: one `[[nat64.static]]` table.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Static64Section {
    /// Protocol.
    pub proto: Proto,
    /// IPv6 endpoint `[addr]:port`.
    pub inside: Spanned<SocketAddrV6>,
    /// IPv4 endpoint `a.b.c.d:port`, in pool4.
    pub outside: Spanned<SocketAddrV4>,
}

/// An explicit address mapping: one `[[nat64.eam]]` table (SIIT).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EamSection {
    /// The IPv4 prefix.
    pub ipv4: Spanned<Ipv4Prefix>,
    /// The IPv6 prefix.
    pub ipv6: Spanned<Ipv6Net>,
}

/// The `[nat64]` section.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nat64Section {
    /// Stateful NAT64 or SIIT.
    #[serde(default = "stateful")]
    pub mode: Spanned<Nat64ModeName>,
    /// The RFC 6052 prefix; stateful default 64:ff9b::/96, SIIT none (EAM only).
    #[serde(default)]
    pub pool6: Option<Spanned<Ipv6Net>>,
    /// Refuse non-global IPv4 addresses under the Well-Known Prefix (RFC 6052 § 3.1).
    #[serde(default = "yes")]
    pub wkp_non_global_rule: bool,
    /// Stateful: the IPv4 prefixes of pool4.
    #[serde(default = "no_prefixes")]
    pub pool4: Spanned<Vec<Ipv4Prefix>>,
    /// Stateful: the ports of every pool4 address.
    #[serde(default = "dynamic_ports")]
    pub pool4_ports: Spanned<PortSpan>,
    /// Stateful: keep the IPv6 host's port when free.
    #[serde(default = "yes")]
    pub port_preservation: bool,
    /// Stateful: seconds a released port waits before reuse.
    #[serde(default = "hold_down")]
    pub hold_down: u64,
    /// Key of the port choice hashes and of the IPv4 Identification; absent: random.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Stateful: filtering behaviour (endpoint-independent or address-dependent).
    #[serde(default = "eif")]
    pub filtering: Spanned<Behavior>,
    /// Stateful: hairpinning between IPv6 hosts through pool4; SIIT: EAM hairpinning.
    #[serde(default = "yes")]
    pub hairpinning: bool,
    /// Stateful: inbound packets refresh UDP and ICMP sessions (absent: the engine's default).
    #[serde(default)]
    pub inbound_refresh: Option<bool>,
    /// Stateful: session table capacity.
    #[serde(default = "default_sessions")]
    pub max_sessions: Spanned<u64>,
    /// Stateful: probe the IPv6 host of an idle established TCP session before deleting it
    /// (RFC 6146 § 3.5.2.2).
    #[serde(default = "yes")]
    pub tcp_probe: bool,
    /// Stateful: drop TCP connections started from the IPv4 side (RFC 6146 § 3.5.2.2).
    #[serde(default)]
    pub drop_external_tcp: bool,
    /// Stateful: filter ICMPv6 informational messages other than echo (RFC 6146 § 3.5.3).
    #[serde(default)]
    pub filter_icmpv6_informational: bool,
    /// Stateful: seconds a first fragment's translation serves the rest; at least 2
    /// (FRAGMENT_MIN, RFC 6146 § 4).
    #[serde(default = "fragment_secs")]
    pub fragment_timeout: Spanned<u64>,
    /// Stateful: source of an ICMPv6 error translated from ICMPv4: "sender" (the error's
    /// source under pool6) or "quoted-destination" (RFC 6146 § 3.6.1 to the letter).
    #[serde(default)]
    pub icmp_error_source: Option<ErrorSourceName>,
    /// Stateful: average ICMP errors a second the NAT64 sends on its own.
    #[serde(default = "errors_per_sec")]
    pub icmp_errors_per_sec: u32,
    /// Stateful: ICMP errors allowed at once.
    #[serde(default = "errors_burst")]
    pub icmp_errors_burst: u32,
    /// Source of the ICMPv4 errors the translator sends.
    #[serde(default)]
    pub ipv4_address: Option<Ipv4Addr>,
    /// Source of the ICMPv6 errors the translator sends.
    #[serde(default)]
    pub ipv6_address: Option<Ipv6Addr>,
    /// MTU of the IPv4 next hop.
    #[serde(default = "mtu1500")]
    pub ipv4_mtu: Spanned<u16>,
    /// MTU of the IPv6 next hop.
    #[serde(default = "mtu1500")]
    pub ipv6_mtu: Spanned<u16>,
    /// "lowest-ipv6-mtu" of RFC 7915 § 4.1.
    #[serde(default = "mtu1280")]
    pub lowest_ipv6_mtu: Spanned<u16>,
    /// IPv4 UDP with checksum 0 (absent: computed by the stateful NAT64, RFC 6146 § 3.4;
    /// dropped by SIIT, RFC 7915 § 4.5).
    #[serde(default)]
    pub udp_zero_checksum: Option<ZeroChecksumName>,
    /// Send the ICMP errors the translator owes.
    #[serde(default = "yes")]
    pub send_icmp_errors: bool,
    /// SIIT: IPv4 sources of ICMPv6 errors from untranslatable addresses (RFC 6791).
    #[serde(default)]
    pub rfc6791_pool: Option<Spanned<Ipv4Prefix>>,
    /// Stateful: session timers, `[nat64.timeouts]`.
    #[serde(default)]
    pub timeouts: TimeoutsSection,
    /// Stateful: static BIB entries.
    #[serde(default, rename = "static")]
    pub statics: Vec<Static64Section>,
    /// SIIT: explicit address mappings.
    #[serde(default)]
    pub eam: Vec<EamSection>,
}

/// The source of ICMPv6 errors translated from ICMPv4 ([`ErrorSource`]).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorSourceName {
    /// The ICMPv4 error's source, under pool6.
    Sender,
    /// The quoted packet's destination, under pool6.
    QuotedDestination,
}

fn fragment_secs() -> Spanned<u64> {
    Spanned::new(0..0, 2)
}
fn errors_per_sec() -> u32 {
    100
}
fn errors_burst() -> u32 {
    50
}

fn stateful() -> Spanned<Nat64ModeName> {
    Spanned::new(0..0, Nat64ModeName::Stateful)
}
fn yes() -> bool {
    true
}
fn no_prefixes() -> Spanned<Vec<Ipv4Prefix>> {
    Spanned::new(0..0, Vec::new())
}
fn dynamic_ports() -> Spanned<PortSpan> {
    Spanned::new(
        0..0,
        PortSpan {
            lo: 1024,
            hi: 65535,
        },
    )
}
fn hold_down() -> u64 {
    120
}
fn eif() -> Spanned<Behavior> {
    Spanned::new(0..0, Behavior::EndpointIndependent)
}
fn default_sessions() -> Spanned<u64> {
    Spanned::new(0..0, 1 << 20)
}
fn mtu1500() -> Spanned<u16> {
    Spanned::new(0..0, 1500)
}
fn mtu1280() -> Spanned<u16> {
    Spanned::new(0..0, 1280)
}

/// The file of the `nat64` binary, as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nat64File {
    /// `[tun]`.
    pub tun: TunSection,
    /// `[nat64]`.
    pub nat64: Nat64Section,
    /// `[log]`.
    #[serde(default)]
    pub log: LogSection,
    /// `[runtime]`.
    #[serde(default)]
    pub runtime: RuntimeSection,
}

/// A static BIB entry, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Static64 {
    /// Protocol.
    pub proto: L4Proto,
    /// IPv6 endpoint.
    pub inside: Endpoint<Ipv6Addr>,
    /// IPv4 endpoint in pool4.
    pub outside: Endpoint<Ipv4Addr>,
}

/// The pool4 allocation policy, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pool4Policy {
    /// The pool4 prefixes.
    pub prefixes: Vec<Ipv4Prefix>,
    /// Ports of every address, first and last.
    pub ports: (u16, u16),
    /// Port preservation.
    pub port_preservation: bool,
    /// Hold-down of released ports.
    pub hold_down: Duration,
    /// Hash key.
    pub seed: u64,
}

/// A stateful NAT64, checked.
#[derive(Clone, Debug)]
pub struct StatefulSettings {
    /// The engine's configuration.
    pub config: Nat64Config,
    /// The pool4 allocator's policy.
    pub pool4: Pool4Policy,
    /// Static BIB entries.
    pub statics: Vec<Static64>,
    /// Session table capacity.
    pub max_sessions: usize,
}

/// The translator of a `[nat64]` section, checked.
#[derive(Clone, Debug)]
pub enum Nat64Settings {
    /// Stateful NAT64 (boxed, as the SIIT: both configurations are large).
    Stateful(Box<StatefulSettings>),
    /// SIIT (boxed: the EAM table is inline).
    Siit(Box<SiitConfig<MAX_EAM>>),
}

/// A `nat64` configuration that passed [`Nat64File::validate`].
#[derive(Clone, Debug)]
pub struct Nat64Validated {
    /// The translator.
    pub engine: Nat64Settings,
    /// TUN, log and reports.
    pub runtime: RuntimeSettings,
}

fn secs(s: &Spanned<u64>) -> Duration {
    Duration::from_secs(*s.get_ref())
}

impl Nat64File {
    /// Reads, parses and validates a file: what the binary calls.
    pub fn load_validated(path: &Path) -> Result<Nat64Validated, ConfigError> {
        let text = read_text(path)?;
        Self::parse(path, &text)?.validate(path, &text)
    }

    /// Parses TOML text; `path` is only used in error messages. Unknown fields are errors.
    pub fn parse(path: &Path, text: &str) -> Result<Nat64File, ConfigError> {
        parse_toml(path, text)
    }

    /// Checks what the types cannot; `path` and `text` point errors at their line.
    pub fn validate(&self, path: &Path, text: &str) -> Result<Nat64Validated, ConfigError> {
        let ctx = Ctx { path, text };
        let runtime = RuntimeSettings::check(
            &ctx,
            &self.tun,
            &self.log,
            &self.runtime,
            LogEvents::Sessions,
            true,
            // SIIT keeps no state: any worker translates any packet.
            match *self.nat64.mode.get_ref() {
                Nat64ModeName::Siit => crate::runtime::MAX_WORKERS,
                Nat64ModeName::Stateful => 1,
            },
        )?;
        let n = &self.nat64;
        let seed = n.seed.unwrap_or_else(random_seed);
        let base = match *n.mode.get_ref() {
            Nat64ModeName::Stateful => Nat64Config::default().xlat,
            Nat64ModeName::Siit => XlatConfig::default(),
        };
        let xlat = self.xlat(&ctx, seed, base)?;
        let pool6 = match &n.pool6 {
            Some(p) => Some(
                Pref64::new(p.get_ref().addr, p.get_ref().len)
                    .map_err(|e| ctx.err(p.span(), "nat64.pool6", e.to_string()))?,
            ),
            None => None,
        };
        let engine = match *n.mode.get_ref() {
            Nat64ModeName::Stateful => {
                Nat64Settings::Stateful(Box::new(self.stateful(&ctx, pool6, xlat, seed)?))
            }
            Nat64ModeName::Siit => Nat64Settings::Siit(Box::new(self.siit(&ctx, pool6, xlat)?)),
        };
        Ok(Nat64Validated { engine, runtime })
    }

    fn xlat(&self, ctx: &Ctx<'_>, seed: u64, base: XlatConfig) -> Result<XlatConfig, ConfigError> {
        let n = &self.nat64;
        for (m, field) in [
            (&n.ipv6_mtu, "nat64.ipv6_mtu"),
            (&n.lowest_ipv6_mtu, "nat64.lowest_ipv6_mtu"),
        ] {
            if *m.get_ref() < 1280 {
                return Err(ctx.err(m.span(), field, "below 1280 (RFC 8200 § 5)"));
            }
        }
        if *n.ipv4_mtu.get_ref() < 68 {
            return Err(ctx.err(n.ipv4_mtu.span(), "nat64.ipv4_mtu", "below 68 (RFC 791)"));
        }
        Ok(XlatConfig {
            lowest_ipv6_mtu: *n.lowest_ipv6_mtu.get_ref(),
            ipv6_mtu: *n.ipv6_mtu.get_ref(),
            ipv4_mtu: *n.ipv4_mtu.get_ref(),
            udp_zero_checksum: match n.udp_zero_checksum {
                Some(ZeroChecksumName::Drop) => UdpZeroChecksum::Drop,
                Some(ZeroChecksumName::Compute) => UdpZeroChecksum::Compute,
                None => base.udp_zero_checksum,
            },
            send_icmp_errors: n.send_icmp_errors,
            own_ipv4: n.ipv4_address,
            own_ipv6: n.ipv6_address,
            seed: (seed ^ (seed >> 32)) as u32,
            ..base
        })
    }

    fn stateful(
        &self,
        ctx: &Ctx<'_>,
        pool6: Option<Pref64>,
        xlat: XlatConfig,
        seed: u64,
    ) -> Result<StatefulSettings, ConfigError> {
        let n = &self.nat64;
        let mode_only = |what: &str, span, field: &str| {
            ctx.err(span, field, format!("{what} only in mode = \"siit\""))
        };
        if let Some(e) = n.eam.first() {
            return Err(mode_only(
                "explicit address mappings",
                e.ipv4.span(),
                "nat64.eam",
            ));
        }
        if let Some(p) = &n.rfc6791_pool {
            return Err(mode_only(
                "an RFC 6791 pool",
                p.span(),
                "nat64.rfc6791_pool",
            ));
        }
        let pool4 = n.pool4.get_ref();
        if pool4.is_empty() {
            return Err(ctx.err(
                n.pool4.span(),
                "nat64.pool4",
                "at least one prefix (stateful mode)",
            ));
        }
        if pool4.len() > MAX_POOL4 {
            return Err(ctx.err(
                n.pool4.span(),
                "nat64.pool4",
                format!("at most {MAX_POOL4} prefixes"),
            ));
        }
        for (i, p) in pool4.iter().enumerate() {
            if let Some(q) = pool4.iter().skip(i + 1).find(|q| q.overlaps(p)) {
                return Err(ctx.err(n.pool4.span(), "nat64.pool4", format!("{p} overlaps {q}")));
            }
        }
        let size: u64 = pool4
            .iter()
            .map(|p| u64::from(p.bounds().1 - p.bounds().0) + 1)
            .sum();
        if size > 65536 {
            return Err(ctx.err(n.pool4.span(), "nat64.pool4", "more than 65536 addresses"));
        }
        let filtering = match n.filtering.get_ref() {
            Behavior::EndpointIndependent => FilteringBehavior::EndpointIndependent,
            Behavior::AddressDependent => FilteringBehavior::AddressDependent,
            Behavior::AddressAndPortDependent => {
                return Err(ctx.err(
                    n.filtering.span(),
                    "nat64.filtering",
                    "RFC 6146 provides endpoint-independent or address-dependent filtering",
                ));
            }
        };
        let max_sessions = *n.max_sessions.get_ref();
        if max_sessions == 0 || max_sessions > (1 << 31) {
            return Err(ctx.err(
                n.max_sessions.span(),
                "nat64.max_sessions",
                "must be 1 to 2^31",
            ));
        }
        let t = &n.timeouts;
        for (v, field, floor, why) in [
            (&t.udp, "nat64.timeouts.udp", 120, "RFC 6146 § 3.5.1"),
            (
                &t.tcp_established,
                "nat64.timeouts.tcp_established",
                7200,
                "RFC 6146 § 4",
            ),
            (
                &t.tcp_transitory,
                "nat64.timeouts.tcp_transitory",
                240,
                "RFC 6146 § 4",
            ),
            (
                &t.tcp_syn_hold,
                "nat64.timeouts.tcp_syn_hold",
                6,
                "RFC 6146 § 4",
            ),
            (&t.icmp, "nat64.timeouts.icmp", 60, "RFC 6146 § 4"),
        ] {
            if *v.get_ref() < floor {
                return Err(ctx.err(v.span(), field, format!("below {floor} s ({why})")));
            }
        }
        let mut config = Nat64Config {
            pool6: pool6.unwrap_or(Pref64::WELL_KNOWN),
            wkp_non_global_rule: n.wkp_non_global_rule,
            filtering: PerProto::all(filtering),
            timeouts: Timeouts {
                udp: secs(&t.udp),
                tcp_established: secs(&t.tcp_established),
                tcp_opening: secs(&t.tcp_transitory),
                tcp_closing: secs(&t.tcp_transitory),
                tcp_syn_hold: secs(&t.tcp_syn_hold),
                icmp: secs(&t.icmp),
            },
            hairpinning: n.hairpinning,
            tcp_probe: n.tcp_probe,
            drop_external_tcp: n.drop_external_tcp,
            filter_icmpv6_informational: n.filter_icmpv6_informational,
            fragment_timeout: secs(&n.fragment_timeout),
            icmp_error_source: match n.icmp_error_source {
                Some(ErrorSourceName::QuotedDestination) => ErrorSource::QuotedDestination,
                Some(ErrorSourceName::Sender) | None => ErrorSource::Sender,
            },
            icmp_errors_per_sec: n.icmp_errors_per_sec,
            icmp_errors_burst: n.icmp_errors_burst,
            xlat,
            ..Nat64Config::default()
        };
        if *n.fragment_timeout.get_ref() < 2 {
            return Err(ctx.err(
                n.fragment_timeout.span(),
                "nat64.fragment_timeout",
                "below 2 s (FRAGMENT_MIN, RFC 6146 § 4)".to_string(),
            ));
        }
        if let Some(r) = n.inbound_refresh {
            config.inbound_refresh = r;
        }
        for p in pool4 {
            // At most MAX_POOL4, checked above.
            let _ = config.pool4.push(p.0);
        }
        let ports = *n.pool4_ports.get_ref();
        let policy = Pool4Policy {
            prefixes: pool4.clone(),
            ports: (ports.lo, ports.hi),
            port_preservation: n.port_preservation,
            hold_down: Duration::from_secs(n.hold_down),
            seed,
        };
        let mut statics: Vec<Static64> = Vec::new();
        for s in &n.statics {
            let m = Static64 {
                proto: s.proto.into(),
                inside: Endpoint::new(*s.inside.get_ref().ip(), s.inside.get_ref().port()),
                outside: Endpoint::new(*s.outside.get_ref().ip(), s.outside.get_ref().port()),
            };
            if !pool4.iter().any(|p| p.0.contains(m.outside.addr)) {
                return Err(ctx.err(
                    s.outside.span(),
                    "nat64.static.outside",
                    "not in nat64.pool4",
                ));
            }
            let ported = m.proto != L4Proto::Icmp;
            if ported && !(ports.lo..=ports.hi).contains(&m.outside.port) {
                return Err(ctx.err(
                    s.outside.span(),
                    "nat64.static.outside",
                    format!("port not in nat64.pool4_ports {}-{}", ports.lo, ports.hi),
                ));
            }
            if config.pool6.contains(m.inside.addr) {
                return Err(ctx.err(
                    s.inside.span(),
                    "nat64.static.inside",
                    "an address under pool6 stands for an IPv4 host",
                ));
            }
            if statics
                .iter()
                .any(|o| o.proto == m.proto && (o.outside == m.outside || o.inside == m.inside))
            {
                return Err(ctx.err(
                    s.outside.span(),
                    "nat64.static",
                    "a second static entry of the same endpoint",
                ));
            }
            statics.push(m);
        }
        Ok(StatefulSettings {
            config,
            pool4: policy,
            statics,
            max_sessions: max_sessions as usize,
        })
    }

    fn siit(
        &self,
        ctx: &Ctx<'_>,
        pool6: Option<Pref64>,
        xlat: XlatConfig,
    ) -> Result<SiitConfig<MAX_EAM>, ConfigError> {
        let n = &self.nat64;
        let mode_only = |what: &str, span, field: &str| {
            ctx.err(span, field, format!("{what} only in mode = \"stateful\""))
        };
        if !n.pool4.get_ref().is_empty() {
            return Err(mode_only("pool4", n.pool4.span(), "nat64.pool4"));
        }
        if let Some(s) = n.statics.first() {
            return Err(mode_only(
                "static BIB entries",
                s.inside.span(),
                "nat64.static",
            ));
        }
        let mut c = SiitConfig::<MAX_EAM> {
            pool6,
            wkp_non_global_rule: n.wkp_non_global_rule,
            hairpin: if n.hairpinning {
                HairpinMode::Intrinsic
            } else {
                HairpinMode::Off
            },
            xlat,
            ..SiitConfig::default()
        };
        if let Some(p) = &n.rfc6791_pool {
            let q = p.get_ref().0;
            c.rfc6791_v4 = Some(
                SiitIpv4Prefix::new(q.addr(), q.len())
                    .map_err(|e| ctx.err(p.span(), "nat64.rfc6791_pool", e.to_string()))?,
            );
        }
        for e in &n.eam {
            let v4 = e.ipv4.get_ref().0;
            let v6 = e.ipv6.get_ref();
            let eam = SiitIpv4Prefix::new(v4.addr(), v4.len())
                .and_then(|a| SiitIpv6Prefix::new(v6.addr, v6.len).map(|b| (a, b)))
                .and_then(|(a, b)| Eam::new(a, b))
                .map_err(|err| ctx.err(e.ipv6.span(), "nat64.eam", err.to_string()))?;
            c.eamt.insert(eam).map_err(|err| {
                let msg = if c.eamt.len() >= MAX_EAM {
                    format!("at most {MAX_EAM} entries")
                } else {
                    err.to_string()
                };
                ctx.err(e.ipv4.span(), "nat64.eam", msg)
            })?;
        }
        if c.pool6.is_none() && c.eamt.is_empty() {
            return Err(ctx.err(
                n.mode.span(),
                "nat64.pool6",
                "SIIT needs pool6, explicit address mappings ([[nat64.eam]]), or both",
            ));
        }
        c.validate()
            .map_err(|e| ctx.err(n.ipv6_mtu.span(), "nat64.ipv6_mtu", e.to_string()))?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[tun]
name = "nat64"

[nat64]
pool4 = ["198.51.100.0/30"]
wkp_non_global_rule = false

[[nat64.static]]
proto = "tcp"
inside = "[2001:db8:1::3]:8080"
outside = "198.51.100.1:8080"
"#;

    fn check(text: &str) -> Result<Nat64Validated, ConfigError> {
        let p = Path::new("t.toml");
        Nat64File::parse(p, text)?.validate(p, text)
    }

    #[test]
    fn stateful_file_builds_engine_config() {
        let v = check(GOOD).unwrap_or_else(|e| panic!("{e}"));
        let Nat64Settings::Stateful(s) = v.engine else {
            panic!("not stateful");
        };
        assert_eq!(s.config.pool6, Pref64::WELL_KNOWN);
        assert!(!s.config.wkp_non_global_rule);
        assert_eq!(s.statics.len(), 1);
        assert_eq!(s.pool4.ports, (1024, 65535));
        assert_eq!(v.runtime.tun_name, "nat64");
    }

    #[test]
    fn operator_options_reach_the_engine_and_fragment_floor_is_checked() {
        let text = GOOD.replace(
            "[nat64]\n",
            "[nat64]\ndrop_external_tcp = true\nicmp_error_source = \"quoted-destination\"\nicmp_errors_burst = 7\n",
        );
        let v = check(&text).unwrap_or_else(|e| panic!("{e}"));
        let Nat64Settings::Stateful(s) = v.engine else {
            panic!("not stateful");
        };
        assert!(s.config.drop_external_tcp);
        assert_eq!(s.config.icmp_error_source, ErrorSource::QuotedDestination);
        assert_eq!(s.config.icmp_errors_burst, 7);
        let text = GOOD.replace("[nat64]\n", "[nat64]\nfragment_timeout = 1\n");
        let e = check(&text).unwrap_err();
        assert_eq!(e.field, "nat64.fragment_timeout");
        assert_eq!(e.position.map(|p| p.0), Some(6));
    }

    #[test]
    fn unknown_field_names_line_and_field() {
        let text = GOOD.replace("wkp_non", "pool5 = 1\nwkp_non");
        let e = check(&text).unwrap_err();
        assert_eq!(e.position.map(|p| p.0), Some(7), "{e}");
        assert_eq!(e.field, "nat64.pool5");
    }

    #[test]
    fn bad_pool6_length_names_the_field() {
        let text = GOOD.replace("[nat64]\n", "[nat64]\npool6 = \"2001:db8::/36\"\n");
        let e = check(&text).unwrap_err();
        assert_eq!(e.field, "nat64.pool6");
        assert_eq!(e.position.map(|p| p.0), Some(6));
    }

    #[test]
    fn static_outside_pool4_is_refused() {
        let text = GOOD.replace("198.51.100.1:8080", "198.51.100.9:8080");
        let e = check(&text).unwrap_err();
        assert_eq!(e.field, "nat64.static.outside");
        assert_eq!(e.position.map(|p| p.0), Some(12));
    }

    #[test]
    fn timer_floor_names_the_field() {
        let text = format!("{GOOD}\n[nat64.timeouts]\nudp = 60\n");
        let e = check(&text).unwrap_err();
        assert_eq!(e.field, "nat64.timeouts.udp");
        assert_eq!(e.position.map(|p| p.0), Some(15));
    }

    #[test]
    fn siit_needs_a_mapping_and_refuses_pool4() {
        let e = check("[tun]\nname = \"s\"\n[nat64]\nmode = \"siit\"\n").unwrap_err();
        assert_eq!(e.field, "nat64.pool6");
        let e =
            check("[tun]\nname = \"s\"\n[nat64]\nmode = \"siit\"\npool4 = [\"198.51.100.1\"]\n")
                .unwrap_err();
        assert_eq!(e.field, "nat64.pool4");
        let v = check(
            "[tun]\nname = \"s\"\n[nat64]\nmode = \"siit\"\n[[nat64.eam]]\n\
             ipv4 = \"198.51.100.8/29\"\nipv6 = \"2001:db8:6::/125\"\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let Nat64Settings::Siit(c) = v.engine else {
            panic!("not siit");
        };
        assert_eq!(c.eamt.len(), 1);
    }

    #[test]
    fn eam_suffix_too_long_is_refused_at_its_line() {
        let e = check(
            "[tun]\nname = \"s\"\n[nat64]\nmode = \"siit\"\n[[nat64.eam]]\n\
             ipv4 = \"198.51.100.0/24\"\nipv6 = \"2001:db8:6::/125\"\n",
        )
        .unwrap_err();
        assert_eq!(e.field, "nat64.eam");
        assert_eq!(e.position.map(|p| p.0), Some(7));
    }
}
