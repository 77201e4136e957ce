//! The ICMPv4 errors a translator owes ([RFC 5508 § 6], [RFC 4787] REQ-13, [RFC 5382] REQ-4,
//! [RFC 6888] REQ-11), written in place in the caller's buffer, and the rate limit that keeps
//! them from becoming an amplifier ([RFC 1812 § 4.3.2.8]).
//!
//! [RFC 5508 § 6]: https://www.rfc-editor.org/rfc/rfc5508#section-6
//! [RFC 4787]: https://www.rfc-editor.org/rfc/rfc4787
//! [RFC 5382]: https://www.rfc-editor.org/rfc/rfc5382
//! [RFC 6888]: https://www.rfc-editor.org/rfc/rfc6888
//! [RFC 1812 § 4.3.2.8]: https://www.rfc-editor.org/rfc/rfc1812#section-4.3.2.8
//! [RFC 5508 § 7.7]: https://www.rfc-editor.org/rfc/rfc5508#section-7.7

use crate::checksum;
use crate::time::Instant;
use crate::wire::{PacketInfo, Transport, icmp, ipv4};
use core::net::Ipv4Addr;

/// An ICMPv4 error's IP header plus ICMP header.
pub const ERROR_OVERHEAD: usize = ipv4::HEADER_LEN + icmp::HEADER_LEN;
/// An ICMPv4 error is at most 576 bytes, quote included ([RFC 1812 § 4.3.2.3]).
///
/// [RFC 1812 § 4.3.2.3]: https://www.rfc-editor.org/rfc/rfc1812#section-4.3.2.3
pub const MAX_ERROR_LEN: usize = 576;

/// A token bucket: `per_sec` errors a second on average, `burst` at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimiter {
    per_sec: u32,
    burst: u32,
    /// Tokens times 1000, so that refills of less than one token per call still count.
    milli_tokens: u64,
    last: Instant,
}

impl RateLimiter {
    /// A full bucket.
    pub const fn new(per_sec: u32, burst: u32) -> Self {
        RateLimiter {
            per_sec,
            burst,
            milli_tokens: burst as u64 * 1000,
            last: Instant::ZERO,
        }
    }

    /// Takes a token if one is left at `now`.
    pub fn allow(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_since(self.last).as_millis() as u64;
        self.last = self.last.max(now);
        let cap = u64::from(self.burst) * 1000;
        self.milli_tokens =
            (self.milli_tokens + elapsed.saturating_mul(u64::from(self.per_sec))).min(cap);
        if self.milli_tokens >= 1000 {
            self.milli_tokens -= 1000;
            true
        } else {
            false
        }
    }
}

/// Whether an ICMP error may be sent about this packet ([RFC 1812 § 4.3.2.7]): never about an
/// ICMP error, a fragment other than the first, or a packet from an address that does not name
/// one host.
///
/// [RFC 1812 § 4.3.2.7]: https://www.rfc-editor.org/rfc/rfc1812#section-4.3.2.7
pub fn may_answer(info: &PacketInfo<Ipv4Addr>) -> bool {
    let src = info.src;
    !matches!(
        info.transport,
        Transport::IcmpError { .. } | Transport::LaterFragment
    ) && !src.is_unspecified()
        && !src.is_broadcast()
        && !src.is_multicast()
        && !src.is_loopback()
        && !info.dst.is_broadcast()
        && !info.dst.is_multicast()
}

/// Replaces the IPv4 packet at `buf[start..start + len]` by an ICMPv4 error from `src` to the
/// packet's source, quoting as much of it as fits in 576 bytes, in the packet's diffserv class
/// ([RFC 5508 § 7.7]). The error is built in the headroom before `start` when there are
/// [`ERROR_OVERHEAD`] bytes of it, else by moving the quote towards the end of the buffer. Returns the error's `(start, len)`, or `None` when the
/// buffer has no room.
pub fn write_error(
    buf: &mut [u8],
    start: usize,
    len: usize,
    src: Ipv4Addr,
    icmp_type: u8,
    code: u8,
    rest: [u8; 4],
) -> Option<(usize, usize)> {
    let end = start.checked_add(len)?;
    let pkt = buf.get(start..end)?;
    if pkt.len() < ipv4::HEADER_LEN {
        return None;
    }
    let dst = ipv4::addr(pkt, ipv4::SRC_ADDR.start);
    // The error travels in the diffserv class of the packet it answers ([RFC 5508 § 7.7]);
    // ECN is not copied.
    let dscp = pkt[ipv4::TOS] & 0xfc;
    let quote_len = len.min(MAX_ERROR_LEN - ERROR_OVERHEAD);
    let at = if start >= ERROR_OVERHEAD {
        start - ERROR_OVERHEAD
    } else if buf.len() >= start + ERROR_OVERHEAD + quote_len {
        buf.copy_within(start..start + quote_len, start + ERROR_OVERHEAD);
        start
    } else {
        return None;
    };
    let total = ERROR_OVERHEAD + quote_len;
    let out = &mut buf[at..at + total];
    let h = &mut out[..ipv4::HEADER_LEN];
    h.fill(0);
    h[ipv4::VER_IHL] = 0x45;
    h[ipv4::TOS] = dscp;
    h[ipv4::LENGTH].copy_from_slice(&(total as u16).to_be_bytes());
    h[ipv4::TTL] = 64;
    h[ipv4::PROTOCOL] = 1;
    h[ipv4::SRC_ADDR].copy_from_slice(&src.octets());
    h[ipv4::DST_ADDR].copy_from_slice(&dst.octets());
    let c = checksum::checksum(h);
    h[ipv4::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    let m = &mut out[ipv4::HEADER_LEN..];
    m[icmp::TYPE] = icmp_type;
    m[icmp::CODE] = code;
    m[icmp::REST].copy_from_slice(&rest);
    checksum::fill(m, icmp::CHECKSUM.start, 0)?;
    Some((at, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limiter_refills_over_time() {
        let mut r = RateLimiter::new(10, 2);
        let t = Instant::from_secs(100);
        assert!(r.allow(t) && r.allow(t));
        assert!(!r.allow(t));
        // 100 ms at 10/s is one token.
        assert!(r.allow(Instant::from_millis(100_100)));
        assert!(!r.allow(Instant::from_millis(100_100)));
    }

    #[test]
    fn error_built_in_headroom_quotes_the_packet() {
        let mut buf = [0u8; 28 + 40];
        let pkt = [
            0x45, 0, 0, 40, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 2, 203, 0, 113, 2, 0x13, 0x88, 0,
            53, 0, 20, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
        ];
        buf[28..].copy_from_slice(&pkt);
        let src = Ipv4Addr::new(10, 0, 0, 1);
        let (at, len) = write_error(&mut buf, 28, 40, src, 3, 13, [0; 4]).unwrap();
        assert_eq!((at, len), (0, 68));
        assert_eq!(&buf[16..20], &[10, 0, 0, 2]);
        assert_eq!(&buf[12..16], &[10, 0, 0, 1]);
        assert_eq!((buf[20], buf[21]), (3, 13));
        assert_eq!(&buf[28..], &pkt);
        assert!(checksum::verify(0, &buf[..20]));
        assert!(checksum::verify(0, &buf[20..68]));
    }

    #[test]
    fn error_without_headroom_moves_the_quote_or_gives_up() {
        let pkt = [
            0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 2, 203, 0, 113, 2,
        ];
        let mut buf = [0u8; 48];
        buf[..20].copy_from_slice(&pkt);
        let (at, len) =
            write_error(&mut buf, 0, 20, Ipv4Addr::new(10, 0, 0, 1), 11, 0, [0; 4]).unwrap();
        assert_eq!((at, len), (0, 48));
        assert_eq!(&buf[28..], &pkt);
        let mut small = [0u8; 30];
        small[..20].copy_from_slice(&pkt);
        assert_eq!(
            write_error(&mut small, 0, 20, Ipv4Addr::new(10, 0, 0, 1), 11, 0, [0; 4]),
            None
        );
    }
}
