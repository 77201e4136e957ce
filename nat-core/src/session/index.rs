//! An open-addressing hash index from precomputed hashes to entry ids, in a fixed array: linear
//! probing over `2 × N` slots (load factor at most one half) with backward-shift deletion, so
//! there are no tombstones and a lookup never scans more than its cluster.

/// One slot: the high half of the entry's hash (which also gives its home slot) and its id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slot {
    tag: u32,
    id: u32,
}

const EMPTY: Slot = Slot {
    tag: 0,
    id: u32::MAX,
};

/// A hash index of at most `N` ids over `2 × N` slots.
#[derive(Clone, Debug)]
pub(crate) struct Index<const N: usize> {
    slots: [[Slot; 2]; N],
}

impl<const N: usize> Index<N> {
    pub(crate) const fn new() -> Self {
        Index {
            slots: [[EMPTY; 2]; N],
        }
    }

    const fn len_slots() -> usize {
        2 * N
    }

    #[inline]
    const fn tag(hash: u64) -> u32 {
        (hash >> 32) as u32
    }

    /// The home slot of a tag: a multiply-shift range reduction, valid for any `N`.
    #[inline]
    const fn home(tag: u32) -> usize {
        ((tag as u64 * Self::len_slots() as u64) >> 32) as usize
    }

    #[inline]
    fn get(&self, i: usize) -> Slot {
        self.slots[i / 2][i % 2]
    }

    #[inline]
    fn set(&mut self, i: usize, s: Slot) {
        self.slots[i / 2][i % 2] = s;
    }

    #[inline]
    const fn next(i: usize) -> usize {
        if i + 1 == Self::len_slots() { 0 } else { i + 1 }
    }

    /// Touches the home slot of `hash`, so that a following lookup finds it in cache. Without
    /// `unsafe` there is no prefetch instruction to issue, so this is a plain read whose result
    /// is discarded through `black_box`.
    #[inline]
    pub(crate) fn prefetch(&self, hash: u64) {
        if N > 0 {
            core::hint::black_box(self.get(Self::home(Self::tag(hash))));
        }
    }

    /// Finds the id with this hash for which `matches` holds.
    #[inline]
    pub(crate) fn find(&self, hash: u64, mut matches: impl FnMut(u32) -> bool) -> Option<u32> {
        if N == 0 {
            return None;
        }
        let tag = Self::tag(hash);
        let mut i = Self::home(tag);
        for _ in 0..Self::len_slots() {
            let s = self.get(i);
            if s.id == u32::MAX {
                return None;
            }
            if s.tag == tag && matches(s.id) {
                return Some(s.id);
            }
            i = Self::next(i);
        }
        None
    }

    /// Adds `id` under `hash`. The caller keeps at most `N` ids in the index, so a free slot
    /// always exists; `false` only if that contract was broken.
    pub(crate) fn insert(&mut self, hash: u64, id: u32) -> bool {
        let tag = Self::tag(hash);
        let mut i = Self::home(tag);
        for _ in 0..Self::len_slots() {
            if self.get(i).id == u32::MAX {
                self.set(i, Slot { tag, id });
                return true;
            }
            i = Self::next(i);
        }
        false
    }

    /// Removes `id`, stored under `hash`; `false` if it was not there.
    pub(crate) fn remove(&mut self, hash: u64, id: u32) -> bool {
        let tag = Self::tag(hash);
        let mut i = Self::home(tag);
        let mut found = None;
        for _ in 0..Self::len_slots() {
            let s = self.get(i);
            if s.id == u32::MAX {
                break;
            }
            if s.id == id {
                found = Some(i);
                break;
            }
            i = Self::next(i);
        }
        let Some(mut hole) = found else { return false };
        // Backward-shift: pull later members of the cluster into the hole when their home slot
        // does not lie cyclically in (hole, j].
        let mut j = Self::next(hole);
        loop {
            let s = self.get(j);
            if s.id == u32::MAX {
                break;
            }
            let home = Self::home(s.tag);
            let stays = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !stays {
                self.set(hole, s);
                hole = j;
            }
            j = Self::next(j);
        }
        self.set(hole, EMPTY);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_find_remove_with_colliding_homes() {
        let mut ix = Index::<8>::new();
        // Same tag for all: one long cluster.
        let h = 0xdead_beef_0000_0000u64;
        for id in 0..8 {
            assert!(ix.insert(h, id));
        }
        for id in 0..8 {
            assert_eq!(ix.find(h, |x| x == id), Some(id));
        }
        assert!(ix.remove(h, 3));
        assert_eq!(ix.find(h, |x| x == 3), None);
        for id in (0..8).filter(|&i| i != 3) {
            assert_eq!(ix.find(h, |x| x == id), Some(id), "lost {id} after removal");
        }
        assert!(!ix.remove(h, 3));
    }

    #[test]
    fn wraparound_cluster_survives_removals() {
        let mut ix = Index::<4>::new();
        // Tags whose home is the last slot (7 of 8): the cluster wraps to slot 0.
        let last = (u64::from(u32::MAX) - 1) << 32;
        let first = 0u64;
        ix.insert(last, 1);
        ix.insert(last, 2);
        ix.insert(first, 3);
        ix.insert(last, 4);
        assert!(ix.remove(last, 1));
        assert_eq!(ix.find(last, |x| x == 2), Some(2));
        assert_eq!(ix.find(first, |x| x == 3), Some(3));
        assert_eq!(ix.find(last, |x| x == 4), Some(4));
    }
}
