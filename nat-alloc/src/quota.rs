//! Per-subscriber limits: ports and ICMP identifiers per protocol, concurrent sessions, and the
//! rate of new TCP sessions.
//!
//! draft-nishitani-cgn § 3 REQ-2c/d (UDP ports), REQ-3c/d (TCP ports), REQ-4c/d (ICMP
//! identifiers) and [RFC 6888] REQ-4 (limits per subscriber, per protocol, configurable) bound
//! what one subscriber can take, so that one subscriber's appetite cannot starve another.
//! REQ-3e and RFC 6888 REQ-4c/REQ-5 bound the rate of new sessions: a token bucket per
//! subscriber, checked by [`PortAllocator::admit_session`].
//!
//! [RFC 6888]: https://www.rfc-editor.org/rfc/rfc6888#section-3
//! [`PortAllocator::admit_session`]: nat_core::allocator::PortAllocator::admit_session

use nat_core::allocator::AllocError;
use nat_core::flow::L4Proto;
use nat_core::time::{Duration, Instant};

use crate::error::ConfigError;

/// A subscriber's session count and new-session token bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Bucket {
    /// Sessions admitted and not closed.
    pub(crate) sessions: u32,
    /// Tokens (one session costs the rate's period in milliseconds).
    pub(crate) tokens: u32,
    /// When the tokens were last counted (ms).
    pub(crate) refilled: u64,
}

impl Bucket {
    /// No session, a full bucket at `now_ms`.
    pub(crate) fn full(q: &Quotas, now_ms: u64) -> Bucket {
        Bucket {
            sessions: 0,
            tokens: u32::try_from(q.full_bucket()).unwrap_or(u32::MAX),
            refilled: now_ms,
        }
    }
}

/// A rate of new sessions: `sessions` per `per`, with bursts of up to `burst`
/// (draft-nishitani-cgn REQ-3e, [RFC 6888] REQ-4c). `burst` × `per` must stay under 2^32 ms.
///
/// [RFC 6888]: https://www.rfc-editor.org/rfc/rfc6888#section-3
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RateLimit {
    /// Sessions allowed per period, on average.
    pub sessions: u32,
    /// The period.
    pub per: Duration,
    /// Sessions that may be opened at once after a quiet spell.
    pub burst: u32,
}

/// Per-subscriber limits (draft-nishitani-cgn REQ-2c/d, 3c/d/e, 4c/d; [RFC 6888] REQ-4, REQ-5).
///
/// [RFC 6888]: https://www.rfc-editor.org/rfc/rfc6888#section-3
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Quotas {
    /// Outside ports (ICMP identifiers for [`L4Proto::Icmp`]) per protocol, indexed by
    /// [`L4Proto::index`]; `u32::MAX` for no limit.
    pub ports: [u32; 3],
    /// Concurrent sessions admitted by `admit_session`; `u32::MAX` for no limit.
    pub sessions: u32,
    /// Rate of new TCP sessions (REQ-3e); `None` for no limit.
    pub tcp_rate: Option<RateLimit>,
}

impl Quotas {
    /// No limits.
    pub const UNLIMITED: Quotas = Quotas {
        ports: [u32::MAX; 3],
        sessions: u32::MAX,
        tcp_rate: None,
    };

    /// Port limits per protocol, no session limits.
    pub const fn ports(tcp: u32, udp: u32, icmp: u32) -> Quotas {
        let mut ports = [0; 3];
        ports[L4Proto::Tcp.index()] = tcp;
        ports[L4Proto::Udp.index()] = udp;
        ports[L4Proto::Icmp.index()] = icmp;
        Quotas {
            ports,
            sessions: u32::MAX,
            tcp_rate: None,
        }
    }

    /// The port limit for `proto`.
    pub const fn port_limit(&self, proto: L4Proto) -> u32 {
        self.ports[proto.index()]
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if let Some(r) = self.tcp_rate
            && (r.sessions == 0
                || r.per.as_millis() == 0
                || r.burst == 0
                || self.full_bucket() > u64::from(u32::MAX))
        {
            return Err(ConfigError::OutOfRange {
                field: "quotas.tcp_rate",
            });
        }
        Ok(())
    }

    /// A full token bucket (one session costs `per` in milliseconds).
    pub(crate) fn full_bucket(&self) -> u64 {
        match self.tcp_rate {
            Some(r) => u64::from(r.burst).saturating_mul(per_ms(&r)),
            None => 0,
        }
    }
}

impl Default for Quotas {
    /// [`Quotas::UNLIMITED`].
    fn default() -> Self {
        Quotas::UNLIMITED
    }
}

fn per_ms(r: &RateLimit) -> u64 {
    u64::try_from(r.per.as_millis()).unwrap_or(u64::MAX)
}

/// Tokens the bucket of `s` holds at `now`.
fn tokens_at(s: &Bucket, q: &Quotas, now: Instant) -> u64 {
    match q.tcp_rate {
        Some(r) => {
            let elapsed = now.as_millis().saturating_sub(s.refilled);
            u64::from(s.tokens)
                .saturating_add(elapsed.saturating_mul(u64::from(r.sessions)))
                .min(q.full_bucket())
        }
        None => 0,
    }
}

/// Whether the subscriber's bucket is full at `now`, so that forgetting it loses nothing.
pub(crate) fn bucket_full(s: &Bucket, q: &Quotas, now: Instant) -> bool {
    q.tcp_rate.is_none() || tokens_at(s, q, now) >= q.full_bucket()
}

/// Whether `s` may open one more session of `proto` now; counts it if so.
pub(crate) fn admit(
    s: &mut Bucket,
    q: &Quotas,
    now: Instant,
    proto: L4Proto,
) -> Result<(), AllocError> {
    if s.sessions >= q.sessions {
        return Err(AllocError::QuotaExhausted);
    }
    if proto == L4Proto::Tcp
        && let Some(r) = q.tcp_rate
    {
        let t = tokens_at(s, q, now);
        let cost = per_ms(&r);
        s.tokens = u32::try_from(t).unwrap_or(u32::MAX);
        s.refilled = s.refilled.max(now.as_millis());
        if t < cost {
            return Err(AllocError::RateLimited);
        }
        s.tokens = u32::try_from(t - cost).unwrap_or(u32::MAX);
    }
    s.sessions += 1;
    Ok(())
}

/// Records the end of a session of `s`.
pub(crate) fn close(s: &mut Bucket) {
    s.sessions = s.sessions.saturating_sub(1);
}

/// Whether a subscriber holding `used` ports of `proto` may take one more.
pub(crate) fn port_quota_left(used: &[u32; 3], q: &Quotas, proto: L4Proto) -> bool {
    used[proto.index()] < q.port_limit(proto)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_bucket_limits_tcp_rate() {
        let q = Quotas {
            tcp_rate: Some(RateLimit {
                sessions: 10,
                per: Duration::from_secs(1),
                burst: 5,
            }),
            ..Quotas::UNLIMITED
        };
        let t0 = Instant::from_secs(100);
        let mut s = Bucket::full(&q, t0.as_millis());
        for _ in 0..5 {
            admit(&mut s, &q, t0, L4Proto::Tcp).unwrap();
        }
        assert_eq!(
            admit(&mut s, &q, t0, L4Proto::Tcp),
            Err(AllocError::RateLimited)
        );
        admit(&mut s, &q, t0, L4Proto::Udp).unwrap();
        let t1 = t0 + Duration::from_millis(100);
        admit(&mut s, &q, t1, L4Proto::Tcp).unwrap();
        assert_eq!(
            admit(&mut s, &q, t1, L4Proto::Tcp),
            Err(AllocError::RateLimited)
        );
        assert!(!bucket_full(&s, &q, t1));
        assert!(bucket_full(&s, &q, t1 + Duration::from_secs(1)));
    }
}
