//! Port blocks (RFC 7269 § 5.1) and deterministic NAT (RFC 7422) behaviour.

mod common;

use std::collections::HashSet;
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

#[test]
fn rfc7269_block_freed_after_idle_timeout_then_held_down() {
    let pool = [Ipv4Range::single(Ipv4Addr::new(198, 51, 100, 1))];
    let cfg = BlockConfig {
        ports: PortRange {
            first: 65408,
            last: 65535,
        },
        block_size: 64,
        max_blocks: 1,
        idle_timeout: Duration::from_secs(60),
        ..BlockConfig::new(&pool, KEY)
    };
    let mut mem = BlockMem::new(&cfg, 16, 8, 16);
    let mut b = BlockAllocator::new(&cfg, mem.storage()).unwrap();
    let e = b.allocate(T0, &req(L4Proto::Udp, X, 5000, Y, 53)).unwrap();
    let e2 = b.allocate(T0, &req(L4Proto::Udp, X2, 5000, Y, 53)).unwrap();
    assert_eq!(b.events().len(), 2);
    b.release(T0, L4Proto::Udp, Endpoint::new(X, 5000), e);
    // The same subscriber gets its own ports back at once, inside its block.
    let again = b.allocate(T0, &req(L4Proto::Udp, X, 5001, Y, 53)).unwrap();
    assert_eq!(b.block_of_port(again.port), b.block_of_port(e.port));
    b.release(T0, L4Proto::Udp, Endpoint::new(X, 5001), again);
    assert_eq!(
        b.next_timeout(),
        Some(T0 + Duration::from_secs(60)),
        "the caller's timer"
    );
    b.poll(T0 + Duration::from_secs(59));
    assert_eq!(b.active_blocks(), 2);
    b.poll(T0 + Duration::from_secs(60));
    assert_eq!(b.active_blocks(), 1);
    assert_eq!(
        b.next_timeout(),
        Some(T0 + Duration::from_secs(180)),
        "end of hold-down"
    );
    b.events().pop();
    b.events().pop();
    assert!(matches!(
        b.events().pop(),
        Some(AllocEvent::BlockFreed {
            subscriber: X,
            len: 64,
            ..
        })
    ));
    assert_eq!(b.paired_address(X), None, "X holds nothing: unpaired");
    // Only two blocks exist; X2 holds one, X's is in hold-down: a third subscriber waits.
    let x3 = Ipv4Addr::new(100, 64, 0, 3);
    let t = T0 + Duration::from_secs(60 + 119);
    assert_eq!(
        b.allocate(t, &req(L4Proto::Udp, x3, 5000, Y, 53)),
        Err(AllocError::PoolExhausted)
    );
    let t = T0 + Duration::from_secs(60 + 120);
    let e3 = b.allocate(t, &req(L4Proto::Udp, x3, 5000, Y, 53)).unwrap();
    assert_eq!(b.block_of_port(e3.port), b.block_of_port(e.port));
    assert_ne!(b.block_of_port(e3.port), b.block_of_port(e2.port));
}

#[test]
fn rfc7269_blocks_per_subscriber_limit_is_a_quota() {
    let pool = [Ipv4Range::single(Ipv4Addr::new(198, 51, 100, 1))];
    let cfg = BlockConfig {
        block_size: 16,
        max_blocks: 2,
        ..BlockConfig::new(&pool, KEY)
    };
    let mut mem = BlockMem::new(&cfg, 16, 16, 16);
    let mut b = BlockAllocator::new(&cfg, mem.storage()).unwrap();
    let got: Vec<_> = (0..32)
        .map(|i| {
            b.allocate(T0, &req(L4Proto::Tcp, X, 1000 + i, Y, 80))
                .unwrap()
        })
        .collect();
    assert_eq!(got.iter().collect::<HashSet<_>>().len(), 32);
    assert_eq!(
        b.allocate(T0, &req(L4Proto::Tcp, X, 2000, Y, 80)),
        Err(AllocError::QuotaExhausted)
    );
    // The same blocks serve the other protocols.
    assert!(b.allocate(T0, &req(L4Proto::Udp, X, 2000, Y, 80)).is_ok());
    let records = b
        .events()
        .filter(|e| matches!(e, AllocEvent::BlockAllocated { .. }))
        .count();
    assert_eq!(records, 2);
}

#[test]
fn rfc7269_scattered_blocks_list_their_ports() {
    let pool = [Ipv4Range::single(Ipv4Addr::new(198, 51, 100, 1))];
    let cfg = BlockConfig {
        block_size: 100,
        layout: BlockLayout::Scattered,
        ..BlockConfig::new(&pool, KEY)
    };
    let mut mem = BlockMem::new(&cfg, 16, 16, 16);
    let mut b = BlockAllocator::new(&cfg, mem.storage()).unwrap();
    let got: Vec<_> = (0..100)
        .map(|i| {
            b.allocate(T0, &req(L4Proto::Udp, X, 3000 + i, Y, 53))
                .unwrap()
                .port
        })
        .collect();
    let Some(AllocEvent::BlockAllocated {
        first_port,
        len: 100,
        ..
    }) = b.events().pop()
    else {
        panic!()
    };
    let listed: HashSet<u16> = b.block_ports(first_port).collect();
    assert_eq!(listed.len(), 100);
    assert!(
        got.iter().all(|p| listed.contains(p)),
        "every port is in the logged block"
    );
    let sorted: Vec<_> = {
        let mut v: Vec<_> = listed.into_iter().collect();
        v.sort();
        v
    };
    assert!(
        sorted.last().unwrap() - sorted[0] > 1000,
        "spread over the space"
    );
    for p in got {
        assert_eq!(b.block_of_port(p), Some(first_port));
    }
    // An odd number of ports is refused for scattered blocks (they permute pairs of ports).
    let bad = BlockConfig {
        ports: PortRange {
            first: 1025,
            last: 65535,
        },
        ..cfg
    };
    let mut mem = BlockMem::<Ipv4Addr>::new(&cfg, 16, 16, 16);
    assert_eq!(
        BlockAllocator::new(&bad, mem.storage())
            .unwrap_err()
            .field(),
        "ports"
    );
}

/// Fills a block allocator confined to `ports` with UDP mappings of 16 subscribers (inside
/// ports in and around the slice, so that port preservation is tried too) until it refuses;
/// returns every port it handed out.
fn fill_confined(
    pool: &[Ipv4Range],
    ports: PortRange,
    layout: BlockLayout,
    policy: PortPolicy,
) -> HashSet<u16> {
    let cfg = BlockConfig {
        ports,
        block_size: 64,
        max_blocks: 4,
        layout,
        policy,
        ..BlockConfig::new(pool, KEY)
    };
    let mut mem = BlockMem::new(&cfg, 32, 64, 64);
    let mut b = BlockAllocator::new(&cfg, mem.storage()).unwrap();
    let mut got = HashSet::new();
    for s in 0..16u32 {
        let inside = Ipv4Addr::from_bits(0x6440_0000 + s);
        for i in 0..400u16 {
            let port = 9000 + (i * 13 + s as u16 * 101) % 5000;
            let Ok(e) = b.allocate(T0, &req(L4Proto::Udp, inside, port, Y, 53)) else {
                break;
            };
            assert!(
                ports.contains(e.port),
                "{layout:?} {:?}: {} outside",
                ports,
                e.port
            );
            assert!(got.insert(e.port), "{} handed out twice", e.port);
        }
    }
    while let Some(ev) = b.events().pop() {
        if let AllocEvent::BlockAllocated { first_port, .. } = ev {
            assert!(b.block_ports(first_port).all(|p| ports.contains(p)));
        }
    }
    // A port outside the slice cannot be reserved either.
    let outside = Endpoint::new(Ipv4Addr::new(198, 51, 100, 1), ports.last.wrapping_add(1));
    assert_eq!(
        b.reserve(T0, L4Proto::Tcp, Endpoint::new(X, 1), outside),
        Err(AllocError::Unavailable)
    );
    // Every whole block of the slice was used: the slice is the allocator's whole space.
    assert_eq!(got.len() as u32, cfg.blocks_per_address() * 64);
    got
}

#[test]
fn rfc7269_blocks_confined_to_a_port_slice() {
    // Two workers, each owning a slice of the address's ports (the std runtime's sharding).
    let pool = [Ipv4Range::single(Ipv4Addr::new(198, 51, 100, 1))];
    let a = PortRange {
        first: 10000,
        last: 10999,
    };
    let b = PortRange {
        first: 11000,
        last: 12999,
    };
    for layout in [BlockLayout::Contiguous, BlockLayout::Scattered] {
        for policy in [PortPolicy::TRANSPARENT, PortPolicy::HARD_TO_GUESS] {
            let got_a = fill_confined(&pool, a, layout, policy);
            let got_b = fill_confined(&pool, b, layout, policy);
            assert!(
                got_a.is_disjoint(&got_b),
                "{layout:?}: two workers got the same port"
            );
        }
    }
}

#[test]
fn rfc7269_nat64_subscribers_by_prefix_share_blocks() {
    let pool = [Ipv4Range::prefix(Ipv4Addr::new(198, 51, 100, 0), 30).unwrap()];
    let cfg = BlockConfig {
        subscriber_prefix_len: Some(56),
        ..BlockConfig::new(&pool, KEY)
    };
    let mut mem = BlockMem::<Ipv6Addr>::new(&cfg, 16, 16, 16);
    let mut b = BlockAllocator::new(&cfg, mem.storage()).unwrap();
    let home = |h: u16| Ipv6Addr::new(0x2001, 0xdb8, 0, 0x4200 | h, 0xa, 0xb, 0xc, 0xd);
    for h in 0..50u16 {
        b.allocate(T0, &req(L4Proto::Tcp, home(h), 40000 + h, Y, 443))
            .unwrap();
    }
    let events: Vec<_> = b.events().collect();
    assert_eq!(events.len(), 1);
    let AllocEvent::BlockAllocated { subscriber, .. } = events[0] else {
        panic!()
    };
    assert_eq!(
        subscriber,
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0x4200, 0, 0, 0, 0)
    );
}

#[test]
fn rfc7269_reserve_static_mapping_in_a_block() {
    let pool = [Ipv4Range::single(Ipv4Addr::new(198, 51, 100, 1))];
    let cfg = BlockConfig {
        block_size: 64,
        ..BlockConfig::new(&pool, KEY)
    };
    let mut mem = BlockMem::new(&cfg, 16, 16, 16);
    let mut b = BlockAllocator::new(&cfg, mem.storage()).unwrap();
    let out = Endpoint::new(Ipv4Addr::new(198, 51, 100, 1), 2000);
    b.reserve(T0, L4Proto::Tcp, Endpoint::new(X, 22), out)
        .unwrap();
    assert_eq!(
        b.reserve(T0, L4Proto::Tcp, Endpoint::new(X, 22), out),
        Err(AllocError::Unavailable)
    );
    assert_eq!(
        b.reserve(
            T0,
            L4Proto::Tcp,
            Endpoint::new(X2, 22),
            Endpoint::new(out.addr, 2001)
        ),
        Err(AllocError::Unavailable),
        "another's block"
    );
    b.reserve(T0, L4Proto::Udp, Endpoint::new(X, 22), out)
        .unwrap();
    b.release(T0, L4Proto::Tcp, Endpoint::new(X2, 22), out);
    assert_eq!(b.stats().ignored_releases, 1, "not X2's to release");
}

fn det_cfg(outside: &[Ipv4Range]) -> DeterministicConfig<'_, Ipv4Addr> {
    DeterministicConfig {
        inside: InsidePrefix {
            addr: Ipv4Addr::new(100, 64, 0, 0),
            len: 22,
        },
        subscriber_prefix_len: None,
        outside,
        first_port: 1024,
        ports_per_subscriber: 1000,
        policy: PortPolicy::HARD_TO_GUESS,
        quotas: Quotas::ports(500, 1000, 1000),
        key: KEY,
    }
}

#[test]
fn rfc7422_forward_reverse_and_ranges() {
    let pool = [Ipv4Range::prefix(Ipv4Addr::new(198, 51, 100, 0), 28).unwrap()];
    let cfg = det_cfg(&pool);
    let map = DeterministicMap::new(&cfg).unwrap();
    assert_eq!(map.subscribers(), 1024);
    let r0 = map.forward(Ipv4Addr::new(100, 64, 0, 0)).unwrap();
    let r1 = map.forward(Ipv4Addr::new(100, 64, 0, 1)).unwrap();
    assert_eq!((r0.first_port, r0.last_port), (1024, 2023));
    assert_ne!(
        r0.outside, r1.outside,
        "consecutive subscribers on different addresses"
    );
    assert_eq!(
        map.forward(Ipv4Addr::new(100, 64, 4, 0)),
        None,
        "outside the inside prefix"
    );
    assert_eq!(
        map.reverse(Endpoint::new(r1.outside, 1500)),
        Some(Ipv4Addr::new(100, 64, 0, 1))
    );
    assert_eq!(
        map.reverse(Endpoint::new(r1.outside, 1000)),
        None,
        "below first_port"
    );
    // Too many subscribers for the ports: refused, naming the field.
    let small = [Ipv4Range::single(Ipv4Addr::new(198, 51, 100, 1))];
    let err = DeterministicMap::new(&det_cfg(&small)).unwrap_err();
    assert_eq!(
        err,
        ConfigError::Inconsistent {
            field: "ports_per_subscriber"
        }
    );
}

#[test]
fn rfc7422_allocations_stay_in_the_subscriber_range() {
    let pool = [Ipv4Range::prefix(Ipv4Addr::new(198, 51, 100, 0), 28).unwrap()];
    let cfg = det_cfg(&pool);
    let map = DeterministicMap::new(&cfg).unwrap();
    let mut slots = vec![DeterministicSlot::EMPTY; 1024];
    let mut bits = vec![0; DeterministicAllocator::bitmap_words(&map)];
    let mut a = DeterministicAllocator::new(&cfg, &mut slots, &mut bits).unwrap();
    let r = map.forward(X).unwrap();
    let mut seen = HashSet::new();
    for i in 0..500u16 {
        let e = a
            .allocate(T0, &req(L4Proto::Tcp, X, 30000 + i, Y, 80))
            .unwrap();
        assert!(e.addr == r.outside && (r.first_port..=r.last_port).contains(&e.port));
        assert_eq!(e.port % 2, i % 2, "parity");
        assert!(seen.insert(e.port));
        assert_eq!(a.map().reverse(e), Some(X));
    }
    assert_eq!(
        a.allocate(T0, &req(L4Proto::Tcp, X, 1, Y, 80)),
        Err(AllocError::QuotaExhausted)
    );
    assert_eq!(
        a.allocate(T0, &req(L4Proto::Tcp, Ipv4Addr::new(10, 0, 0, 1), 1, Y, 80)),
        Err(AllocError::NotSubscriber)
    );
    // Releasing another subscriber's port is ignored.
    let e = a.allocate(T0, &req(L4Proto::Udp, X, 7, Y, 80)).unwrap();
    a.release(T0, L4Proto::Udp, Endpoint::new(X2, 7), e);
    assert_eq!(
        a.reserve(T0, L4Proto::Udp, Endpoint::new(X, 7), e),
        Err(AllocError::Unavailable)
    );
    assert_eq!(a.stats().ignored_releases, 1);
}
