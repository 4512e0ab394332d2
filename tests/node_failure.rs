//! Node failures on a 3-node cluster (N=3, R=W=2), with real `kill -9`:
//! - one node down: reads and writes through the two others keep succeeding;
//! - the killed node restarted with the same data dir and node id still has every write it
//!   acknowledged (shown by reading it alone, `r=1`, once the two others are down);
//! - two nodes down: a write needing W=2 gets 503 with the `detail` "write quorum not reached: 1 of
//!   3 replicas answered in time, 2 needed", a read needing R=2 the same for the read, and `w=1` /
//!   `r=1` requests succeed;
//! - a node restarted on another port (same data dir and id) is found at its new URL by the others.

mod common;

use common::Cluster;
use serde_json::json;

#[test]
fn the_cluster_survives_node_failures_and_a_restarted_node_keeps_its_data() {
    let mut cluster = Cluster::builder(3).quorum(3, 2, 2).start();
    let http = cluster.http.clone();

    // Acknowledged by all three replicas.
    for i in 0..20 {
        let node = &cluster.nodes[i % 3];
        let url = node.item(&format!("before/{i}"), "?w=3");
        http.json("PUT", &url, &[], &json!({ "value": i }))
            .expect(201);
    }

    cluster.nodes[2].kill();
    for i in 0..20 {
        let (writer, reader) = (&cluster.nodes[i % 2], &cluster.nodes[(i + 1) % 2]);
        assert_eq!(reader.get_value(&format!("before/{i}")), json!(i));
        writer.put(&format!("during/{i}"), json!(i)).expect(201);
        assert_eq!(reader.get_value(&format!("during/{i}")), json!(i));
        writer
            .put(&format!("before/{i}"), json!(i + 100))
            .expect(200);
        assert_eq!(reader.get_value(&format!("before/{i}")), json!(i + 100));
    }

    // Node 2 comes back with its data dir, its id, and the membership it persisted.
    cluster.nodes[2].restart();
    cluster.wait_for_membership();

    // Only node 2 is left: what it acknowledged before the kill is on its disk.
    cluster.nodes[0].kill();
    cluster.nodes[1].kill();
    let survivor = &cluster.nodes[2];
    for i in 0..20 {
        let resp = http.get(&survivor.item(&format!("before/{i}"), "?r=1"));
        assert_eq!(
            resp.status, 200,
            "before/{i} on the restarted node: {}",
            resp.body
        );
        // It holds the value it acknowledged, or the update made while it was down if hinted
        // handoff or read repair already brought it.
        let value = resp.json();
        assert!(
            value == json!({ "value": i }) || value == json!({ "value": i + 100 }),
            "before/{i} on the restarted node: {value}"
        );
    }

    // Two of three replicas down.
    survivor
        .put("two-down", json!("w2"))
        .expect_quorum_error("write", 1, 3, 2);
    survivor
        .get("before/0")
        .expect_quorum_error("read", 1, 3, 2);

    // A fresh key: the failed write above may have left a version on the survivor.
    let url = survivor.item("one-down-enough", "?w=1");
    http.json("PUT", &url, &[], &json!({"value": "w1"}))
        .expect(201);
    let body = http
        .get(&survivor.item("one-down-enough", "?r=1"))
        .expect(200)
        .json();
    assert_eq!(body, json!({"value": "w1"}));
}

#[test]
fn a_node_restarted_on_a_new_port_is_found_at_its_new_url() {
    let mut cluster = Cluster::builder(3)
        .quorum(3, 2, 2)
        .set("gossip.interval_ms", 200)
        .start();
    let url = cluster.nodes[0].item("moved", "?w=3");
    cluster
        .http
        .json("PUT", &url, &[], &json!({"value": 1}))
        .expect(201);
    let old_url = cluster.nodes[2].url.clone();
    cluster.nodes[2].kill();
    cluster.nodes[2].restart_on_new_port();
    assert_ne!(cluster.nodes[2].url, old_url);
    cluster.wait_for_membership();

    // Writes reach it at its new address: with the other two down it alone answers.
    let url = cluster.nodes[1].item("after-move", "?w=3");
    cluster
        .http
        .json("PUT", &url, &[], &json!({"value": 2}))
        .expect(201);
    cluster.nodes[0].kill();
    cluster.nodes[1].kill();
    let moved = &cluster.nodes[2];
    for (key, value) in [("moved", 1), ("after-move", 2)] {
        let body = cluster
            .http
            .get(&moved.item(key, "?r=1"))
            .expect(200)
            .json();
        assert_eq!(body, json!({ "value": value }), "{key} on the moved node");
    }
}
