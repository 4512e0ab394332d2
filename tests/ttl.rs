//! TTL on a 3-node cluster (N=3, R=W=2): a value PUT (or appended into existence) with `"ttl"` seconds
//! is readable, then expires: 404 on every node and absent from listings, while keys without a TTL
//! stay; a PUT after expiry creates the key anew (201). Appending an empty string with a new `"ttl"`
//! refreshes the expiry without touching the value. An expired sibling vanishes and leaves the other
//! value (200); a key whose value expired accepts a create-only PUT.
//!
//! No timing is asserted: expiry is awaited by polling with a deadline, and "has not expired" is shown
//! against a control key written later with the same short TTL, which has expired by then.

mod common;

use common::{Cluster, DEADLINE, Node, wait_until};
use serde_json::{Value, json};

/// A TTL short enough to wait for, long enough that a loaded machine reads the value before it expires.
const SHORT_TTL: u64 = 3;

fn put_ttl(node: &Node, key: &str, value: Value, ttl: u64) -> common::Resp {
    node.http.json(
        "PUT",
        &node.item(key, ""),
        &[],
        &json!({"value": value, "ttl": ttl}),
    )
}

fn wait_expired_everywhere(cluster: &Cluster, key: &str) {
    for node in &cluster.nodes {
        wait_until(
            &format!("{key:?} has expired on {}", node.id),
            DEADLINE,
            || match node.get(key) {
                resp if resp.status == 404 => Ok(()),
                resp => Err(format!("{} {}", resp.status, resp.body)),
            },
        );
        node.get(key).expect_error(404);
    }
}

#[test]
fn a_value_with_a_ttl_expires_everywhere_and_others_stay() {
    let cluster = Cluster::builder(3).quorum(3, 2, 2).start();
    let [a, b, c] = &cluster.nodes[..] else {
        unreachable!()
    };

    let created = put_ttl(a, "ttl/short", json!("brief"), SHORT_TTL).expect(201);
    assert_eq!(
        created.json(),
        json!({"key": "ttl/short", "value": "brief"})
    );
    assert_eq!(b.get_value("ttl/short"), json!("brief"));
    b.put("ttl/forever", json!("stays")).expect(201);
    put_ttl(c, "ttl/long", json!(0), 3600).expect(201);

    wait_expired_everywhere(&cluster, "ttl/short");
    for node in &cluster.nodes {
        assert_eq!(node.get_value("ttl/forever"), json!("stays"));
        assert_eq!(node.get_value("ttl/long"), json!(0));
        assert_eq!(node.list_keys("ttl/"), vec!["ttl/forever", "ttl/long"]);
    }

    // Expired means absent: the next PUT creates.
    c.put("ttl/short", json!("new")).expect(201);
    for node in &cluster.nodes {
        assert_eq!(node.get_value("ttl/short"), json!("new"));
    }
}

#[test]
fn append_creates_with_a_ttl_and_an_empty_append_refreshes_it() {
    let cluster = Cluster::builder(3).quorum(3, 2, 2).start();
    let [a, b, c] = &cluster.nodes[..] else {
        unreachable!()
    };
    let append = |node: &Node, key: &str, body: Value| {
        node.http.json(
            "POST",
            &node.at(&format!("/items/{}/append", common::encode(key))),
            &[],
            &body,
        )
    };

    // Created by append, with a TTL: it expires.
    append(a, "app/created", json!({"value": "x", "ttl": SHORT_TTL})).expect(201);
    assert_eq!(b.get_value("app/created"), json!("x"));

    // Refreshed: short TTL at first, then an empty append with a long one.
    put_ttl(b, "app/refreshed", json!("keep me"), SHORT_TTL).expect(201);
    let refreshed = append(c, "app/refreshed", json!({"value": "", "ttl": 3600})).expect(200);
    assert_eq!(
        refreshed.json(),
        json!({"key": "app/refreshed", "value": "keep me"})
    );

    // Written after the refresh with the short TTL: once it has expired, the refreshed key's
    // original expiry has passed too.
    put_ttl(a, "app/control", json!("control"), SHORT_TTL).expect(201);
    wait_expired_everywhere(&cluster, "app/control");
    wait_expired_everywhere(&cluster, "app/created");
    for node in &cluster.nodes {
        assert_eq!(
            node.get_value("app/refreshed"),
            json!("keep me"),
            "via {}",
            node.id
        );
    }
}

#[test]
fn an_expired_sibling_disappears_and_leaves_the_other_value() {
    let cluster = Cluster::builder(3).quorum(3, 2, 2).start();
    let [a, b, c] = &cluster.nodes[..] else {
        unreachable!()
    };
    let stale = a
        .put("ttl-fork", json!("base"))
        .expect(201)
        .context()
        .expect("ctx");
    let short = json!({"value": "short-lived", "ttl": SHORT_TTL});
    let url = b.item("ttl-fork", "");
    b.http
        .json("PUT", &url, &[("X-Context", &stale)], &short)
        .expect(200);
    c.put_with("ttl-fork", &json!("lasting"), &[("X-Context", &stale)])
        .expect(200);
    assert_eq!(
        a.get("ttl-fork").expect(300).json()["values"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );

    for node in &cluster.nodes {
        wait_until(
            &format!("the expired sibling is gone via {}", node.id),
            DEADLINE,
            || match node.get("ttl-fork") {
                resp if resp.status == 200 => Ok(()),
                resp => Err(format!("{} {}", resp.status, resp.body)),
            },
        );
        assert_eq!(
            node.get_value("ttl-fork"),
            json!("lasting"),
            "via {}",
            node.id
        );
    }

    // A key whose only value expired is absent: create-only succeeds.
    put_ttl(a, "ttl-create", json!(1), SHORT_TTL).expect(201);
    wait_expired_everywhere(&cluster, "ttl-create");
    b.put_with("ttl-create", &json!(2), &[("If-None-Match", "*")])
        .expect(201);
}
