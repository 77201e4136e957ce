//! Port blocks ("bulk port allocation"): one log record per block of ports, not per session.
//!
//! [RFC 7269 § 5.1]: "Once a subscriber creates the first session, a number of ports are
//! pre-allocated. A bulk allocation message is logged indicating this allocation. Subsequent
//! session creations will use one of the pre-allocated ports and hence do not require logging."
//! [RFC 6888] REQ-14 asks for a scheme that minimises log volume; REQ-13 for one that uses ports
//! well, which small blocks do. A subscriber gets blocks of `block_size` ports on its paired
//! address, up to `max_blocks`; a block covers TCP, UDP and ICMP (one bitmap each). A block that
//! stays empty for `idle_timeout` is freed and waits out the hold-down (REQ-8) before another
//! subscriber gets it; inside its blocks, a subscriber reuses its own ports at once.
//!
//! Blocks are contiguous or scattered by a keyed permutation ([`BlockLayout`]). Well-known ports
//! are not in blocks, so range preservation (RFC 4787 REQ-3a) is the per-port pool's job.
//!
//! [RFC 7269 § 5.1]: https://www.rfc-editor.org/rfc/rfc7269#section-5.1
//! [RFC 6888]: https://www.rfc-editor.org/rfc/rfc6888#section-5

use core::net::Ipv4Addr;

use nat_core::flow::L4Proto;
use nat_core::time::{Duration, Instant};

use crate::bitmap;
use crate::error::{ConfigError, need};
use crate::events::{AllocEvent, AllocStats, EventQueue};
use crate::exemption::{ExemptSlot, ExemptTable, Exemption, Exemptions};
use crate::hash::SecretKey;
use crate::pool::{AddressPool, Ipv4Range};
use crate::port::{PortChooser, PortPolicy, PortRange};
use crate::quota::{self, Quotas};
use crate::scatter::Scatter;
use crate::subscriber::{InsideAddress, NONE, SubscriberSlot, SubscriberTable};

mod alloc;
mod list;

/// How the ports of a block lie in the port space ([RFC 7269 § 5.1]).
///
/// [RFC 7269 § 5.1]: https://www.rfc-editor.org/rfc/rfc7269#section-5.1
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BlockLayout {
    /// `block_size` consecutive ports.
    Contiguous,
    /// `block_size` ports spread over the range by a keyed permutation (RFC 6056 in spirit);
    /// needs an even number of ports in [`BlockConfig::ports`].
    Scattered,
}

/// Configuration of a [`BlockAllocator`] ([RFC 7269 § 5.1], [RFC 6888] REQ-13/14).
///
/// [RFC 7269 § 5.1]: https://www.rfc-editor.org/rfc/rfc7269#section-5.1
/// [RFC 6888]: https://www.rfc-editor.org/rfc/rfc6888#section-5
#[derive(Clone, Copy, Debug)]
pub struct BlockConfig<'a> {
    /// The outside addresses (RFC 6888 REQ-3).
    pub pool: &'a [Ipv4Range],
    /// Blocks tile these ports (scattered blocks: are spread within them); ports past the last
    /// whole block stay unused. A worker thread that owns a slice of every outside address's
    /// ports gets an allocator confined to that slice.
    pub ports: PortRange,
    /// Ports per block (N).
    pub block_size: u16,
    /// Blocks per subscriber (M); an exempt mapping may open one more.
    pub max_blocks: u16,
    /// Contiguous or scattered blocks.
    pub layout: BlockLayout,
    /// A block empty for this long is freed.
    pub idle_timeout: Duration,
    /// A freed block waits this long before another subscriber may get it (REQ-8).
    pub hold_down: Duration,
    /// At most this many blocks wait in hold-down (REQ-8).
    pub max_held_blocks: usize,
    /// Port choice inside a block (`range` is ignored).
    pub policy: PortPolicy,
    /// Per-subscriber limits, on top of `max_blocks * block_size`.
    pub quotas: Quotas,
    /// Length of the prefix that identifies a subscriber; `None` for the whole address.
    pub subscriber_prefix_len: Option<u8>,
    /// Destinations outside the quota (draft-nishitani-cgn REQ-5, § 7).
    pub exemptions: &'a [Exemption],
    /// The key of every hash.
    pub key: SecretKey,
}

impl<'a> BlockConfig<'a> {
    /// Defaults: blocks of 256 ports in 1024-65535, 8 per subscriber, contiguous, freed after
    /// 5 minutes empty, 120 s hold-down, [`PortPolicy::HARD_TO_GUESS`], no quotas.
    pub fn new(pool: &'a [Ipv4Range], key: SecretKey) -> Self {
        BlockConfig {
            pool,
            ports: PortRange::DYNAMIC,
            block_size: 256,
            max_blocks: 8,
            layout: BlockLayout::Contiguous,
            idle_timeout: Duration::from_secs(300),
            hold_down: crate::DEFAULT_HOLD_DOWN,
            max_held_blocks: usize::MAX,
            policy: PortPolicy::HARD_TO_GUESS,
            quotas: Quotas::UNLIMITED,
            subscriber_prefix_len: None,
            exemptions: &[],
            key,
        }
    }

    /// Blocks per outside address.
    pub fn blocks_per_address(&self) -> u32 {
        self.ports
            .len()
            .checked_div(u32::from(self.block_size))
            .unwrap_or(0)
    }

    /// Words of `u64` that [`BlockStorage::pool_bits`] needs (one bit per block).
    pub fn pool_words(&self) -> Result<usize, ConfigError> {
        let pool = AddressPool::new(self.pool)?;
        Ok(pool.len() as usize * (self.blocks_per_address() as usize).div_ceil(64))
    }

    /// Words of `u64` that [`BlockStorage::block_bits`] needs for `blocks` block records.
    pub fn block_words(&self, blocks: usize) -> usize {
        blocks.saturating_mul(3 * usize::from(self.block_size).div_ceil(64))
    }
}

/// The caller's memory for a [`BlockAllocator`] ([RFC 7269 § 5.1] blocks); contents are
/// overwritten by `new`.
///
/// [RFC 7269 § 5.1]: https://www.rfc-editor.org/rfc/rfc7269#section-5.1
#[derive(Debug)]
pub struct BlockStorage<'a, I> {
    /// Subscriber records; at most 7/8 are used.
    pub subscribers: &'a mut [SubscriberSlot<I>],
    /// [`BlockConfig::pool_words`] words: which blocks of each address are taken or held.
    pub pool_bits: &'a mut [u64],
    /// Block records: the most blocks allocated or in hold-down at once.
    pub blocks: &'a mut [BlockSlot<I>],
    /// [`BlockConfig::block_words`] words: a port bitmap per block and protocol.
    pub block_bits: &'a mut [u64],
    /// Exempt mappings remembered for release; may be empty.
    pub exempt: &'a mut [ExemptSlot],
    /// The event queue; may be empty.
    pub events: &'a mut [Option<AllocEvent<I>>],
}

const FREE: u8 = 0;
const ACTIVE: u8 = 1;
const HELD: u8 = 2;

/// One port block's record (storage element; [RFC 7269 § 5.1]).
///
/// [RFC 7269 § 5.1]: https://www.rfc-editor.org/rfc/rfc7269#section-5.1
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockSlot<I> {
    owner: I,
    addr: u32,
    index: u32,
    state: u8,
    used: [u16; 3],
    /// ACTIVE and empty: when it became empty (ms). HELD: when the hold-down ends (ms).
    since: u64,
    next_sub: u32,
    prev: u32,
    next: u32,
}

impl<I: InsideAddress> BlockSlot<I> {
    /// An unused record, to fill the storage with.
    pub const EMPTY: Self = BlockSlot {
        owner: I::UNSPECIFIED,
        addr: NONE,
        index: NONE,
        state: FREE,
        used: [0; 3],
        since: 0,
        next_sub: NONE,
        prev: NONE,
        next: NONE,
    };

    /// Tests the counters one by one: comparing the array as a whole loads it in one wide
    /// read, which stalls on the narrow store that `release` has just made to one of them.
    #[inline(always)]
    fn is_empty(&self) -> bool {
        let [tcp, udp, icmp] = self.used;
        tcp | udp | icmp == 0
    }
}

/// Port-block allocation with paired pooling, quotas, hold-down and exemptions
/// ([RFC 7269 § 5.1], [RFC 6888] REQ-2..8, 13..15).
///
/// [RFC 7269 § 5.1]: https://www.rfc-editor.org/rfc/rfc7269#section-5.1
/// [RFC 6888]: https://www.rfc-editor.org/rfc/rfc6888#section-3
#[derive(Debug)]
pub struct BlockAllocator<'a, I> {
    pool: AddressPool<'a>,
    first_port: u32,
    /// Ports in the range (`last - first + 1`).
    span: u32,
    n: u32,
    m: u16,
    bpa: u32,
    wpa: usize,
    wpb: usize,
    scatter: Option<Scatter>,
    idle_ms: u64,
    hold_ms: u64,
    max_held: usize,
    pool_bits: &'a mut [u64],
    blocks: &'a mut [BlockSlot<I>],
    block_bits: &'a mut [u64],
    lists: list::Lists,
    subs: SubscriberTable<'a, I>,
    exempt: ExemptTable<'a>,
    exemptions: Exemptions<'a>,
    events: EventQueue<'a, I>,
    chooser: PortChooser,
    block_key: SecretKey,
    quotas: Quotas,
    stats: AllocStats,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl<'a, I: InsideAddress> BlockAllocator<'a, I> {
    /// Validates `cfg` against `storage` and builds the allocator.
    pub fn new(cfg: &BlockConfig<'a>, storage: BlockStorage<'a, I>) -> Result<Self, ConfigError> {
        let pool = AddressPool::new(cfg.pool)?;
        cfg.ports.validate("ports")?;
        let bpa = cfg.blocks_per_address();
        if cfg.block_size == 0 || bpa == 0 {
            return Err(ConfigError::OutOfRange {
                field: "block_size",
            });
        }
        if cfg.max_blocks == 0 {
            return Err(ConfigError::OutOfRange {
                field: "max_blocks",
            });
        }
        // The scatter permutation keeps parity by permuting pairs of ports.
        if cfg.layout == BlockLayout::Scattered && cfg.ports.len() % 2 == 1 {
            return Err(ConfigError::Inconsistent { field: "ports" });
        }
        cfg.quotas.validate()?;
        let exemptions = Exemptions::new(cfg.exemptions)?;
        let bits = (I::LEN * 8) as u8;
        let prefix_len = cfg.subscriber_prefix_len.unwrap_or(bits);
        if prefix_len > bits {
            return Err(ConfigError::OutOfRange {
                field: "subscriber_prefix_len",
            });
        }
        if storage.subscribers.is_empty() {
            return Err(ConfigError::Empty {
                field: "storage.subscribers",
            });
        }
        if storage.blocks.is_empty() || storage.blocks.len() >= NONE as usize {
            return Err(ConfigError::OutOfRange {
                field: "storage.blocks",
            });
        }
        need(
            "storage.pool_bits",
            cfg.pool_words()?,
            storage.pool_bits.len(),
        )?;
        let nblocks = storage.blocks.len();
        need(
            "storage.block_bits",
            cfg.block_words(nblocks),
            storage.block_bits.len(),
        )?;
        storage.pool_bits.fill(0);
        let lists = list::Lists::new(storage.blocks);
        let first_port = u32::from(cfg.ports.first);
        let span = cfg.ports.len();
        Ok(BlockAllocator {
            pool,
            first_port,
            span,
            n: u32::from(cfg.block_size),
            m: cfg.max_blocks,
            bpa,
            wpa: (bpa as usize).div_ceil(64),
            wpb: usize::from(cfg.block_size).div_ceil(64),
            scatter: (cfg.layout == BlockLayout::Scattered).then(|| Scatter::new(&cfg.key, span)),
            idle_ms: millis(cfg.idle_timeout),
            hold_ms: millis(cfg.hold_down),
            max_held: cfg.max_held_blocks,
            pool_bits: storage.pool_bits,
            blocks: storage.blocks,
            block_bits: storage.block_bits,
            lists,
            subs: SubscriberTable::new(storage.subscribers, &cfg.key, prefix_len),
            exempt: ExemptTable::new(storage.exempt, &cfg.key),
            exemptions,
            events: EventQueue::new(storage.events),
            chooser: PortChooser::new(cfg.policy, &cfg.key),
            block_key: cfg.key.derive(0xb10c),
            quotas: cfg.quotas,
            stats: AllocStats::default(),
        })
    }

    /// The event queue, to drain.
    pub fn events(&mut self) -> &mut EventQueue<'a, I> {
        &mut self.events
    }

    /// The counters.
    pub fn stats(&self) -> AllocStats {
        self.stats
    }

    /// Subscribers with a live record.
    pub fn subscribers(&self) -> usize {
        self.subs.len()
    }

    /// Blocks allocated to subscribers now (not counting hold-down).
    pub fn active_blocks(&self) -> usize {
        self.blocks.iter().filter(|b| b.state == ACTIVE).count()
    }

    /// The outside address paired with the subscriber of `inside`, if it holds anything.
    pub fn paired_address(&self, inside: I) -> Option<Ipv4Addr> {
        let i = self.subs.find(self.subs.subscriber_of(inside))?;
        let a = self.subs.get(i).addr;
        if a == NONE {
            None
        } else {
            self.pool.address(a)
        }
    }

    /// The first (logical) port of the block holding `port`: the `first_port` of its
    /// `BlockAllocated` record, for finding a subscriber from a log.
    pub fn block_of_port(&self, port: u16) -> Option<u16> {
        let (b, _) = self.locate(port)?;
        u16::try_from(self.first_port + b * self.n).ok()
    }

    /// The real ports of the block whose record says `first_port` (for scattered blocks, the
    /// keyed permutation applied to each logical port).
    pub fn block_ports(&self, first_port: u16) -> impl Iterator<Item = u16> + '_ {
        let start = u32::from(first_port).saturating_sub(self.first_port);
        let b = start / self.n;
        (0..self.n).filter_map(move |pos| self.port_at(b, pos))
    }

    /// How this allocator's blocks lie.
    pub fn layout(&self) -> BlockLayout {
        if self.scatter.is_some() {
            BlockLayout::Scattered
        } else {
            BlockLayout::Contiguous
        }
    }

    /// The real port of position `pos` of block `b`.
    fn port_at(&self, b: u32, pos: u32) -> Option<u16> {
        let logical = b
            .checked_mul(self.n)?
            .checked_add(pos)
            .filter(|&l| l < self.span)?;
        let off = match &self.scatter {
            Some(s) => s.forward(logical),
            None => logical,
        };
        u16::try_from(self.first_port + off).ok()
    }

    /// Block index and position of a real port.
    fn locate(&self, port: u16) -> Option<(u32, u32)> {
        let off = u32::from(port)
            .checked_sub(self.first_port)
            .filter(|&off| off < self.span)?;
        let logical = match &self.scatter {
            Some(s) => s.inverse(off),
            None => off,
        };
        // Blocks are usually a power of two: shift and mask instead of dividing.
        let (b, pos) = if self.n.is_power_of_two() {
            (logical >> self.n.trailing_zeros(), logical & (self.n - 1))
        } else {
            (logical / self.n, logical % self.n)
        };
        (b < self.bpa).then_some((b, pos))
    }

    fn bits_range(&self, bi: u32, proto: L4Proto) -> core::ops::Range<usize> {
        let start = (bi as usize * 3 + proto.index()) * self.wpb;
        start..start + self.wpb
    }

    fn pool_range(&self, addr: u32) -> core::ops::Range<usize> {
        let start = addr as usize * self.wpa;
        start..start + self.wpa
    }

    /// The subscriber's block record for block `b` of address `addr`.
    fn owned_block(&self, si: usize, addr: u32, b: u32) -> Option<u32> {
        let mut bi = self.subs.get(si).blocks;
        for _ in 0..self.blocks.len() {
            let blk = self.blocks.get(bi as usize)?;
            if blk.addr == addr && blk.index == b {
                return Some(bi);
            }
            bi = blk.next_sub;
        }
        None
    }

    /// When [`poll`](Self::poll) next has work (an idle block to free, a hold-down that
    /// ends), for the caller's timer: without it, an idle block's `BlockFreed` record waits for
    /// the next call.
    pub fn next_timeout(&self) -> Option<Instant> {
        let idle = self.lists.idle_front().map(|bi| {
            Instant::from_millis(self.blocks[bi as usize].since.saturating_add(self.idle_ms))
        });
        let held = self
            .lists
            .held_front()
            .map(|bi| Instant::from_millis(self.blocks[bi as usize].since));
        match (idle, held) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Ends idle blocks and hold-downs due at `now` (every call but `release` does it too).
    #[inline]
    pub fn poll(&mut self, now: Instant) {
        // The common case, nothing due, without a call.
        let t = now.as_millis();
        let due = |bi: Option<u32>, wait: u64| {
            bi.and_then(|bi| self.blocks.get(bi as usize))
                .is_some_and(|b| b.since.saturating_add(wait) <= t)
        };
        if due(self.lists.idle_front(), self.idle_ms)
            || due(self.lists.held_front(), 0)
            || self.quotas.tcp_rate.is_some()
        {
            self.expire_due(now);
        }
    }

    #[inline(never)]
    fn expire_due(&mut self, now: Instant) {
        let t = now.as_millis();
        while let Some(bi) = self.lists.idle_front() {
            if self.blocks[bi as usize].since.saturating_add(self.idle_ms) > t {
                break;
            }
            self.lists.unlink_idle(self.blocks, bi);
            self.retire(bi, now);
        }
        while let Some(bi) = self.lists.held_front() {
            if self.blocks[bi as usize].since > t {
                break;
            }
            self.lists.pop_held(self.blocks);
            self.release_block(bi);
        }
        // Records outlive their holdings only to remember a token bucket (REQ-3e): sweep one
        // slot per call for those, and only when there can be any.
        if self.quotas.tcp_rate.is_some()
            && let Some(i) = self.subs.next_sweep()
        {
            self.forget_if_idle(i, now);
        }
    }

    /// Takes an empty block from its subscriber: log it, and hold it down.
    fn retire(&mut self, bi: u32, now: Instant) {
        let blk = self.blocks[bi as usize];
        let sub = blk.owner;
        if let Some(si) = self.subs.find(sub) {
            // Unlink from the subscriber's list.
            let s = self.subs.get_mut(si);
            if s.blocks == bi {
                s.blocks = blk.next_sub;
            } else {
                let mut cur = s.blocks;
                for _ in 0..self.blocks.len() {
                    let Some(c) = self.blocks.get_mut(cur as usize) else {
                        break;
                    };
                    if c.next_sub == bi {
                        c.next_sub = blk.next_sub;
                        break;
                    }
                    cur = c.next_sub;
                }
            }
            s.block_count = s.block_count.saturating_sub(1);
            self.forget_if_idle(si, now);
        }
        if let (Some(outside), Ok(first_port)) = (
            self.pool.address(blk.addr),
            u16::try_from(self.first_port + blk.index * self.n),
        ) {
            self.events.push(AllocEvent::BlockFreed {
                at: now,
                subscriber: sub,
                outside,
                first_port,
                len: self.n as u16,
                proto: None,
                layout: self.layout(),
            });
        }
        if self.hold_ms == 0 || self.max_held == 0 {
            self.release_block(bi);
            return;
        }
        let b = &mut self.blocks[bi as usize];
        b.state = HELD;
        b.next_sub = NONE;
        b.since = now.as_millis().saturating_add(self.hold_ms);
        self.lists.push_held(self.blocks, bi);
        if self.lists.held_len() > self.max_held
            && let Some(old) = self.lists.pop_held(self.blocks)
        {
            self.stats.hold_down_evictions += 1;
            self.release_block(old);
        }
    }

    /// Returns a block to the pool and its record to the free list.
    fn release_block(&mut self, bi: u32) {
        let blk = self.blocks[bi as usize];
        let r = self.pool_range(blk.addr);
        if let Some(words) = self.pool_bits.get_mut(r) {
            bitmap::slice_clear(words, blk.index);
        }
        self.blocks[bi as usize] = BlockSlot::EMPTY;
        self.lists.push_free(self.blocks, bi);
    }

    /// When subscriber `i` holds nothing: unpairs its address, and drops the record unless its
    /// token bucket still remembers recent sessions.
    fn forget_if_idle(&mut self, i: usize, now: Instant) {
        let s = self.subs.get_mut(i);
        if !s.holds_nothing() {
            return;
        }
        s.addr = NONE;
        if quota::bucket_full(&s.bucket, &self.quotas, now) {
            self.subs.remove(i);
        }
    }
}
