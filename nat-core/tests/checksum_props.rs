//! Property tests of `nat_core::checksum`, named after the rows of section 9 of
//! `../shared/conformance/MATRIX.md` (checksum arithmetic: RFC 1624, RFC 768, RFC 8200 § 8.1).
//!
//! The oracle throughout is a full recomputation (RFC 1071) of the rewritten packet; the
//! incremental update of RFC 1624 Eqn. 3 (`Delta`) must equal it bit for bit. The cases where a
//! checksum is +0 or where UDP sends a computed 0 as 0xFFFF are forced, not left to chance: a free
//! 16-bit word of the packet (or of the rewritten field) is solved for so that the checksum before
//! or after the rewrite is 0.

use core::net::{Ipv4Addr, Ipv6Addr};
use nat_core::checksum::{
    Delta, add, fold, pseudo_header_v4, pseudo_header_v6, sum, udp_nonzero, verify,
};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// A packet model: an IPv4 header alone, or TCP/UDP over IPv4/IPv6, with its checksum field.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Ipv4Header,
    Tcp4,
    Udp4,
    Tcp6,
    Udp6,
}

impl Kind {
    fn is_udp(self) -> bool {
        matches!(self, Kind::Udp4 | Kind::Udp6)
    }
    fn is_v6(self) -> bool {
        matches!(self, Kind::Tcp6 | Kind::Udp6)
    }
    fn proto(self) -> u8 {
        if self.is_udp() { 17 } else { 6 }
    }
}

/// Whether the case forces a checksum of +0 before the rewrite, after it, or neither.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Force {
    No,
    OldZero,
    NewZero,
}

fn force() -> impl Strategy<Value = Force> {
    prop_oneof![2 => Just(Force::No), 1 => Just(Force::OldZero), 1 => Just(Force::NewZero)]
}

/// A rewritable field: a 16-bit word, an IPv4 address or an IPv6 address, at an offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Word(usize),
    V4(usize),
    V6(usize),
}

impl Field {
    fn width(self) -> usize {
        match self {
            Field::Word(_) => 2,
            Field::V4(_) => 4,
            Field::V6(_) => 16,
        }
    }
    fn at(self) -> usize {
        match self {
            Field::Word(a) | Field::V4(a) | Field::V6(a) => a,
        }
    }
    /// The delta of this field going from its bytes in `old` to those in `new`.
    fn delta(self, old: &[u8], new: &[u8]) -> Delta {
        let r = self.at()..self.at() + self.width();
        match self {
            Field::Word(a) => Delta::NONE.word(be16(old, a), be16(new, a)),
            Field::V4(_) => Delta::NONE.ipv4(v4(&old[r.clone()]), v4(&new[r])),
            Field::V6(_) => Delta::NONE.ipv6(v6(&old[r.clone()]), v6(&new[r])),
        }
    }
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}
fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}
fn v4(b: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(b[0], b[1], b[2], b[3])
}
fn v6(b: &[u8]) -> Ipv6Addr {
    Ipv6Addr::from(<[u8; 16]>::try_from(&b[..16]).unwrap())
}

#[derive(Clone, Debug)]
struct Pkt {
    kind: Kind,
    bytes: Vec<u8>,
}

impl Pkt {
    fn l4_at(&self) -> usize {
        match self.kind {
            Kind::Ipv4Header => 0,
            Kind::Tcp4 | Kind::Udp4 => 20,
            // An optional 8-byte Destination Options header (next header 60).
            Kind::Tcp6 | Kind::Udp6 => {
                if self.bytes[6] == 60 {
                    48
                } else {
                    40
                }
            }
        }
    }

    fn csum_at(&self) -> usize {
        match self.kind {
            Kind::Ipv4Header => 10,
            Kind::Tcp4 | Kind::Tcp6 => self.l4_at() + 16,
            Kind::Udp4 | Kind::Udp6 => self.l4_at() + 6,
        }
    }

    /// A word no rewrite touches, solved for when forcing a checksum of 0: the IPv4
    /// identification, the TCP urgent pointer, or the first payload word of UDP.
    fn free_word(&self) -> usize {
        match self.kind {
            Kind::Ipv4Header => 4,
            Kind::Tcp4 | Kind::Tcp6 => self.l4_at() + 18,
            Kind::Udp4 | Kind::Udp6 => self.l4_at() + 8,
        }
    }

    /// The rewritable fields: for a header its flags/offset and TTL/protocol words and its
    /// addresses; for TCP and UDP their ports and the addresses of the pseudo-header.
    fn slots(&self) -> [Field; 4] {
        let l4 = self.l4_at();
        match self.kind {
            Kind::Ipv4Header => [Field::Word(6), Field::Word(8), Field::V4(12), Field::V4(16)],
            Kind::Tcp4 | Kind::Udp4 => [
                Field::Word(l4),
                Field::Word(l4 + 2),
                Field::V4(12),
                Field::V4(16),
            ],
            Kind::Tcp6 | Kind::Udp6 => [
                Field::Word(l4),
                Field::Word(l4 + 2),
                Field::V6(8),
                Field::V6(24),
            ],
        }
    }

    /// The pseudo-header sum (0 for the IPv4 header, which has none).
    fn pseudo(&self) -> u16 {
        let b = &self.bytes;
        let len = b.len() - self.l4_at();
        match self.kind {
            Kind::Ipv4Header => 0,
            Kind::Tcp4 | Kind::Udp4 => {
                pseudo_header_v4(v4(&b[12..]), v4(&b[16..]), self.kind.proto(), len as u16)
            }
            Kind::Tcp6 | Kind::Udp6 => {
                pseudo_header_v6(v6(&b[8..]), v6(&b[24..]), self.kind.proto(), len as u32)
            }
        }
    }

    /// The checksum of the packet as a full recomputation gives it (RFC 1071), before the UDP
    /// encoding of 0.
    fn raw(&self) -> u16 {
        let mut b = self.bytes.clone();
        put16(&mut b, self.csum_at(), 0);
        let covered = match self.kind {
            Kind::Ipv4Header => &b[..],
            _ => &b[self.l4_at()..],
        };
        !sum(self.pseudo(), covered)
    }

    /// The checksum a sender puts in the field: UDP sends a computed 0 as 0xFFFF.
    fn expected(&self) -> u16 {
        if self.kind.is_udp() {
            udp_nonzero(self.raw())
        } else {
            self.raw()
        }
    }

    fn field(&self) -> u16 {
        be16(&self.bytes, self.csum_at())
    }

    fn fill(&mut self) {
        let c = self.expected();
        let at = self.csum_at();
        put16(&mut self.bytes, at, c);
    }

    /// Solves the word at `at` so that the computed checksum is +0.
    fn force_zero_at(&mut self, at: usize) {
        put16(&mut self.bytes, at, 0);
        let c = self.raw();
        put16(&mut self.bytes, at, c);
        assert_eq!(self.raw(), 0, "forcing failed");
    }

    /// The receive-side check of RFC 1624 § 5: the sum including the field is -0.
    fn verifies(&self) -> bool {
        let covered = match self.kind {
            Kind::Ipv4Header => &self.bytes[..],
            _ => &self.bytes[self.l4_at()..],
        };
        verify(self.pseudo(), covered)
    }

    /// For TCP/UDP over IPv4: the IPv4 header checksum a full recomputation gives.
    fn ip_header_raw(&self) -> u16 {
        let mut h = self.bytes[..20].to_vec();
        put16(&mut h, 10, 0);
        !sum(0, &h)
    }
}

/// An IPv4 header of 20 to 60 bytes (IHL 5 to 15) with random fields, checksum filled.
fn ipv4_header() -> impl Strategy<Value = Pkt> {
    (5usize..=15, prop::collection::vec(any::<u8>(), 60)).prop_map(|(ihl, mut b)| {
        b.truncate(ihl * 4);
        b[0] = 0x40 | ihl as u8;
        let mut p = Pkt {
            kind: Kind::Ipv4Header,
            bytes: b,
        };
        p.fill();
        p
    })
}

/// An IPv6 address: random, or an IPv4 address embedded in 64:ff9b::/96 (RFC 6052).
fn ipv6_addr() -> impl Strategy<Value = [u8; 16]> {
    prop_oneof![
        any::<[u8; 16]>(),
        any::<[u8; 4]>().prop_map(|a| {
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&[0, 0x64, 0xff, 0x9b]);
            b[12..].copy_from_slice(&a);
            b
        }),
    ]
}

/// TCP or UDP of `kind` over its IP version: random header fields, ports and payload (odd
/// lengths included; UDP carries at least the free word), IPv6 optionally with a Destination
/// Options header so that the upper-layer length differs from the payload length.
fn transport(kind: Kind) -> impl Strategy<Value = Pkt> {
    (
        any::<[u8; 20]>(),
        ipv6_addr(),
        ipv6_addr(),
        any::<[u8; 20]>(),
        prop::collection::vec(any::<u8>(), 0..64),
        any::<bool>(),
    )
        .prop_map(move |(ip, s6, d6, l4hdr, mut payload, ext)| {
            if kind.is_udp() && payload.len() < 2 {
                payload.extend([0x5a, 0xa5]);
            }
            let mut l4 = if kind.is_udp() {
                let mut u = l4hdr[..8].to_vec();
                put16(&mut u, 4, (8 + payload.len()) as u16);
                u
            } else {
                let mut t = l4hdr.to_vec();
                t[12] = 0x50 | (t[12] & 0x0f);
                t
            };
            l4.extend(payload);
            let mut b;
            if kind.is_v6() {
                b = vec![
                    0x60 | (ip[0] & 0x0f),
                    ip[1],
                    ip[2],
                    ip[3],
                    0,
                    0,
                    kind.proto(),
                    ip[4],
                ];
                b.extend(s6);
                b.extend(d6);
                if ext {
                    b[6] = 60;
                    b.extend([kind.proto(), 0, 1, 4, 0, 0, 0, 0]);
                }
                b.extend(l4);
                let plen = (b.len() - 40) as u16;
                put16(&mut b, 4, plen);
            } else {
                b = ip.to_vec();
                b[0] = 0x45;
                b[9] = kind.proto();
                b.extend(l4);
                let total = b.len() as u16;
                put16(&mut b, 2, total);
                let ipc = Pkt {
                    kind: Kind::Tcp4,
                    bytes: b.clone(),
                }
                .ip_header_raw();
                put16(&mut b, 10, ipc);
            }
            let mut p = Pkt { kind, bytes: b };
            p.fill();
            p
        })
}

fn any_transport() -> impl Strategy<Value = Pkt> {
    prop_oneof![
        transport(Kind::Tcp4),
        transport(Kind::Udp4),
        transport(Kind::Tcp6),
        transport(Kind::Udp6),
    ]
}

/// Up to three rewrites: (slot index, new bytes).
fn rewrites() -> impl Strategy<Value = Vec<(usize, [u8; 16])>> {
    prop::collection::vec((0usize..4, any::<[u8; 16]>()), 1..=3)
}

/// Runs one case: forces +0 where asked, rewrites the fields, updates the checksum(s) with
/// [`Delta`] and returns (packet before, packet after, incremental checksum, incremental IPv4
/// header checksum for TCP/UDP over IPv4).
fn rewrite(
    mut p: Pkt,
    force: Force,
    rewrites: &[(usize, [u8; 16])],
) -> (Pkt, Pkt, u16, Option<u16>) {
    if force == Force::OldZero {
        let at = p.free_word();
        p.force_zero_at(at);
        if p.kind == Kind::Ipv4Header {
            // The identification is the free word of the header itself: nothing else to do.
        } else if !p.kind.is_v6() {
            let ipc = p.ip_header_raw();
            put16(&mut p.bytes, 10, ipc);
        }
        p.fill();
        assert_eq!(p.raw(), 0);
    }
    let old = p.clone();
    let slots = p.slots();
    let mut touched = Vec::new();
    for (i, new) in rewrites {
        let f = slots[*i];
        p.bytes[f.at()..f.at() + f.width()].copy_from_slice(&new[..f.width()]);
        if !touched.contains(&f) {
            touched.push(f);
        }
    }
    if force == Force::NewZero {
        // Solve the last word of the last rewritten field for a new checksum of +0.
        let f = slots[rewrites.last().unwrap().0];
        p.force_zero_at(f.at() + f.width() - 2);
    }
    // One delta per field, combined as a translator does (addresses and ports separately).
    let mut d = Delta::NONE;
    let mut d_ip = Delta::NONE;
    for f in &touched {
        let fd = f.delta(&old.bytes, &p.bytes);
        d = d.and(fd);
        if matches!(f, Field::V4(_)) {
            d_ip = d_ip.and(fd);
        }
    }
    let hc = if p.kind.is_udp() {
        d.apply_udp(old.field())
    } else {
        d.apply(old.field())
    };
    let at = p.csum_at();
    put16(&mut p.bytes, at, hc);
    let ip = matches!(p.kind, Kind::Tcp4 | Kind::Udp4).then(|| {
        let ipc = d_ip.apply(be16(&old.bytes, 10));
        put16(&mut p.bytes, 10, ipc);
        ipc
    });
    (old, p, hc, ip)
}

const CASES: u32 = 10_000;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// CK-1624-EQ3 on the IPv4 header (options included): rewriting 16-bit words and 32-bit
    /// addresses, the incremental header checksum equals the full recomputation bit for bit.
    #[test]
    fn ck_1624_eq3_incremental_equals_full(
        p in ipv4_header(), force in force(), rw in rewrites()
    ) {
        let (_, new, hc, _) = rewrite(p, force, &rw);
        prop_assert_eq!(hc, new.expected());
        prop_assert!(new.verifies());
        if force == Force::NewZero {
            prop_assert_eq!(hc, 0);
        }
    }

    /// CK-1624-EQ3 for TCP and UDP over IPv4: addresses (in the pseudo-header and the IP
    /// header) and ports rewritten; both the TCP/UDP checksum and the IPv4 header checksum
    /// equal their full recomputations. Forced +0 cases included; UDP sends 0 as 0xFFFF.
    #[test]
    fn ck_1624_eq3_incremental_equals_full_tcp_udp_over_ipv4(
        p in prop_oneof![transport(Kind::Tcp4), transport(Kind::Udp4)],
        force in force(),
        rw in rewrites(),
    ) {
        let (_, new, hc, ip) = rewrite(p, force, &rw);
        prop_assert_eq!(hc, new.expected());
        prop_assert!(new.verifies());
        prop_assert_eq!(ip, Some(new.ip_header_raw()));
        if force == Force::NewZero {
            prop_assert_eq!(hc, if new.kind.is_udp() { 0xffff } else { 0 });
        }
    }

    /// CK-1624-EQ3 for TCP and UDP over IPv6 (128-bit address rewrites in the pseudo-header,
    /// port rewrites, with and without an extension header before the upper layer).
    #[test]
    fn ck_1624_eq3_incremental_equals_full_tcp_udp_over_ipv6(
        p in prop_oneof![transport(Kind::Tcp6), transport(Kind::Udp6)],
        force in force(),
        rw in rewrites(),
    ) {
        let (_, new, hc, _) = rewrite(p, force, &rw);
        prop_assert_eq!(hc, new.expected());
        prop_assert!(new.verifies());
    }

    /// CK-1624-NEG0: successive IPv4 header updates (TTL decrements, address rewrites, some
    /// forced to +0) never leave -0 (0xFFFF) in the header checksum.
    #[test]
    fn ck_1624_neg0_ipv4_header_never_minus_zero(
        p in ipv4_header(),
        steps in prop::collection::vec((any::<bool>(), any::<[u8; 4]>(), any::<bool>()), 1..16),
    ) {
        let mut p = p;
        for (ttl, addr, zero) in steps {
            let old = p.clone();
            let f = if ttl { Field::Word(8) } else { Field::V4(12) };
            if ttl {
                p.bytes[8] = p.bytes[8].wrapping_sub(1);
            } else {
                p.bytes[12..16].copy_from_slice(&addr);
            }
            if zero {
                p.force_zero_at(f.at() + f.width() - 2);
            }
            let hc = f.delta(&old.bytes, &p.bytes).apply(old.field());
            put16(&mut p.bytes, 10, hc);
            prop_assert_ne!(hc, 0xffff);
            prop_assert_eq!(hc, p.raw());
            prop_assert!(p.verifies());
        }
    }

    /// CK-1624-EQ4: Eqn. 4 done with true one's-complement subtraction (end-around borrow)
    /// agrees with Eqn. 3 for every valid checksum (never -0); emulating it by addition (the
    /// RFC 1141 form, HC + m + ~m') differs exactly when it produces -0.
    #[test]
    fn ck_1624_eq4_borrow_subtraction_agrees_with_eqn3(
        hc in 0u16..0xffff, m in any::<u16>(), m2 in any::<u16>()
    ) {
        let eqn3 = Delta::NONE.word(m, m2).apply(hc);
        prop_assert_eq!(eqn3, ones_sub(ones_sub(hc, !m), m2));
        let rfc1141 = add(add(hc, m), !m2);
        if rfc1141 != eqn3 {
            prop_assert_eq!((rfc1141, eqn3), (0xffff, 0));
        }
    }

    /// CK-1624-§5: the receive-side check accepts both encodings of zero where the sum of the
    /// data is zero: a UDP datagram whose computed checksum is 0 verifies with 0x0000 and with
    /// 0xFFFF in the field.
    #[test]
    fn ck_1624_s5_verify_accepts_both_zeros(p in any_transport()) {
        let mut p = p;
        let at = p.free_word();
        p.force_zero_at(at);
        let c = p.csum_at();
        for field in [0x0000, 0xffff] {
            put16(&mut p.bytes, c, field);
            prop_assert!(p.verifies());
        }
        put16(&mut p.bytes, c, 0x0001);
        prop_assert!(!p.verifies());
    }

    /// CK-1624-E4782: a word rewritten to its own value leaves any checksum as it was,
    /// +0 (0x0000) and 0xFFFF included.
    #[test]
    fn ck_1624_e4782_unchanged_word_keeps_checksum(
        hc in prop_oneof![Just(0u16), Just(0xffff), any::<u16>()], m in any::<u16>()
    ) {
        prop_assert_eq!(Delta::NONE.word(m, m).apply(hc), hc);
        let a = Ipv4Addr::from(u32::from(m) * 65537);
        prop_assert_eq!(Delta::NONE.ipv4(a, a).apply(hc), hc);
    }

    /// CK-768-0: a UDP checksum (IPv4 or IPv6) whose update computes 0 is sent as 0xFFFF, and
    /// one sent as 0xFFFF (a computed 0) updates correctly.
    #[test]
    fn ck_768_0_computed_zero_sent_as_all_ones(
        p in prop_oneof![transport(Kind::Udp4), transport(Kind::Udp6)],
        old_zero in any::<bool>(),
        rw in rewrites(),
    ) {
        let force = if old_zero { Force::OldZero } else { Force::NewZero };
        let (old, new, hc, _) = rewrite(p, force, &rw);
        if old_zero {
            prop_assert_eq!(old.field(), 0xffff);
        } else {
            prop_assert_eq!(hc, 0xffff);
        }
        prop_assert_eq!(hc, new.expected());
        prop_assert!(new.verifies());
    }

    /// CK-768-NONE: a UDP/IPv4 checksum of 0 ("not computed") stays 0 through any rewrite.
    #[test]
    fn ck_768_none_zero_checksum_stays_zero(p in transport(Kind::Udp4), rw in rewrites()) {
        let mut p = p;
        let at = p.csum_at();
        put16(&mut p.bytes, at, 0);
        let (_, _, hc, ip) = rewrite(p, Force::No, &rw);
        prop_assert_eq!(hc, 0);
        prop_assert!(ip.is_some_and(|c| c != 0xffff));
    }

    /// CK-8200-UDP: an IPv6 UDP checksum after any rewrite, forced +0 included, is never 0 and
    /// validates.
    #[test]
    fn ck_8200_udp_ipv6_checksum_never_zero(
        p in transport(Kind::Udp6), force in force(), rw in rewrites()
    ) {
        let (_, new, hc, _) = rewrite(p, force, &rw);
        prop_assert_ne!(hc, 0);
        prop_assert_eq!(hc, new.expected());
        prop_assert!(new.verifies());
    }

    /// CK-8200-PSEUDO: changing the address family (IPv4 pseudo-header -> IPv6 pseudo-header,
    /// and back) with `Delta::sums`, together with a port rewrite, equals a full recomputation
    /// against the IPv6 pseudo-header, extension headers present or not.
    #[test]
    fn ck_8200_pseudo_family_change_equals_full(
        p4 in prop_oneof![transport(Kind::Tcp4), transport(Kind::Udp4)],
        s6 in ipv6_addr(), d6 in ipv6_addr(), ext in any::<bool>(),
        port in any::<u16>(), force in force(),
    ) {
        let mut p4 = p4;
        if force == Force::OldZero {
            let at = p4.free_word();
            p4.force_zero_at(at);
            p4.fill();
        }
        let mut p6 = to_ipv6(&p4, s6, d6, ext);
        let l6 = p6.l4_at();
        put16(&mut p6.bytes, l6, port);
        if force == Force::NewZero {
            p6.force_zero_at(l6);
        }
        // IPv4 -> IPv6.
        let d = Delta::NONE
            .sums(p4.pseudo(), p6.pseudo())
            .word(be16(&p4.bytes, 20), be16(&p6.bytes, l6));
        let hc = if p4.kind.is_udp() { d.apply_udp(p4.field()) } else { d.apply(p4.field()) };
        prop_assert_eq!(hc, p6.expected());
        let c6 = p6.csum_at();
        put16(&mut p6.bytes, c6, hc);
        prop_assert!(p6.verifies());
        // And back: IPv6 -> IPv4 with the original port.
        let back = Delta::NONE
            .sums(p6.pseudo(), p4.pseudo())
            .word(be16(&p6.bytes, l6), be16(&p4.bytes, 20));
        let hc4 = if p4.kind.is_udp() { back.apply_udp(hc) } else { back.apply(hc) };
        prop_assert_eq!(hc4, p4.expected());
    }

    /// CK-8200-ICMP6: translating an Echo Request or Reply between ICMPv4 (no pseudo-header)
    /// and ICMPv6 (pseudo-header, next header 58) with `Delta::sums` and the type word equals
    /// a full recomputation, both ways, forced +0 included.
    #[test]
    fn ck_8200_icmp6_pseudo_header_added_and_removed(
        reply in any::<bool>(), id in any::<u16>(),
        payload in prop::collection::vec(any::<u8>(), 0..48),
        s6 in ipv6_addr(), d6 in ipv6_addr(), force in force(),
    ) {
        let (t4, t6) = if reply { (0u8, 129u8) } else { (8, 128) };
        let mut m4 = vec![t4, 0, 0, 0];
        m4.extend(id.to_be_bytes());
        m4.extend([0, 0]); // sequence, solved below when forcing
        m4.extend(&payload);
        let ph6 = pseudo_header_v6(v6(&s6), v6(&d6), 58, m4.len() as u32);
        let mut m6 = m4.clone();
        m6[0] = t6;
        match force {
            Force::OldZero => {
                let c = !sum(0, &m4);
                put16(&mut m4, 6, c);
            }
            Force::NewZero => {
                let c = !sum(ph6, &m6);
                put16(&mut m6, 6, c);
            }
            Force::No => put16(&mut m4, 6, 0x1234),
        }
        let seq = if force == Force::NewZero { be16(&m6, 6) } else { be16(&m4, 6) };
        put16(&mut m4, 6, seq);
        put16(&mut m6, 6, seq);
        let c4 = !sum(0, &m4);
        let c6 = !sum(ph6, &m6);
        match force {
            Force::OldZero => prop_assert_eq!(c4, 0),
            Force::NewZero => prop_assert_eq!(c6, 0),
            Force::No => {}
        }
        let w4 = u16::from(t4) << 8;
        let w6 = u16::from(t6) << 8;
        prop_assert_eq!(Delta::NONE.sums(0, ph6).word(w4, w6).apply(c4), c6);
        prop_assert_eq!(Delta::NONE.sums(ph6, 0).word(w6, w4).apply(c6), c4);
    }
}

/// CK-1624-EX: the worked example of RFC 1624 § 4, whose other words sum to 0xCD7A.
#[test]
fn ck_1624_ex_rfc_vector() {
    assert_eq!(fold(0xcd7a + 0x5555), 0x22d0);
    assert_eq!(!fold(0xcd7a + 0x5555), 0xdd2f); // HC
    assert_eq!(!fold(0xcd7a + 0x3285), 0x0000); // HC' by full recomputation
    assert_eq!(Delta::NONE.word(0x5555, 0x3285).apply(0xdd2f), 0x0000);
}

/// One's-complement subtraction with end-around borrow (RFC 1624 Eqn. 4 done properly).
fn ones_sub(a: u16, b: u16) -> u16 {
    let (r, borrow) = a.overflowing_sub(b);
    if borrow { r.wrapping_sub(1) } else { r }
}

/// The same TCP/UDP segment under an IPv6 header with addresses `s6` and `d6`.
fn to_ipv6(p4: &Pkt, s6: [u8; 16], d6: [u8; 16], ext: bool) -> Pkt {
    let kind = if p4.kind.is_udp() {
        Kind::Udp6
    } else {
        Kind::Tcp6
    };
    let mut b = vec![0x60, 0, 0, 0, 0, 0, kind.proto(), 64];
    b.extend(s6);
    b.extend(d6);
    if ext {
        b[6] = 60;
        b.extend([kind.proto(), 0, 1, 4, 0, 0, 0, 0]);
    }
    b.extend(&p4.bytes[20..]);
    let plen = (b.len() - 40) as u16;
    put16(&mut b, 4, plen);
    Pkt { kind, bytes: b }
}
