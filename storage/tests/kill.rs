//! Kill test: a child process writing with `SyncPolicy::Always` is SIGKILLed at random moments,
//! several times over the same directory; after each kill, every write the child reported as
//! acknowledged is present on reopen.
//!
//! The child is this test binary re-executed with `RINGKV_KILL_CHILD=<dir>` (hence
//! `harness = false`). It writes from several threads with a small memtable, so kills also land
//! during flushes and compactions, and prints `ack <key> <value>` after each write returns.
//!
//! The kill points (acknowledgements before each SIGKILL) come from a printed seed;
//! `RINGKV_TEST_SEED=N` reruns the same ones.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ringkv_storage::{Db, Options, SyncPolicy, WriteBatch};

const ROUNDS: usize = 5;
const THREADS: usize = 4;
const CHILD_ENV: &str = "RINGKV_KILL_CHILD";
const ROUND_ENV: &str = "RINGKV_KILL_ROUND";

fn options() -> Options {
    Options {
        sync: SyncPolicy::Always,
        memtable_bytes: 16 << 10,
        block_bytes: 512,
        l0_compaction_trigger: 2,
        level1_bytes: 64 << 10,
        level_multiplier: 2,
        table_bytes: 16 << 10,
        ..Options::default()
    }
}

fn main() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        let round: usize = std::env::var(ROUND_ENV).unwrap().parse().unwrap();
        child(Path::new(&dir), round);
    }
    // Behave like a libtest binary for `--list` and name filters.
    const NAME: &str = "every_acknowledged_write_survives_sigkill";
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        println!("{NAME}: test");
        return;
    }
    if args
        .iter()
        .any(|a| !a.starts_with('-') && !NAME.contains(a.as_str()))
    {
        return;
    }
    print!("test {NAME} ... ");
    parent();
    println!("ok");
}

/// Writes until killed; each acknowledged write is printed on its own line.
fn child(dir: &Path, round: usize) -> ! {
    let db = Db::open(dir, options()).expect("child open");
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let db = &db;
            s.spawn(move || {
                for i in 0u64.. {
                    let key = format!("r{round}-t{t}-{i:08}");
                    let value = value_for(i);
                    if i % 7 == 0 {
                        let mut batch = WriteBatch::new();
                        batch.put(key.as_bytes(), value.as_bytes());
                        batch.put(format!("{key}-b").as_bytes(), value.as_bytes());
                        db.write_batch(batch).expect("child batch");
                        ack(&format!("{key}-b"), &value);
                    } else {
                        db.put(key.as_bytes(), value.as_bytes()).expect("child put");
                    }
                    ack(&key, &value);
                }
            });
        }
    });
    unreachable!("writer threads never finish");
}

fn value_for(i: u64) -> String {
    format!("v{i}-{}", "x".repeat((i % 50) as usize))
}

fn ack(key: &str, value: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "ack {key} {value}").expect("stdout");
    out.flush().expect("stdout");
}

fn parent() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut acked = BTreeMap::new();
    let mut rng = ringkv_testkit::rng("storage kill test");
    for round in 0..ROUNDS {
        let mut child = KillOnDrop(
            Command::new(&exe)
                .env(CHILD_ENV, dir.path())
                .env(ROUND_ENV, round.to_string())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
        // Kill after a random number of acknowledgements: sometimes right after start-up.
        let kill_after = rng.usize(0..400);
        println!("round {round}: SIGKILL after {kill_after} acknowledgements");
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = 0;
        while seen < kill_after {
            assert!(Instant::now() < deadline, "child too slow: {seen} acks");
            let line = lines.next().expect("child exited early").unwrap();
            record(&line, &mut acked);
            seen += 1;
        }
        child.0.kill().unwrap(); // SIGKILL
        child.0.wait().unwrap();
        // Acks printed before the kill are still in the pipe.
        for line in lines {
            record(&line.unwrap(), &mut acked);
        }
        let db = Db::open(dir.path(), options()).expect("reopen after kill");
        for (key, value) in &acked {
            let got = db.get(key.as_bytes()).unwrap();
            assert_eq!(
                got.as_deref(),
                Some(value.as_bytes()),
                "round {round}: acknowledged {key} lost"
            );
        }
        db.close().unwrap();
    }
    assert!(!acked.is_empty());
}

/// Kills and reaps the child even if the parent panics, so no writer outlives the test.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn record(line: &str, acked: &mut BTreeMap<String, String>) {
    let mut parts = line.splitn(3, ' ');
    let (Some("ack"), Some(key), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
        panic!("malformed child output {line:?}");
    };
    // Each line is one write(2) of under PIPE_BUF bytes, so a kill cannot cut it short; check.
    let i: u64 = key
        .split('-')
        .nth(2)
        .and_then(|i| i.parse().ok())
        .expect("key format");
    assert_eq!(value, value_for(i), "torn ack line {line:?}");
    acked.insert(key.to_string(), value.to_string());
}
