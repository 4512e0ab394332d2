//! A [`Version`]: one immutable snapshot of everything readable (active memtable, frozen
//! memtables, tables per level).
//!
//! The engine holds the current version behind a `RwLock<Arc<Version>>`; readers clone the
//! `Arc` (a few nanoseconds under the read lock) and then read without any lock, while flushes,
//! compactions and memtable switches build a new version and swap it in.
//!
//! Invariants: `imm` is newest first; level 0 is newest first and its tables may overlap;
//! levels >= 1 are sorted by key and their tables do not overlap; data in a higher slot is
//! always newer than data for the same key in a lower one.

use std::ops::Bound;
use std::sync::Arc;

use crate::Result;
use crate::iter::{MemSource, Source};
use crate::memtable::MemTable;
use crate::sst::Table;
use crate::sst::iter::{LevelIter, TableIter};
use crate::stats::Counters;

#[derive(Clone)]
pub(crate) struct Version {
    pub(crate) mem: Arc<MemTable>,
    pub(crate) imm: Vec<Arc<MemTable>>,
    pub(crate) levels: Vec<Vec<Arc<Table>>>,
}

impl Version {
    /// The oldest commit-log segment still needed: the one of the oldest memtable.
    pub(crate) fn min_log_id(&self) -> u64 {
        self.imm
            .iter()
            .map(|m| m.log_id())
            .chain(std::iter::once(self.mem.log_id()))
            .min()
            .unwrap_or_else(|| self.mem.log_id())
    }

    pub(crate) fn table_ids(&self) -> Vec<Vec<u64>> {
        self.levels
            .iter()
            .map(|l| l.iter().map(|t| t.id()).collect())
            .collect()
    }

    /// The newest version of `key` visible at `seq`: `Some(None)` is a tombstone.
    pub(crate) fn get(&self, key: &[u8], seq: u64, counters: &Counters) -> Result<Option<Vec<u8>>> {
        for mem in std::iter::once(&self.mem).chain(&self.imm) {
            if let Some(found) = mem.get(key, seq) {
                return Ok(found);
            }
        }
        for table in &self.levels[0] {
            if let Some(found) = table.get(key, counters)? {
                return Ok(found);
            }
        }
        for level in &self.levels[1..] {
            let i = level.partition_point(|t| t.largest() < key);
            if let Some(table) = level.get(i)
                && let Some(found) = table.get(key, counters)?
            {
                return Ok(found);
            }
        }
        Ok(None)
    }

    /// One source per memtable, level-0 table and deeper level, newest first, positioned at
    /// `from`.
    pub(crate) fn sources(
        &self,
        seq: u64,
        from: &Bound<Vec<u8>>,
        to: &Bound<Vec<u8>>,
        counters: &Arc<Counters>,
    ) -> Result<Vec<Box<dyn Source>>> {
        let mut sources: Vec<Box<dyn Source>> = Vec::new();
        for mem in std::iter::once(&self.mem).chain(&self.imm) {
            sources.push(Box::new(MemSource::new(
                Arc::clone(mem),
                seq,
                from.clone(),
                to.clone(),
            )));
        }
        let from = crate::iter::as_ref_bound(from);
        for table in &self.levels[0] {
            sources.push(Box::new(TableIter::seek(
                Arc::clone(table),
                Arc::clone(counters),
                from,
            )?));
        }
        for level in &self.levels[1..] {
            if !level.is_empty() {
                sources.push(Box::new(LevelIter::seek(
                    level.clone(),
                    Arc::clone(counters),
                    from,
                )?));
            }
        }
        Ok(sources)
    }
}
