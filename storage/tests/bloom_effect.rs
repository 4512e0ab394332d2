//! The bloom filter keeps absent-key lookups off the data blocks: on a table of 100k keys, at
//! most ~2% of lookups of absent keys (inside the table's key range) read a block.

mod common;

use ringkv_storage::{Db, Options};

const KEYS: u64 = 100_000;

#[test]
fn absent_lookups_rarely_read_a_data_block() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        sync: ringkv_storage::SyncPolicy::Never,
        ..Options::default()
    };
    let db = Db::open(dir.path(), opts).unwrap();
    let mut batch = ringkv_storage::WriteBatch::new();
    for i in 0..KEYS {
        batch.put(&common::key(2 * i), &[7; 100]);
        if batch.len() == 1000 {
            db.write_batch(std::mem::take(&mut batch)).unwrap();
        }
    }
    db.write_batch(batch).unwrap();
    db.flush().unwrap();
    assert_eq!(db.stats().tables_per_level.iter().sum::<usize>(), 1);

    // Odd keys fall between the even ones, inside the table's key range.
    let lookups = KEYS - 1;
    let before = db.stats();
    for i in 0..lookups {
        assert_eq!(db.get(&common::key(2 * i + 1)).unwrap(), None);
    }
    let after = db.stats();
    let reads = after.data_block_reads - before.data_block_reads;
    let negatives = after.bloom_negatives - before.bloom_negatives;
    let false_positives = after.bloom_false_positives - before.bloom_false_positives;
    assert_eq!(
        negatives + false_positives,
        lookups,
        "every lookup went to the filter"
    );
    assert_eq!(
        reads, false_positives,
        "a block is read only past a bloom false positive"
    );
    eprintln!(
        "{reads} data block reads for {lookups} absent lookups ({:.2}%)",
        reads as f64 * 100.0 / lookups as f64
    );
    assert!(
        reads * 100 <= lookups * 2,
        "{reads} block reads for {lookups} absent lookups"
    );
    // Present keys are all found (no false negatives).
    for i in (0..KEYS).step_by(97) {
        assert!(db.get(&common::key(2 * i)).unwrap().is_some());
    }
}
