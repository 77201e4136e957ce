//! The [`PortAllocator`] face of the [`BlockAllocator`], and its allocation steps: choose in owned
//! blocks, open new blocks, release into blocks ([RFC 7269 § 5.1]).
//!
//! [RFC 7269 § 5.1]: https://www.rfc-editor.org/rfc/rfc7269#section-5.1

use core::net::Ipv4Addr;

use nat_core::allocator::{AllocError, AllocRequest, PortAllocator};
use nat_core::flow::{Endpoint, L4Proto};
use nat_core::time::Instant;

use super::{ACTIVE, BlockAllocator, BlockSlot, NONE};
use crate::admission::{Admission, Admitted, admission_by_fields};
use crate::bitmap::{self, FreeSet, Parity, SliceSet};
use crate::events::AllocEvent;
use crate::hash::{mix, reduce};
use crate::port::{FlowId, Selection, Window};
use crate::quota::{self, Bucket};
use crate::subscriber::InsideAddress;

admission_by_fields!(BlockAllocator);

impl<I: InsideAddress> PortAllocator<I, Ipv4Addr> for BlockAllocator<'_, I> {
    fn poll(&mut self, now: Instant) {
        Self::poll(self, now);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.next_timeout()
    }

    fn allocate(
        &mut self,
        now: Instant,
        req: &AllocRequest<I, Ipv4Addr>,
    ) -> Result<Endpoint<Ipv4Addr>, AllocError> {
        let Admitted {
            hash, si, exempt, ..
        } = self.admit(now, req)?;
        let flow = FlowId::new(
            hash,
            req.inside.port,
            req.remote.addr.to_bits(),
            req.remote.port,
            req.proto.index() as u8,
        );
        let parity = self.chooser.parity_for(req.inside.port);
        // The common case, kept small: a port of the right parity in a block the subscriber
        // holds (on its paired address), when the policy does not try the inside port first.
        if !self.chooser.policy().preserve
            && let Some(outside) = self.pool.address(self.subs.get(si).addr)
            && let Some(port) = self.in_owned_blocks(si, req.proto, parity, &flow, exempt)
        {
            return Ok(Endpoint::new(outside, port));
        }
        self.allocate_in_order(now, req, hash, si, exempt, &flow, parity)
    }

    fn reserve(
        &mut self,
        now: Instant,
        proto: L4Proto,
        inside: Endpoint<I>,
        outside: Endpoint<Ipv4Addr>,
    ) -> Result<(), AllocError> {
        self.poll(now);
        let addr = self
            .pool
            .index_of(outside.addr)
            .ok_or(AllocError::Unavailable)?;
        let (b, pos) = self.locate(outside.port).ok_or(AllocError::Unavailable)?;
        let sub = self.subs.subscriber_of(inside.addr);
        let si = self
            .subs
            .find_or_insert(sub, || Bucket::full(&self.quotas, now.as_millis()))
            .ok_or(AllocError::PoolExhausted)?;
        let s = *self.subs.get(si);
        let bi = if s.addr != NONE && s.addr != addr {
            None
        } else {
            match self.owned_block(si, addr, b) {
                Some(bi) => Some(bi),
                None if s.block_count < self.m => self.open_block(si, addr, b, now),
                None => None,
            }
        };
        match bi.and_then(|bi| self.take(si, bi, pos, proto, false)) {
            Some(_) => Ok(()),
            None => {
                self.forget_if_idle(si, now);
                Err(AllocError::Unavailable)
            }
        }
    }

    fn release(
        &mut self,
        now: Instant,
        proto: L4Proto,
        inside: Endpoint<I>,
        outside: Endpoint<Ipv4Addr>,
    ) {
        // No `poll`: what is due (empty blocks, hold-downs) holds no port, so the release
        // cannot depend on it; the next call that can take a port expires it first.
        let sub = self.subs.subscriber_of(inside.addr);
        let found = (|| {
            let addr = self.pool.index_of(outside.addr)?;
            let (b, pos) = self.locate(outside.port)?;
            let si = self.subs.find(sub)?;
            let bi = self.owned_block(si, addr, b)?;
            Some((addr, si, bi, pos))
        })();
        let Some((addr, si, bi, pos)) = found else {
            self.stats.ignored_releases += 1;
            return;
        };
        let r = self.bits_range(bi, proto);
        if !self
            .block_bits
            .get_mut(r)
            .is_some_and(|w| bitmap::slice_clear(w, pos))
        {
            self.stats.ignored_releases += 1;
            return;
        }
        let p = proto.index();
        let blk = &mut self.blocks[bi as usize];
        blk.used[p] = blk.used[p].saturating_sub(1);
        if blk.is_empty() {
            blk.since = now.as_millis();
            self.lists.push_idle(self.blocks, bi);
        }
        let s = self.subs.get_mut(si);
        if s.exempt[p] > 0 && self.exempt.remove(addr, proto, outside.port) {
            s.exempt[p] -= 1;
        } else {
            s.used[p] = s.used[p].saturating_sub(1);
        }
        s.logged = 0;
        self.stats.released += 1;
    }

    fn admit_session(&mut self, now: Instant, proto: L4Proto, inside: I) -> Result<(), AllocError> {
        self.poll(now);
        let sub = self.subs.subscriber_of(inside);
        let si = self
            .subs
            .find_or_insert(sub, || Bucket::full(&self.quotas, now.as_millis()))
            .ok_or(AllocError::PoolExhausted)?;
        let r = quota::admit(&mut self.subs.get_mut(si).bucket, &self.quotas, now, proto);
        if r.is_err() {
            self.stats.session_rejections += 1;
            self.forget_if_idle(si, now);
        }
        r
    }

    fn session_closed(&mut self, now: Instant, _proto: L4Proto, inside: I) {
        let sub = self.subs.subscriber_of(inside);
        if let Some(si) = self.subs.find(sub) {
            quota::close(&mut self.subs.get_mut(si).bucket);
            self.forget_if_idle(si, now);
        }
    }
}

impl<I: InsideAddress> BlockAllocator<'_, I> {
    /// Every step of `allocate`, in order: 1. port preservation: the inside port when it lies
    /// in an owned block; a subscriber's first block is the one that holds its first inside
    /// port, if that block is free (opening a block per inside port would spend the M blocks
    /// on a few mappings). 2. A free port of the right parity in an owned block, 3. in a new
    /// block, 4. of any parity in an owned block (parity is a SHOULD, RFC 4787 REQ-4).
    ///
    /// Takes the admission's fields one by one: passing the `Admitted` value instead made the
    /// common case 6 ns slower (it kept the value in memory).
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn allocate_in_order(
        &mut self,
        now: Instant,
        req: &AllocRequest<I, Ipv4Addr>,
        hash: u64,
        si: usize,
        exempt: bool,
        flow: &FlowId,
        parity: Parity,
    ) -> Result<Endpoint<Ipv4Addr>, AllocError> {
        let proto = req.proto;
        let s = self.subs.get(si);
        let (paired, first_block) = (s.addr, s.block_count == 0);
        let addr = if paired != NONE {
            paired
        } else {
            let (bits, wpa, bpa) = (&*self.pool_bits, self.wpa, self.bpa);
            let picked = self.pool.pick(hash, |a| {
                let w = bits.get(a as usize * wpa..(a as usize + 1) * wpa)?;
                let used: u32 = w.iter().map(|x| x.count_ones()).sum();
                (used < bpa).then_some(u64::from(used))
            });
            match picked {
                Some(a) => a,
                None => return Err(self.reject(si, now, proto, AllocError::PoolExhausted)),
            }
        };
        let outside = self.pool.address(addr).ok_or(AllocError::PoolExhausted)?;
        let limit = if exempt {
            self.m.saturating_add(1)
        } else {
            self.m
        };
        if self.chooser.policy().preserve
            && let Some((b, pos)) = self.locate(req.inside.port)
        {
            let bi = match self.owned_block(si, addr, b) {
                Some(bi) => Some(bi),
                None if first_block => self.open_block(si, addr, b, now),
                None => None,
            };
            if let Some(bi) = bi
                && let Some(p) = self
                    .choose_in(bi, proto, Parity::Any, flow, Some(pos))
                    .filter(|&p| p == pos)
                && let Some(port) = self.take(si, bi, p, proto, exempt)
            {
                return Ok(Endpoint::new(outside, port));
            }
        }
        if let Some(port) = self.in_owned_blocks(si, proto, parity, flow, exempt) {
            return Ok(Endpoint::new(outside, port));
        }
        if self.subs.get(si).block_count < limit
            && let Some(b) = self.free_block(addr, hash ^ self.stats.allocated)
            && let Some(bi) = self.open_block(si, addr, b, now)
            && let Some(p) = self.choose_in(bi, proto, parity, flow, None)
            && let Some(port) = self.take(si, bi, p, proto, exempt)
        {
            return Ok(Endpoint::new(outside, port));
        }
        if let Some(port) = self.in_owned_blocks(si, proto, Parity::Any, flow, exempt) {
            return Ok(Endpoint::new(outside, port));
        }
        let err = if self.subs.get(si).block_count >= limit {
            AllocError::QuotaExhausted
        } else {
            AllocError::PoolExhausted
        };
        Err(self.reject(si, now, proto, err))
    }

    /// Takes a free port of class `parity` in the first of subscriber `si`'s blocks that has
    /// one.
    #[inline(always)]
    fn in_owned_blocks(
        &mut self,
        si: usize,
        proto: L4Proto,
        parity: Parity,
        flow: &FlowId,
        exempt: bool,
    ) -> Option<u16> {
        let mut cur = self.subs.get(si).blocks;
        for _ in 0..self.blocks.len() {
            if cur == NONE {
                break;
            }
            if let Some(p) = self.choose_in(cur, proto, parity, flow, None)
                && let Some(port) = self.take(si, cur, p, proto, exempt)
            {
                return Some(port);
            }
            cur = self.blocks[cur as usize].next_sub;
        }
        None
    }

    /// Picks a free position of `proto` in block `bi` with the port chooser.
    #[inline(always)]
    fn choose_in(
        &mut self,
        bi: u32,
        proto: L4Proto,
        parity: Parity,
        flow: &FlowId,
        preferred: Option<u32>,
    ) -> Option<u32> {
        let blk = &self.blocks[bi as usize];
        if u32::from(blk.used[proto.index()]) >= self.n {
            return None;
        }
        let base = self.first_port + blk.index * self.n;
        let r = self.bits_range(bi, proto);
        let words = self.block_bits.get(r)?;
        let win = Window {
            lo: 0,
            hi: self.n - 1,
            parity: parity.shifted(base),
            preferred,
        };
        self.chooser.choose(&SliceSet(words), win, flow)
    }

    /// Marks position `pos` of block `bi` used and credits the subscriber; returns the port.
    #[inline(always)]
    fn take(&mut self, si: usize, bi: u32, pos: u32, proto: L4Proto, exempt: bool) -> Option<u16> {
        let port = self.port_at(self.blocks[bi as usize].index, pos)?;
        let r = self.bits_range(bi, proto);
        if !bitmap::slice_set(self.block_bits.get_mut(r)?, pos) {
            return None;
        }
        let was_empty = self.blocks[bi as usize].is_empty();
        self.blocks[bi as usize].used[proto.index()] += 1;
        if was_empty {
            self.lists.unlink_idle(self.blocks, bi);
        }
        let addr = self.blocks[bi as usize].addr;
        let s = self.subs.get_mut(si);
        if exempt && self.exempt.insert(addr, proto, port) {
            s.exempt[proto.index()] = s.exempt[proto.index()].saturating_add(1);
        } else {
            s.used[proto.index()] += 1;
        }
        self.stats.allocated += 1;
        Some(port)
    }

    /// Gives block `b` of `addr` to subscriber `si`; logs it. `None` if the block is taken or
    /// no record is free.
    fn open_block(&mut self, si: usize, addr: u32, b: u32, now: Instant) -> Option<u32> {
        let r = self.pool_range(addr);
        if !bitmap::slice_set(self.pool_bits.get_mut(r)?, b) {
            return None;
        }
        let Some(bi) = self.lists.pop_free(self.blocks) else {
            let r = self.pool_range(addr);
            if let Some(w) = self.pool_bits.get_mut(r) {
                bitmap::slice_clear(w, b);
            }
            return None;
        };
        let r = self.bits_range(bi, L4Proto::Tcp).start..self.bits_range(bi, L4Proto::Icmp).end;
        if let Some(w) = self.block_bits.get_mut(r) {
            w.fill(0);
        }
        let s = self.subs.get_mut(si);
        let sub = s.key;
        self.blocks[bi as usize] = BlockSlot {
            owner: sub,
            addr,
            index: b,
            state: ACTIVE,
            since: now.as_millis(),
            next_sub: s.blocks,
            ..BlockSlot::EMPTY
        };
        s.blocks = bi;
        s.block_count += 1;
        s.addr = addr;
        // Empty until a port is taken: idle from now.
        self.lists.push_idle(self.blocks, bi);
        if let (Some(outside), Ok(first_port)) = (
            self.pool.address(addr),
            u16::try_from(self.first_port + b * self.n),
        ) {
            self.events.push(AllocEvent::BlockAllocated {
                at: now,
                subscriber: sub,
                outside,
                first_port,
                len: self.n as u16,
                proto: None,
                layout: self.layout(),
            });
        }
        Some(bi)
    }

    /// A free block of `addr`: the lowest for sequential choice, else from a keyed start.
    fn free_block(&self, addr: u32, salt: u64) -> Option<u32> {
        let words = self.pool_bits.get(self.pool_range(addr))?;
        let start = match self.chooser.policy().selection {
            Selection::Sequential => 0,
            _ => reduce(
                mix(&self.block_key, salt, u64::from(addr)),
                self.bpa as usize,
            ) as u32,
        };
        SliceSet(words).find_wrapping(start, 0, self.bpa - 1, Parity::Any)
    }
}
