//! RFC 7857 (updates to the NAT behavioural requirements): one test per applicable row of § 4
//! of the conformance matrix. Rows about the allocator (address pooling, parity, port
//! randomisation) are tested in `nat-alloc`; rows not implemented are listed in
//! `CONFORMANCE.md`.

mod common;
use common::*;
use nat_core::behavior::{FilteringBehavior, Timeouts};
use nat_core::flow::{Endpoint, FlowKey, L4Proto};
use nat_core::nat44::Nat44Config;
use nat_core::tcp_state::TcpState;
use nat_core::verdict::{Direction, DropReason, Verdict};
use std::net::Ipv4Addr;
use std::time::Duration;

fn xp(port: u16) -> Endpoint<Ipv4Addr> {
    ep(outside_addr(), port)
}

fn tcp_session(nat: &Nat, x: Endpoint<Ipv4Addr>, y: Endpoint<Ipv4Addr>) -> Option<(TcpState, f64)> {
    session_in(nat, &FlowKey::new(L4Proto::Tcp, x, y)).map(|s| {
        (
            TcpState::from_u8(s.state),
            s.expires.as_millis() as f64 / 1000.0,
        )
    })
}

fn establish(
    nat: &mut Nat,
    t: f64,
    x: Endpoint<Ipv4Addr>,
    y: Endpoint<Ipv4Addr>,
) -> Endpoint<Ipv4Addr> {
    let xo = endpoints(&out(nat, t, &tcp(x, y, SYN, b""))).0;
    inb(nat, t, &tcp(y, xo, SYN | ACK, b""));
    out(nat, t, &tcp(x, y, ACK, b""));
    xo
}

#[test]
fn rfc7857_s2_tcp_state_machine() {
    let t = Timeouts::default();
    let (est, trans) = (t.tcp_established.as_secs_f64(), t.tcp_closing.as_secs_f64());
    let open = t.tcp_opening.as_secs_f64();
    let mut nat = nat();
    let y = ep(y1(), 80);
    // CLOSED → INIT (client SYN) → ESTABLISHED (server SYN) → C FIN RCV → both FINs → CLOSED.
    let x = ep(x1(), 1000);
    out(&mut nat, 0.0, &tcp(x, y, SYN, b""));
    assert_eq!(tcp_session(&nat, x, y), Some((TcpState::InsideInit, open)));
    inb(&mut nat, 1.0, &tcp(y, xp(1000), SYN | ACK, b""));
    assert_eq!(
        tcp_session(&nat, x, y),
        Some((TcpState::Established, 1.0 + est))
    );
    out(&mut nat, 2.0, &tcp(x, y, FIN | ACK, b""));
    assert_eq!(
        tcp_session(&nat, x, y),
        Some((TcpState::InsideFin, 2.0 + est))
    );
    inb(&mut nat, 3.0, &tcp(y, xp(1000), FIN | ACK, b""));
    assert_eq!(
        tcp_session(&nat, x, y),
        Some((TcpState::BothFin, 3.0 + trans))
    );
    assert_eq!(tick(&mut nat, 2.0 + trans), 0);
    assert_eq!(tick(&mut nat, 4.0 + trans), 1);
    assert_eq!(tcp_session(&nat, x, y), None);
    // S FIN RCV.
    let x = ep(x1(), 1001);
    establish(&mut nat, 300.0, x, y);
    inb(&mut nat, 301.0, &tcp(y, xp(1001), FIN | ACK, b""));
    assert_eq!(
        tcp_session(&nat, x, y),
        Some((TcpState::OutsideFin, 301.0 + est))
    );
    // ESTABLISHED → TRANS on RST; TRANS → ESTABLISHED on data.
    let x = ep(x1(), 1002);
    establish(&mut nat, 300.0, x, y);
    inb(&mut nat, 310.0, &tcp(y, xp(1002), RST, b""));
    assert_eq!(
        tcp_session(&nat, x, y),
        Some((TcpState::Trans, 310.0 + trans))
    );
    out(&mut nat, 320.0, &tcp(x, y, ACK, b"again"));
    assert_eq!(
        tcp_session(&nat, x, y),
        Some((TcpState::Established, 320.0 + est))
    );
    // TCP_EST timeout: the session ends at TCP_EST (default 2 h 4 min, which includes the
    // 4 minutes of TRANS that Figure 1 adds after the 2-hour timer).
    assert!(est >= 7440.0);
    let x = ep(x1(), 1003);
    establish(&mut nat, 400.0, x, y);
    tick(&mut nat, 400.0 + est - 1.0);
    assert!(tcp_session(&nat, x, y).is_some());
    tick(&mut nat, 401.0 + est);
    assert_eq!(tcp_session(&nat, x, y), None);
}

#[test]
fn rfc7857_s2_1_separate_open_and_closing_timeouts() {
    let mut c = config();
    c.timeouts.tcp_opening = Duration::from_secs(60);
    c.timeouts.tcp_closing = Duration::from_secs(240);
    let mut nat = nat_with(c, TestAlloc::new(&[outside_addr()], 10));
    let y = ep(y1(), 80);
    out(&mut nat, 0.0, &tcp(ep(x1(), 1), y, SYN, b""));
    let xo = establish(&mut nat, 0.0, ep(x1(), 2), y);
    out(&mut nat, 0.0, &tcp(ep(x1(), 2), y, FIN, b""));
    inb(&mut nat, 0.0, &tcp(y, xo, FIN, b""));
    assert_eq!(tick(&mut nat, 59.0), 0);
    assert_eq!(tick(&mut nat, 61.0), 1);
    assert!(
        tcp_session(&nat, ep(x1(), 1), y).is_none(),
        "half-open gone at 60 s"
    );
    assert_eq!(tick(&mut nat, 239.0), 0);
    assert_eq!(tick(&mut nat, 241.0), 1);
    assert!(
        tcp_session(&nat, ep(x1(), 2), y).is_none(),
        "closing gone at 240 s"
    );
}

#[test]
fn rfc7857_s2_1_transitory_timeout_may_be_below_4min() {
    let mut c = config();
    c.timeouts.tcp_opening = Duration::from_secs(60);
    c.timeouts.tcp_closing = Duration::from_secs(30);
    assert_eq!(c.validate(), Ok(()));
}

#[test]
fn rfc7857_s2_1_default_transitory_timeout_at_least_4min() {
    let t = Nat44Config::default().timeouts;
    assert!(t.tcp_opening >= Duration::from_secs(240));
    assert!(t.tcp_closing >= Duration::from_secs(240));
    let mut nat = nat();
    let (x, y) = (ep(x1(), 33000), ep(y1(), 80));
    out(&mut nat, 0.0, &tcp(x, y, SYN, b""));
    assert_eq!(tick(&mut nat, 239.0), 0);
    let i = inb(&mut nat, 239.0, &tcp(y, xp(33000), SYN | ACK, b""));
    assert_eq!(i, hop(&tcp(y, x, SYN | ACK, b"")));
}

#[test]
fn rfc7857_s2_2_rst_translated_per_mapping() {
    let mut nat = nat();
    let (x, y) = (ep(x1(), 33000), ep(y1(), 80));
    let xo = establish(&mut nat, 0.0, x, y);
    let i = inb(&mut nat, 1.0, &tcp(y, xo, RST | ACK, b""));
    assert_eq!(i, hop(&tcp(y, x, RST | ACK, b"")));
    let o = out(&mut nat, 2.0, &tcp(x, y, RST, b""));
    assert_eq!(o, hop(&tcp(xo, y, RST, b"")));
}

#[test]
fn rfc7857_s2_2_session_kept_4min_after_rst() {
    let mut nat = nat();
    let y = ep(y1(), 80);
    let x = ep(x1(), 1);
    let xo = establish(&mut nat, 0.0, x, y);
    inb(&mut nat, 10.0, &tcp(y, xo, RST, b""));
    assert_eq!(tick(&mut nat, 210.0), 0);
    let o = out(&mut nat, 210.0, &tcp(x, y, ACK, b"retry"));
    assert_eq!(o, hop(&tcp(xo, y, ACK, b"retry")));
    assert_eq!(tcp_session(&nat, x, y).unwrap().0, TcpState::Established);
    // RST and silence: gone after 4 minutes.
    let x = ep(x1(), 2);
    let xo = establish(&mut nat, 300.0, x, y);
    inb(&mut nat, 300.0, &tcp(y, xo, RST, b""));
    assert_eq!(tick(&mut nat, 539.0), 0);
    assert_eq!(tick(&mut nat, 541.0), 1);
    assert!(tcp_session(&nat, x, y).is_none());
}

#[test]
fn rfc7857_s2_2_rst_of_another_connection_not_acted_upon() {
    let mut nat = nat();
    let (x, y) = (ep(x1(), 33000), ep(y1(), 80));
    let xo = establish(&mut nat, 0.0, x, y);
    let before = tcp_session(&nat, x, y);
    for forged in [
        tcp(ep(y1(), 81), xo, RST, b""),
        tcp(ep(y2(), 80), xo, RST, b""),
        tcp(y, xp(33001), RST, b""),
    ] {
        let (v, o) = run(&mut nat, 5.0, Direction::Inbound, &forged);
        assert!(matches!(v, Verdict::Drop(_)), "{v:?}");
        assert!(o.is_empty());
    }
    assert_eq!(tcp_session(&nat, x, y), before);
}

#[test]
fn rfc7857_s13_no_port_overlap_to_the_same_destination() {
    let mut nat = nat();
    let a = out(&mut nat, 0.0, &udp(ep(x1(), 5000), ep(y1(), 53), b""));
    let b = out(&mut nat, 0.0, &udp(ep(x2(), 6000), ep(y1(), 54), b""));
    let c = out(&mut nat, 0.0, &udp(ep(x2(), 5000), ep(y1(), 53), b""));
    let ports = [a, b, c].map(|p| endpoints(&p).0);
    assert_ne!(ports[0], ports[1]);
    assert_ne!(ports[0], ports[2]);
    assert_ne!(ports[1], ports[2]);
}

#[test]
fn rfc7857_s5_eim_protocol_dependent() {
    let mut nat = nat();
    let x = ep(x1(), 5000);
    let t = out(&mut nat, 0.0, &tcp(x, ep(y1(), 80), SYN, b""));
    let u = out(&mut nat, 0.0, &udp(x, ep(y1(), 80), b""));
    assert_eq!(
        nat.state_counters().mappings,
        [1, 1, 0],
        "one mapping per protocol"
    );
    assert_eq!(mapping_of(&nat, L4Proto::Tcp, x), Some(endpoints(&t).0));
    assert_eq!(mapping_of(&nat, L4Proto::Udp, x), Some(endpoints(&u).0));
    // Expiry of one leaves the other.
    assert_eq!(tick(&mut nat, 241.0), 1);
    assert_eq!(mapping_of(&nat, L4Proto::Tcp, x), None);
    assert!(mapping_of(&nat, L4Proto::Udp, x).is_some());
}

#[test]
fn rfc7857_s5_default_mapping_not_shared_across_protocols() {
    let mut nat = nat();
    establish(&mut nat, 0.0, ep(x1(), 6000), ep(y1(), 80));
    let (v, _) = run(
        &mut nat,
        1.0,
        Direction::Inbound,
        &udp(ep(y1(), 80), xp(6000), b""),
    );
    assert_eq!(v, Verdict::Drop(DropReason::NoMapping));
    assert_eq!(mapping_of(&nat, L4Proto::Udp, ep(x1(), 6000)), None);
}

#[test]
fn rfc7857_s6_eif_protocol_dependent() {
    let mut nat = nat();
    assert_eq!(
        nat.config().filtering.udp,
        FilteringBehavior::EndpointIndependent
    );
    out(&mut nat, 0.0, &tcp(ep(x1(), 7000), ep(y1(), 80), SYN, b""));
    let (v, _) = run(
        &mut nat,
        1.0,
        Direction::Inbound,
        &udp(ep(y2(), 1234), xp(7000), b""),
    );
    assert_eq!(v, Verdict::Drop(DropReason::NoMapping));
}

#[test]
fn rfc7857_s6_default_filtering_protocol_dependent() {
    // And the other way round: a UDP mapping does not admit TCP or ICMP.
    let mut nat = nat();
    out(&mut nat, 0.0, &udp(ep(x1(), 7000), ep(y1(), 53), b""));
    let (v, _) = run(
        &mut nat,
        1.0,
        Direction::Inbound,
        &tcp(ep(y2(), 1234), xp(7000), ACK, b""),
    );
    assert_eq!(v, Verdict::Drop(DropReason::NoMapping));
    let (v, _) = run(
        &mut nat,
        1.0,
        Direction::Inbound,
        &echo(y2(), outside_addr(), 7000, 1, false),
    );
    assert_eq!(v, Verdict::Drop(DropReason::NoMapping));
}

#[test]
fn rfc7857_s7_rejected_inbound_packets_do_not_refresh() {
    let mut c = config();
    c.filtering.udp = FilteringBehavior::AddressDependent;
    c.inbound_refresh = true;
    let mut nat = nat_with(c, TestAlloc::new(&[outside_addr()], 10));
    out(&mut nat, 0.0, &udp(ep(x1(), 40000), ep(y1(), 53), b""));
    for t in [100.0, 200.0, 290.0] {
        let (v, _) = run(
            &mut nat,
            t,
            Direction::Inbound,
            &udp(ep(y2(), 53), xp(40000), b""),
        );
        assert_eq!(v, Verdict::Drop(DropReason::Filtered));
    }
    assert_eq!(tick(&mut nat, 299.0), 0);
    assert_eq!(tick(&mut nat, 301.0), 1);
    assert_eq!(mapping_of(&nat, L4Proto::Udp, ep(x1(), 40000)), None);
}

#[test]
fn rfc7857_s7_rejected_inbound_tcp_does_not_refresh() {
    let mut nat = nat();
    let (x, y) = (ep(x1(), 33000), ep(y1(), 80));
    let xo = establish(&mut nat, 0.0, x, y);
    for t in (1000..7440).step_by(1000) {
        let (v, _) = run(
            &mut nat,
            t as f64,
            Direction::Inbound,
            &tcp(ep(y2(), 80), xo, ACK, b""),
        );
        assert_eq!(v, Verdict::Drop(DropReason::Filtered));
    }
    assert_eq!(tick(&mut nat, 7439.0), 0);
    assert_eq!(tick(&mut nat, 7441.0), 1);
    assert_eq!(mapping_of(&nat, L4Proto::Tcp, x), None);
}

#[test]
fn rfc7857_s7_1_outbound_errors_and_rsts_do_not_refresh() {
    let mut nat = nat();
    out(&mut nat, 0.0, &udp(ep(x1(), 40000), ep(y1(), 53), b""));
    for t in [100.0, 200.0, 290.0] {
        let junk = inb(&mut nat, t, &udp(ep(y1(), 53), xp(40000), b"junk"));
        let err = icmp_error(x1(), y1(), 3, 3, [0; 4], &junk, junk.len());
        out(&mut nat, t, &err);
    }
    assert_eq!(tick(&mut nat, 299.0), 0);
    assert_eq!(tick(&mut nat, 301.0), 1);
    // An inbound SYN on an endpoint-independent mapping, answered late by RST: the session
    // keeps the timer the SYN gave it, the RST does not extend it by 4 minutes.
    let y = ep(y1(), 80);
    establish(&mut nat, 400.0, ep(x1(), 33000), y);
    let y2e = ep(y2(), 5555);
    inb(&mut nat, 401.0, &tcp(y2e, xp(33000), SYN, b""));
    let (_, before) = tcp_session(&nat, ep(x1(), 33000), y2e).unwrap();
    assert_eq!(before, 641.0);
    out(&mut nat, 500.0, &tcp(ep(x1(), 33000), y2e, RST | ACK, b""));
    let (st, expires) = tcp_session(&nat, ep(x1(), 33000), y2e).unwrap();
    assert_eq!(st, TcpState::Trans);
    assert_eq!(expires, before, "not refreshed by the RST");
    tick(&mut nat, 642.0);
    assert!(tcp_session(&nat, ep(x1(), 33000), y2e).is_none());
    assert!(tcp_session(&nat, ep(x1(), 33000), y).is_some());
}

#[test]
fn rfc7857_s11_query_mapping_deleted_with_last_session() {
    let mut nat = nat();
    out(&mut nat, 0.0, &echo(x1(), y1(), 7, 1, true));
    out(&mut nat, 10.0, &echo(x1(), y2(), 7, 1, true));
    assert_eq!(tick(&mut nat, 61.0), 1);
    assert_eq!(
        nat.state_counters().mappings[L4Proto::Icmp.index()],
        1,
        "one session left"
    );
    assert_eq!(tick(&mut nat, 71.0), 1);
    assert_eq!(nat.state_counters().mappings[L4Proto::Icmp.index()], 0);
    assert_eq!(nat.allocator().released, vec![(L4Proto::Icmp, xp(7))]);
}

/// Basic NAT: each subscriber its own outside address, ports and identifiers preserved, and
/// the address mapping for inbound queries (the static ICMP binding of identifier 0).
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
fn rfc7857_s12_basic_nat_inbound_query() {
    let (mut nat, a1, _) = basic_nat();
    let i = inb(&mut nat, 0.0, &echo(y1(), a1, 4242, 1, true));
    assert_eq!(i, hop(&echo(y1(), x1(), 4242, 1, true)));
    let o = out(&mut nat, 0.1, &echo(x1(), y1(), 4242, 1, false));
    assert_eq!(o, hop(&echo(a1, y1(), 4242, 1, false)));
}

#[test]
fn rfc7857_s12_basic_nat_hairpinned_error() {
    let (mut nat, a1, a2) = basic_nat();
    out(&mut nat, 0.0, &udp(ep(x2(), 6000), ep(y1(), 53), b""));
    let sent = udp(ep(x1(), 5000), ep(a2, 6000), b"hi");
    let h = out(&mut nat, 1.0, &sent);
    assert_eq!(h, hop(&udp(ep(a1, 5000), ep(x2(), 6000), b"hi")));
    let err = icmp_error(x2(), a1, 3, 3, [0; 4], &h, h.len());
    let back = out(&mut nat, 1.1, &err);
    assert_eq!(
        back,
        hop(&icmp_error(a2, x1(), 3, 3, [0; 4], &hop(&sent), 100))
    );
    assert!(error_checksums_valid(&back));
}

/// RFC 7857 § 10 (RFC 6864 § 5.3.1): two subscribers sharing an outside address send
/// non-atomic datagrams with the same Identification to the same remote; the translator gives
/// them distinct ones, and the later fragments of a datagram follow its first fragment's new
/// Identification. Atomic datagrams keep theirs.
#[test]
fn rfc7857_s10_ip_id_unique_for_non_atomic_datagrams() {
    let mut nat = nat();
    let a = without_df(&udp(ep(x1(), 5000), ep(y1(), 53), b"a"));
    let b = without_df(&udp(ep(x2(), 5000), ep(y1(), 53), b"b"));
    assert_eq!(a[4..6], b[4..6], "the same inside Identification");
    let (oa, ob) = (out(&mut nat, 0.0, &a), out(&mut nat, 0.0, &b));
    assert_eq!(&oa[12..16], &ob[12..16], "one shared outside address");
    assert_ne!(oa[4..6], ob[4..6], "distinct outside Identifications");

    // A fragmented datagram: every fragment leaves with the same new Identification.
    let whole = without_df(&udp(ep(x1(), 5001), ep(y1(), 53), &[7u8; 120]));
    let frags = fragments(&whole, 48, 0x1234);
    let outs: Vec<Vec<u8>> = frags.iter().map(|f| out(&mut nat, 0.1, f)).collect();
    let id = &outs[0][4..6];
    assert_ne!(id, &[0x12, 0x34]);
    assert!(
        outs.iter().all(|o| &o[4..6] == id),
        "fragments share the first's Identification"
    );

    // DF set and not fragmented: atomic, its Identification is left alone.
    let atomic = udp(ep(x1(), 5002), ep(y1(), 53), b"c");
    let o = out(&mut nat, 0.2, &atomic);
    assert_eq!(o[4..6], atomic[4..6]);
}
