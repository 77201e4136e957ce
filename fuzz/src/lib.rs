//! Harnesses behind the fuzz targets: each builds a translator with a fixed configuration,
//! gives it some state with well-formed flows, then feeds the fuzzer's bytes in one direction
//! and checks what every caller relies on: no panic, and a verdict whose bytes lie inside the
//! buffer.

use nat_core::allocator::{AllocError, AllocRequest, PortAllocator};
use nat_core::flow::{Endpoint, IpAddress, L4Proto};
use nat_core::nat44::{Nat44, Nat44Config};
use nat_core::nat64::{Nat64, Nat64Config};
use nat_core::prefix::Prefix;
use nat_core::session::FixedStore;
use nat_core::siit::{Eam, Ipv4Prefix, Ipv6Prefix, Pref64, Siit, SiitConfig};
use nat_core::time::Instant;
use nat_core::verdict::{Direction, Verdict};
use nat_lsnat::algorithm::Algorithm;
use nat_lsnat::server::ServerSpec;
use nat_lsnat::translator::{Lsnat, LsnatConfig, Mode};
use nat_lsnat::virtual_server::{VirtualServer, VirtualServerConfig, VirtualServerTable};
use std::net::{Ipv4Addr, Ipv6Addr};

const HEADROOM: usize = 64;

/// Outside endpoints in sequence from 198.51.100.1.
struct SeqAlloc(u16);

impl<I: IpAddress> PortAllocator<I, Ipv4Addr> for SeqAlloc {
    fn allocate(
        &mut self,
        _: Instant,
        _: &AllocRequest<I, Ipv4Addr>,
    ) -> Result<Endpoint<Ipv4Addr>, AllocError> {
        self.0 = self.0.checked_add(1).ok_or(AllocError::PoolExhausted)?;
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

/// Runs `data` through `f` in a buffer with headroom and checks the verdict's bounds.
fn feed(data: &[u8], f: impl FnOnce(&mut [u8], usize, usize) -> Verdict) {
    let mut buf = vec![0u8; HEADROOM + data.len() + 600];
    buf[HEADROOM..HEADROOM + data.len()].copy_from_slice(data);
    let len = buf.len();
    match f(&mut buf, HEADROOM, data.len()) {
        Verdict::Forward { start, len: l } | Verdict::Reply { start, len: l } => {
            assert!(start + l <= len, "verdict outside the buffer");
        }
        Verdict::Hold | Verdict::Drop(_) => {}
    }
}

/// A UDP/IPv4 packet with valid checksums.
fn udp4(src: Ipv4Addr, sp: u16, dst: Ipv4Addr, dp: u16) -> Vec<u8> {
    let mut p = vec![0x45, 0, 0, 32, 0, 1, 0, 0, 64, 17, 0, 0];
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let c = nat_core::checksum::checksum(&p);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(&sp.to_be_bytes());
    p.extend_from_slice(&dp.to_be_bytes());
    p.extend_from_slice(&[0, 12, 0, 0, 1, 2, 3, 4]);
    p
}

/// The NAT44 engine, with one flow established, fed `pkt` from `dir`.
pub fn nat44(dir: Direction, pkt: &[u8]) {
    let mut cfg = Nat44Config::default();
    let _ = cfg
        .inside_prefixes
        .push(Prefix::new(Ipv4Addr::new(10, 0, 0, 0), 8).expect("prefix"));
    let _ = cfg
        .outside_prefixes
        .push(Prefix::new(Ipv4Addr::new(198, 51, 100, 0), 24).expect("prefix"));
    let mut nat: Nat44<Box<FixedStore<Ipv4Addr, Ipv4Addr, 64>>, SeqAlloc> =
        Nat44::new(cfg, Box::new(FixedStore::new(1)), SeqAlloc(1000)).expect("config");
    let now = Instant::from_secs(1);
    let seed = udp4(
        Ipv4Addr::new(10, 0, 0, 2),
        5000,
        Ipv4Addr::new(203, 0, 113, 2),
        53,
    );
    feed(&seed, |b, s, l| {
        nat.process(now, Direction::Outbound, b, s, l)
    });
    feed(pkt, |b, s, l| nat.process(now, dir, b, s, l));
    let mut out = vec![0u8; 2048];
    while nat
        .poll_transmit(Instant::from_secs(60), &mut out, HEADROOM)
        .is_some()
    {}
    nat.handle_timeout(Instant::from_secs(1000), 100);
}

fn siit_config() -> SiitConfig<4> {
    let mut c = SiitConfig {
        pool6: Some(
            Pref64::new(Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 0), 40).expect("pref"),
        ),
        ..SiitConfig::default()
    };
    let v6 = Ipv6Prefix::new(Ipv6Addr::new(0x2001, 0xdb8, 3, 0, 0, 0, 0, 0), 120).expect("v6");
    let v4 = Ipv4Prefix::new(Ipv4Addr::new(1, 0, 0, 0), 24).expect("v4");
    let _ = c.eamt.insert(Eam::new(v4, v6).expect("eam"));
    c
}

/// The SIIT translator fed `pkt`: IPv6 → IPv4 for [`Direction::Outbound`], IPv4 → IPv6 for
/// [`Direction::Inbound`].
pub fn siit(dir: Direction, pkt: &[u8]) {
    let Ok(siit) = Siit::new(siit_config()) else {
        return;
    };
    feed(pkt, |b, s, l| match dir {
        Direction::Outbound => siit.translate_6to4(b, s, l),
        Direction::Inbound => siit.translate_4to6(b, s, l),
    });
}

/// The stateful NAT64 fed `pkt` from `dir` (outbound: IPv6).
pub fn nat64(dir: Direction, pkt: &[u8]) {
    let mut pool4 = heapless::Vec::new();
    let _ = pool4.push(Prefix::new(Ipv4Addr::new(198, 51, 100, 1), 32).expect("prefix"));
    let cfg = Nat64Config {
        pool4,
        wkp_non_global_rule: false,
        ..Nat64Config::default()
    };
    let Ok(mut nat) = Nat64::<Box<FixedStore<Ipv6Addr, Ipv4Addr, 64>>, SeqAlloc>::new(
        cfg,
        Box::new(FixedStore::new(2)),
        SeqAlloc(1000),
    ) else {
        return;
    };
    let now = Instant::from_secs(1);
    feed(pkt, |b, s, l| nat.process(now, dir, b, s, l));
    nat.handle_timeout(Instant::from_secs(1000), 100);
}

/// The LSNAT translator (LS-NAPT when the first byte is odd), with one session bound, fed
/// `data` from `dir` (inbound: from clients).
pub fn lsnat(dir: Direction, data: &[u8]) {
    let vip = Ipv4Addr::new(198, 51, 100, 100);
    let Ok(mut vs) = VirtualServer::<Ipv4Addr, 4>::new(
        vip,
        Algorithm::LeastLoad,
        VirtualServerConfig::default(),
    ) else {
        return;
    };
    for last in 2..5 {
        let _ = vs
            .pool_mut()
            .add(ServerSpec::new(Ipv4Addr::new(10, 0, 0, last)));
    }
    let mut table = VirtualServerTable::<Ipv4Addr, 1, 4>::new();
    let _ = table.insert(vs);
    let mode = if data.first().is_some_and(|b| b & 1 != 0) {
        Mode::LsNapt {
            router: Ipv4Addr::new(10, 0, 0, 1),
        }
    } else {
        Mode::Lsnat
    };
    let mut l: Lsnat<Box<FixedStore<Ipv4Addr, Ipv4Addr, 64>>, 1, 4> = Lsnat::new(
        LsnatConfig {
            mode,
            ..LsnatConfig::default()
        },
        table,
        Box::new(FixedStore::new(3)),
    );
    let now = Instant::from_secs(1);
    let seed = udp4(Ipv4Addr::new(203, 0, 113, 9), 4000, vip, 53);
    feed(&seed, |b, s, len| {
        l.process(now, Direction::Inbound, b, s, len)
    });
    feed(data, |b, s, len| l.process(now, dir, b, s, len));
    l.handle_timeout(Instant::from_secs(1000), 100);
}
