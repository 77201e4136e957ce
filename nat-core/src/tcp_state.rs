//! The TCP session state machine of [RFC 6146 § 3.5.2.2], which [RFC 7857 § 2.1] adopts for
//! NAT44 too. "Inside" plays RFC 6146's IPv6 side and "outside" its IPv4 side.
//!
//! [RFC 6146 § 3.5.2.2]: https://www.rfc-editor.org/rfc/rfc6146#section-3.5.2.2
//! [RFC 7857 § 2.1]: https://www.rfc-editor.org/rfc/rfc7857#section-2.1

use crate::behavior::Timeouts;
use crate::verdict::Direction;
use crate::wire::TcpFlags;
use core::time::Duration;

/// States of a TCP session (RFC 6146 § 3.5.2.2; CLOSED is the absence of a session).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TcpState {
    /// An outbound SYN was seen (RFC 6146's V6 INIT).
    InsideInit = 1,
    /// An inbound SYN was seen and let through (RFC 6146's V4 INIT without address-dependent
    /// filtering): transitory timer until the inside answers. (A SYN the filter refuses
    /// creates no session: it is held for `tcp_syn_hold`, RFC 5382 REQ-4.)
    OutsideInit = 2,
    /// Both SYNs seen.
    Established = 3,
    /// A FIN came from the outside (V4 FIN RCV).
    OutsideFin = 4,
    /// A FIN came from the inside (V6 FIN RCV).
    InsideFin = 5,
    /// FINs from both sides (V4 FIN + V6 FIN RCV).
    BothFin = 6,
    /// After a RST, or an established session that went quiet: transitory timer.
    Trans = 7,
}

impl TcpState {
    /// Decodes the state stored in a session; unknown values read as `Trans`, the state whose
    /// timer is short and whose next packet revives the session.
    pub const fn from_u8(v: u8) -> TcpState {
        match v {
            1 => TcpState::InsideInit,
            2 => TcpState::OutsideInit,
            3 => TcpState::Established,
            4 => TcpState::OutsideFin,
            5 => TcpState::InsideFin,
            6 => TcpState::BothFin,
            _ => TcpState::Trans,
        }
    }

    /// The state a new session starts in for a SYN from `dir`.
    pub const fn opening(dir: Direction) -> TcpState {
        match dir {
            Direction::Outbound => TcpState::InsideInit,
            Direction::Inbound => TcpState::OutsideInit,
        }
    }

    /// The state after a packet with `flags` from `dir`, and whether the packet refreshes the
    /// session timer.
    pub fn next(self, dir: Direction, flags: TcpFlags) -> (TcpState, bool) {
        use Direction::{Inbound, Outbound};
        use TcpState::*;
        if flags.contains(TcpFlags::RST) {
            // RFC 6146: RST moves any state to TRANS with the transitory lifetime. An outbound
            // RST (what a host answers unwanted inbound packets with) may only shorten the
            // timer, never extend it (RFC 7857 § 7.1).
            return (Trans, dir == Inbound);
        }
        let syn = flags.contains(TcpFlags::SYN);
        let fin = flags.contains(TcpFlags::FIN);
        match (self, dir) {
            (InsideInit, Inbound) if syn => (Established, true),
            (OutsideInit, Outbound) if syn => (Established, true),
            (InsideInit, Outbound) | (OutsideInit, Inbound) => (self, syn),
            (InsideInit, Inbound) | (OutsideInit, Outbound) => (self, false),
            (Established, Inbound) if fin => (OutsideFin, true),
            (Established, Outbound) if fin => (InsideFin, true),
            (Established, _) => (Established, true),
            (OutsideFin, Outbound) if fin => (BothFin, true),
            (InsideFin, Inbound) if fin => (BothFin, true),
            (OutsideFin | InsideFin, _) => (self, true),
            (BothFin, _) => (BothFin, false),
            (Trans, _) => (Established, true),
        }
    }

    /// The idle lifetime of a session in this state.
    pub const fn lifetime(self, t: &Timeouts) -> Duration {
        match self {
            // RFC 5382 REQ-5: a partially open connection, from either side, is transitory;
            // RFC 6146 § 3.5.2.2 gives a forwarded V4 SYN "at least TCP_TRANS".
            TcpState::InsideInit | TcpState::OutsideInit => t.tcp_opening,
            TcpState::Established | TcpState::OutsideFin | TcpState::InsideFin => t.tcp_established,
            TcpState::BothFin | TcpState::Trans => t.tcp_closing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Direction::{Inbound, Outbound};

    #[test]
    fn three_way_handshake_then_orderly_close() {
        let s = TcpState::opening(Outbound);
        let (s, _) = s.next(Inbound, TcpFlags::SYN | TcpFlags::ACK);
        assert_eq!(s, TcpState::Established);
        let (s, _) = s.next(Outbound, TcpFlags::FIN | TcpFlags::ACK);
        assert_eq!(s, TcpState::InsideFin);
        let (s, _) = s.next(Inbound, TcpFlags::FIN | TcpFlags::ACK);
        assert_eq!(s, TcpState::BothFin);
        let (s, refresh) = s.next(Outbound, TcpFlags::ACK);
        assert_eq!((s, refresh), (TcpState::BothFin, false));
    }

    #[test]
    fn simultaneous_open_from_the_outside_first() {
        let s = TcpState::opening(Inbound);
        assert_eq!(s.lifetime(&Timeouts::default()), Duration::from_secs(240));
        let (s, _) = s.next(Outbound, TcpFlags::SYN);
        assert_eq!(s, TcpState::Established);
    }

    #[test]
    fn rst_goes_transitory_and_traffic_revives() {
        let (s, _) = TcpState::Established.next(Inbound, TcpFlags::RST);
        assert_eq!(s, TcpState::Trans);
        assert_eq!(s.lifetime(&Timeouts::default()), Duration::from_secs(240));
        let (s, _) = s.next(Outbound, TcpFlags::ACK);
        assert_eq!(s, TcpState::Established);
    }

    #[test]
    fn state_roundtrips_through_u8() {
        for s in [
            TcpState::InsideInit,
            TcpState::OutsideInit,
            TcpState::Established,
            TcpState::OutsideFin,
            TcpState::InsideFin,
            TcpState::BothFin,
            TcpState::Trans,
        ] {
            assert_eq!(TcpState::from_u8(s as u8), s);
        }
    }
}
