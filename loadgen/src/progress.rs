//! The live progress bar: shared counters that client tasks bump, and a ticker that draws them.
//!
//! The bar goes to stderr and is hidden unless both stdout and stderr are terminals, so piped
//! output (`--json | jq`, CI logs) carries the report alone. Client tasks only touch two relaxed
//! atomic counters; the ticker reads them ten times a second and owns all drawing.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tokio::task::JoinHandle;

/// Requests finished so far and how many of them failed.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    done: AtomicU64,
    errors: AtomicU64,
}

impl Counters {
    pub fn finished(&self, failed: bool) {
        self.done.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Requests finished so far.
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }
}

/// What the bar fills towards.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Goal {
    /// A number of requests (or keys, for the prefill).
    Count(u64),
    /// A run time.
    Time(Duration),
}

/// A running bar; dropping it (or [`Progress::finish`]) stops the ticker and clears the bar,
/// also when a run ends early with an error.
pub(crate) struct Progress {
    bar: ProgressBar,
    ticker: Option<JoinHandle<()>>,
}

impl Progress {
    const TICK: Duration = Duration::from_millis(100);

    pub fn start(label: &'static str, goal: Goal, counters: Arc<Counters>) -> Self {
        if !(std::io::stdout().is_terminal() && std::io::stderr().is_terminal()) {
            return Self {
                bar: ProgressBar::hidden(),
                ticker: None,
            };
        }
        let (len, template) = match goal {
            Goal::Count(n) => (n, "{prefix:>7} {wide_bar} {pos}/{len} {msg}"),
            Goal::Time(d) => (
                u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
                "{prefix:>7} {wide_bar} {elapsed}/{duration} {msg}",
            ),
        };
        let bar = ProgressBar::new(len);
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        bar.set_prefix(label);
        let ticker = tokio::spawn(tick(bar.clone(), goal, counters));
        Self {
            bar,
            ticker: Some(ticker),
        }
    }

    pub fn finish(self) {
        drop(self);
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(ticker) = self.ticker.take() {
            ticker.abort();
        }
        self.bar.finish_and_clear();
    }
}

async fn tick(bar: ProgressBar, goal: Goal, counters: Arc<Counters>) {
    let started = Instant::now();
    let mut interval = tokio::time::interval(Progress::TICK);
    loop {
        interval.tick().await;
        let done = counters.done.load(Ordering::Relaxed);
        let errors = counters.errors.load(Ordering::Relaxed);
        let elapsed = started.elapsed();
        bar.set_position(match goal {
            Goal::Count(_) => done,
            Goal::Time(_) => u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        });
        let rate = done as f64 / elapsed.as_secs_f64().max(1e-3);
        bar.set_message(format!("{done} requests, {rate:.0}/s, {errors} errors"));
    }
}
