//! Stateful NAT64 round trips (RFC 6146) through the shared state machinery and the SIIT
//! header translation.

use nat_core::allocator::{AllocError, AllocRequest, PortAllocator};
use nat_core::checksum;
use nat_core::flow::{Endpoint, L4Proto};
use nat_core::nat64::{Nat64, Nat64Config};
use nat_core::prefix::Prefix;
use nat_core::session::FixedStore;
use nat_core::time::Instant;
use nat_core::verdict::{Direction, Verdict};
use std::collections::HashSet;
use std::net::{Ipv4Addr, Ipv6Addr};

/// pool4 192.0.2.2, ports preserved when free.
struct Pool4 {
    taken: HashSet<(L4Proto, u16)>,
}

impl PortAllocator<Ipv6Addr, Ipv4Addr> for Pool4 {
    fn allocate(
        &mut self,
        _: Instant,
        r: &AllocRequest<Ipv6Addr, Ipv4Addr>,
    ) -> Result<Endpoint<Ipv4Addr>, AllocError> {
        let p = (r.inside.port..=u16::MAX)
            .chain(1024..r.inside.port)
            .find(|&p| !self.taken.contains(&(r.proto, p)))
            .ok_or(AllocError::PoolExhausted)?;
        self.taken.insert((r.proto, p));
        Ok(Endpoint::new(Ipv4Addr::new(192, 0, 2, 2), p))
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

type Nat = Nat64<Box<FixedStore<Ipv6Addr, Ipv4Addr, 256>>, Pool4>;

fn nat() -> Nat {
    let mut pool4 = heapless::Vec::new();
    pool4
        .push(Prefix::new(Ipv4Addr::new(192, 0, 2, 2), 32).unwrap())
        .unwrap();
    // 192.0.2.0/24 is documentation space: the RFC 6052 § 3.1 rule would refuse it.
    let c = Nat64Config {
        wkp_non_global_rule: false,
        pool4,
        ..Nat64Config::default()
    };
    Nat64::new(
        c,
        Box::new(FixedStore::new(3)),
        Pool4 {
            taken: HashSet::new(),
        },
    )
    .unwrap()
}

const N6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 5);
const N4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 5);
const N4_AS_V6: Ipv6Addr = Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0xc000, 0x0205);

fn udp6(src: Ipv6Addr, sp: u16, dst: Ipv6Addr, dp: u16, payload: &[u8]) -> Vec<u8> {
    let ulen = 8 + payload.len();
    let mut p = vec![0x60, 0, 0, 0, (ulen >> 8) as u8, ulen as u8, 17, 64];
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let mut u = vec![0; 8];
    u[0..2].copy_from_slice(&sp.to_be_bytes());
    u[2..4].copy_from_slice(&dp.to_be_bytes());
    u[4..6].copy_from_slice(&(ulen as u16).to_be_bytes());
    u.extend_from_slice(payload);
    let ph = checksum::pseudo_header_v6(src, dst, 17, ulen as u32);
    let c = checksum::fill(&mut u, 6, ph).unwrap();
    u[6..8].copy_from_slice(&checksum::udp_nonzero(c).to_be_bytes());
    p.extend_from_slice(&u);
    p
}

fn udp4(src: Ipv4Addr, sp: u16, dst: Ipv4Addr, dp: u16, payload: &[u8]) -> Vec<u8> {
    let ulen = 8 + payload.len();
    let total = 20 + ulen;
    let mut p = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        1,
        0x40,
        0,
        64,
        17,
        0,
        0,
    ];
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let c = checksum::checksum(&p);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    let mut u = vec![0; 8];
    u[0..2].copy_from_slice(&sp.to_be_bytes());
    u[2..4].copy_from_slice(&dp.to_be_bytes());
    u[4..6].copy_from_slice(&(ulen as u16).to_be_bytes());
    u.extend_from_slice(payload);
    let ph = checksum::pseudo_header_v4(src, dst, 17, ulen as u16);
    checksum::fill(&mut u, 6, ph).unwrap();
    p.extend_from_slice(&u);
    p
}

fn run(nat: &mut Nat, now: u64, dir: Direction, pkt: &[u8]) -> (Verdict, Vec<u8>) {
    let mut buf = vec![0u8; 64 + pkt.len() + 64];
    buf[64..64 + pkt.len()].copy_from_slice(pkt);
    let v = nat.process(Instant::from_secs(now), dir, &mut buf, 64, pkt.len());
    let out = match v {
        Verdict::Forward { start, len } | Verdict::Reply { start, len } => {
            buf[start..start + len].to_vec()
        }
        _ => vec![],
    };
    (v, out)
}

#[test]
fn rfc6146_udp_round_trip_through_pool4() {
    let mut nat = nat();
    let (v, o) = run(
        &mut nat,
        0,
        Direction::Outbound,
        &udp6(N6, 2000, N4_AS_V6, 4000, b"hello"),
    );
    assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
    assert_eq!(o[0] >> 4, 4);
    assert_eq!(&o[12..16], &[192, 0, 2, 2]);
    assert_eq!(&o[16..20], &N4.octets());
    assert_eq!(
        u16::from_be_bytes([o[20], o[21]]),
        2000,
        "port preserved by the allocator"
    );
    assert!(checksum::verify(0, &o[..20]));
    assert!(checksum::verify(
        checksum::pseudo_header_v4(Ipv4Addr::new(192, 0, 2, 2), N4, 17, 13),
        &o[20..]
    ));
    assert_eq!(&o[28..], b"hello");

    let (v, i) = run(
        &mut nat,
        1,
        Direction::Inbound,
        &udp4(N4, 4000, Ipv4Addr::new(192, 0, 2, 2), 2000, b"world"),
    );
    assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
    assert_eq!(i[0] >> 4, 6);
    assert_eq!(&i[8..24], &N4_AS_V6.octets());
    assert_eq!(&i[24..40], &N6.octets());
    assert_eq!(u16::from_be_bytes([i[42], i[43]]), 2000);
    assert!(checksum::verify(
        checksum::pseudo_header_v6(N4_AS_V6, N6, 17, 13),
        &i[40..]
    ));
    assert_eq!(nat.state_counters().sessions[1], 1);
}

#[test]
fn rfc6146_inbound_without_binding_is_dropped() {
    let mut nat = nat();
    let (v, o) = run(
        &mut nat,
        0,
        Direction::Inbound,
        &udp4(N4, 4000, Ipv4Addr::new(192, 0, 2, 2), 2000, b""),
    );
    assert_port_unreachable(v, &o);
    assert_eq!(nat.state_counters().sessions, [0; 3]);
}

/// RFC 6146 § 3.5.1: no UDP binding, the packet is dropped and Destination Unreachable (Port
/// Unreachable) goes back from the pool4 address.
fn assert_port_unreachable(v: Verdict, o: &[u8]) {
    assert!(matches!(v, Verdict::Reply { .. }), "{v:?}");
    assert_eq!(&o[12..16], &[192, 0, 2, 2]);
    assert_eq!(&o[16..20], &N4.octets());
    assert_eq!((o[20], o[21]), (3, 3));
}

#[test]
fn rfc6146_static_bib_accepts_inbound() {
    let mut nat = nat();
    nat.add_static(
        Instant::ZERO,
        L4Proto::Udp,
        Endpoint::new(N6, 2000),
        Endpoint::new(Ipv4Addr::new(192, 0, 2, 2), 2000),
    )
    .unwrap();
    let (v, i) = run(
        &mut nat,
        0,
        Direction::Inbound,
        &udp4(N4, 4000, Ipv4Addr::new(192, 0, 2, 2), 2000, b"x"),
    );
    assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
    assert_eq!(&i[24..40], &N6.octets());
}

#[test]
fn rfc6146_udp_session_expires_after_timeout() {
    let mut nat = nat();
    let _ = run(
        &mut nat,
        0,
        Direction::Outbound,
        &udp6(N6, 2000, N4_AS_V6, 4000, b""),
    );
    assert_eq!(nat.handle_timeout(Instant::from_secs(299), 10), 0);
    assert_eq!(nat.handle_timeout(Instant::from_secs(301), 10), 1);
    let (v, o) = run(
        &mut nat,
        302,
        Direction::Inbound,
        &udp4(N4, 4000, Ipv4Addr::new(192, 0, 2, 2), 2000, b""),
    );
    assert_port_unreachable(v, &o);
}
