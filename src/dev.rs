//! `ringkv dev`: a local 3-node cluster in one process, one command, for trying ringkv out.
//!
//! Each node is a full node (its own listener, storage under `<base-dir>/<port>`, prober), all
//! knowing each other, with N=3 R=2 W=2. Ctrl-C shuts every node down in order (see
//! [`crate::server`]) before the process exits.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{Config, Layer};

#[derive(Debug, Clone, Args)]
pub struct DevArgs {
    /// Where the nodes keep their data (one folder per port).
    #[arg(long, default_value = "./data/dev")]
    pub base_dir: PathBuf,
    /// The nodes' ports on 127.0.0.1.
    #[arg(long, value_delimiter = ',', default_values_t = [7777u16, 8888, 9999])]
    pub ports: Vec<u16>,
    /// Any config key for every node, e.g. --set storage.sync=never (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

/// The config of the node on `port`.
fn node_config(args: &DevArgs, port: u16) -> anyhow::Result<Config> {
    let mut layer = Layer::default();
    layer.set("host", "127.0.0.1");
    layer.set("port", &port.to_string());
    layer.set(
        "data_dir",
        &args.base_dir.join(port.to_string()).to_string_lossy(),
    );
    let peers: Vec<String> = args
        .ports
        .iter()
        .filter(|p| **p != port)
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();
    layer.set("peers", &peers.join(","));
    for (key, value) in [("quorum.n", "3"), ("quorum.r", "2"), ("quorum.w", "2")] {
        layer.set(key, value);
    }
    for pair in &args.set {
        let (key, value) = pair
            .split_once('=')
            .with_context(|| format!("--set expects KEY=VALUE, got `{pair}`"))?;
        layer.set(key, value);
    }
    Config::load(None, &[layer])
}

pub async fn run(args: DevArgs) -> anyhow::Result<()> {
    anyhow::ensure!(!args.ports.is_empty(), "--ports needs at least one port");
    let (stop, stopped) = watch::channel(false);
    let (ready, mut readied) = tokio::sync::mpsc::unbounded_channel::<String>();
    let mut nodes = tokio::task::JoinSet::new();
    for &port in &args.ports {
        let config = node_config(&args, port)?;
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .with_context(|| format!("binding 127.0.0.1:{port} (is another node running?)"))?;
        let mut stopped = stopped.clone();
        let shutdown = async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        let ready = ready.clone();
        nodes.spawn(crate::server::run(config, listener, shutdown, move |c| {
            let url = c.public_url();
            let _ = ready.send(format!(
                "node {} listening on {url}   docs: {url}/docs",
                c.node_id()
            ));
        }));
    }
    drop(ready);
    let mut lines = Vec::new();
    while lines.len() < args.ports.len() {
        tokio::select! {
            line = readied.recv() => match line {
                Some(line) => lines.push(line),
                None => break,
            },
            Some(done) = nodes.join_next() => {
                let _ = stop.send(true);
                done.context("node task")?.context("a node failed to start")?;
            }
        }
    }
    lines.sort();
    for line in lines {
        println!("{line}");
    }
    println!(
        "ringkv dev cluster: {} nodes, N=3 R=2 W=2, data under {}. Ctrl-C to stop.",
        args.ports.len(),
        args.base_dir.display()
    );
    println!(
        "try: curl -X PUT localhost:{}/items/hello -H 'content-type: application/json' \\\n       -d '{{\"value\": \"world\"}}'",
        args.ports[0]
    );
    tokio::select! {
        () = crate::server::shutdown_signal() => {}
        Some(done) = nodes.join_next() => {
            tracing::error!("a node stopped on its own: {done:?}");
        }
    }
    let _ = stop.send(true);
    let mut result = Ok(());
    while let Some(done) = nodes.join_next().await {
        if let Err(e) = done.context("node task")? {
            tracing::error!("node failed: {e:#}");
            result = Err(e);
        }
    }
    println!("all nodes stopped");
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_know_each_other() {
        let args = DevArgs {
            base_dir: "/tmp/x".into(),
            ports: vec![1, 2, 3],
            set: vec!["quorum.w=1".into()],
        };
        let c = node_config(&args, 2).unwrap();
        assert_eq!(c.peers, vec!["http://127.0.0.1:1", "http://127.0.0.1:3"]);
        assert_eq!(c.data_dir.unwrap(), PathBuf::from("/tmp/x/2"));
        assert_eq!((c.quorum.n, c.quorum.r, c.quorum.w), (3, 2, 1));
    }
}
