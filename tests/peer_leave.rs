//! `DELETE /peers/{id}` (API.md): a member leaves the cluster and its data is handed to the new
//! owners before it goes. On 3 nodes with N=2 (W=2), after node2 leaves, the two remaining nodes are
//! both replicas of every key: each of them alone (the other killed, `r=1`) must answer every key
//! written before the leave. The leave answers 202 at once; the member is `leaving`, then `left`
//! on every node. An unknown id answers 404. The route is in `/openapi.json`.

mod common;

use common::{Cluster, DEADLINE, member_statuses, peer_urls, wait_until};
use serde_json::json;

const KEYS: usize = 60;

#[test]
fn a_leaving_member_hands_its_data_over_before_it_goes() {
    let mut cluster = Cluster::builder(3).quorum(2, 1, 2).start();
    let http = cluster.http.clone();
    for i in 0..KEYS {
        cluster.nodes[i % 3]
            .put(&format!("leave/{i}"), json!(i))
            .expect(201);
    }

    let a = &cluster.nodes[0];
    http.raw("DELETE", &a.at("/peers/no-such-member"), &[], None)
        .expect_error(404);
    let resp = http.raw("DELETE", &a.at("/peers/node2"), &[], None);
    assert_eq!(resp.status, 202, "DELETE /peers/node2: {}", resp.body);
    let gone = cluster.nodes[2].url.clone();
    for node in &cluster.nodes {
        wait_until(
            &format!("{} sees node2 left", node.id),
            DEADLINE,
            || match member_statuses(&http, &node.url)?
                .get(&gone)
                .map(String::as_str)
            {
                Some("left") => Ok(()),
                other => Err(format!("node2 is {other:?}")),
            },
        );
    }
    for node in &cluster.nodes[..2] {
        wait_until(
            &format!("{} no longer lists node2", node.id),
            DEADLINE,
            || {
                let peers = peer_urls(&http, &node.url)?;
                if peers.contains(&gone) {
                    Err(format!("{peers:?}"))
                } else {
                    Ok(())
                }
            },
        );
    }
    cluster.nodes[2].kill();

    // Each remaining node alone holds every key.
    for (alone, other) in [(0, 1), (1, 0)] {
        cluster.nodes[other].kill();
        let node = &cluster.nodes[alone];
        for i in 0..KEYS {
            let resp = http.get(&node.item(&format!("leave/{i}"), "?r=1"));
            assert_eq!(
                resp.status, 200,
                "leave/{i} on {} alone: {}",
                node.id, resp.body
            );
            assert_eq!(resp.json(), json!({ "value": i }));
        }
        cluster.nodes[other].restart();
    }
}

#[test]
fn leave_is_documented_in_openapi() {
    let cluster = Cluster::builder(1).quorum(1, 1, 1).start();
    let node = &cluster.nodes[0];
    let spec = node.http.get(&node.at("/openapi.json")).expect(200).json();
    let responses = &spec["paths"]["/peers/{id}"]["delete"]["responses"];
    assert!(
        responses.get("202").is_some(),
        "openapi.json documents DELETE /peers/{{id}}: {responses}"
    );
}
