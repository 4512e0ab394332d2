//! Quorum reads and read repair (see the module docs of [`crate::coordinator`]).

use futures::stream::StreamExt;
use ringkv_versions::VersionSet;
use tokio::time::Instant;

use super::quorum::Fanout;
use super::{CoordError, Coordinator, effective_quorum};
use crate::cluster::Member;
use crate::rpc::wire::digest;

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
        if let Some(set) = self.agreeing_read(key, needed, &pref, deadline).await {
            return Ok(set);
        }
        let replies = self.quorum_read(key, needed, &pref, deadline).await?;
        let merged = replies.merged.clone();
        self.spawn_read_repair(key.to_string(), replies);
        Ok(merged)
    }

    /// A read's common case in one round of small answers (Cassandra's digest reads): this
    /// node's own copy, when it holds a replica, and the digest of every other replica's copy,
    /// all asked at once. Once R-1 of them answered the digest of this node's copy, R replicas
    /// hold that very set, so it is their merge and the answer. The digests still out are
    /// awaited in the background, and a replica whose copy differs gets this one merged in
    /// (read repair). `None`, and the caller reads full sets: this node is not a replica, a
    /// digest differs, or fewer than R-1 answered within the hedge time.
    async fn agreeing_read(
        &self,
        key: &str,
        needed: usize,
        pref: &[Member],
        deadline: Instant,
    ) -> Option<VersionSet> {
        if !pref.iter().any(|m| self.is_self(m)) {
            return None;
        }
        let raw = self.replica.read_raw_now(&[key]).ok()?.pop().flatten();
        let own = raw.as_deref().map(digest);
        let set = match raw.as_deref() {
            Some(bytes) => VersionSet::decode(bytes).ok()?,
            None => VersionSet::new(),
        };
        let others: Vec<Member> = pref.iter().filter(|m| !self.is_self(m)).cloned().collect();
        if others.is_empty() {
            return Some(set); // the only replica
        }
        let all = others.len();
        let (replicas, k) = (self.replicas.clone(), key.to_string());
        let mut fanout = Fanout::start_inline(others, all, move |m: Member| {
            let (replicas, key) = (replicas.clone(), k.clone());
            async move { replicas.digest(&m, &key).await }
        });
        let want = needed - 1;
        let patience = deadline.min(Instant::now() + self.hedge_after());
        if want > 0 && !fanout.until(patience, None, |ok| ok.len() >= want).await {
            return None;
        }
        if fanout.ok.iter().any(|(_, d)| *d != own) {
            return None;
        }
        if !fanout.is_settled() {
            self.spawn_probe_repair(key.to_string(), raw, own, fanout);
        }
        Some(set)
    }

    /// Waits for the digests an agreeing read did not wait for, and merges this node's copy
    /// (`raw`, digest `own`) into each replica whose copy differs.
    fn spawn_probe_repair(
        &self,
        key: String,
        raw: Option<Vec<u8>>,
        own: Option<u64>,
        fanout: Fanout<Member, Option<u64>>,
    ) {
        let this = self.clone();
        self.bg.tail(async move {
            let (mut pending, _) = fanout.into_parts();
            let mut stale = Vec::new();
            while let Some((m, reply)) = pending.next().await {
                if matches!(reply, Ok(d) if d != own) {
                    stale.push(m);
                }
            }
            // Nothing here to give (the copy here is absent): anti-entropy brings it.
            let Some(raw) = raw.filter(|_| !stale.is_empty()) else {
                return;
            };
            let encoded = std::sync::Arc::new(raw);
            for m in stale {
                this.metrics.read_repair();
                if let Err(e) = this.replicas.merge(&m, &key, &encoded).await {
                    tracing::debug!(peer = %m.id, "read repair failed: {e}");
                }
            }
        });
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
            let want = digest(&encoded);
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
