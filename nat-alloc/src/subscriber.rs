//! Subscribers: who holds what, in a fixed-size open-addressing table the caller provides.
//!
//! A subscriber is an inside address, or an inside prefix when `subscriber_prefix_len` is
//! shorter than the address (a NAT64 home gets a /56 and uses many IPv6 addresses: paired pooling
//! and quotas apply to the home, [RFC 6888] REQ-2 "per subscriber"). Its record holds the paired
//! outside address, the ports it holds per protocol (quotas, draft-nishitani-cgn REQ-2c/3c/4c),
//! its sessions and its new-session token bucket (REQ-3e), and the head of its port blocks.
//!
//! The record lives while the subscriber holds anything; while it lives, the paired address
//! cannot change (REQ-1). The table uses linear probing with backward-shift deletion, so a
//! lookup is O(1) expected at the bounded load of 7/8, and nothing is ever rehashed.
//!
//! [RFC 6888]: https://www.rfc-editor.org/rfc/rfc6888#section-3

use nat_core::flow::IpAddress;

use crate::hash::{SecretKey, mix, reduce};
use crate::quota::Bucket;

/// An inside address type the policies serve: [`Ipv4Addr`](core::net::Ipv4Addr) (NAT44) or
/// [`Ipv6Addr`](core::net::Ipv6Addr) (NAT64),
/// which nat-core's [`IpAddress`] can mask into a subscriber prefix and rebuild from bytes.
pub use nat_core::flow::IpAddress as InsideAddress;

/// "No value" for the `u32` indexes of records (addresses, blocks).
pub(crate) const NONE: u32 = u32::MAX;

/// One subscriber's record in the table the caller provides (`&mut [SubscriberSlot<I>]`):
/// paired address (draft-nishitani-cgn REQ-1), ports held (REQ-2c..4c), sessions (REQ-3e).
///
/// Its size is reported by the crate's memory test; fill the storage with
/// [`SubscriberSlot::EMPTY`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubscriberSlot<I> {
    pub(crate) key: I,
    pub(crate) hash: u64,
    pub(crate) live: bool,
    /// Bits 0-2: a QuotaExhausted event was queued for the protocol since its last release;
    /// bit 3: a PoolExhausted event likewise.
    pub(crate) logged: u8,
    pub(crate) block_count: u16,
    /// Paired outside address (dense pool index) or [`NONE`].
    pub(crate) addr: u32,
    /// Ports held per protocol that count against the quota.
    pub(crate) used: [u32; 3],
    /// Ports held per protocol by exempted mappings (draft-nishitani-cgn § 7).
    pub(crate) exempt: [u16; 3],
    /// First block of the subscriber's list, or [`NONE`].
    pub(crate) blocks: u32,
    /// Sessions and new-session token bucket.
    pub(crate) bucket: Bucket,
}

impl<I: IpAddress> SubscriberSlot<I> {
    /// An unused slot, to fill the storage with.
    pub const EMPTY: Self = SubscriberSlot {
        key: I::UNSPECIFIED,
        hash: 0,
        live: false,
        logged: 0,
        block_count: 0,
        addr: NONE,
        used: [0; 3],
        exempt: [0; 3],
        blocks: NONE,
        bucket: Bucket {
            sessions: 0,
            tokens: 0,
            refilled: 0,
        },
    };

    /// Whether the subscriber holds no port, block or session.
    pub(crate) fn holds_nothing(&self) -> bool {
        self.used == [0; 3]
            && self.exempt == [0; 3]
            && self.bucket.sessions == 0
            && self.block_count == 0
    }
}

/// The subscriber table over caller storage.
#[derive(Debug)]
pub(crate) struct SubscriberTable<'a, I> {
    slots: &'a mut [SubscriberSlot<I>],
    len: usize,
    key: SecretKey,
    prefix_len: u8,
    sweep: usize,
}

impl<'a, I: InsideAddress> SubscriberTable<'a, I> {
    /// A table over `slots` (cleared), keyed by `key`, with subscribers of `prefix_len` bits.
    pub(crate) fn new(slots: &'a mut [SubscriberSlot<I>], key: &SecretKey, prefix_len: u8) -> Self {
        slots.fill(SubscriberSlot::EMPTY);
        SubscriberTable {
            slots,
            len: 0,
            key: key.derive(0x5eb5),
            prefix_len,
            sweep: 0,
        }
    }

    /// Live records.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The subscriber that `inside` belongs to.
    #[inline]
    pub(crate) fn subscriber_of(&self, inside: I) -> I {
        // Whole-address subscribers are the common case: no masking loop.
        if usize::from(self.prefix_len) >= I::LEN * 8 {
            inside
        } else {
            inside.masked(self.prefix_len)
        }
    }

    /// The keyed hash of a subscriber (kept in its record as `hash`).
    #[inline]
    pub(crate) fn hash_of(&self, sub: I) -> u64 {
        let b = sub.bytes();
        let mut lo = [0u8; 8];
        let mut hi = [0u8; 8];
        lo.copy_from_slice(&b[..8]);
        hi.copy_from_slice(&b[8..]);
        mix(&self.key, u64::from_le_bytes(lo), u64::from_le_bytes(hi))
    }

    /// The record index of subscriber `sub` (already masked).
    #[inline]
    pub(crate) fn find(&self, sub: I) -> Option<usize> {
        let n = self.slots.len();
        if n == 0 {
            return None;
        }
        let h = self.hash_of(sub);
        let mut i = reduce(h, n);
        for _ in 0..n {
            let s = &self.slots[i];
            if !s.live {
                return None;
            }
            if s.hash == h && s.key == sub {
                return Some(i);
            }
            i = if i + 1 == n { 0 } else { i + 1 };
        }
        None
    }

    /// The record of `sub`, created with the token bucket `bucket()` if absent; `None` when
    /// the table is at its load limit of 7/8.
    pub(crate) fn find_or_insert(
        &mut self,
        sub: I,
        bucket: impl FnOnce() -> Bucket,
    ) -> Option<usize> {
        self.find_or_insert_hashed(sub, self.hash_of(sub), bucket)
    }

    /// [`find_or_insert`](Self::find_or_insert) with `h`, the [`hash_of`](Self::hash_of)
    /// `sub`, already computed.
    #[inline]
    pub(crate) fn find_or_insert_hashed(
        &mut self,
        sub: I,
        h: u64,
        bucket: impl FnOnce() -> Bucket,
    ) -> Option<usize> {
        let n = self.slots.len();
        if n == 0 {
            return None;
        }
        let mut i = reduce(h, n);
        for _ in 0..n {
            let s = &self.slots[i];
            if !s.live {
                if (self.len + 1) * 8 > n * 7 {
                    return None;
                }
                self.slots[i] = SubscriberSlot {
                    key: sub,
                    hash: h,
                    live: true,
                    bucket: bucket(),
                    ..SubscriberSlot::EMPTY
                };
                self.len += 1;
                return Some(i);
            }
            if s.hash == h && s.key == sub {
                return Some(i);
            }
            i = if i + 1 == n { 0 } else { i + 1 };
        }
        None
    }

    pub(crate) fn get(&self, i: usize) -> &SubscriberSlot<I> {
        &self.slots[i]
    }

    pub(crate) fn get_mut(&mut self, i: usize) -> &mut SubscriberSlot<I> {
        &mut self.slots[i]
    }

    /// Removes record `i` by backward shift. Indexes of other records may change.
    pub(crate) fn remove(&mut self, mut i: usize) {
        let n = self.slots.len();
        if i >= n || !self.slots[i].live {
            return;
        }
        let mut j = i;
        for _ in 0..n {
            j = if j + 1 == n { 0 } else { j + 1 };
            if !self.slots[j].live {
                break;
            }
            let k = reduce(self.slots[j].hash, n);
            // Entry j stays if its home k lies cyclically in (i, j].
            let stays = if i <= j {
                i < k && k <= j
            } else {
                i < k || k <= j
            };
            if !stays {
                self.slots[i] = self.slots[j];
                i = j;
            }
        }
        self.slots[i] = SubscriberSlot::EMPTY;
        self.len -= 1;
    }

    /// The next index for an amortised sweep over the table (one slot per call).
    pub(crate) fn next_sweep(&mut self) -> Option<usize> {
        let n = self.slots.len();
        if n == 0 {
            return None;
        }
        self.sweep = if self.sweep + 1 >= n {
            0
        } else {
            self.sweep + 1
        };
        self.slots[self.sweep].live.then_some(self.sweep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{Ipv4Addr, Ipv6Addr};
    use std::vec;

    #[test]
    fn masking() {
        let a = Ipv6Addr::new(0x2001, 0xdb8, 1, 0x2345, 1, 2, 3, 4);
        assert_eq!(
            a.masked(56),
            Ipv6Addr::new(0x2001, 0xdb8, 1, 0x2300, 0, 0, 0, 0)
        );
        assert_eq!(a.masked(128), a);
        assert_eq!(a.masked(0), Ipv6Addr::UNSPECIFIED);
        let b = Ipv4Addr::new(100, 64, 7, 9);
        assert_eq!(b.masked(32), b);
        assert_eq!(b.masked(255), b);
        assert_eq!(b.masked(20), Ipv4Addr::new(100, 64, 0, 0));
    }

    #[test]
    fn insert_find_remove_keeps_every_other_key_reachable() {
        let mut slots = vec![SubscriberSlot::<Ipv4Addr>::EMPTY; 64];
        let mut t = SubscriberTable::new(&mut slots, &SecretKey::new(3, 4), 32);
        let keys: std::vec::Vec<Ipv4Addr> =
            (0..56u32).map(|i| Ipv4Addr::from_bits(i * 7919)).collect();
        for &k in &keys {
            assert!(t.find_or_insert(k, Bucket::default).is_some());
        }
        assert_eq!(
            t.find_or_insert(Ipv4Addr::new(9, 9, 9, 9), Bucket::default),
            None,
            "load limit"
        );
        for (n, &k) in keys.iter().enumerate() {
            if n % 2 == 0 {
                let i = t.find(k).unwrap();
                t.remove(i);
            }
        }
        for (n, &k) in keys.iter().enumerate() {
            assert_eq!(t.find(k).is_some(), n % 2 == 1, "key {n}");
        }
        assert_eq!(t.len(), 28);
    }
}
