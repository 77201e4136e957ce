//! The fixed-capacity session store against a model: lookups, binding bookkeeping, capacity
//! and expiry on a virtual clock.

use nat_core::flow::{Endpoint, FlowKey, L4Proto};
use nat_core::session::model::{StoreOp, check_store};
use nat_core::session::{
    BibEntry, BibKey, BibRef, FixedStore, SessionEntry, SessionRef, SessionStore, StoreError,
    TICK_MS,
};
use nat_core::time::Instant;
use proptest::prelude::*;
use std::net::Ipv4Addr;

type Store<const N: usize> = FixedStore<Ipv4Addr, Ipv4Addr, N>;

fn ep(last: u8, port: u16) -> Endpoint<Ipv4Addr> {
    Endpoint::new(Ipv4Addr::new(10, 0, 0, last), port)
}

fn out_ep(port: u16) -> Endpoint<Ipv4Addr> {
    Endpoint::new(Ipv4Addr::new(198, 51, 100, 1), port)
}

fn remote(port: u16) -> Endpoint<Ipv4Addr> {
    Endpoint::new(Ipv4Addr::new(203, 0, 113, 2), port)
}

fn bib(inside: Endpoint<Ipv4Addr>, outside: Endpoint<Ipv4Addr>) -> BibEntry<Ipv4Addr, Ipv4Addr> {
    BibEntry {
        key: BibKey {
            proto: L4Proto::Udp,
            inside,
            remote: Endpoint::new(Ipv4Addr::UNSPECIFIED, 0),
        },
        outside,
        is_static: false,
        sessions: 0,
    }
}

fn session<S: SessionStore<Ipv4Addr, Ipv4Addr>>(
    store: &S,
    b: BibRef,
    r: Endpoint<Ipv4Addr>,
    expires: Instant,
) -> SessionEntry<Ipv4Addr, Ipv4Addr> {
    let be = store.bib(b).unwrap();
    SessionEntry {
        bib: b,
        proto: be.key.proto,
        inside: be.key.inside,
        outside: be.outside,
        remote_in: r,
        remote_out: r,
        state: 0,
        tag: 0,
        expires,
    }
}

fn find_in<S: SessionStore<Ipv4Addr, Ipv4Addr>>(
    s: &S,
    k: &FlowKey<Ipv4Addr>,
) -> Option<SessionRef> {
    s.find_inside(s.hash_inside(k), k)
}

fn find_out<S: SessionStore<Ipv4Addr, Ipv4Addr>>(
    s: &S,
    k: &FlowKey<Ipv4Addr>,
) -> Option<SessionRef> {
    s.find_outside(s.hash_outside(k), k)
}

#[test]
fn session_found_from_both_sides_and_gone_after_removal() {
    let mut st = Store::<16>::new(7);
    let b = st.insert_bib(bib(ep(2, 5000), out_ep(6000))).unwrap();
    let e = session(&st, b, remote(53), Instant::from_secs(300));
    let s = st.insert_session(e).unwrap();
    assert_eq!(find_in(&st, &e.inside_key()), Some(s));
    assert_eq!(find_out(&st, &e.outside_key()), Some(s));
    assert_eq!(st.bib(b).unwrap().sessions, 1);
    assert_eq!(st.find_bib_outside(L4Proto::Udp, &out_ep(6000)), Some(b));
    assert_eq!(st.find_bib_outside(L4Proto::Tcp, &out_ep(6000)), None);
    assert_eq!(st.remove_bib(b), Err(StoreError::InUse));
    assert_eq!(st.remove_session(s), Some(e));
    assert_eq!(find_in(&st, &e.inside_key()), None);
    assert_eq!(find_out(&st, &e.outside_key()), None);
    assert_eq!(st.bib(b).unwrap().sessions, 0);
    assert!(st.remove_bib(b).is_ok());
    assert_eq!(
        st.find_bib_inside(&bib(ep(2, 5000), out_ep(6000)).key),
        None
    );
    assert_eq!((st.session_count(), st.bib_count()), (0, 0));
}

#[test]
fn full_store_is_a_typed_error() {
    let mut st = Store::<2>::new(1);
    let b1 = st.insert_bib(bib(ep(2, 1), out_ep(1))).unwrap();
    let _b2 = st.insert_bib(bib(ep(2, 2), out_ep(2))).unwrap();
    assert_eq!(
        st.insert_bib(bib(ep(2, 3), out_ep(3))),
        Err(StoreError::Full)
    );
    for p in 0..2 {
        let e = session(&st, b1, remote(p), Instant::from_secs(60));
        st.insert_session(e).unwrap();
    }
    let e = session(&st, b1, remote(9), Instant::from_secs(60));
    assert_eq!(st.insert_session(e), Err(StoreError::Full));
}

#[test]
fn stale_handles_are_errors_not_panics() {
    let mut st = Store::<4>::new(1);
    assert_eq!(st.session(SessionRef(3)), None);
    assert_eq!(st.session(SessionRef(u32::MAX)), None);
    assert_eq!(
        st.update(SessionRef(99), 0, Instant::ZERO),
        Err(StoreError::Stale)
    );
    assert_eq!(st.remove_session(SessionRef(1)), None);
    assert_eq!(st.remove_bib(BibRef(2)), Err(StoreError::Stale));
    let mut e = session_like_without_bib();
    e.bib = BibRef(3);
    assert_eq!(st.insert_session(e), Err(StoreError::Stale));
}

fn session_like_without_bib() -> SessionEntry<Ipv4Addr, Ipv4Addr> {
    SessionEntry {
        bib: BibRef(0),
        proto: L4Proto::Udp,
        inside: ep(2, 1),
        outside: out_ep(1),
        remote_in: remote(1),
        remote_out: remote(1),
        state: 0,
        tag: 0,
        expires: Instant::ZERO,
    }
}

#[test]
fn bib_sessions_visits_every_session_after_removal_from_the_middle() {
    let mut st = Store::<8>::new(3);
    let b = st.insert_bib(bib(ep(2, 5000), out_ep(6000))).unwrap();
    let refs: Vec<_> = (0..5)
        .map(|p| {
            st.insert_session(session(&st, b, remote(p), Instant::from_secs(60)))
                .unwrap()
        })
        .collect();
    st.remove_session(refs[2]).unwrap();
    st.remove_session(refs[4]).unwrap();
    let mut seen = vec![];
    st.bib_sessions(b, |s, e| {
        seen.push((s, e.remote_out.port));
        true
    });
    seen.sort();
    assert_eq!(seen, vec![(refs[0], 0), (refs[1], 1), (refs[3], 3)]);
    // Early stop.
    let mut n = 0;
    st.bib_sessions(b, |_, _| {
        n += 1;
        false
    });
    assert_eq!(n, 1);
}

#[test]
fn sessions_expire_at_their_time_and_refresh_postpones() {
    let mut st = Store::<8>::new(5);
    let b = st.insert_bib(bib(ep(2, 5000), out_ep(6000))).unwrap();
    let a = st
        .insert_session(session(&st, b, remote(1), Instant::from_secs(120)))
        .unwrap();
    let c = st
        .insert_session(session(&st, b, remote(2), Instant::from_secs(300)))
        .unwrap();
    assert!(st.pop_expired(Instant::from_secs(119)).is_none());
    // Refresh a to 400 s: it must survive 300 s.
    st.update(a, 0, Instant::from_secs(400)).unwrap();
    let late = Instant::from_millis(300_000 + TICK_MS);
    let (r, e) = st.pop_expired(late).unwrap();
    assert_eq!((r, e.remote_out.port), (c, 2));
    assert!(st.pop_expired(late).is_none());
    assert!(st.session(a).is_some());
    // Shorten a to 350 s (a TCP session closing): it goes then, not at 400 s.
    st.update(a, 1, Instant::from_secs(350)).unwrap();
    assert!(st.pop_expired(Instant::from_secs(349)).is_none());
    let (r, e) = st
        .pop_expired(Instant::from_millis(350_000 + TICK_MS))
        .unwrap();
    assert_eq!((r, e.state), (a, 1));
    assert_eq!(st.session_count(), 0);
    assert_eq!(st.next_expiry(), None);
}

#[test]
fn a_clock_jump_of_hours_expires_everything_due_and_nothing_else() {
    let mut st = Store::<64>::new(9);
    let b = st.insert_bib(bib(ep(2, 5000), out_ep(6000))).unwrap();
    for p in 0..40u16 {
        let e = session(&st, b, remote(p), Instant::from_secs(60 * u64::from(p + 1)));
        st.insert_session(e).unwrap();
    }
    // Ten hours later, except port 39's session which was refreshed to 11 h.
    let long = find_in(
        &st,
        &session(&st, b, remote(39), Instant::ZERO).inside_key(),
    )
    .unwrap();
    st.update(long, 0, Instant::from_secs(11 * 3600)).unwrap();
    let now = Instant::from_secs(10 * 3600);
    let mut n = 0;
    while let Some((_, e)) = st.pop_expired(now) {
        assert!(e.expires <= now);
        n += 1;
    }
    assert_eq!(n, 39);
    assert!(st.session(long).is_some());
    assert!(st.next_expiry().unwrap() <= Instant::from_secs(11 * 3600 + 1));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// The store agrees with the shared map model (`nat_core::session::model`).
    #[test]
    fn store_matches_model(ops in proptest::collection::vec(any::<u64>(), 1..150)) {
        let ops: Vec<StoreOp> = ops.into_iter().map(StoreOp::from_bits).collect();
        let mut st = Box::new(Store::<32>::new(11));
        check_store(&mut *st, 32, &ops).map_err(TestCaseError::fail)?;
    }
}

#[test]
fn memory_per_entry_is_bounded() {
    // Sessions, bindings, four indexes (2 slots of 8 bytes each per entry) and the wheel heads.
    let per_n = std::mem::size_of::<Store<1024>>() / 1024;
    println!("FixedStore<Ipv4Addr, Ipv4Addr>: {per_n} bytes per unit of capacity");
    assert!(per_n <= 200, "{per_n} bytes per unit of capacity");
}
