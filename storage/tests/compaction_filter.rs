//! The compaction filter drops entries it removes; where older data for the key may exist
//! below the compaction's output, a tombstone is left so that data does not come back.

mod common;

use std::sync::Arc;

use ringkv_storage::{CompactionFilter, Db, FilterDecision, Options};

/// Removes every value starting with "expired".
struct Expiry;

impl CompactionFilter for Expiry {
    fn filter(&self, _key: &[u8], value: &[u8]) -> FilterDecision {
        if value.starts_with(b"expired") {
            FilterDecision::Remove
        } else {
            FilterDecision::Keep
        }
    }
}

fn options() -> Options {
    Options {
        compaction_filter: Some(Arc::new(Expiry)),
        ..common::tiny_options_large_memtable()
    }
}

#[test]
fn removed_entries_vanish_without_resurrecting_older_versions() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    // Old live versions of even keys, pushed down to the deeper levels first.
    for i in (0..100).step_by(2) {
        db.put(&common::key(i), b"old live value").unwrap();
    }
    db.flush().unwrap();
    for round in 0..2 {
        for i in 200..400 {
            db.put(&common::key(i), format!("filler {round}").as_bytes())
                .unwrap();
        }
        db.flush().unwrap();
    }
    db.compact().unwrap();
    assert!(db.stats().tables_per_level[0] < 2, "{:?}", db.stats());

    // Newer versions: every key below 100 expires, odd ones are fresh.
    for i in 0..100 {
        db.put(&common::key(i), b"expired at some time").unwrap();
    }
    db.flush().unwrap();
    db.flush().unwrap();
    db.put(b"zz", b"another table so level 0 compacts").unwrap();
    db.flush().unwrap();
    db.compact().unwrap();

    for i in 0..100 {
        assert_eq!(db.get(&common::key(i)).unwrap(), None, "key {i}");
    }
    for i in 200..400 {
        assert_eq!(db.get(&common::key(i)).unwrap(), Some(b"filler 1".to_vec()));
    }
    // Entries not yet seen by a compaction are untouched by the filter.
    db.put(b"fresh", b"expired but never compacted").unwrap();
    assert!(db.get(b"fresh").unwrap().is_some());
    db.close().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    assert_eq!(db.get(&common::key(10)).unwrap(), None);
    assert_eq!(common::scan_all(&db).len(), 202);
}
