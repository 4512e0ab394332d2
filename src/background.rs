//! The supervisor: every task that outlives the request that started it runs through here, so
//! shutdown can name and wait for everything that runs.
//!
//! Two kinds of work:
//! - **Workers** ([`Background::worker`]): named, long-running loops (gossip, hint replay,
//!   anti-entropy, data movement). Each gets its own [`CancellationToken`]; a worker's loop
//!   selects on `token.cancelled()` and returns promptly when it fires.
//! - **Tails** ([`Background::tail`]): bounded pieces of a request that finish after the answer
//!   (the replica merges beyond W, read repair). They are not cancelled (every remote call has a
//!   timeout, so they end by themselves) but shutdown waits for them, bounded, so a write
//!   acknowledged to the client still reaches every replica that answers in time.
//!
//! Shutdown order ([`Background::shutdown`], called by `server::run` after the HTTP server
//! stopped accepting and drained): wait for the tails, then stop the workers one at a time in
//! reverse start order (the last started, which depend on the first, stop first: gossip, started
//! first, stops last, so the node stays visible while the others wind down). Each wait is bounded
//! by the deadline; whatever is still running then is reported by name and abandoned. Invariant:
//! after `shutdown` no new worker or tail starts (they are refused and logged).
//!
//! Built on `tokio_util`'s `TaskTracker` and `CancellationToken` (mini-redis' shutdown channel and
//! garage's worker manager in library form) rather than polling reference counts.

use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

struct Worker {
    name: String,
    token: CancellationToken,
    handle: JoinHandle<()>,
}

/// The node's supervisor. Shared as `Arc<Background>`.
pub struct Background {
    workers: Mutex<Vec<Worker>>,
    tails: TaskTracker,
    closed: AtomicBool,
    /// Fires when shutdown begins: long waits inside tails or handlers may select on it.
    stopping: CancellationToken,
}

/// What shutdown could not stop in time.
#[derive(Debug, Default)]
pub struct ShutdownReport {
    /// Workers still running at the deadline.
    pub stuck_workers: Vec<String>,
    /// Tails still running at the deadline.
    pub stuck_tails: usize,
}

impl Default for Background {
    fn default() -> Self {
        Background {
            workers: Mutex::new(Vec::new()),
            tails: TaskTracker::new(),
            closed: AtomicBool::new(false),
            stopping: CancellationToken::new(),
        }
    }
}

impl Background {
    pub fn new() -> Background {
        Background::default()
    }

    /// Starts a named worker: `run(token)` must return soon after `token` is cancelled.
    /// Refused (logged, not started) once shutdown has begun.
    pub fn worker<F, Fut>(&self, name: impl Into<String>, run: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let name = name.into();
        if self.closed.load(Ordering::Acquire) {
            tracing::warn!(worker = %name, "not started: the node is shutting down");
            return;
        }
        let token = self.stopping.child_token();
        let fut = run(token.clone());
        let label = name.clone();
        let handle = tokio::spawn(async move {
            fut.await;
            tracing::debug!(worker = %label, "worker finished");
        });
        let mut workers = self.workers.lock().unwrap_or_else(|p| p.into_inner());
        workers.retain(|w| !w.handle.is_finished());
        workers.push(Worker {
            name,
            token,
            handle,
        });
    }

    /// Runs a bounded tail of a request in the background; shutdown waits for it. After
    /// shutdown began the tail still runs (it may carry an acknowledged write to a replica) but
    /// is no longer waited for.
    pub fn tail<F>(&self, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tails.spawn(fut)
    }

    /// Names of the workers running now (for logs and tests).
    pub fn running(&self) -> Vec<String> {
        let workers = self.workers.lock().unwrap_or_else(|p| p.into_inner());
        workers
            .iter()
            .filter(|w| !w.handle.is_finished())
            .map(|w| w.name.clone())
            .collect()
    }

    /// A token that fires when shutdown begins.
    pub fn stopping(&self) -> CancellationToken {
        self.stopping.clone()
    }

    /// True once shutdown has begun.
    pub fn is_stopping(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Waits for the tails, then stops the workers in reverse start order, all within
    /// `deadline`.
    pub async fn shutdown(&self, deadline: Duration) -> ShutdownReport {
        self.closed.store(true, Ordering::Release);
        let until = Instant::now() + deadline;
        let mut report = ShutdownReport::default();
        self.tails.close();
        if tokio::time::timeout_at(until, self.tails.wait())
            .await
            .is_err()
        {
            report.stuck_tails = self.tails.len();
        }
        self.stopping.cancel();
        let workers = std::mem::take(&mut *self.workers.lock().unwrap_or_else(|p| p.into_inner()));
        for worker in workers.into_iter().rev() {
            worker.token.cancel();
            let mut handle = worker.handle;
            match tokio::time::timeout_at(until, &mut handle).await {
                Ok(Ok(())) => tracing::debug!(worker = %worker.name, "stopped"),
                Ok(Err(e)) => tracing::error!(worker = %worker.name, "worker failed: {e}"),
                Err(_) => {
                    handle.abort();
                    report.stuck_workers.push(worker.name);
                }
            }
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    use super::*;

    #[tokio::test]
    async fn workers_stop_in_reverse_order_after_the_tails() {
        let bg = Background::new();
        let order = Arc::new(Mutex::new(Vec::new()));
        for name in ["first", "second"] {
            let order = order.clone();
            bg.worker(name, move |token| async move {
                token.cancelled().await;
                order.lock().unwrap().push(name.to_string());
            });
        }
        let done = Arc::new(AtomicUsize::new(0));
        let tail_done = done.clone();
        let tail_order = order.clone();
        bg.tail(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            tail_done.fetch_add(1, Ordering::SeqCst);
            tail_order.lock().unwrap().push("tail".into());
        });
        assert_eq!(bg.running(), ["first", "second"]);
        let report = bg.shutdown(Duration::from_secs(5)).await;
        assert!(report.stuck_workers.is_empty() && report.stuck_tails == 0);
        assert_eq!(done.load(Ordering::SeqCst), 1);
        assert_eq!(*order.lock().unwrap(), ["tail", "second", "first"]);
        bg.worker("late", |_| async {});
        assert!(bg.running().is_empty(), "no worker starts after shutdown");
    }

    #[tokio::test]
    async fn a_stuck_worker_is_named_at_the_deadline() {
        let bg = Background::new();
        bg.worker("stubborn", |_token| std::future::pending::<()>());
        let report = bg.shutdown(Duration::from_millis(50)).await;
        assert_eq!(report.stuck_workers, ["stubborn"]);
    }
}
