//! A chaos test: clients add unique elements to set-valued keys (read, union the siblings, add,
//! PUT with the read's context; `If-None-Match: *` when the read was 404) while a fault thread
//! kills (-9) and pauses (SIGSTOP) random nodes, one at a time. Afterwards, with every node back
//! and the hints replayed, every acknowledged element is in every node's answer. Prints the
//! acknowledged, lost and fault counts. `RINGKV_TEST_CHAOS_SECS` (default 15) sets the length,
//! `RINGKV_TEST_SEED` replays a run's fault schedule.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::{Cluster, DEADLINE, Http, Node, wait_until};
use serde_json::{Value, json};

const KEYS: usize = 6;
const CLIENTS: usize = 4;

fn seconds() -> u64 {
    std::env::var("RINGKV_TEST_CHAOS_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15)
}

fn seed() -> u64 {
    let seed = std::env::var("RINGKV_TEST_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    println!("chaos seed: RINGKV_TEST_SEED={seed}");
    seed
}

struct Rng(u64);

impl Rng {
    fn next(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % bound as u64) as usize
    }
}

/// The elements of a GET answer (200 value or 300 siblings), and its context.
fn elements(resp: &common::Resp) -> (BTreeSet<String>, Option<String>) {
    let body: Value = resp.json();
    let values: Vec<Value> = match (body.get("value"), body.get("values")) {
        (Some(v), _) => vec![v.clone()],
        (_, Some(Value::Array(vs))) => vs.clone(),
        _ => Vec::new(),
    };
    let set = values
        .iter()
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(|e| e.as_str().map(str::to_owned))
        .collect();
    (set, resp.context())
}

/// One client step on `key` through `url`: read, add `element`, write. True when the write
/// was acknowledged.
fn add(http: &Http, url: &str, key: &str, element: &str) -> bool {
    let item = format!("{url}/items/{key}");
    let Ok(read) = http.try_send("GET", &item, &[], None) else {
        return false;
    };
    let (mut set, ctx, create) = match read.status {
        200 | 300 => {
            let (set, ctx) = elements(&read);
            (set, ctx, false)
        }
        404 => (BTreeSet::new(), read.context(), true),
        _ => return false,
    };
    set.insert(element.to_string());
    let body = json!({ "value": set }).to_string().into_bytes();
    let mut headers = vec![("content-type", "application/json")];
    if let Some(ctx) = ctx.as_deref() {
        headers.push(("X-Context", ctx));
    }
    if create && ctx.is_none() {
        headers.push(("If-None-Match", "*"));
    }
    matches!(http.try_send("PUT", &item, &headers, Some(body)), Ok(r) if (200..300).contains(&r.status))
}

#[test]
fn every_acknowledged_element_survives_kills_and_pauses() {
    let mut rng = Rng(seed() | 1);
    let mut cluster = Cluster::builder(4)
        .quorum(3, 2, 2)
        .set("gossip.interval_ms", 200)
        .set("gossip.failure_timeout_ms", 1000)
        .set("gossip.suspect_timeout_ms", 400)
        .set("request_timeout_ms", 3000)
        .set("rpc_timeout_ms", 1000)
        .set("hinted_handoff.replay_interval_ms", 300)
        .start();
    let http = cluster.http.clone();
    let urls = cluster.urls();
    let acked: Mutex<BTreeMap<String, BTreeSet<String>>> = Mutex::new(BTreeMap::new());
    let attempts = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let mut faults = 0;
    let deadline = Instant::now() + Duration::from_secs(seconds());
    let client_seeds: Vec<u64> = (0..CLIENTS).map(|_| rng.next(1 << 30) as u64 + 1).collect();
    thread::scope(|s| {
        for (t, seed) in client_seeds.into_iter().enumerate() {
            let (http, urls, acked, attempts, stop) = (&http, &urls, &acked, &attempts, &stop);
            s.spawn(move || {
                let mut rng = Rng(seed);
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let key = format!("set{}", rng.next(KEYS));
                    let url = &urls[rng.next(urls.len())];
                    let element = format!("c{t}-{i}");
                    i += 1;
                    attempts.fetch_add(1, Ordering::Relaxed);
                    if add(http, url, &key, &element) {
                        acked
                            .lock()
                            .unwrap()
                            .entry(key)
                            .or_default()
                            .insert(element);
                    }
                }
            });
        }
        while Instant::now() < deadline {
            let victim = rng.next(cluster.nodes.len());
            let pause = rng.next(2) == 0;
            thread::sleep(Duration::from_millis(300 + rng.next(700) as u64));
            if pause {
                cluster.nodes[victim].pause();
            } else {
                cluster.nodes[victim].kill();
            }
            faults += 1;
            thread::sleep(Duration::from_millis(500 + rng.next(1500) as u64));
            if pause {
                cluster.nodes[victim].resume();
            } else {
                cluster.nodes[victim].restart();
            }
        }
        stop.store(true, Ordering::Relaxed);
    });
    cluster.wait_for_membership();
    let nodes: Vec<&Node> = cluster.nodes.iter().collect();
    wait_until("every hint delivered", DEADLINE, || {
        let pending: u64 = nodes
            .iter()
            .map(|n| {
                let text = n.http.get(&n.at("/metrics")).expect(200).body;
                text.lines()
                    .find_map(|l| l.strip_prefix("ringkv_hints_pending ")?.trim().parse().ok())
                    .unwrap_or(0)
            })
            .sum();
        if pending == 0 {
            Ok(())
        } else {
            Err(format!("{pending} pending"))
        }
    });
    let acked = acked.into_inner().unwrap();
    let total: usize = acked.values().map(BTreeSet::len).sum();
    let mut lost = Vec::new();
    for node in &cluster.nodes {
        for (key, want) in &acked {
            let resp = http.get(&node.item(key, ""));
            let (have, _) = if resp.status == 404 {
                (BTreeSet::new(), None)
            } else {
                elements(&resp)
            };
            lost.extend(
                want.difference(&have)
                    .map(|e| format!("{e} of {key} via {}", node.id)),
            );
        }
    }
    println!(
        "chaos: {} attempts, {total} elements acknowledged, {} lost, {faults} faults (kill -9 \
         and SIGSTOP, one node at a time)",
        attempts.load(Ordering::Relaxed),
        lost.len()
    );
    assert!(total > 0, "some writes were acknowledged");
    assert!(lost.is_empty(), "lost: {:?}", &lost[..lost.len().min(10)]);
}
