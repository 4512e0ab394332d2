//! Writes on both sides of a partition are kept as siblings, never silently dropped (API.md). The
//! partition is made with real kills on a 3-node cluster (N=3, R=W=2): node0 alone takes a `w=1`
//! write; then node0 is down and node1+node2 take another one, without context. Once all are back,
//! a read of all replicas (`r=3`) through every node answers 300 with both values; a PUT with that
//! context and `w=3` resolves them on every replica.

mod common;

use common::Cluster;
use serde_json::{Value, json};

#[test]
fn writes_on_both_sides_of_a_partition_become_siblings() {
    let mut cluster = Cluster::builder(3).quorum(3, 2, 2).start();
    let http = cluster.http.clone();
    let put = |node: &common::Node, query: &str, value: Value| {
        let url = node.item("split", query);
        http.json("PUT", &url, &[], &json!({ "value": value }))
    };
    put(&cluster.nodes[0], "?w=3", json!("before")).expect(201);

    // Side A: node0 alone.
    cluster.nodes[1].kill();
    cluster.nodes[2].kill();
    put(&cluster.nodes[0], "?w=1", json!("side A")).expect(200);

    // Side B: node1 and node2, without node0.
    cluster.nodes[0].kill();
    cluster.nodes[1].restart();
    cluster.nodes[2].restart();
    put(&cluster.nodes[1], "?w=2", json!("side B")).expect(200);

    cluster.restart_all();
    let mut context = String::new();
    for node in &cluster.nodes {
        let resp = http.get(&node.item("split", "?r=3"));
        assert_eq!(resp.status, 300, "r=3 via {}: {}", node.id, resp.body);
        let mut values = resp.json()["values"].as_array().expect("values").clone();
        values.sort_by_key(Value::to_string);
        assert_eq!(
            values,
            vec![json!("side A"), json!("side B")],
            "via {}",
            node.id
        );
        context = resp.context().expect("X-Context");
    }

    let url = cluster.nodes[2].item("split", "?w=3");
    http.json(
        "PUT",
        &url,
        &[("X-Context", &context)],
        &json!({"value": "healed"}),
    )
    .expect(200);
    for node in &cluster.nodes {
        let body = http.get(&node.item("split", "?r=1")).expect(200).json();
        assert_eq!(body, json!({"value": "healed"}), "r=1 via {}", node.id);
    }
}
