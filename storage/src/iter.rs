//! The merging iterator behind scans and compactions, and the public [`Scan`].
//!
//! Sources are ordered newest first (active memtable, frozen memtables newest first, level-0
//! tables newest first, then one source per deeper level). Each source yields distinct keys in
//! ascending order; for a key present in several sources the lowest-index (newest) one wins and
//! the others are skipped. Tombstones win like values and are then hidden from scans.
//!
//! Invariant: memory is bounded by one block per table source and one chunk per memtable
//! source, whatever the range: nothing is materialised.

use std::collections::VecDeque;
use std::ops::Bound;
use std::sync::Arc;

use crate::Result;
use crate::memtable::MemTable;

/// A key and its value, `None` for a tombstone.
pub(crate) type Entry = (Vec<u8>, Option<Vec<u8>>);

/// An ordered stream of distinct keys from one memtable or table set.
pub(crate) trait Source: Send {
    /// The entry the source is positioned on, `None` once exhausted.
    fn current(&self) -> Option<(&[u8], Option<&[u8]>)>;
    fn advance(&mut self) -> Result<()>;
    /// Moves the current entry out (no copy) and advances; `None` once exhausted.
    fn take(&mut self) -> Result<Option<Entry>>;
}

/// Entries read from a memtable per refill.
const MEM_CHUNK: usize = 128;

/// Streams one memtable at snapshot `seq`, a chunk at a time.
pub(crate) struct MemSource {
    mem: Arc<MemTable>,
    seq: u64,
    to: Bound<Vec<u8>>,
    chunk: VecDeque<Entry>,
    /// Last key handed out, where the next refill resumes; `None` before the first refill.
    resume: Bound<Vec<u8>>,
    exhausted: bool,
}

impl MemSource {
    pub(crate) fn new(
        mem: Arc<MemTable>,
        seq: u64,
        from: Bound<Vec<u8>>,
        to: Bound<Vec<u8>>,
    ) -> Self {
        let mut source = MemSource {
            mem,
            seq,
            to,
            chunk: VecDeque::new(),
            resume: from,
            exhausted: false,
        };
        source.refill();
        source
    }

    fn refill(&mut self) {
        let mut out = Vec::with_capacity(MEM_CHUNK);
        self.mem.read_chunk(
            as_ref_bound(&self.resume),
            as_ref_bound(&self.to),
            self.seq,
            MEM_CHUNK,
            &mut out,
        );
        self.exhausted = out.len() < MEM_CHUNK;
        if let Some((k, _)) = out.last() {
            self.resume = Bound::Excluded(k.clone());
        }
        self.chunk = out.into();
    }
}

impl Source for MemSource {
    fn current(&self) -> Option<(&[u8], Option<&[u8]>)> {
        self.chunk
            .front()
            .map(|(k, v)| (k.as_slice(), v.as_deref()))
    }

    fn advance(&mut self) -> Result<()> {
        self.take().map(drop)
    }

    fn take(&mut self) -> Result<Option<Entry>> {
        let entry = self.chunk.pop_front();
        if self.chunk.is_empty() && !self.exhausted {
            self.refill();
        }
        Ok(entry)
    }
}

pub(crate) fn as_ref_bound(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(k) => Bound::Included(k),
        Bound::Excluded(k) => Bound::Excluded(k),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// Whether `key` is beyond the upper bound `to`.
pub(crate) fn past_end(key: &[u8], to: &Bound<Vec<u8>>) -> bool {
    match to {
        Bound::Included(end) => key > end.as_slice(),
        Bound::Excluded(end) => key >= end.as_slice(),
        Bound::Unbounded => false,
    }
}

/// The smallest key greater than every key starting with `prefix`; `None` if there is none
/// (empty prefix or all `0xff`).
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Merges sources, newest first, into one stream of the winning version per key.
pub(crate) struct MergeIter {
    sources: Vec<Box<dyn Source>>,
    to: Bound<Vec<u8>>,
}

impl MergeIter {
    pub(crate) fn new(sources: Vec<Box<dyn Source>>, to: Bound<Vec<u8>>) -> Self {
        MergeIter { sources, to }
    }

    /// The next key's winning version, tombstones included.
    pub(crate) fn next_entry(&mut self) -> Result<Option<Entry>> {
        let mut best: Option<(usize, &[u8])> = None;
        for (i, s) in self.sources.iter().enumerate() {
            if let Some((k, _)) = s.current()
                && best.is_none_or(|(_, b)| k < b)
            {
                best = Some((i, k));
            }
        }
        let Some((winner, key)) = best else {
            return Ok(None);
        };
        if past_end(key, &self.to) {
            return Ok(None);
        }
        let Some((key, value)) = self.sources[winner].take()? else {
            return Ok(None);
        };
        // Older sources holding the same key are shadowed by the winner.
        for s in self.sources.iter_mut().skip(winner + 1) {
            if s.current().is_some_and(|(k, _)| k == key.as_slice()) {
                s.advance()?;
            }
        }
        Ok(Some((key, value)))
    }
}

/// An ordered stream of live `(key, value)` pairs from a snapshot taken when it was created.
/// Owns what it needs (`'static + Send`), so it can be moved to another thread.
pub struct Scan {
    merge: MergeIter,
    done: bool,
}

impl Scan {
    pub(crate) fn new(merge: MergeIter) -> Scan {
        Scan { merge, done: false }
    }
}

impl Iterator for Scan {
    type Item = Result<(Vec<u8>, Vec<u8>)>;
    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            match self.merge.next_entry() {
                Ok(Some((k, Some(v)))) => return Some(Ok((k, v))),
                Ok(Some((_, None))) => continue,
                Ok(None) => self.done = true,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_successor_handles_ff() {
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_successor(b"\xff\xff"), None);
        assert_eq!(prefix_successor(b""), None);
    }

    #[test]
    fn newest_source_wins_and_tombstones_hide() {
        let new = Arc::new(MemTable::new(2, 4096));
        let old = Arc::new(MemTable::new(1, 4096));
        old.insert(b"a".to_vec(), 1, Some(b"old".to_vec()));
        old.insert(b"b".to_vec(), 2, Some(b"old".to_vec()));
        old.insert(b"c".to_vec(), 3, Some(b"old".to_vec()));
        new.insert(b"a".to_vec(), 4, Some(b"new".to_vec()));
        new.insert(b"b".to_vec(), 5, None);
        let sources: Vec<Box<dyn Source>> = [new, old]
            .into_iter()
            .map(|m| Box::new(MemSource::new(m, 9, Bound::Unbounded, Bound::Unbounded)) as _)
            .collect();
        let got: Vec<_> = Scan::new(MergeIter::new(sources, Bound::Unbounded))
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(
            got,
            vec![
                (b"a".to_vec(), b"new".to_vec()),
                (b"c".to_vec(), b"old".to_vec())
            ]
        );
    }
}
