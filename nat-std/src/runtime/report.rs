//! What the worker tells the operator: a one-line summary of the counters, and on SIGUSR1 a
//! dump of every counter and of the session table.

use super::{Worker, for_each_binding};
use crate::log::proto_name;
use nat_core::flow::L4Proto;
use nat_core::session::SessionStore;
use std::fmt::Write as _;
use std::io::Write;

/// The one-line summary: traffic, translations, table sizes, drops by reason (only the reasons
/// seen), I/O errors and the translation log.
pub fn summary(w: &Worker<'_, '_>) -> String {
    let c = w.nat.counters();
    let st = w.nat.state_counters();
    let r = &w.counters;
    let per = |a: &[u64; 3]| format!("{}/{}/{}", a[0], a[1], a[2]);
    let mut s = format!(
        "up {}s rx {} tx {} out {} in {} hairpin {} icmp-err xlat {} sent {} | sessions t/u/i {} mappings {} | drops {}",
        w.clock.now().as_millis() / 1000,
        r.rx_packets,
        r.tx_packets,
        c.outbound,
        c.inbound,
        c.hairpinned,
        c.icmp_errors_translated,
        c.icmp_errors_sent,
        per(&st.sessions),
        per(&st.mappings),
        c.drops.total() + r.not_ours,
    );
    let mut reasons = c
        .drops
        .iter()
        .filter(|&(_, n)| n > 0)
        .map(|(reason, n)| format!("{} {n}", reason.as_str()))
        .collect::<Vec<_>>();
    if r.not_ours > 0 {
        reasons.push(format!("not_ours {}", r.not_ours));
    }
    if !reasons.is_empty() {
        let _ = write!(s, " ({})", reasons.join(", "));
    }
    let _ = write!(
        s,
        " | io-err rx {} tx {} | log {} dropped {}",
        r.rx_errors,
        r.tx_errors,
        w.log.written(),
        w.log.dropped() + w.nat.events_lost(),
    );
    s
}

/// Writes every counter and up to `limit` bindings with their sessions to `out`.
pub fn dump(w: &Worker<'_, '_>, limit: usize, out: &mut impl Write) {
    let now = w.clock.now();
    let c = w.nat.counters();
    let st = w.nat.state_counters();
    let r = &w.counters;
    let store = w.nat.store();
    let mut text = String::new();
    let _ = writeln!(
        text,
        "=== dump at {}s: {}",
        now.as_millis() / 1000,
        summary(w)
    );
    let _ = writeln!(
        text,
        "runtime: rx {} pkts {} bytes, tx {} pkts {} bytes, replies {}, rx errors {}, tx errors {}, not ours {}",
        r.rx_packets,
        r.rx_bytes,
        r.tx_packets,
        r.tx_bytes,
        r.replies,
        r.rx_errors,
        r.tx_errors,
        r.not_ours
    );
    let _ = writeln!(
        text,
        "engine: icmp errors suppressed {}, passed through {}, held SYNs {}, waiting fragments {}, events lost {}",
        c.icmp_errors_suppressed,
        c.passed_through,
        w.nat.held_syns(),
        w.nat.waiting_fragments(),
        w.nat.events_lost()
    );
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
    for (reason, n) in c.drops.iter() {
        let _ = writeln!(text, "  drop {}: {n}", reason.as_str());
    }
    if let Ok(a) = w.nat.allocator().0.try_borrow() {
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
    let _ = writeln!(
        text,
        "table: {} bindings, {} sessions (first {limit} lines):",
        store.bib_count(),
        store.session_count()
    );
    let mut lines = 0usize;
    for_each_binding(store, w.capacity, |b, entry| {
        if lines >= limit {
            return false;
        }
        lines += 1;
        let _ = writeln!(
            text,
            "  {} {}:{} <-> {}:{}{} ({} sessions)",
            proto_name(entry.key.proto),
            entry.key.inside.addr,
            entry.key.inside.port,
            entry.outside.addr,
            entry.outside.port,
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
                "      to {}:{} state {} expires in {}s",
                s.remote_out.addr,
                s.remote_out.port,
                s.state,
                s.expires.saturating_since(now).as_secs()
            );
            true
        });
        true
    });
    let _ = writeln!(text, "=== end of dump");
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}
