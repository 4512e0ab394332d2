//! Data movement on membership changes, under load, with real processes:
//! - a 3-node cluster holding many keys (`RINGKV_TEST_MOVE_KEYS`, default 3000; the closing
//!   figures use 100k on a release build) under continuous reads and writes grows to 5 nodes,
//!   then two of the original three leave: at every moment every acknowledged write is readable
//!   at the default R from every node, and no request fails. Each step prints how long the move
//!   took, how many keys moved, and the ring diff's prediction;
//! - a node killed -9 in the middle of its join, and one killed in the middle of its leave,
//!   finish the move after a restart, and nothing acknowledged is lost.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock};
use std::thread;
use std::time::{Duration, Instant};

use common::{Cluster, DEADLINE, Http, Node, member_statuses, wait_for_peers, wait_until};
use serde_json::{Value, json};

fn key_count() -> usize {
    std::env::var("RINGKV_TEST_MOVE_KEYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3_000)
}

/// PUTs `key{i}` = i for every i in `range` through the nodes at `urls`, 8 threads.
fn preload(http: &Http, urls: &[String], range: std::ops::Range<usize>) {
    let next = AtomicUsize::new(range.start);
    thread::scope(|s| {
        for t in 0..8 {
            let next = &next;
            s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= range.end {
                        break;
                    }
                    let url = format!("{}/items/key{i}", urls[(i + t) % urls.len()]);
                    http.json("PUT", &url, &[], &json!({ "value": i }))
                        .expect(201);
                }
            });
        }
    });
}

/// What the load saw.
#[derive(Default)]
struct Tally {
    reads: AtomicUsize,
    writes: AtomicUsize,
    /// Wrong answers: a 404 or another value for an acknowledged write, or any 5xx.
    errors: Mutex<Vec<String>>,
}

/// Readers and writers against the nodes in `targets` until `stop`: writers PUT fresh keys,
/// readers GET random preloaded or acknowledged keys at the default R and check the value.
fn run_load(
    http: &Http,
    targets: &RwLock<Vec<String>>,
    preloaded: usize,
    acked: &Mutex<Vec<(String, Value)>>,
    tally: &Tally,
    stop: &AtomicBool,
) {
    thread::scope(|s| {
        for t in 0..2 {
            s.spawn(move || {
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let urls = targets.read().unwrap().clone();
                    let key = format!("live{t}-{i}");
                    let url = format!("{}/items/{key}", urls[i % urls.len()]);
                    match http.try_send(
                        "PUT",
                        &url,
                        &[("content-type", "application/json")],
                        Some(json!({ "value": i }).to_string().into_bytes()),
                    ) {
                        Ok(r) if r.status == 201 => {
                            acked.lock().unwrap().push((key, json!({ "value": i })));
                            tally.writes.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(r) => tally
                            .errors
                            .lock()
                            .unwrap()
                            .push(format!("PUT {url}: {} {}", r.status, r.body)),
                        Err(e) => tally.errors.lock().unwrap().push(format!("PUT {url}: {e}")),
                    }
                }
            });
        }
        for t in 0..3 {
            s.spawn(move || {
                let mut x: u64 = 0x9E37_79B9 + t;
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let urls = targets.read().unwrap().clone();
                    let (key, want) = if i % 2 == 0 || acked.lock().unwrap().is_empty() {
                        let k = (x as usize) % preloaded;
                        (format!("key{k}"), json!({ "value": k }))
                    } else {
                        let acked = acked.lock().unwrap();
                        acked[(x as usize) % acked.len()].clone()
                    };
                    let url = format!("{}/items/{key}", urls[(x as usize / 7) % urls.len()]);
                    match http.try_send("GET", &url, &[], None) {
                        Ok(r) if r.status == 200 && r.json() == want => {
                            tally.reads.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(r) => tally
                            .errors
                            .lock()
                            .unwrap()
                            .push(format!("GET {url}: {} {}", r.status, r.body)),
                        Err(e) => tally.errors.lock().unwrap().push(format!("GET {url}: {e}")),
                    }
                }
            });
        }
    });
}

fn metric(http: &Http, node: &Node, name: &str) -> u64 {
    let text = http.get(&node.at("/metrics")).expect(200).body;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0)
}

/// Polls `node`'s view of `subject` until it has `status`; returns the largest predicted
/// share seen in the subject's movement meanwhile.
fn wait_member(http: &Http, observer: &Node, subject_url: &str, status: &str) -> f64 {
    let mut predicted: f64 = 0.0;
    wait_until(&format!("{subject_url} {status}"), DEADLINE * 3, || {
        let peers = http.get(&observer.at("/peers")).expect(200).json();
        for m in peers["members"].as_array().into_iter().flatten() {
            if m["url"] == json!(subject_url)
                && let Some(share) = m["movement"]["predicted_share"].as_f64()
            {
                predicted = predicted.max(share);
            }
        }
        match member_statuses(http, &observer.url)?.get(subject_url) {
            Some(s) if s == status => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    predicted
}

#[test]
fn growing_to_five_then_losing_two_originals_under_load_keeps_every_write_readable() {
    let keys = key_count();
    let mut cluster = Cluster::builder(3)
        .set("gossip.interval_ms", 200)
        .set("gossip.failure_timeout_ms", 2000)
        .start();
    let http = cluster.http.clone();
    preload(&http, &cluster.urls(), 0..keys);
    let targets = RwLock::new(cluster.urls());
    let acked = Mutex::new(Vec::new());
    let tally = Tally::default();
    let stop = AtomicBool::new(false);
    let mut steps = Vec::new();
    thread::scope(|s| {
        s.spawn(|| run_load(&http, &targets, keys, &acked, &tally, &stop));
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            for id in ["node3", "node4"] {
                let i = cluster.add_node(id, &[]);
                let url = cluster.nodes[i].url.clone();
                let start = Instant::now();
                let join = json!({ "peer_url": url });
                http.json("POST", &cluster.nodes[0].at("/peers"), &[], &join)
                    .expect(200);
                let predicted = wait_member(&http, &cluster.nodes[0], &url, "alive");
                let nodes: Vec<&Node> = cluster.nodes.iter().collect();
                wait_for_peers(&nodes);
                let moved = metric(&http, &cluster.nodes[i], "ringkv_moved_keys_total");
                steps.push(format!(
                    "join {id}: {:.2} s, {moved} keys moved in, ring diff predicted {:.1}% of \
                     {} keys = {:.0}",
                    start.elapsed().as_secs_f64(),
                    predicted * 100.0,
                    keys,
                    predicted * keys as f64
                ));
                targets.write().unwrap().push(url);
            }
            for i in [0, 1] {
                let (id, url) = (cluster.nodes[i].id.clone(), cluster.nodes[i].url.clone());
                let start = Instant::now();
                let resp = http.raw(
                    "DELETE",
                    &cluster.nodes[2].at(&format!("/peers/{id}")),
                    &[],
                    None,
                );
                assert_eq!(resp.status, 202, "{}", resp.body);
                let predicted = wait_member(&http, &cluster.nodes[2], &url, "left");
                let moved = metric(&http, &cluster.nodes[i], "ringkv_moved_keys_total");
                steps.push(format!(
                    "leave {id}: {:.2} s, {moved} keys handed off (new copies it sent), ring \
                     diff predicted it gives away {:.1}% of the key space",
                    start.elapsed().as_secs_f64(),
                    predicted * 100.0
                ));
                targets.write().unwrap().retain(|u| *u != url);
                // Let the load move off it before it stops.
                thread::sleep(Duration::from_millis(300));
                cluster.nodes[i].kill();
            }
        }));
        stop.store(true, Ordering::Relaxed);
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
    });
    for step in &steps {
        println!("{step}");
    }
    // A node answers 503 "has left the cluster" once it left; the load drops it from its
    // targets as soon as it sees that, so a few requests chosen just before may get it.
    let errors = tally.errors.lock().unwrap();
    let (left, errors): (Vec<&String>, Vec<&String>) = errors
        .iter()
        .partition(|e| e.contains("has left the cluster"));
    println!(
        "{} requests reached a node after it left (503, by design)",
        left.len()
    );
    println!(
        "load: {} reads checked, {} writes acknowledged, {} errors",
        tally.reads.load(Ordering::Relaxed),
        tally.writes.load(Ordering::Relaxed),
        errors.len()
    );
    assert!(
        errors.is_empty(),
        "{} errors, e.g. {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
    // Every acknowledged write, from every remaining node, at the default R.
    let acked = acked.into_inner().unwrap();
    let mut all: HashMap<String, Value> = (0..keys)
        .map(|i| (format!("key{i}"), json!({ "value": i })))
        .collect();
    all.extend(acked);
    for node in cluster.nodes.iter().filter(|n| n.is_running()) {
        let missing: Vec<&String> = all
            .iter()
            .filter(|(k, v)| {
                let r = http.get(&node.item(k, ""));
                r.status != 200 || r.json() != **v
            })
            .map(|(k, _)| k)
            .take(5)
            .collect();
        assert!(missing.is_empty(), "via {}: missing {missing:?}", node.id);
    }
}

/// Every preloaded key answers its value from every running node (4 reader threads).
fn assert_all_readable(cluster: &Cluster, keys: usize) {
    for node in cluster.nodes.iter().filter(|n| n.is_running()) {
        thread::scope(|s| {
            for t in 0..4 {
                s.spawn(move || {
                    for i in (t..keys).step_by(4) {
                        let resp = cluster.http.get(&node.item(&format!("key{i}"), ""));
                        assert_eq!(resp.status, 200, "key{i} via {}: {}", node.id, resp.body);
                        assert_eq!(resp.json(), json!({ "value": i }), "key{i} via {}", node.id);
                    }
                });
            }
        });
    }
}

#[test]
fn a_node_killed_mid_join_finishes_its_join_after_a_restart() {
    let keys = 1_200;
    let mut cluster = Cluster::builder(3).set("gossip.interval_ms", 200).start();
    let http = cluster.http.clone();
    preload(&http, &cluster.urls(), 0..keys);
    // A slow joiner, so the kill lands mid-move.
    let i = cluster.add_node("node3", &["move_rate_keys_per_sec=200".into()]);
    let url = cluster.nodes[i].url.clone();
    http.json(
        "POST",
        &cluster.nodes[0].at("/peers"),
        &[],
        &json!({ "peer_url": url }),
    )
    .expect(200);
    wait_until("node3 has moved some keys", DEADLINE, || {
        let peers = http.get(&cluster.nodes[i].at("/peers")).expect(200).json();
        let me = peers["members"]
            .as_array()
            .and_then(|ms| ms.iter().find(|m| m["url"] == json!(url)).cloned())
            .unwrap_or_default();
        match me["movement"]["keys_moved"].as_u64() {
            Some(n) if n > 0 && me["status"] == json!("joining") => Ok(()),
            _ => Err(me.to_string()),
        }
    });
    cluster.nodes[i].kill();
    assert_all_readable(&cluster, keys);
    cluster.nodes[i].restart();
    wait_member(&http, &cluster.nodes[0], &url, "alive");
    let nodes: Vec<&Node> = cluster.nodes.iter().collect();
    wait_for_peers(&nodes);
    assert_all_readable(&cluster, keys);
}

#[test]
fn a_node_killed_mid_leave_finishes_its_leave_after_a_restart() {
    let keys = 1_200;
    let mut cluster = Cluster::builder(4)
        .set("gossip.interval_ms", 200)
        .set("move_rate_keys_per_sec", 200)
        .start();
    let http = cluster.http.clone();
    preload(&http, &cluster.urls(), 0..keys);
    let (id, url) = (cluster.nodes[3].id.clone(), cluster.nodes[3].url.clone());
    let resp = http.raw(
        "DELETE",
        &cluster.nodes[0].at(&format!("/peers/{id}")),
        &[],
        None,
    );
    assert_eq!(resp.status, 202, "{}", resp.body);
    wait_until("node3 has handed off some keys", DEADLINE, || {
        let peers = http.get(&cluster.nodes[0].at("/peers")).expect(200).json();
        let me = peers["members"]
            .as_array()
            .and_then(|ms| ms.iter().find(|m| m["url"] == json!(url)).cloned())
            .unwrap_or_default();
        match me["movement"]["keys_moved"].as_u64() {
            Some(n) if n > 0 && me["status"] == json!("leaving") => Ok(()),
            _ => Err(me.to_string()),
        }
    });
    cluster.nodes[3].kill();
    assert_all_readable(&cluster, keys);
    cluster.nodes[3].restart();
    wait_member(&http, &cluster.nodes[0], &url, "left");
    cluster.nodes[3].kill();
    // N=3 on the three members left: each one alone holds every key.
    for alone in 0..3 {
        for other in (0..3).filter(|&o| o != alone) {
            cluster.nodes[other].kill();
        }
        let node = &cluster.nodes[alone];
        for i in 0..keys {
            let resp = http.get(&node.item(&format!("key{i}"), "?r=1"));
            assert_eq!(
                resp.status, 200,
                "key{i} on {} alone: {}",
                node.id, resp.body
            );
        }
        for other in (0..3).filter(|&o| o != alone) {
            cluster.nodes[other].restart();
        }
    }
}
