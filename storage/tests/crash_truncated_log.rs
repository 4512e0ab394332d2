//! A commit log cut at every byte offset of its last records reopens with exactly the records
//! that were fully written before the cut.

mod common;

use ringkv_storage::Db;

const RECORDS: u64 = 12;
/// The cut sweeps every byte of the last this-many records.
const LAST: u64 = 3;

#[test]
fn log_cut_at_every_offset_keeps_exactly_the_whole_records() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), common::tiny_options_large_memtable()).unwrap();
    // Log size after each record: record i ends at ends[i].
    let mut ends = Vec::new();
    for i in 0..RECORDS {
        db.put(&common::key(i), format!("value-{i}").as_bytes())
            .unwrap();
        ends.push(db.stats().log_bytes);
    }
    drop(db); // no close: the writes live only in the commit log
    let logs = common::files_ending(dir.path(), ".log");
    assert_eq!(logs.len(), 1, "one active segment: {logs:?}");
    let log_name = logs[0].file_name().unwrap().to_owned();

    let first_cut = ends[(RECORDS - LAST - 1) as usize];
    for cut in first_cut..=ends[RECORDS as usize - 1] {
        let copy = common::copy_dir(dir.path());
        let log = std::fs::OpenOptions::new()
            .write(true)
            .open(copy.path().join(&log_name))
            .unwrap();
        log.set_len(cut).unwrap();
        drop(log);
        let whole = ends.iter().filter(|&&end| end <= cut).count() as u64;
        let db = Db::open(copy.path(), common::tiny_options_large_memtable())
            .unwrap_or_else(|e| panic!("open after cut at {cut}: {e}"));
        let got = common::scan_all(&db);
        let expected: Vec<_> = (0..whole)
            .map(|i| (common::key(i), format!("value-{i}").into_bytes()))
            .collect();
        assert_eq!(got, expected, "cut at byte {cut}");
        // A cut between records loses nothing that was written; one inside a record is a torn
        // tail (nothing valid after it), reported with what was dropped.
        match &db.recovery().damage {
            None => assert!(ends.contains(&cut), "cut at byte {cut} not reported"),
            Some(d) => {
                assert!(!d.hole, "cut at byte {cut}: {d}");
                assert_eq!(d.dropped_bytes, cut - ends[whole as usize - 1]);
            }
        }
        if (cut - first_cut) % 8 != 0 {
            continue;
        }
        // The reopened engine keeps working after the truncation.
        db.put(b"after", b"cut").unwrap();
        drop(db);
        let db = Db::open(copy.path(), common::tiny_options_large_memtable()).unwrap();
        assert_eq!(db.get(b"after").unwrap(), Some(b"cut".to_vec()));
        assert_eq!(common::scan_all(&db).len() as u64, whole + 1);
    }
}
