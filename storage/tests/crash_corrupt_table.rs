//! A flipped byte anywhere in a table (data block, index, bloom filter, footer) gives a
//! corruption error when the table is opened or the damaged block is read; never a panic and
//! never wrong data.

mod common;

use ringkv_storage::{Db, Error};

#[test]
fn flipped_byte_in_a_table_is_a_corruption_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), common::tiny_options_large_memtable()).unwrap();
    for i in 0..200 {
        db.put(&common::key(i), format!("value-{i}").as_bytes())
            .unwrap();
    }
    db.flush().unwrap();
    db.close().unwrap();
    let table = common::files_ending(dir.path(), ".sst").remove(0);
    let table_name = table.file_name().unwrap().to_owned();
    let len = std::fs::metadata(&table).unwrap().len();

    // A spread of positions over the data blocks plus every byte of the tail (index, bloom
    // header, footer).
    let tail = 120;
    let positions = (0..len - tail).step_by(97).chain(len - tail..len);
    for pos in positions {
        let copy = common::copy_dir(dir.path());
        let path = copy.path().join(&table_name);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[pos as usize] ^= 0x04;
        std::fs::write(&path, &bytes).unwrap();
        let outcome = Db::open(copy.path(), common::tiny_options_large_memtable()).and_then(|db| {
            db.scan(std::ops::Bound::Unbounded, std::ops::Bound::Unbounded)?
                .collect::<Result<Vec<_>, _>>()
        });
        match outcome {
            Err(Error::Corruption { file, .. }) => assert_eq!(file, path, "flip at {pos}"),
            Err(other) => panic!("flip at {pos}: unexpected error {other}"),
            Ok(_) => panic!("flip at {pos}: read a corrupt table without error"),
        }
    }
}
