//! The per-packet paths of the NAT44 engine: outbound and inbound flows, ICMP errors both ways,
//! hairpinning, fragments, and the ICMP errors the translator owes.

use super::Nat44;
use super::fragment::FragmentKey;
use crate::allocator::{AllocError, AllocRequest, PortAllocator};
use crate::behavior::FilteringBehavior;
use crate::checksum::{self, Delta};
use crate::event::EventKind;
use crate::flow::{Endpoint, FlowKey, L4Proto};
use crate::icmp_error;
use crate::rewrite::{get16, rewrite_icmpv4_error, rewrite_ipv4, set16};
use crate::session::{BibEntry, BibKey, BibRef, SessionEntry, SessionRef, SessionStore};
use crate::tcp_state::TcpState;
use crate::time::Instant;
use crate::verdict::{Direction, DropReason, Verdict};
use crate::wire::{PacketInfo, TcpFlags, Transport, ipv4, parse_ipv4};
use core::net::Ipv4Addr;

type Info = PacketInfo<Ipv4Addr>;
type Key = FlowKey<Ipv4Addr>;

/// Parses and checks the IPv4 header of the packet at `buf[start..start + len]`.
fn parse_checked(buf: &[u8], start: usize, len: usize) -> Result<Info, DropReason> {
    let pkt = start
        .checked_add(len)
        .and_then(|end| buf.get(start..end))
        .ok_or(DropReason::Truncated)?;
    let info = parse_ipv4(pkt)?;
    if !checksum::verify(0, &pkt[..info.l4_at]) {
        return Err(DropReason::BadIpChecksum);
    }
    Ok(info)
}

/// Decrements the TTL with its incremental checksum update ([RFC 1624]).
///
/// [RFC 1624]: https://www.rfc-editor.org/rfc/rfc1624
fn decrement_ttl(pkt: &mut [u8]) {
    let Some(old) = get16(pkt, ipv4::TTL) else {
        return;
    };
    let new = old.wrapping_sub(0x0100);
    set16(pkt, ipv4::TTL, new);
    if let Some(c) = get16(pkt, ipv4::CHECKSUM.start) {
        set16(
            pkt,
            ipv4::CHECKSUM.start,
            Delta::NONE.word(old, new).apply(c),
        );
    }
}

fn dont_fragment(pkt: &[u8]) -> bool {
    get16(pkt, ipv4::FLAGS_FRAG.start).is_some_and(|f| f & ipv4::FLAG_DF != 0)
}

impl<S, A, const E: usize, const H: usize, const F: usize, const W: usize> Nat44<S, A, E, H, F, W>
where
    S: SessionStore<Ipv4Addr, Ipv4Addr>,
    A: PortAllocator<Ipv4Addr, Ipv4Addr>,
{
    pub(super) fn outbound(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        start: usize,
        len: usize,
    ) -> Verdict {
        let info = match parse_checked(buf, start, len) {
            Ok(i) => i,
            Err(r) => return Verdict::Drop(r),
        };
        if !self.config.is_subscriber(info.src) {
            return Verdict::Drop(DropReason::NotSubscriber);
        }
        if self.config.decrement_ttl && info.hop_limit <= 1 {
            return self.owe_error(
                now,
                Direction::Outbound,
                buf,
                start,
                len,
                11,
                0,
                [0; 4],
                Some(&info),
            );
        }
        if let Some(mtu) = self.config.outside_mtu
            && info.total_len > usize::from(mtu)
            && dont_fragment(&buf[start..])
        {
            let rest = [0, 0, (mtu >> 8) as u8, mtu as u8];
            return self.owe_error(
                now,
                Direction::Outbound,
                buf,
                start,
                len,
                3,
                4,
                rest,
                Some(&info),
            );
        }
        if self.config.is_passthrough(info.dst) {
            self.counters.passed_through += 1;
            return self.forward(buf, start, info.total_len);
        }
        let v = match info.transport {
            Transport::Flow { key, tcp_flags } => {
                self.outbound_flow(now, buf, start, len, &info, key, tcp_flags)
            }
            Transport::IcmpError { quote, .. } => {
                self.outbound_icmp_error(now, buf, start, &info, quote)
            }
            Transport::LaterFragment => self.later_fragment(now, buf, start, &info),
            Transport::Other => Verdict::Drop(DropReason::UnsupportedProtocol),
        };
        if let Verdict::Forward { .. } = v {
            self.counters.outbound += 1;
        }
        v
    }

    pub(super) fn inbound(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        start: usize,
        len: usize,
        hairpin: bool,
    ) -> Verdict {
        let info = match parse_checked(buf, start, len) {
            Ok(i) => i,
            Err(r) => return Verdict::Drop(r),
        };
        if !self.config.is_outside(info.dst) {
            return Verdict::Drop(DropReason::NoMapping);
        }
        if !hairpin && self.config.decrement_ttl && info.hop_limit <= 1 {
            return self.owe_error(
                now,
                Direction::Inbound,
                buf,
                start,
                len,
                11,
                0,
                [0; 4],
                Some(&info),
            );
        }
        let v = match info.transport {
            Transport::Flow { key, tcp_flags } => {
                self.inbound_flow(now, buf, start, len, &info, key, tcp_flags)
            }
            Transport::IcmpError { quote, .. } => self.inbound_icmp_error(buf, start, &info, quote),
            Transport::LaterFragment => self.later_fragment(now, buf, start, &info),
            Transport::Other => Verdict::Drop(DropReason::UnsupportedProtocol),
        };
        if let Verdict::Forward { .. } = v {
            self.counters.inbound += 1;
        }
        v
    }

    fn forward(&mut self, buf: &mut [u8], start: usize, len: usize) -> Verdict {
        if self.config.decrement_ttl {
            decrement_ttl(&mut buf[start..start + len]);
        }
        Verdict::Forward { start, len }
    }

    #[allow(clippy::too_many_arguments)]
    fn outbound_flow(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        start: usize,
        len: usize,
        info: &Info,
        key: Key,
        flags: TcpFlags,
    ) -> Verdict {
        let hash = self.store.hash_inside(&key);
        let session = match self.store.find_inside(hash, &key) {
            Some(s) => {
                self.refresh(now, s, Direction::Outbound, flags);
                s
            }
            None => match self.new_outbound_session(now, &key, flags) {
                Ok(s) => s,
                Err(
                    DropReason::QuotaExhausted
                    | DropReason::PoolExhausted
                    | DropReason::RateLimited,
                ) if self.config.icmp_errors.send => {
                    let code = self.config.unreachable_code.code();
                    return self.owe_error(
                        now,
                        Direction::Outbound,
                        buf,
                        start,
                        len,
                        3,
                        code,
                        [0; 4],
                        Some(info),
                    );
                }
                Err(r) => return Verdict::Drop(r),
            },
        };
        let Some(e) = self.store.session(session).copied() else {
            return Verdict::Drop(DropReason::NoMapping);
        };
        let new = FlowKey::new(key.proto, e.outside, e.remote_out);
        let total = info.total_len;
        rewrite_ipv4(&mut buf[start..start + total], info.l4_at, true, &key, &new);
        self.remember_first_fragment(now, info, new.src.addr, new.dst.addr);
        if self.config.is_outside(new.dst.addr) {
            if !self.config.hairpinning {
                return Verdict::Drop(DropReason::Policy);
            }
            // RFC 4787 REQ-9: the packet goes back in as if it came from the outside, with
            // the outside endpoint of its sender as source.
            self.counters.hairpinned += 1;
            return self.inbound(now, buf, start, total, true);
        }
        self.forward(buf, start, total)
    }

    /// Creates the binding (if needed) and session for an outbound packet with no session.
    fn new_outbound_session(
        &mut self,
        now: Instant,
        key: &Key,
        flags: TcpFlags,
    ) -> Result<SessionRef, DropReason> {
        if key.proto == L4Proto::Tcp && !flags.contains(TcpFlags::SYN) {
            // RFC 6146 § 3.5.2.2: only a SYN opens a TCP session.
            return Err(DropReason::NoMapping);
        }
        let mapping = self.config.mapping.get(key.proto);
        let bib_key = BibKey {
            proto: key.proto,
            inside: key.src,
            remote: mapping.project(key.dst),
        };
        let (bib, fresh) = match self.store.find_bib_inside(&bib_key) {
            Some(b) => (b, false),
            None => (self.new_bib(now, bib_key, key.dst)?, true),
        };
        let state = if key.proto == L4Proto::Tcp {
            TcpState::opening(Direction::Outbound) as u8
        } else {
            0
        };
        match self.add_session(now, bib, key.dst, state) {
            Ok(s) => {
                if key.proto == L4Proto::Tcp {
                    // RFC 5382 REQ-4: an outbound SYN claims a held inbound SYN silently.
                    if let Some(e) = self.store.session(s) {
                        let claimed = e.outside_key();
                        self.held.claim(&claimed);
                    }
                }
                Ok(s)
            }
            Err(r) => {
                if fresh {
                    self.drop_bib(now, bib);
                }
                Err(r)
            }
        }
    }

    fn new_bib(
        &mut self,
        now: Instant,
        key: BibKey<Ipv4Addr, Ipv4Addr>,
        remote: Endpoint<Ipv4Addr>,
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
                let none = Endpoint::new(Ipv4Addr::UNSPECIFIED, 0);
                self.event(now, kind, key.proto, key.inside, none, remote);
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
                let none = Endpoint::new(Ipv4Addr::UNSPECIFIED, 0);
                self.event(
                    now,
                    EventKind::MappingCreated,
                    key.proto,
                    key.inside,
                    outside,
                    none,
                );
                Ok(b)
            }
            Err(_) => {
                self.alloc.release(now, key.proto, key.inside, outside);
                Err(DropReason::TableFull)
            }
        }
    }

    fn drop_bib(&mut self, now: Instant, bib: BibRef) {
        if let Ok(b) = self.store.remove_bib(bib) {
            let p = b.key.proto;
            self.counters.mappings[p.index()] = self.counters.mappings[p.index()].saturating_sub(1);
            self.alloc.release(now, p, b.key.inside, b.outside);
            let none = Endpoint::new(Ipv4Addr::UNSPECIFIED, 0);
            self.event(
                now,
                EventKind::MappingDeleted,
                p,
                b.key.inside,
                b.outside,
                none,
            );
        }
    }

    /// Adds a session to `bib` towards `remote` (the same address on both sides for NAT44).
    fn add_session(
        &mut self,
        now: Instant,
        bib: BibRef,
        remote: Endpoint<Ipv4Addr>,
        state: u8,
    ) -> Result<SessionRef, DropReason> {
        let b = *self.store.bib(bib).ok_or(DropReason::NoMapping)?;
        let proto = b.key.proto;
        self.alloc.admit_session(now, proto, b.key.inside.addr)?;
        let expires = now + self.lifetime(proto, state);
        let entry = SessionEntry {
            bib,
            proto,
            inside: b.key.inside,
            outside: b.outside,
            remote_in: remote,
            remote_out: remote,
            state,
            tag: 0,
            expires,
        };
        match self.store.insert_session(entry) {
            Ok(s) => {
                let p = proto.index();
                self.counters.sessions[p] += 1;
                self.counters.sessions_created[p] += 1;
                self.event(
                    now,
                    EventKind::SessionCreated,
                    proto,
                    b.key.inside,
                    b.outside,
                    remote,
                );
                Ok(s)
            }
            Err(_) => {
                self.alloc.session_closed(now, proto, b.key.inside.addr);
                Err(DropReason::TableFull)
            }
        }
    }

    fn lifetime(&self, proto: L4Proto, state: u8) -> core::time::Duration {
        let t = &self.config.timeouts;
        match proto {
            L4Proto::Tcp => TcpState::from_u8(state).lifetime(t),
            L4Proto::Udp => t.udp,
            L4Proto::Icmp => t.icmp,
        }
    }

    /// Advances the session's state and timer for a packet from `dir`.
    fn refresh(&mut self, now: Instant, s: SessionRef, dir: Direction, flags: TcpFlags) {
        let Some(e) = self.store.session(s).copied() else {
            return;
        };
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
    }

    #[allow(clippy::too_many_arguments)]
    fn inbound_flow(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        start: usize,
        len: usize,
        info: &Info,
        key: Key,
        flags: TcpFlags,
    ) -> Verdict {
        let hash = self.store.hash_outside(&key);
        let session = match self.store.find_outside(hash, &key) {
            Some(s) => {
                self.refresh(now, s, Direction::Inbound, flags);
                s
            }
            None => match self.new_inbound_session(now, &key, flags) {
                Ok(s) => s,
                Err(r) => {
                    if key.proto == L4Proto::Tcp
                        && flags.contains(TcpFlags::SYN)
                        && !flags.contains(TcpFlags::ACK)
                        && matches!(r, DropReason::Filtered | DropReason::NoMapping)
                    {
                        // RFC 5382 REQ-4: hold the unsolicited SYN for 6 s.
                        let until = now + self.config.timeouts.tcp_syn_hold;
                        if self.held.hold(key, &buf[start..start + len], until) {
                            return Verdict::Hold;
                        }
                    }
                    return Verdict::Drop(r);
                }
            },
        };
        let Some(e) = self.store.session(session).copied() else {
            return Verdict::Drop(DropReason::NoMapping);
        };
        let new = FlowKey::new(key.proto, e.remote_in, e.inside);
        let total = info.total_len;
        rewrite_ipv4(&mut buf[start..start + total], info.l4_at, true, &key, &new);
        self.remember_first_fragment(now, info, new.src.addr, new.dst.addr);
        self.forward(buf, start, total)
    }

    /// Applies the filtering behaviour to an inbound packet with no session, and creates the
    /// session if the packet may pass ([RFC 4787 § 5], [RFC 5382] REQ-3).
    ///
    /// [RFC 4787 § 5]: https://www.rfc-editor.org/rfc/rfc4787#section-5
    /// [RFC 5382]: https://www.rfc-editor.org/rfc/rfc5382
    fn new_inbound_session(
        &mut self,
        now: Instant,
        key: &Key,
        flags: TcpFlags,
    ) -> Result<SessionRef, DropReason> {
        let bib = self
            .store
            .find_bib_outside(key.proto, &key.dst)
            .ok_or(DropReason::NoMapping)?;
        let b = *self.store.bib(bib).ok_or(DropReason::NoMapping)?;
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
        if !allowed {
            return Err(DropReason::Filtered);
        }
        // The mapping's remote projection must admit this remote (address-dependent mapping
        // keeps one binding per remote address).
        let projected = self.config.mapping.get(key.proto).project(key.src);
        if !b.is_static && b.key.remote != projected {
            return Err(DropReason::Filtered);
        }
        let state = match key.proto {
            L4Proto::Tcp if flags.contains(TcpFlags::SYN) => {
                TcpState::opening(Direction::Inbound) as u8
            }
            // Only a SYN opens a TCP session (RFC 6146 § 3.5.2.2).
            L4Proto::Tcp => return Err(DropReason::Filtered),
            _ => 0,
        };
        self.add_session(now, bib, key.src, state)
    }

    /// An ICMP error from the inside about a packet the translator sent in: its quote is
    /// (remote → inside endpoint) and becomes (remote → outside endpoint) ([RFC 5508 § 4.2]).
    ///
    /// [RFC 5508 § 4.2]: https://www.rfc-editor.org/rfc/rfc5508#section-4.2
    fn outbound_icmp_error(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        start: usize,
        info: &Info,
        quote: crate::wire::Quote<Ipv4Addr>,
    ) -> Verdict {
        let inside_key = quote.key.reversed();
        let hash = self.store.hash_inside(&inside_key);
        let Some(e) = self
            .store
            .find_inside(hash, &inside_key)
            .and_then(|s| self.store.session(s))
            .copied()
        else {
            return Verdict::Drop(DropReason::NoMapping);
        };
        let new_quote = FlowKey::new(quote.key.proto, e.remote_out, e.outside);
        let total = info.total_len;
        rewrite_icmpv4_error(
            &mut buf[start..start + total],
            info.l4_at,
            quote.ip_at,
            quote.l4_at,
            &quote.key,
            &new_quote,
            e.outside.addr,
            info.dst,
        );
        self.counters.icmp_errors_translated += 1;
        if self.config.is_outside(info.dst) && self.config.hairpinning {
            self.counters.hairpinned += 1;
            return self.inbound(now, buf, start, total, true);
        }
        self.forward(buf, start, total)
    }

    /// An ICMP error from the outside about a packet the translator sent out: its quote is
    /// (outside endpoint → remote) and becomes (inside endpoint → remote).
    fn inbound_icmp_error(
        &mut self,
        buf: &mut [u8],
        start: usize,
        info: &Info,
        quote: crate::wire::Quote<Ipv4Addr>,
    ) -> Verdict {
        let outside_key = quote.key.reversed();
        let hash = self.store.hash_outside(&outside_key);
        let Some(e) = self
            .store
            .find_outside(hash, &outside_key)
            .and_then(|s| self.store.session(s))
            .copied()
        else {
            return Verdict::Drop(DropReason::NoMapping);
        };
        let new_quote = FlowKey::new(quote.key.proto, e.inside, e.remote_in);
        let total = info.total_len;
        rewrite_icmpv4_error(
            &mut buf[start..start + total],
            info.l4_at,
            quote.ip_at,
            quote.l4_at,
            &quote.key,
            &new_quote,
            info.src,
            e.inside.addr,
        );
        self.counters.icmp_errors_translated += 1;
        self.forward(buf, start, total)
    }

    fn remember_first_fragment(
        &mut self,
        now: Instant,
        info: &Info,
        new_src: Ipv4Addr,
        new_dst: Ipv4Addr,
    ) {
        if let Some(f) = info.fragment
            && f.is_first()
            && f.more
        {
            let key = FragmentKey {
                src: info.src,
                dst: info.dst,
                id: f.id as u16,
                protocol: info.protocol,
            };
            let until = now + self.config.fragment_timeout;
            self.fragments.remember(key, new_src, new_dst, now, until);
        }
    }

    /// A fragment without ports follows its first fragment's translation, or waits for it.
    fn later_fragment(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        start: usize,
        info: &Info,
    ) -> Verdict {
        let Some(f) = info.fragment else {
            return Verdict::Drop(DropReason::FragmentWithoutFirst);
        };
        let key = FragmentKey {
            src: info.src,
            dst: info.dst,
            id: f.id as u16,
            protocol: info.protocol,
        };
        let total = info.total_len;
        match self.fragments.lookup(&key, now) {
            Some((src, dst)) => self.release_fragment(buf, start, total, src, dst),
            None => {
                let until = now + self.config.fragment_timeout;
                if self
                    .fragments
                    .wait(key, &buf[start..start + total], until, now)
                {
                    Verdict::Hold
                } else {
                    Verdict::Drop(DropReason::FragmentBufferFull)
                }
            }
        }
    }

    /// Rewrites the addresses of a later fragment (no transport header) and forwards it.
    pub(super) fn release_fragment(
        &mut self,
        buf: &mut [u8],
        start: usize,
        len: usize,
        src: Ipv4Addr,
        dst: Ipv4Addr,
    ) -> Verdict {
        let pkt = &mut buf[start..start + len];
        let old_src = ipv4::addr(pkt, ipv4::SRC_ADDR.start);
        let old_dst = ipv4::addr(pkt, ipv4::DST_ADDR.start);
        let k = |s, d| FlowKey::new(L4Proto::Udp, Endpoint::new(s, 0), Endpoint::new(d, 0));
        rewrite_ipv4(pkt, 0, false, &k(old_src, old_dst), &k(src, dst));
        if self.config.is_outside(dst) {
            self.counters.outbound += 1;
        } else {
            self.counters.inbound += 1;
        }
        self.forward(buf, start, len)
    }

    /// Sends an ICMP error the translator owes about the packet at `buf[start..start + len]`,
    /// when policy and rate limit allow: from the translator's inside address about a packet
    /// from the inside, from the packet's (outside) destination about one from the outside.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn owe_error(
        &mut self,
        now: Instant,
        dir: Direction,
        buf: &mut [u8],
        start: usize,
        len: usize,
        icmp_type: u8,
        code: u8,
        rest: [u8; 4],
        info: Option<&Info>,
    ) -> Verdict {
        let root = match (icmp_type, code) {
            (11, _) => DropReason::TtlExpired,
            (3, 4) => DropReason::PacketTooBig,
            (3, 3) => DropReason::Filtered,
            _ => DropReason::QuotaExhausted,
        };
        let parsed;
        let info = match info {
            Some(i) => i,
            None => match buf.get(start..start + len).map(parse_ipv4) {
                Some(Ok(i)) => {
                    parsed = i;
                    &parsed
                }
                _ => return Verdict::Drop(root),
            },
        };
        if !self.config.icmp_errors.send
            || !icmp_error::may_answer(info)
            || !self.limiter.allow(now)
        {
            self.counters.icmp_errors_suppressed += 1;
            return Verdict::Drop(root);
        }
        let from = match dir {
            Direction::Outbound => self.config.inside_address,
            Direction::Inbound => info.dst,
        };
        match icmp_error::write_error(
            buf,
            start,
            len.min(info.total_len),
            from,
            icmp_type,
            code,
            rest,
        ) {
            Some((s, l)) => {
                self.counters.icmp_errors_sent += 1;
                Verdict::Reply { start: s, len: l }
            }
            None => {
                self.counters.icmp_errors_suppressed += 1;
                Verdict::Drop(root)
            }
        }
    }
}
