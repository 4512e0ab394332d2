//! A storm of writes to one hot key does not stall other keys' writes: on 3 nodes (N=3, W=2,
//! fsync on every write), one client writes distinct keys and measures each write alone, then
//! again while 600 clients hammer one key through the same node. Every other-key write succeeds, and none waits
//! anywhere near the request timeout (the per-key lock is an async lock, so requests queued
//! behind the hot key never park the blocking threads every write needs). The p50/p99 of the
//! other keys before and during the storm are printed.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::{Cluster, Node};
use serde_json::json;

/// Storm clients: more than the runtime's 512 blocking threads, all on the node the other
/// writes go through, so a lock held across the storage call on a blocking thread would park
/// every blocking thread behind the hot key.
const STORM: usize = 600;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Writes `count` distinct keys through `node`, one at a time; the sorted latencies.
fn other_key_writes(node: &Node, tag: &str, count: usize) -> Vec<Duration> {
    let mut took: Vec<Duration> = (0..count)
        .map(|i| {
            let start = Instant::now();
            node.put(&format!("{tag}{i}"), json!(i)).expect(201);
            start.elapsed()
        })
        .collect();
    took.sort();
    took
}

#[test]
fn a_hot_key_storm_does_not_stall_other_keys() {
    let timeout = Duration::from_secs(5);
    let cluster = Cluster::builder(3)
        .quorum(3, 2, 2)
        .set("request_timeout_ms", timeout.as_millis())
        .start();
    let quiet = other_key_writes(&cluster.nodes[1], "quiet", 100);
    let stop = AtomicBool::new(false);
    let hot_writes = AtomicUsize::new(0);
    let during = thread::scope(|s| {
        for t in 0..STORM {
            let (stop, hot_writes, node) = (&stop, &hot_writes, &cluster.nodes[1]);
            s.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let body = json!({ "value": t }).to_string().into_bytes();
                    let url = node.item("hot", "");
                    let headers = [("content-type", "application/json")];
                    if let Ok(r) = node.http.try_send("PUT", &url, &headers, Some(body))
                        && (200..300).contains(&r.status)
                    {
                        hot_writes.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        thread::sleep(Duration::from_millis(500));
        let during = other_key_writes(&cluster.nodes[1], "busy", 100);
        stop.store(true, Ordering::Relaxed);
        during
    });
    println!(
        "other-key writes, p50 / p99 / max: alone {:?} / {:?} / {:?}; during a {STORM}-client storm on \
         one key ({} hot writes) {:?} / {:?} / {:?}",
        percentile(&quiet, 0.5),
        percentile(&quiet, 0.99),
        quiet[quiet.len() - 1],
        hot_writes.load(Ordering::Relaxed),
        percentile(&during, 0.5),
        percentile(&during, 0.99),
        during[during.len() - 1],
    );
    assert!(
        during[during.len() - 1] < timeout / 2,
        "an other-key write waited {:?}",
        during[during.len() - 1]
    );
}
