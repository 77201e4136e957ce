//! NAT44 translation: an established flow (fixed-capacity store), creation of new sessions, and
//! a million-session table with single-packet and burst processing (hashbrown store).

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use nat_core::allocator::{AllocError, AllocRequest, PortAllocator};
use nat_core::checksum;
use nat_core::flow::{Endpoint, L4Proto};
use nat_core::nat44::{Nat44, Nat44Config};
use nat_core::prefix::Prefix;
use nat_core::session::{FixedStore, SessionStore};
use nat_core::time::Instant;
use nat_core::verdict::{Direction, Verdict};
use nat_std::store::HashStore;
use std::hint::black_box;
use std::net::Ipv4Addr;

/// Hands out ports of one address in sequence; enough for a bench.
struct SeqAlloc {
    next: u32,
}

impl PortAllocator<Ipv4Addr, Ipv4Addr> for SeqAlloc {
    fn allocate(
        &mut self,
        _: Instant,
        _: &AllocRequest<Ipv4Addr, Ipv4Addr>,
    ) -> Result<Endpoint<Ipv4Addr>, AllocError> {
        self.next += 1;
        let addr = Ipv4Addr::from(0xc633_6400 | ((self.next >> 16) & 0xff));
        Ok(Endpoint::new(addr, (self.next & 0xffff) as u16 | 1024))
    }
    fn reserve(
        &mut self,
        _: Instant,
        _: L4Proto,
        _: Endpoint<Ipv4Addr>,
        _: Endpoint<Ipv4Addr>,
    ) -> Result<(), AllocError> {
        Ok(())
    }
    fn release(&mut self, _: Instant, _: L4Proto, _: Endpoint<Ipv4Addr>, _: Endpoint<Ipv4Addr>) {}
}

fn config() -> Nat44Config {
    let mut c = Nat44Config::default();
    c.inside_prefixes
        .push(Prefix::new(Ipv4Addr::new(10, 0, 0, 0), 8).unwrap())
        .unwrap();
    c.outside_prefixes
        .push(Prefix::new(Ipv4Addr::new(198, 51, 100, 0), 24).unwrap())
        .unwrap();
    c.decrement_ttl = false;
    c
}

fn udp(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16) -> Vec<u8> {
    let mut p = vec![0u8; 28 + 32];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&60u16.to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    let c = checksum::checksum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p[20..22].copy_from_slice(&sport.to_be_bytes());
    p[22..24].copy_from_slice(&dport.to_be_bytes());
    p[24..26].copy_from_slice(&40u16.to_be_bytes());
    let pseudo = checksum::pseudo_header_v4(src, dst, 17, 40);
    checksum::fill(&mut p[20..], 6, pseudo).unwrap();
    p
}

const REMOTE: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);

fn inside(i: u32) -> (Ipv4Addr, u16) {
    (
        Ipv4Addr::from(0x0a00_0000 | (i >> 8)),
        1024 + (i & 0xff) as u16,
    )
}

/// The reply to an outbound packet after translation: swap endpoints.
fn reply_to(out: &[u8]) -> Vec<u8> {
    let src = Ipv4Addr::new(out[12], out[13], out[14], out[15]);
    let sport = u16::from_be_bytes([out[20], out[21]]);
    udp(REMOTE, 53, src, sport)
}

fn established(c: &mut Criterion) {
    let mut nat: Nat44<Box<FixedStore<Ipv4Addr, Ipv4Addr, 4096>>, SeqAlloc> =
        Nat44::new(config(), Box::new(FixedStore::new(1)), SeqAlloc { next: 0 }).unwrap();
    let now = Instant::from_secs(1);
    let mut pkt = udp(Ipv4Addr::new(10, 0, 0, 2), 40000, REMOTE, 53);
    let v = nat.process(now, Direction::Outbound, &mut pkt, 0, 60);
    assert!(matches!(v, Verdict::Forward { .. }));
    let mut rep = reply_to(&pkt);
    let mut g = c.benchmark_group("nat44");
    g.throughput(Throughput::Elements(2));
    // Inbound then outbound: each restores the buffer the other consumes.
    let mut out_pkt = udp(Ipv4Addr::new(10, 0, 0, 2), 40000, REMOTE, 53);
    g.bench_function("established_udp_round_trip_fixed_store", |b| {
        b.iter(|| {
            let a = nat.process(now, Direction::Outbound, black_box(&mut out_pkt), 0, 60);
            let r = nat.process(now, Direction::Inbound, black_box(&mut rep), 0, 60);
            // Undo the translations so that the next iteration sees the same packets.
            out_pkt[12..16].copy_from_slice(&[10, 0, 0, 2]);
            black_box((a, r))
        })
    });
    g.finish();
}

fn new_sessions(c: &mut Criterion) {
    let mut g = c.benchmark_group("nat44");
    g.throughput(Throughput::Elements(1));
    let mut nat: Nat44<Box<FixedStore<Ipv4Addr, Ipv4Addr, 16384>>, SeqAlloc> =
        Nat44::new(config(), Box::new(FixedStore::new(1)), SeqAlloc { next: 0 }).unwrap();
    let mut i = 0u32;
    let mut t = 0u64;
    g.bench_function("new_udp_session_and_its_expiry", |b| {
        b.iter_batched(
            || {
                i = i.wrapping_add(1);
                let (a, p) = inside(i % (1 << 24));
                udp(a, p, REMOTE, 53)
            },
            |mut pkt| {
                // 25 ms apart with a 300 s UDP timer: about 12,000 live sessions, each new
                // one paid for by the expiry of one created 300 s earlier.
                t += 25;
                let now = Instant::from_millis(t);
                let v = nat.process(now, Direction::Outbound, &mut pkt, 0, 60);
                nat.handle_timeout(now, 4);
                black_box(v)
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

type BigNat = Nat44<HashStore<Ipv4Addr, Ipv4Addr>, SeqAlloc>;

fn million(c: &mut Criterion) {
    const N: u32 = 1 << 20;
    let mut store = HashStore::with_capacity(N as usize, 7);
    store.reserve(N as usize);
    let mut nat: BigNat = Nat44::new(config(), store, SeqAlloc { next: 0 }).unwrap();
    let now = Instant::from_secs(1);
    for i in 0..N {
        let (a, p) = inside(i);
        let mut pkt = udp(a, p, REMOTE, 53);
        assert!(matches!(
            nat.process(now, Direction::Outbound, &mut pkt, 0, 60),
            Verdict::Forward { .. }
        ));
    }
    assert_eq!(nat.store().session_count(), N as usize);
    // 32 flows spread over the table, as their packets would arrive.
    let mut x = 0x9e37_79b9u32;
    let flows: Vec<u32> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x % N
        })
        .collect();
    let mut g = c.benchmark_group("nat44_1M_sessions");
    g.throughput(Throughput::Elements(32));
    let mut k = 0usize;
    let mut next_burst = || {
        k = (k + 32) % flows.len();
        flows[k..k + 32]
            .iter()
            .map(|&f| {
                let (a, p) = inside(f);
                (udp(a, p, REMOTE, 53), 0usize, 60usize)
            })
            .collect::<Vec<_>>()
    };
    let mut verdicts = [Verdict::Hold; 32];
    g.bench_function("outbound_one_by_one", |b| {
        b.iter_batched(
            &mut next_burst,
            |mut pkts| {
                for (p, s, l) in pkts.iter_mut() {
                    let _ = black_box(nat.process(now, Direction::Outbound, p, *s, *l));
                }
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("outbound_burst_of_32", |b| {
        b.iter_batched(
            &mut next_burst,
            |mut pkts| {
                black_box(nat.process_burst(now, Direction::Outbound, &mut pkts, &mut verdicts))
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, established, new_sessions, million);
criterion_main!(benches);
