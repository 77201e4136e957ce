//! IPv4 fragments follow their first fragment's translation ([RFC 4787] REQ-14): a later
//! fragment has no ports, so the translation of the first is remembered by (source,
//! destination, identification, protocol) for a while. Fragments that arrive before their first
//! wait in a bounded buffer and are released once it is translated; a flood of orphans fills
//! only that buffer and never touches unfragmented traffic (REQ-14a).
//!
//! [RFC 4787]: https://www.rfc-editor.org/rfc/rfc4787

use crate::time::Instant;
use core::net::Ipv4Addr;

/// What identifies the fragments of one datagram ([RFC 791]).
///
/// [RFC 791]: https://www.rfc-editor.org/rfc/rfc791
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FragmentKey {
    /// Source address as the fragment arrives.
    pub src: Ipv4Addr,
    /// Destination address as the fragment arrives.
    pub dst: Ipv4Addr,
    /// Identification field.
    pub id: u16,
    /// Protocol field.
    pub protocol: u8,
}

#[derive(Clone, Copy, Debug)]
struct Translation {
    key: FragmentKey,
    to: Translated,
    until: Instant,
}

/// What the fragments of one datagram become: the first fragment's new addresses, and its new
/// Identification when the engine rewrote it (RFC 7857 § 10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Translated {
    pub(crate) src: Ipv4Addr,
    pub(crate) dst: Ipv4Addr,
    pub(crate) id: Option<u16>,
}

/// The largest fragment kept while it waits for its first.
pub const WAITING_BYTES: usize = 1500;

#[derive(Clone, Copy, Debug)]
struct Waiting {
    key: FragmentKey,
    until: Instant,
    len: u16,
    bytes: [u8; WAITING_BYTES],
}

/// Remembered translations (`T` of them) and fragments waiting for their first (`W`).
#[derive(Clone, Debug)]
pub(crate) struct Fragments<const T: usize, const W: usize> {
    translations: [Option<Translation>; T],
    waiting: [Option<Waiting>; W],
    next_victim: usize,
}

impl<const T: usize, const W: usize> Fragments<T, W> {
    pub(crate) const fn new() -> Self {
        Fragments {
            translations: [None; T],
            waiting: [None; W],
            next_victim: 0,
        }
    }

    /// Remembers the translation of a first fragment. When the table is full the oldest-looking
    /// entry (round robin over slots) is replaced: a stale translation only costs its later
    /// fragments.
    pub(crate) fn remember(
        &mut self,
        key: FragmentKey,
        to: Translated,
        now: Instant,
        until: Instant,
    ) {
        if T == 0 {
            return;
        }
        let t = Translation { key, to, until };
        if let Some(s) = self.translations.iter_mut().find(|s| match s {
            Some(x) => x.key == key || x.until <= now,
            None => true,
        }) {
            *s = Some(t);
            return;
        }
        self.next_victim = (self.next_victim + 1) % T;
        self.translations[self.next_victim] = Some(t);
    }

    /// The translation of a later fragment.
    pub(crate) fn lookup(&self, key: &FragmentKey, now: Instant) -> Option<Translated> {
        self.translations
            .iter()
            .flatten()
            .find(|t| t.key == *key && t.until > now)
            .map(|t| t.to)
    }

    /// Keeps a fragment whose first has not come yet; `false` if it does not fit.
    pub(crate) fn wait(
        &mut self,
        key: FragmentKey,
        pkt: &[u8],
        until: Instant,
        now: Instant,
    ) -> bool {
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
            len: pkt.len() as u16,
            bytes,
        });
        true
    }

    /// Takes a waiting fragment whose translation is now known, copying it to `out`; returns
    /// its length and the translation.
    pub(crate) fn take_ready(
        &mut self,
        now: Instant,
        out: &mut [u8],
    ) -> Option<(usize, Translated)> {
        for i in 0..W {
            let Some(w) = self.waiting[i] else { continue };
            if w.until <= now {
                self.waiting[i] = None;
                continue;
            }
            if let Some(to) = self.lookup(&w.key, now) {
                let len = usize::from(w.len);
                if out.len() < len {
                    return None;
                }
                self.waiting[i] = None;
                out[..len].copy_from_slice(&w.bytes[..len]);
                return Some((len, to));
            }
        }
        None
    }

    pub(crate) fn waiting_count(&self) -> usize {
        self.waiting.iter().flatten().count()
    }
}
