//! NAT46 as the stateful NAT redundancy framework defines it (draft-xu-behave-stateful-nat-
//! standby § 2): IPv4 hosts inside, IPv6 hosts outside. An inside IPv4 pool represents the
//! outside IPv6 hosts (the "internal address pool": one IPv4 address bound to each IPv6 host
//! talked to), and the inside hosts appear outside under a Prefix64, statelessly (RFC 6052).
//!
//! Headers and ICMP are translated by SIIT ([`crate::siit`]) with a mapper that answers from the
//! binding table. Bindings are made by [`Nat46::bind`] (for a DNS46 resolver or static
//! configuration) or, when allowed, by the first packet of an outside host; they expire after
//! an idle time through the same timer wheel as sessions, so expiry never scans the table.

use crate::prefix::Prefix;
use crate::session::index::Index;
use crate::session::{FlowHasher, Link, TimerWheel, WheelLinks};
use crate::siit::{
    ErrorMapping, Mapped4, Mapper4to6, Mapper6to4, Pref64, Refusal, Tuple, XlatConfig,
    translate_4to6, translate_6to4,
};
use crate::time::Instant;
use crate::verdict::{Direction, DropCounters, DropReason, Verdict};
use crate::wire::ipv6;
use core::cell::Cell;
use core::net::{Ipv4Addr, Ipv6Addr};
use core::time::Duration;

/// Configuration of a NAT46.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Nat46Config {
    /// The Prefix64 under which inside IPv4 hosts appear to the IPv6 side.
    pub prefix64: Pref64,
    /// The internal address pool: IPv4 addresses that stand for outside IPv6 hosts.
    pub pool: Prefix<Ipv4Addr>,
    /// How long an idle dynamic binding lives.
    pub binding_timeout: Duration,
    /// Whether a packet from an unbound outside IPv6 host gets a binding (else it is dropped
    /// and only [`Nat46::bind`] makes bindings).
    pub bind_inbound: bool,
    /// The header translation settings.
    pub xlat: XlatConfig,
}

#[derive(Clone, Copy, Debug)]
struct Binding {
    v6: Ipv6Addr,
    v4: Ipv4Addr,
    expires: Instant,
    is_static: bool,
    link: Link,
}

struct Links<'a, const N: usize>(&'a mut [Option<Binding>; N]);

impl<const N: usize> WheelLinks for Links<'_, N> {
    fn link_mut(&mut self, id: u32) -> Option<&mut Link> {
        self.0.get_mut(id as usize)?.as_mut().map(|b| &mut b.link)
    }
    fn expires_ms(&self, id: u32) -> Option<u64> {
        self.0
            .get(id as usize)?
            .as_ref()
            .map(|b| b.expires.as_millis())
    }
}

/// A NAT46 with room for `N` bindings (at most the pool's size are used).
pub struct Nat46<const N: usize> {
    config: Nat46Config,
    hasher: FlowHasher,
    bindings: [Option<Binding>; N],
    by_v6: Index<N>,
    by_v4: Index<N>,
    wheel: TimerWheel,
    count: usize,
    /// The binding the packet being translated used: refreshed once the translation is done
    /// (the mapper only reads).
    touched: Cell<Option<u32>>,
    counters: Nat46Counters,
}

/// Counters of a NAT46.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Nat46Counters {
    /// Drops by reason.
    pub drops: DropCounters,
    /// Packets translated IPv4 → IPv6.
    pub outbound: u64,
    /// Packets translated IPv6 → IPv4.
    pub inbound: u64,
    /// Bindings made.
    pub bindings_made: u64,
}

impl<const N: usize> Nat46<N> {
    /// A NAT46 with no bindings.
    pub fn new(config: Nat46Config, seed: u64) -> Self {
        Nat46 {
            config,
            hasher: FlowHasher::new(seed),
            bindings: [None; N],
            by_v6: Index::new(),
            by_v4: Index::new(),
            wheel: TimerWheel::new(),
            count: 0,
            touched: Cell::new(None),
            counters: Nat46Counters::default(),
        }
    }

    /// The counters.
    pub fn counters(&self) -> &Nat46Counters {
        &self.counters
    }

    /// Live bindings.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether no binding is live.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn find_v6(&self, a: Ipv6Addr) -> Option<u32> {
        let b = &self.bindings;
        self.by_v6.find(
            self.hasher.hash(&a),
            |id| matches!(b.get(id as usize), Some(Some(x)) if x.v6 == a),
        )
    }

    fn find_v4(&self, a: Ipv4Addr) -> Option<u32> {
        let b = &self.bindings;
        self.by_v4.find(
            self.hasher.hash(&a),
            |id| matches!(b.get(id as usize), Some(Some(x)) if x.v4 == a),
        )
    }

    /// The inside IPv4 address that stands for outside host `v6`, binding one from the pool
    /// if it has none (what a DNS46 resolver calls when it answers for `v6`). `None` when the
    /// pool or the table is full.
    pub fn bind(&mut self, now: Instant, v6: Ipv6Addr) -> Option<Ipv4Addr> {
        if let Some(id) = self.find_v6(v6) {
            self.refresh(now, id);
            return self.bindings[id as usize].map(|b| b.v4);
        }
        let size = 1u64 << (32 - u32::from(self.config.pool.len()));
        let base = self.config.pool.addr().to_bits();
        let v4 = (0..size.min(N as u64 + 1))
            .map(|i| Ipv4Addr::from_bits(base.wrapping_add(i as u32)))
            .find(|&a| self.find_v4(a).is_none())?;
        self.insert(now, v6, v4, false)
    }

    /// Binds `v6` to `v4` for good (static configuration).
    pub fn bind_static(&mut self, v6: Ipv6Addr, v4: Ipv4Addr) -> Option<Ipv4Addr> {
        if self.find_v6(v6).is_some() || self.find_v4(v4).is_some() {
            return None;
        }
        self.insert(Instant::from_millis(u64::MAX), v6, v4, true)
    }

    fn insert(
        &mut self,
        now: Instant,
        v6: Ipv6Addr,
        v4: Ipv4Addr,
        is_static: bool,
    ) -> Option<Ipv4Addr> {
        let id = self.bindings.iter().position(Option::is_none)? as u32;
        let expires = if is_static {
            now
        } else {
            now + self.config.binding_timeout
        };
        self.bindings[id as usize] = Some(Binding {
            v6,
            v4,
            expires,
            is_static,
            link: Link::UNLINKED,
        });
        self.by_v6.insert(self.hasher.hash(&v6), id);
        self.by_v4.insert(self.hasher.hash(&v4), id);
        if !is_static {
            self.wheel
                .insert(&mut Links(&mut self.bindings), id, expires.as_millis());
        }
        self.count += 1;
        self.counters.bindings_made += 1;
        Some(v4)
    }

    fn refresh(&mut self, now: Instant, id: u32) {
        if let Some(Some(b)) = self.bindings.get_mut(id as usize)
            && !b.is_static
        {
            b.expires = now + self.config.binding_timeout;
        }
    }

    /// Removes bindings idle past their timeout at `now`, at most `max`; returns how many.
    pub fn handle_timeout(&mut self, now: Instant, max: usize) -> usize {
        let mut n = 0;
        while n < max {
            let Some(id) = self
                .wheel
                .pop(&mut Links(&mut self.bindings), now.as_millis())
            else {
                break;
            };
            if let Some(b) = self.bindings[id as usize].take() {
                self.by_v6.remove(self.hasher.hash(&b.v6), id);
                self.by_v4.remove(self.hasher.hash(&b.v4), id);
                self.count -= 1;
                n += 1;
            }
        }
        n
    }

    /// Translates the packet at `buf[start..start + len]`: IPv4 from the inside
    /// ([`Direction::Outbound`]) or IPv6 from the outside ([`Direction::Inbound`]). IPv4 → IPv6
    /// grows the header, using the headroom before `start`.
    pub fn process(
        &mut self,
        now: Instant,
        dir: Direction,
        buf: &mut [u8],
        start: usize,
        len: usize,
    ) -> Verdict {
        self.touched.set(None);
        let v = match dir {
            Direction::Outbound => {
                let xlat = self.config.xlat;
                translate_4to6(&xlat, &Mapper(self), buf, start, len)
            }
            Direction::Inbound => {
                if self.config.bind_inbound
                    && let Some(src) = start
                        .checked_add(ipv6::SRC_ADDR.end)
                        .and_then(|e| buf.get(start + ipv6::SRC_ADDR.start..e))
                    && buf.get(start).is_some_and(|b| b >> 4 == 6)
                {
                    let mut o = [0u8; 16];
                    o.copy_from_slice(src);
                    let _ = self.bind(now, Ipv6Addr::from(o));
                }
                let xlat = self.config.xlat;
                translate_6to4(&xlat, &Mapper(self), buf, start, len)
            }
        };
        if let Some(id) = self.touched.get() {
            self.refresh(now, id);
        }
        match v {
            Verdict::Drop(r) => self.counters.drops.bump(r),
            Verdict::Forward { .. } if dir == Direction::Outbound => self.counters.outbound += 1,
            Verdict::Forward { .. } => self.counters.inbound += 1,
            _ => {}
        }
        v
    }
}

/// The mapper lent to the SIIT translation: inside hosts by Prefix64, outside hosts by binding.
struct Mapper<'a, const N: usize>(&'a Nat46<N>);

impl<const N: usize> Mapper<'_, N> {
    fn outside_v6(&self, v4: Ipv4Addr) -> Option<Ipv6Addr> {
        let id = self.0.find_v4(v4)?;
        self.0.touched.set(Some(id));
        self.0.bindings[id as usize].map(|b| b.v6)
    }

    fn outside_v4(&self, v6: Ipv6Addr) -> Option<Ipv4Addr> {
        let id = self.0.find_v6(v6)?;
        self.0.touched.set(Some(id));
        self.0.bindings[id as usize].map(|b| b.v4)
    }

    fn inside_v4(&self, v6: Ipv6Addr) -> Option<Ipv4Addr> {
        self.0.config.prefix64.extract(v6)
    }
}

impl<const N: usize> Mapper4to6 for Mapper<'_, N> {
    fn packet_4to6(&self, t: &Tuple<Ipv4Addr>, _hairpin: bool) -> Result<Tuple<Ipv6Addr>, Refusal> {
        let dst = self
            .outside_v6(t.dst)
            .ok_or(Refusal::notify(DropReason::NoMapping))?;
        let src = self.0.config.prefix64.embed(t.src);
        Ok(Tuple {
            proto: if t.proto == 1 { 58 } else { t.proto },
            src,
            dst,
            src_port: t.src_port,
            dst_port: t.dst_port,
        })
    }

    fn error_4to6(
        &self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        inner: &Tuple<Ipv4Addr>,
        _hairpin: bool,
    ) -> Result<ErrorMapping<Ipv6Addr>, DropReason> {
        // An inside router or host reports on a packet an outside host sent: the quote is
        // (outside host's pool address → inside host).
        let isrc = self.outside_v6(inner.src).ok_or(DropReason::NoMapping)?;
        let p = self.0.config.prefix64;
        Ok(ErrorMapping {
            src: p.embed(src),
            dst: self.outside_v6(dst).ok_or(DropReason::NoMapping)?,
            inner: Tuple {
                proto: if inner.proto == 1 { 58 } else { inner.proto },
                src: isrc,
                dst: p.embed(inner.dst),
                src_port: inner.src_port,
                dst_port: inner.dst_port,
            },
            hairpin: false,
        })
    }
}

impl<const N: usize> Mapper6to4 for Mapper<'_, N> {
    fn packet_6to4(&self, t: &Tuple<Ipv6Addr>) -> Result<Mapped4, Refusal> {
        let src = self
            .outside_v4(t.src)
            .ok_or(Refusal::silent(DropReason::NoMapping))?;
        let dst = self
            .inside_v4(t.dst)
            .ok_or(Refusal::silent(DropReason::Untranslatable))?;
        Ok(Mapped4 {
            tuple: Tuple {
                proto: if t.proto == 58 { 1 } else { t.proto },
                src,
                dst,
                src_port: t.src_port,
                dst_port: t.dst_port,
            },
            hairpin: false,
        })
    }

    fn error_6to4(
        &self,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        inner: &Tuple<Ipv6Addr>,
    ) -> Result<ErrorMapping<Ipv4Addr>, DropReason> {
        // An outside router or host reports on a packet an inside host sent: the quote is
        // (inside host under Prefix64 → outside host).
        let isrc = self
            .inside_v4(inner.src)
            .ok_or(DropReason::Untranslatable)?;
        let idst = self.outside_v4(inner.dst).ok_or(DropReason::NoMapping)?;
        // A router on the path has no binding: it is reported as the outside host itself.
        let src4 = self.outside_v4(src).unwrap_or(idst);
        Ok(ErrorMapping {
            src: src4,
            dst: self.inside_v4(dst).ok_or(DropReason::Untranslatable)?,
            inner: Tuple {
                proto: if inner.proto == 58 { 1 } else { inner.proto },
                src: isrc,
                dst: idst,
                src_port: inner.src_port,
                dst_port: inner.dst_port,
            },
            hairpin: false,
        })
    }
}
