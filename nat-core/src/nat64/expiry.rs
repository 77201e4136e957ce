//! Session expiry with RFC 6146's ESTABLISHED rule ([RFC 6146 § 3.5.2.2]): when an
//! established TCP session has been idle for TCP_EST (2 h) it is not deleted but moved to
//! TRANS for TCP_TRANS (4 min), and a probe (a TCP segment without data, sequence and
//! acknowledgment numbers 0, only ACK set) is sent to its IPv6 endpoint. A live host answers
//! with an ACK, which brings the session back to ESTABLISHED; otherwise it is deleted 4 minutes
//! later, 2 h 4 min after the last packet, RFC 5382's floor. Every other expiry deletes the
//! session, and the dynamic binding it leaves empty.
//!
//! The shared [`State::expire`](crate::stateful) deletes unconditionally, so this module does
//! its own bookkeeping, the same as there.
//!
//! [RFC 6146 § 3.5.2.2]: https://www.rfc-editor.org/rfc/rfc6146#section-3.5.2.2

use super::Nat64;
use crate::allocator::PortAllocator;
use crate::checksum;
use crate::flow::{Endpoint, L4Proto};
use crate::session::SessionStore;
use crate::tcp_state::TcpState;
use crate::time::Instant;
use crate::wire::{ipv6, tcp};
use core::net::{Ipv4Addr, Ipv6Addr};

/// Probes waiting for [`Nat64::poll_transmit`]; when more sessions time out at once, the rest
/// go to TRANS without one (the probe is a SHOULD, the state change is not).
pub(super) const PROBE_QUEUE: usize = 32;

/// Length of a probe: an IPv6 header and a TCP header without options.
pub(super) const PROBE_LEN: usize = ipv6::HEADER_LEN + tcp::HEADER_LEN;

/// A probe to send: from the remote as the IPv6 side sees it, to the IPv6 endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Probe {
    pub(super) from: Endpoint<Ipv6Addr>,
    pub(super) to: Endpoint<Ipv6Addr>,
}

impl Probe {
    /// Writes the probe at the start of `out`; `None` if it does not fit.
    pub(super) fn write(&self, out: &mut [u8]) -> Option<usize> {
        let p = out.get_mut(..PROBE_LEN)?;
        p.fill(0);
        p[0] = 0x60;
        p[ipv6::PAYLOAD_LEN].copy_from_slice(&(tcp::HEADER_LEN as u16).to_be_bytes());
        p[ipv6::NEXT_HEADER] = 6;
        p[ipv6::HOP_LIMIT] = 64;
        p[ipv6::SRC_ADDR].copy_from_slice(&self.from.addr.octets());
        p[ipv6::DST_ADDR].copy_from_slice(&self.to.addr.octets());
        let t = &mut p[ipv6::HEADER_LEN..];
        t[tcp::SRC_PORT].copy_from_slice(&self.from.port.to_be_bytes());
        t[tcp::DST_PORT].copy_from_slice(&self.to.port.to_be_bytes());
        t[tcp::DATA_OFFSET] = 5 << 4;
        t[tcp::FLAGS] = 0x10;
        let ph =
            checksum::pseudo_header_v6(self.from.addr, self.to.addr, 6, tcp::HEADER_LEN as u32);
        checksum::fill(t, tcp::CHECKSUM.start, ph)?;
        Some(PROBE_LEN)
    }
}

impl<S, A, const E: usize, const H: usize, const F: usize, const W: usize> Nat64<S, A, E, H, F, W>
where
    S: SessionStore<Ipv6Addr, Ipv4Addr>,
    A: PortAllocator<Ipv6Addr, Ipv4Addr>,
{
    /// Expires at most `max` sessions due at `now`; see the module documentation.
    /// Expires due sessions (RFC 6146 § 3.5.2.2): an established TCP session that went idle
    /// moves to TRANS for the transitory lifetime and its IPv6 host is probed; the rest go.
    pub(super) fn expire(&mut self, now: Instant, max: usize) -> usize {
        let trans = TcpState::Trans as u8;
        let trans_life = self.state.lifetime(L4Proto::Tcp, trans);
        let (probe, probes) = (self.config.tcp_probe, &mut self.probes);
        self.state.expire_with(now, max, |e| {
            if e.proto != L4Proto::Tcp || e.state != TcpState::Established as u8 {
                return None;
            }
            let expires = e.expires + trans_life;
            if probe && expires > now {
                let _ = probes.push_back(Probe {
                    from: e.remote_in,
                    to: e.inside,
                });
            }
            Some((trans, expires))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_is_an_empty_ack_with_zero_numbers() {
        let p = Probe {
            from: Endpoint::new("64:ff9b::c633:6407".parse().unwrap(), 80),
            to: Endpoint::new("2001:db8::5".parse().unwrap(), 2000),
        };
        let mut out = [0xffu8; 70];
        assert_eq!(p.write(&mut out), Some(PROBE_LEN));
        assert_eq!(&out[40..44], &[0, 80, 0x07, 0xd0]);
        assert_eq!(&out[44..52], &[0; 8], "seq and ack 0");
        assert_eq!((out[52], out[53]), (0x50, 0x10));
        let ph = checksum::pseudo_header_v6(p.from.addr, p.to.addr, 6, 20);
        assert!(checksum::verify(ph, &out[40..60]));
        assert_eq!(p.write(&mut out[..59]), None);
    }
}
