//! `GET /items?prefix=P&limit=L&cursor=C` on a 3-node cluster (N=3, R=W=2) holding a few thousand
//! keys: following `next_cursor` through any node yields every live key exactly once, in key (byte)
//! order, with its value; no page exceeds its limit; the last page has `next_cursor: null`; deleted
//! keys are absent; a prefix selects exactly the keys that start with it; limit=1 pages one by one.

mod common;

use std::collections::BTreeMap;
use std::thread;

use common::{Cluster, Node};
use serde_json::{Value, json};

/// Writes every `(key, value)` through the cluster's nodes round-robin from a few client threads.
fn fill(cluster: &Cluster, items: &BTreeMap<String, Value>) {
    const THREADS: usize = 4;
    let items: Vec<(&String, &Value)> = items.iter().collect();
    thread::scope(|scope| {
        for t in 0..THREADS {
            let items = &items;
            scope.spawn(move || {
                for (i, (key, value)) in items.iter().enumerate().skip(t).step_by(THREADS) {
                    let node = &cluster.nodes[i % cluster.nodes.len()];
                    let resp = node.put(key, (*value).clone());
                    assert_eq!(resp.status, 201, "PUT {key}: {}", resp.body);
                }
            });
        }
    });
}

/// Follows `next_cursor` from the first page; checks each page's shape and size.
fn list_all(node: &Node, prefix: Option<&str>, limit: Option<usize>) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _page in 0..100_000 {
        let mut query = Vec::new();
        if let Some(p) = prefix {
            query.push(format!("prefix={}", common::encode(p)));
        }
        if let Some(l) = limit {
            query.push(format!("limit={l}"));
        }
        if let Some(c) = &cursor {
            query.push(format!("cursor={}", common::encode(c)));
        }
        let url = node.at(&format!("/items?{}", query.join("&")));
        let body = node.http.get(&url).expect(200).json();
        let obj = body.as_object().expect("list body is an object");
        assert_eq!(
            obj.len(),
            2,
            "list body is exactly items + next_cursor: {body}"
        );
        let items = body["items"].as_array().expect("items array");
        if let Some(l) = limit {
            assert!(
                items.len() <= l,
                "page of {} items over limit {l}",
                items.len()
            );
        }
        for item in items {
            let key = item["key"].as_str().expect("item key").to_owned();
            assert_eq!(
                item.as_object().map(|o| o.len()),
                Some(2),
                "item shape: {item}"
            );
            let value = item
                .get("value")
                .cloned()
                .expect("item has a value (no siblings here)");
            out.push((key, value));
        }
        match &body["next_cursor"] {
            Value::Null => return out,
            Value::String(next) => {
                assert!(
                    !items.is_empty(),
                    "an empty page must be the last page: {body}"
                );
                cursor = Some(next.clone());
            }
            other => panic!("next_cursor is neither a string nor null: {other}"),
        }
    }
    panic!("listing never ended");
}

#[test]
fn thousands_of_keys_listed_once_each_in_key_order_on_every_node() {
    let cluster = Cluster::builder(3).quorum(3, 2, 2).start();
    let mut items = BTreeMap::new();
    for i in 0..2000 {
        items.insert(format!("user/{i:05}"), json!({"n": i}));
    }
    for i in 0..1000 {
        items.insert(format!("item/{i:05}"), json!(format!("v{i}")));
    }
    fill(&cluster, &items);

    // Delete every 10th user.
    let deleted: Vec<String> = (0..2000)
        .step_by(10)
        .map(|i| format!("user/{i:05}"))
        .collect();
    for (i, key) in deleted.iter().enumerate() {
        cluster.nodes[i % 3].delete(key).expect(204);
        items.remove(key);
    }
    let everything: Vec<(String, Value)> =
        items.iter().map(|(k, v)| (k.clone(), v.clone())).collect();

    for (node, limit) in cluster.nodes.iter().zip([Some(500), Some(97), None]) {
        let listed = list_all(node, None, limit);
        assert_eq!(
            listed.len(),
            everything.len(),
            "count via {} limit {limit:?}",
            node.id
        );
        assert!(
            listed == everything,
            "listing via {} limit {limit:?} differs",
            node.id
        );
    }

    let want: Vec<(String, Value)> = everything
        .iter()
        .filter(|(k, _)| k.starts_with("user/01"))
        .cloned()
        .collect();
    assert_eq!(want.len(), 900);
    let listed = list_all(&cluster.nodes[1], Some("user/01"), Some(250));
    assert!(listed == want, "prefix user/01: {} listed", listed.len());

    let none = list_all(&cluster.nodes[2], Some("nobody/"), Some(10));
    assert!(none.is_empty(), "prefix without keys lists {none:?}");
}

#[test]
fn limit_one_pages_through_keys_one_by_one_in_byte_order() {
    let cluster = Cluster::builder(3).quorum(3, 2, 2).start();
    let keys = [
        "p/b",
        "p/a",
        "p/a b",
        "p/ab",
        "p/Z",
        "p/é",
        "p/日本",
        "p/~",
        "p/0",
        "p/a/",
        "q/outside",
        "o/outside",
    ];
    let items: BTreeMap<String, Value> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.to_string(), json!(i)))
        .collect();
    fill(&cluster, &items);
    let mut want: Vec<(String, Value)> = items
        .into_iter()
        .filter(|(k, _)| k.starts_with("p/"))
        .collect();
    want.sort_by(|x, y| x.0.as_bytes().cmp(y.0.as_bytes()));

    for node in &cluster.nodes {
        let listed = list_all(node, Some("p/"), Some(1));
        assert_eq!(listed, want, "via {}", node.id);
    }
}

#[test]
fn a_node_that_missed_writes_and_deletes_still_lists_exactly_the_live_keys() {
    let mut cluster = Cluster::builder(3).quorum(3, 2, 2).start();
    let mut items = BTreeMap::new();
    for i in 0..150 {
        items.insert(format!("m/{i:04}"), json!(i));
    }
    fill(&cluster, &items);

    // Node 2 misses a batch of new keys, updates and deletes.
    cluster.nodes[2].kill();
    for i in 150..300 {
        let key = format!("m/{i:04}");
        cluster.nodes[i % 2].put(&key, json!(i)).expect(201);
        items.insert(key, json!(i));
    }
    for i in (0..150).step_by(3) {
        let key = format!("m/{i:04}");
        cluster.nodes[i % 2].delete(&key).expect(204);
        items.remove(&key);
    }
    for i in (1..150).step_by(3) {
        let key = format!("m/{i:04}");
        cluster.nodes[i % 2].put(&key, json!("updated")).expect(200);
        items.insert(key, json!("updated"));
    }
    cluster.nodes[2].restart();
    cluster.wait_for_membership();

    let want: Vec<(String, Value)> = items.into_iter().collect();
    for limit in [Some(40), None] {
        let listed = list_all(&cluster.nodes[2], Some("m/"), limit);
        assert_eq!(listed.len(), want.len(), "count via node2, limit {limit:?}");
        assert!(
            listed == want,
            "listing via node2 (limit {limit:?}) differs"
        );
    }
}
