//! Property tests: no outside endpoint is held by two subscribers at once, one subscriber's
//! exhaustion never changes what another gets, and deterministic NAT's reverse function
//! inverts its forward function.

mod common;

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::vec::Vec;

use common::*;
use nat_alloc::*;
use nat_core::allocator::{AllocError, PortAllocator};
use nat_core::flow::{Endpoint, L4Proto};
use nat_core::time::{Duration, Instant};
use proptest::prelude::*;

#[derive(Clone, Copy, Debug)]
enum Op {
    Alloc {
        sub: u8,
        proto: u8,
        port: u16,
        remote: u8,
    },
    Free {
        pick: u16,
    },
    Advance {
        secs: u16,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0u8..8, 0u8..3, any::<u16>(), 0u8..4)
            .prop_map(|(sub, proto, port, remote)| Op::Alloc { sub, proto, port, remote }),
        3 => any::<u16>().prop_map(|pick| Op::Free { pick }),
        1 => (0u16..200).prop_map(|secs| Op::Advance { secs }),
    ]
}

fn sub_addr(s: u8) -> Ipv4Addr {
    Ipv4Addr::new(100, 64, 0, s + 1)
}

/// Runs `ops` against `a`, keeping a model of who holds what; checks that no endpoint is
/// held twice, that a subscriber's endpoints share one address (paired), and, when `hold`
/// is set, that no port goes to another subscriber during its hold-down.
fn run_model(
    a: &mut dyn PortAllocator<Ipv4Addr, Ipv4Addr>,
    ops: &[Op],
    hold: Option<Duration>,
) -> Result<(), TestCaseError> {
    let mut now = Instant::from_secs(10);
    let mut held: HashMap<(L4Proto, Endpoint<Ipv4Addr>), (u8, u16)> = HashMap::new();
    let mut order: Vec<(L4Proto, Endpoint<Ipv4Addr>)> = Vec::new();
    let mut freed: HashMap<(L4Proto, Endpoint<Ipv4Addr>), (u8, Instant)> = HashMap::new();
    for &op in ops {
        match op {
            Op::Alloc {
                sub,
                proto,
                port,
                remote,
            } => {
                let proto = L4Proto::ALL[proto as usize];
                let r = req(
                    proto,
                    sub_addr(sub),
                    port,
                    Ipv4Addr::new(192, 0, 2, remote),
                    80,
                );
                if let Ok(e) = a.allocate(now, &r) {
                    prop_assert!(e.port != 0);
                    let key = (proto, e);
                    prop_assert!(!held.contains_key(&key), "{key:?} held twice");
                    for ((_, o), (s, _)) in &held {
                        if *s == sub {
                            prop_assert_eq!(o.addr, e.addr, "paired pooling");
                        }
                    }
                    if let (Some(h), Some(&(prev, at))) = (hold, freed.get(&key)) {
                        prop_assert!(
                            prev == sub || now >= at + h,
                            "{key:?} reused during hold-down"
                        );
                    }
                    held.insert(key, (sub, port));
                    order.push(key);
                }
            }
            Op::Free { pick } => {
                if !order.is_empty() {
                    let key = order.swap_remove(pick as usize % order.len());
                    let (sub, port) = held.remove(&key).unwrap();
                    a.release(now, key.0, Endpoint::new(sub_addr(sub), port), key.1);
                    freed.insert(key, (sub, now));
                }
            }
            Op::Advance { secs } => now = now + Duration::from_secs(u64::from(secs)),
        }
    }
    Ok(())
}

const HOLD: Duration = Duration::from_secs(120);

fn small_pool() -> [Ipv4Range; 2] {
    [
        Ipv4Range::single(Ipv4Addr::new(198, 51, 100, 1)),
        Ipv4Range::single(Ipv4Addr::new(203, 0, 113, 9)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn pooled_never_gives_one_endpoint_to_two_holders(
        ops in proptest::collection::vec(op(), 1..80),
        transparent in any::<bool>(),
        quota in 1u32..10,
    ) {
        let pool = small_pool();
        let cfg = PooledConfig {
            ports: PortRange { first: 1000, last: 1023 },
            policy: if transparent { PortPolicy::TRANSPARENT } else { PortPolicy::HARD_TO_GUESS },
            quotas: Quotas::ports(quota, quota, quota),
            max_subscribers_per_address: 5,
            ..PooledConfig::new(&pool, KEY)
        };
        let mut mem = PooledMem::new(2, 16, 1024, 8);
        let mut a = PooledAllocator::new(&cfg, mem.storage()).unwrap();
        run_model(&mut a, &ops, Some(HOLD))?;
    }

    #[test]
    fn blocks_never_give_one_endpoint_to_two_holders(
        ops in proptest::collection::vec(op(), 1..80),
        scattered in any::<bool>(),
        transparent in any::<bool>(),
    ) {
        let pool = small_pool();
        let cfg = BlockConfig {
            ports: PortRange { first: 65472, last: 65535 },
            block_size: 8,
            max_blocks: 2,
            layout: if scattered { BlockLayout::Scattered } else { BlockLayout::Contiguous },
            idle_timeout: Duration::from_secs(30),
            policy: if transparent { PortPolicy::TRANSPARENT } else { PortPolicy::HARD_TO_GUESS },
            ..BlockConfig::new(&pool, KEY)
        };
        let mut mem = BlockMem::new(&cfg, 16, 12, 8);
        let mut a = BlockAllocator::new(&cfg, mem.storage()).unwrap();
        // Hold-down applies to blocks: a port may go to another subscriber only after its block
        // was idle and held down, which is later than 120 s after the port's release.
        run_model(&mut a, &ops, Some(HOLD))?;
    }

    #[test]
    fn deterministic_and_simple_never_give_one_endpoint_to_two_holders(
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        let pool = [Ipv4Range::single(Ipv4Addr::new(198, 51, 100, 1))];
        let cfg = DeterministicConfig {
            inside: InsidePrefix { addr: Ipv4Addr::new(100, 64, 0, 0), len: 28 },
            subscriber_prefix_len: None,
            outside: &pool,
            first_port: 65472,
            ports_per_subscriber: 4,
            policy: PortPolicy::TRANSPARENT,
            quotas: Quotas::UNLIMITED,
            key: KEY,
        };
        let map = DeterministicMap::new(&cfg).unwrap();
        let mut slots = vec![DeterministicSlot::EMPTY; 16];
        let mut bits = vec![0; DeterministicAllocator::bitmap_words(&map)];
        let mut d = DeterministicAllocator::new(&cfg, &mut slots, &mut bits).unwrap();
        run_model(&mut d, &ops, None)?;
        let mut s = SimpleAllocator::new(Ipv4Addr::new(198, 51, 100, 1), PortRange { first: 1020, last: 1030 }).unwrap();
        run_model(&mut s, &ops, None)?;
    }

    #[test]
    fn exhaustion_of_one_subscriber_never_changes_what_another_gets(
        b_ops in proptest::collection::vec((any::<bool>(), any::<u16>(), 0u8..3), 1..60),
        a_at in proptest::collection::vec(0usize..60, 0..40),
        blocks in any::<bool>(),
        alg3 in any::<bool>(),
    ) {
        let pool = small_pool();
        let policy = PortPolicy {
            selection: if alg3 { Selection::Rfc6056Alg3 } else { Selection::Rfc6056Alg4 },
            ..PortPolicy::HARD_TO_GUESS
        };
        let quotas = Quotas::ports(4, 4, 4);
        let pcfg = PooledConfig {
            ports: PortRange { first: 1024, last: 1100 },
            policy,
            quotas,
            ..PooledConfig::new(&pool, KEY)
        };
        let bcfg = BlockConfig { block_size: 16, max_blocks: 2, policy, quotas, ..BlockConfig::new(&pool, KEY) };
        let a_sub = Ipv4Addr::new(100, 64, 9, 9);
        let b_sub = Ipv4Addr::new(100, 64, 7, 7);
        let run = |extra: bool| -> Vec<Result<Endpoint<Ipv4Addr>, AllocError>> {
            let mut pmem = PooledMem::new(2, 16, 1024, 4);
            let mut bmem = BlockMem::new(&bcfg, 16, 16, 4);
            let mut pooled = PooledAllocator::new(&pcfg, pmem.storage()).unwrap();
            let mut blocked = BlockAllocator::new(&bcfg, bmem.storage()).unwrap();
            let a: &mut dyn PortAllocator<Ipv4Addr, Ipv4Addr> = if blocks { &mut blocked } else { &mut pooled };
            let now = Instant::from_secs(5);
            // A takes its whole quota first.
            for i in 0..12u16 {
                a.allocate(now, &req(L4Proto::ALL[usize::from(i % 3)], a_sub, i, Ipv4Addr::new(192, 0, 2, 1), 80)).unwrap();
            }
            let mut out = Vec::new();
            let mut b_held = Vec::new();
            for (n, &(alloc, port, proto)) in b_ops.iter().enumerate() {
                if extra {
                    for _ in a_at.iter().filter(|&&k| k == n) {
                        let r = a.allocate(now, &req(L4Proto::ALL[usize::from(proto)], a_sub, port, Ipv4Addr::new(192, 0, 2, 2), 443));
                        assert_eq!(r, Err(AllocError::QuotaExhausted));
                    }
                }
                let proto = L4Proto::ALL[usize::from(proto)];
                if alloc || b_held.is_empty() {
                    let r = a.allocate(now, &req(proto, b_sub, port, Ipv4Addr::new(192, 0, 2, 3), 53));
                    if let Ok(e) = r {
                        b_held.push((proto, port, e));
                    }
                    out.push(r);
                } else {
                    let (p, ip, e) = b_held.swap_remove(usize::from(port) % b_held.len());
                    a.release(now, p, Endpoint::new(b_sub, ip), e);
                }
            }
            out
        };
        prop_assert_eq!(run(false), run(true));
    }

    #[test]
    fn deterministic_reverse_inverts_forward_v4(
        inside_addr in any::<u32>(),
        inside_len in 8u8..=30,
        extra in 0u8..=8,
        first_port in 1u16..=4096,
        outside in proptest::collection::vec((any::<u32>(), 0u32..4), 1..4),
    ) {
        let sub_len = (inside_len + extra).min(32);
        let mut ranges = Vec::new();
        for (a, n) in outside {
            let r = Ipv4Range::new(Ipv4Addr::from_bits(a), Ipv4Addr::from_bits(a.saturating_add(n))).unwrap();
            if ranges.iter().all(|o: &Ipv4Range| !(o.contains(r.first()) || o.contains(r.last()) || r.contains(o.first()))) {
                ranges.push(r);
            }
        }
        let naddr: u64 = ranges.iter().map(|r| r.size()).sum();
        let subs = 1u64 << (sub_len - inside_len);
        // The largest P that fits every subscriber.
        let per_addr_needed = subs.div_ceil(naddr);
        let p = ((65536 - u64::from(first_port)) / per_addr_needed).min(65535) as u16;
        prop_assume!(p >= 1);
        let cfg = DeterministicConfig {
            inside: InsidePrefix { addr: Ipv4Addr::from_bits(inside_addr), len: inside_len },
            subscriber_prefix_len: Some(sub_len),
            outside: &ranges,
            first_port,
            ports_per_subscriber: p,
            policy: PortPolicy::TRANSPARENT,
            quotas: Quotas::UNLIMITED,
            key: KEY,
        };
        let map = DeterministicMap::new(&cfg).unwrap();
        prop_assert_eq!(map.subscribers(), subs);
        let mut seen = std::collections::HashSet::new();
        for k in 0..subs as u32 {
            let sub = map.subscriber(k).unwrap();
            prop_assert_eq!(map.index_of(sub), Some(k));
            let host = sub.to_bits() | (u32::MAX >> sub_len.min(31) >> u32::from(sub_len == 32));
            let r = map.forward(Ipv4Addr::from_bits(host)).unwrap();
            prop_assert!(seen.insert((r.outside, r.first_port)), "ranges disjoint");
            prop_assert!(r.last_port >= r.first_port && r.first_port >= first_port);
            for port in [r.first_port, r.last_port, r.first_port + (r.last_port - r.first_port) / 2] {
                prop_assert_eq!(map.reverse(Endpoint::new(r.outside, port)), Some(sub));
            }
        }
    }

    #[test]
    fn deterministic_reverse_inverts_forward_v6(
        hi in any::<u64>(),
        inside_len in 32u8..=64,
        extra in 0u8..=8,
        per_sub_log in 4u32..=10,
    ) {
        let sub_len = inside_len + extra;
        let subs = 1u64 << extra;
        let pool = [Ipv4Range::prefix(Ipv4Addr::new(198, 51, 100, 0), 24).unwrap()];
        let cfg = DeterministicConfig {
            inside: InsidePrefix { addr: Ipv6Addr::from(u128::from(hi) << 64), len: inside_len },
            subscriber_prefix_len: Some(sub_len),
            outside: &pool,
            first_port: 1024,
            ports_per_subscriber: 1 << per_sub_log,
            policy: PortPolicy::TRANSPARENT,
            quotas: Quotas::UNLIMITED,
            key: KEY,
        };
        let map = DeterministicMap::new(&cfg).unwrap();
        for k in 0..subs as u32 {
            let sub = map.subscriber(k).unwrap();
            let host = Ipv6Addr::from(u128::from(sub) | 0x1234);
            prop_assert_eq!(map.index_of(host), Some(k));
            let r = map.forward(host).unwrap();
            prop_assert_eq!(map.reverse(Endpoint::new(r.outside, r.last_port)), Some(sub));
        }
        prop_assert_eq!(map.index_of(Ipv6Addr::from((u128::from(!hi)) << 64)), None);
    }
}
