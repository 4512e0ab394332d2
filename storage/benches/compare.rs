//! Same workloads on ringkv-storage and on fjall, one line per workload:
//! `<workload> ringkv_ops_s=NNN fjall_ops_s=NNN ratio=R.RR` (ratio = ringkv / fjall).
//!
//! 16-byte keys (hex of a bijective 64-bit mix of the key index, so insertion order is random),
//! 100-byte values; `BENCH_KEYS` keys (default 1,000,000); `BENCH_SYNC_KEYS` writes for
//! fillsync (default 20,000, since each group costs an fsync).
//!
//! Settings, chosen to match: no compression (fjall built without its `lz4` feature), 64 MiB
//! memtables and 4 KiB blocks (both engines' defaults), bloom filters on (both defaults);
//! non-sync fills hand writes to the OS without fsync (ringkv `SyncPolicy::Never`, fjall's
//! default `insert`); fillsync fsyncs before each write returns (ringkv `SyncPolicy::Always`
//! with group commit, fjall `insert` + `persist(PersistMode::SyncData)`), 8 threads.
//!
//! Workloads: fillrandom (single thread, random order), readrandom (single thread, present keys
//! in random order), readmissing (single thread, absent keys), scan (one full ordered scan,
//! ops = entries), fillsync (8 threads).

use std::ops::Bound;
use std::path::Path;
use std::time::Instant;

use fjall::{Database, KeyspaceCreateOptions, PersistMode};
use ringkv_storage::{Db, Options, SyncPolicy};

const VALUE_BYTES: usize = 100;
const SYNC_THREADS: u64 = 8;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// splitmix64 finaliser: a bijection on u64, so distinct indexes give distinct keys.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn key(i: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k.copy_from_slice(format!("{:016x}", mix(i)).as_bytes());
    k
}

fn value(i: u64) -> [u8; VALUE_BYTES] {
    let mut v = [b'v'; VALUE_BYTES];
    v[..8].copy_from_slice(&i.to_le_bytes());
    v
}

/// A random order of `0..n` reads (with repeats), the same for both engines.
fn read_order(n: u64) -> Vec<u64> {
    let mut rng = fastrand::Rng::with_seed(7);
    (0..n).map(|_| rng.u64(0..n)).collect()
}

fn ops_per_s(ops: u64, f: impl FnOnce()) -> f64 {
    let start = Instant::now();
    f();
    ops as f64 / start.elapsed().as_secs_f64()
}

trait Engine: Sync {
    fn put(&self, k: &[u8], v: &[u8]);
    fn put_sync(&self, k: &[u8], v: &[u8]);
    fn get(&self, k: &[u8]) -> bool;
    fn scan_all(&self) -> u64;
}

struct Ringkv(Db);

impl Engine for Ringkv {
    fn put(&self, k: &[u8], v: &[u8]) {
        self.0.put(k, v).unwrap();
    }
    fn put_sync(&self, k: &[u8], v: &[u8]) {
        self.0.put(k, v).unwrap(); // opened with SyncPolicy::Always
    }
    fn get(&self, k: &[u8]) -> bool {
        self.0.get(k).unwrap().is_some()
    }
    fn scan_all(&self) -> u64 {
        let scan = self.0.scan(Bound::Unbounded, Bound::Unbounded).unwrap();
        let mut n = 0;
        for item in scan {
            item.unwrap();
            n += 1;
        }
        n
    }
}

struct Fjall(Database, fjall::Keyspace);

impl Engine for Fjall {
    fn put(&self, k: &[u8], v: &[u8]) {
        self.1.insert(k, v).unwrap();
    }
    fn put_sync(&self, k: &[u8], v: &[u8]) {
        self.1.insert(k, v).unwrap();
        self.0.persist(PersistMode::SyncData).unwrap();
    }
    fn get(&self, k: &[u8]) -> bool {
        self.1.get(k).unwrap().is_some()
    }
    fn scan_all(&self) -> u64 {
        let mut n = 0;
        for guard in self.1.iter() {
            guard.into_inner().unwrap();
            n += 1;
        }
        n
    }
}

fn open_ringkv(dir: &Path, sync: SyncPolicy) -> Ringkv {
    Ringkv(
        Db::open(
            dir,
            Options {
                sync,
                ..Options::default()
            },
        )
        .unwrap(),
    )
}

fn open_fjall(dir: &Path) -> Fjall {
    let db = Database::builder(dir).open().unwrap();
    let ks = db
        .keyspace("bench", KeyspaceCreateOptions::default)
        .unwrap();
    Fjall(db, ks)
}

/// fillrandom, readrandom, readmissing, scan on one engine.
fn run_main(engine: &dyn Engine, n: u64) -> [f64; 4] {
    let fill = ops_per_s(n, || {
        for i in 0..n {
            engine.put(&key(i), &value(i));
        }
    });
    let order = read_order(n);
    let read = ops_per_s(n, || {
        for &i in &order {
            assert!(engine.get(&key(i)));
        }
    });
    let missing = ops_per_s(n, || {
        for &i in &order {
            assert!(!engine.get(&key(n + i)));
        }
    });
    let mut seen = 0;
    let scan = ops_per_s(n, || seen = engine.scan_all());
    assert_eq!(seen, n);
    [fill, read, missing, scan]
}

fn run_sync(engine: &dyn Engine, n: u64) -> f64 {
    let per_thread = n / SYNC_THREADS;
    ops_per_s(per_thread * SYNC_THREADS, || {
        std::thread::scope(|s| {
            for t in 0..SYNC_THREADS {
                s.spawn(move || {
                    for i in t * per_thread..(t + 1) * per_thread {
                        engine.put_sync(&key(i), &value(i));
                    }
                });
            }
        });
    })
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument (a filter from `cargo test`) means a
    // smoke run is not wanted here.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let n = env_or("BENCH_KEYS", 1_000_000);
    let sync_n = env_or("BENCH_SYNC_KEYS", 20_000);
    eprintln!(
        "compare: {n} keys, {sync_n} fillsync writes, 16-byte keys, {VALUE_BYTES}-byte values"
    );

    let dir = tempfile::tempdir().unwrap();
    let ours = {
        let engine = open_ringkv(dir.path(), SyncPolicy::Never);
        let r = run_main(&engine, n);
        eprintln!("ringkv stats after main workloads: {:?}", engine.0.stats());
        r
    };
    drop(dir);
    let dir = tempfile::tempdir().unwrap();
    let theirs = run_main(&open_fjall(dir.path()), n);
    drop(dir);

    let dir = tempfile::tempdir().unwrap();
    let ours_sync = run_sync(&open_ringkv(dir.path(), SyncPolicy::Always), sync_n);
    drop(dir);
    let dir = tempfile::tempdir().unwrap();
    let theirs_sync = run_sync(&open_fjall(dir.path()), sync_n);
    drop(dir);

    let names = [
        "fillrandom",
        "readrandom",
        "readmissing",
        "scan",
        "fillsync",
    ];
    let ours = ours.iter().copied().chain([ours_sync]);
    let theirs = theirs.iter().copied().chain([theirs_sync]);
    for ((name, a), b) in names.iter().zip(ours).zip(theirs) {
        println!(
            "{name} ringkv_ops_s={:.0} fjall_ops_s={:.0} ratio={:.2}",
            a,
            b,
            a / b
        );
    }
}
