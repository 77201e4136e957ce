//! Load-share choice: the cost of `VirtualServer::choose` for a new session, per algorithm, on a
//! pool of 16 servers (draft-srisuresh-lsnat § 5).
//!
//! - `lsnat_choose/<algorithm>`: one choice for a new session's key. The pool is set up so that
//!   every algorithm has something to compare: sessions bound unevenly, traffic in the window,
//!   probe round-trip times, weights and costs. Keys cycle over 4096 synthetic clients. The
//!   choice is not bound, so the state stays the same from one iteration to the next; the Maglev
//!   table (M = 65537) is built before measuring.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use nat_core::flow::{Endpoint, FlowKey, L4Proto};
use nat_core::time::Instant;
use nat_lsnat::{Algorithm, Cost, ServerSpec, VirtualServer, VirtualServerConfig};
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::Duration;

const SERVERS: usize = 16;
const VIP: Ipv4Addr = Ipv4Addr::new(172, 87, 0, 100);

type Vs = VirtualServer<Ipv4Addr, SERVERS, 65537>;

fn keys() -> Vec<FlowKey<Ipv4Addr>> {
    let mut x = 0x1234_5678_9ABC_DEF0u64;
    (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let [a, b, c, d, e, f, ..] = x.to_be_bytes();
            FlowKey::new(
                L4Proto::Tcp,
                Endpoint::new(Ipv4Addr::new(a, b, c, d), u16::from_be_bytes([e, f])),
                Endpoint::new(VIP, 80),
            )
        })
        .collect()
}

fn pool(algorithm: Algorithm, now: Instant) -> Box<Vs> {
    let mut vs = Box::new(Vs::new(VIP, algorithm, VirtualServerConfig::default()).unwrap());
    for i in 0..SERVERS as u8 {
        let spec = ServerSpec::new(Ipv4Addr::new(172, 85, 0, i + 1))
            .with_weight(1 + u32::from(i % 4))
            .with_cost(Cost::Finite(1 + u32::from(i % 3)));
        let id = vs.pool_mut().add(spec).unwrap();
        let p = vs.pool_mut();
        for _ in 0..(u32::from(i) * 7 % 11) {
            p.bind(now, id, 1).unwrap();
            p.record_answer(now, id).unwrap();
        }
        p.record_traffic(
            now,
            id,
            100 + u64::from(i) * 13 % 50,
            90_000 + u64::from(i) * 7_919 % 20_000,
        )
        .unwrap();
        p.record_rtt(id, Duration::from_micros(200 + u64::from(i) * 37 % 300))
            .unwrap();
    }
    vs
}

fn bench_choose(c: &mut Criterion) {
    let keys = keys();
    let now = Instant::from_secs(10);
    let mut group = c.benchmark_group("lsnat_choose");
    for algorithm in Algorithm::ALL {
        let mut vs = pool(algorithm, now);
        vs.choose(now, &keys[0]).unwrap();
        let mut i = 0usize;
        group.bench_function(BenchmarkId::from_parameter(algorithm.name()), |b| {
            b.iter(|| {
                i = (i + 1) & 4095;
                black_box(vs.choose(now, black_box(&keys[i])))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_choose);
criterion_main!(benches);
