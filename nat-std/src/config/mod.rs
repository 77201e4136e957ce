//! Configuration files (TOML) of the translator binaries: read, checked, then turned into the
//! engine's configuration ([`Nat44Config`] for `nat44`, [`Nat64Validated`] for `nat64`,
//! [`LsnatValidated`] for `lsnat`) and the runtime's own settings.
//!
//! A file is read in two steps, so that the binary never starts half-configured:
//! [`Config::parse`] deserializes it (unknown fields are errors), then [`Config::validate`]
//! checks what the types cannot (prefixes that must not overlap, a static mapping outside the
//! pool, the floors of the RFCs) and builds a [`Validated`] configuration. Every error names the
//! file, the line and the field ([`ConfigError`]).
//!
//! [`Nat44Config`]: nat_core::nat44::Nat44Config

mod checked;
mod file;
mod lsnat;
mod nat64;

pub use checked::{AllocPolicy, LogSettings, LogTarget, RuntimeSettings, StaticMapping, Validated};
pub use file::{
    AllocMode, AllocationSection, Behavior, BlockLayoutSetting, Config, IcmpErrorsSection,
    Ipv4Prefix, LogEvents, LogSection, LogTargetKind, NatSection, PortSpan, Proto, QuotaSection,
    RuntimeSection, StaticSection, TimeoutsSection, TunSection, UnreachableSection,
};
pub use lsnat::{
    AdminName, HealthSection, LsnatFile, LsnatModeName, LsnatSection, LsnatValidated, MAX_SERVERS,
    MAX_VIRTUAL_SERVERS, ProbeSection, ProbeSettings, ServerSection, ServerSettings,
    ServiceSection, VirtualServerSection, VirtualServerSettings, algorithm_by_name,
};
pub use nat64::{
    EamSection, Ipv6Net, MAX_EAM, Nat64File, Nat64ModeName, Nat64Section, Nat64Settings,
    Nat64Validated, Pool4Policy, StatefulSettings, Static64, Static64Section, ZeroChecksumName,
};

use std::fmt;
use std::path::PathBuf;

/// Why a configuration file was refused: where, which field, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file (empty when the text did not come from a file).
    pub path: PathBuf,
    /// 1-based line and column of the offending text, when known.
    pub position: Option<(usize, usize)>,
    /// The field, as a dotted path (`nat.pool`), when known.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some((line, col)) = self.position {
            write!(f, ":{line}:{col}")?;
        }
        if !self.field.is_empty() {
            write!(f, ": field `{}`", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// 1-based line and column of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

/// The dotted key at byte `offset`: the last `[table]` header above it and the key of its line.
fn field_at(text: &str, offset: usize) -> String {
    let offset = offset.min(text.len());
    let line_start = text
        .get(..offset)
        .and_then(|b| b.rfind('\n'))
        .map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("").trim();
    let header = |l: &str| {
        let l = l.trim();
        (l.starts_with('[')).then(|| l.trim_matches(|c| c == '[' || c == ']').trim().to_string())
    };
    if let Some(h) = header(line) {
        return h;
    }
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_string());
    let table = text[..line_start].lines().rev().find_map(header);
    match (table, key) {
        (Some(t), Some(k)) => format!("{t}.{k}"),
        (None, Some(k)) => k,
        (Some(t), None) => t,
        (None, None) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::path::Path;

    const GOOD: &str = r#"
[tun]
name = "nat44"

[nat]
inside = ["10.0.0.0/24"]
pool = ["198.51.100.1/32"]
inside_address = "10.0.0.1"

[[static]]
proto = "tcp"
inside = "10.0.0.3:8080"
outside = "198.51.100.1:8080"
"#;

    fn check(text: &str) -> Result<Validated, ConfigError> {
        let p = Path::new("t.toml");
        Config::parse(p, text)?.validate(p, text)
    }

    #[test]
    fn good_file_builds_engine_config() {
        let v = check(GOOD).unwrap();
        assert_eq!(v.nat.inside_address, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(v.nat.outside_prefixes.len(), 1);
        assert_eq!(v.statics.len(), 1);
        assert_eq!(v.statics[0].outside.port, 8080);
        assert!(!v.nat.decrement_ttl);
    }

    #[test]
    fn unknown_field_names_line_and_field() {
        let text = GOOD.replace("inside_address", "hairpin = true\ninside_address");
        let e = check(&text).unwrap_err();
        assert_eq!(e.position.map(|p| p.0), Some(8));
        assert!(e.message.contains("unknown field `hairpin`"), "{e}");
        assert_eq!(e.field, "nat.hairpin");
    }

    #[test]
    fn bad_value_names_line_and_field() {
        let text = GOOD.replace("198.51.100.1/32", "198.51.100.1/33");
        let e = check(&text).unwrap_err();
        assert_eq!(e.position.map(|p| p.0), Some(7));
        assert_eq!(e.field, "nat.pool");
    }

    #[test]
    fn rfc_floor_names_the_timer_line() {
        let text = format!("{GOOD}\n[timeouts]\nudp = 30\n");
        let e = check(&text).unwrap_err();
        assert_eq!(e.field, "timeouts.udp");
        assert_eq!(e.position.map(|p| p.0), Some(16));
    }

    #[test]
    fn static_outside_the_pool_is_refused() {
        let text = GOOD.replace("198.51.100.1:8080", "198.51.100.2:8080");
        let e = check(&text).unwrap_err();
        assert_eq!(e.field, "static.outside");
        assert_eq!(e.position.map(|p| p.0), Some(13));
    }

    #[test]
    fn missing_section_is_an_error() {
        let e = check("[tun]\nname = \"x\"\n").unwrap_err();
        assert!(e.message.contains("nat"), "{e}");
    }

    #[test]
    fn log_file_needs_path() {
        let text = format!("{GOOD}\n[log]\ntarget = \"file\"\n");
        let e = check(&text).unwrap_err();
        assert_eq!(e.field, "log.path");
    }

    /// Scattered blocks (RFC 7269 § 5.1) need a seed, to list a logged block's ports later,
    /// and an even number of ports, which their permutation takes in pairs.
    #[test]
    fn scattered_blocks_need_a_seed_and_an_even_port_range() {
        let blocks = "\n[allocation]\nmode = \"port-block\"\nblock_layout = \"scattered\"\n";
        let v = check(&format!("{GOOD}{blocks}seed = 9\n")).unwrap();
        assert_eq!(v.alloc.block_layout, nat_alloc::BlockLayout::Scattered);
        let e = check(&format!("{GOOD}{blocks}")).unwrap_err();
        assert_eq!(e.field, "allocation.seed");
        let e = check(&format!("{GOOD}{blocks}seed = 9\nports = \"1025-65535\"\n")).unwrap_err();
        assert_eq!(e.field, "allocation.ports");
        let e =
            check(&format!("{GOOD}{blocks}").replace("\"scattered\"", "\"spread\"")).unwrap_err();
        assert_eq!(e.field, "allocation.block_layout");
        let v = check(&format!("{GOOD}\n[allocation]\nmode = \"port-block\"\n")).unwrap();
        assert_eq!(v.alloc.block_layout, nat_alloc::BlockLayout::Contiguous);
    }
}
