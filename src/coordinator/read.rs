//! Quorum reads and read repair (see the module docs of [`crate::coordinator`]).

use futures::stream::{FuturesUnordered, StreamExt};
use ringkv_versions::VersionSet;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{CoordError, Coordinator, effective_quorum};
use crate::cluster::Member;

type ReadReply = (Member, Result<Option<VersionSet>, String>);

/// Which replicas a quorum read asks up front.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fanout {
    /// Every replica of the preference list.
    All,
    /// Only as many as the quorum needs (spares on failure or slowness).
    Quorum,
}

/// The replies a quorum read gathered, and the reads still in flight.
pub(super) struct Replies {
    /// Merge of the replies received so far.
    pub merged: VersionSet,
    got: Vec<(Member, Option<VersionSet>)>,
    pending: FuturesUnordered<JoinHandle<ReadReply>>,
}

impl Coordinator {
    /// `GET /items/{key}`: the merged set of R replicas (empty when none has the key).
    pub async fn get(&self, key: &str, r: Option<usize>) -> Result<VersionSet, CoordError> {
        let settings = self.cluster.settings().settings;
        let pref = self.cluster.view().preference_list(key, settings.quorum.n);
        let needed = effective_quorum(r.unwrap_or(settings.quorum.r), pref.len());
        let deadline = Instant::now() + self.request_timeout;
        let replies = self
            .quorum_read(key, needed, &pref, deadline, Fanout::All)
            .await?;
        let merged = replies.merged.clone();
        self.spawn_read_repair(key.to_string(), replies);
        Ok(merged)
    }

    /// Asks the replicas in `pref` and returns once `needed` have answered. `Fanout::All` asks
    /// every replica at once (reads: the slower ones feed read repair); `Fanout::Quorum` asks
    /// only `needed` of them, this node first, and asks a spare when one fails or when the
    /// answers are slower than a quarter of the RPC timeout (the context read of a write: any
    /// R replicas overlap any W, so more would only cost).
    pub(super) async fn quorum_read(
        &self,
        key: &str,
        needed: usize,
        pref: &[Member],
        deadline: Instant,
        fanout: Fanout,
    ) -> Result<Replies, CoordError> {
        let mut order: Vec<Member> = pref.to_vec();
        order.sort_by_key(|m| !self.is_self(m));
        let first = match fanout {
            Fanout::All => order.len(),
            Fanout::Quorum => needed,
        };
        let mut spares = order.split_off(first.min(order.len())).into_iter();
        let ask = |m: Member| {
            let this = self.clone();
            let key = key.to_string();
            tokio::spawn(async move {
                let reply = this.read_from(&m, &key).await;
                (m, reply)
            })
        };
        let mut pending: FuturesUnordered<JoinHandle<ReadReply>> =
            order.into_iter().map(ask).collect();
        let mut hedge_at = Some(Instant::now() + self.rpc.timeout() / 4);
        let mut got = Vec::with_capacity(pref.len());
        while got.len() < needed {
            let wake = hedge_at.map_or(deadline, |h| h.min(deadline));
            match tokio::time::timeout_at(wake, pending.next()).await {
                Ok(Some(Ok((m, Ok(set))))) => got.push((m, set)),
                Ok(Some(reply)) => {
                    if let Ok((m, Err(e))) = &reply {
                        tracing::debug!(peer = %m.id, "read failed: {e}");
                    }
                    pending.extend(spares.next().map(ask));
                }
                Ok(None) => break,
                Err(_) if Instant::now() >= deadline => break,
                Err(_) => {
                    hedge_at = None;
                    pending.extend(spares.by_ref().map(ask));
                }
            }
        }
        if got.len() < needed {
            self.metrics.quorum_failure("read");
            return Err(CoordError::Quorum {
                op: "read".into(),
                got: got.len(),
                needed,
                asked: pref.len(),
            });
        }
        let mut merged = VersionSet::new();
        for set in got.iter().filter_map(|(_, s)| s.as_ref()) {
            merged.merge(set);
        }
        Ok(Replies {
            merged,
            got,
            pending,
        })
    }

    /// After the answer: waits for the slower replicas, then pushes the merge of everything to
    /// each replica whose copy differs from it.
    fn spawn_read_repair(&self, key: String, replies: Replies) {
        let this = self.clone();
        tokio::spawn(async move {
            let Replies {
                mut merged,
                mut got,
                mut pending,
            } = replies;
            while let Some(reply) = pending.next().await {
                if let Ok((m, Ok(set))) = reply {
                    if let Some(s) = &set {
                        merged.merge(s);
                    }
                    got.push((m, set));
                }
            }
            if merged.versions().is_empty() {
                return;
            }
            merged.prune(&this.cluster.settings().settings.versioning.limits());
            let encoded = merged.encode();
            for (m, copy) in got {
                if copy.is_some_and(|c| c.encode() == encoded) {
                    continue;
                }
                this.metrics.read_repair();
                if let Err(e) = this.merge_into(&m, &key, &merged, &encoded).await {
                    tracing::debug!(peer = %m.id, "read repair failed: {e}");
                }
            }
        });
    }
}
