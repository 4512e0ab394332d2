//! The write path's promises, with real processes:
//! - 201 vs 200 of a context-less PUT matches what a read would say: re-creating a deleted key
//!   answers 201 even when a replica that missed the delete (its stale copy still "live") is one
//!   of the acks;
//! - API.md's one-value promise (sequential context-less writes through any mix of nodes, no
//!   failures, leave exactly the last value) for every setting with R + W > N, N=3 on five nodes
//!   (most writes forwarded) and N=5 on five nodes.

mod common;

use common::{Cluster, Node};
use serde_json::{Value, json};

fn put_config(node: &Node, body: &Value) {
    node.http
        .json("PUT", &node.at("/config"), &[], body)
        .expect(200);
}

#[test]
fn re_creating_a_deleted_key_answers_201_even_with_a_stale_replica_among_the_acks() {
    let mut cluster = Cluster::builder(3)
        .quorum(3, 2, 2)
        .set("hinted_handoff.enabled", false)
        .start();
    let a = cluster.nodes[0].url.clone();
    let http = cluster.http.clone();
    let put = |query: &str, value: i64| {
        http.json(
            "PUT",
            &format!("{a}/items/stale{query}"),
            &[],
            &json!({ "value": value }),
        )
    };
    put("?w=3", 1).expect(201);
    cluster.nodes[2].kill();
    cluster.nodes[0].delete("stale").expect(204);
    // Node 2 comes back still holding value 1: it missed the delete (no handoff, no read).
    cluster.nodes[2].restart();
    cluster.wait_for_membership();
    // w=3: node 2's ack (its copy was live, but covered by the tombstone's clock) counts.
    let resp = put("?w=3", 2);
    assert_eq!(
        resp.status, 201,
        "the key had no live value (it was deleted): {}",
        resp.body
    );
    for node in &cluster.nodes {
        assert_eq!(node.get_value("stale"), json!(2), "via {}", node.id);
    }
}

/// 20 sequential context-less PUTs of `key` through the nodes in turn, then every node reads
/// exactly the last value.
fn sequential_writes_leave_one_value(cluster: &Cluster, key: &str) {
    for i in 0..20 {
        let node = &cluster.nodes[i % cluster.nodes.len()];
        let resp = node.put(key, json!(i));
        assert!(
            resp.status == 200 || resp.status == 201,
            "PUT {key} #{i} via {}: {} {}",
            node.id,
            resp.status,
            resp.body
        );
    }
    for node in &cluster.nodes {
        let resp = node.get(key);
        assert_eq!(
            (resp.status, resp.json()),
            (200, json!({ "value": 19 })),
            "{key} via {}",
            node.id
        );
    }
}

#[test]
fn sequential_context_less_writes_leave_one_value_whenever_r_plus_w_exceeds_n() {
    let cluster = Cluster::builder(5).quorum(3, 2, 2).start();
    let settings: &[(u32, &[(u32, u32)])] = &[
        (3, &[(1, 3), (2, 2), (3, 1), (2, 3), (3, 2), (3, 3)]),
        (5, &[(1, 5), (2, 4), (3, 3), (4, 2), (5, 1)]),
    ];
    for (n, pairs) in settings {
        for (r, w) in pairs.iter() {
            put_config(
                &cluster.nodes[0],
                &json!({"quorum": {"n": n, "r": r, "w": w}}),
            );
            common::wait_until("the setting everywhere", common::DEADLINE, || {
                for node in &cluster.nodes {
                    let c = node.http.get(&node.at("/config")).expect(200).json();
                    let q = &c["quorum"];
                    if (&q["n"], &q["r"], &q["w"]) != (&json!(n), &json!(r), &json!(w)) {
                        return Err(format!("{}: {}", node.id, c["quorum"]));
                    }
                }
                Ok(())
            });
            sequential_writes_leave_one_value(&cluster, &format!("one/n{n}r{r}w{w}"));
        }
    }
}
