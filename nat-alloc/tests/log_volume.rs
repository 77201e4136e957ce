//! RFC 6888 REQ-14 / RFC 7269 § 5.1: a synthetic day of 10,000 subscribers. Logging per port
//! block must produce at least 100 times fewer records than logging per session (one record per
//! `allocate` of the per-port allocator with `log_ports`).

mod common;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::Ipv4Addr;

use common::*;
use nat_alloc::*;
use nat_core::allocator::PortAllocator;
use nat_core::flow::{Endpoint, L4Proto};
use nat_core::time::{Duration, Instant};

const SUBSCRIBERS: u32 = 10_000;
const DAY_MS: u64 = 24 * 3600 * 1000;

/// A mapping's end: time, subscriber, protocol, inside port, outside address and port.
type Release = (u64, u32, u8, u16, u32, u16);

struct Day {
    allocations: u64,
    refused: u64,
}

/// Drives one day of sessions through `a`; `drain` counts and empties the event queue.
fn day<A: PortAllocator<Ipv4Addr, Ipv4Addr>>(a: &mut A, mut drain: impl FnMut(&mut A)) -> Day {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let exp = |rng: &mut Rng, mean_ms: f64| -> u64 {
        let u = (rng.below(1 << 52) as f64 + 1.0) / (1u64 << 52) as f64;
        (-mean_ms * u.ln()) as u64
    };
    // Each subscriber is online once a day, 4 to 10 hours, starting in the first 14 hours,
    // and opens a session every 90 s on average while online.
    let mut online_end = vec![0u64; SUBSCRIBERS as usize];
    let mut starts = BinaryHeap::new();
    for s in 0..SUBSCRIBERS {
        let begin = rng.below(14 * 3600 * 1000);
        online_end[s as usize] = begin + 4 * 3600 * 1000 + rng.below(6 * 3600 * 1000);
        starts.push(Reverse((begin, s)));
    }
    let mut releases: BinaryHeap<Reverse<Release>> = BinaryHeap::new();
    let mut d = Day {
        allocations: 0,
        refused: 0,
    };
    let mut steps = 0u64;
    loop {
        let next_start = starts.peek().map(|r| r.0.0);
        let next_release = releases.peek().map(|r| r.0.0);
        let take_release = match (next_start, next_release) {
            (None, None) => break,
            (Some(s), Some(r)) => r <= s,
            (None, Some(_)) => true,
            (Some(_), None) => false,
        };
        if take_release {
            let Reverse((t, sub, proto, port, oa, op)) = releases.pop().unwrap();
            let inside = Endpoint::new(Ipv4Addr::from_bits(0x6440_0000 + sub), port);
            let outside = Endpoint::new(Ipv4Addr::from_bits(oa), op);
            a.release(
                Instant::from_millis(t),
                L4Proto::ALL[proto as usize],
                inside,
                outside,
            );
        } else {
            let Reverse((t, sub)) = starts.pop().unwrap();
            let roll = rng.below(100);
            let (proto, life) = if roll < 70 {
                // TCP: 5 s to 10 min, then the transitory timer.
                (L4Proto::Tcp, 5_000 + rng.below(600_000) + 240_000)
            } else if roll < 95 {
                // UDP: 1 s to 1 min, then the 5-minute mapping timer (RFC 4787 REQ-5c).
                (L4Proto::Udp, 1_000 + rng.below(60_000) + 300_000)
            } else {
                (L4Proto::Icmp, 1_000 + rng.below(10_000) + 60_000)
            };
            let port = 32768 + rng.below(28232) as u16;
            let remote = Ipv4Addr::from_bits(0xc000_0200 + rng.below(4096) as u32);
            let r = req(
                proto,
                Ipv4Addr::from_bits(0x6440_0000 + sub),
                port,
                remote,
                443,
            );
            match a.allocate(Instant::from_millis(t), &r) {
                Ok(e) => {
                    d.allocations += 1;
                    releases.push(Reverse((
                        t + life,
                        sub,
                        proto.index() as u8,
                        port,
                        e.addr.to_bits(),
                        e.port,
                    )));
                }
                Err(_) => d.refused += 1,
            }
            let next = t + exp(&mut rng, 90_000.0);
            if next < online_end[sub as usize] {
                starts.push(Reverse((next, sub)));
            }
        }
        steps += 1;
        if steps.is_multiple_of(4096) {
            drain(a);
        }
    }
    drain(a);
    d
}

#[test]
fn rfc6888_req_14_port_blocks_log_100x_less_than_sessions() {
    let pool = [Ipv4Range::prefix(Ipv4Addr::new(198, 51, 100, 0), 26).unwrap()];
    let end = Instant::from_millis(DAY_MS + 3600 * 1000);

    // Per-session logging: the per-port allocator queues one record per allocation.
    let cfg = PooledConfig {
        log_ports: true,
        ..PooledConfig::new(&pool, KEY)
    };
    let mut mem = PooledMem::new(64, 16_384, 1 << 18, 4096);
    let mut pooled = PooledAllocator::new(&cfg, mem.storage()).unwrap();
    let mut per_session_records = 0u64;
    let d1 = day(&mut pooled, |a| {
        for e in a.events() {
            if matches!(e, AllocEvent::BlockAllocated { len: 1, .. }) {
                per_session_records += 1;
            }
        }
    });
    assert_eq!(pooled.stats().allocated, d1.allocations);

    // Port blocks: 256 ports, 8 blocks per subscriber, freed after 10 minutes empty.
    let bcfg = BlockConfig {
        block_size: 256,
        max_blocks: 8,
        idle_timeout: Duration::from_secs(600),
        ..BlockConfig::new(&pool, KEY)
    };
    let mut bmem = BlockMem::new(&bcfg, 16_384, 32_768, 4096);
    let mut blocks = BlockAllocator::new(&bcfg, bmem.storage()).unwrap();
    let d2 = day(&mut blocks, |a| while a.events().pop().is_some() {});
    blocks.poll(end);
    let block_records = blocks.events().produced();
    assert_eq!(
        blocks.events().overflowed(),
        0,
        "queue drained often enough"
    );

    std::println!(
        "synthetic day, {SUBSCRIBERS} subscribers: {} sessions ({} refused per-port, {} refused blocks); \
         per-session records {per_session_records}, block records {block_records} (ratio {:.0})",
        d1.allocations,
        d1.refused,
        d2.refused,
        per_session_records as f64 / block_records as f64
    );
    assert_eq!(d1.refused + d2.refused, 0);
    assert!(per_session_records >= d1.allocations);
    assert!(
        block_records * 100 <= per_session_records,
        "{block_records} vs {per_session_records}"
    );
}
