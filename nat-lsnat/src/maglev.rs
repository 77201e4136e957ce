//! Maglev consistent hashing: a lookup table of `M` entries, each naming a server position.
//!
//! From "Maglev: A Fast and Reliable Software Network Load Balancer" (Eisenbud et al., NSDI 2016,
//! § 3.4): each server has a permutation of `0..M` given by an `offset` and a `skip` drawn from two
//! seeded hashes of its stable name; servers take turns claiming the next free entry of their
//! permutation until the table is full. Every server gets `⌊M/n⌋` or `⌈M/n⌉` entries, and a change
//! of the server set moves few entries besides those of the server that changed. `M` must be prime
//! (so that every skip generates a full cycle) and much larger than the number of servers: this
//! crate asks for `M > 100 × N`, checked when a virtual server is built.
//!
//! Used for stateless steering of new sessions (draft-srisuresh-lsnat § 5, RFC 7269 § 4.2): a
//! primary and its backup fed the same pool build the same table.

use crate::hash::{mix64, reduce};

/// The value of an entry that names no server.
const EMPTY: u16 = u16::MAX;

/// Seed separators of the two permutation hashes.
const OFFSET_SALT: u64 = 0x6F66_6673_6574_0001;
const SKIP_SALT: u64 = 0x736B_6970_0000_0002;

/// Whether `n` is prime, as Maglev § 3.4 asks of `M` (trial division; `const` so that table
/// sizes are checked at build time).
pub const fn is_prime(n: usize) -> bool {
    if n < 2 {
        return false;
    }
    if n < 4 {
        return true;
    }
    if n.is_multiple_of(2) {
        return false;
    }
    let mut d = 3;
    while d <= n / d {
        if n.is_multiple_of(d) {
            return false;
        }
        d += 2;
    }
    true
}

/// Whether `M` is a usable table size for `n` servers: zero (no table), or prime and
/// greater than `100 × n` (Maglev § 3.4).
pub const fn valid_table_size(m: usize, n: usize) -> bool {
    m == 0 || (is_prime(m) && m > n.saturating_mul(100))
}

/// A Maglev lookup table of `M` entries, each a server position or empty (Maglev § 3.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaglevTable<const M: usize> {
    entries: [u16; M],
}

impl<const M: usize> Default for MaglevTable<M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const M: usize> MaglevTable<M> {
    /// An empty table: every lookup misses (Maglev § 3.4).
    pub const fn new() -> Self {
        MaglevTable {
            entries: [EMPTY; M],
        }
    }

    /// The table's size, `M` (Maglev § 3.4).
    pub const fn len(&self) -> usize {
        M
    }

    /// Whether the table has no entry at all, `M = 0` (Maglev § 3.4).
    pub const fn is_empty(&self) -> bool {
        M == 0
    }

    /// Fill the table for the members of `names`: position `i` takes part if `names[i]` holds its
    /// stable name hash (Maglev § 3.4, "Pseudocode 1").
    pub fn populate<const N: usize>(&mut self, seed: u64, names: &[Option<u64>; N]) {
        self.entries = [EMPTY; M];
        if M == 0 || names.iter().all(Option::is_none) {
            return;
        }
        let m = M as u64;
        let mut pos = [0u64; N];
        let mut skip = [1u64; N];
        for ((name, p), s) in names.iter().zip(pos.iter_mut()).zip(skip.iter_mut()) {
            if let Some(h) = name {
                *p = reduce(mix64(h ^ seed ^ OFFSET_SALT), M) as u64;
                *s = if m > 1 {
                    reduce(mix64(h ^ seed.rotate_left(32) ^ SKIP_SALT), M - 1) as u64 + 1
                } else {
                    1
                };
            }
        }
        let mut filled = 0usize;
        // Each round fills at least one entry, so M rounds always suffice.
        'rounds: for _ in 0..M {
            for (i, name) in names.iter().enumerate() {
                if name.is_none() {
                    continue;
                }
                let (Some(p), Some(s)) = (pos.get_mut(i), skip.get(i)) else {
                    continue;
                };
                // A prime M makes each permutation a full cycle: M probes find a free entry.
                for _ in 0..M {
                    let c = usize::try_from(*p).unwrap_or(0);
                    *p = (*p + s) % m;
                    if let Some(e) = self.entries.get_mut(c)
                        && *e == EMPTY
                    {
                        *e = u16::try_from(i).unwrap_or(EMPTY);
                        filled += 1;
                        break;
                    }
                }
                if filled >= M {
                    break 'rounds;
                }
            }
        }
    }

    /// The server position for a key hash, if the table names one (Maglev § 3.4).
    #[inline]
    pub fn lookup(&self, hash: u64) -> Option<usize> {
        self.entry(reduce(hash, M))
    }

    /// The index of the entry a key hash falls on (Maglev § 3.4).
    #[inline]
    pub fn slot_of(&self, hash: u64) -> usize {
        reduce(hash, M)
    }

    /// The server position in entry `index`, if any (Maglev § 3.4).
    #[inline]
    pub fn entry(&self, index: usize) -> Option<usize> {
        match self.entries.get(index) {
            Some(&e) if e != EMPTY => Some(usize::from(e)),
            _ => None,
        }
    }

    /// All entries; `u16::MAX` marks an empty one (Maglev § 3.4).
    pub const fn entries(&self) -> &[u16; M] {
        &self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primes_are_recognised() {
        let primes = [2usize, 3, 5, 7, 251, 401, 809, 2053, 65537];
        for p in primes {
            assert!(is_prime(p), "{p}");
        }
        for c in [0usize, 1, 4, 9, 65535, 65536, 1001] {
            assert!(!is_prime(c), "{c}");
        }
    }

    #[test]
    fn table_size_must_be_prime_and_over_100_n() {
        assert!(valid_table_size(65537, 100));
        assert!(valid_table_size(0, 100));
        assert!(!valid_table_size(65536, 100));
        assert!(!valid_table_size(1009, 16));
        assert!(valid_table_size(1601, 16));
    }

    #[test]
    fn every_member_gets_an_even_share_of_entries() {
        let mut t = MaglevTable::<1009>::new();
        let names: [Option<u64>; 7] = core::array::from_fn(|i| Some(mix64(i as u64)));
        t.populate(9, &names);
        let mut counts = [0usize; 7];
        for &e in t.entries() {
            counts[usize::from(e)] += 1;
        }
        let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
        assert!(max - min <= 1, "{counts:?}");
    }

    #[test]
    fn non_members_get_no_entry_and_empty_set_gives_empty_table() {
        let mut t = MaglevTable::<101>::new();
        t.populate(1, &[None, Some(5), None]);
        assert!(t.entries().iter().all(|&e| e == 1));
        t.populate(1, &[None::<u64>; 3]);
        assert_eq!(t.lookup(12345), None);
    }

    #[test]
    fn seed_changes_the_table() {
        let names: [Option<u64>; 3] = [Some(1), Some(2), Some(3)];
        let (mut a, mut b) = (MaglevTable::<307>::new(), MaglevTable::<307>::new());
        a.populate(1, &names);
        b.populate(2, &names);
        assert_ne!(a, b);
    }

    #[test]
    fn tiny_tables_do_not_panic() {
        let mut t0 = MaglevTable::<0>::new();
        t0.populate(1, &[Some(1)]);
        assert_eq!(t0.lookup(5), None);
        let mut t1 = MaglevTable::<1>::new();
        t1.populate(1, &[None, Some(1)]);
        assert_eq!(t1.lookup(5), Some(1));
    }
}
