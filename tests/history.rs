//! Past values (`GET /items/{key}?history=N`, seed 002's `get KEY -rev N`) on a 3-node cluster
//! with `versioning.history = 3`: sequential PUTs through different nodes are answered, newest
//! first, from every node; `?history=1` answers one; a value beyond the setting is gone; a
//! deleted key still shows its past values on its 404; all of it survives storage compaction
//! and a `kill -9` of every node. A replica that was down gets them by hinted handoff, and the
//! setting is hot (0 drops them on the next write).

mod common;

use common::{Cluster, DEADLINE, Node, wait_until};
use serde_json::{Value, json};

/// The values of `GET key?history=n` via `node`: (status, current values, past values), after
/// checking each past entry is `{"value", "written_at"}` with RFC 3339 times, newest first.
#[track_caller]
fn read_history(node: &Node, key: &str, n: usize) -> (u16, Vec<Value>, Vec<Value>) {
    let resp = node.http.get(&node.item(key, &format!("?history={n}")));
    let body = resp.json();
    let history = body["history"]
        .as_array()
        .unwrap_or_else(|| panic!("no history in {} via {}", resp.body, node.id))
        .clone();
    let mut times = Vec::new();
    for entry in &history {
        let obj = entry.as_object().expect("a history entry is an object");
        assert_eq!(obj.len(), 2, "{entry}");
        let t = obj["written_at"].as_str().expect("written_at is a string");
        assert!(
            t.len() == 24 && t.ends_with('Z') && t.as_bytes()[10] == b'T',
            "RFC 3339: {t}"
        );
        times.push(t.to_owned());
    }
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first");
    let current = match resp.status {
        200 => vec![body["value"].clone()],
        300 => body["values"].as_array().expect("values").clone(),
        _ => {
            assert!(body["detail"].is_string(), "{}", resp.body);
            Vec::new()
        }
    };
    let past = history.iter().map(|e| e["value"].clone()).collect();
    (resp.status, current, past)
}

fn compactions(node: &Node) -> u64 {
    let text = node.http.get(&node.at("/metrics")).expect(200).body;
    text.lines()
        .find_map(|l| l.strip_prefix("ringkv_storage_compactions_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

#[test]
fn past_values_are_answered_from_every_node_and_survive_delete_compaction_and_restart() {
    let mut cluster = Cluster::builder(3)
        .quorum(3, 2, 2)
        .set("versioning.history", 3)
        .set("storage.memtable_bytes", 64 * 1024)
        .start();
    let v = |i: usize| json!({ "v": i });

    // Four sequential PUTs through different nodes.
    for i in 1..=4 {
        let via = &cluster.nodes[i % 3];
        via.put("k", v(i)).expect(if i == 1 { 201 } else { 200 });
    }
    for node in &cluster.nodes {
        let (status, current, past) = read_history(node, "k", 3);
        assert_eq!(status, 200, "via {}", node.id);
        assert_eq!(current, [v(4)], "via {}", node.id);
        assert_eq!(past, [v(3), v(2), v(1)], "via {}", node.id);
        let (_, _, one) = read_history(node, "k", 1);
        assert_eq!(one, [v(3)], "?history=1 via {}", node.id);
        // Without `history` the body is exactly {"value": V}.
        assert_eq!(node.get_value("k"), v(4));
    }

    // A fifth write: the oldest value is beyond the setting and gone.
    cluster.nodes[2].put("k", v(5)).expect(200);
    for node in &cluster.nodes {
        let (_, current, past) = read_history(node, "k", 10);
        assert_eq!(current, [v(5)]);
        assert_eq!(past, [v(4), v(3), v(2)], "via {}", node.id);
    }

    // Deleted: 404, with the past values when asked (the deleted value first).
    cluster.nodes[1].delete("k").expect(204);
    let deleted_history = [v(5), v(4), v(3)];
    for node in &cluster.nodes {
        let plain = node.get("k");
        assert_eq!(plain.status, 404);
        assert_eq!(
            plain.json().as_object().map(|o| o.len()),
            Some(1),
            "{}",
            plain.body
        );
        let (status, current, past) = read_history(node, "k", 3);
        assert_eq!((status, current.len()), (404, 0), "via {}", node.id);
        assert_eq!(past, deleted_history, "via {}", node.id);
    }

    // Compaction on every node: filler writes flush the 64 KiB memtable until level 0
    // compacts, rewriting the tables that hold `k`.
    let before: Vec<u64> = cluster.nodes.iter().map(compactions).collect();
    let pad = "x".repeat(4096);
    let mut i = 0;
    wait_until("every node compacted", DEADLINE, || {
        for _ in 0..20 {
            cluster.nodes[i % 3]
                .put(&format!("fill/{i}"), json!(pad))
                .expect(201);
            i += 1;
        }
        let now: Vec<u64> = cluster.nodes.iter().map(compactions).collect();
        match now.iter().zip(&before).all(|(n, b)| n > b) {
            true => Ok(()),
            false => Err(format!("compactions {now:?}, before {before:?}")),
        }
    });
    for node in &cluster.nodes {
        assert_eq!(
            read_history(node, "k", 3).2,
            deleted_history,
            "after compaction"
        );
    }

    // kill -9 and restart every node: history is in the stored sets.
    cluster.kill_all();
    cluster.restart_all();
    for node in &cluster.nodes {
        let (status, _, past) = read_history(node, "k", 3);
        assert_eq!(status, 404);
        assert_eq!(past, deleted_history, "after restart via {}", node.id);
    }
    // A new value after the delete: the deletion is not a value, the old values stay.
    cluster.nodes[0].put("k", v(6)).expect(201);
    let (status, current, past) = read_history(&cluster.nodes[1], "k", 3);
    assert_eq!((status, current), (200, vec![v(6)]));
    assert_eq!(past, deleted_history);
    assert!(
        cluster.nodes[2]
            .http
            .get(&cluster.nodes[2].item("k", "?history=x"))
            .expect_error(400)
            .contains("history")
    );
}

#[test]
fn a_replica_that_was_down_gets_the_history_by_hinted_handoff() {
    let mut cluster = Cluster::builder(3)
        .quorum(3, 2, 2)
        .set("versioning.history", 3)
        .set("hinted_handoff.replay_interval_ms", 200)
        .start();
    let v = |i: usize| json!({ "v": i });
    cluster.nodes[0].put("h", v(1)).expect(201);
    cluster.nodes[2].kill();
    for i in 2..=4 {
        cluster.nodes[i % 2].put("h", v(i)).expect(200);
    }
    cluster.nodes[2].restart();
    // Node 2's own copy (r=1 reads it first) learns the values it missed from the hints.
    let node = &cluster.nodes[2];
    wait_until("node 2 holds the history it missed", DEADLINE, || {
        let resp = node.http.get(&node.item("h", "?history=3&r=1"));
        let body = resp.json();
        let past: Vec<Value> = body["history"]
            .as_array()
            .map(|h| h.iter().map(|e| e["value"].clone()).collect())
            .unwrap_or_default();
        match (&body["value"], past.as_slice()) {
            (cur, [p3, p2, p1]) if *cur == v(4) && [p3, p2, p1] == [&v(3), &v(2), &v(1)] => Ok(()),
            _ => Err(resp.body),
        }
    });

    // The setting is hot: at 0, the next write keeps no past value anywhere.
    let patch = json!({"versioning": {"history": 0}});
    cluster.nodes[0]
        .http
        .json("PUT", &cluster.nodes[0].at("/config"), &[], &patch)
        .expect(200);
    wait_until("every node runs with history 0", DEADLINE, || {
        for node in &cluster.nodes {
            let config = node.http.get(&node.at("/config")).expect(200).json();
            if config["versioning"]["history"] != json!(0) {
                return Err(format!("{}: {}", node.id, config["versioning"]));
            }
        }
        Ok(())
    });
    cluster.nodes[1].put("h", v(5)).expect(200);
    for node in &cluster.nodes {
        let (_, current, past) = read_history(node, "h", 3);
        assert_eq!((current, past), (vec![v(5)], vec![]), "via {}", node.id);
    }
}
