//! Node-to-node traffic has its own admission limit: a node whose client requests fill
//! `max_concurrent_requests` still answers its peers' merges and reads at once. Node 1 takes two
//! client reads at a time (`max_concurrent_requests=2`); two clients keep it full with `r=3` reads
//! that wait on a hung replica (node 2, SIGSTOP, not yet suspected). A write and a read through
//! node 0 need node 1's internal answers: they succeed at once instead of timing out.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::Cluster;
use serde_json::json;

#[test]
fn a_node_full_of_client_requests_still_answers_its_peers() {
    let mut cluster = Cluster::builder(3)
        .quorum(3, 2, 2)
        .set("max_concurrent_requests", 2)
        .set("request_timeout_ms", 6_000)
        .set("rpc_timeout_ms", 5_000)
        .set("gossip.failure_timeout_ms", 120_000)
        .start();
    cluster.nodes[0].put("busy", json!("before")).expect(201);
    cluster.nodes[2].pause();
    let [a, b, _] = &cluster.nodes[..] else {
        unreachable!()
    };
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    // Holds one of node 1's two client slots until its deadline.
                    let _ = b.http.try_send("GET", &b.item("busy", "?r=3"), &[], None);
                }
            });
        }
        // Let the two slow reads take node 1's slots.
        thread::sleep(Duration::from_millis(500));
        let start = Instant::now();
        let write = a.put("busy", json!("after"));
        let wrote = start.elapsed();
        let read = a.http.get(&a.item("busy", ""));
        let read_took = start.elapsed() - wrote;
        stop.store(true, Ordering::Relaxed);
        println!(
            "with node 1's client slots full: write through node 0 {} in {wrote:?}, read {} in \
             {read_took:?}",
            write.status, read.status
        );
        assert_eq!(write.status, 200, "{}", write.body);
        assert!(wrote < Duration::from_secs(3), "the write waited {wrote:?}");
        assert_eq!(read.expect(200).json(), json!({"value": "after"}));
        assert!(
            read_took < Duration::from_secs(3),
            "the read waited {read_took:?}"
        );
    });
    cluster.nodes[2].resume();
}
