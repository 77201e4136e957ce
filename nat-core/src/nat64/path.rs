//! The per-packet paths of the NAT64 ([RFC 6146 § 3]): the checks of § 3.5, the session step
//! (§ 3.5.1 to § 3.5.3) done before the header translation so that the mapper only replays
//! it, hairpinning (§ 3.8), stored V4 SYNs (§ 3.5.2.2), fragments (§ 3.4) and the ICMP errors
//! the translator owes.
//!
//! [RFC 6146 § 3]: https://www.rfc-editor.org/rfc/rfc6146#section-3

use super::Nat64;
use super::fragment::{FragKey, FragMap};
use super::held::HeldFamily;
use super::mapper::{FlowMapper, IdOn, Precomputed, id_on, tuple};
use super::reply::{icmpv6_error, may_answer6};
use crate::allocator::PortAllocator;
use crate::checksum;
use crate::flow::{Endpoint, FlowKey, L4Proto};
use crate::icmp_error::{may_answer, write_error};
use crate::session::{SessionEntry, SessionStore};
use crate::siit::{Tuple, translate_4to6, translate_6to4};
use crate::tcp_state::TcpState;
use crate::time::Instant;
use crate::verdict::{DropReason, Verdict};
use crate::wire::{PacketInfo, TcpFlags, Transport, ipv4, parse_ipv4, parse_ipv6};
use core::net::{Ipv4Addr, Ipv6Addr};

type Info6 = PacketInfo<Ipv6Addr>;
type Info4 = PacketInfo<Ipv4Addr>;

/// ICMPv6 next header and ICMPv4 protocol.
const ICMPV6: u8 = 58;
const ICMPV4: u8 = 1;

/// A SYN that opens a connection (no ACK): what V4 INIT stores.
fn opening_syn(proto: L4Proto, flags: TcpFlags) -> bool {
    proto == L4Proto::Tcp && flags.contains(TcpFlags::SYN) && !flags.contains(TcpFlags::ACK)
}

fn frag_proto4(p: u8) -> u8 {
    if p == ICMPV6 { ICMPV4 } else { p }
}

fn frag_proto6(p: u8) -> u8 {
    if p == ICMPV4 { ICMPV6 } else { p }
}

impl<S, A, const E: usize, const H: usize, const F: usize, const W: usize> Nat64<S, A, E, H, F, W>
where
    S: SessionStore<Ipv6Addr, Ipv4Addr>,
    A: PortAllocator<Ipv6Addr, Ipv4Addr>,
{
    /// An IPv6 packet from the inside.
    pub(super) fn outbound(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        start: usize,
        len: usize,
    ) -> Verdict {
        let Some(pkt) = start.checked_add(len).and_then(|e| buf.get(start..e)) else {
            return Verdict::Drop(DropReason::Truncated);
        };
        let info = match parse_ipv6(pkt) {
            Ok(i) => i,
            Err(e) => return Verdict::Drop(e.into()),
        };
        // RFC 6146 § 3.5, § 5.4: a pool6 source could loop; only pool6 destinations are ours.
        if self.config.pool6.contains(info.src) {
            return Verdict::Drop(DropReason::Policy);
        }
        let Some(dst4) = self.config.extract(info.dst) else {
            return Verdict::Drop(DropReason::Untranslatable);
        };
        let pre = match info.transport {
            Transport::Flow { key, tcp_flags } => {
                if key.proto == L4Proto::Icmp && self.config.filter_icmpv6_informational {
                    return Verdict::Drop(DropReason::Policy);
                }
                match self.outbound_flow(now, buf, start, &info, key, tcp_flags, dst4) {
                    Ok(p) => p,
                    Err(v) => return v,
                }
            }
            Transport::IcmpError { .. } => Precomputed::Error,
            Transport::LaterFragment => match self.later_fragment6(now, buf, start, &info) {
                Ok(p) => p,
                Err(v) => return v,
            },
            // RFC 6146 § 3.4: another protocol gets Port Unreachable; an ICMPv6
            // informational message other than echo is not translated (RFC 7915 § 5.2).
            Transport::Other if info.protocol == ICMPV6 => {
                return Verdict::Drop(DropReason::UnsupportedProtocol);
            }
            Transport::Other => {
                return self.owe6(buf, start, &info, 4, DropReason::UnsupportedProtocol);
            }
        };
        let m = FlowMapper {
            pre,
            store: &self.state.store,
            config: &self.config,
        };
        translate_6to4(&self.config.xlat, &m, buf, start, len)
    }

    /// The session step of an outbound TCP, UDP or ICMP query packet ([RFC 6146 § 3.5.1],
    /// § 3.5.2, § 3.5.3), and of its second pass when it is hairpinned (§ 3.8).
    ///
    /// [RFC 6146 § 3.5.1]: https://www.rfc-editor.org/rfc/rfc6146#section-3.5.1
    #[allow(clippy::too_many_arguments)]
    fn outbound_flow(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        start: usize,
        info: &Info6,
        key: FlowKey<Ipv6Addr>,
        flags: TcpFlags,
        dst4: Ipv4Addr,
    ) -> Result<Precomputed, Verdict> {
        let key = id_on(key, IdOn::Src);
        let remote_out = Endpoint::new(dst4, key.dst.port);
        let hash = self.state.store.hash_inside(&key);
        let e = match self.state.outbound(now, hash, &key, remote_out, flags) {
            Ok(e) => e,
            // RFC 6146 § 3.5.1.1, § 3.5.2.3: no binding could be made.
            Err(
                r @ (DropReason::PoolExhausted
                | DropReason::QuotaExhausted
                | DropReason::RateLimited
                | DropReason::TableFull),
            ) => return Err(self.owe6(buf, start, info, 3, r)),
            Err(r) => return Err(Verdict::Drop(r)),
        };
        if key.proto == L4Proto::Tcp
            && e.state == TcpState::InsideInit as u8
            && self.held.claim(&e.outside_key())
        {
            self.simultaneous_open(now, hash, &key);
        }
        let v4 = FlowKey::new(key.proto, e.outside, e.remote_out);
        let mut back = None;
        if self.config.in_pool4(v4.dst.addr) {
            if !self.config.hairpinning {
                return Err(Verdict::Drop(DropReason::Policy));
            }
            // RFC 6146 § 3.8: the outgoing tuple becomes the incoming tuple of a packet
            // received on the IPv4 side.
            let hkey = id_on(v4, IdOn::Dst);
            let e2 = match self.admit_inbound(now, &hkey, flags) {
                Ok(e2) => e2,
                Err(r) => {
                    if opening_syn(key.proto, flags)
                        && matches!(r, DropReason::Filtered | DropReason::NoMapping)
                        && may_answer6(info)
                    {
                        let pkt = &buf[start..start + info.total_len];
                        return Err(self.store_syn(now, hkey, pkt, HeldFamily::V6, r));
                    }
                    return Err(Verdict::Drop(r));
                }
            };
            back = Some(tuple(&FlowKey::new(key.proto, e2.remote_in, e2.inside)));
            self.counters.hairpinned += 1;
        }
        if let Some(f) = info.fragment
            && f.is_first()
            && f.more
        {
            let map = FragMap::To4 {
                src: v4.src.addr,
                dst: v4.dst.addr,
                back: back.map(|b| (b.src, b.dst)),
            };
            let fk = FragKey::V6 {
                src: info.src,
                dst: info.dst,
                id: f.id,
                proto: info.protocol,
            };
            let until = now + self.config.fragment_timeout;
            self.fragments.remember(fk, map, now, until);
        }
        Ok(Precomputed::Out {
            v4: tuple(&v4),
            back,
        })
    }

    /// V4 INIT + V6 SYN: the stored SYN is dropped and the session is ESTABLISHED, with the
    /// established lifetime ([RFC 6146 § 3.5.2.2]).
    ///
    /// [RFC 6146 § 3.5.2.2]: https://www.rfc-editor.org/rfc/rfc6146#section-3.5.2.2
    fn simultaneous_open(&mut self, now: Instant, hash: u64, key: &FlowKey<Ipv6Addr>) {
        self.counters.simultaneous_opens += 1;
        let est = TcpState::Established as u8;
        let expires = now + self.state.lifetime(L4Proto::Tcp, est);
        if let Some(s) = self.state.store.find_inside(hash, key) {
            let _ = self.state.store.update(s, est, expires);
        }
    }

    /// The session of an inbound packet (or of the second pass of a hairpinned one) with
    /// incoming key `key`, under the filtering and the TCP policy ([RFC 6146 § 3.5]).
    fn admit_inbound(
        &mut self,
        now: Instant,
        key: &FlowKey<Ipv4Addr>,
        flags: TcpFlags,
    ) -> Result<SessionEntry<Ipv6Addr, Ipv4Addr>, DropReason> {
        let hash = self.state.store.hash_outside(key);
        if self.config.drop_external_tcp
            && opening_syn(key.proto, flags)
            && self.state.store.find_outside(hash, key).is_none()
        {
            // RFC 6146 § 3.5.2.2, CLOSED: externally initiated TCP silently dropped.
            return Err(DropReason::Policy);
        }
        let config = &self.config;
        let remote_in = |r: Endpoint<Ipv4Addr>| Some(Endpoint::new(config.embed(r.addr)?, r.port));
        self.state.inbound(now, hash, key, remote_in, flags)
    }

    /// Stores a V4 SYN (V4 INIT, [RFC 6146 § 3.5.2.2]) or drops it when there is no room.
    ///
    /// [RFC 6146 § 3.5.2.2]: https://www.rfc-editor.org/rfc/rfc6146#section-3.5.2.2
    fn store_syn(
        &mut self,
        now: Instant,
        key: FlowKey<Ipv4Addr>,
        pkt: &[u8],
        family: HeldFamily,
        r: DropReason,
    ) -> Verdict {
        let until = now + self.config.timeouts.tcp_syn_hold;
        if self.held.hold(key, pkt, family, until) {
            self.counters.syns_stored += 1;
            Verdict::Hold
        } else {
            Verdict::Drop(r)
        }
    }

    /// A later IPv6 fragment follows its first, or waits for it ([RFC 6146 § 3.4]).
    ///
    /// [RFC 6146 § 3.4]: https://www.rfc-editor.org/rfc/rfc6146#section-3.4
    fn later_fragment6(
        &mut self,
        now: Instant,
        buf: &[u8],
        start: usize,
        info: &Info6,
    ) -> Result<Precomputed, Verdict> {
        let Some(f) = info.fragment else {
            return Err(Verdict::Drop(DropReason::FragmentWithoutFirst));
        };
        let key = FragKey::V6 {
            src: info.src,
            dst: info.dst,
            id: f.id,
            proto: info.protocol,
        };
        match self.fragments.lookup(&key, now) {
            Some(FragMap::To4 { src, dst, back }) => {
                let v4 = Tuple {
                    proto: frag_proto4(info.protocol),
                    src,
                    dst,
                    src_port: 0,
                    dst_port: 0,
                };
                let back = back.map(|(s, d)| Tuple {
                    proto: info.protocol,
                    src: s,
                    dst: d,
                    src_port: 0,
                    dst_port: 0,
                });
                Ok(Precomputed::Out { v4, back })
            }
            _ => Err(self.wait(now, key, &buf[start..start + info.total_len])),
        }
    }

    fn wait(&mut self, now: Instant, key: FragKey, pkt: &[u8]) -> Verdict {
        let until = now + self.config.fragment_timeout;
        if self.fragments.wait(key, pkt, now, until) {
            Verdict::Hold
        } else {
            Verdict::Drop(DropReason::FragmentBufferFull)
        }
    }

    /// An IPv4 packet from the outside.
    pub(super) fn inbound(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        start: usize,
        len: usize,
    ) -> Verdict {
        let Some(pkt) = start.checked_add(len).and_then(|e| buf.get(start..e)) else {
            return Verdict::Drop(DropReason::Truncated);
        };
        let info = match parse_ipv4(pkt) {
            Ok(i) => i,
            Err(e) => return Verdict::Drop(e.into()),
        };
        // A corrupted header must not create state (RFC 1812 § 5.2.2).
        if !checksum::verify(0, &pkt[..info.l4_at]) {
            return Verdict::Drop(DropReason::BadIpChecksum);
        }
        // RFC 6146 § 3.5: only pool4 destinations are ours.
        if !self.config.in_pool4(info.dst) {
            return Verdict::Drop(DropReason::NoMapping);
        }
        let pre = match info.transport {
            Transport::Flow { key, tcp_flags } => {
                match self.inbound_flow(now, buf, start, &info, key, tcp_flags) {
                    Ok(p) => p,
                    Err(v) => return v,
                }
            }
            Transport::IcmpError { .. } => Precomputed::Error,
            Transport::LaterFragment => match self.later_fragment4(now, buf, start, &info) {
                Ok(p) => p,
                Err(v) => return v,
            },
            Transport::Other if info.protocol == ICMPV4 => {
                return Verdict::Drop(DropReason::UnsupportedProtocol);
            }
            // RFC 6146 § 3.4: Protocol Unreachable.
            Transport::Other => {
                return self.owe4(buf, start, &info, 2, DropReason::UnsupportedProtocol);
            }
        };
        let m = FlowMapper {
            pre,
            store: &self.state.store,
            config: &self.config,
        };
        translate_4to6(&self.config.xlat, &m, buf, start, len)
    }

    /// The session step of an inbound TCP, UDP or ICMP query packet ([RFC 6146 § 3.5.1],
    /// § 3.5.2, § 3.5.3).
    ///
    /// [RFC 6146 § 3.5.1]: https://www.rfc-editor.org/rfc/rfc6146#section-3.5.1
    fn inbound_flow(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        start: usize,
        info: &Info4,
        key: FlowKey<Ipv4Addr>,
        flags: TcpFlags,
    ) -> Result<Precomputed, Verdict> {
        let key = id_on(key, IdOn::Dst);
        // RFC 6146 § 3.4: a fragmented UDP datagram without checksum needs reassembly, which
        // this translator does not spend memory on: silently discarded, creating nothing.
        let csum = start + info.l4_at + 6;
        if key.proto == L4Proto::Udp
            && info.fragment.is_some_and(|f| f.more)
            && buf.get(csum..csum + 2) == Some(&[0, 0][..])
        {
            return Err(Verdict::Drop(DropReason::UdpZeroChecksum));
        }
        let e = match self.admit_inbound(now, &key, flags) {
            Ok(e) => e,
            Err(r) => {
                return Err(match (key.proto, r) {
                    // CLOSED + V4 SYN without a binding, or refused by the filter: V4 INIT.
                    (L4Proto::Tcp, DropReason::Filtered | DropReason::NoMapping)
                        if opening_syn(key.proto, flags) && may_answer(info) =>
                    {
                        let pkt = &buf[start..start + info.total_len];
                        self.store_syn(now, key, pkt, HeldFamily::V4, r)
                    }
                    // Any other TCP packet without state is silently discarded.
                    (L4Proto::Tcp, _) => Verdict::Drop(r),
                    // § 3.5.1: no UDP binding, Destination Unreachable (MAY); Port Unreachable
                    // as a host would answer.
                    (L4Proto::Udp, DropReason::NoMapping) => self.owe4(buf, start, info, 3, r),
                    // § 3.5.3: no ICMP binding, Host Unreachable (MAY).
                    (L4Proto::Icmp, DropReason::NoMapping) => self.owe4(buf, start, info, 1, r),
                    // § 3.5.1, § 3.5.3: refused by address-dependent filtering (MAY).
                    (_, DropReason::Filtered) => self.owe4(buf, start, info, 13, r),
                    _ => Verdict::Drop(r),
                });
            }
        };
        let v6 = FlowKey::new(key.proto, e.remote_in, e.inside);
        if let Some(f) = info.fragment
            && f.is_first()
            && f.more
        {
            let fk = FragKey::V4 {
                src: info.src,
                dst: info.dst,
                id: f.id as u16,
                proto: info.protocol,
            };
            let map = FragMap::To6 {
                src: v6.src.addr,
                dst: v6.dst.addr,
            };
            let until = now + self.config.fragment_timeout;
            self.fragments.remember(fk, map, now, until);
        }
        Ok(Precomputed::In(tuple(&v6)))
    }

    /// A later IPv4 fragment follows its first, or waits for it ([RFC 6146 § 3.4]).
    ///
    /// [RFC 6146 § 3.4]: https://www.rfc-editor.org/rfc/rfc6146#section-3.4
    fn later_fragment4(
        &mut self,
        now: Instant,
        buf: &[u8],
        start: usize,
        info: &Info4,
    ) -> Result<Precomputed, Verdict> {
        let Some(f) = info.fragment else {
            return Err(Verdict::Drop(DropReason::FragmentWithoutFirst));
        };
        let key = FragKey::V4 {
            src: info.src,
            dst: info.dst,
            id: f.id as u16,
            proto: info.protocol,
        };
        match self.fragments.lookup(&key, now) {
            Some(FragMap::To6 { src, dst }) => Ok(Precomputed::In(Tuple {
                proto: frag_proto6(info.protocol),
                src,
                dst,
                src_port: 0,
                dst_port: 0,
            })),
            _ => Err(self.wait(now, key, &buf[start..start + info.total_len])),
        }
    }

    /// Answers the IPv6 packet at `buf[start..]` with ICMPv6 Destination Unreachable `code`
    /// from the translator's own address, when errors are on and the packet may be answered.
    fn owe6(
        &mut self,
        buf: &mut [u8],
        start: usize,
        info: &Info6,
        code: u8,
        root: DropReason,
    ) -> Verdict {
        let Some(own) = self.config.xlat.own_ipv6 else {
            return Verdict::Drop(root);
        };
        if !self.config.xlat.send_icmp_errors || !may_answer6(info) {
            return Verdict::Drop(root);
        }
        match icmpv6_error(buf, start, info.total_len, own, 1, code, [0; 4]) {
            Some((s, l)) => Verdict::Reply { start: s, len: l },
            None => Verdict::Drop(root),
        }
    }

    /// Answers the IPv4 packet at `buf[start..]` with ICMPv4 Destination Unreachable `code`
    /// from the pool4 address it was sent to, when errors are on and the packet may be
    /// answered.
    fn owe4(
        &mut self,
        buf: &mut [u8],
        start: usize,
        info: &Info4,
        code: u8,
        root: DropReason,
    ) -> Verdict {
        if !self.config.xlat.send_icmp_errors || !may_answer(info) {
            return Verdict::Drop(root);
        }
        match write_error(buf, start, info.total_len, info.dst, 3, code, [0; 4]) {
            Some((s, l)) => Verdict::Reply { start: s, len: l },
            None => Verdict::Drop(root),
        }
    }

    /// Port Unreachable for a stored SYN whose time ran out, its bytes at
    /// `buf[start..start + len]` ([RFC 6146 § 3.5.2.2], V4 INIT).
    ///
    /// [RFC 6146 § 3.5.2.2]: https://www.rfc-editor.org/rfc/rfc6146#section-3.5.2.2
    pub(super) fn answer_held(
        &mut self,
        buf: &mut [u8],
        start: usize,
        len: usize,
        family: HeldFamily,
    ) -> Verdict {
        let root = DropReason::Filtered;
        if !self.config.xlat.send_icmp_errors {
            return Verdict::Drop(root);
        }
        let sent = match family {
            HeldFamily::V4 => {
                let at = start + ipv4::DST_ADDR.start;
                let Some(&[a, b, c, d]) = buf.get(at..at + 4) else {
                    return Verdict::Drop(root);
                };
                write_error(buf, start, len, Ipv4Addr::new(a, b, c, d), 3, 3, [0; 4])
            }
            HeldFamily::V6 => match self.config.xlat.own_ipv6 {
                Some(own) => icmpv6_error(buf, start, len, own, 1, 4, [0; 4]),
                None => None,
            },
        };
        match sent {
            Some((s, l)) => Verdict::Reply { start: s, len: l },
            None => Verdict::Drop(root),
        }
    }
}
