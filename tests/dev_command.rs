//! `ringkv dev` (NODE_CONTRACT.md): one command starts a local 3-node cluster (N=3, R=W=2) on the
//! given ports with data under the base dir, prints each node's URL and its `/docs` URL; the nodes
//! know each other and serve the API; Ctrl-C (SIGINT) stops them all with exit code 0; started
//! again on the same base dir, the cluster still has its data.

mod common;

use common::{DEADLINE, Http, Proc, free_ports, peer_urls, wait_until};
use serde_json::json;

#[test]
fn dev_starts_three_nodes_serves_and_stops_cleanly_on_ctrl_c() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ports = free_ports(3);
    let list = ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let base = dir.path().join("devdata");
    let base_arg = base.display().to_string();
    let args = ["dev", "--base-dir", &base_arg, "--ports", &list];
    let urls: Vec<String> = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();
    let http = Http::new();

    let mut dev = Proc::spawn(dir.path(), &args);
    for url in &urls {
        dev.wait_for_line(&format!("{url}/docs"));
    }
    for (i, url) in urls.iter().enumerate() {
        let mut others: Vec<String> = urls.iter().filter(|u| *u != url).cloned().collect();
        others.sort();
        wait_until(&format!("{url} lists the two others"), DEADLINE, || {
            let got = peer_urls(&http, url)?;
            if got == others {
                Ok(())
            } else {
                Err(format!("{got:?}"))
            }
        });
        assert!(
            base.join(ports[i].to_string()).is_dir(),
            "data dir of port {}",
            ports[i]
        );
    }
    let config = http.get(&format!("{}/config", urls[0])).expect(200).json();
    assert_eq!(
        config["quorum"],
        json!({"n": 3, "r": 2, "w": 2, "sloppy": true}),
        "{config}"
    );

    let put = format!("{}/items/dev%20key", urls[0]);
    http.json("PUT", &put, &[], &json!({"value": "dev value"}))
        .expect(201);
    for url in &urls {
        let body = http
            .get(&format!("{url}/items/dev%20key"))
            .expect(200)
            .json();
        assert_eq!(body, json!({"value": "dev value"}), "via {url}");
    }

    let status = dev.signal_and_wait("INT");
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after Ctrl-C: {status:?}"
    );
    for url in &urls {
        assert!(
            http.try_send("GET", &format!("{url}/healthcheck"), &[], None)
                .is_err(),
            "{url} still answers after the dev cluster stopped"
        );
    }

    // Same base dir, same ports: the data is still there.
    let dev = Proc::spawn(dir.path(), &args);
    for url in &urls {
        dev.wait_for_line(&format!("{url}/docs"));
    }
    for url in &urls {
        let body = http
            .get(&format!("{url}/items/dev%20key"))
            .expect(200)
            .json();
        assert_eq!(
            body,
            json!({"value": "dev value"}),
            "after restart via {url}"
        );
    }
}
