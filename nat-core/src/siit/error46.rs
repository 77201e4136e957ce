//! ICMPv4 error → ICMPv6 error ([RFC 7915 § 4.2], [§ 4.3]): the outer header, the ICMP header
//! (type, code, pointer or MTU), the quoted IPv4 packet translated one level deep with its
//! transport checksum updated, the [RFC 4884] extension, and a new ICMPv6 checksum.
//!
//! [RFC 7915 § 4.2]: https://www.rfc-editor.org/rfc/rfc7915#section-4.2
//! [§ 4.3]: https://www.rfc-editor.org/rfc/rfc7915#section-4.3
//! [RFC 4884]: https://www.rfc-editor.org/rfc/rfc4884

use super::config::XlatConfig;
use super::header::{
    FRAG_LEN, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP, V4Header, V6_LEN, addr_sum_v4,
    addr_sum_v6, echo_id, ports, rewrite_echo, rewrite_ports, write_frag, write_v6,
};
use super::icmp::{IcmpClass, Translated, ptb_mtu_4to6};
use super::mapping::{Mapper4to6, Tuple};
use super::quote::{self, QuoteIn, QuoteOut};
use super::reply::ICMPV6_ERROR_MAX;
use crate::checksum::{self, Delta};
use crate::verdict::{DropReason, Verdict};

/// Recomputes the checksum of an ICMP message whose content changed, keeping the error of the
/// original: `residual` is the one's-complement sum the original message had (0xFFFF when its
/// checksum was right), so a corrupted message stays as corrupted after translation.
pub(crate) fn refill_checksum(icmp: &mut [u8], pseudo: u16, residual: u16) {
    icmp[2] = 0;
    icmp[3] = 0;
    let s = !checksum::sum(pseudo, icmp);
    let c = if residual == 0xffff {
        s
    } else {
        checksum::add(residual, s)
    };
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
}

/// Translates the ICMPv4 error at `buf[start..]` (outer header `h`, ICMP header already mapped
/// to `t`) to ICMPv6.
pub(crate) fn translate<M: Mapper4to6>(
    cfg: &XlatConfig,
    mapper: &M,
    buf: &mut [u8],
    start: usize,
    h: &V4Header,
    t: Translated,
    hairpin: bool,
) -> Verdict {
    let IcmpClass::Error { extensions, mtu } = t.class else {
        return Verdict::Drop(DropReason::UnsupportedProtocol);
    };
    // No error is sent about an error: an expiring one is dropped.
    let hop_limit = if hairpin {
        h.ttl
    } else if h.ttl <= 1 {
        return Verdict::Drop(DropReason::TtlExpired);
    } else {
        h.ttl - 1
    };
    let end = start + h.total_len;
    let icmp_at = start + h.ihl;
    let residual = checksum::sum(0, &buf[icmp_at..end]);

    let quote_at = icmp_at + 8;
    let ih = match V4Header::read(&buf[quote_at..end]) {
        Ok(ih) => ih,
        Err(_) => return Verdict::Drop(DropReason::UnkeyableQuote),
    };
    let inner_first = ih.offset == 0;
    let il4_at = quote_at + ih.ihl;
    let il4 = &buf[il4_at..end];
    let mut inner_echo = None;
    if ih.proto == PROTO_ICMP && inner_first {
        match il4.first() {
            Some(3 | 4 | 5 | 11 | 12) => return Verdict::Drop(DropReason::NestedIcmpError),
            Some(8) => inner_echo = Some(128),
            Some(0) => inner_echo = Some(129),
            Some(_) => return Verdict::Drop(DropReason::UnsupportedProtocol),
            None => {}
        }
    }
    let (sp, dp) = if inner_first {
        ports(il4, ih.proto, PROTO_ICMP)
    } else {
        (0, 0)
    };
    let inner = Tuple {
        proto: ih.proto,
        src: ih.src,
        dst: ih.dst,
        src_port: sp,
        dst_port: dp,
    };
    let m = match mapper.error_4to6(h.src, h.dst, &inner, hairpin) {
        Ok(m) => m,
        Err(e) => return Verdict::Drop(e),
    };

    let mut header = t.header;
    if mtu {
        let field = u16::from_be_bytes([buf[icmp_at + 6], buf[icmp_at + 7]]);
        let tl = u16::try_from(ih.total_len).unwrap_or(u16::MAX);
        header.rest = ptb_mtu_4to6(field, tl, cfg.ipv6_mtu, cfg.ipv4_mtu).to_be_bytes();
    }
    let ipl = if extensions {
        usize::from(buf[icmp_at + 5]) * 4
    } else {
        0
    };
    let ifrag = ih.is_fragment();
    let inner_hdr = V6_LEN + if ifrag { FRAG_LEN } else { 0 };
    let Some(ipayload) = ih.total_len.checked_sub(ih.ihl) else {
        return Verdict::Drop(DropReason::BadHeaderLength);
    };
    let layout = match quote::plan(
        QuoteIn {
            icmp_at,
            end,
            inner_hdr: ih.ihl,
            ipl,
        },
        QuoteOut {
            outer_hdr: V6_LEN,
            inner_hdr,
            max: ICMPV6_ERROR_MAX,
            unit: 8,
        },
        buf.len(),
    ) {
        Ok(l) => l,
        Err(e) => return Verdict::Drop(e),
    };
    if quote::apply(buf, &layout).is_none() {
        return Verdict::Drop(DropReason::Truncated);
    }

    // The quoted packet: translated like any packet, but its TTL is kept (§ 4.3).
    let inext = if ih.proto == PROTO_ICMP {
        PROTO_ICMPV6
    } else {
        ih.proto
    };
    let ia = layout.rest_out - inner_hdr;
    let iplen = u16::try_from(ipayload + inner_hdr - V6_LEN).unwrap_or(u16::MAX);
    let itc = cfg.traffic_class.apply(ih.tos);
    let first_next = if ifrag { 44 } else { inext };
    write_v6(
        &mut buf[ia..],
        itc,
        iplen,
        first_next,
        ih.ttl,
        m.inner.src,
        m.inner.dst,
    );
    if ifrag {
        write_frag(
            &mut buf[ia + V6_LEN..],
            inext,
            ih.offset,
            ih.mf,
            u32::from(ih.ident),
        );
    }
    if inner_first {
        let l4 = &mut buf[layout.rest_out..layout.rest_out + layout.rest_len];
        match (ih.proto, inner_echo) {
            (PROTO_TCP | PROTO_UDP, _) => {
                let d = Delta::NONE.sums(
                    addr_sum_v4(ih.src, ih.dst),
                    addr_sum_v6(m.inner.src, m.inner.dst),
                );
                rewrite_ports(l4, ih.proto, d, m.inner.src_port, m.inner.dst_port);
            }
            (PROTO_ICMP, Some(ty)) => {
                let pseudo = checksum::pseudo_header_v6(
                    m.inner.src,
                    m.inner.dst,
                    PROTO_ICMPV6,
                    ipayload as u32,
                );
                let id = echo_id(ty, m.inner.src_port, m.inner.dst_port);
                rewrite_echo(l4, ty, id, Delta::NONE.sums(0, pseudo));
            }
            _ => {}
        }
    }

    let s = layout.start;
    let plen = (layout.len - V6_LEN) as u16;
    let tc = cfg.traffic_class.apply(h.tos);
    write_v6(
        &mut buf[s..],
        tc,
        plen,
        PROTO_ICMPV6,
        hop_limit,
        m.src,
        m.dst,
    );
    let icmp = &mut buf[s + V6_LEN..s + layout.len];
    icmp[0] = header.icmp_type;
    icmp[1] = header.code;
    icmp[4..8].copy_from_slice(&header.rest);
    if extensions {
        icmp[4] = layout.attr;
    }
    let pseudo = checksum::pseudo_header_v6(m.src, m.dst, PROTO_ICMPV6, u32::from(plen));
    refill_checksum(icmp, pseudo, residual);
    Verdict::Forward {
        start: s,
        len: layout.len,
    }
}
