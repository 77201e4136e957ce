//! Configuration of the NAT44/NAPT engine: plain data, checked once by [`Nat44Config::validate`].

use crate::behavior::{FilteringBehavior, MappingBehavior, PerProto, Timeouts};
use crate::prefix::Prefix;
use core::net::Ipv4Addr;
use core::time::Duration;

/// The most prefixes of each list in a configuration.
pub const MAX_PREFIXES: usize = 8;

/// A list of prefixes of bounded length.
pub type PrefixList = heapless::Vec<Prefix<Ipv4Addr>, MAX_PREFIXES>;

/// The ICMP Destination Unreachable code sent when no mapping can be made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UnreachableCode {
    /// Code 13, communication administratively prohibited ([RFC 5508] REQ-8;
    /// draft-nishitani-cgn § 4.3).
    ///
    /// [RFC 5508]: https://www.rfc-editor.org/rfc/rfc5508
    #[default]
    AdminProhibited,
    /// Code 1, host unreachable: what a CGN sends ([RFC 6888] REQ-11).
    ///
    /// [RFC 6888]: https://www.rfc-editor.org/rfc/rfc6888
    HostUnreachable,
}

impl UnreachableCode {
    /// The ICMP code.
    pub const fn code(self) -> u8 {
        match self {
            UnreachableCode::AdminProhibited => 13,
            UnreachableCode::HostUnreachable => 1,
        }
    }
}

/// Whether and how fast the translator sends the ICMP errors it owes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcmpErrorPolicy {
    /// Send them at all (off: drop silently, counted).
    pub send: bool,
    /// Average errors per second.
    pub per_sec: u32,
    /// Errors allowed at once.
    pub burst: u32,
}

impl Default for IcmpErrorPolicy {
    fn default() -> Self {
        IcmpErrorPolicy {
            send: true,
            per_sec: 100,
            burst: 50,
        }
    }
}

/// Why a configuration is refused; each variant names the field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// `timeouts.udp` below the 2 minutes of RFC 4787 REQ-5.
    UdpTimeoutTooShort,
    /// `timeouts.tcp_established` below the 2 h 4 min of RFC 5382 REQ-5.
    TcpEstablishedTimeoutTooShort,
    /// `timeouts.tcp_syn_hold` below the 6 s of RFC 5382 REQ-4.
    SynHoldTooShort,
    /// `timeouts.icmp` below the 60 s of RFC 5508 REQ-1.
    IcmpTimeoutTooShort,
    /// `outside_prefixes` is empty: the engine could not tell inbound traffic for it.
    NoOutsidePrefix,
    /// `outside_mtu` below the 68 bytes every IPv4 link carries (RFC 791).
    MtuTooSmall,
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ConfigError::UdpTimeoutTooShort => "timeouts.udp: below 120 s (RFC 4787 REQ-5)",
            ConfigError::TcpEstablishedTimeoutTooShort => {
                "timeouts.tcp_established: below 7440 s (RFC 5382 REQ-5)"
            }
            ConfigError::SynHoldTooShort => "timeouts.tcp_syn_hold: below 6 s (RFC 5382 REQ-4)",
            ConfigError::IcmpTimeoutTooShort => "timeouts.icmp: below 60 s (RFC 5508 REQ-1)",
            ConfigError::NoOutsidePrefix => "outside_prefixes: empty",
            ConfigError::MtuTooSmall => "outside_mtu: below 68",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ConfigError {}

/// Everything the NAT44 engine is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nat44Config {
    /// Mapping behaviour per protocol (endpoint-independent for a CGN).
    pub mapping: PerProto<MappingBehavior>,
    /// Filtering behaviour per protocol.
    pub filtering: PerProto<FilteringBehavior>,
    /// Session timers.
    pub timeouts: Timeouts,
    /// Whether inbound packets refresh UDP and ICMP sessions ([RFC 4787] REQ-6 allows it);
    /// TCP sessions are refreshed by both directions.
    ///
    /// [RFC 4787]: https://www.rfc-editor.org/rfc/rfc4787
    pub inbound_refresh: bool,
    /// Hairpinning between inside hosts ([RFC 4787] REQ-9, [RFC 5382] REQ-8, [RFC 5508] REQ-7).
    ///
    /// [RFC 4787]: https://www.rfc-editor.org/rfc/rfc4787
    /// [RFC 5382]: https://www.rfc-editor.org/rfc/rfc5382
    /// [RFC 5508]: https://www.rfc-editor.org/rfc/rfc5508
    pub hairpinning: bool,
    /// Leave the second half of hairpinning to the caller: a packet from the inside to an
    /// outside address of the pool is translated out and returned as `Forward` (or an owed
    /// error about a hairpinned packet as `Reply`) with its pool destination, and the caller
    /// hands it to [`Nat44::hairpin`](super::Nat44::hairpin) of the translator that owns that
    /// outside endpoint. For a runtime that shards its subscribers over several translators,
    /// so that hairpinning ([RFC 4787] REQ-9) works between shards. Off: the translator loops
    /// the packet back itself.
    ///
    /// [RFC 4787]: https://www.rfc-editor.org/rfc/rfc4787
    pub hairpin_handoff: bool,
    /// Inside subscriber ranges: outbound packets from any other source are dropped
    /// (draft-nishitani-cgn § 9, no spoofing of another subscriber's 3-tuple). Empty: any.
    pub inside_prefixes: PrefixList,
    /// The outside pool: inbound packets to other addresses are not ours, and outbound
    /// packets to these addresses are hairpinned.
    pub outside_prefixes: PrefixList,
    /// Destinations forwarded untranslated (draft-nishitani-cgn § 7 "LSN pass-through").
    pub passthrough: PrefixList,
    /// The translator's own inside address: the source of the errors it sends inside.
    pub inside_address: Ipv4Addr,
    /// Code of the Destination Unreachable sent when no mapping can be made.
    pub unreachable_code: UnreachableCode,
    /// Sending of owed ICMP errors.
    pub icmp_errors: IcmpErrorPolicy,
    /// Answer unsolicited inbound SYNs with Port Unreachable after the hold time
    /// ([RFC 5382] REQ-4), rather than dropping them silently.
    ///
    /// [RFC 5382]: https://www.rfc-editor.org/rfc/rfc5382
    pub answer_unsolicited_syn: bool,
    /// Decrement the TTL as a router does, answering Time Exceeded when it runs out. Off when
    /// the host's kernel already routes the packets to and from the translator.
    pub decrement_ttl: bool,
    /// MTU of the outside link: larger packets with DF set get Fragmentation Needed
    /// ([RFC 4787] REQ-13). `None`: no check.
    ///
    /// [RFC 4787]: https://www.rfc-editor.org/rfc/rfc4787
    pub outside_mtu: Option<u16>,
    /// How long the translation of a first fragment is remembered for the rest.
    pub fragment_timeout: Duration,
}

impl Default for Nat44Config {
    fn default() -> Self {
        Nat44Config {
            mapping: PerProto::all(MappingBehavior::EndpointIndependent),
            filtering: PerProto::all(FilteringBehavior::EndpointIndependent),
            timeouts: Timeouts::default(),
            inbound_refresh: false,
            hairpinning: true,
            hairpin_handoff: false,
            inside_prefixes: PrefixList::new(),
            outside_prefixes: PrefixList::new(),
            passthrough: PrefixList::new(),
            inside_address: Ipv4Addr::UNSPECIFIED,
            unreachable_code: UnreachableCode::default(),
            icmp_errors: IcmpErrorPolicy::default(),
            answer_unsolicited_syn: true,
            decrement_ttl: true,
            outside_mtu: None,
            fragment_timeout: Duration::from_secs(5),
        }
    }
}

impl Nat44Config {
    /// Checks the configuration against the floors of the RFCs.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let t = &self.timeouts;
        if t.udp < Duration::from_secs(120) {
            return Err(ConfigError::UdpTimeoutTooShort);
        }
        if t.tcp_established < Duration::from_secs(7440) {
            return Err(ConfigError::TcpEstablishedTimeoutTooShort);
        }
        if t.tcp_syn_hold < Duration::from_secs(6) {
            return Err(ConfigError::SynHoldTooShort);
        }
        if t.icmp < Duration::from_secs(60) {
            return Err(ConfigError::IcmpTimeoutTooShort);
        }
        if self.outside_prefixes.is_empty() {
            return Err(ConfigError::NoOutsidePrefix);
        }
        if self.outside_mtu.is_some_and(|m| m < 68) {
            return Err(ConfigError::MtuTooSmall);
        }
        Ok(())
    }

    pub(crate) fn is_subscriber(&self, a: Ipv4Addr) -> bool {
        self.inside_prefixes.is_empty() || self.inside_prefixes.iter().any(|p| p.contains(a))
    }

    pub(crate) fn is_outside(&self, a: Ipv4Addr) -> bool {
        self.outside_prefixes.iter().any(|p| p.contains(a))
    }

    pub(crate) fn is_passthrough(&self, a: Ipv4Addr) -> bool {
        self.passthrough.iter().any(|p| p.contains(a))
    }
}
