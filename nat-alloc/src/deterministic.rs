//! Deterministic NAT ([RFC 7422]): each subscriber's outside address and port range computed
//! from its inside address, so that no per-session or per-block log is needed.
//!
//! Subscribers are numbered by the bits of their address between the inside prefix and the
//! subscriber prefix: `k = (inside >> (W - subscriber_len)) mod 2^(subscriber_len - inside_len)`.
//! Subscriber `k` gets outside address `k mod A` of the pool (A addresses; consecutive
//! subscribers land on different addresses) and port range number `k div A`, that is ports
//! `first_port + (k div A) * P ..+ P`. The reverse function takes an outside address and port
//! back to `k` and to the subscriber prefix: what an abuse desk needs, with no log at all
//! (draft-nishitani-cgn § 6.2 "fixed port assignment").
//!
//! Time: the mapping does not depend on time. It holds for as long as the configuration (inside
//! prefix, subscriber length, pool, first port, ports per subscriber) is unchanged; the operator
//! must keep the configuration history, which replaces the log. Because the assignment is
//! static and survives state loss, ports are reused at once ([RFC 6888] REQ-8b): no hold-down.
//! Exemptions do not apply: a subscriber's range is its quota.
//!
//! [RFC 7422]: https://www.rfc-editor.org/rfc/rfc7422
//! [RFC 6888]: https://www.rfc-editor.org/rfc/rfc6888#section-3

use core::marker::PhantomData;
use core::net::Ipv4Addr;

use nat_core::allocator::{AllocError, AllocRequest, PortAllocator};
use nat_core::flow::{Endpoint, L4Proto};
use nat_core::time::Instant;

use crate::bitmap::{self, Parity, SliceSet};
use crate::error::{ConfigError, need};
use crate::events::AllocStats;
use crate::hash::{SecretKey, mix};
use crate::pool::{AddressPool, Ipv4Range};
use crate::port::{FlowId, PortChooser, PortPolicy, Window};
use crate::quota::{self, Bucket, Quotas};
use crate::subscriber::InsideAddress;

/// An inside prefix: `addr/len` (host bits of `addr` ignored), as in [RFC 7422] § 2.
///
/// [RFC 7422]: https://www.rfc-editor.org/rfc/rfc7422#section-2
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InsidePrefix<I> {
    /// The prefix address.
    pub addr: I,
    /// The prefix length.
    pub len: u8,
}

/// Configuration of deterministic NAT ([RFC 7422] § 2).
///
/// [RFC 7422]: https://www.rfc-editor.org/rfc/rfc7422#section-2
#[derive(Clone, Copy, Debug)]
pub struct DeterministicConfig<'a, I> {
    /// The inside prefix whose subscribers are served.
    pub inside: InsidePrefix<I>,
    /// Length of a subscriber's prefix (32 for NAT44 hosts, e.g. 56 for NAT64 homes); `None`
    /// for whole addresses. At most 32 bits longer than the inside prefix.
    pub subscriber_prefix_len: Option<u8>,
    /// The outside addresses.
    pub outside: &'a [Ipv4Range],
    /// Ranges tile `first_port..=65535`.
    pub first_port: u16,
    /// Ports per subscriber (P).
    pub ports_per_subscriber: u16,
    /// Port choice inside a range (`range` is ignored).
    pub policy: PortPolicy,
    /// Session limits and per-protocol port limits (within P).
    pub quotas: Quotas,
    /// The key of the port chooser's hashes.
    pub key: SecretKey,
}

/// A subscriber's deterministic share: one outside address and a port range ([RFC 7422] § 2).
///
/// [RFC 7422]: https://www.rfc-editor.org/rfc/rfc7422#section-2
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeterministicRange {
    /// The outside address.
    pub outside: Ipv4Addr,
    /// First port of the range.
    pub first_port: u16,
    /// Last port of the range.
    pub last_port: u16,
}

/// The forward and reverse functions of deterministic NAT ([RFC 7422] § 2), usable without
/// any state (e.g. by a log search tool).
///
/// [RFC 7422]: https://www.rfc-editor.org/rfc/rfc7422#section-2
#[derive(Clone, Copy, Debug)]
pub struct DeterministicMap<'a, I> {
    pool: AddressPool<'a>,
    base: u128,
    inside_len: u32,
    width: u32,
    sub_shift: u32,
    count: u64,
    first_port: u32,
    ports: u32,
    per_addr: u32,
    _inside: PhantomData<I>,
}

fn to_u128<I: InsideAddress>(a: &I) -> u128 {
    let b = a.bytes();
    let v = u128::from_be_bytes(b);
    v >> (128 - I::LEN as u32 * 8)
}

impl<'a, I: InsideAddress> DeterministicMap<'a, I> {
    /// Validates the configuration: the subscribers must fit in the outside ports.
    pub fn new(cfg: &DeterministicConfig<'a, I>) -> Result<Self, ConfigError> {
        let width = I::LEN as u32 * 8;
        let inside_len = u32::from(cfg.inside.len);
        if inside_len > width {
            return Err(ConfigError::OutOfRange {
                field: "inside.len",
            });
        }
        let sub_len = cfg.subscriber_prefix_len.map_or(width, u32::from);
        if sub_len > width || sub_len < inside_len || sub_len - inside_len > 32 {
            return Err(ConfigError::OutOfRange {
                field: "subscriber_prefix_len",
            });
        }
        let pool = AddressPool::new(cfg.outside)?;
        if cfg.first_port == 0 {
            return Err(ConfigError::OutOfRange {
                field: "first_port",
            });
        }
        let ports = u32::from(cfg.ports_per_subscriber);
        let per_addr = (65536 - u32::from(cfg.first_port))
            .checked_div(ports)
            .unwrap_or(0);
        if per_addr == 0 {
            return Err(ConfigError::OutOfRange {
                field: "ports_per_subscriber",
            });
        }
        let count = 1u64 << (sub_len - inside_len);
        if count > u64::from(pool.len()) * u64::from(per_addr) {
            return Err(ConfigError::Inconsistent {
                field: "ports_per_subscriber",
            });
        }
        let host = width - inside_len;
        let base = to_u128(&cfg.inside.addr)
            .checked_shr(host)
            .and_then(|v| v.checked_shl(host))
            .unwrap_or(0);
        Ok(DeterministicMap {
            pool,
            base,
            inside_len,
            width,
            sub_shift: width - sub_len,
            count,
            first_port: u32::from(cfg.first_port),
            ports,
            per_addr,
            _inside: PhantomData,
        })
    }

    /// Number of subscribers (2^(subscriber_len - inside_len)).
    pub fn subscribers(&self) -> u64 {
        self.count
    }

    /// The subscriber number of `inside`, if it is in the inside prefix.
    pub fn index_of(&self, inside: I) -> Option<u32> {
        let v = to_u128(&inside);
        let host = self.width - self.inside_len;
        if v.checked_shr(host).unwrap_or(0) != self.base.checked_shr(host).unwrap_or(0) {
            return None;
        }
        let k = v.checked_shr(self.sub_shift).unwrap_or(0) & u128::from(self.count - 1);
        u32::try_from(k).ok()
    }

    /// The prefix address of subscriber number `k`.
    pub fn subscriber(&self, k: u32) -> Option<I> {
        if u64::from(k) >= self.count {
            return None;
        }
        let v = self.base | u128::from(k).checked_shl(self.sub_shift).unwrap_or(0);
        let v = v << (128 - self.width);
        Some(I::from_bytes(v.to_be_bytes()))
    }

    fn range_of(&self, k: u32) -> Option<(u32, u32)> {
        let n = self.pool.len();
        let slot = k / n;
        (slot < self.per_addr).then_some((k % n, self.first_port + slot * self.ports))
    }

    /// The forward function: the outside address and port range of `inside`'s subscriber.
    pub fn forward(&self, inside: I) -> Option<DeterministicRange> {
        let (a, first) = self.range_of(self.index_of(inside)?)?;
        Some(DeterministicRange {
            outside: self.pool.address(a)?,
            first_port: u16::try_from(first).ok()?,
            last_port: u16::try_from(first + self.ports - 1).ok()?,
        })
    }

    /// The reverse function: the subscriber (prefix address) that owns `outside`.
    pub fn reverse(&self, outside: Endpoint<Ipv4Addr>) -> Option<I> {
        let a = self.pool.index_of(outside.addr)?;
        let slot = u32::from(outside.port).checked_sub(self.first_port)? / self.ports;
        if slot >= self.per_addr {
            return None;
        }
        let k = u64::from(slot) * u64::from(self.pool.len()) + u64::from(a);
        self.subscriber(u32::try_from(k).ok()?)
    }
}

/// Per-subscriber state of deterministic NAT (storage element): ports held per protocol and
/// the session bucket (RFC 7422, draft-nishitani-cgn REQ-3e).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeterministicSlot {
    used: [u32; 3],
    bucket: Bucket,
}

impl DeterministicSlot {
    /// An unused slot, to fill the storage with.
    pub const EMPTY: DeterministicSlot = DeterministicSlot {
        used: [0; 3],
        bucket: Bucket {
            sessions: 0,
            tokens: 0,
            refilled: 0,
        },
    };
}

/// Deterministic NAT as a [`PortAllocator`] ([RFC 7422]): ports of each subscriber's own range,
/// chosen by the [`PortPolicy`]; no hold-down (RFC 6888 REQ-8b), no log.
///
/// [RFC 7422]: https://www.rfc-editor.org/rfc/rfc7422
#[derive(Debug)]
pub struct DeterministicAllocator<'a, I> {
    map: DeterministicMap<'a, I>,
    slots: &'a mut [DeterministicSlot],
    bits: &'a mut [u64],
    wps: usize,
    chooser: PortChooser,
    /// Keys the subscriber's word of the port chooser's hash input.
    sub_key: SecretKey,
    quotas: Quotas,
    stats: AllocStats,
}

impl<'a, I: InsideAddress> DeterministicAllocator<'a, I> {
    /// Words of `u64` the port bitmaps need: subscribers × 3 × ⌈P / 64⌉.
    pub fn bitmap_words(map: &DeterministicMap<'a, I>) -> usize {
        (map.count as usize).saturating_mul(3 * (map.ports as usize).div_ceil(64))
    }

    /// Builds the allocator over one slot per subscriber and the port bitmaps.
    pub fn new(
        cfg: &DeterministicConfig<'a, I>,
        slots: &'a mut [DeterministicSlot],
        bits: &'a mut [u64],
    ) -> Result<Self, ConfigError> {
        let map = DeterministicMap::new(cfg)?;
        cfg.quotas.validate()?;
        need("storage.slots", map.count as usize, slots.len())?;
        need("storage.bits", Self::bitmap_words(&map), bits.len())?;
        slots.fill(DeterministicSlot {
            used: [0; 3],
            bucket: Bucket::full(&cfg.quotas, 0),
        });
        bits.fill(0);
        Ok(DeterministicAllocator {
            wps: (map.ports as usize).div_ceil(64),
            map,
            slots,
            bits,
            chooser: PortChooser::new(cfg.policy, &cfg.key),
            sub_key: cfg.key.derive(0x5eb5),
            quotas: cfg.quotas,
            stats: AllocStats::default(),
        })
    }

    /// The forward and reverse functions.
    pub fn map(&self) -> &DeterministicMap<'a, I> {
        &self.map
    }

    /// The counters.
    pub fn stats(&self) -> AllocStats {
        self.stats
    }

    fn bits_range(&self, k: u32, proto: L4Proto) -> core::ops::Range<usize> {
        let start = (k as usize * 3 + proto.index()) * self.wps;
        start..start + self.wps
    }

    /// Subscriber number of `inside` and position of `outside` in its range, if it is there.
    fn owned(&self, inside: I, outside: Endpoint<Ipv4Addr>) -> Option<(u32, u32)> {
        let k = self.map.index_of(inside)?;
        let (a, first) = self.map.range_of(k)?;
        let pos = u32::from(outside.port).checked_sub(first)?;
        (pos < self.map.ports && self.map.pool.index_of(outside.addr)? == a).then_some((k, pos))
    }
}

impl<I: InsideAddress> PortAllocator<I, Ipv4Addr> for DeterministicAllocator<'_, I> {
    fn allocate(
        &mut self,
        _now: Instant,
        req: &AllocRequest<I, Ipv4Addr>,
    ) -> Result<Endpoint<Ipv4Addr>, AllocError> {
        let k = self
            .map
            .index_of(req.inside.addr)
            .ok_or(AllocError::NotSubscriber)?;
        let (a, first) = self.map.range_of(k).ok_or(AllocError::NotSubscriber)?;
        let outside = self.map.pool.address(a).ok_or(AllocError::NotSubscriber)?;
        let proto = req.proto;
        let slot = self
            .slots
            .get(k as usize)
            .ok_or(AllocError::NotSubscriber)?;
        if !quota::port_quota_left(&slot.used, &self.quotas, proto) {
            self.stats.quota_rejections += 1;
            return Err(AllocError::QuotaExhausted);
        }
        let r = self.bits_range(k, proto);
        let words = self.bits.get(r.clone()).ok_or(AllocError::NotSubscriber)?;
        let inside_port = u32::from(req.inside.port);
        let base_parity = self.chooser.parity_for(req.inside.port).shifted(first);
        let flow = FlowId::new(
            mix(&self.sub_key, u64::from(k), 0),
            req.inside.port,
            req.remote.addr.to_bits(),
            req.remote.port,
            proto.index() as u8,
        );
        let mut win = Window {
            lo: 0,
            hi: self.map.ports - 1,
            parity: base_parity,
            preferred: inside_port
                .checked_sub(first)
                .filter(|&p| p < self.map.ports),
        };
        let mut pos = self.chooser.choose(&SliceSet(words), win, &flow);
        if pos.is_none() && win.parity != Parity::Any {
            win.parity = Parity::Any;
            pos = self.chooser.choose(&SliceSet(words), win, &flow);
        }
        let Some(pos) = pos else {
            // The range is full: with P ports and no quota below P, this is the quota.
            self.stats.quota_rejections += 1;
            return Err(AllocError::QuotaExhausted);
        };
        let port = u16::try_from(first + pos).map_err(|_| AllocError::PoolExhausted)?;
        if let Some(w) = self.bits.get_mut(r) {
            bitmap::slice_set(w, pos);
        }
        self.slots[k as usize].used[proto.index()] += 1;
        self.stats.allocated += 1;
        Ok(Endpoint::new(outside, port))
    }

    fn reserve(
        &mut self,
        _now: Instant,
        proto: L4Proto,
        inside: Endpoint<I>,
        outside: Endpoint<Ipv4Addr>,
    ) -> Result<(), AllocError> {
        let (k, pos) = self
            .owned(inside.addr, outside)
            .ok_or(AllocError::Unavailable)?;
        let r = self.bits_range(k, proto);
        if !self
            .bits
            .get_mut(r)
            .is_some_and(|w| bitmap::slice_set(w, pos))
        {
            return Err(AllocError::Unavailable);
        }
        self.slots[k as usize].used[proto.index()] += 1;
        self.stats.allocated += 1;
        Ok(())
    }

    fn release(
        &mut self,
        _now: Instant,
        proto: L4Proto,
        inside: Endpoint<I>,
        outside: Endpoint<Ipv4Addr>,
    ) {
        let Some((k, pos)) = self.owned(inside.addr, outside) else {
            self.stats.ignored_releases += 1;
            return;
        };
        let r = self.bits_range(k, proto);
        if self
            .bits
            .get_mut(r)
            .is_some_and(|w| bitmap::slice_clear(w, pos))
        {
            let u = &mut self.slots[k as usize].used[proto.index()];
            *u = u.saturating_sub(1);
            self.stats.released += 1;
        } else {
            self.stats.ignored_releases += 1;
        }
    }

    fn admit_session(&mut self, now: Instant, proto: L4Proto, inside: I) -> Result<(), AllocError> {
        let k = self.map.index_of(inside).ok_or(AllocError::NotSubscriber)?;
        let slot = self
            .slots
            .get_mut(k as usize)
            .ok_or(AllocError::NotSubscriber)?;
        let r = quota::admit(&mut slot.bucket, &self.quotas, now, proto);
        if r.is_err() {
            self.stats.session_rejections += 1;
        }
        r
    }

    fn session_closed(&mut self, _now: Instant, _proto: L4Proto, inside: I) {
        if let Some(slot) = self
            .map
            .index_of(inside)
            .and_then(|k| self.slots.get_mut(k as usize))
        {
            quota::close(&mut slot.bucket);
        }
    }
}
