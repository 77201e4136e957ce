//! Load-share algorithms: how a new session picks its server (draft-srisuresh-lsnat § 5).
//!
//! Every algorithm considers only the candidates the virtual server offers: servers that are
//! active, alive (or retrying without a trial outstanding), of non-zero weight and finite cost,
//! plus, for a server in maintenance, its static backup (§ 3). Load-based algorithms pick the
//! least score and break ties by a rotating start, so that equal servers share new sessions
//! instead of the first slot taking a burst. Stateless algorithms (source hashing, Maglev) hash
//! the candidate's position so that a backup stands exactly in its primary's place.

use crate::hash::mix64;
use crate::pool::{ServerPool, Slot};
use nat_core::flow::IpAddress;

/// What "traffic" counts for the least-traffic algorithms (draft-srisuresh-lsnat § 5.1, item 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TrafficMetric {
    /// Packets to and from the server in the window.
    Packets,
    /// Bytes to and from the server in the window.
    Bytes,
}

/// A load-share algorithm, selectable per virtual server (draft-srisuresh-lsnat § 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// Each candidate in turn, "without regard to load" (draft-srisuresh-lsnat § 5.1, item 1).
    RoundRobin,
    /// Fewest sessions bound (draft-srisuresh-lsnat § 5.1, item 2).
    LeastLoad,
    /// Least traffic over the sliding window (draft-srisuresh-lsnat § 5.1, item 3).
    LeastTraffic(TrafficMetric),
    /// Least sum of session weights divided by server weight (draft-srisuresh-lsnat § 5.1,
    /// item 4).
    LeastWeightedLoad,
    /// Least smoothed probe round-trip time × (sessions + 1): "the response time in conjunction
    /// with the heuristics" (draft-srisuresh-lsnat § 5.1, item 5). A server never probed is taken
    /// to have the mean round-trip time of those that were.
    MostResponsive,
    /// Least cost × sessions (draft-srisuresh-lsnat § 5.2, item 1).
    CostWeightedLeastLoad,
    /// Least cost × traffic over the window (draft-srisuresh-lsnat § 5.2, item 2).
    CostWeightedLeastTraffic(TrafficMetric),
    /// Smooth weighted round robin (nginx): each server in proportion to its weight, interleaved
    /// (draft-srisuresh-lsnat § 5.1, item 4 weights).
    WeightedRoundRobin,
    /// Highest random weight of the client's source address: one client, one server, as long as
    /// that server lives (RFC 7269 § 4.2: "a source-address-based policy").
    SourceHash,
    /// Maglev consistent hashing of the flow key over a lookup table of `M` entries (Eisenbud
    /// et al., NSDI 2016, § 3.4); needs a virtual server built with `M > 0`.
    Maglev,
}

impl Algorithm {
    /// Every algorithm and metric, for configuration listings and benches
    /// (draft-srisuresh-lsnat § 5).
    pub const ALL: [Algorithm; 12] = [
        Algorithm::RoundRobin,
        Algorithm::LeastLoad,
        Algorithm::LeastTraffic(TrafficMetric::Packets),
        Algorithm::LeastTraffic(TrafficMetric::Bytes),
        Algorithm::LeastWeightedLoad,
        Algorithm::MostResponsive,
        Algorithm::CostWeightedLeastLoad,
        Algorithm::CostWeightedLeastTraffic(TrafficMetric::Packets),
        Algorithm::CostWeightedLeastTraffic(TrafficMetric::Bytes),
        Algorithm::WeightedRoundRobin,
        Algorithm::SourceHash,
        Algorithm::Maglev,
    ];

    /// A short name for logs and configuration (draft-srisuresh-lsnat § 5).
    pub const fn name(self) -> &'static str {
        match self {
            Algorithm::RoundRobin => "round-robin",
            Algorithm::LeastLoad => "least-load",
            Algorithm::LeastTraffic(TrafficMetric::Packets) => "least-traffic-packets",
            Algorithm::LeastTraffic(TrafficMetric::Bytes) => "least-traffic-bytes",
            Algorithm::LeastWeightedLoad => "least-weighted-load",
            Algorithm::MostResponsive => "most-responsive",
            Algorithm::CostWeightedLeastLoad => "cost-weighted-least-load",
            Algorithm::CostWeightedLeastTraffic(TrafficMetric::Packets) => {
                "cost-weighted-least-traffic-packets"
            }
            Algorithm::CostWeightedLeastTraffic(TrafficMetric::Bytes) => {
                "cost-weighted-least-traffic-bytes"
            }
            Algorithm::WeightedRoundRobin => "weighted-round-robin",
            Algorithm::SourceHash => "source-hash",
            Algorithm::Maglev => "maglev",
        }
    }

    /// Whether the choice depends only on the key and the set of candidates, not on history
    /// (RFC 7269 § 4.2 "static scheduling").
    pub const fn is_stateless(self) -> bool {
        matches!(self, Algorithm::SourceHash | Algorithm::Maglev)
    }
}

/// Per-virtual-server memory of the stateful algorithms.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SelectorState<const N: usize> {
    /// Next position for round robin, and the rotating start that breaks ties.
    cursor: usize,
    /// Current weights of smooth weighted round robin, by position.
    swrr: [i64; N],
    /// Pool version the current weights were built for.
    swrr_version: Option<u64>,
}

impl<const N: usize> SelectorState<N> {
    pub(crate) const fn new() -> Self {
        SelectorState {
            cursor: 0,
            swrr: [0; N],
            swrr_version: None,
        }
    }

    /// Forget history, e.g. when the algorithm changes.
    pub(crate) fn reset(&mut self) {
        *self = Self::new();
    }

    /// Pick a server for a session with the algorithm, among positions `0..N` that `resolve`
    /// maps to an effective slot; `src_hash` is the seeded hash of the client address. Maglev is
    /// the caller's: it returns `None`.
    pub(crate) fn select<A: IpAddress, const K: usize>(
        &mut self,
        algorithm: Algorithm,
        pool: &ServerPool<A, N, K>,
        bucket: u64,
        src_hash: u64,
        resolve: impl Fn(usize) -> Option<usize>,
    ) -> Option<usize> {
        let slot = |e: usize| pool.slot(e);
        match algorithm {
            Algorithm::RoundRobin => self.round_robin(resolve),
            Algorithm::LeastLoad => self.least(resolve, |e| Some(u128::from(slot(e)?.sessions))),
            Algorithm::LeastTraffic(m) => {
                self.least(resolve, |e| Some(traffic(slot(e)?, bucket, m)))
            }
            Algorithm::LeastWeightedLoad => {
                self.least(resolve, |e| slot(e)?.weighted_load().fixed_point())
            }
            Algorithm::MostResponsive => {
                let mean = mean_srtt(pool, &resolve);
                self.least(resolve, |e| {
                    let s = slot(e)?;
                    let rtt = s.srtt_micros.unwrap_or(mean).max(1);
                    Some(u128::from(rtt) * (u128::from(s.sessions) + 1))
                })
            }
            Algorithm::CostWeightedLeastLoad => self.least(resolve, |e| {
                let s = slot(e)?;
                Some(u128::from(s.spec.cost.finite()?) * u128::from(s.sessions))
            }),
            Algorithm::CostWeightedLeastTraffic(m) => self.least(resolve, |e| {
                let s = slot(e)?;
                Some(u128::from(s.spec.cost.finite()?) * traffic(s, bucket, m))
            }),
            Algorithm::WeightedRoundRobin => {
                if self.swrr_version != Some(pool.version()) {
                    self.swrr = [0; N];
                    self.swrr_version = Some(pool.version());
                }
                smooth_weighted(&mut self.swrr, resolve, |e| {
                    slot(e).map_or(0, |s| s.spec.weight)
                })
            }
            Algorithm::SourceHash => highest_random_weight::<N>(src_hash, resolve, |pos| {
                slot(pos).map_or(0, |s| s.name_hash)
            }),
            Algorithm::Maglev => None,
        }
    }

    fn round_robin(&mut self, resolve: impl Fn(usize) -> Option<usize>) -> Option<usize> {
        for step in 0..N {
            let pos = (self.cursor + step) % N;
            if let Some(e) = resolve(pos) {
                self.cursor = (pos + 1) % N;
                return Some(e);
            }
        }
        None
    }

    /// The candidate of least score (`None`: not a candidate), scanning from a rotating start.
    fn least(
        &mut self,
        resolve: impl Fn(usize) -> Option<usize>,
        score: impl Fn(usize) -> Option<u128>,
    ) -> Option<usize> {
        let start = self.cursor % N.max(1);
        self.cursor = (start + 1) % N.max(1);
        let mut best: Option<(u128, usize)> = None;
        for step in 0..N {
            let pos = (start + step) % N;
            let Some(e) = resolve(pos) else { continue };
            let Some(s) = score(e) else { continue };
            if best.is_none_or(|(b, _)| s < b) {
                best = Some((s, e));
            }
        }
        best.map(|(_, e)| e)
    }
}

fn traffic<A, const K: usize>(slot: &Slot<A, K>, bucket: u64, metric: TrafficMetric) -> u128 {
    let t = slot.traffic.total_at(bucket);
    u128::from(match metric {
        TrafficMetric::Packets => t.packets,
        TrafficMetric::Bytes => t.bytes,
    })
}

/// Mean smoothed RTT of the candidates that have one; 1 µs if none has.
fn mean_srtt<A: IpAddress, const N: usize, const K: usize>(
    pool: &ServerPool<A, N, K>,
    resolve: &impl Fn(usize) -> Option<usize>,
) -> u64 {
    let (mut sum, mut n) = (0u128, 0u128);
    for pos in 0..N {
        if let Some(rtt) = resolve(pos).and_then(|e| pool.slot(e)?.srtt_micros) {
            sum += u128::from(rtt);
            n += 1;
        }
    }
    sum.checked_div(n)
        .map_or(1, |m| u64::try_from(m).unwrap_or(u64::MAX))
}

/// Smooth weighted round robin: add each weight to its current value, take the largest, take
/// the total off it. Over any `W = Σ weights` consecutive choices each server is picked exactly
/// its weight times, interleaved.
fn smooth_weighted<const N: usize>(
    current: &mut [i64; N],
    resolve: impl Fn(usize) -> Option<usize>,
    weight: impl Fn(usize) -> u32,
) -> Option<usize> {
    let mut total: i64 = 0;
    let mut best: Option<(usize, i64, usize)> = None;
    for (pos, cur) in current.iter_mut().enumerate() {
        let Some(e) = resolve(pos) else { continue };
        let w = i64::from(weight(e));
        *cur = cur.saturating_add(w);
        total = total.saturating_add(w);
        if best.is_none_or(|(_, b, _)| *cur > b) {
            best = Some((pos, *cur, e));
        }
    }
    let (pos, _, e) = best?;
    if let Some(cur) = current.get_mut(pos) {
        *cur = cur.saturating_sub(total);
    }
    Some(e)
}

/// Rendezvous hashing: the candidate whose position name mixed with the key hash is largest.
fn highest_random_weight<const N: usize>(
    key_hash: u64,
    resolve: impl Fn(usize) -> Option<usize>,
    name: impl Fn(usize) -> u64,
) -> Option<usize> {
    let mut best: Option<(u64, usize)> = None;
    for pos in 0..N {
        let Some(e) = resolve(pos) else { continue };
        let w = mix64(key_hash ^ name(pos));
        if best.is_none_or(|(b, _)| w > b) {
            best = Some((w, e));
        }
    }
    best.map(|(_, e)| e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::PoolConfig;
    use crate::server::{Cost, ServerId, ServerSpec};
    use core::net::Ipv4Addr;
    use core::time::Duration;
    use nat_core::time::Instant;

    type Pool = ServerPool<Ipv4Addr, 4>;

    fn pool(n: u8) -> (Pool, [ServerId; 4]) {
        let mut p = Pool::new(PoolConfig::default());
        let mut ids = [ServerId::from_parts(0, 0); 4];
        for i in 0..n {
            ids[usize::from(i)] = p
                .add(ServerSpec::new(Ipv4Addr::new(10, 0, 0, i + 1)))
                .unwrap();
        }
        (p, ids)
    }

    fn pick(st: &mut SelectorState<4>, algo: Algorithm, p: &Pool) -> Option<usize> {
        st.select(algo, p, 0, 42, |i| {
            p.slot(i).filter(|s| s.eligible()).map(|_| i)
        })
    }

    fn bind(p: &mut Pool, id: ServerId, n: u32) {
        for _ in 0..n {
            p.bind(Instant::ZERO, id, 1).unwrap();
        }
    }

    #[test]
    fn round_robin_cycles_over_candidates_skipping_draining() {
        let (mut p, ids) = pool(3);
        p.drain(Instant::ZERO, ids[1]).unwrap();
        let mut st = SelectorState::new();
        let picks: [_; 4] = core::array::from_fn(|_| pick(&mut st, Algorithm::RoundRobin, &p));
        assert_eq!(picks, [Some(0), Some(2), Some(0), Some(2)]);
    }

    #[test]
    fn least_load_picks_fewest_sessions() {
        let (mut p, ids) = pool(3);
        bind(&mut p, ids[0], 3);
        bind(&mut p, ids[1], 1);
        bind(&mut p, ids[2], 2);
        let mut st = SelectorState::new();
        assert_eq!(pick(&mut st, Algorithm::LeastLoad, &p), Some(1));
    }

    #[test]
    fn least_load_rotates_among_ties() {
        let (p, _) = pool(3);
        let mut st = SelectorState::new();
        let picks: [_; 3] = core::array::from_fn(|_| pick(&mut st, Algorithm::LeastLoad, &p));
        assert_eq!(picks, [Some(0), Some(1), Some(2)]);
    }

    #[test]
    fn least_traffic_picks_fewest_packets_or_bytes() {
        let (mut p, ids) = pool(2);
        p.record_traffic(Instant::ZERO, ids[0], 10, 100).unwrap();
        p.record_traffic(Instant::ZERO, ids[1], 20, 50).unwrap();
        let mut st = SelectorState::new();
        assert_eq!(
            pick(&mut st, Algorithm::LeastTraffic(TrafficMetric::Packets), &p),
            Some(0)
        );
        assert_eq!(
            pick(&mut st, Algorithm::LeastTraffic(TrafficMetric::Bytes), &p),
            Some(1)
        );
    }

    #[test]
    fn least_weighted_load_divides_by_server_weight() {
        let (mut p, ids) = pool(2);
        p.set_weight(ids[1], 4).unwrap();
        bind(&mut p, ids[0], 2); // 2 / 1
        bind(&mut p, ids[1], 7); // 7 / 4
        let mut st = SelectorState::new();
        assert_eq!(pick(&mut st, Algorithm::LeastWeightedLoad, &p), Some(1));
    }

    #[test]
    fn most_responsive_prefers_short_rtt_scaled_by_load() {
        let (mut p, ids) = pool(2);
        p.record_rtt(ids[0], Duration::from_millis(10)).unwrap();
        p.record_rtt(ids[1], Duration::from_millis(1)).unwrap();
        let mut st = SelectorState::new();
        assert_eq!(pick(&mut st, Algorithm::MostResponsive, &p), Some(1));
        // 1 ms × 10 sessions + 1 > 10 ms × 1.
        bind(&mut p, ids[1], 10);
        assert_eq!(pick(&mut st, Algorithm::MostResponsive, &p), Some(0));
    }

    #[test]
    fn most_responsive_treats_unprobed_server_as_mean() {
        let (mut p, ids) = pool(3);
        p.record_rtt(ids[0], Duration::from_millis(2)).unwrap();
        p.record_rtt(ids[1], Duration::from_millis(4)).unwrap();
        bind(&mut p, ids[0], 2); // 2 × 3 = 6
        bind(&mut p, ids[1], 1); // 4 × 2 = 8
        bind(&mut p, ids[2], 2); // mean 3 × 3 = 9
        let mut st = SelectorState::new();
        assert_eq!(pick(&mut st, Algorithm::MostResponsive, &p), Some(0));
    }

    #[test]
    fn cost_weighted_least_load_multiplies_cost_by_sessions() {
        let (mut p, ids) = pool(2);
        p.set_cost(ids[0], Cost::Finite(2)).unwrap();
        bind(&mut p, ids[0], 3); // 6
        bind(&mut p, ids[1], 5); // 5
        let mut st = SelectorState::new();
        assert_eq!(pick(&mut st, Algorithm::CostWeightedLeastLoad, &p), Some(1));
    }

    #[test]
    fn infinite_cost_is_never_chosen() {
        let (mut p, ids) = pool(2);
        p.set_cost(ids[1], Cost::Infinite).unwrap();
        bind(&mut p, ids[0], 1000);
        let mut st = SelectorState::new();
        for algo in Algorithm::ALL {
            if algo != Algorithm::Maglev {
                assert_eq!(pick(&mut st, algo, &p), Some(0), "{}", algo.name());
            }
        }
    }

    #[test]
    fn cost_weighted_least_traffic_multiplies_cost_by_traffic() {
        let (mut p, ids) = pool(2);
        p.set_cost(ids[0], Cost::Finite(3)).unwrap();
        p.record_traffic(Instant::ZERO, ids[0], 10, 10).unwrap(); // 30
        p.record_traffic(Instant::ZERO, ids[1], 25, 25).unwrap(); // 25
        let mut st = SelectorState::new();
        let algo = Algorithm::CostWeightedLeastTraffic(TrafficMetric::Packets);
        assert_eq!(pick(&mut st, algo, &p), Some(1));
    }

    #[test]
    fn weighted_round_robin_interleaves_like_nginx() {
        let (mut p, ids) = pool(3);
        p.set_weight(ids[0], 5).unwrap();
        let mut st = SelectorState::new();
        let picks: [_; 7] =
            core::array::from_fn(|_| pick(&mut st, Algorithm::WeightedRoundRobin, &p).unwrap());
        // nginx's sequence for weights {a:5, b:1, c:1}: a a b a c a a.
        assert_eq!(picks, [0, 0, 1, 0, 2, 0, 0]);
    }

    #[test]
    fn source_hash_is_stable_for_a_client_and_skips_dead_servers() {
        let (mut p, ids) = pool(4);
        let mut st = SelectorState::new();
        let first = pick_hash(&mut st, &p, 7);
        for _ in 0..5 {
            assert_eq!(pick_hash(&mut st, &p, 7), first);
        }
        let victim = first.unwrap();
        for s in 0..3 {
            p.record_probe(Instant::from_secs(s), ids[victim], false, Duration::ZERO)
                .unwrap();
        }
        assert_ne!(pick_hash(&mut st, &p, 7), first);
    }

    fn pick_hash(st: &mut SelectorState<4>, p: &Pool, h: u64) -> Option<usize> {
        st.select(Algorithm::SourceHash, p, 0, h, |i| {
            p.slot(i).filter(|s| s.eligible()).map(|_| i)
        })
    }

    #[test]
    fn empty_pool_yields_no_choice() {
        let (p, _) = pool(0);
        let mut st = SelectorState::new();
        for algo in Algorithm::ALL {
            assert_eq!(pick(&mut st, algo, &p), None);
        }
    }

    #[test]
    fn algorithm_names_are_distinct() {
        for (i, a) in Algorithm::ALL.iter().enumerate() {
            for b in &Algorithm::ALL[i + 1..] {
                assert_ne!(a.name(), b.name());
            }
        }
    }
}
