//! The one quorum fan-out every path uses (reads, context reads, writes, lists, read repair):
//! start calls to a set of replicas, count real answers against a caller's rule, ask spares
//! when a call fails or is slow, and leave the calls still running to the background.
//!
//! Policy stays with the callers (which replicas, how many first, when it is enough, how long
//! to wait); the mechanism is here, once. Calls of a write run as supervised tails
//! ([`Background::tail`], [`Fanout::start`]), so an answer given to the client never cancels
//! the replica calls that are still carrying the write to the other replicas, and shutdown
//! waits for them. Calls of a read change nothing when dropped, so they are polled in the
//! caller's task ([`Fanout::start_inline`]): no spawn and no thread hop per replica asked.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::time::Instant;

use super::replicas::CallError;
use crate::background::Background;

/// One finished call: whom it went to, and what came back.
pub(crate) type Reply<K, T> = (K, Result<T, CallError>);

/// One call in flight: a tail's join handle, or the call's own future (inline).
pub(crate) type Call<K, T> = BoxFuture<'static, Reply<K, T>>;

type Launch<K, T> = Box<dyn Fn(K) -> Call<K, T> + Send + Sync>;

/// What [`Fanout::next`] saw.
pub(crate) enum Event<K, T> {
    Reply(Reply<K, T>),
    /// `wake` passed with calls still running.
    Wake,
    /// No call is running and no spare is left.
    Exhausted,
}

/// Calls in flight to a set of targets (replicas, or stand-ins for them), and the answers.
pub(crate) struct Fanout<K, T> {
    pending: FuturesUnordered<Call<K, T>>,
    spares: VecDeque<K>,
    launch: Launch<K, T>,
    /// Successful answers, in arrival order.
    pub ok: Vec<(K, T)>,
    /// Failed calls (errors, timeouts of the call itself, members known dead).
    pub failed: Vec<(K, CallError)>,
}

impl<K: Clone + Send + 'static, T: Send + 'static> Fanout<K, T> {
    /// Calls `op` on the first `first` targets now, each as a supervised tail; the others are
    /// spares, asked in order when a call fails or when the caller's hedge time passes.
    pub fn start<F, Fut>(bg: &Arc<Background>, targets: Vec<K>, first: usize, op: F) -> Self
    where
        F: Fn(K) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, CallError>> + Send + 'static,
    {
        let (bg, op) = (bg.clone(), Arc::new(op));
        let launch: Launch<K, T> = Box::new(move |k: K| {
            let op = op.clone();
            let handle = bg.tail({
                let k = k.clone();
                async move {
                    let result = op(k.clone()).await;
                    (k, result)
                }
            });
            Box::pin(async move {
                handle.await.unwrap_or_else(|e| {
                    tracing::error!("replica call task failed: {e}");
                    (k, Err(format!("the call's task failed: {e}")))
                })
            })
        });
        Self::with_launch(launch, targets, first)
    }

    /// [`Fanout::start`] with the calls polled by whoever polls the fan-out (for calls that
    /// may be dropped unfinished: reads).
    pub fn start_inline<F, Fut>(targets: Vec<K>, first: usize, op: F) -> Self
    where
        F: Fn(K) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, CallError>> + Send + 'static,
    {
        let op = Arc::new(op);
        let launch: Launch<K, T> = Box::new(move |k: K| {
            let op = op.clone();
            Box::pin(async move {
                let result = op(k.clone()).await;
                (k, result)
            })
        });
        Self::with_launch(launch, targets, first)
    }

    fn with_launch(launch: Launch<K, T>, targets: Vec<K>, first: usize) -> Self {
        let mut spares: VecDeque<K> = targets.into();
        let now: Vec<K> = spares.drain(..first.min(spares.len())).collect();
        let pending = now.into_iter().map(&launch).collect();
        Fanout {
            pending,
            spares,
            launch,
            ok: Vec::new(),
            failed: Vec::new(),
        }
    }

    /// Starts one more call now (a stand-in the caller chose).
    pub fn push(&mut self, target: K) {
        self.pending.push((self.launch)(target));
    }

    fn ask_spare(&mut self) -> bool {
        match self.spares.pop_front() {
            Some(k) => {
                self.push(k);
                true
            }
            None => false,
        }
    }

    /// The next finished call, or `Wake` once `wake` passes, or `Exhausted` when nothing is
    /// running (the caller decides about spares and stand-ins).
    pub async fn next(&mut self, wake: Instant) -> Event<K, T> {
        if self.pending.is_empty() {
            return Event::Exhausted;
        }
        match tokio::time::timeout_at(wake, self.pending.next()).await {
            Ok(Some(reply)) => Event::Reply(reply),
            Ok(None) => Event::Exhausted,
            Err(_) => Event::Wake,
        }
    }

    /// Collects answers until `done(&self.ok)` holds (true), or every call has ended without
    /// it, or `deadline` passes (false). A failed call asks a spare; once `hedge` passes, every
    /// remaining spare is asked at once.
    pub async fn until(
        &mut self,
        deadline: Instant,
        mut hedge: Option<Instant>,
        done: impl Fn(&[(K, T)]) -> bool,
    ) -> bool {
        while !done(&self.ok) {
            let wake = hedge.map_or(deadline, |h| h.min(deadline));
            match self.next(wake).await {
                Event::Reply((k, Ok(value))) => self.ok.push((k, value)),
                Event::Reply((k, Err(e))) => {
                    tracing::debug!("replica call failed: {e}");
                    self.failed.push((k, e));
                    self.ask_spare();
                }
                Event::Exhausted => {
                    if !self.ask_spare() {
                        return false;
                    }
                }
                Event::Wake if Instant::now() >= deadline => return false,
                Event::Wake => {
                    if hedge.is_some_and(|h| Instant::now() >= h) {
                        hedge = None;
                        while self.ask_spare() {}
                    }
                }
            }
        }
        true
    }

    /// No call is running and no spare is left unasked.
    pub fn is_settled(&self) -> bool {
        self.pending.is_empty() && self.spares.is_empty()
    }

    /// The calls still running, for a caller that keeps listening in the background.
    pub fn into_pending(self) -> FuturesUnordered<Call<K, T>> {
        self.pending
    }

    /// The calls still running, and the spares never asked.
    pub fn into_parts(self) -> (FuturesUnordered<Call<K, T>>, Vec<K>) {
        (self.pending, self.spares.into())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::cluster::Member;

    fn members(n: usize) -> Vec<Member> {
        (0..n)
            .map(|i| Member {
                id: format!("m{i}"),
                url: String::new(),
            })
            .collect()
    }

    #[tokio::test]
    async fn failures_ask_spares_and_the_rule_decides() {
        let bg = Arc::new(Background::new());
        let mut f = Fanout::start(&bg, members(4), 2, |m: Member| async move {
            if m.id == "m0" {
                Err("down".to_string())
            } else {
                Ok(m.id.clone())
            }
        });
        let deadline = Instant::now() + Duration::from_secs(5);
        assert!(f.until(deadline, None, |ok| ok.len() >= 2).await);
        assert_eq!(f.failed.len(), 1);
        let mut got: Vec<_> = f.ok.iter().map(|(_, v)| v.clone()).collect();
        got.sort();
        assert!(got == ["m1", "m2"] || got == ["m1", "m3"], "{got:?}");
    }

    #[tokio::test]
    async fn a_slow_call_is_hedged_and_the_deadline_holds() {
        let bg = Arc::new(Background::new());
        let slow = |m: Member| async move {
            if m.id == "m0" {
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
            Ok::<_, CallError>(())
        };
        let mut f = Fanout::start(&bg, members(2), 1, slow);
        let start = Instant::now();
        let hedge = Some(start + Duration::from_millis(20));
        assert!(
            f.until(start + Duration::from_secs(5), hedge, |ok| !ok.is_empty())
                .await
        );
        assert_eq!(f.ok[0].0.id, "m1");
        let mut stuck = Fanout::start(&bg, members(1), 1, slow);
        let deadline = Instant::now() + Duration::from_millis(50);
        assert!(!stuck.until(deadline, None, |ok| !ok.is_empty()).await);
        assert!(Instant::now() < deadline + Duration::from_secs(1));
    }
}
