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
//! with group commit, fjall `insert` + `persist(PersistMode::SyncData)`), 8 threads. fjall
//! keeps its other defaults (32 MiB block cache, leveled compaction, worker threads = cores);
//! ringkv has no block cache and reads blocks through the OS page cache.
//!
//! The engines run side by side, alternating in chunks of 50,000 operations, so that load
//! from other processes on a shared machine is spread over both alike.
//!
//! Workloads: fillrandom (single thread, random order), readrandom (single thread, present keys
//! in random order), readmissing (single thread, absent keys), scan (three full ordered scans,
//! ops = entries), fillsync (8 threads).

use std::ops::Bound;
use std::path::Path;
use std::time::{Duration, Instant};

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

/// Operations per chunk: the two engines alternate chunk by chunk (and which goes first), so
/// load from other processes on a shared machine falls on both alike.
const CHUNK: u64 = 50_000;

/// Runs `op` over `0..n` in chunks alternating between the engines; ops/s per engine.
fn interleaved(
    engines: [&dyn Engine; 2],
    n: u64,
    chunk: u64,
    op: impl Fn(&dyn Engine, std::ops::Range<u64>),
) -> [f64; 2] {
    let mut spent = [Duration::ZERO; 2];
    for (round, start) in (0..n).step_by(chunk as usize).enumerate() {
        let range = start..(start + chunk).min(n);
        for turn in 0..2 {
            let e = (round + turn) % 2;
            let begun = Instant::now();
            op(engines[e], range.clone());
            spent[e] += begun.elapsed();
        }
    }
    spent.map(|d| n as f64 / d.as_secs_f64())
}

/// fillrandom, readrandom, readmissing, scan; `[workload][engine]`.
fn run_main(engines: [&dyn Engine; 2], n: u64) -> Vec<[f64; 2]> {
    let fill = interleaved(engines, n, CHUNK, |e, range| {
        for i in range {
            e.put(&key(i), &value(i));
        }
    });
    let order = read_order(n);
    let read = interleaved(engines, n, CHUNK, |e, range| {
        for &i in &order[range.start as usize..range.end as usize] {
            assert!(e.get(&key(i)));
        }
    });
    let missing = interleaved(engines, n, CHUNK, |e, range| {
        for &i in &order[range.start as usize..range.end as usize] {
            assert!(!e.get(&key(n + i)));
        }
    });
    // Three full scans each, alternating.
    let scan = interleaved(engines, 3, 1, |e, _| assert_eq!(e.scan_all(), n));
    vec![fill, read, missing, scan.map(|s| s * n as f64)]
}

fn run_sync(engines: [&dyn Engine; 2], n: u64) -> [f64; 2] {
    let chunk = (n / 10).max(SYNC_THREADS);
    interleaved(engines, n, chunk, |e, range| {
        let per_thread = (range.end - range.start).div_ceil(SYNC_THREADS);
        std::thread::scope(|s| {
            for t in 0..SYNC_THREADS {
                let lo = range.start + t * per_thread;
                let hi = (lo + per_thread).min(range.end);
                s.spawn(move || {
                    for i in lo..hi {
                        e.put_sync(&key(i), &value(i));
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

    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ringkv = open_ringkv(a.path(), SyncPolicy::Never);
    let fjall = open_fjall(b.path());
    let mut results = run_main([&ringkv, &fjall], n);
    eprintln!(
        "ringkv stats after the main workloads: {:?}",
        ringkv.0.stats()
    );
    drop((ringkv, fjall, a, b));

    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ringkv = open_ringkv(a.path(), SyncPolicy::Always);
    let fjall = open_fjall(b.path());
    results.push(run_sync([&ringkv, &fjall], sync_n));

    let names = [
        "fillrandom",
        "readrandom",
        "readmissing",
        "scan",
        "fillsync",
    ];
    for (name, [a, b]) in names.iter().zip(results) {
        println!(
            "{name} ringkv_ops_s={:.0} fjall_ops_s={:.0} ratio={:.2}",
            a,
            b,
            a / b
        );
    }
}
