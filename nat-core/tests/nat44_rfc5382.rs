//! RFC 5382 (NAT behavioural requirements for TCP): one test per applicable row of § 2 of the
//! conformance matrix. Rows not implemented are listed in `CONFORMANCE.md`.

mod common;
use common::*;
use nat_core::behavior::FilteringBehavior;
use nat_core::flow::{Endpoint, FlowKey, L4Proto};
use nat_core::nat44::{ConfigError, Nat44Config};
use nat_core::tcp_state::TcpState;
use nat_core::verdict::{Direction, DropReason, Verdict};
use std::net::Ipv4Addr;
use std::time::Duration;

fn xp(port: u16) -> Endpoint<Ipv4Addr> {
    ep(outside_addr(), port)
}

fn state(nat: &Nat, x: Endpoint<Ipv4Addr>, y: Endpoint<Ipv4Addr>) -> Option<TcpState> {
    session_in(nat, &FlowKey::new(L4Proto::Tcp, x, y)).map(|s| TcpState::from_u8(s.state))
}

fn with_filtering(f: FilteringBehavior) -> Nat {
    let mut c = config();
    c.filtering.tcp = f;
    nat_with(c, TestAlloc::new(&[outside_addr()], 1000))
}

/// Out SYN and in SYN-ACK for X:x ↔ Y:y at `t`; returns X':x'.
fn establish(
    nat: &mut Nat,
    t: f64,
    x: Endpoint<Ipv4Addr>,
    y: Endpoint<Ipv4Addr>,
) -> Endpoint<Ipv4Addr> {
    let o = out(nat, t, &tcp(x, y, SYN, b""));
    let xo = endpoints(&o).0;
    let i = inb(nat, t, &tcp(y, xo, SYN | ACK, b""));
    assert_eq!(i, hop(&tcp(y, x, SYN | ACK, b"")));
    out(nat, t, &tcp(x, y, ACK, b""));
    assert_eq!(state(nat, x, y), Some(TcpState::Established));
    xo
}

#[test]
fn rfc5382_req_1_endpoint_independent_mapping_tcp() {
    let mut nat = nat();
    let x = ep(x1(), 33000);
    let a = out(&mut nat, 0.0, &tcp(x, ep(y1(), 80), SYN, b""));
    let b = out(&mut nat, 1.0, &tcp(x, ep(y2(), 443), SYN, b""));
    assert_eq!(a, hop(&tcp(xp(33000), ep(y1(), 80), SYN, b"")));
    assert_eq!(b, hop(&tcp(xp(33000), ep(y2(), 443), SYN, b"")));
    // And after the first connection closed.
    out(&mut nat, 2.0, &tcp(x, ep(y1(), 80), RST, b""));
    let c = out(&mut nat, 3.0, &tcp(x, ep(y1(), 8080), SYN, b""));
    assert_eq!(endpoints(&c).0, xp(33000));
}

#[test]
fn rfc5382_req_2_all_valid_tcp_sequences() {
    let mut nat = nat();
    let (x, y) = (ep(x1(), 33000), ep(y1(), 80));
    // Handshake, data both ways, half-close from the inside, data, close from the outside.
    let xo = establish(&mut nat, 0.0, x, y);
    let trace: &[(bool, u8, &[u8], TcpState)] = &[
        (true, ACK, b"GET /", TcpState::Established),
        (false, ACK, b"200 OK", TcpState::Established),
        (true, FIN | ACK, b"", TcpState::InsideFin),
        (
            false,
            ACK,
            b"more data after half-close",
            TcpState::InsideFin,
        ),
        (true, ACK, b"", TcpState::InsideFin),
        (false, FIN | ACK, b"", TcpState::BothFin),
        (true, ACK, b"", TcpState::BothFin),
    ];
    for (i, &(outbound, flags, data, st)) in trace.iter().enumerate() {
        let t = 1.0 + i as f64;
        if outbound {
            let o = out(&mut nat, t, &tcp(x, y, flags, data));
            assert_eq!(o, hop(&tcp(xo, y, flags, data)));
        } else {
            let i = inb(&mut nat, t, &tcp(y, xo, flags, data));
            assert_eq!(i, hop(&tcp(y, x, flags, data)));
        }
        assert_eq!(state(&nat, x, y), Some(st), "step {i}");
    }
    // Close initiated from the outside.
    let x = ep(x1(), 33001);
    let xo = establish(&mut nat, 10.0, x, y);
    inb(&mut nat, 11.0, &tcp(y, xo, FIN | ACK, b""));
    assert_eq!(state(&nat, x, y), Some(TcpState::OutsideFin));
    out(&mut nat, 11.0, &tcp(x, y, ACK, b"late data"));
    out(&mut nat, 12.0, &tcp(x, y, FIN | ACK, b""));
    assert_eq!(state(&nat, x, y), Some(TcpState::BothFin));
    inb(&mut nat, 12.0, &tcp(y, xo, ACK, b""));
    // RST in each state, from either side, is translated.
    type Step = fn(&mut Nat, Endpoint<Ipv4Addr>, Endpoint<Ipv4Addr>, Endpoint<Ipv4Addr>);
    let to_state: [(TcpState, Step); 5] = [
        (TcpState::InsideInit, |_, _, _, _| {}),
        (TcpState::Established, |n, x, y, xo| {
            inb(n, 20.0, &tcp(y, xo, SYN | ACK, b""));
            let _ = x;
        }),
        (TcpState::InsideFin, |n, x, y, xo| {
            inb(n, 20.0, &tcp(y, xo, SYN | ACK, b""));
            out(n, 20.0, &tcp(x, y, FIN, b""));
        }),
        (TcpState::OutsideFin, |n, _, y, xo| {
            inb(n, 20.0, &tcp(y, xo, SYN | ACK, b""));
            inb(n, 20.0, &tcp(y, xo, FIN, b""));
        }),
        (TcpState::BothFin, |n, x, y, xo| {
            inb(n, 20.0, &tcp(y, xo, SYN | ACK, b""));
            inb(n, 20.0, &tcp(y, xo, FIN, b""));
            out(n, 20.0, &tcp(x, y, FIN | ACK, b""));
        }),
    ];
    let mut port = 34000;
    for (want, go) in to_state {
        for rst_outbound in [true, false] {
            port += 1;
            let x = ep(x1(), port);
            let xo = endpoints(&out(&mut nat, 20.0, &tcp(x, y, SYN, b""))).0;
            go(&mut nat, x, y, xo);
            assert_eq!(state(&nat, x, y), Some(want));
            if rst_outbound {
                let o = out(&mut nat, 21.0, &tcp(x, y, RST | ACK, b""));
                assert_eq!(o, hop(&tcp(xo, y, RST | ACK, b"")));
            } else {
                let i = inb(&mut nat, 21.0, &tcp(y, xo, RST, b""));
                assert_eq!(i, hop(&tcp(y, x, RST, b"")));
            }
            assert_eq!(state(&nat, x, y), Some(TcpState::Trans), "{want:?}");
        }
    }
}

#[test]
fn rfc5382_req_2a_simultaneous_open() {
    let mut nat = nat();
    let (x, y) = (ep(x1(), 33000), ep(y1(), 5000));
    let o = out(&mut nat, 0.0, &tcp(x, y, SYN, b""));
    assert_eq!(o, hop(&tcp(xp(33000), y, SYN, b"")));
    let i = inb(&mut nat, 0.1, &tcp(y, xp(33000), SYN, b""));
    assert_eq!(i, hop(&tcp(y, x, SYN, b"")));
    let o = out(&mut nat, 0.2, &tcp(x, y, SYN | ACK, b""));
    assert_eq!(o, hop(&tcp(xp(33000), y, SYN | ACK, b"")));
    let i = inb(&mut nat, 0.3, &tcp(y, xp(33000), SYN | ACK, b""));
    assert_eq!(i, hop(&tcp(y, x, SYN | ACK, b"")));
    assert_eq!(state(&nat, x, y), Some(TcpState::Established));
    // The other order: the outside's SYN first, to a port the inside then opens.
    let mut nat = common::nat();
    let x = ep(x1(), 33001);
    assert_eq!(
        run(
            &mut nat,
            0.0,
            Direction::Inbound,
            &tcp(y, xp(33001), SYN, b"")
        )
        .0,
        Verdict::Hold
    );
    out(&mut nat, 0.5, &tcp(x, y, SYN, b""));
    let i = inb(&mut nat, 0.6, &tcp(y, xp(33001), SYN | ACK, b""));
    assert_eq!(i, hop(&tcp(y, x, SYN | ACK, b"")));
    out(&mut nat, 0.7, &tcp(x, y, ACK, b""));
    assert_eq!(state(&nat, x, y), Some(TcpState::Established));
}

#[test]
fn rfc5382_req_3_endpoint_independent_or_address_dependent_filtering_tcp() {
    let x = ep(x1(), 33000);
    let mut nat = nat();
    establish(&mut nat, 0.0, x, ep(y1(), 80));
    let i = inb(&mut nat, 1.0, &tcp(ep(y2(), 4000), xp(33000), SYN, b""));
    assert_eq!(i, hop(&tcp(ep(y2(), 4000), x, SYN, b"")));
    let mut nat = with_filtering(FilteringBehavior::AddressDependent);
    establish(&mut nat, 0.0, x, ep(y1(), 80));
    let (v, _) = run(
        &mut nat,
        1.0,
        Direction::Inbound,
        &tcp(ep(y2(), 4000), xp(33000), SYN, b""),
    );
    assert_eq!(v, Verdict::Hold, "filtered SYN held, not forwarded (REQ-4)");
    inb(&mut nat, 1.0, &tcp(ep(y1(), 4000), xp(33000), SYN, b""));
}

#[test]
fn rfc5382_req_3a_filtering_configurable() {
    let x = ep(x1(), 33000);
    for (f, other_host, other_port) in [
        (FilteringBehavior::EndpointIndependent, true, true),
        (FilteringBehavior::AddressDependent, false, true),
        (FilteringBehavior::AddressAndPortDependent, false, false),
    ] {
        let mut nat = with_filtering(f);
        establish(&mut nat, 0.0, x, ep(y1(), 80));
        let mut passes = |from| {
            let (v, _) = run(
                &mut nat,
                1.0,
                Direction::Inbound,
                &tcp(from, xp(33000), SYN, b""),
            );
            matches!(v, Verdict::Forward { .. })
        };
        assert_eq!(passes(ep(y2(), 80)), other_host, "{f:?}");
        assert_eq!(passes(ep(y1(), 81)), other_port, "{f:?}");
    }
}

#[test]
fn rfc5382_req_3b_tcp_filtering_independent_of_udp() {
    let mut c = config();
    c.filtering.tcp = FilteringBehavior::EndpointIndependent;
    c.filtering.udp = FilteringBehavior::AddressDependent;
    let mut nat = nat_with(c, TestAlloc::new(&[outside_addr()], 10));
    let x = ep(x1(), 5000);
    establish(&mut nat, 0.0, x, ep(y1(), 80));
    out(&mut nat, 0.0, &udp(x, ep(y1(), 80), b""));
    inb(&mut nat, 1.0, &tcp(ep(y2(), 1), xp(5000), SYN, b""));
    let (v, _) = run(
        &mut nat,
        1.0,
        Direction::Inbound,
        &udp(ep(y2(), 1), xp(5000), b""),
    );
    assert_eq!(v, Verdict::Drop(DropReason::Filtered));
}

#[test]
fn rfc5382_req_4_unsolicited_syn_held_6s() {
    let mut nat = nat();
    let syn = tcp(ep(y1(), 4000), xp(33000), SYN, b"");
    assert_eq!(
        run(&mut nat, 0.0, Direction::Inbound, &syn).0,
        Verdict::Hold
    );
    assert_eq!(nat.held_syns(), 1);
    assert_eq!(nat.poll_timeout(), Some(at(6.0)));
    for t in [0.0, 1.0, 3.0, 5.0, 5.999] {
        assert!(poll(&mut nat, t).is_empty(), "answered at {t}");
    }
    // A retransmission does not restart or duplicate the hold.
    assert_eq!(
        run(&mut nat, 3.0, Direction::Inbound, &syn).0,
        Verdict::Hold
    );
    assert_eq!(nat.held_syns(), 1);
    assert_eq!(nat.counters().icmp_errors_sent, 0);
}

#[test]
fn rfc5382_req_4_outbound_syn_claims_held_syn() {
    let mut nat = nat();
    let (x, y) = (ep(x1(), 33000), ep(y1(), 4000));
    let syn = tcp(y, xp(33000), SYN, b"");
    assert_eq!(
        run(&mut nat, 0.0, Direction::Inbound, &syn).0,
        Verdict::Hold
    );
    let o = out(&mut nat, 3.0, &tcp(x, y, SYN, b""));
    assert_eq!(endpoints(&o).0, xp(33000));
    assert_eq!(nat.held_syns(), 0);
    for t in [6.0, 10.0, 100.0] {
        assert!(poll(&mut nat, t).is_empty());
    }
    assert_eq!(nat.counters().icmp_errors_sent, 0);
    assert_eq!(
        nat.counters().inbound,
        0,
        "the held SYN was never forwarded"
    );
}

#[test]
fn rfc5382_req_4_port_unreachable_after_6s() {
    let mut nat = nat();
    let syn = tcp(ep(y1(), 4000), xp(33000), SYN, b"");
    assert_eq!(
        run(&mut nat, 0.0, Direction::Inbound, &syn).0,
        Verdict::Hold
    );
    let sent = poll(&mut nat, 6.0);
    assert_eq!(sent.len(), 1);
    let (v, e) = &sent[0];
    assert!(matches!(v, Verdict::Reply { .. }), "{v:?}");
    assert_eq!(addrs(e), (outside_addr(), y1()));
    assert_eq!(icmp_type_code(e), (3, 3));
    assert_eq!(quoted(e), &syn[..]);
    assert!(error_checksums_valid(e));
    assert_eq!(nat.held_syns(), 0);
    assert!(poll(&mut nat, 7.0).is_empty());
}

#[test]
fn rfc5382_req_4_port_unreachable_quotes_syn_with_data_or_options() {
    // A SYN longer than the bytes kept of it (TCP Fast Open data, IP options) is answered
    // too, quoting its IP header and first 8 transport bytes at least.
    let mut nat = nat();
    let tfo = tcp(ep(y1(), 4000), xp(33000), SYN, &[0x5a; 100]);
    let opts = with_options(&tcp(ep(y2(), 4001), xp(33001), SYN, b""), &[1; 40]);
    for syn in [&tfo, &opts] {
        assert_eq!(run(&mut nat, 0.0, Direction::Inbound, syn).0, Verdict::Hold);
    }
    let sent = poll(&mut nat, 6.0);
    assert_eq!(sent.len(), 2);
    for ((_, e), syn) in sent.iter().zip([&tfo, &opts]) {
        assert_eq!(icmp_type_code(e), (3, 3));
        assert_eq!(addrs(e).1, addrs(syn).0);
        let q = quoted(e);
        let ihl = usize::from(syn[0] & 0xf) * 4;
        assert!(q.len() >= ihl + 8);
        assert_eq!(q, &syn[..q.len()]);
        assert!(checksums_valid(e));
    }
}

#[test]
fn rfc5382_req_4_port_unreachable_for_hairpinned_syn() {
    // An inside host's SYN to an outside endpoint nobody holds comes back through the
    // hairpin as an unsolicited SYN; its Port Unreachable goes back to the inside host,
    // translated like any hairpinned error.
    let mut nat = nat();
    let syn = tcp(ep(x1(), 5000), xp(8080), SYN, b"");
    assert_eq!(
        run(&mut nat, 0.0, Direction::Outbound, &syn).0,
        Verdict::Hold
    );
    let sent = poll(&mut nat, 6.0);
    assert_eq!(sent.len(), 1);
    let (v, e) = &sent[0];
    assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
    assert_eq!(addrs(e), (outside_addr(), x1()));
    assert_eq!(icmp_type_code(e), (3, 3));
    assert_eq!(quoted_endpoints(e), (ep(x1(), 5000), xp(8080)));
    assert!(error_checksums_valid(e));
}

#[test]
fn rfc5382_req_4a_silent_drop_policy() {
    let mut c = config();
    c.answer_unsolicited_syn = false;
    let mut nat = nat_with(c, TestAlloc::new(&[outside_addr()], 10));
    let syn = tcp(ep(y1(), 4000), xp(33000), SYN, b"");
    assert_eq!(
        run(&mut nat, 0.0, Direction::Inbound, &syn).0,
        Verdict::Hold
    );
    for t in [6.0, 60.0] {
        assert!(poll(&mut nat, t).is_empty());
    }
    assert_eq!(nat.held_syns(), 0);
    assert_eq!(nat.counters().icmp_errors_sent, 0);
    assert_eq!(nat.counters().drops.get(DropReason::Filtered), 1);
}

#[test]
fn rfc5382_req_5_established_idle_timeout_at_least_2h4m() {
    let mut c = config();
    c.timeouts.tcp_established = Duration::from_secs(7439);
    assert_eq!(
        c.validate(),
        Err(ConfigError::TcpEstablishedTimeoutTooShort)
    );
    assert!(Nat44Config::default().timeouts.tcp_established >= Duration::from_secs(7440));
    for outbound in [true, false] {
        let mut nat = nat();
        let (x, y) = (ep(x1(), 33000), ep(y1(), 80));
        let xo = establish(&mut nat, 0.0, x, y);
        assert_eq!(tick(&mut nat, 7439.0), 0);
        if outbound {
            let o = out(&mut nat, 7439.0, &tcp(x, y, ACK, b"still here"));
            assert_eq!(o, hop(&tcp(xo, y, ACK, b"still here")));
        } else {
            let i = inb(&mut nat, 7439.0, &tcp(y, xo, ACK, b"still here"));
            assert_eq!(i, hop(&tcp(y, x, ACK, b"still here")));
        }
    }
}

#[test]
fn rfc5382_req_5_transitory_idle_timeout_at_least_4min() {
    let mut nat = nat();
    let (x, y) = (ep(x1(), 33000), ep(y1(), 80));
    // Partially open.
    out(&mut nat, 0.0, &tcp(x, y, SYN, b""));
    assert_eq!(tick(&mut nat, 239.0), 0);
    inb(&mut nat, 239.0, &tcp(y, xp(33000), SYN | ACK, b""));
    // Closing.
    let x = ep(x1(), 33001);
    let xo = establish(&mut nat, 300.0, x, y);
    out(&mut nat, 300.0, &tcp(x, y, FIN | ACK, b""));
    inb(&mut nat, 300.0, &tcp(y, xo, FIN | ACK, b""));
    assert_eq!(tick(&mut nat, 539.0), 0);
    let o = out(&mut nat, 539.0, &tcp(x, y, ACK, b""));
    assert_eq!(o, hop(&tcp(xo, y, ACK, b"")));
    // Partially open from the outside: a SYN admitted by endpoint-independent filtering to
    // an existing mapping (the 6 s of REQ-4 are for SYNs the filter holds, not for these).
    tick(&mut nat, 1000.0);
    let server = ep(x1(), 8080);
    establish(&mut nat, 1000.0, server, y);
    let client = ep(y2(), 50000);
    inb(&mut nat, 1000.0, &tcp(client, xp(8080), SYN, b""));
    assert_eq!(tick(&mut nat, 1239.0), 0);
    let o = out(&mut nat, 1239.0, &tcp(server, client, SYN | ACK, b""));
    assert_eq!(o, hop(&tcp(xp(8080), client, SYN | ACK, b"")));
    assert_eq!(state(&nat, server, client), Some(TcpState::Established));
}

#[test]
fn rfc5382_req_5a_idle_timeouts_configurable() {
    let mut c = config();
    c.timeouts.tcp_established = Duration::from_secs(8000);
    c.timeouts.tcp_opening = Duration::from_secs(300);
    c.timeouts.tcp_closing = Duration::from_secs(100);
    let mut nat = nat_with(c, TestAlloc::new(&[outside_addr()], 10));
    let y = ep(y1(), 80);
    out(&mut nat, 0.0, &tcp(ep(x1(), 1), y, SYN, b""));
    establish(&mut nat, 0.0, ep(x1(), 2), y);
    establish(&mut nat, 0.0, ep(x1(), 3), y);
    out(&mut nat, 0.0, &tcp(ep(x1(), 3), y, RST, b""));
    assert_eq!(tick(&mut nat, 99.0), 0);
    assert_eq!(tick(&mut nat, 101.0), 1, "closing after 100 s");
    assert_eq!(tick(&mut nat, 299.0), 0);
    assert_eq!(tick(&mut nat, 301.0), 1, "opening after 300 s");
    assert_eq!(tick(&mut nat, 7999.0), 0);
    assert_eq!(tick(&mut nat, 8001.0), 1, "established after 8000 s");
}

#[test]
fn rfc5382_s5_time_wait_state_held_for_closing_timeout() {
    // Chosen behaviour (MAY): after both FINs the session stays for the closing timeout,
    // without refresh, so the last ACK and TIME_WAIT retransmissions pass.
    let mut nat = nat();
    let (x, y) = (ep(x1(), 33000), ep(y1(), 80));
    let xo = establish(&mut nat, 0.0, x, y);
    out(&mut nat, 1.0, &tcp(x, y, FIN | ACK, b""));
    inb(&mut nat, 1.0, &tcp(y, xo, FIN | ACK, b""));
    out(&mut nat, 100.0, &tcp(x, y, ACK, b""));
    inb(&mut nat, 200.0, &tcp(y, xo, FIN | ACK, b""));
    assert_eq!(tick(&mut nat, 240.0), 0);
    assert_eq!(
        tick(&mut nat, 241.5),
        1,
        "not refreshed by packets after both FINs"
    );
}

#[test]
fn rfc5382_s5_abandoned_session_dropped_silently() {
    // Chosen behaviour (MAY): an expired connection is abandoned without RST.
    let mut nat = nat();
    establish(&mut nat, 0.0, ep(x1(), 33000), ep(y1(), 80));
    assert_eq!(tick(&mut nat, 7441.0), 1);
    assert!(poll(&mut nat, 7441.0).is_empty());
    assert_eq!(nat.counters().icmp_errors_sent, 0);
}

#[test]
fn rfc5382_s5_non_syn_without_mapping_dropped() {
    // Chosen behaviour: dropped with a reason, no RST, no ICMP.
    let mut nat = nat();
    let (v, _) = run(
        &mut nat,
        0.0,
        Direction::Outbound,
        &tcp(ep(x1(), 33000), ep(y1(), 80), ACK, b"stale"),
    );
    assert_eq!(v, Verdict::Drop(DropReason::NoMapping));
    let (v, _) = run(
        &mut nat,
        0.0,
        Direction::Inbound,
        &tcp(ep(y1(), 80), xp(33000), ACK, b"stale"),
    );
    assert_eq!(v, Verdict::Drop(DropReason::NoMapping));
    // Nor does a non-SYN from another host open a session on an existing mapping.
    establish(&mut nat, 1.0, ep(x1(), 33000), ep(y1(), 80));
    let (v, _) = run(
        &mut nat,
        1.0,
        Direction::Inbound,
        &tcp(ep(y2(), 80), xp(33000), ACK, b""),
    );
    assert_eq!(v, Verdict::Drop(DropReason::Filtered));
    assert_eq!(nat.counters().icmp_errors_sent, 0);
}

#[test]
fn rfc5382_req_6_no_tcp_alg_payload_untouched() {
    let mut nat = nat();
    let (x, y) = (ep(x1(), 33000), ep(y1(), 21));
    let xo = establish(&mut nat, 0.0, x, y);
    let port = b"PORT 10,0,0,2,156,64\r\n";
    let o = out(&mut nat, 1.0, &tcp(x, y, ACK, port));
    assert_eq!(o, hop(&tcp(xo, y, ACK, port)));
    let reply = b"227 Entering Passive Mode (203,0,113,2,200,10)\r\n";
    let i = inb(&mut nat, 1.0, &tcp(y, xo, ACK, reply));
    assert_eq!(i, hop(&tcp(y, x, ACK, reply)));
}

#[test]
fn rfc5382_req_7_no_port_overloading_tcp() {
    let mut nat = nat();
    let y = ep(y1(), 80);
    let a = establish(&mut nat, 0.0, ep(x1(), 5000), y);
    let b = establish(&mut nat, 0.0, ep(x2(), 5000), y);
    assert_ne!(a, b);
    let i = inb(&mut nat, 1.0, &tcp(y, a, ACK, b"to x1"));
    assert_eq!(i, hop(&tcp(y, ep(x1(), 5000), ACK, b"to x1")));
    let i = inb(&mut nat, 1.0, &tcp(y, b, ACK, b"to x2"));
    assert_eq!(i, hop(&tcp(y, ep(x2(), 5000), ACK, b"to x2")));
}

#[test]
fn rfc5382_req_8_hairpinning_tcp() {
    let mut nat = nat();
    let (x1e, x2e) = (ep(x1(), 5000), ep(x2(), 8080));
    // X2 has a mapping X2':8080 (from a connection of its own).
    establish(&mut nat, 0.0, x2e, ep(y1(), 443));
    let h = out(&mut nat, 1.0, &tcp(x1e, xp(8080), SYN, b""));
    assert_eq!(h, hop(&tcp(xp(5000), x2e, SYN, b"")));
    let h = out(&mut nat, 1.1, &tcp(x2e, xp(5000), SYN | ACK, b""));
    assert_eq!(h, hop(&tcp(xp(8080), x1e, SYN | ACK, b"")));
    let h = out(&mut nat, 1.2, &tcp(x1e, xp(8080), ACK, b"hello"));
    assert_eq!(h, hop(&tcp(xp(5000), x2e, ACK, b"hello")));
    assert_eq!(state(&nat, x1e, xp(8080)), Some(TcpState::Established));
    assert_eq!(state(&nat, x2e, xp(5000)), Some(TcpState::Established));
}

#[test]
fn rfc5382_req_8a_hairpinned_source_is_external_endpoint() {
    let mut nat = nat();
    establish(&mut nat, 0.0, ep(x2(), 8080), ep(y1(), 443));
    let h = out(&mut nat, 1.0, &tcp(ep(x1(), 5000), xp(8080), SYN, b""));
    assert_eq!(endpoints(&h).0, xp(5000));
    assert_eq!(addrs(&h).0, outside_addr());
}

#[test]
fn rfc5382_req_9_icmp_destination_unreachable_for_tcp() {
    let mut nat = nat();
    let (x, y) = (ep(x1(), 33000), ep(y1(), 80));
    let xo = establish(&mut nat, 0.0, x, y);
    let data = tcp(x, y, ACK, &[1; 1400]);
    let o = out(&mut nat, 1.0, &data);
    let mtu = [0, 0, 0x05, 0x00];
    let err = icmp_error(ip(192, 0, 2, 1), outside_addr(), 3, 4, mtu, &o, 28);
    let i = inb(&mut nat, 1.0, &err);
    assert_eq!(
        i,
        hop(&icmp_error(
            ip(192, 0, 2, 1),
            x1(),
            3,
            4,
            mtu,
            &hop(&data),
            28
        ))
    );
    assert_eq!(&i[24..28], &mtu, "MTU field unchanged");
    assert_eq!(quoted_endpoints(&i), (x, y));
    assert!(error_checksums_valid(&i));
    let _ = xo;
}

#[test]
fn rfc5382_req_10_icmp_never_terminates_tcp_connection() {
    let mut nat = nat();
    let (x, y) = (ep(x1(), 33000), ep(y1(), 80));
    let xo = establish(&mut nat, 0.0, x, y);
    let o = out(&mut nat, 1.0, &tcp(x, y, ACK, b"data"));
    let errors = (0..=15)
        .map(|c| (3, c))
        .chain([(11, 0), (11, 1), (12, 0), (5, 1)]);
    for (t, c) in errors {
        let err = icmp_error(ip(192, 0, 2, 1), outside_addr(), t, c, [0; 4], &o, o.len());
        let _ = run(&mut nat, 2.0, Direction::Inbound, &err);
        assert_eq!(state(&nat, x, y), Some(TcpState::Established));
        let o2 = out(&mut nat, 2.0, &tcp(x, y, ACK, b"next"));
        assert_eq!(o2, hop(&tcp(xo, y, ACK, b"next")));
        inb(&mut nat, 2.0, &tcp(y, xo, ACK, b""));
    }
}
