//! Node-to-node traffic: the client ([`client::RpcClient`]), the `/internal/...` routes that
//! answer it ([`routes`]), and the message types and binary frames they share.
//!
//! The hot paths (replica reads, merges, scans) carry version sets as compact binary frames
//! (see [`wire`]); the rare control messages (membership, settings, forwarded writes) are JSON.
//! Every call has a timeout; connections are pooled and kept alive.
//!
//! | route | body | answer |
//! |---|---|---|
//! | `POST /internal/read` | the key (raw UTF-8) | 200 set bytes, 404 none |
//! | `POST /internal/merge` | one [`wire`] entry | 204 |
//! | `POST /internal/scan` | JSON [`ScanRequest`] | 200 [`wire`] entries |
//! | `POST /internal/coordinate` | JSON [`crate::coordinator::WriteRequest`] | JSON outcome or error |
//! | `GET /internal/membership` | - | JSON [`MembershipMsg`] |
//! | `POST /internal/membership` | JSON [`MembershipMsg`] | JSON [`MembershipMsg`] (ours after the merge) |
//! | `POST /internal/settings` | JSON settings | 204 |

pub mod client;
pub mod routes;
pub mod wire;

use serde::{Deserialize, Serialize};

use crate::cluster::Member;
use crate::settings::VersionedSettings;

pub use client::{RpcClient, RpcError};

/// One page request of a replica's local keys.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScanRequest {
    pub prefix: String,
    /// Exclusive lower bound (the last key of the previous page).
    pub after: Option<String>,
    pub limit: usize,
}

/// What a node says about the cluster: who it is, whom it knows, and its settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MembershipMsg {
    pub id: String,
    pub url: String,
    pub members: Vec<Member>,
    /// Ids that left the cluster.
    #[serde(default)]
    pub departed: Vec<String>,
    pub settings: VersionedSettings,
}

impl MembershipMsg {
    /// What `cluster` says about itself now.
    pub fn of(cluster: &crate::cluster::Cluster) -> MembershipMsg {
        MembershipMsg {
            id: cluster.self_id.clone(),
            url: cluster.self_url.clone(),
            members: cluster.view().all(),
            departed: cluster.view().departed.iter().cloned().collect(),
            settings: cluster.settings().as_ref().clone(),
        }
    }
}
