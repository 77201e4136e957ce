//! What the worker loop needs of a translator: [`Engine`], and its NAT44 implementation.
//!
//! The worker is generic over the engine (static dispatch: one loop, monomorphised per
//! translator, no `dyn` call per packet). An engine says which side a packet comes from,
//! translates it in the worker's buffer, keeps its own timers, hands its events to the
//! translation log and writes its part of the operator's reports.

use super::shard::{Nat44Shards, Route};
use super::{SharedAllocator, Translator, for_each_binding};
use crate::log::{LogRecord, TranslationLog, proto_name};
use nat_core::flow::L4Proto;
use nat_core::session::SessionStore;
use nat_core::siit::XlatConfig;
use nat_core::time::Instant;
use nat_core::verdict::{Direction, DropCounters, DropReason, Verdict};
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::sync::Arc;

/// A translator the worker loop can drive ([`super::run`]).
pub trait Engine {
    /// The engine keeps no per-flow state: with several workers, each translates what it
    /// reads and none hands packets to another.
    const STATELESS: bool = false;

    /// The side `pkt` comes from: [`Direction::Outbound`] from the inside realm,
    /// [`Direction::Inbound`] from the outside; `None` if it is not for this translator (the
    /// worker counts it as `not_ours`). Packets too short or of the wrong version should go to
    /// [`process`](Self::process), which counts them under their drop reason.
    fn direction(&self, pkt: &[u8]) -> Option<Direction>;

    /// Translates the packet at `buf[start..start + len]` in place; `start` leaves
    /// [`super::HEADROOM`] bytes in front for headers that grow.
    fn process(
        &mut self,
        now: Instant,
        dir: Direction,
        buf: &mut [u8],
        start: usize,
        len: usize,
    ) -> Verdict;

    /// Sends a packet [`process`](Self::process) forwarded, through `send`: as is, or split
    /// for the next hop by engines that fragment ([RFC 7915 § 4.1], § 5.1.1).
    ///
    /// [RFC 7915 § 4.1]: https://www.rfc-editor.org/rfc/rfc7915#section-4.1
    #[inline]
    fn forward<F: FnMut(&[u8])>(&mut self, pkt: &[u8], mut send: F) {
        send(pkt);
    }

    /// A packet the engine sends on its own (answers to held SYNs, released fragments), written
    /// at `buf[start..]`; `None` when there is nothing (the default).
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8], start: usize) -> Option<Verdict> {
        let _ = (now, buf, start);
        None
    }

    /// For a translator sharded over several workers: which worker owns `pkt` from `dir`
    /// ([`super::shard`]). The default: whoever read it (a stateless translator, or one
    /// worker).
    #[inline]
    fn route(&self, dir: Direction, pkt: &[u8]) -> Route {
        let _ = (dir, pkt);
        Route::ANY
    }

    /// For a sharded translator: whether a packet this engine sent goes to an outside
    /// endpoint of the translator itself, so that the owner of that endpoint must finish it
    /// with [`hairpin`](Self::hairpin).
    #[inline]
    fn needs_hairpin(&self, pkt: &[u8]) -> bool {
        let _ = pkt;
        false
    }

    /// The second half of a hairpin between shards (see
    /// [`Nat44::hairpin`](nat_core::nat44::Nat44::hairpin)).
    fn hairpin(&mut self, now: Instant, buf: &mut [u8], start: usize, len: usize) -> Verdict {
        let _ = (now, buf, start, len);
        Verdict::Drop(DropReason::Policy)
    }

    /// When [`handle_timeout`](Self::handle_timeout) next has work.
    fn poll_timeout(&self) -> Option<Instant>;

    /// Runs at most `max` due timers (session expiry); returns how many ran.
    fn handle_timeout(&mut self, now: Instant, max: usize) -> usize;

    /// Work besides the engine's own timers, at least once a second: allocator hold-downs,
    /// probe results.
    fn housekeeping(&mut self, now: Instant) {
        let _ = now;
    }

    /// Moves queued events (sessions, bindings, allocator and health events) to `log`.
    fn drain_events(&mut self, log: &mut TranslationLog);

    /// The engine's drops by reason.
    fn drops(&self) -> &DropCounters;

    /// Events the engine lost to a full queue.
    fn events_lost(&self) -> u64 {
        0
    }

    /// Appends the engine's part of the one-line summary (translations, tables).
    fn summary(&self, now: Instant, out: &mut String);

    /// Appends the engine's part of a SIGUSR1 dump: every counter and up to `limit` table lines.
    fn dump(&self, now: Instant, limit: usize, out: &mut String);
}

/// The MTU to split a forwarded `pkt` for, under the header translation settings `x`, if it
/// must be split ([RFC 7915 § 4.1], § 5.1.1): the rule of
/// [`Siit::fragment_mtu`](nat_core::siit::Siit::fragment_mtu), for the stateful NAT64 too.
///
/// [RFC 7915 § 4.1]: https://www.rfc-editor.org/rfc/rfc7915#section-4.1
#[inline]
pub fn fragment_mtu(x: &XlatConfig, pkt: &[u8]) -> Option<u16> {
    match pkt.first().map(|b| b >> 4) {
        Some(6) => {
            let mtu = x.ipv6_fragment_size();
            (pkt.len() > usize::from(mtu) && pkt.get(6) == Some(&44)).then_some(mtu)
        }
        Some(4) => {
            let df = pkt.get(6).is_some_and(|b| b & 0x40 != 0);
            (pkt.len() > usize::from(x.ipv4_mtu) && !df).then_some(x.ipv4_mtu)
        }
        _ => None,
    }
}

/// Sends `pkt` whole, or split into fragments of at most `mtu` bytes written one at a time
/// into `scratch`. A packet that cannot be split is dropped and counted in `drops`.
pub(super) fn send_split<F: FnMut(&[u8])>(
    pkt: &[u8],
    mtu: Option<u16>,
    scratch: &mut [u8],
    drops: &mut DropCounters,
    mut send: F,
) {
    let Some(mtu) = mtu else {
        send(pkt);
        return;
    };
    match nat_core::siit::Fragments::new(pkt, mtu) {
        Ok(mut f) => {
            if let Err(r) = f.for_each(scratch, |frag| send(frag)) {
                drops.bump(r);
            }
        }
        Err(r) => drops.bump(r),
    }
}

/// The CGN NAT44 ([`nat_core::nat44::Nat44`]) as the worker drives it.
pub struct Nat44Engine<'a> {
    /// The translator.
    pub nat: Translator<'a>,
    /// Session table capacity (bounds the dump's scan).
    pub capacity: usize,
    /// The ownership rule when the translator is sharded over several workers.
    pub shards: Option<Arc<Nat44Shards>>,
}

impl Engine for Nat44Engine<'_> {
    /// From a `nat.inside` prefix is outbound, to a `nat.pool` prefix is inbound, anything else
    /// is not ours. What is too short or not IPv4 goes to the engine, which counts it.
    #[inline]
    fn direction(&self, pkt: &[u8]) -> Option<Direction> {
        let (Some(s), Some(d)) = (pkt.get(12..16), pkt.get(16..20)) else {
            return Some(Direction::Outbound);
        };
        if pkt[0] >> 4 != 4 {
            return Some(Direction::Outbound);
        }
        let src = Ipv4Addr::new(s[0], s[1], s[2], s[3]);
        let dst = Ipv4Addr::new(d[0], d[1], d[2], d[3]);
        let c = self.nat.config();
        if c.inside_prefixes.iter().any(|p| p.contains(src)) {
            Some(Direction::Outbound)
        } else if c.outside_prefixes.iter().any(|p| p.contains(dst)) {
            Some(Direction::Inbound)
        } else {
            None
        }
    }

    #[inline]
    fn process(
        &mut self,
        now: Instant,
        dir: Direction,
        buf: &mut [u8],
        start: usize,
        len: usize,
    ) -> Verdict {
        self.nat.process(now, dir, buf, start, len)
    }

    #[inline]
    fn route(&self, dir: Direction, pkt: &[u8]) -> Route {
        match &self.shards {
            Some(s) => s.route(dir, pkt),
            None => Route::ANY,
        }
    }

    #[inline]
    fn needs_hairpin(&self, pkt: &[u8]) -> bool {
        let (Some(s), Some(d)) = (&self.shards, pkt.get(16..20)) else {
            return false;
        };
        s.is_pool(Ipv4Addr::new(d[0], d[1], d[2], d[3]))
    }

    fn hairpin(&mut self, now: Instant, buf: &mut [u8], start: usize, len: usize) -> Verdict {
        self.nat.hairpin(now, buf, start, len)
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8], start: usize) -> Option<Verdict> {
        self.nat.poll_transmit(now, buf, start)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.nat.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Instant, max: usize) -> usize {
        self.nat.handle_timeout(now, max)
    }

    /// Lets the allocator expire hold-downs and idle blocks.
    fn housekeeping(&mut self, now: Instant) {
        let SharedAllocator(a) = self.nat.allocator();
        if let Ok(mut a) = a.try_borrow_mut() {
            a.poll(now);
        }
    }

    #[inline]
    fn drain_events(&mut self, log: &mut TranslationLog) {
        while let Some(e) = self.nat.poll_event() {
            log.record(LogRecord::Engine(e));
        }
        if let Ok(mut a) = self.nat.allocator().0.try_borrow_mut() {
            a.drain_events(|e| log.record(LogRecord::Alloc(e)));
        }
    }

    fn drops(&self) -> &DropCounters {
        &self.nat.counters().drops
    }

    fn events_lost(&self) -> u64 {
        self.nat.events_lost()
    }

    fn summary(&self, _now: Instant, s: &mut String) {
        let c = self.nat.counters();
        let st = self.nat.state_counters();
        let _ = write!(
            s,
            "out {} in {} hairpin {} icmp-err xlat {} sent {} | sessions t/u/i {} mappings {}",
            c.outbound,
            c.inbound,
            c.hairpinned,
            c.icmp_errors_translated,
            c.icmp_errors_sent,
            per_proto(&st.sessions),
            per_proto(&st.mappings),
        );
    }

    fn dump(&self, now: Instant, limit: usize, text: &mut String) {
        let c = self.nat.counters();
        let st = self.nat.state_counters();
        let store = self.nat.store();
        let _ = writeln!(
            text,
            "engine: icmp errors suppressed {}, passed through {}, held SYNs {}, waiting fragments {}, events lost {}",
            c.icmp_errors_suppressed,
            c.passed_through,
            self.nat.held_syns(),
            self.nat.waiting_fragments(),
            self.nat.events_lost()
        );
        write_state(text, st, &c.drops);
        if let Ok(a) = self.nat.allocator().0.try_borrow() {
            let st = a.stats();
            let _ = writeln!(
                text,
                "allocator ({}): allocated {}, released {}, quota rejections {}, pool rejections {}, session rejections {}",
                a.name(),
                st.allocated,
                st.released,
                st.quota_rejections,
                st.pool_rejections,
                st.session_rejections
            );
        }
        write_table(text, store, self.capacity, now, limit);
    }
}

/// `t/u/i` counts.
pub(super) fn per_proto(a: &[u64; 3]) -> String {
    format!("{}/{}/{}", a[0], a[1], a[2])
}

/// Per-protocol table sizes and every drop reason, for a dump.
pub(super) fn write_state(
    text: &mut String,
    st: &nat_core::stateful::StateCounters,
    drops: &DropCounters,
) {
    for p in L4Proto::ALL {
        let i = p.index();
        let _ = writeln!(
            text,
            "  {}: sessions {} (created {}), mappings {}",
            proto_name(p),
            st.sessions[i],
            st.sessions_created[i],
            st.mappings[i]
        );
    }
    write_drops(text, drops);
}

/// Every drop reason with its count, for a dump.
pub(super) fn write_drops(text: &mut String, drops: &DropCounters) {
    for (reason, n) in drops.iter() {
        let _ = writeln!(text, "  drop {}: {n}", reason.as_str());
    }
}

/// Up to `limit` lines of bindings and their sessions, for a dump.
/// Counters per subscriber (inside address), computed on demand from the table: bindings and
/// sessions per protocol, the busiest `limit` subscribers first.
fn write_subscribers<I, O, S>(text: &mut String, store: &S, capacity: usize, limit: usize)
where
    I: nat_core::flow::IpAddress + Into<std::net::IpAddr>,
    O: nat_core::flow::IpAddress,
    S: SessionStore<I, O>,
{
    // [bindings tcp, udp, icmp, sessions tcp, udp, icmp] per inside address.
    let mut per: std::collections::HashMap<I, [u64; 6]> = std::collections::HashMap::new();
    for_each_binding(store, capacity, |_, entry| {
        let c = per.entry(entry.key.inside.addr).or_default();
        let p = entry.key.proto.index();
        c[p] += 1;
        c[3 + p] += u64::from(entry.sessions);
        true
    });
    let mut rows: Vec<_> = per.into_iter().collect();
    rows.sort_by_key(|(a, c)| (std::cmp::Reverse(c[3] + c[4] + c[5]), *a));
    let _ = writeln!(
        text,
        "subscribers: {} (busiest {} shown; bindings and sessions tcp/udp/icmp)",
        rows.len(),
        limit.min(rows.len())
    );
    for (a, c) in rows.into_iter().take(limit) {
        let addr: std::net::IpAddr = a.into();
        let _ = writeln!(
            text,
            "  {addr}: bindings {}/{}/{}, sessions {}/{}/{}",
            c[0], c[1], c[2], c[3], c[4], c[5]
        );
    }
}

pub(super) fn write_table<I, O, S>(
    text: &mut String,
    store: &S,
    capacity: usize,
    now: Instant,
    limit: usize,
) where
    I: nat_core::flow::IpAddress + Into<std::net::IpAddr>,
    O: nat_core::flow::IpAddress + Into<std::net::IpAddr>,
    S: SessionStore<I, O>,
{
    let ep = |a: I, p: u16| std::net::SocketAddr::new(a.into(), p);
    let epo = |a: O, p: u16| std::net::SocketAddr::new(a.into(), p);
    write_subscribers(text, store, capacity, limit);
    let _ = writeln!(
        text,
        "table: {} bindings, {} sessions (first {limit} lines):",
        store.bib_count(),
        store.session_count()
    );
    let mut lines = 0usize;
    for_each_binding(store, capacity, |b, entry| {
        if lines >= limit {
            return false;
        }
        lines += 1;
        let _ = writeln!(
            text,
            "  {} {} <-> {}{} ({} sessions)",
            proto_name(entry.key.proto),
            ep(entry.key.inside.addr, entry.key.inside.port),
            epo(entry.outside.addr, entry.outside.port),
            if entry.is_static { " static" } else { "" },
            entry.sessions
        );
        store.bib_sessions(b, |_, s| {
            if lines >= limit {
                return false;
            }
            lines += 1;
            let _ = writeln!(
                text,
                "      to {} state {} expires in {}s",
                epo(s.remote_out.addr, s.remote_out.port),
                s.state,
                s.expires.saturating_since(now).as_secs()
            );
            true
        });
        true
    });
}
