//! Quorum reads and read repair (see the module docs of [`crate::coordinator`]).

use futures::stream::{FuturesUnordered, StreamExt};
use ringkv_versions::VersionSet;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{CoordError, Coordinator, effective_quorum};
use crate::cluster::Member;

type ReadReply = (Member, Result<Option<VersionSet>, String>);

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
        let replies = self.quorum_read(key, needed, &pref, deadline).await?;
        let merged = replies.merged.clone();
        self.spawn_read_repair(key.to_string(), replies);
        Ok(merged)
    }

    /// Asks every replica in `pref` and returns once `needed` have answered.
    pub(super) async fn quorum_read(
        &self,
        key: &str,
        needed: usize,
        pref: &[Member],
        deadline: Instant,
    ) -> Result<Replies, CoordError> {
        let mut pending: FuturesUnordered<JoinHandle<ReadReply>> = pref
            .iter()
            .cloned()
            .map(|m| {
                let this = self.clone();
                let key = key.to_string();
                tokio::spawn(async move {
                    let reply = this.read_from(&m, &key).await;
                    (m, reply)
                })
            })
            .collect();
        let mut got = Vec::with_capacity(pref.len());
        while got.len() < needed {
            match tokio::time::timeout_at(deadline, pending.next()).await {
                Ok(Some(Ok((m, Ok(set))))) => got.push((m, set)),
                Ok(Some(Ok((m, Err(e))))) => tracing::debug!(peer = %m.id, "read failed: {e}"),
                Ok(Some(Err(e))) => tracing::warn!("read task failed: {e}"),
                Ok(None) | Err(_) => break,
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
