//! TCP and UDP header layout ([RFC 9293 § 3.1], [RFC 768]) and flow-key extraction.
//!
//! [RFC 9293 § 3.1]: https://www.rfc-editor.org/rfc/rfc9293#section-3.1
//! [RFC 768]: https://www.rfc-editor.org/rfc/rfc768

use super::{ParseError, Transport, icmp, need};
use crate::flow::{Endpoint, FlowKey, IpAddress, L4Proto};

bitflags::bitflags! {
    /// The TCP header flags ([RFC 9293 § 3.1], [RFC 3168] for ECE and CWR).
    ///
    /// [RFC 9293 § 3.1]: https://www.rfc-editor.org/rfc/rfc9293#section-3.1
    /// [RFC 3168]: https://www.rfc-editor.org/rfc/rfc3168
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct TcpFlags: u8 {
        /// No more data from sender.
        const FIN = 0x01;
        /// Synchronize sequence numbers.
        const SYN = 0x02;
        /// Reset the connection.
        const RST = 0x04;
        /// Push function.
        const PSH = 0x08;
        /// Acknowledgment field significant.
        const ACK = 0x10;
        /// Urgent pointer field significant.
        const URG = 0x20;
        /// ECN-Echo.
        const ECE = 0x40;
        /// Congestion Window Reduced.
        const CWR = 0x80;
    }
}

/// TCP header field offsets, relative to the start of the TCP header.
pub mod tcp {
    use core::ops::Range;
    /// Source port.
    pub const SRC_PORT: Range<usize> = 0..2;
    /// Destination port.
    pub const DST_PORT: Range<usize> = 2..4;
    /// Sequence number.
    pub const SEQ: Range<usize> = 4..8;
    /// Acknowledgment number.
    pub const ACK: Range<usize> = 8..12;
    /// Data offset (high nibble).
    pub const DATA_OFFSET: usize = 12;
    /// Flags.
    pub const FLAGS: usize = 13;
    /// Checksum.
    pub const CHECKSUM: Range<usize> = 16..18;
    /// Length of a header without options.
    pub const HEADER_LEN: usize = 20;
}

/// UDP header field offsets, relative to the start of the UDP header.
pub mod udp {
    use core::ops::Range;
    /// Source port.
    pub const SRC_PORT: Range<usize> = 0..2;
    /// Destination port.
    pub const DST_PORT: Range<usize> = 2..4;
    /// Length of header and data.
    pub const LENGTH: Range<usize> = 4..6;
    /// Checksum (0: none, IPv4 only).
    pub const CHECKSUM: Range<usize> = 6..8;
    /// Header length.
    pub const HEADER_LEN: usize = 8;
}

#[inline]
pub(super) fn be16(buf: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([buf[at], buf[at + 1]])
}

/// The transport part of an outer packet whose transport header starts at `l4_at` and whose IP
/// packet ends at `end` (`end <= buf.len()`). ICMP errors are handed to `quote`.
#[inline]
pub(super) fn outer<A: IpAddress>(
    buf: &[u8],
    l4_at: usize,
    end: usize,
    protocol: u8,
    src: A,
    dst: A,
    quote: impl FnOnce(&[u8], usize) -> Result<super::Quote<A>, ParseError>,
) -> Result<Transport<A>, ParseError> {
    let buf = &buf[..end];
    let flow = |proto, sport, dport, tcp_flags| Transport::Flow {
        key: FlowKey::new(proto, Endpoint::new(src, sport), Endpoint::new(dst, dport)),
        tcp_flags,
    };
    match protocol {
        6 => {
            let t: &[u8; tcp::HEADER_LEN] =
                buf.get(l4_at..)
                    .and_then(<[u8]>::first_chunk)
                    .ok_or(ParseError::Truncated {
                        need: l4_at + tcp::HEADER_LEN,
                        got: buf.len(),
                    })?;
            let data_offset = usize::from(t[tcp::DATA_OFFSET] >> 4) * 4;
            if data_offset < tcp::HEADER_LEN {
                return Err(ParseError::BadHeaderLength);
            }
            need(buf, l4_at + data_offset)?;
            let flags = TcpFlags::from_bits_retain(t[tcp::FLAGS]);
            let (sport, dport) = (
                u16::from_be_bytes([t[0], t[1]]),
                u16::from_be_bytes([t[2], t[3]]),
            );
            Ok(flow(L4Proto::Tcp, sport, dport, flags))
        }
        17 => {
            need(buf, l4_at + udp::HEADER_LEN)?;
            Ok(flow(
                L4Proto::Udp,
                be16(buf, l4_at),
                be16(buf, l4_at + 2),
                TcpFlags::empty(),
            ))
        }
        p if p == A::ICMP_PROTOCOL => {
            need(buf, l4_at + icmp::HEADER_LEN)?;
            let (icmp_type, code) = (buf[l4_at], buf[l4_at + 1]);
            let id = be16(buf, l4_at + icmp::IDENTIFIER.start);
            match icmp::classify::<A>(icmp_type) {
                icmp::IcmpKind::Request => Ok(flow(L4Proto::Icmp, id, 0, TcpFlags::empty())),
                icmp::IcmpKind::Reply => Ok(flow(L4Proto::Icmp, 0, id, TcpFlags::empty())),
                icmp::IcmpKind::Error => {
                    let quote = quote(buf, l4_at + icmp::HEADER_LEN)?;
                    Ok(Transport::IcmpError {
                        icmp_type,
                        code,
                        quote,
                    })
                }
                icmp::IcmpKind::Other => Ok(Transport::Other),
            }
        }
        _ => Ok(Transport::Other),
    }
}

/// The key of a quoted packet's transport header at `l4_at`. Quotes are truncated as a rule, so
/// only the first 8 bytes are required ([RFC 792]): ports, or ICMP type and identifier.
///
/// [RFC 792]: https://www.rfc-editor.org/rfc/rfc792
pub(super) fn quoted_key<A: IpAddress>(
    buf: &[u8],
    l4_at: usize,
    protocol: u8,
    src: A,
    dst: A,
) -> Result<FlowKey<A>, ParseError> {
    if buf.len() < l4_at + 8 {
        return Err(ParseError::UnkeyableQuote);
    }
    let key = |proto, sport, dport| {
        FlowKey::new(proto, Endpoint::new(src, sport), Endpoint::new(dst, dport))
    };
    match protocol {
        6 => Ok(key(L4Proto::Tcp, be16(buf, l4_at), be16(buf, l4_at + 2))),
        17 => Ok(key(L4Proto::Udp, be16(buf, l4_at), be16(buf, l4_at + 2))),
        p if p == A::ICMP_PROTOCOL => {
            let id = be16(buf, l4_at + icmp::IDENTIFIER.start);
            match icmp::classify::<A>(buf[l4_at]) {
                icmp::IcmpKind::Request => Ok(key(L4Proto::Icmp, id, 0)),
                icmp::IcmpKind::Reply => Ok(key(L4Proto::Icmp, 0, id)),
                icmp::IcmpKind::Error => Err(ParseError::NestedIcmpError),
                icmp::IcmpKind::Other => Err(ParseError::UnkeyableQuote),
            }
        }
        _ => Err(ParseError::UnkeyableQuote),
    }
}
