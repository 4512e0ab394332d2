//! The node on a storage engine that flushes often (`storage.memtable_bytes` = 64 KiB): a few
//! thousand writes, overwrites and deletes spread over many flushed tables stay exactly right,
//! through point reads and full listings, before and after a `kill -9` and restart (recovery of
//! the log and the flushed tables), and deleted keys stay deleted.

mod common;

use std::collections::BTreeMap;
use std::thread;

use common::{Cluster, Node};
use serde_json::{Value, json};

const KEYS: usize = 3000;

fn value(i: usize, round: usize) -> Value {
    json!({ "i": i, "round": round, "pad": "p".repeat(100 + i % 50) })
}

/// Every key of `want` reads back its value, absent keys 404, and the listing is exactly `want`.
fn check(node: &Node, want: &BTreeMap<String, Value>, deleted: &[String]) {
    for (key, value) in want {
        assert_eq!(&node.get_value(key), value, "GET {key}");
    }
    for key in deleted {
        node.get(key).expect_error(404);
    }
    let mut listed = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = node.at("/items?limit=1000");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={}", common::encode(c)));
        }
        let page = node.http.get(&url).expect(200).json();
        for item in page["items"].as_array().expect("items") {
            listed.push((
                item["key"].as_str().expect("key").to_owned(),
                item["value"].clone(),
            ));
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let want: Vec<(String, Value)> = want.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    assert_eq!(listed.len(), want.len(), "listed count");
    assert!(listed == want, "the listing differs from the model");
}

#[test]
fn writes_overwrites_and_deletes_across_many_flushes_survive_a_crash() {
    let mut cluster = Cluster::builder(1)
        .quorum(1, 1, 1)
        .set("storage.memtable_bytes", 64 * 1024)
        .start();
    let mut model = BTreeMap::new();
    thread::scope(|scope| {
        for t in 0..4 {
            let node = &cluster.nodes[0];
            scope.spawn(move || {
                for i in (t..KEYS).step_by(4) {
                    node.put(&format!("s/{i:05}"), value(i, 0)).expect(201);
                }
            });
        }
    });
    for i in 0..KEYS {
        model.insert(format!("s/{i:05}"), value(i, 0));
    }
    let node = &cluster.nodes[0];
    for i in (0..KEYS).step_by(7) {
        node.put(&format!("s/{i:05}"), value(i, 1)).expect(200);
        model.insert(format!("s/{i:05}"), value(i, 1));
    }
    let mut deleted = Vec::new();
    for i in (3..KEYS).step_by(5) {
        let key = format!("s/{i:05}");
        node.delete(&key).expect(204);
        model.remove(&key);
        deleted.push(key);
    }
    check(&cluster.nodes[0], &model, &deleted);

    cluster.nodes[0].kill();
    cluster.nodes[0].restart();
    check(&cluster.nodes[0], &model, &deleted);
}
