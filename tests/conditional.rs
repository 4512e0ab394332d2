//! Conditional PUTs on a 3-node cluster (N=3, R=W=2): `If-None-Match: *` creates only (412 with a
//! `detail` when a live value exists, and that value is untouched), `If-Match: *` updates only (412
//! when there is no live value, and nothing is stored). A deleted key counts as absent.

mod common;

use common::{Cluster, Node, Resp};
use serde_json::{Value, json};

fn put_if(node: &Node, header: &str, key: &str, value: Value) -> Resp {
    node.http.json(
        "PUT",
        &node.item(key, ""),
        &[(header, "*")],
        &json!({ "value": value }),
    )
}

#[test]
fn if_none_match_star_creates_only() {
    let cluster = Cluster::builder(3).quorum(3, 2, 2).start();
    let [a, b, c] = &cluster.nodes[..] else {
        unreachable!()
    };

    let created = put_if(a, "If-None-Match", "inm", json!("first")).expect(201);
    assert_eq!(created.json(), json!({"key": "inm", "value": "first"}));

    put_if(b, "If-None-Match", "inm", json!("second")).expect_error(412);
    put_if(c, "If-None-Match", "inm", json!(null)).expect_error(412);
    for node in &cluster.nodes {
        assert_eq!(node.get_value("inm"), json!("first"), "via {}", node.id);
    }

    // A falsy value is still a live value.
    a.put("inm-falsy", json!(false)).expect(201);
    put_if(b, "If-None-Match", "inm-falsy", json!(true)).expect_error(412);
    assert_eq!(c.get_value("inm-falsy"), json!(false));

    // After a delete the key is absent again: create-only succeeds.
    c.delete("inm").expect(204);
    put_if(a, "If-None-Match", "inm", json!("again")).expect(201);
    for node in &cluster.nodes {
        assert_eq!(node.get_value("inm"), json!("again"), "via {}", node.id);
    }
}

#[test]
fn if_match_star_updates_only() {
    let cluster = Cluster::builder(3).quorum(3, 2, 2).start();
    let [a, b, c] = &cluster.nodes[..] else {
        unreachable!()
    };

    put_if(a, "If-Match", "im", json!("nope")).expect_error(412);
    for node in &cluster.nodes {
        node.get("im").expect_error(404);
    }

    b.put("im", json!(1)).expect(201);
    let updated = put_if(c, "If-Match", "im", json!(2)).expect(200);
    assert_eq!(updated.json(), json!({"key": "im", "value": 2}));
    for node in &cluster.nodes {
        assert_eq!(node.get_value("im"), json!(2), "via {}", node.id);
    }

    // After a delete there is nothing to update.
    a.delete("im").expect(204);
    put_if(b, "If-Match", "im", json!(3)).expect_error(412);
    for node in &cluster.nodes {
        node.get("im").expect_error(404);
    }
}
