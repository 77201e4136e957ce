//! Virtual servers: the address clients see, the services load-shared on it, the algorithm, the
//! pool behind it and the static backup mappings used during upgrades (draft-srisuresh-lsnat § 3).
//!
//! "A virtual server address is a globally unique IP address that identifies a physical server
//! or a group of servers" (§ 3); "if load share is desired for just a few specific services, the
//! configuration on LSNAT could be defined to restrict load share for just the services desired"
//! (§ 3): a virtual server with no service listed shares every port, otherwise only those listed.
//! Each service carries the session weight of the least-weighted-load algorithm (§ 5.1, item 4).
//!
//! "A server that needs to be upgraded is statically mapped to a backup server", optionally for
//! one TU port service only (§ 3): while the primary is in [`AdminState::Maintenance`], the
//! sessions the algorithm would give it for the mapped service go to the backup instead. For the
//! hashing algorithms the backup takes exactly the primary's share of keys, and the primary gets
//! them back when it returns; for the load-based algorithms the backup competes in the
//! primary's place with its own load.

mod table;

pub use table::VirtualServerTable;

use crate::algorithm::{Algorithm, SelectorState};
use crate::error::{ChooseError, ConfigError, PoolError};
use crate::event::LsnatEvent;
use crate::hash::{hash_addr, hash_flow};
use crate::maglev::{MaglevTable, valid_table_size};
use crate::pool::{PoolConfig, ServerPool};
use crate::server::{AdminState, ServerId};
use crate::window::bucket_of;
use nat_core::flow::{FlowKey, IpAddress, L4Proto};
use nat_core::time::Instant;

/// Most services one virtual server can list (draft-srisuresh-lsnat § 3).
pub const MAX_SERVICES: usize = 16;
/// Most static backup mappings one virtual server can hold (draft-srisuresh-lsnat § 3).
pub const MAX_MAPPINGS: usize = 8;
/// Most entries the Maglev lookup probes past an entry whose server cannot take the key.
const MAGLEV_MAX_PROBES: usize = 4096;

/// A load-shared service: protocol, port, and the weight of its sessions
/// (draft-srisuresh-lsnat § 3, § 5.1 item 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Service {
    /// Transport protocol.
    pub proto: L4Proto,
    /// Server port on the virtual address (for ICMP queries: 0, see `nat_core::flow`).
    pub port: u16,
    /// Likely resource consumption of one session, e.g. FTP 5 and telnet 1
    /// (draft-srisuresh-lsnat § 5.1, item 4).
    pub session_weight: u32,
}

impl Service {
    /// A service with session weight 1 (draft-srisuresh-lsnat § 3).
    pub const fn new(proto: L4Proto, port: u16) -> Self {
        Service {
            proto,
            port,
            session_weight: 1,
        }
    }

    /// The same service with a session weight (draft-srisuresh-lsnat § 5.1, item 4).
    #[must_use]
    pub const fn with_session_weight(mut self, weight: u32) -> Self {
        self.session_weight = weight;
        self
    }
}

/// A static mapping of a server, or of one service on it, to a backup server
/// (draft-srisuresh-lsnat § 3), in force while the primary is in maintenance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BackupMapping {
    /// The server being upgraded.
    pub primary: ServerId,
    /// The server taking its sessions; active or standby.
    pub backup: ServerId,
    /// Only this service (protocol and port), or every service if `None`.
    pub service: Option<(L4Proto, u16)>,
}

/// Settings of a virtual server (draft-srisuresh-lsnat § 3, § 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VirtualServerConfig {
    /// Settings of its pool.
    pub pool: PoolConfig,
    /// Seed of the hashing algorithms; give a primary and its standby the same.
    pub seed: u64,
    /// Session weight of ports not listed as services (draft-srisuresh-lsnat § 5.1, item 4).
    pub default_session_weight: u32,
}

impl Default for VirtualServerConfig {
    /// Default pool, seed 0, session weight 1.
    fn default() -> Self {
        VirtualServerConfig {
            pool: PoolConfig::default(),
            seed: 0,
            default_session_weight: 1,
        }
    }
}

/// Counters of a virtual server's choices (draft-srisuresh-lsnat § 4.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct VirtualServerCounters {
    /// Sessions given a server.
    pub chosen: u64,
    /// Sessions refused for want of a server.
    pub no_server: u64,
    /// Keys that were not for a load-shared service.
    pub not_load_shared: u64,
    /// Maglev table rebuilds.
    pub maglev_rebuilds: u64,
}

/// A virtual server: address, services, algorithm, a pool of up to `N` servers, a Maglev table
/// of `M` entries (0: none) and traffic windows of `K` buckets (draft-srisuresh-lsnat § 3).
///
/// `M` must be 0 or a prime above `100 × N`; this is checked at compile time.
#[derive(Clone, Debug)]
pub struct VirtualServer<A, const N: usize, const M: usize = 0, const K: usize = 8> {
    addr: A,
    algorithm: Algorithm,
    services: [Option<Service>; MAX_SERVICES],
    mappings: [Option<BackupMapping>; MAX_MAPPINGS],
    mappings_version: u64,
    pool: ServerPool<A, N, K>,
    selector: SelectorState<N>,
    maglev: MaglevTable<M>,
    maglev_built: Option<(u64, u64)>,
    maglev_members: usize,
    config: VirtualServerConfig,
    counters: VirtualServerCounters,
}

impl<A: IpAddress, const N: usize, const M: usize, const K: usize> VirtualServer<A, N, M, K> {
    /// A virtual server at `addr` sharing every service, with an empty pool
    /// (draft-srisuresh-lsnat § 3). Fails if `algorithm` is Maglev and `M = 0`.
    pub fn new(
        addr: A,
        algorithm: Algorithm,
        config: VirtualServerConfig,
    ) -> Result<Self, ConfigError> {
        const {
            assert!(
                valid_table_size(M, N),
                "Maglev table size M must be 0 or a prime > 100 × N"
            )
        };
        let mut vs = VirtualServer {
            addr,
            algorithm: Algorithm::RoundRobin,
            services: [None; MAX_SERVICES],
            mappings: [None; MAX_MAPPINGS],
            mappings_version: 0,
            pool: ServerPool::new(config.pool),
            selector: SelectorState::new(),
            maglev: MaglevTable::new(),
            maglev_built: None,
            maglev_members: 0,
            config,
            counters: VirtualServerCounters::default(),
        };
        vs.set_algorithm(algorithm)?;
        Ok(vs)
    }

    /// The virtual server address (draft-srisuresh-lsnat § 3).
    pub const fn addr(&self) -> A {
        self.addr
    }

    /// The load-share algorithm in use (draft-srisuresh-lsnat § 5).
    pub const fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Change the algorithm; its history (round-robin position, weights) starts afresh
    /// (draft-srisuresh-lsnat § 5).
    pub fn set_algorithm(&mut self, algorithm: Algorithm) -> Result<(), ConfigError> {
        if algorithm == Algorithm::Maglev && M == 0 {
            return Err(ConfigError::NoMaglevTable);
        }
        self.algorithm = algorithm;
        self.selector.reset();
        Ok(())
    }

    /// The settings (draft-srisuresh-lsnat § 3).
    pub const fn config(&self) -> &VirtualServerConfig {
        &self.config
    }

    /// The pool (draft-srisuresh-lsnat § 3).
    pub const fn pool(&self) -> &ServerPool<A, N, K> {
        &self.pool
    }

    /// The pool, to add, drain or remove servers and to report traffic, answers and probes
    /// (draft-srisuresh-lsnat § 3, § 5, § 6).
    pub const fn pool_mut(&mut self) -> &mut ServerPool<A, N, K> {
        &mut self.pool
    }

    /// Counters (draft-srisuresh-lsnat § 4.1).
    pub const fn counters(&self) -> VirtualServerCounters {
        self.counters
    }

    /// The Maglev table as last built (Maglev § 3.4).
    pub const fn maglev(&self) -> &MaglevTable<M> {
        &self.maglev
    }

    /// Restrict load sharing to a service, or change its session weight if listed
    /// (draft-srisuresh-lsnat § 3).
    pub fn add_service(&mut self, service: Service) -> Result<(), ConfigError> {
        if let Some(s) = self
            .services
            .iter_mut()
            .flatten()
            .find(|s| (s.proto, s.port) == (service.proto, service.port))
        {
            s.session_weight = service.session_weight;
            return Ok(());
        }
        let free = self.services.iter_mut().find(|s| s.is_none());
        *free.ok_or(ConfigError::TooManyServices)? = Some(service);
        Ok(())
    }

    /// Stop load-sharing a service; returns whether it was listed. With no service left, every
    /// port is shared again (draft-srisuresh-lsnat § 3).
    pub fn remove_service(&mut self, proto: L4Proto, port: u16) -> bool {
        match self
            .services
            .iter_mut()
            .find(|s| s.is_some_and(|s| (s.proto, s.port) == (proto, port)))
        {
            Some(s) => {
                *s = None;
                true
            }
            None => false,
        }
    }

    /// The services listed (draft-srisuresh-lsnat § 3).
    pub fn services(&self) -> impl Iterator<Item = &Service> + '_ {
        self.services.iter().flatten()
    }

    /// Whether sessions to `port` over `proto` are load-shared (draft-srisuresh-lsnat § 3).
    pub fn serves(&self, proto: L4Proto, port: u16) -> bool {
        self.services.iter().all(Option::is_none) || self.service(proto, port).is_some()
    }

    fn service(&self, proto: L4Proto, port: u16) -> Option<&Service> {
        self.services
            .iter()
            .flatten()
            .find(|s| s.proto == proto && s.port == port)
    }

    /// The session weight of a session to `port` (draft-srisuresh-lsnat § 5.1, item 4).
    pub fn session_weight(&self, proto: L4Proto, port: u16) -> u32 {
        self.service(proto, port)
            .map_or(self.config.default_session_weight, |s| s.session_weight)
    }

    /// Map a server (or one service on it) to a backup for upgrades; replaces a mapping of the
    /// same primary and service (draft-srisuresh-lsnat § 3).
    pub fn map_backup(&mut self, mapping: BackupMapping) -> Result<(), ConfigError> {
        if mapping.primary == mapping.backup
            || !self.pool.contains(mapping.primary)
            || !self.pool.contains(mapping.backup)
        {
            return Err(ConfigError::BadMapping);
        }
        let same = |m: &Option<BackupMapping>| {
            m.is_some_and(|m| m.primary == mapping.primary && m.service == mapping.service)
        };
        let slot = match self.mappings.iter().position(same) {
            Some(i) => self.mappings.get_mut(i),
            None => self.mappings.iter_mut().find(|m| m.is_none()),
        };
        *slot.ok_or(ConfigError::TooManyMappings)? = Some(mapping);
        self.mappings_version = self.mappings_version.wrapping_add(1);
        Ok(())
    }

    /// Remove the mapping of `primary` for `service`; returns whether one existed
    /// (draft-srisuresh-lsnat § 3).
    pub fn unmap_backup(&mut self, primary: ServerId, service: Option<(L4Proto, u16)>) -> bool {
        let found = self
            .mappings
            .iter_mut()
            .find(|m| m.is_some_and(|m| m.primary == primary && m.service == service));
        match found {
            Some(m) => {
                *m = None;
                self.mappings_version = self.mappings_version.wrapping_add(1);
                true
            }
            None => false,
        }
    }

    /// The static mappings (draft-srisuresh-lsnat § 3).
    pub fn mappings(&self) -> impl Iterator<Item = &BackupMapping> + '_ {
        self.mappings.iter().flatten()
    }

    /// Choose the server for a new session with key `key` (draft-srisuresh-lsnat § 4.1, § 5).
    ///
    /// Runs due health timers first (§ 6). The result is never dead, draining, in maintenance,
    /// removed, of weight zero or of infinite cost; a standby server is returned only as the
    /// backup of a primary in maintenance. Choosing does not bind: call [`Self::bind`] once the
    /// translator has created the session.
    pub fn choose(&mut self, now: Instant, key: &FlowKey<A>) -> Result<ServerId, ChooseError> {
        if key.dst.addr != self.addr || !self.serves(key.proto, key.dst.port) {
            self.counters.not_load_shared += 1;
            return Err(ChooseError::NotLoadShared);
        }
        self.pool.handle_timeout(now);
        if self.algorithm == Algorithm::Maglev {
            self.refresh_maglev();
        }
        let bucket = bucket_of(now, self.pool.config().traffic_bucket);
        let (proto, port) = (key.proto, key.dst.port);
        let pool = &self.pool;
        let mappings = &self.mappings;
        let candidate = |pos: usize| resolve(pool, mappings, pos, proto, port);
        let picked = match self.algorithm {
            Algorithm::Maglev if self.maglev_members == 0 => None,
            Algorithm::Maglev => {
                let start = self.maglev.slot_of(hash_flow(self.config.seed, key));
                (0..M.min(MAGLEV_MAX_PROBES)).find_map(|step| {
                    let entry = (start + step) % M;
                    self.maglev.entry(entry).and_then(candidate)
                })
            }
            algo => {
                let src = match algo {
                    Algorithm::SourceHash => hash_addr(self.config.seed, &key.src.addr),
                    _ => 0,
                };
                self.selector.select(algo, pool, bucket, src, candidate)
            }
        };
        match picked.and_then(|e| self.pool.id_at(e)) {
            Some(id) => {
                self.counters.chosen += 1;
                Ok(id)
            }
            None => {
                self.counters.no_server += 1;
                Err(ChooseError::NoServer)
            }
        }
    }

    /// Rebuild the Maglev table if the pool or the mappings changed since it was built.
    fn refresh_maglev(&mut self) {
        let stamp = (self.pool.version(), self.mappings_version);
        if self.maglev_built == Some(stamp) {
            return;
        }
        let names: [Option<u64>; N] = core::array::from_fn(|pos| {
            let slot = self.pool.slot(pos)?;
            let mapped = slot.occupied
                && slot.admin == AdminState::Maintenance
                && self
                    .pool
                    .id_at(pos)
                    .is_some_and(|id| self.mappings().any(|m| m.primary == id));
            (slot.eligible() || mapped).then_some(slot.name_hash)
        });
        self.maglev_members = names.iter().flatten().count();
        self.maglev.populate(self.config.seed, &names);
        self.maglev_built = Some(stamp);
        self.counters.maglev_rebuilds += 1;
    }

    /// Count a new session of key `key` bound to `server`, weighted by its service
    /// (draft-srisuresh-lsnat § 4.1, § 5.1 item 4, § 6).
    pub fn bind(
        &mut self,
        now: Instant,
        server: ServerId,
        key: &FlowKey<A>,
    ) -> Result<LsnatEvent<A>, PoolError> {
        let w = self.session_weight(key.proto, key.dst.port);
        self.pool.bind(now, server, w)
    }

    /// Count the end of a session of key `key` (the key it was bound with) on `server`
    /// (draft-srisuresh-lsnat § 4.3).
    pub fn unbind(
        &mut self,
        now: Instant,
        server: ServerId,
        key: &FlowKey<A>,
    ) -> Result<LsnatEvent<A>, PoolError> {
        let w = self.session_weight(key.proto, key.dst.port);
        self.pool.unbind(now, server, w)
    }

    /// Run due health timers (draft-srisuresh-lsnat § 6).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.pool.handle_timeout(now);
    }

    /// When [`Self::handle_timeout`] next has work (draft-srisuresh-lsnat § 6).
    pub const fn poll_timeout(&self) -> Option<Instant> {
        self.pool.poll_timeout()
    }

    /// The oldest queued health or drain event (draft-srisuresh-lsnat § 6).
    pub fn poll_event(&mut self) -> Option<LsnatEvent<A>> {
        self.pool.poll_event()
    }
}

/// The effective server for position `pos` and a service: the server itself if it may take new
/// sessions, its backup if it is in maintenance and mapped for the service, else none.
fn resolve<A: IpAddress, const N: usize, const K: usize>(
    pool: &ServerPool<A, N, K>,
    mappings: &[Option<BackupMapping>],
    pos: usize,
    proto: L4Proto,
    port: u16,
) -> Option<usize> {
    let slot = pool.slot(pos)?;
    if slot.eligible() {
        return Some(pos);
    }
    if !slot.occupied || slot.admin != AdminState::Maintenance {
        return None;
    }
    let primary = pool.id_at(pos)?;
    let mut whole: Option<ServerId> = None;
    let mut exact: Option<ServerId> = None;
    for m in mappings.iter().flatten().filter(|m| m.primary == primary) {
        match m.service {
            Some(s) if s == (proto, port) => exact = Some(m.backup),
            None => whole = Some(m.backup),
            Some(_) => {}
        }
    }
    let backup = exact.or(whole)?;
    let b = pool.slot(backup.index())?;
    (pool.contains(backup) && b.eligible_as_backup()).then_some(backup.index())
}

#[cfg(test)]
mod tests;
