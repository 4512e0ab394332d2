//! The one quorum fan-out every path uses (reads, context reads, writes, lists, read repair):
//! start calls to a set of replicas, count real answers against a caller's rule, ask spares
//! when a call fails or is slow, and leave the calls still running to the background.
//!
//! Policy stays with the callers (which replicas, how many first, when it is enough, how long
//! to wait); the mechanism is here, once. Every call runs as a supervised tail
//! ([`Background::tail`]), so an answer given to the client never cancels the replica calls
//! that are still carrying the write to the other replicas, and shutdown waits for them.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;

use futures::stream::{FuturesUnordered, StreamExt};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::replicas::CallError;
use crate::background::Background;
use crate::cluster::Member;

/// One finished call.
pub(crate) type Reply<T> = (Member, Result<T, CallError>);

type Launch<T> = Box<dyn Fn(Member) -> JoinHandle<Reply<T>> + Send + Sync>;

/// Calls in flight to a set of replicas, and the answers so far.
pub(crate) struct Fanout<T> {
    pending: FuturesUnordered<JoinHandle<Reply<T>>>,
    spares: VecDeque<Member>,
    launch: Launch<T>,
    /// Successful answers, in arrival order.
    pub ok: Vec<(Member, T)>,
    /// Failed calls (errors, timeouts of the call itself, members known dead).
    pub failed: Vec<(Member, CallError)>,
}

impl<T: Send + 'static> Fanout<T> {
    /// Calls `op` on the first `first` members of `targets` now; the others are spares, asked
    /// in order when a call fails or when the caller's hedge time passes.
    pub fn start<F, Fut>(bg: &Arc<Background>, targets: Vec<Member>, first: usize, op: F) -> Self
    where
        F: Fn(Member) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, CallError>> + Send + 'static,
    {
        let (bg, op) = (bg.clone(), Arc::new(op));
        let launch: Launch<T> = Box::new(move |m: Member| {
            let op = op.clone();
            bg.tail(async move {
                let result = op(m.clone()).await;
                (m, result)
            })
        });
        let mut spares: VecDeque<Member> = targets.into();
        let now: Vec<Member> = spares.drain(..first.min(spares.len())).collect();
        let pending = now.into_iter().map(&launch).collect();
        Fanout {
            pending,
            spares,
            launch,
            ok: Vec::new(),
            failed: Vec::new(),
        }
    }

    fn ask_spare(&mut self) -> bool {
        match self.spares.pop_front() {
            Some(m) => {
                self.pending.push((self.launch)(m));
                true
            }
            None => false,
        }
    }

    /// Collects answers until `done(&self.ok)` holds (true), or every call has ended without
    /// it, or `deadline` passes (false). A failed call asks a spare; once `hedge` passes, every
    /// remaining spare is asked at once.
    pub async fn until(
        &mut self,
        deadline: Instant,
        mut hedge: Option<Instant>,
        done: impl Fn(&[(Member, T)]) -> bool,
    ) -> bool {
        while !done(&self.ok) {
            let wake = hedge.map_or(deadline, |h| h.min(deadline));
            match tokio::time::timeout_at(wake, self.pending.next()).await {
                Ok(Some(Ok((m, Ok(value))))) => self.ok.push((m, value)),
                Ok(Some(Ok((m, Err(e))))) => {
                    tracing::debug!(peer = %m.id, "replica call failed: {e}");
                    self.failed.push((m, e));
                    self.ask_spare();
                }
                Ok(Some(Err(e))) => {
                    tracing::error!("replica call task failed: {e}");
                    self.ask_spare();
                }
                Ok(None) => {
                    if !self.ask_spare() {
                        return false;
                    }
                }
                Err(_) if Instant::now() >= deadline => return false,
                Err(_) => {
                    hedge = None;
                    while self.ask_spare() {}
                }
            }
        }
        true
    }

    /// The calls still running, for a caller that keeps listening in the background.
    pub fn into_pending(self) -> FuturesUnordered<JoinHandle<Reply<T>>> {
        self.pending
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

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
