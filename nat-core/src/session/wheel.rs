//! A hashed timer wheel over intrusive links: expiry without scanning the table.
//!
//! Each entry sits in the slot of a tick at or before its expiry. Refreshing an entry (the common
//! case: every packet pushes the expiry later) only rewrites its expiry; the entry stays where it
//! is, and when its slot comes round it is found alive and moved to the slot of its new expiry.
//! Moving an expiry earlier (a TCP session closing) relinks at once. So a refresh costs nothing,
//! and expiring N entries costs O(N) plus one step per elapsed tick.
//!
//! The links are two ids per entry and nothing else: the first entry of a list keeps, in place
//! of a previous id, a marker naming its slot (or the pending list), so that removal finds the
//! head to update without storing the entry's tick.

/// Wheel resolution: an entry expires at most one tick after its expiry time.
pub const TICK_MS: u64 = 500;
/// Slots per revolution: 2048 ticks of 500 ms, about 17 minutes. Entries living longer are
/// revisited once per revolution (an established TCP session of 2 h 4 min about 7 times).
pub const WHEEL_SLOTS: usize = 2048;

const NIL: u32 = u32::MAX;
/// The `prev` of the first entry of the pending list.
const PENDING: u32 = u32::MAX - 1;
/// The `prev` of the first entry of slot 0; slot `s` uses `HEAD - s`.
const HEAD: u32 = u32::MAX - 2;

/// Entry ids must be below this: the ids above it mark list heads.
pub const MAX_ENTRIES: u32 = HEAD - (WHEEL_SLOTS as u32 - 1);

/// The wheel links of one entry, stored with the entry: 8 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    next: u32,
    /// The previous entry, or for the first entry of a list the marker of its list.
    prev: u32,
}

impl Link {
    /// The links of an entry not in any list.
    pub const UNLINKED: Link = Link {
        next: NIL,
        prev: NIL,
    };
}

/// Access to the links and expiry times of a store's entries.
pub trait WheelLinks {
    /// The links of entry `id`, if it is live.
    fn link_mut(&mut self, id: u32) -> Option<&mut Link>;
    /// When entry `id` expires, in milliseconds, if it is live.
    fn expires_ms(&self, id: u32) -> Option<u64>;
}

/// The slot heads and the cursor of a wheel.
#[derive(Clone, Debug)]
pub struct TimerWheel {
    heads: [u32; WHEEL_SLOTS],
    /// The first tick whose slot has not been processed.
    cursor: u64,
    /// Entries taken from a processed slot and not yet looked at.
    pending: u32,
}

impl Default for TimerWheel {
    fn default() -> Self {
        Self::new()
    }
}

fn set_next(links: &mut impl WheelLinks, id: u32, next: u32) {
    if let Some(l) = links.link_mut(id) {
        l.next = next;
    }
}

fn set_prev(links: &mut impl WheelLinks, id: u32, prev: u32) {
    if let Some(l) = links.link_mut(id) {
        l.prev = prev;
    }
}

impl TimerWheel {
    /// An empty wheel.
    pub const fn new() -> Self {
        TimerWheel {
            heads: [NIL; WHEEL_SLOTS],
            cursor: 0,
            pending: NIL,
        }
    }

    /// The tick of a time in milliseconds.
    pub const fn tick(ms: u64) -> u64 {
        ms / TICK_MS
    }

    fn push(&mut self, links: &mut impl WheelLinks, id: u32, at: u64) {
        let slot = (at % WHEEL_SLOTS as u64) as usize;
        let head = self.heads[slot];
        let Some(link) = links.link_mut(id) else {
            return;
        };
        *link = Link {
            next: head,
            prev: HEAD - slot as u32,
        };
        if head != NIL {
            set_prev(links, head, id);
        }
        self.heads[slot] = id;
    }

    /// Links a new entry expiring at `expires_ms`.
    pub fn insert(&mut self, links: &mut impl WheelLinks, id: u32, expires_ms: u64) {
        self.push(links, id, Self::tick(expires_ms).max(self.cursor));
    }

    /// Unlinks an entry (from its slot or from the pending list).
    pub fn remove(&mut self, links: &mut impl WheelLinks, id: u32) {
        let Some(link) = links.link_mut(id) else {
            return;
        };
        let Link { next, prev } = core::mem::replace(link, Link::UNLINKED);
        if prev == NIL {
            // Not linked.
            return;
        } else if prev == PENDING {
            if self.pending == id {
                self.pending = next;
            }
        } else if prev >= MAX_ENTRIES {
            let slot = (HEAD - prev) as usize;
            if self.heads[slot] == id {
                self.heads[slot] = next;
            }
        } else {
            set_next(links, prev, next);
        }
        if next != NIL {
            set_prev(links, next, prev);
        }
    }

    /// Tells the wheel that entry `id`, which expired at `old_ms`, now expires at `new_ms`.
    /// Later expiries cost nothing now: the entry is linked at or before the tick of its old
    /// expiry, and is moved when that slot comes round. Earlier ones relink.
    pub fn reschedule(&mut self, links: &mut impl WheelLinks, id: u32, old_ms: u64, new_ms: u64) {
        if Self::tick(new_ms) < Self::tick(old_ms) {
            self.remove(links, id);
            self.insert(links, id, new_ms);
        }
    }

    /// Finds an entry due at `now_ms`, unlinks it and returns it; entries found alive are moved
    /// to the slot of their expiry. An entry is returned at most one tick after it is due.
    pub fn pop(&mut self, links: &mut impl WheelLinks, now_ms: u64) -> Option<u32> {
        let now = Self::tick(now_ms);
        loop {
            if self.pending != NIL {
                let id = self.pending;
                self.remove(links, id);
                match links.expires_ms(id) {
                    Some(at) if at <= now_ms => return Some(id),
                    Some(at) => self.insert(links, id, at),
                    // Not live: a store bug, but never a reason to loop or panic.
                    None => self.pending = NIL,
                }
                continue;
            }
            if self.cursor >= now {
                return None;
            }
            // After a long pause every slot is due: one revolution covers them all.
            self.cursor = self.cursor.max(now.saturating_sub(WHEEL_SLOTS as u64));
            let slot = (self.cursor % WHEEL_SLOTS as u64) as usize;
            self.pending = core::mem::replace(&mut self.heads[slot], NIL);
            if self.pending != NIL {
                set_prev(links, self.pending, PENDING);
            }
            self.cursor += 1;
        }
    }

    /// A lower bound on the next time, in milliseconds, at which [`pop`](Self::pop) can return
    /// an entry, found by looking at most one revolution ahead; `None` if the wheel is empty.
    pub fn next_due_ms(&self) -> Option<u64> {
        if self.pending != NIL {
            return Some(self.cursor.saturating_mul(TICK_MS));
        }
        (0..WHEEL_SLOTS as u64)
            .map(|d| self.cursor + d)
            .find(|&t| self.heads[(t % WHEEL_SLOTS as u64) as usize] != NIL)
            // An entry in the slot of tick t is popped once tick t has passed.
            .map(|t| (t + 1).saturating_mul(TICK_MS))
    }
}
