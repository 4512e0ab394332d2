//! `--r` goes out as `?r=` on every GET and `--w` as `?w=` on every PUT; without them no query
//! string is sent.

use crate::harness::{Faults, TestNode, bench};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quorum_overrides_in_the_query() {
    let with = TestNode::start(Faults::default()).await;
    let common = [
        "--clients",
        "4",
        "--requests",
        "100",
        "--keys",
        "10",
        "--seed",
        "3",
    ];
    let mut argv = vec!["--url", with.url.as_str(), "--r", "1", "--w", "3"];
    argv.extend(common);
    let report = bench(&argv).await;
    assert_eq!(report.total.requests(), 100);
    assert_eq!(with.queries("GET"), ["r=1"]);
    assert_eq!(with.queries("PUT"), ["w=3"]);

    let without = TestNode::start(Faults::default()).await;
    let mut argv = vec!["--url", without.url.as_str()];
    argv.extend(common);
    bench(&argv).await;
    assert_eq!(without.queries("GET"), [""]);
    assert_eq!(without.queries("PUT"), [""]);
}
