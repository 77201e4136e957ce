//! Translation of established flows by the NAT64 and LSNAT engines (the NAT44 ones are in
//! `nat44.rs`, SIIT in `siit.rs`): one packet each way of a bound session, fixed-capacity store.
//!
//! - `nat64/established_udp_6to4` and `_4to6`: a UDP datagram of an existing session.
//! - `lsnat/bound_tcp_client_to_server` and `_server_to_client`: a TCP segment of a session
//!   already bound to a server, LSNAT mode.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use nat_core::allocator::{AllocError, AllocRequest, PortAllocator};
use nat_core::checksum;
use nat_core::flow::{Endpoint, IpAddress, L4Proto};
use nat_core::nat64::{Nat64, Nat64Config};
use nat_core::prefix::Prefix;
use nat_core::session::FixedStore;
use nat_core::time::Instant;
use nat_core::verdict::{Direction, Verdict};
use nat_lsnat::algorithm::Algorithm;
use nat_lsnat::server::ServerSpec;
use nat_lsnat::translator::{Lsnat, LsnatConfig};
use nat_lsnat::virtual_server::{VirtualServer, VirtualServerConfig, VirtualServerTable};
use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};

struct SeqAlloc(u16);

impl<I: IpAddress> PortAllocator<I, Ipv4Addr> for SeqAlloc {
    fn allocate(
        &mut self,
        _: Instant,
        _: &AllocRequest<I, Ipv4Addr>,
    ) -> Result<Endpoint<Ipv4Addr>, AllocError> {
        self.0 += 1;
        Ok(Endpoint::new(Ipv4Addr::new(198, 51, 100, 1), self.0))
    }
    fn reserve(
        &mut self,
        _: Instant,
        _: L4Proto,
        _: Endpoint<I>,
        _: Endpoint<Ipv4Addr>,
    ) -> Result<(), AllocError> {
        Ok(())
    }
    fn release(&mut self, _: Instant, _: L4Proto, _: Endpoint<I>, _: Endpoint<Ipv4Addr>) {}
}

const HEADROOM: usize = 64;

fn udp6(src: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0, 0, 40, 17, 64];
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let mut u = vec![0x9c, 0x40, 0, 53, 0, 40, 0, 0];
    u.extend_from_slice(&[0x5a; 32]);
    checksum::fill(&mut u, 6, checksum::pseudo_header_v6(src, dst, 17, 40)).unwrap();
    p.extend_from_slice(&u);
    p
}

fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, l4: &[u8], csum_at: usize) -> Vec<u8> {
    let total = 20 + l4.len();
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
        proto,
        0,
        0,
    ];
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let c = checksum::checksum(&p);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    let mut l = l4.to_vec();
    let pseudo = checksum::pseudo_header_v4(src, dst, proto, l4.len() as u16);
    checksum::fill(&mut l, csum_at, pseudo).unwrap();
    p.extend_from_slice(&l);
    p
}

/// Translates a copy of `pkt` placed after the headroom of `buf`.
fn through(
    buf: &mut [u8],
    pkt: &[u8],
    f: impl FnOnce(&mut [u8], usize, usize) -> Verdict,
) -> Verdict {
    buf[HEADROOM..HEADROOM + pkt.len()].copy_from_slice(pkt);
    f(buf, HEADROOM, pkt.len())
}

fn nat64(c: &mut Criterion) {
    let mut pool4 = heapless::Vec::new();
    pool4
        .push(Prefix::new(Ipv4Addr::new(198, 51, 100, 1), 32).unwrap())
        .unwrap();
    let cfg = Nat64Config {
        pool4,
        wkp_non_global_rule: false,
        ..Nat64Config::default()
    };
    let mut nat: Nat64<Box<FixedStore<Ipv6Addr, Ipv4Addr, 1024>>, SeqAlloc> =
        Nat64::new(cfg, Box::new(FixedStore::new(1)), SeqAlloc(2000)).unwrap();
    let now = Instant::from_secs(1);
    let host = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 5);
    let server6 = Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0xcb00, 0x7102);
    let out_pkt = udp6(host, server6);
    let mut buf = vec![0u8; 256];
    let v = through(&mut buf, &out_pkt, |b, s, l| {
        nat.process(now, Direction::Outbound, b, s, l)
    });
    let Verdict::Forward { start, len } = v else {
        panic!("{v:?}")
    };
    let (t, port) = (
        Ipv4Addr::new(
            buf[start + 12],
            buf[start + 13],
            buf[start + 14],
            buf[start + 15],
        ),
        u16::from_be_bytes([buf[start + 20], buf[start + 21]]),
    );
    let _ = len;
    let mut udp = vec![0, 53, (port >> 8) as u8, port as u8, 0, 40, 0, 0];
    udp.extend_from_slice(&[0x5a; 32]);
    let in_pkt = ipv4(Ipv4Addr::new(203, 0, 113, 2), t, 17, &udp, 6);
    let mut g = c.benchmark_group("nat64");
    g.bench_function("established_udp_6to4", |b| {
        b.iter(|| {
            black_box(through(&mut buf, &out_pkt, |b, s, l| {
                nat.process(now, Direction::Outbound, b, s, l)
            }))
        })
    });
    g.bench_function("established_udp_4to6", |b| {
        b.iter(|| {
            black_box(through(&mut buf, &in_pkt, |b, s, l| {
                nat.process(now, Direction::Inbound, b, s, l)
            }))
        })
    });
    g.finish();
}

fn lsnat(c: &mut Criterion) {
    let vip = Ipv4Addr::new(198, 51, 100, 100);
    let mut vs = VirtualServer::<Ipv4Addr, 4>::new(
        vip,
        Algorithm::RoundRobin,
        VirtualServerConfig::default(),
    )
    .unwrap();
    for last in 2..5 {
        vs.pool_mut()
            .add(ServerSpec::new(Ipv4Addr::new(10, 0, 0, last)))
            .unwrap();
    }
    let mut table = VirtualServerTable::<Ipv4Addr, 1, 4>::new();
    table.insert(vs).unwrap();
    let mut l: Lsnat<Box<FixedStore<Ipv4Addr, Ipv4Addr, 1024>>, 1, 4> =
        Lsnat::new(LsnatConfig::default(), table, Box::new(FixedStore::new(2)));
    let now = Instant::from_secs(1);
    let client = Ipv4Addr::new(203, 0, 113, 9);
    let tcp = |sp: u16, dp: u16, flags: u8| {
        let mut t = vec![0u8; 20];
        t[0..2].copy_from_slice(&sp.to_be_bytes());
        t[2..4].copy_from_slice(&dp.to_be_bytes());
        t[12] = 5 << 4;
        t[13] = flags;
        t.extend_from_slice(&[0x77; 40]);
        t
    };
    let mut buf = vec![0u8; 256];
    let syn = ipv4(client, vip, 6, &tcp(40000, 80, 0x02), 16);
    let v = through(&mut buf, &syn, |b, s, len| {
        l.process(now, Direction::Inbound, b, s, len)
    });
    let Verdict::Forward { start, .. } = v else {
        panic!("{v:?}")
    };
    let server = Ipv4Addr::new(
        buf[start + 16],
        buf[start + 17],
        buf[start + 18],
        buf[start + 19],
    );
    let from_client = ipv4(client, vip, 6, &tcp(40000, 80, 0x10), 16);
    let from_server = ipv4(server, client, 6, &tcp(80, 40000, 0x10), 16);
    let mut g = c.benchmark_group("lsnat");
    g.bench_function("bound_tcp_client_to_server", |b| {
        b.iter_batched(
            || (),
            |_| {
                black_box(through(&mut buf, &from_client, |b, s, len| {
                    l.process(now, Direction::Inbound, b, s, len)
                }))
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("bound_tcp_server_to_client", |b| {
        b.iter(|| {
            black_box(through(&mut buf, &from_server, |b, s, len| {
                l.process(now, Direction::Outbound, b, s, len)
            }))
        })
    });
    g.finish();
}

criterion_group!(benches, nat64, lsnat);
criterion_main!(benches);
