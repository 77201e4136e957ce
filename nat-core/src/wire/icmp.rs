//! ICMPv4 ([RFC 792]) and ICMPv6 ([RFC 4443]) message classes and header layout.
//!
//! Queries carry an identifier that a NAT maps like a port ([RFC 5508 § 3.1]); errors quote the
//! packet that caused them; everything else carries no flow.
//!
//! [RFC 792]: https://www.rfc-editor.org/rfc/rfc792
//! [RFC 4443]: https://www.rfc-editor.org/rfc/rfc4443
//! [RFC 5508 § 3.1]: https://www.rfc-editor.org/rfc/rfc5508#section-3.1

use crate::flow::IpAddress;
use core::ops::Range;

/// Type.
pub const TYPE: usize = 0;
/// Code.
pub const CODE: usize = 1;
/// Checksum.
pub const CHECKSUM: Range<usize> = 2..4;
/// Query identifier.
pub const IDENTIFIER: Range<usize> = 4..6;
/// Query sequence number.
pub const SEQUENCE: Range<usize> = 6..8;
/// Rest of header of an error (unused, pointer or MTU).
pub const REST: Range<usize> = 4..8;
/// Length of the fixed header; an error's quote follows it.
pub const HEADER_LEN: usize = 8;

/// The class of an ICMP message type for a translator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcmpKind {
    /// A query sent by the host that chose the identifier (Echo Request, Timestamp Request).
    Request,
    /// The answer to a query (Echo Reply, Timestamp Reply).
    Reply,
    /// An error message quoting the packet that caused it.
    Error,
    /// Anything else (router discovery, neighbour discovery, MLD, ...).
    Other,
}

/// ICMPv4 message types ([RFC 792]).
///
/// [RFC 792]: https://www.rfc-editor.org/rfc/rfc792
pub mod icmpv4 {
    /// Echo Reply.
    pub const ECHO_REPLY: u8 = 0;
    /// Destination Unreachable.
    pub const DEST_UNREACHABLE: u8 = 3;
    /// Source Quench (deprecated by RFC 6633).
    pub const SOURCE_QUENCH: u8 = 4;
    /// Redirect.
    pub const REDIRECT: u8 = 5;
    /// Echo Request.
    pub const ECHO_REQUEST: u8 = 8;
    /// Time Exceeded.
    pub const TIME_EXCEEDED: u8 = 11;
    /// Parameter Problem.
    pub const PARAMETER_PROBLEM: u8 = 12;
    /// Timestamp Request.
    pub const TIMESTAMP: u8 = 13;
    /// Timestamp Reply.
    pub const TIMESTAMP_REPLY: u8 = 14;
}

/// ICMPv6 message types ([RFC 4443]).
///
/// [RFC 4443]: https://www.rfc-editor.org/rfc/rfc4443
pub mod icmpv6 {
    /// Destination Unreachable.
    pub const DEST_UNREACHABLE: u8 = 1;
    /// Packet Too Big.
    pub const PACKET_TOO_BIG: u8 = 2;
    /// Time Exceeded.
    pub const TIME_EXCEEDED: u8 = 3;
    /// Parameter Problem.
    pub const PARAMETER_PROBLEM: u8 = 4;
    /// Echo Request.
    pub const ECHO_REQUEST: u8 = 128;
    /// Echo Reply.
    pub const ECHO_REPLY: u8 = 129;
}

/// Classifies an ICMP type of family `A` (ICMPv4 for IPv4, ICMPv6 for IPv6).
pub(crate) fn classify<A: IpAddress>(icmp_type: u8) -> IcmpKind {
    if A::ICMP_PROTOCOL == 1 {
        match icmp_type {
            icmpv4::ECHO_REQUEST | icmpv4::TIMESTAMP => IcmpKind::Request,
            icmpv4::ECHO_REPLY | icmpv4::TIMESTAMP_REPLY => IcmpKind::Reply,
            icmpv4::DEST_UNREACHABLE
            | icmpv4::SOURCE_QUENCH
            | icmpv4::REDIRECT
            | icmpv4::TIME_EXCEEDED
            | icmpv4::PARAMETER_PROBLEM => IcmpKind::Error,
            _ => IcmpKind::Other,
        }
    } else {
        match icmp_type {
            icmpv6::ECHO_REQUEST => IcmpKind::Request,
            icmpv6::ECHO_REPLY => IcmpKind::Reply,
            icmpv6::DEST_UNREACHABLE
            | icmpv6::PACKET_TOO_BIG
            | icmpv6::TIME_EXCEEDED
            | icmpv6::PARAMETER_PROBLEM => IcmpKind::Error,
            _ => IcmpKind::Other,
        }
    }
}
