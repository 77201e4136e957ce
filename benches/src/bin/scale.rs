//! Scale test: builds N NAT44 sessions (10 million by default) through the engine into the
//! hashbrown store, then reports the bytes per session and the cost of expiring them all.
//!
//! `cargo run --release -p nat-benches --bin scale -- [sessions]`

use nat_core::allocator::{AllocError, AllocRequest, PortAllocator};
use nat_core::checksum;
use nat_core::flow::{Endpoint, L4Proto};
use nat_core::nat44::{Nat44, Nat44Config};
use nat_core::prefix::Prefix;
use nat_core::session::SessionStore;
use nat_core::time::Instant;
use nat_core::verdict::{Direction, Verdict};
use nat_std::store::HashStore;
use std::net::Ipv4Addr;
use std::time::Instant as Clock;

/// Outside endpoints in sequence over a /16 pool: each (address, port) once.
struct SeqAlloc {
    next: u32,
}

impl PortAllocator<Ipv4Addr, Ipv4Addr> for SeqAlloc {
    fn allocate(
        &mut self,
        _: Instant,
        _: &AllocRequest<Ipv4Addr, Ipv4Addr>,
    ) -> Result<Endpoint<Ipv4Addr>, AllocError> {
        let n = self.next;
        self.next += 1;
        let addr = Ipv4Addr::from(0xc633_0000 | (n / 64_512));
        Ok(Endpoint::new(addr, 1024 + (n % 64_512) as u16))
    }
    fn reserve(
        &mut self,
        _: Instant,
        _: L4Proto,
        _: Endpoint<Ipv4Addr>,
        _: Endpoint<Ipv4Addr>,
    ) -> Result<(), AllocError> {
        Ok(())
    }
    fn release(&mut self, _: Instant, _: L4Proto, _: Endpoint<Ipv4Addr>, _: Endpoint<Ipv4Addr>) {}
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(str::to_owned)
        })
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let mut cfg = Nat44Config::default();
    cfg.inside_prefixes
        .push(Prefix::new(Ipv4Addr::new(10, 0, 0, 0), 8).unwrap())
        .unwrap();
    cfg.outside_prefixes
        .push(Prefix::new(Ipv4Addr::new(198, 51, 0, 0), 16).unwrap())
        .unwrap();
    cfg.decrement_ttl = false;
    let rss0 = rss_kib();
    let mut store = HashStore::with_capacity(n as usize, 42);
    store.reserve(n as usize);
    let mut nat: Nat44<HashStore<Ipv4Addr, Ipv4Addr>, SeqAlloc, 16> =
        Nat44::new(cfg, store, SeqAlloc { next: 0 }).unwrap();

    let mut pkt = [0u8; 28];
    let remote = Ipv4Addr::new(203, 0, 113, 2);
    let t0 = Clock::now();
    for i in 0..n {
        // Inside host 10.x.y.z, ports 1024..2047: every packet a new UDP flow.
        let src = Ipv4Addr::from(0x0a00_0000 | (i >> 10));
        let sport = 1024 + (i & 1023) as u16;
        pkt.fill(0);
        pkt[0] = 0x45;
        pkt[3] = 28;
        pkt[8] = 64;
        pkt[9] = 17;
        pkt[12..16].copy_from_slice(&src.octets());
        pkt[16..20].copy_from_slice(&remote.octets());
        let c = checksum::checksum(&pkt[..20]);
        pkt[10..12].copy_from_slice(&c.to_be_bytes());
        pkt[20..22].copy_from_slice(&sport.to_be_bytes());
        pkt[22..24].copy_from_slice(&53u16.to_be_bytes());
        pkt[25] = 8;
        // UDP checksum 0: none (RFC 768), left 0 by the translation.
        let now = Instant::from_millis(u64::from(i) / 100);
        let v = nat.process(now, Direction::Outbound, &mut pkt, 0, 28);
        assert!(matches!(v, Verdict::Forward { .. }), "{v:?} at {i}");
        // The engine queues log events; a runtime drains them.
        while nat.poll_event().is_some() {}
    }
    let build = t0.elapsed();
    let sessions = nat.store().session_count();
    let heap = nat.store().heap_bytes();
    let rss = rss_kib().saturating_sub(rss0);
    println!("sessions: {sessions}");
    println!(
        "build: {:.2} s, {:.0} ns per new session",
        build.as_secs_f64(),
        build.as_nanos() as f64 / f64::from(n)
    );
    let usage = nat.store().heap_usage();
    let per = |b: usize| b as f64 / sessions as f64;
    println!(
        "store heap: {} MiB, {:.1} bytes per session (session, its binding, four indexes)",
        heap >> 20,
        per(heap)
    );
    println!(
        "  sessions and their two indexes {:.1}, bindings and their two indexes {:.1}, wheel {:.3}",
        per(usage.sessions),
        per(usage.bindings),
        per(usage.wheel)
    );
    println!(
        "process RSS growth: {} MiB, {} bytes per session",
        rss >> 10,
        rss * 1024 / sessions as u64
    );

    // Expire everything: the last session was created at n/100 ms and UDP lives 300 s.
    let end = Instant::from_millis(u64::from(n) / 100 + 301_000);
    let t1 = Clock::now();
    let mut expired = 0;
    loop {
        let k = nat.handle_timeout(end, 1 << 16);
        while nat.poll_event().is_some() {}
        if k == 0 {
            break;
        }
        expired += k;
    }
    let exp = t1.elapsed();
    println!(
        "expiry: {expired} sessions in {:.2} s, {:.0} ns per session (bindings released too)",
        exp.as_secs_f64(),
        exp.as_nanos() as f64 / expired.max(1) as f64
    );
    assert_eq!(nat.store().session_count(), 0);
}
