//! Checksums and parse: the per-packet costs every translator pays before any table lookup.
//!
//! - `napt_rewrite/delta`: a NAPT source rewrite (IPv4 address and TCP port) with the IPv4 header
//!   and TCP checksums updated through `checksum::Delta` (RFC 1624); its cost must not depend on
//!   the packet's length.
//! - `napt_rewrite/full`: the same rewrite with both checksums recomputed over the whole packet,
//!   for comparison.
//! - `parse/tcp_ipv4`, `parse/tcp_ipv6`: a TCP segment parsed to its flow key.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use nat_core::checksum::{self, Delta, pseudo_header_v4};
use nat_core::flow::FlowKey;
use nat_core::wire::{Transport, parse_ipv4, parse_ipv6};
use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};

const INSIDE: (Ipv4Addr, u16) = (Ipv4Addr::new(10, 0, 0, 2), 40000);
const OUTSIDE: (Ipv4Addr, u16) = (Ipv4Addr::new(198, 51, 100, 7), 61000);
const SERVER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 80);

/// A TCP/IPv4 segment of `len` bytes (IHL 5, 20-byte TCP header) with valid checksums.
fn tcp_ipv4(len: usize) -> Vec<u8> {
    let mut p = vec![0u8; len];
    p[..12].copy_from_slice(&[0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0]);
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[12..16].copy_from_slice(&INSIDE.0.octets());
    p[16..20].copy_from_slice(&SERVER.octets());
    p[20..22].copy_from_slice(&INSIDE.1.to_be_bytes());
    p[22..24].copy_from_slice(&443u16.to_be_bytes());
    p[32] = 0x50;
    p[33] = 0x18; // PSH ACK
    for (i, b) in p[40..].iter_mut().enumerate() {
        *b = i as u8;
    }
    checksum::fill(&mut p[..20], 10, 0);
    let ph = pseudo_header_v4(INSIDE.0, SERVER, 6, (len - 20) as u16);
    checksum::fill(&mut p[20..], 16, ph);
    p
}

fn get16(p: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([p[at], p[at + 1]])
}

fn set16(p: &mut [u8], at: usize, v: u16) {
    p[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

/// Rewrites the source endpoint of `p` and updates both checksums incrementally.
#[inline(never)]
fn rewrite_delta(p: &mut [u8], to: (Ipv4Addr, u16)) {
    let from = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
    let d_ip = Delta::NONE.ipv4(from, to.0);
    let d_tcp = d_ip.word(get16(p, 20), to.1);
    p[12..16].copy_from_slice(&to.0.octets());
    set16(p, 20, to.1);
    set16(p, 10, d_ip.apply(get16(p, 10)));
    set16(p, 36, d_tcp.apply(get16(p, 36)));
}

/// Rewrites the source endpoint of `p` and recomputes both checksums in full.
#[inline(never)]
fn rewrite_full(p: &mut [u8], to: (Ipv4Addr, u16)) {
    p[12..16].copy_from_slice(&to.0.octets());
    set16(p, 20, to.1);
    checksum::fill(&mut p[..20], 10, 0);
    let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
    let ph = pseudo_header_v4(to.0, dst, 6, (p.len() - 20) as u16);
    checksum::fill(&mut p[20..], 16, ph);
}

fn napt_rewrite(c: &mut Criterion) {
    let mut g = c.benchmark_group("napt_rewrite");
    for len in [60usize, 1500] {
        let mut p = tcp_ipv4(len);
        // Alternate between the two mappings so that every iteration changes the packet.
        let mut out = false;
        g.bench_function(BenchmarkId::new("delta", len), |b| {
            b.iter(|| {
                out = !out;
                rewrite_delta(black_box(&mut p), if out { OUTSIDE } else { INSIDE });
            })
        });
        assert!(checksum::verify(0, &p[..20]));
        let mut p = tcp_ipv4(len);
        g.bench_function(BenchmarkId::new("full", len), |b| {
            b.iter(|| {
                out = !out;
                rewrite_full(black_box(&mut p), if out { OUTSIDE } else { INSIDE });
            })
        });
    }
    g.finish();
}

/// A TCP/IPv6 SYN of 80 bytes (20-byte header and 20 bytes of options).
fn tcp_ipv6() -> Vec<u8> {
    let mut p = vec![0u8; 80];
    p[..8].copy_from_slice(&[0x60, 0, 0, 0, 0, 40, 6, 64]);
    p[8..24].copy_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, 0x10).octets());
    p[24..40].copy_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 2, 0, 0, 0, 0x20).octets());
    set16(&mut p, 40, 45679);
    set16(&mut p, 42, 443);
    p[52] = 0xa0;
    p[53] = 0x02;
    p
}

fn key_of<A: Copy>(t: Transport<A>) -> Option<FlowKey<A>> {
    match t {
        Transport::Flow { key, .. } => Some(key),
        _ => None,
    }
}

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    let v4 = tcp_ipv4(60);
    g.bench_function("tcp_ipv4", |b| {
        b.iter(|| {
            parse_ipv4(black_box(&v4))
                .ok()
                .and_then(|i| key_of(i.transport))
        })
    });
    let v6 = tcp_ipv6();
    g.bench_function("tcp_ipv6", |b| {
        b.iter(|| {
            parse_ipv6(black_box(&v6))
                .ok()
                .and_then(|i| key_of(i.transport))
        })
    });
    g.finish();
}

criterion_group!(benches, napt_rewrite, parse);
criterion_main!(benches);
