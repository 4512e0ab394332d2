//! `--prefill` writes every key once (retrying injected 503s) before measuring, so a read-only
//! run then hits on every read. One client keeps the injected failures deterministic: every 4th
//! PUT fails and its retry, the 5th, succeeds.

use crate::harness::{Faults, TestNode, bench};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefill_makes_reads_hit() {
    let node = TestNode::start(Faults {
        get_every: None,
        put_every: Some(4),
    })
    .await;
    let report = bench(&[
        "--url",
        &node.url,
        "--clients",
        "6",
        "--requests",
        "300",
        "--keys",
        "150",
        "--value-size",
        "33",
        "--read-ratio",
        "1",
        "--prefill",
        "--seed",
        "5",
    ])
    .await;

    let prefill = report.prefill.expect("a prefill report");
    assert_eq!(prefill.keys, 150);
    assert_eq!(node.answered("PUT", 201), 150, "each key created once");
    assert_eq!(node.answered("PUT", 200), 0, "no key written twice");
    assert_eq!(prefill.attempts, node.answered_all("PUT"));
    assert!(prefill.attempts > 150, "the injected 503s were retried");

    let items = node.items();
    assert_eq!(items.len(), 150);
    for index in 0..150 {
        let value = &items[&format!("bench-{index:08}")];
        assert_eq!(value.as_str().map(str::len), Some(33), "{value}");
    }

    assert_eq!(report.reads.ok, 300);
    assert_eq!(report.reads.misses, 0);
    assert_eq!(report.reads.errors.total(), 0);
    assert_eq!(report.writes.requests(), 0);
    assert_eq!(node.answered("GET", 200), 300);
}
