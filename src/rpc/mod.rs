//! Node-to-node traffic: the client ([`client::RpcClient`]) and the message types and binary
//! frames it shares with the `/internal/...` routes that answer it (`api/internal.rs`). Nothing
//! here knows the HTTP server.
//!
//! The hot paths (replica reads, merges, scans, data movement) carry version sets as compact
//! binary frames (see [`wire`]); gossip carries the gossip crate's own encoding; the rare
//! control messages (forwarded writes, joins) are JSON. Every call has a timeout; connections
//! are pooled and kept alive. The hot calls (reads, merges, hints) go over one multiplexed
//! stream per peer ([`stream`]) carrying the same routes and bodies as frames; everything else,
//! and every call to a peer without streams, is one HTTP request.
//!
//! | route | body | answer |
//! |---|---|---|
//! | `POST /internal/gossip` | one gossip message | 200 [`wire`] frames: the replies |
//! | `POST /internal/read` | the key (raw UTF-8) | 200 set bytes, 404 none, 503 not ready |
//! | `POST /internal/merge` | one [`wire`] entry | 200 [`wire::MergeAck`] |
//! | `POST /internal/merge-batch` | [`wire`] entries | 204 |
//! | `POST /internal/scan` | JSON [`ScanRequest`] | 200 [`wire`] entries |
//! | `POST /internal/move` | JSON [`MoveRequest`] | 200 [`wire::MovePage`] |
//! | `POST /internal/coordinate` | JSON [`crate::coordinator::WriteRequest`] | JSON outcome or error |
//! | `GET /internal/identity` | - | JSON [`Identity`] |
//! | `POST /internal/ae/tree` | JSON `anti_entropy::exchange::TreeRequest` | 200 digests (u64 BE each), 409 other ring |
//! | `POST /internal/ae/keys` | JSON `anti_entropy::exchange::KeysRequest` | 200 `(key, digest)` listing, 409 other ring |
//! | `POST /internal/adopt` | JSON [`AdoptRequest`] | JSON [`Identity`] (after it started joining) |
//! | `POST /internal/reads` | [`wire`] reads | 200 [`wire`] frames: one answer per read |
//! | `POST /internal/merges` | [`wire`] entries | 200 [`wire`] frames: one [`wire::MergeAck`] each |
//! | `POST /internal/hint` | [`wire`] hint | 204, 507 refused by a cap, 503 handoff disabled |
//! | `GET /internal/stream` | upgrade to `ringkv-rpc/1` | 101, then [`stream`] frames |

pub mod batch;
pub mod client;
pub mod stream;
pub mod wire;

use serde::{Deserialize, Serialize};

use crate::cluster::{Member, Phase};

pub use client::{RpcClient, RpcError};

/// The header carrying the cluster secret on node-to-node calls and admin writes.
pub const SECRET_HEADER: &str = "x-cluster-secret";

/// One page request of a replica's local keys.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScanRequest {
    pub prefix: String,
    /// Exclusive lower bound (the last key of the previous page).
    pub after: Option<String>,
    pub limit: usize,
}

/// Who a node is, as `POST /peers` learns it before joining it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Identity {
    pub id: String,
    pub url: String,
    pub phase: Phase,
    /// The other members it knows that have not left.
    pub members: Vec<Member>,
}

/// Asks a node to join the cluster reachable through `seeds`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdoptRequest {
    pub seeds: Vec<String>,
    /// Also ask the other members of the node's current cluster to join (merging clusters).
    pub bring_members: bool,
}

/// One page request of the keys a source must send a target when key ownership moves from
/// the ring of `old` members to the ring of `new` members (see `rebalance.rs`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MoveRequest {
    pub old: Vec<String>,
    pub new: Vec<String>,
    pub n: usize,
    pub tokens_per_member: usize,
    pub target: String,
    /// Members believed dead: a key whose preferred sender is dead comes from another owner.
    pub dead: Vec<String>,
    /// Exclusive lower bound (the cursor of the previous page).
    pub after: Option<String>,
    /// Most keys in one page.
    pub limit: usize,
}
