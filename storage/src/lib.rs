//! ringkv-storage: the LSM engine each ringkv node keeps its replicas in.
//!
//! Keys and values are bytes. The engine is synchronous and knows nothing of tokio: reads run on
//! the caller's thread, and a caller that must not block (the node's async runtime) writes with
//! [`Db::write_batch_then`], whose callback the engine's commit thread runs once the batch's group
//! is committed. A tour of the crate, following a write and then a read:
//!
//! - [`batch`]: [`WriteBatch`], the unit of atomicity; every `put`/`delete` is a batch of one.
//! - `db`: [`Db`], the handle; writers queue up and a leader (a writer, or the commit thread for
//!   submitted batches) commits the whole queue as one log record with one fsync (group commit),
//!   then applies it to the active memtable.
//! - `wal`: the commit log, segment files of length + crc32 framed records; recovery replays
//!   the valid prefix and stops at the first bad record.
//! - `memtable`: a lock-free skiplist of `(key, seq)` versions with a size budget and a small
//!   concurrent key filter; full memtables are frozen and flushed by a background thread
//!   (`worker`, which also runs compactions and the interval log syncer).
//! - `sst`: immutable sorted tables: checksummed blocks, a block index, a bloom filter and a
//!   footer with magic and format version.
//! - `version`: an immutable snapshot of the table set plus memtables, swapped atomically;
//!   readers clone an `Arc` of it and never block writers.
//! - `manifest`: the durable list of live tables, rewritten atomically on every change.
//! - `compaction`: the leveled policy (a pure function over a snapshot) and the merge that
//!   executes it, with tombstone dropping and the [`CompactionFilter`] hook.
//! - `iter`: the merging iterator behind [`Scan`] and compactions: newest source wins,
//!   tombstones hide.
//! - `recovery`: `open`: lock the directory, load the manifest, replay the valid prefix of the
//!   log into level-0 tables (reporting any damage in [`Recovery`]), delete orphans.
//! - [`io`]: the file-system seam every file and directory operation goes through: [`RealFs`]
//!   by default, [`SimFs`] in tests (a disk that loses what no fsync covered).
//! - `stats`: [`Stats`] for a metrics endpoint.
//!
//! Durability contract: with [`SyncPolicy::Always`] a write returns only after the log record
//! holding it is fsynced, and it becomes visible to readers only then; with `Interval` or `Never`
//! a power loss takes back at most the writes after the last fsync, never a write before one
//! (`tests/power_loss.rs` checks both on [`SimFs`]). A failed fsync or a failed background
//! flush/compaction poisons the engine: later writes return [`Error::Poisoned`]. Opening keeps
//! the longest valid prefix of the log and reports any damage in [`Db::recovery`].

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

mod batch;
mod codec;
mod compaction;
mod db;
pub mod io;
mod iter;
mod manifest;
mod memtable;
mod recovery;
mod sst;
mod stats;
mod version;
mod wal;
mod worker;

pub use batch::WriteBatch;
pub use io::{DiskOp, FileIo, Fs, Loss, RealFs, SimFs};
pub use iter::{Scan, prefix_successor};
pub use recovery::{LogDamage, Recovery};
pub use stats::Stats;

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

impl Error {
    /// The error again for another writer of the same failed group (an I/O error keeps its
    /// kind and message).
    pub(crate) fn shared(&self) -> Error {
        match self {
            Error::Io(e) => Error::Io(std::io::Error::new(e.kind(), e.to_string())),
            Error::Corruption {
                file,
                offset,
                reason,
            } => Error::Corruption {
                file: file.clone(),
                offset: *offset,
                reason: reason.clone(),
            },
            Error::Poisoned => Error::Poisoned,
            Error::Closed => Error::Closed,
        }
    }
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
    /// Under [`SyncPolicy::Always`], how long the commit thread may hold a group open for more
    /// submitted batches when the last group had several (concurrent writers): fewer, larger
    /// groups, so fewer fsyncs per write, for at most this much more latency. A lone writer
    /// never waits; zero never waits.
    pub commit_delay: Duration,
    /// Size budget of the active memtable before it is frozen and flushed.
    pub memtable_bytes: usize,
    /// Target size of an SSTable data block.
    pub block_bytes: usize,
    /// Bloom filter false-positive rate per table.
    pub bloom_fp_rate: f64,
    pub compaction_filter: Option<Arc<dyn CompactionFilter>>,
    /// Frozen memtables allowed to wait for their flush before writers stall (back-pressure).
    pub max_immutable_memtables: usize,
    /// Number of level-0 tables that triggers a level-0 compaction.
    pub l0_compaction_trigger: usize,
    /// Number of level-0 tables at which writers stall until compaction catches up.
    pub l0_stop_trigger: usize,
    /// Target total size of level 1; each deeper level is `level_multiplier` times larger.
    pub level1_bytes: u64,
    pub level_multiplier: u64,
    /// Number of levels, level 0 included (the last one is never compacted further).
    pub max_levels: usize,
    /// Compaction output is cut into tables of about this size.
    pub table_bytes: u64,
    /// The file system under the engine: [`RealFs`], or [`SimFs`] in power-loss tests.
    pub fs: Arc<dyn Fs>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            sync: SyncPolicy::Interval(Duration::from_millis(100)),
            commit_delay: Duration::ZERO,
            memtable_bytes: 64 << 20,
            block_bytes: 4096,
            bloom_fp_rate: 0.01,
            compaction_filter: None,
            max_immutable_memtables: 4,
            l0_compaction_trigger: 4,
            l0_stop_trigger: 20,
            level1_bytes: 256 << 20,
            level_multiplier: 10,
            max_levels: 7,
            table_bytes: 64 << 20,
            fs: Arc::new(RealFs),
        }
    }
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("sync", &self.sync)
            .field("commit_delay", &self.commit_delay)
            .field("memtable_bytes", &self.memtable_bytes)
            .field("block_bytes", &self.block_bytes)
            .field("bloom_fp_rate", &self.bloom_fp_rate)
            .field("compaction_filter", &self.compaction_filter.is_some())
            .field("max_immutable_memtables", &self.max_immutable_memtables)
            .field("l0_compaction_trigger", &self.l0_compaction_trigger)
            .field("l0_stop_trigger", &self.l0_stop_trigger)
            .field("level1_bytes", &self.level1_bytes)
            .field("level_multiplier", &self.level_multiplier)
            .field("max_levels", &self.max_levels)
            .field("table_bytes", &self.table_bytes)
            .field("fs", &self.fs)
            .finish()
    }
}

/// The engine. `Send + Sync`: share it behind an `Arc` among many readers and writers.
pub struct Db {
    inner: db::DbInner,
}

impl Db {
    /// Opens (creating if needed) the engine in `dir`, recovering the manifest and replaying the log.
    pub fn open(dir: impl AsRef<Path>, options: Options) -> Result<Db> {
        Ok(Db {
            inner: db::DbInner::open(dir.as_ref(), options)?,
        })
    }
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.inner.get(key)
    }
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.put(key, value);
        self.inner.write(batch)
    }
    pub fn delete(&self, key: &[u8]) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.delete(key);
        self.inner.write(batch)
    }
    pub fn write_batch(&self, batch: WriteBatch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        self.inner.write(batch)
    }
    /// Queues `batch` and returns at once: `done` runs once with the outcome, when the group
    /// holding the batch is committed (durable under [`SyncPolicy::Always`], and visible), on
    /// the thread that committed it: the engine's commit thread, or a [`Db::write_batch`]
    /// caller leading that group. For callers that must not block, such as an async runtime:
    /// no thread of theirs waits on the fsync, and batches submitted during a commit share the
    /// next one. `done` should be quick (wake a waiter) and must not write to this engine.
    pub fn write_batch_then(
        &self,
        batch: WriteBatch,
        done: impl FnOnce(Result<()>) + Send + 'static,
    ) {
        if batch.is_empty() {
            return done(Ok(()));
        }
        self.inner.submit(batch, Box::new(done));
    }
    /// Live pairs with keys in `(from, to)`, in key order.
    pub fn scan(&self, from: Bound<Vec<u8>>, to: Bound<Vec<u8>>) -> Result<Scan> {
        self.inner.scan(from, to)
    }
    /// Live pairs whose key starts with `prefix`, in key order.
    pub fn scan_prefix(&self, prefix: &[u8]) -> Result<Scan> {
        let to = match iter::prefix_successor(prefix) {
            Some(end) => Bound::Excluded(end),
            None => Bound::Unbounded,
        };
        self.inner.scan(Bound::Included(prefix.to_vec()), to)
    }
    /// Makes everything written so far durable in the commit log (fsync), whatever the policy.
    pub fn sync(&self) -> Result<()> {
        self.inner.sync()
    }
    /// Freezes the memtable and waits until it is written to an SSTable.
    pub fn flush(&self) -> Result<()> {
        self.inner.flush()
    }
    /// Runs compaction until no more is due, and waits for it.
    pub fn compact(&self) -> Result<()> {
        self.inner.compact()
    }
    pub fn stats(&self) -> Stats {
        self.inner.stats()
    }
    /// What `open` found in the commit log: records replayed, and any damage where replay
    /// stopped (the owner should log it: writes after it were not recovered).
    pub fn recovery(&self) -> &Recovery {
        self.inner.recovery()
    }
    /// Stops background work, syncs the log, and releases the directory.
    pub fn close(self) -> Result<()> {
        self.inner.close()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shareable<T: Send + Sync + 'static>() {}
    fn movable<T: Send + 'static>() {}

    #[test]
    fn handles_are_thread_safe() {
        shareable::<Db>();
        shareable::<Options>();
        movable::<Scan>();
        movable::<Error>();
    }
}
