//! The per-packet paths of the NAT44 engine: outbound and inbound flows, ICMP errors both ways,
//! hairpinning, fragments, and the ICMP errors the translator owes.

use super::Nat44;
use super::fragment::{FragmentKey, Translated};
use crate::allocator::PortAllocator;
use crate::checksum::{self, Delta};
use crate::flow::{Endpoint, FlowKey, L4Proto};
use crate::icmp_error;
use crate::rewrite::{get16, rewrite_icmpv4_error, rewrite_ipv4, set16};
use crate::session::SessionStore;
use crate::tcp_state::TcpState;
use crate::time::Instant;
use crate::verdict::{Direction, DropReason, Verdict};
use crate::wire::icmp::icmpv4;
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

/// Sets the IPv4 Identification with its incremental checksum update.
fn set_ip_id(pkt: &mut [u8], id: u16) {
    if let Some(old) = set16(pkt, ipv4::IDENT.start, id)
        && let Some(c) = get16(pkt, ipv4::CHECKSUM.start)
    {
        set16(
            pkt,
            ipv4::CHECKSUM.start,
            Delta::NONE.word(old, id).apply(c),
        );
    }
}

fn dont_fragment(pkt: &[u8]) -> bool {
    get16(pkt, ipv4::FLAGS_FRAG.start).is_some_and(|f| f & ipv4::FLAG_DF != 0)
}

/// Checks an ICMP error before it is translated ([RFC 5508 § 4.1] REQ-3, § 7): its ICMP
/// checksum and its quoted IP header checksum must hold (the quoted transport checksum is not
/// looked at, REQ-3c), and Source Quench is not translated (REQ-10c).
///
/// [RFC 5508 § 4.1]: https://www.rfc-editor.org/rfc/rfc5508#section-4.1
fn check_icmp_error(
    pkt: &[u8],
    info: &Info,
    icmp_type: u8,
    quote: &crate::wire::Quote<Ipv4Addr>,
) -> Result<(), DropReason> {
    if icmp_type == icmpv4::SOURCE_QUENCH {
        return Err(DropReason::UnsupportedProtocol);
    }
    if !checksum::verify(0, &pkt[info.l4_at..info.total_len]) {
        return Err(DropReason::BadIcmpChecksum);
    }
    if !checksum::verify(0, &pkt[quote.ip_at..quote.l4_at]) {
        return Err(DropReason::BadIpChecksum);
    }
    Ok(())
}

/// Whether IPv4 options carry a loose or strict source route ([RFC 791]), which the engine
/// does not rewrite: outbound ICMP carrying one is not forwarded ([RFC 5508 § 7.3]).
///
/// [RFC 791]: https://www.rfc-editor.org/rfc/rfc791
/// [RFC 5508 § 7.3]: https://www.rfc-editor.org/rfc/rfc5508#section-7.3
fn source_routed(options: &[u8]) -> bool {
    const LSRR: u8 = 131;
    const SSRR: u8 = 137;
    let mut i = 0;
    while let Some(&kind) = options.get(i) {
        match kind {
            0 => return false,
            1 => i += 1,
            LSRR | SSRR => return true,
            _ => match options.get(i + 1) {
                Some(&len) if len >= 2 => i += usize::from(len),
                _ => return false,
            },
        }
    }
    false
}

/// Whether an outbound ICMP message has a source route in its header or its quote's.
fn icmp_source_routed(pkt: &[u8], info: &Info) -> bool {
    if info.protocol != 1 {
        return false;
    }
    let quoted = match info.transport {
        Transport::IcmpError { quote, .. } => {
            source_routed(&pkt[quote.ip_at + ipv4::HEADER_LEN..quote.l4_at])
        }
        _ => false,
    };
    quoted || source_routed(&pkt[ipv4::HEADER_LEN..info.l4_at])
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
                &info,
            );
        }
        if let Some(mtu) = self.config.outside_mtu
            && info.total_len > usize::from(mtu)
            && dont_fragment(&buf[start..])
        {
            let rest = [0, 0, (mtu >> 8) as u8, mtu as u8];
            return self.owe_error(now, Direction::Outbound, buf, start, len, 3, 4, rest, &info);
        }
        if self.config.is_passthrough(info.dst) {
            self.counters.passed_through += 1;
            return self.forward(buf, start, info.total_len);
        }
        if icmp_source_routed(&buf[start..], &info) {
            return Verdict::Drop(DropReason::SourceRouted);
        }
        let v = match info.transport {
            Transport::Flow { key, tcp_flags } => {
                self.outbound_flow(now, buf, start, len, &info, key, tcp_flags)
            }
            Transport::IcmpError {
                icmp_type, quote, ..
            } => match check_icmp_error(&buf[start..], &info, icmp_type, &quote) {
                Ok(()) => self.outbound_icmp_error(now, buf, start, &info, quote),
                Err(r) => Verdict::Drop(r),
            },
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
                &info,
            );
        }
        let v = match info.transport {
            Transport::Flow { key, tcp_flags } => {
                self.inbound_flow(now, buf, start, len, &info, key, tcp_flags)
            }
            Transport::IcmpError {
                icmp_type, quote, ..
            } => match check_icmp_error(&buf[start..], &info, icmp_type, &quote) {
                Ok(()) => self.inbound_icmp_error(buf, start, &info, quote),
                Err(r) => Verdict::Drop(r),
            },
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
        let hash = self.state.store.hash_inside(&key);
        let e = match self.state.outbound(now, hash, &key, key.dst, flags) {
            Ok(e) => {
                if key.proto == L4Proto::Tcp && e.state == TcpState::InsideInit as u8 {
                    // RFC 5382 REQ-4: an outbound SYN claims a held inbound SYN silently.
                    self.held.claim(&e.outside_key());
                }
                e
            }
            // RFC 5508 REQ-8, RFC 6888 REQ-11: no session for want of resources (ports,
            // quota, rate, table room) is answered with Destination Unreachable.
            Err(
                r @ (DropReason::QuotaExhausted
                | DropReason::PoolExhausted
                | DropReason::RateLimited
                | DropReason::TableFull),
            ) if self.config.icmp_errors.send => {
                let code = self.config.unreachable_code.code();
                return match self.owe_error(
                    now,
                    Direction::Outbound,
                    buf,
                    start,
                    len,
                    3,
                    code,
                    [0; 4],
                    info,
                ) {
                    Verdict::Drop(_) => Verdict::Drop(r),
                    v => v,
                };
            }
            Err(r) => return Verdict::Drop(r),
        };
        let new = FlowKey::new(key.proto, e.outside, e.remote_out);
        let total = info.total_len;
        rewrite_ipv4(&mut buf[start..start + total], info.l4_at, true, &key, &new);
        let id = self.assign_ip_id(&mut buf[start..start + total], info);
        let to = Translated {
            src: new.src.addr,
            dst: new.dst.addr,
            id,
        };
        self.remember_first_fragment(now, info, to);
        if self.config.is_outside(new.dst.addr) {
            if !self.config.hairpinning {
                return Verdict::Drop(DropReason::Policy);
            }
            return self.hairpin_back(now, buf, start, total);
        }
        self.forward(buf, start, total)
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
        let hash = self.state.store.hash_outside(&key);
        let e = match self.state.inbound(now, hash, &key, Some, flags) {
            Ok(e) => e,
            Err(r) => {
                if key.proto == L4Proto::Tcp
                    && flags.contains(TcpFlags::SYN)
                    && !flags.contains(TcpFlags::ACK)
                    && matches!(r, DropReason::Filtered | DropReason::NoMapping)
                {
                    // RFC 5382 REQ-4: hold the unsolicited SYN for 6 s (unless it could
                    // never be answered: then dropping it now is as silent).
                    let until = now + self.config.timeouts.tcp_syn_hold;
                    if icmp_error::may_answer(info)
                        && self.held.hold(key, &buf[start..start + len], (), until)
                    {
                        return Verdict::Hold;
                    }
                }
                return Verdict::Drop(r);
            }
        };
        let new = FlowKey::new(key.proto, e.remote_in, e.inside);
        let total = info.total_len;
        rewrite_ipv4(&mut buf[start..start + total], info.l4_at, true, &key, &new);
        let to = Translated {
            src: new.src.addr,
            dst: new.dst.addr,
            id: None,
        };
        self.remember_first_fragment(now, info, to);
        self.forward(buf, start, total)
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
        let hash = self.state.store.hash_inside(&inside_key);
        let Some(e) = self
            .state
            .store
            .find_inside(hash, &inside_key)
            .and_then(|s| self.state.store.session(s))
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
            return self.hairpin_back(now, buf, start, total);
        }
        self.forward(buf, start, total)
    }

    /// A packet translated out to an outside endpoint of the translator itself goes back in
    /// as if it came from the outside, its sender's outside endpoint as source ([RFC 4787]
    /// REQ-9); under `hairpin_handoff` the caller takes it to the translator that owns that
    /// endpoint (one hop in all: the TTL goes down when that one forwards it).
    ///
    /// [RFC 4787]: https://www.rfc-editor.org/rfc/rfc4787
    fn hairpin_back(&mut self, now: Instant, buf: &mut [u8], start: usize, len: usize) -> Verdict {
        self.counters.hairpinned += 1;
        if self.config.hairpin_handoff {
            Verdict::Forward { start, len }
        } else {
            self.inbound(now, buf, start, len, true)
        }
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
        let hash = self.state.store.hash_outside(&outside_key);
        let Some(e) = self
            .state
            .store
            .find_outside(hash, &outside_key)
            .and_then(|s| self.state.store.session(s))
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

    fn remember_first_fragment(&mut self, now: Instant, info: &Info, to: Translated) {
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
            self.fragments.remember(key, to, now, until);
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
            Some(to) => self.release_fragment(now, buf, start, total, to),
            None => {
                let until = now + self.config.fragment_timeout;
                if self
                    .fragments
                    .wait(key, &buf[start..start + total], now, until)
                {
                    Verdict::Hold
                } else {
                    Verdict::Drop(DropReason::FragmentBufferFull)
                }
            }
        }
    }

    /// Gives an outbound non-atomic datagram (DF clear, or a fragment) a new Identification
    /// from the translator's own sequence, so that datagrams of hosts sharing an outside
    /// address do not collide at their receiver ([RFC 7857 § 10], [RFC 6864 § 5.3.1]). Atomic
    /// datagrams keep theirs: their ID has no meaning (RFC 6864 § 4).
    ///
    /// [RFC 7857 § 10]: https://www.rfc-editor.org/rfc/rfc7857#section-10
    /// [RFC 6864 § 5.3.1]: https://www.rfc-editor.org/rfc/rfc6864#section-5.3.1
    fn assign_ip_id(&mut self, pkt: &mut [u8], info: &Info) -> Option<u16> {
        let atomic = dont_fragment(pkt) && info.fragment.is_none();
        if atomic || info.fragment.is_some_and(|f| !f.is_first()) {
            return None;
        }
        let id = self.next_ip_id;
        self.next_ip_id = id.wrapping_add(1);
        set_ip_id(pkt, id);
        Some(id)
    }

    /// Rewrites the addresses (and Identification) of a later fragment, which has no transport
    /// header, as its first fragment was rewritten, and forwards it.
    pub(super) fn release_fragment(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        start: usize,
        len: usize,
        to: Translated,
    ) -> Verdict {
        let (mut src, mut dst) = (to.src, to.dst);
        let pkt = &mut buf[start..start + len];
        if let Some(id) = to.id {
            set_ip_id(pkt, id);
        }
        let old_src = ipv4::addr(pkt, ipv4::SRC_ADDR.start);
        let old_dst = ipv4::addr(pkt, ipv4::DST_ADDR.start);
        if self.config.is_outside(dst) {
            // A hairpinned datagram: its first fragment was translated out, then back in
            // (RFC 4787 REQ-9); the rest follow both translations, never out.
            if !self.config.hairpinning {
                return Verdict::Drop(DropReason::Policy);
            }
            if self.config.hairpin_handoff {
                // The caller passes it to the owner of the destination, which translated
                // the first fragment in.
                let k = |s, d| FlowKey::new(L4Proto::Udp, Endpoint::new(s, 0), Endpoint::new(d, 0));
                rewrite_ipv4(pkt, 0, false, &k(old_src, old_dst), &k(src, dst));
                return Verdict::Forward { start, len };
            }
            let key = FragmentKey {
                src,
                dst,
                id: get16(pkt, ipv4::IDENT.start).unwrap_or(0),
                protocol: pkt[ipv4::PROTOCOL],
            };
            match self.fragments.lookup(&key, now) {
                Some(t) => (src, dst) = (t.src, t.dst),
                None => return Verdict::Drop(DropReason::FragmentWithoutFirst),
            }
        }
        let k = |s, d| FlowKey::new(L4Proto::Udp, Endpoint::new(s, 0), Endpoint::new(d, 0));
        rewrite_ipv4(pkt, 0, false, &k(old_src, old_dst), &k(src, dst));
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
        info: &Info,
    ) -> Verdict {
        let root = match (icmp_type, code) {
            (11, _) => DropReason::TtlExpired,
            (3, 4) => DropReason::PacketTooBig,
            (3, 3) => DropReason::Filtered,
            _ => DropReason::QuotaExhausted,
        };
        if !icmp_error::may_answer(info) {
            self.counters.icmp_errors_suppressed += 1;
            return Verdict::Drop(root);
        }
        let from = match dir {
            Direction::Outbound => self.config.inside_address,
            Direction::Inbound => info.dst,
        };
        let len = len.min(info.total_len);
        self.send_error(now, buf, start, len, from, icmp_type, code, rest, root)
    }

    /// Writes the ICMP error from `from` about the packet (or the start of it) at
    /// `buf[start..start + len]`, which may be answered, when policy and rate limit allow.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn send_error(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        start: usize,
        len: usize,
        from: Ipv4Addr,
        icmp_type: u8,
        code: u8,
        rest: [u8; 4],
        root: DropReason,
    ) -> Verdict {
        if !self.config.icmp_errors.send || !self.limiter.allow(now) {
            self.counters.icmp_errors_suppressed += 1;
            return Verdict::Drop(root);
        }
        match icmp_error::write_error(buf, start, len, from, icmp_type, code, rest) {
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
