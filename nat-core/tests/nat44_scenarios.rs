//! NAT44 scenarios and properties: a subscriber exhausting its quota ([RFC 5508 § 6],
//! [RFC 6888] REQ-4/REQ-11), and property tests of the whole engine: a reply restores exactly
//! what the inside sent, valid checksums stay valid, and no input panics.
//!
//! [RFC 5508 § 6]: https://www.rfc-editor.org/rfc/rfc5508#section-6
//! [RFC 6888]: https://www.rfc-editor.org/rfc/rfc6888

mod common;
use common::*;
use nat_core::behavior::{FilteringBehavior, PerProto};
use nat_core::flow::{Endpoint, L4Proto};
use nat_core::nat44::UnreachableCode;
use nat_core::verdict::{Direction, DropReason, Verdict};
use nat_core::wire::parse_ipv4;
use proptest::prelude::*;
use std::net::Ipv4Addr;

const CASES: u32 = 10_000;

fn x3() -> Ipv4Addr {
    ip(10, 0, 0, 4)
}

// ---------------------------------------------------------------------------------------------
// A subscriber exhausting its quota
// ---------------------------------------------------------------------------------------------

#[test]
fn subscriber_exhausting_quota_gets_icmp_and_steals_nothing() {
    for code in [
        UnreachableCode::AdminProhibited,
        UnreachableCode::HostUnreachable,
    ] {
        let mut c = config();
        c.unreachable_code = code;
        let mut nat = nat_with(c, TestAlloc::new(&[outside_addr()], 4));
        // X2 and X1 both hold mappings; X1 fills its UDP quota of 4.
        let x2_flow = udp(ep(x2(), 7000), ep(y2(), 123), b"ntp");
        let x2_out = endpoints(&out(&mut nat, 0.0, &x2_flow)).0;
        let mut x1_maps: Vec<(Endpoint<Ipv4Addr>, Endpoint<Ipv4Addr>)> = vec![];
        for p in 0..4u16 {
            let x = ep(x1(), 5000 + p);
            let o = out(&mut nat, 1.0, &udp(x, ep(y1(), 53), b"q"));
            x1_maps.push((x, endpoints(&o).0));
        }
        let held_before = nat.allocator().held.clone();
        let sessions_before = nat.state_counters().sessions;
        // Every further new mapping of X1 is refused with the configured error, quoting it.
        for (i, p) in (6000..6010u16).enumerate() {
            let pkt = udp(ep(x1(), p), ep(y1(), 53), b"one too many");
            let (v, e) = run(&mut nat, 2.0 + i as f64, Direction::Outbound, &pkt);
            assert!(matches!(v, Verdict::Reply { .. }), "{v:?}");
            assert_eq!(addrs(&e), (ip(10, 0, 0, 1), x1()));
            assert_eq!(icmp_type_code(&e), (3, code.code()));
            assert_eq!(quoted(&e), &pkt[..]);
            assert!(checksums_valid(&e));
        }
        // Nothing was taken from anyone: the allocator holds exactly what it held.
        assert_eq!(nat.allocator().held, held_before);
        assert_eq!(nat.state_counters().sessions, sessions_before);
        // X1's mappings still work both ways, on the same outside endpoints, and a new
        // session on an existing mapping (endpoint-independent) needs no new port.
        for &(x, xo) in &x1_maps {
            let o = out(&mut nat, 20.0, &udp(x, ep(y2(), 53), b"again"));
            assert_eq!(o, hop(&udp(xo, ep(y2(), 53), b"again")));
            let i = inb(&mut nat, 20.0, &udp(ep(y1(), 53), xo, b"answer"));
            assert_eq!(i, hop(&udp(ep(y1(), 53), x, b"answer")));
        }
        // Its other protocols have their own quota.
        out(&mut nat, 20.0, &tcp(ep(x1(), 6000), ep(y1(), 80), SYN, b""));
        // The other subscribers are untouched.
        let i = inb(&mut nat, 21.0, &udp(ep(y2(), 123), x2_out, b"time"));
        assert_eq!(i, hop(&udp(ep(y2(), 123), ep(x2(), 7000), b"time")));
        for p in 0..4u16 {
            out(&mut nat, 21.0, &udp(ep(x3(), 8000 + p), ep(y1(), 53), b""));
        }
        // Mappings live while a session does (the last ones, to Y2, from t = 20 s); once
        // they expire X1 may make new ones.
        tick(&mut nat, 319.0);
        assert_eq!(
            mapping_of(&nat, L4Proto::Udp, x1_maps[0].0),
            Some(x1_maps[0].1)
        );
        tick(&mut nat, 321.0);
        assert_eq!(mapping_of(&nat, L4Proto::Udp, x1_maps[0].0), None);
        let o = out(&mut nat, 321.0, &udp(ep(x1(), 6000), ep(y1(), 53), b""));
        assert_eq!(addrs(&o).0, outside_addr());
    }
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

/// One flow from the inside, as generated.
#[derive(Clone, Debug)]
struct Flow {
    /// 0 UDP, 1 TCP, 2 ICMP echo.
    proto: u8,
    host: u8,
    port: u16,
    remote: Ipv4Addr,
    rport: u16,
    payload: Vec<u8>,
    reply_payload: Vec<u8>,
    option_words: usize,
    ttl: u8,
    df: bool,
    tos: u8,
    udp_no_checksum: bool,
}

fn remote() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>()
        .prop_map(Ipv4Addr::from)
        .prop_filter("not inside or pool", |a| {
            !matches!(a.octets(), [10, 0, 0, _] | [198, 51, 100, _])
        })
}

fn flow() -> impl Strategy<Value = Flow> {
    (
        (0u8..3, 1u8..255, any::<u16>(), remote(), any::<u16>()),
        (
            prop::collection::vec(any::<u8>(), 0..48),
            prop::collection::vec(any::<u8>(), 0..48),
        ),
        (
            0usize..4,
            2u8..=255,
            any::<bool>(),
            any::<u8>(),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (proto, host, port, remote, rport),
                (payload, reply_payload),
                (option_words, ttl, df, tos, udp_no_checksum),
            )| Flow {
                proto,
                host,
                port,
                remote,
                rport,
                payload,
                reply_payload,
                option_words,
                ttl,
                df,
                tos,
                udp_no_checksum,
            },
        )
}

impl Flow {
    fn inside(&self) -> Endpoint<Ipv4Addr> {
        ep(ip(10, 0, 0, self.host), self.port)
    }

    fn far(&self) -> Endpoint<Ipv4Addr> {
        ep(self.remote, self.rport)
    }

    /// A packet of this flow from `src` to `dst` with the flow's IP fields; `request` picks
    /// the opening packet (SYN, Echo Request) or the answer (SYN-ACK, Echo Reply).
    fn packet(
        &self,
        src: Endpoint<Ipv4Addr>,
        dst: Endpoint<Ipv4Addr>,
        request: bool,
        ttl: u8,
    ) -> Vec<u8> {
        let payload = if request {
            &self.payload
        } else {
            &self.reply_payload
        };
        let mut p = match self.proto {
            0 => {
                let mut p = udp(src, dst, payload);
                if self.udp_no_checksum {
                    p[26..28].fill(0);
                }
                p
            }
            1 => tcp(src, dst, if request { SYN } else { SYN | ACK }, payload),
            _ if request => echo(src.addr, dst.addr, src.port, 1, true),
            _ => echo(src.addr, dst.addr, dst.port, 1, false),
        };
        if self.option_words > 0 {
            let mut opts = vec![1u8; self.option_words * 4];
            *opts.last_mut().unwrap() = 0;
            p = with_options(&p, &opts);
        }
        p[1] = self.tos;
        p[8] = ttl;
        if self.df {
            p[6] |= 0x40;
        }
        fix_ip_checksum(&mut p);
        p
    }
}

/// `pkt` with its IPv4 and transport checksum fields cleared, to compare everything else.
fn sans_checksums(pkt: &[u8]) -> Vec<u8> {
    let mut p = pkt.to_vec();
    let ihl = usize::from(p[0] & 0xf) * 4;
    p[10..12].fill(0);
    let at = match p[9] {
        6 => 16,
        17 => 6,
        _ => 2,
    };
    p[ihl + at..ihl + at + 2].fill(0);
    p
}

fn forward(nat: &mut Nat, now: f64, dir: Direction, pkt: &[u8]) -> Result<Vec<u8>, TestCaseError> {
    let (v, o) = run(nat, now, dir, pkt);
    prop_assert!(matches!(v, Verdict::Forward { .. }), "{dir:?} {v:?}");
    prop_assert!(checksums_valid(&o), "{dir:?} checksums: {o:?}");
    Ok(o)
}

/// Per flow: the packet the NAT sent out, and the answer it delivered inside.
type Seen = Vec<(Vec<u8>, Vec<u8>)>;

/// Sends the opening packet of every flow out and its answer back; checks both ways that
/// only the mapped fields changed and that the answer reaches exactly the inside endpoint.
/// Returns, per flow, the packet sent out and the answer delivered inside.
fn round_trips(nat: &mut Nat, flows: &[Flow]) -> Result<Seen, TestCaseError> {
    let mut seen = vec![];
    for (i, f) in flows.iter().enumerate() {
        let t = i as f64;
        let o = forward(
            nat,
            t,
            Direction::Outbound,
            &f.packet(f.inside(), f.far(), true, f.ttl),
        )?;
        let (src, dst) = endpoints(&o);
        prop_assert_eq!(src.addr, outside_addr());
        let far = if f.proto == 2 {
            ep(f.remote, 0)
        } else {
            f.far()
        };
        prop_assert_eq!(dst, far);
        let want = f.packet(src, f.far(), true, f.ttl - 1);
        prop_assert_eq!(sans_checksums(&o), sans_checksums(&want));
        // The answer, to the outside endpoint the remote saw.
        let i = forward(
            nat,
            t + 0.5,
            Direction::Inbound,
            &f.packet(f.far(), src, false, f.ttl),
        )?;
        let (isrc, idst) = endpoints(&i);
        prop_assert_eq!(idst, f.inside());
        prop_assert_eq!(isrc.addr, f.remote);
        let want = f.packet(f.far(), f.inside(), false, f.ttl - 1);
        prop_assert_eq!(sans_checksums(&i), sans_checksums(&want));
        seen.push((o, i));
    }
    Ok(seen)
}

fn checked_nat() -> Nat {
    nat_with(config(), TestAlloc::new(&[outside_addr()], 100_000))
}

/// The knobs of the configuration that leave the round trips of [`round_trips`] intact.
#[derive(Clone, Debug)]
struct Knobs {
    filtering: FilteringBehavior,
    outside_mtu: Option<u16>,
    hairpinning: bool,
    inbound_refresh: bool,
    answer_unsolicited_syn: bool,
    send_errors: bool,
}

fn knobs() -> impl Strategy<Value = Knobs> {
    (
        prop_oneof![
            Just(FilteringBehavior::EndpointIndependent),
            Just(FilteringBehavior::AddressDependent),
            Just(FilteringBehavior::AddressAndPortDependent),
        ],
        prop::option::of(600u16..1500),
        any::<(bool, bool, bool, bool)>(),
    )
        .prop_map(|(filtering, outside_mtu, (h, r, a, e))| Knobs {
            filtering,
            outside_mtu,
            hairpinning: h,
            inbound_refresh: r,
            answer_unsolicited_syn: a,
            send_errors: e,
        })
}

fn nat_of(k: &Knobs) -> Nat {
    let mut c = config();
    c.filtering = PerProto::all(k.filtering);
    c.outside_mtu = k.outside_mtu;
    c.hairpinning = k.hairpinning;
    c.inbound_refresh = k.inbound_refresh;
    c.answer_unsolicited_syn = k.answer_unsolicited_syn;
    c.icmp_errors.send = k.send_errors;
    nat_with(c, TestAlloc::new(&[outside_addr()], 100_000))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Outbound then inbound reply restores the original addresses and ports exactly.
    #[test]
    fn reply_restores_inside_endpoint(flows in prop::collection::vec(flow(), 1..4)) {
        let mut nat = checked_nat();
        round_trips(&mut nat, &flows)?;
    }

    /// Valid packets of every kind the engine translates or answers (flows, ICMP errors both
    /// ways with quotes cut anywhere, hairpins, fragments, owed errors) come out with valid
    /// checksums, quoted headers included.
    #[test]
    fn valid_checksums_stay_valid(
        flows in prop::collection::vec(flow(), 1..4),
        cuts in prop::collection::vec(0usize..200, 4),
        code in 0u8..16,
        frag_reverse in any::<bool>(),
    ) {
        let mut nat = checked_nat();
        let seen = round_trips(&mut nat, &flows)?;
        for (k, (f, (o, delivered))) in flows.iter().zip(&seen).enumerate() {
            let t = 10.0 + k as f64;
            let ihl = usize::from(o[0] & 0xf) * 4;
            // An error from a router about the packet sent out.
            let cut = (ihl + 8 + cuts[k % 4]).min(o.len());
            let err = icmp_error(ip(192, 0, 2, 1), outside_addr(), 3, code, [0, 0, 5, 0], o, cut);
            let e = forward(&mut nat, t, Direction::Inbound, &err)?;
            prop_assert!(error_checksums_valid(&e));
            prop_assert_eq!(quoted_endpoints(&e).0.addr, f.inside().addr);
            // An error from the inside host about the answer it got.
            let dihl = usize::from(delivered[0] & 0xf) * 4;
            let cut = (dihl + 8 + cuts[(k + 1) % 4]).min(delivered.len());
            let err = icmp_error(f.inside().addr, f.remote, 11, 0, [0; 4], delivered, cut);
            let e = forward(&mut nat, t, Direction::Outbound, &err)?;
            prop_assert!(error_checksums_valid(&e));
            prop_assert_eq!(addrs(&e), (outside_addr(), f.remote));
            // An owed error: Time Exceeded, quoting the packet (never to a group or broadcast
            // destination's sender, RFC 1812 § 4.3.2.7).
            let dying = f.packet(f.inside(), f.far(), true, 1);
            let (v, e) = run(&mut nat, t, Direction::Outbound, &dying);
            if f.remote.is_multicast() || f.remote.is_broadcast() {
                prop_assert_eq!(v, Verdict::Drop(DropReason::TtlExpired));
            } else {
                prop_assert!(matches!(v, Verdict::Reply { .. }), "{v:?}");
                prop_assert!(error_checksums_valid(&e));
            }
            // Hairpin from every flow to the first flow's UDP mapping.
            if flows[0].proto == 0 && f.proto == 0 && f.inside() != flows[0].inside() {
                let target = endpoints(&seen[0].0).0;
                let h = forward(&mut nat, t, Direction::Outbound,
                    &f.packet(f.inside(), target, true, f.ttl))?;
                prop_assert_eq!(endpoints(&h).1, flows[0].inside());
            }
        }
        // A fragmented answer to a UDP flow, in either order.
        if let Some((f, (o, _))) = flows.iter().zip(&seen).find(|(f, _)| f.proto == 0) {
            let xo = endpoints(o).0;
            let whole = udp(f.far(), xo, &[0x11; 100]);
            let mut frags = fragments(&whole, 40, 0x7777);
            if frag_reverse {
                frags.reverse();
            }
            let mut n = 0;
            for fr in &frags {
                let (v, o) = run(&mut nat, 20.0, Direction::Inbound, fr);
                if matches!(v, Verdict::Forward { .. }) {
                    prop_assert!(checksums_valid(&o));
                    n += 1;
                }
            }
            for (v, o) in poll(&mut nat, 20.0) {
                prop_assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
                prop_assert!(checksums_valid(&o));
                n += 1;
            }
            prop_assert_eq!(n, frags.len());
        }
    }

    /// Arbitrary bytes, in either direction, with or without headroom, never panic; whatever
    /// comes out lies in the buffer and is an IPv4 packet; every drop is counted.
    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..200),
        k in knobs(),
        inbound in any::<bool>(),
        headroom in 0usize..64,
        slack in 0usize..64,
    ) {
        let mut nat = nat_of(&k);
        survive(&mut nat, 0.0, inbound, &bytes, headroom, slack)?;
        let mut v4 = bytes.clone();
        if let Some(b) = v4.first_mut() {
            *b = 0x40 | (*b & 0x0f);
        }
        survive(&mut nat, 0.0, inbound, &v4, headroom, slack)?;
    }

    /// Valid packets of live flows with bytes flipped, cut short or lengthened, header fields
    /// overwritten, and the IPv4 header checksum made valid again or not, never panic.
    #[test]
    fn mutated_packets_never_panic(
        flows in prop::collection::vec(flow(), 1..3),
        pick in 0usize..64,
        flips in prop::collection::vec((0usize..256, 1u8..=255), 0..6),
        cut in prop::option::of(0usize..120),
        field in prop::option::of((0usize..20, any::<u8>())),
        fix in any::<bool>(),
        inbound in any::<bool>(),
        headroom in 0usize..64,
        slack in 0usize..64,
        later in 0.0f64..400.0,
        k in knobs(),
    ) {
        let mut nat = nat_of(&k);
        let seen = round_trips(&mut nat, &flows)?;
        // A pool of valid packets that reach deep into the engine.
        let mut pool = vec![];
        for (f, (o, d)) in flows.iter().zip(&seen) {
            let xo = endpoints(o).0;
            pool.push(f.packet(f.inside(), f.far(), true, f.ttl));
            pool.push(f.packet(f.far(), xo, false, f.ttl));
            pool.push(icmp_error(ip(192, 0, 2, 1), outside_addr(), 3, 4, [0; 4], o, o.len()));
            pool.push(icmp_error(f.inside().addr, f.remote, 3, 3, [0; 4], d, 28.min(d.len())));
            pool.push(tcp(f.far(), xo, SYN, b""));
            let whole = udp(f.far(), xo, &[3; 64]);
            pool.extend(fragments(&whole, 32, 0x1234));
        }
        let mut p = pool[pick % pool.len()].clone();
        if let Some((at, v)) = field
            && at < p.len()
        {
            p[at] = v;
        }
        for (at, x) in flips {
            if !p.is_empty() {
                let n = p.len();
                p[at % n] ^= x;
            }
        }
        if let Some(c) = cut {
            p.truncate(c);
        }
        if fix && p.len() >= 20 {
            // Valid checksums again, so that the mutation reaches past the checks: the IPv4
            // header's, and an ICMP message's own.
            let ihl = (usize::from(p[0] & 0xf) * 4).clamp(20, p.len());
            let total = usize::from(u16::from_be_bytes([p[2], p[3]])).clamp(ihl, p.len());
            if p[9] == 1 && total >= ihl + 4 {
                p[ihl + 2..ihl + 4].fill(0);
                let c = nat_core::checksum::checksum(&p[ihl..total]);
                p[ihl + 2..ihl + 4].copy_from_slice(&c.to_be_bytes());
            }
            p[10..12].fill(0);
            let c = nat_core::checksum::checksum(&p[..ihl]);
            p[10..12].copy_from_slice(&c.to_be_bytes());
        }
        survive(&mut nat, 5.0, inbound, &p, headroom, slack)?;
        survive(&mut nat, 5.0, !inbound, &p, headroom, slack)?;
        for (v, o) in poll(&mut nat, 5.0 + later) {
            prop_assert!(!matches!(v, Verdict::Drop(_) | Verdict::Hold));
            prop_assert!(parse_ipv4(&o).is_ok());
        }
        nat.handle_timeout(at(5.0 + later), usize::MAX);
    }
}

/// Runs `pkt` through the engine in a buffer with `headroom` bytes before it and `slack`
/// after, and checks the verdict's promises.
fn survive(
    nat: &mut Nat,
    now: f64,
    inbound: bool,
    pkt: &[u8],
    headroom: usize,
    slack: usize,
) -> Result<(), TestCaseError> {
    let mut buf = vec![0u8; headroom + pkt.len() + slack];
    buf[headroom..headroom + pkt.len()].copy_from_slice(pkt);
    let dir = if inbound {
        Direction::Inbound
    } else {
        Direction::Outbound
    };
    let drops = nat.counters().drops.total();
    let v = nat.process(at(now), dir, &mut buf, headroom, pkt.len());
    match v {
        Verdict::Forward { start, len } | Verdict::Reply { start, len } => {
            prop_assert!(start + len <= buf.len());
            let out = &buf[start..start + len];
            let reply = matches!(v, Verdict::Reply { .. });
            prop_assert!(reply || parse_ipv4(out).is_ok(), "forwarded but unparsable");
            let ihl = usize::from(out[0] & 0xf) * 4;
            prop_assert!(
                nat_core::checksum::verify(0, &out[..ihl]),
                "IPv4 header checksum"
            );
            if let Verdict::Reply { .. } = v {
                prop_assert_eq!(out[9], 1, "a reply is an ICMP error");
                prop_assert!(matches!(out[20], 3 | 11), "type {}", out[20]);
                prop_assert!(checksums_valid(out));
            }
            prop_assert_eq!(nat.counters().drops.total(), drops);
        }
        Verdict::Hold => prop_assert_eq!(nat.counters().drops.total(), drops),
        Verdict::Drop(_) => prop_assert_eq!(nat.counters().drops.total(), drops + 1),
    }
    Ok(())
}
