//! A hung replica behind a forwarded write: on a 5-node cluster (N=3, R=W=2,
//! `request_timeout_ms=1500`), a key's replicas are found from the outside, and then each of them
//! in turn is paused (SIGSTOP) while the key is read and written through a node that is not a
//! replica. Two replicas are up each time, so every request has its quorum: it must answer
//! 2xx within the request timeout (the deadline holds), whichever replica hangs.
//!
//! Found in issue 16: a write forwarded to a hung first replica waited `request_timeout +
//! rpc_timeout` and answered 503 although two replicas were up. A write may not be retried on
//! a second coordinator once sent (it could be applied twice), so the forwarder now picks a
//! replica that answers (one that answered a moment ago, or a ping) before sending it.

mod common;

use std::time::{Duration, Instant};

use common::Cluster;
use serde_json::json;

const REQUEST_TIMEOUT: Duration = Duration::from_millis(1500);
const SLACK: Duration = Duration::from_millis(2500);

#[test]
fn a_forwarded_write_with_one_hung_replica_answers_within_the_deadline() {
    let mut cluster = Cluster::builder(5)
        .quorum(3, 2, 2)
        .set("request_timeout_ms", REQUEST_TIMEOUT.as_millis())
        .set("rpc_timeout_ms", 2000)
        .start();
    let key = "behind-a-forward";
    let replicas = cluster.stored_by(3, || {
        cluster.nodes[0].put(key, json!(0)).expect(201);
    });
    let outsider = (0..5).find(|n| !replicas.contains(n)).unwrap();
    let mut failures = Vec::new();
    for (round, &hung) in replicas.iter().enumerate() {
        cluster.nodes[hung].pause();
        let via = &cluster.nodes[outsider];
        let start = Instant::now();
        let read = via.get(key);
        let read_took = start.elapsed();
        let start = Instant::now();
        let write = via.put(key, json!(round + 1));
        let write_took = start.elapsed();
        println!(
            "{} hung, via {}: GET {} in {} ms, PUT {} in {} ms ({})",
            cluster.nodes[hung].id,
            via.id,
            read.status,
            read_took.as_millis(),
            write.status,
            write_took.as_millis(),
            write.body
        );
        assert_eq!(
            read.status, 200,
            "GET with {} hung: {}",
            cluster.nodes[hung].id, read.body
        );
        assert!(
            read_took < REQUEST_TIMEOUT,
            "GET waited for the hung replica"
        );
        if write.status != 200 || write_took >= REQUEST_TIMEOUT + SLACK {
            failures.push(format!(
                "{} hung: PUT {} after {write_took:?}: {}",
                cluster.nodes[hung].id, write.status, write.body
            ));
        }
        cluster.nodes[hung].resume();
    }
    assert!(
        failures.is_empty(),
        "forwarded writes failed: {failures:#?}"
    );
}
