//! The layout of a translated ICMP error: where the quoted packet and any [RFC 4884] extension
//! go, how much of the quote survives the size limit (576 bytes for ICMPv4, 1280 for ICMPv6),
//! and the moving of bytes that makes it so, in place.
//!
//! Without an extension the quote is simply truncated. With one ([RFC 7915 § 4.2], § 5.2: the
//! length attribute "MUST be adjusted"), the quoted packet is cut to a multiple of the target
//! unit (4 bytes in ICMPv4, 8 in ICMPv6) and padded to 128 bytes, and the extension is kept
//! whole after it; an extension that cannot fit beside 128 bytes of quote is removed ("SHOULD be
//! simply truncated"). This matches the behaviour of the Jool peer suite.
//!
//! [RFC 4884]: https://www.rfc-editor.org/rfc/rfc4884
//! [RFC 7915 § 4.2]: https://www.rfc-editor.org/rfc/rfc7915#section-4.2

use super::header::shift;
use crate::verdict::DropReason;

/// The quote of an incoming ICMP error, in absolute buffer offsets.
#[derive(Clone, Copy, Debug)]
pub(crate) struct QuoteIn {
    /// Offset of the ICMP header.
    pub(crate) icmp_at: usize,
    /// End of the packet.
    pub(crate) end: usize,
    /// Length of the quoted packet's IP header(s).
    pub(crate) inner_hdr: usize,
    /// The RFC 4884 length attribute in bytes (0: none, or the message type has none).
    pub(crate) ipl: usize,
}

/// The shape of the outgoing ICMP error.
#[derive(Clone, Copy, Debug)]
pub(crate) struct QuoteOut {
    /// Length of the outer IP header.
    pub(crate) outer_hdr: usize,
    /// Length of the translated quoted IP header(s).
    pub(crate) inner_hdr: usize,
    /// Largest packet to emit.
    pub(crate) max: usize,
    /// Unit of the length attribute: 4 (ICMPv4) or 8 (ICMPv6).
    pub(crate) unit: usize,
}

/// Where everything goes (absolute offsets), computed before any byte moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Start of the translated packet.
    pub(crate) start: usize,
    /// Its length.
    pub(crate) len: usize,
    /// The quoted packet's bytes after its IP header(s), in and out.
    pub(crate) rest_in: usize,
    pub(crate) rest_out: usize,
    pub(crate) rest_len: usize,
    /// Zero bytes after the quote (RFC 4884 minimum of 128).
    pub(crate) pad: usize,
    /// The extension, in and out.
    pub(crate) ext_in: usize,
    pub(crate) ext_out: usize,
    pub(crate) ext_len: usize,
    /// The length attribute to write, in units (0 when there is no extension).
    pub(crate) attr: u8,
}

/// The RFC 4884 minimum length of the "original datagram" field when an extension follows.
const MIN_ORIGINAL: usize = 128;

/// Plans the translated error; `buf_len` bounds where it may go. Fails on an inconsistent
/// length attribute or when the buffer cannot hold the result.
pub(crate) fn plan(q: QuoteIn, o: QuoteOut, buf_len: usize) -> Result<Layout, DropReason> {
    let quote_at = q.icmp_at + 8;
    let rest_in = quote_at + q.inner_hdr;
    let quote_len = q.end.checked_sub(quote_at).ok_or(DropReason::Truncated)?;
    let all_rest = q.end.checked_sub(rest_in).ok_or(DropReason::Truncated)?;
    let h = o.outer_hdr + 8;
    let room = o.max.saturating_sub(h + o.inner_hdr);
    let (rest_len, pad, ext_len, attr, ext_in) = if q.ipl == 0 || q.ipl == quote_len {
        (all_rest.min(room), 0, 0, 0, q.end)
    } else {
        if q.ipl > quote_len || q.ipl < q.inner_hdr {
            return Err(DropReason::BadHeaderLength);
        }
        let ext = quote_len - q.ipl;
        let translated = q.ipl - q.inner_hdr + o.inner_hdr;
        if ext + h + MIN_ORIGINAL > o.max {
            // The extension cannot fit: drop it, keep as much quote as fits.
            let ipl = (h + translated).min(o.max) - h;
            (ipl - o.inner_hdr, 0, 0, 0, q.end)
        } else {
            let ipl = ((h + translated + ext).min(o.max) - ext - h) & !(o.unit - 1);
            let pad = MIN_ORIGINAL.saturating_sub(ipl);
            let attr = (ipl + pad) / o.unit;
            (ipl - o.inner_hdr, pad, ext, attr, quote_at + q.ipl)
        }
    };
    let len = h + o.inner_hdr + rest_len + pad + ext_len;
    // In place if the headers fit in front of the quote and the whole fits the buffer; else
    // as far right as the buffer allows (the moves below work in either direction).
    let natural = rest_in.saturating_sub(h + o.inner_hdr);
    let start = if natural + len <= buf_len {
        natural
    } else {
        buf_len.checked_sub(len).ok_or(DropReason::NoRoom)?
    };
    let rest_out = start + h + o.inner_hdr;
    Ok(Layout {
        start,
        len,
        rest_in,
        rest_out,
        rest_len,
        pad,
        ext_in,
        ext_out: rest_out + rest_len + pad,
        ext_len,
        attr: u8::try_from(attr).unwrap_or(u8::MAX),
    })
}

/// Moves the quote and the extension to their planned places and zeroes the padding. The
/// extension always follows the quote, in and out; moving the extension first when it goes
/// right, and the quote first otherwise, keeps each source intact until it is read.
pub(crate) fn apply(buf: &mut [u8], l: &Layout) -> Option<()> {
    if l.ext_len > 0 && l.ext_out > l.ext_in {
        shift(buf, l.ext_in, l.ext_len, l.ext_out)?;
        shift(buf, l.rest_in, l.rest_len, l.rest_out)?;
    } else {
        shift(buf, l.rest_in, l.rest_len, l.rest_out)?;
        shift(buf, l.ext_in, l.ext_len, l.ext_out)?;
    }
    let pad_at = l.rest_out + l.rest_len;
    buf.get_mut(pad_at..pad_at + l.pad)?.fill(0);
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const V6OUT: QuoteOut = QuoteOut {
        outer_hdr: 40,
        inner_hdr: 40,
        max: 1280,
        unit: 8,
    };
    const V4OUT: QuoteOut = QuoteOut {
        outer_hdr: 20,
        inner_hdr: 20,
        max: 576,
        unit: 4,
    };

    fn v4_in(total: usize, ipl_words: usize) -> QuoteIn {
        QuoteIn {
            icmp_at: 100 + 20,
            end: 100 + total,
            inner_hdr: 20,
            ipl: ipl_words * 4,
        }
    }

    fn v6_in(total: usize, ipl_words: usize) -> QuoteIn {
        QuoteIn {
            icmp_at: 100 + 40,
            end: 100 + total,
            inner_hdr: 40,
            ipl: ipl_words * 8,
        }
    }

    #[test]
    fn no_extension_truncates_to_1280() {
        let l = plan(v4_in(1500, 0), V6OUT, 4000).unwrap();
        assert_eq!(l.len, 1280);
        assert_eq!((l.pad, l.ext_len, l.attr), (0, 0, 0));
        let l = plan(v4_in(400, 0), V6OUT, 4000).unwrap();
        assert_eq!(l.len, 440);
    }

    #[test]
    fn rfc7915_4_2_ext_length_reexpressed_in_64_bit_words() {
        // 132-byte original datagram + 20-byte extension: 33 words of 4 -> 19 words of 8.
        let l = plan(v4_in(180, 33), V6OUT, 4000).unwrap();
        assert_eq!((l.len, l.attr, l.ext_len), (220, 19, 20));
        // 128 bytes (126 of packet): 148 translated, cut to 144 -> 18 words.
        let l = plan(v4_in(176, 32), V6OUT, 4000).unwrap();
        assert_eq!((l.len, l.attr), (212, 18));
    }

    #[test]
    fn rfc7915_5_2_ext_length_shorter_and_padded_to_128() {
        let l = plan(v6_in(196, 16), V4OUT, 4000).unwrap();
        assert_eq!((l.len, l.attr, l.pad), (176, 32, 20));
        // Short original datagram (48 bytes) is padded to 128.
        let l = plan(v6_in(136, 6), V4OUT, 4000).unwrap();
        assert_eq!((l.len, l.attr, l.pad), (196, 32, 100));
    }

    #[test]
    fn oversized_extension_is_removed() {
        // 421-byte extension cannot sit beside 128 bytes within 576.
        let l = plan(v6_in(597, 16), V4OUT, 4000).unwrap();
        assert_eq!((l.len, l.attr, l.ext_len, l.pad), (136, 0, 0, 0));
        let l = plan(v6_in(596, 16), V4OUT, 4000).unwrap();
        assert_eq!((l.len, l.attr, l.ext_len), (576, 32, 420));
    }

    #[test]
    fn bad_length_attribute_refused() {
        assert_eq!(
            plan(v4_in(100, 40), V6OUT, 4000),
            Err(DropReason::BadHeaderLength)
        );
    }

    #[test]
    fn apply_moves_extension_right_then_quote() {
        // 4 -> 6 without headroom beyond the packet start: everything shifts right.
        let mut buf = [0u8; 400];
        let q = QuoteIn {
            icmp_at: 20,
            end: 20 + 8 + 20 + 108 + 8,
            inner_hdr: 20,
            ipl: 128,
        };
        for (i, b) in buf[48..q.end].iter_mut().enumerate() {
            *b = i as u8 + 1;
        }
        let l = plan(q, V6OUT, buf.len()).unwrap();
        apply(&mut buf, &l).unwrap();
        assert_eq!(l.start, 0);
        assert_eq!(buf[l.rest_out], 1);
        assert_eq!(buf[l.ext_out], 109);
        assert_eq!(buf[l.ext_out + 7], 116);
    }
}
