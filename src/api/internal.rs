//! The `/internal/...` routes: what other nodes call on this one (the client and the frames are
//! in [`crate::rpc`]). Not part of the public contract and not in the OpenAPI document. They
//! have their own admission limit (see `api/mod.rs`), so a node saturated by clients still
//! answers its peers' merges and gossip.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header::{CONNECTION, UPGRADE};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hyper_util::rt::TokioIo;
use tower::ServiceExt as _;

use super::ApiError;
use crate::cluster::Phase;
use crate::coordinator::{ForwardedOutcome, WriteRequest};
use crate::node::Node;
use crate::rebalance::MoveFilter;
use crate::rpc::{AdoptRequest, Identity, MoveRequest, ScanRequest, stream, wire};

/// The largest body of an internal call: a full version set (several siblings of the largest
/// value) and batches of them. Also the largest frame of a node-to-node stream.
pub fn body_limit(max_value_bytes: usize) -> usize {
    max_value_bytes.saturating_mul(64).saturating_add(64 << 20)
}

/// The internal router, with [`body_limit`].
pub fn router(max_value_bytes: usize) -> Router<Arc<Node>> {
    let limit = body_limit(max_value_bytes);
    Router::new()
        .route("/internal/gossip", post(gossip))
        .route("/internal/read", post(read))
        .route("/internal/merge", post(merge))
        .route("/internal/merge-batch", post(merge_batch))
        .route("/internal/merges", post(merges))
        .route("/internal/reads", post(reads))
        .route("/internal/hint", post(hint))
        .route("/internal/scan", post(scan))
        .route("/internal/move", post(move_page))
        .route("/internal/coordinate", post(coordinate))
        .route("/internal/identity", get(identity))
        .route("/internal/ping", get(ping))
        .route("/internal/adopt", post(adopt))
        .route("/internal/ae/tree", post(ae_tree))
        .route("/internal/ae/keys", post(ae_keys))
        .layer(DefaultBodyLimit::max(limit))
}

/// Opens a node-to-node stream (see [`crate::rpc::stream`]): answers `101 Switching Protocols`
/// and serves the caller's frames through the internal routes, as a supervised worker. The
/// guard checked the cluster secret on this request, once for the whole stream.
pub async fn stream(State(node): State<Arc<Node>>, mut req: Request) -> Response {
    let asked = req.headers().get(UPGRADE).is_some_and(|v| {
        v.as_bytes()
            .eq_ignore_ascii_case(stream::PROTOCOL.as_bytes())
    });
    if !asked {
        return ApiError::bad_request(format!(
            "this route upgrades the connection to `{}` (Upgrade header)",
            stream::PROTOCOL
        ))
        .into_response();
    }
    if node.background.is_stopping() {
        return ApiError::unavailable("the node is shutting down").into_response();
    }
    let upgrade = hyper::upgrade::on(&mut req);
    let limit = body_limit(node.config.max_value_bytes);
    let dispatch = dispatcher(node.clone());
    node.background
        .worker("stream from a peer", move |token| async move {
            match upgrade.await {
                Ok(io) => stream::serve(TokioIo::new(io), dispatch, limit, token).await,
                Err(e) => tracing::debug!("a stream upgrade failed: {e}"),
            }
        });
    (
        StatusCode::SWITCHING_PROTOCOLS,
        [(CONNECTION, "upgrade"), (UPGRADE, stream::PROTOCOL)],
    )
        .into_response()
}

/// Runs a stream's calls through the internal routes, each admitted, timed out and counted
/// as an HTTP call is.
fn dispatcher(node: Arc<Node>) -> stream::Dispatch {
    let router: Router = router(node.config.max_value_bytes)
        .layer(axum::middleware::from_fn_with_state(
            node.clone(),
            super::admit_layer,
        ))
        .with_state(node);
    Arc::new(move |post, path, body| {
        let router = router.clone();
        Box::pin(async move {
            let method = if post { Method::POST } else { Method::GET };
            let req = match Request::builder()
                .method(method)
                .uri(&path)
                .body(Body::from(body))
            {
                Ok(req) => req,
                Err(e) => return (StatusCode::BAD_REQUEST, Bytes::from(e.to_string())),
            };
            let Ok(resp) = router.oneshot(req).await;
            let status = resp.status();
            match axum::body::to_bytes(resp.into_body(), usize::MAX).await {
                Ok(body) => (status, body),
                Err(e) => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Bytes::from(e.to_string()),
                ),
            }
        })
    })
}

fn storage_error(e: impl std::fmt::Display) -> ApiError {
    tracing::error!("replica operation failed: {e}");
    ApiError::internal(format!("replica failed: {e}"))
}

fn json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("bad message: {e}")))
}

async fn gossip(
    State(node): State<Arc<Node>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Vec<u8>, ApiError> {
    let replies = node
        .membership
        .receive(&body?)
        .map_err(|e| ApiError::bad_request(format!("bad gossip message: {e}")))?;
    Ok(wire::encode_frames(&replies))
}

async fn read(
    State(node): State<Arc<Node>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body?;
    let key = std::str::from_utf8(&body).map_err(|_| ApiError::bad_request("key is not UTF-8"))?;
    if node
        .pending
        .load()
        .as_ref()
        .is_some_and(|p| p.not_ready(key))
    {
        return Err(ApiError::unavailable(
            "this replica is still receiving the key after a membership change",
        ));
    }
    match node.replica.read(key).await.map_err(storage_error)? {
        Some(set) => Ok(set.encode().into_response()),
        None => Ok(StatusCode::NOT_FOUND.into_response()),
    }
}

async fn merge(
    State(node): State<Arc<Node>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Vec<u8>, ApiError> {
    let (key, set) =
        wire::decode_one(&body?).map_err(|e| ApiError::bad_request(format!("bad frame: {e}")))?;
    let limits = node.cluster.settings().settings.versioning.limits();
    let merged = node
        .replica
        .merge(&key, set, limits)
        .await
        .map_err(storage_error)?;
    let ack = wire::MergeAck {
        prior_live: merged.prior_live,
        covered: merged.covered,
        set: Some(merged.set),
    };
    Ok(ack.encode())
}

/// Coalesced replica reads: each key's set, or its digest.
async fn reads(
    State(node): State<Arc<Node>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Vec<u8>, ApiError> {
    let reads =
        wire::decode_reads(&body?).map_err(|e| ApiError::bad_request(format!("bad frame: {e}")))?;
    let pending = node.pending.load();
    let keys: Vec<&str> = reads.iter().map(|(k, _)| k.as_str()).collect();
    if pending
        .as_ref()
        .is_some_and(|p| keys.iter().any(|k| p.not_ready(k)))
    {
        return Err(ApiError::unavailable(
            "this replica is still receiving keys after a membership change",
        ));
    }
    let stored = node.replica.read_raw_now(&keys).map_err(storage_error)?;
    let frames: Vec<Vec<u8>> = reads
        .iter()
        .zip(&stored)
        .map(|((_, want), bytes)| wire::encode_answer(*want, bytes.as_deref()))
        .collect();
    Ok(wire::encode_frames(&frames))
}

/// Coalesced replica merges: one storage batch, one ack per entry.
async fn merges(
    State(node): State<Arc<Node>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Vec<u8>, ApiError> {
    let entries = wire::decode_entries(&body?)
        .map_err(|e| ApiError::bad_request(format!("bad frame: {e}")))?;
    let limits = node.cluster.settings().settings.versioning.limits();
    let merged = node
        .replica
        .merge_each(entries, limits)
        .await
        .map_err(storage_error)?;
    let acks: Vec<Vec<u8>> = merged
        .into_iter()
        .map(|m| {
            wire::MergeAck {
                prior_live: m.prior_live,
                covered: m.covered,
                set: Some(m.set),
            }
            .encode()
        })
        .collect();
    Ok(wire::encode_frames(&acks))
}

async fn merge_batch(
    State(node): State<Arc<Node>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let entries = wire::decode_entries(&body?)
        .map_err(|e| ApiError::bad_request(format!("bad frame: {e}")))?;
    let limits = node.cluster.settings().settings.versioning.limits();
    node.replica
        .merge_many(entries, limits)
        .await
        .map_err(storage_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Keeps a set as a hint for another replica (this node is a fallback). 507 when a cap refuses
/// it (the coordinator then tries another fallback), 503 when hinted handoff is disabled.
async fn hint(
    State(node): State<Arc<Node>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let (owner, key, set) =
        wire::decode_hint(&body?).map_err(|e| ApiError::bad_request(format!("bad frame: {e}")))?;
    let settings = node.cluster.settings().settings.hinted_handoff;
    if !settings.enabled {
        node.replica
            .hint_book()
            .dropped(crate::handoff::DropReason::Disabled, 1);
        return Err(ApiError::unavailable(
            "hinted handoff is disabled on this node",
        ));
    }
    match node
        .replica
        .store_hint(&owner, &key, set, settings.caps())
        .await
        .map_err(storage_error)?
    {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(reason) => Err(ApiError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            format!("hint refused: {}", reason.as_str()),
        )),
    }
}

async fn scan(
    State(node): State<Arc<Node>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let req: ScanRequest = json(&body?)?;
    let limit = req.limit.min(crate::api::extract::MAX_LIST_LIMIT + 1);
    let page = node
        .replica
        .scan(&req.prefix, req.after, limit)
        .await
        .map_err(storage_error)?;
    Ok(wire::encode_entries(&page).into_response())
}

async fn move_page(
    State(node): State<Arc<Node>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Vec<u8>, ApiError> {
    let req: MoveRequest = json(&body?)?;
    if req.tokens_per_member != node.cluster.tokens_per_member {
        return Err(ApiError::bad_request(format!(
            "tokens_per_member differs: {} here, {} there; every member needs the same",
            node.cluster.tokens_per_member, req.tokens_per_member
        )));
    }
    let filter = MoveFilter::new(&req, &node.cluster.self_id);
    let limit = req.limit.clamp(1, 4096);
    let page = node
        .replica
        .scan_moving(req.after.clone(), 16 * limit, limit, move |k| {
            filter.wants(k)
        })
        .await
        .map_err(storage_error)?;
    Ok(wire::MovePage::encode_raw(
        page.done,
        page.cursor.as_deref(),
        &page.entries,
    ))
}

async fn coordinate(
    State(node): State<Arc<Node>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ForwardedOutcome>, ApiError> {
    let req: WriteRequest = json(&body?)?;
    Ok(Json(node.coordinator.write(req).await))
}

/// Who this node is.
pub fn identity_of(node: &Node) -> Identity {
    Identity {
        id: node.cluster.self_id.clone(),
        url: node.cluster.self_url.clone(),
        phase: node.membership.phase(),
        members: node.cluster.peers(),
    }
}

async fn ping() -> StatusCode {
    StatusCode::NO_CONTENT
}

async fn identity(State(node): State<Arc<Node>>) -> Json<Identity> {
    Json(identity_of(&node))
}

/// Joins the cluster of `seeds` (`POST /peers` on a member of it named this node). With
/// `bring_members`, the other members of this node's cluster are asked to join too.
async fn adopt(
    State(node): State<Arc<Node>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Identity>, ApiError> {
    let req: AdoptRequest = json(&body?)?;
    if node.membership.phase() == Phase::Left {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "node `{}` left its cluster; start it with a fresh data dir to join again",
                node.cluster.self_id
            ),
        ));
    }
    if req.bring_members {
        let mates = node.cluster.peers();
        let forwarded = AdoptRequest {
            seeds: req.seeds.clone(),
            bring_members: false,
        };
        for mate in mates {
            if let Err(e) = node.rpc.adopt(&mate.url, &forwarded).await {
                tracing::warn!(peer = %mate.id, "could not bring a member along: {e}");
            }
        }
    }
    if node.membership.phase() != Phase::Joining {
        let membership = node.membership.clone();
        tokio::task::spawn_blocking(move || membership.set_phase(Phase::Joining))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
            .map_err(|e| {
                tracing::error!("persisting the phase failed: {e:#}");
                ApiError::internal("could not persist the phase")
            })?;
    }
    node.membership.join(&req.seeds);
    tracing::info!(seeds = ?req.seeds, "joining a cluster");
    Ok(Json(identity_of(&node)))
}

fn ae_error(e: crate::anti_entropy::exchange::AnswerError) -> ApiError {
    use crate::anti_entropy::exchange::AnswerError;
    match e {
        AnswerError::Mismatch => ApiError::new(StatusCode::CONFLICT, e.to_string()),
        AnswerError::Storage(_) => storage_error(e),
    }
}

/// Anti-entropy: digests of this node's tree of the region shared with the caller.
async fn ae_tree(
    State(node): State<Arc<Node>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Vec<u8>, ApiError> {
    let req = json(&body?)?;
    let answer = crate::anti_entropy::exchange::answer_tree(node.clone(), req)
        .await
        .map_err(ae_error)?;
    node.metrics
        .anti_entropy
        .bytes("tree", answer.len() as u64, 0);
    Ok(answer)
}

/// Anti-entropy: `(key, digest)` of leaves of the region shared with the caller.
async fn ae_keys(
    State(node): State<Arc<Node>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Vec<u8>, ApiError> {
    let req = json(&body?)?;
    let answer = crate::anti_entropy::exchange::answer_keys(node.clone(), req)
        .await
        .map_err(ae_error)?;
    node.metrics
        .anti_entropy
        .bytes("keys", answer.len() as u64, 0);
    Ok(answer)
}
