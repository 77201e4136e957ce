//! IPv6 → IPv4 translation of a packet that is not an ICMP error ([RFC 7915 § 5.1], § 5.1.1,
//! § 5.2 queries, § 5.5), in place, with the errors it may owe.
//!
//! [RFC 7915 § 5.1]: https://www.rfc-editor.org/rfc/rfc7915#section-5.1

use super::config::XlatConfig;
use super::error64;
use super::header::{
    PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP, V4_LEN, V4Out, V6_LEN, V6Header, addr_sum_v4,
    addr_sum_v6, echo_id, ports, rewrite_echo, rewrite_ports, write_v4,
};
use super::icmp::{IPV6_MIN_MTU, IcmpClass, IcmpHeader, icmp6_to_icmp4};
use super::mapping::{Mapper4to6, Mapper6to4, Tuple, mix};
use super::reply::{Owed, icmpv6_error};
use super::xlat46;
use crate::checksum::{self, Delta};
use crate::verdict::{DropReason, Verdict};

/// Translated IPv4 packets up to this size leave with DF clear, bigger ones with DF set
/// ([RFC 7915 § 5], § 5.1).
///
/// [RFC 7915 § 5]: https://www.rfc-editor.org/rfc/rfc7915#section-5
pub const DF_THRESHOLD: usize = 1260;

/// An IPv4 Identification for a packet that had no Fragment header ([RFC 7915 § 5.1]: "set
/// according to a Fragment Identification generator"): a keyed hash of the addresses,
/// protocol, length and first transport bytes, so that it is reproducible without state and
/// differs between the datagrams of a flow.
///
/// [RFC 7915 § 5.1]: https://www.rfc-editor.org/rfc/rfc7915#section-5.1
pub(crate) fn ident(seed: u32, t: &Tuple<core::net::Ipv4Addr>, l4: &[u8]) -> u16 {
    let mut w = [0u32; 6];
    w[0] = t.src.to_bits();
    w[1] = t.dst.to_bits();
    w[2] = (u32::from(t.proto) << 16) | (l4.len() as u32 & 0xffff);
    for (i, c) in l4.chunks(4).take(3).enumerate() {
        let mut b = [0u8; 4];
        b[..c.len()].copy_from_slice(c);
        w[3 + i] = u32::from_be_bytes(b);
    }
    mix(seed, &w) as u16
}

/// Translates the IPv6 packet at `buf[start..start + len]` to IPv4 in place ([RFC 7915 § 5]),
/// asking `mapper` for the addresses; a packet the mapper marks for hairpinning is translated
/// back to IPv6 at once.
///
/// Returns [`Verdict::Forward`] with the IPv4 packet (which is never longer than the original
/// but may be longer than [`XlatConfig::ipv4_mtu`] when the IPv6 packet was at most 1280 bytes:
/// split it with [`Fragments`](super::Fragments), § 5.1.1), [`Verdict::Reply`] with an ICMPv6
/// error owed to the sender, or [`Verdict::Drop`].
///
/// [RFC 7915 § 5]: https://www.rfc-editor.org/rfc/rfc7915#section-5
pub fn translate_6to4<M: Mapper6to4 + Mapper4to6>(
    cfg: &XlatConfig,
    mapper: &M,
    buf: &mut [u8],
    start: usize,
    len: usize,
) -> Verdict {
    let Some(end) = start.checked_add(len).filter(|&e| e <= buf.len()) else {
        return Verdict::Drop(DropReason::Truncated);
    };
    let pkt = &buf[start..end];
    let Some(fixed) = pkt.get(..V6_LEN) else {
        return Verdict::Drop(DropReason::Truncated);
    };
    let total = V6_LEN + usize::from(u16::from_be_bytes([fixed[4], fixed[5]]));
    if fixed[0] >> 4 == 6 && total > len {
        return Verdict::Drop(DropReason::BadTotalLength);
    }
    let h = match V6Header::read(pkt, total) {
        Ok(h) => h,
        Err(e) => return Verdict::Drop(e),
    };
    let l4_at = h.upper_at;
    let payload = total - l4_at;
    let later = h.is_later_fragment();
    let l4 = &buf[start + l4_at..start + total];
    let reply = |buf: &mut [u8], owed: Owed| {
        icmpv6_error(cfg, buf, start, total, h.src, h.proto, l4_at, owed)
    };

    // RFC 7915 § 5.1.1: an extension header after the Fragment header SHOULD be dropped; the
    // default error of § 5.4 tells the sender.
    if h.ext_after_frag {
        return reply(
            buf,
            Owed::new(1, 1, [0; 4], DropReason::UnsupportedProtocol),
        );
    }
    let mut new_icmp_type = 0;
    match h.proto {
        PROTO_ICMPV6 => {
            // Fragmented ICMPv6 is never translated (RFC 7915 § 1.2).
            if h.is_fragmented() {
                return Verdict::Drop(DropReason::UnsupportedProtocol);
            }
            let Some(icmp) = l4.get(..8) else {
                return Verdict::Drop(DropReason::Truncated);
            };
            let ih = IcmpHeader::new(icmp[0], icmp[1], [icmp[4], icmp[5], icmp[6], icmp[7]]);
            let Some(t) = icmp6_to_icmp4(ih) else {
                return Verdict::Drop(DropReason::UnsupportedProtocol);
            };
            if let IcmpClass::Error { .. } = t.class {
                return error64::translate(cfg, mapper, buf, start, &h, t);
            }
            new_icmp_type = t.header.icmp_type;
        }
        PROTO_TCP if !later && l4.len() < 20 => return Verdict::Drop(DropReason::Truncated),
        PROTO_UDP if !later && l4.len() < 8 => return Verdict::Drop(DropReason::Truncated),
        // RFC 8200 § 8.1: an IPv6 receiver discards UDP without checksum; translating it
        // would hand the IPv4 side a datagram no IPv6 host could have sent.
        PROTO_UDP if !later && l4[6..8] == [0, 0] => {
            return Verdict::Drop(DropReason::UdpZeroChecksum);
        }
        _ => {}
    }

    let (sp, dp) = if later {
        (0, 0)
    } else {
        ports(l4, h.proto, PROTO_ICMPV6)
    };
    let t6 = Tuple {
        proto: h.proto,
        src: h.src,
        dst: h.dst,
        src_port: sp,
        dst_port: dp,
    };
    let m = match mapper.packet_6to4(&t6) {
        Ok(m) => m,
        // RFC 7915 § 5.4: no error about any ICMPv6 message.
        Err(r) if r.notify && h.proto != PROTO_ICMPV6 => {
            return reply(buf, Owed::new(1, 1, [0; 4], r.reason));
        }
        Err(r) => return Verdict::Drop(r.reason),
    };
    let t4 = m.tuple;

    if h.hop_limit <= 1 {
        return reply(buf, Owed::new(3, 0, [0; 4], DropReason::TtlExpired));
    }
    if let Some(at) = h.segments_left_at {
        let ptr = (at as u32).to_be_bytes();
        return reply(buf, Owed::new(4, 0, ptr, DropReason::SourceRouted));
    }

    // RFC 7915 § 1.4, § 5.1.1: too big for the IPv4 next hop. Packets of at most 1280 bytes
    // are fragmented in IPv4 by the caller; bigger ones get Packet Too Big.
    let out_len = V4_LEN + payload;
    if !m.hairpin && out_len > usize::from(cfg.ipv4_mtu) && total > usize::from(IPV6_MIN_MTU) {
        if later {
            return Verdict::Drop(DropReason::PacketTooBig);
        }
        let mtu = (u32::from(cfg.ipv4_mtu) + 20).max(u32::from(IPV6_MIN_MTU));
        return reply(
            buf,
            Owed::new(2, 0, mtu.to_be_bytes(), DropReason::PacketTooBig),
        );
    }
    let Ok(total_len) = u16::try_from(out_len) else {
        return Verdict::Drop(DropReason::BadTotalLength);
    };

    let (ident, df, mf, offset) = match h.frag {
        Some(f) => (f.id as u16, false, f.more, f.offset),
        None => (ident(cfg.seed, &t4, l4), out_len > DF_THRESHOLD, false, 0),
    };
    let at = start + l4_at - V4_LEN;
    if !later {
        let l4 = &mut buf[start + l4_at..start + total];
        match h.proto {
            PROTO_TCP | PROTO_UDP => {
                let d = Delta::NONE.sums(addr_sum_v6(h.src, h.dst), addr_sum_v4(t4.src, t4.dst));
                rewrite_ports(l4, h.proto, d, t4.src_port, t4.dst_port);
            }
            PROTO_ICMPV6 => {
                let pseudo = checksum::pseudo_header_v6(h.src, h.dst, PROTO_ICMPV6, payload as u32);
                let id = echo_id(new_icmp_type, t4.src_port, t4.dst_port);
                rewrite_echo(l4, new_icmp_type, id, Delta::NONE.sums(pseudo, 0));
            }
            _ => {}
        }
    }
    write_v4(
        &mut buf[at..],
        &V4Out {
            tos: cfg.tos.apply(h.traffic_class),
            total_len,
            ident,
            df,
            mf,
            offset,
            ttl: h.hop_limit - 1,
            proto: if h.proto == PROTO_ICMPV6 {
                PROTO_ICMP
            } else {
                h.proto
            },
            src: t4.src,
            dst: t4.dst,
        },
    );
    if m.hairpin {
        return xlat46::translate(cfg, mapper, buf, at, out_len, true);
    }
    Verdict::Forward {
        start: at,
        len: out_len,
    }
}
