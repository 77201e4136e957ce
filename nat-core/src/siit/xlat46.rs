//! IPv4 → IPv6 translation of a packet that is not an ICMP error ([RFC 7915 § 4.1], § 4.2
//! queries, § 4.5), in place, with the errors it may owe.
//!
//! [RFC 7915 § 4.1]: https://www.rfc-editor.org/rfc/rfc7915#section-4.1

use super::config::{UdpZeroChecksum, XlatConfig};
use super::error46;
use super::header::{
    FRAG_LEN, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP, V4_LEN, V4Header, V6_LEN,
    addr_sum_v4, addr_sum_v6, echo_id, place, ports, rewrite_echo, rewrite_ports, write_frag,
    write_v6,
};
use super::icmp::{IcmpClass, IcmpHeader, icmp4_to_icmp6};
use super::mapping::{Mapper4to6, Tuple};
use super::reply::{Owed, icmpv4_error};
use crate::checksum::{self, Delta};
use crate::verdict::{DropReason, Verdict};

/// IGMP: single-hop, never translated ([RFC 7915 § 4.2]).
///
/// [RFC 7915 § 4.2]: https://www.rfc-editor.org/rfc/rfc7915#section-4.2
const PROTO_IGMP: u8 = 2;

/// Loose and Strict Source and Record Route option types ([RFC 791]).
///
/// [RFC 791]: https://www.rfc-editor.org/rfc/rfc791
const OPT_LSRR: u8 = 131;
const OPT_SSRR: u8 = 137;

/// Whether the IPv4 options carry a source route with hops left ([RFC 7915 § 4.1]: "unexpired"
/// read as a pointer not past the option's end).
///
/// [RFC 7915 § 4.1]: https://www.rfc-editor.org/rfc/rfc7915#section-4.1
pub(crate) fn unexpired_source_route(options: &[u8]) -> bool {
    let mut i = 0;
    while i < options.len() {
        match options[i] {
            0 => return false,
            1 => i += 1,
            t => {
                let Some(&len) = options.get(i + 1) else {
                    return false;
                };
                if (t == OPT_LSRR || t == OPT_SSRR)
                    && let Some(&ptr) = options.get(i + 2)
                {
                    return ptr <= len;
                }
                if len < 2 {
                    return false;
                }
                i += usize::from(len);
            }
        }
    }
    false
}

/// Translates the IPv4 packet at `buf[start..start + len]` to IPv6 in place ([RFC 7915 § 4]),
/// asking `mapper` for the addresses.
///
/// Returns [`Verdict::Forward`] with the IPv6 packet (which needs up to 28 bytes of headroom,
/// 48 for ICMP errors; without it the packet is moved right if the buffer has room after it),
/// [`Verdict::Reply`] with an ICMPv4 error owed to the sender, or [`Verdict::Drop`]. A
/// forwarded packet that carries a Fragment header and exceeds
/// [`XlatConfig::ipv6_fragment_size`] must be split with [`Fragments`](super::Fragments).
///
/// [RFC 7915 § 4]: https://www.rfc-editor.org/rfc/rfc7915#section-4
pub fn translate_4to6<M: Mapper4to6>(
    cfg: &XlatConfig,
    mapper: &M,
    buf: &mut [u8],
    start: usize,
    len: usize,
) -> Verdict {
    translate(cfg, mapper, buf, start, len, false)
}

/// [`translate_4to6`], also used for the second pass of a hairpinned packet (`hairpin`), which
/// keeps its TTL and owes no errors ([RFC 7757 Appendix B]).
///
/// [RFC 7757 Appendix B]: https://www.rfc-editor.org/rfc/rfc7757#appendix-B
pub(crate) fn translate<M: Mapper4to6>(
    cfg: &XlatConfig,
    mapper: &M,
    buf: &mut [u8],
    start: usize,
    len: usize,
    hairpin: bool,
) -> Verdict {
    let Some(end) = start.checked_add(len).filter(|&e| e <= buf.len()) else {
        return Verdict::Drop(DropReason::Truncated);
    };
    let h = match V4Header::read(&buf[start..end]) {
        Ok(h) => h,
        Err(e) => return Verdict::Drop(e),
    };
    if h.total_len < h.ihl {
        return Verdict::Drop(DropReason::BadHeaderLength);
    }
    if h.total_len > len {
        return Verdict::Drop(DropReason::BadTotalLength);
    }
    if !hairpin && !checksum::verify(0, &buf[start..start + h.ihl]) {
        return Verdict::Drop(DropReason::BadIpChecksum);
    }
    let total = h.total_len;
    let payload = total - h.ihl;
    let first = h.offset == 0;
    let l4 = &buf[start + h.ihl..start + total];
    let reply = |buf: &mut [u8], owed: Owed| {
        if hairpin {
            Verdict::Drop(owed.reason)
        } else {
            icmpv4_error(cfg, buf, start, total, &h, owed)
        }
    };

    let mut new_icmp_type = 0;
    match h.proto {
        PROTO_ICMP => {
            // Fragmented ICMP is never translated (RFC 7915 § 1.2).
            if h.is_fragment() {
                return Verdict::Drop(DropReason::UnsupportedProtocol);
            }
            let Some(icmp) = l4.get(..8) else {
                return Verdict::Drop(DropReason::Truncated);
            };
            let ih = IcmpHeader::new(icmp[0], icmp[1], [icmp[4], icmp[5], icmp[6], icmp[7]]);
            let Some(t) = icmp4_to_icmp6(ih) else {
                return Verdict::Drop(DropReason::UnsupportedProtocol);
            };
            if let IcmpClass::Error { .. } = t.class {
                return error46::translate(cfg, mapper, buf, start, &h, t, hairpin);
            }
            new_icmp_type = t.header.icmp_type;
        }
        PROTO_IGMP => return Verdict::Drop(DropReason::UnsupportedProtocol),
        PROTO_TCP if first && l4.len() < 20 => return Verdict::Drop(DropReason::Truncated),
        PROTO_UDP if first && l4.len() < 8 => return Verdict::Drop(DropReason::Truncated),
        _ => {}
    }

    // RFC 7915 § 4.5: a zero UDP checksum is refused, or computed if configured and possible.
    let udp_zero = h.proto == PROTO_UDP && first && l4[6] == 0 && l4[7] == 0;
    if udp_zero && (h.mf || (!hairpin && cfg.udp_zero_checksum == UdpZeroChecksum::Drop)) {
        return reply(buf, Owed::new(3, 13, [0; 4], DropReason::UdpZeroChecksum));
    }

    let (sp, dp) = if first {
        ports(l4, h.proto, PROTO_ICMP)
    } else {
        (0, 0)
    };
    let t4 = Tuple {
        proto: h.proto,
        src: h.src,
        dst: h.dst,
        src_port: sp,
        dst_port: dp,
    };
    let t6 = match mapper.packet_4to6(&t4, hairpin) {
        Ok(t) => t,
        Err(r) if r.notify => return reply(buf, Owed::new(3, 13, [0; 4], r.reason)),
        Err(r) => return Verdict::Drop(r.reason),
    };

    let hop_limit = if hairpin {
        h.ttl
    } else if h.ttl <= 1 {
        return reply(buf, Owed::new(11, 0, [0; 4], DropReason::TtlExpired));
    } else {
        h.ttl - 1
    };
    if !hairpin && unexpired_source_route(&buf[start + V4_LEN..start + h.ihl]) {
        return reply(buf, Owed::new(3, 5, [0; 4], DropReason::SourceRouted));
    }

    // RFC 7915 § 4: a Fragment header only for fragments, or for DF-clear packets too big for
    // lowest-ipv6-mtu (which the caller then splits); DF packets too big get Fragmentation
    // Needed (§ 4.1, next-hop MTU less than Total Length + 20).
    let mut frag = h.is_fragment().then_some((h.offset, h.mf));
    if !hairpin {
        if h.df && total + 20 > usize::from(cfg.ipv6_mtu) {
            let mtu = cfg.ipv6_mtu.saturating_sub(20).to_be_bytes();
            return reply(
                buf,
                Owed::new(3, 4, [0, 0, mtu[0], mtu[1]], DropReason::PacketTooBig),
            );
        }
        if !h.df && frag.is_none() && V6_LEN + payload > usize::from(cfg.ipv6_fragment_size()) {
            frag = Some((0, false));
        }
    }

    let hdr = V6_LEN + if frag.is_some() { FRAG_LEN } else { 0 };
    let Some(at) = place(buf, start + h.ihl, payload, hdr) else {
        return Verdict::Drop(DropReason::NoRoom);
    };
    let next = if h.proto == PROTO_ICMP {
        PROTO_ICMPV6
    } else {
        h.proto
    };
    let Ok(plen) = u16::try_from(hdr - V6_LEN + payload) else {
        return Verdict::Drop(DropReason::BadTotalLength);
    };
    let tc = cfg.traffic_class.apply(h.tos);
    let first_next = if frag.is_some() { 44 } else { next };
    write_v6(
        &mut buf[at..],
        tc,
        plen,
        first_next,
        hop_limit,
        t6.src,
        t6.dst,
    );
    if let Some((offset, more)) = frag {
        write_frag(
            &mut buf[at + V6_LEN..],
            next,
            offset,
            more,
            u32::from(h.ident),
        );
    }

    if first {
        let l4 = &mut buf[at + hdr..at + hdr + payload];
        match h.proto {
            PROTO_UDP if udp_zero => {
                l4[0..2].copy_from_slice(&t6.src_port.to_be_bytes());
                l4[2..4].copy_from_slice(&t6.dst_port.to_be_bytes());
                let pseudo = checksum::pseudo_header_v6(t6.src, t6.dst, PROTO_UDP, payload as u32);
                if let Some(c) = checksum::fill(l4, 6, pseudo) {
                    l4[6..8].copy_from_slice(&checksum::udp_nonzero(c).to_be_bytes());
                }
            }
            PROTO_TCP | PROTO_UDP => {
                let d = Delta::NONE.sums(addr_sum_v4(h.src, h.dst), addr_sum_v6(t6.src, t6.dst));
                rewrite_ports(l4, h.proto, d, t6.src_port, t6.dst_port);
            }
            PROTO_ICMP => {
                let pseudo =
                    checksum::pseudo_header_v6(t6.src, t6.dst, PROTO_ICMPV6, payload as u32);
                let id = echo_id(new_icmp_type, t6.src_port, t6.dst_port);
                rewrite_echo(l4, new_icmp_type, id, Delta::NONE.sums(0, pseudo));
            }
            _ => {}
        }
    }
    Verdict::Forward {
        start: at,
        len: hdr + payload,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_route_options() {
        // NOP, LSRR len 7 ptr 4 (one hop left).
        assert!(unexpired_source_route(&[1, 131, 7, 4, 1, 2, 3, 4]));
        // LSRR with pointer past the end: expired.
        assert!(!unexpired_source_route(&[131, 7, 8, 1, 2, 3, 4, 0]));
        // Record route only.
        assert!(!unexpired_source_route(&[7, 7, 4, 0, 0, 0, 0, 0]));
        // Garbage lengths never loop or panic.
        assert!(!unexpired_source_route(&[7, 0, 0, 0]));
        assert!(!unexpired_source_route(&[7]));
        assert!(unexpired_source_route(&[137, 3, 3]));
    }
}
