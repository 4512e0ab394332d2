//! Cluster and operations endpoints: `/healthcheck`, `/peers`, `/peers/healthcheck`,
//! `/config`, `/metrics`.
//!
//! Membership and settings changes are made here and spread by gossip (see
//! [`crate::membership`]): `POST /peers` asks the named node to join this node's cluster,
//! `DELETE /peers/{id}` starts a member's leave (a background job, see
//! [`crate::rebalance`]) and answers 202 at once, `PUT /config` publishes a new settings
//! version that every live member adopts within a few rounds.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ApiError;
use crate::cluster::{Phase, Status, normalize_url};
use crate::config::Config;
use crate::membership::MemberInfo;
use crate::node::Node;
use crate::rpc::AdoptRequest;

/// `GET /healthcheck`.
#[derive(Serialize, ToSchema)]
pub struct HealthOut {
    /// Always `"ok"` while the node serves.
    status: String,
    node_id: String,
    url: String,
    /// This node's ring phase: `joining`, `joined`, `normal`, `leaving`, `departing`, `left`.
    #[schema(value_type = String)]
    phase: Phase,
    /// Members in this node's view that have not left, itself included.
    members: usize,
}

/// `GET /peers` and `POST /peers`.
#[derive(Serialize, ToSchema)]
pub struct PeersOut {
    /// The other members' URLs (members that have left are not listed).
    peers: Vec<String>,
    /// Every member with its status, last heartbeat, ring share and data movement.
    members: Vec<MemberInfo>,
}

/// `GET /healthcheck` query.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HealthQuery {
    /// Answer 200 only when this node is a full member that serves reads (joined, not
    /// joining, leaving or left), else 503: a readiness probe.
    #[serde(default)]
    #[param(nullable = false)]
    ready: Option<bool>,
}

/// Liveness (and, with `?ready=true`, readiness) of this node.
#[utoipa::path(get, path = "/healthcheck", tag = "cluster", params(HealthQuery),
    responses(
        (status = 200, description = "The node is up and serving", body = HealthOut),
        (status = 400, description = "A malformed `ready`", body = super::ErrorBody),
        (status = 503, description = "With `ready=true`: the node is not a full member yet (or any more)", body = super::ErrorBody),
    ))]
pub async fn healthcheck(
    State(node): State<Arc<Node>>,
    query: Result<Query<HealthQuery>, QueryRejection>,
) -> Result<Json<HealthOut>, ApiError> {
    let Query(q) = query?;
    let phase = node.membership.phase();
    if q.ready == Some(true) && !matches!(phase, Phase::Joined | Phase::Normal) {
        return Err(ApiError::unavailable(format!(
            "this node is not ready: its phase is {}",
            serde_json::to_value(phase).unwrap_or_default()
        )));
    }
    Ok(Json(HealthOut {
        status: "ok".into(),
        node_id: node.cluster.self_id.clone(),
        url: node.cluster.self_url.clone(),
        phase,
        members: node.cluster.view().all().len(),
    }))
}

fn peers_out(node: &Node) -> PeersOut {
    PeersOut {
        peers: node.cluster.peers().into_iter().map(|m| m.url).collect(),
        members: node.membership.member_infos(),
    }
}

/// The members of the cluster.
#[utoipa::path(get, path = "/peers", tag = "cluster",
    responses((status = 200, description = "Other members' URLs and every member's status", body = PeersOut)))]
pub async fn get_peers(State(node): State<Arc<Node>>) -> Json<PeersOut> {
    Json(peers_out(&node))
}

/// How long `POST /peers` waits for the new member to appear in this node's view.
const JOIN_WAIT: Duration = Duration::from_secs(5);

/// Join the node at `peer_url` (and the members of its cluster, if any) into this node's
/// cluster.
#[utoipa::path(post, path = "/peers", tag = "cluster", request_body = super::docs::JoinDoc,
    responses(
        (status = 200, description = "The node is joining: it shows `joining` in `members` until it holds its ranges, then `alive`", body = PeersOut),
        (status = 400, description = "Bad JSON, or this node's own URL", body = super::ErrorBody),
        (status = 401, description = "A cluster secret is configured and X-Cluster-Secret is missing or wrong", body = super::ErrorBody),
        (status = 409, description = "Already a member, or the node left a cluster (it must restart with a fresh data dir)", body = super::ErrorBody),
        (status = 415, description = "The body is not sent as application/json", body = super::ErrorBody),
        (status = 422, description = "Missing or malformed `peer_url`, or no ringkv node that accepts this one answers there", body = super::ErrorBody),
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
    if url == node.cluster.self_url {
        return Err(ApiError::bad_request(format!(
            "{url} is this node's own URL"
        )));
    }
    if node.membership.phase() == Phase::Left {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "this node left its cluster; start it with a fresh data dir to form or join one",
        ));
    }
    let conflict = |detail: String| ApiError::new(StatusCode::CONFLICT, detail);
    let view = node.cluster.view();
    if view.all().iter().any(|m| m.url == url) {
        return Err(conflict(format!("{url} is already a member")));
    }
    let theirs = node
        .rpc
        .identity(&url)
        .await
        .map_err(|e| unjoinable(&url, &e))?;
    if theirs.id == node.cluster.self_id {
        return Err(ApiError::bad_request(format!("{url} is this node")));
    }
    if view.departed.contains(&theirs.id) || theirs.phase == Phase::Left {
        return Err(conflict(format!(
            "node `{}` at {url} left a cluster and cannot join again under that id; \
             restart it with a fresh data dir (it gets a new id)",
            theirs.id
        )));
    }
    if view.members.contains_key(&theirs.id) {
        return Err(conflict(format!(
            "{url} is already a member (as {})",
            theirs.id
        )));
    }
    let mut seeds = vec![node.cluster.self_url.clone()];
    seeds.extend(node.cluster.peers().into_iter().map(|m| m.url));
    let adopt = AdoptRequest {
        seeds,
        bring_members: true,
    };
    node.rpc
        .adopt(&url, &adopt)
        .await
        .map_err(|e| unjoinable(&url, &e))?;
    let deadline = tokio::time::Instant::now() + JOIN_WAIT;
    while !node.cluster.view().members.contains_key(&theirs.id)
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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

/// `DELETE /peers/{id}` query.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LeaveQuery {
    /// Remove a member that is dead and cannot hand off its data: its ranges are
    /// re-replicated from the surviving replicas. Refused for a member that is alive.
    #[serde(default)]
    #[param(nullable = false)]
    force: Option<bool>,
}

/// Start member `id`'s leave: it hands its data to the new owners in the background.
#[utoipa::path(delete, path = "/peers/{id}", tag = "cluster",
    params(("id" = String, Path, description = "The member's node id (see GET /peers), or its URL or host:port"), LeaveQuery),
    responses(
        (status = 202, description = "The leave started: the member is `leaving` (progress in GET /peers' `movement`), then `left`", body = PeersOut),
        (status = 401, description = "A cluster secret is configured and X-Cluster-Secret is missing or wrong", body = super::ErrorBody),
        (status = 404, description = "No such member", body = super::ErrorBody),
        (status = 400, description = "A malformed `force`", body = super::ErrorBody),
        (status = 409, description = "The member is dead (use ?force=true), alive (no force), joining, or already left; the last member cannot leave; a node cannot force-remove itself", body = super::ErrorBody),
        (status = 503, description = "The member could not be asked to leave", body = super::ErrorBody),
    ))]
pub async fn leave(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    query: Result<Query<LeaveQuery>, QueryRejection>,
) -> Result<(StatusCode, Json<PeersOut>), ApiError> {
    let Query(q) = query?;
    let force = q.force == Some(true);
    let conflict = |detail: String| ApiError::new(StatusCode::CONFLICT, detail);
    let Some(member) = node.membership.resolve(&id) else {
        return Err(ApiError::not_found(format!(
            "`{id}` is not a member of this cluster"
        )));
    };
    let id = member.id.clone();
    match member.status {
        Status::Left => return Err(conflict(format!("member `{id}` has already left"))),
        Status::Leaving if !force => return Ok((StatusCode::ACCEPTED, Json(peers_out(&node)))),
        Status::Joining if !force => {
            return Err(conflict(format!(
                "member `{id}` is still joining; let it finish, then remove it"
            )));
        }
        _ => {}
    }
    // Valid requests the cluster's state forbids: 409, like the other state conflicts.
    if node.cluster.view().all().len() <= 1 {
        return Err(conflict(
            "the last member of a cluster cannot leave it".into(),
        ));
    }
    let dead = member.status == Status::Dead;
    if force {
        if id == node.cluster.self_id {
            return Err(conflict(
                "a node cannot force-remove itself; remove it through another member".into(),
            ));
        }
        if !dead {
            return Err(conflict(format!(
                "member `{id}` is {}, not dead: remove it without force so it hands off its data",
                serde_json::to_value(member.status).unwrap_or_default()
            )));
        }
        node.membership
            .remove(&id)
            .map_err(|e| ApiError::not_found(e.to_string()))?;
        tracing::info!(member = %id, "removed a dead member; its ranges are re-replicated");
        return Ok((StatusCode::ACCEPTED, Json(peers_out(&node))));
    }
    if dead {
        return Err(conflict(format!(
            "member `{id}` is dead and cannot hand off its data: remove it with ?force=true"
        )));
    }
    if id != node.cluster.self_id {
        node.rpc
            .leave(&member.url, &id, node.rpc.timeout() * 2)
            .await
            .map_err(|e| match e {
                // The member refused (e.g. it is the last one in its own view): its 4xx, not
                // a 503 that would blame this node.
                crate::rpc::RpcError::Status { status, detail, .. }
                    if (400..500).contains(&status) =>
                {
                    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::CONFLICT);
                    ApiError::new(status, format!("member `{id}` refused to leave: {detail}"))
                }
                e => {
                    ApiError::unavailable(format!("member `{id}` could not be asked to leave: {e}"))
                }
            })?;
        return Ok((StatusCode::ACCEPTED, Json(peers_out(&node))));
    }
    let membership = node.membership.clone();
    tokio::task::spawn_blocking(move || membership.set_phase(Phase::Leaving))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| {
            tracing::error!("persisting the phase failed: {e:#}");
            ApiError::internal("could not persist the phase")
        })?;
    tracing::info!("leaving the cluster: handing off data in the background");
    Ok((StatusCode::ACCEPTED, Json(peers_out(&node))))
}

/// What the failure detector believes about every other member right now.
#[utoipa::path(get, path = "/peers/healthcheck", tag = "cluster",
    responses((status = 200, description = "Each peer URL mapped to \"success\" (alive, joining or leaving) or \"failure\" (suspect or dead)",
        body = BTreeMap<String, String>)))]
pub async fn peers_healthcheck(State(node): State<Arc<Node>>) -> Json<BTreeMap<String, String>> {
    let me = &node.cluster.self_id;
    let out = node
        .membership
        .member_infos()
        .into_iter()
        .filter(|m| m.id != *me && m.status != Status::Left)
        .map(|m| {
            let ok = !matches!(m.status, Status::Suspect | Status::Dead);
            (m.url, if ok { "success" } else { "failure" }.to_string())
        })
        .collect();
    Json(out)
}

/// The effective configuration and the settings version it comes from.
#[derive(Serialize, ToSchema)]
pub struct ConfigOut {
    #[serde(flatten)]
    config: Config,
    /// Which settings version is in force: `version` counts `PUT /config` changes across the
    /// cluster, `origin` is the node that made it (ties between concurrent changes go to the
    /// greater origin, on every node).
    settings_version: SettingsVersionOut,
}

#[derive(Serialize, ToSchema)]
pub struct SettingsVersionOut {
    version: u64,
    origin: String,
}

fn config_out(node: &Node) -> ConfigOut {
    let settings = node.cluster.settings();
    ConfigOut {
        config: node.effective_config(),
        settings_version: SettingsVersionOut {
            version: settings.version,
            origin: settings.origin.clone(),
        },
    }
}

/// The whole effective configuration.
#[utoipa::path(get, path = "/config", tag = "cluster",
    responses((status = 200, description = "The effective config and its settings version", body = ConfigOut)))]
pub async fn get_config(State(node): State<Arc<Node>>) -> Json<ConfigOut> {
    Json(config_out(&node))
}

/// Change hot settings; validated as a whole and spread to every live member by gossip.
#[utoipa::path(put, path = "/config", tag = "cluster", request_body = super::docs::ConfigPatchDoc,
    responses(
        (status = 200, description = "The new effective config; `settings_version` names the version this change produced", body = ConfigOut),
        (status = 400, description = "The body is not JSON", body = super::ErrorBody),
        (status = 401, description = "A cluster secret is configured and X-Cluster-Secret is missing or wrong", body = super::ErrorBody),
        (status = 415, description = "The body is not sent as application/json", body = super::ErrorBody),
        (status = 422, description = "Invalid as a whole, or unknown keys; nothing changed", body = super::ErrorBody),
    ))]
pub async fn put_config(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ConfigOut>, ApiError> {
    super::extract::require_json(&headers)?;
    let patch: serde_json::Value = serde_json::from_slice(&body?)
        .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))?;
    let next = node
        .cluster
        .settings()
        .settings
        .patched(&patch)
        .map_err(ApiError::unprocessable)?;
    let membership = node.membership.clone();
    let versioned = tokio::task::spawn_blocking(move || membership.change_settings(next))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| {
            tracing::error!("changing settings failed: {e:#}");
            ApiError::internal("could not persist the settings")
        })?;
    let mut out = config_out(&node);
    out.config.set_settings(&versioned.settings);
    out.settings_version = SettingsVersionOut {
        version: versioned.version,
        origin: versioned.origin,
    };
    Ok(Json(out))
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "cluster",
    responses((status = 200, description = "Prometheus text exposition format", body = String, content_type = "text/plain")))]
pub async fn metrics(State(node): State<Arc<Node>>) -> Response {
    let stats = node.replica.stats();
    let mut text = node.metrics.render(&stats, node.cluster.view().all().len());
    node.replica.hint_book().render(&mut text);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}
