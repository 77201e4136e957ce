use super::*;
use core::net::Ipv4Addr;

fn ip(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(172, 85, 0, n)
}

#[test]
fn full_pool_is_a_typed_error() {
    let mut p = ServerPool::<Ipv4Addr, 2>::new(PoolConfig::default());
    p.add(ServerSpec::new(ip(1))).unwrap();
    p.add(ServerSpec::new(ip(2))).unwrap();
    assert_eq!(p.add(ServerSpec::new(ip(3))), Err(PoolError::Full));
    assert_eq!(p.add(ServerSpec::new(ip(1))), Err(PoolError::Duplicate));
}

#[test]
fn reused_slot_gets_a_new_generation_and_old_id_is_stale() {
    let mut p = ServerPool::<Ipv4Addr, 1>::new(PoolConfig::default());
    let a = p.add(ServerSpec::new(ip(1))).unwrap();
    p.bind(Instant::ZERO, a, 1).unwrap();
    p.remove(a).unwrap();
    let b = p.add(ServerSpec::new(ip(2))).unwrap();
    assert_eq!(a.index(), b.index());
    assert_ne!(a, b);
    assert_eq!(p.unbind(Instant::ZERO, a, 1), Err(PoolError::UnknownServer));
    assert_eq!(p.stats(Instant::ZERO, b).unwrap().sessions, 0);
}

#[test]
fn removing_a_server_leaves_others_counts_alone() {
    let mut p = ServerPool::<Ipv4Addr, 3>::new(PoolConfig::default());
    let a = p.add(ServerSpec::new(ip(1))).unwrap();
    let b = p.add(ServerSpec::new(ip(2))).unwrap();
    for _ in 0..5 {
        p.bind(Instant::ZERO, b, 2).unwrap();
    }
    p.remove(a).unwrap();
    p.add(ServerSpec::new(ip(3))).unwrap();
    let s = p.stats(Instant::ZERO, b).unwrap();
    assert_eq!((s.sessions, s.weighted_load.session_weight_sum), (5, 10));
}

#[test]
fn unbind_without_session_is_a_typed_error() {
    let mut p = ServerPool::<Ipv4Addr, 1>::new(PoolConfig::default());
    let a = p.add(ServerSpec::new(ip(1))).unwrap();
    assert_eq!(p.unbind(Instant::ZERO, a, 1), Err(PoolError::NotBound));
}

#[test]
fn draining_server_reports_when_its_last_session_ends() {
    let mut p = ServerPool::<Ipv4Addr, 1>::new(PoolConfig::default());
    let a = p.add(ServerSpec::new(ip(1))).unwrap();
    p.bind(Instant::ZERO, a, 1).unwrap();
    p.drain(Instant::ZERO, a).unwrap();
    assert!(!p.accepts_new_sessions(a));
    assert_eq!(p.poll_event(), None);
    p.unbind(Instant::from_secs(5), a, 1).unwrap();
    assert_eq!(
        p.poll_event(),
        Some(LsnatEvent::ServerDrained {
            server: a,
            addr: ip(1),
            at: Instant::from_secs(5)
        })
    );
}

#[test]
fn rtt_is_smoothed_by_one_eighth() {
    let mut p = ServerPool::<Ipv4Addr, 1>::new(PoolConfig::default());
    let a = p.add(ServerSpec::new(ip(1))).unwrap();
    p.record_rtt(a, Duration::from_micros(800)).unwrap();
    p.record_rtt(a, Duration::from_micros(1600)).unwrap();
    assert_eq!(p.stats(Instant::ZERO, a).unwrap().srtt_micros, Some(900));
    p.record_rtt(a, Duration::from_micros(100)).unwrap();
    assert_eq!(p.stats(Instant::ZERO, a).unwrap().srtt_micros, Some(800));
}

#[test]
fn traffic_window_is_read_as_of_now() {
    let mut p = ServerPool::<Ipv4Addr, 1, 4>::new(PoolConfig::default());
    let a = p.add(ServerSpec::new(ip(1))).unwrap();
    p.record_traffic(Instant::from_millis(500), a, 10, 1000)
        .unwrap();
    assert_eq!(
        p.stats(Instant::from_millis(3_900), a)
            .unwrap()
            .window_packets,
        10
    );
    assert_eq!(
        p.stats(Instant::from_millis(4_000), a)
            .unwrap()
            .window_packets,
        0
    );
}

#[test]
fn probe_failures_mark_dead_and_count_transitions() {
    let mut p = ServerPool::<Ipv4Addr, 1>::new(PoolConfig::default());
    let a = p.add(ServerSpec::new(ip(1))).unwrap();
    for s in 0..3 {
        p.record_probe(Instant::from_secs(s), a, false, Duration::ZERO)
            .unwrap();
    }
    assert_eq!(p.health(a), Ok(Health::Dead));
    assert_eq!(p.counters().dead_transitions, 1);
    assert_eq!(p.stats(Instant::ZERO, a).unwrap().dead_transitions, 1);
    assert!(matches!(
        p.poll_event(),
        Some(LsnatEvent::ServerDead { .. })
    ));
    assert_eq!(p.poll_timeout(), Some(Instant::from_secs(2 + 180)));
}
