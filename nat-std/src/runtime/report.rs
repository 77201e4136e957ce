//! What the worker tells the operator: a one-line summary of the counters, and on SIGUSR1 a
//! dump of every counter and of the engine's tables.

use super::{Engine, Worker};
use std::fmt::Write as _;
use std::io::Write;

/// The one-line summary: uptime and traffic, the engine's translations and tables, drops by
/// reason (only the reasons seen), I/O errors and the translation log.
pub fn summary<E: Engine>(w: &Worker<'_, E>) -> String {
    let now = w.clock.now();
    let r = &w.counters;
    let mut s = format!(
        "up {}s rx {} tx {} ",
        now.as_millis() / 1000,
        r.rx_packets,
        r.tx_packets
    );
    w.engine.summary(now, &mut s);
    let drops = w.engine.drops();
    let _ = write!(s, " | drops {}", drops.total() + r.not_ours);
    let mut reasons = drops
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
    if let Some((_, m)) = w.mesh_counters() {
        let _ = write!(
            s,
            " | handoff out {} in {} dropped {} orphans dropped {}",
            m.handed_off, m.received, m.dropped, m.orphans_dropped
        );
    }
    let _ = write!(
        s,
        " | io-err rx {} tx {} | log {} dropped {}",
        r.rx_errors,
        r.tx_errors,
        w.log.written(),
        w.log.dropped() + w.engine.events_lost(),
    );
    s
}

/// Writes every counter and up to `limit` table lines of the engine to `out`.
pub fn dump<E: Engine>(w: &Worker<'_, E>, limit: usize, out: &mut impl Write) {
    let now = w.clock.now();
    let r = &w.counters;
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
    w.engine.dump(now, limit, &mut text);
    let _ = writeln!(text, "=== end of dump");
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}
