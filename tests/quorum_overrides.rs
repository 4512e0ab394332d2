//! Per-request quorum overrides `r` and `w` (1..=n) on a 3-node cluster (N=3, R=W=2): a write with
//! `w=3` is on every replica, so a read with `r=1` through any node sees it; a write with `w=1` is
//! seen by a read with `r=3`; a delete with `w=3` is seen by `r=1` reads everywhere. The overrides are
//! honoured, not just accepted: with one node down, `w=3` and `r=3` fail with 503 while `w=1`/`r=1`
//! succeed.

mod common;

use common::Cluster;
use serde_json::json;

#[test]
fn r_and_w_overrides_are_honoured() {
    let mut cluster = Cluster::builder(3).quorum(3, 2, 2).start();
    let http = cluster.http.clone();

    let url = cluster.nodes[0].item("all-three", "?w=3");
    http.json("PUT", &url, &[], &json!({"value": "everywhere"}))
        .expect(201);
    for node in &cluster.nodes {
        let body = http.get(&node.item("all-three", "?r=1")).expect(200).json();
        assert_eq!(body, json!({"value": "everywhere"}), "r=1 via {}", node.id);
    }

    let url = cluster.nodes[1].item("one", "?w=1");
    http.json("PUT", &url, &[], &json!({"value": 1}))
        .expect(201);
    for node in &cluster.nodes {
        let body = http.get(&node.item("one", "?r=3")).expect(200).json();
        assert_eq!(body, json!({"value": 1}), "r=3 via {}", node.id);
    }

    let url = cluster.nodes[2].item("both", "?r=2&w=2");
    http.json("PUT", &url, &[], &json!({"value": [2]}))
        .expect(201);
    assert_eq!(
        http.get(&cluster.nodes[0].item("both", "?r=2&w=2"))
            .expect(200)
            .json(),
        json!({"value": [2]})
    );

    http.raw(
        "DELETE",
        &cluster.nodes[2].item("all-three", "?w=3"),
        &[],
        None,
    )
    .expect(204);
    for node in &cluster.nodes {
        http.get(&node.item("all-three", "?r=1")).expect_error(404);
    }

    // One replica down: three acknowledgements can no longer be had.
    cluster.nodes[2].kill();
    let a = &cluster.nodes[0];
    http.json("PUT", &a.item("one", "?w=3"), &[], &json!({"value": "x"}))
        .expect_quorum_error("write", 2, 3, 3);
    http.get(&a.item("one", "?r=3"))
        .expect_quorum_error("read", 2, 3, 3);
    http.json("PUT", &a.item("fresh", "?w=1"), &[], &json!({"value": "y"}))
        .expect(201);
    // R=2 (the default) of the two live replicas overlaps the one that acknowledged.
    assert_eq!(a.get_value("fresh"), json!("y"));
}
