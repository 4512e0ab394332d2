//! How `ringkv serve` takes its configuration (NODE_CONTRACT.md): flags over environment over config
//! file over defaults, checked through `GET /config`; `HOST`/`PORT` from the environment with port 0
//! meaning any free port (the bound one is used everywhere); the default node id is the public
//! URL's `host:port`, persisted in the data dir and kept by a restart on another port; `RINGKV_CONFIG`
//! names the config file instead of `./config.toml`.

mod common;

use common::{Http, Launch, Node};
use serde_json::{Value, json};

const FILE_CONFIG: &str = r#"
[quorum]
n = 1
r = 1
w = 1

[versioning]
max_siblings = 5
max_clock_entries = 11

[gossip]
interval_ms = 700
failure_timeout_ms = 4000
"#;

fn launch(env: &[(&str, &str)], sets: &[&str], args: &[&str]) -> Launch {
    Launch {
        node_id: None,
        sets: sets.iter().map(|s| s.to_string()).collect(),
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        args: args.iter().map(|s| s.to_string()).collect(),
        address_by_env: true,
        port: 0,
    }
}

fn config(node: &Node) -> Value {
    node.http.get(&node.at("/config")).expect(200).json()
}

#[test]
fn flags_beat_environment_beat_file_beat_defaults() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cwd = dir.path().join("n");
    std::fs::create_dir_all(&cwd).expect("node dir");
    std::fs::write(cwd.join("config.toml"), FILE_CONFIG).expect("config.toml");
    let env = [
        ("RINGKV_VERSIONING__MAX_SIBLINGS", "6"),
        ("RINGKV_GOSSIP__INTERVAL_MS", "800"),
    ];
    let mut node = Node::start_with(
        dir.path(),
        "n",
        launch(&env, &["gossip.interval_ms=900"], &[]),
        Http::new(),
    );

    let port = node.url.rsplit(':').next().expect("port").to_owned();
    assert_ne!(port, "0", "the bound port is announced, not 0");
    assert_eq!(node.url, format!("http://127.0.0.1:{port}"));
    let c = config(&node);
    assert_eq!(
        c["quorum"],
        json!({"n": 1, "r": 1, "w": 1, "sloppy": true}),
        "from the file: {c}"
    );
    assert_eq!(
        c["versioning"]["max_clock_entries"],
        json!(11),
        "from the file: {c}"
    );
    assert_eq!(
        c["gossip"]["failure_timeout_ms"],
        json!(4000),
        "from the file: {c}"
    );
    assert_eq!(
        c["versioning"]["max_siblings"],
        json!(6),
        "env over file: {c}"
    );
    assert_eq!(c["gossip"]["interval_ms"], json!(900), "flag over env: {c}");
    assert_eq!(c["anti_entropy"]["buckets"], json!(1024), "default: {c}");
    assert_eq!(
        c["port"].to_string(),
        port,
        "the bound port in the config: {c}"
    );
    assert_eq!(c["public_url"], json!(node.url), "{c}");
    // A fresh data dir is a fresh member: the address plus a random suffix.
    let first_id = c["node_id"].as_str().unwrap_or_default().to_string();
    assert!(
        first_id.starts_with(&format!("127.0.0.1:{port}-")) && first_id.len() > port.len() + 11,
        "default node id: {c}"
    );

    node.put("survives", json!("restart")).expect(201);
    node.kill();
    node.restart_on_new_port();
    let c = config(&node);
    assert_eq!(c["public_url"], json!(node.url), "{c}");
    assert_eq!(
        c["node_id"],
        json!(first_id),
        "the persisted node id is kept: {c}"
    );
    assert_eq!(node.get_value("survives"), json!("restart"));
}

#[test]
fn ringkv_config_names_the_config_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cwd = dir.path().join("n");
    std::fs::create_dir_all(&cwd).expect("node dir");
    std::fs::write(cwd.join("config.toml"), "[versioning]\nmax_siblings = 3\n").expect("write");
    let custom = cwd.join("custom.toml");
    std::fs::write(&custom, FILE_CONFIG).expect("custom.toml");
    let custom = custom.to_str().expect("utf-8 path");
    let node = Node::start_with(
        dir.path(),
        "n",
        launch(&[("RINGKV_CONFIG", custom)], &[], &[]),
        Http::new(),
    );
    let c = config(&node);
    assert_eq!(
        c["versioning"]["max_siblings"],
        json!(5),
        "from RINGKV_CONFIG: {c}"
    );
    assert_eq!(c["quorum"]["n"], json!(1), "{c}");

    // `--config` wins over RINGKV_CONFIG.
    drop(node);
    let node = Node::start_with(
        dir.path(),
        "n2",
        launch(
            &[("RINGKV_CONFIG", custom)],
            &["quorum.n=1", "quorum.r=1", "quorum.w=1"],
            &["--config", cwd.join("config.toml").to_str().expect("path")],
        ),
        Http::new(),
    );
    let c = config(&node);
    assert_eq!(
        c["versioning"]["max_siblings"],
        json!(3),
        "from --config: {c}"
    );
}
