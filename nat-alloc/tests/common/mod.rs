//! Test helpers: Vec-backed storage for the allocators, requests, a deterministic PRNG.
#![allow(dead_code, unreachable_pub)]

use std::net::Ipv4Addr;
use std::vec::Vec;

use nat_alloc::*;
use nat_core::allocator::AllocRequest;
use nat_core::flow::{Endpoint, IpAddress, L4Proto};

/// Storage of a pooled allocator, owned by the test.
pub struct PooledMem<I: IpAddress> {
    pub subs: Vec<SubscriberSlot<I>>,
    pub addrs: Vec<AddressSlot>,
    pub held: Vec<HoldSlot>,
    pub exempt: Vec<ExemptSlot>,
    pub events: Vec<Option<AllocEvent<I>>>,
}

impl<I: IpAddress> PooledMem<I> {
    pub fn new(addrs: usize, subs: usize, held: usize, events: usize) -> Self {
        PooledMem {
            subs: vec![SubscriberSlot::EMPTY; subs],
            addrs: vec![AddressSlot::EMPTY; addrs],
            held: vec![HoldSlot::EMPTY; held],
            exempt: vec![ExemptSlot::EMPTY; 64],
            events: vec![None; events],
        }
    }

    pub fn storage(&mut self) -> PooledStorage<'_, I> {
        PooledStorage {
            subscribers: &mut self.subs,
            addresses: &mut self.addrs,
            hold_down: &mut self.held,
            exempt: &mut self.exempt,
            events: &mut self.events,
        }
    }
}

/// Storage of a block allocator, owned by the test.
pub struct BlockMem<I: IpAddress> {
    pub subs: Vec<SubscriberSlot<I>>,
    pub pool_bits: Vec<u64>,
    pub blocks: Vec<BlockSlot<I>>,
    pub block_bits: Vec<u64>,
    pub exempt: Vec<ExemptSlot>,
    pub events: Vec<Option<AllocEvent<I>>>,
}

impl<I: InsideAddress> BlockMem<I> {
    pub fn new(cfg: &BlockConfig<'_>, subs: usize, blocks: usize, events: usize) -> Self {
        BlockMem {
            subs: vec![SubscriberSlot::EMPTY; subs],
            pool_bits: vec![0; cfg.pool_words().unwrap()],
            blocks: vec![BlockSlot::EMPTY; blocks],
            block_bits: vec![0; cfg.block_words(blocks)],
            exempt: vec![ExemptSlot::EMPTY; 64],
            events: vec![None; events],
        }
    }

    pub fn storage(&mut self) -> BlockStorage<'_, I> {
        BlockStorage {
            subscribers: &mut self.subs,
            pool_bits: &mut self.pool_bits,
            blocks: &mut self.blocks,
            block_bits: &mut self.block_bits,
            exempt: &mut self.exempt,
            events: &mut self.events,
        }
    }
}

/// A request from `inside:port` to `remote:rport`.
pub fn req<I: Copy>(
    proto: L4Proto,
    inside: I,
    port: u16,
    remote: Ipv4Addr,
    rport: u16,
) -> AllocRequest<I, Ipv4Addr> {
    AllocRequest {
        proto,
        inside: Endpoint::new(inside, port),
        remote: Endpoint::new(remote, rport),
    }
}

pub const KEY: SecretKey = SecretKey::new(0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210);

pub fn range(a: [u8; 4], b: [u8; 4]) -> Ipv4Range {
    Ipv4Range::new(Ipv4Addr::from(a), Ipv4Addr::from(b)).unwrap()
}

/// xorshift64*: a deterministic PRNG for synthetic workloads.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
