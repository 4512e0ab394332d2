//! The memtable: a concurrent sorted map of key versions with a size budget.
//!
//! It is a `crossbeam_skiplist::SkipMap`: lock-free reads and inserts, ordered iteration, no
//! lock held by readers while the writer inserts. Each write is stored under `(key, seq)`, ordered
//! by key ascending then sequence number descending, so a reader at snapshot `seq` finds the
//! newest version it may see with one `lower_bound`, and never sees half of a batch the writer
//! is still inserting (its ops have sequence numbers above the published one).
//!
//! Invariants: sequence numbers are >= 1 (0 is the "after every version" sentinel used to
//! resume iteration past a key); only the commit leader inserts; once frozen, a memtable is
//! never written again and is flushed to exactly one level-0 table.

use std::cmp::Ordering;
use std::ops::Bound;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};

use crossbeam_skiplist::SkipMap;

/// Bookkeeping per entry in the skiplist (node, sequence number, vectors), for the size budget.
const ENTRY_OVERHEAD: usize = 80;

/// A user key at one sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InternalKey {
    pub(crate) key: Vec<u8>,
    pub(crate) seq: u64,
}

impl Ord for InternalKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key
            .cmp(&other.key)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

impl PartialOrd for InternalKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

pub(crate) struct MemTable {
    map: SkipMap<InternalKey, Option<Vec<u8>>>,
    bytes: AtomicUsize,
    /// The commit-log segment holding this memtable's writes.
    log_id: u64,
}

impl MemTable {
    pub(crate) fn new(log_id: u64) -> MemTable {
        MemTable {
            map: SkipMap::new(),
            bytes: AtomicUsize::new(0),
            log_id,
        }
    }

    pub(crate) fn log_id(&self) -> u64 {
        self.log_id
    }

    pub(crate) fn approximate_bytes(&self) -> usize {
        self.bytes.load(AtomicOrdering::Relaxed)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub(crate) fn insert(&self, key: Vec<u8>, seq: u64, value: Option<Vec<u8>>) {
        debug_assert!(seq >= 1);
        let size = key.len() + value.as_ref().map_or(0, Vec::len) + ENTRY_OVERHEAD;
        self.bytes.fetch_add(size, AtomicOrdering::Relaxed);
        self.map.insert(InternalKey { key, seq }, value);
    }

    /// The newest version of `key` at or below `seq`: `Some(None)` is a tombstone.
    pub(crate) fn get(&self, key: &[u8], seq: u64) -> Option<Option<Vec<u8>>> {
        let probe = InternalKey {
            key: key.to_vec(),
            seq,
        };
        let entry = self.map.lower_bound(Bound::Included(&probe))?;
        (entry.key().key == key).then(|| entry.value().clone())
    }

    /// Up to `limit` newest-visible versions of distinct keys after `from`, below `to`.
    /// Iterators call it repeatedly, resuming after the last key, so they own no borrow of the
    /// map and hold at most `limit` entries.
    pub(crate) fn read_chunk(
        &self,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
        seq: u64,
        limit: usize,
        out: &mut Vec<(Vec<u8>, Option<Vec<u8>>)>,
    ) {
        let start = match from {
            Bound::Included(k) => Bound::Included(InternalKey {
                key: k.to_vec(),
                seq: u64::MAX,
            }),
            // seq 0 sorts after every real version of `k`.
            Bound::Excluded(k) => Bound::Excluded(InternalKey {
                key: k.to_vec(),
                seq: 0,
            }),
            Bound::Unbounded => Bound::Unbounded,
        };
        let mut entry = match &start {
            Bound::Unbounded => self.map.front(),
            Bound::Included(k) => self.map.lower_bound(Bound::Included(k)),
            Bound::Excluded(k) => self.map.lower_bound(Bound::Excluded(k)),
        };
        while let Some(e) = entry {
            let ik = e.key();
            let past_end = match to {
                Bound::Included(end) => ik.key.as_slice() > end,
                Bound::Excluded(end) => ik.key.as_slice() >= end,
                Bound::Unbounded => false,
            };
            if past_end {
                break;
            }
            // Versions of a key are adjacent, newest first: the first visible one is pushed.
            let seen = out.last().is_some_and(|(k, _)| *k == ik.key);
            if ik.seq <= seq && !seen {
                out.push((ik.key.clone(), e.value().clone()));
                if out.len() >= limit {
                    break;
                }
            }
            entry = e.next();
        }
    }

    /// Every key's newest version, in key order: what a flush writes.
    pub(crate) fn for_each_newest(
        &self,
        mut f: impl FnMut(&[u8], Option<&[u8]>) -> crate::Result<()>,
    ) -> crate::Result<()> {
        let mut prev: Option<Vec<u8>> = None;
        for e in self.map.iter() {
            let ik = e.key();
            if prev.as_deref() == Some(&ik.key[..]) {
                continue;
            }
            f(&ik.key, e.value().as_deref())?;
            prev = Some(ik.key.clone());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_visible_version_wins() {
        let m = MemTable::new(1);
        m.insert(b"a".to_vec(), 1, Some(b"1".to_vec()));
        m.insert(b"a".to_vec(), 3, None);
        m.insert(b"b".to_vec(), 2, Some(b"2".to_vec()));
        assert_eq!(m.get(b"a", 2), Some(Some(b"1".to_vec())));
        assert_eq!(m.get(b"a", 3), Some(None));
        assert_eq!(m.get(b"b", 1), None);
        assert_eq!(m.get(b"c", 9), None);
        let mut out = Vec::new();
        m.read_chunk(Bound::Unbounded, Bound::Unbounded, 2, 10, &mut out);
        assert_eq!(
            out,
            vec![
                (b"a".to_vec(), Some(b"1".to_vec())),
                (b"b".to_vec(), Some(b"2".to_vec()))
            ]
        );
        out.clear();
        m.read_chunk(Bound::Excluded(b"a"), Bound::Unbounded, 9, 10, &mut out);
        assert_eq!(out, vec![(b"b".to_vec(), Some(b"2".to_vec()))]);
        out.clear();
        m.read_chunk(Bound::Unbounded, Bound::Excluded(b"b"), 9, 10, &mut out);
        assert_eq!(out, vec![(b"a".to_vec(), None)]);
    }
}
