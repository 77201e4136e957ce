//! Real servers of a pool: their identity, configuration and administrative state.
//!
//! A server is the "host in server pool" of [draft-srisuresh-lsnat § 3]: a real address (and
//! optionally a port) that a virtual server's sessions are bound to. Its [`ServerId`] carries the
//! slot generation, so that an id kept by the translator after its server was removed is detected
//! instead of silently naming the slot's next occupant.
//!
//! [draft-srisuresh-lsnat § 3]: https://datatracker.ietf.org/doc/html/draft-srisuresh-lsnat-02#section-3

use crate::health::Health;

/// A stable handle to a server in a [`ServerPool`](crate::pool::ServerPool): slot index and
/// generation.
///
/// The generation changes when the slot is freed, so a removed-then-reused slot yields a
/// different id (draft-srisuresh-lsnat § 4.1: a session stays bound to the host it was bound to).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServerId {
    index: u16,
    generation: u16,
}

impl ServerId {
    /// An id from its parts, for state restored from a peer (draft-srisuresh-lsnat § 4.1).
    pub const fn from_parts(index: u16, generation: u16) -> Self {
        ServerId { index, generation }
    }

    /// The slot index in the pool (draft-srisuresh-lsnat § 4.1).
    pub const fn index(self) -> usize {
        self.index as usize
    }

    /// The slot generation: bumped each time the slot is freed (draft-srisuresh-lsnat § 4.1).
    /// 16 bits, so that an id fits a session's 32-bit tag; it wraps after 65,536 removals of
    /// the slot.
    pub const fn generation(self) -> u16 {
        self.generation
    }
}

/// The cost of reaching a server over the network (draft-srisuresh-lsnat § 5.2).
///
/// `Infinite` marks a server that is not accessible "due to network failure": no new session is
/// ever assigned to it, by any algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cost {
    /// A finite routing cost, e.g. taken from RIP or OSPF (draft-srisuresh-lsnat § 5.2).
    Finite(u32),
    /// Not reachable: never chosen (draft-srisuresh-lsnat § 5.2).
    Infinite,
}

impl Cost {
    /// The finite value, `None` if infinite (draft-srisuresh-lsnat § 5.2).
    pub const fn finite(self) -> Option<u32> {
        match self {
            Cost::Finite(c) => Some(c),
            Cost::Infinite => None,
        }
    }
}

impl Default for Cost {
    /// Cost 1: all servers equally near (draft-srisuresh-lsnat § 5.1).
    fn default() -> Self {
        Cost::Finite(1)
    }
}

/// What the operator wants of a server (draft-srisuresh-lsnat § 1, § 3: nodes "may be replaced,
/// new nodes may be added and others may be in transition").
///
/// Only `Active` servers take new sessions of their own. Every state keeps the sessions already
/// bound: the translator unbinds them as they end (§ 2.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AdminState {
    /// Takes new sessions (draft-srisuresh-lsnat § 3).
    Active,
    /// No new sessions, existing ones finish; an event tells when the last one ended, so that the
    /// server can be removed (draft-srisuresh-lsnat § 2.5).
    Draining,
    /// Being upgraded: no new sessions of its own; sessions a static mapping covers go to its
    /// backup server instead (draft-srisuresh-lsnat § 3).
    Maintenance,
    /// A backup only: takes the sessions redirected to it by a static mapping, never sessions of
    /// the load-share algorithm (draft-srisuresh-lsnat § 3).
    Standby,
}

/// How a server is configured when added to a pool (draft-srisuresh-lsnat § 3, § 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ServerSpec<A> {
    /// The real address the virtual address is translated to (draft-srisuresh-lsnat § 3).
    pub addr: A,
    /// The real port, or `None` to keep the client's destination port (draft-srisuresh-lsnat § 3).
    pub port: Option<u16>,
    /// Capacity weight: "weights to hosts based on resource availability" (§ 5.1, item 4), also
    /// the weight of weighted round robin. Zero means no new sessions.
    pub weight: u32,
    /// Network access cost (draft-srisuresh-lsnat § 5.2).
    pub cost: Cost,
}

impl<A> ServerSpec<A> {
    /// A server at `addr`, same port as the virtual server, weight 1, cost 1
    /// (draft-srisuresh-lsnat § 3).
    pub const fn new(addr: A) -> Self {
        ServerSpec {
            addr,
            port: None,
            weight: 1,
            cost: Cost::Finite(1),
        }
    }

    /// The same server with a real port (draft-srisuresh-lsnat § 3).
    #[must_use]
    pub const fn with_port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// The same server with a capacity weight (draft-srisuresh-lsnat § 5.1, item 4).
    #[must_use]
    pub const fn with_weight(mut self, weight: u32) -> Self {
        self.weight = weight;
        self
    }

    /// The same server with a network cost (draft-srisuresh-lsnat § 5.2).
    #[must_use]
    pub const fn with_cost(mut self, cost: Cost) -> Self {
        self.cost = cost;
        self
    }
}

/// Sum of session weights bound to a server over its capacity weight
/// (draft-srisuresh-lsnat § 5.1, item 4).
///
/// Kept as a fraction so that the draft's example reads exactly: `(2·5 + 5·1) / 3 = 5`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WeightedLoad {
    /// Sum of the session weights of the sessions bound to the server.
    pub session_weight_sum: u64,
    /// The server's capacity weight.
    pub server_weight: u32,
}

impl WeightedLoad {
    /// The load as a number, `None` for a server of weight zero (draft-srisuresh-lsnat § 5.1).
    pub fn value(self) -> Option<f64> {
        if self.server_weight == 0 {
            return None;
        }
        // Exact for the magnitudes seen in practice; only used for reports and tests.
        #[allow(clippy::cast_precision_loss)]
        Some(self.session_weight_sum as f64 / f64::from(self.server_weight))
    }

    /// The load in 32.32 fixed point, the form the selector compares; `None` for weight zero
    /// (draft-srisuresh-lsnat § 5.1, item 4).
    pub fn fixed_point(self) -> Option<u128> {
        if self.server_weight == 0 {
            return None;
        }
        // A 64-bit division when the shifted sum fits, which is the common case.
        if let Ok(sum) = u32::try_from(self.session_weight_sum) {
            return Some(u128::from(
                (u64::from(sum) << 32) / u64::from(self.server_weight),
            ));
        }
        Some((u128::from(self.session_weight_sum) << 32) / u128::from(self.server_weight))
    }
}

/// A snapshot of one server's state and counters (draft-srisuresh-lsnat § 4, § 5, § 6).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ServerStats<A> {
    /// The server's configuration.
    pub spec: ServerSpec<A>,
    /// Administrative state.
    pub admin: AdminState,
    /// Liveness as detected (draft-srisuresh-lsnat § 6).
    pub health: Health,
    /// Sessions bound now (draft-srisuresh-lsnat § 4.1, § 4.3).
    pub sessions: u32,
    /// Weighted load (draft-srisuresh-lsnat § 5.1, item 4).
    pub weighted_load: WeightedLoad,
    /// Bindings made since the server was added.
    pub bindings: u64,
    /// Unbindings made since the server was added.
    pub unbindings: u64,
    /// Packets in the sliding window (draft-srisuresh-lsnat § 5.1, item 3).
    pub window_packets: u64,
    /// Bytes in the sliding window (draft-srisuresh-lsnat § 5.1, item 3).
    pub window_bytes: u64,
    /// Smoothed probe round-trip time in microseconds, if any probe answered
    /// (draft-srisuresh-lsnat § 5.1, item 5).
    pub srtt_micros: Option<u64>,
    /// Transitions to dead (draft-srisuresh-lsnat § 6).
    pub dead_transitions: u64,
    /// Transitions back to alive (draft-srisuresh-lsnat § 6).
    pub alive_transitions: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_load_fixed_point_agrees_across_magnitudes() {
        let small = WeightedLoad {
            session_weight_sum: 15,
            server_weight: 3,
        };
        assert_eq!(small.fixed_point(), Some(5u128 << 32));
        assert_eq!(small.value(), Some(5.0));
        let big = WeightedLoad {
            session_weight_sum: (1 << 40) + 6,
            server_weight: 3,
        };
        assert_eq!(big.fixed_point(), Some((((1u128 << 40) + 6) << 32) / 3));
        let edge = WeightedLoad {
            session_weight_sum: u64::from(u32::MAX),
            server_weight: 7,
        };
        assert_eq!(edge.fixed_point(), Some((u128::from(u32::MAX) << 32) / 7));
    }

    #[test]
    fn zero_weight_server_has_no_weighted_load() {
        let w = WeightedLoad {
            session_weight_sum: 1,
            server_weight: 0,
        };
        assert_eq!((w.value(), w.fixed_point()), (None, None));
    }

    #[test]
    fn infinite_cost_has_no_finite_value() {
        assert_eq!(Cost::Infinite.finite(), None);
        assert_eq!(Cost::default().finite(), Some(1));
    }
}
