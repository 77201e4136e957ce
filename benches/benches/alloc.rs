//! Outside endpoint allocation: one `allocate` plus one `release` per iteration, for each policy
//! of `nat-alloc`, with pools of 64 addresses × 64,512 ports (1024-65535) and 10,000
//! subscribers already holding 8 ports each. The clock advances 1 ms per iteration, so released
//! ports go through the 120 s hold-down (RFC 6888 REQ-8) and come back. Target: under 50 ns.
//! `alloc/…` cycles through 64 subscribers (CPU cost, state in cache); `alloc_10k/…` through
//! all 10,000 (memory-bound: a few cache misses per call).
//!
//! - `alloc/simple`: `SimpleAllocator` (one address by design), port preservation;
//! - `alloc/pooled_transparent`, `alloc/pooled_hard_to_guess`: the per-port pool with port
//!   preservation, or RFC 6056 algorithm 4 (keyed SipHash-1-3);
//! - `alloc/blocks_contiguous`, `alloc/blocks_scattered`: blocks of 256 ports, 8 per subscriber;
//! - `alloc/deterministic`: RFC 7422 ranges of 63 ports for a /16 of subscribers.

use criterion::{Criterion, criterion_group, criterion_main};
use nat_alloc::*;
use nat_core::allocator::{AllocRequest, PortAllocator};
use nat_core::flow::{Endpoint, L4Proto};
use nat_core::time::{Duration, Instant};
use std::hint::black_box;
use std::net::Ipv4Addr;

const SUBSCRIBERS: u32 = 10_000;
const KEY: SecretKey = SecretKey::new(0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908);

fn pool() -> [Ipv4Range; 1] {
    [Ipv4Range::prefix(Ipv4Addr::new(198, 51, 100, 0), 26).unwrap()]
}

fn request(sub: u32, port: u16, n: u32) -> AllocRequest<Ipv4Addr, Ipv4Addr> {
    AllocRequest {
        proto: if n.is_multiple_of(4) {
            L4Proto::Udp
        } else {
            L4Proto::Tcp
        },
        inside: Endpoint::new(Ipv4Addr::from_bits(0x6440_0000 + sub), port),
        remote: Endpoint::new(Ipv4Addr::from_bits(0xcb00_7100 + (n & 0xff)), 443),
    }
}

/// Fills `a` with 8 long-lived mappings per subscriber, then measures allocate + release for
/// 64 subscribers in turn (`alloc/…`: their state stays in cache: the CPU cost) and for all
/// 10,000 (`alloc_10k/…`: each call misses the cache for the subscriber, its ports and bitmaps).
fn run<A: PortAllocator<Ipv4Addr, Ipv4Addr>>(c: &mut Criterion, name: &str, a: &mut A) {
    let t0 = Instant::from_secs(1);
    for s in 0..SUBSCRIBERS {
        for i in 0..8u16 {
            a.allocate(t0, &request(s, 20000 + i, u32::from(i)))
                .unwrap();
        }
    }
    let mut n: u32 = 0;
    let mut now = t0;
    for (group, subs) in [("alloc", 64), ("alloc_10k", SUBSCRIBERS)] {
        c.bench_function(&format!("{group}/{name}"), |b| {
            b.iter(|| {
                n = n.wrapping_add(1);
                now = now + Duration::from_millis(1);
                let sub = n.wrapping_mul(2_654_435_761) % subs;
                let r = request(sub, 30000 + (n % 20000) as u16, n);
                let e = a.allocate(now, black_box(&r)).unwrap();
                a.release(now, r.proto, r.inside, black_box(e));
            })
        });
    }
}

fn bench(c: &mut Criterion) {
    let pool = pool();
    let mut simple =
        SimpleAllocator::new(Ipv4Addr::new(198, 51, 100, 1), PortRange::DYNAMIC).unwrap();
    // One address cannot hold 80,000 background mappings: measure it unloaded.
    let mut n = 0u32;
    c.bench_function("alloc/simple", |b| {
        b.iter(|| {
            n = n.wrapping_add(1);
            let r = request(n % SUBSCRIBERS, 30000 + (n % 20000) as u16, n);
            let e = simple.allocate(Instant::ZERO, black_box(&r)).unwrap();
            simple.release(Instant::ZERO, r.proto, r.inside, black_box(e));
        })
    });

    for (name, policy) in [
        ("pooled_transparent", PortPolicy::TRANSPARENT),
        ("pooled_hard_to_guess", PortPolicy::HARD_TO_GUESS),
    ] {
        let cfg = PooledConfig {
            policy,
            ..PooledConfig::new(&pool, KEY)
        };
        let mut subs = vec![SubscriberSlot::EMPTY; 16_384];
        let mut addrs = vec![AddressSlot::EMPTY; 64];
        let mut held = vec![HoldSlot::EMPTY; 1 << 18];
        let storage = PooledStorage {
            subscribers: &mut subs,
            addresses: &mut addrs,
            hold_down: &mut held,
            exempt: &mut [],
            events: &mut [],
        };
        let mut a = PooledAllocator::new(&cfg, storage).unwrap();
        run(c, name, &mut a);
    }

    for (name, layout) in [
        ("blocks_contiguous", BlockLayout::Contiguous),
        ("blocks_scattered", BlockLayout::Scattered),
    ] {
        let cfg = BlockConfig {
            block_size: 256,
            layout,
            ..BlockConfig::new(&pool, KEY)
        };
        let blocks = 16_384;
        let mut subs = vec![SubscriberSlot::EMPTY; 16_384];
        let mut pool_bits = vec![0; cfg.pool_words().unwrap()];
        let mut slots = vec![BlockSlot::EMPTY; blocks];
        let mut block_bits = vec![0; cfg.block_words(blocks)];
        let mut events = vec![None; 64];
        let storage = BlockStorage {
            subscribers: &mut subs,
            pool_bits: &mut pool_bits,
            blocks: &mut slots,
            block_bits: &mut block_bits,
            exempt: &mut [],
            events: &mut events,
        };
        let mut a = BlockAllocator::new(&cfg, storage).unwrap();
        run(c, name, &mut a);
    }

    let cfg = DeterministicConfig {
        inside: InsidePrefix {
            addr: Ipv4Addr::new(100, 64, 0, 0),
            len: 16,
        },
        subscriber_prefix_len: None,
        outside: &pool,
        first_port: 1024,
        ports_per_subscriber: 63,
        policy: PortPolicy::HARD_TO_GUESS,
        quotas: Quotas::UNLIMITED,
        key: KEY,
    };
    let map = DeterministicMap::new(&cfg).unwrap();
    let mut slots = vec![DeterministicSlot::EMPTY; 65_536];
    let mut bits = vec![0; DeterministicAllocator::bitmap_words(&map)];
    let mut a = DeterministicAllocator::new(&cfg, &mut slots, &mut bits).unwrap();
    run(c, "deterministic", &mut a);
}

criterion_group!(benches, bench);
criterion_main!(benches);
