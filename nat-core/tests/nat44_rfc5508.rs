//! RFC 5508 (NAT behavioural requirements for ICMP): one test per applicable row of § 3 of the
//! conformance matrix. Rows not implemented are listed in `CONFORMANCE.md`.

mod common;
use common::*;
use nat_core::allocator::AllocError;
use nat_core::flow::{Endpoint, FlowKey, L4Proto};
use nat_core::nat44::{ConfigError, IcmpErrorPolicy, Nat44Config};
use nat_core::prefix::Prefix;
use nat_core::verdict::{Direction, DropReason, Verdict};
use std::net::Ipv4Addr;
use std::time::Duration;

fn xp(port: u16) -> Endpoint<Ipv4Addr> {
    ep(outside_addr(), port)
}

fn router() -> Ipv4Addr {
    ip(192, 0, 2, 254)
}

/// An inside router (not the host of the flow).
fn inside_router() -> Ipv4Addr {
    ip(10, 0, 0, 254)
}

/// The outbound flow X1:40000 → Y1:53: the inside packet and what the NAT sent.
fn flow(nat: &mut Nat) -> (Vec<u8>, Vec<u8>) {
    let pkt = udp(ep(x1(), 40000), ep(y1(), 53), b"0123456789");
    let o = out(nat, 0.0, &pkt);
    (pkt, o)
}

fn is_reply(v: &Verdict) -> bool {
    matches!(v, Verdict::Reply { .. })
}

#[test]
fn rfc5508_req_1_icmp_query_and_response_translated() {
    let mut nat = nat();
    // X2 holds identifier 7 outside, so X1's identifier 7 is rewritten.
    out(&mut nat, 0.0, &echo(x2(), y2(), 7, 1, true));
    let o = out(&mut nat, 0.0, &echo(x1(), y1(), 7, 1, true));
    assert_eq!(o, hop(&echo(outside_addr(), y1(), 8, 1, true)));
    let i = inb(&mut nat, 0.5, &echo(y1(), outside_addr(), 8, 1, false));
    assert_eq!(i, hop(&echo(y1(), x1(), 7, 1, false)));
    assert!(checksums_valid(&o) && checksums_valid(&i));
}

#[test]
fn rfc5508_req_1a_query_mapping_endpoint_independent() {
    let mut nat = nat();
    out(&mut nat, 0.0, &echo(x2(), y2(), 7, 1, true));
    let a = out(&mut nat, 0.0, &echo(x1(), y1(), 7, 1, true));
    let b = out(&mut nat, 1.0, &echo(x1(), y2(), 7, 2, true));
    let c = out(&mut nat, 2.0, &echo(x1(), ip(192, 0, 2, 50), 7, 3, true));
    assert_eq!(endpoints(&a).0, xp(8));
    assert_eq!(endpoints(&b).0, xp(8));
    assert_eq!(endpoints(&c).0, xp(8));
    assert_eq!(nat.state_counters().mappings[L4Proto::Icmp.index()], 2);
}

#[test]
fn rfc5508_req_2_query_timer_at_least_60s() {
    let mut c = config();
    c.timeouts.icmp = Duration::from_secs(59);
    assert_eq!(c.validate(), Err(ConfigError::IcmpTimeoutTooShort));
    assert!(Nat44Config::default().timeouts.icmp >= Duration::from_secs(60));
    let mut nat = nat();
    out(&mut nat, 0.0, &echo(x1(), y1(), 7, 1, true));
    assert_eq!(tick(&mut nat, 59.0), 0);
    let i = inb(&mut nat, 59.0, &echo(y1(), outside_addr(), 7, 1, false));
    assert_eq!(i, hop(&echo(y1(), x1(), 7, 1, false)));
}

#[test]
fn rfc5508_req_2a_query_timer_configurable() {
    let mut c = config();
    c.timeouts.icmp = Duration::from_secs(90);
    let mut nat = nat_with(c, TestAlloc::new(&[outside_addr()], 10));
    out(&mut nat, 0.0, &echo(x1(), y1(), 7, 1, true));
    assert_eq!(tick(&mut nat, 89.0), 0);
    inb(&mut nat, 89.0, &echo(y1(), outside_addr(), 7, 1, false));
    assert_eq!(tick(&mut nat, 91.0), 1);
    let (v, _) = run(
        &mut nat,
        91.0,
        Direction::Inbound,
        &echo(y1(), outside_addr(), 7, 1, false),
    );
    assert_eq!(v, Verdict::Drop(DropReason::NoMapping));
}

#[test]
fn rfc5508_req_3_bad_icmp_checksum_dropped_silently() {
    let mut nat = nat();
    let (_, o) = flow(&mut nat);
    let err = icmp_error(y1(), outside_addr(), 3, 3, [0; 4], &o, o.len());
    // A payload byte of the quote flipped: the ICMP checksum no longer matches.
    let bad = corrupt(&err, err.len() - 1, 0x40);
    let (v, out) = run(&mut nat, 1.0, Direction::Inbound, &bad);
    assert_eq!(v, Verdict::Drop(DropReason::BadIcmpChecksum));
    assert!(out.is_empty());
    // And from the inside.
    let reply = inb(&mut nat, 1.0, &udp(ep(y1(), 53), xp(40000), b"r"));
    let err = icmp_error(x1(), y1(), 3, 3, [0; 4], &reply, reply.len());
    let bad = corrupt(&err, 20 + 4, 0x01);
    let (v, _) = run(&mut nat, 1.0, Direction::Outbound, &bad);
    assert!(matches!(v, Verdict::Drop(_)), "{v:?}");
    assert_eq!(nat.counters().icmp_errors_translated, 0);
    assert_eq!(nat.counters().icmp_errors_sent, 0);
}

#[test]
fn rfc5508_req_3a_bad_embedded_ip_checksum_dropped_silently() {
    let mut nat = nat();
    let (_, o) = flow(&mut nat);
    let bad_quote = corrupt(&o, 10, 0x10);
    let err = icmp_error(y1(), outside_addr(), 3, 3, [0; 4], &bad_quote, o.len());
    assert!(checksums_valid(&err), "the ICMP checksum itself is valid");
    let (v, out) = run(&mut nat, 1.0, Direction::Inbound, &err);
    assert_eq!(v, Verdict::Drop(DropReason::BadIpChecksum));
    assert!(out.is_empty());
    assert_eq!(nat.counters().icmp_errors_sent, 0);
}

#[test]
fn rfc5508_req_3b_embedded_ip_options_skipped() {
    let mut nat = nat();
    let pkt = with_options(
        &udp(ep(x1(), 40000), ep(y1(), 53), b"with options"),
        &[1, 1, 1, 1, 1, 1, 1, 0],
    );
    let o = out(&mut nat, 0.0, &pkt);
    assert_eq!(o[0], 0x47, "IHL 7 kept");
    let err = icmp_error(y1(), outside_addr(), 3, 3, [0; 4], &o, o.len());
    let i = inb(&mut nat, 1.0, &err);
    assert_eq!(quoted_endpoints(&i), (ep(x1(), 40000), ep(y1(), 53)));
    assert_eq!(
        i,
        hop(&icmp_error(y1(), x1(), 3, 3, [0; 4], &hop(&pkt), 1000))
    );
    assert!(error_checksums_valid(&i));
}

#[test]
fn rfc5508_req_3b_truncated_quote_accepted() {
    // Quotes are cut as a rule: the IP header and 8 transport bytes are enough.
    let mut nat = nat();
    let pkt = tcp(ep(x1(), 33000), ep(y1(), 80), SYN, b"");
    let o = out(&mut nat, 0.0, &pkt);
    let err = icmp_error(router(), outside_addr(), 11, 0, [0; 4], &o, 28);
    let i = inb(&mut nat, 1.0, &err);
    assert_eq!(
        i,
        hop(&icmp_error(router(), x1(), 11, 0, [0; 4], &hop(&pkt), 28))
    );
    assert!(error_checksums_valid(&i));
}

#[test]
fn rfc5508_req_3c_embedded_transport_checksum_not_validated() {
    let mut nat = nat();
    let (_, o) = flow(&mut nat);
    let bad_udp = corrupt(&o, 27, 0x55);
    assert!(!checksums_valid(&bad_udp));
    let err = icmp_error(y1(), outside_addr(), 3, 3, [0; 4], &bad_udp, bad_udp.len());
    let i = inb(&mut nat, 1.0, &err);
    assert_eq!(addrs(&i), (y1(), x1()));
    assert_eq!(quoted_endpoints(&i), (ep(x1(), 40000), ep(y1(), 53)));
}

#[test]
fn rfc5508_req_3d_icmp_extensions_left_intact() {
    let mut nat = nat();
    let pkt = udp(ep(x1(), 40000), ep(y1(), 53), &[0x33; 32]);
    let o = out(&mut nat, 0.0, &pkt);
    // RFC 4884: the original datagram padded to 128 bytes, its length in 32-bit words in the
    // second byte of the rest-of-header, then an extension structure (version 2) with one
    // MPLS label stack object.
    let mut ext = vec![0x20, 0, 0, 0, 0, 8, 1, 1, 0x00, 0x01, 0x41, 0xff];
    let c = nat_core::checksum::checksum(&ext);
    ext[2..4].copy_from_slice(&c.to_be_bytes());
    let build = |quote: &[u8]| {
        let mut body = quote.to_vec();
        body.resize(128, 0);
        body.extend_from_slice(&ext);
        body
    };
    let rest = [0, 32, 0, 0];
    let err = icmp_error(router(), outside_addr(), 11, 0, rest, &build(&o), 1000);
    let i = inb(&mut nat, 1.0, &err);
    assert_eq!(
        i,
        hop(&icmp_error(
            router(),
            x1(),
            11,
            0,
            rest,
            &build(&hop(&pkt)),
            1000
        ))
    );
    let q = quoted(&i);
    assert_eq!(&q[128..], &ext[..], "extension forwarded intact");
    assert!(q[o.len()..128].iter().all(|&b| b == 0), "padding intact");
    assert!(checksums_valid(&i));
    assert!(
        checksums_valid(&q[..o.len()]),
        "embedded datagram without padding"
    );
}

#[test]
fn rfc5508_req_4_inbound_error_without_mapping_dropped() {
    let mut nat = nat();
    flow(&mut nat);
    let ghost = udp(xp(9999), ep(y1(), 53), b"");
    let err = icmp_error(router(), outside_addr(), 3, 1, [0; 4], &ghost, ghost.len());
    let (v, o) = run(&mut nat, 1.0, Direction::Inbound, &err);
    assert_eq!((v, o), (Verdict::Drop(DropReason::NoMapping), vec![]));
}

#[test]
fn rfc5508_req_4_inbound_error_with_mapping_reverted() {
    let mut nat = nat();
    let (pkt, o) = flow(&mut nat);
    let err = icmp_error(router(), outside_addr(), 3, 3, [0; 4], &o, o.len());
    let i = inb(&mut nat, 1.0, &err);
    // (a) embedded headers reverted, (b) type and code kept, (c) outer destination = embedded
    // source; the outer source is kept.
    assert_eq!(quoted(&i), &hop(&pkt)[..]);
    assert_eq!(icmp_type_code(&i), (3, 3));
    assert_eq!(addrs(&i), (router(), x1()));
    assert_eq!(
        i,
        hop(&icmp_error(router(), x1(), 3, 3, [0; 4], &hop(&pkt), 100))
    );
    assert!(error_checksums_valid(&i));
}

#[test]
fn rfc5508_req_5_outbound_error_without_mapping_dropped() {
    let mut nat = nat();
    flow(&mut nat);
    let ghost = hop(&udp(ep(y1(), 53), ep(x1(), 9999), b""));
    let err = icmp_error(x1(), y1(), 3, 3, [0; 4], &ghost, ghost.len());
    let (v, o) = run(&mut nat, 1.0, Direction::Outbound, &err);
    assert_eq!((v, o), (Verdict::Drop(DropReason::NoMapping), vec![]));
}

#[test]
fn rfc5508_req_5_outbound_error_with_mapping_reverted() {
    let mut nat = nat();
    flow(&mut nat);
    let reply = udp(ep(y1(), 53), xp(40000), b"reply");
    let delivered = inb(&mut nat, 1.0, &reply);
    // From the host of the flow, and from an inside router: the outer source becomes the
    // NAT's public address either way (NAPT), the outer destination is kept.
    for sender in [x1(), inside_router()] {
        let err = icmp_error(sender, y1(), 3, 3, [0; 4], &delivered, delivered.len());
        let o = out(&mut nat, 2.0, &err);
        assert_eq!(addrs(&o), (outside_addr(), y1()));
        assert_eq!(icmp_type_code(&o), (3, 3));
        assert_eq!(quoted_endpoints(&o), (ep(y1(), 53), xp(40000)));
        assert_eq!(
            o,
            hop(&icmp_error(
                outside_addr(),
                y1(),
                3,
                3,
                [0; 4],
                &hop(&reply),
                100
            ))
        );
        assert!(error_checksums_valid(&o));
    }
}

#[test]
fn rfc5508_req_6_error_neither_refreshes_nor_deletes_query_session() {
    let mut nat = nat();
    let req = echo(x1(), y1(), 7, 1, true);
    let o = out(&mut nat, 0.0, &req);
    let key = FlowKey::new(L4Proto::Icmp, ep(x1(), 7), ep(y1(), 0));
    let before = session_in(&nat, &key).unwrap();
    let err = icmp_error(router(), outside_addr(), 3, 1, [0; 4], &o, o.len());
    let i = inb(&mut nat, 50.0, &err);
    assert_eq!(quoted(&i), &hop(&req)[..]);
    assert!(error_checksums_valid(&i));
    assert_eq!(session_in(&nat, &key), Some(before), "not refreshed");
    inb(&mut nat, 51.0, &echo(y1(), outside_addr(), 7, 1, false));
    assert_eq!(tick(&mut nat, 59.0), 0, "not deleted");
    assert_eq!(
        tick(&mut nat, 61.0),
        1,
        "expires at 60 s as before the error"
    );
}

/// Basic NAT: each subscriber its own outside address, ports and identifiers preserved, and
/// an address mapping for inbound queries (the static ICMP binding of identifier 0).
fn basic_nat() -> (Nat, Ipv4Addr, Ipv4Addr) {
    let (a1, a2) = (ip(198, 51, 100, 11), ip(198, 51, 100, 12));
    let alloc = TestAlloc::new(&[a1, a2], 1000).pin(x1(), a1).pin(x2(), a2);
    let mut nat = nat_with(config(), alloc);
    for (x, a) in [(x1(), a1), (x2(), a2)] {
        nat.add_static(at(0.0), L4Proto::Icmp, ep(x, 0), ep(a, 0))
            .unwrap();
    }
    (nat, a1, a2)
}

#[test]
fn rfc5508_req_7_basic_nat_hairpinned_query() {
    let (mut nat, a1, a2) = basic_nat();
    let h = out(&mut nat, 0.0, &echo(x1(), a2, 7, 1, true));
    assert_eq!(h, hop(&echo(a1, x2(), 7, 1, true)));
    let back = out(&mut nat, 0.1, &echo(x2(), a1, 7, 1, false));
    assert_eq!(back, hop(&echo(a2, x1(), 7, 1, false)));
}

#[test]
fn rfc5508_req_7_hairpinned_error_translated() {
    let mut nat = nat();
    out(&mut nat, 0.0, &udp(ep(x2(), 6000), ep(y1(), 3478), b""));
    let sent = udp(ep(x1(), 5000), xp(6000), b"to x2");
    let h = out(&mut nat, 1.0, &sent);
    // X2 has no listener and answers Port Unreachable to the source it saw.
    let err = icmp_error(x2(), outside_addr(), 3, 3, [0; 4], &h, h.len());
    let back = out(&mut nat, 1.1, &err);
    assert_eq!(addrs(&back), (outside_addr(), x1()));
    assert_eq!(icmp_type_code(&back), (3, 3));
    assert_eq!(quoted_endpoints(&back), (ep(x1(), 5000), xp(6000)));
    // The quote is X1's packet as X1 sent it, but for the TTL spent by the hairpin.
    assert_eq!(quoted(&back), &hop(&sent)[..]);
    assert!(error_checksums_valid(&back));
}

#[test]
fn rfc5508_req_7a_hairpinned_error_outer_destination_is_embedded_source() {
    let mut nat = nat();
    out(&mut nat, 0.0, &udp(ep(x2(), 6000), ep(y1(), 3478), b""));
    let h = out(&mut nat, 1.0, &udp(ep(x1(), 5000), xp(6000), b""));
    let err = icmp_error(x2(), outside_addr(), 3, 3, [0; 4], &h, 28);
    let back = out(&mut nat, 1.1, &err);
    assert_eq!(addrs(&back).1, quoted_endpoints(&back).0.addr);
    assert_eq!(addrs(&back).1, x1());
}

#[test]
fn rfc5508_req_8_no_session_gets_destination_unreachable_13() {
    for refusal in [None, Some(AllocError::PoolExhausted)] {
        let mut alloc = TestAlloc::new(&[outside_addr()], 2);
        alloc.refuse = refusal;
        let mut nat = nat_with(config(), alloc);
        if refusal.is_none() {
            out(&mut nat, 0.0, &udp(ep(x1(), 1001), ep(y1(), 53), b""));
            out(&mut nat, 0.0, &udp(ep(x1(), 1002), ep(y1(), 53), b""));
        }
        let pkt = udp(ep(x1(), 1003), ep(y1(), 53), b"one too many");
        let (v, e) = run(&mut nat, 1.0, Direction::Outbound, &pkt);
        assert!(is_reply(&v), "{v:?}");
        assert_eq!(addrs(&e), (ip(10, 0, 0, 1), x1()));
        assert_eq!(icmp_type_code(&e), (3, 13));
        assert_eq!(quoted(&e), &pkt[..], "the packet, untranslated");
        assert!(checksums_valid(&e));
    }
}

#[test]
fn rfc5508_req_8_session_table_full_gets_destination_unreachable_13() {
    let mut nat = nat_with(config(), TestAlloc::new(&[outside_addr()], 100_000));
    let capacity = 512;
    for p in 0..capacity {
        out(&mut nat, 0.0, &udp(ep(x1(), 1024 + p), ep(y1(), 53), b""));
    }
    let pkt = udp(ep(x2(), 1000), ep(y1(), 53), b"no room");
    let (v, e) = run(&mut nat, 1.0, Direction::Outbound, &pkt);
    assert!(is_reply(&v), "{v:?}");
    assert_eq!(icmp_type_code(&e), (3, 13));
    assert_eq!(quoted(&e), &pkt[..]);
    assert!(
        nat.allocator().held.len() == usize::from(capacity),
        "nothing leaked"
    );
    // Suppressed, the drop keeps its own reason.
    let mut c = config();
    c.icmp_errors.send = true;
    c.icmp_errors.per_sec = 0;
    c.icmp_errors.burst = 0;
    let mut nat = nat_with(c, TestAlloc::new(&[outside_addr()], 0));
    let (v, _) = run(&mut nat, 1.0, Direction::Outbound, &pkt);
    assert_eq!(v, Verdict::Drop(DropReason::QuotaExhausted));
}

#[test]
fn rfc5508_s6_existing_sessions_never_stolen() {
    let mut nat = nat_with(config(), TestAlloc::new(&[outside_addr()], 2));
    let mut mapped = vec![];
    for p in [1001, 1002] {
        let o = out(&mut nat, 0.0, &udp(ep(x1(), p), ep(y1(), 53), b""));
        mapped.push(endpoints(&o).0);
    }
    for t in 1..20 {
        let (v, _) = run(
            &mut nat,
            t as f64,
            Direction::Outbound,
            &udp(ep(x1(), 2000 + t), ep(y1(), 53), b""),
        );
        assert!(is_reply(&v) || matches!(v, Verdict::Drop(_)), "{v:?}");
    }
    for (p, m) in [1001, 1002].into_iter().zip(mapped) {
        let i = inb(&mut nat, 30.0, &udp(ep(y1(), 53), m, b""));
        assert_eq!(endpoints(&i).1, ep(x1(), p));
        assert_eq!(
            mapping_of(&nat, L4Proto::Udp, ep(x1(), p)),
            Some(m),
            "mapping unchanged"
        );
    }
}

#[test]
fn rfc5508_req_9_icmp_generation_can_be_suppressed() {
    let mut c = config();
    c.icmp_errors = IcmpErrorPolicy {
        send: false,
        ..IcmpErrorPolicy::default()
    };
    let mut nat = nat_with(c, TestAlloc::new(&[outside_addr()], 0));
    let pkt = udp(ep(x1(), 1003), ep(y1(), 53), b"");
    let (v, _) = run(&mut nat, 0.0, Direction::Outbound, &pkt);
    assert_eq!(v, Verdict::Drop(DropReason::QuotaExhausted));
    let (v, _) = run(&mut nat, 0.0, Direction::Outbound, &with_ttl(&pkt, 1));
    assert_eq!(v, Verdict::Drop(DropReason::TtlExpired));
    assert_eq!(nat.counters().icmp_errors_sent, 0);
    assert_eq!(nat.counters().icmp_errors_suppressed, 1);
}

#[test]
fn rfc5508_req_10a_destination_unreachable_time_exceeded_and_echo_supported() {
    let mut nat = nat();
    let (pkt, o) = flow(&mut nat);
    let err = icmp_error(router(), outside_addr(), 3, 0, [0; 4], &o, 28);
    assert_eq!(icmp_type_code(&inb(&mut nat, 1.0, &err)), (3, 0));
    let err = icmp_error(router(), outside_addr(), 11, 0, [0; 4], &o, 28);
    assert_eq!(icmp_type_code(&inb(&mut nat, 1.0, &err)), (11, 0));
    let (v, e) = run(&mut nat, 1.0, Direction::Outbound, &with_ttl(&pkt, 1));
    assert!(is_reply(&v));
    assert_eq!(icmp_type_code(&e), (11, 0));
    out(&mut nat, 1.0, &echo(x1(), y1(), 9, 1, true));
}

#[test]
fn rfc5508_req_10b_optional_messages_as_documented() {
    let mut nat = nat();
    let (pkt, o) = flow(&mut nat);
    // Parameter Problem: translated like any error, pointer kept.
    let err = icmp_error(router(), outside_addr(), 12, 0, [20, 0, 0, 0], &o, 28);
    let i = inb(&mut nat, 1.0, &err);
    assert_eq!(
        i,
        hop(&icmp_error(
            router(),
            x1(),
            12,
            0,
            [20, 0, 0, 0],
            &hop(&pkt),
            28
        ))
    );
    // Redirect: translated as an error (gateway field kept as sent).
    let err = icmp_error(router(), outside_addr(), 5, 1, [192, 0, 2, 1], &o, 28);
    assert_eq!(icmp_type_code(&inb(&mut nat, 1.0, &err)), (5, 1));
    // Timestamp request and reply: a query with an identifier.
    let ts = |src, dst, t: u8, id: u16| {
        let mut m = echo(src, dst, id, 1, true);
        m[20] = t;
        m.truncate(28);
        m.extend_from_slice(&[0; 12]);
        m[2..4].copy_from_slice(&40u16.to_be_bytes());
        fix_ip_checksum(&mut m);
        m[22..24].fill(0);
        let c = nat_core::checksum::checksum(&m[20..]);
        m[22..24].copy_from_slice(&c.to_be_bytes());
        m
    };
    let o = out(&mut nat, 1.0, &ts(x1(), y1(), 13, 21));
    assert_eq!(o, hop(&ts(outside_addr(), y1(), 13, 21)));
    let i = inb(&mut nat, 1.0, &ts(y1(), outside_addr(), 14, 21));
    assert_eq!(i, hop(&ts(y1(), x1(), 14, 21)));
    // Router advertisement/solicitation and address mask request/reply: dropped.
    for t in [9, 10, 17, 18] {
        let mut m = echo(y1(), outside_addr(), 21, 1, false);
        m[20] = t;
        m[22..24].fill(0);
        let c = nat_core::checksum::checksum(&m[20..]);
        m[22..24].copy_from_slice(&c.to_be_bytes());
        let (v, _) = run(&mut nat, 1.0, Direction::Inbound, &m);
        assert_eq!(
            v,
            Verdict::Drop(DropReason::UnsupportedProtocol),
            "type {t}"
        );
    }
}

#[test]
fn rfc5508_req_10c_source_quench_and_information_not_translated() {
    let mut nat = nat();
    let (_, o) = flow(&mut nat);
    let quench = icmp_error(router(), outside_addr(), 4, 0, [0; 4], &o, o.len());
    let (v, out) = run(&mut nat, 1.0, Direction::Inbound, &quench);
    assert!(matches!(v, Verdict::Drop(_)), "{v:?}");
    assert!(out.is_empty());
    let delivered = inb(&mut nat, 1.0, &udp(ep(y1(), 53), xp(40000), b""));
    let quench = icmp_error(x1(), y1(), 4, 0, [0; 4], &delivered, delivered.len());
    let (v, _) = run(&mut nat, 1.0, Direction::Outbound, &quench);
    assert!(matches!(v, Verdict::Drop(_)), "{v:?}");
    for t in [15, 16] {
        let mut m = echo(x1(), y1(), 5, 1, true);
        m[20] = t;
        m[22..24].fill(0);
        let c = nat_core::checksum::checksum(&m[20..]);
        m[22..24].copy_from_slice(&c.to_be_bytes());
        let (v, _) = run(&mut nat, 1.0, Direction::Outbound, &m);
        assert_eq!(
            v,
            Verdict::Drop(DropReason::UnsupportedProtocol),
            "type {t}"
        );
    }
    assert_eq!(nat.counters().icmp_errors_translated, 0);
}

#[test]
fn rfc5508_req_10e_no_icmp_error_about_what_must_not_be_answered() {
    let mut c = config();
    c.inside_prefixes.clear();
    c.inside_prefixes
        .push(Prefix::new(ip(0, 0, 0, 0), 0).unwrap())
        .unwrap();
    let mut nat = nat_with(c, TestAlloc::new(&[outside_addr()], 1));
    let (_, o) = flow(&mut nat);
    let delivered = inb(&mut nat, 0.0, &udp(ep(y1(), 53), xp(40000), b""));
    let err_out = icmp_error(x1(), y1(), 3, 3, [0; 4], &delivered, 28);
    let later = fragments(&udp(ep(x1(), 40000), ep(y1(), 53), &[0; 64]), 32, 9)
        .pop()
        .unwrap();
    let expiring = [
        err_out,
        udp(ep(x1(), 40000), ep(ip(255, 255, 255, 255), 53), b""),
        udp(ep(x1(), 40000), ep(ip(224, 0, 0, 251), 5353), b""),
        later,
        udp(ep(ip(0, 0, 0, 0), 68), ep(y1(), 67), b""),
    ];
    for p in &expiring {
        let (v, out) = run(&mut nat, 1.0, Direction::Outbound, &with_ttl(p, 1));
        assert_eq!(v, Verdict::Drop(DropReason::TtlExpired), "{p:?}");
        assert!(out.is_empty());
    }
    // REQ-8's trigger (quota used up) to a broadcast destination.
    let (v, _) = run(
        &mut nat,
        1.0,
        Direction::Outbound,
        &udp(ep(x1(), 50000), ep(ip(255, 255, 255, 255), 53), b""),
    );
    assert!(matches!(v, Verdict::Drop(_)), "{v:?}");
    // Inbound: an ICMP error with TTL 1, an unsolicited SYN from a multicast source.
    let err_in = icmp_error(router(), outside_addr(), 3, 3, [0; 4], &o, 28);
    let (v, _) = run(&mut nat, 1.0, Direction::Inbound, &with_ttl(&err_in, 1));
    assert_eq!(v, Verdict::Drop(DropReason::TtlExpired));
    let syn = tcp(ep(ip(224, 0, 0, 1), 1), xp(1), SYN, b"");
    let (v, _) = run(&mut nat, 1.0, Direction::Inbound, &syn);
    assert!(matches!(v, Verdict::Drop(_)), "{v:?}");
    assert!(poll(&mut nat, 10.0).is_empty());
    // A packet failing IP header validation.
    let bad = corrupt(&with_ttl(&udp(ep(x1(), 1), ep(y1(), 1), b""), 1), 12, 1);
    let (v, _) = run(&mut nat, 1.0, Direction::Outbound, &bad);
    assert_eq!(v, Verdict::Drop(DropReason::BadIpChecksum));
    assert_eq!(nat.counters().icmp_errors_sent, 0);
}

#[test]
fn rfc5508_req_10f_generated_errors_rate_limited() {
    let mut c = config();
    c.icmp_errors = IcmpErrorPolicy {
        send: true,
        per_sec: 10,
        burst: 5,
    };
    let mut nat = nat_with(c, TestAlloc::new(&[outside_addr()], 10));
    let pkt = with_ttl(&udp(ep(x1(), 1), ep(y1(), 1), b""), 1);
    let count = |nat: &mut Nat, t: f64| {
        (0..1000)
            .filter(|_| is_reply(&run(nat, t, Direction::Outbound, &pkt).0))
            .count()
    };
    assert_eq!(count(&mut nat, 100.0), 5);
    assert_eq!(
        count(&mut nat, 101.0),
        5,
        "refilled to the burst, not beyond"
    );
    assert_eq!(count(&mut nat, 101.2), 2, "10 per second");
    assert_eq!(nat.counters().icmp_errors_suppressed, 3000 - 12);
}

#[test]
fn rfc5508_s7_1_1_df_honoured() {
    let mut c = config();
    c.outside_mtu = Some(1400);
    let mut nat = nat_with(c, TestAlloc::new(&[outside_addr()], 10));
    let fits = with_df(&udp(ep(x1(), 40000), ep(y1(), 53), &[1; 1372]));
    let o = out(&mut nat, 0.0, &fits);
    assert_eq!(o, hop(&with_df(&udp(xp(40000), ep(y1(), 53), &[1; 1372]))));
    let big = with_df(&udp(ep(x1(), 40000), ep(y1(), 53), &[1; 1373]));
    let (v, _) = run(&mut nat, 0.0, Direction::Outbound, &big);
    assert!(is_reply(&v), "never fragmented: {v:?}");
}

#[test]
fn rfc5508_s7_1_1_fragmentation_needed_with_next_hop_mtu() {
    let mut c = config();
    c.outside_mtu = Some(1400);
    let mut nat = nat_with(c, TestAlloc::new(&[outside_addr()], 10));
    let big = with_df(&tcp(ep(x1(), 33000), ep(y1(), 80), SYN, &[2; 1460]));
    let (v, e) = run(&mut nat, 0.0, Direction::Outbound, &big);
    assert!(is_reply(&v));
    assert_eq!(addrs(&e), (ip(10, 0, 0, 1), x1()));
    assert_eq!(icmp_type_code(&e), (3, 4));
    assert_eq!(u16::from_be_bytes([e[26], e[27]]), 1400);
    assert_eq!(quoted(&e), &big[..548]);
    assert!(checksums_valid(&e));
}

#[test]
fn rfc5508_s7_1_2_packet_too_big_forwarded() {
    let mut nat = nat();
    let (pkt, o) = flow(&mut nat);
    let mtu = [0, 0, 0x04, 0xd8];
    let err = icmp_error(router(), outside_addr(), 3, 4, mtu, &o, o.len());
    let i = inb(&mut nat, 1.0, &err);
    assert_eq!(
        i,
        hop(&icmp_error(router(), x1(), 3, 4, mtu, &hop(&pkt), 100))
    );
    assert_eq!(u16::from_be_bytes([i[26], i[27]]), 1240);
}

#[test]
fn rfc5508_s7_2_time_exceeded_generated() {
    let mut nat = nat();
    let (pkt, _) = flow(&mut nat);
    let expiring = with_ttl(&pkt, 1);
    let (v, e) = run(&mut nat, 1.0, Direction::Outbound, &expiring);
    assert!(is_reply(&v));
    assert_eq!(addrs(&e), (ip(10, 0, 0, 1), x1()));
    assert_eq!(icmp_type_code(&e), (11, 0));
    assert_eq!(quoted(&e), &expiring[..]);
    assert!(checksums_valid(&e));
    // From the outside, answered from the address the packet was sent to.
    let expiring = with_ttl(&udp(ep(y1(), 53), xp(40000), b""), 1);
    let (v, e) = run(&mut nat, 1.0, Direction::Inbound, &expiring);
    assert!(is_reply(&v));
    assert_eq!(addrs(&e), (outside_addr(), y1()));
    assert_eq!(icmp_type_code(&e), (11, 0));
    assert_eq!(quoted(&e), &expiring[..]);
}

#[test]
fn rfc5508_s7_2_time_exceeded_enabled_by_default() {
    assert!(Nat44Config::default().decrement_ttl);
    assert!(Nat44Config::default().icmp_errors.send);
    let mut nat = nat();
    let (v, e) = run(
        &mut nat,
        0.0,
        Direction::Outbound,
        &with_ttl(&udp(ep(x1(), 1), ep(y1(), 1), b""), 1),
    );
    assert!(is_reply(&v));
    assert_eq!(icmp_type_code(&e), (11, 0));
}

#[test]
fn rfc5508_s7_3_no_outbound_icmp_with_source_route() {
    let mut nat = nat();
    flow(&mut nat);
    let lsrr = [0x83, 7, 4, 192, 0, 2, 1, 0];
    // In the inner header of an error.
    let delivered = inb(&mut nat, 0.0, &udp(ep(y1(), 53), xp(40000), b""));
    let routed = with_options(&delivered, &lsrr);
    let err = icmp_error(x1(), y1(), 3, 3, [0; 4], &routed, routed.len());
    let (v, o) = run(&mut nat, 1.0, Direction::Outbound, &err);
    assert!(matches!(v, Verdict::Drop(_)), "{v:?}");
    assert!(o.is_empty());
    // In the outer header of an error or a query.
    let plain = icmp_error(x1(), y1(), 3, 3, [0; 4], &delivered, delivered.len());
    let (v, _) = run(
        &mut nat,
        1.0,
        Direction::Outbound,
        &with_options(&plain, &lsrr),
    );
    assert!(matches!(v, Verdict::Drop(_)), "{v:?}");
    let ssrr = [0x89, 7, 4, 192, 0, 2, 1, 0];
    let q = with_options(&echo(x1(), y1(), 3, 1, true), &ssrr);
    let (v, _) = run(&mut nat, 1.0, Direction::Outbound, &q);
    assert!(matches!(v, Verdict::Drop(_)), "{v:?}");
    // Other options do not matter.
    out(&mut nat, 1.0, &with_options(&plain, &[1, 1, 1, 0]));
}

#[test]
fn rfc5508_s7_7_generated_icmp_copies_diffserv_class() {
    let mut nat = nat_with(config(), TestAlloc::new(&[outside_addr()], 0));
    // DSCP EF, ECN ECT(0).
    let pkt = with_tos(&udp(ep(x1(), 1), ep(y1(), 1), b""), 0xb8 | 0x2);
    let (v, e) = run(&mut nat, 0.0, Direction::Outbound, &pkt);
    assert!(is_reply(&v));
    assert_eq!(icmp_type_code(&e), (3, 13));
    assert_eq!(e[1], 0xb8, "DSCP copied, ECN not");
    assert!(checksums_valid(&e));
}

#[test]
fn rfc5508_req_11_non_query_error_icmp_dropped() {
    let mut nat = nat();
    // Router Advertisement (type 9) in both directions.
    for (dir, src, dst) in [
        (Direction::Inbound, y1(), outside_addr()),
        (Direction::Outbound, x1(), y1()),
    ] {
        let mut m = echo(src, dst, 0, 0, false);
        m[20] = 9;
        m[22..24].fill(0);
        let c = nat_core::checksum::checksum(&m[20..]);
        m[22..24].copy_from_slice(&c.to_be_bytes());
        let (v, _) = run(&mut nat, 0.0, dir, &m);
        assert_eq!(v, Verdict::Drop(DropReason::UnsupportedProtocol));
    }
}

#[test]
fn rfc5508_s10_icmp_errors_forwarded_by_default() {
    let mut nat = nat();
    let (pkt, o) = flow(&mut nat);
    let i = inb(
        &mut nat,
        1.0,
        &icmp_error(y1(), outside_addr(), 3, 3, [0; 4], &o, 28),
    );
    assert_eq!(
        i,
        hop(&icmp_error(y1(), x1(), 3, 3, [0; 4], &hop(&pkt), 28))
    );
    assert_eq!(nat.counters().icmp_errors_translated, 1);
}
