//! Values near the size limit (default `max_value_bytes`, 1 MiB) travel between nodes intact: a PUT
//! of a value just under the limit is accepted and read back identically through every node of a
//! 3-node cluster (N=3, R=W=2), and so are two such values as siblings (a version set larger than
//! the limit, which node-to-node traffic must still carry); a value just over the limit is 413.

mod common;

use common::Cluster;
use serde_json::{Value, json};

const LIMIT: usize = 1024 * 1024;

/// A JSON string value whose encoding is `LIMIT - slack` bytes.
fn big(fill: char, slack: usize) -> Value {
    json!(fill.to_string().repeat(LIMIT - slack - 2))
}

#[test]
fn values_near_the_limit_replicate_and_siblings_of_them_too() {
    let cluster = Cluster::builder(3).quorum(3, 2, 2).start();
    let [a, b, c] = &cluster.nodes[..] else {
        unreachable!()
    };

    let x = big('x', 64);
    a.put("big", x.clone()).expect(201);
    for node in &cluster.nodes {
        assert!(
            node.get_value("big") == x,
            "big value differs via {}",
            node.id
        );
    }

    let stale = a
        .put("big-fork", json!("base"))
        .expect(201)
        .context()
        .expect("ctx");
    let y = big('y', 64);
    b.put_with("big-fork", &x, &[("X-Context", &stale)])
        .expect(200);
    c.put_with("big-fork", &y, &[("X-Context", &stale)])
        .expect(200);
    for node in &cluster.nodes {
        let resp = node.get("big-fork");
        assert_eq!(resp.status, 300, "via {}: {:.200}", node.id, resp.body);
        let mut values = resp.json()["values"].as_array().expect("values").clone();
        values.sort_by_key(Value::to_string);
        assert!(
            values == vec![x.clone(), y.clone()],
            "siblings via {}",
            node.id
        );
    }

    let over = big('z', 0);
    let over = json!(format!("{}zz", over.as_str().expect("string")));
    a.put("too-big", over).expect_error(413);
    b.get("too-big").expect_error(404);
}
