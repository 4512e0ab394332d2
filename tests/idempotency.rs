//! Idempotent retries (`Idempotency-Key`) on a 3-node cluster (N=3, R=2, W=2): an append sent
//! twice with one key through two different nodes is applied once and both answer the first
//! attempt's status and body; the same when the first coordinator is killed -9 after it sent
//! the write to the replicas but before it answered (the test-only fault hook
//! `RINGKV_FAULT_EXIT_AFTER_FANOUT`); a reused key with a different request answers 422; DELETE
//! twice with one key answers 204 twice.

mod common;

use common::{Cluster, DEADLINE, Node, Resp, wait_until};
use serde_json::{Value, json};

const FAULT: &str = "RINGKV_FAULT_EXIT_AFTER_FANOUT";

fn with_token(node: &Node, method: &str, path: &str, token: &str, body: Option<Value>) -> Resp {
    let url = node.at(path);
    let mut headers = vec![("idempotency-key", token)];
    match body {
        Some(b) => {
            headers.push(("content-type", "application/json"));
            node.http
                .raw(method, &url, &headers, Some(b.to_string().into_bytes()))
        }
        None => node.http.raw(method, &url, &headers, None),
    }
}

fn append(node: &Node, key: &str, token: &str, value: Value) -> Resp {
    let path = format!("/items/{}/append", common::encode(key));
    with_token(node, "POST", &path, token, Some(json!({ "value": value })))
}

#[test]
fn retries_with_one_key_are_applied_once_through_any_node() {
    let cluster = Cluster::builder(3).quorum(3, 2, 2).start();
    let [a, b, c] = &cluster.nodes[..] else {
        unreachable!()
    };

    // One append, sent twice through two nodes: applied once, the same answer twice.
    let first = append(a, "log", "t-1", json!("a")).expect(201);
    let again = append(b, "log", "t-1", json!("a")).expect(201);
    assert_eq!(first.json(), json!({"key": "log", "value": "a"}));
    assert_eq!(again.json(), first.json());
    let second = append(b, "log", "t-2", json!("b")).expect(200);
    assert_eq!(second.json(), json!({"key": "log", "value": "ab"}));
    let repeat = append(c, "log", "t-2", json!("b")).expect(200);
    assert_eq!(repeat.json(), json!({"key": "log", "value": "ab"}));
    cluster.assert_one_value_everywhere("log", &json!("ab"));

    // The same token with a different request: 422, nothing applied.
    let other = append(c, "log", "t-2", json!("c"));
    assert!(other.expect_error(422).contains("t-2"), "{}", other.body);
    let put = with_token(a, "PUT", "/items/log", "t-2", Some(json!({"value": "z"})));
    put.expect_error(422);
    cluster.assert_one_value_everywhere("log", &json!("ab"));

    // A PUT repeated answers the first attempt's 201, not 200.
    let body = json!({"value": {"n": 1}});
    with_token(a, "PUT", "/items/p", "t-3", Some(body.clone())).expect(201);
    let repeated = with_token(c, "PUT", "/items/p", "t-3", Some(body)).expect(201);
    assert_eq!(repeated.json(), json!({"key": "p", "value": {"n": 1}}));

    // DELETE twice with one token: 204 twice (without one, the second would be 404).
    with_token(b, "DELETE", "/items/p", "t-4", None).expect(204);
    with_token(c, "DELETE", "/items/p", "t-4", None).expect(204);
    a.get("p").expect_error(404);
    a.delete("p").expect_error(404);

    // A malformed token is a 400.
    with_token(a, "DELETE", "/items/log", "two words", None).expect_error(400);
}

#[test]
fn a_retry_after_the_first_coordinator_died_mid_write_is_applied_once() {
    let mut cluster = Cluster::builder(3).quorum(3, 2, 2).start();
    // Node 0 will kill itself (SIGKILL) after the fan-out of a write of `k9`, before answering.
    cluster.nodes[0].kill();
    cluster.nodes[0].restart_with_env(FAULT, "k9");
    cluster.wait_for_membership();
    append(&cluster.nodes[1], "k9", "t-0", json!(["first"])).expect(201);

    let url = cluster.nodes[0].at("/items/k9/append");
    let body = json!({"value": "second"}).to_string().into_bytes();
    let headers = [
        ("idempotency-key", "t-9"),
        ("content-type", "application/json"),
    ];
    let lost = cluster.nodes[0]
        .http
        .try_send("POST", &url, &headers, Some(body));
    assert!(
        lost.is_err(),
        "the coordinator answered: {:?}",
        lost.map(|r| r.body)
    );
    wait_until("node 0 exited", DEADLINE, || {
        match cluster.nodes[0].has_exited() {
            true => Ok(()),
            false => Err("still running".into()),
        }
    });
    // The write reached the replicas before the coordinator died.
    let [_, b, c] = &cluster.nodes[..] else {
        unreachable!()
    };
    assert_eq!(b.get_value("k9"), json!(["first", "second"]));

    // The client retries through another node: recognised, not appended again.
    let retry = append(b, "k9", "t-9", json!("second")).expect(200);
    assert_eq!(
        retry.json(),
        json!({"key": "k9", "value": ["first", "second"]})
    );
    let again = append(c, "k9", "t-9", json!("second")).expect(200);
    assert_eq!(again.json(), retry.json());
    for node in [b, c] {
        assert_eq!(
            node.get_value("k9"),
            json!(["first", "second"]),
            "{}",
            node.id
        );
    }
}
