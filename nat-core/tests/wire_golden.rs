//! Golden-byte tests of the packet layer: real and hand-built packets, each with its source, that
//! must parse to the flow keys and offsets read off the bytes by hand.
//!
//! Captures were taken on Linux 6.18 over the loopback device with an `AF_PACKET` socket (the
//! 14-byte link header removed), on 2026-11-22. Linux leaves TCP (both families) and UDP-over-IPv4
//! checksums on loopback as offload partials (the pseudo-header sum only); those fields are filled
//! here with `nat_core::checksum` and the result compared with a value computed independently of
//! this crate (RFC 1071 sum, by hand or by a ten-line script). Every other checksum is the one the
//! kernel sent, and is verified as such.

use core::net::{Ipv4Addr, Ipv6Addr};
use nat_core::checksum::{self, pseudo_header_v4, pseudo_header_v6};
use nat_core::flow::{Endpoint, FlowKey, L4Proto};
use nat_core::wire::{
    ExtensionWalk, Fragment, PacketInfo, ParseError, Parsed, Quote, TcpFlags, Transport, parse,
    parse_ipv4, parse_ipv6,
};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Bytes from hex digits; whitespace (and `|`, used to separate headers) is ignored.
fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b'|')
        .collect();
    assert!(digits.len().is_multiple_of(2), "odd number of hex digits");
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(core::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

/// `prefix` followed by `n` copies of `fill`: captures whose payload is one repeated byte.
fn with_payload(prefix: &str, fill: u8, n: usize) -> Vec<u8> {
    let mut v = hex(prefix);
    v.extend(core::iter::repeat_n(fill, n));
    v
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn v4(b: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3])
}

fn v6(b: &[u8], at: usize) -> Ipv6Addr {
    Ipv6Addr::from(<[u8; 16]>::try_from(&b[at..at + 16]).unwrap())
}

/// Fills the IPv4 header checksum of `pkt` and returns it.
fn fill_ipv4_header(pkt: &mut [u8]) -> u16 {
    let ihl = usize::from(pkt[0] & 0x0f) * 4;
    checksum::fill(&mut pkt[..ihl], 10, 0).unwrap()
}

/// The pseudo-header sum of the IPv4 packet `pkt` for its upper layer at `l4_at` (0 for ICMP).
fn pseudo_v4(pkt: &[u8], l4_at: usize) -> u16 {
    let proto = pkt[9];
    if proto == 1 {
        return 0;
    }
    let len = be16(pkt, 2) - l4_at as u16;
    pseudo_header_v4(v4(pkt, 12), v4(pkt, 16), proto, len)
}

/// The pseudo-header sum of the IPv6 packet `pkt` for upper layer `proto` at `l4_at`.
fn pseudo_v6(pkt: &[u8], l4_at: usize, proto: u8) -> u16 {
    let len = (40 + usize::from(be16(pkt, 4)) - l4_at) as u32;
    pseudo_header_v6(v6(pkt, 8), v6(pkt, 24), proto, len)
}

/// Fills the transport checksum at `l4_at + csum_at` of IPv4 packet `pkt`.
fn fill_l4_v4(pkt: &mut [u8], l4_at: usize, csum_at: usize) -> u16 {
    let ph = pseudo_v4(pkt, l4_at);
    let end = usize::from(be16(pkt, 2));
    checksum::fill(&mut pkt[l4_at..end], csum_at, ph).unwrap()
}

/// Fills the transport checksum at `l4_at + csum_at` of IPv6 packet `pkt` (upper layer `proto`).
fn fill_l4_v6(pkt: &mut [u8], l4_at: usize, proto: u8, csum_at: usize) -> u16 {
    let ph = pseudo_v6(pkt, l4_at, proto);
    let end = 40 + usize::from(be16(pkt, 4));
    checksum::fill(&mut pkt[l4_at..end], csum_at, ph).unwrap()
}

fn assert_ipv4_header_valid(pkt: &[u8]) {
    let ihl = usize::from(pkt[0] & 0x0f) * 4;
    assert!(checksum::verify(0, &pkt[..ihl]), "IPv4 header checksum");
}

fn assert_l4_v4_valid(pkt: &[u8], l4_at: usize) {
    let end = usize::from(be16(pkt, 2));
    assert!(
        checksum::verify(pseudo_v4(pkt, l4_at), &pkt[l4_at..end]),
        "IPv4 upper-layer checksum"
    );
}

fn assert_l4_v6_valid(pkt: &[u8], l4_at: usize, proto: u8) {
    let end = 40 + usize::from(be16(pkt, 4));
    assert!(
        checksum::verify(pseudo_v6(pkt, l4_at, proto), &pkt[l4_at..end]),
        "IPv6 upper-layer checksum"
    );
}

fn key<A>(proto: L4Proto, src: (A, u16), dst: (A, u16)) -> FlowKey<A> {
    FlowKey {
        proto,
        src: Endpoint::new(src.0, src.1),
        dst: Endpoint::new(dst.0, dst.1),
    }
}

fn parse_v4(pkt: &[u8]) -> PacketInfo<Ipv4Addr> {
    let info = parse_ipv4(pkt).expect("valid IPv4 packet");
    assert_eq!(
        parse(pkt),
        Ok(Parsed::V4(info)),
        "parse and parse_ipv4 agree"
    );
    info
}

fn parse_v6(pkt: &[u8]) -> PacketInfo<Ipv6Addr> {
    let info = parse_ipv6(pkt).expect("valid IPv6 packet");
    assert_eq!(
        parse(pkt),
        Ok(Parsed::V6(info)),
        "parse and parse_ipv6 agree"
    );
    info
}

const LO1: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const LO2: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const LO6: Ipv6Addr = Ipv6Addr::LOCALHOST;
/// Hosts of the hand-built IPv6 packets (RFC 3849 documentation prefix).
const H6A: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, 0x10);
const H6B: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 2, 0, 0, 0, 0x20);
const ROUTER6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0xff, 0, 0, 0, 1);

// ---------------------------------------------------------------------------------------------
// IPv4
// ---------------------------------------------------------------------------------------------

/// A TCP SYN from `connect(2)` on a socket with `IP_OPTIONS` = Record Route, captured on Linux
/// loopback from 127.0.0.2:45678 to 127.0.0.1:8080.
///
/// IHL 7: 8 bytes of options (RR type 7, length 7, pointer 8, the recorded 127.0.0.2, EOL), so the
/// TCP header starts at 28. Total length 0x44 = 68; TCP data offset 0xa = 40 bytes (MSS, SACK
/// permitted, timestamps, NOP, window scale); flags 0x02 = SYN; 0xb26e = 45678, 0x1f90 = 8080.
fn tcp4_syn_with_ip_options() -> Vec<u8> {
    let mut p = hex(
        "4700 0044 abf5 4000 4006 7d35 7f00 0002 7f00 0001 | 0707 087f 0000 0200 |
         b26e 1f90 fda5 4c8d 0000 0000 a002 ffd7 fe31 0000
         0204 ffd7 0402 080a 78cc cc9a 0000 0000 0103 030a",
    );
    // 0xfe31 is the loopback offload partial; the full checksum, computed independently: 0xee64.
    assert_eq!(fill_l4_v4(&mut p, 28, 16), 0xee64);
    p
}

#[test]
fn tcp_ipv4_with_options_ihl_7() {
    let p = tcp4_syn_with_ip_options();
    assert_eq!(p.len(), 68);
    assert_ipv4_header_valid(&p); // 0x7d35 as the kernel sent it
    assert_l4_v4_valid(&p, 28);
    let expected = PacketInfo {
        src: LO2,
        dst: LO1,
        total_len: 68,
        l4_at: 28,
        protocol: 6,
        hop_limit: 64,
        fragment: None, // DF only
        transport: Transport::Flow {
            key: key(L4Proto::Tcp, (LO2, 45678), (LO1, 8080)),
            tcp_flags: TcpFlags::SYN,
        },
    };
    assert_eq!(parse_v4(&p), expected);
}

/// The IPv4 header of Wikipedia's "Internet checksum" worked example (45 00 00 73 00 00 40 00
/// 40 11 b8 61 c0 a8 00 01 c0 a8 00 c7: UDP, 192.168.0.1 -> 192.168.0.199, total length 115),
/// followed by a hand-built UDP datagram 12345 -> 53 of length 95 whose 87 payload bytes are 0.
///
/// UDP checksum by hand: pseudo-header c0a8 + 0001 + c0a8 + 00c7 + 0011 + 005f, header
/// 3039 + 0035 + 005f (+ 0000) = 0x1b355, folded 0xb356, complement 0x4ca9.
#[test]
fn udp_ipv4_wikipedia_header() {
    let mut p = hex("4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7 | 3039 0035 005f 4ca9");
    p.extend([0u8; 87]);
    assert_eq!(p.len(), 115);
    assert_ipv4_header_valid(&p);
    assert_l4_v4_valid(&p, 20);
    let (a, b) = (
        Ipv4Addr::new(192, 168, 0, 1),
        Ipv4Addr::new(192, 168, 0, 199),
    );
    let expected = PacketInfo {
        src: a,
        dst: b,
        total_len: 115,
        l4_at: 20,
        protocol: 17,
        hop_limit: 64,
        fragment: None,
        transport: Transport::Flow {
            key: key(L4Proto::Udp, (a, 12345), (b, 53)),
            tcp_flags: TcpFlags::empty(),
        },
    };
    assert_eq!(parse_v4(&p), expected);
}

/// Trailing bytes beyond the total length (Ethernet padding of a short frame) are ignored.
#[test]
fn udp_ipv4_link_padding_ignored() {
    let mut p = hex("4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7 | 3039 0035 005f 4ca9");
    p.extend([0u8; 87 + 6]);
    assert_eq!(parse_v4(&p).total_len, 115);
}

/// An ICMP Echo Request sent through a raw socket bound to 127.0.0.2 and the kernel's Echo Reply,
/// captured on Linux loopback. Identifier 0x1c2d = 7213, sequence 1, payload "natcore!". Both
/// ICMP checksums are the sender's (the kernel answers only requests whose checksum is valid).
#[test]
fn icmpv4_echo_request_and_reply() {
    let request = hex(
        "4500 0024 7193 4000 4001 cb42 7f00 0002 7f00 0001 | 0800 2479 1c2d 0001 6e61 7463 6f72 6521",
    );
    let reply = hex(
        "4500 0024 0ce6 0000 4001 6ff0 7f00 0001 7f00 0002 | 0000 2c79 1c2d 0001 6e61 7463 6f72 6521",
    );
    for p in [&request, &reply] {
        assert_ipv4_header_valid(p);
        assert_l4_v4_valid(p, 20);
    }
    let req = parse_v4(&request);
    let rep = parse_v4(&reply);
    // The identifier is the requester's port: source port of the request, destination port of
    // the reply, the other port 0 (nat_core::flow).
    let req_key = key(L4Proto::Icmp, (LO2, 7213), (LO1, 0));
    assert_eq!(
        req.transport,
        Transport::Flow {
            key: req_key,
            tcp_flags: TcpFlags::empty()
        }
    );
    assert_eq!(
        rep.transport,
        Transport::Flow {
            key: key(L4Proto::Icmp, (LO1, 0), (LO2, 7213)),
            tcp_flags: TcpFlags::empty()
        }
    );
    assert_eq!(req.protocol, 1);
    assert_eq!((req.total_len, req.l4_at), (36, 20));
    let Transport::Flow { key: rep_key, .. } = rep.transport else {
        unreachable!()
    };
    assert_eq!(rep_key.reversed(), req_key);
}

/// The kernel's ICMP Port Unreachable (3/3) for a 1000-byte UDP datagram 127.0.0.2:40000 ->
/// 127.0.0.1:33434 (972 bytes of 'a'), captured on Linux loopback. The error is capped at 576
/// bytes, so its quote holds 548 of the datagram's 1000 bytes: the quoted total length (0x3e8)
/// runs far beyond the buffer, and must be accepted (quotes are truncated as a rule, RFC 5508
/// § 4 and REQ-3; RFC 1812 § 4.3.2.3 for the 576-byte cap). 0x9c40 = 40000, 0x829a = 33434.
#[test]
fn icmpv4_port_unreachable_quoting_truncated_udp() {
    let p = with_payload(
        "45c0 0240 0d30 0000 4001 6cca 7f00 0001 7f00 0002 | 0303 f17d 0000 0000 |
         4500 03e8 2754 4000 4011 11ae 7f00 0002 7f00 0001 | 9c40 829a 03d4 01e9",
        b'a',
        520,
    );
    assert_eq!(p.len(), 576);
    assert_ipv4_header_valid(&p);
    assert_l4_v4_valid(&p, 20); // ICMP checksum 0xf17d over 556 bytes, as the kernel sent it
    assert_ipv4_header_valid(&p[28..]); // the quoted header 0x11ae
    let expected = PacketInfo {
        src: LO1,
        dst: LO2,
        total_len: 576,
        l4_at: 20,
        protocol: 1,
        hop_limit: 64,
        fragment: None,
        transport: Transport::IcmpError {
            icmp_type: 3,
            code: 3,
            quote: Quote {
                ip_at: 28,
                l4_at: 48,
                protocol: 17,
                key: key(L4Proto::Udp, (LO2, 40000), (LO1, 33434)),
            },
        },
    };
    assert_eq!(parse_v4(&p), expected);

    // The minimum quote of RFC 792, IP header and 8 bytes, is enough.
    let mut short = p[..56].to_vec();
    short[2..4].copy_from_slice(&56u16.to_be_bytes());
    fill_ipv4_header(&mut short);
    fill_l4_v4(&mut short, 20, 2);
    assert_eq!(parse_v4(&short).transport, expected.transport);
}

/// An ICMP Port Unreachable built by hand that quotes the first 36 bytes of the captured TCP SYN
/// with IP options: the quoted transport header is found through the quoted IHL of 7 (RFC 5508
/// REQ-3b), at 20 + 8 + 28 = 56.
#[test]
fn icmpv4_error_quoting_ipv4_options_uses_quoted_ihl() {
    let syn = tcp4_syn_with_ip_options();
    let mut p = hex("4500 0040 0000 0000 4001 0000 7f00 0001 7f00 0002 | 0303 0000 0000 0000");
    p.extend_from_slice(&syn[..36]);
    assert_eq!(p.len(), 0x40);
    fill_ipv4_header(&mut p);
    // ICMP checksum computed independently: 0xe0ca.
    assert_eq!(fill_l4_v4(&mut p, 20, 2), 0xe0ca);
    assert_ipv4_header_valid(&p);
    assert_l4_v4_valid(&p, 20);
    let info = parse_v4(&p);
    assert_eq!(
        info.transport,
        Transport::IcmpError {
            icmp_type: 3,
            code: 3,
            quote: Quote {
                ip_at: 28,
                l4_at: 56,
                protocol: 6,
                key: key(L4Proto::Tcp, (LO2, 45678), (LO1, 8080)),
            },
        }
    );
}

/// A Time Exceeded built by hand, quoting a Destination Unreachable (3/1): an error about an
/// error is never translated (RFC 5508 § 7.1; RFC 1122 § 3.2.2 forbids sending it at all).
#[test]
fn icmpv4_error_quoting_icmp_error_is_nested() {
    // 198.51.100.1 -> 192.0.2.1, 11/0, quoting 192.0.2.1 -> 203.0.113.9 protocol 1, 3/1.
    let mut p = hex(
        "4500 0038 0000 0000 4001 0000 c633 6401 c000 0201 | 0b00 0000 0000 0000 |
         4500 001c 0001 0000 0101 0000 c000 0201 cb00 7109 | 0301 0000 0000 0000",
    );
    fill_ipv4_header(&mut p);
    fill_ipv4_header(&mut p[28..]);
    fill_l4_v4(&mut p, 20, 2);
    assert_ipv4_header_valid(&p);
    assert_l4_v4_valid(&p, 20);
    assert_eq!(parse_ipv4(&p), Err(ParseError::NestedIcmpError));
    assert_eq!(parse(&p), Err(ParseError::NestedIcmpError));
    // The same quote as an Echo Request (type 8) instead is an ordinary keyed quote.
    p[48] = 8;
    p[52..54].copy_from_slice(&0x1c2du16.to_be_bytes());
    fill_l4_v4(&mut p, 20, 2);
    let Transport::IcmpError { quote, .. } = parse_v4(&p).transport else {
        panic!("not an ICMP error")
    };
    let (a, b) = (Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(203, 0, 113, 9));
    assert_eq!(quote.key, key(L4Proto::Icmp, (a, 7213), (b, 0)));
}

/// A non-first IPv4 fragment (offset 185 × 8 = 1480, MF clear) carries no ports.
#[test]
fn ipv4_later_fragment() {
    // 192.0.2.1 -> 203.0.113.9 UDP, id 0x1234, flags/offset 0x00b9, 8 bytes of data.
    let mut p = hex("4500 001c 1234 00b9 4011 0000 c000 0201 cb00 7109 | 0102 0304 0506 0708");
    fill_ipv4_header(&mut p);
    assert_ipv4_header_valid(&p);
    let info = parse_v4(&p);
    assert_eq!(info.transport, Transport::LaterFragment);
    assert_eq!(
        info.fragment,
        Some(Fragment {
            id: 0x1234,
            offset: 1480,
            more: false,
            header_at: None
        })
    );
    // The first fragment (offset 0, MF set) is keyed as usual.
    let mut first = hex("4500 001c 1234 2000 4011 0000 c000 0201 cb00 7109 | 1389 0035 0010 0000");
    fill_ipv4_header(&mut first);
    let info = parse_v4(&first);
    assert!(info.fragment.is_some_and(|f| f.is_first() && f.more));
    assert!(matches!(info.transport, Transport::Flow { .. }));
}

// ---------------------------------------------------------------------------------------------
// IPv6
// ---------------------------------------------------------------------------------------------

/// A TCP SYN from `connect(2)`, [::1]:45679 -> [::1]:8443, captured on Linux loopback. Payload
/// length 0x28 = 40 (TCP data offset 0xa), next header 6, hop limit 64. 0xb26f = 45679,
/// 0x20fb = 8443.
#[test]
fn tcp_ipv6() {
    let mut p = hex("6001 bdcc 0028 0640 0000 0000 0000 0000 0000 0000 0000 0001
         0000 0000 0000 0000 0000 0000 0000 0001 |
         b26f 20fb 1448 c3c7 0000 0000 a002 ffc4 0030 0000
         0204 ffc4 0402 080a 8785 8e41 0000 0000 0103 030a");
    // 0x0030 is the loopback offload partial; the full checksum, computed independently: 0x8ce4.
    assert_eq!(fill_l4_v6(&mut p, 40, 6, 16), 0x8ce4);
    assert_l4_v6_valid(&p, 40, 6);
    let expected = PacketInfo {
        src: LO6,
        dst: LO6,
        total_len: 80,
        l4_at: 40,
        protocol: 6,
        hop_limit: 64,
        fragment: None,
        transport: Transport::Flow {
            key: key(L4Proto::Tcp, (LO6, 45679), (LO6, 8443)),
            tcp_flags: TcpFlags::SYN,
        },
    };
    assert_eq!(parse_v6(&p), expected);
}

/// The captured UDP datagram of the two tests below: `IPV6_HOPOPTS` and `IPV6_DSTOPTS` sticky
/// options (each next header, length 0, PadN of 4) on a socket sending 1300 bytes of 'c' from
/// [::1]:40002 to [::1]:33436. Payload length 0x52c = 1324 = 8 + 8 + 8 + 1300; UDP length
/// 0x51c = 1308; 0x9c42 = 40002, 0x829c = 33436. The UDP checksum 0x7c7b is the kernel's (and
/// matches an independent computation).
const UDP6_EXT_HEADERS: &str = "6006 edac 052c 0040 0000 0000 0000 0000 0000 0000 0000 0001
     0000 0000 0000 0000 0000 0000 0000 0001 |
     3c00 0104 0000 0000 | 1100 0104 0000 0000 | 9c42 829c 051c 7c7b";

#[test]
fn udp_ipv6_after_hop_by_hop_and_destination_options() {
    let p = with_payload(UDP6_EXT_HEADERS, b'c', 1300);
    assert_eq!(p.len(), 1364);
    assert_l4_v6_valid(&p, 56, 17);
    let expected = PacketInfo {
        src: LO6,
        dst: LO6,
        total_len: 1364,
        l4_at: 56,
        protocol: 17,
        hop_limit: 64,
        fragment: None,
        transport: Transport::Flow {
            key: key(L4Proto::Udp, (LO6, 40002), (LO6, 33436)),
            tcp_flags: TcpFlags::empty(),
        },
    };
    assert_eq!(parse_v6(&p), expected);
}

/// The kernel's ICMPv6 Destination Unreachable, port unreachable (1/4), for the datagram above,
/// captured on Linux loopback: capped at 1280 bytes (RFC 4443 § 2.4 (c)), so the quote is
/// truncated and its extension headers must be walked to reach the quoted ports at
/// 40 + 8 + 40 + 8 + 8 = 104. ICMPv6 checksum 0xfc8c as the kernel sent it.
#[test]
fn icmpv6_port_unreachable_quoting_truncated_udp_with_extension_headers() {
    let p = with_payload(
        "6000 bfc2 04d8 3a40 0000 0000 0000 0000 0000 0000 0000 0001
         0000 0000 0000 0000 0000 0000 0000 0001 | 0104 fc8c 0000 0000 |
         6006 edac 052c 0040 0000 0000 0000 0000 0000 0000 0000 0001
         0000 0000 0000 0000 0000 0000 0000 0001 |
         3c00 0104 0000 0000 | 1100 0104 0000 0000 | 9c42 829c 051c 7c7b",
        b'c',
        1280 - 112,
    );
    assert_eq!(p.len(), 1280);
    assert_l4_v6_valid(&p, 40, 58);
    let expected = PacketInfo {
        src: LO6,
        dst: LO6,
        total_len: 1280,
        l4_at: 40,
        protocol: 58,
        hop_limit: 64,
        fragment: None,
        transport: Transport::IcmpError {
            icmp_type: 1,
            code: 4,
            quote: Quote {
                ip_at: 48,
                l4_at: 104,
                protocol: 17,
                key: key(L4Proto::Udp, (LO6, 40002), (LO6, 33436)),
            },
        },
    };
    assert_eq!(parse_v6(&p), expected);
}

/// A UDP datagram [2001:db8:0:1::10]:5353 -> [2001:db8:0:2::20]:53 with 16 bytes of payload
/// ("fragmented udp!!"), built by hand and fragmented by hand in the RFC 8200 § 4.1 order:
/// Hop-by-Hop (unfragmentable part), Fragment, then Destination Options and UDP (fragmentable
/// part, 8 + 8 + 16 = 32 bytes). The first fragment carries 24 of them (offset 0, M = 1), the
/// second the last 8 (offset 3 × 8 = 24, M = 0); both repeat the Hop-by-Hop header.
/// Identification 0x0000abcd.
///
/// UDP checksum over the reassembled datagram (length 24), computed independently: 0xdfdc.
fn fragmented_udp6() -> (Vec<u8>, Vec<u8>) {
    let header = "6000 0000 {len} {nh}40 2001 0db8 0000 0001 0000 0000 0000 0010
                  2001 0db8 0000 0002 0000 0000 0000 0020";
    let first = hex(&format!(
        "{} | 2c00 0104 0000 0000 | 3c00 0001 0000 abcd | 1100 0104 0000 0000 |
         14e9 0035 0018 dfdc | 6672 6167 6d65 6e74",
        header.replace("{len}", "0028").replace("{nh}", "00")
    ));
    let later = hex(&format!(
        "{} | 2c00 0104 0000 0000 | 3c00 0018 0000 abcd | 6564 2075 6470 2121",
        header.replace("{len}", "0018").replace("{nh}", "00")
    ));
    (first, later)
}

#[test]
fn udp_ipv6_after_hop_by_hop_fragment_and_destination_options() {
    let (first, later) = fragmented_udp6();
    // Reassemble the UDP datagram and check its checksum.
    let mut udp = first[64..].to_vec();
    udp.extend_from_slice(&later[56..]);
    assert_eq!(udp.len(), 24);
    assert_eq!(&udp[8..], b"fragmented udp!!");
    assert!(checksum::verify(pseudo_header_v6(H6A, H6B, 17, 24), &udp));
    let expected = PacketInfo {
        src: H6A,
        dst: H6B,
        total_len: 80,
        l4_at: 64,
        protocol: 17,
        hop_limit: 64,
        fragment: Some(Fragment {
            id: 0xabcd,
            offset: 0,
            more: true,
            header_at: Some(48),
        }),
        transport: Transport::Flow {
            key: key(L4Proto::Udp, (H6A, 5353), (H6B, 53)),
            tcp_flags: TcpFlags::empty(),
        },
    };
    assert_eq!(parse_v6(&first), expected);
}

#[test]
fn ipv6_later_fragment() {
    let (_, later) = fragmented_udp6();
    let expected = PacketInfo {
        src: H6A,
        dst: H6B,
        total_len: 64,
        l4_at: 56,
        protocol: 60, // the Fragment header's next header: the fragmentable part's first
        hop_limit: 64,
        fragment: Some(Fragment {
            id: 0xabcd,
            offset: 24,
            more: false,
            header_at: Some(48),
        }),
        transport: Transport::LaterFragment,
    };
    assert_eq!(parse_v6(&later), expected);
}

/// An ICMPv6 Echo Request from a raw socket and the kernel's Echo Reply, captured on Linux
/// loopback ([::1] both ways). Identifier 0x1c2e = 7214, sequence 1, payload "natcore!";
/// checksums 0xac2b and 0xab2b as sent (the pseudo-header with next header 58 included).
#[test]
fn icmpv6_echo_request_and_reply() {
    let request = hex("6007 4111 0010 3a40 0000 0000 0000 0000 0000 0000 0000 0001
         0000 0000 0000 0000 0000 0000 0000 0001 | 8000 ac2b 1c2e 0001 6e61 7463 6f72 6521");
    let reply = hex("600f 39c9 0010 3a40 0000 0000 0000 0000 0000 0000 0000 0001
         0000 0000 0000 0000 0000 0000 0000 0001 | 8100 ab2b 1c2e 0001 6e61 7463 6f72 6521");
    for p in [&request, &reply] {
        assert_l4_v6_valid(p, 40, 58);
    }
    let req = parse_v6(&request);
    assert_eq!((req.total_len, req.l4_at, req.protocol), (56, 40, 58));
    assert_eq!(
        req.transport,
        Transport::Flow {
            key: key(L4Proto::Icmp, (LO6, 7214), (LO6, 0)),
            tcp_flags: TcpFlags::empty()
        }
    );
    assert_eq!(
        parse_v6(&reply).transport,
        Transport::Flow {
            key: key(L4Proto::Icmp, (LO6, 0), (LO6, 7214)),
            tcp_flags: TcpFlags::empty()
        }
    );
}

/// An ICMPv6 Destination Unreachable, address unreachable (1/3), built by hand: a router
/// (2001:db8:0:ff::1) returns to 2001:db8:0:1::10 its TCP SYN [..]:45679 -> [2001:db8:0:2::20]:443
/// (20-byte header, inner checksum 0xc83e). The quote starts at 48, its TCP header at 88.
/// Checksums computed independently: inner TCP 0xc83e, ICMPv6 0x3bc1.
#[test]
fn icmpv6_destination_unreachable_quoting_tcp() {
    let mut p = hex("6000 0000 0044 3a40 2001 0db8 0000 00ff 0000 0000 0000 0001
         2001 0db8 0000 0001 0000 0000 0000 0010 | 0103 0000 0000 0000 |
         6000 0000 0014 0640 2001 0db8 0000 0001 0000 0000 0000 0010
         2001 0db8 0000 0002 0000 0000 0000 0020 |
         b26f 01bb 1448 c3c7 0000 0000 5002 ffc4 c83e 0000");
    assert_eq!(fill_l4_v6(&mut p, 40, 58, 2), 0x3bc1);
    assert_l4_v6_valid(&p, 40, 58);
    assert_l4_v6_valid(&p[48..], 40, 6); // the quote is complete here, so its TCP checks too
    let expected = PacketInfo {
        src: ROUTER6,
        dst: H6A,
        total_len: 108,
        l4_at: 40,
        protocol: 58,
        hop_limit: 64,
        fragment: None,
        transport: Transport::IcmpError {
            icmp_type: 1,
            code: 3,
            quote: Quote {
                ip_at: 48,
                l4_at: 88,
                protocol: 6,
                key: key(L4Proto::Tcp, (H6A, 45679), (H6B, 443)),
            },
        },
    };
    assert_eq!(parse_v6(&p), expected);
}

/// An ICMPv6 Destination Unreachable quoting a Packet Too Big: an error about an error.
#[test]
fn icmpv6_error_quoting_icmpv6_error_is_nested() {
    let mut p = hex("6000 0000 0038 3a40 2001 0db8 0000 00ff 0000 0000 0000 0001
         2001 0db8 0000 0001 0000 0000 0000 0010 | 0104 0000 0000 0000 |
         6000 0000 0008 3a40 2001 0db8 0000 0001 0000 0000 0000 0010
         2001 0db8 0000 0002 0000 0000 0000 0020 | 0200 0000 0000 0500");
    fill_l4_v6(&mut p, 40, 58, 2);
    assert_l4_v6_valid(&p, 40, 58);
    assert_eq!(parse_ipv6(&p), Err(ParseError::NestedIcmpError));
    assert_eq!(parse(&p), Err(ParseError::NestedIcmpError));
}

// ---------------------------------------------------------------------------------------------
// Malformed packets: each gives its typed error.
// ---------------------------------------------------------------------------------------------

#[test]
fn truncated_headers() {
    assert_eq!(parse(&[]), Err(ParseError::Truncated { need: 1, got: 0 }));
    let tcp4 = tcp4_syn_with_ip_options();
    assert_eq!(
        parse(&tcp4[..19]),
        Err(ParseError::Truncated { need: 20, got: 19 })
    );
    let udp6 = with_payload(UDP6_EXT_HEADERS, b'c', 1300);
    assert_eq!(
        parse(&udp6[..39]),
        Err(ParseError::Truncated { need: 40, got: 39 })
    );
    // IPv4 whose total length (30) ends inside the 20-byte TCP header at 20.
    let mut p = hex("4500 001e 0000 4000 4006 0000 c000 0201 cb00 7109 | 1389 0050 0000 0000 0000");
    fill_ipv4_header(&mut p);
    assert_eq!(parse(&p), Err(ParseError::Truncated { need: 40, got: 30 }));
    // IPv6 whose payload (8 bytes) ends inside its Hop-by-Hop header of (1 + 1) × 8 = 16 bytes.
    let mut p = hex("6000 0000 0008 0040 2001 0db8 0000 0001 0000 0000 0000 0010
         2001 0db8 0000 0002 0000 0000 0000 0020 | 1101 0000 0000 0000");
    assert_eq!(parse(&p), Err(ParseError::Truncated { need: 56, got: 48 }));
    // TCP data offset 15 (60 bytes) beyond a 20-byte segment.
    p = hex(
        "4500 0028 0000 4000 4006 0000 c000 0201 cb00 7109 | 1389 0050 0000 0000 0000 0000 f002 0000 0000 0000",
    );
    fill_ipv4_header(&mut p);
    assert_eq!(parse(&p), Err(ParseError::Truncated { need: 80, got: 40 }));
}

#[test]
fn bad_ihl_and_data_offset() {
    let base = hex(
        "4500 0028 0000 4000 4006 0000 c000 0201 cb00 7109 | 1389 0050 0000 0000 0000 0000 5002 0000 0000 0000",
    );
    // IHL 4 (16 bytes), below the minimum of 5.
    let mut p = base.clone();
    p[0] = 0x44;
    assert_eq!(parse(&p), Err(ParseError::BadHeaderLength));
    // IHL 15 (60 bytes) beyond the total length of 40.
    p[0] = 0x4f;
    assert_eq!(parse(&p), Err(ParseError::BadHeaderLength));
    // Total length 19, below the 20-byte header.
    p = base.clone();
    p[2..4].copy_from_slice(&19u16.to_be_bytes());
    assert_eq!(parse(&p), Err(ParseError::BadHeaderLength));
    // TCP data offset 4 (16 bytes), below the minimum of 5.
    p = base.clone();
    p[32] = 0x40;
    assert_eq!(parse(&p), Err(ParseError::BadHeaderLength));
    assert!(parse(&base).is_ok());
}

#[test]
fn length_field_beyond_buffer() {
    let mut p = tcp4_syn_with_ip_options();
    p[2..4].copy_from_slice(&69u16.to_be_bytes());
    fill_ipv4_header(&mut p);
    assert_eq!(parse(&p), Err(ParseError::BadTotalLength));
    let mut p = with_payload(UDP6_EXT_HEADERS, b'c', 1300);
    p[4..6].copy_from_slice(&1325u16.to_be_bytes());
    assert_eq!(parse(&p), Err(ParseError::BadTotalLength));
}

#[test]
fn bad_version() {
    let mut p = tcp4_syn_with_ip_options();
    p[0] = 0x57;
    assert_eq!(parse(&p), Err(ParseError::BadVersion(5)));
    assert_eq!(parse_ipv6(&p), Err(ParseError::BadVersion(5)));
    let p6 = with_payload(UDP6_EXT_HEADERS, b'c', 1300);
    assert_eq!(parse_ipv4(&p6), Err(ParseError::BadVersion(6)));
}

/// `n` Destination Options headers of 8 bytes before an 8-byte UDP header.
fn ipv6_with_destination_options(n: usize) -> Vec<u8> {
    let mut p = hex("6000 0000 0000 3c40 2001 0db8 0000 0001 0000 0000 0000 0010
         2001 0db8 0000 0002 0000 0000 0000 0020");
    for i in 0..n {
        let next = if i + 1 == n { 17 } else { 60 };
        p.extend([next, 0, 1, 4, 0, 0, 0, 0]);
    }
    p.extend(hex("14e9 0035 0008 0000"));
    let len = (p.len() - 40) as u16;
    p[4..6].copy_from_slice(&len.to_be_bytes());
    fill_l4_v6(&mut p, 40 + 8 * n, 17, 6);
    p
}

#[test]
fn too_many_extension_headers() {
    let max = ExtensionWalk::MAX_HEADERS;
    let ok = ipv6_with_destination_options(max);
    assert_l4_v6_valid(&ok, 40 + 8 * max, 17);
    let info = parse_v6(&ok);
    assert_eq!((info.l4_at, info.protocol), (40 + 8 * max, 17));
    assert_eq!(
        parse(&ipv6_with_destination_options(max + 1)),
        Err(ParseError::TooManyExtensionHeaders)
    );
}

#[test]
fn icmp_error_quote_without_a_key() {
    // Quote of only 4 transport bytes: fewer than RFC 792's 8.
    let syn = tcp4_syn_with_ip_options();
    let mut p = hex("4500 003c 0000 0000 4001 0000 7f00 0001 7f00 0002 | 0303 0000 0000 0000");
    p.extend_from_slice(&syn[..32]);
    fill_ipv4_header(&mut p);
    fill_l4_v4(&mut p, 20, 2);
    assert_eq!(parse(&p), Err(ParseError::UnkeyableQuote));
    // A quote of a non-first fragment.
    let mut p = hex(
        "4500 0038 0000 0000 4001 0000 7f00 0001 7f00 0002 | 0303 0000 0000 0000 |
         4500 001c 1234 00b9 4011 0000 c000 0201 cb00 7109 | 0102 0304 0506 0708",
    );
    fill_ipv4_header(&mut p);
    fill_l4_v4(&mut p, 20, 2);
    assert_eq!(parse(&p), Err(ParseError::UnkeyableQuote));
}
