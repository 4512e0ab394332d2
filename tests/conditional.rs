//! Conditional PUTs on a 3-node cluster (N=3, R=W=2): `If-None-Match: *` creates only (412 with a
//! `detail` when a live value exists, and that value is untouched), `If-Match: *` updates only (412
//! when there is no live value, and nothing is stored). A deleted key counts as absent.

mod common;

use common::Cluster;
use serde_json::json;

#[test]
fn if_none_match_star_creates_only() {
    let cluster = Cluster::builder(3).quorum(3, 2, 2).start();
    let [a, b, c] = &cluster.nodes[..] else {
        unreachable!()
    };

    let created = a
        .put_with("inm", &json!("first"), &[("If-None-Match", "*")])
        .expect(201);
    assert_eq!(created.json(), json!({"key": "inm", "value": "first"}));

    b.put_with("inm", &json!("second"), &[("If-None-Match", "*")])
        .expect_error(412);
    c.put_with("inm", &json!(null), &[("If-None-Match", "*")])
        .expect_error(412);
    for node in &cluster.nodes {
        assert_eq!(node.get_value("inm"), json!("first"), "via {}", node.id);
    }

    // A falsy value is still a live value.
    a.put("inm-falsy", json!(false)).expect(201);
    b.put_with("inm-falsy", &json!(true), &[("If-None-Match", "*")])
        .expect_error(412);
    assert_eq!(c.get_value("inm-falsy"), json!(false));

    // After a delete the key is absent again: create-only succeeds.
    c.delete("inm").expect(204);
    a.put_with("inm", &json!("again"), &[("If-None-Match", "*")])
        .expect(201);
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

    a.put_with("im", &json!("nope"), &[("If-Match", "*")])
        .expect_error(412);
    for node in &cluster.nodes {
        node.get("im").expect_error(404);
    }

    b.put("im", json!(1)).expect(201);
    let updated = c
        .put_with("im", &json!(2), &[("If-Match", "*")])
        .expect(200);
    assert_eq!(updated.json(), json!({"key": "im", "value": 2}));
    for node in &cluster.nodes {
        assert_eq!(node.get_value("im"), json!(2), "via {}", node.id);
    }

    // After a delete there is nothing to update.
    a.delete("im").expect(204);
    b.put_with("im", &json!(3), &[("If-Match", "*")])
        .expect_error(412);
    for node in &cluster.nodes {
        node.get("im").expect_error(404);
    }
}
