//! Failure detection policy: a fixed non-renewal timeout, or phi accrual.
//!
//! Both judge the time since a member's heartbeat last advanced *at this node* (heartbeats
//! arrive directly or relayed by any peer, so one lossy link does not starve the detector).
//! The phi accrual detector (Hayashibara et al., as in Cassandra) models heartbeat
//! inter-arrival times as exponential with the mean of the last [`WINDOW`] samples:
//! `phi(t) = -log10(P(no heartbeat for t)) = t / mean * log10(e)`, and suspects above the
//! threshold. Invariants: the window is bounded; gaps longer than `failure_timeout` are outages,
//! not samples, and are left out so one partition does not teach the detector to wait forever;
//! until [`MIN_SAMPLES`] samples exist the fixed timeout applies.

use std::collections::VecDeque;
use std::time::Duration;

use crate::Config;

/// Inter-arrival samples kept per member.
pub(crate) const WINDOW: usize = 100;
/// Samples needed before phi is trusted over the fixed timeout.
pub(crate) const MIN_SAMPLES: usize = 5;

/// Recent heartbeat inter-arrival times of one member, in milliseconds.
#[derive(Debug, Clone, Default)]
pub(crate) struct ArrivalWindow {
    samples: VecDeque<f64>,
    sum: f64,
}

impl ArrivalWindow {
    /// Records the gap between two heartbeat advances, unless it is an outage (`gap > cap`).
    pub(crate) fn record(&mut self, gap: Duration, cap: Duration) {
        if gap > cap {
            return;
        }
        let ms = gap.as_secs_f64() * 1e3;
        self.samples.push_back(ms);
        self.sum += ms;
        if self.samples.len() > WINDOW
            && let Some(old) = self.samples.pop_front()
        {
            self.sum -= old;
        }
    }

    /// Phi after `elapsed` without a heartbeat, or `None` while there are too few samples.
    pub(crate) fn phi(&self, elapsed: Duration) -> Option<f64> {
        if self.samples.len() < MIN_SAMPLES {
            return None;
        }
        // Floor the mean at 1 ms: bursts of relayed heartbeats can arrive in the same instant.
        let mean = (self.sum / self.samples.len() as f64).max(1.0);
        Some(elapsed.as_secs_f64() * 1e3 / mean * std::f64::consts::LOG10_E)
    }
}

/// Whether a member not heard from for `elapsed` should now be suspected.
pub(crate) fn should_suspect(window: &ArrivalWindow, elapsed: Duration, config: &Config) -> bool {
    match (config.phi_threshold, window.phi(elapsed)) {
        (Some(threshold), Some(phi)) => phi > threshold,
        _ => elapsed > config.failure_timeout,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn window_of(gap: Duration, count: usize) -> ArrivalWindow {
        let mut window = ArrivalWindow::default();
        for _ in 0..count {
            window.record(gap, Duration::from_secs(5));
        }
        window
    }

    #[test]
    fn fixed_timeout_without_phi() {
        let config = Config::default();
        let window = window_of(1000 * MS, 20);
        assert!(!should_suspect(&window, config.failure_timeout, &config));
        assert!(should_suspect(
            &window,
            config.failure_timeout + MS,
            &config
        ));
    }

    #[test]
    fn phi_grows_linearly_with_silence() {
        let window = window_of(1000 * MS, 20);
        let phi = window.phi(1000 * MS).unwrap();
        assert!((phi - std::f64::consts::LOG10_E).abs() < 1e-9);
        assert!((window.phi(4000 * MS).unwrap() - 4.0 * phi).abs() < 1e-9);
    }

    #[test]
    fn phi_falls_back_to_timeout_until_enough_samples() {
        let config = Config {
            phi_threshold: Some(1.0),
            ..Config::default()
        };
        let sparse = window_of(100 * MS, MIN_SAMPLES - 1);
        assert!(!should_suspect(&sparse, 3000 * MS, &config));
        let full = window_of(100 * MS, MIN_SAMPLES);
        // phi(3 s) with a 100 ms mean is 13: far above 1.
        assert!(should_suspect(&full, 3000 * MS, &config));
    }

    #[test]
    fn outages_are_not_samples_and_the_window_is_bounded() {
        let mut window = window_of(200 * MS, WINDOW + 50);
        assert_eq!(window.samples.len(), WINDOW);
        window.record(Duration::from_secs(60), Duration::from_secs(5));
        assert_eq!(window.samples.len(), WINDOW);
        let mean = window.sum / window.samples.len() as f64;
        assert!((mean - 200.0).abs() < 1e-6);
    }
}
