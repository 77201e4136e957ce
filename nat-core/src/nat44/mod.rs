//! NAT44/NAPT: the translator of a carrier-grade NAT ([RFC 4787], [RFC 5382], [RFC 5508],
//! [RFC 7857], [RFC 6888], draft-nishitani-cgn).
//!
//! Inside hosts reach the outside through shared outside addresses. [`Nat44::process`] takes
//! `now`, a packet in the caller's buffer and its direction, rewrites the packet in place and
//! returns a [`Verdict`]. State lives in a [`SessionStore`] and outside endpoints come from a
//! [`PortAllocator`], both chosen by the caller and monomorphised. Timers run on the caller's
//! clock: [`Nat44::poll_timeout`] says when to call [`Nat44::handle_timeout`] and
//! [`Nat44::poll_transmit`].
//!
//! Basic one-to-one NAT is this engine with an allocator that gives every subscriber its own
//! address and preserves ports.
//!
//! [RFC 4787]: https://www.rfc-editor.org/rfc/rfc4787
//! [RFC 5382]: https://www.rfc-editor.org/rfc/rfc5382
//! [RFC 5508]: https://www.rfc-editor.org/rfc/rfc5508
//! [RFC 7857]: https://www.rfc-editor.org/rfc/rfc7857
//! [RFC 6888]: https://www.rfc-editor.org/rfc/rfc6888

mod config;
mod fragment;
mod held;
mod translate;

pub use crate::fragments::WAITING_BYTES;
pub use config::{
    ConfigError, IcmpErrorPolicy, MAX_PREFIXES, Nat44Config, PrefixList, UnreachableCode,
};
pub use fragment::FragmentKey;
pub use held::HELD_BYTES;

use crate::allocator::PortAllocator;
use crate::event::Event;
use crate::flow::{Endpoint, L4Proto};
use crate::icmp_error::RateLimiter;
use crate::session::SessionStore;
use crate::stateful::{State, StateConfig, StateCounters};
use crate::time::Instant;
use crate::verdict::{Direction, DropCounters, DropReason, Verdict};
use crate::wire::ipv4;
use core::net::Ipv4Addr;
use fragment::Fragments;
use held::HeldSyns;

/// The most packets [`Nat44::process_burst`] takes at once.
pub const BURST: usize = 32;

/// Counters of the engine, besides the per-reason drops.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Nat44Counters {
    /// Drops by reason.
    pub drops: DropCounters,
    /// Packets translated outbound.
    pub outbound: u64,
    /// Packets translated inbound.
    pub inbound: u64,
    /// Packets hairpinned.
    pub hairpinned: u64,
    /// Packets forwarded untranslated (pass-through).
    pub passed_through: u64,
    /// ICMP errors translated (both directions).
    pub icmp_errors_translated: u64,
    /// ICMP errors the translator sent.
    pub icmp_errors_sent: u64,
    /// ICMP errors the translator owed but did not send (policy or rate limit).
    pub icmp_errors_suppressed: u64,
}

/// A NAT44/NAPT translator over session store `S` and allocator `A`, with room for `E` queued
/// log events, `H` held SYNs, `F` remembered fragment translations and `W` fragments waiting
/// for their first.
pub struct Nat44<
    S,
    A,
    const E: usize = 256,
    const H: usize = 16,
    const F: usize = 64,
    const W: usize = 4,
> {
    config: Nat44Config,
    state: State<Ipv4Addr, Ipv4Addr, S, A, E>,
    counters: Nat44Counters,
    limiter: RateLimiter,
    held: HeldSyns<H>,
    fragments: Fragments<F, W>,
    /// The next IPv4 Identification given to an outbound non-atomic datagram (RFC 7857 § 10).
    next_ip_id: u16,
}

impl<S, A, const E: usize, const H: usize, const F: usize, const W: usize> Nat44<S, A, E, H, F, W>
where
    S: SessionStore<Ipv4Addr, Ipv4Addr>,
    A: PortAllocator<Ipv4Addr, Ipv4Addr>,
{
    /// A translator; the configuration is validated first.
    pub fn new(config: Nat44Config, store: S, alloc: A) -> Result<Self, ConfigError> {
        config.validate()?;
        let limiter = RateLimiter::new(config.icmp_errors.per_sec, config.icmp_errors.burst);
        let state = StateConfig {
            mapping: config.mapping,
            filtering: config.filtering,
            timeouts: config.timeouts,
            inbound_refresh: config.inbound_refresh,
        };
        Ok(Nat44 {
            config,
            state: State::new(state, store, alloc),
            counters: Nat44Counters::default(),
            limiter,
            held: HeldSyns::new(),
            fragments: Fragments::new(),
            next_ip_id: 1,
        })
    }

    /// Translates the packet at `buf[start..start + len]` arriving from `dir`. The packet is
    /// rewritten in place; an ICMP error the translator owes is written over it, using up to
    /// 28 bytes of headroom before `start` when there is some. Every drop is counted.
    pub fn process(
        &mut self,
        now: Instant,
        dir: Direction,
        buf: &mut [u8],
        start: usize,
        len: usize,
    ) -> Verdict {
        let v = match dir {
            Direction::Outbound => self.outbound(now, buf, start, len),
            Direction::Inbound => self.inbound(now, buf, start, len, false),
        };
        if let Verdict::Drop(r) = v {
            self.counters.drops.bump(r);
        }
        v
    }

    /// The second half of hairpinning under [`Nat44Config::hairpin_handoff`]: translates a
    /// packet that [`process`](Self::process) or [`poll_transmit`](Self::poll_transmit) of this
    /// or another shard's translator returned with a destination in the pool, as if it came
    /// from the outside with its sender's outside endpoint as source ([RFC 4787] REQ-9,
    /// [RFC 5508] REQ-7). The TTL is not decremented a second time.
    ///
    /// [RFC 4787]: https://www.rfc-editor.org/rfc/rfc4787
    /// [RFC 5508]: https://www.rfc-editor.org/rfc/rfc5508
    pub fn hairpin(&mut self, now: Instant, buf: &mut [u8], start: usize, len: usize) -> Verdict {
        let v = self.inbound(now, buf, start, len, true);
        if let Verdict::Drop(r) = v {
            self.counters.drops.bump(r);
        }
        v
    }

    /// Translates a burst of packets from `dir`, each `(buffer, start, len)`, writing one
    /// verdict per packet into `verdicts`. Every packet is parsed and its key hashed first, with
    /// a prefetch hint to the store, and only then translated, so that the cache misses of the
    /// table lookups overlap instead of following one another (DESIGN.md, "Bursts"). At most
    /// [`BURST`] packets are taken; the rest get no verdict. Returns how many were processed.
    pub fn process_burst<B: AsMut<[u8]>>(
        &mut self,
        now: Instant,
        dir: Direction,
        packets: &mut [(B, usize, usize)],
        verdicts: &mut [Verdict],
    ) -> usize {
        let n = packets.len().min(verdicts.len()).min(BURST);
        for (buf, start, len) in packets[..n].iter_mut() {
            let pkt = buf.as_mut();
            let Some(bytes) = start.checked_add(*len).and_then(|end| pkt.get(*start..end)) else {
                continue;
            };
            if let Ok(info) = crate::wire::parse_ipv4(bytes)
                && let crate::wire::Transport::Flow { key, .. } = info.transport
            {
                let hash = match dir {
                    Direction::Outbound => self.state.store.hash_inside(&key),
                    Direction::Inbound => self.state.store.hash_outside(&key),
                };
                self.state.store.prefetch(dir, hash);
            }
        }
        for ((buf, start, len), v) in packets[..n].iter_mut().zip(verdicts.iter_mut()) {
            *v = self.process(now, dir, buf.as_mut(), *start, *len);
        }
        n
    }

    /// When the engine next has work: a session or held SYN to expire, or a waiting fragment.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.state.poll_timeout(), self.held.next_due()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Expires at most `max` sessions due at `now`, deleting bindings left without sessions
    /// and giving their outside endpoints back to the allocator. Returns how many expired.
    pub fn handle_timeout(&mut self, now: Instant, max: usize) -> usize {
        self.state.expire(now, max)
    }

    /// Packets the engine has to send on its own at `now`: Port Unreachable for held SYNs whose
    /// time ran out (a `Reply` to the outside, or a `Forward` to the inside host whose SYN came
    /// through the hairpin), and fragments released by their first fragment. Each call writes
    /// at most one packet at `buf[start..]` (leave 28 bytes of headroom before `start` for
    /// errors); call until it returns `None`.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8], start: usize) -> Option<Verdict> {
        let out = buf.get_mut(start..)?;
        if let Some((len, to)) = self.fragments.take_ready(now, out) {
            let v = self.release_fragment(now, buf, start, len, to);
            match v {
                Verdict::Forward { .. } if self.config.is_outside(to.src) => {
                    self.counters.outbound += 1;
                }
                Verdict::Forward { .. } => self.counters.inbound += 1,
                Verdict::Drop(r) => self.counters.drops.bump(r),
                _ => {}
            }
            return Some(v);
        }
        while let Some((len, ())) = self.held.take_due(now, out_slice(buf, start)?) {
            if !self.config.answer_unsolicited_syn {
                self.counters.drops.bump(DropReason::Filtered);
                continue;
            }
            // The held bytes are the SYN cut to its header and 8 transport bytes, which no
            // longer parse as a whole packet: the error needs only its destination (RFC 5382
            // REQ-4: Port Unreachable from the address the SYN was sent to).
            let Some(from) = dst_addr(buf, start) else {
                continue;
            };
            let v = self.send_error(
                now,
                buf,
                start,
                len,
                from,
                3,
                3,
                [0; 4],
                DropReason::Filtered,
            );
            match v {
                Verdict::Drop(r) => {
                    self.counters.drops.bump(r);
                    continue;
                }
                // The SYN came from an inside host through the hairpin: its error goes back
                // the same way, to the host (RFC 5508 REQ-7).
                Verdict::Reply { start, len }
                    if !self.config.hairpin_handoff
                        && dst_addr(buf, start).is_some_and(|a| self.config.is_outside(a)) =>
                {
                    let v = self.inbound(now, buf, start, len, true);
                    if let Verdict::Drop(r) = v {
                        self.counters.drops.bump(r);
                        continue;
                    }
                    return Some(v);
                }
                v => return Some(v),
            }
        }
        None
    }

    /// The next queued log event.
    pub fn poll_event(&mut self) -> Option<Event<Ipv4Addr, Ipv4Addr>> {
        self.state.events.pop()
    }

    /// Events lost because the queue was full.
    pub fn events_lost(&self) -> u64 {
        self.state.events.lost()
    }

    /// The counters.
    pub fn counters(&self) -> &Nat44Counters {
        &self.counters
    }

    /// The configuration.
    pub fn config(&self) -> &Nat44Config {
        &self.config
    }

    /// The session store, for inspection (a dump of the table).
    pub fn store(&self) -> &S {
        &self.state.store
    }

    /// The allocator, for inspection.
    pub fn allocator(&self) -> &A {
        &self.state.alloc
    }

    /// SYNs being held.
    pub fn held_syns(&self) -> usize {
        self.held.len()
    }

    /// Fragments waiting for their first.
    pub fn waiting_fragments(&self) -> usize {
        self.fragments.waiting_count()
    }

    /// Adds a static binding (port forwarding): `outside` always maps to `inside`, and inbound
    /// packets to it pass the filter as with endpoint-independent filtering.
    pub fn add_static(
        &mut self,
        now: Instant,
        proto: L4Proto,
        inside: Endpoint<Ipv4Addr>,
        outside: Endpoint<Ipv4Addr>,
    ) -> Result<(), DropReason> {
        self.state.add_static(now, proto, inside, outside)
    }

    /// Live and created sessions and bindings per protocol.
    pub fn state_counters(&self) -> &StateCounters {
        &self.state.counters
    }
}

fn out_slice(buf: &mut [u8], start: usize) -> Option<&mut [u8]> {
    buf.get_mut(start..)
}

/// The destination address of the IPv4 packet at `buf[start..]`.
fn dst_addr(buf: &[u8], start: usize) -> Option<Ipv4Addr> {
    let at = start.checked_add(ipv4::DST_ADDR.start)?;
    let &[a, b, c, d] = buf.get(at..at + 4)? else {
        return None;
    };
    Some(Ipv4Addr::new(a, b, c, d))
}
