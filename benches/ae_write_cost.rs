//! What anti-entropy costs a write on one replica: `Replica::update` of fresh and overwritten
//! keys (100-byte values) with the anti-entropy side records (key index, tombstone index, cell
//! digest: `anti_entropy::Digests`) and without, alternated in one run so outside load hits both
//! alike; prints each round and the medians. Also the digest rebuild at open for the keys
//! written (scaled to 1M keys).
//!
//! `cargo bench --bench ae_write_cost [-- KEYS ROUNDS]` (default 50000 keys, 5 rounds). Plain
//! timing rather than criterion: the figure is a throughput ratio over many writes through the
//! blocking pool, not a per-call latency distribution.

use std::sync::Arc;
use std::time::Instant;

use ringkv::anti_entropy::Digests;
use ringkv::replica::{Replica, SideRecords};
use ringkv_storage::{Db, Options, SyncPolicy};
use ringkv_versions::{Limits, Value};

const LIMITS: Limits = Limits::caps(20, 32);

fn options() -> Options {
    Options {
        sync: SyncPolicy::Never,
        ..Options::default()
    }
}

async fn writes(replica: &Replica, keys: usize) -> f64 {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..16 {
        let r = replica.clone();
        tasks.spawn(async move {
            // Each key written twice: a fresh key, then an overwrite (decodes a prior set).
            for pass in 0..2 {
                for i in (t..keys).step_by(16) {
                    let v = Value::Data(vec![b'a' + pass as u8; 100]);
                    r.update(&format!("user:{i:08}"), None, v, None, "n1", LIMITS)
                        .await
                        .expect("update");
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    (2 * keys) as f64 / started.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let keys = args.first().copied().unwrap_or(50_000);
    let rounds = args.get(1).copied().unwrap_or(5);
    let (mut on, mut off, mut rebuild) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        for with_ae in [false, true] {
            let dir = tempfile::tempdir().expect("temp dir");
            let db = Db::open(dir.path(), options()).expect("open");
            let (replica, digests) = if with_ae {
                let digests = Arc::new(Digests::open(&db).expect("digests"));
                let side: Arc<dyn SideRecords> = digests.clone();
                let r = Replica::with_side_records(db, vec![side]).expect("replica");
                digests.attach(r.db());
                (r, Some(digests))
            } else {
                (Replica::new(db).expect("replica"), None)
            };
            let rate = writes(&replica, keys).await;
            println!(
                "round {round}: anti-entropy {}: {rate:.0} writes/s",
                if with_ae { "on " } else { "off" }
            );
            if with_ae {
                on.push(rate);
                drop(digests);
                replica.close().await.expect("close");
                let db = Db::open(dir.path(), options()).expect("reopen");
                let (n, took) = Digests::open(&db).expect("digests").opened();
                rebuild.push(took.as_secs_f64() * 1e6 / n as f64);
            } else {
                off.push(rate);
            }
        }
    }
    let (on, off) = (median(on), median(off));
    println!(
        "median: off {off:.0} writes/s, on {on:.0} writes/s: cost {:.1}%",
        (1.0 - on / off) * 100.0
    );
    println!(
        "digest rebuild at open: {:.2} s per 1M keys (median of {rounds})",
        median(rebuild)
    );
}
