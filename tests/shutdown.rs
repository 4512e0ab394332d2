//! Graceful shutdown: SIGTERM while client threads are writing. The node exits with code 0, and once
//! restarted on the same data dir every write it acknowledged (2xx) is readable with its value.
//!
//! The node runs with `storage.sync=interval` and a long interval, so acknowledged writes are on disk
//! only if the shutdown path flushes and syncs the storage engine (SIGKILL durability is tested with
//! the default `always` in node_failure.rs).

mod common;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;

use common::{Cluster, DEADLINE, wait_until};
use serde_json::json;

const WRITERS: usize = 4;

#[test]
fn sigterm_during_writes_exits_0_and_loses_no_acknowledged_write() {
    let mut cluster = Cluster::builder(1)
        .quorum(1, 1, 1)
        .set("storage.sync", "interval")
        .set("storage.sync_interval_ms", 600_000)
        .start();
    let url = cluster.nodes[0].url.clone();
    let http = cluster.http.clone();

    let stop = AtomicBool::new(false);
    let acked_count = AtomicUsize::new(0);
    let acked: Mutex<Vec<(String, u64)>> = Mutex::new(Vec::new());
    let status = thread::scope(|scope| {
        for t in 0..WRITERS {
            let (http, url, stop, acked, acked_count) = (&http, &url, &stop, &acked, &acked_count);
            scope.spawn(move || {
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let key = format!("w{t}-{i:06}");
                    let value = (t as u64) << 32 | i;
                    let body = json!({ "value": value }).to_string().into_bytes();
                    let item = format!("{url}/items/{key}");
                    let headers = [("content-type", "application/json")];
                    // Refused connections and 503s after the signal are expected; only 2xx count.
                    if let Ok(resp) = http.try_send("PUT", &item, &headers, Some(body))
                        && (200..300).contains(&resp.status)
                    {
                        acked.lock().expect("acked lock").push((key, value));
                        acked_count.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        wait_until(
            "the writers have 200 acknowledged writes",
            DEADLINE,
            || match acked_count.load(Ordering::Relaxed) {
                n if n >= 200 => Ok(()),
                n => Err(format!("{n} acknowledged")),
            },
        );
        let status = cluster.nodes[0].terminate();
        stop.store(true, Ordering::Relaxed);
        status
    });
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGTERM: {status:?}"
    );

    let acked = acked.into_inner().expect("acked lock");
    cluster.nodes[0].restart();
    let node = &cluster.nodes[0];
    let mut missing = Vec::new();
    for (key, value) in &acked {
        let resp = node.get(key);
        if resp.status != 200 || resp.json() != json!({ "value": value }) {
            missing.push(format!("{key}: {} {}", resp.status, resp.body));
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged writes lost after SIGTERM + restart, e.g. {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
}

#[test]
fn sigterm_on_an_idle_cluster_member_exits_0_and_it_rejoins_on_restart() {
    let mut cluster = Cluster::builder(3).quorum(3, 2, 2).start();
    cluster.nodes[1].put("k", json!("v")).expect(201);
    let status = cluster.nodes[1].terminate();
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGTERM: {status:?}"
    );
    cluster.nodes[0].put("k", json!("v2")).expect(200);
    cluster.nodes[1].restart();
    cluster.wait_for_membership();
    for node in &cluster.nodes {
        assert_eq!(node.get_value("k"), json!("v2"), "via {}", node.id);
    }
}
