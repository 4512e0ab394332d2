//! A damaged record in the middle of the commit log, with valid records after it (a hole, as a
//! power loss may leave in the unsynced tail, or a bad disk anywhere): open keeps exactly the
//! records before it, reports the damage (file, offset, bytes and segments dropped, "hole"), and
//! invents nothing; the dropped records do not come back on a later open.

mod common;

use ringkv_storage::{Db, LogDamage};

fn open(dir: &std::path::Path) -> Db {
    Db::open(dir, common::tiny_options_large_memtable()).expect("open keeps the valid prefix")
}

/// Writes `n` records with keys `key(first..first + n)` into a fresh directory, one segment
/// (dropped without close); returns the directory and each record's end offset.
fn one_segment(first: u64, n: u64) -> (tempfile::TempDir, Vec<u64>) {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let mut ends = vec![0];
    for i in first..first + n {
        db.put(&common::key(i), &[b'v'; 30]).unwrap();
        ends.push(db.stats().log_bytes);
    }
    drop(db);
    (dir, ends)
}

fn expect_damage(db: &Db, file: &std::path::Path, offset: u64, dropped: u64, segments: usize) {
    let damage: &LogDamage = db.recovery().damage.as_ref().expect("damage reported");
    assert_eq!(
        (
            &*damage.file,
            damage.offset,
            damage.dropped_bytes,
            damage.dropped_segments,
            damage.hole
        ),
        (file, offset, dropped, segments, true),
        "{damage}"
    );
    assert_eq!(db.stats().log_bytes_dropped_at_open, dropped);
}

#[test]
fn flipped_byte_mid_log_keeps_the_records_before_it_and_says_so() {
    let (dir, ends) = one_segment(0, 10);
    let log = common::files_ending(dir.path(), ".log").remove(0);
    let log_name = log.file_name().unwrap().to_owned();
    let total = ends[10];

    // Every byte of records 3 and 4 (header, checksum, payload) in turn.
    for pos in ends[3]..ends[5] {
        let copy = common::copy_dir(dir.path());
        let path = copy.path().join(&log_name);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[pos as usize] ^= 0x20;
        std::fs::write(&path, &bytes).unwrap();
        let kept = if pos < ends[4] { 3 } else { 4 };
        let db = open(copy.path());
        let expected: Vec<_> = (0..kept)
            .map(|i| (common::key(i), vec![b'v'; 30]))
            .collect();
        assert_eq!(common::scan_all(&db), expected, "flip at {pos}");
        expect_damage(
            &db,
            &path,
            ends[kept as usize],
            total - ends[kept as usize],
            0,
        );
        if pos % 16 != 0 {
            continue;
        }
        // The dropped records stay dropped, and the engine works on.
        db.put(b"after", b"damage").unwrap();
        drop(db);
        let db = open(copy.path());
        assert_eq!(
            common::scan_all(&db).len() as u64,
            kept + 1,
            "flip at {pos}"
        );
        assert_eq!(db.recovery().damage, None, "the damaged segment is gone");
    }
}

#[test]
fn damage_in_an_older_segment_drops_the_later_segments_too() {
    // Two segments from two runs, named 1 and 2 (oldest first), in a directory without a
    // manifest: recovery replays both, in order.
    let (a, a_ends) = one_segment(0, 6);
    let (b, _) = one_segment(100, 6);
    let dir = tempfile::tempdir().unwrap();
    let older = dir.path().join(format!("{:020}.log", 1));
    let newer = dir.path().join(format!("{:020}.log", 2));
    let mut bytes = std::fs::read(common::files_ending(a.path(), ".log").remove(0)).unwrap();
    bytes[a_ends[2] as usize + 9] ^= 0x01;
    std::fs::write(&older, &bytes).unwrap();
    std::fs::copy(common::files_ending(b.path(), ".log").remove(0), &newer).unwrap();
    let newer_len = std::fs::metadata(&newer).unwrap().len();

    let db = open(dir.path());
    let expected: Vec<_> = (0..2).map(|i| (common::key(i), vec![b'v'; 30])).collect();
    assert_eq!(
        common::scan_all(&db),
        expected,
        "only the prefix before the damage"
    );
    expect_damage(&db, &older, a_ends[2], a_ends[6] - a_ends[2] + newer_len, 1);
}
