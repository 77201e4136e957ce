//! Fragments ([RFC 6146 § 3.4]): only the first fragment of a datagram carries the ports, so
//! the addresses it was translated to are remembered under (source, destination,
//! identification, protocol) for a while ([`Nat64Config::fragment_timeout`], at least
//! FRAGMENT_MIN by default) and the later fragments follow them. A fragment that arrives
//! before its first waits in a bounded buffer and is released once the first is translated;
//! a flood of orphans fills only that buffer ([RFC 6146 § 3.4]: "MUST limit the amount of
//! resources").
//!
//! [RFC 6146 § 3.4]: https://www.rfc-editor.org/rfc/rfc6146#section-3.4
//! [`Nat64Config::fragment_timeout`]: super::Nat64Config::fragment_timeout

use crate::time::Instant;
use core::net::{Ipv4Addr, Ipv6Addr};

/// What identifies the fragments of one datagram as they arrive ([RFC 8200 § 4.5],
/// [RFC 791]).
///
/// [RFC 8200 § 4.5]: https://www.rfc-editor.org/rfc/rfc8200#section-4.5
/// [RFC 791]: https://www.rfc-editor.org/rfc/rfc791
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FragKey {
    /// An IPv6 datagram from the IPv6 side.
    V6 {
        src: Ipv6Addr,
        dst: Ipv6Addr,
        id: u32,
        proto: u8,
    },
    /// An IPv4 datagram from the IPv4 side.
    V4 {
        src: Ipv4Addr,
        dst: Ipv4Addr,
        id: u16,
        proto: u8,
    },
}

/// The addresses the first fragment was translated to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FragMap {
    /// To IPv4, and back to IPv6 when the datagram was hairpinned.
    To4 {
        src: Ipv4Addr,
        dst: Ipv4Addr,
        back: Option<(Ipv6Addr, Ipv6Addr)>,
    },
    /// To IPv6.
    To6 { src: Ipv6Addr, dst: Ipv6Addr },
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    key: FragKey,
    map: FragMap,
    until: Instant,
}

/// The largest fragment kept while it waits for its first.
pub const WAITING_BYTES: usize = 1500;

#[derive(Clone, Copy, Debug)]
struct Waiting {
    key: FragKey,
    until: Instant,
    len: u16,
    bytes: [u8; WAITING_BYTES],
}

/// Remembered first-fragment translations (`F` of them) and fragments waiting for their
/// first (`W`).
#[derive(Clone, Debug)]
pub(crate) struct FragmentTable<const F: usize, const W: usize> {
    entries: [Option<Entry>; F],
    waiting: [Option<Waiting>; W],
    next_victim: usize,
}

impl<const F: usize, const W: usize> FragmentTable<F, W> {
    pub(crate) const fn new() -> Self {
        FragmentTable {
            entries: [None; F],
            waiting: [None; W],
            next_victim: 0,
        }
    }

    /// Remembers the translation of a first fragment. A full table loses an entry, chosen
    /// round robin: a stale translation only costs its later fragments.
    pub(crate) fn remember(&mut self, key: FragKey, map: FragMap, now: Instant, until: Instant) {
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
    pub(crate) fn lookup(&self, key: &FragKey, now: Instant) -> Option<FragMap> {
        self.entries
            .iter()
            .flatten()
            .find(|e| e.key == *key && e.until > now)
            .map(|e| e.map)
    }

    /// Keeps a fragment whose first has not come yet; `false` if it does not fit.
    pub(crate) fn wait(&mut self, key: FragKey, pkt: &[u8], now: Instant, until: Instant) -> bool {
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
    /// `out`; returns its length. Expired ones are forgotten on the way.
    pub(crate) fn take_ready(&mut self, now: Instant, out: &mut [u8]) -> Option<usize> {
        for i in 0..W {
            let Some(w) = self.waiting[i] else { continue };
            if w.until <= now {
                self.waiting[i] = None;
                continue;
            }
            if self.lookup(&w.key, now).is_some() {
                let len = usize::from(w.len);
                let dst = out.get_mut(..len)?;
                self.waiting[i] = None;
                dst.copy_from_slice(&w.bytes[..len]);
                return Some(len);
            }
        }
        None
    }

    /// When the next waiting fragment times out.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.waiting.iter().flatten().map(|w| w.until).min()
    }

    /// Fragments waiting for their first.
    pub(crate) fn waiting_count(&self) -> usize {
        self.waiting.iter().flatten().count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(id: u16) -> FragKey {
        FragKey::V4 {
            src: Ipv4Addr::new(192, 0, 2, 5),
            dst: Ipv4Addr::new(192, 0, 2, 2),
            id,
            proto: 17,
        }
    }

    const MAP: FragMap = FragMap::To6 {
        src: Ipv6Addr::LOCALHOST,
        dst: Ipv6Addr::UNSPECIFIED,
    };

    #[test]
    fn waiting_fragment_released_by_its_first_then_expires() {
        let mut t = FragmentTable::<2, 1>::new();
        let now = Instant::from_secs(1);
        let until = Instant::from_secs(3);
        assert!(t.wait(k(1), &[7; 30], now, until));
        assert!(!t.wait(k(2), &[7; 30], now, until), "bounded");
        assert!(!t.wait(k(2), &[0; WAITING_BYTES + 1], now, until));
        let mut out = [0u8; 64];
        assert_eq!(t.take_ready(now, &mut out), None);
        t.remember(k(1), MAP, now, until);
        assert_eq!(t.lookup(&k(1), now), Some(MAP));
        assert_eq!(t.take_ready(now, &mut out), Some(30));
        assert_eq!(t.waiting_count(), 0);
        assert_eq!(t.lookup(&k(1), until), None);
        // A full table replaces an entry.
        t.remember(k(2), MAP, now, until);
        t.remember(k(3), MAP, now, until);
        assert_eq!(t.lookup(&k(3), now), Some(MAP));
    }
}
