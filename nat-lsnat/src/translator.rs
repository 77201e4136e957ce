//! The LSNAT translator ([RFC 2391] § 3, draft-srisuresh-lsnat § 3–§ 4): inbound sessions to a
//! virtual server are bound to a real server chosen by the virtual server's algorithm and
//! rewritten to it until they end; the server's answers are rewritten back to the virtual
//! address. In LS-NAPT mode (§ 3.3) the client is also rewritten, to the router's own address
//! and a router port, so that servers need not route their answers through the router.
//!
//! Directions: [`Direction::Inbound`] is client → virtual server, [`Direction::Outbound`] is
//! server → client. Packets of neither kind (outbound traffic of hosts that are not serving a
//! session) are dropped with [`DropReason::NoMapping`], so that a runtime can hand them to an
//! outbound NAPT on the same box (§ 3.2).
//!
//! [RFC 2391]: https://www.rfc-editor.org/rfc/rfc2391

use crate::server::ServerId;
use crate::virtual_server::VirtualServerTable;
use core::net::Ipv4Addr;
use nat_core::behavior::Timeouts;
use nat_core::flow::{Endpoint, FlowKey, L4Proto};
use nat_core::rewrite::{rewrite_icmpv4_error, rewrite_ipv4};
use nat_core::session::{BibEntry, BibKey, SessionEntry, SessionStore};
use nat_core::tcp_state::TcpState;
use nat_core::time::Instant;
use nat_core::verdict::{Direction, DropCounters, DropReason, Verdict};
use nat_core::wire::{PacketInfo, TcpFlags, Transport, parse_ipv4};

/// How the client side of a session is rewritten (draft-srisuresh-lsnat § 3.1, § 3.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// LSNAT: only the destination changes; servers see the real client (§ 3.1) and must
    /// route their answers through the router.
    Lsnat,
    /// LS-NAPT: the client becomes `router` and a router port (§ 3.3).
    LsNapt {
        /// The router's address towards the servers.
        router: Ipv4Addr,
    },
}

/// Configuration of an LSNAT translator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LsnatConfig {
    /// LSNAT or LS-NAPT.
    pub mode: Mode,
    /// Session timers: TCP per the state machine, UDP and ICMP idle timers (§ 4.3).
    pub timeouts: Timeouts,
    /// Seed of the session table's hash.
    pub seed: u64,
}

impl Default for LsnatConfig {
    fn default() -> Self {
        LsnatConfig {
            mode: Mode::Lsnat,
            timeouts: Timeouts::default(),
            seed: 0,
        }
    }
}

/// Counters of the translator.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LsnatCounters {
    /// Drops by reason.
    pub drops: DropCounters,
    /// Sessions bound to a server (§ 4.1).
    pub bound: u64,
    /// Sessions unbound at their end (§ 4.3).
    pub unbound: u64,
    /// Packets from clients translated.
    pub inbound: u64,
    /// Packets from servers translated.
    pub outbound: u64,
}

/// Flag in the session state: the server has answered (passive dead host detection, § 6).
const ANSWERED: u8 = 0x80;

fn server_tag(id: ServerId) -> u32 {
    ((id.index() as u32) << 16) | u32::from(id.generation())
}

fn server_of(tag: u32) -> ServerId {
    ServerId::from_parts((tag >> 16) as u16, tag as u16)
}

/// An LSNAT translator over session store `S` and `V` virtual servers of up to `N` servers
/// each (Maglev table `M`, traffic window `K`).
pub struct Lsnat<S, const V: usize, const N: usize, const M: usize = 0, const K: usize = 8> {
    config: LsnatConfig,
    servers: VirtualServerTable<Ipv4Addr, V, N, M, K>,
    store: S,
    next_port: u16,
    counters: LsnatCounters,
}

impl<S, const V: usize, const N: usize, const M: usize, const K: usize> Lsnat<S, V, N, M, K>
where
    S: SessionStore<Ipv4Addr, Ipv4Addr>,
{
    /// A translator over configured virtual servers.
    pub fn new(
        config: LsnatConfig,
        servers: VirtualServerTable<Ipv4Addr, V, N, M, K>,
        store: S,
    ) -> Self {
        Lsnat {
            config,
            servers,
            store,
            next_port: 1024,
            counters: LsnatCounters::default(),
        }
    }

    /// The virtual servers, to add, drain or remove servers at run time and feed probes.
    pub fn servers_mut(&mut self) -> &mut VirtualServerTable<Ipv4Addr, V, N, M, K> {
        &mut self.servers
    }

    /// The virtual servers.
    pub fn servers(&self) -> &VirtualServerTable<Ipv4Addr, V, N, M, K> {
        &self.servers
    }

    /// The counters.
    pub fn counters(&self) -> &LsnatCounters {
        &self.counters
    }

    /// The session store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Translates the packet at `buf[start..start + len]`.
    pub fn process(
        &mut self,
        now: Instant,
        dir: Direction,
        buf: &mut [u8],
        start: usize,
        len: usize,
    ) -> Verdict {
        let v = match start
            .checked_add(len)
            .and_then(|e| buf.get(start..e))
            .map(parse_ipv4)
        {
            None => Verdict::Drop(DropReason::Truncated),
            Some(Err(e)) => Verdict::Drop(e.into()),
            Some(Ok(info)) => {
                let pkt = &mut buf[start..start + info.total_len];
                match (dir, info.transport) {
                    (Direction::Inbound, Transport::Flow { key, tcp_flags }) => {
                        self.client_packet(now, pkt, &info, key, tcp_flags)
                    }
                    (Direction::Outbound, Transport::Flow { key, tcp_flags }) => {
                        self.server_packet(now, pkt, &info, key, tcp_flags)
                    }
                    (_, Transport::IcmpError { quote, .. }) => {
                        self.icmp_error(dir, pkt, &info, quote)
                    }
                    (_, Transport::LaterFragment) => {
                        Verdict::Drop(DropReason::FragmentWithoutFirst)
                    }
                    (_, Transport::Other) => Verdict::Drop(DropReason::UnsupportedProtocol),
                }
                .map_forward(start, info.total_len)
            }
        };
        match v {
            Verdict::Drop(r) => self.counters.drops.bump(r),
            Verdict::Forward { .. } if dir == Direction::Inbound => self.counters.inbound += 1,
            Verdict::Forward { .. } => self.counters.outbound += 1,
            _ => {}
        }
        v
    }

    fn lifetime(&self, proto: L4Proto, state: u8) -> core::time::Duration {
        let t = &self.config.timeouts;
        match proto {
            L4Proto::Tcp => TcpState::from_u8(state & !ANSWERED).lifetime(t),
            L4Proto::Udp => t.udp,
            L4Proto::Icmp => t.icmp,
        }
    }

    /// A client packet (§ 4.1 binding, § 4.2 lookup).
    fn client_packet(
        &mut self,
        now: Instant,
        pkt: &mut [u8],
        info: &PacketInfo<Ipv4Addr>,
        key: FlowKey<Ipv4Addr>,
        flags: TcpFlags,
    ) -> Verdict {
        let hash = self.store.hash_outside(&key);
        let e = match self.store.find_outside(hash, &key) {
            Some(s) => {
                let Some(e) = self.store.session(s) else {
                    return Verdict::Drop(DropReason::NoMapping);
                };
                self.refresh(now, s, &e, Direction::Inbound, flags);
                e
            }
            None => match self.bind(now, &key, flags) {
                Ok(e) => e,
                Err(r) => return Verdict::Drop(r),
            },
        };
        let server = server_of(e.tag);
        if let Some(vs) = self
            .servers
            .find(key.proto, key.dst)
            .and_then(|i| self.servers.get_mut(i))
        {
            let _ = vs
                .pool_mut()
                .record_traffic(now, server, 1, info.total_len as u64);
        }
        let new = FlowKey::new(key.proto, e.remote_in, e.inside);
        rewrite_ipv4(pkt, info.l4_at, true, &key, &new);
        Verdict::Forward {
            start: 0,
            len: info.total_len,
        }
    }

    /// Binds a new session: only a SYN starts a TCP session (RFC 2391 § 2.3/§ 4).
    fn bind(
        &mut self,
        now: Instant,
        key: &FlowKey<Ipv4Addr>,
        flags: TcpFlags,
    ) -> Result<SessionEntry<Ipv4Addr, Ipv4Addr>, DropReason> {
        let syn_only = flags.contains(TcpFlags::SYN) && !flags.contains(TcpFlags::ACK);
        if key.proto == L4Proto::Tcp && !syn_only {
            return Err(DropReason::NoMapping);
        }
        let (index, server) = self.servers.choose(now, key).map_err(|e| match e {
            crate::error::ChooseError::NotLoadShared => DropReason::NoMapping,
            _ => DropReason::PoolExhausted,
        })?;
        let vs = self.servers.get_mut(index).ok_or(DropReason::NoMapping)?;
        let spec = vs.pool().spec(server).map_err(|_| DropReason::NoMapping)?;
        let inside = Endpoint::new(spec.addr, spec.port.unwrap_or(key.dst.port));
        let remote_in = match self.config.mode {
            Mode::Lsnat => key.src,
            Mode::LsNapt { router } => self.router_port(router, inside, key.proto)?,
        };
        let bib_key = BibKey {
            proto: key.proto,
            inside,
            remote: Endpoint::new(Ipv4Addr::UNSPECIFIED, 0),
        };
        let bib = match self.store.find_bib_inside(&bib_key) {
            Some(b) => b,
            None => self
                .store
                .insert_bib(BibEntry {
                    key: bib_key,
                    outside: key.dst,
                    is_static: false,
                    sessions: 0,
                })
                .map_err(|_| DropReason::TableFull)?,
        };
        let state = if key.proto == L4Proto::Tcp {
            TcpState::opening(Direction::Inbound) as u8
        } else {
            0
        };
        // The opening timer of the server's side: an unanswered SYN lives like an outbound one.
        let state = if state == TcpState::OutsideInit as u8 {
            TcpState::InsideInit as u8
        } else {
            state
        };
        let entry = SessionEntry {
            bib,
            proto: key.proto,
            inside,
            outside: key.dst,
            remote_in,
            remote_out: key.src,
            state,
            tag: server_tag(server),
            expires: now + self.lifetime(key.proto, state),
        };
        if self.store.insert_session(entry).is_err() {
            if self.store.bib(bib).is_some_and(|b| b.sessions == 0) {
                let _ = self.store.remove_bib(bib);
            }
            return Err(DropReason::TableFull);
        }
        if let Some(vs) = self.servers.get_mut(index) {
            let _ = vs.bind(now, server, key);
        }
        self.counters.bound += 1;
        Ok(entry)
    }

    /// A router port for LS-NAPT: the next one whose (server, router port) pair is free.
    fn router_port(
        &mut self,
        router: Ipv4Addr,
        server: Endpoint<Ipv4Addr>,
        proto: L4Proto,
    ) -> Result<Endpoint<Ipv4Addr>, DropReason> {
        for _ in 0..64 {
            let p = self.next_port;
            self.next_port = if p == u16::MAX { 1024 } else { p + 1 };
            let r = Endpoint::new(router, p);
            let k = FlowKey::new(proto, server, r);
            if self
                .store
                .find_inside(self.store.hash_inside(&k), &k)
                .is_none()
            {
                return Ok(r);
            }
        }
        Err(DropReason::PoolExhausted)
    }

    fn refresh(
        &mut self,
        now: Instant,
        s: nat_core::session::SessionRef,
        e: &SessionEntry<Ipv4Addr, Ipv4Addr>,
        dir: Direction,
        flags: TcpFlags,
    ) {
        let answered = e.state & ANSWERED;
        let (state, refresh) = match e.proto {
            L4Proto::Tcp => {
                let (st, r) = TcpState::from_u8(e.state & !ANSWERED).next(dir, flags);
                (st as u8, r)
            }
            _ => (0, true),
        };
        let mut state = state | answered;
        if dir == Direction::Outbound && answered == 0 {
            // Passive dead host detection (§ 6): the server answered this session.
            state |= ANSWERED;
            let server = server_of(e.tag);
            if let Some(vs) = self
                .servers
                .find(e.proto, e.outside)
                .and_then(|i| self.servers.get_mut(i))
            {
                let _ = vs.pool_mut().record_answer(now, server);
            }
        }
        let expires = if refresh {
            now + self.lifetime(e.proto, state)
        } else {
            e.expires
        };
        let _ = self.store.update(s, state, expires);
    }

    /// A server packet (§ 4.2): back to the virtual address, and to the client in LS-NAPT.
    fn server_packet(
        &mut self,
        now: Instant,
        pkt: &mut [u8],
        info: &PacketInfo<Ipv4Addr>,
        key: FlowKey<Ipv4Addr>,
        flags: TcpFlags,
    ) -> Verdict {
        let hash = self.store.hash_inside(&key);
        let Some(s) = self.store.find_inside(hash, &key) else {
            return Verdict::Drop(DropReason::NoMapping);
        };
        let Some(e) = self.store.session(s) else {
            return Verdict::Drop(DropReason::NoMapping);
        };
        self.refresh(now, s, &e, Direction::Outbound, flags);
        if let Some(vs) = self
            .servers
            .find(e.proto, e.outside)
            .and_then(|i| self.servers.get_mut(i))
        {
            let _ = vs
                .pool_mut()
                .record_traffic(now, server_of(e.tag), 1, info.total_len as u64);
        }
        let new = FlowKey::new(key.proto, e.outside, e.remote_out);
        rewrite_ipv4(pkt, info.l4_at, true, &key, &new);
        Verdict::Forward {
            start: 0,
            len: info.total_len,
        }
    }

    /// ICMP errors about a session's packets, both ways; they never bind or refresh.
    fn icmp_error(
        &mut self,
        dir: Direction,
        pkt: &mut [u8],
        info: &PacketInfo<Ipv4Addr>,
        quote: nat_core::wire::Quote<Ipv4Addr>,
    ) -> Verdict {
        let (e, new_quote, outer_src, outer_dst) = match dir {
            // From the client side about (VIP → client): becomes (server → client as seen).
            Direction::Inbound => {
                let k = quote.key.reversed();
                let Some(e) = self
                    .store
                    .find_outside(self.store.hash_outside(&k), &k)
                    .and_then(|s| self.store.session(s))
                else {
                    return Verdict::Drop(DropReason::NoMapping);
                };
                let src = match self.config.mode {
                    Mode::Lsnat => info.src,
                    Mode::LsNapt { router } => router,
                };
                (
                    e,
                    FlowKey::new(quote.key.proto, e.inside, e.remote_in),
                    src,
                    e.inside.addr,
                )
            }
            // From a server about (client as seen → server): becomes (client → VIP).
            Direction::Outbound => {
                let k = quote.key.reversed();
                let Some(e) = self
                    .store
                    .find_inside(self.store.hash_inside(&k), &k)
                    .and_then(|s| self.store.session(s))
                else {
                    return Verdict::Drop(DropReason::NoMapping);
                };
                (
                    e,
                    FlowKey::new(quote.key.proto, e.remote_out, e.outside),
                    e.outside.addr,
                    e.remote_out.addr,
                )
            }
        };
        let _ = e;
        rewrite_icmpv4_error(
            pkt,
            info.l4_at,
            quote.ip_at,
            quote.l4_at,
            &quote.key,
            &new_quote,
            outer_src,
            outer_dst,
        );
        Verdict::Forward {
            start: 0,
            len: info.total_len,
        }
    }

    /// Unbinds sessions that ended (§ 4.3): at most `max` due at `now`.
    pub fn handle_timeout(&mut self, now: Instant, max: usize) -> usize {
        self.servers.handle_timeout(now);
        let mut n = 0;
        while n < max {
            let Some((_, e)) = self.store.pop_expired(now) else {
                break;
            };
            let key = FlowKey::new(e.proto, e.remote_out, e.outside);
            if let Some(vs) = self
                .servers
                .find(e.proto, e.outside)
                .and_then(|i| self.servers.get_mut(i))
            {
                let _ = vs.unbind(now, server_of(e.tag), &key);
            }
            if self.store.bib(e.bib).is_some_and(|b| b.sessions == 0) {
                let _ = self.store.remove_bib(e.bib);
            }
            self.counters.unbound += 1;
            n += 1;
        }
        n
    }

    /// When there is timer work: a session to end or a health timer.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.store.next_expiry(), self.servers.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

trait MapForward {
    fn map_forward(self, start: usize, len: usize) -> Verdict;
}

impl MapForward for Verdict {
    /// Offsets of a verdict computed on the packet slice, moved to the caller's buffer.
    fn map_forward(self, start: usize, len: usize) -> Verdict {
        match self {
            Verdict::Forward { .. } => Verdict::Forward { start, len },
            v => v,
        }
    }
}
