//! The packet layer: bounds-checked views of IPv4, IPv6 (with its extension headers), TCP, UDP,
//! ICMPv4 and ICMPv6, and the parse of a packet into what a translator needs: where each header
//! starts, the flow key, the ICMP class and, for an ICMP error, the quoted packet and its key.
//!
//! Outer headers are read through smoltcp's `wire` views after their `check_len`. The packet
//! quoted inside an ICMP error is usually truncated ([RFC 5508 § 4], REQ-3b: the norm, to be
//! accepted), which smoltcp's checked constructors reject, so quotes are read with this module's
//! own bounds checks. After [`parse_ipv4`], [`parse_ipv6`] or [`parse`] succeed, every offset in
//! the result lies inside the buffer that was parsed.
//!
//! [RFC 5508 § 4]: https://www.rfc-editor.org/rfc/rfc5508#section-4

pub mod icmp;
pub mod ipv4;
pub mod ipv6;
mod transport;

pub use icmp::IcmpKind;
pub use ipv4::parse_ipv4;
pub use ipv6::{ExtensionWalk, parse_ipv6};
pub use transport::{TcpFlags, tcp, udp};

use crate::flow::FlowKey;
use core::net::{Ipv4Addr, Ipv6Addr};

/// Why bytes could not be parsed as a packet the translators handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// The buffer ends before a header does.
    Truncated {
        /// Bytes the header needs from the start of the packet.
        need: usize,
        /// Bytes present.
        got: usize,
    },
    /// The IP version nibble is neither the one expected nor any known one.
    BadVersion(u8),
    /// An IPv4 IHL below 5 or beyond the total length, or a TCP data offset below 5.
    BadHeaderLength,
    /// The IP length field claims more bytes than the buffer holds.
    BadTotalLength,
    /// More IPv6 extension headers than [`ExtensionWalk::MAX_HEADERS`] before the upper layer.
    TooManyExtensionHeaders,
    /// An ICMP error quotes another ICMP error ([RFC 5508 § 7.1] never translates those).
    ///
    /// [RFC 5508 § 7.1]: https://www.rfc-editor.org/rfc/rfc5508#section-7.1
    NestedIcmpError,
    /// The packet quoted in an ICMP error has no key: an unknown protocol, a non-first fragment,
    /// or fewer than 8 bytes of its transport header ([RFC 792]'s minimum quote).
    ///
    /// [RFC 792]: https://www.rfc-editor.org/rfc/rfc792
    UnkeyableQuote,
}

impl core::fmt::Display for ParseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ParseError::Truncated { need, got } => {
                write!(f, "truncated packet: need {need} bytes, got {got}")
            }
            ParseError::BadVersion(v) => write!(f, "bad IP version {v}"),
            ParseError::BadHeaderLength => f.write_str("bad header length"),
            ParseError::BadTotalLength => f.write_str("IP length exceeds the buffer"),
            ParseError::TooManyExtensionHeaders => f.write_str("too many IPv6 extension headers"),
            ParseError::NestedIcmpError => f.write_str("ICMP error quoting an ICMP error"),
            ParseError::UnkeyableQuote => f.write_str("ICMP error quote carries no flow key"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ParseError {}

/// Fails with [`ParseError::Truncated`] unless `buf` holds `need` bytes.
#[inline]
pub(crate) fn need(buf: &[u8], need: usize) -> Result<(), ParseError> {
    if buf.len() < need {
        Err(ParseError::Truncated {
            need,
            got: buf.len(),
        })
    } else {
        Ok(())
    }
}

/// Fragment fields of an IPv4 header or an IPv6 Fragment header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fragment {
    /// Identification (16 bits in IPv4, 32 in IPv6).
    pub id: u32,
    /// Fragment offset in bytes.
    pub offset: u16,
    /// The More Fragments flag.
    pub more: bool,
    /// For IPv6: offset of the Fragment header from the start of the packet.
    pub header_at: Option<usize>,
}

impl Fragment {
    /// Whether this is the first fragment, the one that carries the transport header.
    pub const fn is_first(&self) -> bool {
        self.offset == 0
    }
}

/// The packet quoted in an ICMP error ([RFC 792], [RFC 4443 § 2.4] (c)).
///
/// [RFC 792]: https://www.rfc-editor.org/rfc/rfc792
/// [RFC 4443 § 2.4]: https://www.rfc-editor.org/rfc/rfc4443#section-2.4
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quote<A> {
    /// Offset of the quoted IP header from the start of the outer packet.
    pub ip_at: usize,
    /// Offset of the quoted transport header from the start of the outer packet.
    pub l4_at: usize,
    /// The quoted protocol number (final next header for IPv6).
    pub protocol: u8,
    /// The quoted packet's key, as its sender sent it.
    pub key: FlowKey<A>,
}

/// What follows the IP header(s), as far as a translator is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport<A> {
    /// TCP, UDP or an ICMP query: a flow the translators map.
    Flow {
        /// The flow key.
        key: FlowKey<A>,
        /// TCP flags; empty for UDP and ICMP.
        tcp_flags: TcpFlags,
    },
    /// An ICMP error message and the packet it quotes.
    IcmpError {
        /// ICMP type.
        icmp_type: u8,
        /// ICMP code.
        code: u8,
        /// The quoted packet.
        quote: Quote<A>,
    },
    /// A fragment other than the first: no transport header to key on.
    LaterFragment,
    /// A protocol, or an ICMP message type, that carries no flow key.
    Other,
}

/// A parsed IP packet of family `A`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketInfo<A> {
    /// Source address.
    pub src: A,
    /// Destination address.
    pub dst: A,
    /// Length of the packet according to its IP header; never more than the buffer.
    pub total_len: usize,
    /// Offset of the transport header (after IPv4 options or IPv6 extension headers).
    pub l4_at: usize,
    /// Protocol number of the transport header (final next header for IPv6).
    pub protocol: u8,
    /// TTL or hop limit.
    pub hop_limit: u8,
    /// Fragment fields, if the packet is a fragment (IPv4 MF or offset, or an IPv6 Fragment
    /// header, even an atomic one).
    pub fragment: Option<Fragment>,
    /// What follows the IP header(s).
    pub transport: Transport<A>,
}

/// A parsed packet of either family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// An IPv4 packet.
    V4(PacketInfo<Ipv4Addr>),
    /// An IPv6 packet.
    V6(PacketInfo<Ipv6Addr>),
}

/// Parses an IPv4 or IPv6 packet, choosing by the version nibble.
///
/// ```
/// use nat_core::wire::{parse, Parsed, Transport};
/// use nat_core::flow::L4Proto;
/// // An IPv4 UDP datagram 10.0.0.2:5000 -> 203.0.113.2:53 with 4 bytes of payload.
/// let pkt = [
///     0x45, 0, 0, 32, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 2, 203, 0, 113, 2,
///     0x13, 0x88, 0, 53, 0, 12, 0, 0, 1, 2, 3, 4,
/// ];
/// let Ok(Parsed::V4(info)) = parse(&pkt) else { panic!("not IPv4") };
/// let Transport::Flow { key, .. } = info.transport else { panic!("no flow") };
/// assert_eq!(key.proto, L4Proto::Udp);
/// assert_eq!((key.src.port, key.dst.port), (5000, 53));
/// ```
pub fn parse(buf: &[u8]) -> Result<Parsed, ParseError> {
    need(buf, 1)?;
    match buf[0] >> 4 {
        4 => parse_ipv4(buf).map(Parsed::V4),
        6 => parse_ipv6(buf).map(Parsed::V6),
        v => Err(ParseError::BadVersion(v)),
    }
}
