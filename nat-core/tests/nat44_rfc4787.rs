//! RFC 4787 (NAT behavioural requirements for unicast UDP): one test per applicable row of
//! § 1 of the conformance matrix. Rows about the allocator (paired pooling, port parity) are
//! tested in `nat-alloc`; rows not implemented are listed in `CONFORMANCE.md`.

mod common;
use common::*;
use nat_core::behavior::{FilteringBehavior, Timeouts};
use nat_core::flow::L4Proto;
use nat_core::nat44::{ConfigError, Nat44Config};
use nat_core::verdict::{Direction, DropReason, Verdict};
use std::time::Duration;

fn xp(port: u16) -> nat_core::flow::Endpoint<std::net::Ipv4Addr> {
    ep(outside_addr(), port)
}

fn x3() -> std::net::Ipv4Addr {
    ip(10, 0, 0, 4)
}

/// A router on the outside path that is not the remote host.
fn router() -> std::net::Ipv4Addr {
    ip(192, 0, 2, 254)
}

fn with_filtering(f: FilteringBehavior) -> Nat {
    let mut c = config();
    c.filtering.udp = f;
    nat_with(c, TestAlloc::new(&[outside_addr()], 1000))
}

#[test]
fn rfc4787_req_1_endpoint_independent_mapping() {
    let mut nat = nat();
    let x = ep(x1(), 40000);
    let a = out(&mut nat, 0.0, &udp(x, ep(y1(), 3478), b"a"));
    let b = out(&mut nat, 1.0, &udp(x, ep(y2(), 5000), b"b"));
    let c = out(&mut nat, 2.0, &udp(x, ep(y1(), 5001), b"c"));
    assert_eq!(a, hop(&udp(xp(40000), ep(y1(), 3478), b"a")));
    assert_eq!(b, hop(&udp(xp(40000), ep(y2(), 5000), b"b")));
    assert_eq!(c, hop(&udp(xp(40000), ep(y1(), 5001), b"c")));
    assert_eq!(nat.state_counters().mappings[L4Proto::Udp.index()], 1);
    assert_eq!(nat.state_counters().sessions[L4Proto::Udp.index()], 3);
}

#[test]
fn rfc4787_req_2_paired_pooling_passes_allocator_choice_through() {
    // Pairing is the allocator's (tested in nat-alloc); the engine must use the address the
    // allocator pairs the subscriber with for every flow.
    let a1 = ip(198, 51, 100, 1);
    let a2 = ip(198, 51, 100, 2);
    let mut nat = nat_with(config(), TestAlloc::new(&[a1, a2], 1000).pin(x1(), a2));
    for (i, (port, dst)) in [
        (1000, ep(y1(), 53)),
        (2000, ep(y2(), 123)),
        (3000, ep(ip(192, 0, 2, 9), 4500)),
    ]
    .into_iter()
    .enumerate()
    {
        let o = out(&mut nat, i as f64, &udp(ep(x1(), port), dst, b""));
        assert_eq!(endpoints(&o), (ep(a2, port), dst));
    }
}

#[test]
fn rfc4787_req_3_no_port_overloading() {
    let mut nat = nat();
    let y = ep(y1(), 3478);
    let o1 = out(&mut nat, 0.0, &udp(ep(x1(), 5000), y, b"1"));
    let o2 = out(&mut nat, 0.0, &udp(ep(x2(), 5000), y, b"2"));
    let (s1, s2) = (endpoints(&o1).0, endpoints(&o2).0);
    assert_ne!(s1, s2);
    assert_eq!((s1, s2), (xp(5000), xp(5001)));
    let r1 = inb(&mut nat, 1.0, &udp(y, s1, b"r1"));
    let r2 = inb(&mut nat, 1.0, &udp(y, s2, b"r2"));
    assert_eq!(r1, hop(&udp(y, ep(x1(), 5000), b"r1")));
    assert_eq!(r2, hop(&udp(y, ep(x2(), 5000), b"r2")));
}

#[test]
fn rfc4787_req_3a_port_range_preserved_via_allocator() {
    // The range rule is the allocator's (nat-alloc); the engine passes its choice through,
    // including a replacement in the same range when the port is taken.
    let mut nat = nat();
    let o = out(&mut nat, 0.0, &udp(ep(x1(), 123), ep(y1(), 123), b""));
    assert_eq!(endpoints(&o).0, xp(123));
    let o = out(&mut nat, 0.0, &udp(ep(x2(), 123), ep(y1(), 123), b""));
    let p = endpoints(&o).0.port;
    assert!((1..1024).contains(&p) && p != 123, "{p}");
    let o = out(&mut nat, 0.0, &udp(ep(x1(), 40000), ep(y1(), 123), b""));
    assert_eq!(endpoints(&o).0, xp(40000));
    let o = out(&mut nat, 0.0, &udp(ep(x2(), 40000), ep(y1(), 123), b""));
    assert!(endpoints(&o).0.port >= 1024);
}

#[test]
fn rfc4787_s4_2_1_source_port_0_handed_to_allocator() {
    // No normative behaviour: the engine asks the allocator like for any port, and the reply
    // gets port 0 back.
    let mut nat = nat();
    let o = out(&mut nat, 0.0, &udp(ep(x1(), 0), ep(y1(), 53), b"q"));
    let (s, _) = endpoints(&o);
    assert_eq!(s, xp(1), "TestAlloc's first free port of the low range");
    let i = inb(&mut nat, 1.0, &udp(ep(y1(), 53), s, b"r"));
    assert_eq!(i, hop(&udp(ep(y1(), 53), ep(x1(), 0), b"r")));
}

#[test]
fn rfc4787_req_5_udp_mapping_timer_at_least_2_minutes() {
    let mut c = config();
    c.timeouts.udp = Duration::from_secs(119);
    assert_eq!(c.validate(), Err(ConfigError::UdpTimeoutTooShort));
    c.timeouts.udp = Duration::from_secs(120);
    let mut nat = nat_with(c, TestAlloc::new(&[outside_addr()], 10));
    out(&mut nat, 0.0, &udp(ep(x1(), 40000), ep(y1(), 53), b""));
    assert_eq!(tick(&mut nat, 119.0), 0);
    let i = inb(&mut nat, 119.0, &udp(ep(y1(), 53), xp(40000), b"late"));
    assert_eq!(i, hop(&udp(ep(y1(), 53), ep(x1(), 40000), b"late")));
}

#[test]
fn rfc4787_req_5b_udp_mapping_timer_configurable() {
    let mut c = config();
    c.timeouts.udp = Duration::from_secs(150);
    let mut nat = nat_with(c, TestAlloc::new(&[outside_addr()], 10));
    out(&mut nat, 0.0, &udp(ep(x1(), 40000), ep(y1(), 53), b""));
    assert_eq!(tick(&mut nat, 149.0), 0);
    inb(&mut nat, 149.0, &udp(ep(y1(), 53), xp(40000), b""));
    assert_eq!(tick(&mut nat, 151.0), 1);
    let (v, _) = run(
        &mut nat,
        151.0,
        Direction::Inbound,
        &udp(ep(y1(), 53), xp(40000), b""),
    );
    assert_eq!(v, Verdict::Drop(DropReason::NoMapping));
    assert_eq!(
        nat.allocator().released,
        vec![(L4Proto::Udp, xp(40000))],
        "the outside port went back to the allocator"
    );
}

#[test]
fn rfc4787_req_5c_default_udp_timer_at_least_5_minutes() {
    assert!(Timeouts::default().udp >= Duration::from_secs(300));
    let mut nat = nat();
    out(&mut nat, 0.0, &udp(ep(x1(), 40000), ep(y1(), 53), b""));
    assert_eq!(tick(&mut nat, 299.0), 0);
    inb(&mut nat, 299.0, &udp(ep(y1(), 53), xp(40000), b""));
}

#[test]
fn rfc4787_req_6_outbound_refresh() {
    let mut c = config();
    c.timeouts.udp = Duration::from_secs(120);
    let mut nat = nat_with(c, TestAlloc::new(&[outside_addr()], 10));
    let pkt = udp(ep(x1(), 40000), ep(y1(), 53), b"keepalive");
    for t in (0..=600).step_by(100) {
        let t = t as f64;
        assert_eq!(tick(&mut nat, t), 0, "expired at {t}");
        let o = out(&mut nat, t, &pkt);
        assert_eq!(endpoints(&o).0, xp(40000));
    }
    inb(&mut nat, 700.0, &udp(ep(y1(), 53), xp(40000), b""));
}

#[test]
fn rfc4787_req_6a_inbound_refresh_as_configured() {
    for inbound_refresh in [false, true] {
        let mut c = config();
        c.timeouts.udp = Duration::from_secs(120);
        c.inbound_refresh = inbound_refresh;
        let mut nat = nat_with(c, TestAlloc::new(&[outside_addr()], 10));
        out(&mut nat, 0.0, &udp(ep(x1(), 40000), ep(y1(), 53), b""));
        let reply = udp(ep(y1(), 53), xp(40000), b"push");
        inb(&mut nat, 100.0, &reply);
        tick(&mut nat, 200.0);
        let (v, _) = run(&mut nat, 200.0, Direction::Inbound, &reply);
        if inbound_refresh {
            assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
        } else {
            assert_eq!(v, Verdict::Drop(DropReason::NoMapping));
        }
    }
}

#[test]
fn rfc4787_req_8_endpoint_independent_or_address_dependent_filtering() {
    let x = ep(x1(), 40000);
    // Endpoint-independent (the default).
    assert_eq!(
        Nat44Config::default().filtering.udp,
        FilteringBehavior::EndpointIndependent
    );
    let mut nat = nat();
    out(&mut nat, 0.0, &udp(x, ep(y1(), 3478), b""));
    let i = inb(&mut nat, 1.0, &udp(ep(y2(), 9999), xp(40000), b"y2"));
    assert_eq!(i, hop(&udp(ep(y2(), 9999), x, b"y2")));
    inb(&mut nat, 1.0, &udp(ep(y1(), 3479), xp(40000), b"y1"));
    // Address-dependent.
    let mut nat = with_filtering(FilteringBehavior::AddressDependent);
    out(&mut nat, 0.0, &udp(x, ep(y1(), 3478), b""));
    let (v, o) = run(
        &mut nat,
        1.0,
        Direction::Inbound,
        &udp(ep(y2(), 9999), xp(40000), b"y2"),
    );
    assert_eq!((v, o), (Verdict::Drop(DropReason::Filtered), vec![]));
    let i = inb(&mut nat, 1.0, &udp(ep(y1(), 3479), xp(40000), b"y1"));
    assert_eq!(i, hop(&udp(ep(y1(), 3479), x, b"y1")));
}

#[test]
fn rfc4787_req_8a_filtering_configurable() {
    let x = ep(x1(), 40000);
    let cases = [
        (FilteringBehavior::EndpointIndependent, true, true),
        (FilteringBehavior::AddressDependent, false, true),
        (FilteringBehavior::AddressAndPortDependent, false, false),
    ];
    for (f, other_host, other_port) in cases {
        let mut nat = with_filtering(f);
        out(&mut nat, 0.0, &udp(x, ep(y1(), 3478), b""));
        let passes = |nat: &mut Nat, from| {
            let (v, _) = run(nat, 1.0, Direction::Inbound, &udp(from, xp(40000), b""));
            matches!(v, Verdict::Forward { .. })
        };
        assert_eq!(passes(&mut nat, ep(y2(), 3478)), other_host, "{f:?}");
        assert_eq!(passes(&mut nat, ep(y1(), 3479)), other_port, "{f:?}");
        assert!(passes(&mut nat, ep(y1(), 3478)), "{f:?}");
    }
}

#[test]
fn rfc4787_req_9_hairpinning_udp() {
    let mut nat = nat();
    // X2 has an active mapping X2':6000.
    out(&mut nat, 0.0, &udp(ep(x2(), 6000), ep(y1(), 3478), b""));
    let h = out(&mut nat, 1.0, &udp(ep(x1(), 5000), xp(6000), b"to x2"));
    assert_eq!(h, hop(&udp(xp(5000), ep(x2(), 6000), b"to x2")));
    // And back: X2 answers the external endpoint it saw.
    let back = out(&mut nat, 2.0, &udp(ep(x2(), 6000), xp(5000), b"to x1"));
    assert_eq!(back, hop(&udp(xp(6000), ep(x1(), 5000), b"to x1")));
    assert_eq!(nat.counters().hairpinned, 2);
}

/// The second half of a hairpin under `hairpin_handoff`: what a sharded runtime does with a
/// packet one shard returned with a pool destination.
fn hairpin(nat: &mut Nat, now_s: f64, pkt: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; HEADROOM + pkt.len() + 600];
    buf[HEADROOM..HEADROOM + pkt.len()].copy_from_slice(pkt);
    match nat.hairpin(at(now_s), &mut buf, HEADROOM, pkt.len()) {
        Verdict::Forward { start, len } => buf[start..start + len].to_vec(),
        v => panic!("hairpin not forwarded: {v:?}"),
    }
}

#[test]
fn rfc4787_req_9_hairpinning_between_shards() {
    // Two translators, as two worker threads own two sets of subscribers: X1 is A's, X2 is
    // B's. Neither loops the packet itself; the owner of the destination finishes it.
    let mut c = config();
    c.hairpin_handoff = true;
    let mut a = nat_with(c.clone(), TestAlloc::new(&[outside_addr()], 10));
    let mut b = nat_with(c, TestAlloc::new(&[outside_addr()], 10));
    out(&mut b, 0.0, &udp(ep(x2(), 6000), ep(y1(), 3478), b""));
    let half = out(&mut a, 1.0, &udp(ep(x1(), 5000), xp(6000), b"to x2"));
    assert_eq!(
        endpoints(&half),
        (xp(5000), xp(6000)),
        "A translated it out only"
    );
    assert_eq!(a.counters().hairpinned, 1);
    let h = hairpin(&mut b, 1.0, &half);
    assert_eq!(h, hop(&udp(xp(5000), ep(x2(), 6000), b"to x2")));
    assert!(checksums_valid(&h));
    // And back through B, finished by A.
    let half = out(&mut b, 2.0, &udp(ep(x2(), 6000), xp(5000), b"to x1"));
    let back = hairpin(&mut a, 2.0, &half);
    assert_eq!(back, hop(&udp(xp(6000), ep(x1(), 5000), b"to x1")));
    // A shard that does not own the destination refuses it, never misdelivers it.
    let mut buf = vec![0u8; HEADROOM + 100];
    let stray = udp(xp(5000), xp(7000), b"");
    buf[HEADROOM..HEADROOM + stray.len()].copy_from_slice(&stray);
    let v = a.hairpin(at(3.0), &mut buf, HEADROOM, stray.len());
    assert!(matches!(v, Verdict::Drop(_)), "{v:?}");
}

#[test]
fn rfc4787_req_9a_hairpinned_source_is_external_endpoint() {
    let mut nat = nat();
    out(&mut nat, 0.0, &udp(ep(x2(), 6000), ep(y1(), 3478), b""));
    let h = out(&mut nat, 1.0, &udp(ep(x1(), 5000), xp(6000), b""));
    let (src, dst) = endpoints(&h);
    assert_eq!(src, xp(5000));
    assert_ne!(src.addr, x1());
    assert_eq!(dst, ep(x2(), 6000));
    // With hairpinning off, the packet is refused, never leaked out with a private source.
    let mut c = config();
    c.hairpinning = false;
    let mut nat = nat_with(c, TestAlloc::new(&[outside_addr()], 10));
    out(&mut nat, 0.0, &udp(ep(x2(), 6000), ep(y1(), 3478), b""));
    let (v, _) = run(
        &mut nat,
        1.0,
        Direction::Outbound,
        &udp(ep(x1(), 5000), xp(6000), b""),
    );
    assert_eq!(v, Verdict::Drop(DropReason::Policy));
}

#[test]
fn rfc4787_req_10_no_udp_alg_payload_untouched() {
    let mut nat = nat();
    let sip = b"INVITE sip:bob@203.0.113.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2:5060\r\n\
Contact: <sip:alice@10.0.0.2:5060>\r\n\r\n";
    let o = out(&mut nat, 0.0, &udp(ep(x1(), 5060), ep(y1(), 5060), sip));
    assert_eq!(o, hop(&udp(xp(5060), ep(y1(), 5060), sip)));
}

#[test]
fn rfc4787_req_11_deterministic_under_port_conflicts() {
    let mut nat = nat();
    let y = ep(y1(), 3478);
    for (i, x) in [x1(), x2(), x3()].into_iter().enumerate() {
        let t = i as f64;
        let o = out(&mut nat, t, &udp(ep(x, 7000), y, b""));
        let (mapped, _) = endpoints(&o);
        assert_eq!(mapped, xp(7000 + i as u16));
        // REQ-1 for the 2nd and 3rd mapping too.
        let o = out(&mut nat, t, &udp(ep(x, 7000), ep(y2(), 80), b""));
        assert_eq!(endpoints(&o).0, mapped);
        // REQ-8 (endpoint-independent filtering) too.
        let i = inb(&mut nat, t, &udp(ep(ip(192, 0, 2, 77), 1), mapped, b""));
        assert_eq!(endpoints(&i).1, ep(x, 7000));
    }
}

/// The outbound flow X1:40000 → Y1:53 and the packet the NAT sent for it.
fn flow(nat: &mut Nat) -> (Vec<u8>, Vec<u8>) {
    let pkt = udp(ep(x1(), 40000), ep(y1(), 53), b"0123456789");
    let o = out(nat, 0.0, &pkt);
    (pkt, o)
}

#[test]
fn rfc4787_s9_icmp_from_other_router_forwarded() {
    let mut nat = nat();
    let (pkt, o) = flow(&mut nat);
    let err = icmp_error(router(), outside_addr(), 11, 0, [0; 4], &o, o.len());
    let i = inb(&mut nat, 1.0, &err);
    assert_eq!(
        i,
        hop(&icmp_error(router(), x1(), 11, 0, [0; 4], &hop(&pkt), 1000))
    );
    assert!(error_checksums_valid(&i));
}

#[test]
fn rfc4787_s9_icmp_rewritten_and_forwarded() {
    let mut nat = nat();
    let (pkt, o) = flow(&mut nat);
    let err = icmp_error(y1(), outside_addr(), 3, 3, [0; 4], &o, 28);
    let i = inb(&mut nat, 1.0, &err);
    assert_eq!(addrs(&i), (y1(), x1()));
    assert_eq!(icmp_type_code(&i), (3, 3));
    assert_eq!(quoted_endpoints(&i), (ep(x1(), 40000), ep(y1(), 53)));
    assert_eq!(
        i,
        hop(&icmp_error(y1(), x1(), 3, 3, [0; 4], &hop(&pkt), 28))
    );
    assert!(error_checksums_valid(&i));
}

#[test]
fn rfc4787_req_12_icmp_never_destroys_mapping() {
    let mut nat = nat();
    let (pkt, o) = flow(&mut nat);
    let mut errors = vec![];
    errors.extend((0..=15).map(|c| (3, c)));
    errors.push((4, 0));
    errors.extend((0..=3).map(|c| (5, c)));
    errors.extend((0..=1).map(|c| (11, c)));
    errors.extend((0..=2).map(|c| (12, c)));
    for (i, (t, c)) in errors.into_iter().enumerate() {
        let now = 1.0 + i as f64;
        let err = icmp_error(y1(), outside_addr(), t, c, [0; 4], &o, o.len());
        let _ = run(&mut nat, now, Direction::Inbound, &err);
        let err = icmp_error(router(), outside_addr(), t, c, [0; 4], &o, 28);
        let _ = run(&mut nat, now, Direction::Inbound, &err);
        assert_eq!(tick(&mut nat, now), 0);
        assert_eq!(nat.state_counters().sessions[L4Proto::Udp.index()], 1);
        assert_eq!(endpoints(&out(&mut nat, now, &pkt)).0, xp(40000));
        inb(&mut nat, now, &udp(ep(y1(), 53), xp(40000), b""));
    }
}

#[test]
fn rfc4787_req_12a_icmp_not_filtered_by_source() {
    let mut nat = nat();
    let (pkt, o) = flow(&mut nat);
    for (i, src) in [y1(), router(), ip(100, 64, 0, 1), ip(8, 8, 8, 8)]
        .into_iter()
        .enumerate()
    {
        let err = icmp_error(src, outside_addr(), 3, 1, [0; 4], &o, 28);
        let fwd = inb(&mut nat, 1.0 + i as f64, &err);
        assert_eq!(
            fwd,
            hop(&icmp_error(src, x1(), 3, 1, [0; 4], &hop(&pkt), 28))
        );
    }
}

#[test]
fn rfc4787_req_12b_destination_unreachable_all_codes() {
    let mut nat = nat();
    let (pkt, o) = flow(&mut nat);
    for code in 0..=15u8 {
        let rest = [0, 0, 0x05, 0x78];
        let err = icmp_error(router(), outside_addr(), 3, code, rest, &o, o.len());
        let i = inb(&mut nat, 1.0, &err);
        assert_eq!(icmp_type_code(&i), (3, code));
        assert_eq!(
            i,
            hop(&icmp_error(router(), x1(), 3, code, rest, &hop(&pkt), 100))
        );
        assert!(error_checksums_valid(&i));
    }
}

#[test]
fn rfc4787_req_13_df_set_too_big_gets_fragmentation_needed() {
    let mut c = config();
    c.outside_mtu = Some(1400);
    let mut nat = nat_with(c, TestAlloc::new(&[outside_addr()], 10));
    let big = with_df(&udp(ep(x1(), 40000), ep(y1(), 53), &[0xab; 1472]));
    assert_eq!(big.len(), 1500);
    let (v, e) = run(&mut nat, 0.0, Direction::Outbound, &big);
    assert!(matches!(v, Verdict::Reply { .. }), "{v:?}");
    assert_eq!(addrs(&e), (ip(10, 0, 0, 1), x1()));
    assert_eq!(icmp_type_code(&e), (3, 4));
    assert_eq!(&e[24..28], &[0, 0, 0x05, 0x78], "next-hop MTU 1400");
    assert_eq!(e.len(), 576);
    assert_eq!(quoted(&e), &big[..548]);
    assert!(checksums_valid(&e));
    assert_eq!(
        nat.state_counters().sessions,
        [0, 0, 0],
        "nothing forwarded"
    );
    // A packet that fits is translated.
    let fits = with_df(&udp(ep(x1(), 40000), ep(y1(), 53), &[0xab; 1372]));
    let o = out(&mut nat, 0.0, &fits);
    assert_eq!(o.len(), 1400);
}

#[test]
fn rfc4787_req_13a_df_clear_too_big_left_to_host_ip_layer() {
    // Not implemented in the engine (CONFORMANCE.md): the oversized DF=0 packet is translated
    // whole and the host's IP layer fragments it on the outside link.
    let mut c = config();
    c.outside_mtu = Some(1400);
    let mut nat = nat_with(c, TestAlloc::new(&[outside_addr()], 10));
    let big = without_df(&udp(ep(x1(), 40000), ep(y1(), 53), &[0xab; 1472]));
    let o = out(&mut nat, 0.0, &big);
    // Translated whole; as a non-atomic datagram it takes the translator's first IPv4
    // Identification (RFC 7857 § 10).
    let want = without_df(&udp(xp(40000), ep(y1(), 53), &[0xab; 1472]));
    assert_eq!(o, hop(&with_ip_id(&want, 1)));
}

/// The UDP reply Y1:53 → X':40000 of `n` payload bytes, cut in fragments of 48 bytes.
fn fragmented_reply(n: usize) -> (Vec<u8>, Vec<Vec<u8>>) {
    let payload: Vec<u8> = (0..n).map(|i| i as u8).collect();
    let whole = udp(ep(y1(), 53), xp(40000), &payload);
    let frags = fragments(&whole, 48, 0x4242);
    (payload, frags)
}

/// Reassembles fragments (in any order) into the datagram's payload after the IP header.
fn reassemble(frags: &[Vec<u8>]) -> Vec<u8> {
    let mut parts: Vec<(usize, &[u8])> = frags
        .iter()
        .map(|f| {
            let off = usize::from(u16::from_be_bytes([f[6], f[7]]) & 0x1fff) * 8;
            (off, &f[20..])
        })
        .collect();
    parts.sort_by_key(|p| p.0);
    let mut v = vec![];
    for (off, p) in parts {
        assert_eq!(off, v.len());
        v.extend_from_slice(p);
    }
    v
}

#[test]
fn rfc4787_req_14_fragments_in_and_out_of_order() {
    for reverse in [false, true] {
        let mut nat = nat();
        flow(&mut nat);
        let (payload, mut frags) = fragmented_reply(100);
        assert_eq!(frags.len(), 3);
        if reverse {
            frags.reverse();
        }
        let mut delivered = vec![];
        for f in &frags {
            let (v, o) = run(&mut nat, 1.0, Direction::Inbound, f);
            match v {
                Verdict::Forward { .. } => delivered.push(o),
                Verdict::Hold => assert!(reverse, "in-order fragment held"),
                v => panic!("{v:?}"),
            }
        }
        delivered.extend(poll(&mut nat, 1.0).into_iter().map(|(v, o)| {
            assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
            o
        }));
        assert_eq!(delivered.len(), 3);
        for d in &delivered {
            assert_eq!(addrs(d), (y1(), x1()));
            assert!(checksums_valid(d));
        }
        let want = udp(ep(y1(), 53), ep(x1(), 40000), &payload);
        assert_eq!(reassemble(&delivered), want[20..]);
        assert_eq!(nat.waiting_fragments(), 0);
        assert_eq!(nat.counters().inbound, 3, "each fragment counted once");
    }
}

#[test]
fn rfc4787_req_14_hairpinned_fragments_follow_their_first() {
    for reverse in [false, true] {
        let mut nat = nat();
        out(&mut nat, 0.0, &udp(ep(x2(), 6000), ep(y1(), 3478), b""));
        let payload: Vec<u8> = (0..100).map(|i| i as u8).collect();
        let whole = udp(ep(x1(), 5000), xp(6000), &payload);
        let mut frags = fragments(&whole, 48, 0x5151);
        if reverse {
            frags.reverse();
        }
        let mut delivered = vec![];
        for f in &frags {
            let (v, o) = run(&mut nat, 1.0, Direction::Outbound, f);
            match v {
                Verdict::Forward { .. } => delivered.push(o),
                Verdict::Hold => assert!(reverse),
                v => panic!("{v:?}"),
            }
        }
        delivered.extend(poll(&mut nat, 1.0).into_iter().map(|(_, o)| o));
        assert_eq!(delivered.len(), 3);
        for d in &delivered {
            assert_eq!(
                addrs(d),
                (outside_addr(), x2()),
                "hairpinned, never sent out"
            );
            assert!(checksums_valid(d));
        }
        let want = udp(xp(5000), ep(x2(), 6000), &payload);
        assert_eq!(reassemble(&delivered), want[20..]);
    }
}

#[test]
fn rfc4787_req_14_hairpinned_fragments_between_shards() {
    // X1 on shard A, X2 on shard B: A translates every fragment out, B finishes each one
    // (the later ones follow the first B saw).
    let mut c = config();
    c.hairpin_handoff = true;
    let mut a = nat_with(c.clone(), TestAlloc::new(&[outside_addr()], 10));
    let mut b = nat_with(c, TestAlloc::new(&[outside_addr()], 10));
    out(&mut b, 0.0, &udp(ep(x2(), 6000), ep(y1(), 3478), b""));
    let payload: Vec<u8> = (0..100).map(|i| i as u8).collect();
    let whole = udp(ep(x1(), 5000), xp(6000), &payload);
    let mut delivered = vec![];
    for f in &fragments(&whole, 48, 0x5151) {
        let (v, half) = run(&mut a, 1.0, Direction::Outbound, f);
        assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
        assert_eq!(addrs(&half), (outside_addr(), outside_addr()), "out only");
        delivered.push(hairpin(&mut b, 1.0, &half));
    }
    for d in &delivered {
        assert_eq!(addrs(d), (outside_addr(), x2()));
        assert!(checksums_valid(d));
    }
    let want = udp(xp(5000), ep(x2(), 6000), &payload);
    assert_eq!(reassemble(&delivered), want[20..]);
}

#[test]
fn rfc4787_req_14a_orphan_fragment_flood_bounded() {
    let mut nat = nat();
    let (pkt, _) = flow(&mut nat);
    let mut held = 0;
    for id in 0..1000u16 {
        let whole = udp(ep(y1(), 53), xp(40000), &[7; 100]);
        let later = fragments(&whole, 48, id).pop().unwrap();
        match run(&mut nat, 1.0, Direction::Inbound, &later).0 {
            Verdict::Hold => held += 1,
            Verdict::Drop(DropReason::FragmentBufferFull) => {}
            v => panic!("{v:?}"),
        }
        assert!(nat.waiting_fragments() <= 4);
        // Unfragmented traffic keeps flowing both ways.
        if id % 100 == 0 {
            out(&mut nat, 1.0, &pkt);
            inb(&mut nat, 1.0, &udp(ep(y1(), 53), xp(40000), b""));
        }
    }
    assert_eq!(held, 4);
    // The orphans time out; the buffer serves again.
    let whole = udp(ep(y1(), 53), xp(40000), &[7; 100]);
    let later = fragments(&whole, 48, 5000).pop().unwrap();
    assert_eq!(
        run(&mut nat, 7.0, Direction::Inbound, &later).0,
        Verdict::Hold
    );
}

/// CK-768-NONE: a UDP datagram sent without checksum (0, RFC 768) leaves the NAT with 0, not
/// with an incremental update that would fabricate a wrong checksum; both directions.
#[test]
fn ck_768_none_udp_without_checksum_stays_zero() {
    let mut nat = nat();
    let mut pkt = udp(ep(x1(), 40000), ep(y1(), 53), b"no checksum");
    pkt[26] = 0;
    pkt[27] = 0;
    let o = out(&mut nat, 0.0, &pkt);
    assert_eq!(&o[26..28], &[0, 0]);
    assert_eq!(&o[12..16], &outside_addr().octets());
    let (src, _) = endpoints(&o);
    let mut reply = udp(ep(y1(), 53), src, b"reply");
    reply[26] = 0;
    reply[27] = 0;
    let i = inb(&mut nat, 1.0, &reply);
    assert_eq!(&i[26..28], &[0, 0]);
    assert_eq!(&i[16..20], &x1().octets());
}
