//! `run_until`: once the interrupt future completes, clients stop after their in-flight request
//! and the report, marked interrupted, still accounts for every request sent.

use std::time::Duration;

use crate::harness::{Faults, TestNode, args};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupt_ends_the_run_early() {
    let node = TestNode::start(Faults::default()).await;
    let interrupt = async {
        // Interrupt once the run is well under way.
        while node.answered_all("GET") + node.answered_all("PUT") < 50 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let run = ringkv_loadgen::run_until(
        args(&["--url", &node.url, "--clients", "4", "--duration", "600"]),
        interrupt,
    );
    let report = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the interrupt ended the 600 s run")
        .expect("the bench ran");

    assert!(report.interrupted);
    assert!(report.total.requests() >= 50);
    assert_eq!(
        report.total.requests(),
        node.answered_all("GET") + node.answered_all("PUT")
    );
    assert!(report.to_string().contains("(interrupted)"));
}
