//! The [`PortAllocator`] face of the [`BlockAllocator`]: allocate from owned blocks, open new
//! blocks, release into blocks ([RFC 7269 § 5.1]).
//!
//! [RFC 7269 § 5.1]: https://www.rfc-editor.org/rfc/rfc7269#section-5.1

use core::net::Ipv4Addr;

use nat_core::allocator::{AllocError, AllocRequest, PortAllocator};
use nat_core::flow::{Endpoint, L4Proto};
use nat_core::time::Instant;

use super::{BlockAllocator, NONE};
use crate::bitmap::{self, Parity};
use crate::port::FlowId;
use crate::quota::{self, Bucket};
use crate::subscriber::InsideAddress;

impl<I: InsideAddress> PortAllocator<I, Ipv4Addr> for BlockAllocator<'_, I> {
    fn allocate(
        &mut self,
        now: Instant,
        req: &AllocRequest<I, Ipv4Addr>,
    ) -> Result<Endpoint<Ipv4Addr>, AllocError> {
        self.poll(now);
        let sub = self.subs.subscriber_of(req.inside.addr);
        let Some(si) = self
            .subs
            .find_or_insert(sub, Bucket::full(&self.quotas, now.as_millis()))
        else {
            self.stats.pool_rejections += 1;
            return Err(AllocError::PoolExhausted);
        };
        let proto = req.proto;
        let exempt = !self.exemptions.is_empty()
            && self.exemptions.classify(proto, &req.remote).is_some()
            && self.exempt.has_room();
        let s = *self.subs.get(si);
        if !exempt && !quota::port_quota_left(&s.used, &self.quotas, proto) {
            return Err(self.reject(si, now, proto, AllocError::QuotaExhausted));
        }
        let hash = self.subs.hash_of(sub);
        let addr = if s.addr != NONE {
            s.addr
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
        let flow = FlowId::new(
            sub.bytes(),
            req.inside.port,
            outside.to_bits(),
            req.remote.addr.to_bits(),
            req.remote.port,
            proto.index() as u8,
        );
        let parity = self.chooser.parity_for(req.inside.port);
        let limit = if exempt {
            self.m.saturating_add(1)
        } else {
            self.m
        };
        // 1. Port preservation: the inside port, in an owned block or in a free block.
        if self.chooser.policy().preserve
            && let Some((b, pos)) = self.locate(req.inside.port)
        {
            let bi = match self.owned_block(si, addr, b) {
                Some(bi) => Some(bi),
                None if s.block_count < limit => self.open_block(si, addr, b, now),
                None => None,
            };
            if let Some(bi) = bi
                && let Some(p) = self
                    .choose_in(bi, proto, Parity::Any, &flow, Some(pos))
                    .filter(|&p| p == pos)
                && let Some(port) = self.take(si, bi, p, proto, exempt)
            {
                return Ok(Endpoint::new(outside, port));
            }
        }
        // 2. A free port of the right parity in an owned block, 3. in a new block, 4. of
        // any parity in an owned block (parity is a SHOULD, RFC 4787 REQ-4).
        for step in 0..3 {
            let bi = match step {
                1 => {
                    if self.subs.get(si).block_count >= limit {
                        continue;
                    }
                    let salt = hash ^ self.stats.allocated;
                    let Some(b) = self.free_block(addr, salt) else {
                        continue;
                    };
                    let Some(bi) = self.open_block(si, addr, b, now) else {
                        continue;
                    };
                    let par = parity;
                    if let Some(p) = self.choose_in(bi, proto, par, &flow, None)
                        && let Some(port) = self.take(si, bi, p, proto, exempt)
                    {
                        return Ok(Endpoint::new(outside, port));
                    }
                    continue;
                }
                _ => self.subs.get(si).blocks,
            };
            let par = if step == 0 { parity } else { Parity::Any };
            let mut cur = bi;
            for _ in 0..self.blocks.len() {
                if cur == NONE {
                    break;
                }
                if let Some(p) = self.choose_in(cur, proto, par, &flow, None)
                    && let Some(port) = self.take(si, cur, p, proto, exempt)
                {
                    return Ok(Endpoint::new(outside, port));
                }
                cur = self.blocks[cur as usize].next_sub;
            }
        }
        let s = self.subs.get(si);
        let err = if s.block_count >= limit {
            AllocError::QuotaExhausted
        } else {
            AllocError::PoolExhausted
        };
        Err(self.reject(si, now, proto, err))
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
            .find_or_insert(sub, Bucket::full(&self.quotas, now.as_millis()))
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
        self.poll(now);
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
            .find_or_insert(sub, Bucket::full(&self.quotas, now.as_millis()))
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
