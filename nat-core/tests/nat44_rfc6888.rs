//! RFC 6888 (common requirements for carrier-grade NATs): one test per applicable row of § 5
//! of the conformance matrix. Pooling, quotas and hold-down are the allocator's and tested in
//! `nat-alloc`; here only the engine's part: it uses what the allocator gives, turns its
//! refusals into the ICMP error, and tells it when ports are free. Rows not implemented are
//! listed in `CONFORMANCE.md`.

mod common;
use common::*;
use nat_core::allocator::AllocError;
use nat_core::behavior::FilteringBehavior;
use nat_core::flow::L4Proto;
use nat_core::nat44::{Nat44Config, UnreachableCode};
use nat_core::prefix::Prefix;
use nat_core::verdict::{Direction, DropReason, Verdict};
use std::net::Ipv4Addr;

/// A CGN configuration: endpoint-independent mapping and filtering, Host Unreachable when no
/// mapping can be made.
fn cgn_config() -> Nat44Config {
    let mut c = config();
    c.unreachable_code = UnreachableCode::HostUnreachable;
    c
}

fn cgn(alloc: TestAlloc) -> Nat {
    nat_with(cgn_config(), alloc)
}

fn pool() -> [Ipv4Addr; 2] {
    [ip(198, 51, 100, 1), ip(198, 51, 100, 2)]
}

fn is_reply(v: &Verdict) -> bool {
    matches!(v, Verdict::Reply { .. })
}

#[test]
fn rfc6888_req_1_transport_requirements_in_cgn_configuration() {
    let mut nat = cgn(TestAlloc::new(&pool(), 100));
    let xo = |p| ep(pool()[0], p);
    // RFC 4787: UDP endpoint-independent mapping and filtering, hairpinning.
    let a = out(&mut nat, 0.0, &udp(ep(x1(), 5000), ep(y1(), 53), b""));
    let b = out(&mut nat, 0.0, &udp(ep(x1(), 5000), ep(y2(), 54), b""));
    assert_eq!(endpoints(&a).0, endpoints(&b).0);
    inb(
        &mut nat,
        1.0,
        &udp(ep(ip(192, 0, 2, 1), 9), endpoints(&a).0, b""),
    );
    let x2o = endpoints(&out(&mut nat, 0.0, &udp(ep(x2(), 6000), ep(y1(), 53), b""))).0;
    let h = out(&mut nat, 1.0, &udp(ep(x1(), 5000), x2o, b"hairpin"));
    assert_eq!(h, hop(&udp(xo(5000), ep(x2(), 6000), b"hairpin")));
    // RFC 5382: TCP endpoint-independent mapping, handshake.
    let s = out(&mut nat, 2.0, &tcp(ep(x1(), 33000), ep(y1(), 80), SYN, b""));
    let s2 = out(
        &mut nat,
        2.0,
        &tcp(ep(x1(), 33000), ep(y2(), 443), SYN, b""),
    );
    assert_eq!(endpoints(&s).0, endpoints(&s2).0);
    inb(
        &mut nat,
        2.1,
        &tcp(ep(y1(), 80), endpoints(&s).0, SYN | ACK, b""),
    );
    // RFC 5508: ICMP queries and errors.
    let e = out(&mut nat, 3.0, &echo(x1(), y1(), 99, 1, true));
    inb(
        &mut nat,
        3.1,
        &echo(y1(), endpoints(&e).0.addr, endpoints(&e).0.port, 1, false),
    );
    let err = icmp_error(y1(), xo(5000).addr, 3, 3, [0; 4], &a, 28);
    assert_eq!(
        quoted_endpoints(&inb(&mut nat, 4.0, &err)).0,
        ep(x1(), 5000)
    );
    // RFC 5597 (DCCP) applies only where DCCP is forwarded; this engine does not forward it.
    let mut dccp = ipv4_header(x1(), y1(), 33, 16);
    dccp.extend_from_slice(&[0; 16]);
    let (v, _) = run(&mut nat, 5.0, Direction::Outbound, &dccp);
    assert_eq!(v, Verdict::Drop(DropReason::UnsupportedProtocol));
}

#[test]
fn rfc6888_req_2_paired_pooling_passes_allocator_choice_through() {
    // X1 is paired with the second address by the allocator (nat-alloc's default is paired);
    // every TCP, UDP and ICMP flow of X1 must leave from it.
    let [a1, a2] = pool();
    let mut nat = cgn(TestAlloc::new(&pool(), 100).pin(x1(), a2).pin(x2(), a1));
    let flows = [
        udp(ep(x1(), 5000), ep(y1(), 53), b""),
        tcp(ep(x1(), 5001), ep(y2(), 80), SYN, b""),
        echo(x1(), y1(), 5002, 1, true),
        udp(ep(x1(), 5003), ep(ip(192, 0, 2, 9), 4500), b""),
    ];
    for f in &flows {
        assert_eq!(addrs(&out(&mut nat, 0.0, f)).0, a2);
    }
    assert_eq!(
        addrs(&out(&mut nat, 0.0, &udp(ep(x2(), 5000), ep(y1(), 53), b""))).0,
        a1
    );
}

#[test]
fn rfc6888_req_2_justification_paired_for_every_transport() {
    let mut nat = cgn(TestAlloc::new(&pool(), 100));
    let mut seen = vec![];
    for i in 0..5u16 {
        seen.push(
            addrs(&out(
                &mut nat,
                0.0,
                &udp(ep(x1(), 100 + i), ep(y1(), 53), b""),
            ))
            .0,
        );
        seen.push(
            addrs(&out(
                &mut nat,
                0.0,
                &tcp(ep(x1(), 200 + i), ep(y1(), 80), SYN, b""),
            ))
            .0,
        );
        seen.push(addrs(&out(&mut nat, 0.0, &echo(x1(), y2(), 300 + i, 1, true))).0);
    }
    assert!(seen.iter().all(|&a| a == seen[0]), "{seen:?}");
}

/// Asserts that `pkt` from X1 is refused with Destination Unreachable `code`, quoting it.
fn assert_refused(nat: &mut Nat, t: f64, pkt: &[u8], code: u8) {
    let (v, e) = run(nat, t, Direction::Outbound, pkt);
    assert!(is_reply(&v), "{v:?}");
    assert_eq!(addrs(&e), (ip(10, 0, 0, 1), addrs(pkt).0));
    assert_eq!(icmp_type_code(&e), (3, code));
    assert_eq!(quoted(&e), pkt);
    assert!(checksums_valid(&e));
}

#[test]
fn rfc6888_req_4_port_limit_per_subscriber_enforced() {
    // The limit is the allocator's (nat-alloc); the engine must respect its refusal.
    let mut nat = cgn(TestAlloc::new(&pool(), 10));
    for p in 0..10 {
        out(&mut nat, 0.0, &udp(ep(x1(), 2000 + p), ep(y1(), 53), b""));
    }
    assert_refused(&mut nat, 0.0, &udp(ep(x1(), 3000), ep(y1(), 53), b""), 1);
    assert_eq!(nat.state_counters().mappings[L4Proto::Udp.index()], 10);
    // Identifiers are limited the same way.
    for id in 0..10 {
        out(&mut nat, 0.0, &echo(x1(), y1(), id, 1, true));
    }
    assert_refused(&mut nat, 0.0, &echo(x1(), y1(), 10, 1, true), 1);
    // Another subscriber is not affected.
    out(&mut nat, 0.0, &udp(ep(x2(), 3000), ep(y1(), 53), b""));
}

#[test]
fn rfc6888_req_4c_new_mapping_rate_limit_refusal() {
    // The rate limit is the allocator's (nat-alloc); its refusal gives the same error.
    let mut alloc = TestAlloc::new(&pool(), 10);
    alloc.refuse = Some(AllocError::RateLimited);
    let mut nat = cgn(alloc);
    assert_refused(&mut nat, 0.0, &tcp(ep(x1(), 1), ep(y1(), 80), SYN, b""), 1);
    assert_eq!(nat.state_counters().mappings, [0, 0, 0]);
}

#[test]
fn rfc6888_req_5_session_limit_per_subscriber() {
    // The session cap is the allocator's (`admit_session`, nat-alloc); the engine refuses the
    // session and keeps the mapping the subscriber already has.
    let mut alloc = TestAlloc::new(&pool(), 10);
    alloc.session_quota = 2;
    let mut nat = cgn(alloc);
    let x = ep(x1(), 5000);
    let m = endpoints(&out(&mut nat, 0.0, &udp(x, ep(y1(), 53), b""))).0;
    out(&mut nat, 0.0, &udp(x, ep(y2(), 53), b""));
    assert_refused(&mut nat, 0.0, &udp(x, ep(ip(192, 0, 2, 3), 53), b""), 1);
    assert_eq!(mapping_of(&nat, L4Proto::Udp, x), Some(m));
    // A fresh mapping refused for want of a session leaves no mapping behind.
    assert_refused(&mut nat, 0.0, &udp(ep(x1(), 5001), ep(y1(), 53), b""), 1);
    assert_eq!(mapping_of(&nat, L4Proto::Udp, ep(x1(), 5001)), None);
    assert_eq!(
        nat.allocator().released,
        vec![(L4Proto::Udp, ep(m.addr, 5001))]
    );
}

#[test]
fn rfc6888_req_6_translation_turned_off_for_destinations() {
    let mut c = cgn_config();
    c.passthrough
        .push(Prefix::new(ip(192, 0, 2, 10), 32).unwrap())
        .unwrap();
    let mut nat = nat_with(c, TestAlloc::new(&pool(), 10));
    let exempt = udp(ep(x1(), 5000), ep(ip(192, 0, 2, 10), 443), b"x");
    assert_eq!(out(&mut nat, 0.0, &exempt), hop(&exempt));
    let t = tcp(ep(x1(), 5000), ep(ip(192, 0, 2, 10), 443), SYN, b"");
    assert_eq!(out(&mut nat, 0.0, &t), hop(&t));
    assert_eq!(nat.state_counters().sessions, [0, 0, 0]);
    assert_eq!(nat.counters().passed_through, 2);
    let other = out(
        &mut nat,
        0.0,
        &udp(ep(x1(), 5000), ep(ip(192, 0, 2, 11), 443), b""),
    );
    assert_eq!(addrs(&other).0, pool()[0]);
}

#[test]
fn rfc6888_req_7_endpoint_independent_filtering_by_default() {
    assert_eq!(
        Nat44Config::default().filtering.get(L4Proto::Udp),
        FilteringBehavior::EndpointIndependent
    );
    assert_eq!(
        Nat44Config::default().filtering.get(L4Proto::Tcp),
        FilteringBehavior::EndpointIndependent
    );
    let mut nat = cgn(TestAlloc::new(&pool(), 10));
    let m = endpoints(&out(
        &mut nat,
        0.0,
        &udp(ep(x1(), 5000), ep(y1(), 3478), b""),
    ))
    .0;
    let i = inb(&mut nat, 1.0, &udp(ep(ip(192, 0, 2, 200), 1), m, b"peer"));
    assert_eq!(
        i,
        hop(&udp(ep(ip(192, 0, 2, 200), 1), ep(x1(), 5000), b"peer"))
    );
}

#[test]
fn rfc6888_req_7_address_dependent_filtering_available() {
    let mut c = cgn_config();
    c.filtering.udp = FilteringBehavior::AddressDependent;
    let mut nat = nat_with(c, TestAlloc::new(&pool(), 10));
    let m = endpoints(&out(
        &mut nat,
        0.0,
        &udp(ep(x1(), 5000), ep(y1(), 3478), b""),
    ))
    .0;
    let (v, _) = run(
        &mut nat,
        1.0,
        Direction::Inbound,
        &udp(ep(ip(192, 0, 2, 200), 1), m, b""),
    );
    assert_eq!(v, Verdict::Drop(DropReason::Filtered));
    inb(&mut nat, 1.0, &udp(ep(y1(), 1), m, b""));
}

#[test]
fn rfc6888_req_8_ports_released_at_expiry_for_hold_down() {
    // The hold-down itself is the allocator's (nat-alloc); the engine must hand the port back
    // when the mapping ends, at the time it ends, and never before.
    let mut nat = cgn(TestAlloc::new(&pool(), 10));
    let m = endpoints(&out(&mut nat, 0.0, &udp(ep(x1(), 5000), ep(y1(), 53), b""))).0;
    out(&mut nat, 200.0, &udp(ep(x1(), 5000), ep(y2(), 53), b""));
    assert_eq!(tick(&mut nat, 301.0), 1);
    assert!(
        nat.allocator().released_at.is_empty(),
        "a session still uses it"
    );
    assert_eq!(tick(&mut nat, 501.0), 1);
    assert_eq!(
        nat.allocator().released_at,
        vec![(at(501.0), L4Proto::Udp, m)]
    );
}

#[test]
fn rfc6888_req_11a_no_mapping_packet_dropped() {
    let mut c = cgn_config();
    c.icmp_errors.send = false;
    let mut nat = nat_with(c, TestAlloc::new(&pool(), 0));
    let (v, o) = run(
        &mut nat,
        0.0,
        Direction::Outbound,
        &udp(ep(x1(), 5000), ep(y1(), 53), b""),
    );
    assert_eq!((v, o), (Verdict::Drop(DropReason::QuotaExhausted), vec![]));
    assert_eq!(nat.counters().outbound, 0);
    assert_eq!(nat.counters().drops.get(DropReason::QuotaExhausted), 1);
}

#[test]
fn rfc6888_req_11_host_unreachable_code_1() {
    let mut nat = cgn(TestAlloc::new(&pool(), 0));
    let pkt = udp(ep(x1(), 5000), ep(y1(), 53), b"no room");
    assert_refused(&mut nat, 0.0, &pkt, 1);
    let pkt = tcp(ep(x1(), 5000), ep(y1(), 80), SYN, b"");
    assert_refused(&mut nat, 0.0, &pkt, 1);
    // The RFC 5508 default is code 13.
    assert_eq!(
        Nat44Config::default().unreachable_code,
        UnreachableCode::AdminProhibited
    );
    assert_eq!(UnreachableCode::HostUnreachable.code(), 1);
}
