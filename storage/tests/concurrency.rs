//! Several threads write and read while flushes and compactions run: no lost or torn values,
//! and a reader never sees a key go back to an older version.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ringkv_storage::{Db, WriteBatch};

const WRITERS: u64 = 4;
const KEYS_PER_WRITER: u64 = 50;
const ROUNDS: u64 = 40;

/// A value whose every byte derives from (key, version): a torn or mixed value cannot pass
/// `parse_value`.
fn make_value(key: u64, version: u64) -> Vec<u8> {
    let mut v = format!("{key}:{version}:").into_bytes();
    v.extend(std::iter::repeat_n(
        (key + version) as u8,
        (key % 40) as usize,
    ));
    v
}

fn parse_value(key: u64, value: &[u8]) -> u64 {
    let text = String::from_utf8_lossy(value);
    let mut parts = text.splitn(3, ':');
    let k: u64 = parts.next().unwrap().parse().expect("torn value");
    let version: u64 = parts.next().unwrap().parse().expect("torn value");
    assert_eq!(k, key, "value of another key");
    assert_eq!(value, make_value(key, version), "torn value");
    version
}

#[test]
fn concurrent_writers_and_readers_see_whole_monotonic_values() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::open(dir.path(), common::tiny_options()).unwrap());
    let done = Arc::new(AtomicBool::new(false));
    let keys = WRITERS * KEYS_PER_WRITER;

    let readers: Vec<_> = (0..2)
        .map(|r| {
            let (db, done) = (Arc::clone(&db), Arc::clone(&done));
            std::thread::spawn(move || {
                let mut last_seen = vec![0u64; keys as usize];
                let mut passes = 0;
                while !done.load(Ordering::Acquire) || passes < 2 {
                    passes += 1;
                    for k in (r..keys).step_by(3) {
                        if let Some(v) = db.get(&common::key(k)).unwrap() {
                            let version = parse_value(k, &v);
                            assert!(version >= last_seen[k as usize], "key {k} went back");
                            last_seen[k as usize] = version;
                        }
                    }
                    let mut prev: Option<Vec<u8>> = None;
                    for item in db.scan_prefix(b"key").unwrap() {
                        let (key, value) = item.unwrap();
                        assert!(prev.as_ref().is_none_or(|p| *p < key), "scan out of order");
                        let k: u64 = String::from_utf8_lossy(&key[3..]).parse().unwrap();
                        parse_value(k, &value);
                        prev = Some(key);
                    }
                }
            })
        })
        .collect();

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let db = Arc::clone(&db);
            std::thread::spawn(move || {
                let mine = (w * KEYS_PER_WRITER)..((w + 1) * KEYS_PER_WRITER);
                for version in 1..=ROUNDS {
                    if version % 2 == 0 {
                        let mut batch = WriteBatch::new();
                        for k in mine.clone() {
                            batch.put(&common::key(k), &make_value(k, version));
                        }
                        db.write_batch(batch).unwrap();
                    } else {
                        for k in mine.clone() {
                            db.put(&common::key(k), &make_value(k, version)).unwrap();
                        }
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    done.store(true, Ordering::Release);
    for r in readers {
        r.join().unwrap();
    }

    let stats = db.stats();
    assert!(stats.flushes > 0 && stats.compactions > 0, "{stats:?}");
    for k in 0..keys {
        let v = db.get(&common::key(k)).unwrap().expect("lost key");
        assert_eq!(parse_value(k, &v), ROUNDS);
    }
    let db = Arc::into_inner(db).unwrap();
    db.close().unwrap();
    let db = Db::open(dir.path(), common::tiny_options()).unwrap();
    assert_eq!(common::scan_all(&db).len() as u64, keys);
    for k in 0..keys {
        assert_eq!(
            db.get(&common::key(k)).unwrap(),
            Some(make_value(k, ROUNDS))
        );
    }
}
