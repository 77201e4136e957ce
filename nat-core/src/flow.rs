//! Flow keys: what identifies a flow for every translator of the library.
//!
//! A key is a protocol and two endpoints. For ICMP queries the identifier plays the port of the
//! querying host ([RFC 5508 § 3.1], [RFC 6146 § 3.5.3]): an Echo Request carries it as the source
//! port and an Echo Reply as the destination port, the other port being 0, so that a reply's
//! key reversed equals its request's key.
//!
//! [RFC 5508 § 3.1]: https://www.rfc-editor.org/rfc/rfc5508#section-3.1
//! [RFC 6146 § 3.5.3]: https://www.rfc-editor.org/rfc/rfc6146#section-3.5.3

use core::fmt::Debug;
use core::hash::Hash;
use core::net::{Ipv4Addr, Ipv6Addr};

/// The transport protocols the translators map, independent of IP version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum L4Proto {
    /// TCP (protocol 6).
    Tcp,
    /// UDP (protocol 17).
    Udp,
    /// An ICMP query: ICMPv4 (protocol 1) or ICMPv6 (next header 58) informational message with
    /// an identifier.
    Icmp,
}

impl L4Proto {
    /// All protocols, for per-protocol tables.
    pub const ALL: [L4Proto; 3] = [L4Proto::Tcp, L4Proto::Udp, L4Proto::Icmp];

    /// A dense index (0..3) for per-protocol arrays.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The IP protocol number of this protocol for address family `A`.
    pub const fn number<A: IpAddress>(self) -> u8 {
        match self {
            L4Proto::Tcp => 6,
            L4Proto::Udp => 17,
            L4Proto::Icmp => A::ICMP_PROTOCOL,
        }
    }
}

/// An IP address type the translators work on: [`Ipv4Addr`] or [`Ipv6Addr`].
pub trait IpAddress: Copy + Eq + Ord + Hash + Debug + sealed::Sealed {
    /// Length of the address in bytes.
    const LEN: usize;
    /// The protocol number of this family's ICMP.
    const ICMP_PROTOCOL: u8;
    /// The unspecified address (all zero).
    const UNSPECIFIED: Self;
    /// The address as bytes in network order (the first [`LEN`](Self::LEN) of 16).
    fn bytes(&self) -> [u8; 16];
    /// The address whose bytes are the first [`LEN`](Self::LEN) of `b`.
    fn from_bytes(b: [u8; 16]) -> Self;

    /// The address with every bit past `len` cleared: its prefix of that length.
    #[must_use]
    fn masked(&self, len: u8) -> Self {
        let mut b = self.bytes();
        let len = usize::from(len);
        for (i, byte) in b.iter_mut().enumerate() {
            let keep = len.saturating_sub(i * 8).min(8);
            *byte &= !(0xffu8.checked_shr(keep as u32).unwrap_or(0));
        }
        Self::from_bytes(b)
    }
}

impl IpAddress for Ipv4Addr {
    const LEN: usize = 4;
    const ICMP_PROTOCOL: u8 = 1;
    const UNSPECIFIED: Self = Ipv4Addr::UNSPECIFIED;
    fn bytes(&self) -> [u8; 16] {
        let mut b = [0; 16];
        b[..4].copy_from_slice(&self.octets());
        b
    }
    fn from_bytes(b: [u8; 16]) -> Self {
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }
}

impl IpAddress for Ipv6Addr {
    const LEN: usize = 16;
    const ICMP_PROTOCOL: u8 = 58;
    const UNSPECIFIED: Self = Ipv6Addr::UNSPECIFIED;
    fn bytes(&self) -> [u8; 16] {
        self.octets()
    }
    fn from_bytes(b: [u8; 16]) -> Self {
        Ipv6Addr::from(b)
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for core::net::Ipv4Addr {}
    impl Sealed for core::net::Ipv6Addr {}
}

/// A transport endpoint: an address and a port (or ICMP identifier).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Endpoint<A> {
    /// The IP address.
    pub addr: A,
    /// The TCP/UDP port, or the ICMP query identifier.
    pub port: u16,
}

impl<A> Endpoint<A> {
    /// An endpoint from its parts.
    pub const fn new(addr: A, port: u16) -> Self {
        Endpoint { addr, port }
    }
}

/// The 5-tuple of a flow as seen in one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FlowKey<A> {
    /// Transport protocol.
    pub proto: L4Proto,
    /// Sender of the packet.
    pub src: Endpoint<A>,
    /// Receiver of the packet.
    pub dst: Endpoint<A>,
}

impl<A: Copy> FlowKey<A> {
    /// A key from its parts.
    pub const fn new(proto: L4Proto, src: Endpoint<A>, dst: Endpoint<A>) -> Self {
        FlowKey { proto, src, dst }
    }

    /// The key of the same flow in the other direction.
    #[must_use]
    pub const fn reversed(&self) -> Self {
        FlowKey {
            proto: self.proto,
            src: self.dst,
            dst: self.src,
        }
    }
}
