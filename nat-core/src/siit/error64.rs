//! ICMPv6 error → ICMPv4 error ([RFC 7915 § 5.2], [§ 5.3]): the outer header, the ICMP header
//! (type, code, pointer or MTU), the quoted IPv6 packet translated one level deep with its
//! transport checksum updated, the [RFC 4884] extension, the 576-byte limit, and a new ICMPv4
//! checksum without the pseudo-header.
//!
//! [RFC 7915 § 5.2]: https://www.rfc-editor.org/rfc/rfc7915#section-5.2
//! [§ 5.3]: https://www.rfc-editor.org/rfc/rfc7915#section-5.3
//! [RFC 4884]: https://www.rfc-editor.org/rfc/rfc4884

use super::config::XlatConfig;
use super::error46::refill_checksum;
use super::header::{
    PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP, V4_LEN, V4Out, V6_LEN, V6Header, addr_sum_v4,
    addr_sum_v6, echo_id, ports, rewrite_echo, rewrite_ports, write_v4,
};
use super::icmp::{IcmpClass, Translated, frag_needed_mtu_6to4};
use super::mapping::{Mapper4to6, Mapper6to4, Tuple, mix};
use super::quote::{self, QuoteIn, QuoteOut};
use super::reply::ICMPV4_ERROR_MAX;
use super::xlat46;
use super::xlat64::DF_THRESHOLD;
use crate::checksum::{self, Delta};
use crate::verdict::{DropReason, Verdict};

/// Translates the ICMPv6 error at `buf[start..]` (outer header `h`, ICMP header already mapped
/// to `t`) to ICMPv4.
pub(crate) fn translate<M: Mapper6to4 + Mapper4to6>(
    cfg: &XlatConfig,
    mapper: &M,
    buf: &mut [u8],
    start: usize,
    h: &V6Header,
    t: Translated,
) -> Verdict {
    let IcmpClass::Error { extensions, mtu } = t.class else {
        return Verdict::Drop(DropReason::UnsupportedProtocol);
    };
    // No error is sent about an error: an expiring one is dropped.
    if h.hop_limit <= 1 {
        return Verdict::Drop(DropReason::TtlExpired);
    }
    let end = start + V6_LEN + h.payload_len;
    let icmp_at = start + h.upper_at;
    let icmp_len = end - icmp_at;
    let pseudo_in = checksum::pseudo_header_v6(h.src, h.dst, PROTO_ICMPV6, icmp_len as u32);
    let residual = checksum::sum(pseudo_in, &buf[icmp_at..end]);

    let quote_at = icmp_at + 8;
    let ih = match V6Header::read(&buf[quote_at..end], end - quote_at) {
        Ok(ih) => ih,
        Err(_) => return Verdict::Drop(DropReason::UnkeyableQuote),
    };
    let inner_later = ih.is_later_fragment();
    let il4 = &buf[quote_at + ih.upper_at..end];
    let mut inner_echo = None;
    if ih.proto == PROTO_ICMPV6 && !inner_later {
        match il4.first() {
            Some(0..=127) => return Verdict::Drop(DropReason::NestedIcmpError),
            Some(128) => inner_echo = Some(8),
            Some(129) => inner_echo = Some(0),
            Some(_) => return Verdict::Drop(DropReason::UnsupportedProtocol),
            None => {}
        }
    }
    let (sp, dp) = if inner_later {
        (0, 0)
    } else {
        ports(il4, ih.proto, PROTO_ICMPV6)
    };
    let inner = Tuple {
        proto: ih.proto,
        src: ih.src,
        dst: ih.dst,
        src_port: sp,
        dst_port: dp,
    };
    let m = match mapper.error_6to4(h.src, h.dst, &inner) {
        Ok(m) => m,
        Err(e) => return Verdict::Drop(e),
    };

    let mut header = t.header;
    if mtu {
        let field = u32::from_be_bytes([
            buf[icmp_at + 4],
            buf[icmp_at + 5],
            buf[icmp_at + 6],
            buf[icmp_at + 7],
        ]);
        let v = frag_needed_mtu_6to4(field, cfg.ipv4_mtu, cfg.ipv6_mtu).to_be_bytes();
        header.rest = [0, 0, v[0], v[1]];
    }
    let ipl = if extensions {
        usize::from(buf[icmp_at + 4]) * 8
    } else {
        0
    };
    // The quoted packet's IPv4 Total Length, from its own header (the quote is truncated).
    let Some(itotal) = (ih.payload_len + V6_LEN)
        .checked_sub(ih.upper_at)
        .map(|p| p + V4_LEN)
    else {
        return Verdict::Drop(DropReason::BadHeaderLength);
    };
    let layout = match quote::plan(
        QuoteIn {
            icmp_at,
            end,
            inner_hdr: ih.upper_at,
            ipl,
        },
        QuoteOut {
            outer_hdr: V4_LEN,
            inner_hdr: V4_LEN,
            max: ICMPV4_ERROR_MAX,
            unit: 4,
        },
        buf.len(),
    ) {
        Ok(l) => l,
        Err(e) => return Verdict::Drop(e),
    };
    if quote::apply(buf, &layout).is_none() {
        return Verdict::Drop(DropReason::Truncated);
    }

    // The quoted packet: translated like any packet, but its hop limit is kept (§ 5.3).
    if !inner_later {
        let l4 = &mut buf[layout.rest_out..layout.rest_out + layout.rest_len];
        match (ih.proto, inner_echo) {
            (PROTO_TCP | PROTO_UDP, _) => {
                let d = Delta::NONE.sums(
                    addr_sum_v6(ih.src, ih.dst),
                    addr_sum_v4(m.inner.src, m.inner.dst),
                );
                rewrite_ports(l4, ih.proto, d, m.inner.src_port, m.inner.dst_port);
            }
            (PROTO_ICMPV6, Some(ty)) => {
                let ilen = (itotal - V4_LEN) as u32;
                let pseudo = checksum::pseudo_header_v6(ih.src, ih.dst, PROTO_ICMPV6, ilen);
                let id = echo_id(ty, m.inner.src_port, m.inner.dst_port);
                rewrite_echo(l4, ty, id, Delta::NONE.sums(pseudo, 0));
            }
            _ => {}
        }
    }
    let (ident, df, mf, offset) = match ih.frag {
        Some(f) => (f.id as u16, false, f.more, f.offset),
        None => (0, itotal > DF_THRESHOLD, false, 0),
    };
    write_v4(
        &mut buf[layout.rest_out - V4_LEN..],
        &V4Out {
            tos: cfg.tos.apply(ih.traffic_class),
            total_len: u16::try_from(itotal).unwrap_or(u16::MAX),
            ident,
            df,
            mf,
            offset,
            ttl: ih.hop_limit,
            proto: if ih.proto == PROTO_ICMPV6 {
                PROTO_ICMP
            } else {
                ih.proto
            },
            src: m.inner.src,
            dst: m.inner.dst,
        },
    );

    let s = layout.start;
    // An atomic Fragment header (fragmented ICMPv6 was refused) still gives the Identification.
    let (ident, df) = match h.frag {
        Some(f) => (f.id as u16, false),
        None => {
            let w = [m.src.to_bits(), m.dst.to_bits(), u32::from(residual)];
            (mix(cfg.seed, &w) as u16, layout.len > DF_THRESHOLD)
        }
    };
    write_v4(
        &mut buf[s..],
        &V4Out {
            tos: cfg.tos.apply(h.traffic_class),
            total_len: layout.len as u16,
            ident,
            df,
            mf: false,
            offset: 0,
            ttl: h.hop_limit - 1,
            proto: PROTO_ICMP,
            src: m.src,
            dst: m.dst,
        },
    );
    let icmp = &mut buf[s + V4_LEN..s + layout.len];
    icmp[0] = header.icmp_type;
    icmp[1] = header.code;
    icmp[4..8].copy_from_slice(&header.rest);
    if extensions {
        icmp[5] = layout.attr;
    }
    refill_checksum(icmp, 0, residual);
    if m.hairpin {
        return xlat46::translate(cfg, mapper, buf, s, layout.len, true);
    }
    Verdict::Forward {
        start: s,
        len: layout.len,
    }
}
