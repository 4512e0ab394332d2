//! Reads repair the replicas they find behind (3 nodes, N=3, R=W=2, real processes). A read
//! first compares digests: its coordinator's own copy against every other replica's.
//! - Read through an up-to-date replica: its copy and one other agree, so they answer; the
//!   replica that missed the write (it was down, and hinted handoff is off) differs, and is
//!   brought up to date in the background.
//! - Read through the replica that missed the write: its digest differs, so the read merges
//!   full copies, answers the newer value, and repairs the reader's own copy.
//!
//! The proof that a repair happened reads the stale replica alone (`r=1`) with the two others
//! killed: only what is on its own disk can answer. Anti-entropy's interval is an hour, so
//! nothing but the read can have repaired it.

mod common;

use std::time::Duration;

use common::{Cluster, wait_until};
use serde_json::{Value, json};

/// A cluster whose node 2 missed the last write of `key` ("new"), holding "old".
fn with_a_stale_node(key: &str) -> Cluster {
    let mut cluster = Cluster::builder(3)
        .quorum(3, 2, 2)
        .set("hinted_handoff.enabled", false)
        .set("anti_entropy.interval_ms", 3_600_000)
        .start();
    let http = cluster.http.clone();
    http.json(
        "PUT",
        &cluster.nodes[0].item(key, "?w=3"),
        &[],
        &json!({"value": "old"}),
    )
    .expect(201);
    cluster.nodes[2].kill();
    cluster.nodes[0].put(key, json!("new")).expect(200);
    cluster.nodes[2].restart();
    cluster.wait_for_membership();
    cluster
}

/// Waits until node 2 alone (the two others killed) answers `key` with "new".
fn node2_alone_has_the_new_value(cluster: &mut Cluster, key: &str) {
    cluster.nodes[0].kill();
    cluster.nodes[1].kill();
    let url = cluster.nodes[2].item(key, "?r=1");
    let http = cluster.http.clone();
    wait_until(
        "node 2 alone holds the repaired value",
        Duration::from_secs(10),
        || {
            let resp = http.get(&url);
            let body: Value = resp.json();
            if resp.status == 200 && body == json!({"value": "new"}) {
                Ok(())
            } else {
                Err(format!("{} {}", resp.status, resp.body))
            }
        },
    );
}

#[test]
fn a_read_through_an_up_to_date_replica_repairs_the_stale_one() {
    let mut cluster = with_a_stale_node("k1");
    assert_eq!(cluster.nodes[0].get_value("k1"), json!("new"));
    // Node 2's copy was repaired in the background, not by the read answering from it.
    let repaired = |cluster: &Cluster| -> Result<(), String> {
        let metrics = cluster
            .http
            .get(&cluster.nodes[0].at("/metrics"))
            .expect(200)
            .body;
        let n = metrics
            .lines()
            .find_map(|l| l.strip_prefix("ringkv_read_repairs_total "))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(0);
        if n >= 1 {
            Ok(())
        } else {
            Err(format!("ringkv_read_repairs_total {n}"))
        }
    };
    wait_until(
        "node 0 counted a read repair",
        Duration::from_secs(10),
        || repaired(&cluster),
    );
    node2_alone_has_the_new_value(&mut cluster, "k1");
}

#[test]
fn a_read_through_the_stale_replica_answers_the_new_value_and_repairs_it() {
    let mut cluster = with_a_stale_node("k2");
    assert_eq!(cluster.nodes[2].get_value("k2"), json!("new"));
    node2_alone_has_the_new_value(&mut cluster, "k2");
}
