//! Requests rotate over every `--url` given, repeated or comma-separated.

use crate::harness::{Faults, TestNode, bench};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_spread_over_nodes() {
    let a = TestNode::start(Faults::default()).await;
    let b = TestNode::start(Faults::default()).await;
    let c = TestNode::start(Faults::default()).await;
    let pair = format!("{},{}", a.url, b.url);
    let report = bench(&[
        "--url",
        &pair,
        "--url",
        &c.url,
        "--clients",
        "3",
        "--requests",
        "300",
        "--keys",
        "20",
        "--read-ratio",
        "0.3",
    ])
    .await;

    let per_node: Vec<u64> = [&a, &b, &c]
        .iter()
        .map(|n| n.answered_all("GET") + n.answered_all("PUT"))
        .collect();
    assert_eq!(per_node.iter().sum::<u64>(), 300);
    // Each client walks the nodes in turn, so no node gets much more than its third.
    for n in &per_node {
        assert!((90..=110).contains(n), "{per_node:?}");
    }
    assert_eq!(report.total.errors.total(), 0);
}
