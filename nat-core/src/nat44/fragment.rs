//! IPv4 fragments follow their first fragment's translation ([RFC 4787] REQ-14): a later
//! fragment has no ports, so the translation of the first is remembered by (source,
//! destination, identification, protocol) for a while. Fragments that arrive before their first
//! wait in a bounded buffer and are released once it is translated; a flood of orphans fills
//! only that buffer and never touches unfragmented traffic (REQ-14a).
//!
//! [RFC 4787]: https://www.rfc-editor.org/rfc/rfc4787

use core::net::Ipv4Addr;

/// What identifies the fragments of one datagram ([RFC 791]).
///
/// [RFC 791]: https://www.rfc-editor.org/rfc/rfc791
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FragmentKey {
    /// Source address as the fragment arrives.
    pub src: Ipv4Addr,
    /// Destination address as the fragment arrives.
    pub dst: Ipv4Addr,
    /// Identification field.
    pub id: u16,
    /// Protocol field.
    pub protocol: u8,
}

/// What the fragments of one datagram become: the first fragment's new addresses, and its new
/// Identification when the engine rewrote it (RFC 7857 § 10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Translated {
    pub(crate) src: Ipv4Addr,
    pub(crate) dst: Ipv4Addr,
    pub(crate) id: Option<u16>,
}

/// First-fragment translations and early fragments of the NAT44 engine
/// ([`crate::fragments`]).
pub(crate) type Fragments<const T: usize, const W: usize> =
    crate::fragments::FragmentTable<FragmentKey, Translated, T, W>;
