//! When flushes fall behind, writers are stalled rather than letting frozen memtables pile up:
//! memory stays bounded by the memtable budget times the allowed frozen memtables.

mod common;

use ringkv_storage::{Db, Options, WriteBatch};

#[test]
fn writers_stall_instead_of_growing_memory() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        max_immutable_memtables: 1,
        ..common::tiny_options()
    };
    // A memtable is frozen once over its budget, so it can overshoot by one batch (20 entries,
    // under 4 KiB with bookkeeping); at most `max_immutable_memtables` frozen ones plus the
    // active one exist at a time.
    let budget = ((opts.memtable_bytes + 4096) * (opts.max_immutable_memtables + 1)) as u64;
    let db = Db::open(dir.path(), opts).unwrap();
    let mut peak = 0;
    // Every batch overfills the 2 KiB memtable, so every write freezes one; a flush (table file,
    // fsyncs, manifest rename) takes far longer than one commit, so writers must wait for it.
    for b in 0..100 {
        let mut batch = WriteBatch::new();
        for i in b * 20..(b + 1) * 20 {
            batch.put(&common::key(i), &[b'v'; 100]);
        }
        db.write_batch(batch).unwrap();
        peak = peak.max(db.stats().memtable_bytes);
    }
    let stats = db.stats();
    assert!(stats.write_stalls > 0, "{stats:?}");
    assert!(
        peak <= budget,
        "memtables reached {peak} bytes, budget {budget}"
    );
    db.close().unwrap();
    let db = Db::open(dir.path(), common::tiny_options()).unwrap();
    assert_eq!(common::scan_all(&db).len(), 2000);
}
