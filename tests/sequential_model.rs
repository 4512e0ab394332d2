//! One client's sequential operations without contexts, through a pseudo-random mix of the nodes of
//! a 3-node cluster (N=3, R=W=2), match a plain map model after every step (API.md: sequential
//! writes with no failures leave exactly one value, the last): PUT (201 when absent, 200 when
//! present), append to arrays and strings, DELETE (204, or 404 when absent), and a GET through
//! another node after each step answers 200 with the model's value or 404.

mod common;

use std::collections::BTreeMap;

use common::Cluster;
use serde_json::{Value, json};

const STEPS: usize = 240;
const KEYS: u64 = 6;

/// A tiny deterministic generator (64-bit LCG); the test needs variety, not quality.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

#[test]
fn sequential_operations_through_mixed_nodes_match_a_model() {
    let cluster = Cluster::builder(3).quorum(3, 2, 2).start();
    let mut model: BTreeMap<String, Value> = BTreeMap::new();
    let mut rng = Lcg(0x5eed);
    for step in 0..STEPS {
        let key = format!("model-{}", rng.next(KEYS));
        let node = &cluster.nodes[rng.next(3) as usize];
        let present = model.contains_key(&key);
        let op = rng.next(4);
        let what = match op {
            0 | 1 => {
                // Even keys hold arrays, odd keys strings, so appends always have a valid pair.
                let value = if key.ends_with(['0', '2', '4']) {
                    json!([step])
                } else {
                    json!(format!("s{step}"))
                };
                let resp = node.put(&key, value.clone());
                assert_eq!(
                    resp.status,
                    if present { 200 } else { 201 },
                    "step {step} PUT {key}: {}",
                    resp.body
                );
                model.insert(key.clone(), value);
                "PUT"
            }
            2 => {
                let url = node.at(&format!("/items/{key}/append"));
                let piece = match (key.ends_with(['0', '2', '4']), present) {
                    // An append to an absent key creates it with the piece: start arrays as arrays.
                    (true, false) => json!([step]),
                    (true, true) => json!(step),
                    (false, _) => json!(format!("+{step}")),
                };
                let resp = node
                    .http
                    .json("POST", &url, &[], &json!({ "value": piece }));
                assert_eq!(
                    resp.status,
                    if present { 200 } else { 201 },
                    "step {step} append {key}: {}",
                    resp.body
                );
                let new = match (model.remove(&key), &piece) {
                    (None, _) => piece.clone(),
                    (Some(Value::Array(mut items)), _) => {
                        items.push(piece.clone());
                        Value::Array(items)
                    }
                    (Some(Value::String(s)), Value::String(p)) => json!(format!("{s}{p}")),
                    (Some(other), _) => panic!("model holds {other} for {key}"),
                };
                model.insert(key.clone(), new);
                "append"
            }
            _ => {
                let resp = node.delete(&key);
                if present {
                    resp.expect(204);
                } else {
                    resp.expect_error(404);
                }
                model.remove(&key);
                "DELETE"
            }
        };
        let reader = &cluster.nodes[(rng.next(2) as usize + 1 + op as usize) % 3];
        match model.get(&key) {
            Some(want) => assert_eq!(
                &reader.get_value(&key),
                want,
                "after step {step} ({what} {key}) via {}",
                reader.id
            ),
            None => {
                reader.get(&key).expect_error(404);
            }
        }
    }
    let listed: Vec<String> = cluster.nodes[0].list_keys("model-");
    let want: Vec<String> = model.keys().cloned().collect();
    assert_eq!(listed, want, "the listing after {STEPS} steps");
}
