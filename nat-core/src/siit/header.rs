//! IP header reading and writing for the translation of [RFC 7915 § 4.1] and [§ 5.1], and the
//! transport-layer checksum updates of § 4.5 and § 5.5.
//!
//! Headers are read into plain structs before anything is written, because the translated
//! headers are written over the bytes of the original ones. Reads check every bound, so that
//! any byte string is either parsed or refused with a [`DropReason`].
//!
//! [RFC 7915 § 4.1]: https://www.rfc-editor.org/rfc/rfc7915#section-4.1
//! [§ 5.1]: https://www.rfc-editor.org/rfc/rfc7915#section-5.1

use crate::checksum::{self, Delta};
use crate::verdict::DropReason;
use crate::wire::ipv6::next_header as nh;
use crate::wire::{ipv4, ipv6, tcp, udp};
use core::net::{Ipv4Addr, Ipv6Addr};

/// ICMPv4 protocol number.
pub(crate) const PROTO_ICMP: u8 = 1;
/// ICMPv6 next header.
pub(crate) const PROTO_ICMPV6: u8 = 58;
/// TCP.
pub(crate) const PROTO_TCP: u8 = 6;
/// UDP.
pub(crate) const PROTO_UDP: u8 = 17;
/// IPv4 header length without options.
pub(crate) const V4_LEN: usize = ipv4::HEADER_LEN;
/// IPv6 fixed header length.
pub(crate) const V6_LEN: usize = ipv6::HEADER_LEN;
/// IPv6 Fragment header length.
pub(crate) const FRAG_LEN: usize = ipv6::FRAGMENT_HEADER_LEN;

/// The fields of an IPv4 header that a translator reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct V4Header {
    pub(crate) ihl: usize,
    pub(crate) tos: u8,
    pub(crate) total_len: usize,
    pub(crate) ident: u16,
    pub(crate) df: bool,
    pub(crate) mf: bool,
    /// Fragment offset in bytes.
    pub(crate) offset: u16,
    pub(crate) ttl: u8,
    pub(crate) proto: u8,
    pub(crate) src: Ipv4Addr,
    pub(crate) dst: Ipv4Addr,
}

impl V4Header {
    /// Reads the header at the start of `b` (options included); the total length is not held
    /// against `b`, so that quoted headers parse too.
    pub(crate) fn read(b: &[u8]) -> Result<V4Header, DropReason> {
        let h = b.get(..V4_LEN).ok_or(DropReason::Truncated)?;
        if h[0] >> 4 != 4 {
            return Err(DropReason::BadVersion);
        }
        let ihl = usize::from(h[0] & 0x0f) * 4;
        if ihl < V4_LEN {
            return Err(DropReason::BadHeaderLength);
        }
        if b.len() < ihl {
            return Err(DropReason::Truncated);
        }
        let ff = u16::from_be_bytes([h[6], h[7]]);
        Ok(V4Header {
            ihl,
            tos: h[ipv4::TOS],
            total_len: usize::from(u16::from_be_bytes([h[2], h[3]])),
            ident: u16::from_be_bytes([h[4], h[5]]),
            df: ff & ipv4::FLAG_DF != 0,
            mf: ff & ipv4::FLAG_MF != 0,
            offset: (ff & 0x1fff) << 3,
            ttl: h[ipv4::TTL],
            proto: h[ipv4::PROTOCOL],
            src: Ipv4Addr::new(h[12], h[13], h[14], h[15]),
            dst: Ipv4Addr::new(h[16], h[17], h[18], h[19]),
        })
    }

    /// Whether this is a fragment (MF set or a non-zero offset).
    pub(crate) const fn is_fragment(&self) -> bool {
        self.mf || self.offset != 0
    }
}

/// The IPv6 Fragment header ([RFC 8200 § 4.5]).
///
/// [RFC 8200 § 4.5]: https://www.rfc-editor.org/rfc/rfc8200#section-4.5
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FragHeader {
    /// Offset of the Fragment header from the start of the packet.
    pub(crate) at: usize,
    pub(crate) id: u32,
    /// Fragment offset in bytes.
    pub(crate) offset: u16,
    pub(crate) more: bool,
}

impl FragHeader {
    /// A real fragment, as opposed to an atomic one (offset 0, M clear).
    pub(crate) const fn is_fragmented(&self) -> bool {
        self.more || self.offset != 0
    }
}

/// The fields of an IPv6 header and its extension headers that a translator reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct V6Header {
    pub(crate) traffic_class: u8,
    pub(crate) payload_len: usize,
    pub(crate) hop_limit: u8,
    pub(crate) src: Ipv6Addr,
    pub(crate) dst: Ipv6Addr,
    /// Offset of the upper-layer header (or of the payload of a later fragment).
    pub(crate) upper_at: usize,
    /// The final next header.
    pub(crate) proto: u8,
    pub(crate) frag: Option<FragHeader>,
    /// Offset of the Segments Left byte of a Routing header whose Segments Left is not zero.
    pub(crate) segments_left_at: Option<usize>,
    /// An extension header follows the Fragment header ([RFC 7915 § 5.1.1]).
    ///
    /// [RFC 7915 § 5.1.1]: https://www.rfc-editor.org/rfc/rfc7915#section-5.1.1
    pub(crate) ext_after_frag: bool,
}

/// The most extension headers walked: bounds the work one packet can cause.
const MAX_EXTENSION_HEADERS: usize = 8;

/// Next-header values that are extension headers for the rule of [RFC 7915 § 5.1.1] ("except
/// ESP, but including the Authentication Header"): HBH, Routing, Fragment, Destination
/// Options, AH, Mobility, HIP and Shim6.
///
/// [RFC 7915 § 5.1.1]: https://www.rfc-editor.org/rfc/rfc7915#section-5.1.1
pub(crate) const fn is_extension_header(n: u8) -> bool {
    matches!(n, 0 | 43 | 44 | 51 | 60 | 135 | 139 | 140)
}

impl V6Header {
    /// Reads the header at the start of `b` and walks its extension headers up to `end` (the
    /// end of the packet, or of the quote for a quoted packet). Every header walked must be
    /// complete.
    pub(crate) fn read(b: &[u8], end: usize) -> Result<V6Header, DropReason> {
        let end = end.min(b.len());
        let h = b.get(..V6_LEN).ok_or(DropReason::Truncated)?;
        if end < V6_LEN {
            return Err(DropReason::Truncated);
        }
        if h[0] >> 4 != 6 {
            return Err(DropReason::BadVersion);
        }
        let mut out = V6Header {
            traffic_class: (h[0] << 4) | (h[1] >> 4),
            payload_len: usize::from(u16::from_be_bytes([h[4], h[5]])),
            hop_limit: h[ipv6::HOP_LIMIT],
            src: ipv6_at(h, ipv6::SRC_ADDR.start),
            dst: ipv6_at(h, ipv6::DST_ADDR.start),
            upper_at: V6_LEN,
            proto: h[ipv6::NEXT_HEADER],
            frag: None,
            segments_left_at: None,
            ext_after_frag: false,
        };
        let b = &b[..end];
        let mut at = V6_LEN;
        for _ in 0..=MAX_EXTENSION_HEADERS {
            match out.proto {
                nh::HOP_BY_HOP | nh::ROUTING | nh::DESTINATION_OPTIONS => {
                    let e = b.get(at..at + 8).ok_or(DropReason::Truncated)?;
                    let len = (usize::from(e[1]) + 1) * 8;
                    if b.len() < at + len {
                        return Err(DropReason::Truncated);
                    }
                    if out.frag.is_some() {
                        out.ext_after_frag = true;
                    }
                    if out.proto == nh::ROUTING && e[3] != 0 && out.segments_left_at.is_none() {
                        out.segments_left_at = Some(at + 3);
                    }
                    out.proto = e[0];
                    at += len;
                }
                nh::FRAGMENT => {
                    let f = b.get(at..at + FRAG_LEN).ok_or(DropReason::Truncated)?;
                    if out.frag.is_some() {
                        out.ext_after_frag = true;
                    }
                    let off = u16::from_be_bytes([f[2], f[3]]);
                    let frag = FragHeader {
                        at,
                        id: u32::from_be_bytes([f[4], f[5], f[6], f[7]]),
                        offset: off & !7,
                        more: off & 1 != 0,
                    };
                    out.frag = Some(frag);
                    out.proto = f[0];
                    at += FRAG_LEN;
                    if frag.offset != 0 {
                        // What follows is payload, not a header.
                        if is_extension_header(out.proto) {
                            out.ext_after_frag = true;
                        }
                        out.upper_at = at;
                        return Ok(out);
                    }
                }
                p => {
                    if out.frag.is_some() && is_extension_header(p) {
                        out.ext_after_frag = true;
                    }
                    out.upper_at = at;
                    return Ok(out);
                }
            }
        }
        Err(DropReason::TooManyExtensionHeaders)
    }

    /// Whether this is a real fragment (not an atomic one).
    pub(crate) fn is_fragmented(&self) -> bool {
        self.frag.is_some_and(|f| f.is_fragmented())
    }

    /// Whether this is a fragment other than the first, which carries no transport header.
    pub(crate) fn is_later_fragment(&self) -> bool {
        self.frag.is_some_and(|f| f.offset != 0)
    }
}

pub(crate) fn ipv6_at(b: &[u8], at: usize) -> Ipv6Addr {
    let mut o = [0u8; 16];
    o.copy_from_slice(&b[at..at + 16]);
    Ipv6Addr::from(o)
}

/// Writes a 40-byte IPv6 header (flow label 0, [RFC 7915 § 4.1]) at the start of `b`.
///
/// [RFC 7915 § 4.1]: https://www.rfc-editor.org/rfc/rfc7915#section-4.1
pub(crate) fn write_v6(
    b: &mut [u8],
    traffic_class: u8,
    payload_len: u16,
    next_header: u8,
    hop_limit: u8,
    src: Ipv6Addr,
    dst: Ipv6Addr,
) {
    b[0] = 0x60 | (traffic_class >> 4);
    b[1] = traffic_class << 4;
    b[2] = 0;
    b[3] = 0;
    b[ipv6::PAYLOAD_LEN].copy_from_slice(&payload_len.to_be_bytes());
    b[ipv6::NEXT_HEADER] = next_header;
    b[ipv6::HOP_LIMIT] = hop_limit;
    b[ipv6::SRC_ADDR].copy_from_slice(&src.octets());
    b[ipv6::DST_ADDR].copy_from_slice(&dst.octets());
}

/// Writes an 8-byte Fragment header at the start of `b`.
pub(crate) fn write_frag(b: &mut [u8], next_header: u8, offset: u16, more: bool, id: u32) {
    b[0] = next_header;
    b[1] = 0;
    b[2..4].copy_from_slice(&((offset & !7) | u16::from(more)).to_be_bytes());
    b[4..8].copy_from_slice(&id.to_be_bytes());
}

/// The fields of an IPv4 header to write.
#[derive(Clone, Copy, Debug)]
pub(crate) struct V4Out {
    pub(crate) tos: u8,
    pub(crate) total_len: u16,
    pub(crate) ident: u16,
    pub(crate) df: bool,
    pub(crate) mf: bool,
    pub(crate) offset: u16,
    pub(crate) ttl: u8,
    pub(crate) proto: u8,
    pub(crate) src: Ipv4Addr,
    pub(crate) dst: Ipv4Addr,
}

/// Writes a 20-byte IPv4 header (no options) with its checksum at the start of `b`.
pub(crate) fn write_v4(b: &mut [u8], h: &V4Out) {
    let mut ff = (h.offset >> 3) & 0x1fff;
    if h.df {
        ff |= ipv4::FLAG_DF;
    }
    if h.mf {
        ff |= ipv4::FLAG_MF;
    }
    let (s, d) = (h.src.to_bits(), h.dst.to_bits());
    let words = [
        0x4500 | u32::from(h.tos),
        u32::from(h.total_len),
        u32::from(h.ident),
        u32::from(ff),
        (u32::from(h.ttl) << 8) | u32::from(h.proto),
        s >> 16,
        s & 0xffff,
        d >> 16,
        d & 0xffff,
    ];
    let c = !checksum::fold(words.iter().sum());
    let mut out = [0u8; V4_LEN];
    out[0] = 0x45;
    out[ipv4::TOS] = h.tos;
    out[ipv4::LENGTH].copy_from_slice(&h.total_len.to_be_bytes());
    out[ipv4::IDENT].copy_from_slice(&h.ident.to_be_bytes());
    out[ipv4::FLAGS_FRAG].copy_from_slice(&ff.to_be_bytes());
    out[ipv4::TTL] = h.ttl;
    out[ipv4::PROTOCOL] = h.proto;
    out[ipv4::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    out[ipv4::SRC_ADDR].copy_from_slice(&h.src.octets());
    out[ipv4::DST_ADDR].copy_from_slice(&h.dst.octets());
    b[..V4_LEN].copy_from_slice(&out);
}

/// The one's-complement sum of two IPv4 addresses: the part of the pseudo-header that changes.
pub(crate) fn addr_sum_v4(src: Ipv4Addr, dst: Ipv4Addr) -> u16 {
    checksum::sum(checksum::sum(0, &src.octets()), &dst.octets())
}

/// The one's-complement sum of two IPv6 addresses: the part of the pseudo-header that changes.
pub(crate) fn addr_sum_v6(src: Ipv6Addr, dst: Ipv6Addr) -> u16 {
    checksum::sum(checksum::sum(0, &src.octets()), &dst.octets())
}

#[inline]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Rewrites the ports of the TCP or UDP header at the start of `l4` (which may be a truncated
/// quote) and updates its checksum by `delta` plus the port changes ([RFC 1624]); a field that
/// is not in `l4` is left alone. A UDP checksum of 0 ("none") stays 0.
///
/// [RFC 1624]: https://www.rfc-editor.org/rfc/rfc1624
pub(crate) fn rewrite_ports(l4: &mut [u8], proto: u8, delta: Delta, sport: u16, dport: u16) {
    let mut d = delta;
    if l4.len() >= 4 {
        let (os, od) = (be16(l4, 0), be16(l4, 2));
        d = d.word(os, sport).word(od, dport);
        l4[tcp::SRC_PORT].copy_from_slice(&sport.to_be_bytes());
        l4[tcp::DST_PORT].copy_from_slice(&dport.to_be_bytes());
    }
    let (at, udp) = match proto {
        PROTO_TCP => (tcp::CHECKSUM.start, false),
        PROTO_UDP => (udp::CHECKSUM.start, true),
        _ => return,
    };
    if l4.len() < at + 2 {
        return;
    }
    let old = be16(l4, at);
    let new = if udp { d.apply_udp(old) } else { d.apply(old) };
    l4[at..at + 2].copy_from_slice(&new.to_be_bytes());
}

/// Rewrites an ICMP Echo header at the start of `l4` to `new_type` (code kept) and identifier
/// `id`, updating its checksum by the type and identifier changes plus `delta` (which adds or
/// removes the ICMPv6 pseudo-header, [RFC 7915 § 4.2], § 5.2).
///
/// [RFC 7915 § 4.2]: https://www.rfc-editor.org/rfc/rfc7915#section-4.2
pub(crate) fn rewrite_echo(l4: &mut [u8], new_type: u8, id: u16, delta: Delta) {
    if l4.len() < 2 {
        return;
    }
    let old_tc = be16(l4, 0);
    l4[0] = new_type;
    let mut d = delta.word(old_tc, be16(l4, 0));
    if l4.len() >= 6 {
        d = d.word(be16(l4, 4), id);
        l4[4..6].copy_from_slice(&id.to_be_bytes());
    }
    if l4.len() >= 4 {
        let c = d.apply(be16(l4, 2));
        l4[2..4].copy_from_slice(&c.to_be_bytes());
    }
}

/// The ports (or query identifier) of the transport header at the start of `l4`, in the
/// convention of [`Tuple`](super::Tuple); zeros when absent or truncated.
pub(crate) fn ports(l4: &[u8], proto: u8, icmp: u8) -> (u16, u16) {
    match proto {
        PROTO_TCP | PROTO_UDP if l4.len() >= 4 => (be16(l4, 0), be16(l4, 2)),
        p if p == icmp && l4.len() >= 6 => {
            let id = be16(l4, 4);
            match l4[0] {
                8 | 128 => (id, 0),
                0 | 129 => (0, id),
                _ => (0, 0),
            }
        }
        _ => (0, 0),
    }
}

/// The identifier to write back into a query after mapping: the source port of a request,
/// the destination port of a reply.
pub(crate) fn echo_id(icmp_type: u8, sport: u16, dport: u16) -> u16 {
    if matches!(icmp_type, 8 | 128) {
        sport
    } else {
        dport
    }
}

/// Moves `len` bytes at `from` so that they start at `to`, if `buf` holds the destination.
pub(crate) fn shift(buf: &mut [u8], from: usize, len: usize, to: usize) -> Option<()> {
    if from == to || len == 0 {
        return Some(());
    }
    if to.checked_add(len)? > buf.len() || from + len > buf.len() {
        return None;
    }
    buf.copy_within(from..from + len, to);
    Some(())
}

/// Where a packet whose `body` bytes at `body_at` get a new header of `hdr_len` bytes starts:
/// right before the body if the headroom allows, else at 0 with the body moved right (if the
/// buffer is long enough). `None` when neither fits.
pub(crate) fn place(buf: &mut [u8], body_at: usize, body: usize, hdr_len: usize) -> Option<usize> {
    if body_at >= hdr_len {
        return Some(body_at - hdr_len);
    }
    shift(buf, body_at, body, hdr_len)?;
    Some(0)
}
