//! A table of bad requests against one node (N=R=W=1, `max_value_bytes=1024`): each is answered with
//! its status (400 malformed, 404 unknown route, 405 wrong method, 413 too large, 422 wrong shape) and
//! a JSON body `{"detail": "..."}`, never a 500, HTML or plain text, and none of them stores anything:
//! afterwards the node lists exactly the keys written by the good requests, with their values.
//!
//! All rows run even if some fail; the test then reports every failing row at once.

mod common;

use common::{Cluster, encode};
use serde_json::json;

const MAX_VALUE_BYTES: usize = 1024;

struct Case {
    name: &'static str,
    method: &'static str,
    /// Path and query, appended to the node's URL.
    path: String,
    /// Content type of the body; `None` sends no content-type header.
    content_type: Option<&'static str>,
    headers: Vec<(&'static str, &'static str)>,
    body: Option<Vec<u8>>,
    /// Accepted statuses: one where API.md names it, several where it leaves a choice.
    statuses: &'static [u16],
}

fn case(name: &'static str, method: &'static str, path: impl Into<String>) -> Case {
    Case {
        name,
        method,
        path: path.into(),
        content_type: None,
        headers: Vec::new(),
        body: None,
        statuses: &[],
    }
}

impl Case {
    fn json(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.content_type = Some("application/json");
        self.body = Some(body.into());
        self
    }
    fn raw(mut self, content_type: Option<&'static str>, body: impl Into<Vec<u8>>) -> Self {
        self.content_type = content_type;
        self.body = Some(body.into());
        self
    }
    fn header(mut self, name: &'static str, value: &'static str) -> Self {
        self.headers.push((name, value));
        self
    }
    fn expect(mut self, statuses: &'static [u16]) -> Self {
        self.statuses = statuses;
        self
    }
}

fn cases() -> Vec<Case> {
    let too_big_value = json!({ "value": "x".repeat(MAX_VALUE_BYTES * 2) }).to_string();
    // Small enough to sit in socket buffers if the node answers before reading it all.
    let huge_body = json!({ "value": "y".repeat(64 * 1024) }).to_string();
    let long_key = encode(&"k".repeat(1025));
    let long_utf8_key = encode(&"é".repeat(513));
    vec![
        // Malformed bodies: 400.
        case("truncated JSON", "PUT", "/items/b1")
            .json(r#"{"value": "#)
            .expect(&[400]),
        case("not JSON", "PUT", "/items/b2")
            .json("value=1")
            .expect(&[400]),
        case("empty body", "PUT", "/items/b3")
            .json("")
            .expect(&[400]),
        case("trailing garbage", "PUT", "/items/b4")
            .json(r#"{"value": 1} x"#)
            .expect(&[400]),
        case("invalid UTF-8 body", "PUT", "/items/b5")
            .json(b"{\"value\": \"\xff\xfe\"}".to_vec())
            .expect(&[400]),
        // A JSON body without the JSON content type (NODE_CONTRACT: "wrong content type").
        case("no content type", "PUT", "/items/b6")
            .raw(None, r#"{"value": 1}"#)
            .expect(&[400, 415]),
        case("form content type (curl -d)", "PUT", "/items/b7")
            .raw(Some("application/x-www-form-urlencoded"), r#"{"value": 1}"#)
            .expect(&[400, 415]),
        // Well-formed JSON of the wrong shape: 422.
        case("no value", "PUT", "/items/s1")
            .json("{}")
            .expect(&[422]),
        case("array body", "PUT", "/items/s2")
            .json("[1, 2]")
            .expect(&[422]),
        case("string body", "PUT", "/items/s3")
            .json(r#""value""#)
            .expect(&[422]),
        case("null body", "PUT", "/items/s4")
            .json("null")
            .expect(&[422]),
        case("misspelt value", "PUT", "/items/s5")
            .json(r#"{"valeu": 1}"#)
            .expect(&[422]),
        case("ttl as string", "PUT", "/items/s6")
            .json(r#"{"value": 1, "ttl": "10"}"#)
            .expect(&[422]),
        case("negative ttl", "PUT", "/items/s7")
            .json(r#"{"value": 1, "ttl": -5}"#)
            .expect(&[422]),
        case("context as number", "PUT", "/items/s8")
            .json(r#"{"value": 1, "context": 5}"#)
            .expect(&[422]),
        case("append without value", "POST", "/items/s9/append")
            .json(r#"{"ttl": 5}"#)
            .expect(&[422]),
        case("append truncated JSON", "POST", "/items/s10/append")
            .json(r#"{"value"#)
            .expect(&[400]),
        // Bad contexts: 400 (opaque strings the node did not produce).
        case("garbage context in body", "PUT", "/items/c1")
            .json(r#"{"value": 1, "context": "%%% not a context %%%"}"#)
            .expect(&[400, 422]),
        case("garbage X-Context", "PUT", "/items/c2")
            .json(r#"{"value": 1}"#)
            .header("X-Context", "%%% not a context %%%")
            .expect(&[400]),
        case("garbage X-Context on DELETE", "DELETE", "/items/existing")
            .header("X-Context", "!!!garbage!!!")
            .expect(&[400]),
        // Bad quorum parameters: 400.
        case("w=0", "PUT", "/items/q1?w=0")
            .json(r#"{"value": 1}"#)
            .expect(&[400]),
        case("w > n", "PUT", "/items/q2?w=2")
            .json(r#"{"value": 1}"#)
            .expect(&[400]),
        case("w not a number", "PUT", "/items/q3?w=two")
            .json(r#"{"value": 1}"#)
            .expect(&[400]),
        case("w negative", "PUT", "/items/q4?w=-1")
            .json(r#"{"value": 1}"#)
            .expect(&[400]),
        case("r=0", "GET", "/items/existing?r=0").expect(&[400]),
        case("r > n", "GET", "/items/existing?r=2").expect(&[400]),
        case("w=0 on DELETE", "DELETE", "/items/existing?w=0").expect(&[400]),
        case("w > n on append", "POST", "/items/q5/append?w=9")
            .json(r#"{"value": "a"}"#)
            .expect(&[400]),
        case("limit=0", "GET", "/items?limit=0").expect(&[400]),
        case("limit not a number", "GET", "/items?limit=many").expect(&[400]),
        // Too large: 413.
        case("value over max_value_bytes", "PUT", "/items/t1")
            .json(too_big_value.clone())
            .expect(&[413]),
        case("append over max_value_bytes", "POST", "/items/t2/append")
            .json(too_big_value)
            .expect(&[413]),
        case("64 KiB body", "PUT", "/items/t3")
            .json(huge_body)
            .expect(&[413]),
        // Bad keys.
        case("key of 1025 bytes", "PUT", format!("/items/{long_key}"))
            .json(r#"{"value": 1}"#)
            .expect(&[400, 414]),
        case(
            "key of 1026 UTF-8 bytes",
            "PUT",
            format!("/items/{long_utf8_key}"),
        )
        .json(r#"{"value": 1}"#)
        .expect(&[400, 414]),
        case("empty key", "PUT", "/items/")
            .json(r#"{"value": 1}"#)
            .expect(&[400, 404, 405]),
        case("key not UTF-8", "PUT", "/items/%FF%FE")
            .json(r#"{"value": 1}"#)
            .expect(&[400]),
        // Unknown routes and wrong methods.
        case("unknown route", "GET", "/nope").expect(&[404]),
        case("unknown sub-route", "GET", "/items/existing/nope").expect(&[404]),
        case("PATCH an item", "PATCH", "/items/existing")
            .json(r#"{"value": 2}"#)
            .expect(&[405]),
        case("POST an item", "POST", "/items/existing")
            .json(r#"{"value": 2}"#)
            .expect(&[405]),
        case("GET append", "GET", "/items/existing/append").expect(&[405]),
        case("DELETE the collection", "DELETE", "/items").expect(&[405]),
        case("PUT healthcheck", "PUT", "/healthcheck")
            .json("{}")
            .expect(&[405]),
    ]
}

#[test]
fn bad_requests_get_their_status_and_a_detail_and_store_nothing() {
    let cluster = Cluster::builder(1)
        .quorum(1, 1, 1)
        .set("max_value_bytes", MAX_VALUE_BYTES)
        .start();
    let node = &cluster.nodes[0];

    // Good requests around the table: what must be there afterwards.
    node.put("existing", json!({"keep": "me"})).expect(201);
    let near_limit = json!("z".repeat(MAX_VALUE_BYTES / 2));
    node.put("near-limit", near_limit.clone()).expect(201);
    let longest = "k".repeat(1024);
    node.put(&longest, json!(1024)).expect(201);

    let mut failures = Vec::new();
    for case in cases() {
        let mut headers = case.headers.clone();
        if let Some(ct) = case.content_type {
            headers.push(("content-type", ct));
        }
        let url = node.at(&case.path);
        let resp = match node
            .http
            .try_send(case.method, &url, &headers, case.body.clone())
        {
            Ok(resp) => resp,
            Err(e) => {
                failures.push(format!("{}: transport error {e}", case.name));
                continue;
            }
        };
        if !case.statuses.contains(&resp.status) {
            failures.push(format!(
                "{}: {} {} answered {} (want {:?}): {:.200}",
                case.name, case.method, case.path, resp.status, case.statuses, resp.body
            ));
            continue;
        }
        if let Err(why) = resp.check_error_body() {
            failures.push(format!("{}: {why}", case.name));
        }
    }

    // Nothing was stored by any bad request, and the good data is intact.
    let body = node
        .http
        .get(&node.at("/items?limit=1000"))
        .expect(200)
        .json();
    let keys: Vec<&str> = body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["key"].as_str().expect("key"))
        .collect();
    let mut want = vec!["existing", "near-limit", longest.as_str()];
    want.sort();
    if keys != want {
        failures.push(format!(
            "stored keys after the table: {keys:?}, want {want:?}"
        ));
    }
    assert_eq!(node.get_value("existing"), json!({"keep": "me"}));
    assert_eq!(node.get_value("near-limit"), near_limit);

    assert!(
        failures.is_empty(),
        "{} bad-input rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
