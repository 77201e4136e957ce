//! Properties over random operation sequences: whatever the operator, the runtime and the
//! clock do, `choose` never returns a dead, draining, in-maintenance or removed server and
//! nothing panics (draft-srisuresh-lsnat § 5, § 6).

mod common;

use common::{client_key, server_addr};
use core::net::Ipv4Addr;
use core::time::Duration;
use nat_core::flow::L4Proto;
use nat_core::time::Instant;
use nat_lsnat::{
    AdminState, Algorithm, BackupMapping, ChooseError, Cost, Health, HealthConfig, PoolConfig,
    ServerId, ServerSpec, Service, VirtualServer, VirtualServerConfig,
};
use proptest::prelude::*;

type Vs = VirtualServer<Ipv4Addr, 6, 601, 4>;

#[derive(Clone, Debug)]
enum Op {
    Add {
        addr: u8,
        weight: u32,
        cost: Option<u32>,
    },
    Remove(u8),
    Admin(u8, u8),
    Cost(u8, Option<u32>),
    Weight(u8, u32),
    Probe(u8, bool),
    Bind(u8, u16),
    Unbind(u8, u16),
    Answer(u8),
    Traffic(u8, u32, u32),
    Rtt(u8, u16),
    Advance(u32),
    Map {
        primary: u8,
        backup: u8,
        port: Option<u16>,
    },
    Algorithm(u8),
    Service(u16),
    Choose {
        client: u64,
        port: u16,
    },
    Stale(u16, u16),
}

fn op() -> impl Strategy<Value = Op> {
    let slot = any::<u8>();
    let port = prop_oneof![Just(80u16), Just(443u16), Just(21u16)];
    // Mostly usable servers, so that `choose` has something to get wrong.
    let weight = prop_oneof![1 => Just(0u32), 9 => 1u32..5];
    let cost = proptest::option::weighted(0.9, 0u32..4);
    prop_oneof![
        4 => (0u8..12, weight.clone(), cost.clone())
            .prop_map(|(addr, weight, cost)| Op::Add { addr, weight, cost }),
        1 => slot.prop_map(Op::Remove),
        1 => (slot, prop_oneof![2 => Just(0u8), 3 => 1u8..4]).prop_map(|(s, a)| Op::Admin(s, a)),
        1 => (slot, cost).prop_map(|(s, c)| Op::Cost(s, c)),
        1 => (slot, weight).prop_map(|(s, w)| Op::Weight(s, w)),
        1 => (slot, any::<bool>()).prop_map(|(s, ok)| Op::Probe(s, ok)),
        1 => (slot, port.clone()).prop_map(|(s, p)| Op::Bind(s, p)),
        1 => (slot, port.clone()).prop_map(|(s, p)| Op::Unbind(s, p)),
        1 => slot.prop_map(Op::Answer),
        1 => (slot, any::<u32>(), any::<u32>()).prop_map(|(s, p, b)| Op::Traffic(s, p, b)),
        1 => (slot, any::<u16>()).prop_map(|(s, r)| Op::Rtt(s, r)),
        1 => prop_oneof![0u32..500, 0u32..40_000].prop_map(Op::Advance),
        1 => (slot, slot, proptest::option::of(port.clone()))
            .prop_map(|(primary, backup, port)| Op::Map { primary, backup, port }),
        1 => (0u8..12).prop_map(Op::Algorithm),
        1 => port.clone().prop_map(Op::Service),
        6 => (any::<u64>(), port).prop_map(|(client, port)| Op::Choose { client, port }),
        1 => (any::<u16>(), any::<u16>()).prop_map(|(i, g)| Op::Stale(i, g)),
    ]
}

fn cost(c: Option<u32>) -> Cost {
    c.map_or(Cost::Infinite, Cost::Finite)
}

/// The id of the `n`-th server present (wrapping), or a fixed id if the pool is empty.
fn pick(v: &Vs, n: u8) -> ServerId {
    let ids: Vec<ServerId> = v.pool().ids().collect();
    if ids.is_empty() {
        ServerId::from_parts(0, 0)
    } else {
        ids[usize::from(n) % ids.len()]
    }
}

fn check_choice(v: &Vs, now: Instant, id: ServerId) -> Result<(), TestCaseError> {
    let s = v.pool().stats(now, id);
    prop_assert!(s.is_ok(), "removed server {id:?} chosen");
    let s = s.unwrap();
    prop_assert_ne!(s.health, Health::Dead);
    prop_assert_ne!(s.admin, AdminState::Draining);
    prop_assert_ne!(s.admin, AdminState::Maintenance);
    prop_assert_ne!(s.spec.cost, Cost::Infinite);
    prop_assert!(s.spec.weight > 0);
    if s.admin == AdminState::Standby {
        prop_assert!(
            v.mappings().any(|m| m.backup == id),
            "standby chosen without a mapping"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn choose_never_returns_dead_draining_or_removed_server(ops in proptest::collection::vec(op(), 1..120)) {
        let config = VirtualServerConfig {
            pool: PoolConfig {
                health: HealthConfig {
                    detection_time: Some(Duration::from_secs(3)),
                    retry_pause: Duration::from_secs(30),
                    fall: 2,
                    rise: 2,
                },
                traffic_bucket: Duration::from_millis(250),
            },
            seed: 5,
            default_session_weight: 1,
        };
        let mut v = Vs::new(common::VIP, Algorithm::RoundRobin, config).unwrap();
        let mut now = Instant::ZERO;
        for op in ops {
            match op {
                Op::Add { addr, weight, cost: c } => {
                    let spec = ServerSpec::new(server_addr(usize::from(addr))).with_weight(weight).with_cost(cost(c));
                    let _ = v.pool_mut().add(spec);
                }
                Op::Remove(s) => { let id = pick(&v, s); let _ = v.pool_mut().remove(id); }
                Op::Admin(s, a) => {
                    let admin = [AdminState::Active, AdminState::Draining, AdminState::Maintenance, AdminState::Standby][usize::from(a)];
                    let id = pick(&v, s);
                    let _ = v.pool_mut().set_admin(now, id, admin);
                }
                Op::Cost(s, c) => { let id = pick(&v, s); let _ = v.pool_mut().set_cost(id, cost(c)); }
                Op::Weight(s, w) => { let id = pick(&v, s); let _ = v.pool_mut().set_weight(id, w); }
                Op::Probe(s, ok) => { let id = pick(&v, s); let _ = v.pool_mut().record_probe(now, id, ok, Duration::from_millis(3)); }
                Op::Bind(s, p) => { let id = pick(&v, s); let _ = v.bind(now, id, &client_key(1, p)); }
                Op::Unbind(s, p) => { let id = pick(&v, s); let _ = v.unbind(now, id, &client_key(1, p)); }
                Op::Answer(s) => { let id = pick(&v, s); let _ = v.pool_mut().record_answer(now, id); }
                Op::Traffic(s, p, b) => { let id = pick(&v, s); let _ = v.pool_mut().record_traffic(now, id, u64::from(p), u64::from(b)); }
                Op::Rtt(s, r) => { let id = pick(&v, s); let _ = v.pool_mut().record_rtt(id, Duration::from_micros(u64::from(r))); }
                Op::Advance(ms) => now = now + Duration::from_millis(u64::from(ms)),
                Op::Map { primary, backup, port } => {
                    let m = BackupMapping {
                        primary: pick(&v, primary),
                        backup: pick(&v, backup),
                        service: port.map(|p| (L4Proto::Tcp, p)),
                    };
                    let _ = v.map_backup(m);
                }
                Op::Algorithm(a) => { v.set_algorithm(Algorithm::ALL[usize::from(a)]).unwrap(); }
                Op::Service(p) => { let _ = v.add_service(Service::new(L4Proto::Tcp, p).with_session_weight(u32::from(p))); }
                Op::Choose { client, port } => {
                    let key = client_key(client, port);
                    match v.choose(now, &key) {
                        Ok(id) => {
                            check_choice(&v, now, id)?;
                            v.bind(now, id, &key).unwrap();
                        }
                        Err(e) => prop_assert!(matches!(e, ChooseError::NoServer | ChooseError::NotLoadShared)),
                    }
                }
                Op::Stale(i, g) => {
                    let id = ServerId::from_parts(i, g);
                    let _ = v.bind(now, id, &client_key(2, 80));
                    let _ = v.unbind(now, id, &client_key(2, 80));
                    let _ = v.pool_mut().record_probe(now, id, false, Duration::MAX);
                    let _ = v.pool_mut().record_traffic(now, id, u64::MAX, u64::MAX);
                    let _ = v.pool_mut().drain(now, id);
                    let _ = v.pool_mut().remove(id);
                }
            }
            while v.poll_event().is_some() {}
        }
    }

    #[test]
    fn session_counts_equal_binds_minus_unbinds(ops in proptest::collection::vec((0u8..4, any::<bool>()), 0..200)) {
        let mut v = Vs::new(common::VIP, Algorithm::LeastLoad, VirtualServerConfig::default()).unwrap();
        let ids: Vec<ServerId> = (0..4).map(|i| v.pool_mut().add(ServerSpec::new(server_addr(i))).unwrap()).collect();
        let mut expect = [0u32; 4];
        for (s, bind) in ops {
            let i = usize::from(s);
            if bind {
                v.bind(Instant::ZERO, ids[i], &client_key(1, 80)).unwrap();
                expect[i] += 1;
            } else if expect[i] > 0 {
                v.unbind(Instant::ZERO, ids[i], &client_key(1, 80)).unwrap();
                expect[i] -= 1;
            } else {
                prop_assert!(v.unbind(Instant::ZERO, ids[i], &client_key(1, 80)).is_err());
            }
        }
        for (id, e) in ids.iter().zip(expect) {
            prop_assert_eq!(v.pool().stats(Instant::ZERO, *id).unwrap().sessions, e);
        }
    }
}
