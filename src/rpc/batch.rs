//! Coalescing node-to-node calls: the merges (and reads) bound for one peer travel together.
//!
//! Under load a coordinator sends each replica one merge per write; one HTTP request each costs
//! a request's parsing, a syscall or two on both sides, and a storage commit (an fsync) on the
//! replica. A [`Batcher`] keeps one lane per peer: a caller queues its item and awaits its own
//! answer; the lane's sender takes everything queued (up to [`MAX_BATCH`]) as one request, with
//! up to [`IN_FLIGHT`] requests in flight per peer. An idle lane sends a lone item at once, so
//! batching adds no latency: batches form only while earlier requests are in flight (as group
//! commit does for fsyncs). The replica applies a merge batch in one storage batch, so one fsync
//! covers it (Cassandra's messaging service and Raft's pipelined appends do the same).
//!
//! Invariants: every queued item gets exactly one answer (its part of the reply, or the
//! request's error); queues are bounded ([`QUEUE`]); lanes are supervised workers (they carry
//! the replication tails, so they stop after them) that end when idle for [`IDLE`] and are
//! recreated on demand; their requests are tails.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc, oneshot};

use super::RpcError;
use crate::background::Background;

/// Most items in one request.
pub const MAX_BATCH: usize = 256;
/// Requests in flight per peer. Fewer means bigger batches: with the 3-node dev cluster under
/// 64 connections (`scripts/perf-ab.sh 8 2`, medians) 1 / 2 / 4 in flight gave 5,311 / 5,000 /
/// 3,988 puts/s and 12,312 / 12,126 / 10,135 gets/s, p99 29.8 / 27.5 / 33.0 ms for puts; 2 keeps a
/// second request going while one waits on a slow fsync.
pub const IN_FLIGHT: usize = 2;
/// Items queued per peer before callers wait.
const QUEUE: usize = 4096;
/// A lane with nothing to send for this long ends.
const IDLE: Duration = Duration::from_secs(30);

type Reply<A> = oneshot::Sender<Result<A, RpcError>>;
/// The queue of one peer's lane: items and where their answers go.
type Lane<Q, A> = mpsc::Sender<(Q, Reply<A>)>;
/// Sends one batch to a peer; answers one result per item, in order.
pub type SendBatch<Q, A> = Arc<
    dyn Fn(String, Vec<Q>) -> Pin<Box<dyn Future<Output = Result<Vec<A>, RpcError>> + Send>>
        + Send
        + Sync,
>;

/// Per-peer lanes of one kind of call.
pub struct Batcher<Q, A> {
    send: SendBatch<Q, A>,
    bg: Arc<Background>,
    lanes: Mutex<HashMap<String, Lane<Q, A>>>,
}

impl<Q: Send + 'static, A: Send + 'static> Batcher<Q, A> {
    pub fn new(bg: Arc<Background>, send: SendBatch<Q, A>) -> Batcher<Q, A> {
        Batcher {
            send,
            bg,
            lanes: Mutex::new(HashMap::new()),
        }
    }

    /// Queues `item` for the peer at `base` and waits for its answer.
    pub async fn call(&self, base: &str, item: Q) -> Result<A, RpcError> {
        let (reply, answer) = oneshot::channel();
        let mut job = Some((item, reply));
        for _ in 0..2 {
            let Some(lane) = self.lane(base) else {
                break;
            };
            match lane.send(job.take().expect("a job to send")).await {
                Ok(()) => break,
                // The lane ended (idle) between lookup and send: take a fresh one.
                Err(mpsc::error::SendError(back)) => {
                    self.forget(base, &lane);
                    job = Some(back);
                }
            }
        }
        if job.is_some() {
            return Err(RpcError::Unreachable {
                url: base.to_string(),
                reason: "the node is shutting down".into(),
            });
        }
        answer.await.map_err(|_| RpcError::Interrupted {
            url: base.to_string(),
            reason: "the batch was dropped".into(),
        })?
    }

    fn forget(&self, base: &str, dead: &Lane<Q, A>) {
        let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
        if lanes.get(base).is_some_and(|l| l.same_channel(dead)) {
            lanes.remove(base);
        }
    }

    /// The peer's lane, started if needed (`None` once the node is shutting down).
    fn lane(&self, base: &str) -> Option<Lane<Q, A>> {
        let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(lane) = lanes.get(base).filter(|l| !l.is_closed()) {
            return Some(lane.clone());
        }
        if self.bg.is_stopping() {
            return None;
        }
        let (tx, rx) = mpsc::channel(QUEUE);
        lanes.insert(base.to_string(), tx.clone());
        let (send, bg, url) = (self.send.clone(), self.bg.clone(), base.to_string());
        self.bg.worker(format!("lane {base}"), move |token| {
            run_lane(url, rx, send, bg, token)
        });
        Some(tx)
    }
}

/// One peer's lane: takes what is queued, sends it as one request (at most `IN_FLIGHT` at a
/// time), hands each item its answer.
async fn run_lane<Q: Send + 'static, A: Send + 'static>(
    url: String,
    mut rx: mpsc::Receiver<(Q, Reply<A>)>,
    send: SendBatch<Q, A>,
    bg: Arc<Background>,
    token: tokio_util::sync::CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    loop {
        let first = tokio::select! {
            () = token.cancelled() => break,
            job = tokio::time::timeout(IDLE, rx.recv()) => match job {
                Ok(Some(job)) => job,
                Ok(None) | Err(_) => break,
            },
        };
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let (items, replies): (Vec<Q>, Vec<Reply<A>>) = jobs.into_iter().unzip();
        let call = send(url.clone(), items);
        bg.tail(async move {
            match call.await {
                Ok(answers) if answers.len() == replies.len() => {
                    for (reply, answer) in replies.into_iter().zip(answers) {
                        let _ = reply.send(Ok(answer));
                    }
                }
                Ok(answers) => {
                    let n = answers.len();
                    for reply in replies {
                        let _ = reply.send(Err(RpcError::Decode {
                            url: String::new(),
                            reason: format!("a batch answered {n} items"),
                        }));
                    }
                }
                Err(e) => {
                    for reply in replies {
                        let _ = reply.send(Err(e.clone()));
                    }
                }
            }
            drop(slot);
        });
    }
    // Close, then answer whatever raced in, so no caller waits forever.
    rx.close();
    while let Ok((_, reply)) = rx.try_recv() {
        let _ = reply.send(Err(RpcError::Unreachable {
            url: url.clone(),
            reason: "the lane closed".into(),
        }));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn items_queued_while_a_request_is_in_flight_travel_together() {
        let bg = Arc::new(Background::new());
        let requests = Arc::new(AtomicUsize::new(0));
        let counted = requests.clone();
        let send: SendBatch<u32, u32> = Arc::new(move |_url, items: Vec<u32>| {
            counted.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok(items.into_iter().map(|i| i * 10).collect())
            })
        });
        let batcher = Arc::new(Batcher::new(bg, send));
        let calls = (0..200u32).map(|i| {
            let b = batcher.clone();
            // Concurrent test callers (not node work, so not through the supervisor).
            tokio::spawn(async move { b.call("http://peer", i).await })
        });
        for (i, call) in futures::future::join_all(calls)
            .await
            .into_iter()
            .enumerate()
        {
            assert_eq!(
                call.unwrap().unwrap(),
                i as u32 * 10,
                "each item gets its own answer"
            );
        }
        let n = requests.load(Ordering::SeqCst);
        assert!(n < 50, "200 items in {n} requests");
    }

    #[tokio::test]
    async fn a_failed_request_fails_each_of_its_items() {
        let bg = Arc::new(Background::new());
        let send: SendBatch<u32, u32> =
            Arc::new(|url, _items| Box::pin(async move { Err(RpcError::Timeout { url }) }));
        let batcher = Batcher::new(bg, send);
        let err = batcher.call("http://peer", 1).await.unwrap_err();
        assert!(matches!(err, RpcError::Timeout { .. }));
    }
}
