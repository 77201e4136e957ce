//! Maglev consistent hashing at production size: M = 65537 entries, N = 100 servers
//! (Maglev § 3.4; draft-srisuresh-lsnat § 5).

mod common;

use common::{SplitMix64, client_key, server_addr};
use core::net::Ipv4Addr;
use nat_core::time::Instant;
use nat_lsnat::{AdminState, Algorithm, ServerId, ServerSpec, VirtualServer, VirtualServerConfig};

const M: usize = 65537;
const N: usize = 100;

type Vs = VirtualServer<Ipv4Addr, N, M>;

fn build() -> (Box<Vs>, Vec<ServerId>) {
    let config = VirtualServerConfig {
        seed: 0xBEEF,
        ..VirtualServerConfig::default()
    };
    let mut v = Box::new(Vs::new(common::VIP, Algorithm::Maglev, config).unwrap());
    let ids = (0..N)
        .map(|i| v.pool_mut().add(ServerSpec::new(server_addr(i))).unwrap())
        .collect();
    // The table is built lazily by the first choice.
    v.choose(Instant::ZERO, &client_key(0, 80)).unwrap();
    (v, ids)
}

fn entry_counts(v: &Vs) -> Vec<usize> {
    let mut counts = vec![0usize; N];
    for &e in v.maglev().entries() {
        counts[usize::from(e)] += 1;
    }
    counts
}

#[test]
fn maglev_table_entries_are_balanced_within_5_percent() {
    let (v, _) = build();
    let counts = entry_counts(&v);
    let mean = M as f64 / N as f64;
    let max = *counts.iter().max().unwrap() as f64;
    assert!(max / mean <= 1.05, "max/mean = {}", max / mean);
    // In fact every server holds ⌊M/N⌋ or ⌈M/N⌉ entries.
    assert!(
        counts.iter().all(|&c| c == M / N || c == M / N + 1),
        "{counts:?}"
    );
}

#[test]
fn maglev_flow_keys_are_balanced_within_5_percent() {
    let (mut v, ids) = build();
    let mut counts = vec![0u32; N];
    let mut rng = SplitMix64::new(21);
    let keys = 1_000_000u32;
    for _ in 0..keys {
        let id = v
            .choose(Instant::ZERO, &client_key(rng.next_u64(), 80))
            .unwrap();
        counts[id.index()] += 1;
    }
    assert!(ids.iter().all(|id| counts[id.index()] > 0));
    let max = f64::from(*counts.iter().max().unwrap());
    let mean = f64::from(keys) / N as f64;
    assert!(max / mean <= 1.05, "max/mean = {}", max / mean);
}

#[test]
fn maglev_removing_one_of_n_servers_moves_at_most_2_over_n_of_keys() {
    let (mut v, ids) = build();
    let before = v.maglev().entries().to_vec();
    let gone = ids[37];
    v.pool_mut().remove(gone).unwrap();
    v.choose(Instant::ZERO, &client_key(1, 80)).unwrap();
    let after = v.maglev().entries();
    let moved = before
        .iter()
        .zip(after.iter())
        .filter(|(b, a)| b != a)
        .count();
    let own = before
        .iter()
        .filter(|&&e| usize::from(e) == gone.index())
        .count();
    // All of the removed server's entries move; few others do.
    assert!(after.iter().all(|&e| usize::from(e) != gone.index()));
    assert!(moved >= own);
    assert!(
        moved as f64 <= 2.0 * M as f64 / N as f64,
        "moved {moved} of {M}"
    );
}

#[test]
fn maglev_draining_and_re_adding_a_server_moves_few_keys() {
    let (mut v, ids) = build();
    let before = v.maglev().entries().to_vec();
    v.pool_mut().drain(Instant::ZERO, ids[5]).unwrap();
    v.choose(Instant::ZERO, &client_key(1, 80)).unwrap();
    v.pool_mut()
        .set_admin(Instant::ZERO, ids[5], AdminState::Active)
        .unwrap();
    v.choose(Instant::ZERO, &client_key(1, 80)).unwrap();
    // Same set of servers, same names: the same table.
    assert_eq!(before.as_slice(), v.maglev().entries().as_slice());
}

#[test]
fn maglev_tables_agree_between_primary_and_standby_with_the_same_seed() {
    let (a, _) = build();
    let (b, _) = build();
    assert_eq!(a.maglev(), b.maglev());
}

#[test]
fn maglev_same_flow_same_server() {
    let (mut v, _) = build();
    let mut rng = SplitMix64::new(22);
    for _ in 0..1000 {
        let key = client_key(rng.next_u64(), 80);
        let first = v.choose(Instant::ZERO, &key).unwrap();
        assert_eq!(v.choose(Instant::ZERO, &key), Ok(first));
    }
}
