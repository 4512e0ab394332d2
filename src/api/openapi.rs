//! The OpenAPI 3.1 document of the public API (`/openapi.json`, rendered at `/docs`).

use utoipa::OpenApi;

use super::{admin, items};

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
    ),
    components(schemas(
        super::ErrorBody,
        items::WriteBodyDoc,
        items::ItemDoc,
        items::ValueDoc,
        items::SiblingsDoc,
        items::ListDoc,
        items::ListItemDoc,
        admin::HealthOut,
        admin::PeersOut,
        admin::JoinDoc,
        admin::ConfigPatchDoc,
        crate::config::Config,
    )),
    tags(
        (name = "items", description = "Keys and values"),
        (name = "cluster", description = "Membership, configuration and operations"),
    )
)]
pub struct ApiDoc;

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
        ] {
            assert!(paths.contains_key(path), "{path} missing");
        }
        assert!(doc["paths"]["/items/{key}"]["get"]["responses"]["300"].is_object());
    }
}
