//! What a translator decides about a packet, and why it drops one.

use crate::allocator::AllocError;
use crate::wire::ParseError;

/// The side a packet arrives from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the inside (private, subscriber or IPv6) realm towards the outside.
    Outbound,
    /// From the outside realm towards the inside.
    Inbound,
}

/// The outcome of processing one packet. Offsets refer to the caller's buffer, which was
/// rewritten in place: nothing is copied or allocated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Verdict {
    /// Send `buf[start..start + len]` on towards its destination (the other realm, or back to
    /// the inside for a hairpinned packet).
    Forward {
        /// Offset of the first byte of the packet to send.
        start: usize,
        /// Its length.
        len: usize,
    },
    /// Send `buf[start..start + len]`, an ICMP error the translator owes, back to the sender of
    /// the packet, which has been consumed.
    Reply {
        /// Offset of the first byte of the reply.
        start: usize,
        /// Its length.
        len: usize,
    },
    /// The translator keeps the packet's meaning for later (an unsolicited inbound SYN held for
    /// six seconds, [RFC 5382] REQ-4; a fragment waiting for its first); nothing to send now.
    ///
    /// [RFC 5382]: https://www.rfc-editor.org/rfc/rfc5382
    Hold,
    /// Discard the packet.
    Drop(DropReason),
}

macro_rules! drop_reasons {
    ($( $(#[doc = $doc:literal])* $name:ident = $text:literal, )*) => {
        /// Why a packet was dropped. Every drop has one, so that it can be counted.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        #[repr(u8)]
        pub enum DropReason {
            $( $(#[doc = $doc])* $name, )*
        }

        impl DropReason {
            /// Every reason, in index order.
            pub const ALL: &'static [DropReason] = &[$(DropReason::$name,)*];
            /// The number of reasons: the length of a per-reason counter array.
            pub const COUNT: usize = Self::ALL.len();

            /// A short stable name, for counters and logs.
            pub const fn as_str(self) -> &'static str {
                match self { $(DropReason::$name => $text,)* }
            }
        }
    };
}

drop_reasons! {
    /// The buffer ends before a header does.
    Truncated = "truncated",
    /// The IP version is not the one this translator takes on this side.
    BadVersion = "bad_version",
    /// An impossible header length (IPv4 IHL, TCP data offset).
    BadHeaderLength = "bad_header_length",
    /// The IP length field claims more bytes than arrived.
    BadTotalLength = "bad_total_length",
    /// The buffer has no room, before or after the packet, for the larger headers of its
    /// translation: the caller should leave more headroom (`nat_core::siit::HEADROOM`).
    NoRoom = "no_room",
    /// The IPv4 header checksum is wrong ([RFC 1812 § 5.2.2]).
    ///
    /// [RFC 1812 § 5.2.2]: https://www.rfc-editor.org/rfc/rfc1812#section-5.2.2
    BadIpChecksum = "bad_ip_checksum",
    /// An ICMP message whose checksum is wrong: errors are not translated then
    /// ([RFC 5508] REQ-3a).
    ///
    /// [RFC 5508]: https://www.rfc-editor.org/rfc/rfc5508
    BadIcmpChecksum = "bad_icmp_checksum",
    /// More IPv6 extension headers than the walk allows.
    TooManyExtensionHeaders = "too_many_extension_headers",
    /// An ICMP error about an ICMP error.
    NestedIcmpError = "nested_icmp_error",
    /// An ICMP error whose quote carries no flow key.
    UnkeyableQuote = "unkeyable_quote",
    /// A protocol or ICMP type the translator does not handle.
    UnsupportedProtocol = "unsupported_protocol",
    /// An inbound packet (or ICMP error) that matches no mapping.
    NoMapping = "no_mapping",
    /// An inbound packet refused by the filtering behaviour ([RFC 4787] REQ-8).
    ///
    /// [RFC 4787]: https://www.rfc-editor.org/rfc/rfc4787
    Filtered = "filtered",
    /// The subscriber's quota is used up and the owed ICMP error was not sent.
    QuotaExhausted = "quota_exhausted",
    /// The outside pool has no free endpoint and the owed ICMP error was not sent.
    PoolExhausted = "pool_exhausted",
    /// The subscriber opens sessions faster than allowed.
    RateLimited = "rate_limited",
    /// The source address is not one of the inside subscribers (anti-spoofing,
    /// draft-nishitani-cgn § 9).
    NotSubscriber = "not_subscriber",
    /// The session or binding table is full.
    TableFull = "table_full",
    /// The TTL or hop limit ran out and the owed Time Exceeded was not sent.
    TtlExpired = "ttl_expired",
    /// Too big for the next hop with DF set, and the owed ICMP error was not sent.
    PacketTooBig = "packet_too_big",
    /// A later fragment whose first fragment was never seen, or has expired.
    FragmentWithoutFirst = "fragment_without_first",
    /// No room left to hold an out-of-order fragment ([RFC 4787] REQ-14a).
    ///
    /// [RFC 4787]: https://www.rfc-editor.org/rfc/rfc4787
    FragmentBufferFull = "fragment_buffer_full",
    /// An owed ICMP error suppressed by rate limit or policy.
    IcmpErrorSuppressed = "icmp_error_suppressed",
    /// A UDP datagram without checksum that must carry one on the other side
    /// ([RFC 7915 § 4.5]).
    ///
    /// [RFC 7915 § 4.5]: https://www.rfc-editor.org/rfc/rfc7915#section-4.5
    UdpZeroChecksum = "udp_zero_checksum",
    /// An IPv6 Routing header with segments left ([RFC 7915 § 5.1]).
    ///
    /// [RFC 7915 § 5.1]: https://www.rfc-editor.org/rfc/rfc7915#section-5.1
    SourceRouted = "source_routed",
    /// An address that the configuration does not translate.
    Untranslatable = "untranslatable",
    /// Refused by an administrative rule.
    Policy = "policy",
}

impl DropReason {
    /// A dense index below [`COUNT`](Self::COUNT), for counter arrays.
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl From<ParseError> for DropReason {
    fn from(e: ParseError) -> Self {
        match e {
            ParseError::Truncated { .. } => DropReason::Truncated,
            ParseError::BadVersion(_) => DropReason::BadVersion,
            ParseError::BadHeaderLength => DropReason::BadHeaderLength,
            ParseError::BadTotalLength => DropReason::BadTotalLength,
            ParseError::TooManyExtensionHeaders => DropReason::TooManyExtensionHeaders,
            ParseError::NestedIcmpError => DropReason::NestedIcmpError,
            ParseError::UnkeyableQuote => DropReason::UnkeyableQuote,
        }
    }
}

impl From<AllocError> for DropReason {
    fn from(e: AllocError) -> Self {
        match e {
            AllocError::QuotaExhausted => DropReason::QuotaExhausted,
            AllocError::PoolExhausted | AllocError::Unavailable => DropReason::PoolExhausted,
            AllocError::RateLimited => DropReason::RateLimited,
            AllocError::NotSubscriber => DropReason::NotSubscriber,
        }
    }
}

/// A counter per drop reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DropCounters([u64; DropReason::COUNT]);

impl Default for DropCounters {
    fn default() -> Self {
        DropCounters([0; DropReason::COUNT])
    }
}

impl DropCounters {
    /// Counts one drop.
    #[inline]
    pub fn bump(&mut self, reason: DropReason) {
        self.0[reason.index()] += 1;
    }

    /// The count for one reason.
    pub fn get(&self, reason: DropReason) -> u64 {
        self.0[reason.index()]
    }

    /// Every reason with its count.
    pub fn iter(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL.iter().map(|&r| (r, self.0[r.index()]))
    }

    /// All drops.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}
