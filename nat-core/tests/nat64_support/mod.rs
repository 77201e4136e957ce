//! Shared support of the NAT64 tests: a pool4 allocator, a translator on a virtual clock, and
//! packet builders with valid checksums (IPv6 and IPv4; TCP, UDP, ICMP echo and errors;
//! fragments).
#![allow(dead_code, unreachable_pub)]

use nat_core::allocator::{AllocError, AllocRequest, PortAllocator};
use nat_core::checksum;
use nat_core::flow::{Endpoint, L4Proto};
use nat_core::nat64::{Nat64, Nat64Config};
use nat_core::prefix::Prefix;
use nat_core::session::FixedStore;
use nat_core::siit::{HEADROOM, Pref64};
use nat_core::time::Instant;
use nat_core::verdict::{Direction, Verdict};
use nat_core::wire::{Parsed, parse};
use std::collections::HashSet;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The inside hosts.
pub const X1: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 5);
pub const X2: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 6);
/// The translator's own addresses.
pub const OWN6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
/// pool4 (a /32).
pub const T: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
/// IPv4 servers.
pub const Z: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
pub const W: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 8);

/// The IPv6 representation of an IPv4 address under the Well-Known Prefix.
pub fn wkp(a: Ipv4Addr) -> Ipv6Addr {
    Pref64::WELL_KNOWN.embed(a)
}

/// pool4 `addr`: the inside port when free, else the next free one; every request is recorded;
/// `exhausted` refuses everything.
pub struct Pool4 {
    pub addr: Ipv4Addr,
    pub taken: HashSet<(L4Proto, u16)>,
    pub requests: Vec<AllocRequest<Ipv6Addr, Ipv4Addr>>,
    pub exhausted: bool,
}

impl Pool4 {
    pub fn new(addr: Ipv4Addr) -> Self {
        Pool4 {
            addr,
            taken: HashSet::new(),
            requests: Vec::new(),
            exhausted: false,
        }
    }
}

impl PortAllocator<Ipv6Addr, Ipv4Addr> for Pool4 {
    fn allocate(
        &mut self,
        _: Instant,
        r: &AllocRequest<Ipv6Addr, Ipv4Addr>,
    ) -> Result<Endpoint<Ipv4Addr>, AllocError> {
        self.requests.push(*r);
        if self.exhausted {
            return Err(AllocError::PoolExhausted);
        }
        let p = (r.inside.port..=u16::MAX)
            .chain(1..r.inside.port)
            .find(|&p| !self.taken.contains(&(r.proto, p)))
            .ok_or(AllocError::PoolExhausted)?;
        self.taken.insert((r.proto, p));
        Ok(Endpoint::new(self.addr, p))
    }

    fn reserve(
        &mut self,
        _: Instant,
        proto: L4Proto,
        _: Endpoint<Ipv6Addr>,
        o: Endpoint<Ipv4Addr>,
    ) -> Result<(), AllocError> {
        self.taken
            .insert((proto, o.port))
            .then_some(())
            .ok_or(AllocError::Unavailable)
    }

    fn release(
        &mut self,
        _: Instant,
        proto: L4Proto,
        _: Endpoint<Ipv6Addr>,
        o: Endpoint<Ipv4Addr>,
    ) {
        self.taken.remove(&(proto, o.port));
    }
}

pub type Nat = Nat64<Box<FixedStore<Ipv6Addr, Ipv4Addr, 256>>, Pool4, 64, 4, 8, 2>;

/// The configuration of the tests: pool4 `T`, the Well-Known Prefix without the RFC 6052
/// § 3.1 rule (the addresses are documentation ones), own IPv6 address `OWN6`.
pub fn config() -> Nat64Config {
    let mut c = Nat64Config {
        wkp_non_global_rule: false,
        ..Nat64Config::default()
    };
    c.pool4.push(Prefix::new(T, 32).unwrap()).unwrap();
    c.xlat.own_ipv6 = Some(OWN6);
    c.xlat.own_ipv4 = Some(T);
    c
}

pub fn nat_with(c: Nat64Config) -> Nat {
    Nat::new(c, Box::new(FixedStore::new(11)), Pool4::new(T)).unwrap()
}

pub fn nat() -> Nat {
    nat_with(config())
}

/// Seconds on the virtual clock.
pub fn at(s: f64) -> Instant {
    Instant::from_millis((s * 1000.0) as u64)
}

/// Processes `pkt` at `now` seconds: the verdict and the bytes it names.
pub fn run(nat: &mut Nat, now: f64, dir: Direction, pkt: &[u8]) -> (Verdict, Vec<u8>) {
    let mut buf = vec![0u8; HEADROOM + pkt.len() + 1600];
    buf[HEADROOM..HEADROOM + pkt.len()].copy_from_slice(pkt);
    let v = nat.process(at(now), dir, &mut buf, HEADROOM, pkt.len());
    let out = match v {
        Verdict::Forward { start, len } | Verdict::Reply { start, len } => {
            buf[start..start + len].to_vec()
        }
        _ => vec![],
    };
    (v, out)
}

/// An IPv6 packet from the inside, which must be forwarded: its translation.
pub fn out(nat: &mut Nat, now: f64, pkt: &[u8]) -> Vec<u8> {
    let (v, o) = run(nat, now, Direction::Outbound, pkt);
    assert!(matches!(v, Verdict::Forward { .. }), "outbound: {v:?}");
    o
}

/// An IPv4 packet from the outside, which must be forwarded: its translation.
pub fn inb(nat: &mut Nat, now: f64, pkt: &[u8]) -> Vec<u8> {
    let (v, o) = run(nat, now, Direction::Inbound, pkt);
    assert!(matches!(v, Verdict::Forward { .. }), "inbound: {v:?}");
    o
}

/// Everything the translator sends on its own at `now`.
pub fn transmit(nat: &mut Nat, now: f64) -> Vec<(Verdict, Vec<u8>)> {
    let mut v = Vec::new();
    loop {
        let mut buf = vec![0u8; HEADROOM + 2048];
        let Some(x) = nat.poll_transmit(at(now), &mut buf, HEADROOM) else {
            return v;
        };
        let bytes = match x {
            Verdict::Forward { start, len } | Verdict::Reply { start, len } => {
                buf[start..start + len].to_vec()
            }
            _ => vec![],
        };
        v.push((x, bytes));
    }
}

// ---------------------------------------------------------------------------------------------
// Builders.

/// TCP flags.
pub const SYN: u8 = 0x02;
pub const ACK: u8 = 0x10;
pub const FIN: u8 = 0x01;
pub const RST: u8 = 0x04;

fn tcp_header(sp: u16, dp: u16, flags: u8) -> Vec<u8> {
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&sp.to_be_bytes());
    t[2..4].copy_from_slice(&dp.to_be_bytes());
    t[4..8].copy_from_slice(&1000u32.to_be_bytes());
    t[12] = 5 << 4;
    t[13] = flags;
    t[14..16].copy_from_slice(&8192u16.to_be_bytes());
    t
}

fn udp_header(sp: u16, dp: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = vec![0u8; 8];
    u[0..2].copy_from_slice(&sp.to_be_bytes());
    u[2..4].copy_from_slice(&dp.to_be_bytes());
    u[4..6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(payload);
    u
}

fn echo(ty: u8, id: u16, seq: u16) -> Vec<u8> {
    let mut e = vec![ty, 0, 0, 0];
    e.extend_from_slice(&id.to_be_bytes());
    e.extend_from_slice(&seq.to_be_bytes());
    e.extend_from_slice(b"ping");
    e
}

/// An IPv6 packet, hop limit 64, around `payload` (whose checksum is filled for TCP, UDP and
/// ICMPv6).
pub fn v6(src: Ipv6Addr, dst: Ipv6Addr, nh: u8, mut payload: Vec<u8>) -> Vec<u8> {
    let ph = checksum::pseudo_header_v6(src, dst, nh, payload.len() as u32);
    match nh {
        6 => {
            checksum::fill(&mut payload, 16, ph);
        }
        17 => {
            let c = checksum::fill(&mut payload, 6, ph).unwrap();
            payload[6..8].copy_from_slice(&checksum::udp_nonzero(c).to_be_bytes());
        }
        58 => {
            checksum::fill(&mut payload, 2, ph);
        }
        _ => {}
    }
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    p.extend_from_slice(&[nh, 64]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(&payload);
    p
}

/// An IPv4 packet, TTL 64, DF set, around `payload` (checksum filled for TCP, UDP and ICMP).
pub fn v4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, mut payload: Vec<u8>) -> Vec<u8> {
    let ph = checksum::pseudo_header_v4(src, dst, proto, payload.len() as u16);
    match proto {
        6 => {
            checksum::fill(&mut payload, 16, ph);
        }
        17 => {
            let c = checksum::fill(&mut payload, 6, ph).unwrap();
            payload[6..8].copy_from_slice(&checksum::udp_nonzero(c).to_be_bytes());
        }
        1 => {
            checksum::fill(&mut payload, 2, 0);
        }
        _ => {}
    }
    v4_raw(src, dst, proto, 0x4000, 0x1234, &payload)
}

/// An IPv4 packet with the given flags/offset word and identification, payload as is.
pub fn v4_raw(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    ff: u16,
    id: u16,
    payload: &[u8],
) -> Vec<u8> {
    let total = 20 + payload.len();
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&ff.to_be_bytes());
    p.extend_from_slice(&[64, proto, 0, 0]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let c = checksum::checksum(&p);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

pub fn udp6(src: Ipv6Addr, sp: u16, dst: Ipv6Addr, dp: u16, payload: &[u8]) -> Vec<u8> {
    v6(src, dst, 17, udp_header(sp, dp, payload))
}

pub fn udp4(src: Ipv4Addr, sp: u16, dst: Ipv4Addr, dp: u16, payload: &[u8]) -> Vec<u8> {
    v4(src, dst, 17, udp_header(sp, dp, payload))
}

/// IPv4 UDP with a zero checksum.
pub fn udp4_nocsum(src: Ipv4Addr, sp: u16, dst: Ipv4Addr, dp: u16, payload: &[u8]) -> Vec<u8> {
    v4_raw(src, dst, 17, 0x4000, 7, &udp_header(sp, dp, payload))
}

pub fn tcp6(src: Ipv6Addr, sp: u16, dst: Ipv6Addr, dp: u16, flags: u8) -> Vec<u8> {
    v6(src, dst, 6, tcp_header(sp, dp, flags))
}

pub fn tcp4(src: Ipv4Addr, sp: u16, dst: Ipv4Addr, dp: u16, flags: u8) -> Vec<u8> {
    v4(src, dst, 6, tcp_header(sp, dp, flags))
}

/// ICMPv6 Echo Request (`request`) or Reply.
pub fn echo6(src: Ipv6Addr, dst: Ipv6Addr, id: u16, request: bool) -> Vec<u8> {
    v6(src, dst, 58, echo(if request { 128 } else { 129 }, id, 1))
}

/// ICMPv4 Echo Request (`request`) or Reply.
pub fn echo4(src: Ipv4Addr, dst: Ipv4Addr, id: u16, request: bool) -> Vec<u8> {
    v4(src, dst, 1, echo(if request { 8 } else { 0 }, id, 1))
}

/// ICMPv4 error from `src` to `dst` quoting `quote`.
pub fn icmp4_error(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ty: u8,
    code: u8,
    rest: [u8; 4],
    quote: &[u8],
) -> Vec<u8> {
    let mut m = vec![ty, code, 0, 0];
    m.extend_from_slice(&rest);
    m.extend_from_slice(quote);
    v4(src, dst, 1, m)
}

/// ICMPv6 error from `src` to `dst` quoting `quote`.
pub fn icmp6_error(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    ty: u8,
    code: u8,
    rest: [u8; 4],
    quote: &[u8],
) -> Vec<u8> {
    let mut m = vec![ty, code, 0, 0];
    m.extend_from_slice(&rest);
    m.extend_from_slice(quote);
    v6(src, dst, 58, m)
}

/// The IPv6 fragments of a UDP datagram (identification `id`), the first carrying `first`
/// bytes of the UDP message (a multiple of 8).
pub fn udp6_fragments(
    src: Ipv6Addr,
    sp: u16,
    dst: Ipv6Addr,
    dp: u16,
    payload: &[u8],
    id: u32,
    first: usize,
) -> Vec<Vec<u8>> {
    let whole = udp6(src, sp, dst, dp, payload);
    let udp = &whole[40..];
    let mut out = Vec::new();
    let mut off = 0;
    while off < udp.len() {
        let n = if off == 0 { first } else { udp.len() - off };
        let more = off + n < udp.len();
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&((8 + n) as u16).to_be_bytes());
        p.extend_from_slice(&[44, 64]);
        p.extend_from_slice(&src.octets());
        p.extend_from_slice(&dst.octets());
        p.extend_from_slice(&[17, 0]);
        p.extend_from_slice(&((off as u16) | u16::from(more)).to_be_bytes());
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(&udp[off..off + n]);
        out.push(p);
        off += n;
    }
    out
}

/// The IPv4 fragments of a UDP datagram, the first carrying `first` bytes of the UDP message.
pub fn udp4_fragments(
    src: Ipv4Addr,
    sp: u16,
    dst: Ipv4Addr,
    dp: u16,
    payload: &[u8],
    id: u16,
    first: usize,
) -> Vec<Vec<u8>> {
    let whole = udp4(src, sp, dst, dp, payload);
    let udp = &whole[20..];
    let mut out = Vec::new();
    let mut off = 0;
    while off < udp.len() {
        let n = if off == 0 { first } else { udp.len() - off };
        let more = off + n < udp.len();
        let ff = ((off / 8) as u16) | if more { 0x2000 } else { 0 };
        out.push(v4_raw(src, dst, 17, ff, id, &udp[off..off + n]));
        off += n;
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Reading outputs.

/// Addresses, protocol and ports (or ICMP type and identifier) of a translated packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen<A> {
    pub src: A,
    pub dst: A,
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
}

pub fn seen4(p: &[u8]) -> Seen<Ipv4Addr> {
    let Ok(Parsed::V4(i)) = parse(p) else {
        panic!("not IPv4: {p:02x?}")
    };
    let l4 = &p[i.l4_at..];
    let (sport, dport) = match i.protocol {
        1 => (u16::from(l4[0]), u16::from_be_bytes([l4[4], l4[5]])),
        _ => (
            u16::from_be_bytes([l4[0], l4[1]]),
            u16::from_be_bytes([l4[2], l4[3]]),
        ),
    };
    Seen {
        src: i.src,
        dst: i.dst,
        proto: i.protocol,
        sport,
        dport,
    }
}

pub fn seen6(p: &[u8]) -> Seen<Ipv6Addr> {
    let Ok(Parsed::V6(i)) = parse(p) else {
        panic!("not IPv6: {p:02x?}")
    };
    let l4 = &p[i.l4_at..];
    let (sport, dport) = match i.protocol {
        58 => (u16::from(l4[0]), u16::from_be_bytes([l4[4], l4[5]])),
        _ => (
            u16::from_be_bytes([l4[0], l4[1]]),
            u16::from_be_bytes([l4[2], l4[3]]),
        ),
    };
    Seen {
        src: i.src,
        dst: i.dst,
        proto: i.protocol,
        sport,
        dport,
    }
}

/// Whether the header checksum and the transport checksum (TCP, UDP, ICMP) of an IPv4 packet
/// without options hold.
pub fn l4_ok4(p: &[u8]) -> bool {
    let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
    let (src, dst) = (
        Ipv4Addr::new(p[12], p[13], p[14], p[15]),
        Ipv4Addr::new(p[16], p[17], p[18], p[19]),
    );
    let l4 = &p[20..total];
    let ph = match p[9] {
        1 => 0,
        pr => checksum::pseudo_header_v4(src, dst, pr, l4.len() as u16),
    };
    checksum::verify(0, &p[..20]) && checksum::verify(ph, l4)
}

/// Whether the transport checksum of an IPv6 packet without extension headers holds.
pub fn l4_ok6(p: &[u8]) -> bool {
    let plen = usize::from(u16::from_be_bytes([p[4], p[5]]));
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(&p[8..24]).unwrap());
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&p[24..40]).unwrap());
    let l4 = &p[40..40 + plen];
    let ph = checksum::pseudo_header_v6(src, dst, p[6], plen as u32);
    checksum::verify(ph, l4)
}

/// The session count per protocol (TCP, UDP, ICMP).
pub fn sessions(nat: &Nat) -> [u64; 3] {
    nat.state_counters().sessions
}

/// The binding count per protocol.
pub fn bindings(nat: &Nat) -> [u64; 3] {
    nat.state_counters().mappings
}

pub fn dir_out() -> Direction {
    Direction::Outbound
}

/// The session whose inside key is `x → y`.
pub fn session_in(
    nat: &Nat,
    proto: L4Proto,
    x: (Ipv6Addr, u16),
    y: (Ipv6Addr, u16),
) -> Option<nat_core::session::SessionEntry<Ipv6Addr, Ipv4Addr>> {
    use nat_core::session::SessionStore;
    let k = nat_core::flow::FlowKey::new(proto, Endpoint::new(x.0, x.1), Endpoint::new(y.0, y.1));
    let st = nat.store();
    st.find_inside(st.hash_inside(&k), &k)
        .and_then(|s| st.session(s))
}
