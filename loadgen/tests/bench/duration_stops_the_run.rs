//! With `--duration` alone the run stops by itself once the time is up, and everything sent is
//! accounted for.

use crate::harness::{Faults, TestNode, bench};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duration_stops_the_run() {
    let node = TestNode::start(Faults::default()).await;
    let report = bench(&[
        "--url",
        &node.url,
        "--clients",
        "4",
        "--duration",
        "0.3",
        "--keys",
        "100",
    ])
    .await;

    assert_eq!(report.settings.duration_secs, Some(0.3));
    assert!(report.elapsed_secs >= 0.3, "{}", report.elapsed_secs);
    assert!(report.total.requests() > 0);
    assert_eq!(
        report.total.requests(),
        node.answered_all("GET") + node.answered_all("PUT")
    );
}
