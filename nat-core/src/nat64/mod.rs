//! Stateful NAT64 ([RFC 6146]): IPv6-only hosts inside reach IPv4 hosts outside through a
//! pool of IPv4 transport addresses (pool4), the IPv4 hosts appearing inside under an RFC 6052
//! prefix (pool6).
//!
//! The binding and session tables, the TCP state machine, the filtering behaviours and expiry
//! are those of NAT44 ([`crate::stateful`]); the header and ICMP translation is SIIT's
//! ([`crate::siit`]), to which this module lends a mapper that answers from the session table.
//! Endpoint-independent mapping is the only mapping behaviour ([RFC 6146 § 5.2], MUST);
//! filtering is endpoint-independent or address-dependent.
//!
//! On top of that, this module does what is NAT64's own:
//!
//! - the checks of [RFC 6146 § 3.5] (pool6 sources dropped, only pool6 and pool4 destinations
//!   processed);
//! - the ICMP errors the translator owes (§ 3.4, § 3.5.1, § 3.5.1.1, § 3.5.3);
//! - the V4 INIT state: stored V4 SYNs, simultaneous open, Port Unreachable after 6 s
//!   (§ 3.5.2.2), in bounded memory;
//! - fragments, the first carrying the ports and the later ones following it (§ 3.4);
//! - hairpinning (§ 3.8), packets and ICMP errors alike.
//!
//! ```
//! use core::net::{Ipv4Addr, Ipv6Addr};
//! use nat_core::flow::{Endpoint, L4Proto};
//! use nat_core::nat64::{Nat64, Nat64Config};
//! use nat_core::prefix::Prefix;
//! use nat_core::session::FixedStore;
//! use nat_core::siit::HEADROOM;
//! # use nat_core::allocator::{AllocError, AllocRequest, PortAllocator};
//! # struct NoPorts;
//! # impl PortAllocator<Ipv6Addr, Ipv4Addr> for NoPorts {
//! #     fn allocate(&mut self, _: Instant, _: &AllocRequest<Ipv6Addr, Ipv4Addr>)
//! #         -> Result<Endpoint<Ipv4Addr>, AllocError> { Err(AllocError::PoolExhausted) }
//! #     fn reserve(&mut self, _: Instant, _: L4Proto, _: Endpoint<Ipv6Addr>, _: Endpoint<Ipv4Addr>)
//! #         -> Result<(), AllocError> { Ok(()) }
//! #     fn release(&mut self, _: Instant, _: L4Proto, _: Endpoint<Ipv6Addr>, _: Endpoint<Ipv4Addr>) {}
//! # }
//! use nat_core::time::Instant;
//! use nat_core::verdict::{Direction, Verdict};
//!
//! let mut config = Nat64Config::default();
//! config.pool4.push(Prefix::new(Ipv4Addr::new(203, 0, 113, 1), 32).unwrap()).unwrap();
//! let store = Box::new(FixedStore::<Ipv6Addr, Ipv4Addr, 64>::new(7));
//! let mut nat: Nat64<_, _> = Nat64::new(config, store, NoPorts).unwrap();
//! // A static binding: 203.0.113.1#53 is always [2001:db8::53]#53.
//! let inside = Endpoint::new("2001:db8::53".parse().unwrap(), 53);
//! nat.add_static(Instant::ZERO, L4Proto::Udp, inside, Endpoint::new(Ipv4Addr::new(203, 0, 113, 1), 53))
//!     .unwrap();
//! // IPv4 UDP 93.184.216.34:4000 -> 203.0.113.1:53, no payload, no checksum.
//! let mut buf = [0u8; HEADROOM + 28];
//! buf[HEADROOM..].copy_from_slice(&[
//!     0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, 17, 0, 0, 93, 184, 216, 34, 203, 0, 113, 1,
//!     0x0f, 0xa0, 0, 53, 0, 8, 0, 0,
//! ]);
//! let c = nat_core::checksum::checksum(&buf[HEADROOM..HEADROOM + 20]);
//! buf[HEADROOM + 10..HEADROOM + 12].copy_from_slice(&c.to_be_bytes());
//! let v = nat.process(Instant::ZERO, Direction::Inbound, &mut buf, HEADROOM, 28);
//! // The zero UDP checksum is computed (RFC 6146 § 3.4).
//! let Verdict::Forward { start, len } = v else { panic!("{v:?}") };
//! assert_eq!(len, 48);
//! assert_eq!(&buf[start + 8..start + 24], &"64:ff9b::5db8:d822".parse::<Ipv6Addr>().unwrap().octets());
//! assert_eq!(&buf[start + 24..start + 40], &inside.addr.octets());
//! ```
//!
//! [RFC 6146]: https://www.rfc-editor.org/rfc/rfc6146
//! [RFC 6146 § 5.2]: https://www.rfc-editor.org/rfc/rfc6146#section-5.2
//! [RFC 6146 § 3.5]: https://www.rfc-editor.org/rfc/rfc6146#section-3.5

mod config;
mod expiry;
mod fragment;
mod held;
mod mapper;
mod path;
mod reply;

pub use crate::fragments::WAITING_BYTES;
pub use config::{ErrorSource, FRAGMENT_MIN, MAX_POOL4, Nat64Config, Nat64ConfigError, TCP_EST};
pub use held::HELD_BYTES;

use crate::allocator::PortAllocator;
use crate::behavior::{MappingBehavior, PerProto};
use crate::event::Event;
use crate::flow::{Endpoint, L4Proto};
use crate::icmp_error::RateLimiter;
use crate::session::SessionStore;
use crate::siit::XlatConfig;
use crate::stateful::{State, StateConfig, StateCounters};
use crate::time::Instant;
use crate::verdict::{Direction, DropCounters, DropReason, Verdict};
use config::check_xlat;
use core::net::{Ipv4Addr, Ipv6Addr};
use expiry::{PROBE_QUEUE, Probe};
use fragment::FragmentTable;
use held::HeldSyns;

/// Counters of a NAT64.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Nat64Counters {
    /// Drops by reason.
    pub drops: DropCounters,
    /// Packets translated IPv6 → IPv4.
    pub outbound: u64,
    /// Packets translated IPv4 → IPv6.
    pub inbound: u64,
    /// Packets hairpinned ([RFC 6146 § 3.8]).
    ///
    /// [RFC 6146 § 3.8]: https://www.rfc-editor.org/rfc/rfc6146#section-3.8
    pub hairpinned: u64,
    /// ICMP errors the translator sent.
    pub icmp_errors_sent: u64,
    /// ICMP errors owed but not sent: over the rate limit.
    pub icmp_errors_suppressed: u64,
    /// V4 SYNs stored ([RFC 6146 § 3.5.2.2], V4 INIT).
    ///
    /// [RFC 6146 § 3.5.2.2]: https://www.rfc-editor.org/rfc/rfc6146#section-3.5.2.2
    pub syns_stored: u64,
    /// Stored V4 SYNs claimed by a V6 SYN (simultaneous open).
    pub simultaneous_opens: u64,
    /// Probes sent to idle established TCP sessions ([RFC 6146 § 3.5.2.2]).
    ///
    /// [RFC 6146 § 3.5.2.2]: https://www.rfc-editor.org/rfc/rfc6146#section-3.5.2.2
    pub probes_sent: u64,
}

/// A stateful NAT64 ([RFC 6146]) over session store `S` and pool4 allocator `A`, with room for
/// `E` queued log events, `H` stored V4 SYNs, `F` remembered first-fragment translations and
/// `W` fragments waiting for their first.
///
/// [RFC 6146]: https://www.rfc-editor.org/rfc/rfc6146
pub struct Nat64<
    S,
    A,
    const E: usize = 256,
    const H: usize = 16,
    const F: usize = 64,
    const W: usize = 4,
> {
    config: Nat64Config,
    state: State<Ipv6Addr, Ipv4Addr, S, A, E>,
    counters: Nat64Counters,
    held: HeldSyns<H>,
    fragments: FragmentTable<F, W>,
    probes: heapless::Deque<Probe, PROBE_QUEUE>,
    limiter: RateLimiter,
}

impl<S, A, const E: usize, const H: usize, const F: usize, const W: usize> Nat64<S, A, E, H, F, W>
where
    S: SessionStore<Ipv6Addr, Ipv4Addr>,
    A: PortAllocator<Ipv6Addr, Ipv4Addr>,
{
    /// A translator; the configuration is validated first ([RFC 6146 § 3]).
    ///
    /// [RFC 6146 § 3]: https://www.rfc-editor.org/rfc/rfc6146#section-3
    pub fn new(config: Nat64Config, store: S, alloc: A) -> Result<Self, Nat64ConfigError> {
        config.validate()?;
        let sc = StateConfig {
            mapping: PerProto::all(MappingBehavior::EndpointIndependent),
            filtering: config.filtering,
            timeouts: config.timeouts,
            inbound_refresh: config.inbound_refresh,
        };
        let limiter = RateLimiter::new(config.icmp_errors_per_sec, config.icmp_errors_burst);
        Ok(Nat64 {
            config,
            state: State::new(sc, store, alloc),
            counters: Nat64Counters::default(),
            held: HeldSyns::new(),
            fragments: FragmentTable::new(),
            probes: heapless::Deque::new(),
            limiter,
        })
    }

    /// Translates the packet at `buf[start..start + len]`: IPv6 from the inside
    /// ([`Direction::Outbound`]) or IPv4 from the outside ([`Direction::Inbound`])
    /// ([RFC 6146 § 3]). The packet is rewritten in place; IPv4 → IPv6 grows it, taking the
    /// headroom before `start` ([`crate::siit::HEADROOM`] is enough for every case).
    ///
    /// A [`Verdict::Forward`] leaves on the side of its IP version (a hairpinned packet comes
    /// back as IPv6); a [`Verdict::Reply`] is an ICMP error to the sender; a [`Verdict::Hold`]
    /// is a V4 SYN stored or a fragment waiting for its first: call
    /// [`poll_transmit`](Self::poll_transmit) afterwards and when
    /// [`poll_timeout`](Self::poll_timeout) says. A forwarded packet bigger than the next hop
    /// is split with [`crate::siit::Fragments`] at [`fragment_mtu`](Self::fragment_mtu).
    ///
    /// [RFC 6146 § 3]: https://www.rfc-editor.org/rfc/rfc6146#section-3
    pub fn process(
        &mut self,
        now: Instant,
        dir: Direction,
        buf: &mut [u8],
        start: usize,
        len: usize,
    ) -> Verdict {
        let mut v = match dir {
            Direction::Outbound => self.outbound(now, buf, start, len),
            Direction::Inbound => self.inbound(now, buf, start, len),
        };
        if matches!(v, Verdict::Reply { .. }) && !self.limiter.allow(now) {
            self.counters.icmp_errors_suppressed += 1;
            v = Verdict::Drop(DropReason::IcmpErrorSuppressed);
        }
        self.count(dir, v);
        v
    }

    fn count(&mut self, dir: Direction, v: Verdict) {
        match v {
            Verdict::Drop(r) => self.counters.drops.bump(r),
            Verdict::Reply { .. } => self.counters.icmp_errors_sent += 1,
            Verdict::Forward { .. } if dir == Direction::Outbound => self.counters.outbound += 1,
            Verdict::Forward { .. } => self.counters.inbound += 1,
            Verdict::Hold => {}
        }
    }

    /// Packets the translator has to send on its own at `now`, one per call, written at
    /// `buf[start..]` (leave [`crate::siit::HEADROOM`] bytes before `start`); call until it
    /// returns `None`:
    ///
    /// - fragments released because their first fragment was translated ([RFC 6146 § 3.4]);
    /// - for a stored V4 SYN whose 6 s ran out, ICMPv4 Port Unreachable to its sender, or
    ///   ICMPv6 Port Unreachable from the translator's own address when the SYN came from an
    ///   IPv6 host through the hairpin ([RFC 6146 § 3.5.2.2], V4 INIT);
    /// - probes to the IPv6 endpoints of established TCP sessions idle for TCP_EST, queued by
    ///   [`handle_timeout`](Self::handle_timeout) (§ 3.5.2.2, ESTABLISHED).
    ///
    /// [RFC 6146 § 3.4]: https://www.rfc-editor.org/rfc/rfc6146#section-3.4
    /// [RFC 6146 § 3.5.2.2]: https://www.rfc-editor.org/rfc/rfc6146#section-3.5.2.2
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8], start: usize) -> Option<Verdict> {
        while let Some((len, _)) = self.fragments.take_ready(now, buf.get_mut(start..)?) {
            let dir = match buf.get(start).map(|b| b >> 4) {
                Some(6) => Direction::Outbound,
                _ => Direction::Inbound,
            };
            let v = match dir {
                Direction::Outbound => self.outbound(now, buf, start, len),
                Direction::Inbound => self.inbound(now, buf, start, len),
            };
            self.count(dir, v);
            if !matches!(v, Verdict::Drop(_) | Verdict::Hold) {
                return Some(v);
            }
        }
        while let Some((len, family)) = self.held.take_due(now, buf.get_mut(start..)?) {
            let v = self.answer_held(buf, start, len, family);
            self.count(Direction::Inbound, v);
            if let Verdict::Reply { .. } = v {
                return Some(v);
            }
        }
        if let Some(p) = self.probes.front() {
            let len = p.write(buf.get_mut(start..)?)?;
            self.probes.pop_front();
            self.counters.probes_sent += 1;
            return Some(Verdict::Forward { start, len });
        }
        None
    }

    /// Adds a static BIB entry ([RFC 6146 § 3.1]): `outside` (in pool4) always maps to
    /// `inside`, and lets any IPv4 host in.
    ///
    /// [RFC 6146 § 3.1]: https://www.rfc-editor.org/rfc/rfc6146#section-3.1
    pub fn add_static(
        &mut self,
        now: Instant,
        proto: L4Proto,
        inside: Endpoint<Ipv6Addr>,
        outside: Endpoint<Ipv4Addr>,
    ) -> Result<(), DropReason> {
        self.state.add_static(now, proto, inside, outside)
    }

    /// Replaces the header translation settings (an interface MTU changed, ICMP errors turned
    /// on or off); bindings and sessions are kept.
    pub fn set_xlat(&mut self, xlat: XlatConfig) -> Result<(), Nat64ConfigError> {
        check_xlat(&xlat)?;
        self.config.xlat = xlat;
        Ok(())
    }

    /// Changes where the source of translated ICMPv6 errors comes from ([`ErrorSource`]);
    /// bindings and sessions are kept.
    pub fn set_icmp_error_source(&mut self, source: ErrorSource) {
        self.config.icmp_error_source = source;
    }

    /// The MTU to split a forwarded `packet` for, if it must be split ([RFC 6146 § 3.7] by
    /// way of [RFC 7915 § 4.1], § 5.1.1): an IPv6 packet with a Fragment header longer than
    /// the smaller of lowest-ipv6-mtu and the IPv6 next-hop MTU, or a DF-clear IPv4 packet
    /// longer than the IPv4 next-hop MTU. Pass the result to [`crate::siit::Fragments::new`].
    ///
    /// [RFC 6146 § 3.7]: https://www.rfc-editor.org/rfc/rfc6146#section-3.7
    /// [RFC 7915 § 4.1]: https://www.rfc-editor.org/rfc/rfc7915#section-4.1
    pub fn fragment_mtu(&self, packet: &[u8]) -> Option<u16> {
        let x = &self.config.xlat;
        match packet.first().map(|b| b >> 4) {
            Some(6) => {
                let mtu = x.ipv6_fragment_size();
                (packet.len() > usize::from(mtu) && packet.get(6) == Some(&44)).then_some(mtu)
            }
            Some(4) => {
                let df = packet.get(6).is_some_and(|b| b & 0x40 != 0);
                (packet.len() > usize::from(x.ipv4_mtu) && !df).then_some(x.ipv4_mtu)
            }
            _ => None,
        }
    }

    /// When the translator next has work: a session to expire, a stored SYN whose time runs
    /// out, a waiting fragment to give up on.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.state.poll_timeout(),
            self.held.next_due(),
            self.fragments.next_due(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Expires at most `max` sessions due at `now`, deleting dynamic bindings left without
    /// sessions ([RFC 6146 § 3.1]); an established TCP session goes to TRANS instead, with a
    /// probe for [`poll_transmit`](Self::poll_transmit) (§ 3.5.2.2). Returns how many sessions
    /// timed out.
    ///
    /// [RFC 6146 § 3.1]: https://www.rfc-editor.org/rfc/rfc6146#section-3.1
    pub fn handle_timeout(&mut self, now: Instant, max: usize) -> usize {
        self.expire(now, max)
    }

    /// The next queued log event.
    pub fn poll_event(&mut self) -> Option<Event<Ipv6Addr, Ipv4Addr>> {
        self.state.events.pop()
    }

    /// Events lost because the queue was full.
    pub fn events_lost(&self) -> u64 {
        self.state.events.lost()
    }

    /// The counters.
    pub fn counters(&self) -> &Nat64Counters {
        &self.counters
    }

    /// Live and created sessions and bindings.
    pub fn state_counters(&self) -> &StateCounters {
        &self.state.counters
    }

    /// The session store, for inspection.
    pub fn store(&self) -> &S {
        &self.state.store
    }

    /// The allocator, for inspection.
    pub fn allocator(&self) -> &A {
        &self.state.alloc
    }

    /// V4 SYNs stored ([RFC 6146 § 3.5.2.2], V4 INIT).
    ///
    /// [RFC 6146 § 3.5.2.2]: https://www.rfc-editor.org/rfc/rfc6146#section-3.5.2.2
    pub fn stored_syns(&self) -> usize {
        self.held.len()
    }

    /// Fragments waiting for their first ([RFC 6146 § 3.4]).
    ///
    /// [RFC 6146 § 3.4]: https://www.rfc-editor.org/rfc/rfc6146#section-3.4
    pub fn waiting_fragments(&self) -> usize {
        self.fragments.waiting_count()
    }

    /// The configuration.
    pub fn config(&self) -> &Nat64Config {
        &self.config
    }
}
