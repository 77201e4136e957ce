//! The configuration file of the `lsnat` binary: `[tun]`, `[lsnat]`, `[log]`, `[runtime]`.
//!
//! `[lsnat]` names the mode (LSNAT, or LS-NAPT with the router's address,
//! draft-srisuresh-lsnat § 3.1, § 3.3), the session timers, the active probes, and one
//! `[[lsnat.virtual_server]]` per virtual server: its address, services, load-share algorithm,
//! dead host detection settings and `[[lsnat.virtual_server.server]]` real servers. Errors name
//! the file, the line and the field, as those of the NAT44 file.

use super::ConfigError;
use super::checked::{Ctx, RuntimeSettings, parse_toml, random_seed, read_text};
use super::file::{LogEvents, LogSection, Proto, RuntimeSection, TimeoutsSection, TunSection};
use nat_core::behavior::Timeouts;
use nat_core::flow::L4Proto;
use nat_lsnat::algorithm::Algorithm;
use nat_lsnat::health::HealthConfig;
use nat_lsnat::pool::PoolConfig;
use nat_lsnat::server::{AdminState, Cost, ServerSpec};
use nat_lsnat::translator::{LsnatConfig, Mode};
use nat_lsnat::virtual_server::{MAX_SERVICES, Service, VirtualServerConfig};
use serde::Deserialize;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;
use toml::Spanned;

/// Most virtual servers of one translator.
pub const MAX_VIRTUAL_SERVERS: usize = 8;
/// Most real servers behind one virtual server.
pub const MAX_SERVERS: usize = 32;

/// LSNAT or LS-NAPT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LsnatModeName {
    /// Only the destination is rewritten (§ 3.1).
    Lsnat,
    /// The client is rewritten to the router's address and a router port too (§ 3.3).
    LsNapt,
}

/// Administrative state of a configured server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdminName {
    /// Takes new sessions.
    Active,
    /// Takes sessions only as the backup of a server in maintenance.
    Standby,
    /// Takes no new sessions.
    Maintenance,
}

/// A load-shared service: `{ proto = "tcp", port = 80, session_weight = 1 }`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSection {
    /// Protocol.
    pub proto: Proto,
    /// Port on the virtual address.
    pub port: Spanned<u16>,
    /// Likely resource consumption of one session (§ 5.1, item 4).
    #[serde(default = "one")]
    pub session_weight: u32,
}

/// A real server: one `[[lsnat.virtual_server.server]]` table.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// Its address.
    pub address: Spanned<Ipv4Addr>,
    /// Its port, when it differs from the virtual server's (absent: the same port).
    #[serde(default)]
    pub port: Option<Spanned<u16>>,
    /// Capacity weight (§ 5.1, item 4); 0 takes no new session.
    #[serde(default = "one")]
    pub weight: u32,
    /// Network cost (§ 5.2).
    #[serde(default = "one")]
    pub cost: u32,
    /// Administrative state.
    #[serde(default = "active")]
    pub admin: AdminName,
}

/// Dead host detection (§ 6): `[lsnat.virtual_server.health]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthSection {
    /// Seconds a new session may stay unanswered before its server is declared dead; 0 turns
    /// passive detection off.
    pub detection_time: Spanned<u64>,
    /// Seconds a dead server is left alone before it is tried again.
    pub retry_pause: Spanned<u64>,
    /// Consecutive failed probes that mark a server dead; 0 ignores failures.
    pub fall: u8,
    /// Consecutive good probes that bring a retried server back.
    pub rise: u8,
    /// Milliseconds per bucket of the traffic window of the least-traffic algorithms.
    pub traffic_bucket_ms: Spanned<u64>,
}

impl Default for HealthSection {
    fn default() -> Self {
        let h = HealthConfig::default();
        HealthSection {
            detection_time: Spanned::new(0..0, h.detection_time.map_or(0, |d| d.as_secs())),
            retry_pause: Spanned::new(0..0, h.retry_pause.as_secs()),
            fall: h.fall,
            rise: h.rise,
            traffic_bucket_ms: Spanned::new(0..0, 1000),
        }
    }
}

/// A virtual server: one `[[lsnat.virtual_server]]` table.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VirtualServerSection {
    /// The address clients connect to.
    pub address: Spanned<Ipv4Addr>,
    /// Load-shared services; empty: every port.
    #[serde(default = "no_services")]
    pub services: Spanned<Vec<ServiceSection>>,
    /// Load-share algorithm, by name.
    #[serde(default = "round_robin")]
    pub algorithm: Spanned<String>,
    /// Key of the hashing algorithms; absent: the section's seed.
    #[serde(default)]
    pub seed: Option<u64>,
    /// TCP port the probes connect to when a server has no port of its own; absent: the first
    /// TCP service.
    #[serde(default)]
    pub probe_port: Option<Spanned<u16>>,
    /// Dead host detection.
    #[serde(default)]
    pub health: HealthSection,
    /// The real servers.
    #[serde(default, rename = "server")]
    pub servers: Vec<ServerSection>,
}

/// Active probes (§ 6): `[lsnat.probe]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbeSection {
    /// Probe at all.
    pub enabled: bool,
    /// Seconds between rounds.
    pub interval: Spanned<u64>,
    /// Milliseconds a TCP connect may take.
    pub timeout_ms: Spanned<u64>,
}

impl Default for ProbeSection {
    fn default() -> Self {
        ProbeSection {
            enabled: true,
            interval: Spanned::new(0..0, 5),
            timeout_ms: Spanned::new(0..0, 1000),
        }
    }
}

/// The `[lsnat]` section.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LsnatSection {
    /// `"lsnat"` or `"ls-napt"`.
    #[serde(default = "lsnat")]
    pub mode: Spanned<LsnatModeName>,
    /// LS-NAPT: the router's address towards the servers.
    #[serde(default)]
    pub router: Option<Spanned<Ipv4Addr>>,
    /// Session table capacity.
    #[serde(default = "default_sessions")]
    pub max_sessions: Spanned<u64>,
    /// Key of the session table and of the hashing algorithms; absent: random.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Session timers, `[lsnat.timeouts]`.
    #[serde(default)]
    pub timeouts: TimeoutsSection,
    /// Active probes, `[lsnat.probe]`.
    #[serde(default)]
    pub probe: ProbeSection,
    /// The virtual servers.
    #[serde(default, rename = "virtual_server")]
    pub virtual_servers: Vec<VirtualServerSection>,
}

fn one() -> u32 {
    1
}
fn active() -> AdminName {
    AdminName::Active
}
fn no_services() -> Spanned<Vec<ServiceSection>> {
    Spanned::new(0..0, Vec::new())
}
fn round_robin() -> Spanned<String> {
    Spanned::new(0..0, "round-robin".to_string())
}
fn lsnat() -> Spanned<LsnatModeName> {
    Spanned::new(0..0, LsnatModeName::Lsnat)
}
fn default_sessions() -> Spanned<u64> {
    Spanned::new(0..0, 1 << 18)
}

/// The file of the `lsnat` binary, as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LsnatFile {
    /// `[tun]`.
    pub tun: TunSection,
    /// `[lsnat]`.
    pub lsnat: LsnatSection,
    /// `[log]`.
    #[serde(default)]
    pub log: LogSection,
    /// `[runtime]`.
    #[serde(default)]
    pub runtime: RuntimeSection,
}

/// A real server, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerSettings {
    /// Address, port, weight and cost.
    pub spec: ServerSpec<Ipv4Addr>,
    /// Administrative state at start.
    pub admin: AdminState,
    /// TCP port of its probes, if probed.
    pub probe_port: Option<u16>,
}

/// A virtual server, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtualServerSettings {
    /// The virtual address.
    pub addr: Ipv4Addr,
    /// The algorithm.
    pub algorithm: Algorithm,
    /// Pool, health and hashing settings.
    pub config: VirtualServerConfig,
    /// Services (empty: every port).
    pub services: Vec<Service>,
    /// Real servers.
    pub servers: Vec<ServerSettings>,
}

/// Active probe settings, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeSettings {
    /// Time between rounds.
    pub interval: Duration,
    /// Longest TCP connect.
    pub timeout: Duration,
}

/// An `lsnat` configuration that passed [`LsnatFile::validate`].
#[derive(Clone, Debug)]
pub struct LsnatValidated {
    /// The translator's configuration.
    pub config: LsnatConfig,
    /// The virtual servers.
    pub virtual_servers: Vec<VirtualServerSettings>,
    /// Active probes (`None`: off).
    pub probe: Option<ProbeSettings>,
    /// Session table capacity.
    pub max_sessions: usize,
    /// TUN, log and reports.
    pub runtime: RuntimeSettings,
}

/// The algorithm called `name`, as [`Algorithm::name`] spells it.
pub fn algorithm_by_name(name: &str) -> Option<Algorithm> {
    Algorithm::ALL.into_iter().find(|a| a.name() == name)
}

impl LsnatFile {
    /// Reads, parses and validates a file: what the binary calls.
    pub fn load_validated(path: &Path) -> Result<LsnatValidated, ConfigError> {
        let text = read_text(path)?;
        Self::parse(path, &text)?.validate(path, &text)
    }

    /// Parses TOML text; `path` is only used in error messages. Unknown fields are errors.
    pub fn parse(path: &Path, text: &str) -> Result<LsnatFile, ConfigError> {
        parse_toml(path, text)
    }

    /// Checks what the types cannot; `path` and `text` point errors at their line.
    pub fn validate(&self, path: &Path, text: &str) -> Result<LsnatValidated, ConfigError> {
        let ctx = Ctx { path, text };
        let runtime = RuntimeSettings::check(
            &ctx,
            &self.tun,
            &self.log,
            &self.runtime,
            LogEvents::Sessions,
            false,
            1,
        )?;
        let l = &self.lsnat;
        let seed = l.seed.unwrap_or_else(random_seed);
        let mode = match (*l.mode.get_ref(), &l.router) {
            (LsnatModeName::Lsnat, None) => Mode::Lsnat,
            (LsnatModeName::Lsnat, Some(r)) => {
                return Err(ctx.err(r.span(), "lsnat.router", "only with mode = \"ls-napt\""));
            }
            (LsnatModeName::LsNapt, Some(r)) => Mode::LsNapt {
                router: *r.get_ref(),
            },
            (LsnatModeName::LsNapt, None) => {
                return Err(ctx.err(
                    l.mode.span(),
                    "lsnat.router",
                    "needed by mode = \"ls-napt\": the router's address towards the servers",
                ));
            }
        };
        let max_sessions = *l.max_sessions.get_ref();
        if max_sessions == 0 || max_sessions > (1 << 31) {
            return Err(ctx.err(
                l.max_sessions.span(),
                "lsnat.max_sessions",
                "must be 1 to 2^31",
            ));
        }
        let t = &l.timeouts;
        for (v, field) in [
            (&t.udp, "lsnat.timeouts.udp"),
            (&t.tcp_established, "lsnat.timeouts.tcp_established"),
            (&t.tcp_transitory, "lsnat.timeouts.tcp_transitory"),
            (&t.tcp_syn_hold, "lsnat.timeouts.tcp_syn_hold"),
            (&t.icmp, "lsnat.timeouts.icmp"),
        ] {
            if *v.get_ref() == 0 {
                return Err(ctx.err(v.span(), field, "must be at least 1 second"));
            }
        }
        let secs = |s: &Spanned<u64>| Duration::from_secs(*s.get_ref());
        let config = LsnatConfig {
            mode,
            timeouts: Timeouts {
                udp: secs(&t.udp),
                tcp_established: secs(&t.tcp_established),
                tcp_opening: secs(&t.tcp_transitory),
                tcp_closing: secs(&t.tcp_transitory),
                tcp_syn_hold: secs(&t.tcp_syn_hold),
                icmp: secs(&t.icmp),
            },
            seed,
        };
        let p = &l.probe;
        let probe = if p.enabled {
            if *p.interval.get_ref() == 0 {
                return Err(ctx.err(
                    p.interval.span(),
                    "lsnat.probe.interval",
                    "must be at least 1 second",
                ));
            }
            let timeout = *p.timeout_ms.get_ref();
            if timeout == 0 || timeout > 60_000 {
                return Err(ctx.err(
                    p.timeout_ms.span(),
                    "lsnat.probe.timeout_ms",
                    "must be 1 to 60000",
                ));
            }
            Some(ProbeSettings {
                interval: secs(&p.interval),
                timeout: Duration::from_millis(timeout),
            })
        } else {
            None
        };
        if l.virtual_servers.is_empty() {
            return Err(ctx.err(
                0..0,
                "lsnat.virtual_server",
                "at least one [[lsnat.virtual_server]]",
            ));
        }
        if l.virtual_servers.len() > MAX_VIRTUAL_SERVERS {
            return Err(ctx.err(
                l.virtual_servers[MAX_VIRTUAL_SERVERS].address.span(),
                "lsnat.virtual_server",
                format!("at most {MAX_VIRTUAL_SERVERS} virtual servers"),
            ));
        }
        let mut vss: Vec<VirtualServerSettings> = Vec::new();
        for v in &l.virtual_servers {
            let vs = virtual_server(&ctx, v, seed, probe.is_some())?;
            let overlapping = vss.iter().any(|o| {
                o.addr == vs.addr
                    && (o.services.is_empty()
                        || vs.services.is_empty()
                        || o.services.iter().any(|s| {
                            vs.services
                                .iter()
                                .any(|t| (s.proto, s.port) == (t.proto, t.port))
                        }))
            });
            if overlapping {
                return Err(ctx.err(
                    v.address.span(),
                    "lsnat.virtual_server.address",
                    "another virtual server already shares a service of this address",
                ));
            }
            vss.push(vs);
        }
        for v in &l.virtual_servers {
            for s in &v.servers {
                let a = *s.address.get_ref();
                if vss.iter().any(|o| o.addr == a) {
                    return Err(ctx.err(
                        s.address.span(),
                        "lsnat.virtual_server.server.address",
                        format!("{a} is a virtual server address"),
                    ));
                }
                if let Mode::LsNapt { router } = mode
                    && router == a
                {
                    return Err(ctx.err(
                        s.address.span(),
                        "lsnat.virtual_server.server.address",
                        "the LS-NAPT router address",
                    ));
                }
            }
        }
        Ok(LsnatValidated {
            config,
            virtual_servers: vss,
            probe,
            max_sessions: max_sessions as usize,
            runtime,
        })
    }
}

fn virtual_server(
    ctx: &Ctx<'_>,
    v: &VirtualServerSection,
    seed: u64,
    probing: bool,
) -> Result<VirtualServerSettings, ConfigError> {
    let algorithm = algorithm_by_name(v.algorithm.get_ref()).ok_or_else(|| {
        let names: Vec<&str> = Algorithm::ALL.iter().map(|a| a.name()).collect();
        ctx.err(
            v.algorithm.span(),
            "lsnat.virtual_server.algorithm",
            format!(
                "unknown algorithm `{}`; one of {}",
                v.algorithm.get_ref(),
                names.join(", ")
            ),
        )
    })?;
    let services_list = v.services.get_ref();
    if services_list.len() > MAX_SERVICES {
        return Err(ctx.err(
            v.services.span(),
            "lsnat.virtual_server.services",
            format!("at most {MAX_SERVICES} services"),
        ));
    }
    let mut services: Vec<Service> = Vec::new();
    for s in services_list {
        let proto: L4Proto = s.proto.into();
        let port = *s.port.get_ref();
        if services.iter().any(|o| (o.proto, o.port) == (proto, port)) {
            return Err(ctx.err(
                s.port.span(),
                "lsnat.virtual_server.services",
                "service listed twice",
            ));
        }
        services.push(Service::new(proto, port).with_session_weight(s.session_weight));
    }
    let h = &v.health;
    let bucket = *h.traffic_bucket_ms.get_ref();
    if bucket == 0 {
        return Err(ctx.err(
            h.traffic_bucket_ms.span(),
            "lsnat.virtual_server.health.traffic_bucket_ms",
            "must be at least 1",
        ));
    }
    let detection = *h.detection_time.get_ref();
    let config = VirtualServerConfig {
        pool: PoolConfig {
            health: HealthConfig {
                detection_time: (detection > 0).then(|| Duration::from_secs(detection)),
                retry_pause: Duration::from_secs(*h.retry_pause.get_ref()),
                fall: h.fall,
                rise: h.rise,
            },
            traffic_bucket: Duration::from_millis(bucket),
        },
        seed: v.seed.unwrap_or(seed),
        default_session_weight: 1,
    };
    if v.servers.is_empty() {
        return Err(ctx.err(
            v.address.span(),
            "lsnat.virtual_server.server",
            "at least one [[lsnat.virtual_server.server]]",
        ));
    }
    if v.servers.len() > MAX_SERVERS {
        return Err(ctx.err(
            v.servers[MAX_SERVERS].address.span(),
            "lsnat.virtual_server.server",
            format!("at most {MAX_SERVERS} servers per virtual server"),
        ));
    }
    let first_tcp = services
        .iter()
        .find(|s| s.proto == L4Proto::Tcp)
        .map(|s| s.port);
    let probe_port = v.probe_port.as_ref().map(|p| *p.get_ref()).or(first_tcp);
    let mut servers: Vec<ServerSettings> = Vec::new();
    for s in &v.servers {
        let mut spec = ServerSpec::new(*s.address.get_ref())
            .with_weight(s.weight)
            .with_cost(Cost::Finite(s.cost));
        if let Some(p) = &s.port {
            if *p.get_ref() == 0 {
                return Err(ctx.err(p.span(), "lsnat.virtual_server.server.port", "port 0"));
            }
            spec = spec.with_port(*p.get_ref());
        }
        if servers
            .iter()
            .any(|o| o.spec.addr == spec.addr && o.spec.port == spec.port)
        {
            return Err(ctx.err(
                s.address.span(),
                "lsnat.virtual_server.server",
                "server listed twice",
            ));
        }
        let probe = spec.port.or(probe_port);
        if probing && probe.is_none() {
            return Err(ctx.err(
                s.address.span(),
                "lsnat.virtual_server.probe_port",
                "the probes need a TCP port: give the virtual server a TCP service or a \
                 probe_port, or the server a port (or set lsnat.probe.enabled = false)",
            ));
        }
        servers.push(ServerSettings {
            spec,
            admin: match s.admin {
                AdminName::Active => AdminState::Active,
                AdminName::Standby => AdminState::Standby,
                AdminName::Maintenance => AdminState::Maintenance,
            },
            probe_port: if probing { probe } else { None },
        });
    }
    Ok(VirtualServerSettings {
        addr: *v.address.get_ref(),
        algorithm,
        config,
        services,
        servers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[tun]
name = "lsnat"

[lsnat]
mode = "lsnat"

[[lsnat.virtual_server]]
address = "198.51.100.10"
services = [{ proto = "tcp", port = 8080 }]
algorithm = "round-robin"

[[lsnat.virtual_server.server]]
address = "10.0.0.11"

[[lsnat.virtual_server.server]]
address = "10.0.0.12"
weight = 2
"#;

    fn check(text: &str) -> Result<LsnatValidated, ConfigError> {
        let p = Path::new("t.toml");
        LsnatFile::parse(p, text)?.validate(p, text)
    }

    #[test]
    fn good_file_builds_virtual_servers() {
        let v = check(GOOD).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v.virtual_servers.len(), 1);
        let vs = &v.virtual_servers[0];
        assert_eq!(vs.algorithm, Algorithm::RoundRobin);
        assert_eq!(vs.servers.len(), 2);
        assert_eq!(vs.servers[1].spec.weight, 2);
        assert_eq!(vs.servers[0].probe_port, Some(8080));
        assert_eq!(v.config.mode, Mode::Lsnat);
    }

    #[test]
    fn unknown_algorithm_names_line_and_field() {
        let text = GOOD.replace("\"round-robin\"", "\"fastest\"");
        let e = check(&text).unwrap_err();
        assert_eq!(e.field, "lsnat.virtual_server.algorithm");
        assert_eq!(e.position.map(|p| p.0), Some(11));
        assert!(e.message.contains("least-load"), "{e}");
    }

    #[test]
    fn unknown_server_field_names_line() {
        let text = GOOD.replace("weight = 2", "wieght = 2");
        let e = check(&text).unwrap_err();
        assert_eq!(e.position.map(|p| p.0), Some(18), "{e}");
        assert_eq!(e.field, "lsnat.virtual_server.server.wieght");
    }

    #[test]
    fn ls_napt_needs_a_router() {
        let text = GOOD.replace("mode = \"lsnat\"", "mode = \"ls-napt\"");
        let e = check(&text).unwrap_err();
        assert_eq!(e.field, "lsnat.router");
        assert_eq!(e.position.map(|p| p.0), Some(6));
        let text = GOOD.replace(
            "mode = \"lsnat\"",
            "mode = \"ls-napt\"\nrouter = \"198.51.100.1\"",
        );
        assert!(check(&text).is_ok());
    }

    #[test]
    fn probes_need_a_port() {
        let text = GOOD.replace("services = [{ proto = \"tcp\", port = 8080 }]\n", "");
        let e = check(&text).unwrap_err();
        assert_eq!(e.field, "lsnat.virtual_server.probe_port");
        let text = format!("{text}\n[lsnat.probe]\nenabled = false\n");
        let v = check(&text).unwrap_or_else(|e| panic!("{e}"));
        assert!(v.probe.is_none());
    }

    #[test]
    fn server_on_the_virtual_address_is_refused() {
        let text = GOOD.replace("10.0.0.12", "198.51.100.10");
        let e = check(&text).unwrap_err();
        assert_eq!(e.field, "lsnat.virtual_server.server.address");
        assert_eq!(e.position.map(|p| p.0), Some(17));
    }
}
