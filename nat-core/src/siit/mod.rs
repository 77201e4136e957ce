//! Stateless IP/ICMP translation (SIIT, [RFC 7915]) and IPv6 address mapping ([RFC 6052],
//! [RFC 7757], [RFC 6791]).
//!
//! A [`Siit`] translates IPv4 packets to IPv6 and back using only its [`SiitConfig`] and the
//! packet: explicit address mappings ([`EamTable`]) first, then the RFC 6052 prefix
//! ([`Pref64`]). It works in the caller's buffer and allocates nothing:
//!
//! - IPv4 → IPv6 grows the header by 20 bytes (28 with a Fragment header, 48 for an ICMP error
//!   whose quote grows too), so the packet should sit [`HEADROOM`] bytes into the buffer;
//!   without headroom it is moved right when the buffer has room after it.
//! - The result is a [`Verdict`]: `Forward` with the translated packet's new offsets, `Reply`
//!   with an ICMP error the translator owes the sender (Time Exceeded, Fragmentation Needed,
//!   Packet Too Big, …), written over the same buffer, or `Drop` with a reason.
//! - A forwarded packet larger than the next hop allows ([`Siit::fragment_mtu`]) must be split
//!   with [`Fragments`] into a second buffer, one fragment at a time.
//!
//! ```
//! use core::net::Ipv4Addr;
//! use nat_core::siit::{Pref64, Siit, SiitConfig, HEADROOM};
//! use nat_core::verdict::Verdict;
//!
//! let mut config = SiitConfig::<4>::default();
//! config.pool6 = Some(Pref64::new("2001:db8:100::".parse().unwrap(), 40).unwrap());
//! let siit = Siit::new(config).unwrap();
//!
//! // IPv4 UDP 198.51.100.2:4000 -> 192.0.2.33:2000, 4 bytes of payload, no UDP checksum.
//! let mut buf = [0u8; HEADROOM + 32];
//! buf[HEADROOM..].copy_from_slice(&[
//!     0x45, 0, 0, 32, 0, 0, 0x40, 0, 64, 17, 0, 0, 198, 51, 100, 2, 192, 0, 2, 33,
//!     0x0f, 0xa0, 0x07, 0xd0, 0, 12, 0x12, 0x34, 1, 2, 3, 4,
//! ]);
//! let c = nat_core::checksum::checksum(&buf[HEADROOM..HEADROOM + 20]);
//! buf[HEADROOM + 10..HEADROOM + 12].copy_from_slice(&c.to_be_bytes());
//! let Verdict::Forward { start, len } = siit.translate_4to6(&mut buf, HEADROOM, 32) else {
//!     panic!("not translated");
//! };
//! assert_eq!(len, 52);
//! assert_eq!(buf[start] >> 4, 6);
//! assert_eq!(&buf[start + 8..start + 24], &"2001:db8:1c6:3364:2::".parse::<core::net::Ipv6Addr>().unwrap().octets());
//! ```
//!
//! The pieces are public for the stateful NAT64, which maps addresses from its binding table
//! instead: it implements [`Mapper4to6`] and [`Mapper6to4`] and calls [`translate_4to6`] and
//! [`translate_6to4`] with its own mapper.
//!
//! [RFC 7915]: https://www.rfc-editor.org/rfc/rfc7915
//! [RFC 6052]: https://www.rfc-editor.org/rfc/rfc6052
//! [RFC 7757]: https://www.rfc-editor.org/rfc/rfc7757
//! [RFC 6791]: https://www.rfc-editor.org/rfc/rfc6791

mod config;
mod eam;
mod error46;
mod error64;
mod fragment;
mod header;
mod icmp;
mod mapping;
mod quote;
mod reply;
mod rfc6052;
mod xlat46;
mod xlat64;

pub use config::{ConfigError, HairpinMode, SiitConfig, TosPolicy, UdpZeroChecksum, XlatConfig};
pub use eam::{Eam, EamError, EamTable, Ipv4Prefix, Ipv6Prefix};
pub use fragment::Fragments;
pub use icmp::{
    IPV6_MIN_MTU, IcmpClass, IcmpHeader, PLATEAUS, Translated, frag_needed_mtu_6to4,
    icmp4_to_icmp6, icmp6_to_icmp4, plateau_mtu, pointer_4to6, pointer_6to4, ptb_mtu_4to6,
};
pub use mapping::{
    ErrorMapping, Mapped4, Mapper4to6, Mapper6to4, Method, Refusal, Tuple, is_illegal_ipv4_source,
    is_illegal_ipv6_source,
};
pub use rfc6052::{Pref64, Pref64Error, is_non_global};
pub use xlat46::translate_4to6;
pub use xlat64::{DF_THRESHOLD, translate_6to4};

use crate::verdict::{DropReason, Verdict};
use mapping::SiitMapper;

/// Bytes to leave in front of a packet handed to [`Siit::translate_4to6`]: the growth of an
/// ICMPv4 error whose quoted packet also gains a Fragment header (20 + 20 + 8).
pub const HEADROOM: usize = 48;

/// A stateless IP/ICMP translator ([RFC 7915]) over its configuration.
///
/// It holds no state besides the configuration, so one instance can serve every core at once
/// (`&self` everywhere) and two instances with the same configuration behave the same.
///
/// [RFC 7915]: https://www.rfc-editor.org/rfc/rfc7915
#[derive(Clone, Debug)]
pub struct Siit<const N: usize> {
    config: SiitConfig<N>,
}

impl<const N: usize> Siit<N> {
    /// A translator over `config`, which is checked first.
    pub fn new(config: SiitConfig<N>) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Siit { config })
    }

    /// The configuration.
    pub fn config(&self) -> &SiitConfig<N> {
        &self.config
    }

    /// Translates the IPv4 packet at `buf[start..start + len]` to IPv6 in place
    /// ([RFC 7915 § 4]); see [`translate_4to6`] for the verdicts.
    ///
    /// [RFC 7915 § 4]: https://www.rfc-editor.org/rfc/rfc7915#section-4
    pub fn translate_4to6(&self, buf: &mut [u8], start: usize, len: usize) -> Verdict {
        translate_4to6(
            &self.config.xlat,
            &SiitMapper(&self.config),
            buf,
            start,
            len,
        )
    }

    /// Translates the IPv6 packet at `buf[start..start + len]` to IPv4 in place
    /// ([RFC 7915 § 5]); see [`translate_6to4`] for the verdicts. A packet hairpinned by an
    /// explicit address mapping comes back as IPv6 ([RFC 7757 Appendix B]).
    ///
    /// [RFC 7915 § 5]: https://www.rfc-editor.org/rfc/rfc7915#section-5
    /// [RFC 7757 Appendix B]: https://www.rfc-editor.org/rfc/rfc7757#appendix-B
    pub fn translate_6to4(&self, buf: &mut [u8], start: usize, len: usize) -> Verdict {
        translate_6to4(
            &self.config.xlat,
            &SiitMapper(&self.config),
            buf,
            start,
            len,
        )
    }

    /// Translates the packet at `buf[start..start + len]` in the direction its version nibble
    /// says.
    pub fn translate(&self, buf: &mut [u8], start: usize, len: usize) -> Verdict {
        match buf.get(start).map(|b| b >> 4) {
            Some(4) => self.translate_4to6(buf, start, len),
            Some(6) => self.translate_6to4(buf, start, len),
            Some(_) => Verdict::Drop(DropReason::BadVersion),
            None => Verdict::Drop(DropReason::Truncated),
        }
    }

    /// The MTU to split a forwarded `packet` for, if it must be split ([RFC 7915 § 4.1],
    /// § 5.1.1): an IPv6 packet with a Fragment header longer than the smaller of
    /// lowest-ipv6-mtu and the IPv6 next-hop MTU, or a DF-clear IPv4 packet longer than the
    /// IPv4 next-hop MTU. Pass the result to [`Fragments::new`].
    ///
    /// [RFC 7915 § 4.1]: https://www.rfc-editor.org/rfc/rfc7915#section-4.1
    pub fn fragment_mtu(&self, packet: &[u8]) -> Option<u16> {
        let x = &self.config.xlat;
        match packet.first().map(|b| b >> 4) {
            Some(6) => {
                let mtu = x.ipv6_fragment_size();
                (packet.len() > usize::from(mtu) && packet.get(6) == Some(&44)).then_some(mtu)
            }
            Some(4) => {
                let df = packet.get(6).is_some_and(|b| b & 0x40 != 0);
                (packet.len() > usize::from(x.ipv4_mtu) && !df).then_some(x.ipv4_mtu)
            }
            _ => None,
        }
    }
}
