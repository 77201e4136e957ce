//! HashStore against its layout and a model.

use super::*;
use nat_core::session::model::{StoreOp, check_store};
use proptest::prelude::*;
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

fn matches_model<K: KeptRemote<Ipv4Addr>>(ops: Vec<u64>) -> Result<(), TestCaseError> {
    let ops: Vec<StoreOp> = ops.into_iter().map(StoreOp::from_bits).collect();
    let mut st = HashStore::<Ipv4Addr, Ipv4Addr, K>::with_capacity(24, 3);
    check_store(&mut st, 24, &ops).map_err(TestCaseError::fail)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    /// NAT44's layout, with NAT44 and LSNAT-like sessions mixed: translated sessions go to
    /// the column; the store agrees with the shared map model.
    #[test]
    fn store_matches_model_nat44_layout(ops in proptest::collection::vec(any::<u64>(), 1..150)) {
        matches_model::<SameRemote>(ops)?;
    }

    /// LSNAT's layout: every session in its record.
    #[test]
    fn store_matches_model_lsnat_layout(ops in proptest::collection::vec(any::<u64>(), 1..150)) {
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
