//! RFC 6146 (stateful NAT64) conformance: one test per row of `MATRIX.md` § 6, named after it,
//! on the virtual clock, asserting the exact fields of what comes out. Rows without a test are
//! in `CONFORMANCE.md` ("RFC 6146") with the reason.

mod nat64_support;

use nat_core::behavior::FilteringBehavior;
use nat_core::flow::{Endpoint, L4Proto};
use nat_core::nat64::{FRAGMENT_MIN, Nat64ConfigError};
use nat_core::session::FixedStore;
use nat_core::siit::Pref64;
use nat_core::tcp_state::TcpState;
use nat_core::time::Duration;
use nat_core::verdict::{Direction, DropReason, Verdict};
use nat64_support::*;
use std::net::{Ipv4Addr, Ipv6Addr};

const IN: Direction = Direction::Inbound;
const OUT: Direction = Direction::Outbound;

fn tcp_state(nat: &Nat, x: (Ipv6Addr, u16), y: (Ipv6Addr, u16)) -> Option<TcpState> {
    session_in(nat, L4Proto::Tcp, x, y).map(|s| TcpState::from_u8(s.state))
}

fn expires_in(nat: &Nat, proto: L4Proto, x: (Ipv6Addr, u16), y: (Ipv6Addr, u16), now: f64) -> f64 {
    let s = session_in(nat, proto, x, y).expect("session");
    (s.expires.as_millis() as f64 - now * 1000.0) / 1000.0
}

fn is_reply(v: Verdict) -> bool {
    matches!(v, Verdict::Reply { .. })
}

/// An outbound TCP handshake X1:x → Z:z, answered by the IPv4 side: an ESTABLISHED session.
fn established(nat: &mut Nat, now: f64, x: u16, z: u16) {
    out(nat, now, &tcp6(X1, x, wkp(Z), z, SYN));
    inb(nat, now, &tcp4(Z, z, T, x, SYN | ACK));
    assert_eq!(
        tcp_state(nat, (X1, x), (wkp(Z), z)),
        Some(TcpState::Established)
    );
}

// ---------------------------------------------------------------------------------------------
// § 3: configuration and structure.

#[test]
fn rfc6146_3_pool6_and_pool4_required() {
    let mut c = config();
    c.pool4.clear();
    let r = Nat::new(c, Box::new(FixedStore::new(1)), Pool4::new(T));
    assert_eq!(r.err(), Some(Nat64ConfigError::NoPool4));
    // A prefix always exists: the Well-Known Prefix unless another is configured.
    assert_eq!(config().pool6, Pref64::WELL_KNOWN);
}

#[test]
fn rfc6146_3_1_tcp_udp_icmp_bibs_are_separate() {
    let mut nat = nat();
    let u = out(&mut nat, 0.0, &udp6(X1, 5000, wkp(Z), 53, b"q"));
    let t = out(&mut nat, 0.0, &tcp6(X1, 5000, wkp(Z), 80, SYN));
    let i = out(&mut nat, 0.0, &echo6(X1, wkp(Z), 5000, true));
    // The same (T, 5000) in each of the three BIBs.
    assert_eq!((seen4(&u).src, seen4(&u).sport), (T, 5000));
    assert_eq!((seen4(&t).src, seen4(&t).sport), (T, 5000));
    assert_eq!((seen4(&i).src, seen4(&i).dport), (T, 5000));
    assert_eq!(bindings(&nat), [1, 1, 1]);
    let back = inb(&mut nat, 1.0, &udp4(Z, 53, T, 5000, b"a"));
    assert_eq!(seen6(&back).proto, 17);
    assert_eq!((seen6(&back).dst, seen6(&back).dport), (X1, 5000));
    let back = inb(&mut nat, 1.0, &tcp4(Z, 80, T, 5000, SYN | ACK));
    assert_eq!(seen6(&back).proto, 6);
}

#[test]
fn rfc6146_3_1_static_bib_lets_inbound_syn_in() {
    let mut nat = nat();
    nat.add_static(
        at(0.0),
        L4Proto::Tcp,
        Endpoint::new(X1, 80),
        Endpoint::new(T, 80),
    )
    .unwrap();
    let o = inb(&mut nat, 1.0, &tcp4(Z, 4000, T, 80, SYN));
    let s = seen6(&o);
    assert_eq!((s.src, s.sport, s.dst, s.dport), (wkp(Z), 4000, X1, 80));
    assert_eq!(o[40 + 13], SYN);
    assert_eq!(sessions(&nat), [1, 0, 0]);
    assert_eq!(
        tcp_state(&nat, (X1, 80), (wkp(Z), 4000)),
        Some(TcpState::OutsideInit)
    );
}

#[test]
fn rfc6146_3_1_dynamic_bib_deleted_with_last_session_static_kept() {
    let mut nat = nat();
    nat.add_static(
        at(0.0),
        L4Proto::Udp,
        Endpoint::new(X2, 53),
        Endpoint::new(T, 53),
    )
    .unwrap();
    out(&mut nat, 0.0, &udp6(X1, 6000, wkp(Z), 53, b""));
    inb(&mut nat, 0.0, &udp4(Z, 999, T, 53, b""));
    assert_eq!(bindings(&nat)[1], 2);
    assert_eq!(nat.handle_timeout(at(299.0), 100), 0);
    assert_eq!(nat.handle_timeout(at(301.0), 100), 2);
    assert_eq!(bindings(&nat)[1], 1, "the static binding stays");
    assert!(!nat.allocator().taken.contains(&(L4Proto::Udp, 6000)));
    assert!(nat.allocator().taken.contains(&(L4Proto::Udp, 53)));
    // The static one still lets packets in.
    inb(&mut nat, 302.0, &udp4(Z, 999, T, 53, b""));
}

// ---------------------------------------------------------------------------------------------
// § 3.4: the incoming tuple, fragments, other protocols.

#[test]
fn rfc6146_3_4_icmp_error_with_truncated_embedded_ports_dropped_silently() {
    let mut nat = nat();
    let o = out(&mut nat, 0.0, &udp6(X1, 2000, wkp(Z), 4000, b"x"));
    // The quote ends two bytes into the UDP header: no destination port.
    let e = icmp4_error(Z, T, 3, 3, [0; 4], &o[..22]);
    let (v, b) = run(&mut nat, 1.0, IN, &e);
    assert!(matches!(v, Verdict::Drop(_)), "{v:?}");
    assert!(b.is_empty());
}

#[test]
fn rfc6146_3_4_icmp_error_embedding_icmp_error_dropped() {
    let mut nat = nat();
    nat.add_static(
        at(0.0),
        L4Proto::Udp,
        Endpoint::new(X1, 53),
        Endpoint::new(T, 53),
    )
    .unwrap();
    let got = inb(&mut nat, 0.0, &udp4(Z, 4000, T, 53, b"q"));
    let inner = icmp6_error(X1, wkp(Z), 1, 4, [0; 4], &got);
    let e = icmp6_error(X1, wkp(Z), 1, 4, [0; 4], &inner);
    assert_eq!(
        run(&mut nat, 1.0, OUT, &e).0,
        Verdict::Drop(DropReason::NestedIcmpError)
    );
}

#[test]
fn rfc6146_3_4_icmp_error_with_truncated_embedded_query_dropped() {
    let mut nat = nat();
    let o = out(&mut nat, 0.0, &echo6(X1, wkp(Z), 7, true));
    // ICMP type, code and checksum only: no identifier.
    let e = icmp4_error(Z, T, 3, 1, [0; 4], &o[..24]);
    let (v, b) = run(&mut nat, 1.0, IN, &e);
    assert!(matches!(v, Verdict::Drop(_)), "{v:?}");
    assert!(b.is_empty());
}

#[test]
fn rfc6146_3_4_fragments_out_of_order_translated() {
    let mut nat = nat();
    let payload: Vec<u8> = (0..100u8).collect();
    let f = udp6_fragments(X1, 2000, wkp(Z), 4000, &payload, 0xabcd_1234, 56);
    assert_eq!(f.len(), 2);
    // The last fragment first: it waits.
    assert_eq!(run(&mut nat, 0.0, OUT, &f[1]).0, Verdict::Hold);
    assert_eq!(nat.waiting_fragments(), 1);
    let first = out(&mut nat, 0.5, &f[0]);
    let s = seen4(&first);
    assert_eq!((s.src, s.sport, s.dst, s.dport), (T, 2000, Z, 4000));
    assert_eq!(&first[4..6], &0x1234u16.to_be_bytes(), "identification");
    assert_eq!(
        u16::from_be_bytes([first[6], first[7]]),
        0x2000,
        "MF, offset 0"
    );
    let released = transmit(&mut nat, 0.5);
    assert_eq!(released.len(), 1);
    let (v, second) = &released[0];
    assert!(matches!(v, Verdict::Forward { .. }));
    assert_eq!(
        (&second[12..16], &second[16..20]),
        (&T.octets()[..], &Z.octets()[..])
    );
    assert_eq!(&second[4..6], &0x1234u16.to_be_bytes());
    assert_eq!(u16::from_be_bytes([second[6], second[7]]), 56 / 8);
    // Reassembled, the UDP message checks out.
    let mut udp = first[20..].to_vec();
    udp.extend_from_slice(&second[20..]);
    let ph = nat_core::checksum::pseudo_header_v4(T, Z, 17, udp.len() as u16);
    assert!(nat_core::checksum::verify(ph, &udp));
    assert_eq!(&udp[8..], &payload[..]);
    assert_eq!(nat.waiting_fragments(), 0);

    // IPv4 fragments inbound, in order, follow their first too.
    let f4 = udp4_fragments(Z, 4000, T, 2000, &payload, 77, 64);
    let a = inb(&mut nat, 1.0, &f4[0]);
    let b = inb(&mut nat, 1.0, &f4[1]);
    assert_eq!(seen6(&a).dst, X1);
    assert_eq!(
        (&b[8..24], &b[24..40]),
        (&wkp(Z).octets()[..], &X1.octets()[..])
    );
    assert_eq!(b[6], 44, "Fragment header");
    assert_eq!(u16::from_be_bytes([b[42], b[43]]), 64, "offset 64, last");
}

#[test]
fn rfc6146_3_4_fragment_storage_bounded_unfragmented_unaffected() {
    let mut nat = nat(); // W = 2 fragments may wait.
    let payload = [9u8; 64];
    let mut held = 0;
    for id in 0..20u32 {
        let f = udp6_fragments(X1, 2000, wkp(Z), 4000, &payload, id, 16);
        match run(&mut nat, 0.0, OUT, &f[1]).0 {
            Verdict::Hold => held += 1,
            v => assert_eq!(v, Verdict::Drop(DropReason::FragmentBufferFull)),
        }
    }
    assert_eq!(held, 2);
    assert_eq!(nat.waiting_fragments(), 2);
    out(&mut nat, 0.1, &udp6(X1, 2001, wkp(Z), 4000, b"fine"));
    // Orphans are given up after the fragment timeout.
    assert!(transmit(&mut nat, 2.1).is_empty());
    assert_eq!(nat.waiting_fragments(), 0);
}

#[test]
fn rfc6146_3_4_fragments_given_at_least_fragment_min() {
    assert_eq!(FRAGMENT_MIN, Duration::from_secs(2));
    assert_eq!(config().fragment_timeout, FRAGMENT_MIN);
    let mut nat = nat();
    let payload = [1u8; 40];
    let f = udp6_fragments(X1, 2000, wkp(Z), 4000, &payload, 1, 24);
    out(&mut nat, 0.0, &f[0]);
    let late = out(&mut nat, 1.9, &f[1]);
    assert_eq!(&late[16..20], &Z.octets());
    // After the interval, a later fragment no longer finds its first.
    let g = udp6_fragments(X1, 2000, wkp(Z), 4000, &payload, 2, 24);
    out(&mut nat, 10.0, &g[0]);
    assert_eq!(run(&mut nat, 12.1, OUT, &g[1]).0, Verdict::Hold);
    // Configurable.
    let mut c = config();
    c.fragment_timeout = Duration::from_secs(5);
    let mut nat = nat_with(c);
    out(&mut nat, 0.0, &f[0]);
    out(&mut nat, 4.9, &f[1]);
}

#[test]
fn rfc6146_3_4_first_fragment_must_hold_the_transport_header() {
    let mut nat = nat();
    // A first fragment with 4 bytes of the UDP header: refused (MAY).
    let f = udp6_fragments(X1, 2000, wkp(Z), 4000, &[0u8; 40], 3, 8);
    let mut cut = f[0].clone();
    cut.truncate(48 + 4);
    cut[4..6].copy_from_slice(&12u16.to_be_bytes());
    assert_eq!(
        run(&mut nat, 0.0, OUT, &cut).0,
        Verdict::Drop(DropReason::Truncated)
    );
    assert_eq!(sessions(&nat), [0; 3]);
}

#[test]
fn rfc6146_3_4_fragments_translated_as_they_arrive() {
    let mut nat = nat();
    let f = udp4_fragments(Z, 4000, T, 2000, &[5u8; 64], 9, 32);
    nat.add_static(
        at(0.0),
        L4Proto::Udp,
        Endpoint::new(X1, 2000),
        Endpoint::new(T, 2000),
    )
    .unwrap();
    // The first goes out at once, before the rest has come; its checksum is updated, not
    // recomputed over a reassembled datagram.
    let a = inb(&mut nat, 0.0, &f[0]);
    assert_eq!(u16::from_be_bytes([a[42], a[43]]), 1, "offset 0, M set");
    let whole = udp6(wkp(Z), 4000, X1, 2000, &[5u8; 64]);
    assert_eq!(&a[48 + 6..48 + 8], &whole[46..48], "the final UDP checksum");
}

#[test]
fn rfc6146_3_4_udp_zero_checksum_computed_or_dropped_silently() {
    let mut nat = nat();
    nat.add_static(
        at(0.0),
        L4Proto::Udp,
        Endpoint::new(X1, 53),
        Endpoint::new(T, 53),
    )
    .unwrap();
    let o = inb(&mut nat, 0.0, &udp4_nocsum(Z, 4000, T, 53, b"zero"));
    assert_ne!(&o[46..48], &[0, 0]);
    assert!(l4_ok6(&o));
    // Fragmented: it would need reassembly, which is not done: silently discarded.
    let mut f = udp4_fragments(Z, 4000, T, 53, &[1u8; 40], 5, 24);
    let mut first = f.remove(0);
    first[26..28].copy_from_slice(&[0, 0]);
    assert_eq!(
        run(&mut nat, 1.0, IN, &first).0,
        Verdict::Drop(DropReason::UdpZeroChecksum)
    );
}

#[test]
fn rfc6146_3_4_ipv6_other_protocol_gets_port_unreachable() {
    let mut nat = nat();
    let sctp = v6(X1, wkp(Z), 132, vec![0; 16]);
    let (v, e) = run(&mut nat, 0.0, OUT, &sctp);
    assert!(is_reply(v), "{v:?}");
    assert_eq!(
        (&e[8..24], &e[24..40]),
        (&OWN6.octets()[..], &X1.octets()[..])
    );
    assert_eq!((e[6], e[40], e[41]), (58, 1, 4));
    assert_eq!(&e[48..], &sctp[..]);
    assert!(l4_ok6(&e));
}

#[test]
fn rfc6146_3_4_ipv4_other_protocol_gets_protocol_unreachable() {
    let mut nat = nat();
    let gre = v4(Z, T, 47, vec![0; 8]);
    let (v, e) = run(&mut nat, 0.0, IN, &gre);
    assert!(is_reply(v), "{v:?}");
    assert_eq!((&e[12..16], &e[16..20]), (&T.octets()[..], &Z.octets()[..]));
    assert_eq!((e[20], e[21]), (3, 2));
    assert_eq!(&e[28..], &gre[..]);
    assert!(l4_ok4(&e));
}

// ---------------------------------------------------------------------------------------------
// § 3.5: filtering and updating.

#[test]
fn rfc6146_3_5_icmp_errors_never_create_or_refresh_state() {
    let mut nat = nat();
    let o = out(&mut nat, 0.0, &udp6(X1, 2000, wkp(Z), 4000, b"x"));
    let back = inb(&mut nat, 0.0, &udp4(Z, 4000, T, 2000, b"y"));
    let created = nat.state_counters().sessions_created;
    // Errors both ways at 200 s, about the session and about nothing.
    let e4 = icmp4_error(Z, T, 3, 3, [0; 4], &o);
    inb(&mut nat, 200.0, &e4);
    let e6 = icmp6_error(X1, wkp(Z), 1, 4, [0; 4], &back);
    out(&mut nat, 200.0, &e6);
    let stray = icmp4_error(W, T, 3, 3, [0; 4], &udp4(T, 7777, W, 53, b""));
    assert!(matches!(
        run(&mut nat, 200.0, IN, &stray).0,
        Verdict::Drop(_)
    ));
    assert_eq!(nat.state_counters().sessions_created, created);
    assert_eq!(bindings(&nat), [0, 1, 0]);
    // Not refreshed: the session dies 300 s after the last data packet (at 0 s).
    assert_eq!(nat.handle_timeout(at(301.0), 10), 1);
}

#[test]
fn rfc6146_3_5_pool6_source_dropped_silently() {
    let mut nat = nat();
    let p = udp6(wkp(Ipv4Addr::new(192, 0, 2, 1)), 500, wkp(Z), 53, b"");
    let (v, b) = run(&mut nat, 0.0, OUT, &p);
    assert_eq!(v, Verdict::Drop(DropReason::Policy));
    assert!(b.is_empty());
    assert_eq!(bindings(&nat), [0; 3]);
}

#[test]
fn rfc6146_3_5_only_pool6_destinations_processed() {
    let mut nat = nat();
    let p = udp6(X1, 500, "2001:db8::99".parse().unwrap(), 53, b"");
    assert_eq!(
        run(&mut nat, 0.0, OUT, &p).0,
        Verdict::Drop(DropReason::Untranslatable)
    );
    assert_eq!(bindings(&nat), [0; 3]);
}

#[test]
fn rfc6146_3_5_only_pool4_destinations_processed() {
    let mut nat = nat();
    let p = udp4(Z, 53, Ipv4Addr::new(192, 0, 2, 99), 500, b"");
    let (v, b) = run(&mut nat, 0.0, IN, &p);
    assert_eq!(v, Verdict::Drop(DropReason::NoMapping));
    assert!(b.is_empty(), "no error either: not ours");
}

// ---------------------------------------------------------------------------------------------
// § 3.5.1: UDP.

#[test]
fn rfc6146_3_5_1_first_udp_packet_creates_bib_and_session() {
    let mut nat = nat();
    let o = out(&mut nat, 0.0, &udp6(X1, 2000, wkp(Z), 4000, b"hi"));
    let s = seen4(&o);
    assert_eq!((s.src, s.sport, s.dst, s.dport), (T, 2000, Z, 4000));
    assert_eq!(&o[28..], b"hi");
    assert_eq!((bindings(&nat), sessions(&nat)), ([0, 1, 0], [0, 1, 0]));
    let e = session_in(&nat, L4Proto::Udp, (X1, 2000), (wkp(Z), 4000)).unwrap();
    assert_eq!(e.outside, Endpoint::new(T, 2000));
    assert_eq!(e.remote_out, Endpoint::new(Z, 4000));
}

#[test]
fn rfc6146_3_5_1_udp_session_lifetime() {
    // Default at least UDP_DEFAULT, reset by packets both ways.
    let mut nat = nat();
    out(&mut nat, 0.0, &udp6(X1, 2000, wkp(Z), 4000, b""));
    assert_eq!(
        expires_in(&nat, L4Proto::Udp, (X1, 2000), (wkp(Z), 4000), 0.0),
        300.0
    );
    assert_eq!(nat.handle_timeout(at(299.0), 10), 0);
    inb(&mut nat, 299.0, &udp4(Z, 4000, T, 2000, b""));
    assert_eq!(nat.handle_timeout(at(598.0), 10), 0);
    assert_eq!(nat.handle_timeout(at(600.0), 10), 1);
    // Never below UDP_MIN.
    let mut c = config();
    c.timeouts.udp = Duration::from_secs(60);
    let r = Nat::new(c, Box::new(FixedStore::new(1)), Pool4::new(T));
    assert_eq!(r.err(), Some(Nat64ConfigError::UdpTimeout));
    let mut c = config();
    c.timeouts.udp = Duration::from_secs(120);
    let mut nat = nat_with(c);
    out(&mut nat, 0.0, &udp6(X1, 2000, wkp(Z), 4000, b""));
    assert_eq!(
        expires_in(&nat, L4Proto::Udp, (X1, 2000), (wkp(Z), 4000), 0.0),
        120.0
    );
}

#[test]
fn rfc6146_3_5_1_udp_without_bib_dropped_with_port_unreachable() {
    let mut nat = nat();
    let p = udp4(Z, 4000, T, 7000, b"knock");
    let (v, e) = run(&mut nat, 0.0, IN, &p);
    assert!(is_reply(v), "{v:?}");
    assert_eq!((&e[12..16], &e[16..20]), (&T.octets()[..], &Z.octets()[..]));
    assert_eq!((e[20], e[21]), (3, 3));
    assert_eq!(&e[28..], &p[..]);
    assert_eq!(sessions(&nat), [0; 3]);
    // With errors off, silently.
    let mut c = config();
    c.xlat.send_icmp_errors = false;
    let mut nat = nat_with(c);
    assert_eq!(
        run(&mut nat, 0.0, IN, &p).0,
        Verdict::Drop(DropReason::NoMapping)
    );
}

#[test]
fn rfc6146_3_5_1_address_dependent_filtering() {
    let mut c = config();
    c.filtering.udp = FilteringBehavior::AddressDependent;
    let mut nat = nat_with(c);
    out(&mut nat, 0.0, &udp6(X1, 2000, wkp(Z), 4000, b""));
    let (v, e) = run(&mut nat, 1.0, IN, &udp4(W, 4000, T, 2000, b""));
    assert!(is_reply(v), "{v:?}");
    assert_eq!((e[20], e[21]), (3, 13));
    // Any port of Z is accepted.
    let o = inb(&mut nat, 1.0, &udp4(Z, 9999, T, 2000, b""));
    assert_eq!((seen6(&o).src, seen6(&o).sport), (wkp(Z), 9999));
}

#[test]
fn rfc6146_3_5_1_endpoint_independent_filtering_creates_session() {
    let mut nat = nat();
    out(&mut nat, 0.0, &udp6(X1, 2000, wkp(Z), 4000, b""));
    let o = inb(&mut nat, 1.0, &udp4(W, 5555, T, 2000, b"hello"));
    let s = seen6(&o);
    assert_eq!((s.src, s.sport, s.dst, s.dport), (wkp(W), 5555, X1, 2000));
    assert_eq!(sessions(&nat), [0, 2, 0]);
    assert!(session_in(&nat, L4Proto::Udp, (X1, 2000), (wkp(W), 5555)).is_some());
}

// ---------------------------------------------------------------------------------------------
// § 3.5.1.1, § 3.5.2.3: allocation (the policy is the allocator's).

#[test]
fn rfc6146_3_5_1_1_allocator_asked_once_per_binding_and_obeyed() {
    let mut nat = nat();
    nat.add_static(
        at(0.0),
        L4Proto::Udp,
        Endpoint::new(X2, 2000),
        Endpoint::new(T, 2000),
    )
    .unwrap();
    let o = out(&mut nat, 0.0, &udp6(X1, 2000, wkp(Z), 53, b""));
    // 2000 is taken by the static binding: the allocator's next choice is used as given.
    assert_eq!(seen4(&o).sport, 2001);
    out(&mut nat, 0.0, &udp6(X1, 2000, wkp(W), 53, b""));
    let r = &nat.allocator().requests;
    assert_eq!(r.len(), 1);
    assert_eq!(
        (r[0].proto, r[0].inside),
        (L4Proto::Udp, Endpoint::new(X1, 2000))
    );
    assert_eq!(r[0].remote, Endpoint::new(Z, 53));
}

#[test]
fn rfc6146_3_5_1_1_no_binding_address_unreachable() {
    let p = udp6(X1, 2000, wkp(Z), 53, b"q");
    let mut nat = exhausted_nat();
    let (v, e) = run(&mut nat, 0.0, OUT, &p);
    assert!(is_reply(v), "{v:?}");
    let s = seen6(&e);
    assert_eq!((s.src, s.dst), (OWN6, X1));
    assert_eq!((e[40], e[41]), (1, 3));
    assert_eq!(&e[48..], &p[..]);
    assert!(l4_ok6(&e));
    assert_eq!(bindings(&nat), [0; 3]);
    // With errors off, silently.
    let mut nat = exhausted_nat();
    let mut x = nat.config().xlat;
    x.send_icmp_errors = false;
    nat.set_xlat(x).unwrap();
    assert_eq!(
        run(&mut nat, 0.0, OUT, &p).0,
        Verdict::Drop(DropReason::PoolExhausted)
    );
}

/// A translator whose allocator has nothing left.
fn exhausted_nat() -> Nat {
    let mut a = Pool4::new(T);
    a.exhausted = true;
    Nat::new(config(), Box::new(FixedStore::new(3)), a).unwrap()
}

#[test]
fn rfc6146_3_5_2_3_tcp_no_binding_address_unreachable() {
    let mut nat = exhausted_nat();
    let syn = tcp6(X1, 2000, wkp(Z), 80, SYN);
    let (v, e) = run(&mut nat, 0.0, OUT, &syn);
    assert!(is_reply(v), "{v:?}");
    assert_eq!((e[40], e[41]), (1, 3));
    assert_eq!(&e[48..], &syn[..]);
}

// ---------------------------------------------------------------------------------------------
// § 3.5.2.2: the TCP state machine.

#[test]
fn rfc6146_3_5_2_2_closed_v6_syn_to_v6_init() {
    let mut nat = nat();
    let o = out(&mut nat, 0.0, &tcp6(X1, 2000, wkp(Z), 80, SYN));
    let s = seen4(&o);
    assert_eq!((s.src, s.sport, s.dst, s.dport), (T, 2000, Z, 80));
    assert_eq!(o[20 + 13], SYN);
    assert_eq!(
        tcp_state(&nat, (X1, 2000), (wkp(Z), 80)),
        Some(TcpState::InsideInit)
    );
    assert_eq!(
        expires_in(&nat, L4Proto::Tcp, (X1, 2000), (wkp(Z), 80), 0.0),
        240.0
    );
}

#[test]
fn rfc6146_3_5_2_2_closed_v4_syn_dropped_by_policy() {
    let mut c = config();
    c.drop_external_tcp = true;
    let mut nat = nat_with(c);
    nat.add_static(
        at(0.0),
        L4Proto::Tcp,
        Endpoint::new(X1, 80),
        Endpoint::new(T, 80),
    )
    .unwrap();
    for dp in [80, 7000] {
        let (v, b) = run(&mut nat, 0.0, IN, &tcp4(Z, 4000, T, dp, SYN));
        assert_eq!(v, Verdict::Drop(DropReason::Policy));
        assert!(b.is_empty());
    }
    assert_eq!(nat.stored_syns(), 0);
    assert!(transmit(&mut nat, 7.0).is_empty());
    // A V4 SYN answering a V6 SYN is not externally initiated.
    out(&mut nat, 8.0, &tcp6(X1, 2000, wkp(Z), 80, SYN));
    inb(&mut nat, 8.0, &tcp4(Z, 80, T, 2000, SYN | ACK));
}

/// CLOSED + V4 SYN to an unused (T, t): stored for TCP_INCOMING_SYN, no BIB, no IPv6 output,
/// then Port Unreachable.
#[test]
fn rfc6146_4_tcp_incoming_syn_6s() {
    let mut nat = nat();
    let syn = tcp4(Z, 4000, T, 7000, SYN);
    assert_eq!(run(&mut nat, 0.0, IN, &syn).0, Verdict::Hold);
    assert_eq!((nat.stored_syns(), bindings(&nat)), (1, [0; 3]));
    assert_eq!(nat.poll_timeout(), Some(at(6.0)));
    assert!(transmit(&mut nat, 5.9).is_empty());
    let sent = transmit(&mut nat, 6.0);
    assert_eq!(sent.len(), 1);
    assert!(is_reply(sent[0].0));
    assert_eq!(sent[0].1[0] >> 4, 4, "to the IPv4 side only");
    assert_eq!(nat.stored_syns(), 0);
}

#[test]
fn rfc6146_3_5_2_2_closed_v4_syn_to_existing_bib() {
    // Endpoint-independent filtering: translated at once, V4 INIT with the transitory timer.
    let mut nat = nat();
    out(&mut nat, 0.0, &tcp6(X1, 2000, wkp(Z), 80, SYN));
    let o = inb(&mut nat, 1.0, &tcp4(W, 5000, T, 2000, SYN));
    let s = seen6(&o);
    assert_eq!((s.src, s.sport, s.dst, s.dport), (wkp(W), 5000, X1, 2000));
    assert_eq!(
        tcp_state(&nat, (X1, 2000), (wkp(W), 5000)),
        Some(TcpState::OutsideInit)
    );
    assert_eq!(
        expires_in(&nat, L4Proto::Tcp, (X1, 2000), (wkp(W), 5000), 1.0),
        240.0
    );
    // Address-dependent filtering: stored for 6 s.
    let mut c = config();
    c.filtering.tcp = FilteringBehavior::AddressDependent;
    let mut nat = nat_with(c);
    out(&mut nat, 0.0, &tcp6(X1, 2000, wkp(Z), 80, SYN));
    assert_eq!(
        run(&mut nat, 1.0, IN, &tcp4(W, 5000, T, 2000, SYN)).0,
        Verdict::Hold
    );
    let sent = transmit(&mut nat, 7.0);
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].1[20], sent[0].1[21]), (3, 3));
}

#[test]
fn rfc6146_3_5_2_2_closed_other_packets_without_state_discarded() {
    let mut nat = nat();
    let (v, b) = run(&mut nat, 0.0, IN, &tcp4(Z, 4000, T, 7000, ACK));
    assert!(matches!(v, Verdict::Drop(_)), "{v:?}");
    assert!(b.is_empty(), "silently");
    let (v, b) = run(&mut nat, 0.0, OUT, &tcp6(X1, 2000, wkp(Z), 80, ACK));
    assert_eq!(v, Verdict::Drop(DropReason::NoMapping));
    assert!(b.is_empty());
    assert_eq!((nat.stored_syns(), sessions(&nat)), (0, [0; 3]));
}

#[test]
fn rfc6146_3_5_2_2_v4_init_then_v6_syn_established() {
    let mut nat = nat();
    assert_eq!(
        run(&mut nat, 0.0, IN, &tcp4(Z, 2601, T, 2600, SYN)).0,
        Verdict::Hold
    );
    let o = out(&mut nat, 2.0, &tcp6(X1, 2600, wkp(Z), 2601, SYN));
    let s = seen4(&o);
    assert_eq!((s.src, s.sport, s.dst, s.dport), (T, 2600, Z, 2601));
    assert_eq!(nat.stored_syns(), 0);
    assert_eq!(nat.counters().simultaneous_opens, 1);
    assert_eq!(
        tcp_state(&nat, (X1, 2600), (wkp(Z), 2601)),
        Some(TcpState::Established)
    );
    assert_eq!(
        expires_in(&nat, L4Proto::Tcp, (X1, 2600), (wkp(Z), 2601), 2.0),
        7200.0
    );
    // The stored SYN is not answered later.
    assert!(transmit(&mut nat, 10.0).is_empty());
}

#[test]
fn rfc6146_3_5_2_2_v4_init_expiry_port_unreachable_with_stored_syn() {
    let mut nat = nat();
    let syn = tcp4(Z, 4000, T, 7000, SYN);
    assert_eq!(run(&mut nat, 0.0, IN, &syn).0, Verdict::Hold);
    let sent = transmit(&mut nat, 6.0);
    let e = &sent[0].1;
    assert_eq!((&e[12..16], &e[16..20]), (&T.octets()[..], &Z.octets()[..]));
    assert_eq!((e[20], e[21]), (3, 3));
    assert_eq!(&e[28..], &syn[..], "the stored SYN, whole");
    assert!(l4_ok4(e));
    assert_eq!(sessions(&nat), [0; 3]);
}

#[test]
fn rfc6146_3_5_2_2_v4_init_other_packets_not_forwarded() {
    let mut nat = nat();
    assert_eq!(
        run(&mut nat, 0.0, IN, &tcp4(Z, 4000, T, 7000, SYN)).0,
        Verdict::Hold
    );
    // No session exists while a SYN is stored: other packets find none.
    assert!(matches!(
        run(&mut nat, 1.0, IN, &tcp4(Z, 4000, T, 7000, ACK)).0,
        Verdict::Drop(_)
    ));
    // A retransmitted SYN keeps the first deadline.
    assert_eq!(
        run(&mut nat, 3.0, IN, &tcp4(Z, 4000, T, 7000, SYN)).0,
        Verdict::Hold
    );
    assert_eq!(nat.stored_syns(), 1);
    assert_eq!(transmit(&mut nat, 6.0).len(), 1);
}

#[test]
fn rfc6146_3_5_2_2_v6_init_then_v4_syn_established() {
    let mut nat = nat();
    out(&mut nat, 0.0, &tcp6(X1, 2000, wkp(Z), 80, SYN));
    let o = inb(&mut nat, 1.0, &tcp4(Z, 80, T, 2000, SYN | ACK));
    assert_eq!(o[40 + 13], SYN | ACK);
    assert_eq!(
        tcp_state(&nat, (X1, 2000), (wkp(Z), 80)),
        Some(TcpState::Established)
    );
    assert_eq!(
        expires_in(&nat, L4Proto::Tcp, (X1, 2000), (wkp(Z), 80), 1.0),
        7200.0
    );
    // A V4 SYN without ACK does it too (simultaneous open from the IPv6 side).
    out(&mut nat, 2.0, &tcp6(X1, 2001, wkp(Z), 81, SYN));
    inb(&mut nat, 2.0, &tcp4(Z, 81, T, 2001, SYN));
    assert_eq!(
        tcp_state(&nat, (X1, 2001), (wkp(Z), 81)),
        Some(TcpState::Established)
    );
}

#[test]
fn rfc6146_3_5_2_2_v6_init_retransmit_and_expiry() {
    let mut nat = nat();
    out(&mut nat, 0.0, &tcp6(X1, 2000, wkp(Z), 80, SYN));
    out(&mut nat, 100.0, &tcp6(X1, 2000, wkp(Z), 80, SYN));
    assert_eq!(
        tcp_state(&nat, (X1, 2000), (wkp(Z), 80)),
        Some(TcpState::InsideInit)
    );
    assert_eq!(nat.handle_timeout(at(339.0), 10), 0);
    assert_eq!(nat.handle_timeout(at(341.0), 10), 1);
    assert_eq!((sessions(&nat), bindings(&nat)), ([0; 3], [0; 3]));
}

#[test]
fn rfc6146_3_5_2_2_v6_init_other_packets_translated() {
    let mut nat = nat();
    out(&mut nat, 0.0, &tcp6(X1, 2000, wkp(Z), 80, SYN));
    let o = out(&mut nat, 1.0, &tcp6(X1, 2000, wkp(Z), 80, ACK));
    assert_eq!(o[20 + 13], ACK);
    let i = inb(&mut nat, 1.0, &tcp4(Z, 80, T, 2000, ACK));
    assert_eq!(seen6(&i).dst, X1);
    assert_eq!(
        tcp_state(&nat, (X1, 2000), (wkp(Z), 80)),
        Some(TcpState::InsideInit)
    );
}

#[test]
fn rfc6146_3_5_2_2_established_fin_states() {
    let mut nat = nat();
    established(&mut nat, 0.0, 2000, 80);
    let o = inb(&mut nat, 1.0, &tcp4(Z, 80, T, 2000, FIN | ACK));
    assert_eq!(o[40 + 13], FIN | ACK);
    assert_eq!(
        tcp_state(&nat, (X1, 2000), (wkp(Z), 80)),
        Some(TcpState::OutsideFin)
    );
    established(&mut nat, 2.0, 2001, 81);
    out(&mut nat, 3.0, &tcp6(X1, 2001, wkp(Z), 81, FIN | ACK));
    assert_eq!(
        tcp_state(&nat, (X1, 2001), (wkp(Z), 81)),
        Some(TcpState::InsideFin)
    );
}

#[test]
fn rfc6146_3_5_2_2_established_rst_to_trans() {
    let mut nat = nat();
    for (x, z, from_v4) in [(2000, 80, true), (2001, 81, false)] {
        established(&mut nat, 0.0, x, z);
        if from_v4 {
            inb(&mut nat, 10.0, &tcp4(Z, z, T, x, RST));
        } else {
            out(&mut nat, 10.0, &tcp6(X1, x, wkp(Z), z, RST));
        }
        assert_eq!(tcp_state(&nat, (X1, x), (wkp(Z), z)), Some(TcpState::Trans));
        assert_eq!(
            expires_in(&nat, L4Proto::Tcp, (X1, x), (wkp(Z), z), 10.0),
            240.0
        );
    }
}

#[test]
fn rfc6146_3_5_2_2_established_idle_two_hours_still_translated() {
    let mut nat = nat();
    established(&mut nat, 0.0, 2000, 80);
    assert_eq!(nat.handle_timeout(at(7199.0), 10), 0);
    let o = out(&mut nat, 7199.0, &tcp6(X1, 2000, wkp(Z), 80, ACK));
    assert_eq!(seen4(&o).dst, Z);
    assert_eq!(
        expires_in(&nat, L4Proto::Tcp, (X1, 2000), (wkp(Z), 80), 7199.0),
        7200.0
    );
}

#[test]
fn rfc6146_3_5_2_2_established_expiry_probe_then_trans() {
    let mut nat = nat();
    established(&mut nat, 0.0, 2000, 80);
    established(&mut nat, 0.0, 2001, 81);
    assert_eq!(nat.handle_timeout(at(7199.0), 10), 0);
    // TCP_EST: both go to TRANS, each with a probe to its IPv6 endpoint.
    assert_eq!(nat.handle_timeout(at(7201.0), 10), 2);
    assert_eq!(sessions(&nat), [2, 0, 0]);
    assert_eq!(
        tcp_state(&nat, (X1, 2000), (wkp(Z), 80)),
        Some(TcpState::Trans)
    );
    assert_eq!(
        expires_in(&nat, L4Proto::Tcp, (X1, 2000), (wkp(Z), 80), 7200.0),
        240.0
    );
    let probes = transmit(&mut nat, 7201.0);
    assert_eq!(probes.len(), 2);
    for (v, p) in &probes {
        assert!(matches!(v, Verdict::Forward { .. }));
        let s = seen6(p);
        assert_eq!((s.src, s.dst, s.proto), (wkp(Z), X1, 6));
        assert!([(80, 2000), (81, 2001)].contains(&(s.sport, s.dport)));
        assert_eq!(&p[44..52], &[0; 8], "sequence and acknowledgment 0");
        assert_eq!(p[53], ACK, "only ACK");
        assert_eq!(p.len(), 60, "no data");
        assert!(l4_ok6(p));
    }
    assert_eq!(nat.counters().probes_sent, 2);
    // The live endpoint answers: ESTABLISHED again, for TCP_EST.
    out(&mut nat, 7202.0, &tcp6(X1, 2000, wkp(Z), 80, ACK));
    assert_eq!(
        tcp_state(&nat, (X1, 2000), (wkp(Z), 80)),
        Some(TcpState::Established)
    );
    // The silent one is gone 2 h 4 min after its last packet, its binding with it.
    assert_eq!(nat.handle_timeout(at(7200.0 + 239.0), 10), 0);
    assert_eq!(nat.handle_timeout(at(7200.0 + 241.0), 10), 1);
    assert_eq!(tcp_state(&nat, (X1, 2001), (wkp(Z), 81)), None);
    assert_eq!(bindings(&nat), [1, 0, 0]);
    // Never below TCP_EST.
    let mut c = config();
    c.timeouts.tcp_established = Duration::from_secs(7199);
    let r = Nat::new(c, Box::new(FixedStore::new(1)), Pool4::new(T));
    assert_eq!(r.err(), Some(Nat64ConfigError::TcpEstablished));
    // Without probes, the move to TRANS still happens.
    let mut c = config();
    c.tcp_probe = false;
    let mut nat = nat_with(c);
    established(&mut nat, 0.0, 2000, 80);
    assert_eq!(nat.handle_timeout(at(7201.0), 10), 1);
    assert!(transmit(&mut nat, 7201.0).is_empty());
    assert_eq!(
        tcp_state(&nat, (X1, 2000), (wkp(Z), 80)),
        Some(TcpState::Trans)
    );
}

#[test]
fn rfc6146_3_5_2_2_both_fins_deleted_four_minutes_later() {
    let mut nat = nat();
    established(&mut nat, 0.0, 2000, 80);
    out(&mut nat, 10.0, &tcp6(X1, 2000, wkp(Z), 80, FIN | ACK));
    inb(&mut nat, 20.0, &tcp4(Z, 80, T, 2000, FIN | ACK));
    assert_eq!(
        tcp_state(&nat, (X1, 2000), (wkp(Z), 80)),
        Some(TcpState::BothFin)
    );
    assert_eq!(nat.handle_timeout(at(259.0), 10), 0);
    assert_eq!(nat.handle_timeout(at(261.0), 10), 1);
}

#[test]
fn rfc6146_3_5_2_2_both_fins_last_ack_translated() {
    let mut nat = nat();
    established(&mut nat, 0.0, 2000, 80);
    out(&mut nat, 10.0, &tcp6(X1, 2000, wkp(Z), 80, FIN | ACK));
    inb(&mut nat, 20.0, &tcp4(Z, 80, T, 2000, FIN | ACK));
    let o = out(&mut nat, 200.0, &tcp6(X1, 2000, wkp(Z), 80, ACK));
    assert_eq!(o[20 + 13], ACK);
    // Still deleted 4 min after the second FIN: the last ACK does not extend it.
    assert_eq!(nat.handle_timeout(at(261.0), 10), 1);
}

#[test]
fn rfc6146_3_5_2_2_trans_back_to_established() {
    let mut nat = nat();
    established(&mut nat, 0.0, 2000, 80);
    inb(&mut nat, 10.0, &tcp4(Z, 80, T, 2000, RST));
    out(&mut nat, 100.0, &tcp6(X1, 2000, wkp(Z), 80, ACK));
    assert_eq!(
        tcp_state(&nat, (X1, 2000), (wkp(Z), 80)),
        Some(TcpState::Established)
    );
    assert_eq!(
        expires_in(&nat, L4Proto::Tcp, (X1, 2000), (wkp(Z), 80), 100.0),
        7200.0
    );
}

// ---------------------------------------------------------------------------------------------
// § 3.5.3: ICMP queries.

#[test]
fn rfc6146_3_5_3_icmpv6_informational_filtered_by_policy() {
    let mut c = config();
    c.filter_icmpv6_informational = true;
    let mut nat = nat_with(c);
    let (v, b) = run(&mut nat, 0.0, OUT, &echo6(X1, wkp(Z), 7, true));
    assert_eq!(v, Verdict::Drop(DropReason::Policy));
    assert!(b.is_empty());
}

#[test]
fn rfc6146_3_5_3_icmp_query_bib_and_session() {
    let mut nat = nat();
    out(&mut nat, 0.0, &udp6(X1, 3000, wkp(Z), 53, b""));
    let o = out(&mut nat, 0.0, &echo6(X1, wkp(Z), 7, true));
    let s = seen4(&o);
    // Echo Request (8) from T, the address X1 already has, with the identifier given.
    assert_eq!((s.src, s.dst, s.proto, s.sport, s.dport), (T, Z, 1, 8, 7));
    assert!(l4_ok4(&o));
    let e = session_in(&nat, L4Proto::Icmp, (X1, 7), (wkp(Z), 0)).unwrap();
    assert_eq!(
        (e.outside, e.remote_out),
        (Endpoint::new(T, 7), Endpoint::new(Z, 0))
    );
    let r = inb(&mut nat, 1.0, &echo4(Z, T, 7, false));
    let s = seen6(&r);
    assert_eq!(
        (s.src, s.dst, s.proto, s.sport, s.dport),
        (wkp(Z), X1, 58, 129, 7)
    );
    assert!(l4_ok6(&r));
}

#[test]
fn rfc6146_3_5_3_icmp_query_lifetime_60_s() {
    let mut nat = nat();
    out(&mut nat, 0.0, &echo6(X1, wkp(Z), 7, true));
    inb(&mut nat, 59.0, &echo4(Z, T, 7, false));
    out(&mut nat, 100.0, &echo6(X1, wkp(Z), 8, true));
    assert_eq!(
        expires_in(&nat, L4Proto::Icmp, (X1, 8), (wkp(Z), 0), 100.0),
        60.0
    );
    nat.handle_timeout(at(161.0), 10);
    let (v, _) = run(&mut nat, 161.0, IN, &echo4(Z, T, 8, false));
    assert!(!matches!(v, Verdict::Forward { .. }), "{v:?}");
    // Configurable.
    let mut c = config();
    c.timeouts.icmp = Duration::from_secs(120);
    let mut nat = nat_with(c);
    out(&mut nat, 0.0, &echo6(X1, wkp(Z), 8, true));
    nat.handle_timeout(at(119.0), 10);
    inb(&mut nat, 119.0, &echo4(Z, T, 8, false));
}

#[test]
fn rfc6146_3_5_3_icmpv4_query_without_bib_host_unreachable() {
    let mut nat = nat();
    let p = echo4(Z, T, 99, true);
    let (v, e) = run(&mut nat, 0.0, IN, &p);
    assert!(is_reply(v), "{v:?}");
    assert_eq!((e[20], e[21]), (3, 1));
    assert_eq!(&e[28..], &p[..]);
}

#[test]
fn rfc6146_3_5_3_icmp_query_address_dependent_filtering() {
    let mut c = config();
    c.filtering.icmp = FilteringBehavior::AddressDependent;
    let mut nat = nat_with(c);
    out(&mut nat, 0.0, &echo6(X1, wkp(Z), 7, true));
    let (v, e) = run(&mut nat, 1.0, IN, &echo4(W, T, 7, true));
    assert!(is_reply(v), "{v:?}");
    assert_eq!((e[20], e[21]), (3, 13));
    // An Echo Request from Z to the binding reaches X1 with X1's identifier.
    let r = inb(&mut nat, 1.0, &echo4(Z, T, 7, true));
    let s = seen6(&r);
    assert_eq!((s.src, s.dst, s.sport, s.dport), (wkp(Z), X1, 128, 7));
}

// ---------------------------------------------------------------------------------------------
// § 3.5.4: IPv6 representations of IPv4 addresses.

#[test]
fn rfc6146_3_5_4_representation_reversible() {
    let mut c = config();
    for len in Pref64::LENGTHS {
        c.pool6 = Pref64::new("2001:db8::".parse().unwrap(), len).unwrap();
        for i in 0..2000u32 {
            let a = Ipv4Addr::from(i.wrapping_mul(2_654_435_761));
            let v6 = c.embed(a).unwrap();
            assert_eq!(c.extract(v6), Some(a), "/{len} {a}");
        }
    }
}

#[test]
fn rfc6146_3_5_4_prefix_length_at_most_96() {
    assert!(Pref64::new("64:ff9b::".parse().unwrap(), 104).is_err());
    assert!(Pref64::new("64:ff9b::".parse().unwrap(), 96).is_ok());
}

#[test]
fn rfc6146_3_5_4_configured_prefix_used_else_well_known() {
    assert_eq!(
        nat_core::nat64::Nat64Config::default().pool6,
        Pref64::WELL_KNOWN
    );
    let mut c = config();
    c.pool6 = Pref64::new("2001:db8:64::".parse().unwrap(), 96).unwrap();
    let mut nat = nat_with(c);
    let z6: Ipv6Addr = "2001:db8:64::c633:6407".parse().unwrap();
    out(&mut nat, 0.0, &udp6(X1, 2000, z6, 53, b""));
    let r = inb(&mut nat, 1.0, &udp4(Z, 53, T, 2000, b""));
    assert_eq!(seen6(&r).src, z6);
}

#[test]
fn rfc6146_3_5_4_rfc6052_algorithm() {
    // RFC 6052 § 2.4, Table 1: 192.0.2.33 under each prefix length.
    let a = Ipv4Addr::new(192, 0, 2, 33);
    for (p, len, want) in [
        ("2001:db8::", 32, "2001:db8:c000:221::"),
        ("2001:db8:100::", 40, "2001:db8:1c0:2:21::"),
        ("2001:db8:122::", 48, "2001:db8:122:c000:2:2100::"),
        ("2001:db8:122:300::", 56, "2001:db8:122:3c0:0:221::"),
        ("2001:db8:122:344::", 64, "2001:db8:122:344:c0:2:2100:0"),
        ("2001:db8:122:344::", 96, "2001:db8:122:344::c000:221"),
    ] {
        let mut c = config();
        c.pool6 = Pref64::new(p.parse().unwrap(), len).unwrap();
        let want: Ipv6Addr = want.parse().unwrap();
        assert_eq!(c.embed(a), Some(want));
        let mut nat = nat_with(c);
        // An inside host outside every prefix of the table (a pool6 source is dropped).
        let x: Ipv6Addr = "fd00::5".parse().unwrap();
        let o = out(&mut nat, 0.0, &udp6(x, 2000, want, 53, b""));
        assert_eq!(seen4(&o).dst, a, "/{len}");
    }
}

// ---------------------------------------------------------------------------------------------
// § 3.6, § 3.7: the outgoing tuple and the translation.

#[test]
fn rfc6146_3_6_ipv4_source_mapped_algorithmically() {
    let mut nat = nat();
    out(&mut nat, 0.0, &udp6(X1, 2000, wkp(Z), 4000, b""));
    let r = inb(&mut nat, 1.0, &udp4(Z, 4000, T, 2000, b""));
    let s = seen6(&r);
    assert_eq!((s.src, s.sport), (wkp(Z), 4000));
    assert_eq!((s.dst, s.dport), (X1, 2000));
}

#[test]
fn rfc6146_3_6_1_protocol_numbers() {
    let mut nat = nat();
    let o = out(&mut nat, 0.0, &echo6(X1, wkp(Z), 7, true));
    assert_eq!(o[9], 1);
    let r = inb(&mut nat, 0.0, &echo4(Z, T, 7, false));
    assert_eq!(r[6], 58);
    let u = out(&mut nat, 0.0, &udp6(X1, 2000, wkp(Z), 4000, b""));
    assert_eq!(u[9], 17);
    let t = out(&mut nat, 0.0, &tcp6(X1, 2000, wkp(Z), 80, SYN));
    assert_eq!(t[9], 6);
}

#[test]
fn rfc6146_3_7_checksums_updated_non_neutral_prefix() {
    let mut c = config();
    c.pool6 = Pref64::new("2001:db8:64::".parse().unwrap(), 96).unwrap();
    let mut nat = nat_with(c.clone());
    let z6 = c.embed(Z).unwrap();
    for p in [
        udp6(X1, 2000, z6, 4000, b"data"),
        tcp6(X1, 2001, z6, 80, SYN),
        echo6(X1, z6, 9, true),
    ] {
        let o = out(&mut nat, 0.0, &p);
        assert!(l4_ok4(&o), "{:?}", seen4(&o));
    }
    for p in [
        udp4(Z, 4000, T, 2000, b"back"),
        tcp4(Z, 80, T, 2001, SYN | ACK),
        echo4(Z, T, 9, false),
    ] {
        let o = inb(&mut nat, 0.0, &p);
        assert!(l4_ok6(&o), "{:?}", seen6(&o));
    }
}

#[test]
fn rfc6146_3_7_icmp_error_embedded_addresses_swapped_back() {
    let mut nat = nat();
    let sent = out(&mut nat, 0.0, &udp6(X1, 2000, wkp(Z), 4000, b"x"));
    let e = icmp4_error(Z, T, 3, 3, [0; 4], &sent);
    let r = inb(&mut nat, 1.0, &e);
    let s = seen6(&r);
    assert_eq!((s.src, s.dst, s.proto), (wkp(Z), X1, 58));
    assert_eq!((r[40], r[41]), (1, 4));
    let q = seen6(&r[48..]);
    assert_eq!((q.src, q.sport, q.dst, q.dport), (X1, 2000, wkp(Z), 4000));
    assert!(l4_ok6(&r));
    // And the other way.
    let got = inb(&mut nat, 2.0, &udp4(Z, 4000, T, 2000, b"y"));
    let e6 = icmp6_error(X1, wkp(Z), 1, 4, [0; 4], &got);
    let r = out(&mut nat, 3.0, &e6);
    assert_eq!((r[20], r[21]), (3, 3));
    let q = seen4(&r[28..]);
    assert_eq!((q.src, q.sport, q.dst, q.dport), (Z, 4000, T, 2000));
}

// ---------------------------------------------------------------------------------------------
// § 3.8: hairpinning.

#[test]
fn rfc6146_3_8_hairpinning() {
    let mut nat = nat();
    // X2's binding (T, 6000).
    out(&mut nat, 0.0, &udp6(X2, 6000, wkp(Z), 53, b""));
    let o = out(&mut nat, 1.0, &udp6(X1, 5000, wkp(T), 6000, b"hi"));
    let s = seen6(&o);
    assert_eq!((s.src, s.sport, s.dst, s.dport), (wkp(T), 5000, X2, 6000));
    assert_eq!(o[7], 63, "one hop");
    assert!(l4_ok6(&o));
    assert_eq!(nat.counters().hairpinned, 1);
    let back = out(&mut nat, 2.0, &udp6(X2, 6000, wkp(T), 5000, b"yo"));
    let s = seen6(&back);
    assert_eq!((s.src, s.sport, s.dst, s.dport), (wkp(T), 6000, X1, 5000));
    // An unsolicited hairpinned SYN is stored and answered from the IPv6 side.
    let syn = tcp6(X1, 5001, wkp(T), 7000, SYN);
    assert_eq!(run(&mut nat, 3.0, OUT, &syn).0, Verdict::Hold);
    let sent = transmit(&mut nat, 9.0);
    let e = &sent[0].1;
    assert_eq!((seen6(e).src, seen6(e).dst), (OWN6, X1));
    assert_eq!((e[40], e[41]), (1, 4));
    assert_eq!(&e[48..], &syn[..]);
    // Off: dropped.
    let mut c = config();
    c.hairpinning = false;
    let mut nat = nat_with(c);
    out(&mut nat, 0.0, &udp6(X2, 6000, wkp(Z), 53, b""));
    assert_eq!(
        run(&mut nat, 1.0, OUT, &udp6(X1, 5000, wkp(T), 6000, b"")).0,
        Verdict::Drop(DropReason::Policy)
    );
}

// ---------------------------------------------------------------------------------------------
// § 5: mapping, filtering, resource exhaustion; § 1.2.3.

#[test]
fn rfc6146_5_2_endpoint_independent_mapping() {
    let mut nat = nat();
    let a = out(&mut nat, 0.0, &udp6(X1, 5000, wkp(Z), 80, b""));
    let b = out(&mut nat, 0.0, &udp6(X1, 5000, wkp(W), 443, b""));
    assert_eq!(
        (seen4(&a).src, seen4(&a).sport),
        (seen4(&b).src, seen4(&b).sport)
    );
    assert_eq!((bindings(&nat), sessions(&nat)), ([0, 1, 0], [0, 2, 0]));
}

#[test]
fn rfc6146_5_3_stored_syn_memory_bounded() {
    let mut nat = nat(); // H = 4 stored SYNs.
    let mut stored = 0;
    for t in 7000..7100u16 {
        match run(&mut nat, 0.0, IN, &tcp4(Z, 4000, T, t, SYN)).0 {
            Verdict::Hold => stored += 1,
            v => assert!(matches!(v, Verdict::Drop(_)), "{v:?}"),
        }
    }
    assert_eq!((stored, nat.stored_syns()), (4, 4));
    out(&mut nat, 0.0, &udp6(X1, 2000, wkp(Z), 53, b"unaffected"));
    assert_eq!(transmit(&mut nat, 6.0).len(), 4);
}

#[test]
fn rfc6146_5_3_inbound_refresh_can_be_refused() {
    let mut c = config();
    c.inbound_refresh = false;
    let mut nat = nat_with(c);
    out(&mut nat, 0.0, &udp6(X1, 2000, wkp(Z), 4000, b""));
    inb(&mut nat, 200.0, &udp4(Z, 4000, T, 2000, b""));
    assert_eq!(nat.handle_timeout(at(301.0), 10), 1);
}

#[test]
fn rfc6146_1_2_3_endpoint_independent_and_address_dependent_filtering() {
    for f in [
        FilteringBehavior::EndpointIndependent,
        FilteringBehavior::AddressDependent,
    ] {
        let mut c = config();
        c.filtering = nat_core::behavior::PerProto::all(f);
        let mut nat = nat_with(c);
        out(&mut nat, 0.0, &udp6(X1, 2000, wkp(Z), 4000, b""));
        let (v, _) = run(&mut nat, 1.0, IN, &udp4(W, 1, T, 2000, b""));
        assert_eq!(
            matches!(v, Verdict::Forward { .. }),
            f == FilteringBehavior::EndpointIndependent
        );
    }
    let mut c = config();
    c.filtering.udp = FilteringBehavior::AddressAndPortDependent;
    let r = Nat::new(c, Box::new(FixedStore::new(1)), Pool4::new(T));
    assert_eq!(r.err(), Some(Nat64ConfigError::Filtering));
}

/// The errors the NAT64 sends on its own are rate-limited (RFC 1812 § 4.3.2.8): a flood of
/// unsolicited UDP to pool4 gets at most the burst of Port Unreachables, then drops counted as
/// suppressed.
#[test]
fn rfc6146_owed_icmp_errors_are_rate_limited() {
    let mut nat = nat();
    let mut replies = 0;
    for port in 0..200u16 {
        let pkt = udp4(Z, 4000, T, 2500 + port, b"x");
        if let (Verdict::Reply { .. }, _) = run(&mut nat, 1.0, Direction::Inbound, &pkt) {
            replies += 1;
        }
    }
    assert_eq!(replies, 50, "the default burst");
    assert_eq!(nat.counters().icmp_errors_suppressed, 150);
}
