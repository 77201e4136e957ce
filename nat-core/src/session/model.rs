//! A model check for any [`SessionStore`] (feature `std`): the store is driven by a sequence
//! of operations and compared after each with a map that holds what it should hold. Every
//! store of the workspace runs it (`FixedStore` in nat-core's tests, `HashStore` in
//! nat-std's); a store written for another runtime can run it too.
//!
//! Checked after every operation: each live session reads back as inserted and is found from
//! both sides; each binding counts and lists its sessions; nothing expires early and nothing
//! due is kept past one tick of the timer wheel ([`TICK_MS`]).

use std::collections::HashMap;
use std::format;
use std::net::Ipv4Addr;
use std::string::String;
use std::vec::Vec;

use super::{
    BibEntry, BibKey, BibRef, SessionEntry, SessionRef, SessionStore, StoreError, TICK_MS,
};
use crate::flow::{Endpoint, L4Proto};
use crate::time::{Duration, Instant};

/// One step of a [`check_store`] run.
#[derive(Clone, Copy, Debug)]
pub enum StoreOp {
    /// A session of binding `sub` (created on first use) to remote port `port`, expiring
    /// `ttl_s` seconds from now; `translated` gives it a remote as the outside sees it that
    /// differs, and a tag (LSNAT's sessions). Skipped when its flow exists.
    Insert {
        /// Binding 0..=255 (8 or so make bindings shared).
        sub: u8,
        /// Remote port.
        port: u16,
        /// Lifetime in seconds.
        ttl_s: u16,
        /// LSNAT-like session.
        translated: bool,
    },
    /// Removes the live session chosen by the index (modulo their number).
    Remove(usize),
    /// Refreshes the live session chosen by the index to expire in the given seconds.
    Refresh(usize, u16),
    /// Moves the clock on by the given seconds and drains what is due.
    Advance(u16),
    /// Removes every binding without sessions.
    RemoveIdleBibs,
}

impl StoreOp {
    /// An operation from 64 random bits (what a property test or a fuzzer draws): inserts 4
    /// times in 10, refreshes and clock steps 2 each, removals and binding clean-ups 1 each;
    /// 8 bindings, 64 remote ports, lifetimes up to 900 s, clock steps up to 400 s.
    pub fn from_bits(x: u64) -> StoreOp {
        let hi = x >> 8;
        let ttl = 1 + ((x >> 24) % 899) as u16;
        match x % 10 {
            0..=3 => StoreOp::Insert {
                sub: (hi % 8) as u8,
                port: ((x >> 16) % 64) as u16,
                ttl_s: ttl,
                translated: (x >> 40) & 1 == 1,
            },
            4 => StoreOp::Remove(hi as usize),
            5 | 6 => StoreOp::Refresh(hi as usize, ttl),
            7 | 8 => StoreOp::Advance((hi % 400) as u16),
            _ => StoreOp::RemoveIdleBibs,
        }
    }
}

/// Runs `ops` against `st`, an empty store that holds `capacity` sessions; the first
/// disagreement with the model is the error.
pub fn check_store<S: SessionStore<Ipv4Addr, Ipv4Addr>>(
    st: &mut S,
    capacity: usize,
    ops: &[StoreOp],
) -> Result<(), String> {
    macro_rules! ensure {
        ($cond:expr, $($msg:tt)+) => {
            if !$cond {
                return Err(format!($($msg)+));
            }
        };
    }
    let mut model: HashMap<SessionRef, SessionEntry<Ipv4Addr, Ipv4Addr>> = HashMap::new();
    let mut bibs: HashMap<u8, BibRef> = HashMap::new();
    let mut now = Instant::ZERO;
    let pick = |model: &HashMap<SessionRef, _>, i: usize| {
        let mut keys: Vec<SessionRef> = model.keys().copied().collect();
        keys.sort();
        (!keys.is_empty()).then(|| keys[i % keys.len()])
    };
    for (step, &op) in ops.iter().enumerate() {
        match op {
            StoreOp::Insert {
                sub,
                port,
                ttl_s,
                translated,
            } => {
                let b = match bibs.get(&sub) {
                    Some(&b) => b,
                    None => match st.insert_bib(bib(sub)) {
                        Ok(b) => {
                            bibs.insert(sub, b);
                            b
                        }
                        Err(err) => {
                            ensure!(err == StoreError::Full, "step {step}: insert_bib: {err:?}");
                            continue;
                        }
                    },
                };
                let Some(be) = st.bib(b) else {
                    return Err(format!("step {step}: binding {sub} lost"));
                };
                let remote_in = Endpoint::new(Ipv4Addr::new(203, 0, 113, 2), port);
                let (remote_out, tag) = if translated {
                    (
                        Endpoint::new(Ipv4Addr::new(192, 0, 2, (port % 7) as u8), 8080),
                        (u32::from(port) << 16) | 1,
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
                    expires: now + Duration::from_secs(ttl_s.into()),
                };
                let (ik, ok) = (e.inside_key(), e.outside_key());
                if st.find_inside(st.hash_inside(&ik), &ik).is_some()
                    || st.find_outside(st.hash_outside(&ok), &ok).is_some()
                {
                    continue;
                }
                match st.insert_session(e) {
                    Ok(r) => ensure!(model.insert(r, e).is_none(), "step {step}: {r:?} reused"),
                    Err(err) => {
                        ensure!(err == StoreError::Full, "step {step}: insert: {err:?}");
                        ensure!(
                            model.len() == capacity,
                            "step {step}: full at {}",
                            model.len()
                        );
                    }
                }
            }
            StoreOp::Remove(i) => {
                let Some(r) = pick(&model, i) else { continue };
                ensure!(
                    st.remove_session(r) == model.remove(&r),
                    "step {step}: remove"
                );
                ensure!(st.remove_session(r).is_none(), "step {step}: removed twice");
            }
            StoreOp::Refresh(i, ttl) => {
                let Some(r) = pick(&model, i) else { continue };
                let at = now + Duration::from_secs(ttl.into());
                ensure!(st.update(r, 2, at).is_ok(), "step {step}: update");
                if let Some(m) = model.get_mut(&r) {
                    m.expires = at;
                    m.state = 2;
                }
            }
            StoreOp::Advance(s) => {
                now = now + Duration::from_secs(s.into());
                while let Some((r, e)) = st.pop_expired(now) {
                    ensure!(e.expires <= now, "step {step}: {r:?} expired early");
                    ensure!(
                        model.remove(&r) == Some(e),
                        "step {step}: expired {r:?} unknown"
                    );
                }
                for (r, e) in &model {
                    ensure!(
                        e.expires.as_millis() + TICK_MS > now.as_millis(),
                        "step {step}: {r:?} kept past due"
                    );
                }
            }
            StoreOp::RemoveIdleBibs => {
                bibs.retain(|_, &mut b| {
                    let idle = !model.values().any(|e| e.bib == b);
                    !(idle && st.remove_bib(b).is_ok())
                });
            }
        }
        ensure!(
            st.session_count() == model.len(),
            "step {step}: session count"
        );
        ensure!(st.bib_count() == bibs.len(), "step {step}: binding count");
        for (r, e) in &model {
            let (ik, ok) = (e.inside_key(), e.outside_key());
            ensure!(
                st.find_inside(st.hash_inside(&ik), &ik) == Some(*r),
                "step {step}: {r:?} not found from inside"
            );
            ensure!(
                st.find_outside(st.hash_outside(&ok), &ok) == Some(*r),
                "step {step}: {r:?} not found from outside"
            );
            ensure!(
                st.session(*r) == Some(*e),
                "step {step}: {r:?} reads back changed"
            );
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
            let counted = st.bib(b).map(|be| be.sessions as usize);
            ensure!(
                counted == Some(want.len()),
                "step {step}: {b:?} counts {counted:?}"
            );
            ensure!(got == want, "step {step}: {b:?} lists other sessions");
        }
    }
    Ok(())
}

/// Binding `sub`: protocols in turn, one static.
fn bib(sub: u8) -> BibEntry<Ipv4Addr, Ipv4Addr> {
    BibEntry {
        key: BibKey {
            proto: L4Proto::ALL[usize::from(sub % 3)],
            inside: Endpoint::new(Ipv4Addr::new(10, 0, 0, sub), 1000),
            remote: Endpoint::new(Ipv4Addr::UNSPECIFIED, 0),
        },
        outside: Endpoint::new(Ipv4Addr::new(198, 51, 100, 1), u16::from(sub)),
        is_static: sub == 7,
        sessions: 0,
    }
}
