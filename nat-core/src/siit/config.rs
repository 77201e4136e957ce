//! Configuration of the translator, as plain data.
//!
//! [`XlatConfig`] holds what every IP/ICMP translation needs (traffic class policy, MTUs,
//! zero-checksum policy, the translator's own addresses for the errors it sends) and is shared
//! with the stateful NAT64; [`SiitConfig`] adds the stateless address mapping of RFC 7915 § 6.

use super::eam::{EamTable, Ipv4Prefix, Ipv6Prefix};
use super::rfc6052::Pref64;
use core::net::{Ipv4Addr, Ipv6Addr};

/// What to write in the IPv6 Traffic Class or the IPv4 TOS octet ([RFC 7915 § 4.1],
/// [§ 5.1](https://www.rfc-editor.org/rfc/rfc7915#section-5.1)).
///
/// Copying is the default because the DSCP semantics are the same in both versions; some IPv4
/// networks still read the octet as the old TOS, hence the override.
///
/// [RFC 7915 § 4.1]: https://www.rfc-editor.org/rfc/rfc7915#section-4.1
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TosPolicy {
    /// Copy all 8 bits from the other header.
    #[default]
    Copy,
    /// Always write this value (0 for "ignore the IPv4 TOS").
    Set(u8),
}

impl TosPolicy {
    /// The octet to write, given the one read.
    pub const fn apply(self, read: u8) -> u8 {
        match self {
            TosPolicy::Copy => read,
            TosPolicy::Set(v) => v,
        }
    }
}

/// What to do with an IPv4 UDP datagram whose checksum is 0 ([RFC 7915 § 4.5]).
///
/// IPv6 forbids the zero checksum, so the translator must either refuse the datagram or pay
/// for a full checksum computation; a fragment can only be refused.
///
/// [RFC 7915 § 4.5]: https://www.rfc-editor.org/rfc/rfc7915#section-4.5
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UdpZeroChecksum {
    /// Drop it (and send ICMPv4 3/13 if errors are enabled), option 1 of § 4.5.
    #[default]
    Drop,
    /// Compute the checksum over the whole datagram and forward it, option 2 of § 4.5.
    Compute,
}

/// Hairpinning of explicit address mappings ([RFC 7757 Appendix B]).
///
/// An IPv6 node that addresses another IPv6 node by its IPv4 address (through the RFC 6052
/// prefix) would otherwise see its packet leave on the IPv4 side and never come back.
///
/// [RFC 7757 Appendix B]: https://www.rfc-editor.org/rfc/rfc7757#appendix-B
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HairpinMode {
    /// No hairpinning.
    Off,
    /// "Intrinsic" hairpinning: a packet whose RFC 6052 destination falls in the EAM table (or
    /// an ICMPv6 error whose quoted RFC 6052 source does) is translated back to IPv6 at once.
    #[default]
    Intrinsic,
}

/// Settings of the IP/ICMP header translation itself ([RFC 7915] §§ 4–5), independent of how
/// addresses are mapped.
///
/// Shared by SIIT and the stateful NAT64, which differ only in their address mapping.
///
/// [RFC 7915]: https://www.rfc-editor.org/rfc/rfc7915
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XlatConfig {
    /// IPv4 → IPv6 traffic class ([RFC 7915 § 4.1]).
    ///
    /// [RFC 7915 § 4.1]: https://www.rfc-editor.org/rfc/rfc7915#section-4.1
    pub traffic_class: TosPolicy,
    /// IPv6 → IPv4 TOS ([RFC 7915 § 5.1]).
    ///
    /// [RFC 7915 § 5.1]: https://www.rfc-editor.org/rfc/rfc7915#section-5.1
    pub tos: TosPolicy,
    /// "lowest-ipv6-mtu" of [RFC 7915 § 4.1]: IPv4 packets without DF are fragmented so that
    /// each IPv6 fragment fits it (at least 1280).
    ///
    /// [RFC 7915 § 4.1]: https://www.rfc-editor.org/rfc/rfc7915#section-4.1
    pub lowest_ipv6_mtu: u16,
    /// MTU of the IPv6 next hop: bigger DF packets get Fragmentation Needed.
    pub ipv6_mtu: u16,
    /// MTU of the IPv4 next hop: bigger IPv6 packets get Packet Too Big.
    pub ipv4_mtu: u16,
    /// IPv4 UDP with checksum 0 ([RFC 7915 § 4.5]).
    ///
    /// [RFC 7915 § 4.5]: https://www.rfc-editor.org/rfc/rfc7915#section-4.5
    pub udp_zero_checksum: UdpZeroChecksum,
    /// Whether the translator sends the ICMP errors it owes ([RFC 7915 § 4.4], § 5.4). When
    /// off, the packet is dropped with its reason instead; rate limiting is the caller's, who
    /// sees every [`Verdict::Reply`](crate::verdict::Verdict::Reply).
    ///
    /// [RFC 7915 § 4.4]: https://www.rfc-editor.org/rfc/rfc7915#section-4.4
    pub send_icmp_errors: bool,
    /// Source of the ICMPv4 errors the translator sends, and last resort of RFC 6791.
    pub own_ipv4: Option<Ipv4Addr>,
    /// Source of the ICMPv6 errors the translator sends, and last resort of RFC 6791.
    pub own_ipv6: Option<Ipv6Addr>,
    /// Seed of the IPv4 Identification generator ([RFC 7915 § 5.1]) and of the RFC 6791 pool
    /// choice, so that outputs are a function of inputs and configuration.
    ///
    /// [RFC 7915 § 5.1]: https://www.rfc-editor.org/rfc/rfc7915#section-5.1
    pub seed: u32,
}

impl Default for XlatConfig {
    fn default() -> Self {
        XlatConfig {
            traffic_class: TosPolicy::Copy,
            tos: TosPolicy::Copy,
            lowest_ipv6_mtu: 1280,
            ipv6_mtu: 1500,
            ipv4_mtu: 1500,
            udp_zero_checksum: UdpZeroChecksum::Drop,
            send_icmp_errors: true,
            own_ipv4: None,
            own_ipv6: None,
            seed: 0,
        }
    }
}

impl XlatConfig {
    /// The size to which IPv6 packets translated from DF-clear IPv4 are fragmented: the
    /// smaller of lowest-ipv6-mtu and the IPv6 next-hop MTU ([RFC 7915 § 4.1]).
    ///
    /// [RFC 7915 § 4.1]: https://www.rfc-editor.org/rfc/rfc7915#section-4.1
    pub const fn ipv6_fragment_size(&self) -> u16 {
        if self.lowest_ipv6_mtu < self.ipv6_mtu {
            self.lowest_ipv6_mtu
        } else {
            self.ipv6_mtu
        }
    }
}

/// Why a configuration was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// An IPv6 MTU (next hop or lowest-ipv6-mtu) below 1280 ([RFC 8200 § 5]).
    ///
    /// [RFC 8200 § 5]: https://www.rfc-editor.org/rfc/rfc8200#section-5
    Ipv6MtuTooSmall,
    /// An IPv4 MTU below 68 ([RFC 791]).
    ///
    /// [RFC 791]: https://www.rfc-editor.org/rfc/rfc791
    Ipv4MtuTooSmall,
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ConfigError::Ipv6MtuTooSmall => f.write_str("IPv6 MTU below 1280"),
            ConfigError::Ipv4MtuTooSmall => f.write_str("IPv4 MTU below 68"),
        }
    }
}

/// Configuration of a stateless translator ([RFC 7915 § 6]): the RFC 6052 prefix, the explicit
/// address mappings (with room for `N`), the RFC 6791 pools and the header settings.
///
/// Everything the translator decides follows from this value and the packet, which is what
/// makes SIIT stateless.
///
/// [RFC 7915 § 6]: https://www.rfc-editor.org/rfc/rfc7915#section-6
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiitConfig<const N: usize> {
    /// The RFC 6052 prefix ("pool6"); `None` leaves only the EAM table.
    pub pool6: Option<Pref64>,
    /// The explicit address mapping table ([RFC 7757]).
    ///
    /// [RFC 7757]: https://www.rfc-editor.org/rfc/rfc7757
    pub eamt: EamTable<N>,
    /// IPv4 sources for ICMPv6 errors from untranslatable IPv6 addresses ([RFC 6791]); when
    /// `None`, [`XlatConfig::own_ipv4`] is used.
    ///
    /// [RFC 6791]: https://www.rfc-editor.org/rfc/rfc6791
    pub rfc6791_v4: Option<Ipv4Prefix>,
    /// IPv6 sources for ICMPv4 errors from untranslatable IPv4 addresses (the mirror image of
    /// RFC 6791); when `None`, [`XlatConfig::own_ipv6`] is used.
    pub rfc6791_v6: Option<Ipv6Prefix>,
    /// Enforce [RFC 6052 § 3.1]: with the Well-Known Prefix, refuse non-global IPv4 addresses
    /// (see [`is_non_global`](super::is_non_global)).
    ///
    /// [RFC 6052 § 3.1]: https://www.rfc-editor.org/rfc/rfc6052#section-3.1
    pub wkp_non_global_rule: bool,
    /// EAM hairpinning ([RFC 7757 Appendix B]).
    ///
    /// [RFC 7757 Appendix B]: https://www.rfc-editor.org/rfc/rfc7757#appendix-B
    pub hairpin: HairpinMode,
    /// Header translation settings.
    pub xlat: XlatConfig,
}

impl<const N: usize> Default for SiitConfig<N> {
    fn default() -> Self {
        SiitConfig {
            pool6: None,
            eamt: EamTable::new(),
            rfc6791_v4: None,
            rfc6791_v6: None,
            wkp_non_global_rule: true,
            hairpin: HairpinMode::Intrinsic,
            xlat: XlatConfig::default(),
        }
    }
}

impl<const N: usize> SiitConfig<N> {
    /// Checks the MTUs against the IPv6 and IPv4 minimums.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let x = &self.xlat;
        if x.lowest_ipv6_mtu < 1280 || x.ipv6_mtu < 1280 {
            return Err(ConfigError::Ipv6MtuTooSmall);
        }
        if x.ipv4_mtu < 68 {
            return Err(ConfigError::Ipv4MtuTooSmall);
        }
        Ok(())
    }
}
