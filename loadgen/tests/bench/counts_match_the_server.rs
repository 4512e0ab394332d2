//! Every request the tool sends is counted once, under the same verdict the server gave it:
//! oks, misses (404 on never-written keys) and injected 503s, per operation.

use crate::harness::{Faults, TestNode, bench};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_match_the_server() {
    let node = TestNode::start(Faults {
        get_every: Some(7),
        put_every: Some(5),
    })
    .await;
    let report = bench(&[
        "--url",
        &node.url,
        "--clients",
        "8",
        "--requests",
        "600",
        "--keys",
        "40",
        "--read-ratio",
        "0.5",
        "--seed",
        "11",
    ])
    .await;

    assert_eq!(report.total.requests(), 600);
    assert_eq!(node.answered_all("GET") + node.answered_all("PUT"), 600);

    assert_eq!(report.reads.ok, node.answered("GET", 200));
    assert_eq!(report.reads.misses, node.answered("GET", 404));
    assert_eq!(report.reads.errors.status(503), node.answered("GET", 503));
    assert_eq!(report.reads.errors.total(), node.answered("GET", 503));

    assert_eq!(
        report.writes.ok,
        node.answered("PUT", 200) + node.answered("PUT", 201)
    );
    assert_eq!(report.writes.errors.status(503), node.answered("PUT", 503));
    assert_eq!(report.writes.errors.total(), node.answered("PUT", 503));
    assert_eq!(report.writes.misses, 0);

    // The injection is deterministic per method: every 7th GET and every 5th PUT.
    assert_eq!(node.answered("GET", 503), node.answered_all("GET") / 7);
    assert_eq!(node.answered("PUT", 503), node.answered_all("PUT") / 5);
    assert!(report.total.errors.status(503) > 0);

    assert_eq!(report.total.ok, report.reads.ok + report.writes.ok);
    assert_eq!(report.total.misses, report.reads.misses);
    assert!(report.total.latency.is_some());
    assert!(report.total.ops_per_sec > 0.0);
    let text = report.to_string();
    assert!(text.contains("HTTP 503"), "{text}");
}
