//! One client's sequential operations without contexts, through a pseudo-random mix of the nodes of
//! a 3-node cluster (N=3, R=W=2), match a plain map model after every step (API.md: sequential
//! writes with no failures leave exactly one value, the last): PUT (201 when absent, 200 when
//! present), append to arrays and strings, DELETE (204, or 404 when absent), and a GET through
//! another node after each step answers 200 with the model's value or 404. The mix comes from a
//! printed seed; `RINGKV_TEST_SEED=N` reruns it.

mod common;

use std::collections::BTreeMap;

use common::{Cluster, Node};
use serde_json::{Value, json};

const STEPS: usize = 240;
const KEYS: u64 = 6;

/// Even keys hold arrays, odd keys strings, so appends always meet a valid type pair.
fn holds_arrays(key: &str) -> bool {
    key.ends_with(['0', '2', '4'])
}

/// PUT a fresh value: 201 when the model has no value, 200 when it has one.
fn put_step(node: &Node, key: &str, step: usize, model: &mut BTreeMap<String, Value>) {
    let value = if holds_arrays(key) {
        json!([step])
    } else {
        json!(format!("s{step}"))
    };
    let resp = node.put(key, value.clone());
    let want = if model.contains_key(key) { 200 } else { 201 };
    assert_eq!(resp.status, want, "step {step} PUT {key}: {}", resp.body);
    model.insert(key.to_owned(), value);
}

/// Append a piece: an array push, a string concatenation, or a creation.
fn append_step(node: &Node, key: &str, step: usize, model: &mut BTreeMap<String, Value>) {
    let piece = match (holds_arrays(key), model.contains_key(key)) {
        // An append to an absent key creates it with the piece: start arrays as arrays.
        (true, false) => json!([step]),
        (true, true) => json!(step),
        (false, _) => json!(format!("+{step}")),
    };
    let url = node.at(&format!("/items/{key}/append"));
    let resp = node
        .http
        .json("POST", &url, &[], &json!({ "value": piece }));
    let want = if model.contains_key(key) { 200 } else { 201 };
    assert_eq!(resp.status, want, "step {step} append {key}: {}", resp.body);
    let new = match (model.remove(key), &piece) {
        (None, _) => piece.clone(),
        (Some(Value::Array(mut items)), _) => {
            items.push(piece.clone());
            Value::Array(items)
        }
        (Some(Value::String(s)), Value::String(p)) => json!(format!("{s}{p}")),
        (Some(other), _) => panic!("model holds {other} for {key}"),
    };
    model.insert(key.to_owned(), new);
}

/// DELETE: 204 when the model has a value, 404 when not.
fn delete_step(node: &Node, key: &str, model: &mut BTreeMap<String, Value>) {
    let resp = node.delete(key);
    if model.remove(key).is_some() {
        resp.expect(204);
    } else {
        resp.expect_error(404);
    }
}

#[test]
fn sequential_operations_through_mixed_nodes_match_a_model() {
    let cluster = Cluster::builder(3).quorum(3, 2, 2).start();
    let mut model: BTreeMap<String, Value> = BTreeMap::new();
    let mut rng = ringkv_testkit::rng("sequential_model");
    for step in 0..STEPS {
        let key = format!("model-{}", rng.u64(..KEYS));
        let writer = rng.usize(..3);
        let node = &cluster.nodes[writer];
        let what = match rng.u8(..4) {
            0 | 1 => {
                put_step(node, &key, step, &mut model);
                "PUT"
            }
            2 => {
                append_step(node, &key, step, &mut model);
                "append"
            }
            _ => {
                delete_step(node, &key, &mut model);
                "DELETE"
            }
        };
        // Read through one of the two other nodes.
        let reader = &cluster.nodes[(writer + 1 + rng.usize(..2)) % 3];
        match model.get(&key) {
            Some(want) => {
                let got = reader.get_value(&key);
                assert_eq!(
                    &got, want,
                    "after step {step} ({what} {key}) via {}",
                    reader.id
                );
            }
            None => {
                reader.get(&key).expect_error(404);
            }
        }
    }
    let listed: Vec<String> = cluster.nodes[0].list_keys("model-");
    let want: Vec<String> = model.keys().cloned().collect();
    assert_eq!(listed, want, "the listing after {STEPS} steps");
}
