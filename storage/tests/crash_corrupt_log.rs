//! A flipped byte in the middle of the commit log (valid records after it) is reported as
//! corruption naming the segment and the offset of the damaged record, not skipped.

mod common;

use ringkv_storage::{Db, Error};

#[test]
fn flipped_byte_mid_log_is_a_corruption_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), common::tiny_options_large_memtable()).unwrap();
    let mut ends = vec![0];
    for i in 0..10 {
        db.put(&common::key(i), &[b'v'; 30]).unwrap();
        ends.push(db.stats().log_bytes);
    }
    drop(db);
    let log = common::files_ending(dir.path(), ".log").remove(0);
    let log_name = log.file_name().unwrap().to_owned();

    // Every byte of records 3 and 4 (header, checksum, payload) in turn.
    for pos in ends[3]..ends[5] {
        let copy = common::copy_dir(dir.path());
        let path = copy.path().join(&log_name);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[pos as usize] ^= 0x20;
        std::fs::write(&path, &bytes).unwrap();
        let record_start = if pos < ends[4] { ends[3] } else { ends[4] };
        match Db::open(copy.path(), common::tiny_options_large_memtable()) {
            Err(Error::Corruption { file, offset, .. }) => {
                assert_eq!(file, path, "flip at {pos}");
                assert_eq!(offset, record_start, "flip at {pos}");
            }
            Err(other) => panic!("flip at {pos}: unexpected error {other}"),
            Ok(_) => panic!("flip at {pos}: opened a corrupt log"),
        }
    }
}
