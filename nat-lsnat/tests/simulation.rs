//! Simulations of the load-share algorithms over synthetic session arrivals and lengths: each
//! algorithm's distribution is measured against its ideal (draft-srisuresh-lsnat § 5).

mod common;

use common::{SplitMix64, client_key, server_addr};
use core::net::Ipv4Addr;
use core::time::Duration;
use nat_core::flow::FlowKey;
use nat_core::time::Instant;
use nat_lsnat::{
    AdminState, Algorithm, ChooseError, Cost, HealthConfig, PoolConfig, ServerId, ServerSpec,
    TrafficMetric, VirtualServer, VirtualServerConfig,
};

type Vs<const N: usize> = VirtualServer<Ipv4Addr, N>;

/// Passive detection off: these simulations are about distribution, not liveness.
fn config() -> VirtualServerConfig {
    VirtualServerConfig {
        pool: PoolConfig {
            health: HealthConfig {
                detection_time: None,
                ..HealthConfig::default()
            },
            ..PoolConfig::default()
        },
        seed: 0x1A5_7A7,
        default_session_weight: 1,
    }
}

fn build<const N: usize>(
    algo: Algorithm,
    specs: &[ServerSpec<Ipv4Addr>],
) -> (Vs<N>, Vec<ServerId>) {
    let mut v = Vs::<N>::new(common::VIP, algo, config()).unwrap();
    let ids = specs
        .iter()
        .map(|s| v.pool_mut().add(*s).unwrap())
        .collect();
    (v, ids)
}

fn plain(n: usize) -> Vec<ServerSpec<Ipv4Addr>> {
    (0..n).map(|i| ServerSpec::new(server_addr(i))).collect()
}

fn sessions<const N: usize>(v: &Vs<N>, id: ServerId) -> u32 {
    v.pool().stats(Instant::ZERO, id).unwrap().sessions
}

/// Live sessions of a simulation: end time, server, key.
struct Live(Vec<(u64, ServerId, FlowKey<Ipv4Addr>)>);

impl Live {
    /// Unbind every session that ended by `now`.
    fn expire<const N: usize>(&mut self, v: &mut Vs<N>, now: u64) {
        let t = Instant::from_millis(now);
        self.0.retain(|(end, id, key)| {
            if *end <= now {
                v.unbind(t, *id, key).unwrap();
                false
            } else {
                true
            }
        });
    }
}

#[test]
fn round_robin_counts_differ_by_at_most_one() {
    let (mut v, ids) = build::<8>(Algorithm::RoundRobin, &plain(7));
    let mut rng = SplitMix64::new(1);
    let mut live = Live(Vec::new());
    let mut counts = [0u32; 7];
    for t in 0..5_000u64 {
        live.expire(&mut v, t);
        let key = client_key(rng.next_u64(), 80);
        let id = v.choose(Instant::from_millis(t), &key).unwrap();
        v.bind(Instant::from_millis(t), id, &key).unwrap();
        live.0.push((t + 1 + rng.below(400), id, key));
        counts[ids.iter().position(|&i| i == id).unwrap()] += 1;
        let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
        assert!(max - min <= 1, "after {t}: {counts:?}");
    }
}

#[test]
fn least_load_chooses_a_least_loaded_server_at_every_decision() {
    let (mut v, ids) = build::<8>(Algorithm::LeastLoad, &plain(5));
    let mut rng = SplitMix64::new(2);
    let mut live = Live(Vec::new());
    for t in 0..5_000u64 {
        live.expire(&mut v, t);
        let key = client_key(rng.next_u64(), 80);
        let id = v.choose(Instant::from_millis(t), &key).unwrap();
        let min = ids.iter().map(|&i| sessions(&v, i)).min().unwrap();
        assert_eq!(sessions(&v, id), min, "at {t}");
        v.bind(Instant::from_millis(t), id, &key).unwrap();
        live.0.push((t + 1 + rng.below(300), id, key));
    }
}

#[test]
fn least_load_without_departures_stays_within_one_session_of_even() {
    let (mut v, ids) = build::<8>(Algorithm::LeastLoad, &plain(6));
    let mut rng = SplitMix64::new(3);
    for t in 0..1_000u64 {
        let key = client_key(rng.next_u64(), 80);
        let id = v.choose(Instant::from_millis(t), &key).unwrap();
        v.bind(Instant::from_millis(t), id, &key).unwrap();
        let loads: Vec<u32> = ids.iter().map(|&i| sessions(&v, i)).collect();
        assert!(
            loads.iter().max().unwrap() - loads.iter().min().unwrap() <= 1,
            "{loads:?}"
        );
    }
}

#[test]
fn weighted_round_robin_is_proportional_within_one() {
    let weights = [1u32, 2, 3, 5, 8];
    let specs: Vec<_> = weights
        .iter()
        .enumerate()
        .map(|(i, &w)| ServerSpec::new(server_addr(i)).with_weight(w))
        .collect();
    let (mut v, ids) = build::<8>(Algorithm::WeightedRoundRobin, &specs);
    let total: u32 = weights.iter().sum();
    let mut counts = [0i64; 5];
    for t in 1..=(10 * i64::from(total)) {
        let id = v.choose(Instant::ZERO, &client_key(t as u64, 80)).unwrap();
        counts[ids.iter().position(|&i| i == id).unwrap()] += 1;
        for (c, &w) in counts.iter().zip(&weights) {
            // |count − t·w/W| ≤ 1, in integers.
            let err = (c * i64::from(total) - t * i64::from(w)).abs();
            assert!(err <= i64::from(total), "after {t}: {counts:?}");
        }
        if t % i64::from(total) == 0 {
            let cycles = t / i64::from(total);
            assert!(
                counts
                    .iter()
                    .zip(&weights)
                    .all(|(&c, &w)| c == cycles * i64::from(w))
            );
        }
    }
}

#[test]
fn draft_5_2_server_costing_twice_gets_half_the_load() {
    let specs = [
        ServerSpec::new(server_addr(0)).with_cost(Cost::Finite(2)),
        ServerSpec::new(server_addr(1)).with_cost(Cost::Finite(1)),
    ];
    let (mut v, ids) = build::<4>(Algorithm::CostWeightedLeastLoad, &specs);
    let (s1, s2) = (ids[0], ids[1]);
    let mut rng = SplitMix64::new(4);
    // Arrivals only: cost × load stays level, so S1 holds half of S2's sessions at every step.
    for t in 0..3_000u64 {
        let key = client_key(rng.next_u64(), 80);
        let id = v.choose(Instant::ZERO, &key).unwrap();
        v.bind(Instant::ZERO, id, &key).unwrap();
        let (l1, l2) = (i64::from(sessions(&v, s1)), i64::from(sessions(&v, s2)));
        assert!((2 * l1 - l2).abs() <= 2, "after {t}: S1 {l1}, S2 {l2}");
    }
    // With churn, the time-averaged loads keep the 1:2 ratio.
    let (mut v, ids) = build::<4>(Algorithm::CostWeightedLeastLoad, &specs);
    let mut live = Live(Vec::new());
    let (mut sum1, mut sum2) = (0u64, 0u64);
    for t in 0..20_000u64 {
        live.expire(&mut v, t);
        let key = client_key(rng.next_u64(), 80);
        let id = v.choose(Instant::from_millis(t), &key).unwrap();
        v.bind(Instant::from_millis(t), id, &key).unwrap();
        live.0.push((t + 1 + rng.below(200), id, key));
        sum1 += u64::from(sessions(&v, ids[0]));
        sum2 += u64::from(sessions(&v, ids[1]));
    }
    let ratio = sum1 as f64 / sum2 as f64;
    assert!((0.45..=0.55).contains(&ratio), "S1/S2 = {ratio}");
}

#[test]
fn draft_5_2_infinite_cost_server_never_gets_a_session() {
    let specs = [
        ServerSpec::new(server_addr(0)).with_cost(Cost::Infinite),
        ServerSpec::new(server_addr(1)),
    ];
    for algo in Algorithm::ALL
        .into_iter()
        .filter(|a| *a != Algorithm::Maglev)
    {
        let (mut v, ids) = build::<4>(algo, &specs);
        for c in 0..200 {
            assert_eq!(
                v.choose(Instant::ZERO, &client_key(c, 80)),
                Ok(ids[1]),
                "{}",
                algo.name()
            );
        }
        v.pool_mut().set_cost(ids[1], Cost::Infinite).unwrap();
        assert_eq!(
            v.choose(Instant::ZERO, &client_key(0, 80)),
            Err(ChooseError::NoServer)
        );
    }
}

#[test]
fn least_weighted_load_keeps_weighted_loads_level() {
    let weights = [1u32, 2, 4];
    let specs: Vec<_> = weights
        .iter()
        .enumerate()
        .map(|(i, &w)| ServerSpec::new(server_addr(i)).with_weight(w))
        .collect();
    let (mut v, ids) = build::<4>(Algorithm::LeastWeightedLoad, &specs);
    v.add_service(nat_lsnat::Service::new(nat_core::flow::L4Proto::Tcp, 21).with_session_weight(5))
        .unwrap();
    v.add_service(nat_lsnat::Service::new(nat_core::flow::L4Proto::Tcp, 23))
        .unwrap();
    let mut rng = SplitMix64::new(5);
    for _ in 0..2_000 {
        let port = if rng.below(4) == 0 { 21 } else { 23 };
        let key = client_key(rng.next_u64(), port);
        let id = v.choose(Instant::ZERO, &key).unwrap();
        v.bind(Instant::ZERO, id, &key).unwrap();
    }
    let loads: Vec<f64> = ids
        .iter()
        .map(|&i| v.pool().weighted_load(i).unwrap().value().unwrap())
        .collect();
    let (min, max) = loads
        .iter()
        .fold((f64::MAX, 0f64), |(a, b), &l| (a.min(l), b.max(l)));
    // Ideal: level; one heaviest session (5) on the lightest server (1) is the largest step.
    assert!(max - min <= 5.0, "{loads:?}");
}

#[test]
fn least_traffic_spreads_traffic_evenly() {
    let (mut v, ids) = build::<8>(Algorithm::LeastTraffic(TrafficMetric::Bytes), &plain(4));
    let mut rng = SplitMix64::new(6);
    // Sessions of random rate and length; traffic reported every millisecond.
    let mut live: Vec<(u64, ServerId, u64)> = Vec::new();
    let mut bytes = [0u64; 4];
    for t in 0..30_000u64 {
        let now = Instant::from_millis(t);
        live.retain(|(end, _, _)| *end > t);
        for (_, id, rate) in &live {
            v.pool_mut().record_traffic(now, *id, 1, *rate).unwrap();
            bytes[ids.iter().position(|i| i == id).unwrap()] += rate;
        }
        if t % 10 == 0 {
            let key = client_key(rng.next_u64(), 80);
            let id = v.choose(now, &key).unwrap();
            live.push((t + 100 + rng.below(900), id, 100 + rng.below(1400)));
        }
    }
    let mean = bytes.iter().sum::<u64>() as f64 / 4.0;
    let max = *bytes.iter().max().unwrap() as f64;
    assert!(max / mean <= 1.05, "{bytes:?}");
}

#[test]
fn most_responsive_gives_faster_servers_proportionally_more_sessions() {
    let (mut v, ids) = build::<4>(Algorithm::MostResponsive, &plain(3));
    for (id, ms) in ids.iter().zip([1u64, 2, 4]) {
        v.pool_mut()
            .record_rtt(*id, Duration::from_millis(ms))
            .unwrap();
    }
    for c in 0..700 {
        let key = client_key(c, 80);
        let id = v.choose(Instant::ZERO, &key).unwrap();
        v.bind(Instant::ZERO, id, &key).unwrap();
    }
    // rtt × (sessions + 1) level: sessions + 1 in ratio 4 : 2 : 1 (400 : 200 : 100).
    let s: Vec<i64> = ids
        .iter()
        .map(|&i| i64::from(sessions(&v, i)) + 1)
        .collect();
    assert!(
        (s[0] - 2 * s[1]).abs() <= 2 && (s[1] - 2 * s[2]).abs() <= 2,
        "{s:?}"
    );
}

#[test]
fn source_hash_pins_each_client_and_spreads_clients() {
    let (mut v, ids) = build::<16>(Algorithm::SourceHash, &plain(10));
    let mut counts = [0u32; 10];
    for c in 0..20_000u64 {
        let id = v.choose(Instant::ZERO, &client_key(c, 80)).unwrap();
        let mut other_port = client_key(c, 80);
        other_port.src.port = other_port.src.port.wrapping_add(7);
        assert_eq!(v.choose(Instant::ZERO, &other_port), Ok(id));
        counts[ids.iter().position(|&i| i == id).unwrap()] += 1;
    }
    let max = *counts.iter().max().unwrap() as f64;
    assert!(max / 2_000.0 <= 1.08, "{counts:?}");
}

#[test]
fn drained_server_gets_no_new_sessions_while_its_count_goes_down() {
    let (mut v, ids) = build::<8>(Algorithm::LeastLoad, &plain(3));
    let mut rng = SplitMix64::new(7);
    let mut live = Live(Vec::new());
    for t in 0..600u64 {
        let key = client_key(rng.next_u64(), 80);
        let id = v.choose(Instant::from_millis(t), &key).unwrap();
        v.bind(Instant::from_millis(t), id, &key).unwrap();
        live.0.push((t + 1 + rng.below(500), id, key));
    }
    let drained = ids[1];
    v.pool_mut()
        .drain(Instant::from_millis(600), drained)
        .unwrap();
    let others: Vec<u32> = [ids[0], ids[2]].iter().map(|&i| sessions(&v, i)).collect();
    let mut last = sessions(&v, drained);
    assert!(last > 0);
    for t in 600..1_500u64 {
        live.expire(&mut v, t);
        let key = client_key(rng.next_u64(), 80);
        let id = v.choose(Instant::from_millis(t), &key).unwrap();
        assert_ne!(id, drained);
        v.bind(Instant::from_millis(t), id, &key).unwrap();
        live.0.push((t + 1 + rng.below(500), id, key));
        let now = sessions(&v, drained);
        assert!(now <= last);
        last = now;
    }
    assert_eq!(last, 0);
    assert!(others.iter().all(|&n| n > 0));
    let drained_event = core::iter::from_fn(|| v.poll_event()).any(
        |e| matches!(e, nat_lsnat::LsnatEvent::ServerDrained { server, .. } if server == drained),
    );
    assert!(drained_event);
    // Removing it now disturbs nobody.
    let before: Vec<u32> = [ids[0], ids[2]].iter().map(|&i| sessions(&v, i)).collect();
    v.pool_mut().remove(drained).unwrap();
    let after: Vec<u32> = [ids[0], ids[2]].iter().map(|&i| sessions(&v, i)).collect();
    assert_eq!(before, after);
    assert_eq!(
        v.pool().stats(Instant::ZERO, ids[0]).unwrap().admin,
        AdminState::Active
    );
}
