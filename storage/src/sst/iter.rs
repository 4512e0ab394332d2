//! Streaming iterators over one table ([`TableIter`]) and over the sorted, non-overlapping
//! tables of one level ([`LevelIter`]).
//!
//! Invariant: a table iterator holds exactly one decoded block; the next one is read when the
//! current one is exhausted. Iterators own `Arc`s of their tables, so a compaction deleting the
//! files cannot pull them out from under a scan (the open handle keeps the inode alive).

use std::ops::Bound;
use std::sync::Arc;

use super::Table;
use super::block::Block;
use crate::Result;
use crate::iter::{Entry, Source};
use crate::stats::Counters;

pub(crate) struct TableIter {
    table: Arc<Table>,
    counters: Arc<Counters>,
    block_idx: usize,
    block: Option<Block>,
    pos: usize,
    key: Vec<u8>,
    value: Option<Vec<u8>>,
    valid: bool,
}

impl TableIter {
    /// Positions on the first entry at or after `from`.
    pub(crate) fn seek(
        table: Arc<Table>,
        counters: Arc<Counters>,
        from: Bound<&[u8]>,
    ) -> Result<Self> {
        let start = match from {
            Bound::Included(k) | Bound::Excluded(k) => table.find_block(k),
            Bound::Unbounded => 0,
        };
        let mut it = TableIter {
            table,
            counters,
            block_idx: start,
            block: None,
            pos: 0,
            key: Vec::new(),
            value: None,
            valid: false,
        };
        if start >= it.table.block_count() {
            return Ok(it);
        }
        let block = it.table.read_block(start, &it.counters)?;
        it.pos = match from {
            Bound::Included(k) | Bound::Excluded(k) => block.seek(k).map_err(|r| it.corrupt(r))?,
            Bound::Unbounded => 0,
        };
        it.block = Some(block);
        it.settle()?;
        if let Bound::Excluded(k) = from
            && it.valid
            && it.key == k
        {
            it.advance()?;
        }
        Ok(it)
    }

    fn corrupt(&self, reason: &str) -> crate::Error {
        self.table
            .corruption(self.table.block_offset(self.block_idx), reason)
    }

    /// Moves to the next block while the current position is past the block's end, then loads
    /// the entry under the cursor.
    fn settle(&mut self) -> Result<()> {
        loop {
            let Some(block) = &self.block else {
                self.valid = false;
                return Ok(());
            };
            if self.pos < block.len() {
                let (k, v) = block.entry(self.pos).map_err(|r| self.corrupt(r))?;
                self.key.clear();
                self.key.extend_from_slice(k);
                self.value = v.map(<[u8]>::to_vec);
                self.valid = true;
                return Ok(());
            }
            self.block_idx += 1;
            self.pos = 0;
            self.block = None;
            if self.block_idx < self.table.block_count() {
                self.block = Some(self.table.read_block(self.block_idx, &self.counters)?);
            }
        }
    }
}

impl Source for TableIter {
    fn current(&self) -> Option<(&[u8], Option<&[u8]>)> {
        self.valid
            .then_some((self.key.as_slice(), self.value.as_deref()))
    }

    fn advance(&mut self) -> Result<()> {
        self.pos += 1;
        self.settle()
    }

    fn take(&mut self) -> Result<Option<Entry>> {
        if !self.valid {
            return Ok(None);
        }
        let entry = (std::mem::take(&mut self.key), self.value.take());
        self.advance()?;
        Ok(Some(entry))
    }
}

/// Concatenates the tables of a level (sorted by key, non-overlapping), opening each lazily.
pub(crate) struct LevelIter {
    tables: Vec<Arc<Table>>,
    counters: Arc<Counters>,
    next_table: usize,
    current: Option<TableIter>,
}

impl LevelIter {
    pub(crate) fn seek(
        tables: Vec<Arc<Table>>,
        counters: Arc<Counters>,
        from: Bound<&[u8]>,
    ) -> Result<Self> {
        let first = match from {
            Bound::Included(k) | Bound::Excluded(k) => tables.partition_point(|t| t.largest() < k),
            Bound::Unbounded => 0,
        };
        let mut it = LevelIter {
            tables,
            counters,
            next_table: first + 1,
            current: None,
        };
        if let Some(t) = it.tables.get(first) {
            it.current = Some(TableIter::seek(
                Arc::clone(t),
                Arc::clone(&it.counters),
                from,
            )?);
            it.skip_exhausted()?;
        }
        Ok(it)
    }

    fn skip_exhausted(&mut self) -> Result<()> {
        while self.current.as_ref().is_some_and(|c| c.current().is_none()) {
            self.current = match self.tables.get(self.next_table) {
                Some(t) => Some(TableIter::seek(
                    Arc::clone(t),
                    Arc::clone(&self.counters),
                    Bound::Unbounded,
                )?),
                None => None,
            };
            self.next_table += 1;
        }
        Ok(())
    }
}

impl Source for LevelIter {
    fn current(&self) -> Option<(&[u8], Option<&[u8]>)> {
        self.current.as_ref().and_then(TableIter::current)
    }

    fn advance(&mut self) -> Result<()> {
        if let Some(c) = &mut self.current {
            c.advance()?;
        }
        self.skip_exhausted()
    }

    fn take(&mut self) -> Result<Option<Entry>> {
        let entry = match &mut self.current {
            Some(c) => c.take()?,
            None => None,
        };
        self.skip_exhausted()?;
        Ok(entry)
    }
}
