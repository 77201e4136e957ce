//! Conformance tests for RFC 7915 § 5 and § 6 (IPv6 → IPv4), one per MATRIX.md row, and EAM
//! hairpinning (RFC 7757 Appendix B).

mod siit_support;

use nat_core::siit::{Fragments, Siit, TosPolicy};
use nat_core::verdict::DropReason;
use siit_support::*;

fn udp6(len: usize) -> Vec<u8> {
    V6::new(17, H6, H4_AS6).build_l4(&udp(2000, 4000, &vec![0x5a; len - 48]))
}

fn frag_udp(offset: u16, more: bool, id: u32, ext: &[Ext]) -> Vec<u8> {
    let mut h = V6::new(17, H6, H4_AS6);
    h.ext = ext.to_vec();
    h.ext.push(Ext::Fragment { offset, more, id });
    let mut u = udp(2000, 4000, &[0; 24]);
    u[6..8].copy_from_slice(&0x4242u16.to_be_bytes());
    h.build(&u)
}

#[test]
fn rfc7915_5_1_l4_checksums_updated() {
    for (proto, l4) in [
        (6u8, tcp(2000, 4000, b"data")),
        (17, udp(2000, 4000, b"data")),
        (58, icmp(128, 0, [0, 1, 0, 2], b"data")),
    ] {
        let out = run(&siit(), &V6::new(proto, H6, H4_AS6).build_l4(&l4)).fwd();
        assert!(checksums_ok_v4(&out), "protocol {proto}");
    }
}

#[test]
fn rfc7915_5_2_df_by_1260_rule() {
    let mut c = config();
    c.xlat.lowest_ipv6_mtu = 1500;
    let s = Siit::new(c).unwrap();
    let out = run(&s, &udp6(1280)).fwd();
    assert_eq!((out.len(), out[6] & 0x40), (1260, 0));
    let out = run(&s, &udp6(1281)).fwd();
    assert_eq!((out.len(), out[6] & 0x40), (1261, 0x40));
}

#[test]
fn rfc7915_5_1_ver_ihl() {
    let out = run(&siit(), &udp6(100)).fwd();
    assert_eq!(out[0], 0x45);
}

#[test]
fn rfc7915_5_1_tos_copied_or_overridden() {
    let mut h = V6::new(17, H6, H4_AS6);
    h.tc = 0xb8;
    let p = h.build_l4(&udp(1, 2, &[]));
    assert_eq!(run(&siit(), &p).fwd()[1], 0xb8);
    let mut c = config();
    c.xlat.tos = TosPolicy::Set(0x20);
    assert_eq!(run(&Siit::new(c).unwrap(), &p).fwd()[1], 0x20);
}

#[test]
fn rfc7915_5_1_tl_payload_plus_20() {
    let p = V6::new(17, H6, H4_AS6).build_l4(&udp(1, 2, &[0; 92]));
    assert_eq!(be16(&run(&siit(), &p).fwd(), 2), 120);
}

#[test]
fn rfc7915_5_1_id_generated_and_varies() {
    let a = run(
        &siit(),
        &V6::new(17, H6, H4_AS6).build_l4(&udp(1, 2, b"one")),
    )
    .fwd();
    let b = run(
        &siit(),
        &V6::new(17, H6, H4_AS6).build_l4(&udp(1, 2, b"two")),
    )
    .fwd();
    assert_ne!(be16(&a, 4), be16(&b, 4));
}

#[test]
fn rfc7915_5_1_flags_mf_clear_offset_zero() {
    let out = run(&siit(), &udp6(100)).fwd();
    assert_eq!(be16(&out, 6), 0);
}

#[test]
fn rfc7915_5_1_ttl_decremented_or_time_exceeded() {
    assert_eq!(run(&siit(), &udp6(100)).fwd()[8], 63);
    let mut h = V6::new(17, H6, H4_AS6);
    h.hl = 1;
    let r = run(&siit(), &h.build_l4(&udp(1, 2, &[]))).reply();
    assert_eq!((r[6], r[40], r[41]), (58, 3, 0));
    assert_eq!(&r[8..24], &a6("2001:db8:1c0:2:1::").octets());
    assert!(l4_ok_v6(&r));
}

#[test]
fn rfc7915_5_1_proto_skips_extension_headers() {
    let mut h = V6::new(17, H6, H4_AS6);
    h.ext = vec![Ext::HopByHop, Ext::DestOpts];
    let out = run(&siit(), &h.build_l4(&udp(1, 2, b"x"))).fwd();
    assert_eq!(out[9], 17);
    let ah = V6::new(51, H6, H4_AS6).build(&[0; 24]);
    assert_eq!(run(&siit(), &ah).fwd()[9], 51);
}

#[test]
fn rfc7915_5_1_csum_header_checksum_valid() {
    assert!(checksums_ok_v4(&run(&siit(), &udp6(300)).fwd()));
}

#[test]
fn rfc7915_5_1_src_illegal_dropped_silently() {
    let p = V6::new(17, "::1", H4_AS6).build_l4(&udp(1, 2, &[]));
    assert_eq!(run(&siit(), &p), Out::Drop(DropReason::Untranslatable));
}

#[test]
fn rfc7915_5_1_ext_ignored_and_skipped() {
    let mut h = V6::new(6, H6, H4_AS6);
    h.ext = vec![Ext::HopByHop, Ext::Routing { segments_left: 0 }];
    let p = h.build_l4(&tcp(1, 2, &[]));
    let out = run(&siit(), &p).fwd();
    assert_eq!((be16(&out, 2), out[9]), (40, 6));
    assert_eq!(out.len(), p.len() - 40 - 8 - 24 + 20);
    assert!(checksums_ok_v4(&out));
}

#[test]
fn rfc7915_5_1_rh_segments_left_parameter_problem() {
    let mut h = V6::new(17, H6, H4_AS6);
    h.ext = vec![Ext::HopByHop, Ext::Routing { segments_left: 1 }];
    let r = run(&siit(), &h.build_l4(&udp(1, 2, &[]))).reply();
    assert_eq!((r[40], r[41]), (4, 0));
    // Routing header at 48, Segments Left its fourth byte.
    assert_eq!(be32(&r, 44), 51);
}

#[test]
fn rfc7915_5_1_1_1_extension_after_fragment_dropped() {
    let mut h = V6::new(17, H6, H4_AS6);
    h.ext = vec![
        Ext::Fragment {
            offset: 0,
            more: true,
            id: 9,
        },
        Ext::DestOpts,
    ];
    let r = run(&siit(), &h.build(&udp(1, 2, &[0; 8]))).reply();
    assert_eq!((r[40], r[41]), (1, 1));
}

#[test]
fn rfc7915_5_1_1_2_total_length_skips_headers() {
    let p = frag_udp(0, true, 1, &[Ext::HopByHop]);
    let out = run(&siit(), &p).fwd();
    assert_eq!(usize::from(be16(&out, 2)), p.len() - 40 - 8 - 8 + 20);
}

#[test]
fn rfc7915_5_1_1_3_identification_low_16_bits() {
    let out = run(&siit(), &frag_udp(0, true, 0x1234_5678, &[])).fwd();
    assert_eq!(be16(&out, 4), 0x5678);
}

#[test]
fn rfc7915_5_1_1_4_mf_copied_df_clear() {
    let out = run(&siit(), &frag_udp(0, true, 1, &[])).fwd();
    assert_eq!(out[6] & 0xe0, 0x20);
    let out = run(&siit(), &frag_udp(0, false, 1, &[])).fwd();
    assert_eq!(out[6] & 0xe0, 0);
}

#[test]
fn rfc7915_5_1_1_5_fragment_offset_copied() {
    let out = run(&siit(), &frag_udp(800, true, 1, &[])).fwd();
    assert_eq!(be16(&out, 6) & 0x1fff, 100);
}

#[test]
fn rfc7915_5_1_1_6_protocol_icmpv6_to_icmp() {
    let mut h = V6::new(58, H6, H4_AS6);
    h.ext = vec![Ext::Fragment {
        offset: 0,
        more: false,
        id: 3,
    }];
    let out = run(&siit(), &h.build_l4(&icmp(128, 0, [0, 1, 0, 1], b"atomic"))).fwd();
    assert_eq!(out[9], 1);
    assert!(checksums_ok_v4(&out));
}

#[test]
fn rfc7915_5_1_1_frag_ipv4_fragmentation_to_next_hop() {
    let mut c = config();
    c.xlat.ipv4_mtu = 576;
    let s = Siit::new(c).unwrap();
    let out = run(&s, &udp6(1280)).fwd();
    let mtu = s.fragment_mtu(&out).expect("must be fragmented");
    let mut sizes = Vec::new();
    let mut scratch = [0u8; 576];
    Fragments::new(&out, mtu)
        .unwrap()
        .for_each(&mut scratch, |f| sizes.push(f.len()))
        .unwrap();
    assert!(sizes.iter().all(|&n| n <= 576));
    assert_eq!(sizes.iter().map(|n| n - 20).sum::<usize>(), 1240);
}

#[test]
fn rfc7915_5_2_1_icmpv4_checksum_without_pseudo_header() {
    let p = V6::new(58, H6, H4_AS6).build_l4(&icmp(128, 0, [0, 9, 0, 1], b"ping"));
    let out = run(&siit(), &p).fwd();
    assert_eq!((out[20], out[21]), (8, 0));
    assert!(checksums_ok_v4(&out));
}

/// An ICMPv6 error from `from` about a packet H4 -> H6 (as the IPv6 host received it).
fn icmp6_err(from: &str, t: u8, code: u8, rest: [u8; 4], inner_hl: u8, body: usize) -> Vec<u8> {
    let mut ih = V6::new(17, H4_AS6, H6);
    ih.hl = inner_hl;
    let inner = ih.build_l4(&udp(4000, 2000, &vec![1; body]));
    V6::new(58, from, H4_AS6).build_l4(&icmp(t, code, rest, &inner))
}

#[test]
fn rfc7915_5_2_ptb_to_frag_needed() {
    let e = icmp6_err(H6, 2, 0, 1400u32.to_be_bytes(), 63, 1352);
    let out = run(&siit(), &e).fwd();
    assert_eq!((out[20], out[21]), (3, 4));
    assert_eq!(be16(&out, 26), 1380);
    assert_eq!(out.len(), 576);
    assert!(checksums_ok_v4(&out));
}

#[test]
fn rfc7915_5_2_ext_length_attribute_shorter() {
    let mut ih = V6::new(17, H4_AS6, H6);
    ih.hl = 63;
    let inner = ih.build_l4(&udp(4000, 2000, &[0; 80]));
    let mut body = inner[..128].to_vec();
    body.extend_from_slice(&[0x20, 0, 0, 0, 0, 8, 1, 1]);
    let e = V6::new(58, H6, H4_AS6).build_l4(&icmp(1, 4, [16, 0, 0, 0], &body));
    let out = run(&siit(), &e).fwd();
    assert_eq!((out[20], out[21], out[25]), (3, 3, 32));
    assert_eq!(out.len(), 28 + 128 + 8);
    assert_eq!(&out[out.len() - 8..], &[0x20, 0, 0, 0, 0, 8, 1, 1]);
    assert!(checksums_ok_v4(&out));
}

#[test]
fn rfc7915_5_3_1_inner_hop_limit_kept() {
    let out = run(&siit(), &icmp6_err(H6, 1, 4, [0; 4], 1, 16)).fwd();
    assert_eq!((out[8], out[28 + 8]), (63, 1));
    assert!(checksums_ok_v4(&out[28..]));
}

#[test]
fn rfc7915_5_3_2_outer_total_length_updated() {
    let e = icmp6_err(H6, 1, 4, [0; 4], 63, 16);
    let out = run(&siit(), &e).fwd();
    assert_eq!(usize::from(be16(&out, 2)), out.len());
    assert_eq!(out.len(), e.len() - 40);
}

#[test]
fn rfc7915_5_3_3_error_in_error_dropped() {
    let inner = icmp6_err(H6, 1, 4, [0; 4], 63, 8);
    let mut nested = inner.clone();
    nested[8..24].copy_from_slice(&a6(H4_AS6).octets());
    nested[24..40].copy_from_slice(&a6(H6).octets());
    let e = V6::new(58, H6, H4_AS6).build_l4(&icmp(1, 4, [0; 4], &nested));
    assert_eq!(run(&siit(), &e), Out::Drop(DropReason::NestedIcmpError));
}

#[test]
fn rfc7915_5_4_1_untranslatable_gets_1_1_but_icmpv6_does_not() {
    let p = V6::new(17, H6, "2001:db8:ffff::1").build_l4(&udp(1, 2, &[]));
    let r = run(&siit(), &p).reply();
    assert_eq!((r[40], r[41]), (1, 1));
    let q = V6::new(58, H6, "2001:db8:ffff::1").build_l4(&icmp(128, 0, [0; 4], &[]));
    assert_eq!(run(&siit(), &q), Out::Drop(DropReason::Untranslatable));
}

#[test]
fn rfc7915_5_4_2_default_error_is_1_1() {
    let p = V6::new(6, "2001:db8:ffff::1", H4_AS6).build_l4(&tcp(1, 2, &[]));
    let r = run(&siit(), &p).reply();
    assert_eq!((r[40], r[41]), (1, 1));
    assert!(l4_ok_v6(&r));
}

#[test]
fn rfc7915_5_4_3_errors_configurable() {
    let mut c = config();
    c.xlat.send_icmp_errors = false;
    let p = V6::new(17, H6, "2001:db8:ffff::1").build_l4(&udp(1, 2, &[]));
    assert_eq!(
        run(&Siit::new(c).unwrap(), &p),
        Out::Drop(DropReason::Untranslatable)
    );
}

#[test]
fn rfc7915_5_5_1_checksums_recomputed() {
    let p = V6::new(6, "2001:db8:3::7", H4_AS6).build_l4(&tcp(5, 6, b"eam source"));
    let out = run(&siit(), &p).fwd();
    assert_eq!(&out[12..16], &a4("1.0.0.7").octets());
    assert!(checksums_ok_v4(&out));
}

#[test]
fn rfc7915_5_5_2_other_transports_forwarded() {
    let body: Vec<u8> = (0..40).collect();
    let out = run(&siit(), &V6::new(253, H6, H4_AS6).build(&body)).fwd();
    assert_eq!(out[9], 253);
    assert_eq!(&out[20..], &body[..]);
}

#[test]
fn rfc7915_6_3_rfc6791_source_for_untranslatable_icmpv6() {
    let e = icmp6_err("4000::1", 2, 0, 1400u32.to_be_bytes(), 63, 64);
    let out = run(&siit(), &e).fwd();
    assert_eq!(&out[12..16], &a4("203.0.113.8").octets());
    let mut c = config();
    c.rfc6791_v4 = None;
    let out = run(&Siit::new(c).unwrap(), &e).fwd();
    assert_eq!(&out[12..16], &a4("198.51.100.1").octets());
}

#[test]
fn rfc7757_b_intrinsic_hairpin() {
    // 2001:db8:3::8 (EAM 1.0.0.8) -> pool6 image of 1.0.0.9, which is EAM space.
    let p = V6::new(17, "2001:db8:3::8", "2001:db8:101:0:9::").build_l4(&udp(1, 2, b"hp"));
    let out = run(&siit(), &p).fwd();
    assert_eq!(out[0] >> 4, 6);
    assert_eq!(&out[8..24], &a6("2001:db8:101:0:8::").octets());
    assert_eq!(&out[24..40], &a6("2001:db8:3::9").octets());
    assert_eq!(out[7], 63);
    assert!(l4_ok_v6(&out));
}

/// CK-8200-RX (RFC 8200 § 8.1): an IPv6 receiver discards UDP with a zero checksum, so the
/// translator does not turn one into an IPv4 datagram.
#[test]
fn ck_8200_rx_ipv6_udp_with_zero_checksum_dropped() {
    let mut pkt = udp6(100);
    // UDP checksum at 40 + 6.
    pkt[46] = 0;
    pkt[47] = 0;
    match run(&siit(), &pkt) {
        Out::Drop(r) => assert_eq!(r, DropReason::UdpZeroChecksum),
        _ => panic!("translated an IPv6 UDP datagram without checksum"),
    }
}
