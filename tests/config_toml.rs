//! The top-level `config.toml` (the one the image carries and compose mounts) is the defaults:
//! every key of [`Config`] is in it (set, or commented out where the default is derived), and
//! `ringkv serve` with it in its working directory behaves exactly as with none (same `GET /config`).

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::{Http, Launch, Node};
use ringkv::config::Config;
use serde_json::Value;

fn shipped() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml")
}

/// Dotted names of every value in `table` (`quorum.w`, `port`).
fn dotted_keys(table: &toml::Table, prefix: &str, into: &mut BTreeSet<String>) {
    for (key, value) in table {
        let name = format!("{prefix}{key}");
        match value {
            toml::Value::Table(inner) => dotted_keys(inner, &format!("{name}."), into),
            _ => {
                into.insert(name);
            }
        }
    }
}

/// The file with its commented-out keys (`# key = value`) turned into keys.
fn uncommented(text: &str) -> String {
    text.lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest) if rest.split_once(" = ").is_some_and(|(k, _)| is_key(k)) => rest,
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_key(word: &str) -> bool {
    !word.is_empty() && word.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

#[test]
fn the_shipped_config_is_the_defaults() {
    let with_file = Config::load(Some(&shipped()), &[]).expect("config.toml loads");
    assert_eq!(with_file, Config::default());
    assert_eq!(with_file, Config::load(None, &[]).expect("no file loads"));
}

#[test]
fn the_shipped_config_names_every_key() {
    let text = std::fs::read_to_string(shipped()).expect("reading config.toml");
    let all: toml::Table = toml::from_str(&uncommented(&text)).expect("uncommented TOML parses");
    // Every optional key is there (commented out): exhaustive, so a new field fails to compile
    // here until it is added to the file and to this list.
    let Config {
        node_id,
        host: _,
        port: _,
        public_url,
        data_dir,
        peers: _,
        membership_file,
        tokens_per_member: _,
        request_timeout_ms: _,
        rpc_timeout_ms: _,
        max_value_bytes: _,
        max_concurrent_requests: _,
        max_concurrent_internal_requests: _,
        move_rate_keys_per_sec: _,
        tombstone_grace_ms: _,
        cluster_secret,
        storage: _,
        quorum: _,
        gossip: _,
        anti_entropy: _,
        versioning: _,
        hinted_handoff: _,
    } = toml::Value::Table(all.clone())
        .try_into()
        .expect("every key in config.toml is a config key");
    assert!(node_id.is_some() && public_url.is_some() && data_dir.is_some());
    assert!(membership_file.is_some() && cluster_secret.is_some());
    // Every key with a fixed default is set in the file.
    let defaults = toml::Table::try_from(Config::default()).expect("defaults as TOML");
    let mut wanted = BTreeSet::new();
    dotted_keys(&defaults, "", &mut wanted);
    let plain: toml::Table = toml::from_str(&text).expect("config.toml parses");
    let mut present = BTreeSet::new();
    dotted_keys(&plain, "", &mut present);
    assert_eq!(
        present, wanted,
        "keys set in config.toml vs keys with a default"
    );
}

/// `GET /config` of a node; the four values that depend on the bound port are checked against
/// the node's URL (default derivation) and removed, so two nodes' answers compare whole.
fn config_without_port(node: &Node) -> Value {
    let mut config = node.http.get(&node.at("/config")).expect(200).json();
    let port = node.url.rsplit(':').next().expect("a port").to_owned();
    let obj = config.as_object_mut().expect("an object");
    assert_eq!(
        obj.remove("port").map(|p| p.to_string()),
        Some(port.clone())
    );
    let url = obj.remove("public_url");
    assert_eq!(url, Some(Value::String(node.url.clone())));
    let id = obj.remove("node_id");
    let id = id.as_ref().and_then(Value::as_str).unwrap_or_default();
    assert!(
        id.starts_with(&format!("127.0.0.1:{port}-")),
        "node id {id}"
    );
    // Which settings version is in force: the file's (version 0) in both.
    let version = obj.remove("settings_version");
    assert_eq!(
        version,
        Some(serde_json::json!({"version": 0, "origin": ""}))
    );
    assert!(obj.remove("data_dir").is_some(), "{config}");
    config
}

#[test]
fn serve_with_the_shipped_config_is_serve_without_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let with_file = dir.path().join("with-file");
    std::fs::create_dir_all(&with_file).expect("node dir");
    std::fs::copy(shipped(), with_file.join("config.toml")).expect("copying config.toml");
    let launch = Launch {
        node_id: None,
        sets: Vec::new(),
        env: Vec::new(),
        args: Vec::new(),
        address_by_env: false,
        port: 0,
    };
    let plain = Node::start_with(dir.path(), "plain", launch.clone(), Http::new());
    let filed = Node::start_with(dir.path(), "with-file", launch, Http::new());
    assert!(filed.cwd().join("config.toml").exists());
    assert!(!plain.cwd().join("config.toml").exists());
    assert_eq!(config_without_port(&filed), config_without_port(&plain));
}
