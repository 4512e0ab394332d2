//! Static membership from the configuration (NODE_CONTRACT.md, seeds 002/003): three nodes started
//! on known ports either with one shared `--membership-file` (one `host:port` or URL per line, `#`
//! comments and blank lines ignored, each node's own line skipped) or with `--peers` /
//! `RINGKV_PEERS`, form one cluster without any `POST /peers`: every node lists the two others, and
//! a write through one node is read through every node.

mod common;

use common::{Cluster, Membership};
use serde_json::json;

fn check_flow(cluster: &Cluster) {
    for (i, writer) in cluster.nodes.iter().enumerate() {
        let key = format!("static-{i}");
        writer.put(&key, json!({ "from": writer.id })).expect(201);
        for node in &cluster.nodes {
            assert_eq!(
                node.get_value(&key),
                json!({ "from": writer.id }),
                "via {}",
                node.id
            );
        }
    }
}

#[test]
fn a_membership_file_forms_the_cluster() {
    let cluster = Cluster::builder(3)
        .quorum(3, 2, 2)
        .membership(Membership::File)
        .start();
    check_flow(&cluster);
}

#[test]
fn peers_flag_and_environment_form_the_cluster() {
    let cluster = Cluster::builder(3)
        .quorum(3, 2, 2)
        .membership(Membership::Peers)
        .start();
    check_flow(&cluster);
}
