//! Conformance tests named after the rows of MATRIX.md § 1 (RFC 4787 REQ-2, 3, 3a, 4) and § 5
//! (RFC 6888 REQ-2..15), and after draft-nishitani-cgn § 3 REQ-1..5, on a virtual clock.

mod common;

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::vec::Vec;

use common::*;
use nat_alloc::*;
use nat_core::allocator::{AllocError, PortAllocator};
use nat_core::flow::{Endpoint, L4Proto};
use nat_core::time::{Duration, Instant};

const X: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 1);
const X2: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 2);
const Y: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const T0: Instant = Instant::from_secs(1000);

fn pool2() -> [Ipv4Range; 1] {
    [range([198, 51, 100, 1], [198, 51, 100, 2])]
}

#[test]
fn rfc4787_req_2_paired_address_pooling() {
    let pool = [range([198, 51, 100, 1], [198, 51, 100, 8])];
    let cfg = PooledConfig::new(&pool, KEY);
    let mut mem = PooledMem::new(8, 64, 1024, 0);
    let mut a = PooledAllocator::new(&cfg, mem.storage()).unwrap();
    for host in 1..=20u8 {
        let x = Ipv4Addr::new(100, 64, 1, host);
        let mut addrs = HashSet::new();
        for (i, port) in [1000u16, 2000, 3000, 40000].into_iter().enumerate() {
            let remote = Ipv4Addr::new(203, 0, 113, i as u8);
            let e = a
                .allocate(T0, &req(L4Proto::Udp, x, port, remote, 53))
                .unwrap();
            addrs.insert(e.addr);
        }
        assert_eq!(addrs.len(), 1, "one external address per internal address");
    }
    // Twenty subscribers spread over more than one address of the pool.
    let used: HashSet<_> = (1..=20u8)
        .filter_map(|h| a.paired_address(Ipv4Addr::new(100, 64, 1, h)))
        .collect();
    assert!(used.len() > 1);
}

#[test]
fn rfc4787_req_3_no_port_overloading() {
    let pool = [Ipv4Range::single(Ipv4Addr::new(198, 51, 100, 1))];
    for policy in [PortPolicy::TRANSPARENT, PortPolicy::HARD_TO_GUESS] {
        let cfg = PooledConfig {
            policy,
            ..PooledConfig::new(&pool, KEY)
        };
        let mut mem = PooledMem::new(1, 64, 1024, 0);
        let mut a = PooledAllocator::new(&cfg, mem.storage()).unwrap();
        let e1 = a.allocate(T0, &req(L4Proto::Udp, X, 5000, Y, 80)).unwrap();
        let e2 = a.allocate(T0, &req(L4Proto::Udp, X2, 5000, Y, 80)).unwrap();
        assert_ne!(e1, e2);
    }
    let mut s = SimpleAllocator::new(Ipv4Addr::new(198, 51, 100, 1), PortRange::DYNAMIC).unwrap();
    let e1 = s.allocate(T0, &req(L4Proto::Tcp, X, 5000, Y, 80)).unwrap();
    let e2 = s.allocate(T0, &req(L4Proto::Tcp, X2, 5000, Y, 80)).unwrap();
    assert_eq!(e1.port, 5000, "port preserved when free");
    assert_ne!(e1, e2);
}

#[test]
fn rfc4787_req_3a_port_range_preserved() {
    let pool = [Ipv4Range::single(Ipv4Addr::new(198, 51, 100, 1))];
    let cfg = PooledConfig {
        ports: PortRange {
            first: 1,
            last: 65535,
        },
        ..PooledConfig::new(&pool, KEY)
    };
    let mut mem = PooledMem::new(1, 512, 1024, 0);
    let mut a = PooledAllocator::new(&cfg, mem.storage()).unwrap();
    for i in 0..200u16 {
        let x = Ipv4Addr::new(100, 64, 2, i as u8);
        let low = a.allocate(T0, &req(L4Proto::Udp, x, 123, Y, 123)).unwrap();
        assert!((1..=1023).contains(&low.port), "{low:?}");
        let high = a
            .allocate(T0, &req(L4Proto::Udp, x, 40000, Y, 123))
            .unwrap();
        assert!(high.port >= 1024, "{high:?}");
    }
    let mut s = SimpleAllocator::new(
        Ipv4Addr::new(198, 51, 100, 1),
        PortRange {
            first: 1,
            last: 65535,
        },
    )
    .unwrap();
    for _ in 0..100 {
        assert!(
            s.allocate(T0, &req(L4Proto::Udp, X, 123, Y, 1))
                .unwrap()
                .port
                < 1024
        );
        assert!(
            s.allocate(T0, &req(L4Proto::Udp, X, 1024, Y, 1))
                .unwrap()
                .port
                >= 1024
        );
    }
}

#[test]
fn rfc4787_req_4_port_parity() {
    let pool = [Ipv4Range::single(Ipv4Addr::new(198, 51, 100, 1))];
    for policy in [PortPolicy::TRANSPARENT, PortPolicy::HARD_TO_GUESS] {
        let cfg = PooledConfig {
            policy,
            ..PooledConfig::new(&pool, KEY)
        };
        let mut mem = PooledMem::new(1, 512, 1024, 0);
        let mut a = PooledAllocator::new(&cfg, mem.storage()).unwrap();
        // Collisions force non-preservation: many hosts with the same even and odd ports.
        for h in 0..200u16 {
            let x = Ipv4Addr::new(100, 64, (h >> 8) as u8, h as u8);
            let even = a
                .allocate(T0, &req(L4Proto::Udp, x, 5004, Y, 5004))
                .unwrap();
            let odd = a
                .allocate(T0, &req(L4Proto::Udp, x, 5005, Y, 5005))
                .unwrap();
            assert_eq!((even.port % 2, odd.port % 2), (0, 1));
        }
    }
    // Blocks and deterministic ranges keep parity too.
    let cfg = BlockConfig::new(&pool, KEY);
    let mut mem = BlockMem::new(&cfg, 64, 64, 0);
    let mut b = BlockAllocator::new(&cfg, mem.storage()).unwrap();
    for p in 0..300u16 {
        let e = b
            .allocate(T0, &req(L4Proto::Udp, X, 6000 + p, Y, 1))
            .unwrap();
        assert_eq!(e.port % 2, p % 2);
    }
}

fn cgn_cfg(pool: &[Ipv4Range]) -> PooledConfig<'_> {
    PooledConfig::new(pool, KEY)
}

#[test]
fn rfc6888_req_2_paired_by_default_for_all_protocols() {
    let pool = pool2();
    let mut mem = PooledMem::new(2, 64, 1024, 0);
    let mut a = PooledAllocator::new(&cgn_cfg(&pool), mem.storage()).unwrap();
    let mut addrs = HashSet::new();
    for (i, proto) in [
        L4Proto::Icmp,
        L4Proto::Udp,
        L4Proto::Tcp,
        L4Proto::Udp,
        L4Proto::Tcp,
    ]
    .into_iter()
    .enumerate()
    {
        let r = Ipv4Addr::new(203, 0, 113, i as u8);
        addrs.insert(
            a.allocate(T0, &req(proto, X, 7 + i as u16, r, 443))
                .unwrap()
                .addr,
        );
    }
    assert_eq!(addrs.len(), 1);
}

#[test]
fn rfc6888_req_2_pairing_is_per_subscriber_prefix() {
    // NAT64: a home /56 uses many IPv6 addresses; all of them share one outside address.
    let pool = [range([198, 51, 100, 1], [198, 51, 100, 16])];
    let cfg = PooledConfig {
        subscriber_prefix_len: Some(56),
        ..cgn_cfg(&pool)
    };
    let mut mem = PooledMem::<Ipv6Addr>::new(16, 64, 1024, 0);
    let mut a = PooledAllocator::new(&cfg, mem.storage()).unwrap();
    let mut addrs = HashSet::new();
    for i in 0..16u16 {
        let x = Ipv6Addr::new(0x2001, 0xdb8, 0, 0x0100 | i, i, 1, 2, 3);
        addrs.insert(
            a.allocate(T0, &req(L4Proto::Tcp, x, 40000 + i, Y, 80))
                .unwrap()
                .addr,
        );
    }
    assert_eq!(addrs.len(), 1);
}

#[test]
fn rfc6888_req_3_non_contiguous_pool() {
    let pool = [
        range([198, 51, 100, 1], [198, 51, 100, 10]),
        Ipv4Range::single(Ipv4Addr::new(203, 0, 113, 5)),
    ];
    let mut mem = PooledMem::new(11, 2048, 1024, 0);
    let mut a = PooledAllocator::new(&cgn_cfg(&pool), mem.storage()).unwrap();
    let mut seen = HashSet::new();
    for h in 0..1000u32 {
        let x = Ipv4Addr::from_bits(0x6440_0000 + h);
        seen.insert(
            a.allocate(T0, &req(L4Proto::Udp, x, 1234, Y, 53))
                .unwrap()
                .addr,
        );
    }
    assert_eq!(seen.len(), 11, "allocations come from all ranges");
}

#[test]
fn rfc6888_req_4_port_limit_per_subscriber() {
    let pool = pool2();
    let cfg = PooledConfig {
        quotas: Quotas::ports(10, 5, 3),
        ..cgn_cfg(&pool)
    };
    let mut mem = PooledMem::new(2, 64, 1024, 16);
    let mut a = PooledAllocator::new(&cfg, mem.storage()).unwrap();
    for (proto, limit) in [(L4Proto::Tcp, 10), (L4Proto::Udp, 5), (L4Proto::Icmp, 3)] {
        for i in 0..limit {
            a.allocate(T0, &req(proto, X, 2000 + i, Y, 80)).unwrap();
        }
        // REQ-4b: the limits are per protocol; REQ-11a: no mapping past the limit.
        assert_eq!(
            a.allocate(T0, &req(proto, X, 3000, Y, 80)),
            Err(AllocError::QuotaExhausted)
        );
    }
    // Another subscriber is not affected.
    a.allocate(T0, &req(L4Proto::Tcp, X2, 2000, Y, 80)).unwrap();
    // REQ-11c: the management system hears of it once per protocol.
    let events: Vec<_> = a.events().collect();
    assert_eq!(events.len(), 3);
    assert!(matches!(
        events[0],
        AllocEvent::QuotaExhausted {
            subscriber: X,
            proto: L4Proto::Tcp,
            ..
        }
    ));
}

#[test]
fn rfc6888_req_4c_new_session_rate_limited() {
    let pool = pool2();
    let cfg = PooledConfig {
        quotas: Quotas {
            tcp_rate: Some(RateLimit {
                sessions: 10,
                per: Duration::from_secs(1),
                burst: 20,
            }),
            ..Quotas::UNLIMITED
        },
        ..cgn_cfg(&pool)
    };
    let mut mem = PooledMem::new(2, 64, 1024, 0);
    let mut a = PooledAllocator::new(&cfg, mem.storage()).unwrap();
    let admitted = (0..100)
        .filter(|_| a.admit_session(T0, L4Proto::Tcp, X).is_ok())
        .count();
    assert_eq!(admitted, 20, "burst");
    for _ in 0..100 {
        let _ = a.admit_session(T0, L4Proto::Tcp, X);
        a.session_closed(T0, L4Proto::Tcp, X);
    }
    assert_eq!(
        a.admit_session(T0, L4Proto::Tcp, X),
        Err(AllocError::RateLimited)
    );
    // Open-and-close does not reset the bucket; time does.
    let t1 = T0 + Duration::from_millis(500);
    let admitted = (0..100)
        .filter(|_| a.admit_session(t1, L4Proto::Tcp, X).is_ok())
        .count();
    assert_eq!(admitted, 5);
    assert!(
        a.admit_session(T0, L4Proto::Tcp, X2).is_ok(),
        "others unaffected"
    );
}

#[test]
fn rfc6888_req_5_session_limit_per_subscriber() {
    let pool = pool2();
    let cfg = PooledConfig {
        quotas: Quotas {
            sessions: 3,
            ..Quotas::UNLIMITED
        },
        ..cgn_cfg(&pool)
    };
    let mut mem = PooledMem::new(2, 64, 1024, 0);
    let mut a = PooledAllocator::new(&cfg, mem.storage()).unwrap();
    for _ in 0..3 {
        a.admit_session(T0, L4Proto::Udp, X).unwrap();
    }
    assert_eq!(
        a.admit_session(T0, L4Proto::Udp, X),
        Err(AllocError::QuotaExhausted)
    );
    a.session_closed(T0, L4Proto::Udp, X);
    a.admit_session(T0, L4Proto::Udp, X).unwrap();
    assert_eq!(a.stats().session_rejections, 1);
}

#[test]
fn rfc6888_req_6_translation_off_for_chosen_destinations() {
    let list = [Exemption {
        addr: Ipv4Addr::new(192, 0, 2, 10),
        prefix_len: 32,
        port: Some(443),
        proto: None,
        action: ExemptAction::PassThrough,
    }];
    let ex = Exemptions::new(&list).unwrap();
    assert!(ex.pass_through(
        L4Proto::Tcp,
        &Endpoint::new(Ipv4Addr::new(192, 0, 2, 10), 443)
    ));
    assert!(!ex.pass_through(
        L4Proto::Tcp,
        &Endpoint::new(Ipv4Addr::new(192, 0, 2, 10), 80)
    ));
    assert!(!ex.pass_through(
        L4Proto::Tcp,
        &Endpoint::new(Ipv4Addr::new(192, 0, 2, 11), 443)
    ));
}

fn one_port_pool_cfg(pool: &[Ipv4Range]) -> PooledConfig<'_> {
    PooledConfig {
        ports: PortRange {
            first: 4000,
            last: 4001,
        },
        policy: PortPolicy {
            parity: false,
            ..PortPolicy::TRANSPARENT
        },
        ..cgn_cfg(pool)
    }
}

#[test]
fn rfc6888_req_8_port_hold_down() {
    let pool = [Ipv4Range::single(Ipv4Addr::new(198, 51, 100, 1))];
    let cfg = one_port_pool_cfg(&pool);
    let mut mem = PooledMem::new(1, 64, 1024, 0);
    let mut a = PooledAllocator::new(&cfg, mem.storage()).unwrap();
    let e = a.allocate(T0, &req(L4Proto::Udp, X, 4000, Y, 1)).unwrap();
    let other = a.allocate(T0, &req(L4Proto::Udp, X2, 4000, Y, 1)).unwrap();
    assert_eq!((e.port, other.port), (4000, 4001));
    a.release(T0, L4Proto::Udp, Endpoint::new(X2, 4000), other);
    let t = T0 + Duration::from_secs(10);
    a.release(t, L4Proto::Udp, Endpoint::new(X, 4000), e);
    // During [t, t + 120 s) nobody gets the port.
    let x3 = Ipv4Addr::new(100, 64, 0, 3);
    for s in [0, 60, 119] {
        let now = t + Duration::from_secs(s);
        let got = a.allocate(now, &req(L4Proto::Udp, x3, 4000, Y, 1));
        assert!(got.is_err() || got.unwrap().port != 4000, "at t+{s}s");
        if let Ok(o) = got {
            a.release(now, L4Proto::Udp, Endpoint::new(x3, 4000), o);
        }
    }
    assert_eq!(a.held_ports(), 2);
    let later = t + Duration::from_secs(121);
    let got = a
        .allocate(later, &req(L4Proto::Udp, x3, 4000, Y, 1))
        .unwrap();
    assert_eq!(got.port, 4000, "back after the hold-down");
}

#[test]
fn rfc6888_req_8_hold_down_duration_and_capacity_configurable() {
    let pool = [Ipv4Range::single(Ipv4Addr::new(198, 51, 100, 1))];
    let cfg = PooledConfig {
        hold_down: Duration::from_secs(30),
        max_held_ports: 1,
        ..one_port_pool_cfg(&pool)
    };
    let mut mem = PooledMem::new(1, 64, 1, 0);
    let mut a = PooledAllocator::new(&cfg, mem.storage()).unwrap();
    let e = a.allocate(T0, &req(L4Proto::Udp, X, 4000, Y, 1)).unwrap();
    a.release(T0, L4Proto::Udp, Endpoint::new(X, 4000), e);
    assert!(a.is_taken(L4Proto::Udp, e));
    assert_eq!(a.next_timeout(), Some(T0 + Duration::from_secs(30)));
    a.poll(T0 + Duration::from_secs(30));
    assert!(!a.is_taken(L4Proto::Udp, e), "30 s hold-down");
    // Capacity 1: a second hold-down pushes the first out early, and it is counted.
    let e1 = a
        .allocate(
            T0 + Duration::from_secs(31),
            &req(L4Proto::Udp, X, 4000, Y, 1),
        )
        .unwrap();
    let e2 = a
        .allocate(
            T0 + Duration::from_secs(31),
            &req(L4Proto::Udp, X, 4001, Y, 1),
        )
        .unwrap();
    a.release(
        T0 + Duration::from_secs(32),
        L4Proto::Udp,
        Endpoint::new(X, 4000),
        e1,
    );
    a.release(
        T0 + Duration::from_secs(32),
        L4Proto::Udp,
        Endpoint::new(X, 4001),
        e2,
    );
    assert_eq!((a.held_ports(), a.stats().hold_down_evictions), (1, 1));
    assert!(!a.is_taken(L4Proto::Udp, e1));
    // Storage smaller than the configured capacity is refused, naming the field.
    let bad = PooledConfig {
        max_held_ports: 5,
        ..cfg
    };
    let mut mem = PooledMem::<Ipv4Addr>::new(1, 64, 1, 0);
    let err = PooledAllocator::new(&bad, mem.storage()).unwrap_err();
    assert_eq!(err.field(), "storage.hold_down");
}

#[test]
fn rfc6888_req_8a_tcp_ports_reused_at_once_when_tracked() {
    let pool = [Ipv4Range::single(Ipv4Addr::new(198, 51, 100, 1))];
    let cfg = PooledConfig {
        tcp_immediate_reuse: true,
        ..one_port_pool_cfg(&pool)
    };
    let mut mem = PooledMem::new(1, 64, 64, 0);
    let mut a = PooledAllocator::new(&cfg, mem.storage()).unwrap();
    let e = a.allocate(T0, &req(L4Proto::Tcp, X, 4000, Y, 1)).unwrap();
    a.release(T0, L4Proto::Tcp, Endpoint::new(X, 4000), e);
    assert_eq!(
        a.allocate(T0, &req(L4Proto::Tcp, X2, 4000, Y, 1)).unwrap(),
        e
    );
    let u = a.allocate(T0, &req(L4Proto::Udp, X, 4000, Y, 1)).unwrap();
    a.release(T0, L4Proto::Udp, Endpoint::new(X, 4000), u);
    assert!(a.is_taken(L4Proto::Udp, u), "UDP still held down");
}

fn det_cfg(outside: &[Ipv4Range]) -> DeterministicConfig<'_, Ipv4Addr> {
    DeterministicConfig {
        inside: InsidePrefix {
            addr: Ipv4Addr::new(100, 64, 0, 0),
            len: 24,
        },
        subscriber_prefix_len: None,
        outside,
        first_port: 1024,
        ports_per_subscriber: 2000,
        policy: PortPolicy::TRANSPARENT,
        quotas: Quotas::UNLIMITED,
        key: KEY,
    }
}

#[test]
fn rfc6888_req_8b_static_ranges_reused_at_once() {
    let pool = [range([198, 51, 100, 0], [198, 51, 100, 7])];
    let cfg = det_cfg(&pool);
    let map = DeterministicMap::new(&cfg).unwrap();
    let mut slots = vec![DeterministicSlot::EMPTY; 256];
    let mut bits = vec![0; DeterministicAllocator::bitmap_words(&map)];
    let mut a = DeterministicAllocator::new(&cfg, &mut slots, &mut bits).unwrap();
    let e = a.allocate(T0, &req(L4Proto::Udp, X, 5000, Y, 1)).unwrap();
    a.release(T0, L4Proto::Udp, Endpoint::new(X, 5000), e);
    assert_eq!(
        a.allocate(T0, &req(L4Proto::Udp, X, 5000, Y, 1)).unwrap(),
        e
    );
}

#[test]
fn rfc6888_req_11d_existing_mappings_kept_on_refusal() {
    let pool = pool2();
    let cfg = PooledConfig {
        quotas: Quotas::ports(2, 2, 2),
        ..cgn_cfg(&pool)
    };
    let mut mem = PooledMem::new(2, 64, 1024, 0);
    let mut a = PooledAllocator::new(&cfg, mem.storage()).unwrap();
    let e1 = a.allocate(T0, &req(L4Proto::Udp, X, 1, Y, 1)).unwrap();
    let e2 = a.allocate(T0, &req(L4Proto::Udp, X, 2, Y, 1)).unwrap();
    assert!(a.allocate(T0, &req(L4Proto::Udp, X, 3, Y, 1)).is_err());
    assert!(a.is_taken(L4Proto::Udp, e1) && a.is_taken(L4Proto::Udp, e2));
    assert_eq!(a.stats().allocated, 2);
}

#[test]
fn rfc6888_req_13_blocks_use_ports_well() {
    // Small blocks: the ports held by blocks stay within one block of the ports in use.
    let pool = [Ipv4Range::single(Ipv4Addr::new(198, 51, 100, 1))];
    let cfg = BlockConfig {
        block_size: 64,
        max_blocks: 64,
        ..BlockConfig::new(&pool, KEY)
    };
    let mut mem = BlockMem::new(&cfg, 256, 1024, 4096);
    let mut b = BlockAllocator::new(&cfg, mem.storage()).unwrap();
    for h in 0..100u32 {
        let x = Ipv4Addr::from_bits(0x6440_0000 + h);
        for p in 0..(h % 7 + 1) * 20 {
            b.allocate(T0, &req(L4Proto::Tcp, x, 10000 + p as u16, Y, 80))
                .unwrap();
        }
    }
    let in_use: u32 = (0..100u32).map(|h| (h % 7 + 1) * 20).sum();
    let held = b.active_blocks() as u32 * 64;
    assert!(held < in_use + 100 * 64, "held {held} for {in_use}");
}

#[test]
fn rfc6888_req_14_one_log_record_per_block() {
    let pool = pool2();
    let cfg = BlockConfig {
        block_size: 128,
        max_blocks: 4,
        ..BlockConfig::new(&pool, KEY)
    };
    let mut mem = BlockMem::new(&cfg, 64, 64, 64);
    let mut b = BlockAllocator::new(&cfg, mem.storage()).unwrap();
    let mut got = Vec::new();
    for p in 0..300u16 {
        got.push(
            b.allocate(T0, &req(L4Proto::Udp, X, 20000 + p, Y, 53))
                .unwrap(),
        );
    }
    let events: Vec<_> = b.events().collect();
    assert_eq!(events.len(), 3, "300 ports, blocks of 128: three records");
    let AllocEvent::BlockAllocated {
        subscriber,
        outside,
        first_port,
        len,
        proto: None,
        ..
    } = events[0]
    else {
        panic!("{:?}", events[0])
    };
    assert_eq!((subscriber, len), (X, 128));
    // Every port handed out lies in a logged block.
    for e in &got {
        assert_eq!(e.addr, outside);
        let first = b.block_of_port(e.port).unwrap();
        assert!(events.iter().any(
            |ev| matches!(ev, AllocEvent::BlockAllocated { first_port, .. } if *first_port == first)
        ));
    }
    let _ = first_port;
}

#[test]
fn rfc6888_req_15_ports_hard_to_guess() {
    let pool = [Ipv4Range::single(Ipv4Addr::new(198, 51, 100, 1))];
    let cfg = cgn_cfg(&pool); // PortPolicy::HARD_TO_GUESS by default
    let mut mem = PooledMem::new(1, 4096, 1024, 0);
    let mut a = PooledAllocator::new(&cfg, mem.storage()).unwrap();
    let mut ports = Vec::new();
    for h in 0..2000u32 {
        let x = Ipv4Addr::from_bits(0x6440_0000 + h);
        ports.push(
            a.allocate(T0, &req(L4Proto::Udp, x, 40000, Y, 3478))
                .unwrap()
                .port,
        );
    }
    // Not the inside port, not sequential: successive differences look random.
    let preserved = ports.iter().filter(|&&p| p == 40000).count();
    assert!(preserved <= 1);
    let sequential = ports
        .windows(2)
        .filter(|w| w[1].wrapping_sub(w[0]) <= 2)
        .count();
    assert!(sequential < 20, "{sequential} near-sequential pairs");
    // Roughly uniform over 16 buckets of the dynamic range (chi-square, 15 d.o.f., p≈0.001).
    let mut buckets = [0u32; 16];
    for &p in &ports {
        buckets[((u32::from(p) - 1024) * 16 / 64512) as usize] += 1;
    }
    let e = ports.len() as f64 / 16.0;
    let chi2: f64 = buckets
        .iter()
        .map(|&o| (f64::from(o) - e).powi(2) / e)
        .sum();
    assert!(chi2 < 37.7, "chi2 {chi2}, {buckets:?}");
    // A different key gives different ports.
    let cfg2 = PooledConfig {
        key: SecretKey::new(1, 2),
        ..cfg
    };
    let mut mem2 = PooledMem::new(1, 64, 1024, 0);
    let mut a2 = PooledAllocator::new(&cfg2, mem2.storage()).unwrap();
    let x = Ipv4Addr::from_bits(0x6440_0000);
    assert_ne!(
        a2.allocate(T0, &req(L4Proto::Udp, x, 40000, Y, 3478))
            .unwrap()
            .port,
        ports[0]
    );
}

#[test]
fn lsn_req_1_one_external_address_per_cpe_for_udp_tcp_icmp() {
    for blocks in [false, true] {
        let pool = [range([198, 51, 100, 1], [198, 51, 100, 4])];
        let bcfg = BlockConfig::new(&pool, KEY);
        let mut pmem = PooledMem::new(4, 64, 1024, 0);
        let mut bmem = BlockMem::new(&bcfg, 64, 64, 0);
        let mut pooled = PooledAllocator::new(&cgn_cfg(&pool), pmem.storage()).unwrap();
        let mut blocked = BlockAllocator::new(&bcfg, bmem.storage()).unwrap();
        let a: &mut dyn PortAllocator<Ipv4Addr, Ipv4Addr> =
            if blocks { &mut blocked } else { &mut pooled };
        for cpe in 1..=8u8 {
            let x = Ipv4Addr::new(100, 64, 3, cpe);
            let set: HashSet<_> = L4Proto::ALL
                .iter()
                .flat_map(|&p| (0..5).map(move |i| (p, i)))
                .map(|(p, i)| a.allocate(T0, &req(p, x, 3000 + i, Y, 80)).unwrap().addr)
                .collect();
            assert_eq!(set.len(), 1);
        }
    }
}

#[test]
fn lsn_req_2_udp_ports_not_overloaded_and_limited() {
    let pool = [Ipv4Range::single(Ipv4Addr::new(198, 51, 100, 1))];
    let cfg = PooledConfig {
        ports: PortRange {
            first: 1024,
            last: 1039,
        },
        quotas: Quotas::ports(u32::MAX, 4, u32::MAX),
        ..cgn_cfg(&pool)
    };
    let mut mem = PooledMem::new(1, 64, 1024, 0);
    let mut a = PooledAllocator::new(&cfg, mem.storage()).unwrap();
    let mut held = HashMap::new();
    for h in 0..4u8 {
        let x = Ipv4Addr::new(100, 64, 4, h);
        for i in 0..4 {
            let e = a
                .allocate(T0, &req(L4Proto::Udp, x, 5000 + i, Y, 53))
                .unwrap();
            assert!(
                held.insert(e, x).is_none(),
                "a) never overloaded while held"
            );
        }
        // c), d): the configured limit.
        assert_eq!(
            a.allocate(T0, &req(L4Proto::Udp, x, 6000, Y, 53)),
            Err(AllocError::QuotaExhausted)
        );
    }
    // The pool is full; b) after the mapping timer expires (release) and the hold-down, reuse.
    let x9 = Ipv4Addr::new(100, 64, 4, 9);
    assert_eq!(
        a.allocate(T0, &req(L4Proto::Udp, x9, 1, Y, 53)),
        Err(AllocError::PoolExhausted)
    );
    let (&e, &x) = held.iter().next().unwrap();
    a.release(T0, L4Proto::Udp, Endpoint::new(x, 0), e);
    let t = T0 + DEFAULT_HOLD_DOWN;
    assert_eq!(a.allocate(t, &req(L4Proto::Udp, x9, 1, Y, 53)).unwrap(), e);
}

#[test]
fn lsn_req_3_tcp_ports_limited_and_new_sessions_rate_limited() {
    let pool = pool2();
    let cfg = PooledConfig {
        quotas: Quotas {
            tcp_rate: Some(RateLimit {
                sessions: 1,
                per: Duration::from_secs(1),
                burst: 3,
            }),
            ..Quotas::ports(3, u32::MAX, u32::MAX)
        },
        ..cgn_cfg(&pool)
    };
    let mut mem = PooledMem::new(2, 64, 1024, 0);
    let mut a = PooledAllocator::new(&cfg, mem.storage()).unwrap();
    let mut got = Vec::new();
    for i in 0..3 {
        got.push(
            a.allocate(T0, &req(L4Proto::Tcp, X, 100 + i, Y, 80))
                .unwrap(),
        );
    }
    assert_eq!(
        a.allocate(T0, &req(L4Proto::Tcp, X, 200, Y, 80)),
        Err(AllocError::QuotaExhausted)
    );
    // e) new sessions per time unit.
    assert!((0..3).all(|_| a.admit_session(T0, L4Proto::Tcp, X).is_ok()));
    assert_eq!(
        a.admit_session(T0, L4Proto::Tcp, X),
        Err(AllocError::RateLimited)
    );
    assert!(
        a.admit_session(T0 + Duration::from_secs(1), L4Proto::Tcp, X)
            .is_ok()
    );
    // b) a port with no session may be reused: after release and hold-down, another CPE gets it.
    a.release(T0, L4Proto::Tcp, Endpoint::new(X, 100), got[0]);
    let t = T0 + DEFAULT_HOLD_DOWN;
    assert!(a.allocate(t, &req(L4Proto::Tcp, X, 300, Y, 80)).is_ok());
}

#[test]
fn lsn_req_4_icmp_identifiers_limited() {
    let pool = pool2();
    let cfg = PooledConfig {
        quotas: Quotas::ports(u32::MAX, u32::MAX, 2),
        ..cgn_cfg(&pool)
    };
    let mut mem = PooledMem::<Ipv6Addr>::new(2, 64, 1024, 0);
    let mut a = PooledAllocator::new(&cfg, mem.storage()).unwrap();
    let x = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
    let i1 = a.allocate(T0, &req(L4Proto::Icmp, x, 7, Y, 0)).unwrap();
    let i2 = a.allocate(T0, &req(L4Proto::Icmp, x, 8, Y, 0)).unwrap();
    assert_ne!(i1, i2);
    assert_eq!(
        a.allocate(T0, &req(L4Proto::Icmp, x, 9, Y, 0)),
        Err(AllocError::QuotaExhausted)
    );
    a.release(T0, L4Proto::Icmp, Endpoint::new(x, 7), i1);
    assert!(
        a.allocate(T0, &req(L4Proto::Icmp, x, 9, Y, 0)).is_ok(),
        "after the query timer"
    );
}

#[test]
fn lsn_req_5_exempt_applications_work_beyond_the_quota() {
    let pool = pool2();
    let list = [Exemption {
        addr: Ipv4Addr::new(192, 0, 2, 53),
        prefix_len: 32,
        port: Some(53),
        proto: Some(L4Proto::Udp),
        action: ExemptAction::NoQuota,
    }];
    let dns = Ipv4Addr::new(192, 0, 2, 53);
    for blocks in [false, true] {
        let cfg = PooledConfig {
            quotas: Quotas::ports(2, 2, 2),
            exemptions: &list,
            ..cgn_cfg(&pool)
        };
        let bcfg = BlockConfig {
            quotas: Quotas::ports(2, 2, 2),
            exemptions: &list,
            ..BlockConfig::new(&pool, KEY)
        };
        let mut pmem = PooledMem::new(2, 64, 1024, 0);
        let mut bmem = BlockMem::new(&bcfg, 64, 64, 0);
        let mut pooled = PooledAllocator::new(&cfg, pmem.storage()).unwrap();
        let mut blocked = BlockAllocator::new(&bcfg, bmem.storage()).unwrap();
        let a: &mut dyn PortAllocator<Ipv4Addr, Ipv4Addr> =
            if blocks { &mut blocked } else { &mut pooled };
        let u1 = a.allocate(T0, &req(L4Proto::Udp, X, 1, Y, 80)).unwrap();
        a.allocate(T0, &req(L4Proto::Udp, X, 2, Y, 80)).unwrap();
        assert_eq!(
            a.allocate(T0, &req(L4Proto::Udp, X, 3, Y, 80)),
            Err(AllocError::QuotaExhausted)
        );
        let d: Vec<_> = (0..5)
            .map(|i| {
                a.allocate(T0, &req(L4Proto::Udp, X, 10 + i, dns, 53))
                    .unwrap()
            })
            .collect();
        // Releasing exempt mappings does not give quota back; releasing a counted one does.
        for (i, e) in d.iter().enumerate() {
            a.release(T0, L4Proto::Udp, Endpoint::new(X, 10 + i as u16), *e);
        }
        assert_eq!(
            a.allocate(T0, &req(L4Proto::Udp, X, 3, Y, 80)),
            Err(AllocError::QuotaExhausted)
        );
        a.release(T0, L4Proto::Udp, Endpoint::new(X, 1), u1);
        a.allocate(T0, &req(L4Proto::Udp, X, 3, Y, 80)).unwrap();
    }
}
