//! No input panics an allocator, and configuration errors name their field.

mod common;

use std::net::{Ipv4Addr, Ipv6Addr};

use common::*;
use nat_alloc::*;
use nat_core::allocator::{AllocRequest, PortAllocator};
use nat_core::flow::{Endpoint, L4Proto};
use nat_core::time::Instant;
use proptest::prelude::*;

#[derive(Clone, Copy, Debug)]
enum Call {
    Allocate(u8, u32, u16, u32, u16, u64),
    Reserve(u8, u32, u16, u32, u16, u64),
    Release(u8, u32, u16, u32, u16, u64),
    Admit(u8, u32, u64),
    Closed(u8, u32, u64),
}

fn call() -> impl Strategy<Value = Call> {
    // Addresses near the pools and subscribers, so that calls hit real state.
    let a = prop_oneof![
        any::<u32>(),
        (0u32..8).prop_map(|x| 0xc633_6400 + x),
        (0u32..8).prop_map(|x| 0x6440_0000 + x)
    ];
    let p = prop_oneof![any::<u16>(), 65400u16..];
    let t = 0u64..1_000_000_000;
    prop_oneof![
        (
            0u8..3,
            a.clone(),
            p.clone(),
            a.clone(),
            p.clone(),
            t.clone()
        )
            .prop_map(|(x, b, c, d, e, f)| Call::Allocate(x, b, c, d, e, f)),
        (
            0u8..3,
            a.clone(),
            p.clone(),
            a.clone(),
            p.clone(),
            t.clone()
        )
            .prop_map(|(x, b, c, d, e, f)| Call::Reserve(x, b, c, d, e, f)),
        (
            0u8..3,
            a.clone(),
            p.clone(),
            a.clone(),
            p.clone(),
            t.clone()
        )
            .prop_map(|(x, b, c, d, e, f)| Call::Release(x, b, c, d, e, f)),
        (0u8..3, a.clone(), t.clone()).prop_map(|(x, b, c)| Call::Admit(x, b, c)),
        (0u8..3, a, t).prop_map(|(x, b, c)| Call::Closed(x, b, c)),
    ]
}

fn drive(a: &mut dyn PortAllocator<Ipv4Addr, Ipv4Addr>, calls: &[Call]) {
    for &c in calls {
        match c {
            Call::Allocate(p, i, ip, o, op, t) => {
                let r = AllocRequest {
                    proto: L4Proto::ALL[p as usize],
                    inside: Endpoint::new(Ipv4Addr::from_bits(i), ip),
                    remote: Endpoint::new(Ipv4Addr::from_bits(o), op),
                };
                let _ = a.allocate(Instant::from_millis(t), &r);
            }
            Call::Reserve(p, i, ip, o, op, t) => {
                let _ = a.reserve(
                    Instant::from_millis(t),
                    L4Proto::ALL[p as usize],
                    Endpoint::new(Ipv4Addr::from_bits(i), ip),
                    Endpoint::new(Ipv4Addr::from_bits(o), op),
                );
            }
            Call::Release(p, i, ip, o, op, t) => a.release(
                Instant::from_millis(t),
                L4Proto::ALL[p as usize],
                Endpoint::new(Ipv4Addr::from_bits(i), ip),
                Endpoint::new(Ipv4Addr::from_bits(o), op),
            ),
            Call::Admit(p, i, t) => {
                let _ = a.admit_session(
                    Instant::from_millis(t),
                    L4Proto::ALL[p as usize],
                    Ipv4Addr::from_bits(i),
                );
            }
            Call::Closed(p, i, t) => a.session_closed(
                Instant::from_millis(t),
                L4Proto::ALL[p as usize],
                Ipv4Addr::from_bits(i),
            ),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn no_call_sequence_panics(calls in proptest::collection::vec(call(), 1..64), tiny in any::<bool>()) {
        let pool = [Ipv4Range::prefix(Ipv4Addr::new(198, 51, 100, 0), 29).unwrap()];
        let quotas = Quotas {
            tcp_rate: Some(RateLimit { sessions: 2, per: nat_core::time::Duration::from_secs(1), burst: 2 }),
            sessions: 3,
            ..Quotas::ports(5, 5, 5)
        };
        let list = [Exemption { addr: Ipv4Addr::UNSPECIFIED, prefix_len: 1, port: None, proto: None, action: ExemptAction::NoQuota }];
        let (subs, blocks) = if tiny { (1, 1) } else { (16, 16) };
        let pcfg = PooledConfig { quotas, exemptions: &list, max_held_ports: 4, ..PooledConfig::new(&pool, KEY) };
        let mut pmem = PooledMem::new(8, subs, 4, 2);
        drive(&mut PooledAllocator::new(&pcfg, pmem.storage()).unwrap(), &calls);
        for layout in [BlockLayout::Contiguous, BlockLayout::Scattered] {
            let bcfg = BlockConfig { quotas, exemptions: &list, ports: PortRange { first: 65400, last: 65535 }, block_size: 7, max_blocks: 2, layout, max_held_blocks: 1, ..BlockConfig::new(&pool, KEY) };
            let mut bmem = BlockMem::new(&bcfg, subs, blocks, 2);
            drive(&mut BlockAllocator::new(&bcfg, bmem.storage()).unwrap(), &calls);
        }
        let dcfg = DeterministicConfig {
            inside: InsidePrefix { addr: Ipv4Addr::new(100, 64, 0, 0), len: 29 },
            subscriber_prefix_len: None,
            outside: &pool,
            first_port: 65400,
            ports_per_subscriber: 17,
            policy: PortPolicy::HARD_TO_GUESS,
            quotas,
            key: KEY,
        };
        let map = DeterministicMap::new(&dcfg).unwrap();
        let mut slots = vec![DeterministicSlot::EMPTY; 8];
        let mut bits = vec![0; DeterministicAllocator::bitmap_words(&map)];
        drive(&mut DeterministicAllocator::new(&dcfg, &mut slots, &mut bits).unwrap(), &calls);
        let mut s = SimpleAllocator::new(Ipv4Addr::new(198, 51, 100, 1), PortRange { first: 65500, last: 65535 }).unwrap();
        drive(&mut s, &calls);
    }
}

#[test]
fn configuration_errors_name_the_field() {
    let pool = [Ipv4Range::single(Ipv4Addr::new(198, 51, 100, 1))];
    let mut mem = PooledMem::<Ipv4Addr>::new(1, 8, 8, 0);
    let check = |cfg: PooledConfig<'_>, field: &str| {
        let mut mem = PooledMem::<Ipv4Addr>::new(1, 8, 8, 0);
        assert_eq!(
            PooledAllocator::new(&cfg, mem.storage())
                .unwrap_err()
                .field(),
            field
        );
    };
    let base = PooledConfig::new(&pool, KEY);
    check(PooledConfig { pool: &[], ..base }, "pool");
    check(
        PooledConfig {
            ports: PortRange { first: 0, last: 9 },
            ..base
        },
        "ports",
    );
    check(
        PooledConfig {
            ports: PortRange { first: 9, last: 8 },
            ..base
        },
        "ports",
    );
    check(
        PooledConfig {
            subscriber_prefix_len: Some(33),
            ..base
        },
        "subscriber_prefix_len",
    );
    check(
        PooledConfig {
            max_subscribers_per_address: 0,
            ..base
        },
        "max_subscribers_per_address",
    );
    check(
        PooledConfig {
            quotas: Quotas {
                tcp_rate: Some(RateLimit {
                    sessions: 0,
                    per: nat_core::time::Duration::from_secs(1),
                    burst: 1,
                }),
                ..Quotas::UNLIMITED
            },
            ..base
        },
        "quotas.tcp_rate",
    );
    let bad_ex = [Exemption {
        addr: Ipv4Addr::UNSPECIFIED,
        prefix_len: 40,
        port: None,
        proto: None,
        action: ExemptAction::NoQuota,
    }];
    check(
        PooledConfig {
            exemptions: &bad_ex,
            ..base
        },
        "exemptions.prefix_len",
    );
    mem.addrs.clear();
    assert_eq!(
        PooledAllocator::new(&base, mem.storage()).unwrap_err(),
        ConfigError::StorageTooSmall {
            field: "storage.addresses",
            need: 1,
            got: 0
        }
    );

    let bcheck = |cfg: BlockConfig<'_>, field: &str| {
        let ok = BlockConfig::new(&pool, KEY);
        let mut mem = BlockMem::<Ipv6Addr>::new(&ok, 8, 8, 0);
        assert_eq!(
            BlockAllocator::new(&cfg, mem.storage())
                .unwrap_err()
                .field(),
            field
        );
    };
    let b = BlockConfig::new(&pool, KEY);
    bcheck(BlockConfig { block_size: 0, ..b }, "block_size");
    bcheck(
        BlockConfig {
            block_size: 65000,
            ..b
        },
        "block_size",
    );
    bcheck(BlockConfig { max_blocks: 0, ..b }, "max_blocks");
    bcheck(
        BlockConfig {
            ports: PortRange {
                first: 0,
                last: 65535,
            },
            ..b
        },
        "ports",
    );
    bcheck(
        BlockConfig {
            ports: PortRange {
                first: 5000,
                last: 4999,
            },
            ..b
        },
        "ports",
    );
    bcheck(BlockConfig { block_size: 8, ..b }, "storage.pool_bits");
    bcheck(
        BlockConfig {
            subscriber_prefix_len: Some(129),
            ..b
        },
        "subscriber_prefix_len",
    );

    let d = DeterministicConfig {
        inside: InsidePrefix {
            addr: Ipv4Addr::new(100, 64, 0, 0),
            len: 24,
        },
        subscriber_prefix_len: None,
        outside: &pool,
        first_port: 1024,
        ports_per_subscriber: 200,
        policy: PortPolicy::HARD_TO_GUESS,
        quotas: Quotas::UNLIMITED,
        key: KEY,
    };
    assert!(DeterministicMap::new(&d).is_ok());
    assert_eq!(
        DeterministicMap::new(&DeterministicConfig {
            ports_per_subscriber: 0,
            ..d
        })
        .unwrap_err()
        .field(),
        "ports_per_subscriber"
    );
    assert_eq!(
        DeterministicMap::new(&DeterministicConfig {
            subscriber_prefix_len: Some(16),
            ..d
        })
        .unwrap_err()
        .field(),
        "subscriber_prefix_len"
    );
    assert_eq!(
        DeterministicMap::new(&DeterministicConfig {
            inside: InsidePrefix {
                addr: Ipv4Addr::UNSPECIFIED,
                len: 33
            },
            ..d
        })
        .unwrap_err()
        .field(),
        "inside.len"
    );
    let map = DeterministicMap::new(&d).unwrap();
    let mut slots = vec![DeterministicSlot::EMPTY; 255];
    let mut bits = vec![0; DeterministicAllocator::bitmap_words(&map)];
    assert_eq!(
        DeterministicAllocator::new(&d, &mut slots, &mut bits)
            .unwrap_err()
            .field(),
        "storage.slots"
    );
    assert!(SimpleAllocator::new(Ipv4Addr::LOCALHOST, PortRange { first: 0, last: 1 }).is_err());
}
