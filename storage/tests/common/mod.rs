//! Shared helpers for the integration tests.
#![allow(dead_code)]

use ringkv_storage::{Options, SyncPolicy};

/// Options that make every mechanism run on a few kilobytes: many memtable switches, several
/// blocks per table, frequent level-0 and level-n compactions over four levels.
pub fn tiny_options() -> Options {
    Options {
        sync: SyncPolicy::Never,
        memtable_bytes: 2 << 10,
        block_bytes: 256,
        l0_compaction_trigger: 2,
        level1_bytes: 4 << 10,
        level_multiplier: 2,
        max_levels: 4,
        table_bytes: 2 << 10,
        ..Options::default()
    }
}

/// Small blocks but a memtable large enough that nothing is flushed unless asked.
pub fn tiny_options_large_memtable() -> Options {
    Options {
        memtable_bytes: 64 << 20,
        ..tiny_options()
    }
}

/// Scans everything into a vector, failing on the first error.
pub fn scan_all(db: &ringkv_storage::Db) -> Vec<(Vec<u8>, Vec<u8>)> {
    db.scan(std::ops::Bound::Unbounded, std::ops::Bound::Unbounded)
        .expect("scan")
        .collect::<Result<_, _>>()
        .expect("scan item")
}

/// A 16-byte key for integer `i`, in the order of `i`.
pub fn key(i: u64) -> Vec<u8> {
    format!("key{i:013}").into_bytes()
}

/// Copies every file of `from` into a new temporary directory.
pub fn copy_dir(from: &std::path::Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().expect("tempdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("dir entry");
        std::fs::copy(entry.path(), to.path().join(entry.file_name())).expect("copy");
    }
    to
}

/// The files in `dir` whose names end with `suffix`.
pub fn files_ending(dir: &std::path::Path, suffix: &str) -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    out.sort();
    out
}
