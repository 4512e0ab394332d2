//! The coordinator: turns one client request into replica operations and a quorum decision.
//! Any node coordinates any request; there is no leader.
//!
//! **Placement.** The key's preference list is the first `n` distinct members clockwise from
//! its token on the ring ([`crate::cluster::View::preference_list`]). When the cluster has
//! fewer than `n` members the list is shorter, and R and W are capped at its length (a single
//! node with the default `n=3, r=w=2` still serves).
//!
//! **Reads** (`read.rs`). Ask all replicas of the list in parallel; answer once R have replied
//! (an "I have nothing" reply counts), merging their version sets: 200 with one live value, 300
//! with the siblings, 404 with none. The merged context is the `X-Context`. Read repair runs in
//! a spawned task after the answer: it waits (bounded by the RPC timeout) for the slower
//! replicas, merges everything, and pushes the merged set to every replica whose copy differed
//! or was missing.
//!
//! **Writes** (`write.rs`). A new version is minted by exactly one replica of the key: this node
//! if it is in the list, else the write is forwarded whole to the first reachable replica
//! (`/internal/coordinate`). That replica runs `VersionSet::update(ctx, value, expiry, its id,
//! now)` atomically on its stored set, then sends the resulting set to the other N-1 replicas,
//! which merge it. The answer comes after W acknowledgements, the coordinator's own included,
//! or a 503 naming got/needed once `request_timeout` passes; sends still in flight keep going
//! in the background so every reachable replica ends up with the write.
//!
//! **Context-less writes.** Every DELETE, every append, any write with `If-Match: *` /
//! `If-None-Match: *`, and a PUT without a context that sets `r` first do a quorum read of
//! `min(R, W)` replies (or the request's explicit `r`), so a `w=1` write succeeds with only
//! its coordinator up, while the defaults (R + W > N) keep the promise below. Unlike a GET,
//! this read asks only that many replicas, the coordinator's own copy first, and asks a spare
//! when one fails or is slow: any R replicas overlap any W, so asking all N would only cost.
//! Its merged context is used when the client sent none, so sequential context-less writes
//! supersede each other and leave one value, while writes that race on the same stale context
//! become siblings. 201 vs 200, the preconditions, 404 for DELETE and the append result are
//! all decided on that read. A PUT with a context skips the read; 201 vs 200 then comes from
//! the coordinating replica's own copy.
//!
//! **Context-less PUT in one round.** A plain PUT without a context (no precondition, no `r`)
//! folds that read into the write: the coordinator mints the new version superseding its own
//! copy (under the key's lock), sends the result to the other replicas, and each replica's
//! merge ack says whether its copy before the merge was live and whether every version it held
//! was covered by the incoming clock (if not, the ack carries the replica's merged set). The
//! W acks the write waits for (the coordinator's own included) thus report on W >= min(R, W)
//! replicas, each read at the moment our write reached it: at least as many replicas as the
//! context read would have asked, so any earlier acknowledged write is seen whenever that read
//! would have seen it (with `w=1` both look at the own copy alone). So:
//! - all counted acks covered: the version we sent superseded everything those replicas held,
//!   as it would have after a read; 201 vs 200 comes from "any prior copy was live";
//! - some counted ack reports unseen versions: a second version is minted, superseding our
//!   first one and everything the acks reported, and sent to all replicas (W acks again). This
//!   is the read-then-write outcome with the read taken at merge time; sequential writes still
//!   leave one value.
//!
//! Versions that reach a replica only after it acked, or that sit on replicas outside our acks,
//! are concurrent with this write and stay as siblings, as they would with a read first. The
//! common case costs N-1 internal calls instead of min(R, W)-1 reads plus N-1 merges.
//!
//! **Append.** On the quorum-read value: string + string concatenates, array + anything
//! pushes, an absent key is created with the value, and `""` only restarts the TTL (the one it
//! was written with, or the new `ttl`). A key with siblings answers 409: resolve it with a PUT
//! carrying the 300's context first (appending to one sibling would silently pick a winner).
//! Other type pairs answer 422.
//!
//! **List** (`list.rs`). Every member pages its local keys after the cursor (limit+1 each); the
//! pages are merged in key order, sets of one key merged across nodes, non-live keys skipped.
//! Keys are only emitted up to the smallest "last key" among members whose page was full, so no
//! key is skipped between pages; memory per page is bounded by members x (limit+1) sets.

mod list;
mod read;
mod write;

use std::sync::Arc;
use std::time::Duration;

use ringkv_versions::VersionSet;
use serde::{Deserialize, Serialize};

use crate::cluster::{Cluster, Member};
use crate::metrics::Metrics;
use crate::replica::Replica;
use crate::rpc::RpcClient;
use crate::rpc::wire::MergeAck;

pub use list::Page;
pub use write::{Condition, ForwardedOutcome, WriteKind, WriteOutcome, WriteRequest};

/// Why the coordinator could not do what was asked. Serialisable: a forwarded write brings its
/// error back across the wire.
#[derive(Debug, Clone, thiserror::Error, Serialize, Deserialize, PartialEq, Eq)]
pub enum CoordError {
    #[error("{op} quorum not reached: {got} of {asked} replicas answered in time, {needed} needed")]
    Quorum {
        op: String,
        got: usize,
        needed: usize,
        asked: usize,
    },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Precondition(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

/// The coordinator. Cheap to clone (every field is shared); background tasks own a clone.
#[derive(Clone)]
pub struct Coordinator {
    cluster: Arc<Cluster>,
    replica: Replica,
    rpc: RpcClient,
    metrics: Arc<Metrics>,
    request_timeout: Duration,
    max_value_bytes: usize,
}

impl Coordinator {
    pub fn new(
        cluster: Arc<Cluster>,
        replica: Replica,
        rpc: RpcClient,
        metrics: Arc<Metrics>,
        request_timeout: Duration,
        max_value_bytes: usize,
    ) -> Coordinator {
        Coordinator {
            cluster,
            replica,
            rpc,
            metrics,
            request_timeout,
            max_value_bytes,
        }
    }

    fn is_self(&self, m: &Member) -> bool {
        m.id == self.cluster.self_id
    }

    /// One replica's set of `key`: the local store for this node, an RPC otherwise.
    async fn read_from(&self, m: &Member, key: &str) -> Result<Option<VersionSet>, String> {
        if self.is_self(m) {
            self.replica.read(key).await.map_err(|e| e.to_string())
        } else {
            self.rpc.read(&m.url, key).await.map_err(|e| e.to_string())
        }
    }

    /// Merges `set` (with its encoding) into one replica's copy of `key`; the ack says what
    /// that copy held before.
    async fn merge_into(
        &self,
        m: &Member,
        key: &str,
        set: &VersionSet,
        encoded: &[u8],
    ) -> Result<MergeAck, String> {
        if self.is_self(m) {
            let limits = self.cluster.settings().settings.versioning.limits();
            self.replica
                .merge(key, set.clone(), limits)
                .await
                .map(|merged| MergeAck {
                    prior_live: merged.prior_live,
                    covered: merged.covered,
                    set: (!merged.covered).then_some(merged.set),
                })
                .map_err(|e| e.to_string())
        } else {
            self.rpc
                .merge(&m.url, key, encoded)
                .await
                .map_err(|e| e.to_string())
        }
    }
}

/// The quorum actually required: the requested one capped by the replicas that exist.
fn effective_quorum(requested: usize, replicas: usize) -> usize {
    requested.min(replicas).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorum_is_capped_by_replicas() {
        assert_eq!(effective_quorum(2, 3), 2);
        assert_eq!(effective_quorum(2, 1), 1);
        assert_eq!(effective_quorum(3, 3), 3);
    }

    #[test]
    fn quorum_error_names_got_and_needed() {
        let e = CoordError::Quorum {
            op: "write".into(),
            got: 1,
            needed: 2,
            asked: 3,
        };
        assert_eq!(
            e.to_string(),
            "write quorum not reached: 1 of 3 replicas answered in time, 2 needed"
        );
    }
}
