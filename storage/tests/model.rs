//! Model-based property test: random sequences of put / delete / batch / flush / compact /
//! reopen against a `BTreeMap`, with gets and scans agreeing after every step, and scans opened
//! earlier still reading exactly the state they were opened on.
//!
//! `RINGKV_PROPTEST_CASES` raises the number of cases (default 48, sized for CI); the seed is
//! printed, and `PROPTEST_RNG_SEED` reruns it.

mod common;

use std::collections::BTreeMap;
use std::ops::Bound;

use proptest::prelude::*;
use ringkv_storage::{Db, WriteBatch};

#[derive(Debug, Clone)]
enum Op {
    Put(u8, Vec<u8>),
    Delete(u8),
    Batch(Vec<(u8, Option<Vec<u8>>)>),
    Flush,
    Compact,
    Reopen {
        close: bool,
    },
    Scan(Bound<u8>, Bound<u8>),
    ScanPrefix(u8),
    /// Opens a scan now and reads it at a later `ReadSnapshot`, whatever happened in between.
    TakeSnapshot,
    ReadSnapshot,
}

/// Keys share prefixes ("k1", "k10", "k100"...) so prefix scans and ordering are exercised.
fn key(k: u8) -> Vec<u8> {
    format!("k{}", k % 120).into_bytes()
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..120)
}

fn bound() -> impl Strategy<Value = Bound<u8>> {
    prop_oneof![
        Just(Bound::Unbounded),
        any::<u8>().prop_map(Bound::Included),
        any::<u8>().prop_map(Bound::Excluded),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        30 => (any::<u8>(), value()).prop_map(|(k, v)| Op::Put(k, v)),
        10 => any::<u8>().prop_map(Op::Delete),
        8 => prop::collection::vec((any::<u8>(), prop::option::of(value())), 1..12).prop_map(Op::Batch),
        3 => Just(Op::Flush),
        3 => Just(Op::Compact),
        2 => any::<bool>().prop_map(|close| Op::Reopen { close }),
        4 => (bound(), bound()).prop_map(|(a, b)| Op::Scan(a, b)),
        2 => (0u8..20).prop_map(Op::ScanPrefix),
        2 => Just(Op::TakeSnapshot),
        2 => Just(Op::ReadSnapshot),
    ]
}

fn map_bound(b: &Bound<u8>) -> Bound<Vec<u8>> {
    match b {
        Bound::Included(k) => Bound::Included(key(*k)),
        Bound::Excluded(k) => Bound::Excluded(key(*k)),
        Bound::Unbounded => Bound::Unbounded,
    }
}

type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

fn collect(scan: ringkv_storage::Scan) -> Pairs {
    scan.collect::<Result<_, _>>().expect("scan item")
}

fn check_all(db: &Db, model: &BTreeMap<Vec<u8>, Vec<u8>>) {
    for k in 0..120u8 {
        assert_eq!(
            db.get(&key(k)).unwrap(),
            model.get(&key(k)).cloned(),
            "get {k}"
        );
    }
    let expected: Vec<_> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    assert_eq!(common::scan_all(db), expected, "full scan");
}

fn run(ops: Vec<Op>) {
    let dir = tempfile::tempdir().unwrap();
    let mut db = Some(Db::open(dir.path(), common::tiny_options()).unwrap());
    let mut model = BTreeMap::new();
    let mut snapshot: Option<(ringkv_storage::Scan, Pairs)> = None;
    for op in ops {
        let d = db.as_ref().unwrap();
        match op {
            Op::Put(k, v) => {
                d.put(&key(k), &v).unwrap();
                model.insert(key(k), v);
            }
            Op::Delete(k) => {
                d.delete(&key(k)).unwrap();
                model.remove(&key(k));
            }
            Op::Batch(ops) => {
                let mut batch = WriteBatch::new();
                for (k, v) in ops {
                    match v {
                        Some(v) => {
                            batch.put(&key(k), &v);
                            model.insert(key(k), v);
                        }
                        None => {
                            batch.delete(&key(k));
                            model.remove(&key(k));
                        }
                    }
                }
                d.write_batch(batch).unwrap();
            }
            Op::Flush => d.flush().unwrap(),
            Op::Compact => d.compact().unwrap(),
            Op::Reopen { close } => {
                let old = db.take().unwrap();
                if close {
                    old.close().unwrap();
                } else {
                    drop(old);
                }
                db = Some(Db::open(dir.path(), common::tiny_options()).unwrap());
            }
            Op::Scan(from, to) => {
                let (from, to) = (map_bound(&from), map_bound(&to));
                // BTreeMap::range panics on empty ranges the engine simply answers with nothing.
                let invalid = match (&from, &to) {
                    (Bound::Included(a), Bound::Included(b)) => a > b,
                    (
                        Bound::Included(a) | Bound::Excluded(a),
                        Bound::Included(b) | Bound::Excluded(b),
                    ) => a >= b,
                    _ => false,
                };
                let got = collect(d.scan(from.clone(), to.clone()).unwrap());
                let expected: Vec<_> = if invalid {
                    Vec::new()
                } else {
                    model
                        .range((from, to))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                };
                assert_eq!(got, expected, "range scan");
            }
            Op::TakeSnapshot => {
                let expected = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                let scan = d.scan(Bound::Unbounded, Bound::Unbounded).unwrap();
                snapshot = Some((scan, expected));
            }
            Op::ReadSnapshot => {
                if let Some((scan, expected)) = snapshot.take() {
                    assert_eq!(collect(scan), expected, "snapshot scan");
                }
            }
            Op::ScanPrefix(p) => {
                let prefix = format!("k{p}").into_bytes();
                let got = collect(d.scan_prefix(&prefix).unwrap());
                let expected: Vec<_> = model
                    .iter()
                    .filter(|(k, _)| k.starts_with(&prefix))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                assert_eq!(got, expected, "prefix scan");
            }
        }
        check_all(db.as_ref().unwrap(), &model);
    }
}

proptest! {
    #![proptest_config(ringkv_testkit::proptest_config("storage model", 48))]

    #[test]
    fn engine_agrees_with_btreemap(ops in prop::collection::vec(op(), 1..120)) {
        run(ops);
    }
}
