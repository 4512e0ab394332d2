//! What schemathesis (`--checks all`, see scripts/schemathesis.sh) found against `/openapi.json`,
//! kept as regressions against one real node: the document states the constraints the server
//! enforces (`r`/`w` within 1..=n with n filled in, `limit` 1..=1000, key length, the peer URL
//! pattern, non-null config sections, no `"parameters": null`), requests the document calls
//! valid are accepted, and a well-formed but unreachable peer is a 4xx, not a 502.

mod common;

use common::Cluster;
use serde_json::{Value, json};

fn query_schema(doc: &Value, path: &str, method: &str, name: &str) -> Value {
    doc["paths"][path][method]["parameters"]
        .as_array()
        .unwrap_or_else(|| panic!("{method} {path} has no parameters"))
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{method} {path} has no parameter {name}"))["schema"]
        .clone()
}

#[test]
fn the_document_states_what_the_server_enforces() {
    let cluster = Cluster::builder(1).quorum(3, 2, 2).start();
    let node = &cluster.nodes[0];
    let doc = cluster
        .http
        .get(&node.at("/openapi.json"))
        .expect(200)
        .json();
    for (path, method) in [
        ("/items/{key}", "put"),
        ("/items/{key}", "get"),
        ("/items/{key}", "delete"),
        ("/items/{key}/append", "post"),
    ] {
        for name in ["r", "w"] {
            let s = query_schema(&doc, path, method, name);
            assert_eq!(
                (s["minimum"].clone(), s["maximum"].clone()),
                (json!(1), json!(3))
            );
        }
        let key = query_schema(&doc, path, method, "key");
        assert_eq!(
            (key["minLength"].clone(), key["maxLength"].clone()),
            (json!(1), json!(1024))
        );
    }
    // Idempotency-Key on every write, ?history on reads, with their bounds.
    for (path, method) in [
        ("/items/{key}", "put"),
        ("/items/{key}", "delete"),
        ("/items/{key}/append", "post"),
    ] {
        let token = query_schema(&doc, path, method, "Idempotency-Key");
        assert_eq!(
            (token["minLength"].clone(), token["maxLength"].clone()),
            (json!(1), json!(255)),
            "{method} {path}"
        );
    }
    let history = query_schema(&doc, "/items/{key}", "get", "history");
    assert_eq!(history["maximum"], json!(1000));
    let get = &doc["paths"]["/items/{key}"]["get"]["responses"];
    for status in ["200", "300", "404"] {
        let examples = &get[status]["content"]["application/json"]["examples"];
        assert!(
            examples.as_object().is_some_and(|e| e.len() == 2),
            "{status}: {examples}"
        );
    }
    let limit = query_schema(&doc, "/items", "get", "limit");
    assert_eq!(
        (limit["minimum"].clone(), limit["maximum"].clone()),
        (json!(1), json!(1000))
    );
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["JoinDoc"]["properties"]["peer_url"]["pattern"].is_string());
    let quorum = &schemas["ConfigPatchDoc"]["properties"]["quorum"];
    assert!(
        !quorum.to_string().contains("null"),
        "sections are objects, never null: {quorum}"
    );
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let params = op.get("parameters");
            assert!(
                params.is_none_or(Value::is_array),
                "{method} {path}: {params:?}"
            );
        }
    }
    // Query parameters are documented as such (were "in": "path", required).
    for (path, method, name) in [
        ("/healthcheck", "get", "ready"),
        ("/peers/{id}", "delete", "force"),
    ] {
        let param = doc["paths"][path][method]["parameters"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == name).cloned())
            .unwrap_or_else(|| panic!("{method} {path}: no {name}"));
        assert_eq!(
            (param["in"].clone(), param["required"].clone()),
            (json!("query"), json!(false))
        );
    }
    // GET /config answers `settings_version` beside the config; the schema must allow it.
    assert!(
        schemas["Config"].get("additionalProperties").is_none(),
        "{}",
        schemas["Config"]
    );
    // The maximum follows the hot setting.
    let patch = json!({"quorum": {"n": 5}});
    cluster
        .http
        .json("PUT", &node.at("/config"), &[], &patch)
        .expect(200);
    let doc = cluster
        .http
        .get(&node.at("/openapi.json"))
        .expect(200)
        .json();
    assert_eq!(
        query_schema(&doc, "/items/{key}", "get", "r")["maximum"],
        json!(5)
    );
}

#[test]
fn schema_valid_requests_are_accepted_and_bad_peers_are_4xx() {
    let cluster = Cluster::builder(1).quorum(1, 1, 1).start();
    let node = &cluster.nodes[0];
    let http = &cluster.http;
    // `integer` admits 40428.0 (was 422).
    let body = json!({"value": [], "ttl": 40428.0, "context": null, "extra": 1});
    http.json("PUT", &node.item("t", ""), &[], &body)
        .expect(201);
    let patch = json!({"gossip": {"interval_ms": 1000.0}});
    http.json("PUT", &node.at("/config"), &[], &patch)
        .expect(200);
    // Any base64url cursor of a decodable length is a position (was 400 for trailing bits).
    http.get(&node.at("/items?cursor=yyLkEX&limit=1"))
        .expect(200);
    // Both preconditions at once can never hold: 412 like any failed precondition (was 400).
    let both = [("If-Match", "*"), ("If-None-Match", "*")];
    node.put_with("t", &json!(1), &both).expect_error(412);
    // ... but a malformed body is reported first (was 412 before the body was read).
    let mut headers = both.to_vec();
    headers.push(("content-type", "application/json"));
    http.raw(
        "PUT",
        &node.item("t", ""),
        &headers,
        Some(b"\xff{".to_vec()),
    )
    .expect_error(400);
    // ... and so is a made-up body context (was 412, and ignored beside an X-Context header).
    let made_up = json!({"value": 1, "context": "*"});
    http.json("PUT", &node.item("t", ""), &both, &made_up)
        .expect_error(400);
    let ctx = node.put("t", json!(2)).context().expect("X-Context");
    http.json("PUT", &node.item("t", ""), &[("X-Context", &ctx)], &made_up)
        .expect_error(400);
    // An empty precondition header names no condition (was 400 for a schema-valid request).
    let empty = [("If-Match", ""), ("If-None-Match", "")];
    node.put_with("e", &json!(1), &empty).expect(201);
    // The last member cannot leave: a state conflict, 409 (was 400).
    let own = http.get(&node.at("/healthcheck")).expect(200).json()["node_id"].clone();
    let own = common::encode(own.as_str().unwrap());
    http.raw("DELETE", &node.at(&format!("/peers/{own}")), &[], None)
        .expect_error(409);
    // Above OpenAPI's int64 (was accepted).
    let huge = json!({"versioning": {"max_siblings": 9_223_372_036_854_775_808_u64}});
    http.json("PUT", &node.at("/config"), &[], &huge)
        .expect_error(422);
    // Not a URL (was a 502 after trying to reach it), and a well-formed one where nothing
    // listens: 422 with a detail saying so.
    for peer in ["&À í", "K ", "a_b", "1.2.3.999"] {
        let resp = http.json("POST", &node.at("/peers"), &[], &json!({"peer_url": peer}));
        assert!(resp.expect_error(422).contains("peer_url"), "{peer}");
    }
    let closed = common::free_ports(1)[0];
    let resp = http.json(
        "POST",
        &node.at("/peers"),
        &[],
        &json!({"peer_url": format!("127.0.0.1:{closed}")}),
    );
    assert!(resp.expect_error(422).contains("cannot join"));
}
