//! `nat-lsnat`: the load-sharing half of a Load Share NAT ([RFC 2391], draft-srisuresh-lsnat).
//!
//! An LSNAT router binds each new inbound session to a virtual server address to one host of a
//! pool of real servers, "selected based on a real-time load-share algorithm" (§ 3), and keeps the
//! session on that host until it ends (§ 2.5). This crate holds everything about that choice; the
//! packet rewrite and the session table belong to the translator in `nat-core`, which calls in
//! here when a session starts, carries traffic and ends.
//!
//! Modules, by concept:
//!
//! - [`server`]: a real server's identity ([`server::ServerId`]: slot and generation), its
//!   configuration (weight, cost) and administrative state (active, draining, maintenance,
//!   standby);
//! - [`pool`]: [`pool::ServerPool`], up to `N` servers with their live counters: sessions bound
//!   (§ 4.1, § 4.3), session weights (§ 5.1), traffic over a sliding [`window`], probe round-trip
//!   times;
//! - [`algorithm`]: [`algorithm::Algorithm`], every selection the draft names (§ 5.1, § 5.2) plus
//!   weighted round robin, source hashing (RFC 7269 § 4.2) and Maglev;
//! - [`maglev`]: the Maglev lookup table, a const-generic `[u16; M]`;
//! - [`health`]: dead host detection (§ 6), passive and active, with a long pause before retry;
//! - [`event`]: [`event::LsnatEvent`], health transitions queued for the runtime;
//! - [`virtual_server`]: [`virtual_server::VirtualServer`] (address, load-shared services,
//!   algorithm, pool, static backup mappings for upgrades) and
//!   [`virtual_server::VirtualServerTable`] to find one by destination;
//! - [`hash`]: the small seeded hash behind the stateless algorithms.
//!
//! Sans-IO like the rest of the library: `now` is always an argument, seeds come from the
//! configuration, nothing allocates, and no input panics: full and empty pools are typed errors.
//!
//! ```
//! use core::net::Ipv4Addr;
//! use nat_core::flow::{Endpoint, FlowKey, L4Proto};
//! use nat_core::time::Instant;
//! use nat_lsnat::algorithm::Algorithm;
//! use nat_lsnat::server::ServerSpec;
//! use nat_lsnat::virtual_server::{VirtualServer, VirtualServerConfig};
//!
//! let vip = Ipv4Addr::new(172, 87, 0, 100);
//! let mut vs: VirtualServer<Ipv4Addr, 4> =
//!     VirtualServer::new(vip, Algorithm::LeastLoad, VirtualServerConfig::default()).unwrap();
//! let s1 = vs.pool_mut().add(ServerSpec::new(Ipv4Addr::new(172, 85, 0, 1))).unwrap();
//! let s3 = vs.pool_mut().add(ServerSpec::new(Ipv4Addr::new(172, 85, 0, 3))).unwrap();
//!
//! let now = Instant::from_secs(1);
//! let http = FlowKey::new(
//!     L4Proto::Tcp,
//!     Endpoint::new(Ipv4Addr::new(198, 76, 29, 7), 1024),
//!     Endpoint::new(vip, 80),
//! );
//! let first = vs.choose(now, &http).unwrap();
//! vs.bind(now, first, &http).unwrap();
//! // S1 is busy with a session, so the next one goes to the other server (§ 3.1).
//! let telnet = FlowKey::new(
//!     L4Proto::Tcp,
//!     Endpoint::new(Ipv4Addr::new(198, 23, 47, 2), 1090),
//!     Endpoint::new(vip, 23),
//! );
//! let second = vs.choose(now, &telnet).unwrap();
//! assert_ne!(first, second);
//! assert!([s1, s3].contains(&second));
//! ```
//!
//! [RFC 2391]: https://www.rfc-editor.org/rfc/rfc2391
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "std")]
extern crate std;

pub mod algorithm;
pub mod error;
pub mod event;
pub mod hash;
pub mod health;
pub mod maglev;
pub mod pool;
pub mod server;
pub mod translator;
pub mod virtual_server;
pub mod window;

pub use algorithm::{Algorithm, TrafficMetric};
pub use error::{ChooseError, ConfigError, PoolError};
pub use event::LsnatEvent;
pub use health::{DeadCause, Health, HealthConfig};
pub use maglev::MaglevTable;
pub use pool::{PoolConfig, ServerPool};
pub use server::{AdminState, Cost, ServerId, ServerSpec, ServerStats};
pub use virtual_server::{
    BackupMapping, Service, VirtualServer, VirtualServerConfig, VirtualServerTable,
};
