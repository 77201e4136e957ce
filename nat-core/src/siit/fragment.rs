//! Splitting a translated packet into fragments ([RFC 7915 § 4.1] for IPv6, [§ 5.1.1] for
//! IPv4), into a caller-provided buffer, one fragment at a time.
//!
//! One buffer slice cannot hold two packets, so the fragments are written one after another
//! into scratch space the caller supplies and sends before asking for the next: a lending
//! iterator ([`Fragments::next_into`]) or a callback ([`Fragments::for_each`]).
//!
//! [RFC 7915 § 4.1]: https://www.rfc-editor.org/rfc/rfc7915#section-4.1
//! [§ 5.1.1]: https://www.rfc-editor.org/rfc/rfc7915#section-5.1.1

use super::header::{FRAG_LEN, V4Header, V6_LEN, V6Header};
use crate::checksum;
use crate::verdict::DropReason;
use crate::wire::{ipv4, ipv6};

#[derive(Clone, Copy, Debug)]
enum Family {
    /// IPv4: header length, original offset, MF, DF.
    V4 { offset: u16, more: bool },
    /// IPv6: offset of the Fragment header, original offset and M flag.
    V6 {
        frag_at: usize,
        offset: u16,
        more: bool,
    },
}

/// The fragments of one packet, produced on demand ([RFC 7915 § 4.1], § 5.1.1).
///
/// An IPv6 packet must carry a Fragment header (the translator adds one when it will need
/// splitting); its unfragmentable part and Fragment header are repeated in every fragment with
/// the offset advanced and M set on all but the last (which keeps the original M). An IPv4
/// packet must have DF clear; its header is repeated with Total Length, offset, MF and checksum
/// updated. Every fragment but the last carries a multiple of 8 bytes.
///
/// ```
/// use nat_core::siit::Fragments;
/// // An IPv6 UDP packet of 1500 bytes with a Fragment header, split for a 1280-byte MTU.
/// let mut pkt = vec![0u8; 1500];
/// pkt[0] = 0x60;
/// pkt[4..6].copy_from_slice(&1460u16.to_be_bytes());
/// pkt[6] = 44; // Fragment header
/// pkt[40] = 17; // then UDP
/// let mut frags = Fragments::new(&pkt, 1280).unwrap();
/// let mut scratch = [0u8; 1280];
/// let mut sizes = Vec::new();
/// frags.for_each(&mut scratch, |f| sizes.push(f.len())).unwrap();
/// assert_eq!(sizes, [1280, 1500 - 1232]);
/// ```
#[derive(Clone, Debug)]
pub struct Fragments<'p> {
    packet: &'p [u8],
    /// Length of the header repeated in each fragment (through the Fragment header for IPv6).
    hdr: usize,
    /// Payload bytes per fragment (a multiple of 8).
    chunk: usize,
    /// Next payload byte to emit, relative to the end of `hdr`.
    pos: usize,
    family: Family,
}

impl<'p> Fragments<'p> {
    /// Prepares to split `packet` (an IPv4 or IPv6 packet, exactly its length) for a next hop
    /// of `mtu` bytes. Refused if the packet is malformed, is IPv4 with DF set, is IPv6 without
    /// a Fragment header, or the MTU leaves no room for 8 bytes of payload.
    pub fn new(packet: &'p [u8], mtu: u16) -> Result<Self, DropReason> {
        let mtu = usize::from(mtu);
        let (hdr, family) = match packet.first().map(|b| b >> 4) {
            Some(4) => {
                let h = V4Header::read(packet)?;
                if h.total_len != packet.len() {
                    return Err(DropReason::BadTotalLength);
                }
                if h.df {
                    return Err(DropReason::PacketTooBig);
                }
                let family = Family::V4 {
                    offset: h.offset,
                    more: h.mf,
                };
                (h.ihl, family)
            }
            Some(6) => {
                let h = V6Header::read(packet, packet.len())?;
                if V6_LEN + h.payload_len != packet.len() {
                    return Err(DropReason::BadTotalLength);
                }
                let f = h.frag.ok_or(DropReason::PacketTooBig)?;
                let family = Family::V6 {
                    frag_at: f.at,
                    offset: f.offset,
                    more: f.more,
                };
                (f.at + FRAG_LEN, family)
            }
            Some(v) => return Err(DropReason::from(crate::wire::ParseError::BadVersion(v))),
            None => return Err(DropReason::Truncated),
        };
        let chunk = mtu.saturating_sub(hdr) & !7;
        if chunk == 0 {
            return Err(DropReason::PacketTooBig);
        }
        Ok(Fragments {
            packet,
            hdr,
            chunk,
            pos: 0,
            family,
        })
    }

    /// The number of fragments still to come.
    pub fn remaining(&self) -> usize {
        let left = self.packet.len() - self.hdr - self.pos;
        left.div_ceil(self.chunk)
    }

    /// Writes the next fragment at the start of `out` and returns its length; `None` when all
    /// fragments have been produced, `Some(Err(_))` if `out` is too small for it.
    pub fn next_into(&mut self, out: &mut [u8]) -> Option<Result<usize, DropReason>> {
        let payload = self.packet.len() - self.hdr;
        if self.pos >= payload && !(payload == 0 && self.pos == 0) {
            return None;
        }
        let n = self.chunk.min(payload - self.pos);
        let last = self.pos + n >= payload;
        let len = self.hdr + n;
        let Some(o) = out.get_mut(..len) else {
            return Some(Err(DropReason::Truncated));
        };
        o[..self.hdr].copy_from_slice(&self.packet[..self.hdr]);
        let body = self.hdr + self.pos;
        o[self.hdr..].copy_from_slice(&self.packet[body..body + n]);
        // Offsets fit: the packet is shorter than 64 KiB.
        let step = self.pos as u16;
        match self.family {
            Family::V4 { offset, more } => {
                o[ipv4::LENGTH].copy_from_slice(&(len as u16).to_be_bytes());
                let mut ff = (offset.wrapping_add(step) >> 3) & 0x1fff;
                if more || !last {
                    ff |= ipv4::FLAG_MF;
                }
                o[ipv4::FLAGS_FRAG].copy_from_slice(&ff.to_be_bytes());
                o[ipv4::CHECKSUM].copy_from_slice(&[0, 0]);
                let c = checksum::checksum(&o[..self.hdr]);
                o[ipv4::CHECKSUM].copy_from_slice(&c.to_be_bytes());
            }
            Family::V6 {
                frag_at,
                offset,
                more,
            } => {
                o[ipv6::PAYLOAD_LEN].copy_from_slice(&((len - V6_LEN) as u16).to_be_bytes());
                let m = u16::from(more || !last);
                let off = (offset.wrapping_add(step) & !7) | m;
                o[frag_at + 2..frag_at + 4].copy_from_slice(&off.to_be_bytes());
            }
        }
        self.pos += n.max(1);
        Some(Ok(len))
    }

    /// Produces every fragment in turn into `scratch` and hands each to `send`; returns the
    /// number of fragments.
    pub fn for_each(
        &mut self,
        scratch: &mut [u8],
        mut send: impl FnMut(&[u8]),
    ) -> Result<usize, DropReason> {
        let mut count = 0;
        while let Some(r) = self.next_into(scratch) {
            let len = r?;
            send(&scratch[..len]);
            count += 1;
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv6_with_frag(total: usize, id: u32, more: bool) -> Vec<u8> {
        let mut p = vec![0u8; total];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&((total - 40) as u16).to_be_bytes());
        p[6] = 44;
        p[7] = 63;
        p[40] = 6;
        p[42..44].copy_from_slice(&u16::from(more).to_be_bytes());
        p[44..48].copy_from_slice(&id.to_be_bytes());
        for (i, b) in p[48..].iter_mut().enumerate() {
            *b = i as u8;
        }
        p
    }

    extern crate std;
    use std::vec;
    use std::vec::Vec;

    #[test]
    fn rfc7915_4_1_1_fragments_fit_lowest_ipv6_mtu_multiple_of_8() {
        let p = ipv6_with_frag(1301, 0x4d2, false);
        let mut f = Fragments::new(&p, 1280).unwrap();
        assert_eq!(f.remaining(), 2);
        let mut out = [0u8; 1280];
        let mut got = Vec::new();
        f.for_each(&mut out, |x| got.push(x.to_vec())).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].len(), 1280);
        assert_eq!(got[1].len(), 48 + 1253 - 1232);
        // Offsets 0 (M) and 1232 (no M), same id.
        assert_eq!(u16::from_be_bytes([got[0][42], got[0][43]]), 1);
        assert_eq!(u16::from_be_bytes([got[1][42], got[1][43]]), 1232);
        assert_eq!(&got[1][44..48], &0x4d2u32.to_be_bytes());
        assert_eq!(got[1][48], (1232 % 256) as u8);
    }

    #[test]
    fn last_fragment_keeps_original_m_flag() {
        let mut p = ipv6_with_frag(1316, 7, true);
        // Original offset 800.
        p[42..44].copy_from_slice(&(800u16 | 1).to_be_bytes());
        let mut f = Fragments::new(&p, 1280).unwrap();
        let mut out = [0u8; 1500];
        let a = f.next_into(&mut out).unwrap().unwrap();
        assert_eq!(a, 1280);
        assert_eq!(u16::from_be_bytes([out[42], out[43]]), 800 | 1);
        let b = f.next_into(&mut out).unwrap().unwrap();
        assert_eq!(b, 48 + 36);
        assert_eq!(u16::from_be_bytes([out[42], out[43]]), (800 + 1232) | 1);
        assert!(f.next_into(&mut out).is_none());
    }

    #[test]
    fn rfc7915_5_1_1_frag_ipv4_fragments_to_next_hop() {
        let mut p = vec![0u8; 1260];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&1260u16.to_be_bytes());
        p[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
        p[8] = 63;
        p[9] = 17;
        let c = checksum::checksum(&p[..20]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        let mut f = Fragments::new(&p, 576).unwrap();
        let mut out = [0u8; 576];
        let mut got = Vec::new();
        f.for_each(&mut out, |x| got.push(x.to_vec())).unwrap();
        assert_eq!(got.len(), 3);
        let mut sum = 0;
        for (i, g) in got.iter().enumerate() {
            assert!(g.len() <= 576);
            assert!(checksum::verify(0, &g[..20]));
            let ff = u16::from_be_bytes([g[6], g[7]]);
            assert_eq!(usize::from(ff & 0x1fff) * 8, sum);
            assert_eq!(ff & ipv4::FLAG_MF != 0, i < 2);
            sum += g.len() - 20;
        }
        assert_eq!(sum, 1240);
    }

    #[test]
    fn refusals() {
        let mut p = vec![0u8; 100];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&100u16.to_be_bytes());
        p[6] = 0x40;
        assert_eq!(Fragments::new(&p, 68).err(), Some(DropReason::PacketTooBig));
        let q = ipv6_with_frag(100, 1, false);
        assert_eq!(Fragments::new(&q, 50).err(), Some(DropReason::PacketTooBig));
        assert!(Fragments::new(&[], 1280).is_err());
        let mut small = [0u8; 10];
        let mut f = Fragments::new(&q, 1280).unwrap();
        assert_eq!(f.next_into(&mut small), Some(Err(DropReason::Truncated)));
    }
}
