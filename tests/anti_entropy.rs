//! Anti-entropy with real processes (hinted handoff off, so only anti-entropy can repair):
//! - writes with `w=1` while the other two replicas are down: after they are back, every pair
//!   of replicas finds its shared tree equal within two intervals, and each replica alone (the
//!   others killed) answers every key. (Down, not paused: a paused process still applies the
//!   merges buffered in its sockets when it resumes, which repairs without anti-entropy.)
//! - a replica whose data dir was wiped, restarted with the same `--node-id`, converges to
//!   every key with no client traffic (`RINGKV_TEST_AE_KEYS` keys, default 2000; time printed);
//! - a key deleted while one replica was down, with a short tombstone grace: not collected
//!   while that replica is down, collected everywhere after it is back, and never read again
//!   from any node alone.
//! - `RINGKV_TEST_AE_FIGURES=<keys>` adds the efficiency figures (1% divergence, equal rounds).

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Cluster, DEADLINE, Node, wait_until};
use serde_json::json;

const INTERVAL_MS: u64 = 1000;

fn metric_lines(node: &Node, prefix: &str) -> Vec<(String, f64)> {
    let text = node.http.get(&node.at("/metrics")).expect(200).body;
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_string(), value.parse().ok()?))
        })
        .collect()
}

fn metric(node: &Node, name: &str) -> f64 {
    metric_lines(node, name).iter().map(|(_, v)| v).sum()
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Waits until every running node found the range it shares with every other node equal in
/// an exchange that started after `since` (Unix seconds); returns the time it took.
fn wait_all_equal(cluster: &Cluster, since: f64, deadline: Duration) -> Duration {
    let start = Instant::now();
    let ids: Vec<String> = cluster.nodes.iter().map(|n| n.id.clone()).collect();
    wait_until("every replica pair has equal trees", deadline, || {
        for node in &cluster.nodes {
            let last = metric_lines(node, "ringkv_anti_entropy_last_full_exchange_seconds{");
            for peer in ids.iter().filter(|p| **p != node.id) {
                let label = format!("peer=\"{peer}\"");
                let at = last
                    .iter()
                    .find(|(l, _)| l.contains(&label))
                    .map_or(0.0, |(_, v)| *v);
                if at < since {
                    return Err(format!("{} has not seen {peer} equal since", node.id));
                }
            }
        }
        Ok(())
    });
    start.elapsed()
}

fn ae_cluster(extra: &[(&str, u64)]) -> Cluster {
    let mut b = Cluster::builder(3)
        .quorum(3, 1, 1)
        .set("quorum.sloppy", false)
        .set("hinted_handoff.enabled", false)
        .set("anti_entropy.interval_ms", INTERVAL_MS)
        .set("anti_entropy.repair_rate_keys_per_sec", 1_000_000);
    for (k, v) in extra {
        b = b.set(k, v);
    }
    b.start()
}

/// Every key of `keys` read from each node alone (the other two killed, then restarted).
fn each_alone_answers(cluster: &mut Cluster, keys: &[(String, serde_json::Value)]) {
    for alone in 0..3 {
        for other in (0..3).filter(|o| *o != alone) {
            cluster.nodes[other].kill();
        }
        let node = &cluster.nodes[alone];
        for (key, value) in keys {
            let resp = node.http.get(&node.item(key, "?r=1"));
            assert_eq!(
                resp.status, 200,
                "{key} on {} alone: {}",
                node.id, resp.body
            );
            assert_eq!(&resp.json()["value"], value, "{key} on {} alone", node.id);
        }
        for other in (0..3).filter(|o| *o != alone) {
            cluster.nodes[other].restart();
        }
    }
}

#[test]
fn writes_missed_by_down_replicas_are_repaired_without_hints() {
    let mut cluster = ae_cluster(&[]);
    let mut keys = Vec::new();
    // Written on node0 alone, then on node1 alone: both directions need repair.
    for (writer, down) in [(0usize, [1usize, 2]), (1, [0, 2])] {
        for p in down {
            cluster.nodes[p].kill();
        }
        for i in 0..150 {
            let key = format!("w{writer}-{i}");
            cluster.nodes[writer].put(&key, json!(i)).expect(201);
            keys.push((key, json!(i)));
        }
        for p in down {
            cluster.nodes[p].restart();
        }
    }
    let resumed = now_secs();
    let took = wait_all_equal(&cluster, resumed, DEADLINE);
    // Two intervals, plus the confirmation pause, on a loaded machine.
    assert!(
        took < Duration::from_millis(2 * INTERVAL_MS + 2000),
        "equal only after {took:?}"
    );
    println!(
        "every replica pair equal {:.2} s after the restarts ({:.1} intervals of {INTERVAL_MS} ms)",
        took.as_secs_f64(),
        took.as_secs_f64() * 1000.0 / INTERVAL_MS as f64
    );
    let repaired: f64 = cluster
        .nodes
        .iter()
        .map(|n| metric(n, "ringkv_anti_entropy_keys_repaired_total"))
        .sum();
    assert!(repaired >= 300.0, "keys repaired: {repaired}");
    each_alone_answers(&mut cluster, &keys);
}

fn ae_keys() -> usize {
    std::env::var("RINGKV_TEST_AE_KEYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

/// Writes `keys` keys `k<i>` = i with 8 client threads through every node.
fn write_keys(cluster: &Cluster, keys: usize, query: &str) {
    std::thread::scope(|s| {
        for t in 0..8 {
            let nodes = &cluster.nodes;
            s.spawn(move || {
                for i in (t..keys).step_by(8) {
                    let node = &nodes[i % nodes.len()];
                    let url = node.item(&format!("k{i}"), query);
                    node.http
                        .json("PUT", &url, &[], &json!({ "value": i }))
                        .expect(201);
                }
            });
        }
    });
}

#[test]
fn a_wiped_replica_converges_with_no_client_traffic() {
    let keys = ae_keys();
    let mut cluster = ae_cluster(&[]);
    write_keys(&cluster, keys, "?w=3");
    cluster.nodes[2].kill();
    cluster.nodes[2].restart_wiped();
    let back = now_secs();
    let took = wait_all_equal(&cluster, back, DEADLINE * 2);
    println!(
        "wiped replica holds all {keys} keys again {:.2} s after its restart",
        took.as_secs_f64()
    );
    // Checked only now, from the repaired replica alone: no client request helped it.
    cluster.nodes[0].kill();
    cluster.nodes[1].kill();
    let alone = &cluster.nodes[2];
    let step = (keys / 2000).max(1);
    for i in (0..keys).step_by(step) {
        let resp = alone.http.get(&alone.item(&format!("k{i}"), "?r=1"));
        assert_eq!(
            resp.status, 200,
            "k{i} on the wiped replica alone: {}",
            resp.body
        );
        assert_eq!(resp.json()["value"], json!(i));
    }
}

#[test]
fn a_delete_missed_by_a_down_replica_never_comes_back() {
    let grace_ms = 300;
    let mut cluster = ae_cluster(&[("tombstone_grace_ms", grace_ms)]);
    for i in 0..20 {
        cluster.nodes[0]
            .put(&format!("gone{i}"), json!(i))
            .expect(201);
    }
    wait_all_equal(&cluster, now_secs(), DEADLINE);
    cluster.nodes[2].kill();
    for i in 0..20 {
        let resp = cluster.nodes[0].delete(&format!("gone{i}"));
        assert!(resp.status == 204 || resp.status == 200, "{}", resp.body);
    }
    // Several intervals and many graces pass: nothing is collected while node2 is down.
    let until = Instant::now() + Duration::from_millis(4 * INTERVAL_MS);
    while Instant::now() < until {
        for node in &cluster.nodes[..2] {
            let collected = metric(node, "ringkv_anti_entropy_tombstones_collected_total");
            assert_eq!(collected, 0.0, "{} collected with a replica down", node.id);
            let resp = node.http.get(&node.item("gone0", "?r=1"));
            assert_eq!(resp.status, 404, "gone0 on {}: {}", node.id, resp.body);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    cluster.nodes[2].restart();
    for node in &cluster.nodes {
        wait_until(
            &format!("{} collects the tombstones", node.id),
            DEADLINE,
            || match metric(node, "ringkv_anti_entropy_tombstones_collected_total") {
                n if n >= 20.0 => Ok(()),
                n => Err(format!("{n} collected")),
            },
        );
    }
    // After collection, rounds go on: still nothing comes back, from any node alone.
    wait_all_equal(&cluster, now_secs(), DEADLINE);
    for alone in 0..3 {
        for other in (0..3).filter(|o| *o != alone) {
            cluster.nodes[other].kill();
        }
        let node = &cluster.nodes[alone];
        for i in 0..20 {
            let resp = node.http.get(&node.item(&format!("gone{i}"), "?r=1"));
            assert_eq!(
                resp.status, 404,
                "gone{i} on {} alone: {}",
                node.id, resp.body
            );
        }
        for other in (0..3).filter(|o| *o != alone) {
            cluster.nodes[other].restart();
        }
    }
}

fn bytes(cluster: &Cluster, kind: &str) -> f64 {
    let label = format!("kind=\"{kind}\"");
    cluster
        .nodes
        .iter()
        .flat_map(|n| metric_lines(n, "ringkv_anti_entropy_bytes_total{"))
        .filter(|(l, _)| l.contains(&label))
        .map(|(_, v)| v)
        .sum()
}

fn exchanges(cluster: &Cluster, result: &str) -> f64 {
    let label = format!("result=\"{result}\"");
    cluster
        .nodes
        .iter()
        .flat_map(|n| metric_lines(n, "ringkv_anti_entropy_exchanges_total{"))
        .filter(|(l, _)| l.contains(&label))
        .map(|(_, v)| v)
        .sum()
}

#[test]
fn efficiency_figures() {
    let Some(keys) = std::env::var("RINGKV_TEST_AE_FIGURES")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    else {
        return;
    };
    let buckets = std::env::var("RINGKV_TEST_AE_BUCKETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(65536u64);
    let cluster = ae_cluster(&[("anti_entropy.buckets", buckets)]);
    write_keys(&cluster, keys, "?w=3");
    wait_all_equal(&cluster, now_secs(), DEADLINE * 4);
    // Equal replicas: the cost of one exchange.
    let (t0, k0, e0) = (
        bytes(&cluster, "tree"),
        bytes(&cluster, "keys"),
        exchanges(&cluster, "equal"),
    );
    wait_all_equal(&cluster, now_secs(), DEADLINE);
    let (t1, k1, e1) = (
        bytes(&cluster, "tree"),
        bytes(&cluster, "keys"),
        exchanges(&cluster, "equal"),
    );
    println!(
        "equal replicas: {:.0} bytes per exchange ({} exchanges)",
        (t1 - t0 + k1 - k0) / (e1 - e0),
        e1 - e0
    );
    // 1% of the keys rewritten with a 100-byte value on node0 while the others are down.
    let divergent = keys / 100;
    let value = "x".repeat(100);
    let mut cluster = cluster;
    cluster.nodes[1].kill();
    cluster.nodes[2].kill();
    let mut data = 0usize;
    for i in 0..divergent {
        let key = format!("k{}", i * 100);
        let status = cluster.nodes[0].put(&key, json!(value)).status;
        assert_eq!(status, 200, "{key} rewritten");
        data += key.len() + value.len() + 12;
    }
    // The restarted nodes count from 0: node0's counters are the whole baseline.
    let node0 = |kind: &str| {
        let label = format!("kind=\"{kind}\"");
        metric_lines(&cluster.nodes[0], "ringkv_anti_entropy_bytes_total{")
            .iter()
            .filter(|(l, _)| l.contains(&label))
            .map(|(_, v)| v)
            .sum::<f64>()
    };
    let (t2, k2, d2) = (node0("tree"), node0("keys"), node0("data"));
    cluster.nodes[1].restart();
    cluster.nodes[2].restart();
    let took = wait_all_equal(&cluster, now_secs(), DEADLINE * 2);
    let (t3, k3, d3) = (
        bytes(&cluster, "tree"),
        bytes(&cluster, "keys"),
        bytes(&cluster, "data"),
    );
    println!(
        "1% divergence ({divergent} of {keys} keys, {buckets} buckets): repaired in {:.2} s; \
         divergent data {data} B per missing replica (key + value + JSON), 2 replicas missing; \
         sets exchanged {:.0} B = {:.2}x the 2 missing copies; \
         tree {:.0} B, key listings {:.0} B",
        took.as_secs_f64(),
        d3 - d2,
        (d3 - d2) / (2 * data) as f64,
        t3 - t2,
        k3 - k2
    );
}
