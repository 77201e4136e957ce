//! Port choice: preservation, range and parity preservation, and RFC 6056 randomisation.
//!
//! The chooser works on *positions* of a [`FreeSet`]: the ports of an address for the per-port
//! pool, the slots of a port block, or the slots of a deterministic range. It first tries the
//! preferred position (port preservation) if the policy says so; otherwise it computes a start
//! as [RFC 6056 § 3.3.3] (algorithm 3, simple hash-based) or [§ 3.3.4] (algorithm 4,
//! double-hash) do, and takes the first free position of the right parity from there, which is
//! what their `check_suitable_port()` loops do, in one bitmap scan instead of a probe per port.
//!
//! [RFC 6056 § 3.3.3]: https://www.rfc-editor.org/rfc/rfc6056#section-3.3.3
//! [§ 3.3.4]: https://www.rfc-editor.org/rfc/rfc6056#section-3.3.4

use crate::bitmap::{FreeSet, Parity};
use crate::hash::{SecretKey, Sip13};

/// How a port is picked when the preferred one is not taken ([RFC 6056 § 3.3]).
///
/// [RFC 6056 § 3.3]: https://www.rfc-editor.org/rfc/rfc6056#section-3.3
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Selection {
    /// The next free port after the inside port: transparent, and easy to guess.
    Sequential,
    /// RFC 6056 § 3.3.3 algorithm 3: keyed hash offset plus one global counter.
    Rfc6056Alg3,
    /// RFC 6056 § 3.3.4 algorithm 4: keyed hash offset plus one of 64 counters chosen by a
    /// second keyed hash (the other half of the same SipHash output), so that one flow's
    /// ports say little about another's.
    Rfc6056Alg4,
}

/// The port choice policy ([RFC 4787 § 4.2] REQ-3a and REQ-4, [RFC 6888] REQ-15).
///
/// [RFC 4787 § 4.2]: https://www.rfc-editor.org/rfc/rfc4787#section-4.2
/// [RFC 6888]: https://www.rfc-editor.org/rfc/rfc6888#section-5
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PortPolicy {
    /// Give the inside port itself when it is free (port preservation, RFC 4787 § 4.2.1).
    pub preserve: bool,
    /// Keep inside ports 0-1023 in 0-1023 and 1024-65535 in 1024-65535 (RFC 4787 REQ-3a), when
    /// the pool has ports in the wanted range. Only the per-port pool can do this; blocks and
    /// deterministic ranges hold ports of one range.
    pub range: bool,
    /// Keep the parity of the inside port (RFC 4787 REQ-4).
    pub parity: bool,
    /// How to pick when the inside port is not given.
    pub selection: Selection,
}

impl PortPolicy {
    /// Ports hard to guess ([RFC 6888] REQ-15, RFC 6056 algorithm 4), with range and parity
    /// kept: the default for a CGN.
    ///
    /// [RFC 6888]: https://www.rfc-editor.org/rfc/rfc6888#section-5
    pub const HARD_TO_GUESS: PortPolicy = PortPolicy {
        preserve: false,
        range: true,
        parity: true,
        selection: Selection::Rfc6056Alg4,
    };

    /// The inside port when free, else the next free port of the same range and parity
    /// (RFC 4787 § 4.2.1 port preservation): most transparent, least private.
    pub const TRANSPARENT: PortPolicy = PortPolicy {
        preserve: true,
        range: true,
        parity: true,
        selection: Selection::Sequential,
    };
}

impl Default for PortPolicy {
    /// [`PortPolicy::HARD_TO_GUESS`].
    fn default() -> Self {
        PortPolicy::HARD_TO_GUESS
    }
}

/// The outside ports an allocator may hand out, `first..=last` (port 0 never).
///
/// The default, 1024-65535, leaves the well-known ports alone; include 1-1023 to let
/// [`PortPolicy::range`] keep well-known inside ports in that range ([RFC 4787] REQ-3a).
///
/// [RFC 4787]: https://www.rfc-editor.org/rfc/rfc4787#section-4.2.1
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PortRange {
    /// First port, at least 1.
    pub first: u16,
    /// Last port.
    pub last: u16,
}

impl PortRange {
    /// Ports 1024-65535 (RFC 6056 § 2.1 suggests 1024-65535 for ephemeral ports).
    pub const DYNAMIC: PortRange = PortRange {
        first: 1024,
        last: 65535,
    };

    /// Number of ports.
    pub const fn len(&self) -> u32 {
        (self.last as u32 + 1).saturating_sub(self.first as u32)
    }

    /// Whether the range is empty.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `port` is in the range.
    pub const fn contains(&self, port: u16) -> bool {
        port >= self.first && port <= self.last
    }

    pub(crate) fn validate(&self, field: &'static str) -> Result<(), crate::ConfigError> {
        if self.first == 0 || self.first > self.last {
            return Err(crate::ConfigError::OutOfRange { field });
        }
        Ok(())
    }
}

impl Default for PortRange {
    /// [`PortRange::DYNAMIC`].
    fn default() -> Self {
        PortRange::DYNAMIC
    }
}

/// Length of the RFC 6056 algorithm 4 table of counters (`TABLE_LENGTH`).
const TABLE_LEN: usize = 64;

/// What the hash of RFC 6056 `F(local_IP, remote_IP, remote_port, secret_key)` covers: the
/// subscriber and protocol, the remote endpoint, and the inside port.
///
/// The subscriber stands for `local_IP`: it determines its outside address (paired pooling,
/// RFC 4787 REQ-2; deterministic NAT computes it), and two subscribers behind one address start
/// apart. It enters as a 64-bit keyed hash of its own, computed once per request before its
/// record is read, so the SipHash need not wait for the record. The input is one word, so that
/// the keyed SipHash-1-3 runs two compression rounds: the remote address, remote port and
/// inside port fill it and the subscriber's hash (with the protocol) is folded in. For one
/// subscriber distinct flows give distinct words; across subscribers a coincidence takes two
/// keyed hashes 64 bits apart, and costs only a shared starting point.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FlowId {
    pub(crate) words: [u64; 1],
}

impl FlowId {
    /// Packs the identifiers of a request into hash input words; `sub` is a keyed hash of the
    /// subscriber.
    #[inline]
    pub(crate) fn new(
        sub: u64,
        inside_port: u16,
        remote: u32,
        remote_port: u16,
        proto: u8,
    ) -> FlowId {
        let flow =
            (u64::from(remote) << 32) | (u64::from(remote_port) << 16) | u64::from(inside_port);
        // The protocol moves the subscriber's word by a constant per protocol.
        let sub = sub ^ u64::from(proto & 3).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        FlowId {
            words: [sub ^ flow],
        }
    }
}

/// Where to look, in positions of a [`FreeSet`]: `lo..=hi`, of one class, `preferred` first.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window {
    pub(crate) lo: u32,
    pub(crate) hi: u32,
    pub(crate) parity: Parity,
    /// The position of the inside port, if it lies in the window.
    pub(crate) preferred: Option<u32>,
}

impl Window {
    /// `p` if it is of the window's class, else the next position, wrapping to `lo` (which
    /// the search then clamps and filters by class).
    #[inline]
    fn class_start(&self, p: u32) -> u32 {
        if self.parity.admits(p) {
            p
        } else if p < self.hi {
            p + 1
        } else {
            self.lo
        }
    }
}

/// The port chooser of one allocator: its policy, keys and RFC 6056 counters.
///
/// RFC 6056 computes `min + (counter + F) % num`. Here the sum is a 32-bit fraction of the
/// window, scaled by one multiply, and a counter step of one port is `⌈2^32 / num⌉`: the same
/// walk round the window without a division per call (windows have a handful of sizes, so
/// the step is cached).
#[derive(Clone, Debug)]
pub(crate) struct PortChooser {
    policy: PortPolicy,
    /// The keyed hash `F` (and `G`, its other half).
    f: Sip13,
    next_ephemeral: u32,
    table: [u32; TABLE_LEN],
    /// The last window size and its counter step.
    step: (u32, u32),
}

impl PortChooser {
    pub(crate) fn new(policy: PortPolicy, key: &SecretKey) -> Self {
        PortChooser {
            policy,
            f: Sip13::new(&key.derive(0x6056_0001)),
            next_ephemeral: 0,
            table: [0; TABLE_LEN],
            step: (0, 0),
        }
    }

    /// The counter step of one position in a window of `span` positions.
    fn step_for(&mut self, span: u32) -> u32 {
        if self.step.0 != span {
            let step = (1u64 << 32).div_ceil(u64::from(span.max(1)));
            self.step = (span, u32::try_from(step).unwrap_or(u32::MAX));
        }
        self.step.1
    }

    pub(crate) fn policy(&self) -> &PortPolicy {
        &self.policy
    }

    /// The parity class a request for `inside_port` must get (RFC 4787 REQ-4).
    pub(crate) fn parity_for(&self, inside_port: u16) -> Parity {
        if self.policy.parity {
            Parity::of(u32::from(inside_port))
        } else {
            Parity::Any
        }
    }

    /// Picks a free position of `set` in `win`, or `None` when the window has none. Counters
    /// move only when a position is returned, so a refused request leaves no trace.
    #[inline]
    pub(crate) fn choose<S: FreeSet + ?Sized>(
        &mut self,
        set: &S,
        win: Window,
        flow: &FlowId,
    ) -> Option<u32> {
        if win.lo > win.hi {
            return None;
        }
        if self.policy.preserve
            && let Some(p) = win.preferred
            && (win.lo..=win.hi).contains(&p)
            && win.parity.admits(p)
            && set.is_free(p)
        {
            return Some(p);
        }
        let span = win.hi - win.lo + 1;
        // The start of the search, and for RFC 6056 the counter it used: `None` for
        // algorithm 3's single counter, `Some(i)` for algorithm 4's counter `i`.
        let (start, counter) = match self.policy.selection {
            Selection::Sequential => {
                let start = win.class_start(win.preferred.unwrap_or(win.lo));
                return set.find_wrapping(start, win.lo, win.hi, win.parity);
            }
            Selection::Rfc6056Alg3 => {
                let offset = self.f.words(&flow.words) as u32;
                (self.next_ephemeral.wrapping_add(offset), None)
            }
            Selection::Rfc6056Alg4 => {
                // F and G: the two halves of one 64-bit keyed hash, as good as two keyed
                // hashes for a pseudo-random function, at the cost of one.
                let h = self.f.words(&flow.words);
                let index = (h >> 32) as usize % TABLE_LEN;
                (self.table[index].wrapping_add(h as u32), Some(index))
            }
        };
        let start = win.class_start(win.lo + scale(start, span));
        let found = set.find_wrapping(start, win.lo, win.hi, win.parity)?;
        // RFC 6056: the counter advances by the number of ports probed.
        let probed = if found >= start {
            found - start + 1
        } else {
            found + span - start + 1
        };
        let advance = probed.wrapping_mul(self.step_for(span));
        let c = match counter {
            None => &mut self.next_ephemeral,
            Some(i) => &mut self.table[i],
        };
        *c = c.wrapping_add(advance);
        Some(found)
    }
}

/// `x / 2^32` of the way into `0..span`.
#[inline]
fn scale(x: u32, span: u32) -> u32 {
    ((u64::from(x) * u64::from(span)) >> 32) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bitmap::PortBitmap;

    fn win(lo: u32, hi: u32, parity: Parity, preferred: Option<u32>) -> Window {
        Window {
            lo,
            hi,
            parity,
            preferred,
        }
    }

    #[test]
    fn preservation_then_next_free() {
        let mut c = PortChooser::new(PortPolicy::TRANSPARENT, &SecretKey::new(1, 2));
        let mut b = PortBitmap::EMPTY;
        let flow = FlowId::new(0, 5000, 0, 0, 6);
        let w = win(1024, 65535, Parity::Even, Some(5000));
        assert_eq!(c.choose(&b, w, &flow), Some(5000));
        b.set(5000);
        assert_eq!(c.choose(&b, w, &flow), Some(5002));
    }

    #[test]
    fn counter_walks_one_port_per_use() {
        // RFC 6056 algorithm 3: the same flow asking again starts one port further on.
        let policy = PortPolicy {
            selection: Selection::Rfc6056Alg3,
            parity: false,
            ..PortPolicy::HARD_TO_GUESS
        };
        let mut c = PortChooser::new(policy, &SecretKey::new(3, 5));
        let b = PortBitmap::EMPTY;
        let flow = FlowId::new(9, 4000, 2, 80, 6);
        let w = win(1024, 65535, Parity::Any, None);
        let mut prev = c.choose(&b, w, &flow).unwrap();
        for _ in 0..100 {
            let p = c.choose(&b, w, &flow).unwrap();
            let d = (p + 64512 - prev) % 64512;
            assert!(d == 1 || d == 2, "{prev} -> {p}");
            prev = p;
        }
    }

    #[test]
    fn random_choice_stays_in_window_and_class() {
        for sel in [Selection::Rfc6056Alg3, Selection::Rfc6056Alg4] {
            let policy = PortPolicy {
                selection: sel,
                ..PortPolicy::HARD_TO_GUESS
            };
            let mut c = PortChooser::new(policy, &SecretKey::new(7, 9));
            let mut b = PortBitmap::EMPTY;
            for i in 0..501u32 {
                let flow = FlowId::new(u64::from(i), i as u16, 2, 80, 17);
                let p = c
                    .choose(&b, win(2000, 3001, Parity::Odd, None), &flow)
                    .unwrap();
                assert!((2000..=3001).contains(&p) && p % 2 == 1);
                assert!(b.set(p as u16));
            }
            // 501 odd ports in the window: all taken.
            let flow = FlowId::new(0, 1, 2, 80, 17);
            assert_eq!(
                c.choose(&b, win(2000, 3001, Parity::Odd, None), &flow),
                None
            );
        }
    }
}
