//! Conformance tests for RFC 7915 § 1.2, § 4 and § 6 (IPv4 → IPv6), one per MATRIX.md row.

mod siit_support;

use nat_core::siit::{Eam, Ipv4Prefix, Ipv6Prefix, Siit, TosPolicy, UdpZeroChecksum};
use nat_core::verdict::DropReason;
use siit_support::*;

fn udp4(len: usize, df: bool) -> Vec<u8> {
    let mut h = V4::new(17, H4, H6_AS4);
    h.df = df;
    h.build_l4(&udp(4000, 2000, &vec![0xab; len - 28]))
}

/// A UDP header with a non-zero (arbitrary) checksum, for fragments.
fn udp_frag(payload: usize) -> Vec<u8> {
    let mut u = udp(1, 2, &vec![0; payload]);
    u[6..8].copy_from_slice(&0x1234u16.to_be_bytes());
    u
}

fn with_mtus(lowest: u16, mtu6: u16) -> Siit<8> {
    let mut c = config();
    c.xlat.lowest_ipv6_mtu = lowest;
    c.xlat.ipv6_mtu = mtu6;
    Siit::new(c).unwrap()
}

/// The translated packets after fragmentation, as the caller would send them.
fn sent(s: &Siit<8>, pkt: &[u8]) -> Vec<Vec<u8>> {
    let out = run(s, pkt).fwd();
    match s.fragment_mtu(&out) {
        None => vec![out],
        Some(mtu) => {
            let mut v = Vec::new();
            let mut scratch = vec![0u8; 2000];
            nat_core::siit::Fragments::new(&out, mtu)
                .unwrap()
                .for_each(&mut scratch, |f| v.push(f.to_vec()))
                .unwrap();
            v
        }
    }
}

#[test]
fn rfc7915_1_2_2_fragmented_icmp_not_translated() {
    let mut h = V4::new(1, H4, H6_AS4);
    h.df = false;
    h.mf = true;
    let echo = icmp(8, 0, [0, 1, 0, 1], &[0; 32]);
    assert_eq!(
        run(&siit(), &h.build_l4(&echo)),
        Out::Drop(DropReason::UnsupportedProtocol)
    );
}

#[test]
fn rfc7915_4_1_df_set_no_fragment_header() {
    let out = run(&siit(), &udp4(1000, true)).fwd();
    assert_eq!(out[6], 17);
    assert_eq!(out.len(), 1020);
}

#[test]
fn rfc7915_4_2_df_clear_fragmented_to_1280() {
    let frags = sent(&siit(), &udp4(1500, false));
    assert!(frags.len() >= 2);
    assert!(frags.iter().all(|f| f.len() <= 1280 && f[6] == 44));
}

#[test]
fn rfc7915_4_3_lowest_ipv6_mtu_configurable() {
    let frags = sent(&with_mtus(1500, 1500), &udp4(1400, false));
    assert_eq!(frags.len(), 1);
    assert_eq!(frags[0].len(), 1420);
    assert_eq!(frags[0][6], 17);
    assert!(l4_ok_v6(&frags[0]));
}

#[test]
fn rfc7915_4_4_df_clear_small_no_fragment_header() {
    let out = run(&siit(), &udp4(500, false)).fwd();
    assert_eq!((out.len(), out[6]), (520, 17));
}

#[test]
fn rfc7915_4_5_fragment_id_low_16_bits_carried() {
    let mut h = V4::new(17, H4, H6_AS4);
    h.df = false;
    h.mf = true;
    h.id = 0xbeef;
    let out = run(&siit(), &h.build(&udp_frag(64))).fwd();
    assert_eq!(out[6], 44);
    assert_eq!(be32(&out, 44), 0x0000_beef);
}

#[test]
fn rfc7915_4_1_1_fragments_fit_lowest_ipv6_mtu() {
    let frags = sent(&siit(), &udp4(1500, false));
    let mut next = 0;
    for (i, f) in frags.iter().enumerate() {
        assert!(f.len() <= 1280);
        let off = be16(f, 42);
        assert_eq!(usize::from(off & !7), next);
        let body = f.len() - 48;
        let last = i == frags.len() - 1;
        assert_eq!(off & 1 == 0, last);
        if !last {
            assert_eq!(body % 8, 0);
        }
        next += body;
    }
    assert_eq!(next, 1480);
}

#[test]
fn rfc7915_4_1_2_lowest_ipv6_mtu_validated_and_honoured() {
    let mut c = config();
    c.xlat.lowest_ipv6_mtu = 1000;
    assert!(Siit::new(c).is_err());
    let s = with_mtus(1400, 1500);
    assert_eq!(s.config().xlat.ipv6_fragment_size(), 1400);
    assert!(sent(&s, &udp4(1500, false)).iter().all(|f| f.len() <= 1400));
}

#[test]
fn rfc7915_4_1_df_frag_needed_mtu() {
    let r = run(&with_mtus(1500, 1280), &udp4(1280, true)).reply();
    assert_eq!((r[9], r[20], r[21]), (1, 3, 4));
    assert_eq!(be16(&r, 26), 1260);
    assert_eq!(&r[16..20], &a4(H4).octets());
    assert_eq!(&r[12..16], &a4("198.51.100.1").octets());
    assert!(checksums_ok_v4(&r));
}

#[test]
fn rfc7915_4_1_ver_tc_fl_fields() {
    let mut h = V4::new(17, H4, H6_AS4);
    h.tos = 0xb8;
    let p = h.build_l4(&udp(1, 2, b"hello"));
    let out = run(&siit(), &p).fwd();
    assert_eq!(out[0] >> 4, 6);
    assert_eq!((out[0] << 4) | (out[1] >> 4), 0xb8);
    assert_eq!(
        (u32::from(out[1] & 0xf) << 16) | u32::from(be16(&out, 2)),
        0
    );
    let mut c = config();
    c.xlat.traffic_class = TosPolicy::Set(0);
    let out = run(&Siit::new(c).unwrap(), &p).fwd();
    assert_eq!((out[0] & 0xf, out[1] >> 4), (0, 0));
}

#[test]
fn rfc7915_4_1_pl_excludes_options() {
    let mut h = V4::new(17, H4, H6_AS4);
    h.options = vec![1, 1, 1, 0];
    let p = h.build_l4(&udp(1, 2, &[0; 68]));
    assert_eq!(p.len(), 100);
    let out = run(&siit(), &p).fwd();
    assert_eq!(be16(&out, 4), 76);
}

#[test]
fn rfc7915_4_1_nh_protocol_mapping() {
    for (proto, nh) in [(6u8, 6u8), (17, 17), (1, 58), (132, 132), (253, 253)] {
        let l4 = match proto {
            6 => tcp(1, 2, &[]),
            17 => udp(1, 2, &[]),
            1 => icmp(8, 0, [0, 1, 0, 1], &[]),
            _ => vec![7; 16],
        };
        let out = run(&siit(), &V4::new(proto, H4, H6_AS4).build_l4(&l4)).fwd();
        assert_eq!(out[6], nh, "protocol {proto}");
    }
}

#[test]
fn rfc7915_4_1_ttl_decremented_hop_limit() {
    let out = run(&siit(), &udp4(100, true)).fwd();
    assert_eq!(out[7], 63);
    let mut h = V4::new(17, H4, H6_AS4);
    h.ttl = 1;
    let r = run(&siit(), &h.build_l4(&udp(1, 2, &[]))).reply();
    assert_eq!((r[20], r[21]), (11, 0));
    assert!(checksums_ok_v4(&r));
}

#[test]
fn rfc7915_4_1_src_illegal_dropped_but_translated_inside_errors() {
    let p = V4::new(17, "127.0.0.1", H6_AS4).build_l4(&udp(1, 2, &[]));
    assert_eq!(run(&siit(), &p), Out::Drop(DropReason::Untranslatable));
    // An ICMPv4 error from 127.0.0.1 about our packet is translated (pool6).
    let inner = V4::new(17, H6_AS4, H4).build_l4(&udp(2000, 4000, &[0; 4]));
    let e = V4::new(1, "127.0.0.1", H6_AS4).build_l4(&icmp(3, 3, [0; 4], &inner));
    let out = run(&siit(), &e).fwd();
    assert_eq!(&out[8..24], &a6("2001:db8:17f:0:1::").octets());
    // So is an error whose quoted packet came from 127.0.0.1.
    let inner = V4::new(17, "127.0.0.1", H4).build_l4(&udp(2000, 4000, &[0; 4]));
    let e = V4::new(1, H4, H6_AS4).build_l4(&icmp(3, 3, [0; 4], &inner));
    let out = run(&siit(), &e).fwd();
    assert_eq!(&out[56..72], &a6("2001:db8:17f:0:1::").octets());
}

#[test]
fn rfc7915_4_1_dst_mapped_per_section_6() {
    let out = run(&siit(), &udp4(100, true)).fwd();
    assert_eq!(&out[8..24], &a6(H4_AS6).octets());
    assert_eq!(&out[24..40], &a6(H6).octets());
}

#[test]
fn rfc7915_4_1_opt_options_ignored() {
    let mut h = V4::new(17, H4, H6_AS4);
    // Record Route (7), Timestamp (68), NOPs and End.
    h.options = vec![7, 7, 4, 0, 0, 0, 0, 68, 4, 5, 0x01, 1, 1, 1, 0, 0];
    let p = h.build_l4(&udp(1, 2, b"payload"));
    let out = run(&siit(), &p).fwd();
    assert_eq!(out[6], 17);
    assert_eq!(&out[48..], b"payload");
    assert!(l4_ok_v6(&out));
}

#[test]
fn rfc7915_4_1_sr_unexpired_source_route() {
    let mut h = V4::new(17, H4, H6_AS4);
    h.options = vec![131, 7, 4, 10, 0, 0, 1, 0];
    let r = run(&siit(), &h.build_l4(&udp(1, 2, &[]))).reply();
    assert_eq!((r[20], r[21]), (3, 5));
}

#[test]
fn rfc7915_4_1_fh1_payload_length_and_next_header() {
    let mut h = V4::new(17, H4, H6_AS4);
    h.df = false;
    h.mf = true;
    let out = run(&siit(), &h.build(&udp_frag(992))).fwd();
    assert_eq!((be16(&out, 4), out[6]), (1008, 44));
}

#[test]
fn rfc7915_4_1_fh2_fragment_next_header() {
    let mut h = V4::new(17, H4, H6_AS4);
    h.df = false;
    h.mf = true;
    let out = run(&siit(), &h.build(&udp_frag(16))).fwd();
    assert_eq!(out[40], 17);
    // ICMPv4 would become 58, but fragmented ICMP is not translated (§ 1.2).
}

#[test]
fn rfc7915_4_1_fh3_fragment_fields_copied() {
    let mut h = V4::new(17, H4, H6_AS4);
    h.df = false;
    h.mf = true;
    h.offset = 185 * 8;
    h.id = 0x1234;
    let out = run(&siit(), &h.build(&[0u8; 64])).fwd();
    assert_eq!(be16(&out, 42), (185 * 8) | 1);
    assert_eq!(be32(&out, 44), 0x1234);
}

#[test]
fn rfc7915_4_2_1_icmpv6_checksum_computed() {
    let p = V4::new(1, H4, H6_AS4).build_l4(&icmp(8, 0, [0, 7, 0, 1], b"ping"));
    let out = run(&siit(), &p).fwd();
    assert_eq!((out[40], out[41]), (128, 0));
    assert!(l4_ok_v6(&out));
}

#[test]
fn rfc7915_4_2_ptb_from_frag_needed() {
    let inner = V4::new(17, H6_AS4, H4).build_l4(&udp(2000, 4000, &[0; 1372]));
    let e = V4::new(1, H4, H6_AS4).build_l4(&icmp(3, 4, [0, 0, 0x05, 0x78], &inner[..548]));
    let out = run(&siit(), &e).fwd();
    assert_eq!((out[40], out[41]), (2, 0));
    assert_eq!(be32(&out, 44), 1420);
    assert!(l4_ok_v6(&out));
}

#[test]
fn rfc7915_4_2_plat_mtu_zero_uses_plateau() {
    let inner = V4::new(17, H6_AS4, H4).build_l4(&udp(2000, 4000, &[0; 1472]));
    let e = V4::new(1, H4, H6_AS4).build_l4(&icmp(3, 4, [0; 4], &inner[..548]));
    assert_eq!(be32(&run(&siit(), &e).fwd(), 44), 1492);
}

#[test]
fn rfc7915_4_2_igmp_dropped() {
    let p = V4::new(2, H4, H6_AS4).build(&[0x11, 0, 0xee, 0xff, 224, 0, 0, 1]);
    assert_eq!(run(&siit(), &p), Out::Drop(DropReason::UnsupportedProtocol));
}

#[test]
fn rfc7915_4_2_ext_length_attribute_reexpressed() {
    // ICMPv4 11/0 quoting 128 bytes (32 words) followed by an 8-byte extension.
    let inner = V4::new(17, H6_AS4, H4).build_l4(&udp(2000, 4000, &[0; 100]));
    let mut body = inner[..128].to_vec();
    body.extend_from_slice(&[0x20, 0, 0, 0, 0, 8, 1, 1]);
    let e = V4::new(1, H4, H6_AS4).build_l4(&icmp(11, 0, [0, 32, 0, 0], &body));
    let out = run(&siit(), &e).fwd();
    assert_eq!((out[40], out[41]), (3, 0));
    // 128 - 20 + 40 = 148 bytes, cut to 144 = 18 words of 8; the extension follows.
    assert_eq!(out[44], 18);
    assert_eq!(&out[out.len() - 8..], &[0x20, 0, 0, 0, 0, 8, 1, 1]);
    assert_eq!(out.len(), 48 + 144 + 8);
    assert!(l4_ok_v6(&out));
}

#[test]
fn rfc7915_4_3_1_inner_ttl_not_decremented() {
    let mut ih = V4::new(17, H6_AS4, H4);
    ih.ttl = 1;
    let inner = ih.build_l4(&udp(2000, 4000, &[0; 8]));
    let e = V4::new(1, H4, H6_AS4).build_l4(&icmp(3, 3, [0; 4], &inner));
    let out = run(&siit(), &e).fwd();
    assert_eq!((out[7], out[48 + 7]), (63, 1));
    // The quoted UDP checksum was updated for the new pseudo-header.
    assert!(l4_ok_v6(&out[48..]));
}

#[test]
fn rfc7915_4_3_2_outer_payload_length_updated() {
    let inner = V4::new(17, H6_AS4, H4).build_l4(&udp(2000, 4000, &[0; 8]));
    let e = V4::new(1, H4, H6_AS4).build_l4(&icmp(3, 3, [0; 4], &inner));
    let out = run(&siit(), &e).fwd();
    assert_eq!(usize::from(be16(&out, 4)), out.len() - 40);
    assert_eq!(out.len(), e.len() + 40);
}

#[test]
fn rfc7915_4_3_3_error_in_error_dropped() {
    let inner2 = V4::new(17, H6_AS4, H4).build_l4(&udp(1, 2, &[]));
    let inner = V4::new(1, H6_AS4, H4).build_l4(&icmp(3, 3, [0; 4], &inner2));
    let e = V4::new(1, H4, H6_AS4).build_l4(&icmp(3, 3, [0; 4], &inner));
    assert_eq!(run(&siit(), &e), Out::Drop(DropReason::NestedIcmpError));
}

#[test]
fn rfc7915_4_4_1_untranslatable_gets_3_13_but_errors_do_not() {
    let mut c = config();
    c.pool6 = None;
    let s = Siit::new(c).unwrap();
    let r = run(&s, &udp4(100, true)).reply();
    assert_eq!((r[20], r[21]), (3, 13));
    let inner = V4::new(17, H6_AS4, H4).build_l4(&udp(2000, 4000, &[]));
    let e = V4::new(1, H4, H6_AS4).build_l4(&icmp(3, 3, [0; 4], &inner));
    assert_eq!(run(&s, &e), Out::Drop(DropReason::Untranslatable));
}

#[test]
fn rfc7915_4_4_2_default_error_is_3_13() {
    let mut h = V4::new(17, H4, H6_AS4);
    h.df = false;
    h.mf = true;
    let r = run(&siit(), &h.build(&udp(1, 2, &[0; 8]))).reply();
    assert_eq!((r[20], r[21]), (3, 13));
}

#[test]
fn rfc7915_4_4_3_errors_configurable() {
    let mut c = config();
    c.xlat.send_icmp_errors = false;
    let mut h = V4::new(17, H4, H6_AS4);
    h.ttl = 1;
    let p = h.build_l4(&udp(1, 2, &[]));
    assert_eq!(
        run(&Siit::new(c).unwrap(), &p),
        Out::Drop(DropReason::TtlExpired)
    );
}

#[test]
fn rfc7915_4_5_1_nsp_checksums_valid() {
    for l4 in [
        tcp(1, 2, b"x"),
        udp(1, 2, b"xy"),
        icmp(8, 0, [0, 1, 0, 2], b"xyz"),
    ] {
        let proto = match l4.len() {
            21 => 6,
            10 => 17,
            _ => 1,
        };
        let out = run(&siit(), &V4::new(proto, H4, H6_AS4).build_l4(&l4)).fwd();
        assert!(l4_ok_v6(&out), "protocol {proto}");
    }
}

#[test]
fn rfc7915_4_5_2_udp_zero_checksum_policy() {
    let p = V4::new(17, H4, H6_AS4).build(&udp(1, 2, b"zero"));
    let r = run(&siit(), &p).reply();
    assert_eq!((r[20], r[21]), (3, 13));
    let mut c = config();
    c.xlat.send_icmp_errors = false;
    assert_eq!(
        run(&Siit::new(c).unwrap(), &p),
        Out::Drop(DropReason::UdpZeroChecksum)
    );
    let mut c = config();
    c.xlat.udp_zero_checksum = UdpZeroChecksum::Compute;
    let out = run(&Siit::new(c).unwrap(), &p).fwd();
    assert_ne!(be16(&out, 46), 0);
    assert!(l4_ok_v6(&out));
}

#[test]
fn rfc7915_4_5_3_fragment_with_zero_checksum_dropped() {
    let mut c = config();
    c.xlat.udp_zero_checksum = UdpZeroChecksum::Compute;
    c.xlat.send_icmp_errors = false;
    let mut h = V4::new(17, H4, H6_AS4);
    h.df = false;
    h.mf = true;
    let p = h.build(&udp(1, 2, &[0; 16]));
    assert_eq!(
        run(&Siit::new(c).unwrap(), &p),
        Out::Drop(DropReason::UdpZeroChecksum)
    );
}

#[test]
fn rfc7915_4_5_4_other_transports_forwarded() {
    let body: Vec<u8> = (0..40).collect();
    let out = run(&siit(), &V4::new(253, H4, H6_AS4).build(&body)).fwd();
    assert_eq!(out[6], 253);
    assert_eq!(&out[40..], &body[..]);
}

#[test]
fn rfc7915_6_2_eam_before_rfc6052() {
    let mut c = config();
    let e = Eam::new(
        Ipv4Prefix::host(a4("192.0.2.1")),
        Ipv6Prefix::host(a6("2001:db8:6::1")),
    )
    .unwrap();
    c.eamt.insert(e).unwrap();
    let p = V4::new(17, H4, "192.0.2.1").build_l4(&udp(1, 2, &[]));
    let out = run(&Siit::new(c).unwrap(), &p).fwd();
    assert_eq!(&out[24..40], &a6("2001:db8:6::1").octets());
}

/// IPv4 → IPv6 needs 20 more bytes of header: with neither headroom before the packet nor room
/// after it, the packet is dropped as `NoRoom`, not mistaken for a truncated one.
#[test]
fn translation_without_room_for_the_ipv6_header_is_no_room() {
    let siit = siit();
    let mut pkt = udp4(200, true);
    let len = pkt.len();
    assert_eq!(
        siit.translate_4to6(&mut pkt, 0, len),
        nat_core::verdict::Verdict::Drop(DropReason::NoRoom)
    );
}
