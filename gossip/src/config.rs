//! Timing knobs of the protocol, all hot-reloadable.
//!
//! Invariant: a [`Config`] held by a [`crate::Gossip`] has passed [`Config::validate`]. Every
//! deadline is computed from the config at the moment it is checked (last-heard + timeout, status
//! change + timeout), never stored, so a new config takes effect on the next `tick` without a
//! restart and without losing any member's history.

use std::time::Duration;

use crate::Error;

/// How often to gossip, how fast to suspect, and when to forget.
///
/// Field docs give the defaults; `Config::default()` suits a LAN cluster of a few dozen nodes.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Time between two gossip rounds of this node. Each round bumps the own heartbeat and
    /// starts a push-pull exchange with `fanout` random peers. Default 1 s.
    pub interval: Duration,
    /// Peers contacted per round. 2-3 keeps the dissemination time near log(n) rounds at
    /// O(n * fanout) messages per round cluster-wide. Default 3.
    pub fanout: usize,
    /// How long a member may go without renewing its heartbeat before it is suspected
    /// (the "non-renewal allowed time"). Also the fallback of the phi detector while it has too
    /// few samples. Default 5 s.
    pub failure_timeout: Duration,
    /// How long a member stays suspect, with no newer heartbeat, before it is declared dead.
    /// Default 3 s.
    pub suspect_timeout: Duration,
    /// How long a dead or left member is kept (and reported) before it is forgotten. A
    /// forgotten member leaves a tombstone for as long again so that stale gossip cannot bring
    /// it back. Default 10 min.
    pub forget_after: Duration,
    /// When set, suspicion uses the phi accrual detector (Hayashibara et al.) with this
    /// threshold instead of the fixed `failure_timeout`, once a member has enough heartbeat
    /// inter-arrival samples. 8 is a usual value. Default `None` (fixed timeout).
    pub phi_threshold: Option<f64>,
    /// When true, `left` is final: an entry marked left (by the member itself or by an
    /// operator's `remove`) never changes again, whatever version later gossip carries, and a
    /// node that hears it was marked left accepts it instead of refuting. A removed member can
    /// then only come back under a new id. Default false: a running member refutes a removal.
    pub final_left: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            interval: Duration::from_secs(1),
            fanout: 3,
            failure_timeout: Duration::from_secs(5),
            suspect_timeout: Duration::from_secs(3),
            forget_after: Duration::from_secs(600),
            phi_threshold: None,
            final_left: false,
        }
    }
}

/// Upper bound on `fanout`: beyond this a round is a broadcast and messages grow as n².
pub const MAX_FANOUT: usize = 64;

impl Config {
    /// Checks the config as a whole; `Gossip::new` and `Gossip::set_config` refuse an invalid one.
    pub fn validate(&self) -> Result<(), Error> {
        let invalid = |field, reason| Err(Error::InvalidConfig { field, reason });
        if self.interval.is_zero() {
            return invalid("interval", "must be greater than zero");
        }
        if self.fanout == 0 || self.fanout > MAX_FANOUT {
            return invalid("fanout", "must be within 1..=64");
        }
        if self.failure_timeout < self.interval {
            return invalid("failure_timeout", "must be at least one interval");
        }
        if self.suspect_timeout.is_zero() {
            return invalid("suspect_timeout", "must be greater than zero");
        }
        if self.forget_after.is_zero() {
            return invalid("forget_after", "must be greater than zero");
        }
        if let Some(phi) = self.phi_threshold
            && !(phi.is_finite() && phi > 0.0)
        {
            return invalid("phi_threshold", "must be a finite number above zero");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid() {
        Config::default().validate().unwrap();
    }

    type Spoil = fn(&mut Config);

    #[test]
    fn each_bad_field_is_named() {
        let cases: [(&str, Spoil); 6] = [
            ("interval", |c| c.interval = Duration::ZERO),
            ("fanout", |c| c.fanout = 0),
            ("failure_timeout", |c| c.failure_timeout = c.interval / 2),
            ("suspect_timeout", |c| c.suspect_timeout = Duration::ZERO),
            ("forget_after", |c| c.forget_after = Duration::ZERO),
            ("phi_threshold", |c| c.phi_threshold = Some(f64::NAN)),
        ];
        for (name, spoil) in cases {
            let mut config = Config::default();
            spoil(&mut config);
            match config.validate() {
                Err(Error::InvalidConfig { field, .. }) => assert_eq!(field, name),
                other => panic!("{name}: expected InvalidConfig, got {other:?}"),
            }
        }
    }
}
