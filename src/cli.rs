//! The command line: `ringkv serve | dev | bench | get | put | delete | list | peers | join |
//! healthcheck`.
//!
//! `serve` flags become the last configuration layer (flags > environment > file > defaults,
//! see [`crate::config`]); clap does not read the environment for them itself, so the
//! precedence stays in one place.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand};

use crate::config::{Config, Layer};

#[derive(Debug, Parser)]
#[command(
    name = "ringkv",
    version,
    about = "A Dynamo-style leaderless key/value store"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one node.
    Serve(ServeArgs),
    /// Run a local 3-node cluster (127.0.0.1:7777, 8888, 9999) until Ctrl-C.
    Dev(crate::dev::DevArgs),
    /// Drive a cluster with load and print throughput and latency.
    Bench(ringkv_loadgen::BenchArgs),
    /// Print a key's value (or siblings).
    Get {
        key: String,
        #[command(flatten)]
        target: crate::client::Target,
    },
    /// Store a JSON value under a key.
    Put {
        key: String,
        /// A JSON value, e.g. '"text"', 42, '{"a": 1}'.
        value: String,
        /// Seconds until the value expires.
        #[arg(long)]
        ttl: Option<u64>,
        #[command(flatten)]
        target: crate::client::Target,
    },
    /// Delete a key.
    Delete {
        key: String,
        #[command(flatten)]
        target: crate::client::Target,
    },
    /// List keys (every page).
    List {
        #[arg(long, default_value = "")]
        prefix: String,
        #[command(flatten)]
        target: crate::client::Target,
    },
    /// Show the cluster's members.
    Peers {
        #[command(flatten)]
        target: crate::client::Target,
    },
    /// Join the node at --url with the cluster of PEER_URL.
    Join {
        peer_url: String,
        #[command(flatten)]
        target: crate::client::Target,
    },
    /// Exit 0 when the node answers GET /healthcheck with 200, else 1 (for container probes).
    Healthcheck(crate::healthcheck::HealthcheckArgs),
}

/// `ringkv serve` flags; every one also exists as a config key.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// TOML config file (default ./config.toml when present). Env RINGKV_CONFIG.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Address to bind (env HOST or RINGKV_HOST; default 127.0.0.1).
    #[arg(long)]
    pub host: Option<String>,
    /// Port to bind, 0 for any (env PORT or RINGKV_PORT; default 7777).
    #[arg(long)]
    pub port: Option<u16>,
    /// How other nodes and clients reach this node (default http://{host}:{port}).
    #[arg(long)]
    pub public_url: Option<String>,
    /// Stable node id (default the public URL's host:port; pinned in the data dir).
    #[arg(long)]
    pub node_id: Option<String>,
    /// Data directory (default ./data/{node id}).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Initial members, comma-separated URLs.
    #[arg(long)]
    pub peers: Option<String>,
    /// File of initial members, one host:port or URL per line.
    #[arg(long)]
    pub membership_file: Option<PathBuf>,
    /// Any config key, e.g. --set quorum.w=1 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

impl ServeArgs {
    /// The flags as a config layer.
    pub fn layer(&self) -> anyhow::Result<Layer> {
        let mut layer = Layer::default();
        let path = |p: &PathBuf| p.to_string_lossy().into_owned();
        let pairs = [
            ("host", self.host.clone()),
            ("port", self.port.map(|p| p.to_string())),
            ("public_url", self.public_url.clone()),
            ("node_id", self.node_id.clone()),
            ("data_dir", self.data_dir.as_ref().map(path)),
            ("peers", self.peers.clone()),
            ("membership_file", self.membership_file.as_ref().map(path)),
        ];
        for (key, value) in pairs {
            if let Some(value) = value {
                layer.set(key, &value);
            }
        }
        for pair in &self.set {
            let Some((key, value)) = pair.split_once('=') else {
                bail!("--set expects KEY=VALUE, got `{pair}`");
            };
            layer.set(key, value);
        }
        Ok(layer)
    }

    /// Loads the whole configuration: file, then environment, then these flags.
    pub fn load(&self) -> anyhow::Result<Config> {
        let from_env = std::env::var_os("RINGKV_CONFIG").map(PathBuf::from);
        let file = self.config.clone().or(from_env).or_else(|| {
            let default = PathBuf::from("config.toml");
            default.exists().then_some(default)
        });
        let env = Layer::from_env(std::env::vars());
        Config::load(file.as_deref(), &[env, self.layer()?])
            .with_context(|| "loading the configuration".to_string())
    }
}
