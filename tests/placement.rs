//! Placement at node level: 5- and 6-node clusters with N=3 (R=W=2), so each key lives on 3 nodes
//! and the others coordinate it by forwarding to a replica.
//!
//! For each key the test first finds its replicas from the outside: the nodes whose commit log
//! grew (`ringkv_storage_log_bytes` in `GET /metrics`) when it was written. Then:
//! - every key is overwritten through a node that is not one of its replicas (a forwarded,
//!   context-less PUT): 200, stored by exactly the same 3 replicas, not by the coordinator;
//! - every key is read through every node, non-replicas included: 200 with its one last value;
//! - (5 nodes) a stale replica coordinating: a replica of a key is down while a forwarded write
//!   goes by, comes back, and a context-less PUT through it answers 200 and leaves one value
//!   everywhere.

mod common;

use std::collections::BTreeSet;

use common::Cluster;
use serde_json::json;

const KEYS: usize = 24;
const N: usize = 3;

fn key(i: usize) -> String {
    format!("placed-{i}")
}

/// Writes every key, finds its replicas, overwrites it through a non-replica and reads it back
/// through every node; returns each key's replicas.
fn forwarded_writes_and_reads_everywhere(cluster: &Cluster) -> Vec<BTreeSet<usize>> {
    let size = cluster.nodes.len();
    let mut replicas = Vec::new();
    for i in 0..KEYS {
        let via = &cluster.nodes[i % size];
        replicas.push(cluster.stored_by(N, || {
            via.put(&key(i), json!(i)).expect(201);
        }));
    }
    let mut forwarded = 0;
    for (i, owners) in replicas.iter().enumerate() {
        let outsiders: Vec<usize> = (0..size).filter(|n| !owners.contains(n)).collect();
        let via = &cluster.nodes[outsiders[i % outsiders.len()]];
        let again = cluster.stored_by(N, || {
            let resp = via.put(&key(i), json!(format!("v2-{i}")));
            assert_eq!(
                resp.status,
                200,
                "PUT {} via {}: {}",
                key(i),
                via.id,
                resp.body
            );
        });
        assert_eq!(
            &again,
            owners,
            "{} stored elsewhere the second time",
            key(i)
        );
        forwarded += 1;
    }
    let mut reads = 0;
    for (i, owners) in replicas.iter().enumerate() {
        for (n, node) in cluster.nodes.iter().enumerate() {
            let value = node.get_value(&key(i));
            assert_eq!(value, json!(format!("v2-{i}")), "via {}", node.id);
            reads += usize::from(!owners.contains(&n));
        }
    }
    println!(
        "{size} nodes: {KEYS} keys, {forwarded} PUTs through a non-replica, {reads} GETs through a \
         non-replica; replicas per key {:?}",
        replicas
    );
    replicas
}

#[test]
fn five_nodes_n3_forwarded_writes_and_reads_through_every_node_and_a_stale_replica_coordinating() {
    let mut cluster = Cluster::builder(5)
        .quorum(3, 2, 2)
        .set("hinted_handoff.enabled", false)
        .start();
    let replicas = forwarded_writes_and_reads_everywhere(&cluster);

    // Key 0: one replica down during a forwarded write, back, then a context-less PUT through it.
    let owners: Vec<usize> = replicas[0].iter().copied().collect();
    let outsider = (0..5).find(|n| !replicas[0].contains(n)).unwrap();
    let stale = owners[0];
    cluster.nodes[stale].kill();
    cluster.nodes[outsider]
        .put(&key(0), json!("while-down"))
        .expect(200);
    cluster.nodes[stale].restart();
    cluster.wait_for_membership();
    let resp = cluster.nodes[stale].put(&key(0), json!("through-the-stale-one"));
    assert_eq!(
        resp.status, 200,
        "PUT through the stale replica: {}",
        resp.body
    );
    cluster.assert_one_value_everywhere(&key(0), &json!("through-the-stale-one"));
}

#[test]
fn six_nodes_n3_forwarded_writes_and_reads_through_every_node() {
    let cluster = Cluster::builder(6).quorum(3, 2, 2).start();
    forwarded_writes_and_reads_everywhere(&cluster);
}
