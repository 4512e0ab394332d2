//! Membership on gossip, with real processes:
//! - ten nodes started with one seed each (`--peers <node0>`) form one cluster (time printed);
//! - a node killed -9 is `dead` in `GET /peers` on every other node within `failure_timeout` +
//!   `suspect_timeout` + a few gossip intervals (time printed), and `alive` everywhere once
//!   restarted;
//! - a hung node (SIGSTOP) marked dead does not slow requests down: a `w=3` write and an `r=3` read
//!   answer 503 at once instead of after the request timeout, a default read answers 200 at once;
//! - a killed member is removed with `DELETE /peers/{id}?force=true`: its keys keep N replicas on
//!   the members left (each alone answers every key);
//! - a node that left comes back as a new member from a fresh data dir, while restarting it with
//!   its old data dir and asking it to join again answers a clear 409.

mod common;

use std::time::{Duration, Instant};

use common::{Cluster, DEADLINE, Membership, Node, member_statuses, wait_for_peers, wait_until};
use serde_json::json;

/// Fast failure detection for these tests (ms).
const INTERVAL: u64 = 200;
const FAILURE: u64 = 1_000;
const SUSPECT: u64 = 400;

fn fast_detection(builder: common::ClusterBuilder) -> common::ClusterBuilder {
    builder
        .set("gossip.interval_ms", INTERVAL)
        .set("gossip.failure_timeout_ms", FAILURE)
        .set("gossip.suspect_timeout_ms", SUSPECT)
}

/// Waits until every node in `observers` sees `subject_url` with `status`; returns the time.
fn wait_status(observers: &[&Node], subject_url: &str, status: &str) -> Duration {
    let start = Instant::now();
    for node in observers {
        wait_until(
            &format!("{} sees {subject_url} {status}", node.id),
            DEADLINE,
            || match member_statuses(&node.http, &node.url)?.get(subject_url) {
                Some(s) if s == status => Ok(()),
                other => Err(format!("{other:?}")),
            },
        );
    }
    start.elapsed()
}

#[test]
fn ten_nodes_form_one_cluster_through_one_seed() {
    let start = Instant::now();
    let cluster = Cluster::builder(10)
        .membership(Membership::Seed)
        .set("gossip.interval_ms", INTERVAL)
        .start();
    println!(
        "10 nodes, one seed each, gossip every {INTERVAL} ms: every node lists the 9 others, \
         all alive, {:.2} s after the first start",
        start.elapsed().as_secs_f64()
    );
    let node = &cluster.nodes[7];
    node.put("formed", json!(10)).expect(201);
    for other in &cluster.nodes {
        assert_eq!(other.get_value("formed"), json!(10), "via {}", other.id);
    }
}

#[test]
fn a_killed_node_is_dead_everywhere_soon_and_alive_again_after_restart() {
    let mut cluster = fast_detection(Cluster::builder(4).quorum(3, 2, 2)).start();
    let victim_url = cluster.nodes[3].url.clone();
    cluster.nodes[3].kill();
    let killed = Instant::now();
    let observers: Vec<&Node> = cluster.nodes[..3].iter().collect();
    wait_status(&observers, &victim_url, "dead");
    let detected = killed.elapsed();
    let bound = Duration::from_millis(FAILURE + SUSPECT + 3 * INTERVAL);
    println!(
        "kill -9 to dead on all 3 other nodes: {:.2} s (failure_timeout {FAILURE} ms + \
         suspect_timeout {SUSPECT} ms + 3 intervals of {INTERVAL} ms = {:.2} s)",
        detected.as_secs_f64(),
        bound.as_secs_f64()
    );
    // Polling the three nodes and a loaded machine add their share on top of the protocol's.
    assert!(
        detected <= bound + Duration::from_secs(2),
        "detection took {detected:?}"
    );
    let healthcheck = cluster
        .http
        .get(&cluster.nodes[0].at("/peers/healthcheck"))
        .json();
    assert_eq!(healthcheck[&victim_url], json!("failure"), "{healthcheck}");

    cluster.nodes[3].restart();
    let observers: Vec<&Node> = cluster.nodes[..3].iter().collect();
    let back = wait_status(&observers, &victim_url, "alive");
    println!("restart to alive everywhere: {:.2} s", back.as_secs_f64());
    let healthcheck = cluster
        .http
        .get(&cluster.nodes[0].at("/peers/healthcheck"))
        .json();
    assert_eq!(healthcheck[&victim_url], json!("success"), "{healthcheck}");
}

#[test]
fn a_hung_node_marked_dead_is_not_waited_for() {
    let mut cluster = fast_detection(Cluster::builder(3).quorum(3, 2, 2))
        .set("request_timeout_ms", 8_000)
        .set("rpc_timeout_ms", 4_000)
        .start();
    cluster.nodes[0].put("hung", json!("before")).expect(201);
    cluster.nodes[2].pause();
    let [a, b, c] = &cluster.nodes[..] else {
        unreachable!()
    };
    wait_status(&[a, b], &c.url, "dead");
    let timed = |what: &str, f: &dyn Fn() -> common::Resp| {
        let start = Instant::now();
        let resp = f();
        let took = start.elapsed();
        println!(
            "{what} with a hung replica marked dead: {} in {took:?}",
            resp.status
        );
        assert!(took < Duration::from_secs(3), "{what} waited {took:?}");
        resp
    };
    let read = timed("GET r=2", &|| a.http.get(&a.item("hung", "")));
    assert_eq!(read.expect(200).json(), json!({"value": "before"}));
    let strict = timed("GET r=3", &|| a.http.get(&a.item("hung", "?r=3")));
    strict.expect_quorum_error("read", 2, 3, 3);
    let write = timed("PUT w=3", &|| {
        a.http.json(
            "PUT",
            &a.item("hung", "?w=3"),
            &[],
            &json!({"value": "after"}),
        )
    });
    write.expect_quorum_error("write", 2, 3, 3);
    let c_url = c.url.clone();
    cluster.nodes[2].resume();
    wait_status(&[&cluster.nodes[0]], &c_url, "alive");
}

#[test]
fn a_dead_member_removed_with_force_leaves_every_key_on_n_replicas() {
    let mut cluster = fast_detection(Cluster::builder(4).quorum(3, 2, 2)).start();
    let keys: Vec<String> = (0..200).map(|i| format!("force/{i}")).collect();
    for (i, key) in keys.iter().enumerate() {
        cluster.nodes[i % 4].put(key, json!(i)).expect(201);
    }
    let gone_url = cluster.nodes[3].url.clone();
    let gone_id = cluster.nodes[3].id.clone();
    cluster.nodes[3].kill();
    let observers: Vec<&Node> = cluster.nodes[..3].iter().collect();
    wait_status(&observers, &gone_url, "dead");
    let a = &cluster.nodes[0];
    // Without force, a dead member cannot hand off: refused, nothing changes.
    let refused = a
        .http
        .raw("DELETE", &a.at(&format!("/peers/{gone_id}")), &[], None);
    assert!(
        refused.expect_error(409).contains("force"),
        "{}",
        refused.body
    );
    // A live member is not removed by force.
    let alive = &cluster.nodes[1];
    let live = a.http.raw(
        "DELETE",
        &a.at(&format!("/peers/{}?force=true", alive.id)),
        &[],
        None,
    );
    live.expect_error(409);
    let removed = a.http.raw(
        "DELETE",
        &a.at(&format!("/peers/{gone_id}?force=true")),
        &[],
        None,
    );
    assert_eq!(removed.status, 202, "{}", removed.body);
    wait_status(&observers, &gone_url, "left");
    // Every remaining member now replicates every key (N=3 on 3 members): each one alone
    // answers all of them once the repair finished.
    for alone in 0..3 {
        let node = &cluster.nodes[alone];
        wait_until(&format!("{} holds every key", node.id), DEADLINE, || {
            let missing = keys
                .iter()
                .filter(|k| node.http.get(&node.item(k, "?r=3")).status != 200)
                .count();
            if missing == 0 {
                Ok(())
            } else {
                Err(format!("{missing} keys not on 3 replicas"))
            }
        });
    }
    for alone in 0..3 {
        for other in (0..3).filter(|&o| o != alone) {
            cluster.nodes[other].kill();
        }
        let node = &cluster.nodes[alone];
        for (i, key) in keys.iter().enumerate() {
            let resp = node.http.get(&node.item(key, "?r=1"));
            assert_eq!(
                resp.status, 200,
                "{key} on {} alone: {}",
                node.id, resp.body
            );
            assert_eq!(resp.json(), json!({ "value": i }));
        }
        for other in (0..3).filter(|&o| o != alone) {
            cluster.nodes[other].restart();
        }
    }
}

#[test]
fn a_node_that_left_rejoins_only_as_a_new_member() {
    let mut cluster = Cluster::builder(3).quorum(2, 1, 2).start();
    let http = cluster.http.clone();
    for i in 0..30 {
        cluster.nodes[i % 3]
            .put(&format!("rejoin/{i}"), json!(i))
            .expect(201);
    }
    let a_url = cluster.nodes[0].url.clone();
    let leaver_url = cluster.nodes[2].url.clone();
    let resp = http.raw("DELETE", &format!("{a_url}/peers/node2"), &[], None);
    assert_eq!(resp.status, 202, "{}", resp.body);
    let all: Vec<&Node> = cluster.nodes.iter().collect();
    wait_status(&all, &leaver_url, "left");

    // Restarted with its old data dir, it knows it left: joining it again is refused.
    cluster.nodes[2].kill();
    cluster.nodes[2].restart();
    let join = json!({ "peer_url": leaver_url });
    let refused = http.json("POST", &format!("{a_url}/peers"), &[], &join);
    let detail = refused.expect_error(409);
    assert!(detail.contains("fresh data dir"), "{detail}");
    let itself = http.json(
        "POST",
        &cluster.nodes[2].at("/peers"),
        &[],
        &json!({ "peer_url": a_url }),
    );
    itself.expect_error(409);

    // From a fresh data dir it is a new member with a new id.
    cluster.nodes[2].kill();
    let new_id = cluster.nodes[2].restart_fresh();
    assert_ne!(new_id, "node2");
    http.json("POST", &format!("{a_url}/peers"), &[], &join)
        .expect(200);
    let nodes: Vec<&Node> = cluster.nodes.iter().collect();
    wait_for_peers(&nodes);
    for i in 0..30 {
        assert_eq!(cluster.nodes[2].get_value(&format!("rejoin/{i}")), json!(i));
    }
}

fn gossip_sent(node: &Node) -> u64 {
    let text = node.http.get(&node.at("/metrics")).expect(200).body;
    text.lines()
        .find_map(|l| {
            l.strip_prefix("ringkv_gossip_sent_bytes_total")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

#[test]
fn gossip_traffic_of_five_real_nodes_is_small() {
    let cluster = Cluster::builder(5).set("gossip.interval_ms", 1000).start();
    let span = Duration::from_secs(5);
    let before: Vec<u64> = cluster.nodes.iter().map(gossip_sent).collect();
    std::thread::sleep(span);
    let after: Vec<u64> = cluster.nodes.iter().map(gossip_sent).collect();
    let per_node: Vec<f64> = before
        .iter()
        .zip(&after)
        .map(|(b, a)| (a - b) as f64 / span.as_secs_f64())
        .collect();
    let mean = per_node.iter().sum::<f64>() / per_node.len() as f64;
    println!(
        "gossip bytes sent per node per second, 5 real nodes, interval 1 s: mean {mean:.0} B/s \
         ({per_node:.0?})"
    );
    assert!(mean > 0.0 && mean < 20.0 * 1024.0, "{per_node:?}");
}
