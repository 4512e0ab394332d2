//! The coordinator: turns one client request into replica operations and a quorum decision.
//! Any node coordinates any request; there is no leader.
//!
//! **Placement.** The key's preference list is the first `n` distinct members clockwise from
//! its token on the read ring ([`crate::cluster::View::placement`]). When the cluster has
//! fewer than `n` members the list is shorter, and R and W are capped at its length (a single
//! node with the default `n=3, r=w=2` still serves). While a member joins or leaves, a write
//! also goes to the key's lists in the other rings and needs W acks in each (see
//! `cluster.rs`). Members the failure detector marks dead fail at once (`replicas.rs`); every
//! fan-out goes through `quorum.rs`.
//!
//! **Reads** (`read.rs`). When this node is one of the key's replicas, a read first takes its
//! own copy and asks every other replica for the digest of its copy, all at once; once R-1
//! digests equal its own, R replicas hold that very set and it is the answer (200 with one
//! live value, 300 with the siblings, 404 with none; the set's context is the `X-Context`).
//! The digests still out are awaited in a spawned task, and a replica whose copy differs gets
//! this one merged in. Otherwise (this node is not a replica, a digest differs, or too few
//! answer within the hedge time) the read asks R replicas for their full sets (this node
//! first, spares when one fails or is slow) and answers once R have replied (an "I have
//! nothing" reply counts), merging them. Read repair then runs in a spawned task: it waits
//! (bounded by the RPC timeout) for the slower replicas, probes the ones not asked for a
//! digest, merges everything, and pushes the merged set to every replica whose copy differed
//! or was missing.
//!
//! **Writes** (`write.rs`). A new version is minted by exactly one replica of the key: this node
//! if it is in the read list, else the write is forwarded whole to the first reachable replica
//! (`/internal/coordinate`), which forwards it again if its own view disagrees (a bounded
//! number of hops); a forward is retried on another replica only when it never reached the
//! first (a connection refused), so a write is never applied twice by two coordinators. That replica runs `VersionSet::update(ctx, value, expiry, its id,
//! now)` atomically on its stored set and sends the resulting set to the other N-1 replicas,
//! which merge it, while its own commit is still in flight (one fsync's wait, not two in a row:
//! the set is fixed once minted, and the key stays locked here until it is durable; every dot
//! takes the node's next counter, so a crash that takes back the local copy of a shipped dot
//! never leads to it being minted again, see `replica.rs`). The answer comes after W
//! acknowledgements, the coordinator's own (once durable) included,
//! or a 503 naming got/needed once `request_timeout` passes; sends still in flight keep going
//! in the background so every reachable replica ends up with the write.
//!
//! **Context-less writes.** Every DELETE, every append, any write with `If-Match: *` /
//! `If-None-Match: *`, a PUT without a context that sets `r`, and a plain context-less PUT
//! whose W cannot stand in for the read (below) first do a context read: it asks R replicas
//! (the coordinator's own copy first, a spare when one fails or is slow) and waits up to one
//! RPC timeout for all R, but settles for `min(R, W)` replies when replicas fail, so a `w=1`
//! write still succeeds with only its coordinator up. An explicit `r` is strict. Its merged
//! context is used when the client sent none, so sequential context-less writes supersede each
//! other and leave one value, while writes that race on the same stale context become
//! siblings. 201 vs 200, the preconditions, 404 for DELETE and the append result are all
//! decided on that read. A PUT with a context skips the read; 201 vs 200 then comes from the
//! coordinating replica's own copy, or, when that copy has not seen all the context covers
//! (it missed the write the client read), from the copies of the replicas that acked.
//!
//! **The one-value promise** (API.md: sequential context-less writes through any mix of nodes,
//! with no failures, leave exactly the last one) holds for every setting with R + W > N: the
//! previous write is on W replicas, which the next write's read of R replicas overlaps, or, in
//! one round, the next write's W acks overlap when W + W > N. `tests/write_path.rs` checks
//! every such setting for N=3 and N=5. With R + W <= N it is not promised (siblings are kept,
//! never lost).
//!
//! **Context-less PUT in one round.** A plain PUT without a context (no precondition, no `r`)
//! folds that read into the write when W + W > N: the coordinator mints the new version
//! superseding its own copy (under the key's lock), sends the result to the other replicas,
//! and each replica's merge ack says whether its copy before the merge was live and whether
//! every version it held was covered by the incoming clock (if not, the ack carries the
//! replica's merged set). Any W replicas overlap the W that acknowledged the previous write,
//! each read at the moment our write reached it, so any earlier acknowledged write is seen. So:
//! - all counted acks covered: the version we sent superseded everything those replicas held,
//!   as it would have after a read; the key existed before if our own copy was live or an ack
//!   reports a live version we had not seen (a covered replica's stale value, superseded by a
//!   tombstone we hold, does not count: a read would not have shown it);
//! - some counted ack reports unseen versions: a second version is minted, superseding our
//!   first one and everything the acks reported, and sent to all replicas (W acks again). This
//!   is the read-then-write outcome with the read taken at merge time; sequential writes still
//!   leave one value.
//!
//! Versions that reach a replica only after it acked, or that sit on replicas outside our acks,
//! are concurrent with this write and stay as siblings, as they would with a read first. The
//! common case costs N-1 internal calls instead of R-1 reads plus N-1 merges.
//!
//! **Append.** On the quorum-read value: string + string concatenates, array + anything
//! pushes, an absent key is created with the value, and `""` only restarts the TTL (the one it
//! was written with, or the new `ttl`). A key with siblings answers 409: resolve it with a PUT
//! carrying the 300's context first (appending to one sibling would silently pick a winner).
//! Other type pairs answer 422.
//!
//! **Idempotent retries** (`idempotency.rs`). A write with an `Idempotency-Key` always does
//! the context read; a receipt of the token in the merged read (or in the minting replica's
//! copy, checked under the key's lock) repeats the first answer instead of writing again. The
//! receipt is written with the version, inside the key's set, so it reaches the replicas with
//! it. **History** needs nothing here: past values ride in the sets the coordinator merges.
//!
//! **List** (`list.rs`). Every member pages its local keys after the cursor (limit+1 each); the
//! pages are merged in key order, sets of one key merged across nodes, non-live keys skipped.
//! Keys are only emitted up to the smallest "last key" among members whose page was full, so no
//! key is skipped between pages; memory per page is bounded by members x (limit+1) sets.

mod idempotency;
mod list;
mod quorum;
mod read;
mod replicas;
mod replicate;
mod write;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::background::Background;
use crate::cluster::{Cluster, Member, Phase, View};
use crate::metrics::Metrics;
use crate::replica::Replica;
use crate::rpc::RpcClient;

pub use idempotency::FAULT_EXIT_AFTER_FANOUT;
pub use list::Page;
pub use replicas::Replicas;
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
    replicas: Replicas,
    rpc: RpcClient,
    metrics: Arc<Metrics>,
    bg: Arc<Background>,
    request_timeout: Duration,
    max_value_bytes: usize,
}

/// What the coordinator is built from.
pub struct Parts {
    pub cluster: Arc<Cluster>,
    pub replica: Replica,
    pub rpc: RpcClient,
    pub metrics: Arc<Metrics>,
    pub bg: Arc<Background>,
    pub request_timeout: Duration,
    pub max_value_bytes: usize,
}

impl Coordinator {
    pub fn new(parts: Parts) -> Coordinator {
        let replicas = Replicas::new(
            parts.cluster.clone(),
            parts.replica.clone(),
            parts.rpc.clone(),
            parts.bg.clone(),
        );
        Coordinator {
            cluster: parts.cluster,
            replica: parts.replica,
            replicas,
            rpc: parts.rpc,
            metrics: parts.metrics,
            bg: parts.bg,
            request_timeout: parts.request_timeout,
            max_value_bytes: parts.max_value_bytes,
        }
    }

    fn is_self(&self, m: &Member) -> bool {
        m.id == self.cluster.self_id
    }

    /// How long a replica may take before the coordinator asks another (a spare for a read,
    /// a fallback for a write, the next replica for a forward): an eighth of the shorter of the
    /// RPC and request timeouts, so a hung replica costs a fraction of the deadline.
    fn hedge_after(&self) -> Duration {
        self.rpc.timeout().min(self.request_timeout) / 8
    }

    /// The view to serve a request with, unless this node has left the cluster.
    fn serving_view(&self) -> Result<Arc<View>, CoordError> {
        let view = self.cluster.view();
        match view.phase_of(&self.cluster.self_id) {
            Some(Phase::Left) | None => Err(CoordError::Unavailable(
                "this node has left the cluster; send requests to one of its members".into(),
            )),
            _ => Ok(view),
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
