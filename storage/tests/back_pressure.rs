//! When flushes fall behind, writers are stalled rather than letting frozen memtables pile up:
//! memory stays bounded by the memtable budget times the allowed frozen memtables.

mod common;

use ringkv_storage::{Db, Options};

#[test]
fn writers_stall_instead_of_growing_memory() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        max_immutable_memtables: 1,
        ..common::tiny_options()
    };
    let budget = (opts.memtable_bytes * (opts.max_immutable_memtables + 1)) as u64;
    let db = Db::open(dir.path(), opts).unwrap();
    let mut peak = 0;
    // Each flush fsyncs a table, the directory and the manifest; writes without fsync fill a
    // 2 KiB memtable in a few dozen microseconds, so flushes fall behind.
    for i in 0..1000 {
        db.put(&common::key(i), &[b'v'; 100]).unwrap();
        peak = peak.max(db.stats().memtable_bytes);
    }
    let stats = db.stats();
    assert!(stats.write_stalls > 0, "{stats:?}");
    // One entry can overshoot a full memtable before it is frozen.
    assert!(
        peak <= budget + 1024,
        "memtables reached {peak} bytes, budget {budget}"
    );
    db.close().unwrap();
    let db = Db::open(dir.path(), common::tiny_options()).unwrap();
    assert_eq!(common::scan_all(&db).len(), 1000);
}
