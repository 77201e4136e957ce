//! Intrusive lists over the block records: free records, empty blocks ordered by the time they
//! became empty (for the idle timeout), and blocks in hold-down ordered by expiry. Every
//! operation is O(1), so expiring N blocks costs O(N) ([DESIGN.md] "expiry without scans").
//!
//! [DESIGN.md]: https://example.invalid/nat/DESIGN.md

use super::{BlockSlot, NONE};
use crate::subscriber::InsideAddress;

/// Heads and tails of the three lists.
#[derive(Clone, Copy, Debug)]
pub(super) struct Lists {
    free: u32,
    idle_head: u32,
    idle_tail: u32,
    held_head: u32,
    held_tail: u32,
    held_len: usize,
}

impl Lists {
    /// All records free.
    pub(super) fn new<I: InsideAddress>(blocks: &mut [BlockSlot<I>]) -> Lists {
        let n = blocks.len();
        for (i, b) in blocks.iter_mut().enumerate() {
            *b = BlockSlot::EMPTY;
            b.next = if i + 1 < n { (i + 1) as u32 } else { NONE };
        }
        Lists {
            free: if n > 0 { 0 } else { NONE },
            idle_head: NONE,
            idle_tail: NONE,
            held_head: NONE,
            held_tail: NONE,
            held_len: 0,
        }
    }

    pub(super) fn pop_free<I: InsideAddress>(
        &mut self,
        blocks: &mut [BlockSlot<I>],
    ) -> Option<u32> {
        let i = self.free;
        let b = blocks.get_mut(i as usize)?;
        self.free = b.next;
        b.next = NONE;
        Some(i)
    }

    pub(super) fn push_free<I: InsideAddress>(&mut self, blocks: &mut [BlockSlot<I>], i: u32) {
        if let Some(b) = blocks.get_mut(i as usize) {
            b.prev = NONE;
            b.next = self.free;
            self.free = i;
        }
    }

    pub(super) fn idle_front(&self) -> Option<u32> {
        (self.idle_head != NONE).then_some(self.idle_head)
    }

    /// Appends block `i` (just emptied, so the latest) to the idle list.
    pub(super) fn push_idle<I: InsideAddress>(&mut self, blocks: &mut [BlockSlot<I>], i: u32) {
        if blocks.get(i as usize).is_none() || self.in_idle(blocks, i) {
            return;
        }
        blocks[i as usize].prev = self.idle_tail;
        blocks[i as usize].next = NONE;
        match blocks.get_mut(self.idle_tail as usize) {
            Some(t) => t.next = i,
            None => self.idle_head = i,
        }
        self.idle_tail = i;
    }

    fn in_idle<I: InsideAddress>(&self, blocks: &[BlockSlot<I>], i: u32) -> bool {
        self.idle_head == i || blocks.get(i as usize).is_some_and(|b| b.prev != NONE)
    }

    /// Takes block `i` out of the idle list, if it is there.
    pub(super) fn unlink_idle<I: InsideAddress>(&mut self, blocks: &mut [BlockSlot<I>], i: u32) {
        if !self.in_idle(blocks, i) {
            return;
        }
        let (prev, next) = (blocks[i as usize].prev, blocks[i as usize].next);
        match blocks.get_mut(prev as usize) {
            Some(p) => p.next = next,
            None => self.idle_head = next,
        }
        match blocks.get_mut(next as usize) {
            Some(n) => n.prev = prev,
            None => self.idle_tail = prev,
        }
        blocks[i as usize].prev = NONE;
        blocks[i as usize].next = NONE;
    }

    pub(super) fn held_front(&self) -> Option<u32> {
        (self.held_head != NONE).then_some(self.held_head)
    }

    pub(super) fn held_len(&self) -> usize {
        self.held_len
    }

    /// Appends block `i` (held until the latest expiry) to the hold-down list.
    pub(super) fn push_held<I: InsideAddress>(&mut self, blocks: &mut [BlockSlot<I>], i: u32) {
        if blocks.get(i as usize).is_none() {
            return;
        }
        blocks[i as usize].prev = NONE;
        blocks[i as usize].next = NONE;
        match blocks.get_mut(self.held_tail as usize) {
            Some(t) => t.next = i,
            None => self.held_head = i,
        }
        self.held_tail = i;
        self.held_len += 1;
    }

    /// Takes the oldest held block.
    pub(super) fn pop_held<I: InsideAddress>(
        &mut self,
        blocks: &mut [BlockSlot<I>],
    ) -> Option<u32> {
        let i = self.held_head;
        let b = blocks.get_mut(i as usize)?;
        self.held_head = b.next;
        b.next = NONE;
        if self.held_head == NONE {
            self.held_tail = NONE;
        }
        self.held_len -= 1;
        Some(i)
    }
}
