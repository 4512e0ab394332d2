//! `POST /peers` joins two clusters into one (API.md): two separate 2-node clusters, then one
//! `POST /peers` on a node of the first naming a node of the second. Every one of the four nodes then
//! lists the three others, and a value written through a node of one former cluster is read through
//! every node of the other.

mod common;

use common::{Cluster, Node, wait_for_peers};
use serde_json::json;

#[test]
fn joining_a_node_of_another_cluster_merges_both_clusters() {
    let left = Cluster::builder(2)
        .id_prefix("left")
        .quorum(2, 2, 2)
        .start();
    let right = Cluster::builder(2)
        .id_prefix("right")
        .quorum(2, 2, 2)
        .start();
    let all: Vec<&Node> = left.nodes.iter().chain(&right.nodes).collect();

    let join = json!({ "peer_url": right.nodes[1].url });
    left.http
        .json("POST", &left.nodes[0].at("/peers"), &[], &join)
        .expect(200);

    wait_for_peers(&all);

    left.nodes[1].put("joined", json!("across")).expect(201);
    right.nodes[0]
        .put("joined-back", json!("again"))
        .expect(201);
    for node in &all {
        assert_eq!(node.get_value("joined"), json!("across"), "via {}", node.id);
        assert_eq!(
            node.get_value("joined-back"),
            json!("again"),
            "via {}",
            node.id
        );
    }
}
