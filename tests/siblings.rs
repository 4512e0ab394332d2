//! Siblings on a 3-node cluster (N=3, R=W=2). Two writes carrying the same (stale) context through
//! different nodes are concurrent: every node then answers GET with 300 `{"values": [both]}` and an
//! `X-Context`, and lists the key as `{"key": K, "values": [...]}`. A PUT carrying that context
//! resolves them into one value on every node; a DELETE with that context, or without any, removes
//! them all.
//! Sequential writes without a context, through a mix of nodes, always leave exactly one value.

mod common;

use common::{Cluster, Node};
use serde_json::{Value, json};

/// GET answers 300 with exactly `{"values": [...]}`; returns the values sorted by their JSON text,
/// and the context.
#[track_caller]
fn siblings(node: &Node, key: &str) -> (Vec<Value>, String) {
    let resp = node.get(key);
    assert_eq!(resp.status, 300, "GET {key} via {}: {}", node.id, resp.body);
    let body = resp.json();
    let obj = body.as_object().expect("300 body is an object");
    assert_eq!(
        obj.len(),
        1,
        "300 body must be exactly {{\"values\": [...]}}: {body}"
    );
    let mut values = body["values"].as_array().expect("values array").clone();
    values.sort_by_key(Value::to_string);
    let ctx = resp.context().expect("300 carries X-Context");
    (values, ctx)
}

/// Makes `key` hold the two concurrent siblings `left` and `right`.
fn make_siblings(cluster: &Cluster, key: &str, left: Value, right: Value) {
    let [a, b, _] = &cluster.nodes[..] else {
        unreachable!()
    };
    let stale = a
        .put(key, json!("base"))
        .expect(201)
        .context()
        .expect("X-Context");
    a.put_with(key, &left, &[("X-Context", &stale)]).expect(200);
    b.put_with(key, &right, &[("X-Context", &stale)])
        .expect(200);
}

#[test]
fn concurrent_writes_become_siblings_and_a_put_with_their_context_resolves_them() {
    let cluster = Cluster::builder(3).quorum(3, 2, 2).start();
    make_siblings(&cluster, "fork", json!("left"), json!({"right": [0, null]}));

    let mut context = String::new();
    for node in &cluster.nodes {
        let (values, ctx) = siblings(node, "fork");
        assert_eq!(
            values,
            vec![json!("left"), json!({"right": [0, null]})],
            "via {}",
            node.id
        );
        context = ctx;
    }

    // The list shows the siblings too.
    let listed = cluster
        .http
        .get(&cluster.nodes[2].at("/items?prefix=fork"))
        .expect(200)
        .json();
    let items = listed["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{listed}");
    assert_eq!(items[0]["key"], json!("fork"));
    let mut listed_values = items[0]["values"]
        .as_array()
        .expect("values in the list")
        .clone();
    listed_values.sort_by_key(Value::to_string);
    assert_eq!(
        listed_values,
        vec![json!("left"), json!({"right": [0, null]})]
    );

    // Resolve with the 300's context through the third node.
    let resolved = cluster.nodes[2].put_with("fork", &json!("merged"), &[("X-Context", &context)]);
    assert_eq!(resolved.status, 200, "{}", resolved.body);
    assert_eq!(resolved.json(), json!({"key": "fork", "value": "merged"}));
    for node in &cluster.nodes {
        assert_eq!(node.get_value("fork"), json!("merged"), "via {}", node.id);
    }
}

#[test]
fn a_delete_with_the_300_context_removes_every_sibling() {
    let cluster = Cluster::builder(3).quorum(3, 2, 2).start();
    make_siblings(&cluster, "fork-del", json!(1), json!(2));
    let (_, context) = siblings(&cluster.nodes[1], "fork-del");
    let url = cluster.nodes[2].item("fork-del", "");
    cluster
        .http
        .raw("DELETE", &url, &[("X-Context", &context)], None)
        .expect(204);
    for node in &cluster.nodes {
        node.get("fork-del").expect_error(404);
    }
}

#[test]
fn falsy_siblings_are_kept_and_a_delete_without_context_removes_them_all() {
    let cluster = Cluster::builder(3).quorum(3, 2, 2).start();
    make_siblings(&cluster, "falsy-fork", json!(null), json!(false));
    for node in &cluster.nodes {
        let (values, _) = siblings(node, "falsy-fork");
        assert_eq!(values, vec![json!(false), json!(null)], "via {}", node.id);
    }
    cluster.nodes[2].delete("falsy-fork").expect(204);
    for node in &cluster.nodes {
        node.get("falsy-fork").expect_error(404);
    }
}

#[test]
fn sequential_writes_without_context_through_mixed_nodes_leave_one_value() {
    let cluster = Cluster::builder(3).quorum(3, 2, 2).start();
    for i in 0..30 {
        let writer = &cluster.nodes[i % 3];
        let resp = writer.put("seq", json!(i));
        let want = if i == 0 { 201 } else { 200 };
        assert_eq!(
            resp.status, want,
            "write {i} via {}: {}",
            writer.id, resp.body
        );
        let reader = &cluster.nodes[(i * 7 + 1) % 3];
        assert_eq!(
            reader.get_value("seq"),
            json!(i),
            "after write {i}, via {}",
            reader.id
        );
    }
    for node in &cluster.nodes {
        assert_eq!(node.get_value("seq"), json!(29), "via {}", node.id);
    }
}

#[test]
fn many_concurrent_writes_with_one_context_all_survive_as_siblings() {
    const WRITERS: usize = 12;
    let cluster = Cluster::builder(3).quorum(3, 2, 2).start();
    let base = cluster.nodes[0].put("crowd", json!("base")).expect(201);
    let stale = base.context().expect("X-Context");

    // Every writer descends from the same context, so none covers another: on every replica each
    // read-merge-write must keep all of them, including writes racing on one coordinator.
    std::thread::scope(|scope| {
        for i in 0..WRITERS {
            let (node, stale) = (&cluster.nodes[i % 3], &stale);
            scope.spawn(move || {
                let resp = node.put_with("crowd", &json!(i), &[("X-Context", stale)]);
                assert_eq!(
                    resp.status, 200,
                    "writer {i} via {}: {}",
                    node.id, resp.body
                );
            });
        }
    });
    let mut want: Vec<Value> = (0..WRITERS).map(|i| json!(i)).collect();
    want.sort_by_key(Value::to_string);
    for node in &cluster.nodes {
        let (values, _) = siblings(node, "crowd");
        assert_eq!(values, want, "siblings via {}", node.id);
    }
}

/// A write carrying a context, coordinated by a replica that missed the write the context came
/// from, answers 200: the key had a live value on the replicas that acked, even if not on the
/// coordinator's own copy. (It answered 201 from the coordinator's copy alone; under concurrent
/// writes right after a create, `many_concurrent_writes_with_one_context_all_survive_as_siblings`
/// saw that now and then.) And a key whose last acknowledged write was a delete is still
/// created (201) through such a replica.
#[test]
fn a_write_through_a_replica_that_missed_the_key_says_it_updated() {
    let mut cluster = Cluster::builder(3)
        .quorum(3, 2, 2)
        .set("hinted_handoff.enabled", false)
        .set("anti_entropy.interval_ms", 3_600_000)
        .start();
    cluster.nodes[2].kill();
    let base = cluster.nodes[0].put("lagged", json!("base")).expect(201);
    let ctx = base.context().expect("X-Context");
    let gone = cluster.nodes[0].put("gone", json!("old")).expect(201);
    let gone_ctx = gone.context().expect("X-Context");
    let deleted = cluster.http.raw(
        "DELETE",
        &cluster.nodes[0].item("gone", ""),
        &[("X-Context", &gone_ctx)],
        None,
    );
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    cluster.nodes[2].restart();
    cluster.wait_for_membership();

    let resp = cluster.nodes[2].put_with("lagged", &json!("next"), &[("X-Context", &ctx)]);
    assert_eq!(
        resp.status, 200,
        "via the replica that missed it: {}",
        resp.body
    );
    assert_eq!(cluster.nodes[0].get_value("lagged"), json!("next"));

    let resp = cluster.nodes[2].put_with("gone", &json!("again"), &[("X-Context", &gone_ctx)]);
    assert_eq!(
        resp.status, 201,
        "after an acknowledged delete: {}",
        resp.body
    );
}
