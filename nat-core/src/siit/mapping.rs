//! Address mapping: the interface through which the header translation asks for new addresses
//! ([`Mapper4to6`], [`Mapper6to4`]), and its stateless implementation of [RFC 7915 § 6]:
//! explicit address mappings first, then the RFC 6052 prefix, RFC 6791 for the sources of ICMP
//! errors that have no mapping, and intrinsic EAM hairpinning.
//!
//! The stateful NAT64 implements the same traits with its binding table, so that both
//! translators share one header and ICMP translation.
//!
//! [RFC 7915 § 6]: https://www.rfc-editor.org/rfc/rfc7915#section-6

use super::config::{HairpinMode, SiitConfig};
use super::rfc6052::is_non_global;
use crate::verdict::DropReason;
use core::net::{Ipv4Addr, Ipv6Addr};

/// The addresses, protocol and ports of one IP header as a mapper sees them.
///
/// Ports are those of TCP and UDP; for an ICMP query the identifier is the source port of a
/// request and the destination port of a reply (as in [`FlowKey`](crate::flow::FlowKey)); for
/// anything else, or a later fragment, both are 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tuple<A> {
    /// Transport protocol number as written in the packet (1 or 58 for ICMP).
    pub proto: u8,
    /// Source address.
    pub src: A,
    /// Destination address.
    pub dst: A,
    /// Source port (or query identifier of a request).
    pub src_port: u16,
    /// Destination port (or query identifier of a reply).
    pub dst_port: u16,
}

/// Why a mapper refused a packet, and whether the translator owes its sender an ICMP error.
///
/// RFC 7915 § 4.4 and § 5.4 make a "destination unreachable" the default answer to a discarded
/// packet, but some discards (illegal source addresses) are silent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The counter to bump.
    pub reason: DropReason,
    /// Send ICMPv4 3/13 or ICMPv6 1/1 ([RFC 7915 § 4.4], § 5.4) if errors are enabled.
    ///
    /// [RFC 7915 § 4.4]: https://www.rfc-editor.org/rfc/rfc7915#section-4.4
    pub notify: bool,
}

impl Refusal {
    /// A refusal that owes the default ICMP error.
    pub const fn notify(reason: DropReason) -> Self {
        Refusal {
            reason,
            notify: true,
        }
    }

    /// A silent refusal.
    pub const fn silent(reason: DropReason) -> Self {
        Refusal {
            reason,
            notify: false,
        }
    }
}

/// The new addresses of an ICMP error and of the packet it quotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorMapping<A> {
    /// Outer source.
    pub src: A,
    /// Outer destination.
    pub dst: A,
    /// The quoted packet's new tuple.
    pub inner: Tuple<A>,
    /// The result must be translated back at once (IPv6 → IPv4 only; [RFC 7757 Appendix B]).
    ///
    /// [RFC 7757 Appendix B]: https://www.rfc-editor.org/rfc/rfc7757#appendix-B
    pub hairpin: bool,
}

/// The new tuple of an IPv6 → IPv4 packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapped4 {
    /// The IPv4 tuple.
    pub tuple: Tuple<Ipv4Addr>,
    /// The result must be translated back to IPv6 at once ([RFC 7757 Appendix B]).
    ///
    /// [RFC 7757 Appendix B]: https://www.rfc-editor.org/rfc/rfc7757#appendix-B
    pub hairpin: bool,
}

/// Chooses IPv6 addresses (and ports) for IPv4 packets being translated ([RFC 7915 § 6]).
///
/// The header translation calls it once per packet so that SIIT and NAT64 differ only here.
///
/// [RFC 7915 § 6]: https://www.rfc-editor.org/rfc/rfc7915#section-6
pub trait Mapper4to6 {
    /// Maps a packet that is not an ICMP error. `hairpin` is set on the second pass of a
    /// hairpinned packet.
    fn packet_4to6(&self, t: &Tuple<Ipv4Addr>, hairpin: bool) -> Result<Tuple<Ipv6Addr>, Refusal>;
    /// Maps an ICMPv4 error: its outer addresses and the tuple of the packet it quotes (as that
    /// packet was sent).
    fn error_4to6(
        &self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        inner: &Tuple<Ipv4Addr>,
        hairpin: bool,
    ) -> Result<ErrorMapping<Ipv6Addr>, DropReason>;
}

/// Chooses IPv4 addresses (and ports) for IPv6 packets being translated ([RFC 7915 § 6]).
///
/// The header translation calls it once per packet so that SIIT and NAT64 differ only here.
///
/// [RFC 7915 § 6]: https://www.rfc-editor.org/rfc/rfc7915#section-6
pub trait Mapper6to4 {
    /// Maps a packet that is not an ICMP error.
    fn packet_6to4(&self, t: &Tuple<Ipv6Addr>) -> Result<Mapped4, Refusal>;
    /// Maps an ICMPv6 error: its outer addresses and the tuple of the packet it quotes.
    fn error_6to4(
        &self,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        inner: &Tuple<Ipv6Addr>,
    ) -> Result<ErrorMapping<Ipv4Addr>, DropReason>;
}

/// How an address was mapped ([RFC 7915 § 6]).
///
/// Hairpinning depends on it: only RFC 6052 destinations that land in the EAM table hairpin.
///
/// [RFC 7915 § 6]: https://www.rfc-editor.org/rfc/rfc7915#section-6
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// By an explicit address mapping ([RFC 7757]).
    ///
    /// [RFC 7757]: https://www.rfc-editor.org/rfc/rfc7757
    Eam,
    /// By the RFC 6052 prefix.
    Rfc6052,
}

/// A small keyed mixing function (multiply-xorshift over 64 bits) for choices that must be
/// spread but reproducible: IPv4 Identification values and RFC 6791 pool members.
pub(crate) fn mix(seed: u32, words: &[u32]) -> u32 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = u64::from(seed) ^ K;
    for &w in words {
        h = (h ^ u64::from(w)).wrapping_mul(K);
        h ^= h >> 29;
    }
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    (h ^ (h >> 32)) as u32
}

fn words6(a: Ipv6Addr) -> [u32; 4] {
    let b = a.to_bits();
    [
        (b >> 96) as u32,
        (b >> 64) as u32,
        (b >> 32) as u32,
        b as u32,
    ]
}

/// Addresses never translated as the source of a packet that is not an ICMP error: this
/// network, loopback, multicast, reserved and limited broadcast ([RFC 7915 § 4.1] citing
/// [RFC 1812 § 5.3.7]).
///
/// [RFC 7915 § 4.1]: https://www.rfc-editor.org/rfc/rfc7915#section-4.1
/// [RFC 1812 § 5.3.7]: https://www.rfc-editor.org/rfc/rfc1812#section-5.3.7
pub fn is_illegal_ipv4_source(a: Ipv4Addr) -> bool {
    let o = a.octets();
    o[0] == 0 || o[0] == 127 || o[0] >= 224
}

/// Addresses never translated as the source of a packet ([RFC 7915 § 5.1]): unspecified,
/// loopback and multicast.
///
/// [RFC 7915 § 5.1]: https://www.rfc-editor.org/rfc/rfc7915#section-5.1
pub fn is_illegal_ipv6_source(a: Ipv6Addr) -> bool {
    a.is_unspecified() || a.is_loopback() || a.is_multicast()
}

impl<const N: usize> SiitConfig<N> {
    /// The IPv4 address that represents `a`: by the longest EAM, else by the RFC 6052 prefix
    /// ([RFC 7915 § 6]); `None` if neither applies, or if the Well-Known Prefix would yield a
    /// non-global address while the [RFC 6052 § 3.1] rule is on.
    ///
    /// [RFC 7915 § 6]: https://www.rfc-editor.org/rfc/rfc7915#section-6
    /// [RFC 6052 § 3.1]: https://www.rfc-editor.org/rfc/rfc6052#section-3.1
    pub fn map_6to4(&self, a: Ipv6Addr) -> Option<(Ipv4Addr, Method)> {
        if let Some(v4) = self.eamt.map_6to4(a) {
            return Some((v4, Method::Eam));
        }
        let p = self.pool6?;
        let v4 = p.extract(a)?;
        if self.wkp_non_global_rule && p.is_well_known() && is_non_global(v4) {
            return None;
        }
        Some((v4, Method::Rfc6052))
    }

    /// The IPv6 address that represents `a`: by the longest EAM (unless `use_eam` is false),
    /// else by the RFC 6052 prefix ([RFC 7915 § 6]), with the [RFC 6052 § 3.1] rule as in
    /// [`map_6to4`](Self::map_6to4).
    ///
    /// [RFC 7915 § 6]: https://www.rfc-editor.org/rfc/rfc7915#section-6
    /// [RFC 6052 § 3.1]: https://www.rfc-editor.org/rfc/rfc6052#section-3.1
    pub fn map_4to6(&self, a: Ipv4Addr, use_eam: bool) -> Option<(Ipv6Addr, Method)> {
        if use_eam && let Some(v6) = self.eamt.map_4to6(a) {
            return Some((v6, Method::Eam));
        }
        let p = self.pool6?;
        if self.wkp_non_global_rule && p.is_well_known() && is_non_global(a) {
            return None;
        }
        Some((p.embed(a), Method::Rfc6052))
    }

    /// An IPv4 source for an ICMPv6 error from an address with no mapping: a member of the
    /// RFC 6791 pool chosen by a hash of the packet, else the translator's own address
    /// ([RFC 6791 § 5]).
    ///
    /// [RFC 6791 § 5]: https://www.rfc-editor.org/rfc/rfc6791#section-5
    pub fn rfc6791_ipv4(&self, from: Ipv6Addr, to: Ipv6Addr) -> Option<Ipv4Addr> {
        match self.rfc6791_v4 {
            Some(pool) => {
                let mut w = [0u32; 8];
                w[..4].copy_from_slice(&words6(from));
                w[4..].copy_from_slice(&words6(to));
                Some(pool.nth(mix(self.xlat.seed, &w)))
            }
            None => self.xlat.own_ipv4,
        }
    }

    /// An IPv6 source for an ICMPv4 error from an address with no mapping: a member of the
    /// configured pool, else the translator's own address (RFC 6791 applied to IPv4 → IPv6).
    pub fn rfc6791_ipv6(&self, from: Ipv4Addr, to: Ipv4Addr) -> Option<Ipv6Addr> {
        match self.rfc6791_v6 {
            Some(pool) => Some(pool.nth(mix(self.xlat.seed, &[from.to_bits(), to.to_bits()]))),
            None => self.xlat.own_ipv6,
        }
    }

    fn eam_hairpin(&self, method: Method, v4: Ipv4Addr) -> bool {
        self.hairpin == HairpinMode::Intrinsic
            && method == Method::Rfc6052
            && self.eamt.find4(v4).is_some()
    }
}

/// The stateless mapper over a [`SiitConfig`].
pub(crate) struct SiitMapper<'a, const N: usize>(pub(crate) &'a SiitConfig<N>);

impl<const N: usize> Mapper4to6 for SiitMapper<'_, N> {
    fn packet_4to6(&self, t: &Tuple<Ipv4Addr>, hairpin: bool) -> Result<Tuple<Ipv6Addr>, Refusal> {
        if is_illegal_ipv4_source(t.src) || is_illegal_ipv4_source(t.dst) {
            return Err(Refusal::silent(DropReason::Untranslatable));
        }
        let c = self.0;
        let no_map = Refusal::notify(DropReason::Untranslatable);
        // RFC 7757 Appendix B: on the way back, the source is the IPv6 node that addressed
        // its peer through pool6, so it must go back through pool6 too.
        let (src, _) = c.map_4to6(t.src, !hairpin).ok_or(no_map)?;
        let (dst, _) = c.map_4to6(t.dst, true).ok_or(no_map)?;
        Ok(Tuple {
            proto: t.proto,
            src,
            dst,
            src_port: t.src_port,
            dst_port: t.dst_port,
        })
    }

    fn error_4to6(
        &self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        inner: &Tuple<Ipv4Addr>,
        hairpin: bool,
    ) -> Result<ErrorMapping<Ipv6Addr>, DropReason> {
        let c = self.0;
        let (dst6, _) = c.map_4to6(dst, true).ok_or(DropReason::Untranslatable)?;
        let src_eam = !(hairpin && src == inner.dst);
        let src6 = match c.map_4to6(src, src_eam) {
            Some((a, _)) => a,
            None => c.rfc6791_ipv6(src, dst).ok_or(DropReason::Untranslatable)?,
        };
        let (isrc, _) = c
            .map_4to6(inner.src, true)
            .ok_or(DropReason::Untranslatable)?;
        let (idst, _) = c
            .map_4to6(inner.dst, !hairpin)
            .ok_or(DropReason::Untranslatable)?;
        Ok(ErrorMapping {
            src: src6,
            dst: dst6,
            inner: Tuple {
                proto: inner.proto,
                src: isrc,
                dst: idst,
                src_port: inner.src_port,
                dst_port: inner.dst_port,
            },
            hairpin: false,
        })
    }
}

impl<const N: usize> Mapper6to4 for SiitMapper<'_, N> {
    fn packet_6to4(&self, t: &Tuple<Ipv6Addr>) -> Result<Mapped4, Refusal> {
        if is_illegal_ipv6_source(t.src) || t.dst.is_multicast() {
            return Err(Refusal::silent(DropReason::Untranslatable));
        }
        let c = self.0;
        let no_map = Refusal::notify(DropReason::Untranslatable);
        let (dst, how) = c.map_6to4(t.dst).ok_or(no_map)?;
        let (src, _) = c.map_6to4(t.src).ok_or(no_map)?;
        Ok(Mapped4 {
            tuple: Tuple {
                proto: t.proto,
                src,
                dst,
                src_port: t.src_port,
                dst_port: t.dst_port,
            },
            hairpin: c.eam_hairpin(how, dst),
        })
    }

    fn error_6to4(
        &self,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        inner: &Tuple<Ipv6Addr>,
    ) -> Result<ErrorMapping<Ipv4Addr>, DropReason> {
        let c = self.0;
        let (dst4, _) = c.map_6to4(dst).ok_or(DropReason::Untranslatable)?;
        let src4 = match c.map_6to4(src) {
            Some((a, _)) => a,
            None => c.rfc6791_ipv4(src, dst).ok_or(DropReason::Untranslatable)?,
        };
        let (isrc, how) = c.map_6to4(inner.src).ok_or(DropReason::Untranslatable)?;
        let (idst, _) = c.map_6to4(inner.dst).ok_or(DropReason::Untranslatable)?;
        Ok(ErrorMapping {
            src: src4,
            dst: dst4,
            inner: Tuple {
                proto: inner.proto,
                src: isrc,
                dst: idst,
                src_port: inner.src_port,
                dst_port: inner.dst_port,
            },
            hairpin: c.eam_hairpin(how, isrc),
        })
    }
}
