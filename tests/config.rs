//! `GET /config` and `PUT /config` on a 3-node cluster:
//! - GET answers the whole effective config, with the `--set` overrides applied;
//! - a valid partial PUT answers 200 with the new config, reaches every node without restarts, and
//!   takes effect (a default W of 3 makes writes fail with one node down; W=1 makes them pass);
//!   a member that was down during the update gets it once restarted (the newest settings win over
//!   the ones it persisted); a new gossip interval changes how often members heartbeat;
//! - two concurrent updates on two nodes end with one deterministic winner on every node, and
//!   each answer names the settings version it produced;
//! - an invalid PUT (out-of-range quorum, unknown key or section, a non-hot section, wrong types,
//!   malformed JSON) answers 422 (400 for malformed JSON) with a `detail` and changes nothing on any
//!   node.

mod common;

use common::{Cluster, DEADLINE, Node, wait_until};
use serde_json::{Value, json};

fn get_config(node: &Node) -> Value {
    node.http.get(&node.at("/config")).expect(200).json()
}

fn put_config(node: &Node, body: &Value) -> common::Resp {
    node.http.json("PUT", &node.at("/config"), &[], body)
}

#[track_caller]
fn wait_config_everywhere(cluster: &Cluster, what: &str, check: impl Fn(&Value) -> bool) {
    for node in cluster.nodes.iter().filter(|n| n.is_running()) {
        wait_until(&format!("{} has {what}", node.id), DEADLINE, || {
            let config = get_config(node);
            if check(&config) {
                Ok(())
            } else {
                Err(config.to_string())
            }
        });
    }
}

#[test]
fn get_config_shows_the_effective_config() {
    let cluster = Cluster::builder(1)
        .quorum(1, 1, 1)
        .set("request_timeout_ms", 2345)
        .set("versioning.max_siblings", 7)
        .set("gossip.interval_ms", 300)
        .start();
    let config = get_config(&cluster.nodes[0]);
    assert_eq!(config["request_timeout_ms"], json!(2345), "{config}");
    assert_eq!(
        config["quorum"],
        json!({"n": 1, "r": 1, "w": 1, "sloppy": true}),
        "{config}"
    );
    assert_eq!(config["versioning"]["max_siblings"], json!(7), "{config}");
    assert_eq!(config["gossip"]["interval_ms"], json!(300), "{config}");
    for section in [
        "storage",
        "quorum",
        "gossip",
        "anti_entropy",
        "versioning",
        "hinted_handoff",
    ] {
        assert!(config[section].is_object(), "section {section} in {config}");
    }
    for key in [
        "node_id",
        "public_url",
        "max_value_bytes",
        "rpc_timeout_ms",
        "tokens_per_member",
    ] {
        assert!(config.get(key).is_some(), "key {key} in {config}");
    }
    assert_eq!(config["node_id"], json!("node0"));
    assert_eq!(config["public_url"], json!(cluster.nodes[0].url));
}

#[test]
fn a_valid_update_reaches_every_node_and_takes_effect() {
    let mut cluster = Cluster::builder(3).quorum(3, 2, 2).start();

    let resp = put_config(
        &cluster.nodes[0],
        &json!({"quorum": {"w": 3}, "versioning": {"max_siblings": 9}}),
    );
    let config = resp.expect(200).json();
    assert_eq!(
        config["quorum"],
        json!({"n": 3, "r": 2, "w": 3, "sloppy": true}),
        "{config}"
    );
    assert_eq!(config["versioning"]["max_siblings"], json!(9));
    wait_config_everywhere(&cluster, "w=3 and max_siblings=9", |c| {
        c["quorum"]["w"] == json!(3) && c["versioning"]["max_siblings"] == json!(9)
    });
    // Untouched settings stay.
    assert_eq!(get_config(&cluster.nodes[1])["quorum"]["r"], json!(2));

    // W=3 is now the default everywhere: with a node down, a write without ?w through any node
    // cannot reach it.
    cluster.nodes[2].kill();
    for node in &cluster.nodes[..2] {
        node.put("needs-three", json!(1))
            .expect_quorum_error("write", 2, 3, 3);
    }

    // Lower it through another node: the live members take it and writes pass again.
    put_config(&cluster.nodes[1], &json!({"quorum": {"w": 1}})).expect(200);
    wait_config_everywhere(&cluster, "w=1", |c| c["quorum"]["w"] == json!(1));
    cluster.nodes[0].put("needs-one", json!(1)).expect(201);
    assert_eq!(cluster.nodes[1].get_value("needs-one"), json!(1));
}

#[test]
fn an_invalid_update_is_refused_and_changes_nothing() {
    let cluster = Cluster::builder(3).quorum(3, 2, 2).start();
    let before: Vec<Value> = cluster.nodes.iter().map(get_config).collect();
    let invalid = [
        json!({"quorum": {"r": 4}}),
        json!({"quorum": {"w": 0}}),
        json!({"quorum": {"n": 0}}),
        json!({"quorum": {"n": 1}}),
        json!({"quorum": {"w": 1, "r": 9}}),
        json!({"quorum": {"w": "two"}}),
        json!({"quorum": {"x": 1}}),
        json!({"gossip": {"interval_ms": 0}}),
        json!({"no_such_section": {"a": 1}}),
        json!({"storage": {"sync": "never"}}),
        json!({"max_value_bytes": 5}),
        json!([1, 2]),
        json!("quorum"),
    ];
    let mut failures = Vec::new();
    for (i, body) in invalid.iter().enumerate() {
        let resp = put_config(&cluster.nodes[i % 3], body);
        if resp.status != 422 {
            failures.push(format!("{body}: {} {}", resp.status, resp.body));
        } else if let Err(why) = resp.check_error_body() {
            failures.push(format!("{body}: {why}"));
        }
    }
    let resp = cluster.http.raw(
        "PUT",
        &cluster.nodes[0].at("/config"),
        &[("content-type", "application/json")],
        Some(b"{\"quorum\": ".to_vec()),
    );
    if resp.status != 400 {
        failures.push(format!("malformed JSON: {} {}", resp.status, resp.body));
    }
    assert!(
        failures.is_empty(),
        "invalid updates not refused:\n{}",
        failures.join("\n")
    );

    // Nothing changed anywhere; a valid update still works afterwards.
    for (node, before) in cluster.nodes.iter().zip(&before) {
        assert_eq!(&get_config(node), before, "config of {} changed", node.id);
    }
    put_config(&cluster.nodes[2], &json!({"quorum": {"r": 1}})).expect(200);
    wait_config_everywhere(&cluster, "r=1", |c| c["quorum"]["r"] == json!(1));
}

#[test]
fn a_member_down_during_an_update_gets_it_after_restart() {
    let mut cluster = Cluster::builder(3)
        .quorum(3, 2, 2)
        .set("gossip.interval_ms", 200)
        .start();
    cluster.nodes[2].kill();
    put_config(
        &cluster.nodes[0],
        &json!({"versioning": {"max_siblings": 11}}),
    )
    .expect(200);
    cluster.nodes[2].restart();
    cluster.wait_for_membership();
    wait_config_everywhere(&cluster, "max_siblings=11", |c| {
        c["versioning"]["max_siblings"] == json!(11)
    });
    // And it does not push its older settings back onto the others.
    for node in &cluster.nodes {
        assert_eq!(
            get_config(node)["versioning"]["max_siblings"],
            json!(11),
            "{}",
            node.id
        );
    }
}

fn settings_version(config: &Value) -> (u64, String) {
    let v = &config["settings_version"];
    (
        v["version"].as_u64().unwrap_or_default(),
        v["origin"].as_str().unwrap_or_default().to_owned(),
    )
}

#[test]
fn concurrent_updates_on_two_nodes_converge_to_one_winner() {
    let cluster = Cluster::builder(3).quorum(3, 2, 2).start();
    let before = settings_version(&get_config(&cluster.nodes[2]));
    let answers: Vec<Value> = std::thread::scope(|s| {
        let handles: Vec<_> = [(0, 13), (1, 17)]
            .into_iter()
            .map(|(i, siblings)| {
                let node = &cluster.nodes[i];
                s.spawn(move || {
                    put_config(node, &json!({"versioning": {"max_siblings": siblings}}))
                        .expect(200)
                        .json()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let produced: Vec<(u64, String)> = answers.iter().map(settings_version).collect();
    for (answer, version) in answers.iter().zip(&produced) {
        assert!(
            version.0 > before.0,
            "each answer names a new version: {answer}"
        );
        assert!(!version.1.is_empty(), "and its origin: {answer}");
    }
    let winner = answers
        .iter()
        .zip(&produced)
        .max_by(|a, b| a.1.cmp(b.1))
        .map(|(answer, version)| {
            (
                answer["versioning"]["max_siblings"].clone(),
                version.clone(),
            )
        })
        .unwrap();
    wait_config_everywhere(&cluster, "the winning version", |c| {
        settings_version(c) == winner.1 && c["versioning"]["max_siblings"] == winner.0
    });
    println!("answers named {produced:?}; every node settled on {winner:?}");
}

/// How many heartbeats `subject` made, as `observer` saw them, over `span`.
fn heartbeats_over(observer: &Node, subject_url: &str, span: std::time::Duration) -> u64 {
    let beat = || {
        let peers = observer.http.get(&observer.at("/peers")).expect(200).json();
        peers["members"]
            .as_array()
            .and_then(|ms| ms.iter().find(|m| m["url"] == json!(subject_url)))
            .and_then(|m| m["heartbeat"].as_u64())
            .unwrap_or_default()
    };
    let first = beat();
    std::thread::sleep(span);
    beat() - first
}

#[test]
fn a_new_gossip_interval_takes_effect() {
    let cluster = Cluster::builder(2)
        .quorum(2, 1, 1)
        .set("gossip.interval_ms", 1000)
        .start();
    let (a, b) = (&cluster.nodes[0], &cluster.nodes[1]);
    let span = std::time::Duration::from_secs(3);
    let slow = heartbeats_over(a, &b.url, span);
    put_config(a, &json!({"gossip": {"interval_ms": 100}})).expect(200);
    wait_config_everywhere(&cluster, "interval 100 ms", |c| {
        c["gossip"]["interval_ms"] == json!(100)
    });
    let fast = heartbeats_over(a, &b.url, span);
    println!("heartbeats of a member over {span:?}: {slow} at 1000 ms, {fast} at 100 ms");
    assert!(fast >= 3 * slow.max(1), "{slow} then {fast}");
}
