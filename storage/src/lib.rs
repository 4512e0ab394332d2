//! ringkv-storage: the LSM engine each ringkv node keeps its replicas in.
//!
//! CONTRACT SKELETON. The public API below is what the node (root package) codes against; the
//! implementation replaces every `todo!()` and may add items, but must keep these signatures.
//! Keys and values are bytes. The engine is synchronous and knows nothing of tokio.

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Everything that can go wrong in the engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("corruption in {file} at offset {offset}: {reason}")]
    Corruption {
        file: std::path::PathBuf,
        offset: u64,
        reason: String,
    },
    #[error("engine is poisoned after a failed fsync; reopen it")]
    Poisoned,
    #[error("engine is closed")]
    Closed,
}

pub type Result<T> = std::result::Result<T, Error>;

/// When the commit log is fsynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPolicy {
    /// fsync before a write returns (group commit shares one fsync among concurrent writers).
    Always,
    /// fsync in the background every interval.
    Interval(Duration),
    /// Leave it to the OS.
    Never,
}

/// What a compaction filter decides for one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterDecision {
    Keep,
    /// Treat the entry as deleted: the engine drops it, leaving a tombstone if older data for the
    /// key may exist below the output of this compaction.
    Remove,
}

/// Lets the owner decide, per live entry seen by a compaction, to keep or drop it (the node uses
/// it for TTL expiry and tombstone grace periods).
pub trait CompactionFilter: Send + Sync {
    fn filter(&self, key: &[u8], value: &[u8]) -> FilterDecision;
}

/// Options chosen at `open`.
#[derive(Clone)]
pub struct Options {
    pub sync: SyncPolicy,
    /// Size budget of the active memtable before it is frozen and flushed.
    pub memtable_bytes: usize,
    /// Target size of an SSTable data block.
    pub block_bytes: usize,
    /// Bloom filter false-positive rate per table.
    pub bloom_fp_rate: f64,
    pub compaction_filter: Option<Arc<dyn CompactionFilter>>,
}

impl Default for Options {
    fn default() -> Self {
        todo!()
    }
}

/// An atomic group of writes.
#[derive(Debug, Default, Clone)]
pub struct WriteBatch {}

impl WriteBatch {
    pub fn new() -> Self {
        todo!()
    }
    pub fn put(&mut self, _key: &[u8], _value: &[u8]) {
        todo!()
    }
    pub fn delete(&mut self, _key: &[u8]) {
        todo!()
    }
    pub fn len(&self) -> usize {
        todo!()
    }
    pub fn is_empty(&self) -> bool {
        todo!()
    }
}

/// Counters for a metrics endpoint.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Number of tables on each level (index = level).
    pub tables_per_level: Vec<usize>,
    pub table_bytes: u64,
    pub memtable_bytes: u64,
    pub log_bytes: u64,
    /// Point lookups a bloom filter answered "absent" (no block read).
    pub bloom_negatives: u64,
    /// Point lookups a bloom filter passed but the key was not in the table.
    pub bloom_false_positives: u64,
    pub data_block_reads: u64,
    pub flushes: u64,
    pub compactions: u64,
    /// Times a writer was slowed because flushes fell behind.
    pub write_stalls: u64,
}

/// An ordered stream of live `(key, value)` pairs from a snapshot taken when it was created.
/// Owns what it needs (`'static + Send`), so it can be moved to another thread.
pub struct Scan {}

impl Iterator for Scan {
    type Item = Result<(Vec<u8>, Vec<u8>)>;
    fn next(&mut self) -> Option<Self::Item> {
        todo!()
    }
}

/// The engine. `Send + Sync`: share it behind an `Arc` among many readers and writers.
pub struct Db {}

impl Db {
    /// Opens (creating if needed) the engine in `dir`, recovering the manifest and replaying the log.
    pub fn open(_dir: impl AsRef<Path>, _options: Options) -> Result<Db> {
        todo!()
    }
    pub fn get(&self, _key: &[u8]) -> Result<Option<Vec<u8>>> {
        todo!()
    }
    pub fn put(&self, _key: &[u8], _value: &[u8]) -> Result<()> {
        todo!()
    }
    pub fn delete(&self, _key: &[u8]) -> Result<()> {
        todo!()
    }
    pub fn write_batch(&self, _batch: WriteBatch) -> Result<()> {
        todo!()
    }
    /// Live pairs with keys in `(from, to)`, in key order.
    pub fn scan(&self, _from: Bound<Vec<u8>>, _to: Bound<Vec<u8>>) -> Result<Scan> {
        todo!()
    }
    /// Live pairs whose key starts with `prefix`, in key order.
    pub fn scan_prefix(&self, _prefix: &[u8]) -> Result<Scan> {
        todo!()
    }
    /// Makes everything written so far durable in the commit log (fsync), whatever the policy.
    pub fn sync(&self) -> Result<()> {
        todo!()
    }
    /// Freezes the memtable and waits until it is written to an SSTable.
    pub fn flush(&self) -> Result<()> {
        todo!()
    }
    /// Runs compaction until no more is due, and waits for it.
    pub fn compact(&self) -> Result<()> {
        todo!()
    }
    pub fn stats(&self) -> Stats {
        todo!()
    }
    /// Stops background work, syncs the log, and releases the directory.
    pub fn close(self) -> Result<()> {
        todo!()
    }
}
