//! Crash durability (NODE_CONTRACT.md: "SIGKILL loses no acknowledged write", storage sync `always`
//! by default): `kill -9` while client threads write.
//! - One node (N=R=W=1): restarted on its data dir, it answers every acknowledged write.
//! - Three nodes (N=3, R=W=2), writes spread over all of them, all three killed at once: once
//!   restarted, every acknowledged write is read through every node.

mod common;

use common::{Cluster, missing_writes, write_load};

#[track_caller]
fn assert_none_missing(missing: &[String], acked: usize, what: &str) {
    assert!(
        missing.is_empty(),
        "{what}: {} of {acked} acknowledged writes lost after kill -9, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
}

#[test]
fn kill_9_of_a_single_node_loses_no_acknowledged_write() {
    let mut cluster = Cluster::builder(1).quorum(1, 1, 1).start();
    let (urls, http) = (cluster.urls(), cluster.http.clone());
    let ((), acked) = write_load(&http, &urls, 4, 300, || cluster.nodes[0].kill());
    cluster.nodes[0].restart();
    let missing = missing_writes(&cluster.nodes[0], &acked, "");
    assert_none_missing(&missing, acked.len(), "single node");
}

#[test]
fn kill_9_of_a_whole_cluster_loses_no_acknowledged_write() {
    let mut cluster = Cluster::builder(3).quorum(3, 2, 2).start();
    let (urls, http) = (cluster.urls(), cluster.http.clone());
    let ((), acked) = write_load(&http, &urls, 4, 300, || cluster.kill_all());
    cluster.restart_all();
    for node in &cluster.nodes {
        let missing = missing_writes(node, &acked, "");
        assert_none_missing(&missing, acked.len(), &format!("read via {}", node.id));
    }
}
