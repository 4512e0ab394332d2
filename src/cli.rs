//! The command line: `ringkv serve | dev | bench | server ... | client ... | healthcheck`.
//!
//! - `serve` runs one node in the foreground; `dev` three in one process.
//! - `server start|list|join|stop|restart|kill` manage nodes running in the background on this
//!   machine ([`server`], on disk as [`local`] describes).
//! - `client read|write|update|delete|append` use any node (`--url`, several allowed: the next
//!   is tried when one is down; see [`crate::client`]).
//! - `healthcheck`: exit 0 when a node answers `GET /healthcheck` (container probes).
//! - `get`, `put`, `delete`, `list`, `peers`, `join`: the older spellings, kept as hidden
//!   aliases of the client and server commands.
//!
//! `serve` flags become the last configuration layer (flags > environment > file > defaults,
//! see [`crate::config`]); clap does not read the environment for them itself, so the
//! precedence stays in one place.

pub mod bar;
pub mod local;
pub mod server;

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand};

use crate::client::{ClientArgs, ClientCommand, Target, WriteArgs};
use crate::config::{Config, Layer};

#[derive(Debug, Parser)]
#[command(
    name = "ringkv",
    version,
    about = "A Dynamo-style leaderless key/value store",
    after_help = "Examples:\n  ringkv dev                                  # a local 3-node cluster\n  \
        ringkv server start --port 7777             # a node in the background\n  \
        ringkv client write greeting hello --url http://127.0.0.1:7777\n  \
        ringkv client read greeting"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one node in the foreground.
    #[command(
        after_help = "Examples:\n  ringkv serve --port 7777 --peers http://127.0.0.1:8888\n  \
        ringkv serve --config node1.toml --set quorum.w=1"
    )]
    Serve(ServeArgs),
    /// Run a local 3-node cluster (127.0.0.1:7777, 8888, 9999) until Ctrl-C.
    #[command(
        after_help = "Example:\n  ringkv dev --ports 7000,7001,7002 --set storage.sync=never"
    )]
    Dev(crate::dev::DevArgs),
    /// Drive a cluster with load and print throughput and latency.
    #[command(
        after_help = "Example:\n  ringkv bench --clients 64 --duration 10 --read-ratio 0.9 --prefill"
    )]
    Bench(ringkv_loadgen::BenchArgs),
    /// Run and manage local nodes: start, list, join, stop, restart, kill.
    #[command(after_help = "Examples:\n  ringkv server start --port 7777\n  \
        ringkv server start --port 8888 --join http://127.0.0.1:7777\n  \
        ringkv server list\n  ringkv server stop 8888 --leave")]
    Server(server::ServerArgs),
    /// Read and write keys through any node: read, write, update, delete, append.
    #[command(after_help = "Examples:\n  ringkv client write greeting hello\n  \
        ringkv client read greeting --url http://127.0.0.1:7777,http://127.0.0.1:8888\n  \
        ringkv client read            # every key")]
    Client(ClientArgs),
    /// Alias of `client read KEY` (seed 002's `get KEY -rev N` is `get KEY --rev N`).
    #[command(hide = true)]
    Get {
        key: String,
        #[arg(long, value_name = "N")]
        rev: Option<usize>,
        #[command(flatten)]
        target: Target,
    },
    /// Alias of `client write KEY VALUE`.
    #[command(hide = true)]
    Put {
        #[command(flatten)]
        write: WriteArgs,
        #[command(flatten)]
        target: Target,
    },
    /// Alias of `client delete KEY`.
    #[command(hide = true)]
    Delete {
        key: String,
        #[command(flatten)]
        target: Target,
    },
    /// Alias of `client read --prefix P`.
    #[command(hide = true)]
    List {
        #[arg(long, default_value = "")]
        prefix: String,
        #[command(flatten)]
        target: Target,
    },
    /// Alias of `server list --json`, for the node at --url.
    #[command(hide = true)]
    Peers {
        #[command(flatten)]
        target: Target,
    },
    /// Alias of `server join PEER_URL`, for the node at --url.
    #[command(hide = true)]
    Join {
        peer_url: String,
        #[command(flatten)]
        target: Target,
    },
    /// Exit 0 when the node answers GET /healthcheck with 200, else 1 (for container probes).
    #[command(after_help = "Example:\n  ringkv healthcheck --url http://127.0.0.1:7777 --ready")]
    Healthcheck(crate::healthcheck::HealthcheckArgs),
}

impl Command {
    /// The older spellings as the commands they stand for; other commands as they are.
    pub fn canonical(self) -> Command {
        let client = |command, target| {
            Command::Client(ClientArgs {
                command,
                target,
                home: PathBuf::from("./data"),
            })
        };
        let server = |command, target| {
            Command::Server(server::ServerArgs {
                command,
                home: PathBuf::from("./data"),
                target,
            })
        };
        match self {
            Command::Get { key, rev, target } => client(
                ClientCommand::Read {
                    key: Some(key),
                    prefix: String::new(),
                    rev,
                },
                target,
            ),
            Command::Put { write, target } => client(ClientCommand::Write(write), target),
            Command::Delete { key, target } => client(ClientCommand::Delete { key }, target),
            Command::List { prefix, target } => client(
                ClientCommand::Read {
                    key: None,
                    prefix,
                    rev: None,
                },
                target,
            ),
            Command::Peers { target } => server(
                server::ServerCommand::List {
                    json: true,
                    watch: false,
                },
                target,
            ),
            Command::Join { peer_url, target } => {
                server(server::ServerCommand::Join { peer_url }, target)
            }
            other => other,
        }
    }
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
