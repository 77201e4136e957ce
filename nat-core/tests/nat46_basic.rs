//! NAT46 (draft-xu-behave-stateful-nat-standby § 2): IPv4 hosts inside reach IPv6 hosts outside
//! through an internal IPv4 pool; inside hosts appear outside under a Prefix64.

use nat_core::checksum;
use nat_core::nat46::{Nat46, Nat46Config};
use nat_core::prefix::Prefix;
use nat_core::siit::{Pref64, XlatConfig};
use nat_core::time::Instant;
use nat_core::verdict::{Direction, DropReason, Verdict};
use std::net::{Ipv4Addr, Ipv6Addr};

const SERVER6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xbeef, 0, 0, 0, 0, 80);
const HOST4: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);

fn nat() -> Nat46<64> {
    let cfg = Nat46Config {
        prefix64: Pref64::new(Ipv6Addr::new(0x2001, 0xdb8, 0x46, 0, 0, 0, 0, 0), 96).unwrap(),
        pool: Prefix::new(Ipv4Addr::new(100, 64, 0, 0), 24).unwrap(),
        binding_timeout: core::time::Duration::from_secs(600),
        bind_inbound: false,
        xlat: XlatConfig::default(),
    };
    Nat46::new(cfg, 1)
}

fn udp4(src: Ipv4Addr, dst: Ipv4Addr, payload: &[u8]) -> Vec<u8> {
    let ulen = 8 + payload.len();
    let total = 20 + ulen;
    let mut p = vec![0x45, 0, 0, total as u8, 0, 7, 0x40, 0, 64, 17, 0, 0];
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let c = checksum::checksum(&p);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    let mut u = vec![0x30, 0x39, 0, 53, 0, ulen as u8, 0, 0];
    u.extend_from_slice(payload);
    checksum::fill(
        &mut u,
        6,
        checksum::pseudo_header_v4(src, dst, 17, ulen as u16),
    )
    .unwrap();
    p.extend_from_slice(&u);
    p
}

fn run(n: &mut Nat46<64>, dir: Direction, pkt: &[u8]) -> (Verdict, Vec<u8>) {
    let mut buf = vec![0u8; 64 + pkt.len()];
    buf[64..].copy_from_slice(pkt);
    let v = n.process(Instant::from_secs(1), dir, &mut buf, 64, pkt.len());
    let out = match v {
        Verdict::Forward { start, len } => buf[start..start + len].to_vec(),
        _ => vec![],
    };
    (v, out)
}

#[test]
fn nat46_inside_ipv4_host_reaches_outside_ipv6_host() {
    let mut n = nat();
    let y4 = n.bind(Instant::ZERO, SERVER6).unwrap();
    assert_eq!(y4, Ipv4Addr::new(100, 64, 0, 0));
    let (v, o) = run(&mut n, Direction::Outbound, &udp4(HOST4, y4, b"hi"));
    assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
    assert_eq!(o[0] >> 4, 6);
    let src = Ipv6Addr::new(0x2001, 0xdb8, 0x46, 0, 0, 0, 0xc0a8, 0x010a);
    assert_eq!(&o[8..24], &src.octets(), "inside host under Prefix64");
    assert_eq!(&o[24..40], &SERVER6.octets());
    assert!(checksum::verify(
        checksum::pseudo_header_v6(src, SERVER6, 17, 10),
        &o[40..]
    ));

    // The answer comes back to the inside host from the pool address.
    let mut reply = o.clone();
    reply[8..24].copy_from_slice(&SERVER6.octets());
    reply[24..40].copy_from_slice(&src.octets());
    let (v, i) = run(&mut n, Direction::Inbound, &reply);
    assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
    assert_eq!(&i[12..16], &y4.octets());
    assert_eq!(&i[16..20], &HOST4.octets());
    assert!(checksum::verify(0, &i[..20]));
}

#[test]
fn nat46_unbound_destination_and_expiry() {
    let mut n = nat();
    let (v, _) = run(
        &mut n,
        Direction::Outbound,
        &udp4(HOST4, Ipv4Addr::new(100, 64, 0, 9), b""),
    );
    assert!(
        matches!(
            v,
            Verdict::Drop(DropReason::NoMapping) | Verdict::Reply { .. }
        ),
        "{v:?}"
    );
    n.bind(Instant::ZERO, SERVER6).unwrap();
    assert_eq!(n.handle_timeout(Instant::from_secs(599), 8), 0);
    assert_eq!(n.handle_timeout(Instant::from_secs(602), 8), 1);
    assert!(n.is_empty());
}
