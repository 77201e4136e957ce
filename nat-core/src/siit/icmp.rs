//! ICMP type, code and pointer translation ([RFC 7915 § 4.2], [§ 5.2]) and the MTU arithmetic
//! of Packet Too Big and Fragmentation Needed (with the [RFC 1191] plateaus).
//!
//! These are pure functions over header fields; the packet surgery lives in the translators.
//! The tables are those of `ICMP_MAP.md` in the conformance folder, one test per row.
//!
//! [RFC 7915 § 4.2]: https://www.rfc-editor.org/rfc/rfc7915#section-4.2
//! [§ 5.2]: https://www.rfc-editor.org/rfc/rfc7915#section-5.2
//! [RFC 1191]: https://www.rfc-editor.org/rfc/rfc1191

/// The first 8 bytes of an ICMP message without its checksum: type, code and the 4-byte
/// "rest of header" (identifier and sequence, pointer, MTU or unused).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcmpHeader {
    /// Type.
    pub icmp_type: u8,
    /// Code.
    pub code: u8,
    /// Bytes 4..8.
    pub rest: [u8; 4],
}

impl IcmpHeader {
    /// A header from its fields.
    pub const fn new(icmp_type: u8, code: u8, rest: [u8; 4]) -> Self {
        IcmpHeader {
            icmp_type,
            code,
            rest,
        }
    }
}

/// What kind of message a translated ICMP header starts, which decides how its body is handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcmpClass {
    /// Echo Request or Reply: the body is carried unchanged, the checksum updated.
    Query,
    /// An error quoting a packet, which is translated in turn ([RFC 7915 § 4.3], § 5.3).
    ///
    /// [RFC 7915 § 4.3]: https://www.rfc-editor.org/rfc/rfc7915#section-4.3
    Error {
        /// Both message types carry an [RFC 4884] length attribute, so extensions are kept.
        ///
        /// [RFC 4884]: https://www.rfc-editor.org/rfc/rfc4884
        extensions: bool,
        /// Packet Too Big / Fragmentation Needed: the MTU in `rest` is still to be computed.
        mtu: bool,
    },
}

/// A translated ICMP header and its class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translated {
    /// The header to write (checksum aside).
    pub header: IcmpHeader,
    /// How to treat the message body.
    pub class: IcmpClass,
}

const fn err(icmp_type: u8, code: u8, rest: [u8; 4], extensions: bool, mtu: bool) -> Translated {
    Translated {
        header: IcmpHeader::new(icmp_type, code, rest),
        class: IcmpClass::Error { extensions, mtu },
    }
}

/// The Parameter Problem pointer of Figure 3 ([RFC 7915 § 4.2]): an IPv4 header offset to the
/// IPv6 header offset of the same field, or `None` where the table says "n/a" or has no row.
///
/// [RFC 7915 § 4.2]: https://www.rfc-editor.org/rfc/rfc7915#section-4.2
pub const fn pointer_4to6(p: u8) -> Option<u8> {
    match p {
        0 => Some(0),
        1 => Some(1),
        2 | 3 => Some(4),
        8 => Some(7),
        9 => Some(6),
        12..=15 => Some(8),
        16..=19 => Some(24),
        _ => None,
    }
}

/// The Parameter Problem pointer of Figure 6 ([RFC 7915 § 5.2]): an IPv6 header offset to the
/// IPv4 header offset of the same field, or `None` where the table says "n/a" or has no row.
///
/// [RFC 7915 § 5.2]: https://www.rfc-editor.org/rfc/rfc7915#section-5.2
pub const fn pointer_6to4(p: u32) -> Option<u8> {
    match p {
        0 => Some(0),
        1 => Some(1),
        4 | 5 => Some(2),
        6 => Some(9),
        7 => Some(8),
        8..=23 => Some(12),
        24..=39 => Some(16),
        _ => None,
    }
}

/// Translates an ICMPv4 header to ICMPv6 ([RFC 7915 § 4.2]); `None` means "silently drop".
///
/// The MTU of Fragmentation Needed → Packet Too Big is left at 0 for the caller, who knows the
/// next-hop MTUs ([`ptb_mtu_4to6`]).
///
/// [RFC 7915 § 4.2]: https://www.rfc-editor.org/rfc/rfc7915#section-4.2
pub const fn icmp4_to_icmp6(h: IcmpHeader) -> Option<Translated> {
    const Z: [u8; 4] = [0; 4];
    Some(match (h.icmp_type, h.code) {
        (8, c) => Translated {
            header: IcmpHeader::new(128, c, h.rest),
            class: IcmpClass::Query,
        },
        (0, c) => Translated {
            header: IcmpHeader::new(129, c, h.rest),
            class: IcmpClass::Query,
        },
        (3, 0 | 1 | 5..=8 | 11 | 12) => err(1, 0, Z, true, false),
        (3, 2) => err(4, 1, [0, 0, 0, 6], false, false),
        (3, 3) => err(1, 4, Z, true, false),
        (3, 4) => err(2, 0, Z, false, true),
        (3, 9 | 10 | 13 | 15) => err(1, 1, Z, true, false),
        (11, c) => err(3, c, Z, true, false),
        (12, 0 | 2) => match pointer_4to6(h.rest[0]) {
            Some(p) => err(4, 0, [0, 0, 0, p], false, false),
            None => return None,
        },
        _ => return None,
    })
}

/// Translates an ICMPv6 header to ICMPv4 ([RFC 7915 § 5.2]); `None` means "silently drop".
///
/// The MTU of Packet Too Big → Fragmentation Needed is left at 0 for the caller
/// ([`frag_needed_mtu_6to4`]). Parameter Problem codes other than 0 and 1 are dropped: § 5.2
/// names code 2 and says nothing of later codes (`ICMP_MAP.md` § B.2).
///
/// [RFC 7915 § 5.2]: https://www.rfc-editor.org/rfc/rfc7915#section-5.2
pub const fn icmp6_to_icmp4(h: IcmpHeader) -> Option<Translated> {
    const Z: [u8; 4] = [0; 4];
    Some(match (h.icmp_type, h.code) {
        (128, c) => Translated {
            header: IcmpHeader::new(8, c, h.rest),
            class: IcmpClass::Query,
        },
        (129, c) => Translated {
            header: IcmpHeader::new(0, c, h.rest),
            class: IcmpClass::Query,
        },
        (1, 0 | 2 | 3) => err(3, 1, Z, true, false),
        (1, 1) => err(3, 10, Z, true, false),
        (1, 4) => err(3, 3, Z, true, false),
        (2, _) => err(3, 4, Z, false, true),
        (3, c) => err(11, c, Z, true, false),
        (4, 0) => match pointer_6to4(u32::from_be_bytes(h.rest)) {
            Some(p) => err(12, 0, [p, 0, 0, 0], false, false),
            None => return None,
        },
        (4, 1) => err(3, 2, Z, false, false),
        _ => return None,
    })
}

/// The [RFC 1191 § 7] table of plateaus, largest first.
///
/// [RFC 1191 § 7]: https://www.rfc-editor.org/rfc/rfc1191#section-7
pub const PLATEAUS: [u16; 11] = [
    65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68,
];

/// The minimum IPv6 MTU ([RFC 8200 § 5]).
///
/// [RFC 8200 § 5]: https://www.rfc-editor.org/rfc/rfc8200#section-5
pub const IPV6_MIN_MTU: u16 = 1280;

/// The likely path MTU when an IPv4 router sent Fragmentation Needed with MTU 0: the greatest
/// plateau below the quoted Total Length that is at least 1280 ([RFC 7915 § 4.2]); `None` if
/// there is none (`ICMP_MAP.md` § D, ambiguity 2).
///
/// [RFC 7915 § 4.2]: https://www.rfc-editor.org/rfc/rfc7915#section-4.2
pub const fn plateau_mtu(total_len: u16) -> Option<u16> {
    let mut i = 0;
    while i < PLATEAUS.len() {
        let p = PLATEAUS[i];
        if p < total_len {
            return if p >= IPV6_MIN_MTU { Some(p) } else { None };
        }
        i += 1;
    }
    None
}

const fn min3(a: u32, b: u32, c: u32) -> u32 {
    let m = if a < b { a } else { b };
    if m < c { m } else { c }
}

/// The Packet Too Big MTU for a translated Fragmentation Needed ([RFC 7915 § 4.2]):
/// `max(1280, min(MTU + 20, MTU_of_IPv6_nexthop, MTU_of_IPv4_nexthop + 20))`.
///
/// For an MTU field of 0 the plateau of [`plateau_mtu`] stands in for `MTU + 20`: the RFC says
/// to "include that path MTU in the ICMPv6 packet", so the plateau is not raised by 20 (the
/// literal reading of `ICMP_MAP.md` § D, ambiguity 1); with no plateau the result is 1280.
///
/// [RFC 7915 § 4.2]: https://www.rfc-editor.org/rfc/rfc7915#section-4.2
pub const fn ptb_mtu_4to6(mtu: u16, total_len: u16, ipv6_mtu: u16, ipv4_mtu: u16) -> u32 {
    let path = if mtu == 0 {
        match plateau_mtu(total_len) {
            Some(p) => p as u32,
            None => IPV6_MIN_MTU as u32,
        }
    } else {
        mtu as u32 + 20
    };
    let m = min3(path, ipv6_mtu as u32, ipv4_mtu as u32 + 20);
    if m < IPV6_MIN_MTU as u32 {
        IPV6_MIN_MTU as u32
    } else {
        m
    }
}

/// The Fragmentation Needed MTU for a translated Packet Too Big ([RFC 7915 § 5.2]):
/// `min(MTU - 20, MTU_of_IPv4_nexthop, MTU_of_IPv6_nexthop - 20)`, with no floor (none is
/// stated), saturating at 0 and clamped to 16 bits.
///
/// [RFC 7915 § 5.2]: https://www.rfc-editor.org/rfc/rfc7915#section-5.2
pub const fn frag_needed_mtu_6to4(mtu: u32, ipv4_mtu: u16, ipv6_mtu: u16) -> u16 {
    let m = min3(
        mtu.saturating_sub(20),
        ipv4_mtu as u32,
        (ipv6_mtu as u32).saturating_sub(20),
    );
    if m > u16::MAX as u32 {
        u16::MAX
    } else {
        m as u16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(t: u8, c: u8) -> Option<(u8, u8)> {
        icmp4_to_icmp6(IcmpHeader::new(t, c, [0; 4])).map(|x| (x.header.icmp_type, x.header.code))
    }
    fn v6(t: u8, c: u8) -> Option<(u8, u8)> {
        icmp6_to_icmp4(IcmpHeader::new(t, c, [0; 4])).map(|x| (x.header.icmp_type, x.header.code))
    }

    /// One test per row of ICMP_MAP.md: `name, direction fn, (type, code) => expected`.
    macro_rules! rows {
        ($( $name:ident: $f:ident($t:expr, $c:expr) => $want:expr; )*) => {
            $( #[test] fn $name() { assert_eq!($f($t, $c), $want); } )*
        };
    }

    rows! {
        // A.1 ICMPv4 queries.
        icmp_map_4to6_echo_request: v4(8, 0) => Some((128, 0));
        icmp_map_4to6_echo_reply: v4(0, 0) => Some((129, 0));
        icmp_map_4to6_information_request_dropped: v4(15, 0) => None;
        icmp_map_4to6_information_reply_dropped: v4(16, 0) => None;
        icmp_map_4to6_timestamp_dropped: v4(13, 0) => None;
        icmp_map_4to6_timestamp_reply_dropped: v4(14, 0) => None;
        icmp_map_4to6_address_mask_request_dropped: v4(17, 0) => None;
        icmp_map_4to6_address_mask_reply_dropped: v4(18, 0) => None;
        icmp_map_4to6_router_advertisement_dropped: v4(9, 0) => None;
        icmp_map_4to6_router_solicitation_dropped: v4(10, 0) => None;
        icmp_map_4to6_unknown_type_dropped: v4(42, 0) => None;
        // A.2 ICMPv4 errors.
        icmp_map_4to6_dest_unreach_code_0_net_unreachable: v4(3, 0) => Some((1, 0));
        icmp_map_4to6_dest_unreach_code_1_host_unreachable: v4(3, 1) => Some((1, 0));
        icmp_map_4to6_dest_unreach_code_2_protocol_unreachable: v4(3, 2) => Some((4, 1));
        icmp_map_4to6_dest_unreach_code_3_port_unreachable: v4(3, 3) => Some((1, 4));
        icmp_map_4to6_dest_unreach_code_4_frag_needed: v4(3, 4) => Some((2, 0));
        icmp_map_4to6_dest_unreach_code_5_source_route_failed: v4(3, 5) => Some((1, 0));
        icmp_map_4to6_dest_unreach_code_6_net_unknown: v4(3, 6) => Some((1, 0));
        icmp_map_4to6_dest_unreach_code_7_host_unknown: v4(3, 7) => Some((1, 0));
        icmp_map_4to6_dest_unreach_code_8_source_host_isolated: v4(3, 8) => Some((1, 0));
        icmp_map_4to6_dest_unreach_code_9_net_prohibited: v4(3, 9) => Some((1, 1));
        icmp_map_4to6_dest_unreach_code_10_host_prohibited: v4(3, 10) => Some((1, 1));
        icmp_map_4to6_dest_unreach_code_11_net_unreachable_tos: v4(3, 11) => Some((1, 0));
        icmp_map_4to6_dest_unreach_code_12_host_unreachable_tos: v4(3, 12) => Some((1, 0));
        icmp_map_4to6_dest_unreach_code_13_admin_prohibited: v4(3, 13) => Some((1, 1));
        icmp_map_4to6_dest_unreach_code_14_host_precedence_dropped: v4(3, 14) => None;
        icmp_map_4to6_dest_unreach_code_15_precedence_cutoff: v4(3, 15) => Some((1, 1));
        icmp_map_4to6_dest_unreach_other_codes_dropped: v4(3, 16) => None;
        icmp_map_4to6_source_quench_dropped: v4(4, 0) => None;
        icmp_map_4to6_redirect_dropped: v4(5, 0) => None;
        icmp_map_4to6_alternative_host_address_dropped: v4(6, 0) => None;
        icmp_map_4to6_time_exceeded_code_0: v4(11, 0) => Some((3, 0));
        icmp_map_4to6_time_exceeded_code_1: v4(11, 1) => Some((3, 1));
        icmp_map_4to6_parameter_problem_code_0_pointer: v4(12, 0) => Some((4, 0));
        icmp_map_4to6_parameter_problem_code_1_missing_option_dropped: v4(12, 1) => None;
        icmp_map_4to6_parameter_problem_code_2_bad_length: v4(12, 2) => Some((4, 0));
        icmp_map_4to6_parameter_problem_other_codes_dropped: v4(12, 3) => None;
        // B.1 ICMPv6 informational.
        icmp_map_6to4_echo_request: v6(128, 0) => Some((8, 0));
        icmp_map_6to4_echo_reply: v6(129, 0) => Some((0, 0));
        icmp_map_6to4_mld_query_dropped: v6(130, 0) => None;
        icmp_map_6to4_mld_report_dropped: v6(131, 0) => None;
        icmp_map_6to4_mld_done_dropped: v6(132, 0) => None;
        icmp_map_6to4_router_solicitation_dropped: v6(133, 0) => None;
        icmp_map_6to4_router_advertisement_dropped: v6(134, 0) => None;
        icmp_map_6to4_neighbor_solicitation_dropped: v6(135, 0) => None;
        icmp_map_6to4_neighbor_advertisement_dropped: v6(136, 0) => None;
        icmp_map_6to4_redirect_dropped: v6(137, 0) => None;
        icmp_map_6to4_unknown_informational_dropped: v6(143, 0) => None;
        // B.2 ICMPv6 errors.
        icmp_map_6to4_dest_unreach_code_0_no_route: v6(1, 0) => Some((3, 1));
        icmp_map_6to4_dest_unreach_code_1_admin_prohibited: v6(1, 1) => Some((3, 10));
        icmp_map_6to4_dest_unreach_code_2_beyond_scope: v6(1, 2) => Some((3, 1));
        icmp_map_6to4_dest_unreach_code_3_address_unreachable: v6(1, 3) => Some((3, 1));
        icmp_map_6to4_dest_unreach_code_4_port_unreachable: v6(1, 4) => Some((3, 3));
        icmp_map_6to4_dest_unreach_other_codes_dropped: v6(1, 5) => None;
        icmp_map_6to4_packet_too_big: v6(2, 0) => Some((3, 4));
        icmp_map_6to4_time_exceeded_code_0: v6(3, 0) => Some((11, 0));
        icmp_map_6to4_time_exceeded_code_1: v6(3, 1) => Some((11, 1));
        icmp_map_6to4_parameter_problem_code_0_erroneous_field: v6(4, 0) => Some((12, 0));
        icmp_map_6to4_parameter_problem_code_1_unrecognized_next_header: v6(4, 1) => Some((3, 2));
        icmp_map_6to4_parameter_problem_code_2_unrecognized_option_dropped: v6(4, 2) => None;
        icmp_map_6to4_parameter_problem_other_codes_dropped: v6(4, 3) => None;
        icmp_map_6to4_unknown_error_dropped: v6(5, 0) => None;
    }

    #[test]
    fn icmp_map_4to6_protocol_unreachable_points_at_next_header() {
        let t = icmp4_to_icmp6(IcmpHeader::new(3, 2, [0; 4])).unwrap();
        assert_eq!(u32::from_be_bytes(t.header.rest), 6);
    }

    #[test]
    fn icmp_map_echo_keeps_identifier_and_sequence() {
        let t = icmp4_to_icmp6(IcmpHeader::new(8, 0, [0, 1, 0, 2])).unwrap();
        assert_eq!(t.header.rest, [0, 1, 0, 2]);
        let t = icmp6_to_icmp4(IcmpHeader::new(129, 0, [9, 8, 7, 6])).unwrap();
        assert_eq!(t.header.rest, [9, 8, 7, 6]);
    }

    /// Figure 3, one check per listed value; unlisted and "n/a" values drop.
    #[test]
    fn icmp_map_pointer_figure_3_4to6() {
        let want: [(u8, Option<u8>); 21] = [
            (0, Some(0)),
            (1, Some(1)),
            (2, Some(4)),
            (3, Some(4)),
            (4, None),
            (5, None),
            (6, None),
            (7, None),
            (8, Some(7)),
            (9, Some(6)),
            (10, None),
            (11, None),
            (12, Some(8)),
            (13, Some(8)),
            (14, Some(8)),
            (15, Some(8)),
            (16, Some(24)),
            (17, Some(24)),
            (18, Some(24)),
            (19, Some(24)),
            (20, None),
        ];
        for (p, w) in want {
            assert_eq!(pointer_4to6(p), w, "pointer {p}");
            let t = icmp4_to_icmp6(IcmpHeader::new(12, 0, [p, 0, 0, 0]));
            assert_eq!(t.map(|t| t.header.rest[3]), w, "message with pointer {p}");
        }
    }

    /// Figure 6, one check per listed value; unlisted and "n/a" values drop.
    #[test]
    fn icmp_map_pointer_figure_6_6to4() {
        for p in 0..=45u32 {
            let w = match p {
                0 => Some(0),
                1 => Some(1),
                2 | 3 => None,
                4 | 5 => Some(2),
                6 => Some(9),
                7 => Some(8),
                8..=23 => Some(12),
                24..=39 => Some(16),
                _ => None,
            };
            assert_eq!(pointer_6to4(p), w, "pointer {p}");
            let t = icmp6_to_icmp4(IcmpHeader::new(4, 0, p.to_be_bytes()));
            assert_eq!(t.map(|t| t.header.rest[0]), w, "message with pointer {p}");
        }
    }

    /// ICMP_MAP.md § D.1 vectors.
    #[test]
    fn rfc7915_4_2_ptb_mtu_vectors() {
        assert_eq!(ptb_mtu_4to6(1400, 1500, 1500, 1500), 1420);
        assert_eq!(ptb_mtu_4to6(1000, 1500, 1500, 1500), 1280);
        assert_eq!(ptb_mtu_4to6(1500, 1500, 1450, 1500), 1450);
        assert_eq!(ptb_mtu_4to6(1500, 1500, 9000, 1400), 1420);
        // The Jool vectors: 1261/1260/1259 -> 1281/1280/1280.
        assert_eq!(ptb_mtu_4to6(1261, 1262, 1500, 1500), 1281);
        assert_eq!(ptb_mtu_4to6(1260, 1262, 1500, 1500), 1280);
        assert_eq!(ptb_mtu_4to6(1259, 1262, 1500, 1500), 1280);
    }

    #[test]
    fn rfc7915_4_2_plat_mtu_zero_uses_plateaus() {
        assert_eq!(ptb_mtu_4to6(0, 1500, 1500, 1500), 1492);
        assert_eq!(ptb_mtu_4to6(0, 9000, 9000, 9000), 8166);
        // No plateau in [1280, 1300): the 1280 floor.
        assert_eq!(ptb_mtu_4to6(0, 1300, 1500, 1500), 1280);
        // Still bounded by the next hops.
        assert_eq!(ptb_mtu_4to6(0, 9000, 1500, 9000), 1500);
    }

    #[test]
    fn rfc1191_plateaus_greatest_below_total_length() {
        assert_eq!(plateau_mtu(1500), Some(1492));
        assert_eq!(plateau_mtu(1492), None);
        assert_eq!(plateau_mtu(2003), Some(2002));
        assert_eq!(plateau_mtu(2002), Some(1492));
        assert_eq!(plateau_mtu(65535), Some(32000));
        assert_eq!(plateau_mtu(u16::MAX), Some(32000));
        assert_eq!(plateau_mtu(1280), None);
        assert_eq!(plateau_mtu(0), None);
    }

    /// ICMP_MAP.md § D.2 vectors.
    #[test]
    fn rfc7915_5_2_ptb_mtu_vectors() {
        assert_eq!(frag_needed_mtu_6to4(1400, 1500, 1500), 1380);
        assert_eq!(frag_needed_mtu_6to4(1280, 1500, 1500), 1260);
        assert_eq!(frag_needed_mtu_6to4(1500, 1400, 1500), 1400);
        assert_eq!(frag_needed_mtu_6to4(9000, 9000, 1500), 1480);
        assert_eq!(frag_needed_mtu_6to4(10, 1500, 1500), 0);
        assert_eq!(frag_needed_mtu_6to4(u32::MAX, u16::MAX, u16::MAX), 65515);
    }
}
