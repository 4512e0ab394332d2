//! Graceful shutdown: SIGTERM while client threads are writing. The node exits with code 0, and once
//! restarted on the same data dir every write it acknowledged (2xx) is readable with its value.
//!
//! The node runs with `storage.sync=interval` and a long interval, so acknowledged writes are on disk
//! only if the shutdown path flushes and syncs the storage engine (SIGKILL durability with the
//! default `storage.sync=always` is crash_durability.rs).

mod common;

use common::{Cluster, missing_writes, write_load};
use serde_json::json;

#[test]
fn sigterm_during_writes_exits_0_and_loses_no_acknowledged_write() {
    let mut cluster = Cluster::builder(1)
        .quorum(1, 1, 1)
        .set("storage.sync", "interval")
        .set("storage.sync_interval_ms", 600_000)
        .start();
    let urls = cluster.urls();
    let http = cluster.http.clone();
    let (status, acked) = write_load(&http, &urls, 4, 200, || cluster.nodes[0].terminate());
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGTERM: {status:?}"
    );

    cluster.nodes[0].restart();
    let missing = missing_writes(&cluster.nodes[0], &acked, "");
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged writes lost after SIGTERM + restart, e.g. {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
}

#[test]
fn sigterm_on_an_idle_cluster_member_exits_0_and_it_rejoins_on_restart() {
    let mut cluster = Cluster::builder(3).quorum(3, 2, 2).start();
    cluster.nodes[1].put("k", json!("v")).expect(201);
    let status = cluster.nodes[1].terminate();
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGTERM: {status:?}"
    );
    cluster.nodes[0].put("k", json!("v2")).expect(200);
    cluster.nodes[1].restart();
    cluster.wait_for_membership();
    for node in &cluster.nodes {
        assert_eq!(node.get_value("k"), json!("v2"), "via {}", node.id);
    }
}
