//! The state machinery every stateful translator shares ([RFC 6146 § 3], adopted for NAT44 by
//! [RFC 7857 § 2.1]): finding or creating the binding and session of a packet under the
//! configured mapping and filtering behaviours, the TCP state machine and timers, and the
//! bookkeeping when sessions expire. NAT44 and NAT64 differ only in how they rewrite packets and
//! in how the remote endpoint looks from each side; that difference is passed in.
//!
//! [RFC 6146 § 3]: https://www.rfc-editor.org/rfc/rfc6146#section-3
//! [RFC 7857 § 2.1]: https://www.rfc-editor.org/rfc/rfc7857#section-2.1

use crate::allocator::{AllocError, AllocRequest, PortAllocator};
use crate::behavior::{FilteringBehavior, MappingBehavior, PerProto, Timeouts};
use crate::event::{Event, EventKind, EventQueue};
use crate::flow::{Endpoint, FlowKey, IpAddress, L4Proto};
use crate::session::{BibEntry, BibKey, BibRef, SessionEntry, SessionRef, SessionStore};
use crate::tcp_state::TcpState;
use crate::time::Instant;
use crate::verdict::{Direction, DropReason};
use crate::wire::TcpFlags;
use core::time::Duration;

/// The behaviour a stateful translator is configured with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateConfig {
    /// Mapping behaviour per protocol.
    pub mapping: PerProto<MappingBehavior>,
    /// Filtering behaviour per protocol.
    pub filtering: PerProto<FilteringBehavior>,
    /// Session timers.
    pub timeouts: Timeouts,
    /// Whether inbound packets refresh UDP and ICMP sessions (RFC 4787 REQ-6).
    pub inbound_refresh: bool,
}

/// Live and created counts of the state tables, per protocol (TCP, UDP, ICMP).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StateCounters {
    /// Live sessions.
    pub sessions: [u64; 3],
    /// Live bindings.
    pub mappings: [u64; 3],
    /// Sessions created since start.
    pub sessions_created: [u64; 3],
}

/// The store, allocator, event queue and counters of a stateful translator between inside
/// family `I` and outside family `O`.
pub(crate) struct State<I, O, S, A, const E: usize> {
    pub(crate) config: StateConfig,
    pub(crate) store: S,
    pub(crate) alloc: A,
    pub(crate) events: EventQueue<I, O, E>,
    pub(crate) counters: StateCounters,
}

fn unspecified<A: IpAddress>() -> Endpoint<A> {
    Endpoint::new(A::UNSPECIFIED, 0)
}

impl<I, O, S, A, const E: usize> State<I, O, S, A, E>
where
    I: IpAddress,
    O: IpAddress,
    S: SessionStore<I, O>,
    A: PortAllocator<I, O>,
{
    pub(crate) fn new(config: StateConfig, store: S, alloc: A) -> Self {
        State {
            config,
            store,
            alloc,
            events: EventQueue::new(),
            counters: StateCounters::default(),
        }
    }

    fn event(
        &mut self,
        now: Instant,
        kind: EventKind,
        proto: L4Proto,
        inside: Endpoint<I>,
        outside: Endpoint<O>,
        remote: Endpoint<O>,
    ) {
        self.events.push(Event {
            time: now,
            kind,
            proto,
            inside,
            outside,
            remote,
        });
    }

    pub(crate) fn lifetime(&self, proto: L4Proto, state: u8) -> Duration {
        let t = &self.config.timeouts;
        match proto {
            L4Proto::Tcp => TcpState::from_u8(state).lifetime(t),
            L4Proto::Udp => t.udp,
            L4Proto::Icmp => t.icmp,
        }
    }

    /// The session of an outbound packet with inside key `key` (X:x → Y':y), refreshed; or a
    /// new one towards `remote_out` (Z:z, the remote as the outside sees it), creating the
    /// binding under the mapping behaviour if needed. Only a SYN opens a TCP session
    /// ([RFC 6146 § 3.5.2.2]).
    ///
    /// [RFC 6146 § 3.5.2.2]: https://www.rfc-editor.org/rfc/rfc6146#section-3.5.2.2
    pub(crate) fn outbound(
        &mut self,
        now: Instant,
        hash: u64,
        key: &FlowKey<I>,
        remote_out: Endpoint<O>,
        flags: TcpFlags,
    ) -> Result<SessionEntry<I, O>, DropReason> {
        if let Some(s) = self.store.find_inside(hash, key) {
            return self.refresh(now, s, Direction::Outbound, flags);
        }
        if key.proto == L4Proto::Tcp && !flags.contains(TcpFlags::SYN) {
            return Err(DropReason::NoMapping);
        }
        let mapping = self.config.mapping.get(key.proto);
        let bib_key = BibKey {
            proto: key.proto,
            inside: key.src,
            remote: mapping.project(remote_out),
        };
        let (bib, fresh) = match self.store.find_bib_inside(&bib_key) {
            Some(b) => (b, false),
            None => (self.new_bib(now, bib_key, remote_out)?, true),
        };
        let state = match key.proto {
            L4Proto::Tcp => TcpState::opening(Direction::Outbound) as u8,
            _ => 0,
        };
        match self.add_session(now, bib, key.dst, remote_out, state) {
            Ok(e) => Ok(e),
            Err(r) => {
                if fresh {
                    self.drop_bib(now, bib);
                }
                Err(r)
            }
        }
    }

    /// The session of an inbound packet with outside key `key` (Z:z → X':x'), refreshed; or,
    /// when the filtering behaviour lets the packet through to an existing binding, a new
    /// session whose remote looks like `remote_in(Z:z)` from the inside ([RFC 4787 § 5],
    /// [RFC 6146 § 3.5.1.1]).
    ///
    /// [RFC 4787 § 5]: https://www.rfc-editor.org/rfc/rfc4787#section-5
    /// [RFC 6146 § 3.5.1.1]: https://www.rfc-editor.org/rfc/rfc6146#section-3.5.1.1
    pub(crate) fn inbound(
        &mut self,
        now: Instant,
        hash: u64,
        key: &FlowKey<O>,
        remote_in: impl FnOnce(Endpoint<O>) -> Option<Endpoint<I>>,
        flags: TcpFlags,
    ) -> Result<SessionEntry<I, O>, DropReason> {
        if let Some(s) = self.store.find_outside(hash, key) {
            return self.refresh(now, s, Direction::Inbound, flags);
        }
        let bib = self
            .store
            .find_bib_outside(key.proto, &key.dst)
            .ok_or(DropReason::NoMapping)?;
        let b = self.store.bib(bib).ok_or(DropReason::NoMapping)?;
        let allowed = b.is_static
            || match self.config.filtering.get(key.proto) {
                FilteringBehavior::EndpointIndependent => true,
                FilteringBehavior::AddressDependent => {
                    let mut seen = false;
                    self.store.bib_sessions(bib, |_, s| {
                        seen = s.remote_out.addr == key.src.addr;
                        !seen
                    });
                    seen
                }
                // The exact session lookup already failed.
                FilteringBehavior::AddressAndPortDependent => false,
            };
        // A binding of address-dependent mapping belongs to one remote (projection).
        let projected = self.config.mapping.get(key.proto).project(key.src);
        if !allowed || (!b.is_static && b.key.remote != projected) {
            return Err(DropReason::Filtered);
        }
        let state = match key.proto {
            L4Proto::Tcp if flags.contains(TcpFlags::SYN) => {
                TcpState::opening(Direction::Inbound) as u8
            }
            L4Proto::Tcp => return Err(DropReason::Filtered),
            _ => 0,
        };
        let remote = remote_in(key.src).ok_or(DropReason::Untranslatable)?;
        self.add_session(now, bib, remote, key.src, state)
    }

    fn new_bib(
        &mut self,
        now: Instant,
        key: BibKey<I, O>,
        remote: Endpoint<O>,
    ) -> Result<BibRef, DropReason> {
        let req = AllocRequest {
            proto: key.proto,
            inside: key.inside,
            remote,
        };
        let outside = match self.alloc.allocate(now, &req) {
            Ok(o) => o,
            Err(e) => {
                let kind = match e {
                    AllocError::QuotaExhausted | AllocError::RateLimited => {
                        EventKind::QuotaExhausted
                    }
                    _ => EventKind::PoolExhausted,
                };
                self.event(now, kind, key.proto, key.inside, unspecified(), remote);
                return Err(e.into());
            }
        };
        match self.store.insert_bib(BibEntry {
            key,
            outside,
            is_static: false,
            sessions: 0,
        }) {
            Ok(b) => {
                self.counters.mappings[key.proto.index()] += 1;
                self.event(
                    now,
                    EventKind::MappingCreated,
                    key.proto,
                    key.inside,
                    outside,
                    unspecified(),
                );
                Ok(b)
            }
            Err(_) => {
                self.alloc.release(now, key.proto, key.inside, outside);
                Err(DropReason::TableFull)
            }
        }
    }

    /// Adds a static binding: `outside` always maps to `inside`, and passes every filter.
    pub(crate) fn add_static(
        &mut self,
        now: Instant,
        proto: L4Proto,
        inside: Endpoint<I>,
        outside: Endpoint<O>,
    ) -> Result<(), DropReason> {
        self.alloc.reserve(now, proto, inside, outside)?;
        let key = BibKey {
            proto,
            inside,
            remote: unspecified(),
        };
        if self
            .store
            .insert_bib(BibEntry {
                key,
                outside,
                is_static: true,
                sessions: 0,
            })
            .is_err()
        {
            self.alloc.release(now, proto, inside, outside);
            return Err(DropReason::TableFull);
        }
        self.counters.mappings[proto.index()] += 1;
        Ok(())
    }

    fn drop_bib(&mut self, now: Instant, bib: BibRef) {
        if let Ok(b) = self.store.remove_bib(bib) {
            let p = b.key.proto;
            self.counters.mappings[p.index()] = self.counters.mappings[p.index()].saturating_sub(1);
            self.alloc.release(now, p, b.key.inside, b.outside);
            self.event(
                now,
                EventKind::MappingDeleted,
                p,
                b.key.inside,
                b.outside,
                unspecified(),
            );
        }
    }

    fn add_session(
        &mut self,
        now: Instant,
        bib: BibRef,
        remote_in: Endpoint<I>,
        remote_out: Endpoint<O>,
        state: u8,
    ) -> Result<SessionEntry<I, O>, DropReason> {
        let b = self.store.bib(bib).ok_or(DropReason::NoMapping)?;
        let proto = b.key.proto;
        self.alloc.admit_session(now, proto, b.key.inside.addr)?;
        let entry = SessionEntry {
            bib,
            proto,
            inside: b.key.inside,
            outside: b.outside,
            remote_in,
            remote_out,
            state,
            tag: 0,
            expires: now + self.lifetime(proto, state),
        };
        match self.store.insert_session(entry) {
            Ok(_) => {
                let p = proto.index();
                self.counters.sessions[p] += 1;
                self.counters.sessions_created[p] += 1;
                self.event(
                    now,
                    EventKind::SessionCreated,
                    proto,
                    b.key.inside,
                    b.outside,
                    remote_out,
                );
                Ok(entry)
            }
            Err(_) => {
                self.alloc.session_closed(now, proto, b.key.inside.addr);
                Err(DropReason::TableFull)
            }
        }
    }

    /// Advances a session's TCP state and timer for a packet from `dir`; returns the session
    /// as it now is, so the packet path reads it once.
    fn refresh(
        &mut self,
        now: Instant,
        s: SessionRef,
        dir: Direction,
        flags: TcpFlags,
    ) -> Result<SessionEntry<I, O>, DropReason> {
        let e = self.store.session(s).ok_or(DropReason::NoMapping)?;
        let (state, refresh) = match e.proto {
            L4Proto::Tcp => {
                let (st, r) = TcpState::from_u8(e.state).next(dir, flags);
                (st as u8, r)
            }
            _ => (
                e.state,
                dir == Direction::Outbound || self.config.inbound_refresh,
            ),
        };
        let expires = if refresh {
            now + self.lifetime(e.proto, state)
        } else if state != e.state {
            // A state change without refresh (both FINs seen) may only shorten the timer.
            e.expires.min(now + self.lifetime(e.proto, state))
        } else {
            e.expires
        };
        if state != e.state || expires != e.expires {
            let _ = self.store.update(s, state, expires);
        }
        Ok(SessionEntry {
            state,
            expires,
            ..e
        })
    }

    /// When the state next has timer work: a session to expire or an allocator timer.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        match (self.store.next_expiry(), self.alloc.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Expires at most `max` sessions due at `now`; bindings left without sessions go too and
    /// their endpoints return to the allocator.
    pub(crate) fn expire(&mut self, now: Instant, max: usize) -> usize {
        self.expire_with(now, max, |_| None)
    }

    /// As [`expire`](Self::expire), but a due session to which `keep` gives a new state and
    /// expiry is put back instead of deleted (RFC 6146 § 3.5.2.2: an idle established session
    /// goes to TRANS and is probed rather than dropped).
    pub(crate) fn expire_with(
        &mut self,
        now: Instant,
        max: usize,
        mut keep: impl FnMut(&SessionEntry<I, O>) -> Option<(u8, Instant)>,
    ) -> usize {
        self.alloc.poll(now);
        let mut n = 0;
        while n < max {
            let Some((_, e)) = self.store.pop_expired(now) else {
                break;
            };
            n += 1;
            if let Some((state, expires)) = keep(&e)
                && self
                    .store
                    .insert_session(SessionEntry {
                        state,
                        expires,
                        ..e
                    })
                    .is_ok()
            {
                continue;
            }
            let p = e.proto.index();
            self.counters.sessions[p] = self.counters.sessions[p].saturating_sub(1);
            self.alloc.session_closed(now, e.proto, e.inside.addr);
            self.event(
                now,
                EventKind::SessionDeleted,
                e.proto,
                e.inside,
                e.outside,
                e.remote_out,
            );
            if self
                .store
                .bib(e.bib)
                .is_some_and(|b| b.sessions == 0 && !b.is_static)
            {
                self.drop_bib(now, e.bib);
            }
        }
        n
    }
}
