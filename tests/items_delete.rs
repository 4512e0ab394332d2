//! `DELETE /items/{key}` on a 3-node cluster (N=3, R=W=2): 204 then 404 on every node; a second DELETE
//! and a DELETE of a key that never existed answer 404 with a `detail`; a deleted key is absent from
//! listings, is created anew (201) by the next PUT, and never comes back: not after every node was
//! killed and restarted, and not from a replica that missed the delete while it was down. With
//! `X-Context`, a DELETE removes only the versions that context covers.

mod common;

use common::Cluster;
use serde_json::json;

#[test]
fn delete_answers_204_then_404_everywhere_and_the_key_stays_deleted() {
    let mut cluster = Cluster::builder(3).quorum(3, 2, 2).start();

    cluster.nodes[0].put("gone", json!("soon")).expect(201);
    cluster.nodes[0].put("kept", json!("here")).expect(201);
    let deleted = cluster.nodes[1].delete("gone").expect(204);
    assert!(
        deleted.body.is_empty(),
        "204 has no body: {:?}",
        deleted.body
    );

    for node in &cluster.nodes {
        node.get("gone").expect_error(404);
        assert_eq!(
            node.list_keys(""),
            vec!["kept".to_owned()],
            "via {}",
            node.id
        );
    }
    cluster.nodes[2].delete("gone").expect_error(404);
    cluster.nodes[2].delete("never-was").expect_error(404);

    // Tombstones are durable: kill -9 every node, restart them all, the key is still deleted.
    cluster.kill_all();
    cluster.restart_all();
    for node in &cluster.nodes {
        node.get("gone").expect_error(404);
        assert_eq!(node.get_value("kept"), json!("here"));
        assert_eq!(
            node.list_keys(""),
            vec!["kept".to_owned()],
            "via {}",
            node.id
        );
    }

    // A later PUT creates the key anew.
    cluster.nodes[0].put("gone", json!("back")).expect(201);
    for node in &cluster.nodes {
        assert_eq!(node.get_value("gone"), json!("back"));
    }
}

#[test]
fn a_replica_that_missed_the_delete_does_not_bring_the_value_back() {
    let mut cluster = Cluster::builder(3).quorum(3, 2, 2).start();
    // Written to all three replicas.
    let url = cluster.nodes[0].item("zombie", "?w=3");
    cluster
        .http
        .json("PUT", &url, &[], &json!({"value": "brains"}))
        .expect(201);

    cluster.nodes[2].kill();
    cluster.nodes[0].delete("zombie").expect(204);
    cluster.nodes[2].restart();
    cluster.wait_for_membership();

    // Node 2 still holds the old value; every quorum read must still see the delete.
    for _round in 0..3 {
        for node in &cluster.nodes {
            node.get("zombie").expect_error(404);
            assert!(
                node.list_keys("zombie").is_empty(),
                "listed via {}",
                node.id
            );
        }
    }
}

#[test]
fn delete_with_a_context_removes_only_the_versions_it_covers() {
    let cluster = Cluster::builder(3).quorum(3, 2, 2).start();
    let [a, b, c] = &cluster.nodes[..] else {
        unreachable!()
    };
    let stale = a
        .put("ctx-del", json!("v1"))
        .expect(201)
        .context()
        .expect("X-Context");
    b.put("ctx-del", json!("v2")).expect(200);

    // The stale context covers v1 only: v2 survives.
    let resp = cluster.http.raw(
        "DELETE",
        &c.item("ctx-del", ""),
        &[("X-Context", &stale)],
        None,
    );
    assert!(
        resp.status == 204 || resp.status == 404,
        "DELETE with a stale context: {} {}",
        resp.status,
        resp.body
    );
    for node in &cluster.nodes {
        assert_eq!(node.get_value("ctx-del"), json!("v2"), "via {}", node.id);
    }

    // The current context covers v2: the key is gone.
    let current = a.get("ctx-del").expect(200).context().expect("X-Context");
    cluster
        .http
        .raw(
            "DELETE",
            &b.item("ctx-del", ""),
            &[("X-Context", &current)],
            None,
        )
        .expect(204);
    for node in &cluster.nodes {
        node.get("ctx-del").expect_error(404);
    }
}
