//! Conformance tests for RFC 6052 (IPv4-embedded IPv6 addresses), one per MATRIX.md row, at
//! the level of the public API and of translated packets.

mod siit_support;

use nat_core::siit::{Pref64, Pref64Error, Siit, is_non_global};
use nat_core::verdict::DropReason;
use siit_support::*;
use std::net::Ipv4Addr;

const V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 33);

/// RFC 6052 § 2.4 Table 1.
const TABLE_1: [(&str, u8, &str); 6] = [
    ("2001:db8::", 32, "2001:db8:c000:221::"),
    ("2001:db8:100::", 40, "2001:db8:1c0:2:21::"),
    ("2001:db8:122::", 48, "2001:db8:122:c000:2:2100::"),
    ("2001:db8:122:300::", 56, "2001:db8:122:3c0:0:221::"),
    ("2001:db8:122:344::", 64, "2001:db8:122:344:c0:2:2100::"),
    ("2001:db8:122:344::", 96, "2001:db8:122:344::192.0.2.33"),
];

fn wkp_siit(rule: bool) -> Siit<8> {
    let mut c = config();
    c.pool6 = Some(Pref64::WELL_KNOWN);
    c.wkp_non_global_rule = rule;
    Siit::new(c).unwrap()
}

#[test]
fn rfc6052_2_1_well_known_prefix() {
    assert_eq!(Pref64::WELL_KNOWN.prefix(), a6("64:ff9b::"));
    assert_eq!(Pref64::WELL_KNOWN.prefix_len(), 96);
}

#[test]
fn rfc6052_2_2_1_prefix_lengths_restricted() {
    assert_eq!(
        Pref64::new(a6("2001:db8::"), 44),
        Err(Pref64Error::BadLength(44))
    );
    assert_eq!(
        Pref64::new(a6("2001:db8::"), 128),
        Err(Pref64Error::BadLength(128))
    );
}

#[test]
fn rfc6052_2_2_2_u_octet_zero() {
    for (p, l, _) in TABLE_1 {
        let pref = Pref64::new(a6(p), l).unwrap();
        assert_eq!(pref.embed(Ipv4Addr::BROADCAST).octets()[8], 0, "/{l}");
    }
}

#[test]
fn rfc6052_2_2_3_pl96_u_octet_checked() {
    assert_eq!(
        Pref64::new(a6("2001:db8:0:0:ff00::"), 96),
        Err(Pref64Error::NonZeroU)
    );
}

#[test]
fn rfc6052_2_2_4_table_1_vectors() {
    for (p, l, want) in TABLE_1 {
        assert_eq!(Pref64::new(a6(p), l).unwrap().embed(V4), a6(want), "/{l}");
    }
}

#[test]
fn rfc6052_2_2_5_suffix_zero() {
    let p = Pref64::new(a6("2001:db8::"), 32).unwrap();
    assert!(
        p.embed(Ipv4Addr::BROADCAST).octets()[9..]
            .iter()
            .all(|&b| b == 0)
    );
}

#[test]
fn rfc6052_2_2_6_suffix_ignored_on_receipt() {
    let p = Pref64::new(a6("2001:db8:100::"), 40).unwrap();
    assert_eq!(p.extract(a6("2001:db8:1c0:2:21:ffff:ffff:ffff")), Some(V4));
}

#[test]
fn rfc6052_2_3_1_compose_table_2() {
    assert_eq!(Pref64::WELL_KNOWN.embed(V4), a6("64:ff9b::192.0.2.33"));
}

#[test]
fn rfc6052_2_3_2_extract_every_length() {
    for (p, l, addr) in TABLE_1 {
        assert_eq!(
            Pref64::new(a6(p), l).unwrap().extract(a6(addr)),
            Some(V4),
            "/{l}"
        );
    }
    assert_eq!(
        Pref64::WELL_KNOWN.extract(a6("64:ff9b::c000:221")),
        Some(V4)
    );
}

#[test]
fn rfc6052_2_4_text_representations_equal() {
    assert_eq!(a6("64:ff9b::c000:221"), a6("64:ff9b::192.0.2.33"));
    assert_eq!(Pref64::WELL_KNOWN.to_string(), "64:ff9b::/96");
}

#[test]
fn rfc6052_3_1_1_wkp_refuses_non_global_synthesis() {
    let s = wkp_siit(true);
    assert_eq!(s.config().map_4to6(a4("10.0.0.1"), false), None);
    assert!(is_non_global(a4("10.0.0.1")));
    // The RFC's own Table 2 example is non-global by RFC 5735 § 3 (MATRIX.md point 9).
    assert_eq!(s.config().map_4to6(V4, false), None);
    assert!(wkp_siit(false).config().map_4to6(V4, false).is_some());
}

#[test]
fn rfc6052_3_1_2_translator_drops_wkp_non_global() {
    let s = wkp_siit(true);
    let p = V6::new(17, H6, "64:ff9b::192.168.1.1").build_l4(&udp(1, 2, &[]));
    assert!(matches!(
        run(&s, &p),
        Out::Reply(_) | Out::Drop(DropReason::Untranslatable)
    ));
    let mut c = s.config().clone();
    c.xlat.send_icmp_errors = false;
    let s = Siit::new(c).unwrap();
    assert_eq!(run(&s, &p), Out::Drop(DropReason::Untranslatable));
    let q = V4::new(17, "10.1.1.1", H6_AS4).build_l4(&udp(1, 2, &[]));
    assert_eq!(run(&s, &q), Out::Drop(DropReason::Untranslatable));
}

#[test]
fn rfc6052_4_2_wkp_checksum_neutral() {
    // Both addresses through the WKP: the UDP checksum does not change.
    let s = wkp_siit(false);
    let p = V6::new(17, "64:ff9b::203.0.113.1", "64:ff9b::198.51.100.2")
        .build_l4(&udp(7, 9, b"neutral"));
    let out = run(&s, &p).fwd();
    assert_eq!(be16(&out, 26), be16(&p, 46));
    assert!(checksums_ok_v4(&out));
}

/// 6052-§2.2-1: the Well-Known Prefix exists only as a /96; 64:ff9b:: with another allowed
/// length is refused rather than taken for a Network-Specific Prefix.
#[test]
fn rfc6052_2_2_1_well_known_prefix_only_as_96() {
    let wkp: std::net::Ipv6Addr = "64:ff9b::".parse().unwrap();
    for len in [32, 40, 48, 56, 64] {
        assert_eq!(
            Pref64::new(wkp, len),
            Err(Pref64Error::WellKnownNot96),
            "/{len}"
        );
    }
    assert_eq!(Pref64::new(wkp, 96), Ok(Pref64::WELL_KNOWN));
}
