//! Running one node: open the parts, start the workers, serve, and shut down in order.
//!
//! Shutdown order (SIGTERM / Ctrl-C, or the `shutdown` future given to [`run`]): stop
//! accepting and let in-flight requests finish (axum's graceful shutdown), then the
//! supervisor waits for the request tails and stops the workers in reverse start order
//! (data movement first, gossip last), then the storage engine is closed, which syncs the
//! commit log. Only then does `run` return.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use ringkv_storage::{Fs, RealFs};
use tokio::net::TcpListener;

use crate::anti_entropy::Digests;
use crate::anti_entropy::exchange::AntiEntropy;
use crate::background::Background;
use crate::cluster::{Cluster, Phase};
use crate::config::{Config, SyncMode};
use crate::membership::Membership;
use crate::node::Node;
use crate::replica::{CollectDead, Replica, SideRecords};
use crate::rpc::RpcClient;

/// How long shutdown waits for background work before syncing without closing.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the engine close waits for the last stray handles (see `run_on`).
const LAST_HANDLE_WAIT: Duration = Duration::from_secs(2);

fn storage_options(config: &Config, fs: Arc<dyn Fs>) -> ringkv_storage::Options {
    let sync = match config.storage.sync {
        SyncMode::Always => ringkv_storage::SyncPolicy::Always,
        SyncMode::Interval => ringkv_storage::SyncPolicy::Interval(Duration::from_millis(
            config.storage.sync_interval_ms,
        )),
        SyncMode::Never => ringkv_storage::SyncPolicy::Never,
    };
    ringkv_storage::Options {
        sync,
        commit_delay: Duration::from_micros(config.storage.commit_delay_us),
        memtable_bytes: config.storage.memtable_bytes,
        compaction_filter: Some(Arc::new(CollectDead {
            grace_ms: config.tombstone_grace_ms,
        })),
        fs,
        ..ringkv_storage::Options::default()
    }
}

/// The gossip messages a node's first contact sends (started with the gossip worker).
pub type FirstContact = Vec<ringkv_gossip::Outgoing>;

/// Opens a node's parts for `config` (already resolved): storage, membership, shared state.
/// Returns the node and the gossip messages its first contact sends.
pub async fn open_node(config: Config) -> anyhow::Result<(Arc<Node>, FirstContact)> {
    open_node_on(config, Arc::new(RealFs)).await
}

/// [`open_node`] with the storage engine on the file system `fs` (a test puts a simulated disk
/// there, `ringkv_storage::SimFs`, to see what a power loss would keep).
pub async fn open_node_on(
    config: Config,
    fs: Arc<dyn Fs>,
) -> anyhow::Result<(Arc<Node>, FirstContact)> {
    let dir = config.data_dir().to_path_buf();
    let options = storage_options(&config, fs);
    let storage_dir = dir.join("storage");
    let db = tokio::task::spawn_blocking(move || ringkv_storage::Db::open(&storage_dir, options))
        .await?
        .with_context(|| format!("opening the storage engine in {}", dir.display()))?;
    if let Some(damage) = &db.recovery().damage {
        if damage.hole {
            tracing::error!(
                "storage recovery stopped at damage in the commit log: {damage}; writes after it \
                 were not recovered here (other replicas and repair hold them)"
            );
        } else {
            tracing::warn!("storage recovery: {damage}");
        }
    }
    let (db, digests) = tokio::task::spawn_blocking(move || {
        let digests = Digests::open(&db);
        (db, digests)
    })
    .await?;
    let digests = Arc::new(digests.context("rebuilding the anti-entropy digests")?);
    let (indexed, took) = digests.opened();
    tracing::info!(
        keys = indexed,
        secs = took.as_secs_f64(),
        "anti-entropy digests rebuilt"
    );
    let side: Vec<Arc<dyn SideRecords>> = if crate::anti_entropy::off_for_measurement() {
        tracing::warn!("RINGKV_ANTI_ENTROPY_OFF: no anti-entropy on this node");
        Vec::new()
    } else {
        vec![digests.clone()]
    };
    let replica = Replica::with_side_records(db, side)?;
    digests.attach(replica.db());
    let cluster = Arc::new(Cluster::open(
        config.node_id(),
        config.public_url(),
        config.settings(),
        config.tokens_per_member,
        Phase::Normal,
        dir,
    )?);
    let background = Arc::new(Background::new());
    let rpc = RpcClient::new(config.rpc_timeout(), config.cluster_secret.as_deref())?.with_streams(
        background.clone(),
        crate::api::internal::body_limit(config.max_value_bytes),
    );
    let metrics = Arc::new(crate::metrics::Metrics::default());
    let (membership, first) = Membership::open(
        cluster.clone(),
        rpc.clone(),
        background.clone(),
        metrics.clone(),
        &config.initial_peer_urls()?,
        config.request_timeout(),
    )?;
    let ae = Arc::new(AntiEntropy::new(digests));
    let node = Node::new(
        config, cluster, replica, rpc, membership, background, metrics, ae,
    );
    Ok((Arc::new(node), first))
}

/// Starts the node's workers through its supervisor (gossip first: it stops last).
pub fn start_workers(node: &Arc<Node>, first: Vec<ringkv_gossip::Outgoing>) {
    let bg = &node.background;
    let m = node.membership.clone();
    bg.worker("gossip", move |token| m.run(first, token));
    let m = node.membership.clone();
    bg.worker("membership-persist", move |token| m.persist_loop(token));
    let n = node.clone();
    bg.worker("rebalance", move |token| crate::rebalance::run(n, token));
    let n = node.clone();
    bg.worker("hint-replay", move |token| {
        crate::handoff::replay::run(n, token)
    });
    if !crate::anti_entropy::off_for_measurement() {
        let n = node.clone();
        bg.worker("anti-entropy", move |token| {
            crate::anti_entropy::exchange::run(n, token)
        });
    }
}

/// Runs a node on `listener` until `shutdown` resolves. `on_ready` is called with the resolved
/// config once the node serves.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_ready: impl FnOnce(&Config),
) -> anyhow::Result<()> {
    run_on(config, Arc::new(RealFs), listener, shutdown, on_ready).await
}

/// [`run`] with the storage engine on the file system `fs` (see [`open_node_on`]).
pub async fn run_on(
    mut config: Config,
    fs: Arc<dyn Fs>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_ready: impl FnOnce(&Config),
) -> anyhow::Result<()> {
    let port = listener.local_addr()?.port();
    config.resolve(port)?;
    let (node, first) = open_node_on(config, fs).await?;
    start_workers(&node, first);
    let replica = node.replica.clone();
    let background = node.background.clone();
    let app = crate::api::router(node.clone());
    tracing::info!(node = %node.cluster.self_id, url = %node.cluster.self_url, "serving");
    on_ready(&node.config);
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    tracing::info!(node = %node.cluster.self_id, "stopped accepting; draining");
    drop(node);
    let report = background.shutdown(DRAIN_TIMEOUT).await;
    if !report.stuck_workers.is_empty() || report.stuck_tails > 0 {
        tracing::warn!(
            workers = ?report.stuck_workers,
            tails = report.stuck_tails,
            "background work still running at the shutdown deadline"
        );
    }
    drop(background);
    // Connection tasks and detached blocking storage calls (a request whose caller gave up
    // still finishes its storage step) can hold the engine a moment longer than the tasks the
    // supervisor tracks: wait for them, bounded, so the engine is closed rather than synced.
    let until = tokio::time::Instant::now() + LAST_HANDLE_WAIT;
    while replica.handles() > 1 && tokio::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    match replica.close().await {
        Ok(true) => tracing::info!("storage closed"),
        Ok(false) => tracing::warn!("background tasks still hold storage; log synced instead"),
        Err(e) => return Err(e).context("closing the storage engine"),
    }
    served.context("serving HTTP")
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutdown requested");
}
