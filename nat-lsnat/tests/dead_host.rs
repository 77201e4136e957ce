//! Dead host detection on a virtual clock (draft-srisuresh-lsnat § 6): passive detection of
//! servers that stop answering new sessions, active probes, the long pause before a retry, and
//! the rule that existing sessions are never moved or unbound.

mod common;

use common::{SplitMix64, client_key, server_addr};
use core::net::Ipv4Addr;
use core::time::Duration;
use nat_core::time::Instant;
use nat_lsnat::{
    Algorithm, ChooseError, DeadCause, Health, HealthConfig, LsnatEvent, PoolConfig, ServerId,
    ServerSpec, VirtualServer, VirtualServerConfig,
};

const DETECTION: Duration = Duration::from_secs(3);
const PAUSE: Duration = Duration::from_secs(120);

type Vs = VirtualServer<Ipv4Addr, 8, 1009>;

fn build(algo: Algorithm, n: usize) -> (Vs, Vec<ServerId>) {
    let config = VirtualServerConfig {
        pool: PoolConfig {
            health: HealthConfig {
                detection_time: Some(DETECTION),
                retry_pause: PAUSE,
                fall: 3,
                rise: 2,
            },
            ..PoolConfig::default()
        },
        ..VirtualServerConfig::default()
    };
    let mut v = Vs::new(common::VIP, algo, config).unwrap();
    let ids = (0..n)
        .map(|i| v.pool_mut().add(ServerSpec::new(server_addr(i))).unwrap())
        .collect();
    (v, ids)
}

fn ms(t: u64) -> Instant {
    Instant::from_millis(t)
}

fn events(v: &mut Vs) -> Vec<LsnatEvent<Ipv4Addr>> {
    core::iter::from_fn(|| v.poll_event()).collect()
}

/// Sessions arrive every 100 ms; every server but `silent` answers each new session at once.
/// Returns, per arrival, the time and chosen server.
fn run(
    v: &mut Vs,
    silent: Option<ServerId>,
    from: u64,
    to: u64,
    rng: &mut SplitMix64,
) -> Vec<(u64, ServerId)> {
    let mut out = Vec::new();
    for t in (from..to).step_by(100) {
        let key = client_key(rng.next_u64(), 80);
        match v.choose(ms(t), &key) {
            Ok(id) => {
                v.bind(ms(t), id, &key).unwrap();
                if Some(id) != silent {
                    v.pool_mut().record_answer(ms(t + 10), id).unwrap();
                }
                out.push((t, id));
            }
            Err(e) => assert_eq!(e, ChooseError::NoServer),
        }
    }
    out
}

#[test]
fn server_that_stops_answering_gets_no_new_sessions_after_detection_time() {
    for algo in Algorithm::ALL {
        let (mut v, ids) = build(algo, 4);
        let mut rng = SplitMix64::new(11);
        let victim = ids[2];
        run(&mut v, None, 0, 10_000, &mut rng);
        // From t = 10 s the victim stops answering.
        let picks = run(&mut v, Some(victim), 10_000, 60_000, &mut rng);
        let first_unanswered = picks.iter().find(|(_, id)| *id == victim).map(|(t, _)| *t);
        // Stateless algorithms may not pick it among few keys; the others must, early.
        let Some(first) = first_unanswered else {
            assert!(algo.is_stateless(), "{}", algo.name());
            continue;
        };
        let dead_at = first + DETECTION.as_millis() as u64;
        assert!(
            picks.iter().all(|&(t, id)| id != victim || t < dead_at),
            "{}: victim chosen after {dead_at} ms",
            algo.name()
        );
        assert_eq!(v.pool().health(victim), Ok(Health::Dead), "{}", algo.name());
        let ev = events(&mut v);
        assert!(ev.iter().any(|e| matches!(e,
            LsnatEvent::ServerDead { server, cause: DeadCause::Unanswered, at, .. }
                if *server == victim && at.as_millis() >= dead_at && at.as_millis() < dead_at + 100)));
    }
}

#[test]
fn dead_server_keeps_its_sessions_bound() {
    let (mut v, ids) = build(Algorithm::RoundRobin, 3);
    let mut rng = SplitMix64::new(12);
    let victim = ids[0];
    run(&mut v, Some(victim), 0, 10_000, &mut rng);
    let stats = v.pool().stats(ms(10_000), victim).unwrap();
    assert_eq!(stats.health, Health::Dead);
    // It got sessions until detection, and none was unbound by the death.
    assert!(stats.sessions > 1);
    assert_eq!(stats.sessions as u64, stats.bindings);
    assert_eq!(stats.unbindings, 0);
    // The translator can still end them normally.
    v.pool_mut().unbind(ms(10_001), victim, 1).unwrap();
}

#[test]
fn dead_server_is_retried_after_the_pause_and_revived_by_an_answer() {
    let (mut v, ids) = build(Algorithm::LeastLoad, 3);
    let mut rng = SplitMix64::new(13);
    let victim = ids[1];
    let picks = run(&mut v, Some(victim), 0, 5_000, &mut rng);
    let dead_at = picks.iter().find(|(_, id)| *id == victim).unwrap().0 + 3_000;
    assert_eq!(v.pool().health(victim), Ok(Health::Dead));
    let retry_at = dead_at + PAUSE.as_millis() as u64;
    // Nothing during the pause, even though it is the least loaded by far.
    let during = run(&mut v, None, 5_000, retry_at - 100, &mut rng);
    assert!(during.iter().all(|(_, id)| *id != victim));
    // After the pause: exactly one trial session while the trial is unanswered.
    let mut trial = None;
    for t in (retry_at..retry_at + 2_000).step_by(100) {
        let key = client_key(rng.next_u64(), 80);
        let id = v.choose(ms(t), &key).unwrap();
        v.bind(ms(t), id, &key).unwrap();
        if id == victim {
            assert!(
                trial.is_none(),
                "second trial before the first was answered"
            );
            trial = Some(t);
        } else {
            v.pool_mut().record_answer(ms(t), id).unwrap();
        }
    }
    let trial = trial.expect("a trial session after the pause");
    assert!(trial >= retry_at);
    assert_eq!(v.pool().health(victim), Ok(Health::Retrying));
    // It answers the trial: alive, and least-load now sends it the next sessions.
    v.pool_mut()
        .record_answer(ms(retry_at + 2_000), victim)
        .unwrap();
    assert_eq!(v.pool().health(victim), Ok(Health::Alive));
    let after = run(&mut v, None, retry_at + 2_100, retry_at + 2_600, &mut rng);
    assert!(after.iter().all(|(_, id)| *id == victim));
    let ev = events(&mut v);
    assert!(
        ev.iter()
            .any(|e| matches!(e, LsnatEvent::ServerRetrying { server, .. } if *server == victim))
    );
    assert!(
        ev.iter()
            .any(|e| matches!(e, LsnatEvent::ServerAlive { server, .. } if *server == victim))
    );
    let stats = v.pool().stats(ms(0), victim).unwrap();
    assert_eq!((stats.dead_transitions, stats.alive_transitions), (1, 1));
}

#[test]
fn unanswered_trial_keeps_the_server_dead_for_another_pause() {
    let (mut v, ids) = build(Algorithm::LeastLoad, 2);
    let mut rng = SplitMix64::new(14);
    let victim = ids[0];
    let picks = run(&mut v, Some(victim), 0, 4_000, &mut rng);
    assert_eq!(v.pool().health(victim), Ok(Health::Dead));
    let first = picks.iter().find(|(_, id)| *id == victim).unwrap().0;
    let retry_at = first + 3_000 + PAUSE.as_millis() as u64;
    // Timers may be reported early (stale), never late.
    assert!(v.poll_timeout().unwrap().as_millis() <= retry_at);
    let picks = run(&mut v, Some(victim), retry_at, retry_at + 10_000, &mut rng);
    let trials: Vec<u64> = picks
        .iter()
        .filter(|(_, id)| *id == victim)
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(trials.len(), 1, "{trials:?}");
    assert_eq!(v.pool().health(victim), Ok(Health::Dead));
    // Once stale timers have passed, the next one is the end of the new pause.
    v.handle_timeout(ms(retry_at + 13_000));
    assert_eq!(v.poll_timeout(), Some(ms(trials[0] + 3_000) + PAUSE));
    assert_eq!(v.pool().counters().dead_transitions, 2);
}

#[test]
fn probe_thresholds_mark_dead_and_bring_back_after_the_pause() {
    let (mut v, ids) = build(Algorithm::RoundRobin, 2);
    let s = ids[0];
    let mut t = 0;
    let mut probe = |v: &mut Vs, ok: bool| {
        t += 1_000;
        v.pool_mut()
            .record_probe(ms(t), s, ok, Duration::from_millis(2))
            .unwrap();
        t
    };
    probe(&mut v, false);
    probe(&mut v, false);
    assert_eq!(v.pool().health(s), Ok(Health::Alive));
    let died = probe(&mut v, false);
    assert_eq!(v.pool().health(s), Ok(Health::Dead));
    for c in 0..10 {
        assert_eq!(v.choose(ms(died), &client_key(c, 80)), Ok(ids[1]));
    }
    // Good probes during the pause do not cut it short...
    probe(&mut v, true);
    probe(&mut v, true);
    let before_end = ms(died) + (PAUSE - Duration::from_millis(1));
    v.handle_timeout(before_end);
    assert_eq!(v.pool().health(s), Ok(Health::Dead));
    // ...but bring the server straight back when it ends.
    let end = ms(died) + PAUSE;
    assert_eq!(v.poll_timeout(), Some(end));
    let picks: Vec<ServerId> = (0..4)
        .map(|c| v.choose(end, &client_key(c, 80)).unwrap())
        .collect();
    assert_eq!(v.pool().health(s), Ok(Health::Alive));
    assert!(picks.contains(&s));
}

#[test]
fn pool_with_every_server_dead_is_a_typed_error() {
    let (mut v, ids) = build(Algorithm::LeastLoad, 2);
    for id in &ids {
        for k in 0..3 {
            v.pool_mut()
                .record_probe(ms(k), *id, false, Duration::ZERO)
                .unwrap();
        }
    }
    for algo in Algorithm::ALL {
        v.set_algorithm(algo).unwrap();
        assert_eq!(
            v.choose(ms(10), &client_key(1, 80)),
            Err(ChooseError::NoServer)
        );
    }
    assert_eq!(v.counters().no_server, Algorithm::ALL.len() as u64);
}
