//! Counting and timing while a run goes: one [`Recorder`] per client task, merged at the end.
//!
//! Each task owns its recorder, so the hot path takes no lock and shares no cache line; the only
//! shared state during a run is the progress counters in the driver. Latencies go into HDR
//! histograms in microseconds (3 significant digits, auto-resizing past a minute), which merge
//! exactly: the merged percentiles are those of all requests, not an average of averages.
//!
//! What counts as what ([`classify`]):
//! - read 200 is ok, read 300 is ok and a sibling read; read 404 is a miss when the keys were not
//!   prefilled (the key may never have been written), an error when they were;
//! - write 200 or 201 is ok;
//! - every other status, and every transport failure, is an error of that operation.
//!
//! Latencies of oks and misses are recorded; those of errors are not (a fast 503 would otherwise
//! flatter the percentiles).

use std::time::Duration;

use hdrhistogram::Histogram;
use http::StatusCode;

use crate::client::Outcome;
use crate::report::{ErrorCounts, Latency, OpReport, TransportError};
use crate::workload::Op;

/// What one answered request means for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Ok,
    /// A read answered 300: the key has concurrent versions.
    Siblings,
    /// A read answered 404 for a key that may never have been written.
    Miss,
    Error(Failure),
}

/// A failed request: an unexpected status, or no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    Status(StatusCode),
    Transport(TransportError),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Status(status) => write!(f, "HTTP {}", status.as_u16()),
            Self::Transport(kind) => write!(f, "transport: {}", kind.as_str()),
        }
    }
}

/// Judges one outcome; `prefilled` says whether every key was written before the run.
pub(crate) fn classify(op: Op, outcome: Outcome, prefilled: bool) -> Verdict {
    let status = match outcome {
        Outcome::Status(status) => status,
        Outcome::Transport(e) => return Verdict::Error(Failure::Transport(e)),
    };
    match (op, status) {
        (Op::Read, StatusCode::OK) => Verdict::Ok,
        (Op::Read, StatusCode::MULTIPLE_CHOICES) => Verdict::Siblings,
        (Op::Read, StatusCode::NOT_FOUND) if !prefilled => Verdict::Miss,
        (Op::Write, StatusCode::OK | StatusCode::CREATED) => Verdict::Ok,
        _ => Verdict::Error(Failure::Status(status)),
    }
}

/// Counts and latencies of one operation kind.
#[derive(Debug, Clone)]
pub(crate) struct OpStats {
    latency_us: Histogram<u64>,
    ok: u64,
    misses: u64,
    siblings: u64,
    errors: ErrorCounts,
}

impl OpStats {
    /// Histogram range: 1 µs to 60 s before auto-resize; 3 significant digits (0.1% error).
    const HIGHEST_US: u64 = 60_000_000;
    const SIGNIFICANT_DIGITS: u8 = 3;

    pub fn new() -> Self {
        let mut latency_us =
            Histogram::new_with_bounds(1, Self::HIGHEST_US, Self::SIGNIFICANT_DIGITS)
                .expect("constant histogram bounds are valid");
        latency_us.auto(true);
        Self {
            latency_us,
            ok: 0,
            misses: 0,
            siblings: 0,
            errors: ErrorCounts::default(),
        }
    }

    pub fn record(&mut self, verdict: Verdict, latency: Duration) {
        match verdict {
            Verdict::Ok => self.ok += 1,
            Verdict::Siblings => {
                self.ok += 1;
                self.siblings += 1;
            }
            Verdict::Miss => self.misses += 1,
            Verdict::Error(failure) => {
                self.errors.add(failure, 1);
                return;
            }
        }
        let us = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        // With auto-resize on, recording only fails for values beyond u64 range: saturate.
        self.latency_us.saturating_record(us);
    }

    pub fn merge(&mut self, other: &OpStats) {
        self.latency_us
            .add(&other.latency_us)
            .expect("auto-resizing histograms of the same precision merge");
        self.ok += other.ok;
        self.misses += other.misses;
        self.siblings += other.siblings;
        self.errors.merge(&other.errors);
    }

    /// The figures of this operation over a run of `elapsed`.
    pub fn summarize(&self, elapsed: Duration) -> OpReport {
        let answered = self.ok + self.misses;
        let secs = elapsed.as_secs_f64();
        let h = &self.latency_us;
        OpReport {
            ok: self.ok,
            misses: self.misses,
            siblings: self.siblings,
            errors: self.errors.clone(),
            ops_per_sec: if secs > 0.0 {
                answered as f64 / secs
            } else {
                0.0
            },
            latency: (answered > 0).then(|| Latency {
                p50_us: h.value_at_quantile(0.50),
                p90_us: h.value_at_quantile(0.90),
                p99_us: h.value_at_quantile(0.99),
                p999_us: h.value_at_quantile(0.999),
                max_us: h.max(),
                mean_us: h.mean(),
            }),
        }
    }
}

/// Everything one client task measured.
#[derive(Debug, Clone)]
pub(crate) struct Recorder {
    pub reads: OpStats,
    pub writes: OpStats,
}

impl Recorder {
    pub fn new() -> Self {
        Self {
            reads: OpStats::new(),
            writes: OpStats::new(),
        }
    }

    pub fn record(&mut self, op: Op, verdict: Verdict, latency: Duration) {
        match op {
            Op::Read => self.reads.record(verdict, latency),
            Op::Write => self.writes.record(verdict, latency),
        }
    }

    pub fn merge(&mut self, other: &Recorder) {
        self.reads.merge(&other.reads);
        self.writes.merge(&other.writes);
    }

    /// Reads and writes together.
    pub fn total(&self) -> OpStats {
        let mut all = self.reads.clone();
        all.merge(&self.writes);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn status(code: u16) -> Outcome {
        match StatusCode::from_u16(code) {
            Ok(s) => Outcome::Status(s),
            Err(_) => panic!("bad status"),
        }
    }

    #[test]
    fn read_statuses_are_judged_by_prefill() {
        assert_eq!(classify(Op::Read, status(200), false), Verdict::Ok);
        assert_eq!(classify(Op::Read, status(300), true), Verdict::Siblings);
        assert_eq!(classify(Op::Read, status(404), false), Verdict::Miss);
        assert_eq!(
            classify(Op::Read, status(404), true),
            Verdict::Error(Failure::Status(StatusCode::NOT_FOUND))
        );
        assert_eq!(
            classify(Op::Read, status(503), false),
            Verdict::Error(Failure::Status(StatusCode::SERVICE_UNAVAILABLE))
        );
    }

    #[test]
    fn writes_succeed_on_200_and_201_only() {
        assert_eq!(classify(Op::Write, status(201), false), Verdict::Ok);
        assert_eq!(classify(Op::Write, status(200), true), Verdict::Ok);
        for code in [204, 300, 404, 412, 413, 503] {
            assert!(matches!(
                classify(Op::Write, status(code), false),
                Verdict::Error(Failure::Status(_))
            ));
        }
        let timeout = Outcome::Transport(TransportError::Timeout);
        assert_eq!(
            classify(Op::Write, timeout, false),
            Verdict::Error(Failure::Transport(TransportError::Timeout))
        );
    }

    #[test]
    fn errors_are_counted_but_not_timed() {
        let mut stats = OpStats::new();
        stats.record(Verdict::Ok, Duration::from_millis(2));
        stats.record(Verdict::Miss, Duration::from_millis(4));
        let slow_503 = Failure::Status(StatusCode::SERVICE_UNAVAILABLE);
        stats.record(Verdict::Error(slow_503), Duration::from_secs(9));
        let report = stats.summarize(Duration::from_secs(1));
        assert_eq!((report.ok, report.misses), (1, 1));
        assert_eq!(report.errors.status(503), 1);
        assert_eq!(report.ops_per_sec, 2.0);
        let latency = report.latency.unwrap();
        assert!((3990..=4010).contains(&latency.max_us), "{latency:?}");
    }

    #[test]
    fn merged_percentiles_are_those_of_all_requests() {
        let mut fast = Recorder::new();
        let mut slow = Recorder::new();
        for _ in 0..90 {
            fast.record(Op::Read, Verdict::Ok, Duration::from_micros(100));
        }
        for _ in 0..10 {
            slow.record(Op::Write, Verdict::Ok, Duration::from_micros(10_000));
        }
        fast.merge(&slow);
        let total = fast.total().summarize(Duration::from_secs(2));
        assert_eq!(total.ok, 100);
        assert_eq!(total.ops_per_sec, 50.0);
        let latency = total.latency.unwrap();
        assert!((99..=101).contains(&latency.p50_us), "{latency:?}");
        assert!((9_990..=10_010).contains(&latency.p99_us), "{latency:?}");
    }

    #[test]
    fn no_answers_means_no_latency_and_zero_rate() {
        let report = OpStats::new().summarize(Duration::ZERO);
        assert_eq!(report.ops_per_sec, 0.0);
        assert!(report.latency.is_none());
    }
}
