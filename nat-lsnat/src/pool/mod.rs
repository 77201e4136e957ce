//! A pool of real servers and everything known about each: configuration, administrative state,
//! health, bound sessions, traffic and round-trip times.
//!
//! The pool is what the load-share algorithms read (draft-srisuresh-lsnat § 5) and what the
//! translator reports to: `bind`/`unbind` at the start and end of each session (§ 4.1, § 4.3),
//! `record_traffic` per packet or burst (§ 5.1, item 3), `record_answer` when a server answers a
//! session and `record_probe` when a probe returns (§ 6). The session table itself belongs to the
//! translator; the pool only counts. Servers live in `N` fixed slots: adding, draining and
//! removing one never touches another's counters, and no memory is allocated.

use crate::error::PoolError;
use crate::event::{EventQueue, LsnatEvent};
use crate::hash::hash_server_name;
use crate::health::{Health, HealthConfig, HealthState, Transition};
use crate::server::{AdminState, Cost, ServerId, ServerSpec, ServerStats, WeightedLoad};
use crate::window::{TrafficWindow, bucket_of};
use core::time::Duration;
use nat_core::flow::IpAddress;
use nat_core::time::Instant;

/// Settings of a pool (draft-srisuresh-lsnat § 5.1, § 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PoolConfig {
    /// Dead host detection (draft-srisuresh-lsnat § 6).
    pub health: HealthConfig,
    /// Width of one bucket of the traffic window; the window is `K` buckets
    /// (draft-srisuresh-lsnat § 5.1, item 3: "over a period of time").
    pub traffic_bucket: Duration,
}

impl Default for PoolConfig {
    /// Default health settings and 1-second buckets.
    fn default() -> Self {
        PoolConfig {
            health: HealthConfig::default(),
            traffic_bucket: Duration::from_secs(1),
        }
    }
}

/// Pool-wide counters (draft-srisuresh-lsnat § 6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PoolCounters {
    /// Servers added.
    pub servers_added: u64,
    /// Servers removed.
    pub servers_removed: u64,
    /// Transitions of any server to dead.
    pub dead_transitions: u64,
    /// Transitions of any server back to alive.
    pub alive_transitions: u64,
    /// Events dropped because the queue was full.
    pub events_dropped: u64,
}

/// One slot of the pool; read by the algorithms.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slot<A, const K: usize> {
    pub(crate) generation: u16,
    pub(crate) occupied: bool,
    pub(crate) spec: ServerSpec<A>,
    pub(crate) name_hash: u64,
    pub(crate) admin: AdminState,
    pub(crate) health: HealthState,
    pub(crate) sessions: u32,
    pub(crate) session_weight_sum: u64,
    pub(crate) bindings: u64,
    pub(crate) unbindings: u64,
    pub(crate) traffic: TrafficWindow<K>,
    pub(crate) srtt_micros: Option<u64>,
    pub(crate) dead_transitions: u64,
    pub(crate) alive_transitions: u64,
}

impl<A: IpAddress, const K: usize> Slot<A, K> {
    const fn vacant(generation: u16) -> Self {
        Slot {
            generation,
            occupied: false,
            spec: ServerSpec::new(A::UNSPECIFIED),
            name_hash: 0,
            admin: AdminState::Active,
            health: HealthState::new(),
            sessions: 0,
            session_weight_sum: 0,
            bindings: 0,
            unbindings: 0,
            traffic: TrafficWindow::new(),
            srtt_micros: None,
            dead_transitions: 0,
            alive_transitions: 0,
        }
    }

    /// Able to take a new session at all: present, weighted, reachable and healthy.
    pub(crate) const fn takes_sessions(&self) -> bool {
        self.occupied
            && self.spec.weight > 0
            && !matches!(self.spec.cost, Cost::Infinite)
            && self.health.accepts_new_sessions()
    }

    /// May take a new session of the load-share algorithm (draft-srisuresh-lsnat § 5).
    pub(crate) const fn eligible(&self) -> bool {
        self.takes_sessions() && matches!(self.admin, AdminState::Active)
    }

    /// May take a session redirected by a static mapping (draft-srisuresh-lsnat § 3).
    pub(crate) const fn eligible_as_backup(&self) -> bool {
        self.takes_sessions() && matches!(self.admin, AdminState::Active | AdminState::Standby)
    }

    pub(crate) const fn weighted_load(&self) -> WeightedLoad {
        WeightedLoad {
            session_weight_sum: self.session_weight_sum,
            server_weight: self.spec.weight,
        }
    }
}

/// Up to `N` real servers behind one virtual server, with traffic windows of `K` buckets
/// (draft-srisuresh-lsnat § 3, § 5, § 6).
///
/// ```
/// use core::net::Ipv4Addr;
/// use nat_core::time::Instant;
/// use nat_lsnat::pool::{PoolConfig, ServerPool};
/// use nat_lsnat::server::ServerSpec;
///
/// let mut pool = ServerPool::<Ipv4Addr, 4>::new(PoolConfig::default());
/// let s1 = pool.add(ServerSpec::new(Ipv4Addr::new(172, 85, 0, 1))).unwrap();
/// pool.bind(Instant::ZERO, s1, 1).unwrap();
/// assert_eq!(pool.stats(Instant::ZERO, s1).unwrap().sessions, 1);
/// ```
#[derive(Clone, Debug)]
pub struct ServerPool<A, const N: usize, const K: usize = 8> {
    slots: [Slot<A, K>; N],
    config: PoolConfig,
    version: u64,
    next_deadline: Option<Instant>,
    events: EventQueue<A>,
    counters: PoolCounters,
}

impl<A: IpAddress, const N: usize, const K: usize> ServerPool<A, N, K> {
    /// An empty pool (draft-srisuresh-lsnat § 3).
    ///
    /// `N` must fit a `u16` slot index; this is checked at compile time.
    pub fn new(config: PoolConfig) -> Self {
        const { assert!(N < u16::MAX as usize, "pool capacity must be below 65535") };
        ServerPool {
            slots: [Slot::vacant(0); N],
            config,
            version: 0,
            next_deadline: None,
            events: EventQueue::new(),
            counters: PoolCounters::default(),
        }
    }

    /// The pool's settings (draft-srisuresh-lsnat § 6).
    pub const fn config(&self) -> &PoolConfig {
        &self.config
    }

    /// Capacity: `N` (draft-srisuresh-lsnat § 3).
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Servers in the pool, whatever their state (draft-srisuresh-lsnat § 3).
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.occupied).count()
    }

    /// Whether the pool holds no server (draft-srisuresh-lsnat § 3).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A number that changes whenever the set of servers that may take new sessions may have
    /// changed; stateless selectors rebuild their tables when it does (draft-srisuresh-lsnat § 5).
    pub const fn version(&self) -> u64 {
        self.version
    }

    fn bump(&mut self) {
        self.version = self.version.wrapping_add(1);
    }

    pub(crate) fn slot(&self, index: usize) -> Option<&Slot<A, K>> {
        self.slots.get(index)
    }

    fn slot_of(&self, id: ServerId) -> Result<&Slot<A, K>, PoolError> {
        match self.slots.get(id.index()) {
            Some(s) if s.occupied && s.generation == id.generation() => Ok(s),
            _ => Err(PoolError::UnknownServer),
        }
    }

    fn slot_of_mut(&mut self, id: ServerId) -> Result<&mut Slot<A, K>, PoolError> {
        match self.slots.get_mut(id.index()) {
            Some(s) if s.occupied && s.generation == id.generation() => Ok(s),
            _ => Err(PoolError::UnknownServer),
        }
    }

    /// The id of the server in slot `index`, if occupied.
    pub(crate) fn id_at(&self, index: usize) -> Option<ServerId> {
        let s = self.slots.get(index)?;
        let i = u16::try_from(index).ok()?;
        s.occupied.then_some(ServerId::from_parts(i, s.generation))
    }

    /// Whether `id` names a server of this pool (draft-srisuresh-lsnat § 4.1).
    pub fn contains(&self, id: ServerId) -> bool {
        self.slot_of(id).is_ok()
    }

    /// Ids of all servers in the pool, in slot order (draft-srisuresh-lsnat § 3).
    pub fn ids(&self) -> impl Iterator<Item = ServerId> + '_ {
        (0..N).filter_map(|i| self.id_at(i))
    }

    /// The server with this address and port, if any (draft-srisuresh-lsnat § 3).
    pub fn find(&self, addr: A, port: Option<u16>) -> Option<ServerId> {
        (0..N).find_map(|i| {
            let s = self.slots.get(i)?;
            (s.occupied && s.spec.addr == addr && s.spec.port == port)
                .then(|| self.id_at(i))
                .flatten()
        })
    }

    /// Add a server; it starts alive and active (draft-srisuresh-lsnat § 1: "new nodes may be
    /// added"). Other servers are not touched.
    pub fn add(&mut self, spec: ServerSpec<A>) -> Result<ServerId, PoolError> {
        if self.find(spec.addr, spec.port).is_some() {
            return Err(PoolError::Duplicate);
        }
        let index = self
            .slots
            .iter()
            .position(|s| !s.occupied)
            .ok_or(PoolError::Full)?;
        let slot = self.slots.get_mut(index).ok_or(PoolError::Full)?;
        *slot = Slot::vacant(slot.generation);
        slot.occupied = true;
        slot.spec = spec;
        slot.name_hash = hash_server_name(&spec.addr, spec.port);
        let id = ServerId::from_parts(
            u16::try_from(index).map_err(|_| PoolError::Full)?,
            slot.generation,
        );
        self.counters.servers_added += 1;
        self.bump();
        Ok(id)
    }

    /// Remove a server at once and return its last state (draft-srisuresh-lsnat § 1: "nodes in
    /// a pool may be replaced"). Drain it first to let its sessions end; once removed, its id is
    /// stale and `unbind` on it fails with [`PoolError::UnknownServer`].
    pub fn remove(&mut self, id: ServerId) -> Result<ServerStats<A>, PoolError> {
        let stats = self.stats(Instant::ZERO, id)?;
        let slot = self.slot_of_mut(id)?;
        *slot = Slot::vacant(slot.generation.wrapping_add(1));
        self.counters.servers_removed += 1;
        self.bump();
        Ok(stats)
    }

    /// Set the administrative state (draft-srisuresh-lsnat § 3). Draining a server with no
    /// session queues [`LsnatEvent::ServerDrained`] at once.
    pub fn set_admin(
        &mut self,
        now: Instant,
        id: ServerId,
        admin: AdminState,
    ) -> Result<(), PoolError> {
        let slot = self.slot_of_mut(id)?;
        slot.admin = admin;
        let drained = admin == AdminState::Draining && slot.sessions == 0;
        let addr = slot.spec.addr;
        self.bump();
        if drained {
            self.events.push(LsnatEvent::ServerDrained {
                server: id,
                addr,
                at: now,
            });
        }
        Ok(())
    }

    /// Stop new sessions to a server while its existing ones finish (draft-srisuresh-lsnat § 2.5).
    pub fn drain(&mut self, now: Instant, id: ServerId) -> Result<(), PoolError> {
        self.set_admin(now, id, AdminState::Draining)
    }

    /// Change a server's capacity weight (draft-srisuresh-lsnat § 5.1, item 4).
    pub fn set_weight(&mut self, id: ServerId, weight: u32) -> Result<(), PoolError> {
        self.slot_of_mut(id)?.spec.weight = weight;
        self.bump();
        Ok(())
    }

    /// Change a server's network cost, e.g. from a routing update (draft-srisuresh-lsnat § 5.2).
    pub fn set_cost(&mut self, id: ServerId, cost: Cost) -> Result<(), PoolError> {
        self.slot_of_mut(id)?.spec.cost = cost;
        self.bump();
        Ok(())
    }

    /// A server's configuration, for the address rewrite (draft-srisuresh-lsnat § 4.2).
    pub fn spec(&self, id: ServerId) -> Result<ServerSpec<A>, PoolError> {
        Ok(self.slot_of(id)?.spec)
    }

    /// Whether the load-share algorithms may give the server a new session now
    /// (draft-srisuresh-lsnat § 5, § 6).
    pub fn accepts_new_sessions(&self, id: ServerId) -> bool {
        self.slot_of(id).is_ok_and(Slot::eligible)
    }

    fn schedule(&mut self, deadline: Option<Instant>) {
        if let Some(d) = deadline {
            self.next_deadline = Some(self.next_deadline.map_or(d, |n| n.min(d)));
        }
    }

    fn apply(&mut self, id: ServerId, now: Instant, t: Transition) {
        let Ok(slot) = self.slot_of_mut(id) else {
            return;
        };
        let addr = slot.spec.addr;
        let event = match t {
            Transition::Dead(cause) => {
                slot.dead_transitions += 1;
                self.counters.dead_transitions += 1;
                LsnatEvent::ServerDead {
                    server: id,
                    addr,
                    cause,
                    at: now,
                }
            }
            Transition::Retrying => LsnatEvent::ServerRetrying {
                server: id,
                addr,
                at: now,
            },
            Transition::Alive => {
                slot.alive_transitions += 1;
                self.counters.alive_transitions += 1;
                LsnatEvent::ServerAlive {
                    server: id,
                    addr,
                    at: now,
                }
            }
        };
        self.events.push(event);
        self.bump();
    }

    /// Count a new session bound to the server (draft-srisuresh-lsnat § 4.1), with the weight of
    /// its service (§ 5.1, item 4), and start passive dead host detection on it (§ 6).
    ///
    /// Any server may be bound, whatever its state: static bindings and bindings restored from a
    /// peer are the caller's to make.
    pub fn bind(
        &mut self,
        now: Instant,
        id: ServerId,
        session_weight: u32,
    ) -> Result<LsnatEvent<A>, PoolError> {
        let cfg = self.config.health;
        let slot = self.slot_of_mut(id)?;
        slot.sessions = slot.sessions.saturating_add(1);
        slot.session_weight_sum = slot
            .session_weight_sum
            .saturating_add(u64::from(session_weight));
        slot.bindings += 1;
        let sessions = slot.sessions;
        let trial = slot.health.on_new_session(now, &cfg);
        let deadline = slot.health.deadline(&cfg);
        self.schedule(deadline);
        if trial {
            self.bump();
        }
        Ok(LsnatEvent::Bound {
            server: id,
            sessions,
        })
    }

    /// Count the end of a session (draft-srisuresh-lsnat § 4.3), with the same session weight it
    /// was bound with. A draining server's last unbind queues [`LsnatEvent::ServerDrained`].
    pub fn unbind(
        &mut self,
        now: Instant,
        id: ServerId,
        session_weight: u32,
    ) -> Result<LsnatEvent<A>, PoolError> {
        let slot = self.slot_of_mut(id)?;
        if slot.sessions == 0 {
            return Err(PoolError::NotBound);
        }
        slot.sessions -= 1;
        slot.session_weight_sum = slot
            .session_weight_sum
            .saturating_sub(u64::from(session_weight));
        slot.unbindings += 1;
        let sessions = slot.sessions;
        if sessions == 0 && slot.admin == AdminState::Draining {
            let addr = slot.spec.addr;
            self.events.push(LsnatEvent::ServerDrained {
                server: id,
                addr,
                at: now,
            });
        }
        Ok(LsnatEvent::Unbound {
            server: id,
            sessions,
        })
    }

    /// Count packets and bytes to or from a server (draft-srisuresh-lsnat § 5.1, item 3).
    pub fn record_traffic(
        &mut self,
        now: Instant,
        id: ServerId,
        packets: u64,
        bytes: u64,
    ) -> Result<(), PoolError> {
        let bucket = bucket_of(now, self.config.traffic_bucket);
        self.slot_of_mut(id)?.traffic.record(bucket, packets, bytes);
        Ok(())
    }

    /// The server sent a datagram in answer to a session (draft-srisuresh-lsnat § 6): stops the
    /// detection timer, and brings a retrying server back to life.
    pub fn record_answer(&mut self, now: Instant, id: ServerId) -> Result<(), PoolError> {
        let t = self.slot_of_mut(id)?.health.on_answer();
        if let Some(t) = t {
            self.apply(id, now, t);
        }
        Ok(())
    }

    /// A probe round-trip time, smoothed as TCP does (srtt += (sample − srtt) / 8)
    /// (draft-srisuresh-lsnat § 5.1, item 5).
    pub fn record_rtt(&mut self, id: ServerId, rtt: Duration) -> Result<(), PoolError> {
        let sample = u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX);
        let slot = self.slot_of_mut(id)?;
        slot.srtt_micros = Some(match slot.srtt_micros {
            None => sample,
            Some(s) if sample >= s => s + (sample - s) / 8,
            Some(s) => s - (s - sample) / 8,
        });
        Ok(())
    }

    /// The result of an active probe (draft-srisuresh-lsnat § 6): `rtt` feeds the most
    /// responsive algorithm when `ok`, and consecutive results move the server between alive and
    /// dead at the configured thresholds.
    pub fn record_probe(
        &mut self,
        now: Instant,
        id: ServerId,
        ok: bool,
        rtt: Duration,
    ) -> Result<(), PoolError> {
        if ok {
            self.record_rtt(id, rtt)?;
        }
        let cfg = self.config.health;
        let slot = self.slot_of_mut(id)?;
        let t = slot.health.on_probe(now, ok, &cfg);
        let deadline = slot.health.deadline(&cfg);
        if let Some(t) = t {
            self.apply(id, now, t);
        }
        self.schedule(deadline);
        Ok(())
    }

    /// The next instant at which [`Self::handle_timeout`] has work: a detection timer or the end
    /// of a pause (draft-srisuresh-lsnat § 6). May be early, never late.
    pub const fn poll_timeout(&self) -> Option<Instant> {
        self.next_deadline
    }

    /// Let time pass to `now`: declare dead the servers whose new sessions went unanswered, and
    /// retry those whose pause ended (draft-srisuresh-lsnat § 6). Cheap when nothing is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.next_deadline {
            Some(d) if now >= d => {}
            _ => return,
        }
        let cfg = self.config.health;
        let mut next: Option<Instant> = None;
        for index in 0..N {
            let Some(id) = self.id_at(index) else {
                continue;
            };
            // A zero pause can take a server from dead to retrying in the same call.
            for _ in 0..3 {
                let t = match self.slots.get_mut(index) {
                    Some(slot) => slot.health.on_timeout(now, &cfg),
                    None => None,
                };
                match t {
                    Some(t) => self.apply(id, now, t),
                    None => break,
                }
            }
            if let Some(d) = self.slots.get(index).and_then(|s| s.health.deadline(&cfg)) {
                next = Some(next.map_or(d, |n| n.min(d)));
            }
        }
        self.next_deadline = next;
    }

    /// The oldest queued health or drain event (draft-srisuresh-lsnat § 6).
    pub fn poll_event(&mut self) -> Option<LsnatEvent<A>> {
        self.events.pop()
    }

    /// Pool-wide counters (draft-srisuresh-lsnat § 6).
    pub fn counters(&self) -> PoolCounters {
        PoolCounters {
            events_dropped: self.events.dropped(),
            ..self.counters
        }
    }

    /// A server's weighted load (draft-srisuresh-lsnat § 5.1, item 4).
    pub fn weighted_load(&self, id: ServerId) -> Result<WeightedLoad, PoolError> {
        Ok(self.slot_of(id)?.weighted_load())
    }

    /// A snapshot of a server, its traffic window as of `now` (draft-srisuresh-lsnat § 4–6).
    pub fn stats(&self, now: Instant, id: ServerId) -> Result<ServerStats<A>, PoolError> {
        let s = self.slot_of(id)?;
        let t = s
            .traffic
            .total_at(bucket_of(now, self.config.traffic_bucket));
        Ok(ServerStats {
            spec: s.spec,
            admin: s.admin,
            health: s.health.health(),
            sessions: s.sessions,
            weighted_load: s.weighted_load(),
            bindings: s.bindings,
            unbindings: s.unbindings,
            window_packets: t.packets,
            window_bytes: t.bytes,
            srtt_micros: s.srtt_micros,
            dead_transitions: s.dead_transitions,
            alive_transitions: s.alive_transitions,
        })
    }

    /// A server's liveness (draft-srisuresh-lsnat § 6).
    pub fn health(&self, id: ServerId) -> Result<Health, PoolError> {
        Ok(self.slot_of(id)?.health.health())
    }
}

#[cfg(test)]
mod tests;
