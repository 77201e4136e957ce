//! NAT44 smoke scenarios: the round trips every other test builds on.

mod common;
use common::*;
use nat_core::verdict::{Direction, DropReason, Verdict};

#[test]
fn udp_round_trip_restores_addresses_and_ports() {
    let mut nat = nat();
    let o = out(&mut nat, 0.0, &udp(ep(x1(), 40000), ep(y1(), 53), b"query"));
    let (src, dst) = endpoints(&o);
    assert_eq!(src.addr, outside_addr());
    assert_eq!(dst, ep(y1(), 53));
    assert_eq!(&o[28..], b"query");
    let i = inb(&mut nat, 1.0, &udp(ep(y1(), 53), src, b"answer"));
    assert_eq!(endpoints(&i), (ep(y1(), 53), ep(x1(), 40000)));
    assert_eq!(nat.state_counters().sessions[1], 1);
}

#[test]
fn tcp_handshake_both_ways() {
    let mut nat = nat();
    let o = out(&mut nat, 0.0, &tcp(ep(x1(), 33000), ep(y1(), 80), SYN, b""));
    let (src, _) = endpoints(&o);
    let i = inb(&mut nat, 0.1, &tcp(ep(y1(), 80), src, SYN | ACK, b""));
    assert_eq!(endpoints(&i).1, ep(x1(), 33000));
    out(
        &mut nat,
        0.2,
        &tcp(ep(x1(), 33000), ep(y1(), 80), ACK, b"GET /"),
    );
}

#[test]
fn icmp_echo_identifier_is_mapped() {
    let mut nat = nat();
    let o = out(&mut nat, 0.0, &echo(x1(), y1(), 77, 1, true));
    let (src, _) = endpoints(&o);
    assert_eq!(src.addr, outside_addr());
    let i = inb(
        &mut nat,
        0.5,
        &echo(y1(), outside_addr(), src.port, 1, false),
    );
    assert_eq!(endpoints(&i).1, ep(x1(), 77));
}

#[test]
fn inbound_without_mapping_is_dropped_with_reason() {
    let mut nat = nat();
    let (v, _) = run(
        &mut nat,
        0.0,
        Direction::Inbound,
        &udp(ep(y1(), 53), ep(outside_addr(), 999), b""),
    );
    assert_eq!(v, Verdict::Drop(DropReason::NoMapping));
    assert_eq!(nat.counters().drops.get(DropReason::NoMapping), 1);
}

#[test]
fn spoofed_source_is_dropped() {
    let mut nat = nat();
    let (v, _) = run(
        &mut nat,
        0.0,
        Direction::Outbound,
        &udp(ep(ip(192, 168, 1, 1), 1), ep(y1(), 53), b""),
    );
    assert_eq!(v, Verdict::Drop(DropReason::NotSubscriber));
}

#[test]
fn expiry_releases_port_and_emits_events() {
    let mut nat = nat();
    out(&mut nat, 0.0, &udp(ep(x1(), 40000), ep(y1(), 53), b""));
    assert_eq!(nat.handle_timeout(at(299.0), 100), 0);
    assert_eq!(nat.handle_timeout(at(301.0), 100), 1);
    assert_eq!(nat.allocator().released.len(), 1);
    assert_eq!(nat.state_counters().mappings, [0, 0, 0]);
    let kinds: Vec<_> = std::iter::from_fn(|| nat.poll_event())
        .map(|e| e.kind)
        .collect();
    use nat_core::event::EventKind::*;
    assert_eq!(
        kinds,
        vec![
            MappingCreated,
            SessionCreated,
            SessionDeleted,
            MappingDeleted
        ]
    );
}
