//! Packet builders and checkers shared by the SIIT conformance and property tests.
#![allow(dead_code, unreachable_pub)]

use nat_core::checksum;
use nat_core::siit::{Eam, Ipv4Prefix, Ipv6Prefix, Pref64, Siit, SiitConfig};
use nat_core::verdict::{DropReason, Verdict};
use std::net::{Ipv4Addr, Ipv6Addr};

pub const HR: usize = nat_core::siit::HEADROOM;

pub fn a4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

pub fn a6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// The configuration of the Jool suite: pool6 2001:db8:100::/40, two EAMs, RFC 6791 address
/// 203.0.113.8, the translator at 198.51.100.1 and 2001:db8:1c0:2:1::.
pub fn config() -> SiitConfig<8> {
    let mut c = SiitConfig::<8> {
        pool6: Some(Pref64::new(a6("2001:db8:100::"), 40).unwrap()),
        rfc6791_v4: Some(Ipv4Prefix::host(a4("203.0.113.8"))),
        ..SiitConfig::default()
    };
    for (v4, v6) in [("1.0.0.0", "2001:db8:3::"), ("10.0.0.0", "2001:db8:2::")] {
        let e = Eam::new(
            Ipv4Prefix::new(a4(v4), 24).unwrap(),
            Ipv6Prefix::new(a6(v6), 120).unwrap(),
        )
        .unwrap();
        c.eamt.insert(e).unwrap();
    }
    c.xlat.own_ipv4 = Some(a4("198.51.100.1"));
    c.xlat.own_ipv6 = Some(a6("2001:db8:1c0:2:1::"));
    c
}

pub fn siit() -> Siit<8> {
    Siit::new(config()).unwrap()
}

/// The IPv4 host 198.51.100.2 and its IPv6 image under pool6.
pub const H4: &str = "198.51.100.2";
pub const H4_AS6: &str = "2001:db8:1c6:3364:2::";
/// The IPv6 host 2001:db8:1c0:2:21:: and its IPv4 image under pool6.
pub const H6: &str = "2001:db8:1c0:2:21::";
pub const H6_AS4: &str = "192.0.2.33";

/// An IPv4 header to build.
#[derive(Clone, Debug)]
pub struct V4 {
    pub tos: u8,
    pub id: u16,
    pub df: bool,
    pub mf: bool,
    pub offset: u16,
    pub ttl: u8,
    pub proto: u8,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub options: Vec<u8>,
}

impl V4 {
    pub fn new(proto: u8, src: &str, dst: &str) -> Self {
        V4 {
            tos: 0,
            id: 0x1234,
            df: true,
            mf: false,
            offset: 0,
            ttl: 64,
            proto,
            src: a4(src),
            dst: a4(dst),
            options: Vec::new(),
        }
    }

    pub fn build(&self, l4: &[u8]) -> Vec<u8> {
        let ihl = 20 + self.options.len();
        assert_eq!(ihl % 4, 0);
        let total = ihl + l4.len();
        let mut p = vec![0u8; total];
        p[0] = 0x40 | (ihl / 4) as u8;
        p[1] = self.tos;
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        p[4..6].copy_from_slice(&self.id.to_be_bytes());
        let mut ff = (self.offset / 8) & 0x1fff;
        if self.df {
            ff |= 0x4000;
        }
        if self.mf {
            ff |= 0x2000;
        }
        p[6..8].copy_from_slice(&ff.to_be_bytes());
        p[8] = self.ttl;
        p[9] = self.proto;
        p[12..16].copy_from_slice(&self.src.octets());
        p[16..20].copy_from_slice(&self.dst.octets());
        p[20..ihl].copy_from_slice(&self.options);
        let c = checksum::checksum(&p[..ihl]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p[ihl..].copy_from_slice(l4);
        p
    }

    /// Builds with the transport checksum (TCP, UDP or ICMP) filled in.
    pub fn build_l4(&self, l4: &[u8]) -> Vec<u8> {
        let mut l4 = l4.to_vec();
        let pseudo = checksum::pseudo_header_v4(self.src, self.dst, self.proto, l4.len() as u16);
        match self.proto {
            6 => drop(checksum::fill(&mut l4, 16, pseudo)),
            17 => {
                let c = checksum::fill(&mut l4, 6, pseudo).unwrap();
                l4[6..8].copy_from_slice(&checksum::udp_nonzero(c).to_be_bytes());
            }
            1 => drop(checksum::fill(&mut l4, 2, 0)),
            _ => {}
        }
        self.build(&l4)
    }
}

/// An IPv6 extension header to build.
#[derive(Clone, Debug)]
pub enum Ext {
    HopByHop,
    DestOpts,
    Routing { segments_left: u8 },
    Fragment { offset: u16, more: bool, id: u32 },
}

/// An IPv6 header (and extension headers) to build.
#[derive(Clone, Debug)]
pub struct V6 {
    pub tc: u8,
    pub hl: u8,
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub proto: u8,
    pub ext: Vec<Ext>,
}

impl V6 {
    pub fn new(proto: u8, src: &str, dst: &str) -> Self {
        V6 {
            tc: 0,
            hl: 64,
            src: a6(src),
            dst: a6(dst),
            proto,
            ext: Vec::new(),
        }
    }

    pub fn build(&self, l4: &[u8]) -> Vec<u8> {
        let codes: Vec<u8> = self
            .ext
            .iter()
            .map(|e| match e {
                Ext::HopByHop => 0,
                Ext::DestOpts => 60,
                Ext::Routing { .. } => 43,
                Ext::Fragment { .. } => 44,
            })
            .collect();
        let mut body = Vec::new();
        for (i, e) in self.ext.iter().enumerate() {
            let next = codes.get(i + 1).copied().unwrap_or(self.proto);
            match e {
                Ext::HopByHop | Ext::DestOpts => {
                    body.extend_from_slice(&[next, 0, 1, 4, 0, 0, 0, 0])
                }
                Ext::Routing { segments_left } => {
                    body.extend_from_slice(&[next, 2, 0, *segments_left, 0, 0, 0, 0]);
                    body.extend_from_slice(&[
                        0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
                    ]);
                }
                Ext::Fragment { offset, more, id } => {
                    body.push(next);
                    body.push(0);
                    body.extend_from_slice(&((offset & !7) | u16::from(*more)).to_be_bytes());
                    body.extend_from_slice(&id.to_be_bytes());
                }
            }
        }
        let mut p = vec![0u8; 40];
        p[0] = 0x60 | (self.tc >> 4);
        p[1] = self.tc << 4;
        p[4..6].copy_from_slice(&((body.len() + l4.len()) as u16).to_be_bytes());
        p[6] = codes.first().copied().unwrap_or(self.proto);
        p[7] = self.hl;
        p[8..24].copy_from_slice(&self.src.octets());
        p[24..40].copy_from_slice(&self.dst.octets());
        p.extend_from_slice(&body);
        p.extend_from_slice(l4);
        p
    }

    /// Builds with the transport checksum (TCP, UDP or ICMPv6) filled in.
    pub fn build_l4(&self, l4: &[u8]) -> Vec<u8> {
        let mut l4 = l4.to_vec();
        let pseudo = checksum::pseudo_header_v6(self.src, self.dst, self.proto, l4.len() as u32);
        match self.proto {
            6 => drop(checksum::fill(&mut l4, 16, pseudo)),
            17 => {
                let c = checksum::fill(&mut l4, 6, pseudo).unwrap();
                l4[6..8].copy_from_slice(&checksum::udp_nonzero(c).to_be_bytes());
            }
            58 => drop(checksum::fill(&mut l4, 2, pseudo)),
            _ => {}
        }
        self.build(&l4)
    }
}

/// A UDP header and payload with checksum 0 (filled by `build_l4`).
pub fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = vec![0u8; 8];
    u[0..2].copy_from_slice(&sport.to_be_bytes());
    u[2..4].copy_from_slice(&dport.to_be_bytes());
    u[4..6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(payload);
    u
}

/// A TCP SYN header (20 bytes) and payload with checksum 0 (filled by `build_l4`).
pub fn tcp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&sport.to_be_bytes());
    t[2..4].copy_from_slice(&dport.to_be_bytes());
    t[4..8].copy_from_slice(&0x0102_0304u32.to_be_bytes());
    t[12] = 0x50;
    t[13] = 0x02;
    t[14..16].copy_from_slice(&8192u16.to_be_bytes());
    t.extend_from_slice(payload);
    t
}

/// An ICMP message: type, code, the 4 bytes after the checksum, body; checksum 0.
pub fn icmp(t: u8, code: u8, rest: [u8; 4], body: &[u8]) -> Vec<u8> {
    let mut m = vec![t, code, 0, 0];
    m.extend_from_slice(&rest);
    m.extend_from_slice(body);
    m
}

/// What the translator did with one packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Out {
    Fwd(Vec<u8>),
    Reply(Vec<u8>),
    Drop(DropReason),
}

impl Out {
    pub fn fwd(self) -> Vec<u8> {
        match self {
            Out::Fwd(p) => p,
            other => panic!("expected a forwarded packet, got {other:?}"),
        }
    }
    pub fn reply(self) -> Vec<u8> {
        match self {
            Out::Reply(p) => p,
            other => panic!("expected a reply, got {other:?}"),
        }
    }
}

/// Runs `pkt` through `siit` from a buffer with the recommended headroom.
pub fn run(siit: &Siit<8>, pkt: &[u8]) -> Out {
    let mut buf = vec![0u8; HR + pkt.len().max(1500) + 256];
    buf[HR..HR + pkt.len()].copy_from_slice(pkt);
    match siit.translate(&mut buf, HR, pkt.len()) {
        Verdict::Forward { start, len } => Out::Fwd(buf[start..start + len].to_vec()),
        Verdict::Reply { start, len } => Out::Reply(buf[start..start + len].to_vec()),
        Verdict::Drop(r) => Out::Drop(r),
        Verdict::Hold => panic!("SIIT never holds"),
    }
}

/// Offset of the upper layer in an IPv6 packet whose extension headers are HBH, DestOpts,
/// Routing or Fragment, and the final next header.
pub fn v6_upper(p: &[u8]) -> (usize, u8) {
    let mut nh = p[6];
    let mut at = 40;
    loop {
        match nh {
            0 | 43 | 60 => {
                let len = (usize::from(p[at + 1]) + 1) * 8;
                nh = p[at];
                at += len;
            }
            44 => {
                nh = p[at];
                at += 8;
            }
            _ => return (at, nh),
        }
    }
}

/// Whether the transport checksum of an unfragmented IPv6 packet verifies.
pub fn l4_ok_v6(p: &[u8]) -> bool {
    let (at, nh) = v6_upper(p);
    let src: [u8; 16] = p[8..24].try_into().unwrap();
    let dst: [u8; 16] = p[24..40].try_into().unwrap();
    let pseudo = checksum::pseudo_header_v6(src.into(), dst.into(), nh, (p.len() - at) as u32);
    checksum::verify(pseudo, &p[at..])
}

/// Whether the header and transport checksums of an unfragmented IPv4 packet verify.
pub fn checksums_ok_v4(p: &[u8]) -> bool {
    let ihl = usize::from(p[0] & 0xf) * 4;
    if !checksum::verify(0, &p[..ihl]) {
        return false;
    }
    let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
    let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
    let l4 = &p[ihl..];
    match p[9] {
        1 => checksum::verify(0, l4),
        6 | 17 => checksum::verify(
            checksum::pseudo_header_v4(src, dst, p[9], l4.len() as u16),
            l4,
        ),
        _ => true,
    }
}

pub fn be16(p: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([p[at], p[at + 1]])
}

pub fn be32(p: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([p[at], p[at + 1], p[at + 2], p[at + 3]])
}
