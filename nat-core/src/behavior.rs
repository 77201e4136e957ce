//! The behaviours of [RFC 4787], [RFC 5382], [RFC 5508] and [RFC 7857] as plain data: mapping,
//! filtering and timers, shared by every stateful translator of the library.
//!
//! Mapping and filtering are key projections: of the remote endpoint Y:y a binding or filter
//! keeps nothing (endpoint-independent), the address (address-dependent), or both
//! (address-and-port-dependent), so one table design serves all three.
//!
//! [RFC 4787]: https://www.rfc-editor.org/rfc/rfc4787
//! [RFC 5382]: https://www.rfc-editor.org/rfc/rfc5382
//! [RFC 5508]: https://www.rfc-editor.org/rfc/rfc5508
//! [RFC 7857]: https://www.rfc-editor.org/rfc/rfc7857

use crate::flow::{Endpoint, IpAddress, L4Proto};
use core::time::Duration;

/// How a binding depends on the remote endpoint ([RFC 4787 § 4.1]).
///
/// [RFC 4787 § 4.1]: https://www.rfc-editor.org/rfc/rfc4787#section-4.1
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MappingBehavior {
    /// One binding per inside endpoint, whatever the remote: REQ-1 of RFC 4787, and the only
    /// behaviour a carrier-grade NAT may use ([RFC 6888] REQ-1 via RFC 4787).
    ///
    /// [RFC 6888]: https://www.rfc-editor.org/rfc/rfc6888
    #[default]
    EndpointIndependent,
    /// One binding per inside endpoint and remote address.
    AddressDependent,
    /// One binding per inside endpoint and remote endpoint.
    AddressAndPortDependent,
}

/// Which inbound packets reach an inside endpoint that has a binding ([RFC 4787 § 5]).
///
/// [RFC 4787 § 5]: https://www.rfc-editor.org/rfc/rfc4787#section-5
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum FilteringBehavior {
    /// Any remote endpoint may send to the binding.
    EndpointIndependent,
    /// Only remote addresses the inside endpoint has sent to.
    AddressDependent,
    /// Only remote endpoints the inside endpoint has sent to (the default of RFC 4787 REQ-8
    /// for security; RFC 7857 § 3 prefers endpoint-independent where transparency matters).
    #[default]
    AddressAndPortDependent,
}

/// Projects a remote endpoint onto what a behaviour keeps of it.
pub fn project<A: IpAddress>(keep_addr: bool, keep_port: bool, remote: Endpoint<A>) -> Endpoint<A> {
    Endpoint {
        addr: if keep_addr {
            remote.addr
        } else {
            A::UNSPECIFIED
        },
        port: if keep_port { remote.port } else { 0 },
    }
}

impl MappingBehavior {
    /// The part of the remote endpoint a binding is keyed on.
    pub fn project<A: IpAddress>(self, remote: Endpoint<A>) -> Endpoint<A> {
        match self {
            MappingBehavior::EndpointIndependent => project(false, false, remote),
            MappingBehavior::AddressDependent => project(true, false, remote),
            MappingBehavior::AddressAndPortDependent => project(true, true, remote),
        }
    }
}

/// Session timers ([RFC 4787] REQ-5, [RFC 5382] REQ-5, [RFC 5508] REQ-1, [RFC 7857 § 2.1],
/// [RFC 6146 § 4]). Defaults are the RFCs' recommendations.
///
/// [RFC 4787]: https://www.rfc-editor.org/rfc/rfc4787
/// [RFC 5382]: https://www.rfc-editor.org/rfc/rfc5382
/// [RFC 5508]: https://www.rfc-editor.org/rfc/rfc5508
/// [RFC 7857 § 2.1]: https://www.rfc-editor.org/rfc/rfc7857#section-2.1
/// [RFC 6146 § 4]: https://www.rfc-editor.org/rfc/rfc6146#section-4
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// UDP mapping timer: at least 2 minutes, 5 recommended (RFC 4787 REQ-5).
    pub udp: Duration,
    /// TCP established idle timeout: at least 2 hours 4 minutes (RFC 5382 REQ-5).
    pub tcp_established: Duration,
    /// TCP transitory timeout while a connection opens (RFC 7857 § 2.1: 4 minutes by default,
    /// separately configurable).
    pub tcp_opening: Duration,
    /// TCP transitory timeout after FIN or RST (RFC 5382 REQ-5, RFC 7857 § 2.1).
    pub tcp_closing: Duration,
    /// How long an unsolicited inbound SYN is held before it is answered: at least 6 s
    /// (RFC 5382 REQ-4; RFC 6146's V4 INIT).
    pub tcp_syn_hold: Duration,
    /// ICMP query mapping timer: at least 60 s (RFC 5508 REQ-1).
    pub icmp: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            udp: Duration::from_secs(300),
            tcp_established: Duration::from_secs(2 * 3600 + 4 * 60),
            tcp_opening: Duration::from_secs(240),
            tcp_closing: Duration::from_secs(240),
            tcp_syn_hold: Duration::from_secs(6),
            icmp: Duration::from_secs(60),
        }
    }
}

/// A value per transport protocol.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PerProto<T> {
    /// For TCP.
    pub tcp: T,
    /// For UDP.
    pub udp: T,
    /// For ICMP queries.
    pub icmp: T,
}

impl<T: Copy> PerProto<T> {
    /// The same value for every protocol.
    pub const fn all(v: T) -> Self {
        PerProto {
            tcp: v,
            udp: v,
            icmp: v,
        }
    }

    /// The value for `proto`.
    pub const fn get(&self, proto: L4Proto) -> T {
        match proto {
            L4Proto::Tcp => self.tcp,
            L4Proto::Udp => self.udp,
            L4Proto::Icmp => self.icmp,
        }
    }
}
