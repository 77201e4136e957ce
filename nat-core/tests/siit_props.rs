//! Property tests of the stateless translator: IPv6 → IPv4 → IPv6 restores the packet but for
//! the fields RFC 7915 changes, RFC 6052 embedding and extraction are inverse for every prefix
//! length, and no input, however malformed, panics either direction.

mod siit_support;

use nat_core::siit::{Fragments, Pref64, Siit};
use nat_core::verdict::Verdict;
use proptest::prelude::*;
use siit_support::*;
use std::net::{Ipv4Addr, Ipv6Addr};

const CASES: u32 = 10_000;

/// IPv4 addresses that pool6 maps without hairpinning and that are legal sources.
fn plain_v4() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>()
        .prop_map(Ipv4Addr::from)
        .prop_filter("legal, outside the EAM table", |a| {
            let o = a.octets();
            !(o[0] == 0 || o[0] == 127 || o[0] >= 224 || (o[0], o[1], o[2]) == (1, 0, 0))
                && (o[0], o[1], o[2]) != (10, 0, 0)
        })
}

fn pool6(a: Ipv4Addr) -> Ipv6Addr {
    Pref64::new(a6("2001:db8:100::"), 40).unwrap().embed(a)
}

#[derive(Clone, Debug)]
struct Packet6 {
    tc: u8,
    hl: u8,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    kind: u8,
    payload: Vec<u8>,
    port: u16,
}

fn packet6() -> impl Strategy<Value = Packet6> {
    (
        any::<u8>(),
        3u8..=255,
        plain_v4(),
        plain_v4(),
        0u8..4,
        prop::collection::vec(any::<u8>(), 0..1300),
        any::<u16>(),
    )
        .prop_map(|(tc, hl, src, dst, kind, payload, port)| Packet6 {
            tc,
            hl,
            src,
            dst,
            kind,
            payload,
            port,
        })
}

impl Packet6 {
    fn bytes(&self) -> Vec<u8> {
        let (proto, l4) = match self.kind {
            0 => (17, udp(self.port, 53, &self.payload)),
            1 => (6, tcp(self.port, 443, &self.payload)),
            2 => (
                58,
                icmp(
                    128,
                    0,
                    [(self.port >> 8) as u8, self.port as u8, 0, 1],
                    &self.payload,
                ),
            ),
            _ => (17, udp(self.port, 53, &self.payload)),
        };
        let mut h = V6::new(proto, "::1", "::1");
        h.src = pool6(self.src);
        h.dst = pool6(self.dst);
        h.tc = self.tc;
        h.hl = self.hl;
        if self.kind == 3 {
            // A zero-checksum-free UDP with a bad checksum stays equally bad.
            let mut p = h.build_l4(&l4);
            p[46] ^= 0x5a;
            if p[46] == 0 && p[47] == 0 {
                p[47] = 1;
            }
            return p;
        }
        h.build_l4(&l4)
    }
}

fn same_checksum(a: u16, b: u16) -> bool {
    a == b || (a | b == 0xffff && (a == 0 || b == 0))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn prop_6to4to6_restores_packet(p in packet6()) {
        let s = siit();
        let orig = p.bytes();
        let mut buf = vec![0u8; HR + orig.len() + 64];
        buf[HR..HR + orig.len()].copy_from_slice(&orig);
        let Verdict::Forward { start, len } = s.translate_6to4(&mut buf, HR, orig.len()) else {
            panic!("6to4 refused {p:?}");
        };
        prop_assert_eq!(len, orig.len() - 20);
        if p.kind != 3 {
            prop_assert!(checksums_ok_v4(&buf[start..start + len]));
        }
        let Verdict::Forward { start, len } = s.translate_4to6(&mut buf, start, len) else {
            panic!("4to6 refused {p:?}");
        };
        let back = &buf[start..start + len];
        prop_assert_eq!(back.len(), orig.len());
        // Changed by the RFC: flow label (0 out of 4->6), hop limit (decremented twice).
        prop_assert_eq!(back[7], orig[7] - 2);
        prop_assert_eq!(back[0], orig[0]);
        prop_assert_eq!(back[1] >> 4, orig[1] >> 4);
        prop_assert_eq!(&back[4..7], &orig[4..7]);
        prop_assert_eq!(&back[8..40], &orig[8..40]);
        let csum_at = 40 + match p.kind { 1 => 16, 2 => 2, _ => 6 };
        prop_assert!(same_checksum(be16(back, csum_at), be16(&orig, csum_at)));
        prop_assert_eq!(&back[40..csum_at], &orig[40..csum_at]);
        prop_assert_eq!(&back[csum_at + 2..], &orig[csum_at + 2..]);
    }

    #[test]
    fn prop_rfc6052_embed_extract_identity(bits in any::<u128>(), v4 in any::<u32>(), i in 0usize..6) {
        let len = Pref64::LENGTHS[i];
        let mask = u128::MAX << (128 - u32::from(len));
        let mut prefix = bits & mask;
        if len == 96 {
            prefix &= !(0xffu128 << 56);
        }
        let p = Pref64::new(Ipv6Addr::from(prefix), len).unwrap();
        let a = Ipv4Addr::from(v4);
        let e = p.embed(a);
        prop_assert_eq!(p.extract(e), Some(a));
        prop_assert_eq!(e.octets()[8], 0);
        prop_assert_eq!(p.embed(p.extract(e).unwrap()), e);
    }

    #[test]
    fn prop_arbitrary_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..1600),
        head in 0usize..64,
        tail in 0usize..256,
        version in 0u8..3,
    ) {
        let s = siit();
        let mut b = bytes.clone();
        if let (Some(first), 1 | 2) = (b.first_mut(), version) {
            *first = (*first & 0x0f) | if version == 1 { 0x40 } else { 0x60 };
        }
        for dir in 0..3 {
            let mut buf = vec![0u8; head + b.len() + tail];
            buf[head..head + b.len()].copy_from_slice(&b);
            let v = match dir {
                0 => s.translate_4to6(&mut buf, head, b.len()),
                1 => s.translate_6to4(&mut buf, head, b.len()),
                _ => s.translate(&mut buf, head, b.len()),
            };
            exercise(&s, &buf, v);
        }
    }

    #[test]
    fn prop_mutated_packets_never_panic(p in packet6(), flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..8), as_v4 in any::<bool>()) {
        let s = siit();
        let mut pkt = p.bytes();
        if as_v4 {
            let mut buf = vec![0u8; HR + pkt.len()];
            buf[HR..].copy_from_slice(&pkt);
            if let Verdict::Forward { start, len } = s.translate_6to4(&mut buf, HR, pkt.len()) {
                pkt = buf[start..start + len].to_vec();
            }
        }
        for (at, x) in flips {
            let n = pkt.len();
            pkt[at % n] ^= x;
        }
        let mut buf = vec![0u8; HR + pkt.len() + 200];
        buf[HR..HR + pkt.len()].copy_from_slice(&pkt);
        let v = s.translate(&mut buf, HR, pkt.len());
        exercise(&s, &buf, v);
    }
}

/// Checks a verdict's bounds and runs a forwarded packet through the fragmenter.
fn exercise(s: &Siit<8>, buf: &[u8], v: Verdict) {
    match v {
        Verdict::Forward { start, len } | Verdict::Reply { start, len } => {
            assert!(start + len <= buf.len());
            let pkt = &buf[start..start + len];
            if let Some(mtu) = s.fragment_mtu(pkt)
                && let Ok(mut f) = Fragments::new(pkt, mtu)
            {
                let mut scratch = vec![0u8; usize::from(mtu)];
                let _ = f.for_each(&mut scratch, |x| assert!(x.len() <= usize::from(mtu)));
            }
        }
        Verdict::Drop(_) | Verdict::Hold => {}
    }
}
