//! Unsolicited inbound SYNs held for six seconds ([RFC 5382] REQ-4): dropped silently if an
//! outbound SYN of the same connection comes in time (simultaneous open), otherwise answered
//! with ICMP Port Unreachable. Memory is `H` slots of at most [`HELD_BYTES`] each; when they are
//! full, further unsolicited SYNs are dropped.
//!
//! [RFC 5382]: https://www.rfc-editor.org/rfc/rfc5382

/// Bytes kept of a held SYN: a full IPv4 header with options and the 8 transport bytes an
/// ICMP error must quote ([RFC 792]).
///
/// [RFC 792]: https://www.rfc-editor.org/rfc/rfc792
pub const HELD_BYTES: usize = 60 + 8;

/// The unsolicited inbound SYNs of the NAT44 engine.
pub(crate) type HeldSyns<const H: usize> = crate::held::HeldPackets<(), H, HELD_BYTES>;
