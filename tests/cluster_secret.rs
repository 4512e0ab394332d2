//! The cluster secret (API.md; `cluster_secret` config, `X-Cluster-Secret` header as the README
//! documents): with one configured, the admin writes (`POST /peers`, `DELETE /peers/{id}`,
//! `PUT /config`) answer 401 with a `detail` and change nothing without it or with a wrong one,
//! and work with it; the items API needs no secret; a node with another secret cannot be joined.

mod common;

use common::{Cluster, Http, Node};
use serde_json::json;

const SECRET: &str = "s3cret-for-tests";

#[test]
fn admin_writes_need_the_cluster_secret() {
    let cluster = Cluster::builder(3)
        .quorum(3, 2, 2)
        .set("cluster_secret", SECRET)
        .start();
    let [a, b, c] = &cluster.nodes[..] else {
        unreachable!()
    };
    let http = &cluster.http;

    // The items API is open.
    a.put("open", json!(1)).expect(201);
    assert_eq!(c.get_value("open"), json!(1));

    let before = http.get(&b.at("/config")).expect(200).json();
    let patch = json!({"quorum": {"w": 3}});
    for headers in [vec![], vec![("X-Cluster-Secret", "wrong")]] {
        http.json("PUT", &b.at("/config"), &headers, &patch)
            .expect_error(401);
        let join = json!({"peer_url": "http://127.0.0.1:9"});
        http.json("POST", &b.at("/peers"), &headers, &join)
            .expect_error(401);
        http.raw("DELETE", &b.at("/peers/node2"), &headers, None)
            .expect_error(401);
    }
    for node in &cluster.nodes {
        let config = http.get(&node.at("/config")).expect(200).json();
        assert_eq!(
            config["quorum"], before["quorum"],
            "config of {} changed",
            node.id
        );
    }
    cluster.wait_for_membership();

    let with = [("X-Cluster-Secret", SECRET)];
    let config = http
        .json("PUT", &b.at("/config"), &with, &patch)
        .expect(200)
        .json();
    assert_eq!(config["quorum"]["w"], json!(3));

    // A node with another secret cannot be joined.
    let stranger = Node::start(
        cluster.dir(),
        "stranger",
        &[
            "cluster_secret=another".to_owned(),
            "quorum.n=1".to_owned(),
            "quorum.r=1".to_owned(),
            "quorum.w=1".to_owned(),
        ],
        Http::new(),
    );
    let join = json!({"peer_url": stranger.url});
    let resp = http.json("POST", &a.at("/peers"), &with, &join);
    assert_ne!(
        resp.status, 200,
        "joined a node with another secret: {}",
        resp.body
    );
    resp.error_detail();
    cluster.wait_for_membership();
}
