//! The steps the pooled and block allocators take before they choose a port: expire what is
//! due, find or create the subscriber's record, classify the destination (exempt or not,
//! draft-nishitani-cgn REQ-5 and § 7) and check the port quota (REQ-2c, 3c, 4c); and the
//! refusal both log once per protocol.
//!
//! One trait with provided methods, so that the two `allocate`s share these steps instead of
//! repeating them.

use core::net::Ipv4Addr;

use nat_core::allocator::{AllocError, AllocRequest};
use nat_core::flow::L4Proto;
use nat_core::time::Instant;

use crate::events::{AllocEvent, AllocStats, EventQueue};
use crate::exemption::{ExemptTable, Exemptions};
use crate::quota::{self, Bucket, Quotas};
use crate::subscriber::{InsideAddress, SubscriberTable};

/// A request past the prologue: whose it is, and whether it is exempt from the quota.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Admitted<I> {
    /// The subscriber (inside address masked to the subscriber prefix).
    pub(crate) sub: I,
    /// Its keyed hash (as in its record, but computed from the address, so that what hashes
    /// it further need not wait for the record).
    pub(crate) hash: u64,
    /// Its record in the subscriber table.
    pub(crate) si: usize,
    /// The destination is exempt from the quota and there is room to remember it.
    pub(crate) exempt: bool,
}

/// The state the prologue reads and writes, borrowed from an allocator.
pub(crate) struct Parts<'s, 'a, I> {
    pub(crate) subs: &'s mut SubscriberTable<'a, I>,
    pub(crate) exemptions: &'s Exemptions<'a>,
    pub(crate) exempt: &'s ExemptTable<'a>,
    pub(crate) events: &'s mut EventQueue<'a, I>,
    pub(crate) quotas: &'s Quotas,
    pub(crate) stats: &'s mut AllocStats,
}

/// What an allocator with a subscriber table provides for the shared steps.
pub(crate) trait Admission<'a, I: InsideAddress + 'a> {
    /// Expires what is due at `now` (the allocator's `poll`).
    fn expire(&mut self, now: Instant);

    /// The state the shared steps work on.
    fn parts(&mut self) -> Parts<'_, 'a, I>;

    /// Unpairs and drops subscriber record `si` if it holds nothing (and its token bucket is
    /// full).
    fn forget_if_idle(&mut self, si: usize, now: Instant);

    /// Expires what is due, then finds or creates the subscriber's record and checks its
    /// quota; an error is counted and, the first time per protocol, logged.
    #[inline]
    fn admit(
        &mut self,
        now: Instant,
        req: &AllocRequest<I, Ipv4Addr>,
    ) -> Result<Admitted<I>, AllocError> {
        self.expire(now);
        let p = self.parts();
        let sub = p.subs.subscriber_of(req.inside.addr);
        let hash = p.subs.hash_of(sub);
        let Some(si) = p
            .subs
            .find_or_insert_hashed(sub, hash, || Bucket::full(p.quotas, now.as_millis()))
        else {
            p.stats.pool_rejections += 1;
            return Err(AllocError::PoolExhausted);
        };
        let proto = req.proto;
        let exempt = !p.exemptions.is_empty()
            && p.exemptions.classify(proto, &req.remote).is_some()
            && p.exempt.has_room();
        if !exempt && !quota::port_quota_left(&p.subs.get(si).used, p.quotas, proto) {
            return Err(self.reject(si, now, proto, AllocError::QuotaExhausted));
        }
        Ok(Admitted {
            sub,
            hash,
            si,
            exempt,
        })
    }

    /// Counts a refused request of subscriber record `si`, queues its event unless one was
    /// queued since the subscriber's last release (one per protocol for quotas, one for the
    /// pool), and forgets the record if it holds nothing. Returns `err`.
    #[cold]
    fn reject(&mut self, si: usize, now: Instant, proto: L4Proto, err: AllocError) -> AllocError {
        let p = self.parts();
        let quota = err == AllocError::QuotaExhausted;
        let bit = if quota {
            p.stats.quota_rejections += 1;
            1 << proto.index()
        } else {
            p.stats.pool_rejections += 1;
            8
        };
        let s = p.subs.get_mut(si);
        if s.logged & bit == 0 {
            s.logged |= bit;
            let subscriber = s.key;
            p.events.push(if quota {
                AllocEvent::QuotaExhausted {
                    at: now,
                    subscriber,
                    proto,
                }
            } else {
                AllocEvent::PoolExhausted {
                    at: now,
                    subscriber,
                    proto,
                }
            });
        }
        self.forget_if_idle(si, now);
        err
    }
}

/// Implements [`Admission`] for an allocator whose fields carry the names of [`Parts`] and
/// which has `poll` and `forget_if_idle` methods (invoked in the allocator's module, which
/// sees its fields).
macro_rules! admission_by_fields {
    ($alloc:ident) => {
        impl<'a, I: $crate::subscriber::InsideAddress> $crate::admission::Admission<'a, I>
            for $alloc<'a, I>
        {
            #[inline]
            fn expire(&mut self, now: nat_core::time::Instant) {
                self.poll(now);
            }

            #[inline]
            fn parts(&mut self) -> $crate::admission::Parts<'_, 'a, I> {
                $crate::admission::Parts {
                    subs: &mut self.subs,
                    exemptions: &self.exemptions,
                    exempt: &self.exempt,
                    events: &mut self.events,
                    quotas: &self.quotas,
                    stats: &mut self.stats,
                }
            }

            #[inline]
            fn forget_if_idle(&mut self, si: usize, now: nat_core::time::Instant) {
                Self::forget_if_idle(self, si, now);
            }
        }
    };
}

pub(crate) use admission_by_fields;
