//! `nat-alloc`: who gets which outside address and port.
//!
//! A translator (NAT44, NAT64) asks a [`PortAllocator`] for an outside endpoint when it creates
//! a mapping, and gives it back when the mapping ends. This crate implements that trait with the
//! policies a carrier-grade NAT needs (draft-nishitani-cgn § 3, [RFC 6888], [RFC 4787],
//! [RFC 6056], [RFC 7269 § 5.1], [RFC 7422]):
//!
//! | Policy | Type | Log |
//! |---|---|---|
//! | one address, port preservation else next free (for tests, small routers) | [`SimpleAllocator`] | none |
//! | paired pooling, port choice, quotas, hold-down, exemptions, one port at a time | [`PooledAllocator`] | per port (optional) |
//! | the same, ports handed out in blocks of N, up to M per subscriber | [`BlockAllocator`] | per block |
//! | deterministic NAT: ranges computed from the inside address, reversible | [`DeterministicAllocator`] | none |
//!
//! Common to the pooled and block policies:
//!
//! - **Paired pooling** ([RFC 4787] REQ-2, [RFC 6888] REQ-2, draft-nishitani-cgn REQ-1): a
//!   subscriber (an inside address, or a prefix with `subscriber_prefix_len`) gets one outside
//!   address for TCP, UDP and ICMP, kept while it holds any mapping, block or session.
//! - **Port choice** ([`PortPolicy`]): preservation, range (REQ-3a) and parity (REQ-4)
//!   preservation, RFC 6056 algorithm 3 or 4 with a keyed SipHash-1-3 ("hard to guess",
//!   [RFC 6888] REQ-15). The key ([`SecretKey`]) comes from configuration: no randomness source,
//!   so a backup fed the same calls chooses the same ports.
//! - **Quotas** ([`Quotas`]): ports and ICMP identifiers per subscriber and protocol
//!   (draft-nishitani-cgn REQ-2c/d, 3c/d, 4c/d), sessions per subscriber and a token bucket on
//!   new TCP sessions (REQ-3e) through [`PortAllocator::admit_session`].
//! - **Hold-down** ([RFC 6888] REQ-8, default 120 s, capacity configurable).
//! - **Exemptions** ([`Exemption`], draft-nishitani-cgn REQ-5 and § 7): destinations outside the
//!   quota, or not translated at all.
//! - **Events** ([`AllocEvent`]) in a bounded queue the caller drains ([`EventQueue`]).
//!
//! # Example
//!
//! ```
//! use core::net::Ipv4Addr;
//! use nat_alloc::*;
//! use nat_core::allocator::{AllocRequest, PortAllocator};
//! use nat_core::flow::{Endpoint, L4Proto};
//! use nat_core::time::Instant;
//!
//! let pool = [Ipv4Range::prefix(Ipv4Addr::new(198, 51, 100, 0), 30)?];
//! let cfg = PooledConfig {
//!     quotas: Quotas::ports(1000, 1000, 100),
//!     ..PooledConfig::new(&pool, SecretKey::new(0x1234, 0x5678))
//! };
//! // Firmware would use statics; these arrays are small enough for the stack.
//! let mut subscribers = [SubscriberSlot::EMPTY; 64];
//! let mut addresses = vec![AddressSlot::EMPTY; 4];
//! let mut hold_down = [HoldSlot::EMPTY; 256];
//! let mut events = [None; 16];
//! let storage = PooledStorage {
//!     subscribers: &mut subscribers,
//!     addresses: &mut addresses,
//!     hold_down: &mut hold_down,
//!     exempt: &mut [],
//!     events: &mut events,
//! };
//! let mut nat = PooledAllocator::new(&cfg, storage)?;
//! let req = AllocRequest {
//!     proto: L4Proto::Udp,
//!     inside: Endpoint::new(Ipv4Addr::new(100, 64, 0, 7), 40000),
//!     remote: Endpoint::new(Ipv4Addr::new(192, 0, 2, 1), 53),
//! };
//! let now = Instant::from_secs(1);
//! let outside = nat.allocate(now, &req)?;
//! assert!(pool[0].contains(outside.addr) && outside.port >= 1024);
//! // ... when the mapping's timer runs out:
//! nat.release(now, req.proto, req.inside, outside);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The release contract
//!
//! The translator calls `release` only when the mapping's timer has run out (UDP, ICMP) or no
//! session uses the port any more (TCP). The allocator never hands out a port between
//! `allocate` and `release`, and waits the hold-down after `release` before another subscriber
//! gets it: together these give draft-nishitani-cgn REQ-2a, 3a and 4a (no overloading while a
//! mapping timer runs). A release the allocator cannot match to the caller's subscriber is
//! ignored and counted ([`AllocStats::ignored_releases`]).
//!
//! # Memory
//!
//! No heap: each allocator works in slices the caller provides (statics in firmware, `Vec`s in
//! `nat-std`), or, for [`SimpleAllocator`], in arrays inside the value. Allocation and release
//! cost O(1) amortised: bitmaps searched a word at a time with summaries, open-addressing
//! tables, FIFO rings and intrusive lists for expiry; nothing scans a pool. Sizes on x86-64 (the
//! `memory_per_subscriber_and_address` test prints and bounds them):
//!
//! | Item | Bytes |
//! |---|---|
//! | [`SubscriberSlot`] (NAT44 / NAT64), per subscriber; the table runs ≤ 7/8 full | 64 / 72 |
//! | [`AddressSlot`] (per-port pool), per outside address: 3 × 65,536-port bitmaps | 25,376 |
//! | [`HoldSlot`], per port in hold-down; [`ExemptSlot`], per exempt mapping | 16; 8 |
//! | [`BlockSlot`] (NAT44 / NAT64) + bitmaps, per block of N ports | 40 / 56 + 24·⌈N/64⌉ |
//! | block pool bitmap, per outside address | 8·⌈P / N / 64⌉ for P ports (32 for 64,512 ports, N = 256) |
//! | block mode, per NAT44 subscriber with M = 8 blocks of N = 256 (worst case) | 1,161 |
//! | [`DeterministicSlot`] + bitmaps, per subscriber of P ports | 32 + 24·⌈P/64⌉ (800 for P = 2,000) |
//! | [`SimpleAllocator`] (whole value) | 25,376 |
//! | [`BlockAllocator`] (whole value; 768 B of it the scatter permutation's round tables) | 1,520 |
//!
//! # Time
//!
//! `now` ([`Instant`](nat_core::time::Instant)) is an argument of every call; each call that
//! can take a port first expires what is due (hold-downs, idle blocks; the block allocator's
//! `release` leaves it to the next call, since a port it frees cannot depend on it),
//! `poll(now)` does only that, and
//! `next_timeout()` tells the caller's timer when it is next needed (quinn-proto style). The
//! same configuration, key and calls give the same answers: a hot standby replaying its
//! primary's calls holds the same ports.
//!
//! [RFC 4787]: https://www.rfc-editor.org/rfc/rfc4787#section-4
//! [RFC 6056]: https://www.rfc-editor.org/rfc/rfc6056
//! [RFC 6888]: https://www.rfc-editor.org/rfc/rfc6888#section-3
//! [RFC 7269 § 5.1]: https://www.rfc-editor.org/rfc/rfc7269#section-5.1
//! [RFC 7422]: https://www.rfc-editor.org/rfc/rfc7422
//! [`PortAllocator`]: nat_core::allocator::PortAllocator
//! [`PortAllocator::admit_session`]: nat_core::allocator::PortAllocator::admit_session
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(any(test, feature = "std"))]
extern crate std;

mod admission;
mod bitmap;
mod blocks;
mod deterministic;
mod error;
mod events;
mod exemption;
mod hash;
mod holddown;
mod pool;
mod pooled;
mod port;
mod quota;
mod scatter;
mod simple;
mod subscriber;

pub use blocks::{BlockAllocator, BlockConfig, BlockLayout, BlockSlot, BlockStorage};
pub use deterministic::{
    DeterministicAllocator, DeterministicConfig, DeterministicMap, DeterministicRange,
    DeterministicSlot, InsidePrefix,
};
pub use error::ConfigError;
pub use events::{AllocEvent, AllocStats, EventQueue};
pub use exemption::{ExemptAction, ExemptSlot, Exemption, Exemptions};
pub use hash::SecretKey;
pub use holddown::HoldSlot;
pub use pool::{AddressPool, Ipv4Range, PROBE_LIMIT};
pub use pooled::{AddressSlot, DEFAULT_HOLD_DOWN, PooledAllocator, PooledConfig, PooledStorage};
pub use port::{PortPolicy, PortRange, Selection};
pub use quota::{Quotas, RateLimit};
pub use simple::SimpleAllocator;
pub use subscriber::{InsideAddress, SubscriberSlot};
