//! `/items`: the key/value API of `API.md` (PUT, GET, DELETE, append, list).
//!
//! Handlers only translate: validate the request (see [`super::extract`]), call the
//! coordinator, and shape its result into the contract's bodies, statuses and `X-Context`.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ringkv_versions::VersionSet;
use serde::Serialize;
use serde_json::value::RawValue;
use utoipa::ToSchema;

use super::ApiError;
use super::extract::{
    self, ConditionHeaders, ContextHeader, IdempotencyHeader, Key, KeyPath, ListParams,
    QuorumParams,
};
use super::history::{HistoryParam, PastValue, SiblingsWithHistory, ValueWithHistory, past};
use crate::coordinator::{WriteKind, WriteOutcome, WriteRequest};
use crate::node::Node;
use crate::payload;
use crate::replica::now_ms;

/// A PUT's body: `{"value": V, "ttl": seconds, "context": "..."}`; other fields are ignored.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct WriteBodyDoc {
    /// Any JSON value, falsy ones included.
    value: serde_json::Value,
    /// Seconds until the value expires; null or absent: never.
    #[schema(minimum = 1, maximum = 3_153_600_000_u64)]
    ttl: Option<u64>,
    /// The `X-Context` of a previous read (the header wins when both are sent); null or
    /// absent: none.
    #[schema(pattern = r"^[A-Za-z0-9_-]*$", max_length = 65536)]
    context: Option<String>,
}

/// An append's body: `{"value": V, "ttl": seconds}`; other fields are ignored.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AppendBodyDoc {
    /// Appended to the stored value: string + string concatenates, array + anything pushes,
    /// `""` only restarts the TTL; an absent key is created with it. Other pairs are 422.
    value: serde_json::Value,
    /// Seconds until the value expires; null or absent: never.
    #[schema(minimum = 1, maximum = 3_153_600_000_u64)]
    ttl: Option<u64>,
    /// Accepted for symmetry with PUT (any string) and ignored: an append always reads the
    /// current value.
    context: Option<String>,
}

/// `{"key": K, "value": V}`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ItemDoc {
    key: String,
    value: serde_json::Value,
}

/// `{"value": V}`; with `?history=N` also `"history"`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ValueDoc {
    value: serde_json::Value,
    /// Only with `?history=N`: up to N values the key held before, newest first.
    history: Option<Vec<PastValue>>,
}

/// `{"values": [V1, V2, ...]}`: concurrent versions (siblings); with `?history=N` also
/// `"history"`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SiblingsDoc {
    values: Vec<serde_json::Value>,
    /// Only with `?history=N`: up to N values the key held before, newest first.
    history: Option<Vec<PastValue>>,
}

/// `{"detail": ...}`; with `?history=N` also `"history"` (a deleted key's past values).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct NotFoundDoc {
    detail: String,
    /// Only with `?history=N`: up to N values the key held before, newest first.
    history: Option<Vec<PastValue>>,
}

/// One entry of a list page: `value` for one live version, `values` for siblings.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ListItemDoc {
    key: String,
    value: Option<serde_json::Value>,
    values: Option<Vec<serde_json::Value>>,
}

/// A page of `GET /items`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ListDoc {
    items: Vec<ListItemDoc>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

/// Values are serialised from their stored text (`RawValue`), never through a parsed
/// `serde_json::Value`, which would round numbers beyond i64/f64.
#[derive(Serialize)]
struct ValueOut {
    value: Box<RawValue>,
}

#[derive(Serialize)]
struct SiblingsOut {
    values: Vec<Box<RawValue>>,
}

#[derive(Serialize)]
struct ListItemOut {
    key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<Box<RawValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    values: Option<Vec<Box<RawValue>>>,
}

#[derive(Serialize)]
struct ListOut {
    items: Vec<ListItemOut>,
    next_cursor: Option<String>,
}

/// The live values of a merged set as JSON texts.
fn live_json(set: &VersionSet, now: u64) -> Result<Vec<Box<RawValue>>, ApiError> {
    set.live_values(now)
        .into_iter()
        .map(|bytes| {
            payload::decode(bytes)
                .map(|p| p.json.to_owned())
                .map_err(|e| {
                    tracing::error!("undecodable stored value: {e}");
                    ApiError::internal("a stored value could not be decoded")
                })
        })
        .collect()
}

fn with_context(mut resp: Response, context: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(context) {
        resp.headers_mut().insert("x-context", v);
    }
    resp
}

fn written(key: &str, outcome: WriteOutcome) -> Result<Response, ApiError> {
    let status = if outcome.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    // The value is the compact JSON text the write stored (validated when it came in), so
    // the body is written around it rather than parsed and serialised again.
    let value = outcome.value.as_deref().unwrap_or("null");
    let key = serde_json::to_string(key).map_err(|e| ApiError::internal(e.to_string()))?;
    let body = format!("{{\"key\":{key},\"value\":{value}}}");
    let resp = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    Ok(with_context(resp, &outcome.context))
}

/// Store a value.
#[utoipa::path(
    put, path = "/items/{key}", tag = "items",
    params(KeyPath, QuorumParams, ContextHeader, ConditionHeaders, IdempotencyHeader),
    request_body = WriteBodyDoc,
    responses(
        (status = 201, description = "Created: the key had no live value", body = ItemDoc,
            headers(("X-Context" = String, description = "The new causal context"))),
        (status = 200, description = "Updated", body = ItemDoc,
            headers(("X-Context" = String, description = "The new causal context"))),
        (status = 400, description = "Malformed JSON, key, context or quorum parameter", body = super::ErrorBody),
        (status = 412, description = "If-Match / If-None-Match failed", body = super::ErrorBody),
        (status = 413, description = "Value over max_value_bytes", body = super::ErrorBody),
        (status = 415, description = "The body is not sent as application/json", body = super::ErrorBody),
        (status = 422, description = "JSON of the wrong shape (no `value`, bad `ttl`), or an `Idempotency-Key` already used for a different request", body = super::ErrorBody,
            example = json!({"detail": "Idempotency-Key `t-1` was already used for a different request to this key; use a new key for a new request"})),
        (status = 503, description = "Write quorum not reached", body = super::ErrorBody),
    )
)]
pub async fn put_item(
    State(node): State<Arc<Node>>,
    Key(key): Key,
    query: Result<Query<QuorumParams>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let query = query?;
    let (r, w) = query.parse(node.n())?;
    let sloppy = query.sloppy()?;
    extract::require_json(&headers)?;
    // Malformed input (400, 413, 415, 422) is reported before a precondition can fail (412).
    let body = extract::write_body(&body?, node.config.max_value_bytes)?;
    let header_ctx = extract::context_header(&headers)?;
    // A body context is checked even when the header wins: the documented shape holds for both.
    if let Some(c) = &body.context {
        extract::check_context(c)?;
    }
    let context = header_ctx.or(body.context);
    let condition = extract::condition(&headers)?;
    let req = WriteRequest {
        key: key.clone(),
        kind: WriteKind::Put,
        value: Some(body.value),
        ttl_ms: body.ttl_ms,
        context,
        condition,
        r,
        w,
        hops: 0,
        sloppy,
        idempotency_key: extract::idempotency_key(&headers)?,
    };
    written(&key, node.coordinator.write(req).await?)
}

/// Read a value, and with `?history=N` up to N values it held before.
#[utoipa::path(
    get, path = "/items/{key}", tag = "items",
    params(KeyPath, QuorumParams, HistoryParam),
    responses(
        (status = 200, description = "One live value; with `?history=N` also `history`, newest first", body = ValueDoc,
            headers(("X-Context" = String, description = "Send it back with the next write")),
            examples(
                ("value" = (summary = "GET /items/k", value = json!({"value": "v4"}))),
                ("history" = (summary = "GET /items/k?history=3: the value and the three before it, newest first", value = json!({"value": "v4", "history": [
                    {"value": "v3", "written_at": "2026-12-01T12:00:03.000Z"},
                    {"value": "v2", "written_at": "2026-12-01T12:00:02.000Z"},
                    {"value": "v1", "written_at": "2026-12-01T12:00:01.000Z"},
                ]}))),
            )),
        (status = 300, description = "Concurrent versions (siblings); PUT with this context to resolve; with `?history=N` also `history`", body = SiblingsDoc,
            headers(("X-Context" = String, description = "Covers every sibling")),
            examples(
                ("siblings" = (summary = "GET /items/k", value = json!({"values": ["a", "b"]}))),
                ("history" = (summary = "GET /items/k?history=1", value = json!({"values": ["a", "b"], "history": [
                    {"value": "v1", "written_at": "2026-12-01T12:00:01.000Z"},
                ]}))),
            )),
        (status = 400, description = "Malformed key, quorum or history parameter", body = super::ErrorBody),
        (status = 404, description = "Absent, deleted or expired; with `?history=N` also the past values (a deleted key keeps them until its tombstone is collected)", body = NotFoundDoc,
            examples(
                ("absent" = (summary = "GET /items/k", value = json!({"detail": "key `k` not found"}))),
                ("deleted" = (summary = "GET /items/k?history=2 after a DELETE", value = json!({"detail": "key `k` not found", "history": [
                    {"value": "v4", "written_at": "2026-12-01T12:00:04.000Z"},
                    {"value": "v3", "written_at": "2026-12-01T12:00:03.000Z"},
                ]}))),
            )),
        (status = 503, description = "Read quorum not reached", body = super::ErrorBody),
    )
)]
pub async fn get_item(
    State(node): State<Arc<Node>>,
    Key(key): Key,
    query: Result<Query<QuorumParams>, QueryRejection>,
    history: Result<Query<HistoryParam>, QueryRejection>,
) -> Result<Response, ApiError> {
    let query = query?;
    let (r, _) = query.parse(node.n())?;
    query.sloppy()?;
    let history = history?.parse()?;
    let set = node.coordinator.get(&key, r).await?;
    let now = now_ms();
    let mut values = live_json(&set, now)?;
    // A merge of replicas can briefly hold more past values than the setting keeps (a replica
    // not yet written since the setting went down): answer no more than it says.
    let kept = node.cluster.settings().settings.versioning.history;
    let past = history.map(|n| past(&set, n.min(kept), now)).transpose()?;
    let resp = match (values.len(), past) {
        (0, None) => return Err(ApiError::not_found(format!("key `{key}` not found"))),
        (0, Some(history)) => {
            return Ok(super::history::not_found(
                format!("key `{key}` not found"),
                history,
            ));
        }
        (1, None) => {
            let value = values.remove(0);
            (StatusCode::OK, Json(ValueOut { value })).into_response()
        }
        (1, Some(history)) => {
            let value = values.remove(0);
            (StatusCode::OK, Json(ValueWithHistory { value, history })).into_response()
        }
        (_, None) => (StatusCode::MULTIPLE_CHOICES, Json(SiblingsOut { values })).into_response(),
        (_, Some(history)) => (
            StatusCode::MULTIPLE_CHOICES,
            Json(SiblingsWithHistory { values, history }),
        )
            .into_response(),
    };
    Ok(with_context(resp, &set.context_header()))
}

/// Delete a value (leaves a tombstone that is collected after the grace period).
#[utoipa::path(
    delete, path = "/items/{key}", tag = "items",
    params(KeyPath, QuorumParams, ContextHeader, IdempotencyHeader),
    responses(
        (status = 204, description = "Deleted; a repeat with the same `Idempotency-Key` answers 204 again (not 404)"),
        (status = 422, description = "An `Idempotency-Key` already used for a different request", body = super::ErrorBody),
        (status = 400, description = "Malformed key, context or quorum parameter", body = super::ErrorBody),
        (status = 404, description = "Nothing to delete", body = super::ErrorBody),
        (status = 503, description = "Quorum not reached", body = super::ErrorBody),
    )
)]
pub async fn delete_item(
    State(node): State<Arc<Node>>,
    Key(key): Key,
    query: Result<Query<QuorumParams>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let query = query?;
    let (r, w) = query.parse(node.n())?;
    let sloppy = query.sloppy()?;
    let req = WriteRequest {
        key,
        kind: WriteKind::Delete,
        value: None,
        ttl_ms: None,
        context: extract::context_header(&headers)?,
        condition: None,
        r,
        w,
        hops: 0,
        sloppy,
        idempotency_key: extract::idempotency_key(&headers)?,
    };
    let outcome = node.coordinator.write(req).await?;
    Ok(with_context(
        StatusCode::NO_CONTENT.into_response(),
        &outcome.context,
    ))
}

/// Append to a value: string + string concatenates, array + anything pushes, `""` only
/// restarts the TTL, an absent key is created.
#[utoipa::path(
    post, path = "/items/{key}/append", tag = "items",
    params(KeyPath, QuorumParams, IdempotencyHeader),
    request_body = AppendBodyDoc,
    responses(
        (status = 201, description = "Created with the value", body = ItemDoc),
        (status = 200, description = "Appended; the body holds the whole new value. A repeat with the same `Idempotency-Key` is not appended again: it answers the first attempt's status and body", body = ItemDoc,
            example = json!({"key": "log", "value": "ab"})),
        (status = 400, description = "Malformed JSON, key or quorum parameter", body = super::ErrorBody),
        (status = 409, description = "The key has siblings; resolve them first", body = super::ErrorBody),
        (status = 413, description = "The result would be over max_value_bytes", body = super::ErrorBody),
        (status = 415, description = "The body is not sent as application/json", body = super::ErrorBody),
        (status = 422, description = "Wrong shape, types that do not append, or an `Idempotency-Key` already used for a different request", body = super::ErrorBody),
        (status = 503, description = "Quorum not reached", body = super::ErrorBody),
    )
)]
pub async fn append_item(
    State(node): State<Arc<Node>>,
    Key(key): Key,
    query: Result<Query<QuorumParams>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let query = query?;
    let (r, w) = query.parse(node.n())?;
    let sloppy = query.sloppy()?;
    extract::require_json(&headers)?;
    let body = extract::write_body(&body?, node.config.max_value_bytes)?;
    let req = WriteRequest {
        key: key.clone(),
        kind: WriteKind::Append,
        value: Some(body.value),
        ttl_ms: body.ttl_ms,
        context: None,
        condition: None,
        r,
        w,
        hops: 0,
        sloppy,
        idempotency_key: extract::idempotency_key(&headers)?,
    };
    written(&key, node.coordinator.write(req).await?)
}

/// List live keys in key order, one page at a time.
#[utoipa::path(
    get, path = "/items", tag = "items",
    params(ListParams),
    responses(
        (status = 200, description = "One page", body = ListDoc),
        (status = 400, description = "Bad limit or cursor", body = super::ErrorBody),
        (status = 503, description = "Too many members unreachable to list every key", body = super::ErrorBody),
    )
)]
pub async fn list_items(
    State(node): State<Arc<Node>>,
    query: Result<Query<ListParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let (prefix, after, limit) = query?.parse()?;
    let page = node.coordinator.list(&prefix, after, limit).await?;
    let now = now_ms();
    let mut items = Vec::with_capacity(page.items.len());
    for (key, set) in page.items {
        let mut values = live_json(&set, now)?;
        if values.is_empty() {
            continue; // expired since the coordinator judged it
        }
        let item = if values.len() == 1 {
            ListItemOut {
                key,
                value: values.pop(),
                values: None,
            }
        } else {
            ListItemOut {
                key,
                value: None,
                values: Some(values),
            }
        };
        items.push(item);
    }
    let next_cursor = page.next_cursor.as_deref().map(extract::encode_cursor);
    Ok(Json(ListOut { items, next_cursor }).into_response())
}
