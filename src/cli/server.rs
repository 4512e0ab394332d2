//! `ringkv server ...`: run and manage local nodes (seed 001's `server start|join|list|stop|
//! restart|kill`). Where the nodes live on disk, and how they are found again, is
//! [`super::local`]; cluster facts come from a node's `GET /peers`.
//!
//! `stop` is graceful (SIGTERM: the node finishes in-flight requests and syncs its log); with
//! `--leave` the member first leaves the cluster (`DELETE /peers/{id}`), handing its data to
//! the new owners, and the command waits with a progress bar until it has left. `kill` is
//! SIGKILL, for testing what a crash does.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use nix::sys::signal::Signal;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::local::{self, LocalNode, Record};
use crate::client::{Call, Nodes, Target};

/// `ringkv server` and its options shared by every subcommand.
#[derive(Debug, Args)]
pub struct ServerArgs {
    #[command(subcommand)]
    pub command: ServerCommand,
    /// Where local nodes live: one directory per node (its data dir, pid file and log).
    #[arg(long, env = "RINGKV_HOME", default_value = "./data", global = true)]
    pub home: PathBuf,
    #[command(flatten)]
    pub target: Target,
}

#[derive(Debug, Subcommand)]
pub enum ServerCommand {
    /// Run a node in the background; prints its id and URL once it listens.
    #[command(after_help = "Examples:\n  ringkv server start --port 7777\n  \
        ringkv server start --port 8888 --join http://127.0.0.1:7777\n  \
        ringkv server start --set storage.sync=never   # any free port, ./data/node-<n>")]
    Start(StartArgs),
    /// Every member: id, address, status, health, data movement, ring share, local pid.
    #[command(after_help = "Examples:\n  ringkv server list\n  \
        ringkv server list --url http://127.0.0.1:8888 --json\n  \
        ringkv server list --watch   # a progress bar per member moving data, until done")]
    List {
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
        /// Follow the members' data movement with a progress bar each (joins, leaves,
        /// repairs) until none is moving, then print the table.
        #[arg(long)]
        watch: bool,
    },
    /// Join the node at PEER_URL (and its cluster) with this cluster (--url, or a local node).
    #[command(after_help = "Example:\n  ringkv server join http://127.0.0.1:9999")]
    Join { peer_url: String },
    /// Stop a local node gracefully (SIGTERM); with --leave it first leaves the cluster.
    #[command(after_help = "Examples:\n  ringkv server stop 127.0.0.1:8888\n  \
        ringkv server stop 8888 --leave   # hand its data off, then stop")]
    Stop {
        /// Node id, directory name, port or URL (see `server list`).
        id: String,
        /// Leave the cluster first (DELETE /peers/{id}) and wait until the data moved.
        #[arg(long)]
        leave: bool,
    },
    /// Stop a local node gracefully if it runs, then start it again the same way.
    #[command(after_help = "Example:\n  ringkv server restart 127.0.0.1:8888")]
    Restart {
        /// Node id, directory name, port or URL.
        id: String,
    },
    /// Kill a local node at once (SIGKILL), as a crash would.
    #[command(after_help = "Example:\n  ringkv server kill 127.0.0.1:8888")]
    Kill {
        /// Node id, directory name, port or URL.
        id: String,
    },
}

/// `ringkv server start` options.
#[derive(Debug, Clone, Args)]
pub struct StartArgs {
    /// Port to listen on; 0 picks a free one (kept by restarts).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Once it listens, join the cluster of this node.
    #[arg(long, value_name = "URL")]
    pub join: Option<String>,
    /// The node's directory (default <home>/<port>, or <home>/node-<n> for any port).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Any config key, e.g. --set quorum.w=1 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

/// Runs one `ringkv server` command.
pub async fn run(args: ServerArgs) -> anyhow::Result<()> {
    let home = std::path::absolute(&args.home)?;
    match args.command {
        ServerCommand::Start(start) => {
            let dir = match &start.data_dir {
                Some(d) => d.clone(),
                None => local::new_dir(&home, start.port),
            };
            let record = Record {
                id: String::new(),
                url: String::new(),
                host: start.host.clone(),
                port: start.port,
                cwd: std::env::current_dir()?,
                sets: start.set.clone(),
            };
            let node = launch(&LocalNode::open(&dir)?, record).await?;
            if let Some(peer) = &start.join {
                join_at(&args.target, &node.url, peer)
                    .await
                    .with_context(|| {
                        format!("{} is running, but joining {peer} failed", node.id)
                    })?;
            }
            Ok(())
        }
        ServerCommand::List { json, watch } => {
            if watch {
                watch_movement(&home, &args.target).await?;
            }
            list(&home, &args.target, json).await
        }
        ServerCommand::Join { peer_url } => {
            let nodes = nodes_or_local(&home, &args.target)?;
            let answer = admin_join(&nodes, &peer_url).await?;
            let members = answer.json()["members"].as_array().map_or(0, Vec::len);
            println!("joined {peer_url}: the cluster has {members} members");
            Ok(())
        }
        ServerCommand::Stop { id, leave } => {
            let node = local::find(&home, &id)?;
            let Some(pid) = node.running() else {
                bail!("{} is not running", node.id());
            };
            if leave {
                leave_cluster(&node, &args.target).await?;
            }
            stop(&node, pid, Signal::SIGTERM).await?;
            println!("stopped {}", node.id());
            Ok(())
        }
        ServerCommand::Restart { id } => {
            let node = local::find(&home, &id)?;
            let Some(record) = node.record.clone() else {
                bail!("{} never started: nothing to restart", node.dir.display());
            };
            if let Some(pid) = node.running() {
                stop(&node, pid, Signal::SIGTERM).await?;
            }
            launch(&node, record).await.map(|_| ())
        }
        ServerCommand::Kill { id } => {
            let node = local::find(&home, &id)?;
            let Some(pid) = node.running() else {
                bail!("{} is not running", node.id());
            };
            stop(&node, pid, Signal::SIGKILL).await?;
            println!("killed {}", node.id());
            Ok(())
        }
    }
}

/// Spawns the node as `record` says (port 0: any), records its id and URL, prints them.
async fn launch(node: &LocalNode, mut record: Record) -> anyhow::Result<Record> {
    if let Some(pid) = node.running() {
        bail!(
            "{} already runs in {} (pid {pid})",
            node.id(),
            node.dir.display()
        );
    }
    let (pid, url) = local::spawn(
        &node.dir,
        &record.host,
        record.port,
        &record.cwd,
        &record.sets,
    )
    .await?;
    let config = Nodes::new(&one_url(&url), Duration::from_secs(10))?
        .send(&Call::new(Method::GET, &["config"]))
        .await?
        .ok()?
        .json();
    record.id = config["node_id"].as_str().unwrap_or(&url).to_string();
    record.port = config["port"]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or(0);
    record.url = url;
    node.save(&record)?;
    println!(
        "started {} at {} (pid {pid}, data {})",
        record.id,
        record.url,
        node.dir.display()
    );
    Ok(record)
}

fn one_url(url: &str) -> Target {
    Target {
        urls: vec![url.to_string()],
        secret: None,
    }
}

/// `--url` when given, else the URLs of the running local nodes.
fn nodes_or_local(home: &std::path::Path, target: &Target) -> anyhow::Result<Nodes> {
    let mut target = target.clone();
    if target.urls.is_empty() {
        target.urls = local::running_urls(home)?;
    }
    if target.urls.is_empty() {
        bail!(
            "no node to ask: no local node runs under {} (start one with `ringkv server start`) \
             and no --url was given",
            home.display()
        );
    }
    Nodes::new(&target, Duration::from_secs(30))
}

async fn admin_join(nodes: &Nodes, peer_url: &str) -> anyhow::Result<crate::client::Answer> {
    let body = json!({ "peer_url": peer_url });
    let call = Call {
        body: Some(&body),
        ..Call::new(Method::POST, &["peers"])
    };
    nodes.send(&call).await?.ok()
}

/// Joins the node at `url` with the cluster of `peer`.
async fn join_at(target: &Target, url: &str, peer: &str) -> anyhow::Result<()> {
    let mut one = one_url(url);
    one.secret = target.secret.clone();
    admin_join(&Nodes::new(&one, Duration::from_secs(30))?, peer).await?;
    println!("joined the cluster of {peer}");
    Ok(())
}

/// Signals the node and waits until it exited; then its pid file goes.
async fn stop(node: &LocalNode, pid: i32, signal: Signal) -> anyhow::Result<()> {
    local::signal(pid, signal)?;
    local::wait_exit(pid, local::DEADLINE)
        .await
        .with_context(|| format!("{} did not stop (try `ringkv server kill`)", node.id()))?;
    node.forget_pid();
    Ok(())
}

/// Asks the member to leave (`DELETE /peers/{id}` on itself) and waits until it has left,
/// drawing the data movement its `GET /peers` reports. Works whether the server answers the
/// DELETE once the handoff is done (200) or at once and moves the data in the background (202).
async fn leave_cluster(node: &LocalNode, target: &Target) -> anyhow::Result<()> {
    let Some(record) = &node.record else {
        bail!("{} has no URL on record", node.dir.display());
    };
    let mut one = one_url(&record.url);
    one.secret = target.secret.clone();
    let nodes = Nodes::new(&one, Duration::from_secs(600))?;
    let bar = super::bar::towards("leaving");
    bar.set_message(format!("{} hands off its keys", record.id));
    let id = record.id.clone();
    let delete = async {
        let segments = ["peers", id.as_str()];
        nodes
            .send(&Call::new(Method::DELETE, &segments))
            .await?
            .ok()
    };
    tokio::pin!(delete);
    let mut answered = None;
    let start = Instant::now();
    let result = loop {
        if answered.is_none() {
            tokio::select! {
                a = &mut delete => match a {
                    Ok(a) => answered = Some(a.status),
                    Err(e) => break Err(e),
                },
                () = tokio::time::sleep(Duration::from_millis(300)) => {}
            }
        } else {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        match leave_progress(&nodes, &id).await {
            Some(Progress::Left) => break Ok(()),
            Some(Progress::Moving { moved, total }) => {
                if let Some(total) = total {
                    bar.set_length(total);
                }
                bar.set_position(moved);
            }
            None if answered == Some(StatusCode::OK) => break Ok(()),
            None => {}
        }
        if start.elapsed() > Duration::from_secs(600) {
            break Err(anyhow::anyhow!("{id} has not left after 10 minutes"));
        }
    };
    bar.finish_and_clear();
    result?;
    println!("{id} left the cluster");
    Ok(())
}

enum Progress {
    Left,
    Moving { moved: u64, total: Option<u64> },
}

/// What the member's own `GET /peers` says of its leave (`None`: nothing yet, or no answer).
async fn leave_progress(nodes: &Nodes, id: &str) -> Option<Progress> {
    let peers = nodes
        .send(&Call::new(Method::GET, &["peers"]))
        .await
        .ok()?
        .ok()
        .ok()?
        .json();
    let members = peers["members"].as_array()?;
    let Some(me) = members.iter().find(|m| m["id"] == id) else {
        return Some(Progress::Left); // a departed member is no longer listed
    };
    if me["status"] == "left" {
        return Some(Progress::Left);
    }
    let movement = &me["movement"];
    movement.is_object().then(|| Progress::Moving {
        moved: movement["keys_moved"].as_u64().unwrap_or(0),
        total: movement["keys_total"].as_u64(),
    })
}

/// One row of `server list`.
struct Row {
    id: String,
    url: String,
    status: String,
    health: String,
    movement: String,
    share: Option<f64>,
    local: String,
}

impl Row {
    fn json(&self) -> Value {
        json!({
            "id": self.id, "url": self.url, "status": self.status, "health": self.health,
            "movement": self.movement, "ring_share": self.share, "local": self.local,
        })
    }
}

async fn list(home: &std::path::Path, target: &Target, as_json: bool) -> anyhow::Result<()> {
    let locals = local::list(home)?;
    let asked = nodes_or_local(home, target);
    let view = match &asked {
        Ok(nodes) => match nodes.send(&Call::new(Method::GET, &["peers"])).await {
            Ok(answer) => Some(answer.ok()?.json()),
            Err(e) if locals.is_empty() => return Err(e),
            Err(e) => {
                eprintln!("no member answered ({e}); showing local nodes only");
                None
            }
        },
        Err(_) if !locals.is_empty() => None,
        Err(e) => bail!("{e}"),
    };
    let rows = rows(view.as_ref(), &locals).await;
    if as_json {
        println!("{}", Value::Array(rows.iter().map(Row::json).collect()));
    } else {
        print_table(&rows);
    }
    Ok(())
}

/// Polls `GET /peers` every second, drawing a bar per member that moves data, until no
/// member is joining or leaving.
async fn watch_movement(home: &std::path::Path, target: &Target) -> anyhow::Result<()> {
    let nodes = nodes_or_local(home, target)?;
    let bars = indicatif::MultiProgress::new();
    let mut shown: std::collections::BTreeMap<String, indicatif::ProgressBar> = Default::default();
    loop {
        let view = nodes
            .send(&Call::new(Method::GET, &["peers"]))
            .await?
            .ok()?
            .json();
        let members = view["members"].as_array().cloned().unwrap_or_default();
        let mut moving = false;
        for m in &members {
            let (id, status) = (text(&m["id"]), text(&m["status"]));
            let mv = &m["movement"];
            let busy = mv.is_object() || status == "joining" || status == "leaving";
            moving |= busy;
            if !busy {
                if let Some(bar) = shown.remove(&id) {
                    bar.finish_with_message(status);
                }
                continue;
            }
            let bar = shown
                .entry(id.clone())
                .or_insert_with(|| bars.add(super::bar::towards("moving")));
            if let Some(total) = mv["keys_total"].as_u64() {
                bar.set_length(total);
            }
            bar.set_position(mv["keys_moved"].as_u64().unwrap_or(0));
            bar.set_message(format!("{id} {status} {}", movement(mv)));
        }
        if !moving {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The members of `view`, then the local nodes that are not among them.
async fn rows(view: Option<&Value>, locals: &[LocalNode]) -> Vec<Row> {
    let members = view
        .and_then(|v| v["members"].as_array().cloned())
        .unwrap_or_default();
    let mut rows = Vec::new();
    for m in &members {
        let (id, url) = (text(&m["id"]), text(&m["url"]));
        let local = locals
            .iter()
            .find(|n| n.record.as_ref().is_some_and(|r| r.id == id));
        rows.push(Row {
            status: text(&m["status"]),
            movement: movement(&m["movement"]),
            share: m["ring_share"].as_f64(),
            local: local.map_or_else(|| "-".to_string(), local_state),
            health: String::new(),
            id,
            url,
        });
    }
    for node in locals {
        if rows.iter().any(|r| r.id == node.id()) {
            continue;
        }
        let running = node.running().is_some();
        rows.push(Row {
            id: node.id(),
            url: node
                .record
                .as_ref()
                .map(|r| r.url.clone())
                .unwrap_or_default(),
            status: if running { "not a member" } else { "stopped" }.to_string(),
            health: String::new(),
            movement: "-".into(),
            share: None,
            local: local_state(node),
        });
    }
    let probes: Vec<_> = rows.iter().map(|r| probe(r.url.clone())).collect();
    for (row, health) in rows.iter_mut().zip(futures::future::join_all(probes).await) {
        row.health = health;
    }
    rows
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or("-").to_string()
}

fn local_state(node: &LocalNode) -> String {
    match node.running() {
        Some(pid) => format!("pid {pid}, {}", node.dir.display()),
        None => format!("stopped, {}", node.dir.display()),
    }
}

/// `join 120/4000 keys` for a data movement in progress, `-` for none.
fn movement(m: &Value) -> String {
    if !m.is_object() {
        return "-".into();
    }
    let total = m["keys_total"]
        .as_u64()
        .map_or("?".to_string(), |t| t.to_string());
    format!(
        "{} {}/{total} keys",
        text(&m["kind"]),
        m["keys_moved"].as_u64().unwrap_or(0)
    )
}

/// `ok` when the node answers its `/healthcheck` within a second.
async fn probe(url: String) -> String {
    if url.is_empty() {
        return "-".into();
    }
    let Ok(nodes) = Nodes::new(&one_url(&url), Duration::from_secs(1)) else {
        return "-".into();
    };
    match nodes.send(&Call::new(Method::GET, &["healthcheck"])).await {
        Ok(a) if a.status.is_success() => "ok".into(),
        Ok(a) => format!("answers {}", a.status.as_u16()),
        Err(_) => "unreachable".into(),
    }
}

/// A plain aligned table (a table crate would be more than these few lines).
fn print_table(rows: &[Row]) {
    let head = ["ID", "URL", "STATUS", "HEALTH", "MOVEMENT", "RING", "LOCAL"];
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            let share = r
                .share
                .map_or("-".to_string(), |s| format!("{:.1}%", s * 100.0));
            [
                r.id.clone(),
                r.url.clone(),
                r.status.clone(),
                r.health.clone(),
                r.movement.clone(),
                share,
                r.local.clone(),
            ]
        })
        .collect();
    let mut widths = head.map(str::len);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cols: Vec<&str>| {
        let padded: Vec<String> = cols
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(head.to_vec());
    for row in &cells {
        line(row.iter().map(String::as_str).collect());
    }
}
