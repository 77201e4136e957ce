//! HashStore against its layout and a model.

use super::*;
use nat_core::session::TICK_MS;
use proptest::prelude::*;
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

fn fill(n: u32) -> HashStore<Ipv4Addr, Ipv4Addr> {
    let mut st = HashStore::with_capacity(n as usize, 1);
    st.reserve(n as usize);
    let none = Endpoint::new(Ipv4Addr::UNSPECIFIED, 0);
    for i in 0..n {
        let inside = Endpoint::new(
            Ipv4Addr::from(0x0a00_0000 | (i >> 10)),
            (i & 1023) as u16 + 1024,
        );
        let outside = Endpoint::new(Ipv4Addr::from(0xc633_6400 | (i >> 16)), i as u16);
        let remote = Endpoint::new(Ipv4Addr::new(203, 0, 113, (i % 200) as u8), 443);
        let key = BibKey {
            proto: L4Proto::Udp,
            inside,
            remote: none,
        };
        let b = st
            .insert_bib(BibEntry {
                key,
                outside,
                is_static: false,
                sessions: 0,
            })
            .unwrap();
        let e = SessionEntry {
            bib: b,
            proto: L4Proto::Udp,
            inside,
            outside,
            remote_in: remote,
            remote_out: remote,
            state: 0,
            tag: 0,
            expires: Instant::from_secs(u64::from(i % 600)),
        };
        st.insert_session(e).unwrap();
    }
    st
}

#[test]
fn sessions_found_and_expired() {
    let mut st = fill(10_000);
    assert_eq!(st.session_count(), 10_000);
    let mut n = 0;
    while st.pop_expired(Instant::from_secs(300)).is_some() {
        n += 1;
    }
    // Expiries 0..=299 s of each 600 s cycle (16 full cycles, then 400 sessions of which
    // 300 are due); the tick of 300 s itself is not yet due.
    assert_eq!(n, 16 * 300 + 300);
    assert!(
        st.insert_bib(BibEntry {
            key: BibKey {
                proto: L4Proto::Tcp,
                inside: Endpoint::new(Ipv4Addr::LOCALHOST, 1),
                remote: Endpoint::new(Ipv4Addr::UNSPECIFIED, 0)
            },
            outside: Endpoint::new(Ipv4Addr::LOCALHOST, 1),
            is_static: false,
            sessions: 0,
        })
        .is_err(),
        "bindings are bounded by the capacity too"
    );
}

#[test]
fn records_are_packed() {
    use core::mem::size_of;
    // Expiry 8, links 8, binding list 4, binding 4, three endpoints 18, state 1, meta 1.
    assert_eq!(
        size_of::<SessionRecord<Ipv4Addr, Ipv4Addr, SameRemote>>(),
        44
    );
    // NAT64: two IPv6 endpoints and two IPv4 ones (74), padded to 4 for the links.
    type Nat64Record = SessionRecord<Ipv6Addr, Ipv4Addr, Endpoint<Ipv4Addr>>;
    assert_eq!(size_of::<Nat64Record>(), 76);
    // LSNAT: the NAT44 record, the server's endpoint and the tag (54), padded to 4.
    type LsnatRecord = SessionRecord<Ipv4Addr, Ipv4Addr, RemoteAndTag<Ipv4Addr>>;
    assert_eq!(size_of::<LsnatRecord>(), 56);
    // Sessions 4, first session 4, three endpoints 18, meta 1.
    assert_eq!(size_of::<BibRecord<Ipv4Addr, Ipv4Addr>>(), 27);
    assert_eq!(size_of::<RemoteAndTag<Ipv4Addr>>(), 10);
}

/// 100,000 NAT44 sessions, one binding each: records 44 + 27 bytes, four indexes of 2^17
/// buckets of 5 bytes (26.2 bytes per session), the wheel's 8 KiB (0.1). A regression of the
/// layout by one byte fails the test.
#[test]
fn bytes_per_session() {
    let n = 100_000;
    let st = fill(n);
    assert!(
        st.sessions.translated.is_empty(),
        "NAT44 needs no translated column"
    );
    let per = st.heap_bytes() as f64 / f64::from(n);
    println!("HashStore NAT44: {per:.1} bytes per session (session + its binding, all indexes)");
    assert!(per < 97.5, "{per}");
}

fn v4(n: u8, port: u16) -> Endpoint<Ipv4Addr> {
    Endpoint::new(Ipv4Addr::new(10, 0, 0, n), port)
}

#[derive(Clone, Debug)]
enum Op {
    /// A session of binding `sub` to remote port `port`; `translated` gives it a remote as
    /// the outside sees it that differs and a tag (LSNAT's sessions).
    Insert {
        sub: u8,
        port: u16,
        ttl_s: u16,
        translated: bool,
    },
    Remove(usize),
    Refresh(usize, u16),
    Advance(u16),
    RemoveIdleBibs,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..8, 0u16..64, 1u16..900, any::<bool>()).prop_map(|(sub, port, ttl_s, translated)| Op::Insert { sub, port, ttl_s, translated }),
        1 => any::<usize>().prop_map(Op::Remove),
        2 => (any::<usize>(), 1u16..900).prop_map(|(i, t)| Op::Refresh(i, t)),
        2 => (0u16..400).prop_map(Op::Advance),
        1 => Just(Op::RemoveIdleBibs),
    ]
}

type Model = HashMap<SessionRef, SessionEntry<Ipv4Addr, Ipv4Addr>>;

fn pick(model: &Model, i: usize) -> Option<SessionRef> {
    let mut keys: Vec<_> = model.keys().copied().collect();
    keys.sort();
    (!keys.is_empty()).then(|| keys[i % keys.len()])
}

/// The store agrees with a map model with NAT44 and LSNAT-like sessions mixed: every live
/// session reads back as inserted and is found from both sides, bindings count and list their
/// sessions, nothing expires early, nothing due is kept past one tick.
fn matches_model<K: KeptRemote<Ipv4Addr>>(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut st = HashStore::<Ipv4Addr, Ipv4Addr, K>::with_capacity(24, 3);
    let mut model = Model::new();
    let mut bibs: HashMap<u8, BibRef> = HashMap::new();
    let mut now = Instant::ZERO;
    for op in ops {
        match op {
            Op::Insert {
                sub,
                port,
                ttl_s,
                translated,
            } => {
                let b = match bibs.get(&sub) {
                    Some(&b) => b,
                    None => {
                        let e = BibEntry {
                            key: BibKey {
                                proto: L4Proto::ALL[usize::from(sub % 3)],
                                inside: v4(sub, 1000),
                                remote: Endpoint::new(Ipv4Addr::UNSPECIFIED, 0),
                            },
                            outside: Endpoint::new(Ipv4Addr::new(198, 51, 100, 1), u16::from(sub)),
                            is_static: sub == 7,
                            sessions: 0,
                        };
                        match st.insert_bib(e) {
                            Ok(b) => {
                                bibs.insert(sub, b);
                                b
                            }
                            Err(err) => {
                                prop_assert_eq!(err, StoreError::Full);
                                continue;
                            }
                        }
                    }
                };
                let be = st.bib(b).unwrap();
                let remote_in = Endpoint::new(Ipv4Addr::new(203, 0, 113, 2), port);
                let (remote_out, tag) = if translated {
                    (
                        Endpoint::new(Ipv4Addr::new(192, 0, 2, (port % 7) as u8), 8080),
                        u32::from(port) << 16 | 1,
                    )
                } else {
                    (remote_in, 0)
                };
                let e = SessionEntry {
                    bib: b,
                    proto: be.key.proto,
                    inside: be.key.inside,
                    outside: be.outside,
                    remote_in,
                    remote_out,
                    state: port as u8,
                    tag,
                    expires: now + core::time::Duration::from_secs(ttl_s.into()),
                };
                if st
                    .find_inside(st.hash_inside(&e.inside_key()), &e.inside_key())
                    .is_some()
                    || st
                        .find_outside(st.hash_outside(&e.outside_key()), &e.outside_key())
                        .is_some()
                {
                    continue;
                }
                match st.insert_session(e) {
                    Ok(r) => {
                        prop_assert!(model.insert(r, e).is_none());
                    }
                    Err(err) => {
                        prop_assert_eq!(err, StoreError::Full);
                        prop_assert_eq!(model.len(), 24);
                    }
                }
            }
            Op::Remove(i) => {
                let Some(r) = pick(&model, i) else { continue };
                prop_assert_eq!(st.remove_session(r), model.remove(&r));
                prop_assert_eq!(st.remove_session(r), None);
            }
            Op::Refresh(i, ttl) => {
                let Some(r) = pick(&model, i) else { continue };
                let at = now + core::time::Duration::from_secs(ttl.into());
                st.update(r, 2, at).unwrap();
                let m = model.get_mut(&r).unwrap();
                m.expires = at;
                m.state = 2;
            }
            Op::Advance(s) => {
                now = now + core::time::Duration::from_secs(s.into());
                while let Some((r, e)) = st.pop_expired(now) {
                    prop_assert!(e.expires <= now, "expired early");
                    prop_assert_eq!(model.remove(&r), Some(e));
                }
                for e in model.values() {
                    prop_assert!(
                        e.expires.as_millis() + TICK_MS > now.as_millis(),
                        "kept past due"
                    );
                }
            }
            Op::RemoveIdleBibs => {
                bibs.retain(|_, &mut b| {
                    let idle = !model.values().any(|e| e.bib == b);
                    !(idle && st.remove_bib(b).is_ok())
                });
            }
        }
        prop_assert_eq!(st.session_count(), model.len());
        prop_assert_eq!(st.bib_count(), bibs.len());
        for (r, e) in &model {
            prop_assert_eq!(
                st.find_inside(st.hash_inside(&e.inside_key()), &e.inside_key()),
                Some(*r)
            );
            prop_assert_eq!(
                st.find_outside(st.hash_outside(&e.outside_key()), &e.outside_key()),
                Some(*r)
            );
            prop_assert_eq!(st.session(*r), Some(*e));
        }
        for &b in bibs.values() {
            let mut want: Vec<_> = model
                .iter()
                .filter(|(_, e)| e.bib == b)
                .map(|(r, e)| (*r, *e))
                .collect();
            want.sort_by_key(|(r, _)| *r);
            let mut got = Vec::new();
            st.bib_sessions(b, |r, e| {
                got.push((r, *e));
                true
            });
            got.sort_by_key(|(r, _)| *r);
            prop_assert_eq!(st.bib(b).unwrap().sessions as usize, want.len());
            prop_assert_eq!(got, want);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    /// NAT44's layout: translated sessions go to the column.
    #[test]
    fn store_matches_model_nat44_layout(ops in proptest::collection::vec(op(), 1..150)) {
        matches_model::<SameRemote>(ops)?;
    }

    /// LSNAT's layout: every session in its record.
    #[test]
    fn store_matches_model_lsnat_layout(ops in proptest::collection::vec(op(), 1..150)) {
        matches_model::<RemoteAndTag<Ipv4Addr>>(ops)?;
    }
}

/// Between address families the record keeps the IPv4 remote: no column, unless a session
/// carries a tag.
#[test]
fn nat64_sessions_read_back_whole() {
    let mut st = HashStore::<Ipv6Addr, Ipv4Addr>::with_capacity(4, 9);
    st.reserve(4);
    let inside = Endpoint::new("2001:db8::2".parse::<Ipv6Addr>().unwrap(), 5000);
    let outside = Endpoint::new(Ipv4Addr::new(198, 51, 100, 1), 6000);
    let b = st
        .insert_bib(BibEntry {
            key: BibKey {
                proto: L4Proto::Tcp,
                inside,
                remote: Endpoint::new(Ipv4Addr::UNSPECIFIED, 0),
            },
            outside,
            is_static: true,
            sessions: 0,
        })
        .unwrap();
    let e = SessionEntry {
        bib: b,
        proto: L4Proto::Tcp,
        inside,
        outside,
        remote_in: Endpoint::new("64:ff9b::c000:202".parse().unwrap(), 80),
        remote_out: Endpoint::new(Ipv4Addr::new(192, 0, 2, 2), 80),
        state: 3,
        tag: 0,
        expires: Instant::from_secs(7440),
    };
    let tagged = SessionEntry {
        remote_in: Endpoint::new("64:ff9b::c000:203".parse().unwrap(), 80),
        remote_out: Endpoint::new(Ipv4Addr::new(192, 0, 2, 3), 80),
        tag: 7,
        ..e
    };
    let s = st.insert_session(e).unwrap();
    assert!(
        st.sessions.translated.is_empty(),
        "the record keeps the remote"
    );
    let t = st.insert_session(tagged).unwrap();
    assert_eq!(st.session(s), Some(e));
    assert_eq!(st.session(t), Some(tagged));
    assert!(st.bib(b).unwrap().is_static);
    for x in [e, tagged] {
        let ko = x.outside_key();
        assert!(st.find_outside(st.hash_outside(&ko), &ko).is_some());
    }
    assert_eq!(st.remove_session(s), Some(e));
    assert_eq!(st.remove_session(t), Some(tagged));
}
