//! Quorum reads and read repair (see the module docs of [`crate::coordinator`]).

use futures::stream::StreamExt;
use ringkv_versions::VersionSet;
use tokio::time::Instant;

use super::quorum::Fanout;
use super::{CoordError, Coordinator, effective_quorum};
use crate::cluster::Member;

/// Which replicas a quorum read asks up front.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ask {
    /// Every replica of the preference list.
    All,
    /// Only as many as the quorum needs (spares on failure or slowness).
    Quorum,
}

/// The replies a quorum read gathered, and the reads still in flight.
pub(super) struct Replies {
    /// Merge of the replies received so far.
    pub merged: VersionSet,
    fanout: Fanout<Option<VersionSet>>,
}

impl Coordinator {
    /// `GET /items/{key}`: the merged set of R replicas (empty when none has the key).
    pub async fn get(&self, key: &str, r: Option<usize>) -> Result<VersionSet, CoordError> {
        let view = self.serving_view()?;
        let _op = view.op();
        let settings = self.cluster.settings().settings;
        let pref = view.preference_list(key, settings.quorum.n);
        let needed = effective_quorum(r.unwrap_or(settings.quorum.r), pref.len());
        let deadline = Instant::now() + self.request_timeout;
        let replies = self
            .quorum_read(key, needed, &pref, deadline, Ask::All)
            .await?;
        let merged = replies.merged.clone();
        self.spawn_read_repair(key.to_string(), replies);
        Ok(merged)
    }

    /// Asks the replicas in `pref` and returns once `needed` have answered. `Ask::All` asks
    /// every replica at once (reads: the slower ones feed read repair); `Ask::Quorum` asks only
    /// `needed` of them, this node first, and asks a spare when one fails or when the answers
    /// are slower than a quarter of the RPC timeout (the context read of a write: any R
    /// replicas overlap any W, so more would only cost).
    pub(super) async fn quorum_read(
        &self,
        key: &str,
        needed: usize,
        pref: &[Member],
        deadline: Instant,
        ask: Ask,
    ) -> Result<Replies, CoordError> {
        let mut order: Vec<Member> = pref.to_vec();
        order.sort_by_key(|m| !self.is_self(m));
        let first = match ask {
            Ask::All => order.len(),
            Ask::Quorum => needed,
        };
        let (replicas, k) = (self.replicas.clone(), key.to_string());
        let mut fanout = Fanout::start(&self.bg, order, first, move |m: Member| {
            let (replicas, key) = (replicas.clone(), k.clone());
            async move { replicas.read(&m, &key).await }
        });
        let hedge = Some(Instant::now() + self.rpc.timeout() / 4);
        if !fanout.until(deadline, hedge, |ok| ok.len() >= needed).await {
            self.metrics.quorum_failure("read");
            return Err(CoordError::Quorum {
                op: "read".into(),
                got: fanout.ok.len(),
                needed,
                asked: pref.len(),
            });
        }
        let mut merged = VersionSet::new();
        for set in fanout.ok.iter().filter_map(|(_, s)| s.as_ref()) {
            merged.merge(set);
        }
        Ok(Replies { merged, fanout })
    }

    /// After the answer: waits for the slower replicas, then pushes the merge of everything to
    /// each replica whose copy differs from it (a replica that answered late included).
    fn spawn_read_repair(&self, key: String, replies: Replies) {
        let this = self.clone();
        self.bg.tail(async move {
            let Replies {
                mut merged,
                mut fanout,
            } = replies;
            let mut got = std::mem::take(&mut fanout.ok);
            let mut pending = fanout.into_pending();
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
                if let Err(e) = this.replicas.merge(&m, &key, &merged, &encoded).await {
                    tracing::debug!(peer = %m.id, "read repair failed: {e}");
                }
            }
        });
    }
}
