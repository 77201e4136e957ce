//! IPv6 ([RFC 8200]): header layout, the extension-header walk and parse.
//!
//! [RFC 8200]: https://www.rfc-editor.org/rfc/rfc8200

use super::{Fragment, PacketInfo, ParseError, Quote, need, transport};
use core::net::Ipv6Addr;
use core::ops::Range;
use smoltcp::wire::Ipv6Packet;

/// Version, traffic class and flow label.
pub const VER_TC_FLOW: Range<usize> = 0..4;
/// Payload length.
pub const PAYLOAD_LEN: Range<usize> = 4..6;
/// Next header.
pub const NEXT_HEADER: usize = 6;
/// Hop limit.
pub const HOP_LIMIT: usize = 7;
/// Source address.
pub const SRC_ADDR: Range<usize> = 8..24;
/// Destination address.
pub const DST_ADDR: Range<usize> = 24..40;
/// Length of the fixed header.
pub const HEADER_LEN: usize = DST_ADDR.end;

/// Next-header values of the extension headers the walk steps over ([RFC 8200 § 4]).
///
/// [RFC 8200 § 4]: https://www.rfc-editor.org/rfc/rfc8200#section-4
pub mod next_header {
    /// Hop-by-Hop Options.
    pub const HOP_BY_HOP: u8 = 0;
    /// Routing.
    pub const ROUTING: u8 = 43;
    /// Fragment.
    pub const FRAGMENT: u8 = 44;
    /// Destination Options.
    pub const DESTINATION_OPTIONS: u8 = 60;
    /// No Next Header.
    pub const NO_NEXT_HEADER: u8 = 59;
}

/// Length of the Fragment header ([RFC 8200 § 4.5]).
///
/// [RFC 8200 § 4.5]: https://www.rfc-editor.org/rfc/rfc8200#section-4.5
pub const FRAGMENT_HEADER_LEN: usize = 8;

/// The result of walking the extension headers between the fixed header and the upper layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtensionWalk {
    /// Offset of the upper-layer header (or of the first header the walk does not know).
    pub upper_at: usize,
    /// Its next-header value.
    pub protocol: u8,
    /// The Fragment header, if one was passed.
    pub fragment: Option<Fragment>,
    /// Segments Left of a Routing header, if one was passed ([RFC 7915 § 5.1] drops packets
    /// whose value is not zero).
    ///
    /// [RFC 7915 § 5.1]: https://www.rfc-editor.org/rfc/rfc7915#section-5.1
    pub segments_left: Option<u8>,
}

impl ExtensionWalk {
    /// The most extension headers walked before giving up: bounds the work a packet can cause.
    pub const MAX_HEADERS: usize = 8;

    /// Walks the extension headers of the packet at the start of `buf` (`end` is where the
    /// packet ends), beginning with `first` as the next header of the fixed header.
    pub fn walk(buf: &[u8], first: u8, end: usize) -> Result<ExtensionWalk, ParseError> {
        let buf = &buf[..end.min(buf.len())];
        let mut at = HEADER_LEN;
        let mut protocol = first;
        let mut walk = ExtensionWalk {
            upper_at: at,
            protocol,
            fragment: None,
            segments_left: None,
        };
        for _ in 0..=Self::MAX_HEADERS {
            match protocol {
                next_header::HOP_BY_HOP
                | next_header::ROUTING
                | next_header::DESTINATION_OPTIONS => {
                    need(buf, at + 8)?;
                    let len = (usize::from(buf[at + 1]) + 1) * 8;
                    need(buf, at + len)?;
                    if protocol == next_header::ROUTING {
                        walk.segments_left = Some(buf[at + 3]);
                    }
                    protocol = buf[at];
                    at += len;
                }
                next_header::FRAGMENT => {
                    need(buf, at + FRAGMENT_HEADER_LEN)?;
                    let off_flags = u16::from_be_bytes([buf[at + 2], buf[at + 3]]);
                    walk.fragment = Some(Fragment {
                        id: u32::from_be_bytes([
                            buf[at + 4],
                            buf[at + 5],
                            buf[at + 6],
                            buf[at + 7],
                        ]),
                        offset: off_flags & !0x7,
                        more: off_flags & 1 != 0,
                        header_at: Some(at),
                    });
                    protocol = buf[at];
                    at += FRAGMENT_HEADER_LEN;
                    if walk.fragment.is_some_and(|f| !f.is_first()) {
                        // What follows is payload, not a header.
                        break;
                    }
                }
                _ => {
                    walk.upper_at = at;
                    walk.protocol = protocol;
                    return Ok(walk);
                }
            }
        }
        walk.upper_at = at;
        walk.protocol = protocol;
        if walk.fragment.is_some_and(|f| !f.is_first()) {
            Ok(walk)
        } else {
            Err(ParseError::TooManyExtensionHeaders)
        }
    }
}

pub(crate) fn addr(buf: &[u8], at: usize) -> Ipv6Addr {
    let mut o = [0u8; 16];
    o.copy_from_slice(&buf[at..at + 16]);
    Ipv6Addr::from(o)
}

/// Parses an IPv6 packet at the start of `buf`. Bytes beyond the payload length are ignored. A
/// jumbogram (payload length 0 with a Hop-by-Hop jumbo option) is not supported and parses as
/// a packet of no payload.
pub fn parse_ipv6(buf: &[u8]) -> Result<PacketInfo<Ipv6Addr>, ParseError> {
    need(buf, HEADER_LEN)?;
    let version = buf[0] >> 4;
    if version != 6 {
        return Err(ParseError::BadVersion(version));
    }
    let ip = Ipv6Packet::new_unchecked(buf);
    let total_len = HEADER_LEN + usize::from(ip.payload_len());
    if total_len > buf.len() {
        return Err(ParseError::BadTotalLength);
    }
    // From here on smoltcp's check_len holds; its accessors cannot panic.
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let walk = ExtensionWalk::walk(buf, u8::from(ip.next_header()), total_len)?;
    let transport = if walk.fragment.is_some_and(|f| !f.is_first()) {
        super::Transport::LaterFragment
    } else {
        transport::outer(
            buf,
            walk.upper_at,
            total_len,
            walk.protocol,
            src,
            dst,
            parse_quote,
        )?
    };
    Ok(PacketInfo {
        src,
        dst,
        total_len,
        l4_at: walk.upper_at,
        protocol: walk.protocol,
        hop_limit: ip.hop_limit(),
        fragment: walk.fragment,
        transport,
    })
}

/// Parses the IPv6 packet quoted at `at` in an ICMPv6 error; its payload length is not held
/// against the buffer (quotes are truncated), but its extension headers and 8 transport bytes
/// must be there.
pub(crate) fn parse_quote(buf: &[u8], at: usize) -> Result<Quote<Ipv6Addr>, ParseError> {
    need(buf, at + HEADER_LEN).map_err(|_| ParseError::UnkeyableQuote)?;
    let h = &buf[at..];
    if h[0] >> 4 != 6 {
        return Err(ParseError::UnkeyableQuote);
    }
    let walk = match ExtensionWalk::walk(h, h[NEXT_HEADER], h.len()) {
        Ok(w) if w.fragment.is_none_or(|f| f.is_first()) => w,
        Ok(_) | Err(ParseError::Truncated { .. }) => return Err(ParseError::UnkeyableQuote),
        Err(e) => return Err(e),
    };
    let (src, dst) = (addr(h, SRC_ADDR.start), addr(h, DST_ADDR.start));
    let l4_at = at + walk.upper_at;
    let key = transport::quoted_key(buf, l4_at, walk.protocol, src, dst)?;
    Ok(Quote {
        ip_at: at,
        l4_at,
        protocol: walk.protocol,
        key,
    })
}
