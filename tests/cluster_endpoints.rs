//! The cluster endpoints of API.md on a 3-node cluster:
//! - `GET /healthcheck` is 200 JSON; `GET /peers` has `peers` (the other members' URLs) and `members`
//!   (id, URL, status among joining/alive/suspect/dead/leaving/left, last heartbeat);
//! - `POST /peers` refuses this node's own URL (400), a member (409) and a malformed URL (422);
//! - `GET /peers/healthcheck` maps each peer URL to "success", to "failure" once it is killed, and
//!   to "success" again once it is restarted;
//! - `GET /metrics` is Prometheus text; `GET /docs` is the Swagger UI page, served without internet;
//!   `GET /openapi.json` is an OpenAPI 3.1 document with the items and cluster paths, the status
//!   codes API.md names for each, and no `/internal/` route.

mod common;

use common::{Cluster, DEADLINE, wait_until};
use serde_json::{Value, json};

#[test]
fn healthcheck_and_peers_describe_the_cluster() {
    let cluster = Cluster::builder(3).quorum(3, 2, 2).start();
    let http = &cluster.http;
    for node in &cluster.nodes {
        let health = http.get(&node.at("/healthcheck")).expect(200);
        assert!(
            health.json().is_object() || health.json().is_string(),
            "{}",
            health.body
        );

        let peers = http.get(&node.at("/peers")).expect(200).json();
        let members = peers["members"]
            .as_array()
            .unwrap_or_else(|| panic!("members: {peers}"));
        let mut member_urls = Vec::new();
        for member in members {
            assert!(member["id"].is_string(), "member id: {member}");
            let url = member["url"]
                .as_str()
                .unwrap_or_else(|| panic!("member url: {member}"));
            let status = member["status"]
                .as_str()
                .unwrap_or_else(|| panic!("status: {member}"));
            assert!(
                ["joining", "alive", "suspect", "dead", "leaving", "left"].contains(&status),
                "member status {status:?}"
            );
            let object = member.as_object().expect("member object");
            assert!(
                object.keys().any(|k| k.contains("heartbeat")),
                "member has its last heartbeat: {member}"
            );
            member_urls.push(url.trim_end_matches('/').to_owned());
        }
        for other in cluster.nodes.iter().filter(|n| n.id != node.id) {
            assert!(
                member_urls.contains(&other.url),
                "{} in members {member_urls:?}",
                other.url
            );
            let entry = members
                .iter()
                .find(|m| m["url"].as_str().map(|u| u.trim_end_matches('/')) == Some(&other.url))
                .expect("member entry");
            assert_eq!(entry["id"], json!(other.id), "member id of {}", other.url);
        }
    }

    let a = &cluster.nodes[0];
    let join = |url: &str| http.json("POST", &a.at("/peers"), &[], &json!({ "peer_url": url }));
    join(&a.url).expect_error(400);
    join(&cluster.nodes[1].url).expect_error(409);
    join("not a url").expect_error(422);
    join("ftp://").expect_error(422);
    http.json(
        "POST",
        &a.at("/peers"),
        &[],
        &json!({"url": cluster.nodes[1].url}),
    )
    .expect_error(422);
    cluster.wait_for_membership();
}

#[test]
fn peers_healthcheck_reflects_a_killed_node() {
    let mut cluster = Cluster::builder(3)
        .quorum(3, 2, 2)
        .set("gossip.interval_ms", 200)
        .set("gossip.failure_timeout_ms", 1000)
        .start();
    let health_of = |cluster: &Cluster, observer: usize| -> Result<Value, String> {
        let node = &cluster.nodes[observer];
        let resp = node.http.get(&node.at("/peers/healthcheck"));
        if resp.status == 200 {
            Ok(resp.json())
        } else {
            Err(format!("{} {}", resp.status, resp.body))
        }
    };
    let urls = cluster.urls();
    wait_until("node0 sees both peers healthy", DEADLINE, || {
        let health = health_of(&cluster, 0)?;
        let ok = urls[1..]
            .iter()
            .all(|u| health[u.as_str()] == json!("success"));
        if ok { Ok(()) } else { Err(health.to_string()) }
    });

    cluster.nodes[2].kill();
    let health = wait_until("node0 sees node2 failing", DEADLINE, || {
        let health = health_of(&cluster, 0)?;
        if health[urls[2].as_str()] == json!("failure") {
            Ok(health)
        } else {
            Err(health.to_string())
        }
    });
    assert_eq!(health[urls[1].as_str()], json!("success"), "{health}");
    for value in health.as_object().expect("health map").values() {
        assert!(value == "success" || value == "failure", "{health}");
    }

    cluster.nodes[2].restart();
    wait_until("node0 sees node2 healthy again", DEADLINE, || {
        let health = health_of(&cluster, 0)?;
        if health[urls[2].as_str()] == json!("success") {
            Ok(())
        } else {
            Err(health.to_string())
        }
    });
}

#[test]
fn metrics_docs_and_openapi_are_served() {
    let cluster = Cluster::builder(1).quorum(1, 1, 1).start();
    let node = &cluster.nodes[0];
    let http = &cluster.http;
    node.put("m", json!(1)).expect(201);
    node.get("m").expect(200);

    let metrics = http.get(&node.at("/metrics")).expect(200);
    let ct = metrics.header("content-type").unwrap_or_default();
    assert!(ct.starts_with("text/plain"), "metrics content-type {ct:?}");
    let samples: Vec<&str> = metrics
        .body
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .collect();
    assert!(
        !samples.is_empty(),
        "no metric samples in {:?}",
        metrics.body
    );
    for line in &samples {
        let value = line.rsplit(' ').next().unwrap_or_default();
        let value = value.trim();
        assert!(
            value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value),
            "not a Prometheus sample line: {line:?}"
        );
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let name = &line[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line:?}"
        );
    }

    let docs = http.get(&node.at("/docs")).expect(200);
    let ct = docs.header("content-type").unwrap_or_default();
    assert!(ct.starts_with("text/html"), "docs content-type {ct:?}");
    assert!(
        docs.body.to_lowercase().contains("swagger"),
        "not Swagger UI: {:.300}",
        docs.body
    );

    let spec = http.get(&node.at("/openapi.json")).expect(200).json();
    let version = spec["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with("3.1"), "openapi version {version:?}");
    let paths = spec["paths"].as_object().expect("paths");
    let methods = |path: &str| -> Vec<String> {
        paths
            .get(path)
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    for (path, wanted) in [
        ("/items/{key}", &["get", "put", "delete"][..]),
        ("/items/{key}/append", &["post"][..]),
        ("/items", &["get"][..]),
        ("/peers", &["get", "post"][..]),
        ("/peers/healthcheck", &["get"][..]),
        ("/config", &["get", "put"][..]),
        ("/healthcheck", &["get"][..]),
    ] {
        let have = methods(path);
        for method in wanted {
            assert!(
                have.iter().any(|m| m == method),
                "openapi.json lacks {method} {path}; paths: {:?}",
                paths.keys().collect::<Vec<_>>()
            );
        }
    }
    assert!(
        paths.keys().all(|p| !p.starts_with("/internal")),
        "internal routes documented"
    );

    // The status codes API.md names are documented.
    for (path, method, codes) in [
        (
            "/items/{key}",
            "put",
            &["200", "201", "400", "412", "413", "422", "503"][..],
        ),
        ("/items/{key}", "get", &["200", "300", "404", "503"][..]),
        ("/items/{key}", "delete", &["204", "404"][..]),
        ("/items/{key}/append", "post", &["200", "201", "422"][..]),
        ("/items", "get", &["200"][..]),
        ("/peers", "post", &["200", "400", "409", "422"][..]),
        ("/config", "put", &["200", "422"][..]),
    ] {
        let responses = &spec["paths"][path][method]["responses"];
        for code in codes {
            assert!(
                responses.get(code).is_some(),
                "openapi.json: {method} {path} does not document {code}: {responses}"
            );
        }
    }
    let put_body = &spec["paths"]["/items/{key}"]["put"]["requestBody"];
    assert!(
        put_body.is_object(),
        "PUT /items/{{key}} documents its request body"
    );
}
