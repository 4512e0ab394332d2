//! Engine statistics: the public [`Stats`] snapshot and the atomic counters behind it.
//!
//! Counters are `Relaxed` atomics: they are monotonic tallies for a metrics endpoint and never
//! order other memory operations.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters for a metrics endpoint.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Number of tables on each level (index = level).
    pub tables_per_level: Vec<usize>,
    pub table_bytes: u64,
    pub memtable_bytes: u64,
    pub log_bytes: u64,
    /// Commit-log bytes that `open` could not replay (damage and everything after it; see
    /// [`crate::Recovery`]). Nonzero means writes may have been lost.
    pub log_bytes_dropped_at_open: u64,
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

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) bloom_negatives: AtomicU64,
    pub(crate) bloom_false_positives: AtomicU64,
    pub(crate) data_block_reads: AtomicU64,
    pub(crate) flushes: AtomicU64,
    pub(crate) compactions: AtomicU64,
    pub(crate) write_stalls: AtomicU64,
    /// Commit-log fsyncs by commit leaders (group commit shares one among a group).
    pub(crate) group_syncs: AtomicU64,
}

impl Counters {
    pub(crate) fn add(&self, counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Copies the counters into `stats`.
    pub(crate) fn fill(&self, stats: &mut Stats) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        stats.bloom_negatives = get(&self.bloom_negatives);
        stats.bloom_false_positives = get(&self.bloom_false_positives);
        stats.data_block_reads = get(&self.data_block_reads);
        stats.flushes = get(&self.flushes);
        stats.compactions = get(&self.compactions);
        stats.write_stalls = get(&self.write_stalls);
    }
}
