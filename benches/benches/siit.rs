//! Stateless translation (RFC 7915): the cost of `Siit::translate_6to4` and
//! `Siit::translate_4to6` for one UDP datagram, in place.
//!
//! - `siit/6to4_udp/<payload>` and `siit/4to6_udp/<payload>`: an unfragmented UDP datagram
//!   between an RFC 6052 (pool6 /40) address and an explicit address mapping, so that the
//!   checksum update is not neutral. Each iteration copies the original packet into the buffer
//!   (a memcpy of the packet, included in the time) and translates it; `siit/copy/<payload>`
//!   measures the copy alone.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use nat_core::checksum;
use nat_core::siit::{Eam, HEADROOM, Ipv4Prefix, Ipv6Prefix, Pref64, Siit, SiitConfig};
use nat_core::verdict::Verdict;
use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};

fn siit() -> Siit<8> {
    let mut c = SiitConfig::<8> {
        pool6: Some(Pref64::new("2001:db8:100::".parse().unwrap(), 40).unwrap()),
        ..SiitConfig::default()
    };
    let eam = Eam::new(
        Ipv4Prefix::new(Ipv4Addr::new(1, 0, 0, 0), 24).unwrap(),
        Ipv6Prefix::new("2001:db8:3::".parse().unwrap(), 120).unwrap(),
    )
    .unwrap();
    c.eamt.insert(eam).unwrap();
    Siit::new(c).unwrap()
}

fn udp6(payload: usize) -> Vec<u8> {
    let src: Ipv6Addr = "2001:db8:3::8".parse().unwrap();
    let dst: Ipv6Addr = "2001:db8:1c6:3364:2::".parse().unwrap();
    let ulen = 8 + payload;
    let mut p = vec![0u8; 40 + ulen];
    p[0] = 0x60;
    p[4..6].copy_from_slice(&(ulen as u16).to_be_bytes());
    p[6] = 17;
    p[7] = 64;
    p[8..24].copy_from_slice(&src.octets());
    p[24..40].copy_from_slice(&dst.octets());
    p[40..42].copy_from_slice(&5000u16.to_be_bytes());
    p[42..44].copy_from_slice(&53u16.to_be_bytes());
    p[44..46].copy_from_slice(&(ulen as u16).to_be_bytes());
    let pseudo = checksum::pseudo_header_v6(src, dst, 17, ulen as u32);
    checksum::fill(&mut p[40..], 6, pseudo).unwrap();
    p
}

fn udp4(payload: usize) -> Vec<u8> {
    let src = Ipv4Addr::new(198, 51, 100, 2);
    let dst = Ipv4Addr::new(1, 0, 0, 8);
    let ulen = 8 + payload;
    let mut p = vec![0u8; 20 + ulen];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&((20 + ulen) as u16).to_be_bytes());
    p[6] = 0x40;
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    let c = checksum::checksum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p[20..22].copy_from_slice(&53u16.to_be_bytes());
    p[22..24].copy_from_slice(&5000u16.to_be_bytes());
    p[24..26].copy_from_slice(&(ulen as u16).to_be_bytes());
    let pseudo = checksum::pseudo_header_v4(src, dst, 17, ulen as u16);
    checksum::fill(&mut p[20..], 6, pseudo).unwrap();
    p
}

fn bench(c: &mut Criterion) {
    let s = siit();
    let mut g = c.benchmark_group("siit");
    for payload in [64usize, 1200] {
        let v6 = udp6(payload);
        let v4 = udp4(payload);
        let mut buf = vec![0u8; HEADROOM + 1500];
        g.throughput(Throughput::Elements(1));
        g.bench_with_input(BenchmarkId::new("6to4_udp", payload), &v6, |b, p| {
            b.iter(|| {
                buf[HEADROOM..HEADROOM + p.len()].copy_from_slice(p);
                let v = s.translate_6to4(&mut buf, HEADROOM, p.len());
                assert!(matches!(v, Verdict::Forward { .. }));
                black_box(v)
            })
        });
        g.bench_with_input(BenchmarkId::new("4to6_udp", payload), &v4, |b, p| {
            b.iter(|| {
                buf[HEADROOM..HEADROOM + p.len()].copy_from_slice(p);
                let v = s.translate_4to6(&mut buf, HEADROOM, p.len());
                assert!(matches!(v, Verdict::Forward { .. }));
                black_box(v)
            })
        });
        g.bench_with_input(BenchmarkId::new("copy", payload), &v6, |b, p| {
            b.iter(|| {
                buf[HEADROOM..HEADROOM + p.len()].copy_from_slice(p);
                black_box(&buf);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
