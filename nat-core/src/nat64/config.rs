//! Configuration of the stateful NAT64, as plain data, and its validation ([RFC 6146 § 3],
//! § 4).
//!
//! [RFC 6146 § 3]: https://www.rfc-editor.org/rfc/rfc6146#section-3

use crate::behavior::{FilteringBehavior, PerProto, Timeouts};
use crate::flow::L4Proto;
use crate::prefix::Prefix;
use crate::siit::{Pref64, UdpZeroChecksum, XlatConfig, is_non_global};
use core::net::{Ipv4Addr, Ipv6Addr};
use core::time::Duration;

/// TCP_EST ([RFC 6146 § 4]): the least idle lifetime of an established TCP session.
///
/// [RFC 6146 § 4]: https://www.rfc-editor.org/rfc/rfc6146#section-4
pub const TCP_EST: Duration = Duration::from_secs(2 * 3600);

/// The most pool4 prefixes.
pub const MAX_POOL4: usize = 8;

/// FRAGMENT_MIN ([RFC 6146 § 4]): the least time the fragments of a datagram are given by
/// default.
///
/// [RFC 6146 § 4]: https://www.rfc-editor.org/rfc/rfc6146#section-4
pub const FRAGMENT_MIN: Duration = Duration::from_secs(2);

/// Configuration of a stateful NAT64.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nat64Config {
    /// The prefix under which IPv4 hosts appear to the IPv6 side (pool6; 64:ff9b::/96 by
    /// default, or a network-specific prefix: [RFC 6146 § 3.5.4], [RFC 6052]).
    ///
    /// [RFC 6146 § 3.5.4]: https://www.rfc-editor.org/rfc/rfc6146#section-3.5.4
    /// [RFC 6052]: https://www.rfc-editor.org/rfc/rfc6052
    pub pool6: Pref64,
    /// Refuse to map non-global IPv4 addresses under the Well-Known Prefix ([RFC 6052 § 3.1]).
    ///
    /// [RFC 6052 § 3.1]: https://www.rfc-editor.org/rfc/rfc6052#section-3.1
    pub wkp_non_global_rule: bool,
    /// The IPv4 prefixes of pool4: inbound packets to other addresses are not processed,
    /// outbound packets to these are hairpinned ([RFC 6146 § 3.5], § 3.8).
    ///
    /// [RFC 6146 § 3.5]: https://www.rfc-editor.org/rfc/rfc6146#section-3.5
    pub pool4: heapless::Vec<Prefix<Ipv4Addr>, MAX_POOL4>,
    /// Filtering per protocol: endpoint-independent or address-dependent ([RFC 6146 § 1.2.3]).
    ///
    /// [RFC 6146 § 1.2.3]: https://www.rfc-editor.org/rfc/rfc6146#section-1.2.3
    pub filtering: PerProto<FilteringBehavior>,
    /// Timers ([RFC 6146 § 4]): UDP at least UDP_MIN (2 min; 5 by default), ICMP 60 s, TCP
    /// transitory (`tcp_opening`, `tcp_closing`) TCP_TRANS 4 min, TCP established at least
    /// TCP_EST 2 h (after which the session spends TCP_TRANS in TRANS, see `tcp_probe`),
    /// stored V4 SYN at least TCP_INCOMING_SYN 6 s.
    ///
    /// [RFC 6146 § 4]: https://www.rfc-editor.org/rfc/rfc6146#section-4
    pub timeouts: Timeouts,
    /// Whether IPv4 packets refresh UDP and ICMP sessions. On by default ([RFC 6146 § 3.5.1]
    /// resets the timer for both directions); § 5.3 allows turning it off.
    ///
    /// [RFC 6146 § 3.5.1]: https://www.rfc-editor.org/rfc/rfc6146#section-3.5.1
    pub inbound_refresh: bool,
    /// Hairpinning between IPv6 hosts through pool4 ([RFC 6146 § 3.8]).
    ///
    /// [RFC 6146 § 3.8]: https://www.rfc-editor.org/rfc/rfc6146#section-3.8
    pub hairpinning: bool,
    /// Send a probe to the IPv6 endpoint of an ESTABLISHED session that has been idle for
    /// TCP_EST, as it moves to TRANS ([RFC 6146 § 3.5.2.2], SHOULD); the move happens either
    /// way.
    ///
    /// [RFC 6146 § 3.5.2.2]: https://www.rfc-editor.org/rfc/rfc6146#section-3.5.2.2
    pub tcp_probe: bool,
    /// Silently drop externally initiated TCP connections: a V4 SYN with no session
    /// ([RFC 6146 § 3.5.2.2], CLOSED state).
    ///
    /// [RFC 6146 § 3.5.2.2]: https://www.rfc-editor.org/rfc/rfc6146#section-3.5.2.2
    pub drop_external_tcp: bool,
    /// Silently drop ICMPv6 informational messages (echo) from the IPv6 side
    /// ([RFC 6146 § 3.5.3], "local security policy").
    ///
    /// [RFC 6146 § 3.5.3]: https://www.rfc-editor.org/rfc/rfc6146#section-3.5.3
    pub filter_icmpv6_informational: bool,
    /// How long the fragments of a datagram may take to arrive after their first, and how long
    /// an early fragment waits for it ([RFC 6146 § 3.4]; [`FRAGMENT_MIN`] by default).
    ///
    /// [RFC 6146 § 3.4]: https://www.rfc-editor.org/rfc/rfc6146#section-3.4
    pub fragment_timeout: Duration,
    /// The source of an ICMPv6 error translated from an ICMPv4 error.
    pub icmp_error_source: ErrorSource,
    /// Average ICMP errors a second the NAT64 sends on its own (unsolicited packets, Packet
    /// Too Big, Time Exceeded), so that it cannot be made an amplifier ([RFC 1812 § 4.3.2.8]).
    ///
    /// [RFC 1812 § 4.3.2.8]: https://www.rfc-editor.org/rfc/rfc1812#section-4.3.2.8
    pub icmp_errors_per_sec: u32,
    /// ICMP errors allowed at once.
    pub icmp_errors_burst: u32,
    /// The header translation settings (MTUs, TOS, own addresses, whether ICMP errors are sent).
    /// An IPv4 UDP datagram with a zero checksum gets one computed by default
    /// ([RFC 6146 § 3.4], which deviates from RFC 6145 here).
    ///
    /// [RFC 6146 § 3.4]: https://www.rfc-editor.org/rfc/rfc6146#section-3.4
    pub xlat: XlatConfig,
}

impl Default for Nat64Config {
    fn default() -> Self {
        // RFC 6146 § 4: TCP_EST is 2 hours; the 4 minutes of TRANS that follow its expiry make
        // the 2 h 4 min floor of RFC 5382.
        let timeouts = Timeouts {
            tcp_established: TCP_EST,
            ..Timeouts::default()
        };
        let xlat = XlatConfig {
            udp_zero_checksum: UdpZeroChecksum::Compute,
            ..XlatConfig::default()
        };
        Nat64Config {
            pool6: Pref64::WELL_KNOWN,
            wkp_non_global_rule: true,
            pool4: heapless::Vec::new(),
            filtering: PerProto::all(FilteringBehavior::EndpointIndependent),
            timeouts,
            inbound_refresh: true,
            hairpinning: true,
            tcp_probe: true,
            drop_external_tcp: false,
            filter_icmpv6_informational: false,
            fragment_timeout: FRAGMENT_MIN,
            icmp_error_source: ErrorSource::Sender,
            icmp_errors_per_sec: 100,
            icmp_errors_burst: 50,
            xlat,
        }
    }
}

/// Where the outer source of an ICMPv6 error translated from an ICMPv4 error comes from.
///
/// [RFC 6146 § 3.6.1] builds it from the error's incoming 5-tuple, which § 3.4 takes from the
/// quoted packet with source and destination swapped: the source is then the quoted packet's
/// destination, whichever router sent the error. Under that rule every hop of a traceroute
/// looks like its target, so the router's own address is used by default (Jool's
/// `source-icmpv6-errors-better`).
///
/// [RFC 6146 § 3.6.1]: https://www.rfc-editor.org/rfc/rfc6146#section-3.6.1
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ErrorSource {
    /// The ICMPv4 error's source, under pool6.
    #[default]
    Sender,
    /// The quoted packet's destination, under pool6 ([RFC 6146 § 3.6.1] to the letter).
    ///
    /// [RFC 6146 § 3.6.1]: https://www.rfc-editor.org/rfc/rfc6146#section-3.6.1
    QuotedDestination,
}

impl Nat64Config {
    /// The IPv4 address an IPv6 destination stands for, under pool6 and the RFC 6052 § 3.1
    /// rule ([RFC 6146 § 3.5.4]).
    ///
    /// [RFC 6146 § 3.5.4]: https://www.rfc-editor.org/rfc/rfc6146#section-3.5.4
    pub fn extract(&self, a: Ipv6Addr) -> Option<Ipv4Addr> {
        let v4 = self.pool6.extract(a)?;
        (!self.wkp_forbids(v4)).then_some(v4)
    }

    /// The IPv6 representation of an IPv4 address under pool6, unless the RFC 6052 § 3.1 rule
    /// forbids it ([RFC 6146 § 3.5.4]).
    ///
    /// [RFC 6146 § 3.5.4]: https://www.rfc-editor.org/rfc/rfc6146#section-3.5.4
    pub fn embed(&self, a: Ipv4Addr) -> Option<Ipv6Addr> {
        (!self.wkp_forbids(a)).then(|| self.pool6.embed(a))
    }

    fn wkp_forbids(&self, v4: Ipv4Addr) -> bool {
        self.wkp_non_global_rule && self.pool6.is_well_known() && is_non_global(v4)
    }

    /// Whether `a` belongs to pool4 ([RFC 6146 § 3.5]).
    ///
    /// [RFC 6146 § 3.5]: https://www.rfc-editor.org/rfc/rfc6146#section-3.5
    pub fn in_pool4(&self, a: Ipv4Addr) -> bool {
        self.pool4.iter().any(|p| p.contains(a))
    }

    pub(super) fn validate(&self) -> Result<(), Nat64ConfigError> {
        if self.pool4.is_empty() {
            return Err(Nat64ConfigError::NoPool4);
        }
        if L4Proto::ALL
            .iter()
            .any(|&p| self.filtering.get(p) == FilteringBehavior::AddressAndPortDependent)
        {
            return Err(Nat64ConfigError::Filtering);
        }
        if self.timeouts.udp < Duration::from_secs(120) {
            return Err(Nat64ConfigError::UdpTimeout);
        }
        if self.timeouts.tcp_established < TCP_EST {
            return Err(Nat64ConfigError::TcpEstablished);
        }
        if self.timeouts.tcp_syn_hold < Duration::from_secs(6) {
            return Err(Nat64ConfigError::SynHold);
        }
        check_xlat(&self.xlat)
    }
}

pub(super) fn check_xlat(x: &XlatConfig) -> Result<(), Nat64ConfigError> {
    if x.lowest_ipv6_mtu < 1280 || x.ipv6_mtu < 1280 || x.ipv4_mtu < 68 {
        return Err(Nat64ConfigError::Mtu);
    }
    Ok(())
}

/// Why a NAT64 configuration is refused; each variant names the field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Nat64ConfigError {
    /// `pool4` is empty ([RFC 6146 § 3]: at least one IPv4 address MUST be assigned).
    NoPool4,
    /// `filtering` is address-and-port-dependent, which RFC 6146 does not provide for.
    Filtering,
    /// `timeouts.udp` below UDP_MIN, 2 minutes ([RFC 6146 § 3.5.1]).
    ///
    /// [RFC 6146 § 3.5.1]: https://www.rfc-editor.org/rfc/rfc6146#section-3.5.1
    UdpTimeout,
    /// `timeouts.tcp_established` below TCP_EST, 2 hours ([RFC 6146 § 3.5.2.2]: the maximum
    /// session lifetime "MUST NOT be less than TCP_EST").
    ///
    /// [RFC 6146 § 3.5.2.2]: https://www.rfc-editor.org/rfc/rfc6146#section-3.5.2.2
    TcpEstablished,
    /// `timeouts.tcp_syn_hold` below TCP_INCOMING_SYN, 6 s ([RFC 6146 § 4]).
    ///
    /// [RFC 6146 § 4]: https://www.rfc-editor.org/rfc/rfc6146#section-4
    SynHold,
    /// `xlat`: an IPv6 MTU below 1280 or an IPv4 MTU below 68.
    Mtu,
}

impl core::fmt::Display for Nat64ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Nat64ConfigError::NoPool4 => "pool4 is empty",
            Nat64ConfigError::Filtering => "address-and-port-dependent filtering in a NAT64",
            Nat64ConfigError::UdpTimeout => "UDP timeout below 2 minutes",
            Nat64ConfigError::TcpEstablished => "TCP established timeout below 2 hours",
            Nat64ConfigError::SynHold => "incoming SYN hold below 6 seconds",
            Nat64ConfigError::Mtu => "IPv6 MTU below 1280 or IPv4 MTU below 68",
        })
    }
}
