//! Property tests of the stateful NAT64 (RFC 6146): an IPv6 packet translated out, answered by
//! its IPv4 peer and translated back reaches its sender from the address and port it wrote to,
//! with valid checksums; and no input, however malformed, panics in either direction.

mod nat64_support;

use nat_core::siit::HEADROOM;
use nat_core::verdict::{Direction, Verdict};
use nat64_support::*;
use proptest::prelude::*;
use std::net::{Ipv4Addr, Ipv6Addr};

const CASES: u32 = 10_000;

/// Inside hosts: any unicast address outside pool6.
fn inside() -> impl Strategy<Value = Ipv6Addr> {
    any::<u128>()
        .prop_map(Ipv6Addr::from_bits)
        .prop_filter("unicast, outside pool6", |a| {
            !a.is_unspecified()
                && !a.is_loopback()
                && !a.is_multicast()
                && !nat_core::siit::Pref64::WELL_KNOWN.contains(*a)
        })
}

/// IPv4 peers: legal unicast sources other than pool4.
fn peer() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>()
        .prop_map(Ipv4Addr::from)
        .prop_filter("legal, not pool4", |a| {
            let o = a.octets();
            !(o[0] == 0 || o[0] == 127 || o[0] >= 224) && *a != T
        })
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Udp,
    Tcp,
    Echo,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![Just(Kind::Udp), Just(Kind::Tcp), Just(Kind::Echo)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// RFC 6146 § 3.6: the binding translates the IPv6 source and the IPv4 destination; the
    /// other two addresses are algorithmic. Out and back, addresses and ports are restored.
    #[test]
    fn ipv6_to_ipv4_to_ipv6_restores_addresses_and_ports(
        x in inside(),
        xp in 1u16..,
        z in peer(),
        zp in 1u16..,
        k in kind(),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut nat = nat();
        let zz = wkp(z);
        let sent = match k {
            Kind::Udp => udp6(x, xp, zz, zp, &payload),
            Kind::Tcp => tcp6(x, xp, zz, zp, SYN),
            Kind::Echo => echo6(x, zz, xp, true),
        };
        let o = out(&mut nat, 0.0, &sent);
        prop_assert!(l4_ok4(&o));
        let s = seen4(&o);
        prop_assert_eq!((s.src, s.dst), (T, z));
        // The IPv4 peer answers (T, t) from (Z, z).
        let t = match k {
            Kind::Echo => s.dport,
            _ => s.sport,
        };
        let reply = match k {
            Kind::Udp => udp4(z, zp, T, t, &payload),
            Kind::Tcp => tcp4(z, zp, T, t, SYN | ACK),
            Kind::Echo => echo4(z, T, t, false),
        };
        let r = inb(&mut nat, 1.0, &reply);
        prop_assert!(l4_ok6(&r));
        let b = seen6(&r);
        match k {
            Kind::Echo => {
                prop_assert_eq!((b.src, b.dst, b.sport, b.dport), (zz, x, 129, xp));
            }
            _ => prop_assert_eq!((b.src, b.sport, b.dst, b.dport), (zz, zp, x, xp)),
        }
    }

    /// Arbitrary bytes, from either side, at any offset, never panic; neither do the timers.
    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..256),
        inbound in any::<bool>(),
        start in 0usize..64,
        extra in 0usize..8,
        now in 0u64..20,
    ) {
        let mut nat = nat();
        let dir = if inbound { Direction::Inbound } else { Direction::Outbound };
        let mut buf = vec![0u8; start + bytes.len() + extra];
        buf[start..start + bytes.len()].copy_from_slice(&bytes);
        let len = bytes.len() + extra;
        let v = nat.process(at(now as f64), dir, &mut buf, start, len);
        if let Verdict::Forward { start, len } | Verdict::Reply { start, len } = v {
            prop_assert!(start + len <= buf.len());
        }
        let mut out = vec![0u8; HEADROOM + 2048];
        while nat.poll_transmit(at(now as f64 + 10.0), &mut out, HEADROOM).is_some() {}
        nat.handle_timeout(at(1e6), usize::MAX);
    }

    /// Valid packets with random bytes changed, both ways, on a translator with state (a static
    /// binding, live sessions, a stored SYN, a waiting fragment), never panic.
    #[test]
    fn mutated_packets_never_panic(
        which in 0usize..8,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in any::<usize>(),
    ) {
        let mut nat = nat();
        nat.add_static(at(0.0), nat_core::flow::L4Proto::Udp,
            nat_core::flow::Endpoint::new(X1, 53), nat_core::flow::Endpoint::new(T, 53)).unwrap();
        let sent = out(&mut nat, 0.0, &udp6(X1, 2000, wkp(Z), 4000, b"abc"));
        let _ = run(&mut nat, 0.0, Direction::Inbound, &tcp4(Z, 1, T, 7000, SYN));
        let frags = udp6_fragments(X1, 2000, wkp(Z), 4000, &[3u8; 40], 9, 24);
        let _ = run(&mut nat, 0.0, Direction::Outbound, &frags[1]);
        let samples: [(Direction, Vec<u8>); 8] = [
            (Direction::Outbound, udp6(X1, 2000, wkp(Z), 4000, b"abc")),
            (Direction::Outbound, tcp6(X1, 2001, wkp(T), 53, SYN)),
            (Direction::Outbound, echo6(X1, wkp(Z), 5, true)),
            (Direction::Outbound, frags[0].clone()),
            (Direction::Inbound, icmp4_error(Z, T, 3, 4, [0, 0, 5, 0], &sent)),
            (Direction::Inbound, udp4(Z, 4000, T, 2000, b"x")),
            (Direction::Inbound, udp4_fragments(Z, 1, T, 53, &[1u8; 40], 4, 24)[0].clone()),
            (Direction::Outbound, icmp6_error(X1, wkp(T), 2, 0, [0, 0, 5, 0], &udp6(wkp(T), 53, X1, 2000, b"y"))),
        ];
        let (dir, mut p) = samples[which].clone();
        for (at_, b) in flips {
            let i = at_ % p.len();
            p[i] ^= b;
        }
        p.truncate(cut % (p.len() + 1));
        let mut buf = vec![0u8; HEADROOM + p.len() + 64];
        buf[HEADROOM..HEADROOM + p.len()].copy_from_slice(&p);
        let _ = nat.process(at(1.0), dir, &mut buf, HEADROOM, p.len());
        let mut out_buf = vec![0u8; HEADROOM + 2048];
        while nat.poll_transmit(at(7.0), &mut out_buf, HEADROOM).is_some() {}
    }
}

/// The round trip keeps the binding for the next packet: a second datagram of the flow uses it.
#[test]
fn round_trip_reuses_the_binding() {
    let mut nat = nat();
    let a = out(&mut nat, 0.0, &udp6(X1, 40000, wkp(Z), 53, b"1"));
    let b = out(&mut nat, 1.0, &udp6(X1, 40000, wkp(Z), 53, b"2"));
    assert_eq!(seen4(&a).sport, seen4(&b).sport);
    assert_eq!(bindings(&nat), [0, 1, 0]);
}
