//! The node's configuration: defaults, `config.toml`, environment and flags, merged in that
//! order (later wins), then validated and resolved against the bound socket.
//!
//! Merging happens on a TOML table before anything is typed, so every layer speaks the same
//! dotted names (`quorum.w`): the file is the base table, `RINGKV_QUORUM__W=1` and
//! `--set quorum.w=1` each set one dotted key. Deserialising the merged table into [`Config`]
//! (which denies unknown keys) is the single place where types and names are checked.
//!
//! Three fields are only known after the listener is bound ([`Config::resolve`]):
//! `public_url` (default `http://{host}:{port}`), `node_id` (default the public URL's
//! `host:port` plus a random suffix, chosen when the data dir is fresh and pinned in it) and
//! `data_dir` (default `./data/{host}_{port}`, or `./data/{node_id}` when one is given).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::settings::{AntiEntropy, Gossip, HintedHandoff, Quorum, Settings, Versioning};

/// When the storage engine fsyncs its commit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    Always,
    Interval,
    Never,
}

/// `[storage]`: options of the local engine, fixed at start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    pub sync: SyncMode,
    pub sync_interval_ms: u64,
    /// With `sync = "always"`: how long (µs) a group commit may wait for more concurrent
    /// writes to share its fsync (0: never; a lone writer never waits).
    pub commit_delay_us: u64,
    pub memtable_bytes: usize,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            sync: SyncMode::Always,
            sync_interval_ms: 100,
            commit_delay_us: 400,
            memtable_bytes: 32 << 20,
        }
    }
}

/// The whole effective configuration (`GET /config` returns it as JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    pub host: String,
    /// 0 binds any free port; the bound one is used everywhere after.
    pub port: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub data_dir: Option<PathBuf>,
    /// URLs of the initial static members.
    pub peers: Vec<String>,
    /// One `host:port` or URL per line, `#` comments; an alternative to `peers`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub membership_file: Option<PathBuf>,
    pub tokens_per_member: usize,
    /// The coordinator's whole deadline for one request; 503 after it.
    pub request_timeout_ms: u64,
    /// The deadline of one node-to-node call.
    pub rpc_timeout_ms: u64,
    pub max_value_bytes: usize,
    /// Client requests in progress at once; more wait, then answer 503.
    pub max_concurrent_requests: usize,
    /// Node-to-node requests in progress at once, apart from clients' (so a node saturated by
    /// clients still answers its peers' merges and gossip).
    pub max_concurrent_internal_requests: usize,
    /// Keys per second a node moves at most when members join, leave or are removed.
    pub move_rate_keys_per_sec: u64,
    /// Tombstones and expired versions may be collected this long after they died.
    pub tombstone_grace_ms: u64,
    /// When set, `/internal/...` and the admin writes (`POST`/`DELETE /peers`, `PUT /config`)
    /// require it in the `X-Cluster-Secret` header (401 otherwise). Never shown by
    /// `GET /config`.
    #[serde(skip_serializing)]
    #[schema(ignore)]
    pub cluster_secret: Option<String>,
    pub storage: StorageConfig,
    pub quorum: Quorum,
    pub gossip: Gossip,
    pub anti_entropy: AntiEntropy,
    pub versioning: Versioning,
    pub hinted_handoff: HintedHandoff,
}

impl Default for Config {
    fn default() -> Self {
        let settings = Settings::default();
        Config {
            node_id: None,
            host: "127.0.0.1".into(),
            port: 7777,
            public_url: None,
            data_dir: None,
            peers: Vec::new(),
            membership_file: None,
            tokens_per_member: ringkv_ring::DEFAULT_TOKENS_PER_MEMBER,
            request_timeout_ms: 2000,
            rpc_timeout_ms: 1000,
            max_value_bytes: 1 << 20,
            max_concurrent_requests: 1024,
            max_concurrent_internal_requests: 1024,
            move_rate_keys_per_sec: 50_000,
            tombstone_grace_ms: 86_400_000,
            cluster_secret: None,
            storage: StorageConfig::default(),
            quorum: settings.quorum,
            gossip: settings.gossip,
            anti_entropy: settings.anti_entropy,
            versioning: settings.versioning,
            hinted_handoff: settings.hinted_handoff,
        }
    }
}

/// Keys whose values are always strings, even when they look like numbers (`node_id = "7"`).
const STRING_KEYS: [&str; 6] = [
    "node_id",
    "host",
    "public_url",
    "data_dir",
    "membership_file",
    "storage.sync",
];

/// One layer of configuration: dotted keys with TOML values, applied in order.
#[derive(Debug, Default, Clone)]
pub struct Layer {
    pairs: Vec<(String, toml::Value)>,
}

impl Layer {
    /// Adds `key = raw`, typing `raw` as TOML when it parses (numbers, booleans, arrays) and as a
    /// string otherwise. `peers` also accepts a comma-separated list.
    pub fn set(&mut self, key: &str, raw: &str) {
        let key = key.trim().to_string();
        let value = if key == "peers" && !raw.trim_start().starts_with('[') {
            toml::Value::Array(
                raw.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| toml::Value::String(s.into()))
                    .collect(),
            )
        } else if STRING_KEYS.contains(&key.as_str()) {
            toml::Value::String(raw.to_string())
        } else {
            parse_scalar(raw)
        };
        self.pairs.push((key, value));
    }

    /// The layer of `RINGKV_*`, `HOST`, `PORT` and `N_COPY` environment variables (seed 004's
    /// names: `N_COPY` is the number of copies, `quorum.n`). Variables that name no config key
    /// (`RINGKV_URL` of the client, a test harness's own) are ignored; `RINGKV_*` wins over the
    /// plain names.
    pub fn from_env(vars: impl IntoIterator<Item = (String, String)>) -> Layer {
        let mut plain = Layer::default();
        let mut prefixed = Layer::default();
        for (name, value) in vars {
            if name == "HOST" || name == "PORT" {
                plain.set(&name.to_ascii_lowercase(), &value);
            } else if name == "N_COPY" {
                plain.set("quorum.n", &value);
            } else if let Some(rest) = name.strip_prefix("RINGKV_") {
                let key = rest.to_ascii_lowercase().replace("__", ".");
                if is_config_key(&key) {
                    prefixed.set(&key, &value);
                }
            }
        }
        plain.pairs.extend(prefixed.pairs);
        plain
    }
}

fn parse_scalar(raw: &str) -> toml::Value {
    match toml::from_str::<toml::Table>(&format!("v = {raw}")) {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.into())),
        Err(_) => toml::Value::String(raw.into()),
    }
}

/// True when `dotted` names a field of [`Config`].
fn is_config_key(dotted: &str) -> bool {
    let defaults = toml::Table::try_from(Config::default()).unwrap_or_default();
    let mut parts = dotted.split('.');
    let first = parts.next().unwrap_or_default();
    let optional = [
        "node_id",
        "public_url",
        "data_dir",
        "membership_file",
        "cluster_secret",
    ];
    match (defaults.get(first), parts.next(), parts.next()) {
        (None, None, _) => optional.contains(&first),
        (Some(toml::Value::Table(_)), None, _) => false,
        (Some(toml::Value::Table(section)), Some(key), None) => section.contains_key(key),
        (Some(_), None, _) => true,
        _ => false,
    }
}

fn set_dotted(table: &mut toml::Table, dotted: &str, value: toml::Value) -> anyhow::Result<()> {
    match dotted.split_once('.') {
        None => {
            table.insert(dotted.to_string(), value);
        }
        Some((section, key)) => {
            let entry = table
                .entry(section.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            let Some(inner) = entry.as_table_mut() else {
                bail!("`{section}` is not a config section");
            };
            set_dotted(inner, key, value)?;
        }
    }
    Ok(())
}

impl Config {
    /// Merges the file (if any) and the layers, in order, over the defaults.
    pub fn load(file: Option<&Path>, layers: &[Layer]) -> anyhow::Result<Config> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading config file {}", path.display()))?;
                toml::from_str::<toml::Table>(&text)
                    .with_context(|| format!("parsing config file {}", path.display()))?
            }
            None => toml::Table::new(),
        };
        for layer in layers {
            for (key, value) in &layer.pairs {
                set_dotted(&mut table, key, value.clone())?;
            }
        }
        let config: Config = toml::Value::Table(table)
            .try_into()
            .context("invalid configuration")?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        self.settings().validate().map_err(anyhow::Error::msg)?;
        for (name, value) in [
            ("tokens_per_member", self.tokens_per_member as u64),
            ("request_timeout_ms", self.request_timeout_ms),
            ("rpc_timeout_ms", self.rpc_timeout_ms),
            ("max_value_bytes", self.max_value_bytes as u64),
            (
                "max_concurrent_requests",
                self.max_concurrent_requests as u64,
            ),
            (
                "max_concurrent_internal_requests",
                self.max_concurrent_internal_requests as u64,
            ),
            ("move_rate_keys_per_sec", self.move_rate_keys_per_sec),
            ("storage.memtable_bytes", self.storage.memtable_bytes as u64),
        ] {
            if value == 0 {
                bail!("{name} must be positive");
            }
        }
        if self.storage.sync == SyncMode::Interval && self.storage.sync_interval_ms == 0 {
            bail!("storage.sync_interval_ms must be positive with storage.sync = \"interval\"");
        }
        Ok(())
    }

    /// The hot sections as one value.
    pub fn settings(&self) -> Settings {
        Settings {
            quorum: self.quorum,
            gossip: self.gossip,
            anti_entropy: self.anti_entropy,
            versioning: self.versioning,
            hinted_handoff: self.hinted_handoff,
        }
    }

    /// Replaces the hot sections (after a `PUT /config`).
    pub fn set_settings(&mut self, s: &Settings) {
        self.quorum = s.quorum;
        self.gossip = s.gossip;
        self.anti_entropy = s.anti_entropy;
        self.versioning = s.versioning;
        self.hinted_handoff = s.hinted_handoff;
    }

    /// Fills `public_url`, `node_id` and `data_dir` once the listener is bound to `port`, and
    /// pins the node id in the data dir (a restart with the same dir keeps it).
    pub fn resolve(&mut self, port: u16) -> anyhow::Result<()> {
        self.port = port;
        if self.public_url.is_none() {
            let host = match self.host.as_str() {
                "0.0.0.0" | "" => "127.0.0.1".to_string(),
                "::" => "[::1]".to_string(),
                h if h.contains(':') && !h.starts_with('[') => format!("[{h}]"),
                h => h.to_string(),
            };
            self.public_url = Some(format!("http://{host}:{port}"));
        }
        let public_url = crate::cluster::normalize_url(self.public_url.as_deref().unwrap_or(""))
            .map_err(|e| anyhow::anyhow!("public_url: {e}"))?;
        let default_id = crate::cluster::url_authority(&public_url);
        self.public_url = Some(public_url);
        let wanted = self.node_id.clone();
        let id_for_dir = wanted.clone().unwrap_or(default_id.clone());
        let data_dir = self
            .data_dir
            .clone()
            .unwrap_or_else(|| Path::new("data").join(id_for_dir.replace(':', "_")));
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("creating data dir {}", data_dir.display()))?;
        let id_file = data_dir.join("node_id");
        let node_id = match std::fs::read_to_string(&id_file) {
            Ok(pinned) => {
                let pinned = pinned.trim().to_string();
                if let Some(wanted) = wanted.filter(|w| *w != pinned) {
                    bail!(
                        "data dir {} belongs to node `{pinned}`, not `{wanted}`",
                        data_dir.display()
                    );
                }
                pinned
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // A fresh data dir is a fresh member: its id is the address plus a random
                // suffix, so a node that left (its id is departed forever) can come back
                // from a new data dir on the same address as a new member.
                let id = wanted.unwrap_or_else(|| {
                    format!("{default_id}-{:06x}", rand::random::<u32>() & 0xff_ffff)
                });
                if id.is_empty() {
                    bail!("node_id must not be empty");
                }
                crate::persist::write_atomic(&id_file, id.as_bytes())?;
                id
            }
            Err(e) => return Err(e).context("reading the pinned node id"),
        };
        self.node_id = Some(node_id);
        self.data_dir = Some(data_dir);
        Ok(())
    }

    pub fn node_id(&self) -> &str {
        self.node_id.as_deref().unwrap_or_default()
    }

    pub fn public_url(&self) -> &str {
        self.public_url.as_deref().unwrap_or_default()
    }

    pub fn data_dir(&self) -> &Path {
        self.data_dir.as_deref().unwrap_or(Path::new("."))
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    pub fn rpc_timeout(&self) -> Duration {
        Duration::from_millis(self.rpc_timeout_ms)
    }

    /// Initial member URLs from `peers` and `membership_file`, normalised, own URL excluded.
    pub fn initial_peer_urls(&self) -> anyhow::Result<Vec<String>> {
        let mut raw = self.peers.clone();
        if let Some(file) = &self.membership_file {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading membership file {}", file.display()))?;
            raw.extend(parse_membership(&text));
        }
        let mut urls = Vec::new();
        for entry in raw {
            let url = crate::cluster::normalize_url(&entry)
                .map_err(|e| anyhow::anyhow!("peer `{entry}`: {e}"))?;
            if url != self.public_url() && !urls.contains(&url) {
                urls.push(url);
            }
        }
        Ok(urls)
    }
}

/// Lines of a membership file: `#` starts a comment, blank lines are skipped.
pub fn parse_membership(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or_default().trim())
        .filter(|line| !line.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(pairs: &[(&str, &str)]) -> Layer {
        let mut l = Layer::default();
        for (k, v) in pairs {
            l.set(k, v);
        }
        l
    }

    #[test]
    fn n_copy_sets_the_number_of_copies_and_ringkv_names_win() {
        let env = Layer::from_env([("N_COPY".to_string(), "2".to_string())]);
        let c = Config::load(None, &[env]).unwrap();
        assert_eq!((c.quorum.n, c.quorum.r, c.quorum.w), (2, 2, 2));
        let both = Layer::from_env([
            ("RINGKV_QUORUM__N".to_string(), "5".to_string()),
            ("N_COPY".to_string(), "2".to_string()),
        ]);
        assert_eq!(Config::load(None, &[both]).unwrap().quorum.n, 5);
    }

    #[test]
    fn later_layers_win_over_file_and_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        std::fs::write(&file, "port = 8000\n[quorum]\nn = 5\nr = 3\n").unwrap();
        let env = Layer::from_env([
            ("PORT".to_string(), "9000".to_string()),
            ("RINGKV_QUORUM__W".to_string(), "4".to_string()),
            ("RINGKV_BIN".to_string(), "ignored".to_string()),
            ("N_COPY".to_string(), "4".to_string()),
        ]);
        let flags = layer(&[("quorum.w", "1"), ("peers", "http://a:1, b:2")]);
        let c = Config::load(Some(&file), &[env, flags]).unwrap();
        assert_eq!(c.port, 9000);
        assert_eq!(
            c.quorum,
            Quorum {
                n: 4,
                r: 3,
                w: 1,
                sloppy: true
            }
        );
        assert_eq!(c.peers, vec!["http://a:1", "b:2"]);
        assert_eq!(c.storage, StorageConfig::default());
    }

    #[test]
    fn unknown_keys_and_bad_values_are_rejected() {
        assert!(Config::load(None, &[layer(&[("quorum.x", "1")])]).is_err());
        assert!(Config::load(None, &[layer(&[("nope", "1")])]).is_err());
        assert!(Config::load(None, &[layer(&[("quorum.r", "9")])]).is_err());
        assert!(Config::load(None, &[layer(&[("storage.sync", "sometimes")])]).is_err());
        let c = Config::load(
            None,
            &[layer(&[("storage.sync", "never"), ("node_id", "7")])],
        );
        assert_eq!(c.unwrap().storage.sync, SyncMode::Never);
    }

    #[test]
    fn resolve_pins_the_node_id() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Config {
            host: "0.0.0.0".into(),
            data_dir: Some(dir.path().to_path_buf()),
            ..Config::default()
        };
        c.resolve(4321).unwrap();
        assert_eq!(c.public_url(), "http://127.0.0.1:4321");
        let pinned = c.node_id().to_string();
        assert!(pinned.starts_with("127.0.0.1:4321-"), "{pinned}");
        let fresh = tempfile::tempdir().unwrap();
        let mut other_dir = Config {
            data_dir: Some(fresh.path().to_path_buf()),
            ..Config::default()
        };
        other_dir.resolve(4321).unwrap();
        assert_ne!(
            other_dir.node_id(),
            pinned,
            "a fresh data dir is a fresh member"
        );
        let mut again = Config {
            data_dir: Some(dir.path().to_path_buf()),
            ..Config::default()
        };
        again.resolve(5555).unwrap();
        assert_eq!(again.node_id(), pinned, "the pinned id survives a new port");
        let mut other = Config {
            node_id: Some("other".into()),
            data_dir: Some(dir.path().to_path_buf()),
            ..Config::default()
        };
        assert!(other.resolve(1).is_err());
    }

    #[test]
    fn membership_file_lines() {
        let text = "# cluster\n127.0.0.1:1\n\n  http://h:2  # second\n";
        assert_eq!(parse_membership(text), vec!["127.0.0.1:1", "http://h:2"]);
    }
}
