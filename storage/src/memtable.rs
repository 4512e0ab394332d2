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

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::hash::Hasher;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering as AtomicOrdering};

use crossbeam_skiplist::SkipMap;

/// Bookkeeping per entry in the skiplist (node, sequence number, vectors), for the size budget.
const ENTRY_OVERHEAD: usize = 80;

/// A user key at one sequence number, with the key's first 8 bytes inline.
///
/// The skiplist compares keys on every step of a search; the inline big-endian `prefix` (zero
/// padded) decides most comparisons without dereferencing the key's heap buffer, which is the
/// cache miss that dominates memtable reads and inserts. Equal prefixes fall back to the full
/// key, so the order is exactly (key ascending, seq descending).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InternalKey {
    prefix: u64,
    key: Vec<u8>,
    seq: u64,
}

fn prefix_of(key: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    let n = key.len().min(8);
    bytes[..n].copy_from_slice(&key[..n]);
    u64::from_be_bytes(bytes)
}

impl InternalKey {
    pub(crate) fn new(key: Vec<u8>, seq: u64) -> Self {
        InternalKey {
            prefix: prefix_of(&key),
            key,
            seq,
        }
    }
}

/// Lets the skiplist be searched with a borrowed [`Probe`] instead of an allocated
/// [`InternalKey`] (`SkipMap` lookups take any `Q` the key type borrows as).
pub(crate) trait Lookup {
    fn parts(&self) -> (u64, &[u8], u64);
}

impl Lookup for InternalKey {
    fn parts(&self) -> (u64, &[u8], u64) {
        (self.prefix, &self.key, self.seq)
    }
}

/// A lookup key borrowing the caller's bytes.
struct Probe<'a> {
    prefix: u64,
    key: &'a [u8],
    seq: u64,
}

impl<'a> Probe<'a> {
    fn new(key: &'a [u8], seq: u64) -> Self {
        Probe {
            prefix: prefix_of(key),
            key,
            seq,
        }
    }
}

impl Lookup for Probe<'_> {
    fn parts(&self) -> (u64, &[u8], u64) {
        (self.prefix, self.key, self.seq)
    }
}

fn compare(a: (u64, &[u8], u64), b: (u64, &[u8], u64)) -> Ordering {
    a.0.cmp(&b.0)
        .then_with(|| a.1.cmp(b.1))
        .then_with(|| b.2.cmp(&a.2))
}

impl<'a> Borrow<dyn Lookup + 'a> for InternalKey {
    fn borrow(&self) -> &(dyn Lookup + 'a) {
        self
    }
}

impl PartialEq for dyn Lookup + '_ {
    fn eq(&self, other: &Self) -> bool {
        compare(self.parts(), other.parts()) == Ordering::Equal
    }
}

impl Eq for dyn Lookup + '_ {}

impl PartialOrd for dyn Lookup + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for dyn Lookup + '_ {
    fn cmp(&self, other: &Self) -> Ordering {
        compare(self.parts(), other.parts())
    }
}

impl Ord for InternalKey {
    fn cmp(&self, other: &Self) -> Ordering {
        compare(self.parts(), other.parts())
    }
}

impl PartialOrd for InternalKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Bits of key filter per entry the memtable budget could hold at 64 bytes per entry.
const FILTER_BITS_PER_ENTRY: usize = 10;
/// Probes per key in the key filter, all within one 512-bit block (one cache line).
const FILTER_PROBES: u64 = 6;

/// A concurrent blocked bloom filter over the keys of one memtable, so point lookups of keys
/// the memtable does not hold (most lookups, once data lives in tables) skip the skiplist
/// search and its ~log2(n) cache misses. Bits are set before the entry is inserted, and the
/// leader publishes the entry's sequence number with `Release` afterwards, so a reader whose
/// snapshot includes an entry also sees its bits: no false negatives.
struct KeyFilter {
    blocks: Box<[[AtomicU64; 8]]>,
}

impl KeyFilter {
    fn new(budget_bytes: usize) -> KeyFilter {
        let bits = (budget_bytes / 64).saturating_mul(FILTER_BITS_PER_ENTRY);
        let blocks = (bits / 512).clamp(8, 1 << 22);
        KeyFilter {
            blocks: (0..blocks).map(|_| Default::default()).collect(),
        }
    }

    /// The block and the `(word, mask)` probes for `key`.
    fn probes(&self, key: &[u8]) -> (&[AtomicU64; 8], impl Iterator<Item = (usize, u64)>) {
        let mut hasher = std::hash::DefaultHasher::new();
        hasher.write(key);
        let h = hasher.finish();
        let block = &self.blocks[((h >> 32) % self.blocks.len() as u64) as usize];
        let (h1, h2) = (h & 0xffff_ffff, (h >> 32) | 1);
        let probes = (0..FILTER_PROBES).map(move |i| {
            let bit = h1.wrapping_add(i.wrapping_mul(h2)) % 512;
            ((bit / 64) as usize, 1u64 << (bit % 64))
        });
        (block, probes)
    }

    fn insert(&self, key: &[u8]) {
        let (block, probes) = self.probes(key);
        for (word, mask) in probes {
            block[word].fetch_or(mask, AtomicOrdering::Relaxed);
        }
    }

    fn may_contain(&self, key: &[u8]) -> bool {
        let (block, mut probes) = self.probes(key);
        probes.all(|(word, mask)| block[word].load(AtomicOrdering::Relaxed) & mask != 0)
    }
}

pub(crate) struct MemTable {
    map: SkipMap<InternalKey, Option<Vec<u8>>>,
    filter: KeyFilter,
    bytes: AtomicUsize,
    /// The commit-log segment holding this memtable's writes.
    log_id: u64,
}

impl MemTable {
    /// A memtable for segment `log_id`, sized for a budget of `budget_bytes`.
    pub(crate) fn new(log_id: u64, budget_bytes: usize) -> MemTable {
        MemTable {
            map: SkipMap::new(),
            filter: KeyFilter::new(budget_bytes),
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
        self.filter.insert(&key);
        self.map.insert(InternalKey::new(key, seq), value);
    }

    /// The newest version of `key` at or below `seq`: `Some(None)` is a tombstone.
    pub(crate) fn get(&self, key: &[u8], seq: u64) -> Option<Option<Vec<u8>>> {
        if !self.filter.may_contain(key) {
            return None;
        }
        let probe = Probe::new(key, seq);
        let entry = self
            .map
            .lower_bound(Bound::Included(&probe as &dyn Lookup))?;
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
        let mut entry = match from {
            Bound::Unbounded => self.map.front(),
            Bound::Included(k) => {
                let probe = Probe::new(k, u64::MAX);
                self.map.lower_bound(Bound::Included(&probe as &dyn Lookup))
            }
            // seq 0 sorts after every real version of `k`.
            Bound::Excluded(k) => {
                let probe = Probe::new(k, 0);
                self.map.lower_bound(Bound::Excluded(&probe as &dyn Lookup))
            }
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
    fn key_filter_has_no_false_negatives() {
        let f = KeyFilter::new(64 << 10);
        for i in 0..1000u32 {
            f.insert(&i.to_be_bytes());
        }
        assert!((0..1000u32).all(|i| f.may_contain(&i.to_be_bytes())));
        let fps = (1000..11000u32)
            .filter(|i| f.may_contain(&i.to_be_bytes()))
            .count();
        assert!(fps < 500, "{fps} false positives in 10000");
    }

    #[test]
    fn inline_prefix_keeps_lexicographic_order() {
        let keys: [&[u8]; 9] = [
            b"",
            b"\0",
            b"\0\0",
            b"a",
            b"a\0",
            b"a\0\0\0\0\0\0\0\0",
            b"abcdefgh",
            b"abcdefgh\0",
            b"abcdefgi",
        ];
        for a in keys {
            for b in keys {
                let (ia, ib) = (
                    InternalKey::new(a.to_vec(), 5),
                    InternalKey::new(b.to_vec(), 5),
                );
                assert_eq!(ia.cmp(&ib), a.cmp(b), "{a:?} vs {b:?}");
            }
        }
        let older = InternalKey::new(b"k".to_vec(), 1);
        let newer = InternalKey::new(b"k".to_vec(), 2);
        assert!(newer < older);
    }

    #[test]
    fn newest_visible_version_wins() {
        let m = MemTable::new(1, 4096);
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
