//! Property tests of the packet layer: valid packets built from random parts parse to the key
//! they were built with; arbitrary bytes, and valid packets with flipped bytes, truncations and
//! edited length fields, never panic, and whatever parses satisfies the promise of
//! `nat_core::wire`: every offset in the result lies inside the buffer.

use core::net::{Ipv4Addr, Ipv6Addr};
use nat_core::checksum::{self, pseudo_header_v4, pseudo_header_v6};
use nat_core::flow::{Endpoint, FlowKey, IpAddress, L4Proto};
use nat_core::wire::{
    PacketInfo, ParseError, Parsed, Quote, TcpFlags, Transport, parse, parse_ipv4, parse_ipv6,
};
use proptest::prelude::*;

const CASES: u32 = 10_000;

// ---------------------------------------------------------------------------------------------
// Building valid packets
// ---------------------------------------------------------------------------------------------

/// What a generated packet carries above IP.
#[derive(Clone, Debug)]
enum Upper {
    Tcp {
        flags: u8,
    },
    Udp,
    Echo {
        reply: bool,
    },
    /// An ICMP error quoting a packet (TCP, UDP or Echo) of which `keep` bytes past its 8
    /// transport bytes survive.
    Error {
        inner: Box<Upper>,
        keep: usize,
    },
}

#[derive(Clone, Debug)]
struct Spec {
    v6: bool,
    src: [u8; 16],
    dst: [u8; 16],
    sport: u16,
    dport: u16,
    /// IPv4: option words (0..=10); IPv6: extension headers (0 Hop-by-Hop, 43 Routing with
    /// Segments Left 0, 60 Destination Options), each 8 bytes.
    ip4_option_words: usize,
    ext: Vec<u8>,
    upper: Upper,
    payload: Vec<u8>,
}

fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

fn a4(b: &[u8; 16]) -> Ipv4Addr {
    Ipv4Addr::new(b[0], b[1], b[2], b[3])
}

fn a6(b: &[u8; 16]) -> Ipv6Addr {
    Ipv6Addr::from(*b)
}

impl Spec {
    fn icmp_proto(&self) -> u8 {
        if self.v6 { 58 } else { 1 }
    }

    /// The transport bytes (checksum zero) and protocol number.
    fn upper_bytes(&self, upper: &Upper, payload: &[u8]) -> (Vec<u8>, u8) {
        match upper {
            Upper::Tcp { flags } => {
                let mut t = vec![0u8; 20];
                put16(&mut t, 0, self.sport);
                put16(&mut t, 2, self.dport);
                t[4..8].copy_from_slice(&0x1122_3344u32.to_be_bytes());
                t[12] = 0x50;
                t[13] = *flags;
                put16(&mut t, 14, 0xffff);
                t.extend(payload);
                (t, 6)
            }
            Upper::Udp => {
                let mut u = vec![0u8; 8];
                put16(&mut u, 0, self.sport);
                put16(&mut u, 2, self.dport);
                put16(&mut u, 4, (8 + payload.len()) as u16);
                u.extend(payload);
                (u, 17)
            }
            Upper::Echo { reply } => {
                let t = match (self.v6, reply) {
                    (false, false) => 8,
                    (false, true) => 0,
                    (true, false) => 128,
                    (true, true) => 129,
                };
                let mut m = vec![t, 0, 0, 0, 0, 0, 0, 1];
                put16(&mut m, 4, self.sport);
                m.extend(payload);
                (m, self.icmp_proto())
            }
            Upper::Error { inner, keep } => {
                // The quoted packet travelled the other way: swap the addresses.
                let back = Spec {
                    src: self.dst,
                    dst: self.src,
                    upper: (**inner).clone(),
                    ..self.clone()
                };
                let full = back.build();
                let l4 = back.l4_at();
                let quote = &full[..full.len().min(l4 + 8 + keep)];
                let t = if self.v6 { 1 } else { 3 };
                let mut m = vec![t, 3, 0, 0, 0, 0, 0, 0];
                m.extend(quote);
                (m, self.icmp_proto())
            }
        }
    }

    fn l4_at(&self) -> usize {
        if self.v6 {
            40 + 8 * self.ext.len()
        } else {
            20 + 4 * self.ip4_option_words
        }
    }

    /// The packet, with every checksum valid.
    fn build(&self) -> Vec<u8> {
        let (mut l4, proto) = self.upper_bytes(&self.upper, &self.payload);
        let csum_at = match proto {
            6 => 16,
            17 => 6,
            _ => 2,
        };
        let mut p;
        if self.v6 {
            p = vec![0x60, 0, 0, 0, 0, 0, 0, 64];
            p.extend(self.src);
            p.extend(self.dst);
            let mut next_at = 6;
            for &e in &self.ext {
                p[next_at] = e;
                next_at = p.len();
                p.extend([0, 0, 1, 4, 0, 0, 0, 0]);
                if e == 43 {
                    // Routing type 4 (RFC 8754 SRH), Segments Left 0.
                    let at = next_at;
                    p[at + 2] = 4;
                    p[at + 3] = 0;
                }
            }
            p[next_at] = proto;
            let ph = pseudo_header_v6(a6(&self.src), a6(&self.dst), proto, l4.len() as u32);
            let c = checksum::fill(&mut l4, csum_at, ph).unwrap();
            if proto == 17 {
                put16(&mut l4, 6, checksum::udp_nonzero(c));
            }
            p.extend(l4);
            let plen = (p.len() - 40) as u16;
            put16(&mut p, 4, plen);
        } else {
            let ihl = 5 + self.ip4_option_words;
            p = vec![
                0x40 | ihl as u8,
                0,
                0,
                0,
                0x12,
                0x34,
                0x40,
                0,
                64,
                proto,
                0,
                0,
            ];
            p.extend(&self.src[..4]);
            p.extend(&self.dst[..4]);
            p.extend(core::iter::repeat_n(1u8, 4 * self.ip4_option_words)); // NOPs
            let ph = if proto == 1 {
                0
            } else {
                pseudo_header_v4(a4(&self.src), a4(&self.dst), proto, l4.len() as u16)
            };
            let c = checksum::fill(&mut l4, csum_at, ph).unwrap();
            if proto == 17 {
                put16(&mut l4, 6, checksum::udp_nonzero(c));
            }
            p.extend(l4);
            let total = p.len() as u16;
            put16(&mut p, 2, total);
            checksum::fill(&mut p[..4 * ihl], 10, 0).unwrap();
        }
        p
    }

    fn key_of<A: IpAddress>(&self, upper: &Upper, src: A, dst: A) -> FlowKey<A> {
        let k = |proto, s, d| FlowKey::new(proto, Endpoint::new(src, s), Endpoint::new(dst, d));
        match upper {
            Upper::Tcp { .. } => k(L4Proto::Tcp, self.sport, self.dport),
            Upper::Udp => k(L4Proto::Udp, self.sport, self.dport),
            Upper::Echo { reply: false } => k(L4Proto::Icmp, self.sport, 0),
            Upper::Echo { reply: true } => k(L4Proto::Icmp, 0, self.sport),
            Upper::Error { .. } => unreachable!("errors are not nested here"),
        }
    }

    fn expected_transport<A: IpAddress>(&self, src: A, dst: A) -> Transport<A> {
        match &self.upper {
            Upper::Error { inner, .. } => {
                let ip_at = self.l4_at() + 8;
                let (_, protocol) = self.upper_bytes(inner, &[]);
                Transport::IcmpError {
                    icmp_type: if self.v6 { 1 } else { 3 },
                    code: 3,
                    quote: Quote {
                        ip_at,
                        l4_at: ip_at + self.l4_at(),
                        protocol,
                        key: self.key_of(inner, dst, src),
                    },
                }
            }
            up => Transport::Flow {
                key: self.key_of(up, src, dst),
                tcp_flags: match up {
                    Upper::Tcp { flags } => TcpFlags::from_bits_retain(*flags),
                    _ => TcpFlags::empty(),
                },
            },
        }
    }

    /// Offsets of the length fields of the built packet, for mutations to aim at.
    fn length_fields(&self) -> Vec<usize> {
        let l4 = self.l4_at();
        let mut v = if self.v6 {
            let mut v = vec![4, 6];
            v.extend((0..self.ext.len()).map(|i| 40 + 8 * i + 1));
            v
        } else {
            vec![0, 2, 6]
        };
        match &self.upper {
            Upper::Tcp { .. } => v.push(l4 + 12),
            Upper::Udp => v.push(l4 + 4),
            Upper::Echo { .. } => v.push(l4),
            // The quoted header's length fields and the quoted transport header.
            Upper::Error { .. } => v.extend([l4, l4 + 8, l4 + 8 + 2, l4 + 8 + 4, l4 + 8 + 6]),
        }
        v
    }
}

fn simple_upper() -> impl Strategy<Value = Upper> {
    prop_oneof![
        any::<u8>().prop_map(|flags| Upper::Tcp { flags }),
        Just(Upper::Udp),
        any::<bool>().prop_map(|reply| Upper::Echo { reply }),
    ]
}

fn upper() -> impl Strategy<Value = Upper> {
    prop_oneof![
        3 => simple_upper(),
        1 => (simple_upper(), 0usize..40).prop_map(|(inner, keep)| Upper::Error {
            inner: Box::new(inner),
            keep,
        }),
    ]
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        any::<bool>(),
        any::<[u8; 16]>(),
        any::<[u8; 16]>(),
        any::<(u16, u16)>(),
        0usize..=10,
        prop::collection::vec(prop_oneof![Just(43u8), Just(60u8)], 0..4),
        any::<bool>(),
        upper(),
        prop::collection::vec(any::<u8>(), 0..48),
    )
        .prop_map(
            |(v6, src, dst, (sport, dport), words, mut ext, hbh, upper, payload)| {
                if hbh {
                    ext.insert(0, 0); // Hop-by-Hop comes first (RFC 8200 § 4.1)
                }
                Spec {
                    v6,
                    src,
                    dst,
                    sport,
                    dport,
                    ip4_option_words: words,
                    ext,
                    upper,
                    payload,
                }
            },
        )
}

// ---------------------------------------------------------------------------------------------
// The promise of the parse: offsets inside the buffer, keys from the addresses of the header.
// ---------------------------------------------------------------------------------------------

fn check_info<A: IpAddress>(buf: &[u8], info: &PacketInfo<A>) -> Result<(), TestCaseError> {
    prop_assert!(info.total_len <= buf.len());
    prop_assert!(info.l4_at <= info.total_len);
    if let Some(h) = info.fragment.and_then(|f| f.header_at) {
        prop_assert!(h + 8 <= info.total_len);
    }
    match info.transport {
        Transport::Flow { key, .. } => {
            let need = if key.proto == L4Proto::Tcp { 20 } else { 8 };
            prop_assert!(info.l4_at + need <= info.total_len);
            prop_assert_eq!(key.src.addr, info.src);
            prop_assert_eq!(key.dst.addr, info.dst);
        }
        Transport::IcmpError { quote, .. } => {
            prop_assert_eq!(quote.ip_at, info.l4_at + 8);
            prop_assert!(quote.ip_at < quote.l4_at);
            prop_assert!(quote.l4_at + 8 <= info.total_len);
        }
        Transport::LaterFragment => {
            prop_assert!(info.fragment.is_some_and(|f| !f.is_first()));
        }
        Transport::Other => {}
    }
    Ok(())
}

/// Parses `buf` every way there is; checks the three entry points agree and the result keeps
/// its promise. A panic anywhere fails the property.
fn parse_all_ways(buf: &[u8]) -> Result<Result<Parsed, ParseError>, TestCaseError> {
    let r = parse(buf);
    let r4 = parse_ipv4(buf);
    let r6 = parse_ipv6(buf);
    match buf.first().map(|b| b >> 4) {
        Some(4) => prop_assert_eq!(&r, &r4.map(Parsed::V4)),
        Some(6) => prop_assert_eq!(&r, &r6.map(Parsed::V6)),
        None => prop_assert_eq!(&r, &Err(ParseError::Truncated { need: 1, got: 0 })),
        Some(v) => prop_assert_eq!(&r, &Err(ParseError::BadVersion(v))),
    }
    match &r {
        Ok(Parsed::V4(info)) => check_info(buf, info)?,
        Ok(Parsed::V6(info)) => check_info(buf, info)?,
        Err(_) => {}
    }
    Ok(r)
}

/// A change to a valid packet.
#[derive(Clone, Debug)]
enum Mutation {
    /// XOR a byte (index taken modulo the length) with a non-zero mask.
    Flip(usize, u8),
    /// Cut the packet to this length (modulo length + 1).
    Truncate(usize),
    /// Write a 16-bit value at one of the packet's length fields (chosen modulo their count).
    LengthField(usize, u16),
    /// Write one byte at one of the length fields.
    LengthByte(usize, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(i, m)| Mutation::Flip(i, m)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u16>()).prop_map(|(i, v)| Mutation::LengthField(i, v)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, v)| Mutation::LengthByte(i, v)),
    ]
}

fn apply(spec: &Spec, p: &mut Vec<u8>, m: &Mutation) {
    let fields = spec.length_fields();
    match *m {
        Mutation::Flip(i, mask) if !p.is_empty() => {
            let i = i % p.len();
            p[i] ^= mask;
        }
        Mutation::Truncate(n) => p.truncate(n % (p.len() + 1)),
        Mutation::LengthField(i, v) => {
            let at = fields[i % fields.len()];
            if at + 2 <= p.len() {
                put16(p, at, v);
            }
        }
        Mutation::LengthByte(i, v) => {
            let at = fields[i % fields.len()];
            if at < p.len() {
                p[at] = v;
            }
        }
        Mutation::Flip(..) => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// A valid packet parses to the key and offsets it was built with, its quote included.
    #[test]
    fn valid_packets_parse_to_their_key(spec in spec()) {
        let p = spec.build();
        let r = parse_all_ways(&p)?;
        match r {
            Ok(Parsed::V4(info)) => {
                prop_assert!(!spec.v6);
                prop_assert_eq!(info.total_len, p.len());
                prop_assert_eq!(info.l4_at, spec.l4_at());
                prop_assert_eq!(
                    info.transport,
                    spec.expected_transport(a4(&spec.src), a4(&spec.dst))
                );
            }
            Ok(Parsed::V6(info)) => {
                prop_assert!(spec.v6);
                prop_assert_eq!(info.total_len, p.len());
                prop_assert_eq!(info.l4_at, spec.l4_at());
                prop_assert_eq!(
                    info.transport,
                    spec.expected_transport(a6(&spec.src), a6(&spec.dst))
                );
            }
            Err(e) => prop_assert!(false, "valid packet rejected: {e:?}"),
        }
    }

    /// Arbitrary bytes never panic any parse; whatever parses keeps the offset promise.
    #[test]
    fn arbitrary_bytes_never_panic(buf in prop::collection::vec(any::<u8>(), 0..200)) {
        let _parsed_or_typed_error = parse_all_ways(&buf)?;
    }

    /// The same, with a plausible first byte so that the parse goes past the version check.
    #[test]
    fn arbitrary_bytes_after_a_version_never_panic(
        first in prop_oneof![0x40u8..=0x4f, 0x60u8..=0x6f],
        rest in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut buf = vec![first];
        buf.extend(rest);
        let _parsed_or_typed_error = parse_all_ways(&buf)?;
    }

    /// Valid packets with random byte flips, truncations and edited length fields never panic
    /// any parse, and whatever still parses keeps the offset promise.
    #[test]
    fn mutated_packets_never_panic(
        spec in spec(),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let mut p = spec.build();
        for m in &mutations {
            apply(&spec, &mut p, m);
        }
        let _parsed_or_typed_error = parse_all_ways(&p)?;
    }

    /// Any truncation of a valid packet either parses (ICMP quotes may lose bytes) or fails with
    /// a typed error; truncating the IP header itself is always `Truncated`.
    #[test]
    fn truncated_packets_fail_typed(spec in spec(), cut in any::<usize>()) {
        let p = spec.build();
        let n = cut % p.len();
        let r = parse_all_ways(&p[..n])?;
        let ip_header = if spec.v6 { 40 } else { 20 };
        if n == 0 {
            prop_assert_eq!(r, Err(ParseError::Truncated { need: 1, got: 0 }));
        } else if n < ip_header {
            prop_assert_eq!(r, Err(ParseError::Truncated { need: ip_header, got: n }));
        } else {
            // The length field now claims more than the buffer holds.
            prop_assert_eq!(r, Err(ParseError::BadTotalLength));
        }
    }
}
