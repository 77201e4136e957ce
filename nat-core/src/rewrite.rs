//! In-place rewriting of IPv4 endpoints with incremental checksum updates ([RFC 1624]), shared
//! by NAT44 and the LSNAT rewrite: the outer packet of a flow, and the packet quoted inside an
//! ICMP error together with the error's own checksum ([RFC 5508 § 4.2]).
//!
//! [RFC 1624]: https://www.rfc-editor.org/rfc/rfc1624
//! [RFC 5508 § 4.2]: https://www.rfc-editor.org/rfc/rfc5508#section-4.2

use crate::checksum::Delta;
use crate::flow::{Endpoint, FlowKey, L4Proto};
use crate::wire::{icmp, ipv4, tcp, udp};
use core::net::Ipv4Addr;

/// Reads a big-endian word; `None` past the end of the buffer.
#[inline]
pub(crate) fn get16(buf: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*buf.get(at)?, *buf.get(at + 1)?]))
}

/// Writes a big-endian word and returns the old one; `None` (and nothing written) past the end.
#[inline]
pub(crate) fn set16(buf: &mut [u8], at: usize, v: u16) -> Option<u16> {
    let old = get16(buf, at)?;
    buf[at..at + 2].copy_from_slice(&v.to_be_bytes());
    Some(old)
}

/// Writes words into a region covered by an enclosing checksum (an ICMP error's), collecting
/// the change for that checksum as it goes.
struct Patcher<'a> {
    buf: &'a mut [u8],
    outer: Delta,
}

impl Patcher<'_> {
    fn set16(&mut self, at: usize, v: u16) {
        if let Some(old) = set16(self.buf, at, v) {
            self.outer = self.outer.word(old, v);
        }
    }

    fn set_addr(&mut self, at: usize, a: Ipv4Addr) {
        let o = a.octets();
        self.set16(at, u16::from_be_bytes([o[0], o[1]]));
        self.set16(at + 2, u16::from_be_bytes([o[2], o[3]]));
    }
}

/// Which word of an ICMP query holds the identifier that a key's port stands for.
fn icmp_id_change(old: &FlowKey<Ipv4Addr>, new: &FlowKey<Ipv4Addr>) -> Option<(u16, u16)> {
    if old.src.port != new.src.port {
        Some((old.src.port, new.src.port))
    } else if old.dst.port != new.dst.port {
        Some((old.dst.port, new.dst.port))
    } else {
        None
    }
}

/// Rewrites the packet `pkt` (starting at its IPv4 header, transport header at `l4_at` if
/// `has_l4`) from the endpoints of `old` to those of `new`, updating the IPv4 header checksum
/// and the TCP, UDP or ICMP checksum incrementally. A UDP checksum of 0 stays 0 (RFC 768).
pub fn rewrite_ipv4(
    pkt: &mut [u8],
    l4_at: usize,
    has_l4: bool,
    old: &FlowKey<Ipv4Addr>,
    new: &FlowKey<Ipv4Addr>,
) {
    let addrs = Delta::NONE
        .ipv4(old.src.addr, new.src.addr)
        .ipv4(old.dst.addr, new.dst.addr);
    if old.src.addr != new.src.addr {
        pkt[ipv4::SRC_ADDR].copy_from_slice(&new.src.addr.octets());
    }
    if old.dst.addr != new.dst.addr {
        pkt[ipv4::DST_ADDR].copy_from_slice(&new.dst.addr.octets());
    }
    if let Some(c) = get16(pkt, ipv4::CHECKSUM.start) {
        set16(pkt, ipv4::CHECKSUM.start, addrs.apply(c));
    }
    if !has_l4 {
        return;
    }
    let l4 = &mut pkt[l4_at..];
    match old.proto {
        L4Proto::Tcp | L4Proto::Udp => {
            let ports = addrs
                .word(old.src.port, new.src.port)
                .word(old.dst.port, new.dst.port);
            set16(l4, tcp::SRC_PORT.start, new.src.port);
            set16(l4, tcp::DST_PORT.start, new.dst.port);
            if old.proto == L4Proto::Tcp {
                if let Some(c) = get16(l4, tcp::CHECKSUM.start) {
                    set16(l4, tcp::CHECKSUM.start, ports.apply(c));
                }
            } else if let Some(c) = get16(l4, udp::CHECKSUM.start) {
                set16(l4, udp::CHECKSUM.start, ports.apply_udp(c));
            }
        }
        L4Proto::Icmp => {
            if let Some((o, n)) = icmp_id_change(old, new) {
                set16(l4, icmp::IDENTIFIER.start, n);
                if let Some(c) = get16(l4, icmp::CHECKSUM.start) {
                    set16(l4, icmp::CHECKSUM.start, Delta::NONE.word(o, n).apply(c));
                }
            }
        }
    }
}

/// Rewrites an ICMPv4 error in place: the quoted packet (IP header at `quote_ip_at`, transport
/// header at `quote_l4_at`, both absolute in `pkt`) from `old_quote` to `new_quote` endpoints,
/// with its IP and transport checksums where the quote still holds them, then the error's own
/// checksum (at `icmp_at`), and finally the outer header's addresses to `outer_src`/`outer_dst`.
/// No mapping is touched: errors never create or refresh state ([RFC 5508] REQ-3..6).
///
/// [RFC 5508]: https://www.rfc-editor.org/rfc/rfc5508
#[allow(clippy::too_many_arguments)]
pub fn rewrite_icmpv4_error(
    pkt: &mut [u8],
    icmp_at: usize,
    quote_ip_at: usize,
    quote_l4_at: usize,
    old_quote: &FlowKey<Ipv4Addr>,
    new_quote: &FlowKey<Ipv4Addr>,
    outer_src: Ipv4Addr,
    outer_dst: Ipv4Addr,
) {
    let (old_src, old_dst) = (
        Ipv4Addr::from(u32::from_be_bytes([pkt[12], pkt[13], pkt[14], pkt[15]])),
        Ipv4Addr::from(u32::from_be_bytes([pkt[16], pkt[17], pkt[18], pkt[19]])),
    );
    {
        let mut p = Patcher {
            buf: &mut *pkt,
            outer: Delta::NONE,
        };
        let addrs = Delta::NONE
            .ipv4(old_quote.src.addr, new_quote.src.addr)
            .ipv4(old_quote.dst.addr, new_quote.dst.addr);
        p.set_addr(quote_ip_at + ipv4::SRC_ADDR.start, new_quote.src.addr);
        p.set_addr(quote_ip_at + ipv4::DST_ADDR.start, new_quote.dst.addr);
        if let Some(c) = get16(p.buf, quote_ip_at + ipv4::CHECKSUM.start) {
            p.set16(quote_ip_at + ipv4::CHECKSUM.start, addrs.apply(c));
        }
        match old_quote.proto {
            L4Proto::Tcp | L4Proto::Udp => {
                let ports = addrs
                    .word(old_quote.src.port, new_quote.src.port)
                    .word(old_quote.dst.port, new_quote.dst.port);
                p.set16(quote_l4_at + tcp::SRC_PORT.start, new_quote.src.port);
                p.set16(quote_l4_at + tcp::DST_PORT.start, new_quote.dst.port);
                let at = quote_l4_at
                    + if old_quote.proto == L4Proto::Tcp {
                        tcp::CHECKSUM.start
                    } else {
                        udp::CHECKSUM.start
                    };
                if let Some(c) = get16(p.buf, at) {
                    let c2 = if old_quote.proto == L4Proto::Udp {
                        ports.apply_udp(c)
                    } else {
                        ports.apply(c)
                    };
                    p.set16(at, c2);
                }
            }
            L4Proto::Icmp => {
                if let Some((o, n)) = icmp_id_change(old_quote, new_quote) {
                    p.set16(quote_l4_at + icmp::IDENTIFIER.start, n);
                    if let Some(c) = get16(p.buf, quote_l4_at + icmp::CHECKSUM.start) {
                        p.set16(
                            quote_l4_at + icmp::CHECKSUM.start,
                            Delta::NONE.word(o, n).apply(c),
                        );
                    }
                }
            }
        }
        let outer = p.outer;
        if let Some(c) = get16(pkt, icmp_at + icmp::CHECKSUM.start) {
            set16(pkt, icmp_at + icmp::CHECKSUM.start, outer.apply(c));
        }
    }
    let outer_key = |s, d| FlowKey::new(L4Proto::Icmp, Endpoint::new(s, 0), Endpoint::new(d, 0));
    rewrite_ipv4(
        pkt,
        icmp_at,
        false,
        &outer_key(old_src, old_dst),
        &outer_key(outer_src, outer_dst),
    );
}
