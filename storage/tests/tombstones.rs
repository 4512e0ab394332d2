//! Deletes hide older values across flushes, compactions and reopens, and once compaction has
//! pushed a tombstone to where no older data can exist, the space is reclaimed.

mod common;

use ringkv_storage::Db;

#[test]
fn deleted_keys_stay_deleted_and_their_space_is_reclaimed() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), common::tiny_options()).unwrap();
    for i in 0..2000 {
        db.put(&common::key(i), &[b'v'; 64]).unwrap();
    }
    db.flush().unwrap();
    db.compact().unwrap();
    let full = db.stats().table_bytes;
    assert!(full > 2000 * 64, "{full}");

    for i in 0..2000 {
        if i % 10 != 0 {
            db.delete(&common::key(i)).unwrap();
        }
    }
    assert_eq!(common::scan_all(&db).len(), 200);
    db.flush().unwrap();
    // Enough compaction that the deletes reach every level holding the old values.
    for _ in 0..4 {
        for i in 0..200 {
            db.put(&common::key(i * 10), &[b'w'; 64]).unwrap();
        }
        db.flush().unwrap();
        db.compact().unwrap();
    }
    let got = common::scan_all(&db);
    assert_eq!(got.len(), 200);
    assert!(got.iter().all(|(_, v)| v == &[b'w'; 64]));
    for i in 0..2000 {
        assert_eq!(
            db.get(&common::key(i)).unwrap().is_some(),
            i % 10 == 0,
            "key {i}"
        );
    }
    let stats = db.stats();
    assert!(
        stats.table_bytes < full / 2,
        "deleted data not reclaimed: {} of {full} bytes left",
        stats.table_bytes
    );
    db.close().unwrap();
    let db = Db::open(dir.path(), common::tiny_options()).unwrap();
    assert_eq!(common::scan_all(&db).len(), 200);
}
