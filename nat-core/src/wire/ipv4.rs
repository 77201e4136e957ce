//! IPv4 ([RFC 791]): header layout and parse. Options are honoured through the IHL: the
//! transport header starts where the IHL says, whatever options come before it.
//!
//! [RFC 791]: https://www.rfc-editor.org/rfc/rfc791

use super::{Fragment, PacketInfo, ParseError, Quote, need, transport};
use core::net::Ipv4Addr;
use core::ops::Range;
use smoltcp::wire::Ipv4Packet;

/// Version and IHL.
pub const VER_IHL: usize = 0;
/// DSCP and ECN (the old TOS).
pub const TOS: usize = 1;
/// Total length.
pub const LENGTH: Range<usize> = 2..4;
/// Identification.
pub const IDENT: Range<usize> = 4..6;
/// Flags and fragment offset.
pub const FLAGS_FRAG: Range<usize> = 6..8;
/// Time to live.
pub const TTL: usize = 8;
/// Protocol.
pub const PROTOCOL: usize = 9;
/// Header checksum.
pub const CHECKSUM: Range<usize> = 10..12;
/// Source address.
pub const SRC_ADDR: Range<usize> = 12..16;
/// Destination address.
pub const DST_ADDR: Range<usize> = 16..20;
/// Length of a header without options.
pub const HEADER_LEN: usize = DST_ADDR.end;
/// The Don't Fragment flag within the flags/offset word.
pub const FLAG_DF: u16 = 0x4000;
/// The More Fragments flag within the flags/offset word.
pub const FLAG_MF: u16 = 0x2000;

pub(crate) fn addr(buf: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(buf[at], buf[at + 1], buf[at + 2], buf[at + 3])
}

/// Parses an IPv4 packet at the start of `buf`. The buffer may hold trailing bytes beyond the
/// total length (link padding); they are ignored.
pub fn parse_ipv4(buf: &[u8]) -> Result<PacketInfo<Ipv4Addr>, ParseError> {
    // One bounds check for the whole fixed header, then plain array reads: the hot path of
    // every translator starts here.
    let h: &[u8; HEADER_LEN] = buf.first_chunk().ok_or(ParseError::Truncated {
        need: HEADER_LEN,
        got: buf.len(),
    })?;
    let version = h[VER_IHL] >> 4;
    if version != 4 {
        return Err(ParseError::BadVersion(version));
    }
    let header_len = usize::from(h[VER_IHL] & 0x0f) * 4;
    let total_len = usize::from(u16::from_be_bytes([h[2], h[3]]));
    if header_len < HEADER_LEN || header_len > total_len {
        return Err(ParseError::BadHeaderLength);
    }
    if total_len > buf.len() {
        return Err(ParseError::BadTotalLength);
    }
    // The same checks as smoltcp's `Ipv4Packet::check_len`: its view is valid on this buffer.
    debug_assert!(Ipv4Packet::new_checked(&buf[..total_len]).is_ok());
    let src = Ipv4Addr::new(h[12], h[13], h[14], h[15]);
    let dst = Ipv4Addr::new(h[16], h[17], h[18], h[19]);
    let protocol = h[PROTOCOL];
    let flags_frag = u16::from_be_bytes([h[6], h[7]]);
    let more = flags_frag & FLAG_MF != 0;
    let offset = (flags_frag & 0x1fff) << 3;
    let fragment = (more || offset != 0).then(|| Fragment {
        id: u32::from(u16::from_be_bytes([h[4], h[5]])),
        offset,
        more,
        header_at: None,
    });
    let transport = if offset != 0 {
        super::Transport::LaterFragment
    } else {
        transport::outer(buf, header_len, total_len, protocol, src, dst, parse_quote)?
    };
    Ok(PacketInfo {
        src,
        dst,
        total_len,
        l4_at: header_len,
        protocol,
        hop_limit: h[TTL],
        fragment,
        transport,
    })
}

/// Parses the IPv4 packet quoted at `at` in an ICMPv4 error. Its length fields are not held
/// against the buffer (quotes are truncated), but its IHL and 8 transport bytes must be there.
pub(crate) fn parse_quote(buf: &[u8], at: usize) -> Result<Quote<Ipv4Addr>, ParseError> {
    need(buf, at + HEADER_LEN).map_err(|_| ParseError::UnkeyableQuote)?;
    let h = &buf[at..];
    if h[VER_IHL] >> 4 != 4 {
        return Err(ParseError::UnkeyableQuote);
    }
    let ihl = usize::from(h[VER_IHL] & 0x0f) * 4;
    let frag = u16::from_be_bytes([h[6], h[7]]) & 0x1fff;
    if ihl < HEADER_LEN || frag != 0 {
        return Err(ParseError::UnkeyableQuote);
    }
    let protocol = h[PROTOCOL];
    let (src, dst) = (addr(h, SRC_ADDR.start), addr(h, DST_ADDR.start));
    let l4_at = at + ihl;
    let key = transport::quoted_key(buf, l4_at, protocol, src, dst)?;
    Ok(Quote {
        ip_at: at,
        l4_at,
        protocol,
        key,
    })
}
