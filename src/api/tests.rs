//! Router tests: one real single-node stack (storage in a temp dir) driven with `oneshot`,
//! no sockets. Cluster behaviour is tested with real processes in `tests/`.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::config::Config;
use crate::node::Node;

struct Harness {
    app: Router,
    _node: Arc<Node>,
    _dir: tempfile::TempDir,
}

struct Answer {
    status: StatusCode,
    context: Option<String>,
    body: Value,
}

impl Harness {
    async fn new() -> Harness {
        Harness::with_secret(None).await
    }

    async fn with_secret(secret: Option<&str>) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            data_dir: Some(dir.path().to_path_buf()),
            max_value_bytes: 1000,
            cluster_secret: secret.map(str::to_string),
            ..Config::default()
        };
        config.resolve(1).unwrap();
        let (node, _) = crate::server::open_node(config).await.unwrap();
        Harness {
            app: super::router(node.clone()),
            _node: node,
            _dir: dir,
        }
    }

    async fn call(
        &self,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Answer {
        let mut req = Request::builder().method(method).uri(uri);
        if !body.is_empty()
            && !headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        {
            req = req.header("content-type", "application/json");
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let resp = self
            .app
            .clone()
            .oneshot(req.body(Body::from(body.to_string())).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let context = resp
            .headers()
            .get("x-context")
            .map(|v| v.to_str().unwrap().to_string());
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        Answer {
            status,
            context,
            body,
        }
    }

    async fn put(&self, key: &str, body: &str) -> Answer {
        self.call(Method::PUT, &format!("/items/{key}"), &[], body)
            .await
    }

    async fn get(&self, key: &str) -> Answer {
        self.call(Method::GET, &format!("/items/{key}"), &[], "")
            .await
    }
}

#[tokio::test]
async fn put_get_update_delete_round_trip_with_falsy_values() {
    let h = Harness::new().await;
    for (i, value) in ["0", "\"\"", "false", "null", "[]", "{}"]
        .iter()
        .enumerate()
    {
        let key = format!("falsy{i}");
        let created = h.put(&key, &format!("{{\"value\": {value}}}")).await;
        assert_eq!(created.status, StatusCode::CREATED);
        assert_eq!(
            created.body,
            json!({"key": key, "value": serde_json::from_str::<Value>(value).unwrap()})
        );
        assert!(created.context.is_some());
        let got = h.get(&key).await;
        assert_eq!(got.status, StatusCode::OK);
        assert_eq!(
            got.body,
            json!({"value": serde_json::from_str::<Value>(value).unwrap()})
        );
    }
    let big = r#"{"value": [123456789012345678901234567890, -1.0]}"#;
    assert_eq!(h.put("big", big).await.status, StatusCode::CREATED);
    let raw = h
        .app
        .clone()
        .oneshot(Request::get("/items/big").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let text = raw.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        &text[..],
        br#"{"value":[123456789012345678901234567890,-1.0]}"#
    );
    assert_eq!(
        h.put("this%20is%20key", r#"{"value": 1}"#).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        h.put("this%20is%20key", r#"{"value": 2}"#).await.status,
        StatusCode::OK
    );
    assert_eq!(h.get("this%20is%20key").await.body, json!({"value": 2}));
    let deleted = h
        .call(Method::DELETE, "/items/this%20is%20key", &[], "")
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(h.get("this%20is%20key").await.status, StatusCode::NOT_FOUND);
    let again = h
        .call(Method::DELETE, "/items/this%20is%20key", &[], "")
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(
        h.put("this%20is%20key", r#"{"value": 3}"#).await.status,
        StatusCode::CREATED
    );
}

/// method, URI, headers, body, expected status.
type BadCase = (
    Method,
    String,
    Vec<(&'static str, &'static str)>,
    String,
    StatusCode,
);

#[tokio::test]
async fn bad_inputs_get_their_status_and_detail_and_store_nothing() {
    let h = Harness::new().await;
    let long_key = "k".repeat(1025);
    let mut cases: Vec<BadCase> = vec![
        (
            Method::PUT,
            "/items/bad".into(),
            vec![],
            "{not json".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PUT,
            "/items/bad".into(),
            vec![("content-type", "application/json")],
            "".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PUT,
            "/items/bad".into(),
            vec![],
            "[1]".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::PUT,
            "/items/bad".into(),
            vec![],
            r#"{"val": 1}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::PUT,
            "/items/bad".into(),
            vec![],
            r#"{"value": 1, "ttl": -5}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::PUT,
            "/items/bad?w=0".into(),
            vec![],
            r#"{"value": 1}"#.into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PUT,
            "/items/bad?w=4".into(),
            vec![],
            r#"{"value": 1}"#.into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PUT,
            "/items/bad".into(),
            vec![("x-context", "%%%")],
            r#"{"value": 1}"#.into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PUT,
            "/items/bad".into(),
            vec![("if-match", "\"etag\"")],
            r#"{"value": 1}"#.into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PUT,
            format!("/items/{long_key}"),
            vec![],
            r#"{"value": 1}"#.into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PUT,
            "/items/bad".into(),
            vec![],
            format!(r#"{{"value": "{}"}}"#, "x".repeat(1000)),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            Method::PUT,
            "/items/bad".into(),
            vec![],
            format!(r#"{{"value": "{}"}}"#, "x".repeat(100_000)),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            Method::PUT,
            "/items/bad".into(),
            vec![("if-match", "*")],
            r#"{"value": 1}"#.into(),
            StatusCode::PRECONDITION_FAILED,
        ),
        (
            Method::POST,
            "/items/bad/append".into(),
            vec![],
            r#"{"value"#.into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::GET,
            "/items/bad?r=abc".into(),
            vec![],
            "".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::GET,
            "/items?limit=1001".into(),
            vec![],
            "".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::GET,
            "/items?cursor=***".into(),
            vec![],
            "".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::GET,
            "/items/%FF".into(),
            vec![],
            "".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::GET,
            "/no/such/route".into(),
            vec![],
            "".into(),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::PATCH,
            "/items/bad".into(),
            vec![],
            "".into(),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            Method::PUT,
            "/config".into(),
            vec![],
            r#"{"quorum": {"w": 9}}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            "/peers".into(),
            vec![],
            r#"{"peer_url": "ftp://x"}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    cases.push((
        Method::DELETE,
        "/peers/nope".into(),
        vec![],
        String::new(),
        StatusCode::NOT_FOUND,
    ));
    let last = (
        Method::DELETE,
        "/peers/127.0.0.1:1".into(),
        vec![],
        String::new(),
        StatusCode::CONFLICT,
    );
    cases.push(last);
    for (method, uri, headers, body, status) in cases {
        let answer = h.call(method.clone(), &uri, &headers, &body).await;
        assert_eq!(answer.status, status, "{method} {uri} {body:.40}");
        assert!(
            answer.body["detail"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{method} {uri}: {:?}",
            answer.body
        );
    }
    assert_eq!(h.get("bad").await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        h.call(Method::GET, "/config", &[], "").await.body["quorum"]["w"],
        2
    );
}

#[tokio::test]
async fn stale_contexts_make_siblings_that_a_put_with_their_context_resolves() {
    let h = Harness::new().await;
    let first = h.put("cart", r#"{"value": 0}"#).await;
    let ctx = first.context.unwrap();
    for v in ["\"a\"", "\"b\""] {
        let answer = h
            .call(
                Method::PUT,
                "/items/cart",
                &[("x-context", &ctx)],
                &format!("{{\"value\": {v}}}"),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK);
    }
    let siblings = h.get("cart").await;
    assert_eq!(siblings.status, StatusCode::MULTIPLE_CHOICES);
    let mut values: Vec<String> = siblings.body["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.to_string())
        .collect();
    values.sort();
    assert_eq!(values, vec!["\"a\"", "\"b\""]);
    let conflict = h
        .call(Method::POST, "/items/cart/append", &[], r#"{"value": "c"}"#)
        .await;
    assert_eq!(conflict.status, StatusCode::CONFLICT);
    let body = format!(
        r#"{{"value": "ab", "context": "{}"}}"#,
        siblings.context.unwrap()
    );
    assert_eq!(h.put("cart", &body).await.status, StatusCode::OK);
    assert_eq!(h.get("cart").await.body, json!({"value": "ab"}));
    // Without a context, sequential writes supersede each other.
    h.put("cart", r#"{"value": 1}"#).await;
    h.put("cart", r#"{"value": 2}"#).await;
    assert_eq!(h.get("cart").await.body, json!({"value": 2}));
}

#[tokio::test]
async fn append_concatenates_pushes_and_rejects_other_pairs() {
    let h = Harness::new().await;
    let append = |key: &'static str, body: &'static str| {
        let h = &h;
        async move {
            h.call(Method::POST, &format!("/items/{key}/append"), &[], body)
                .await
        }
    };
    assert_eq!(
        append("s", r#"{"value": "ab"}"#).await.status,
        StatusCode::CREATED
    );
    let more = append("s", r#"{"value": "cd"}"#).await;
    assert_eq!(
        (more.status, more.body),
        (StatusCode::OK, json!({"key": "s", "value": "abcd"}))
    );
    assert_eq!(append("s", r#"{"value": ""}"#).await.body["value"], "abcd");
    append("a", r#"{"value": [1]}"#).await;
    assert_eq!(
        append("a", r#"{"value": {"x": 2}}"#).await.body["value"],
        json!([1, {"x": 2}])
    );
    assert_eq!(
        append("s", r#"{"value": 5}"#).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    h.put("n", r#"{"value": 5}"#).await;
    assert_eq!(
        append("n", r#"{"value": 5}"#).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(h.get("n").await.body, json!({"value": 5}));
}

#[tokio::test]
async fn list_pages_cover_every_live_key_once_in_order() {
    let h = Harness::new().await;
    let mut expected = Vec::new();
    for i in 0..250 {
        let key = format!("p{i:04}");
        h.put(&key, &format!("{{\"value\": {i}}}")).await;
        if i % 7 == 0 {
            h.call(Method::DELETE, &format!("/items/{key}"), &[], "")
                .await;
        } else {
            expected.push(key);
        }
    }
    h.put("other", r#"{"value": 0}"#).await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let uri = match &cursor {
            Some(c) => format!("/items?prefix=p&limit=40&cursor={c}"),
            None => "/items?prefix=p&limit=40".to_string(),
        };
        let page = h.call(Method::GET, &uri, &[], "").await;
        assert_eq!(page.status, StatusCode::OK);
        let items = page.body["items"].as_array().unwrap();
        assert!(items.len() <= 40);
        seen.extend(items.iter().map(|i| i["key"].as_str().unwrap().to_string()));
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn docs_and_openapi_are_served_from_the_binary() {
    let h = Harness::new().await;
    let doc = h.call(Method::GET, "/openapi.json", &[], "").await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(doc.body["paths"]["/items/{key}"].is_object());
    let ui = h
        .app
        .clone()
        .oneshot(Request::get("/docs/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(ui.status(), StatusCode::OK);
    let health = h.call(Method::GET, "/healthcheck", &[], "").await;
    assert_eq!(health.body["status"], "ok");
    let metrics = h
        .app
        .clone()
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let text = metrics.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&text).contains("ringkv_http_requests_total"));
}

#[tokio::test]
async fn a_cluster_secret_guards_internal_routes_and_admin_writes() {
    let h = Harness::with_secret(Some("s3cret")).await;
    let patch = r#"{"quorum": {"w": 1}}"#;
    for secret in [None, Some("wrong"), Some("s3cre")] {
        let headers: Vec<(&str, &str)> = secret
            .map(|s| ("x-cluster-secret", s))
            .into_iter()
            .collect();
        let config = h.call(Method::PUT, "/config", &headers, patch).await;
        assert_eq!(config.status, StatusCode::UNAUTHORIZED, "{secret:?}");
        assert!(config.body["detail"].is_string());
        let internal = h.call(Method::POST, "/internal/read", &headers, "k").await;
        assert_eq!(internal.status, StatusCode::UNAUTHORIZED);
        let leave = h.call(Method::DELETE, "/peers/x", &headers, "").await;
        assert_eq!(leave.status, StatusCode::UNAUTHORIZED);
    }
    let ok = h
        .call(
            Method::PUT,
            "/config",
            &[("x-cluster-secret", "s3cret")],
            patch,
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert!(
        ok.body.get("cluster_secret").is_none(),
        "the secret is never shown"
    );
    assert_eq!(
        h.put("k", r#"{"value": 1}"#).await.status,
        StatusCode::CREATED,
        "the API stays open"
    );
    assert_eq!(
        h.call(Method::GET, "/peers", &[], "").await.status,
        StatusCode::OK
    );
}
