//! Graceful shutdown.
//!
//! - SIGTERM while client threads are writing: the node exits with code 0, and once restarted on
//!   the same data dir every write it acknowledged (2xx) is readable with its value. This checks
//!   the ordered shutdown and the exit code, but not durability: the page cache outlives the
//!   process, so it passes even if shutdown never syncs the storage engine.
//! - Shutdown's sync, proven against a power loss: a node in this process (`server::run_on`)
//!   keeps its storage on a simulated disk (`ringkv_storage::SimFs`) that, at a power loss,
//!   keeps only what an fsync covered. With `storage.sync=never` nothing the node acknowledges
//!   is synced before shutdown, which the test checks first: a power loss before the shutdown
//!   would lose the writes. After a clean shutdown (the same future SIGTERM resolves), a power
//!   loss must lose none of them: a node started on what survived answers every one. Deleting
//!   the close/sync at the end of `server::run_on` makes this test fail.
//!
//! SIGKILL durability with the default `storage.sync=always` is crash_durability.rs.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;

use common::{Cluster, DEADLINE, Http, missing_writes, write_load};
use ringkv::config::{Config, SyncMode};
use ringkv_storage::{Db, Loss, Options, SimFs};
use serde_json::json;

#[test]
fn sigterm_during_writes_exits_0_and_loses_no_acknowledged_write() {
    let mut cluster = Cluster::builder(1)
        .quorum(1, 1, 1)
        .set("storage.sync", "interval")
        .set("storage.sync_interval_ms", 600_000)
        .start();
    let urls = cluster.urls();
    let http = cluster.http.clone();
    let (status, acked) = write_load(&http, &urls, 4, 200, || cluster.nodes[0].terminate());
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGTERM: {status:?}"
    );
    // The ordered shutdown ends with every worker and tail stopped, so the engine is closed
    // (not merely synced because something still held it).
    let log = cluster.nodes[0].log_tail(40);
    assert!(log.contains("storage closed"), "{log}");

    cluster.nodes[0].restart();
    let missing = missing_writes(&cluster.nodes[0], &acked, "");
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged writes lost after SIGTERM + restart, e.g. {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
}

#[test]
fn sigterm_on_an_idle_cluster_member_exits_0_and_it_rejoins_on_restart() {
    let mut cluster = Cluster::builder(3).quorum(3, 2, 2).start();
    cluster.nodes[1].put("k", json!("v")).expect(201);
    let status = cluster.nodes[1].terminate();
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGTERM: {status:?}"
    );
    cluster.nodes[0].put("k", json!("v2")).expect(200);
    cluster.nodes[1].restart();
    cluster.wait_for_membership();
    for node in &cluster.nodes {
        assert_eq!(node.get_value("k"), json!("v2"), "via {}", node.id);
    }
}

/// A node run by `ringkv::server::run_on` on its own runtime thread, with its storage on `disk`.
struct InProcessNode {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<anyhow::Result<()>>>,
}

impl InProcessNode {
    fn start(config: Config, disk: &SimFs) -> InProcessNode {
        let (ready_tx, ready_rx) = mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let fs = Arc::new(disk.clone());
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                let shutdown = async {
                    let _ = stopped.await;
                };
                ringkv::server::run_on(config, fs, listener, shutdown, |c| {
                    let _ = ready_tx.send(c.public_url().to_string());
                })
                .await
            })
        });
        let url = ready_rx
            .recv_timeout(DEADLINE)
            .expect("the in-process node did not start");
        InProcessNode {
            url,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Resolves the node's shutdown future (what SIGTERM does) and waits for `run_on` to return.
    fn shut_down(mut self) {
        let _ = self.stop.take().expect("running").send(());
        let result = self.thread.take().expect("running").join();
        result
            .expect("node thread panicked")
            .expect("run_on returned an error");
    }
}

impl Drop for InProcessNode {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn never_syncing_node(dir: &Path) -> Config {
    let mut config = Config {
        data_dir: Some(dir.to_path_buf()),
        ..Config::default()
    };
    config.storage.sync = SyncMode::Never;
    config
}

const KEYS: usize = 40;

fn key(i: usize) -> String {
    format!("shutdown-{i}")
}

/// How many of the test's keys the storage on `disk` holds (opened directly, as the node would).
fn keys_on(disk: SimFs, storage_dir: &Path) -> usize {
    let options = Options {
        fs: Arc::new(disk),
        ..Options::default()
    };
    let db = Db::open(storage_dir, options).expect("opening what survived");
    (0..KEYS)
        .filter(|&i| {
            let stored = db.get(&ringkv::replica::data_key(&key(i)));
            stored.expect("reading what survived").is_some()
        })
        .count()
}

#[test]
fn a_power_loss_after_a_clean_shutdown_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let storage_dir = dir.path().join("storage");
    let disk = SimFs::new();
    let http = Http::new();
    let node = InProcessNode::start(never_syncing_node(dir.path()), &disk);
    for i in 0..KEYS {
        let url = format!("{}/items/{}", node.url, key(i));
        http.json("PUT", &url, &[], &json!({ "value": i }))
            .expect(201);
    }
    // The test can fail: right now a power loss would keep none of the acknowledged writes.
    let before = keys_on(disk.crashed_copy(Loss::Unsynced), &storage_dir);
    assert_eq!(before, 0, "storage.sync=never synced {before} writes early");

    node.shut_down();
    disk.restart(Loss::Unsynced);
    let node = InProcessNode::start(never_syncing_node(dir.path()), &disk);
    for i in 0..KEYS {
        let url = format!("{}/items/{}", node.url, key(i));
        let body = http.get(&url).expect(200).json();
        assert_eq!(
            body,
            json!({ "value": i }),
            "{} lost by a power loss after a clean shutdown",
            key(i)
        );
    }
    node.shut_down();
}
