//! The OpenAPI 3.1 document of the public API (`/openapi.json`, rendered at `/docs`).
//!
//! The document states every constraint the server enforces, so a tool generating requests
//! from it (schemathesis) has its valid requests accepted and its invalid ones rejected with
//! a 4xx. One constraint depends on the cluster: `r` and `w` are within `1..=n`, and `n` is a
//! hot setting. [`document`] therefore fills in each node's current `n` as their `maximum`
//! when `/openapi.json` is served; the rest is static.

use std::sync::OnceLock;

use axum::Json;
use axum::extract::State;
use serde_json::Value;
use utoipa::OpenApi;

use super::{admin, dashboard, items};
use crate::node::Node;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ringkv",
        description = "A Dynamo-style, leaderless key/value store. Any node coordinates any \
            request. Errors are `{\"detail\": ...}` JSON. Writes return a causal context in \
            `X-Context`; send it back to supersede what you read. Concurrent writes become \
            siblings (300) until a write with their context resolves them."
    ),
    paths(
        items::put_item,
        items::get_item,
        items::delete_item,
        items::append_item,
        items::list_items,
        admin::healthcheck,
        admin::get_peers,
        admin::join,
        admin::leave,
        admin::peers_healthcheck,
        admin::get_config,
        admin::put_config,
        admin::metrics,
        dashboard::page,
    ),
    components(schemas(
        super::ErrorBody,
        items::WriteBodyDoc,
        items::AppendBodyDoc,
        items::ItemDoc,
        items::ValueDoc,
        items::SiblingsDoc,
        items::NotFoundDoc,
        super::history::PastValue,
        items::ListDoc,
        items::ListItemDoc,
        admin::HealthOut,
        admin::PeersOut,
        super::docs::JoinDoc,
        super::docs::ConfigPatchDoc,
        crate::config::Config,
    )),
    tags(
        (name = "items", description = "Keys and values"),
        (name = "cluster", description = "Membership, configuration and operations"),
    )
)]
pub struct ApiDoc;

/// The document with `maximum: n` on every `r` and `w` query parameter.
pub fn document(n: usize) -> Value {
    static STATIC: OnceLock<Value> = OnceLock::new();
    let mut doc = STATIC
        .get_or_init(|| serde_json::to_value(ApiDoc::openapi()).unwrap_or_default())
        .clone();
    let operations = doc["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|path| path.values_mut());
    for operation in operations {
        // `get_mut`, not indexing: `value[key]` on a missing key would insert a null.
        let params = operation
            .get_mut("parameters")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten();
        for param in params {
            let quorum = param["in"] == "query" && (param["name"] == "r" || param["name"] == "w");
            if quorum && param["schema"].is_object() {
                param["schema"]["maximum"] = n.into();
            }
        }
    }
    let schemas = &mut doc["components"]["schemas"];
    schemas["JoinDoc"]["properties"]["peer_url"]["pattern"] = super::docs::PEER_URL_PATTERN.into();
    // `Config` denies unknown keys when a config file is parsed, so its derived schema says
    // `additionalProperties: false`; as the base of `ConfigOut` (allOf Config + settings_version)
    // that would forbid `settings_version` itself. No request body uses `Config`.
    if let Some(config) = schemas["Config"].as_object_mut() {
        config.remove("additionalProperties");
    }
    doc
}

/// `GET /openapi.json`: [`document`] for this node's current replication factor.
pub async fn serve(State(node): State<std::sync::Arc<Node>>) -> Json<Value> {
    Json(document(node.n()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_every_public_route() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        let paths = doc["paths"].as_object().unwrap();
        for path in [
            "/items",
            "/items/{key}",
            "/items/{key}/append",
            "/healthcheck",
            "/peers",
            "/peers/healthcheck",
            "/peers/{id}",
            "/config",
            "/metrics",
            "/dashboard",
        ] {
            assert!(paths.contains_key(path), "{path} missing");
        }
        assert!(doc["paths"]["/items/{key}"]["get"]["responses"]["300"].is_object());
    }

    #[test]
    fn quorum_parameters_are_bounded_by_the_current_n() {
        let doc = document(5);
        let params = doc["paths"]["/items/{key}"]["put"]["parameters"]
            .as_array()
            .unwrap();
        let bounds: Vec<(String, Value, Value)> = params
            .iter()
            .filter(|p| p["in"] == "query" && p["name"] != "sloppy")
            .map(|p| {
                let s = &p["schema"];
                (
                    p["name"].as_str().unwrap().to_string(),
                    s["minimum"].clone(),
                    s["maximum"].clone(),
                )
            })
            .collect();
        assert_eq!(
            bounds,
            vec![
                ("r".to_string(), 1.into(), 5.into()),
                ("w".to_string(), 1.into(), 5.into())
            ]
        );
    }
}
