//! `nat-core`: the sans-IO, `no_std`, heap-free core of the translation library.
//!
//! Packets in, verdicts out. This crate holds the pieces every translator stands on:
//!
//! - [`checksum`]: RFC 1071 sums and RFC 1624 incremental updates;
//! - [`wire`]: bounds-checked parsing of IPv4, IPv6, TCP, UDP and ICMP into [`flow`] keys,
//!   including the truncated packets quoted inside ICMP errors;
//! - [`verdict`]: what happens to a packet, and why a packet is dropped;
//! - [`session`]: the binding (BIB) and session tables of RFC 6146 as a store trait, with a
//!   fixed-capacity implementation that needs no heap;
//! - [`allocator`]: the interface through which a translator obtains outside endpoints.
//!
//! No clock is read and no randomness is drawn here: `now` is an argument ([`time::Instant`]),
//! and seeds come from configuration, so the same inputs give the same outputs.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "std")]
extern crate std;

pub mod allocator;
pub mod behavior;
pub mod checksum;
pub mod event;
pub mod flow;
pub mod fragments;
mod held;
pub mod icmp_error;
pub mod nat44;
pub mod nat46;
pub mod nat64;
pub mod prefix;
pub mod rewrite;
pub mod session;
pub mod siit;
pub mod stateful;
pub mod tcp_state;
pub mod time;
pub mod verdict;
pub mod wire;
