//! Shared test support for the translator tests: packet builders with valid checksums, a
//! checksum verifier, a simple allocator with quotas, and a NAT44 harness on a virtual clock.
#![allow(dead_code, unreachable_pub)]

use nat_core::allocator::{AllocError, AllocRequest, PortAllocator};
use nat_core::checksum;
use nat_core::flow::FlowKey;
use nat_core::flow::{Endpoint, L4Proto};
use nat_core::nat44::{Nat44, Nat44Config};
use nat_core::prefix::Prefix;
use nat_core::session::{BibKey, FixedStore, SessionEntry, SessionStore};
use nat_core::time::Instant;
use nat_core::verdict::{Direction, Verdict};
use nat_core::wire::{Transport, parse_ipv4};
use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;

pub const HEADROOM: usize = 64;

pub fn ip(a: u8, b: u8, c: u8, d: u8) -> Ipv4Addr {
    Ipv4Addr::new(a, b, c, d)
}

pub fn ep(addr: Ipv4Addr, port: u16) -> Endpoint<Ipv4Addr> {
    Endpoint::new(addr, port)
}

/// An IPv4 header (20 bytes, DF set as Linux sends with path MTU discovery, TTL 64) for a
/// payload of `payload_len` bytes. DF makes the datagram atomic (RFC 6864 § 4): the NAT keeps
/// its Identification.
pub fn ipv4_header(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, payload_len: usize) -> Vec<u8> {
    let total = 20 + payload_len;
    let mut h = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0x12,
        0x34,
        0x40,
        0,
        64,
        proto,
        0,
        0,
    ];
    h.extend_from_slice(&src.octets());
    h.extend_from_slice(&dst.octets());
    let c = checksum::checksum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h
}

fn with_l4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, mut l4: Vec<u8>, csum_at: usize) -> Vec<u8> {
    let pseudo = if proto == 1 {
        0
    } else {
        checksum::pseudo_header_v4(src, dst, proto, l4.len() as u16)
    };
    let c = checksum::fill(&mut l4, csum_at, pseudo).unwrap();
    if proto == 17 {
        l4[csum_at..csum_at + 2].copy_from_slice(&checksum::udp_nonzero(c).to_be_bytes());
    }
    let mut p = ipv4_header(src, dst, proto, l4.len());
    p.extend_from_slice(&l4);
    p
}

pub fn udp(src: Endpoint<Ipv4Addr>, dst: Endpoint<Ipv4Addr>, payload: &[u8]) -> Vec<u8> {
    let len = 8 + payload.len();
    let mut l4 = vec![0; 8];
    l4[0..2].copy_from_slice(&src.port.to_be_bytes());
    l4[2..4].copy_from_slice(&dst.port.to_be_bytes());
    l4[4..6].copy_from_slice(&(len as u16).to_be_bytes());
    l4.extend_from_slice(payload);
    with_l4(src.addr, dst.addr, 17, l4, 6)
}

pub const SYN: u8 = 0x02;
pub const ACK: u8 = 0x10;
pub const FIN: u8 = 0x01;
pub const RST: u8 = 0x04;

pub fn tcp(src: Endpoint<Ipv4Addr>, dst: Endpoint<Ipv4Addr>, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut l4 = vec![0; 20];
    l4[0..2].copy_from_slice(&src.port.to_be_bytes());
    l4[2..4].copy_from_slice(&dst.port.to_be_bytes());
    l4[4..8].copy_from_slice(&1000u32.to_be_bytes());
    l4[12] = 5 << 4;
    l4[13] = flags;
    l4[14..16].copy_from_slice(&65535u16.to_be_bytes());
    l4.extend_from_slice(payload);
    with_l4(src.addr, dst.addr, 6, l4, 16)
}

/// An ICMP echo request (`request`) or reply with identifier `id`.
pub fn echo(src: Ipv4Addr, dst: Ipv4Addr, id: u16, seq: u16, request: bool) -> Vec<u8> {
    let mut l4 = vec![if request { 8 } else { 0 }, 0, 0, 0];
    l4.extend_from_slice(&id.to_be_bytes());
    l4.extend_from_slice(&seq.to_be_bytes());
    l4.extend_from_slice(b"abcdefgh");
    with_l4(src, dst, 1, l4, 2)
}

/// An ICMP error from `src` to `dst` quoting the first `quote_len` bytes of `original`.
pub fn icmp_error(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    t: u8,
    code: u8,
    rest: [u8; 4],
    original: &[u8],
    quote_len: usize,
) -> Vec<u8> {
    let mut l4 = vec![t, code, 0, 0];
    l4.extend_from_slice(&rest);
    l4.extend_from_slice(&original[..quote_len.min(original.len())]);
    with_l4(src, dst, 1, l4, 2)
}

/// Whether the IPv4 header checksum and the transport checksum (when the packet holds the
/// whole transport message) are valid; a UDP checksum of 0 counts as valid.
pub fn checksums_valid(pkt: &[u8]) -> bool {
    let ihl = usize::from(pkt[0] & 0xf) * 4;
    if !checksum::verify(0, &pkt[..ihl]) {
        return false;
    }
    let total = usize::from(u16::from_be_bytes([pkt[2], pkt[3]]));
    let frag = u16::from_be_bytes([pkt[6], pkt[7]]);
    if frag & 0x3fff != 0 {
        return true; // a fragment: the transport checksum covers the whole datagram
    }
    let l4 = &pkt[ihl..total];
    let (src, dst) = (
        ip(pkt[12], pkt[13], pkt[14], pkt[15]),
        ip(pkt[16], pkt[17], pkt[18], pkt[19]),
    );
    match pkt[9] {
        1 => checksum::verify(0, l4),
        6 => checksum::verify(checksum::pseudo_header_v4(src, dst, 6, l4.len() as u16), l4),
        17 => {
            l4[6..8] == [0, 0]
                || checksum::verify(
                    checksum::pseudo_header_v4(src, dst, 17, l4.len() as u16),
                    l4,
                )
        }
        _ => true,
    }
}

/// The (source, destination) endpoints of a packet, ports or ICMP identifier included.
pub fn endpoints(pkt: &[u8]) -> (Endpoint<Ipv4Addr>, Endpoint<Ipv4Addr>) {
    let info = parse_ipv4(pkt).expect("parses");
    match info.transport {
        Transport::Flow { key, .. } => (key.src, key.dst),
        _ => (ep(info.src, 0), ep(info.dst, 0)),
    }
}

/// A test allocator: one or more outside addresses, paired per subscriber, port preservation
/// when free and else the next free port of the same range, a per-subscriber quota of mappings
/// per protocol. It asserts that no endpoint is ever held twice.
pub struct TestAlloc {
    pub addrs: Vec<Ipv4Addr>,
    pub quota: usize,
    pub held: HashMap<(L4Proto, Endpoint<Ipv4Addr>), Endpoint<Ipv4Addr>>,
    pub per_sub: HashMap<(L4Proto, Ipv4Addr), usize>,
    pub paired: HashMap<Ipv4Addr, Ipv4Addr>,
    pub released: Vec<(L4Proto, Endpoint<Ipv4Addr>)>,
    /// When set, every allocation is refused with this error (a rate limit, an exhausted pool).
    pub refuse: Option<AllocError>,
    /// Sessions admitted per subscriber and protocol ([`PortAllocator::admit_session`]).
    pub session_quota: usize,
    pub sessions: HashMap<(L4Proto, Ipv4Addr), usize>,
    /// Every call to `release`, with its time: what a hold-down policy starts from.
    pub released_at: Vec<(Instant, L4Proto, Endpoint<Ipv4Addr>)>,
}

impl TestAlloc {
    pub fn new(addrs: &[Ipv4Addr], quota: usize) -> Self {
        TestAlloc {
            addrs: addrs.to_vec(),
            quota,
            held: HashMap::new(),
            per_sub: HashMap::new(),
            paired: HashMap::new(),
            released: vec![],
            refuse: None,
            session_quota: usize::MAX,
            sessions: HashMap::new(),
            released_at: vec![],
        }
    }

    /// Pairs subscriber `sub` with outside address `addr` before its first mapping.
    pub fn pin(mut self, sub: Ipv4Addr, addr: Ipv4Addr) -> Self {
        self.paired.insert(sub, addr);
        self
    }

    fn taken(&self, proto: L4Proto) -> HashSet<Endpoint<Ipv4Addr>> {
        self.held
            .iter()
            .filter(|((p, _), _)| *p == proto)
            .map(|((_, o), _)| *o)
            .collect()
    }
}

impl PortAllocator<Ipv4Addr, Ipv4Addr> for TestAlloc {
    fn allocate(
        &mut self,
        _now: Instant,
        req: &AllocRequest<Ipv4Addr, Ipv4Addr>,
    ) -> Result<Endpoint<Ipv4Addr>, AllocError> {
        if let Some(e) = self.refuse {
            return Err(e);
        }
        let n = self
            .per_sub
            .get(&(req.proto, req.inside.addr))
            .copied()
            .unwrap_or(0);
        if n >= self.quota {
            return Err(AllocError::QuotaExhausted);
        }
        let sub = req.inside.addr;
        let idx = self.paired.len() % self.addrs.len();
        let addr = *self.paired.entry(sub).or_insert(self.addrs[idx]);
        let taken = self.taken(req.proto);
        let (lo, hi) = if req.inside.port < 1024 {
            (1u16, 1023u16)
        } else {
            (1024, u16::MAX)
        };
        let want = req.inside.port;
        let port = std::iter::once(want)
            .chain((want..=hi).chain(lo..want))
            .find(|&p| p >= lo && !taken.contains(&ep(addr, p)))
            .ok_or(AllocError::PoolExhausted)?;
        let out = ep(addr, port);
        assert!(
            self.held.insert((req.proto, out), req.inside).is_none(),
            "endpoint held twice"
        );
        *self.per_sub.entry((req.proto, sub)).or_default() += 1;
        Ok(out)
    }

    fn reserve(
        &mut self,
        _now: Instant,
        proto: L4Proto,
        inside: Endpoint<Ipv4Addr>,
        outside: Endpoint<Ipv4Addr>,
    ) -> Result<(), AllocError> {
        if self.held.contains_key(&(proto, outside)) {
            return Err(AllocError::Unavailable);
        }
        self.held.insert((proto, outside), inside);
        Ok(())
    }

    fn release(
        &mut self,
        now: Instant,
        proto: L4Proto,
        inside: Endpoint<Ipv4Addr>,
        outside: Endpoint<Ipv4Addr>,
    ) {
        assert_eq!(
            self.held.remove(&(proto, outside)),
            Some(inside),
            "released what was not held"
        );
        if let Some(n) = self.per_sub.get_mut(&(proto, inside.addr)) {
            *n = n.saturating_sub(1);
        }
        self.released.push((proto, outside));
        self.released_at.push((now, proto, outside));
    }

    fn admit_session(
        &mut self,
        _now: Instant,
        proto: L4Proto,
        inside: Ipv4Addr,
    ) -> Result<(), AllocError> {
        let n = self.sessions.entry((proto, inside)).or_default();
        if *n >= self.session_quota {
            return Err(AllocError::QuotaExhausted);
        }
        *n += 1;
        Ok(())
    }

    fn session_closed(&mut self, _now: Instant, proto: L4Proto, inside: Ipv4Addr) {
        if let Some(n) = self.sessions.get_mut(&(proto, inside)) {
            *n = n.saturating_sub(1);
        }
    }
}

pub type Store = FixedStore<Ipv4Addr, Ipv4Addr, 512>;
pub type Nat = Nat44<Box<Store>, TestAlloc>;

pub const INSIDE_NET: [u8; 4] = [10, 0, 0, 0];
pub fn x1() -> Ipv4Addr {
    ip(10, 0, 0, 2)
}
pub fn x2() -> Ipv4Addr {
    ip(10, 0, 0, 3)
}
pub fn outside_addr() -> Ipv4Addr {
    ip(198, 51, 100, 1)
}
pub fn y1() -> Ipv4Addr {
    ip(203, 0, 113, 2)
}
pub fn y2() -> Ipv4Addr {
    ip(203, 0, 113, 3)
}

/// The configuration of the tests: inside 10.0.0.0/24, outside 198.51.100.0/24, the
/// translator's inside address 10.0.0.1, EIM/EIF.
pub fn config() -> Nat44Config {
    let mut c = Nat44Config::default();
    c.inside_prefixes
        .push(Prefix::new(ip(10, 0, 0, 0), 24).unwrap())
        .unwrap();
    c.outside_prefixes
        .push(Prefix::new(ip(198, 51, 100, 0), 24).unwrap())
        .unwrap();
    c.inside_address = ip(10, 0, 0, 1);
    c
}

pub fn nat_with(c: Nat44Config, alloc: TestAlloc) -> Nat {
    Nat44::new(c, Box::new(Store::new(0x5eed)), alloc).expect("valid config")
}

pub fn nat() -> Nat {
    nat_with(config(), TestAlloc::new(&[outside_addr()], 1000))
}

/// Runs a packet through the translator; returns the verdict and the bytes it points at.
pub fn run(nat: &mut Nat, now_s: f64, dir: Direction, pkt: &[u8]) -> (Verdict, Vec<u8>) {
    let mut buf = vec![0u8; HEADROOM + pkt.len() + 600];
    buf[HEADROOM..HEADROOM + pkt.len()].copy_from_slice(pkt);
    let now = Instant::from_millis((now_s * 1000.0) as u64);
    let v = nat.process(now, dir, &mut buf, HEADROOM, pkt.len());
    let out = match v {
        Verdict::Forward { start, len } | Verdict::Reply { start, len } => {
            buf[start..start + len].to_vec()
        }
        _ => vec![],
    };
    (v, out)
}

pub fn out(nat: &mut Nat, now_s: f64, pkt: &[u8]) -> Vec<u8> {
    let (v, o) = run(nat, now_s, Direction::Outbound, pkt);
    assert!(
        matches!(v, Verdict::Forward { .. }),
        "outbound not forwarded: {v:?}"
    );
    assert!(checksums_valid(&o), "outbound checksums");
    o
}

pub fn inb(nat: &mut Nat, now_s: f64, pkt: &[u8]) -> Vec<u8> {
    let (v, o) = run(nat, now_s, Direction::Inbound, pkt);
    assert!(
        matches!(v, Verdict::Forward { .. }),
        "inbound not forwarded: {v:?}"
    );
    assert!(checksums_valid(&o), "inbound checksums");
    o
}

pub fn at(s: f64) -> Instant {
    Instant::from_millis((s * 1000.0) as u64)
}

/// Expires every session due at `now_s` seconds; returns how many.
pub fn tick(nat: &mut Nat, now_s: f64) -> usize {
    nat.handle_timeout(at(now_s), usize::MAX)
}

/// The packets the translator sends on its own at `now_s` ([`Nat44::poll_transmit`]).
pub fn poll(nat: &mut Nat, now_s: f64) -> Vec<(Verdict, Vec<u8>)> {
    let mut v = vec![];
    loop {
        let mut buf = vec![0u8; HEADROOM + 1600];
        let Some(verdict) = nat.poll_transmit(at(now_s), &mut buf, HEADROOM) else {
            return v;
        };
        let bytes = match verdict {
            Verdict::Forward { start, len } | Verdict::Reply { start, len } => {
                buf[start..start + len].to_vec()
            }
            _ => vec![],
        };
        v.push((verdict, bytes));
    }
}

/// The session whose inside key (X:x → Y:y) is `key`.
pub fn session_in(nat: &Nat, key: &FlowKey<Ipv4Addr>) -> Option<SessionEntry<Ipv4Addr, Ipv4Addr>> {
    let s = nat.store();
    s.find_inside(s.hash_inside(key), key)
        .and_then(|r| s.session(r))
}

/// The outside endpoint bound to `inside` for `proto` under endpoint-independent mapping.
pub fn mapping_of(
    nat: &Nat,
    proto: L4Proto,
    inside: Endpoint<Ipv4Addr>,
) -> Option<Endpoint<Ipv4Addr>> {
    let s = nat.store();
    let key = BibKey {
        proto,
        inside,
        remote: ep(Ipv4Addr::UNSPECIFIED, 0),
    };
    s.find_bib_inside(&key)
        .and_then(|b| s.bib(b))
        .map(|b| b.outside)
}

/// Recomputes the IPv4 header checksum of `pkt` in place.
pub fn fix_ip_checksum(pkt: &mut [u8]) {
    let ihl = usize::from(pkt[0] & 0xf) * 4;
    pkt[10..12].fill(0);
    let c = checksum::checksum(&pkt[..ihl]);
    pkt[10..12].copy_from_slice(&c.to_be_bytes());
}

/// `pkt` with TTL `ttl` (header checksum fixed).
pub fn with_ttl(pkt: &[u8], ttl: u8) -> Vec<u8> {
    let mut p = pkt.to_vec();
    p[8] = ttl;
    fix_ip_checksum(&mut p);
    p
}

/// `pkt` as a router forwards it: TTL one less.
pub fn hop(pkt: &[u8]) -> Vec<u8> {
    with_ttl(pkt, pkt[8] - 1)
}

/// `pkt` with the Don't Fragment flag set.
pub fn with_df(pkt: &[u8]) -> Vec<u8> {
    let mut p = pkt.to_vec();
    p[6] |= 0x40;
    fix_ip_checksum(&mut p);
    p
}

/// `pkt` with the Don't Fragment flag clear: a non-atomic datagram (RFC 6864 § 4).
pub fn without_df(pkt: &[u8]) -> Vec<u8> {
    let mut p = pkt.to_vec();
    p[6] &= !0x40;
    fix_ip_checksum(&mut p);
    p
}

/// `pkt` with its IPv4 Identification set.
pub fn with_ip_id(pkt: &[u8], id: u16) -> Vec<u8> {
    let mut p = pkt.to_vec();
    p[4..6].copy_from_slice(&id.to_be_bytes());
    fix_ip_checksum(&mut p);
    p
}

/// `pkt` with its TOS byte set.
pub fn with_tos(pkt: &[u8], tos: u8) -> Vec<u8> {
    let mut p = pkt.to_vec();
    p[1] = tos;
    fix_ip_checksum(&mut p);
    p
}

/// `pkt` (20-byte header) with IPv4 options `opts` (a multiple of 4 bytes) inserted; the
/// transport checksum is unaffected.
pub fn with_options(pkt: &[u8], opts: &[u8]) -> Vec<u8> {
    assert_eq!(opts.len() % 4, 0);
    let mut p = pkt[..20].to_vec();
    p.extend_from_slice(opts);
    p.extend_from_slice(&pkt[20..]);
    p[0] = 0x40 | ((20 + opts.len()) / 4) as u8;
    let total = p.len() as u16;
    p[2..4].copy_from_slice(&total.to_be_bytes());
    fix_ip_checksum(&mut p);
    p
}

/// Splits the datagram `pkt` (20-byte header) into fragments of `chunk` payload bytes
/// (a multiple of 8), with identification `id`, in order.
pub fn fragments(pkt: &[u8], chunk: usize, id: u16) -> Vec<Vec<u8>> {
    assert_eq!(chunk % 8, 0);
    let payload = &pkt[20..];
    let mut v = vec![];
    let mut off = 0;
    while off < payload.len() {
        let end = (off + chunk).min(payload.len());
        let mut f = pkt[..20].to_vec();
        f.extend_from_slice(&payload[off..end]);
        let total = f.len() as u16;
        f[2..4].copy_from_slice(&total.to_be_bytes());
        f[4..6].copy_from_slice(&id.to_be_bytes());
        let more = if end < payload.len() { 0x2000 } else { 0 };
        f[6..8].copy_from_slice(&(more | (off / 8) as u16).to_be_bytes());
        fix_ip_checksum(&mut f);
        v.push(f);
        off = end;
    }
    v
}

/// (type, code) of an ICMP message.
pub fn icmp_type_code(pkt: &[u8]) -> (u8, u8) {
    let ihl = usize::from(pkt[0] & 0xf) * 4;
    (pkt[ihl], pkt[ihl + 1])
}

/// The outer (source, destination) addresses of a packet.
pub fn addrs(pkt: &[u8]) -> (Ipv4Addr, Ipv4Addr) {
    (
        ip(pkt[12], pkt[13], pkt[14], pkt[15]),
        ip(pkt[16], pkt[17], pkt[18], pkt[19]),
    )
}

/// The packet quoted by the ICMP error `pkt`, as far as it goes.
pub fn quoted(pkt: &[u8]) -> &[u8] {
    let ihl = usize::from(pkt[0] & 0xf) * 4;
    let total = usize::from(u16::from_be_bytes([pkt[2], pkt[3]]));
    &pkt[ihl + 8..total]
}

/// The (source, destination) endpoints of the packet quoted by the ICMP error `pkt`.
pub fn quoted_endpoints(pkt: &[u8]) -> (Endpoint<Ipv4Addr>, Endpoint<Ipv4Addr>) {
    let info = parse_ipv4(pkt).expect("parses");
    match info.transport {
        Transport::IcmpError { quote, .. } => (quote.key.src, quote.key.dst),
        t => panic!("not an ICMP error: {t:?}"),
    }
}

/// Whether the ICMP error `pkt` has valid checksums, outer and quoted: the outer IPv4 and ICMP
/// checksums, the quoted IPv4 header checksum, and the quoted transport checksum when the quote
/// holds the whole quoted datagram.
pub fn error_checksums_valid(pkt: &[u8]) -> bool {
    if !checksums_valid(pkt) {
        return false;
    }
    let q = quoted(pkt);
    let ihl = usize::from(q[0] & 0xf) * 4;
    if q.len() < ihl || !checksum::verify(0, &q[..ihl]) {
        return false;
    }
    let total = usize::from(u16::from_be_bytes([q[2], q[3]]));
    if total == q.len() {
        checksums_valid(q)
    } else {
        true
    }
}

/// `pkt` with the byte at `at` XORed with `x`, checksums left as they were.
pub fn corrupt(pkt: &[u8], at: usize, x: u8) -> Vec<u8> {
    let mut p = pkt.to_vec();
    p[at] ^= x;
    p
}
