//! Seed 004's flow on a 3-node cluster (N=3, R=2, W=2): a value PUT through one node is read back,
//! identical, through every node; an update through another node replaces it everywhere; a DELETE
//! through a third node makes it absent everywhere.

mod common;

use common::Cluster;
use serde_json::json;

#[test]
fn put_on_one_node_get_the_same_value_from_every_node() {
    let cluster = Cluster::builder(3).quorum(3, 2, 2).start();
    let [a, b, c] = &cluster.nodes[..] else {
        unreachable!()
    };

    let created = a.put("greeting", json!("hello")).expect(201);
    assert_eq!(created.json(), json!({"key": "greeting", "value": "hello"}));
    for node in &cluster.nodes {
        assert_eq!(
            node.get_value("greeting"),
            json!("hello"),
            "read via {}",
            node.id
        );
    }

    let updated = b
        .put("greeting", json!({"text": "bonjour", "n": 2}))
        .expect(200);
    assert_eq!(
        updated.json(),
        json!({"key": "greeting", "value": {"text": "bonjour", "n": 2}})
    );
    for node in &cluster.nodes {
        assert_eq!(
            node.get_value("greeting"),
            json!({"text": "bonjour", "n": 2}),
            "read via {}",
            node.id
        );
    }

    c.delete("greeting").expect(204);
    for node in &cluster.nodes {
        node.get("greeting").expect_error(404);
    }
}
