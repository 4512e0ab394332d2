//! The context-less PUT's second round, reached on purpose: on a 3-node cluster (N=3, R=W=2,
//! hinted handoff off so nothing repairs the replica behind the test's back), a replica is down
//! while a write goes by, comes back with its old copy, and a context-less PUT through it:
//! its own copy is stale, so the acks of the others report a version it had not seen, and the
//! write must supersede that too. It answers 200 (the key had a value) and leaves exactly one
//! value on every node, never siblings.

mod common;

use common::Cluster;
use serde_json::json;

#[test]
fn a_context_less_put_through_a_stale_replica_answers_200_and_leaves_one_value() {
    let mut cluster = Cluster::builder(3)
        .quorum(3, 2, 2)
        .set("hinted_handoff.enabled", false)
        .start();
    let url = cluster.nodes[0].item("cart", "?w=3");
    cluster
        .http
        .json("PUT", &url, &[], &json!({"value": "v1"}))
        .expect(201);

    cluster.nodes[2].kill();
    cluster.nodes[0].put("cart", json!("v2")).expect(200);
    cluster.nodes[2].restart();
    cluster.wait_for_membership();
    // Node 2 holds v1, a stale copy (any read through it now would repair it: not done).
    let resp = cluster.nodes[2].put("cart", json!("v3"));
    assert_eq!(
        resp.status, 200,
        "PUT through the stale replica: {}",
        resp.body
    );
    assert_eq!(resp.json(), json!({"key": "cart", "value": "v3"}));
    cluster.assert_one_value_everywhere("cart", &json!("v3"));
}
