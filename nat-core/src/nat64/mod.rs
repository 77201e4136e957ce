//! Stateful NAT64 ([RFC 6146]): IPv6-only hosts inside reach IPv4 hosts outside through a
//! pool of IPv4 transport addresses (pool4), the IPv4 hosts appearing inside under an RFC 6052
//! prefix (pool6).
//!
//! The binding and session tables, the TCP state machine, the filtering behaviours and expiry
//! are those of NAT44 ([`crate::stateful`]); the header and ICMP translation is SIIT's
//! ([`crate::siit`]), to which this module lends a mapper that answers from the session table.
//! Endpoint-independent mapping is the only mapping behaviour ([RFC 6146 § 3.5.1], MUST);
//! filtering is endpoint-independent or address-dependent.
//!
//! [RFC 6146]: https://www.rfc-editor.org/rfc/rfc6146
//! [RFC 6146 § 3.5.1]: https://www.rfc-editor.org/rfc/rfc6146#section-3.5.1

mod mapper;

use crate::allocator::PortAllocator;
use crate::behavior::{FilteringBehavior, MappingBehavior, PerProto, Timeouts};
use crate::event::Event;
use crate::flow::{Endpoint, FlowKey, L4Proto};
use crate::prefix::Prefix;
use crate::session::SessionStore;
use crate::siit::{Pref64, XlatConfig, is_non_global, translate_4to6, translate_6to4};
use crate::stateful::{State, StateConfig, StateCounters};
use crate::time::Instant;
use crate::verdict::{Direction, DropCounters, DropReason, Verdict};
use crate::wire::{Transport, parse_ipv4, parse_ipv6};
use core::net::{Ipv4Addr, Ipv6Addr};
use core::time::Duration;
use mapper::{FlowMapper, Precomputed};

/// The most pool4 prefixes.
pub const MAX_POOL4: usize = 8;

/// Configuration of a stateful NAT64.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nat64Config {
    /// The prefix under which IPv4 hosts appear to the IPv6 side (pool6; 64:ff9b::/96 or a
    /// network-specific prefix, [RFC 6052]).
    ///
    /// [RFC 6052]: https://www.rfc-editor.org/rfc/rfc6052
    pub pool6: Pref64,
    /// Refuse to map non-global IPv4 addresses under the Well-Known Prefix ([RFC 6052 § 3.1]).
    ///
    /// [RFC 6052 § 3.1]: https://www.rfc-editor.org/rfc/rfc6052#section-3.1
    pub wkp_non_global_rule: bool,
    /// The IPv4 prefixes of pool4: inbound packets to other addresses are not ours, outbound
    /// packets to these are hairpinned ([RFC 6146 § 3.8]).
    ///
    /// [RFC 6146 § 3.8]: https://www.rfc-editor.org/rfc/rfc6146#section-3.8
    pub pool4: heapless::Vec<Prefix<Ipv4Addr>, MAX_POOL4>,
    /// Filtering per protocol: endpoint-independent or address-dependent ([RFC 6146 § 1.2.3]).
    ///
    /// [RFC 6146 § 1.2.3]: https://www.rfc-editor.org/rfc/rfc6146#section-1.2.3
    pub filtering: PerProto<FilteringBehavior>,
    /// Timers: UDP at least 2 min (5 by default), ICMP 60 s, TCP established 2 h plus the
    /// 4 min transitory ([RFC 6146 § 4]), incoming SYN (V4 INIT) 6 s.
    ///
    /// [RFC 6146 § 4]: https://www.rfc-editor.org/rfc/rfc6146#section-4
    pub timeouts: Timeouts,
    /// Whether inbound packets refresh UDP and ICMP sessions.
    pub inbound_refresh: bool,
    /// Hairpinning between IPv6 hosts through pool4 ([RFC 6146 § 3.8]).
    ///
    /// [RFC 6146 § 3.8]: https://www.rfc-editor.org/rfc/rfc6146#section-3.8
    pub hairpinning: bool,
    /// The header translation settings (MTUs, TOS, UDP zero checksum, own addresses).
    pub xlat: XlatConfig,
}

impl Default for Nat64Config {
    fn default() -> Self {
        // RFC 6146 § 4: TCP_EST is 2 hours and TCP_TRANS 4 minutes: together the 2 h 4 min
        // floor of RFC 5382, which the shared state machine applies to established sessions.
        let timeouts = Timeouts::default();
        Nat64Config {
            pool6: Pref64::WELL_KNOWN,
            wkp_non_global_rule: true,
            pool4: heapless::Vec::new(),
            filtering: PerProto::all(FilteringBehavior::EndpointIndependent),
            timeouts,
            inbound_refresh: false,
            hairpinning: true,
            xlat: XlatConfig::default(),
        }
    }
}

/// Why a NAT64 configuration is refused; each variant names the field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Nat64ConfigError {
    /// `pool4` is empty.
    NoPool4,
    /// `filtering` is address-and-port-dependent, which RFC 6146 does not provide for.
    Filtering,
    /// `timeouts.udp` below 2 minutes ([RFC 6146 § 3.5.1]).
    ///
    /// [RFC 6146 § 3.5.1]: https://www.rfc-editor.org/rfc/rfc6146#section-3.5.1
    UdpTimeout,
    /// `timeouts.tcp_syn_hold` below 6 s (TCP_INCOMING_SYN, [RFC 6146 § 4]).
    ///
    /// [RFC 6146 § 4]: https://www.rfc-editor.org/rfc/rfc6146#section-4
    SynHold,
    /// `xlat`: an IPv6 MTU below 1280 or an IPv4 MTU below 68.
    Mtu,
}

/// Counters of a NAT64.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Nat64Counters {
    /// Drops by reason.
    pub drops: DropCounters,
    /// Packets translated IPv6 → IPv4.
    pub outbound: u64,
    /// Packets translated IPv4 → IPv6.
    pub inbound: u64,
    /// Packets hairpinned.
    pub hairpinned: u64,
    /// ICMP errors the translator sent.
    pub icmp_errors_sent: u64,
}

/// A stateful NAT64 over session store `S` and pool4 allocator `A`, with room for `E` queued
/// log events.
pub struct Nat64<S, A, const E: usize = 256> {
    config: Nat64Config,
    state: State<Ipv6Addr, Ipv4Addr, S, A, E>,
    counters: Nat64Counters,
}

impl<S, A, const E: usize> Nat64<S, A, E>
where
    S: SessionStore<Ipv6Addr, Ipv4Addr>,
    A: PortAllocator<Ipv6Addr, Ipv4Addr>,
{
    /// A translator; the configuration is validated first.
    pub fn new(config: Nat64Config, store: S, alloc: A) -> Result<Self, Nat64ConfigError> {
        if config.pool4.is_empty() {
            return Err(Nat64ConfigError::NoPool4);
        }
        if L4Proto::ALL
            .iter()
            .any(|&p| config.filtering.get(p) == FilteringBehavior::AddressAndPortDependent)
        {
            return Err(Nat64ConfigError::Filtering);
        }
        if config.timeouts.udp < Duration::from_secs(120) {
            return Err(Nat64ConfigError::UdpTimeout);
        }
        if config.timeouts.tcp_syn_hold < Duration::from_secs(6) {
            return Err(Nat64ConfigError::SynHold);
        }
        let x = &config.xlat;
        if x.lowest_ipv6_mtu < 1280 || x.ipv6_mtu < 1280 || x.ipv4_mtu < 68 {
            return Err(Nat64ConfigError::Mtu);
        }
        let sc = StateConfig {
            mapping: PerProto::all(MappingBehavior::EndpointIndependent),
            filtering: config.filtering,
            timeouts: config.timeouts,
            inbound_refresh: config.inbound_refresh,
        };
        Ok(Nat64 {
            config,
            state: State::new(sc, store, alloc),
            counters: Nat64Counters::default(),
        })
    }

    /// The IPv4 address an IPv6 destination stands for, under pool6 and the RFC 6052 § 3.1 rule.
    fn extract(&self, a: Ipv6Addr) -> Option<Ipv4Addr> {
        let v4 = self.config.pool6.extract(a)?;
        let wkp_rule = self.config.wkp_non_global_rule && self.config.pool6.is_well_known();
        (!(wkp_rule && is_non_global(v4))).then_some(v4)
    }

    fn in_pool4(&self, a: Ipv4Addr) -> bool {
        self.config.pool4.iter().any(|p| p.contains(a))
    }

    /// Translates the packet at `buf[start..start + len]`: IPv6 from the inside
    /// ([`Direction::Outbound`]) or IPv4 from the outside ([`Direction::Inbound`]). IPv4 → IPv6
    /// grows the header by 20 bytes, taken from the headroom before `start`
    /// ([`crate::siit::HEADROOM`] is enough for every case).
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
            Direction::Inbound => self.inbound(now, buf, start, len),
        };
        match v {
            Verdict::Drop(r) => self.counters.drops.bump(r),
            Verdict::Reply { .. } => self.counters.icmp_errors_sent += 1,
            Verdict::Forward { .. } if dir == Direction::Outbound => self.counters.outbound += 1,
            Verdict::Forward { .. } => self.counters.inbound += 1,
            Verdict::Hold => {}
        }
        v
    }

    fn outbound(&mut self, now: Instant, buf: &mut [u8], start: usize, len: usize) -> Verdict {
        let Some(pkt) = start.checked_add(len).and_then(|e| buf.get(start..e)) else {
            return Verdict::Drop(DropReason::Truncated);
        };
        let info = match parse_ipv6(pkt) {
            Ok(i) => i,
            Err(e) => return Verdict::Drop(e.into()),
        };
        let pre = match info.transport {
            Transport::Flow { key, tcp_flags } => {
                let Some(z) = self.extract(key.dst.addr) else {
                    return Verdict::Drop(DropReason::Untranslatable);
                };
                let remote_out = Endpoint::new(z, key.dst.port);
                let hash = self.state.store.hash_inside(&key);
                let e = match self.state.outbound(now, hash, &key, remote_out, tcp_flags) {
                    Ok(e) => e,
                    Err(r) => return Verdict::Drop(r),
                };
                Precomputed::V4(FlowKey::new(key.proto, e.outside, e.remote_out))
            }
            Transport::IcmpError { .. } => Precomputed::None,
            Transport::LaterFragment => return Verdict::Drop(DropReason::FragmentWithoutFirst),
            Transport::Other => return Verdict::Drop(DropReason::UnsupportedProtocol),
        };
        let v = {
            let m = FlowMapper { pre, nat: self };
            translate_6to4(&self.config.xlat, &m, buf, start, len)
        };
        if let Verdict::Forward { start: s, len: l } = v
            && self.config.hairpinning
            && buf
                .get(s + 16..s + 20)
                .is_some_and(|d| self.in_pool4(Ipv4Addr::new(d[0], d[1], d[2], d[3])))
        {
            // RFC 6146 § 3.8: back in as if it came from the IPv4 side, source T1:t1.
            self.counters.hairpinned += 1;
            return self.inbound(now, buf, s, l);
        }
        v
    }

    fn inbound(&mut self, now: Instant, buf: &mut [u8], start: usize, len: usize) -> Verdict {
        let Some(pkt) = start.checked_add(len).and_then(|e| buf.get(start..e)) else {
            return Verdict::Drop(DropReason::Truncated);
        };
        let info = match parse_ipv4(pkt) {
            Ok(i) => i,
            Err(e) => return Verdict::Drop(e.into()),
        };
        if !self.in_pool4(info.dst) {
            return Verdict::Drop(DropReason::NoMapping);
        }
        let pre = match info.transport {
            Transport::Flow { key, tcp_flags } => {
                let hash = self.state.store.hash_outside(&key);
                let pool6 = self.config.pool6;
                let remote_in =
                    |r: Endpoint<Ipv4Addr>| Some(Endpoint::new(pool6.embed(r.addr), r.port));
                let e = match self.state.inbound(now, hash, &key, remote_in, tcp_flags) {
                    Ok(e) => e,
                    Err(r) => return Verdict::Drop(r),
                };
                Precomputed::V6(FlowKey::new(key.proto, e.remote_in, e.inside))
            }
            Transport::IcmpError { .. } => Precomputed::None,
            Transport::LaterFragment => return Verdict::Drop(DropReason::FragmentWithoutFirst),
            Transport::Other => return Verdict::Drop(DropReason::UnsupportedProtocol),
        };
        let m = FlowMapper { pre, nat: self };
        translate_4to6(&self.config.xlat, &m, buf, start, len)
    }

    /// Adds a static BIB entry ([RFC 6146 § 3.5.1]): `outside` (in pool4) always maps to
    /// `inside`.
    ///
    /// [RFC 6146 § 3.5.1]: https://www.rfc-editor.org/rfc/rfc6146#section-3.5.1
    pub fn add_static(
        &mut self,
        now: Instant,
        proto: L4Proto,
        inside: Endpoint<Ipv6Addr>,
        outside: Endpoint<Ipv4Addr>,
    ) -> Result<(), DropReason> {
        self.state.add_static(now, proto, inside, outside)
    }

    /// When the engine next has a session to expire.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.state.store.next_expiry()
    }

    /// Expires at most `max` sessions due at `now`; returns how many.
    pub fn handle_timeout(&mut self, now: Instant, max: usize) -> usize {
        self.state.expire(now, max)
    }

    /// The next queued log event.
    pub fn poll_event(&mut self) -> Option<Event<Ipv6Addr, Ipv4Addr>> {
        self.state.events.pop()
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

    /// The configuration.
    pub fn config(&self) -> &Nat64Config {
        &self.config
    }
}
