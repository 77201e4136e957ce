//! The interface through which a translator obtains outside endpoints and gives them back.
//!
//! Policies (paired pools, port blocks, quotas, deterministic NAT, RFC 6056 randomisation) live
//! in `nat-alloc`; the translators only see this trait, called at most once per new mapping, so
//! it is generic (monomorphised), never a `dyn` call on the packet path.

use crate::flow::{Endpoint, IpAddress, L4Proto};
use crate::time::Instant;

/// A request for an outside endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllocRequest<I, O> {
    /// Transport protocol of the mapping.
    pub proto: L4Proto,
    /// The inside endpoint (subscriber address and port or ICMP identifier).
    pub inside: Endpoint<I>,
    /// The remote endpoint of the packet that asks: what address-dependent policies and
    /// exemptions ([draft-nishitani-cgn § 7]) look at.
    ///
    /// [draft-nishitani-cgn § 7]: https://datatracker.ietf.org/doc/html/draft-nishitani-cgn
    pub remote: Endpoint<O>,
}

/// Why no outside endpoint was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AllocError {
    /// The subscriber used up its quota for this protocol ([RFC 6888] REQ-4,
    /// draft-nishitani-cgn REQ-2c/3c/4c).
    ///
    /// [RFC 6888]: https://www.rfc-editor.org/rfc/rfc6888
    QuotaExhausted,
    /// No free outside endpoint is left in the pool (for this subscriber's paired address).
    PoolExhausted,
    /// The subscriber opens new sessions faster than its configured rate
    /// (draft-nishitani-cgn REQ-3e).
    RateLimited,
    /// The inside address is not a subscriber this allocator serves (draft-nishitani-cgn § 9).
    NotSubscriber,
    /// The requested outside endpoint (for a static mapping) is taken or outside the pool.
    Unavailable,
}

impl core::fmt::Display for AllocError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            AllocError::QuotaExhausted => "subscriber quota exhausted",
            AllocError::PoolExhausted => "outside pool exhausted",
            AllocError::RateLimited => "subscriber session rate limit",
            AllocError::NotSubscriber => "source is not a subscriber",
            AllocError::Unavailable => "outside endpoint unavailable",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for AllocError {}

/// Chooses outside endpoints for inside endpoints of address family `I`, from a pool of family
/// `O` (IPv4 for NAT44 and NAT64).
///
/// An implementation must never hand the same outside endpoint of one protocol to two holders
/// at once, and must keep one subscriber's exhaustion from changing what another gets
/// ([RFC 6888] REQ-4; [RFC 5508 § 6]).
///
/// [RFC 6888]: https://www.rfc-editor.org/rfc/rfc6888
/// [RFC 5508 § 6]: https://www.rfc-editor.org/rfc/rfc5508#section-6
pub trait PortAllocator<I: IpAddress, O: IpAddress> {
    /// Gives an outside endpoint for a new mapping of `req.inside`.
    fn allocate(
        &mut self,
        now: Instant,
        req: &AllocRequest<I, O>,
    ) -> Result<Endpoint<O>, AllocError>;

    /// Claims a chosen outside endpoint, for a static mapping (port forwarding) or for a
    /// backup that replays its primary's state.
    fn reserve(
        &mut self,
        now: Instant,
        proto: L4Proto,
        inside: Endpoint<I>,
        outside: Endpoint<O>,
    ) -> Result<(), AllocError>;

    /// Returns an endpoint obtained from [`allocate`](Self::allocate) or
    /// [`reserve`](Self::reserve) when its mapping ends. The policy decides when the endpoint may
    /// be handed out again ([RFC 6888] REQ-8 hold-down).
    ///
    /// [RFC 6888]: https://www.rfc-editor.org/rfc/rfc6888
    fn release(&mut self, now: Instant, proto: L4Proto, inside: Endpoint<I>, outside: Endpoint<O>);

    /// Asks whether the subscriber `inside` may open one more session (not mapping) now, for
    /// per-subscriber session quotas and rate limits (draft-nishitani-cgn REQ-3e). The default
    /// admits every session.
    fn admit_session(&mut self, now: Instant, proto: L4Proto, inside: I) -> Result<(), AllocError> {
        let _ = (now, proto, inside);
        Ok(())
    }

    /// Tells the policy that a session admitted by [`admit_session`](Self::admit_session) ended.
    fn session_closed(&mut self, now: Instant, proto: L4Proto, inside: I) {
        let _ = (now, proto, inside);
    }

    /// Runs the policy's own timers due at `now` (hold-downs ending, idle port blocks freed).
    /// The translators call it from their `handle_timeout`. The default has none.
    fn poll(&mut self, now: Instant) {
        let _ = now;
    }

    /// When [`poll`](Self::poll) next has work; `None` if never.
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

/// An allocator behind a `&mut`, so that a translator can borrow one kept in a `static`
/// (firmware) or shared with the code that drains its events.
impl<I: IpAddress, O: IpAddress, P: PortAllocator<I, O> + ?Sized> PortAllocator<I, O> for &mut P {
    fn allocate(
        &mut self,
        now: Instant,
        req: &AllocRequest<I, O>,
    ) -> Result<Endpoint<O>, AllocError> {
        (**self).allocate(now, req)
    }

    fn reserve(
        &mut self,
        now: Instant,
        proto: L4Proto,
        inside: Endpoint<I>,
        outside: Endpoint<O>,
    ) -> Result<(), AllocError> {
        (**self).reserve(now, proto, inside, outside)
    }

    fn release(&mut self, now: Instant, proto: L4Proto, inside: Endpoint<I>, outside: Endpoint<O>) {
        (**self).release(now, proto, inside, outside)
    }

    fn admit_session(&mut self, now: Instant, proto: L4Proto, inside: I) -> Result<(), AllocError> {
        (**self).admit_session(now, proto, inside)
    }

    fn session_closed(&mut self, now: Instant, proto: L4Proto, inside: I) {
        (**self).session_closed(now, proto, inside)
    }

    fn poll(&mut self, now: Instant) {
        (**self).poll(now)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        (**self).poll_timeout()
    }
}
