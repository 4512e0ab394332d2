//! The `/internal/...` routes: what other nodes call on this one (see [`crate::rpc`]).
//! Not part of the public contract and not in the OpenAPI document.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use super::{MembershipMsg, ScanRequest, wire};
use crate::api::ApiError;
use crate::api::admin::{absorb, membership_msg};
use crate::coordinator::{ForwardedOutcome, WriteRequest};
use crate::node::Node;
use crate::settings::VersionedSettings;

/// The internal router. Its body limit allows a full version set (several siblings of the
/// largest value).
pub fn router(max_value_bytes: usize) -> Router<Arc<Node>> {
    let limit = max_value_bytes.saturating_mul(64).saturating_add(1 << 20);
    Router::new()
        .route("/internal/read", post(read))
        .route("/internal/merge", post(merge))
        .route("/internal/scan", post(scan))
        .route("/internal/coordinate", post(coordinate))
        .route(
            "/internal/membership",
            get(get_membership).post(post_membership),
        )
        .route("/internal/settings", post(settings))
        .layer(DefaultBodyLimit::max(limit))
}

fn storage_error(e: impl std::fmt::Display) -> ApiError {
    tracing::error!("replica operation failed: {e}");
    ApiError::internal(format!("replica failed: {e}"))
}

fn json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("bad message: {e}")))
}

async fn read(
    State(node): State<Arc<Node>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body?;
    let key = std::str::from_utf8(&body).map_err(|_| ApiError::bad_request("key is not UTF-8"))?;
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

async fn coordinate(
    State(node): State<Arc<Node>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ForwardedOutcome>, ApiError> {
    let req: WriteRequest = json(&body?)?;
    Ok(Json(node.coordinator.write(req).await))
}

async fn get_membership(State(node): State<Arc<Node>>) -> Json<MembershipMsg> {
    Json(membership_msg(&node))
}

async fn post_membership(
    State(node): State<Arc<Node>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<MembershipMsg>, ApiError> {
    let msg: MembershipMsg = json(&body?)?;
    absorb(&node, msg).await?;
    Ok(Json(membership_msg(&node)))
}

async fn settings(
    State(node): State<Arc<Node>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let offered: VersionedSettings = json(&body?)?;
    let cluster = node.cluster.clone();
    tokio::task::spawn_blocking(move || cluster.offer_settings(&offered))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(storage_error)?;
    Ok(StatusCode::NO_CONTENT)
}
