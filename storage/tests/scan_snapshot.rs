//! A scan reads the snapshot taken when it was created, can move to another thread, and keeps
//! working while the engine flushes and compacts the tables it reads.

mod common;

use std::sync::Arc;

use ringkv_storage::Db;

#[test]
fn scan_is_a_sendable_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::open(dir.path(), common::tiny_options()).unwrap());
    for i in 0..500 {
        db.put(&common::key(i), b"before").unwrap();
    }
    let scan = db.scan_prefix(b"key").unwrap();
    // Overwrite and delete everything, flushing and compacting the tables the scan reads.
    for i in 0..500 {
        if i % 2 == 0 {
            db.put(&common::key(i), b"after").unwrap();
        } else {
            db.delete(&common::key(i)).unwrap();
        }
    }
    db.put(b"key-new", b"after").unwrap();
    db.flush().unwrap();
    db.compact().unwrap();
    let got = std::thread::spawn(move || scan.collect::<Result<Vec<_>, _>>().unwrap())
        .join()
        .unwrap();
    assert_eq!(got.len(), 500);
    assert!(got.iter().all(|(_, v)| v == b"before"));
    let now = db.scan_prefix(b"key").unwrap().count();
    assert_eq!(now, 251);
}
