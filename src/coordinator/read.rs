//! Quorum reads and read repair (see the module docs of [`crate::coordinator`]).

use futures::stream::StreamExt;
use ringkv_versions::VersionSet;
use tokio::time::Instant;

use super::quorum::Fanout;
use super::{CoordError, Coordinator, effective_quorum};
use crate::cluster::Member;

/// The replies a quorum read gathered, and the reads still in flight.
pub(super) struct Replies {
    /// Merge of the replies received so far.
    pub merged: VersionSet,
    fanout: Fanout<Member, Option<VersionSet>>,
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
        let replies = self.quorum_read(key, needed, &pref, deadline).await?;
        let merged = replies.merged.clone();
        self.spawn_read_repair(key.to_string(), replies);
        Ok(merged)
    }

    /// Asks `needed` replicas of `pref` (this node first) and returns once they answered; a
    /// spare is asked when one fails, every spare once the answers are slower than a quarter
    /// of the RPC timeout (a hung replica is not waited for). The replicas not asked are probed
    /// for digests by read repair, after the answer.
    pub(super) async fn quorum_read(
        &self,
        key: &str,
        needed: usize,
        pref: &[Member],
        deadline: Instant,
    ) -> Result<Replies, CoordError> {
        let mut order: Vec<Member> = pref.to_vec();
        order.sort_by_key(|m| !self.is_self(m));
        let first = needed;
        let (replicas, k) = (self.replicas.clone(), key.to_string());
        let mut fanout = Fanout::start_inline(order, first, move |m: Member| {
            let (replicas, key) = (replicas.clone(), k.clone());
            async move { replicas.read(&m, &key).await }
        });
        let hedge = Some(Instant::now() + self.hedge_after());
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

    /// The context read of a write: asks `want` replicas (this node first, spares on failure
    /// or slowness) and waits for all of them up to one RPC timeout, but settles for `need`
    /// replies when the others fail or are late.
    pub(super) async fn context_read(
        &self,
        key: &str,
        want: usize,
        need: usize,
        pref: &[Member],
        deadline: Instant,
    ) -> Result<Replies, CoordError> {
        let mut order: Vec<Member> = pref.to_vec();
        order.sort_by_key(|m| !self.is_self(m));
        let (replicas, k) = (self.replicas.clone(), key.to_string());
        let mut fanout = Fanout::start_inline(order, want, move |m: Member| {
            let (replicas, key) = (replicas.clone(), k.clone());
            async move { replicas.read(&m, &key).await }
        });
        let hedge = Some(Instant::now() + self.hedge_after());
        let patience = deadline.min(Instant::now() + self.rpc.timeout());
        if !fanout.until(patience, hedge, |ok| ok.len() >= want).await {
            // Not all wanted replies in time: enough of them will do, until the deadline.
            fanout.until(deadline, None, |ok| ok.len() >= need).await;
        }
        if fanout.ok.len() < need {
            self.metrics.quorum_failure("write");
            return Err(CoordError::Quorum {
                op: "write (context read)".into(),
                got: fanout.ok.len(),
                needed: need,
                asked: pref.len(),
            });
        }
        let mut merged = VersionSet::new();
        for set in fanout.ok.iter().filter_map(|(_, s)| s.as_ref()) {
            merged.merge(set);
        }
        Ok(Replies { merged, fanout })
    }

    /// After the answer: waits for the replicas still answering, probes the ones not asked
    /// for a digest, then pushes the merge of everything to each replica whose copy differs
    /// from it (a replica that answered late included).
    fn spawn_read_repair(&self, key: String, replies: Replies) {
        if replies.fanout.is_settled() && replies.fanout.ok.len() <= 1 {
            return; // one copy, nobody else to ask or hear from: nothing to compare
        }
        let this = self.clone();
        self.bg.tail(async move {
            let Replies {
                mut merged,
                mut fanout,
            } = replies;
            let mut got = std::mem::take(&mut fanout.ok);
            let (mut pending, unasked) = fanout.into_parts();
            while let Some(reply) = pending.next().await {
                if let (m, Ok(set)) = reply {
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
            let encoded = std::sync::Arc::new(merged.encode());
            let want = crate::rpc::wire::digest(&encoded);
            let mut stale: Vec<Member> = got
                .into_iter()
                .filter(|(_, copy)| copy.as_ref().is_none_or(|c| c.encode() != *encoded))
                .map(|(m, _)| m)
                .collect();
            let probes = unasked.into_iter().map(|m| {
                let replicas = this.replicas.clone();
                let key = key.clone();
                async move {
                    let digest = replicas.digest(&m, &key).await;
                    (m, digest)
                }
            });
            for (m, digest) in futures::future::join_all(probes).await {
                if matches!(digest, Ok(d) if d != Some(want)) {
                    stale.push(m);
                }
            }
            for m in stale {
                this.metrics.read_repair();
                if let Err(e) = this.replicas.merge(&m, &key, &encoded).await {
                    tracing::debug!(peer = %m.id, "read repair failed: {e}");
                }
            }
        });
    }
}
