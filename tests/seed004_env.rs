//! Seed 004's environment: nodes configured only by `HOST`, `PORT` and `N_COPY` (the number of
//! copies). Its third scenario: three nodes started with `N_COPY=2`, joined with `POST /peers`;
//! a value PUT through one is read back through every node, and each key is stored by exactly
//! two of them.

mod common;

use common::{Cluster, DEADLINE, Http, Launch, Node, free_ports, wait_for_peers, wait_until};
use serde_json::json;

fn seed_node(root: &std::path::Path, name: &str, port: u16) -> Node {
    let launch = Launch {
        node_id: None,
        sets: Vec::new(),
        env: vec![("N_COPY".to_string(), "2".to_string())],
        args: Vec::new(),
        address_by_env: true,
        port,
    };
    Node::start_with(root, name, launch, Http::new())
}

#[test]
fn three_nodes_with_n_copy_2_keep_two_copies_and_serve_from_every_node() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ports = free_ports(3);
    let nodes: Vec<Node> = ports
        .iter()
        .enumerate()
        .map(|(i, port)| seed_node(dir.path(), &format!("n{i}"), *port))
        .collect();
    for node in &nodes {
        let config = node.http.get(&node.at("/config")).expect(200).json();
        assert_eq!(config["quorum"]["n"], json!(2), "N_COPY=2 via {}", node.id);
    }
    // As the seed's README: the second node is told about the first and the third, by
    // `http://0.0.0.0:PORT` URLs.
    let [_, second, _] = &nodes[..] else {
        unreachable!()
    };
    for port in [ports[0], ports[2]] {
        let peer_url = format!("http://0.0.0.0:{port}");
        second
            .http
            .json(
                "POST",
                &second.at("/peers"),
                &[],
                &json!({ "peer_url": peer_url }),
            )
            .expect(200);
    }
    wait_for_peers(&nodes.iter().collect::<Vec<_>>());

    let created = second.put("foo", json!("bar")).expect(201);
    assert_eq!(created.json(), json!({"key": "foo", "value": "bar"}));
    for node in &nodes {
        assert_eq!(node.get_value("foo"), json!("bar"), "read via {}", node.id);
    }

    // Each write is stored by exactly two nodes (their commit logs grow), whichever coordinates.
    let cluster = Cluster::adopt(dir, nodes);
    for (i, key) in ["k1", "k2", "k3", "k4"].into_iter().enumerate() {
        let via = &cluster.nodes[i % 3];
        let stored = cluster.stored_by(2, || {
            via.put(key, json!(i)).expect(201);
        });
        assert_eq!(stored.len(), 2, "{key}");
    }
    wait_until("every node reads every key", DEADLINE, || {
        for node in &cluster.nodes {
            for (i, key) in ["k1", "k2", "k3", "k4"].into_iter().enumerate() {
                let got = node.get_value(key);
                if got != json!(i) {
                    return Err(format!("{key} via {}: {got}", node.id));
                }
            }
        }
        Ok(())
    });
}
