//! A node nobody listens on: each request is a transport error (connect), `run` fails once nothing
//! succeeded, and a prefill refuses to go on.

use ringkv_loadgen::{BenchError, TransportError};

use crate::harness::{args, bench};

/// A loopback address where nothing listens (bound, then released).
async fn closed_port_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_node_counts_transport_errors() {
    let url = closed_port_url().await;
    let report = bench(&["--url", &url, "--clients", "2", "--requests", "20"]).await;
    assert_eq!(report.total.requests(), 20);
    assert_eq!(report.total.errors.transport(TransportError::Connect), 20);
    assert_eq!(report.total.ok + report.total.misses, 0);
    assert!(report.total.latency.is_none());
    assert!(report.to_string().contains("transport: connect"));

    let err = ringkv_loadgen::run(args(&["--url", &url, "--requests", "4", "--json"]))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no request succeeded"), "{err}");

    let err = ringkv_loadgen::run_with_report(args(&["--url", &url, "--keys", "10", "--prefill"]))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            BenchError::Prefill { total: 10, written: 0, last, .. } if last == "transport: connect"
        ),
        "{err}"
    );
}
