//! Sloppy quorum and hinted handoff, with real processes (kill -9):
//! - N=3, W=2 on 3 nodes: with one replica killed, writes and deletes succeed; restarted, its
//!   hints are replayed, and then, the other two stopped, it alone answers every write and every
//!   delete (replay time and rate printed; `RINGKV_TEST_HINT_KEYS` keys, default 1500);
//! - 5 nodes, N=3, W=2, two down: every write succeeds with sloppy quorum; a strict write
//!   (`?sloppy=false`) is refused exactly when the key has fewer than two replicas up;
//! - hints survive a restart of the nodes holding them: every node but the replica restarted
//!   before the replica comes back, and its hints are still delivered;
//! - a replica down for long under write load: hint storage stops at its cap, the drop metric
//!   counts, writes and reads go on.

mod common;

use std::collections::HashSet;
use std::time::Instant;

use common::{Cluster, DEADLINE, Node, member_statuses, wait_until};
use ringkv_ring::Ring;
use serde_json::json;

fn metric(node: &Node, line_start: &str) -> u64 {
    let text = node.http.get(&node.at("/metrics")).expect(200).body;
    text.lines()
        .find_map(|l| l.strip_prefix(line_start)?.trim().parse::<f64>().ok())
        .map(|v| v as u64)
        .unwrap_or(0)
}

fn pending_hints(nodes: &[&Node]) -> u64 {
    nodes
        .iter()
        .filter(|n| n.is_running())
        .map(|n| metric(n, "ringkv_hints_pending "))
        .sum()
}

fn wait_alive_everywhere(cluster: &Cluster, url: &str) {
    for node in cluster.nodes.iter().filter(|n| n.is_running()) {
        wait_until(
            &format!("{} sees {url} alive", node.id),
            DEADLINE,
            || match member_statuses(&node.http, &node.url)?.get(url) {
                Some(s) if s == "alive" => Ok(()),
                other => Err(format!("{other:?}")),
            },
        );
    }
}

fn hint_keys() -> usize {
    std::env::var("RINGKV_TEST_HINT_KEYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500)
}

#[test]
fn a_killed_replica_gets_every_write_and_delete_it_missed() {
    let keys = hint_keys();
    let mut cluster = Cluster::builder(3)
        .quorum(3, 2, 2)
        .set("hinted_handoff.replay_interval_ms", 300)
        .set("gossip.interval_ms", 200)
        .set("gossip.failure_timeout_ms", 1000)
        .start();
    let deleted = keys / 3;
    for i in 0..deleted {
        cluster.nodes[i % 3]
            .put(&format!("gone{i}"), json!(i))
            .expect(201);
    }
    cluster.nodes[2].kill();
    let (a, b) = (&cluster.nodes[0], &cluster.nodes[1]);
    let written = Instant::now();
    std::thread::scope(|s| {
        for t in 0..4 {
            s.spawn(move || {
                for i in (t..keys).step_by(4) {
                    let node = if i % 2 == 0 { a } else { b };
                    node.put(&format!("new{i}"), json!(i)).expect(201);
                }
            });
        }
    });
    for i in 0..deleted {
        cluster.nodes[i % 2].delete(&format!("gone{i}")).expect(204);
    }
    println!(
        "{keys} writes and {deleted} deletes with one replica down in {:.2} s",
        written.elapsed().as_secs_f64()
    );
    // The hint of the last write may still be on its way to its holder (a request tail).
    let held = wait_until("every hint stored", DEADLINE, || {
        match pending_hints(&[a, b]) {
            held if held >= (keys + deleted) as u64 => Ok(held),
            held => Err(format!("hints held: {held}")),
        }
    });

    cluster.nodes[2].restart();
    let back = Instant::now();
    let all: Vec<&Node> = cluster.nodes.iter().collect();
    wait_until(
        "every hint delivered",
        DEADLINE * 2,
        || match pending_hints(&all) {
            0 => Ok(()),
            n => Err(format!("{n} hints pending")),
        },
    );
    let took = back.elapsed().as_secs_f64();
    println!(
        "replayed {held} hints to the restarted replica in {took:.2} s ({:.0} hints/s)",
        held as f64 / took
    );
    cluster.nodes[0].kill();
    cluster.nodes[1].kill();
    let alone = &cluster.nodes[2];
    for i in 0..keys {
        let resp = alone.http.get(&alone.item(&format!("new{i}"), "?r=1"));
        assert_eq!(
            resp.status, 200,
            "new{i} on the replica alone: {}",
            resp.body
        );
        assert_eq!(resp.json(), json!({ "value": i }));
    }
    for i in 0..deleted {
        let resp = alone.http.get(&alone.item(&format!("gone{i}"), "?r=1"));
        assert_eq!(
            resp.status, 404,
            "gone{i} on the replica alone: {}",
            resp.body
        );
    }
}

/// The node ids `pref` lists for `key` on the cluster's ring (ids `node0`...).
fn replicas_of(ring: &Ring, key: &str) -> Vec<String> {
    ring.preference_list(key.as_bytes(), 3)
}

#[test]
fn with_two_of_five_down_sloppy_writes_succeed_and_strict_ones_need_two_replicas() {
    let mut cluster = Cluster::builder(5)
        .quorum(3, 2, 2)
        .set("gossip.interval_ms", 200)
        .set("gossip.failure_timeout_ms", 1000)
        .set("gossip.suspect_timeout_ms", 400)
        .start();
    let ids: Vec<String> = cluster.nodes.iter().map(|n| n.id.clone()).collect();
    let ring = Ring::new(ids.clone(), 256);
    let down: HashSet<String> = [ids[3].clone(), ids[4].clone()].into();
    let (url3, url4) = (cluster.nodes[3].url.clone(), cluster.nodes[4].url.clone());
    cluster.nodes[3].kill();
    cluster.nodes[4].kill();
    for node in &cluster.nodes[..3] {
        for url in [&url3, &url4] {
            wait_until(
                &format!("{} sees {url} dead", node.id),
                DEADLINE,
                || match member_statuses(&node.http, &node.url)?.get(url.as_str()) {
                    Some(s) if s == "dead" => Ok(()),
                    other => Err(format!("{other:?}")),
                },
            );
        }
    }
    let (mut strict_ok, mut strict_refused) = (0, 0);
    for i in 0..120 {
        let via = &cluster.nodes[i % 3];
        let key = format!("sloppy{i}");
        via.put(&key, json!(i)).expect(201);
        let live = replicas_of(&ring, &format!("strict{i}"))
            .iter()
            .filter(|id| !down.contains(*id))
            .count();
        let resp = via.http.json(
            "PUT",
            &via.item(&format!("strict{i}"), "?sloppy=false"),
            &[],
            &json!({ "value": i }),
        );
        if live >= 2 {
            assert_eq!(
                resp.status, 201,
                "strict{i} with {live} replicas up: {}",
                resp.body
            );
            strict_ok += 1;
        } else {
            resp.expect_quorum_error("write", live, 3, 2);
            strict_refused += 1;
        }
    }
    println!(
        "two of five down: 120/120 sloppy writes acknowledged; strict: {strict_ok} acknowledged, \
         {strict_refused} refused (fewer than two replicas up)"
    );
    assert!(strict_refused > 0 && strict_ok > 0);
    cluster.nodes[3].restart();
    cluster.nodes[4].restart();
    wait_alive_everywhere(&cluster, &url3);
    wait_alive_everywhere(&cluster, &url4);
    let all: Vec<&Node> = cluster.nodes.iter().collect();
    wait_until(
        "every hint delivered",
        DEADLINE * 2,
        || match pending_hints(&all) {
            0 => Ok(()),
            n => Err(format!("{n} hints pending")),
        },
    );
    // Every sloppy write is now on all three of its replicas: each answers it at r=3.
    for i in 0..120 {
        let resp = cluster.nodes[i % 5]
            .http
            .get(&cluster.nodes[i % 5].item(&format!("sloppy{i}"), "?r=3"));
        assert_eq!(resp.status, 200, "sloppy{i}: {}", resp.body);
    }
}

#[test]
fn hints_survive_a_restart_of_the_nodes_holding_them() {
    let mut cluster = Cluster::builder(4)
        .quorum(3, 2, 2)
        .set("hinted_handoff.replay_interval_ms", 300)
        .set("gossip.interval_ms", 200)
        .set("gossip.failure_timeout_ms", 1000)
        .start();
    let ids: Vec<String> = cluster.nodes.iter().map(|n| n.id.clone()).collect();
    let ring = Ring::new(ids.clone(), 256);
    let owner_id = ids[3].clone();
    let owner_url = cluster.nodes[3].url.clone();
    cluster.nodes[3].kill();
    let mut owned = Vec::new();
    for i in 0..200 {
        let key = format!("kept{i}");
        cluster.nodes[i % 3].put(&key, json!(i)).expect(201);
        if replicas_of(&ring, &key).contains(&owner_id) {
            owned.push((key, i));
        }
    }
    let held = pending_hints(&cluster.nodes[..3].iter().collect::<Vec<_>>());
    assert!(
        held >= owned.len() as u64,
        "{held} hints for {} keys",
        owned.len()
    );
    // Every node holding hints restarts (kill -9) before the replica comes back.
    for i in 0..3 {
        cluster.nodes[i].kill();
        cluster.nodes[i].restart();
    }
    let survived = pending_hints(&cluster.nodes[..3].iter().collect::<Vec<_>>());
    assert_eq!(survived, held, "hints are durable");
    cluster.nodes[3].restart();
    wait_alive_everywhere(&cluster, &owner_url);
    let all: Vec<&Node> = cluster.nodes.iter().collect();
    wait_until(
        "every hint delivered",
        DEADLINE * 2,
        || match pending_hints(&all) {
            0 => Ok(()),
            n => Err(format!("{n} hints pending")),
        },
    );
    for i in 0..3 {
        cluster.nodes[i].kill();
    }
    let alone = &cluster.nodes[3];
    for (key, i) in &owned {
        let resp = alone.http.get(&alone.item(key, "?r=1"));
        assert_eq!(
            resp.status, 200,
            "{key} on its replica alone: {}",
            resp.body
        );
        assert_eq!(resp.json(), json!({ "value": i }));
    }
    println!(
        "{} hints survived a kill -9 of every node holding them and reached their replica",
        held
    );
}

#[test]
fn a_replica_down_for_long_fills_its_hint_cap_and_nothing_else_breaks() {
    let cap = 40_000;
    let mut cluster = Cluster::builder(3)
        .quorum(3, 2, 2)
        .set("hinted_handoff.max_bytes_per_target", cap)
        .start();
    cluster.nodes[2].kill();
    let value = "x".repeat(200);
    for i in 0..600 {
        cluster.nodes[i % 2]
            .put(&format!("flood{i}"), json!(value))
            .expect(201);
    }
    for node in &cluster.nodes[..2] {
        let bytes = metric(node, "ringkv_hints_pending_bytes ");
        let dropped = metric(node, "ringkv_hints_dropped_total{reason=\"target_cap\"}");
        println!(
            "{}: {bytes} bytes of hints held (cap {cap}), {dropped} dropped at the cap",
            node.id
        );
        assert!(bytes <= cap, "{bytes} over the cap");
        assert!(dropped > 0, "the cap was reached and counted");
    }
    for i in 0..600 {
        assert_eq!(
            cluster.nodes[(i + 1) % 2].get_value(&format!("flood{i}")),
            json!(value)
        );
    }
}
