//! The fragment bookkeeping every stateful translator needs ([RFC 4787] REQ-14, [RFC 6146
//! § 3.4]): only the first fragment of a datagram carries the ports, so what it was translated
//! to is remembered under a key of (source, destination, identification, protocol) for a while
//! and the later fragments follow it. A fragment that arrives before its first waits in a
//! bounded buffer and is released once the first is translated; a flood of orphans fills only
//! that buffer and never touches unfragmented traffic (RFC 4787 REQ-14a).
//!
//! [RFC 4787]: https://www.rfc-editor.org/rfc/rfc4787
//! [RFC 6146 § 3.4]: https://www.rfc-editor.org/rfc/rfc6146#section-3.4

use crate::time::Instant;

/// The largest fragment kept while it waits for its first.
pub const WAITING_BYTES: usize = 1500;

#[derive(Clone, Copy, Debug)]
struct Entry<K, M> {
    key: K,
    map: M,
    until: Instant,
}

#[derive(Clone, Copy, Debug)]
struct Waiting<K> {
    key: K,
    until: Instant,
    len: u16,
    bytes: [u8; WAITING_BYTES],
}

/// First-fragment translations `M` remembered under keys `K` (`F` of them), and fragments
/// waiting for their first (`W`). Lookups scan: keep `F` and `W` small (tens). Public so that
/// a runtime can follow a datagram's first fragment the same way (e.g. to the worker thread
/// that translated it).
#[derive(Clone, Debug)]
pub struct FragmentTable<K, M, const F: usize, const W: usize> {
    entries: [Option<Entry<K, M>>; F],
    waiting: [Option<Waiting<K>>; W],
    next_victim: usize,
}

impl<K: Copy + Eq, M: Copy, const F: usize, const W: usize> FragmentTable<K, M, F, W> {
    /// An empty table.
    pub const fn new() -> Self {
        FragmentTable {
            entries: [None; F],
            waiting: [None; W],
            next_victim: 0,
        }
    }

    /// Remembers the translation of a first fragment. A full table loses an entry, chosen
    /// round robin: a stale translation only costs its later fragments.
    pub fn remember(&mut self, key: K, map: M, now: Instant, until: Instant) {
        if F == 0 {
            return;
        }
        let e = Entry { key, map, until };
        if let Some(s) = self.entries.iter_mut().find(|s| match s {
            Some(x) => x.key == key || x.until <= now,
            None => true,
        }) {
            *s = Some(e);
            return;
        }
        self.next_victim = (self.next_victim + 1) % F;
        self.entries[self.next_victim] = Some(e);
    }

    /// The translation of a later fragment.
    pub fn lookup(&self, key: &K, now: Instant) -> Option<M> {
        self.entries
            .iter()
            .flatten()
            .find(|e| e.key == *key && e.until > now)
            .map(|e| e.map)
    }

    /// Keeps a fragment whose first has not come yet; `false` if it does not fit.
    pub fn wait(&mut self, key: K, pkt: &[u8], now: Instant, until: Instant) -> bool {
        let Ok(len) = u16::try_from(pkt.len()) else {
            return false;
        };
        if pkt.len() > WAITING_BYTES {
            return false;
        }
        let Some(slot) = self
            .waiting
            .iter_mut()
            .find(|s| s.is_none_or(|w| w.until <= now))
        else {
            return false;
        };
        let mut bytes = [0; WAITING_BYTES];
        bytes[..pkt.len()].copy_from_slice(pkt);
        *slot = Some(Waiting {
            key,
            until,
            len,
            bytes,
        });
        true
    }

    /// Takes a waiting fragment whose translation is now known, copying it to the start of
    /// `out`; returns its length and the translation. Expired ones are forgotten on the way.
    pub fn take_ready(&mut self, now: Instant, out: &mut [u8]) -> Option<(usize, M)> {
        for i in 0..W {
            let Some(w) = self.waiting[i] else { continue };
            if w.until <= now {
                self.waiting[i] = None;
                continue;
            }
            if let Some(map) = self.lookup(&w.key, now) {
                let len = usize::from(w.len);
                let dst = out.get_mut(..len)?;
                self.waiting[i] = None;
                dst.copy_from_slice(&w.bytes[..len]);
                return Some((len, map));
            }
        }
        None
    }

    /// When the next waiting fragment times out.
    pub fn next_due(&self) -> Option<Instant> {
        self.waiting.iter().flatten().map(|w| w.until).min()
    }

    /// Fragments waiting for their first.
    pub fn waiting_count(&self) -> usize {
        self.waiting.iter().flatten().count()
    }
}

impl<K: Copy + Eq, M: Copy, const F: usize, const W: usize> Default for FragmentTable<K, M, F, W> {
    fn default() -> Self {
        Self::new()
    }
}
