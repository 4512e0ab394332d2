//! Files left by an interrupted flush or compaction (tables the manifest does not name, a
//! half-written `MANIFEST.tmp`, flushed log segments) are deleted on open; live data is not.
//! A directory whose manifest is gone but whose tables remain is refused, not wiped.

mod common;

use ringkv_storage::{Db, Error};

#[test]
fn orphans_are_removed_and_live_data_kept() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), common::tiny_options()).unwrap();
    for i in 0..300 {
        db.put(&common::key(i), b"value").unwrap();
    }
    db.flush().unwrap();
    // Flushed segments are deleted: only the active one remains.
    assert_eq!(common::files_ending(dir.path(), ".log").len(), 1);
    db.close().unwrap();
    let live_tables = common::files_ending(dir.path(), ".sst");
    assert!(!live_tables.is_empty());

    let orphan_table = dir.path().join(format!("{:020}.sst", 999_999));
    std::fs::copy(&live_tables[0], &orphan_table).unwrap();
    let old_log = dir.path().join(format!("{:020}.log", 0));
    std::fs::write(&old_log, b"flushed long ago").unwrap();
    let temp_manifest = dir.path().join("MANIFEST.tmp");
    std::fs::write(&temp_manifest, b"interrupted").unwrap();

    let db = Db::open(dir.path(), common::tiny_options()).unwrap();
    assert!(!orphan_table.exists() && !old_log.exists() && !temp_manifest.exists());
    assert_eq!(common::files_ending(dir.path(), ".sst"), live_tables);
    assert_eq!(common::scan_all(&db).len(), 300);
}

#[test]
fn lost_manifest_with_tables_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), common::tiny_options()).unwrap();
    db.put(b"k", b"v").unwrap();
    db.flush().unwrap();
    db.close().unwrap();
    std::fs::remove_file(dir.path().join("MANIFEST")).unwrap();
    assert!(matches!(
        Db::open(dir.path(), common::tiny_options()),
        Err(Error::Corruption { .. })
    ));
    assert_eq!(common::files_ending(dir.path(), ".sst").len(), 1);
}
