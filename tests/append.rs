//! `POST /items/{key}/append` on a 3-node cluster (N=3, R=W=2): string + string concatenates, array +
//! anything pushes (an array is pushed as one element), an absent or deleted key is created with the
//! value (201, like PUT), an empty string leaves a string unchanged; every other type pair is 422 with
//! a `detail` and leaves the stored value untouched. Answers are `{"key": K, "value": <new value>}`
//! and every node reads the result. Two appends racing through different nodes never lose one:
//! the result holds both elements, in one array or across siblings.

mod common;

use common::{Cluster, Node, Resp};
use serde_json::{Value, json};

fn append(node: &Node, key: &str, value: Value) -> Resp {
    let url = node.at(&format!("/items/{}/append", common::encode(key)));
    node.http
        .json("POST", &url, &[], &json!({ "value": value }))
}

#[track_caller]
fn assert_everywhere(cluster: &Cluster, key: &str, want: &Value) {
    for node in &cluster.nodes {
        assert_eq!(&node.get_value(key), want, "GET {key} via {}", node.id);
    }
}

#[test]
fn strings_concatenate_and_arrays_push() {
    let cluster = Cluster::builder(3).quorum(3, 2, 2).start();
    let [a, b, c] = &cluster.nodes[..] else {
        unreachable!()
    };

    a.put("s", json!("ab")).expect(201);
    let resp = append(b, "s", json!("cd")).expect(200);
    assert_eq!(resp.json(), json!({"key": "s", "value": "abcd"}));
    append(c, "s", json!("é🚀")).expect(200);
    append(a, "s", json!("")).expect(200);
    assert_everywhere(&cluster, "s", &json!("abcdé🚀"));

    a.put("arr", json!([1])).expect(201);
    let pushed = [
        json!(2),
        json!("three"),
        json!([4]),
        json!({"five": 5}),
        json!(null),
        json!(false),
    ];
    for (i, value) in pushed.iter().enumerate() {
        let resp = append(&cluster.nodes[i % 3], "arr", value.clone()).expect(200);
        assert_eq!(resp.json()["key"], json!("arr"));
    }
    assert_everywhere(
        &cluster,
        "arr",
        &json!([1, 2, "three", [4], {"five": 5}, null, false]),
    );

    a.put("empty-arr", json!([])).expect(201);
    let resp = append(b, "empty-arr", json!(0)).expect(200);
    assert_eq!(resp.json(), json!({"key": "empty-arr", "value": [0]}));
    assert_everywhere(&cluster, "empty-arr", &json!([0]));
}

#[test]
fn absent_and_deleted_keys_are_created_with_the_value() {
    let cluster = Cluster::builder(3).quorum(3, 2, 2).start();
    let [a, b, c] = &cluster.nodes[..] else {
        unreachable!()
    };

    let resp = append(a, "new-s", json!("hello")).expect(201);
    assert_eq!(resp.json(), json!({"key": "new-s", "value": "hello"}));
    assert!(resp.context().is_some(), "append answers carry X-Context");
    assert_everywhere(&cluster, "new-s", &json!("hello"));

    // An array appended to nothing is the value itself, not wrapped.
    append(b, "new-arr", json!([1, 2])).expect(201);
    assert_everywhere(&cluster, "new-arr", &json!([1, 2]));
    append(c, "new-arr", json!(3)).expect(200);
    assert_everywhere(&cluster, "new-arr", &json!([1, 2, 3]));

    append(a, "new-num", json!(0)).expect(201);
    assert_everywhere(&cluster, "new-num", &json!(0));

    a.put("was-deleted", json!("old")).expect(201);
    b.delete("was-deleted").expect(204);
    append(c, "was-deleted", json!("fresh")).expect(201);
    assert_everywhere(&cluster, "was-deleted", &json!("fresh"));
}

#[test]
fn other_type_pairs_are_422_and_change_nothing() {
    let cluster = Cluster::builder(3).quorum(3, 2, 2).start();
    let cases = [
        (json!(1), json!(2)),
        (json!(1.5), json!("x")),
        (json!("s"), json!(1)),
        (json!("s"), json!(["x"])),
        (json!("s"), json!({"x": 1})),
        (json!("s"), json!(null)),
        (json!({"a": 1}), json!({"b": 2})),
        (json!({"a": 1}), json!("x")),
        (json!(true), json!("x")),
        (json!(false), json!(false)),
        (json!(null), json!("x")),
        (json!(0), json!([1])),
    ];
    for (i, (stored, appended)) in cases.iter().enumerate() {
        let key = format!("pair-{i}");
        cluster.nodes[i % 3].put(&key, stored.clone()).expect(201);
        let resp = append(&cluster.nodes[(i + 1) % 3], &key, appended.clone());
        assert_eq!(
            resp.status, 422,
            "append {appended} to {stored}: {} {}",
            resp.status, resp.body
        );
        resp.error_detail();
        assert_everywhere(&cluster, &key, stored);
    }
}

#[test]
fn racing_appends_through_different_nodes_lose_nothing() {
    const ROUNDS: usize = 15;
    let cluster = Cluster::builder(3).quorum(3, 2, 2).start();
    for round in 0..ROUNDS {
        let key = format!("race-{round}");
        cluster.nodes[0].put(&key, json!([])).expect(201);
        std::thread::scope(|scope| {
            for side in 0..2 {
                let (node, key) = (&cluster.nodes[side + 1], &key);
                scope.spawn(move || {
                    let resp = append(node, key, json!(side));
                    assert_eq!(resp.status, 200, "append {side} to {key}: {}", resp.body);
                });
            }
        });
        let resp = cluster.nodes[round % 3].get(&key);
        let body = resp.json();
        let arrays: Vec<Value> = match resp.status {
            200 => vec![body["value"].clone()],
            300 => body["values"].as_array().expect("values").clone(),
            other => panic!("GET {key}: {other} {body}"),
        };
        let elements: Vec<&Value> = arrays
            .iter()
            .flat_map(|a| a.as_array().expect("array value").iter())
            .collect();
        for side in 0..2 {
            assert!(
                elements.contains(&&json!(side)),
                "{key}: the acknowledged append of {side} was lost: {body}"
            );
        }
    }
}
