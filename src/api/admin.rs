//! Cluster and operations endpoints: `/healthcheck`, `/peers`, `/peers/healthcheck`,
//! `/config`, `/metrics`.
//!
//! Membership changes and settings changes are applied here, persisted (on a blocking thread:
//! they fsync), then pushed to every other member; members that miss a push catch up when the
//! prober next exchanges views with them (see [`crate::prober`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::future::join_all;
use serde::Serialize;
use utoipa::ToSchema;

use super::ApiError;
use crate::cluster::{Member, MemberInfo, normalize_url};
use crate::config::Config;
use crate::node::Node;
use crate::replica::now_ms;
use crate::rpc::MembershipMsg;

/// `GET /healthcheck`.
#[derive(Serialize, ToSchema)]
pub struct HealthOut {
    /// Always `"ok"` while the node serves.
    status: String,
    node_id: String,
    url: String,
    /// Members in this node's view, itself included.
    members: usize,
}

/// `GET /peers` and `POST /peers`.
#[derive(Serialize, ToSchema)]
pub struct PeersOut {
    /// The other members' URLs.
    peers: Vec<String>,
    /// Every member with what the failure detector believes about it.
    members: Vec<MemberInfo>,
}

/// Liveness of this node.
#[utoipa::path(get, path = "/healthcheck", tag = "cluster",
    responses((status = 200, description = "The node is up and serving", body = HealthOut)))]
pub async fn healthcheck(State(node): State<Arc<Node>>) -> Json<HealthOut> {
    Json(HealthOut {
        status: "ok".into(),
        node_id: node.cluster.self_id.clone(),
        url: node.cluster.self_url.clone(),
        members: node.cluster.view().members.len(),
    })
}

fn peers_out(node: &Node) -> PeersOut {
    PeersOut {
        peers: node.cluster.peers().into_iter().map(|m| m.url).collect(),
        members: node.cluster.member_infos(now_ms()),
    }
}

/// The members of the cluster.
#[utoipa::path(get, path = "/peers", tag = "cluster",
    responses((status = 200, description = "Other members' URLs and every member's status", body = PeersOut)))]
pub async fn get_peers(State(node): State<Arc<Node>>) -> Json<PeersOut> {
    Json(peers_out(&node))
}

/// This node's view as a message for other nodes.
pub fn membership_msg(node: &Node) -> MembershipMsg {
    MembershipMsg::of(&node.cluster)
}

/// Merges another node's view into ours on a blocking thread (it persists).
pub async fn absorb(node: &Arc<Node>, msg: MembershipMsg) -> Result<(), ApiError> {
    let cluster = node.cluster.clone();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let mut members = msg.members;
        members.push(Member {
            id: msg.id,
            url: msg.url,
        });
        cluster.merge_members(&members, &msg.departed)?;
        cluster.offer_settings(&msg.settings)?;
        Ok(())
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map_err(|e| {
        tracing::error!("persisting the membership failed: {e:#}");
        ApiError::internal("could not persist the membership")
    })
}

/// Join the cluster of `peer_url` with this node's cluster.
#[utoipa::path(post, path = "/peers", tag = "cluster", request_body = super::docs::JoinDoc,
    responses(
        (status = 200, description = "Joined; the union of both clusters", body = PeersOut),
        (status = 400, description = "Bad JSON, or this node's own URL", body = super::ErrorBody),
        (status = 401, description = "A cluster secret is configured and X-Cluster-Secret is missing or wrong", body = super::ErrorBody),
        (status = 409, description = "Already a member", body = super::ErrorBody),
        (status = 415, description = "The body is not sent as application/json", body = super::ErrorBody),
        (status = 422, description = "Missing or malformed `peer_url`, or no ringkv node that accepts us answers there", body = super::ErrorBody),
        (status = 502, description = "The peer answered with a server error", body = super::ErrorBody),
    ))]
pub async fn join(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<PeersOut>, ApiError> {
    super::extract::require_json(&headers)?;
    let body: serde_json::Value = serde_json::from_slice(&body?)
        .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))?;
    let raw = body
        .get("peer_url")
        .and_then(|u| u.as_str())
        .ok_or_else(|| {
            ApiError::unprocessable("the body must be {\"peer_url\": \"http://host:port\"}")
        })?;
    super::docs::check_peer_url(raw)?;
    let url = normalize_url(raw).map_err(ApiError::unprocessable)?;
    let already = |id: &str, url: &str| {
        node.cluster
            .view()
            .members
            .iter()
            .any(|(i, u)| i == id || u == url)
    };
    if url == node.cluster.self_url {
        return Err(ApiError::bad_request(format!(
            "{url} is this node's own URL"
        )));
    }
    if already("", &url) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("{url} is already a member"),
        ));
    }
    let theirs = node
        .rpc
        .membership(&url)
        .await
        .map_err(|e| unjoinable(&url, &e))?;
    if theirs.id == node.cluster.self_id {
        return Err(ApiError::bad_request(format!("{url} is this node")));
    }
    if already(&theirs.id, &theirs.url) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("{url} is already a member (as {})", theirs.id),
        ));
    }
    absorb(&node, theirs).await?;
    broadcast_membership(&node).await;
    Ok(Json(peers_out(&node)))
}

/// Why `url` cannot be joined. A peer that is not there (unreachable, silent, not ringkv, or
/// refusing us: another cluster secret) makes the request unprocessable as given: 422, so
/// bad input never looks like a server fault. Only a peer that answers with a server error
/// is a gateway problem: 502.
fn unjoinable(url: &str, e: &crate::rpc::RpcError) -> ApiError {
    use crate::rpc::RpcError;
    let status = match e {
        RpcError::Status { status, .. } if *status >= 500 => StatusCode::BAD_GATEWAY,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    ApiError::new(
        status,
        format!("cannot join {url}: no ringkv node that accepts this one answered there ({e})"),
    )
}

/// Pushes our view to every other member (best effort; the prober repairs misses).
pub async fn broadcast_membership(node: &Arc<Node>) {
    let msg = membership_msg(node);
    let peers = node.cluster.peers();
    let pushes = peers.iter().map(|p| node.rpc.push_membership(&p.url, &msg));
    for (peer, result) in peers.iter().zip(join_all(pushes).await) {
        if let Err(e) = result {
            tracing::warn!(peer = %peer.id, "membership push failed: {e}");
        }
    }
}

/// How long a forwarded leave may take (the leaving member hands off all of its data).
const LEAVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// Make member `id` leave the cluster, after handing its data to the new owners.
#[utoipa::path(delete, path = "/peers/{id}", tag = "cluster",
    params(("id" = String, Path, description = "The member's node id (see GET /peers)")),
    responses(
        (status = 200, description = "The member handed off its data and left", body = PeersOut),
        (status = 409, description = "The last member cannot leave", body = super::ErrorBody),
        (status = 401, description = "A cluster secret is configured and X-Cluster-Secret is missing or wrong", body = super::ErrorBody),
        (status = 404, description = "No such member", body = super::ErrorBody),
        (status = 503, description = "The member or a new owner was unreachable; nothing changed", body = super::ErrorBody),
    ))]
pub async fn leave(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
) -> Result<Json<PeersOut>, ApiError> {
    let view = node.cluster.view();
    let Some(url) = view.members.get(&id).cloned() else {
        return Err(ApiError::not_found(format!(
            "`{id}` is not a member of this cluster"
        )));
    };
    if view.members.len() == 1 {
        // A valid request the cluster's state forbids: 409, like other state conflicts.
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "the last member of a cluster cannot leave it",
        ));
    }
    if id != node.cluster.self_id {
        node.rpc
            .leave(&url, &id, LEAVE_TIMEOUT)
            .await
            .map_err(|e| {
                ApiError::unavailable(format!(
                    "member `{id}` must hand off its data before it leaves: {e}"
                ))
            })?;
        depart(&node, id).await?;
        return Ok(Json(peers_out(&node)));
    }
    let moved = crate::leave::hand_off(&node)
        .await
        .map_err(|e| ApiError::unavailable(format!("{e}; this node is still a member")))?;
    tracing::info!("handed off {moved} keys; leaving the cluster");
    depart(&node, id).await?;
    broadcast_membership(&node).await;
    Ok(Json(peers_out(&node)))
}

async fn depart(node: &Arc<Node>, id: String) -> Result<(), ApiError> {
    let cluster = node.cluster.clone();
    tokio::task::spawn_blocking(move || cluster.depart(&id))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| {
            tracing::error!("persisting a departure failed: {e:#}");
            ApiError::internal("could not persist the membership")
        })
}

/// Probe every other member now.
#[utoipa::path(get, path = "/peers/healthcheck", tag = "cluster",
    responses((status = 200, description = "Each peer URL mapped to \"success\" or \"failure\"",
        body = BTreeMap<String, String>)))]
pub async fn peers_healthcheck(State(node): State<Arc<Node>>) -> Json<BTreeMap<String, String>> {
    let peers = node.cluster.peers();
    let probes = peers.iter().map(|p| node.rpc.health(&p.url));
    let results = join_all(probes).await;
    let now = now_ms();
    let mut out = BTreeMap::new();
    for (peer, result) in peers.into_iter().zip(results) {
        node.cluster.record_probe(&peer.id, result.is_ok(), now);
        let verdict = if result.is_ok() { "success" } else { "failure" };
        out.insert(peer.url, verdict.to_string());
    }
    Json(out)
}

/// The whole effective configuration.
#[utoipa::path(get, path = "/config", tag = "cluster",
    responses((status = 200, description = "The effective config", body = Config)))]
pub async fn get_config(State(node): State<Arc<Node>>) -> Json<Config> {
    Json(node.effective_config())
}

/// Change hot settings; validated as a whole and propagated to every live member.
#[utoipa::path(put, path = "/config", tag = "cluster", request_body = super::docs::ConfigPatchDoc,
    responses(
        (status = 200, description = "The new effective config", body = Config),
        (status = 400, description = "The body is not JSON", body = super::ErrorBody),
        (status = 401, description = "A cluster secret is configured and X-Cluster-Secret is missing or wrong", body = super::ErrorBody),
        (status = 415, description = "The body is not sent as application/json", body = super::ErrorBody),
        (status = 422, description = "Invalid as a whole, or unknown keys; nothing changed", body = super::ErrorBody),
    ))]
pub async fn put_config(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Config>, ApiError> {
    super::extract::require_json(&headers)?;
    let patch: serde_json::Value = serde_json::from_slice(&body?)
        .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))?;
    let next = node
        .cluster
        .settings()
        .settings
        .patched(&patch)
        .map_err(ApiError::unprocessable)?;
    let cluster = node.cluster.clone();
    let versioned = tokio::task::spawn_blocking(move || cluster.change_settings(next))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| {
            tracing::error!("persisting settings failed: {e:#}");
            ApiError::internal("could not persist the settings")
        })?;
    let peers = node.cluster.peers();
    let pushes = peers
        .iter()
        .map(|p| node.rpc.push_settings(&p.url, &versioned));
    for (peer, result) in peers.iter().zip(join_all(pushes).await) {
        if let Err(e) = result {
            tracing::warn!(peer = %peer.id, "settings push failed (the prober retries): {e}");
        }
    }
    Ok(Json(node.effective_config()))
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "cluster",
    responses((status = 200, description = "Prometheus text exposition format", body = String, content_type = "text/plain")))]
pub async fn metrics(State(node): State<Arc<Node>>) -> Response {
    let stats = node.replica.stats();
    let text = node
        .metrics
        .render(&stats, node.cluster.view().members.len());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}
