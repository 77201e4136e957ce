//! Dead host detection (draft-srisuresh-lsnat § 6), as a state machine per server.
//!
//! Two sources of evidence, both fed in by the caller:
//!
//! - **passive**: "track datagrams originating from a member host in response to new session
//!   assignments. If no response is detected in a few seconds, declare the server dead". A new
//!   session bound to a server starts a timer unless one already runs; any answer from the server
//!   stops it; the timer reaching [`HealthConfig::detection_time`] marks the server dead.
//! - **active**: probe results ("sending pings periodically"), with `fall` consecutive failures
//!   marking the server dead and `rise` consecutive successes needed to bring it back.
//!
//! A dead server takes no new session until [`HealthConfig::retry_pause`] has passed ("monitored
//! later again after a long pause"). It then enters [`Health::Retrying`]: it may take one trial
//! session at a time, and an answer to it (or `rise` good probes) makes it alive again, while an
//! unanswered trial makes it dead for another pause. Sessions are never moved: the translator
//! keeps existing bindings whatever the health.

use core::time::Duration;
use nat_core::time::Instant;

/// Dead host detection settings (draft-srisuresh-lsnat § 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HealthConfig {
    /// How long a new session may stay unanswered before its server is declared dead ("a few
    /// seconds"); `None` turns passive detection off (draft-srisuresh-lsnat § 6).
    pub detection_time: Option<Duration>,
    /// How long a dead server is left alone before it is tried again ("a long pause, say, in the
    /// order of a few minutes", draft-srisuresh-lsnat § 6).
    pub retry_pause: Duration,
    /// Consecutive failed probes that mark a server dead; 0 ignores failures
    /// (draft-srisuresh-lsnat § 6).
    pub fall: u8,
    /// Consecutive good probes that bring a retried server back; 0 is taken as 1
    /// (draft-srisuresh-lsnat § 6).
    pub rise: u8,
}

impl Default for HealthConfig {
    /// 3 s detection, 3 min pause, 3 failures to fall, 2 successes to rise.
    fn default() -> Self {
        HealthConfig {
            detection_time: Some(Duration::from_secs(3)),
            retry_pause: Duration::from_secs(180),
            fall: 3,
            rise: 2,
        }
    }
}

/// Liveness of a server as detected (draft-srisuresh-lsnat § 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Health {
    /// Answering: takes new sessions (draft-srisuresh-lsnat § 6).
    Alive,
    /// Declared dead: no new sessions until the pause ends (draft-srisuresh-lsnat § 6).
    Dead,
    /// The pause ended: one trial session at a time until it answers (draft-srisuresh-lsnat § 6).
    Retrying,
}

/// What made a server dead (draft-srisuresh-lsnat § 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeadCause {
    /// A new session went unanswered for the detection time (passive).
    Unanswered,
    /// `fall` consecutive probes failed (active).
    ProbeFailures,
}

/// A change of [`Health`] (draft-srisuresh-lsnat § 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Transition {
    /// Now dead.
    Dead(DeadCause),
    /// Pause over, now retrying.
    Retrying,
    /// Now alive.
    Alive,
}

/// Per-server detection state (draft-srisuresh-lsnat § 6).
#[derive(Clone, Copy, Debug)]
pub(crate) struct HealthState {
    health: Health,
    /// When the oldest unanswered new session was bound, if one is.
    unanswered_since: Option<Instant>,
    /// When a dead server may be retried.
    retry_at: Instant,
    probe_ok: u8,
    probe_fail: u8,
}

impl HealthState {
    pub(crate) const fn new() -> Self {
        HealthState {
            health: Health::Alive,
            unanswered_since: None,
            retry_at: Instant::ZERO,
            probe_ok: 0,
            probe_fail: 0,
        }
    }

    pub(crate) const fn health(&self) -> Health {
        self.health
    }

    /// Whether the server may take a new session: alive, or retrying with no trial outstanding.
    pub(crate) const fn accepts_new_sessions(&self) -> bool {
        match self.health {
            Health::Alive => true,
            Health::Retrying => self.unanswered_since.is_none(),
            Health::Dead => false,
        }
    }

    /// The next instant at which [`Self::on_timeout`] has something to do.
    pub(crate) fn deadline(&self, cfg: &HealthConfig) -> Option<Instant> {
        match self.health {
            Health::Dead => Some(self.retry_at),
            Health::Alive | Health::Retrying => match (self.unanswered_since, cfg.detection_time) {
                (Some(since), Some(d)) => Some(since + d),
                _ => None,
            },
        }
    }

    /// A new session was bound to the server at `now`. Returns whether this started a trial
    /// session of a retrying server (which then takes no other until the trial is answered).
    pub(crate) fn on_new_session(&mut self, now: Instant, cfg: &HealthConfig) -> bool {
        if cfg.detection_time.is_none() || self.health == Health::Dead {
            return false;
        }
        if self.unanswered_since.is_none() {
            self.unanswered_since = Some(now);
            return self.health == Health::Retrying;
        }
        false
    }

    /// The server answered a session at `now`.
    pub(crate) fn on_answer(&mut self) -> Option<Transition> {
        match self.health {
            Health::Dead => None,
            Health::Alive => {
                self.unanswered_since = None;
                None
            }
            Health::Retrying => {
                self.unanswered_since = None;
                self.health = Health::Alive;
                Some(Transition::Alive)
            }
        }
    }

    /// A probe came back (`ok`) or failed at `now`.
    pub(crate) fn on_probe(
        &mut self,
        now: Instant,
        ok: bool,
        cfg: &HealthConfig,
    ) -> Option<Transition> {
        if ok {
            self.probe_fail = 0;
            self.probe_ok = self.probe_ok.saturating_add(1);
            if self.health == Health::Retrying && self.probe_ok >= cfg.rise.max(1) {
                self.unanswered_since = None;
                self.health = Health::Alive;
                return Some(Transition::Alive);
            }
            None
        } else {
            self.probe_ok = 0;
            self.probe_fail = self.probe_fail.saturating_add(1);
            if cfg.fall > 0 && self.probe_fail >= cfg.fall && self.health != Health::Dead {
                return Some(self.die(now, DeadCause::ProbeFailures, cfg));
            }
            None
        }
    }

    fn die(&mut self, now: Instant, cause: DeadCause, cfg: &HealthConfig) -> Transition {
        self.health = Health::Dead;
        self.unanswered_since = None;
        self.retry_at = now + cfg.retry_pause;
        Transition::Dead(cause)
    }

    /// Let time pass to `now`: unanswered sessions kill, ended pauses revive.
    pub(crate) fn on_timeout(&mut self, now: Instant, cfg: &HealthConfig) -> Option<Transition> {
        match self.deadline(cfg) {
            Some(at) if now >= at => {}
            _ => return None,
        }
        match self.health {
            Health::Alive | Health::Retrying => Some(self.die(now, DeadCause::Unanswered, cfg)),
            Health::Dead => {
                if self.probe_ok >= cfg.rise.max(1) {
                    // Active probing already vouches for the server.
                    self.health = Health::Alive;
                    Some(Transition::Alive)
                } else {
                    self.health = Health::Retrying;
                    Some(Transition::Retrying)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> HealthConfig {
        HealthConfig {
            detection_time: Some(Duration::from_secs(3)),
            retry_pause: Duration::from_secs(60),
            fall: 2,
            rise: 2,
        }
    }

    fn t(s: u64) -> Instant {
        Instant::from_secs(s)
    }

    #[test]
    fn unanswered_session_kills_after_detection_time() {
        let c = cfg();
        let mut h = HealthState::new();
        h.on_new_session(t(10), &c);
        assert_eq!(h.on_timeout(t(12), &c), None);
        assert_eq!(
            h.on_timeout(t(13), &c),
            Some(Transition::Dead(DeadCause::Unanswered))
        );
        assert!(!h.accepts_new_sessions());
        assert_eq!(h.deadline(&c), Some(t(73)));
    }

    #[test]
    fn answer_stops_the_detection_timer() {
        let c = cfg();
        let mut h = HealthState::new();
        h.on_new_session(t(10), &c);
        assert_eq!(h.on_answer(), None);
        assert_eq!(h.on_timeout(t(100), &c), None);
        assert_eq!(h.health(), Health::Alive);
    }

    #[test]
    fn detection_timer_runs_from_oldest_unanswered_session() {
        let c = cfg();
        let mut h = HealthState::new();
        h.on_new_session(t(10), &c);
        h.on_new_session(t(12), &c);
        assert_eq!(h.deadline(&c), Some(t(13)));
    }

    #[test]
    fn retry_after_pause_allows_one_trial_then_answer_revives() {
        let c = cfg();
        let mut h = HealthState::new();
        h.on_new_session(t(0), &c);
        h.on_timeout(t(3), &c);
        assert_eq!(h.on_timeout(t(62), &c), None);
        assert_eq!(h.on_timeout(t(63), &c), Some(Transition::Retrying));
        assert!(h.accepts_new_sessions());
        assert!(h.on_new_session(t(64), &c));
        assert!(!h.accepts_new_sessions());
        assert_eq!(h.on_answer(), Some(Transition::Alive));
        assert!(h.accepts_new_sessions());
    }

    #[test]
    fn unanswered_trial_restarts_the_pause() {
        let c = cfg();
        let mut h = HealthState::new();
        h.on_new_session(t(0), &c);
        h.on_timeout(t(3), &c);
        h.on_timeout(t(63), &c);
        h.on_new_session(t(64), &c);
        assert_eq!(
            h.on_timeout(t(67), &c),
            Some(Transition::Dead(DeadCause::Unanswered))
        );
        assert_eq!(h.deadline(&c), Some(t(127)));
    }

    #[test]
    fn probe_failures_kill_at_fall_threshold() {
        let c = cfg();
        let mut h = HealthState::new();
        assert_eq!(h.on_probe(t(1), false, &c), None);
        assert_eq!(h.on_probe(t(2), true, &c), None);
        assert_eq!(h.on_probe(t(3), false, &c), None);
        assert_eq!(
            h.on_probe(t(4), false, &c),
            Some(Transition::Dead(DeadCause::ProbeFailures))
        );
    }

    #[test]
    fn good_probes_during_pause_revive_at_pause_end() {
        let c = cfg();
        let mut h = HealthState::new();
        h.on_probe(t(0), false, &c);
        h.on_probe(t(1), false, &c);
        h.on_probe(t(10), true, &c);
        h.on_probe(t(20), true, &c);
        assert_eq!(h.health(), Health::Dead);
        assert_eq!(h.on_timeout(t(61), &c), Some(Transition::Alive));
    }

    #[test]
    fn good_probes_revive_a_retrying_server_at_rise_threshold() {
        let c = cfg();
        let mut h = HealthState::new();
        h.on_probe(t(0), false, &c);
        h.on_probe(t(1), false, &c);
        h.on_timeout(t(61), &c);
        assert_eq!(h.health(), Health::Retrying);
        assert_eq!(h.on_probe(t(62), true, &c), None);
        assert_eq!(h.on_probe(t(63), true, &c), Some(Transition::Alive));
    }

    #[test]
    fn passive_detection_off_never_kills() {
        let c = HealthConfig {
            detection_time: None,
            ..cfg()
        };
        let mut h = HealthState::new();
        h.on_new_session(t(0), &c);
        assert_eq!(h.deadline(&c), None);
        assert_eq!(h.on_timeout(t(1_000), &c), None);
    }
}
