//! `PUT /items/{key}` and `GET /items/{key}` as API.md states them, on a 3-node cluster (N=3, R=W=2):
//! 201 on create and 200 on update, both with exactly `{"key": K, "value": V}`; GET with exactly
//! `{"value": V}`; `X-Context` on PUT and GET answers; a context sent back in the header or the body;
//! 404 with a `detail` for an absent key; JSON values (the falsy ones included, and integers too
//! big for 64 bits) round-trip exactly through every node; equivalent path encodings (`%c3%a9` and
//! `é`, `%41` and `A`) name the same key and `+` is a plus; keys with spaces, slashes, `%`, `?`, `#` and non-ASCII characters are distinct
//! keys that round-trip exactly.

mod common;

use common::{Cluster, Node};
use serde_json::{Value, json};

fn cluster() -> Cluster {
    Cluster::builder(3).quorum(3, 2, 2).start()
}

/// A PUT answer must be `{"key": key, "value": value}` exactly, with an `X-Context` header.
#[track_caller]
fn assert_put_body(resp: &common::Resp, key: &str, value: &Value) {
    assert_eq!(resp.json(), json!({"key": key, "value": value}), "PUT body");
    let ctx = resp.context().expect("PUT answer carries X-Context");
    assert!(!ctx.is_empty(), "X-Context is empty");
}

#[test]
fn create_is_201_update_is_200_and_get_is_exactly_the_value() {
    let cluster = cluster();
    let node = &cluster.nodes[0];

    let absent = node.get("nothing-here");
    let detail = absent.expect_error(404);
    assert!(!detail.is_empty());

    let created = node.put("k", json!("v1")).expect(201);
    assert_put_body(&created, "k", &json!("v1"));

    let read = node.get("k").expect(200);
    assert_eq!(read.json(), json!({"value": "v1"}));
    assert!(read.context().is_some(), "GET 200 carries X-Context");

    let updated = cluster.nodes[1].put("k", json!(["v2"])).expect(200);
    assert_put_body(&updated, "k", &json!(["v2"]));
    for node in &cluster.nodes {
        assert_eq!(node.get_value("k"), json!(["v2"]), "via {}", node.id);
    }
}

#[test]
fn json_values_including_falsy_ones_round_trip_exactly_on_every_node() {
    let cluster = cluster();
    let values = [
        json!(0),
        json!(""),
        json!(false),
        json!(null),
        json!([]),
        json!({}),
        json!(-17),
        json!(1.5),
        json!(18_446_744_073_709_551_615_u64),
        json!(true),
        json!("naïve 🚀 \"quoted\" \\ back\nslash \u{0}"),
        json!({"value": null, "nested": [0, "", false, null, [], {}]}),
        json!([[[]], {"a": {"b": {"c": [1, 2, 3]}}}]),
    ];
    for (i, value) in values.iter().enumerate() {
        let key = format!("value-{i}");
        let writer = &cluster.nodes[i % 3];
        let resp = writer.put(&key, value.clone());
        assert_eq!(
            resp.status, 201,
            "PUT {value} via {}: {}",
            writer.id, resp.body
        );
        assert_put_body(&resp, &key, value);
        for node in &cluster.nodes {
            assert_eq!(&node.get_value(&key), value, "GET {key} via {}", node.id);
        }
    }

    // A falsy value is a live value: writing over it is an update (200), and the new falsy value wins.
    let falsy = [
        json!(null),
        json!(false),
        json!(0),
        json!(""),
        json!([]),
        json!({}),
    ];
    for (i, value) in falsy.iter().enumerate() {
        let resp = cluster.nodes[i % 3].put("falsy-chain", value.clone());
        let want = if i == 0 { 201 } else { 200 };
        assert_eq!(
            resp.status, want,
            "PUT {value} over a falsy value: {}",
            resp.body
        );
        for node in &cluster.nodes {
            assert_eq!(&node.get_value("falsy-chain"), value, "via {}", node.id);
        }
    }
}

#[test]
fn keys_with_spaces_slashes_and_non_ascii_round_trip_as_distinct_keys() {
    let cluster = cluster();
    let long_ascii = "k".repeat(1024);
    // 1024 bytes of two-byte characters: the limit is in bytes.
    let long_utf8 = "é".repeat(512);
    let keys = [
        "this is key",
        "clé d'été",
        "日本語のキー",
        "emoji 🚀 key",
        "a/b/c",
        "a%2Fb%2Fc",
        "percent%20literal",
        "percent literal",
        "question?mark=1&x=2",
        "hash#tag",
        "plus+sign",
        "quote\"s and 'single'",
        "tab\there",
        "  leading and trailing  ",
        // Precomposed and decomposed é: different UTF-8, different keys.
        "caf\u{e9}",
        "cafe\u{301}",
        long_ascii.as_str(),
        long_utf8.as_str(),
    ];
    for (i, key) in keys.iter().enumerate() {
        let resp = cluster.nodes[i % 3].put(key, json!(i));
        assert_eq!(resp.status, 201, "PUT key {key:?}: {}", resp.body);
        assert_put_body(&resp, key, &json!(i));
    }
    for (i, key) in keys.iter().enumerate() {
        for node in &cluster.nodes {
            assert_eq!(
                node.get_value(key),
                json!(i),
                "GET key {key:?} via {}",
                node.id
            );
        }
        let listed = list_prefix(&cluster.nodes[(i + 1) % 3], key);
        assert!(
            listed.contains(&json!({"key": key, "value": i})),
            "GET /items?prefix={key:?} lists {listed:?}"
        );
    }
    for (i, key) in keys.iter().enumerate() {
        cluster.nodes[i % 3].delete(key).expect(204);
        for node in &cluster.nodes {
            node.get(key).expect_error(404);
        }
    }
}

/// The items of the first page of `GET /items?prefix=P` (the prefix percent-encoded).
fn list_prefix(node: &Node, prefix: &str) -> Vec<Value> {
    let url = node.at(&format!("/items?prefix={}", common::encode(prefix)));
    let body = node.http.get(&url).expect(200).json();
    body["items"].as_array().expect("items array").clone()
}

#[test]
fn context_is_returned_and_accepted_in_header_and_body() {
    let cluster = cluster();
    let [a, b, c] = &cluster.nodes[..] else {
        unreachable!()
    };
    let ctx1 = a
        .put("ctx", json!(1))
        .expect(201)
        .context()
        .expect("X-Context");

    // Sent back in the header: an update of what it saw.
    let resp = cluster.http.json(
        "PUT",
        &b.item("ctx", ""),
        &[("X-Context", &ctx1)],
        &json!({"value": 2}),
    );
    assert_put_body(&resp.clone().expect(200), "ctx", &json!(2));

    // Sent back in the body, taken from a GET.
    let ctx2 = c.get("ctx").expect(200).context().expect("GET X-Context");
    let resp = cluster.http.json(
        "PUT",
        &c.item("ctx", ""),
        &[],
        &json!({"value": 3, "context": ctx2}),
    );
    assert_put_body(&resp.clone().expect(200), "ctx", &json!(3));

    for node in &cluster.nodes {
        assert_eq!(node.get_value("ctx"), json!(3), "via {}", node.id);
    }
}

#[test]
fn numbers_round_trip_digit_for_digit() {
    let cluster = cluster();
    // Integers beyond i64/u64 (seed 004's Python service keeps them exactly) and a float written
    // with a fractional part: a store that keeps the JSON text returns these digits.
    let numbers = [
        "123456789012345678901234567890",
        "-98765432109876543210",
        "1.0",
        "-0.5",
    ];
    for (i, number) in numbers.iter().enumerate() {
        let key = format!("number-{i}");
        let node = &cluster.nodes[i % 3];
        let body = format!(r#"{{"value": {number}}}"#);
        let headers = [("content-type", "application/json")];
        let resp = node.http.raw(
            "PUT",
            &node.item(&key, ""),
            &headers,
            Some(body.into_bytes()),
        );
        assert_eq!(resp.status, 201, "PUT {number}: {}", resp.body);
        for reader in &cluster.nodes {
            let got = reader.get(&key).expect(200).body;
            let compact: String = got.chars().filter(|c| !c.is_whitespace()).collect();
            assert_eq!(
                compact,
                format!(r#"{{"value":{number}}}"#),
                "GET {key} via {}",
                reader.id
            );
        }
    }
}

#[test]
fn equivalent_path_encodings_name_the_same_key() {
    let cluster = cluster();
    let http = &cluster.http;
    let node = &cluster.nodes[0];
    let headers = [("content-type", "application/json")];
    // (raw path segment as sent, the key it names)
    let cases = [
        ("caf%c3%a9-lower", "café-lower"),
        ("a+b", "a+b"),
        ("semi;colon", "semi;colon"),
        ("at@sign", "at@sign"),
        ("eq=sign&amp", "eq=sign&amp"),
        ("tilde~dash-dot.under_", "tilde~dash-dot.under_"),
        ("%41%42c", "ABc"),
    ];
    for (i, (raw, key)) in cases.iter().enumerate() {
        let url = node.at(&format!("/items/{raw}"));
        let body = format!(r#"{{"value": {i}}}"#).into_bytes();
        let resp = http.raw("PUT", &url, &headers, Some(body));
        assert_eq!(resp.status, 201, "PUT /items/{raw}: {}", resp.body);
        assert_eq!(
            resp.json()["key"],
            json!(key),
            "PUT /items/{raw} names {key:?}"
        );
        for reader in &cluster.nodes {
            assert_eq!(reader.get_value(key), json!(i), "{key:?} via {}", reader.id);
        }
    }
    // '+' in a path is a plus, not a space.
    node.get("a b").expect_error(404);
}
