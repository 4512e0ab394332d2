//! The HTTP surface: `fn router(node) -> Router` with the public API of `API.md`, the internal
//! node-to-node routes, Swagger UI at `/docs`, the OpenAPI document at `/openapi.json`, and
//! the protective layers.
//!
//! Layers, outermost first: a request guard (concurrency limit, whole-request timeout,
//! metrics), then the body-size limit. Unknown routes answer 404 and wrong methods 405, both
//! as `{"detail"}` JSON like every other error.

pub mod admin;
mod dashboard;
mod docs;
mod error;
pub mod extract;
mod history;
pub mod internal;
mod items;
mod openapi;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use utoipa_swagger_ui::SwaggerUi;

pub use error::{ApiError, ErrorBody};
pub use openapi::ApiDoc;

use crate::node::Node;

/// Room for the JSON around the largest value (`{"value": ..., "ttl": ..., "context": ...}`).
const BODY_SLACK: usize = 64 * 1024;

/// The node's whole router.
pub fn router(node: Arc<Node>) -> Router {
    let body_limit = node.config.max_value_bytes.saturating_add(BODY_SLACK);
    let public = Router::new()
        .route("/items", get(items::list_items))
        .route(
            "/items/{key}",
            put(items::put_item)
                .get(items::get_item)
                .delete(items::delete_item),
        )
        .route("/items/{key}/append", post(items::append_item))
        .route("/healthcheck", get(admin::healthcheck))
        .route("/peers", get(admin::get_peers).post(admin::join))
        .route("/peers/healthcheck", get(admin::peers_healthcheck))
        .route("/peers/{id}", axum::routing::delete(admin::leave))
        .route("/config", get(admin::get_config).put(admin::put_config))
        .route("/metrics", get(admin::metrics))
        .route("/dashboard", get(dashboard::page))
        .layer(DefaultBodyLimit::max(body_limit));
    Router::new()
        .merge(public)
        .merge(internal::router(node.config.max_value_bytes))
        .route(crate::rpc::stream::PATH, get(internal::stream))
        .route("/openapi.json", get(openapi::serve))
        .merge(SwaggerUi::new("/docs").config(utoipa_swagger_ui::Config::from("/openapi.json")))
        .fallback(error::no_route)
        .method_not_allowed_fallback(error::wrong_method)
        .layer(middleware::from_fn_with_state(node.clone(), guard))
        .with_state(node)
}

pub use crate::rpc::SECRET_HEADER;

/// True for the requests a configured cluster secret protects: node-to-node traffic and the
/// admin writes.
fn needs_secret(method: &axum::http::Method, path: &str) -> bool {
    use axum::http::Method;
    path.starts_with("/internal/")
        || (path == "/peers" && method == Method::POST)
        || (path.starts_with("/peers/") && method == Method::DELETE)
        || (path == "/config" && method == Method::PUT)
}

/// Compares in time independent of where the inputs differ.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// `Err(401)` when a secret is configured and the request needs it but lacks it.
fn check_secret(node: &Node, req: &Request) -> Result<(), ApiError> {
    let Some(expected) = &node.config.cluster_secret else {
        return Ok(());
    };
    if !needs_secret(req.method(), req.uri().path()) {
        return Ok(());
    }
    let given = req
        .headers()
        .get(SECRET_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if same_secret(given, expected.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "this request needs the cluster secret in the X-Cluster-Secret header",
        ))
    }
}

/// Cluster secret, then [`admit`], for every request over HTTP.
async fn guard(State(node): State<Arc<Node>>, req: Request, next: Next) -> Response {
    if let Err(e) = check_secret(&node, &req) {
        let route = route_of(&req);
        node.metrics.observe(
            req.method().as_str(),
            route_str(&route),
            401,
            Duration::ZERO,
        );
        return e.into_response();
    }
    admit(&node, req, next).await
}

/// The route template a request matched, for metrics (a cheap clone of a shared string).
fn route_of(req: &Request) -> Option<MatchedPath> {
    req.extensions().get::<MatchedPath>().cloned()
}

fn route_str(route: &Option<MatchedPath>) -> &str {
    route.as_ref().map_or("unmatched", |p| p.as_str())
}

/// Concurrency limit, whole-request timeout and metrics: for every request over HTTP, and every
/// call over a node-to-node stream (whose secret was checked once, at its handshake).
async fn admit(node: &Node, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = route_of(&req);
    let internal = req.uri().path().starts_with("/internal/");
    // The coordinator answers 503 itself at request_timeout; this backstop covers everything
    // else (a forwarded write may take the remote's request timeout plus one RPC).
    let backstop = node.config.request_timeout() * 2 + Duration::from_secs(1);
    // Node-to-node calls have their own admission limit, so clients cannot starve them.
    let limiter = if internal {
        &node.internal_limiter
    } else {
        &node.limiter
    };
    // One timer for the wait for a slot and the request itself.
    let admitted = AtomicBool::new(false);
    let run = async {
        let _permit = limiter.acquire().await.ok()?;
        admitted.store(true, Ordering::Relaxed);
        Some(next.run(req).await)
    };
    let response = match tokio::time::timeout(backstop, run).await {
        Ok(Some(response)) => response,
        Err(_) if admitted.load(Ordering::Relaxed) => {
            ApiError::unavailable("the request timed out").into_response()
        }
        _ => ApiError::unavailable("the node is overloaded: too many concurrent requests")
            .into_response(),
    };
    node.metrics.observe(
        method.as_str(),
        route_str(&route),
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// [`admit`] as a layer, for the calls that arrive over a node-to-node stream.
async fn admit_layer(State(node): State<Arc<Node>>, req: Request, next: Next) -> Response {
    admit(&node, req, next).await
}

#[cfg(test)]
mod tests;
