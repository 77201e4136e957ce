//! The ICMP errors a translator owes the sender of a packet it does not forward: Time Exceeded
//! ([RFC 7915 § 4.1], § 5.1), Fragmentation Needed and Packet Too Big (§ 1.4, § 4.1), Source
//! Route Failed and Parameter Problem (§ 4.1, § 5.1), and the default errors of § 4.4 and § 5.4.
//!
//! The error is written into the caller's buffer in front of the packet, which becomes its quote
//! (up to 576 bytes in all for ICMPv4, [RFC 1812 § 4.3.2.3]; 1280 for ICMPv6,
//! [RFC 4443 § 2.4]). No error is sent about an ICMP error, a later IPv4 fragment, or a packet
//! whose source is not a unicast address.
//!
//! [RFC 7915 § 4.1]: https://www.rfc-editor.org/rfc/rfc7915#section-4.1
//! [RFC 1812 § 4.3.2.3]: https://www.rfc-editor.org/rfc/rfc1812#section-4.3.2.3
//! [RFC 4443 § 2.4]: https://www.rfc-editor.org/rfc/rfc4443#section-2.4

use super::config::XlatConfig;
use super::header::{
    PROTO_ICMP, PROTO_ICMPV6, V4_LEN, V4Header, V4Out, V6_LEN, place, write_v4, write_v6,
};
use super::mapping::{is_illegal_ipv4_source, mix};
use crate::checksum;
use crate::verdict::{DropReason, Verdict};
use core::net::Ipv6Addr;

/// Largest ICMPv4 error the translator emits ([RFC 1812 § 4.3.2.3]).
///
/// [RFC 1812 § 4.3.2.3]: https://www.rfc-editor.org/rfc/rfc1812#section-4.3.2.3
pub(crate) const ICMPV4_ERROR_MAX: usize = 576;
/// Largest ICMPv6 error the translator emits ([RFC 4443 § 2.4] (c)).
///
/// [RFC 4443 § 2.4]: https://www.rfc-editor.org/rfc/rfc4443#section-2.4
pub(crate) const ICMPV6_ERROR_MAX: usize = 1280;
/// Hop limit and TTL of generated errors.
const HOP_LIMIT: u8 = 64;

/// An ICMP error to send back: type, code, and the 4 bytes after the checksum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Owed {
    pub(crate) icmp_type: u8,
    pub(crate) code: u8,
    pub(crate) rest: [u8; 4],
    /// The drop reason if the error cannot or may not be sent.
    pub(crate) reason: DropReason,
}

impl Owed {
    pub(crate) const fn new(icmp_type: u8, code: u8, rest: [u8; 4], reason: DropReason) -> Self {
        Owed {
            icmp_type,
            code,
            rest,
            reason,
        }
    }
}

/// Whether the transport header at `l4` of a packet of protocol `proto` is an ICMP error
/// (ICMPv4 types 3, 4, 5, 11, 12; ICMPv6 types below 128).
pub(crate) fn is_icmp_error(proto: u8, l4: Option<&u8>) -> bool {
    match (proto, l4) {
        (PROTO_ICMP, Some(&t)) => matches!(t, 3 | 4 | 5 | 11 | 12),
        (PROTO_ICMPV6, Some(&t)) => t < 128,
        _ => false,
    }
}

/// Answers the IPv4 packet `buf[start..start + total]` (header `h`, already validated) with an
/// ICMPv4 error, or drops it with the error's reason when errors are off, the translator has
/// no IPv4 address, or the packet must not be answered ([RFC 1812 § 4.3.2.7]).
///
/// [RFC 1812 § 4.3.2.7]: https://www.rfc-editor.org/rfc/rfc1812#section-4.3.2.7
pub(crate) fn icmpv4_error(
    cfg: &XlatConfig,
    buf: &mut [u8],
    start: usize,
    total: usize,
    h: &V4Header,
    owed: Owed,
) -> Verdict {
    let drop = Verdict::Drop(owed.reason);
    let Some(own) = cfg.own_ipv4 else { return drop };
    if !cfg.send_icmp_errors
        || h.offset != 0
        || is_illegal_ipv4_source(h.src)
        || is_icmp_error(h.proto, buf.get(start + h.ihl))
    {
        return drop;
    }
    let quote = total.min(ICMPV4_ERROR_MAX - V4_LEN - 8);
    let hdr = V4_LEN + 8;
    let Some(at) = place(buf, start, quote, hdr) else {
        return drop;
    };
    let len = hdr + quote;
    write_v4(
        &mut buf[at..],
        &V4Out {
            tos: 0,
            total_len: len as u16,
            ident: mix(cfg.seed, &[h.src.to_bits(), u32::from(h.ident), 1]) as u16,
            df: false,
            mf: false,
            offset: 0,
            ttl: HOP_LIMIT,
            proto: PROTO_ICMP,
            src: own,
            dst: h.src,
        },
    );
    let icmp = &mut buf[at + V4_LEN..at + len];
    icmp[0] = owed.icmp_type;
    icmp[1] = owed.code;
    icmp[4..8].copy_from_slice(&owed.rest);
    let _ = checksum::fill(icmp, 2, 0);
    Verdict::Reply { start: at, len }
}

/// Answers the IPv6 packet `buf[start..start + total]` (source `src`, next header `proto`,
/// transport header at `l4_at`) with an ICMPv6 error, or drops it with the error's reason when
/// errors are off, the translator has no IPv6 address, or the packet must not be answered
/// ([RFC 4443 § 2.4] (e)).
///
/// [RFC 4443 § 2.4]: https://www.rfc-editor.org/rfc/rfc4443#section-2.4
#[allow(clippy::too_many_arguments)]
pub(crate) fn icmpv6_error(
    cfg: &XlatConfig,
    buf: &mut [u8],
    start: usize,
    total: usize,
    src: Ipv6Addr,
    proto: u8,
    l4_at: usize,
    owed: Owed,
) -> Verdict {
    let drop = Verdict::Drop(owed.reason);
    let Some(own) = cfg.own_ipv6 else { return drop };
    if !cfg.send_icmp_errors
        || src.is_unspecified()
        || src.is_multicast()
        || is_icmp_error(proto, buf.get(start + l4_at))
    {
        return drop;
    }
    let quote = total.min(ICMPV6_ERROR_MAX - V6_LEN - 8);
    let hdr = V6_LEN + 8;
    let Some(at) = place(buf, start, quote, hdr) else {
        return drop;
    };
    let len = hdr + quote;
    let plen = (8 + quote) as u16;
    write_v6(&mut buf[at..], 0, plen, PROTO_ICMPV6, HOP_LIMIT, own, src);
    let icmp = &mut buf[at + V6_LEN..at + len];
    icmp[0] = owed.icmp_type;
    icmp[1] = owed.code;
    icmp[4..8].copy_from_slice(&owed.rest);
    let pseudo = checksum::pseudo_header_v6(own, src, PROTO_ICMPV6, u32::from(plen));
    let _ = checksum::fill(icmp, 2, pseudo);
    Verdict::Reply { start: at, len }
}
