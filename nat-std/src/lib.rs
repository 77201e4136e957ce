//! `nat-std`: the std runtime of the translation library. Everything with a clock, a file or a
//! socket lives here; the translators themselves stay sans-IO in `nat-core`.
//!
//! - [`store`]: a `hashbrown` session store for tens of millions of sessions.
//! - [`config`]: TOML configuration files, with errors that name the line and the field.
//! - [`log`]: translation logs in RFC 5424 syslog form, written off the packet path.
//! - [`tun`]: Linux TUN devices (`tun-rs`, synchronous).
//! - [`pcap`]: classic libpcap capture files, read and written (the `replay` example).
//! - [`runtime`]: the worker loop of the translator binaries (NAT44, NAT64/SIIT, LSNAT):
//!   TUN ↔ engine, timers, counters, signals.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod log;
pub mod pcap;
pub mod runtime;
pub mod store;
pub mod tun;
