//! The ICMPv6 errors the NAT64 itself owes an IPv6 host ([RFC 6146 § 3.4], § 3.5.1.1,
//! § 3.5.2.2): Destination Unreachable code 3 when no binding can be made, code 4 for a
//! protocol it does not translate or a stored SYN that got no answer. They come from the
//! translator's own IPv6 address and quote as much of the packet as fits in 1280 bytes
//! ([RFC 4443 § 2.4]). (Its ICMPv4 errors are [`crate::icmp_error::write_error`]'s.)
//!
//! [RFC 6146 § 3.4]: https://www.rfc-editor.org/rfc/rfc6146#section-3.4
//! [RFC 4443 § 2.4]: https://www.rfc-editor.org/rfc/rfc4443#section-2.4

use crate::checksum;
use crate::wire::{PacketInfo, Transport, icmp, ipv6};
use core::net::Ipv6Addr;

/// An ICMPv6 error's IPv6 header plus ICMPv6 header.
pub(crate) const ERROR6_OVERHEAD: usize = ipv6::HEADER_LEN + icmp::HEADER_LEN;
/// The largest ICMPv6 error, quote included ([RFC 4443 § 2.4] (c)).
///
/// [RFC 4443 § 2.4]: https://www.rfc-editor.org/rfc/rfc4443#section-2.4
const MAX_ERROR6_LEN: usize = 1280;
/// ICMPv6 next header.
const ICMPV6: u8 = 58;

/// Whether an ICMPv6 error may be sent about this packet ([RFC 4443 § 2.4] (e)): not about an
/// ICMPv6 error or a fragment without its header, not to an address that names no single
/// host, not about a packet sent to a multicast address.
///
/// [RFC 4443 § 2.4]: https://www.rfc-editor.org/rfc/rfc4443#section-2.4
pub(crate) fn may_answer6(info: &PacketInfo<Ipv6Addr>) -> bool {
    !matches!(
        info.transport,
        Transport::IcmpError { .. } | Transport::LaterFragment
    ) && !info.src.is_unspecified()
        && !info.src.is_multicast()
        && !info.src.is_loopback()
        && !info.dst.is_multicast()
}

/// Replaces the IPv6 packet at `buf[start..start + len]` by an ICMPv6 error from `own` to the
/// packet's source. The error is built in the headroom before `start` when there are
/// [`ERROR6_OVERHEAD`] bytes of it, else by moving the quote right. Returns the error's
/// `(start, len)`, or `None` when the buffer has no room.
pub(crate) fn icmpv6_error(
    buf: &mut [u8],
    start: usize,
    len: usize,
    own: Ipv6Addr,
    icmp_type: u8,
    code: u8,
    rest: [u8; 4],
) -> Option<(usize, usize)> {
    let end = start.checked_add(len)?;
    let pkt = buf.get(start..end)?;
    let dst_bytes: [u8; 16] = pkt.get(ipv6::SRC_ADDR)?.try_into().ok()?;
    let dst = Ipv6Addr::from(dst_bytes);
    let quote = len.min(MAX_ERROR6_LEN - ERROR6_OVERHEAD);
    let at = if start >= ERROR6_OVERHEAD {
        start - ERROR6_OVERHEAD
    } else if buf.len() >= start + ERROR6_OVERHEAD + quote {
        buf.copy_within(start..start + quote, start + ERROR6_OVERHEAD);
        start
    } else {
        return None;
    };
    let total = ERROR6_OVERHEAD + quote;
    let plen = (total - ipv6::HEADER_LEN) as u16;
    let out = &mut buf[at..at + total];
    let h = &mut out[..ipv6::HEADER_LEN];
    h[..4].copy_from_slice(&[0x60, 0, 0, 0]);
    h[ipv6::PAYLOAD_LEN].copy_from_slice(&plen.to_be_bytes());
    h[ipv6::NEXT_HEADER] = ICMPV6;
    h[ipv6::HOP_LIMIT] = 64;
    h[ipv6::SRC_ADDR].copy_from_slice(&own.octets());
    h[ipv6::DST_ADDR].copy_from_slice(&dst.octets());
    let m = &mut out[ipv6::HEADER_LEN..];
    m[icmp::TYPE] = icmp_type;
    m[icmp::CODE] = code;
    m[icmp::REST].copy_from_slice(&rest);
    let pseudo = checksum::pseudo_header_v6(own, dst, ICMPV6, u32::from(plen));
    checksum::fill(m, icmp::CHECKSUM.start, pseudo)?;
    Some((at, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_quotes_the_packet_with_a_valid_checksum() {
        let own: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let src: Ipv6Addr = "2001:db8::5".parse().unwrap();
        let mut pkt = [0u8; 48];
        pkt[0] = 0x60;
        pkt[5] = 8;
        pkt[6] = 17;
        pkt[7] = 64;
        pkt[8..24].copy_from_slice(&src.octets());
        let mut buf = [0u8; 48 + 48];
        buf[48..].copy_from_slice(&pkt);
        let (at, len) = icmpv6_error(&mut buf, 48, 48, own, 1, 4, [0; 4]).unwrap();
        assert_eq!((at, len), (0, 96));
        assert_eq!(&buf[8..24], &own.octets());
        assert_eq!(&buf[24..40], &src.octets());
        assert_eq!((buf[40], buf[41]), (1, 4));
        assert_eq!(&buf[48..], &pkt);
        let ph = checksum::pseudo_header_v6(own, src, 58, 56);
        assert!(checksum::verify(ph, &buf[40..96]));
        // Without headroom the quote moves right, or there is no room at all.
        let mut tight = [0u8; 96];
        tight[..48].copy_from_slice(&pkt);
        assert_eq!(
            icmpv6_error(&mut tight, 0, 48, own, 1, 4, [0; 4]),
            Some((0, 96))
        );
        let mut small = [0u8; 60];
        small[..48].copy_from_slice(&pkt);
        assert_eq!(icmpv6_error(&mut small, 0, 48, own, 1, 4, [0; 4]), None);
    }
}
