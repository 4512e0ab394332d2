//! Anti-entropy: Merkle trees kept current on every write, compared in the background with the
//! other replicas, and the differences merged both ways; and the only safe path for tombstone
//! collection.
//!
//! - [`tree`] (pure): fixed cells of the hash space, the region two members share, the tree of
//!   a region, the comparison.
//! - here: [`Digests`], the side records every write updates in its storage batch (through
//!   [`crate::replica::SideRecords`]): the key index, the tombstone index and the in-memory
//!   cell digests.
//! - [`exchange`]: the worker (roots, differing branches, bucket listings, confirmation,
//!   rate-limited repair, tombstone collection) and the answers to a peer's exchange.
//!
//! **Ranges.** A node exchanges with each peer the keys both replicate: the [`tree::Region`] of
//! the pair in the read ring (every key whose preference list holds both). Trees are derived
//! from fixed cells at exchange time, so a ring change or a bucket-count change needs no
//! rebuild: the next exchange uses the new region and leaf count over the same cells.
//!
//! Storage layout (beside user data under `d/`), written in the key's own batch:
//! ```text
//! a/ <token: u64 BE> <key>  ->  digest: u64 BE     keys holding data (live or expired)
//! t/ <dead since: u64 BE ms> <key>  ->  (empty)    keys holding only tombstones
//! ```
//! Invariants:
//! - `digest(set)` is xxh3-64 of the set's canonical encoding (never 0) when the set holds a
//!   data version, and 0 (no index entry) when it holds only tombstones: a tombstone and no
//!   copy at all compare equal, a tombstone and a live value do not, so a delete still spreads
//!   to a replica holding the old value, and a collected tombstone never looks missing.
//! - cell `c` is the XOR of the `a/` digests of tokens in `c`; rebuilt from `a/` at open
//!   (one scan of the index: no set is decoded), updated in O(1) per write.
//! - A tombstone-only set is dropped only by [`exchange`]'s collector, through the commit path,
//!   once every replica of every range this node shares was seen equal by an exchange that
//!   started `tombstone_grace_ms` after the deletion (the compaction filter keeps them).

pub mod exchange;
pub mod tree;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use ringkv_ring::key_token;
use ringkv_storage::{Db, WriteBatch};
use ringkv_versions::{Value, VersionSet};

use crate::replica::SideRecords;

/// `RINGKV_ANTI_ENTROPY_OFF` set: the node keeps no digests and starts no exchange worker. A
/// measurement switch for the write-cost figure (`scripts/ae-cost.sh`), not a setting: such a
/// node neither repairs nor collects tombstones, and its peers see it as empty.
pub fn off_for_measurement() -> bool {
    std::env::var_os("RINGKV_ANTI_ENTROPY_OFF").is_some()
}

/// The storage key prefix of the key index.
pub const INDEX_PREFIX: &[u8] = b"a/";
/// The storage key prefix of the tombstone index.
pub const TOMB_PREFIX: &[u8] = b"t/";

/// `a/<token><key>`.
pub fn index_key(token: u64, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(INDEX_PREFIX.len() + 8 + key.len());
    k.extend_from_slice(INDEX_PREFIX);
    k.extend_from_slice(&token.to_be_bytes());
    k.extend_from_slice(key.as_bytes());
    k
}

/// `t/<dead since><key>`.
pub fn tomb_key(dead_since_ms: u64, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(TOMB_PREFIX.len() + 8 + key.len());
    k.extend_from_slice(TOMB_PREFIX);
    k.extend_from_slice(&dead_since_ms.to_be_bytes());
    k.extend_from_slice(key.as_bytes());
    k
}

/// Splits `prefix <u64 BE> <key>`; `None` for a malformed entry.
pub fn split_key(prefix: &[u8], stored: &[u8]) -> Option<(u64, String)> {
    let rest = stored.strip_prefix(prefix)?;
    if rest.len() < 8 {
        return None;
    }
    let (n, key) = rest.split_at(8);
    let n = u64::from_be_bytes(n.try_into().ok()?);
    Some((n, std::str::from_utf8(key).ok()?.to_string()))
}

/// An index entry's digest; `None` when malformed.
pub fn parse_digest(value: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(value.try_into().ok()?))
}

/// What a stored set contributes to the side records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Summary {
    /// 0: no data version (no index entry).
    digest: u64,
    /// Only tombstones: when the latest was written.
    tomb: Option<u64>,
}

fn summarize(bytes: Option<&[u8]>) -> Summary {
    let Some(bytes) = bytes else {
        return Summary::default();
    };
    let digest = xxhash_rust::xxh3::xxh3_64(bytes).max(1);
    match scan(bytes) {
        Some((true, _)) => return Summary { digest, tomb: None },
        Some((false, tomb)) => return Summary { digest: 0, tomb },
        None => {}
    }
    match VersionSet::decode(bytes) {
        // Undecodable: kept as data, so that it is listed and an operator sees it.
        Err(_) => Summary { digest, tomb: None },
        Ok(set)
            if set
                .versions()
                .iter()
                .any(|v| matches!(v.value, Value::Data(_))) =>
        {
            Summary { digest, tomb: None }
        }
        Ok(set) => Summary {
            digest: 0,
            tomb: set.versions().iter().map(|v| v.written_at_ms).max(),
        },
    }
}

/// What [`summarize`] needs of a stored set, read straight off its canonical encoding (see
/// `ringkv_versions`' `encoding.rs`: format byte 1 or 2, the clock, then each version's node index,
/// counter, `written_at_ms`, flags, expiry and data) without building the set. Hand-written
/// because the crate's decoder validates every invariant and copies every value into a new
/// set, twice per write here (both sides), for two facts read off the flags.
/// Returns whether a data version is present, and the latest tombstone's time; `None` on
/// anything unexpected (the caller then decodes in full).
fn scan(bytes: &[u8]) -> Option<(bool, Option<u64>)> {
    fn byte(b: &[u8], pos: &mut usize) -> Option<u8> {
        let v = *b.get(*pos)?;
        *pos += 1;
        Some(v)
    }
    fn varint(b: &[u8], pos: &mut usize) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let x = byte(b, pos)?;
            v |= u64::from(x & 0x7f) << shift;
            if x & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    fn skip(b: &[u8], pos: &mut usize) -> Option<()> {
        let len = usize::try_from(varint(b, pos)?).ok()?;
        *pos = pos.checked_add(len).filter(|end| *end <= b.len())?;
        Some(())
    }
    let mut pos = 0;
    // Format 2 is format 1's bytes followed by past values and receipts, which the summary
    // does not need (only the current versions say data or tombstones).
    let past = match byte(bytes, &mut pos)? {
        1 => false,
        2 => true,
        _ => return None,
    };
    for _ in 0..varint(bytes, &mut pos)? {
        skip(bytes, &mut pos)?;
        varint(bytes, &mut pos)?;
        varint(bytes, &mut pos)?;
    }
    let (mut data, mut tomb) = (false, None::<u64>);
    for _ in 0..varint(bytes, &mut pos)? {
        varint(bytes, &mut pos)?;
        varint(bytes, &mut pos)?;
        let written = varint(bytes, &mut pos)?;
        let flags = byte(bytes, &mut pos)?;
        if flags & 0b10 != 0 {
            varint(bytes, &mut pos)?;
        }
        if flags & 0b01 == 0 {
            data = true;
            skip(bytes, &mut pos)?;
        } else {
            tomb = Some(tomb.map_or(written, |t| t.max(written)));
        }
    }
    if past {
        // Past values (id, counter, then a body as a sibling's), then receipts (token,
        // fingerprint, time, outcome): skipped, so that a cut anywhere is still noticed.
        for _ in 0..varint(bytes, &mut pos)? {
            skip(bytes, &mut pos)?;
            varint(bytes, &mut pos)?;
            varint(bytes, &mut pos)?;
            let flags = byte(bytes, &mut pos)?;
            if flags & 0b10 != 0 {
                varint(bytes, &mut pos)?;
            }
            if flags & 0b01 == 0 {
                skip(bytes, &mut pos)?;
            }
        }
        for _ in 0..varint(bytes, &mut pos)? {
            skip(bytes, &mut pos)?;
            varint(bytes, &mut pos)?;
            varint(bytes, &mut pos)?;
            skip(bytes, &mut pos)?;
        }
    }
    (pos == bytes.len()).then_some((data, tomb))
}

/// The digest a stored set contributes (0: tombstones only).
pub fn digest_of(bytes: &[u8]) -> u64 {
    summarize(Some(bytes)).digest
}

/// The side records of anti-entropy (see the module docs). Shared as `Arc<Digests>`.
pub struct Digests {
    /// One XOR digest per cell. Atomics: writers of different keys update cells without a
    /// lock (`fetch_xor` commutes, so concurrent updates of one cell never lose each other).
    cells: Vec<AtomicU64>,
    /// The engine, for the rare lookup of an index entry whose set the compaction filter
    /// dropped (an expired value): set once the replica owns the engine. Weak: the replica
    /// holds these records, and a strong handle would keep the engine from being closed.
    db: OnceLock<Weak<Db>>,
    /// Keys in the index when opened.
    indexed_at_open: u64,
    rebuild_time: Duration,
}

impl Digests {
    /// Rebuilds the cell digests from the key index.
    pub fn open(db: &Db) -> Result<Digests, ringkv_storage::Error> {
        let started = Instant::now();
        let cells: Vec<AtomicU64> = (0..tree::CELLS).map(|_| AtomicU64::new(0)).collect();
        let mut n = 0;
        for entry in db.scan_prefix(INDEX_PREFIX)? {
            let (k, v) = entry?;
            let (Some((token, _)), Some(d)) = (split_key(INDEX_PREFIX, &k), parse_digest(&v))
            else {
                continue;
            };
            cells[tree::cell_of(token)].fetch_xor(d, Ordering::Relaxed);
            n += 1;
        }
        Ok(Digests {
            cells,
            db: OnceLock::new(),
            indexed_at_open: n,
            rebuild_time: started.elapsed(),
        })
    }

    /// Hands over the engine the replica owns (for [`SideRecords::stage`]'s lookups).
    pub fn attach(&self, db: &Arc<Db>) {
        let _ = self.db.set(Arc::downgrade(db));
    }

    /// The digest of cell `c` now.
    pub fn cell(&self, c: usize) -> u64 {
        self.cells[c].load(Ordering::Relaxed)
    }

    /// Keys indexed at open and how long the rebuild took.
    pub fn opened(&self) -> (u64, Duration) {
        (self.indexed_at_open, self.rebuild_time)
    }
}

impl SideRecords for Digests {
    /// Updates the index entries and, at once, the cell digest (the XOR of the old digest out
    /// and the new one in). The cell is updated here rather than in `committed` so the set is
    /// decoded once per side: if the batch then fails to be written, the cell is off until the
    /// next open, which costs at most one bucket listing per exchange (listings come from the
    /// index, which the failed batch left consistent).
    fn stage(
        &self,
        key: &str,
        before: Option<&[u8]>,
        after: Option<&[u8]>,
        batch: &mut WriteBatch,
    ) {
        let token = key_token(key.as_bytes());
        let mut old = summarize(before);
        let new = summarize(after);
        let ikey = index_key(token, key);
        if before.is_none() {
            // An expired value dropped by compaction keeps its index entry: take it out too.
            if let Some(Ok(Some(v))) = self
                .db
                .get()
                .and_then(Weak::upgrade)
                .map(|db| db.get(&ikey))
            {
                old.digest = parse_digest(&v).unwrap_or(0);
            }
        }
        if new.digest != 0 {
            batch.put(&ikey, &new.digest.to_be_bytes());
        } else if old.digest != 0 {
            batch.delete(&ikey);
        }
        if old.tomb != new.tomb {
            if let Some(t) = old.tomb {
                batch.delete(&tomb_key(t, key));
            }
            if let Some(t) = new.tomb {
                batch.put(&tomb_key(t, key), b"");
            }
        }
        let delta = old.digest ^ new.digest;
        if delta != 0 {
            self.cells[tree::cell_of(token)].fetch_xor(delta, Ordering::Relaxed);
        }
    }

    fn committed(&self, _key: &str, _before: Option<&[u8]>, _after: Option<&[u8]>) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replica::Replica;
    use ringkv_versions::{Context, Limits};

    const ROOMY: Limits = Limits::caps(100, 100);

    fn open(dir: &std::path::Path) -> (Replica, Arc<Digests>) {
        let db = Db::open(dir, ringkv_storage::Options::default()).unwrap();
        let digests = Arc::new(Digests::open(&db).unwrap());
        let side: Arc<dyn SideRecords> = digests.clone();
        let replica = Replica::with_side_records(db, vec![side]).unwrap();
        digests.attach(replica.db());
        (replica, digests)
    }

    fn all_cells(d: &Digests) -> Vec<u64> {
        (0..tree::CELLS).map(|c| d.cell(c)).collect()
    }

    #[tokio::test]
    async fn cells_follow_every_write_and_are_rebuilt_equal_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let (replica, digests) = open(dir.path());
        for i in 0..200 {
            let v = Value::Data(format!("v{i}").into_bytes());
            replica
                .update(&format!("k{i}"), None, v, None, "a", ROOMY)
                .await
                .unwrap();
        }
        for i in 0..50 {
            let key = format!("k{i}");
            replica
                .update(&key, None, Value::Tombstone, None, "a", ROOMY)
                .await
                .unwrap();
        }
        // Another replica holding the same sets, received by merges, has the same cells.
        let other_dir = tempfile::tempdir().unwrap();
        let (other, other_digests) = open(other_dir.path());
        let sets = replica.scan("", None, 1000).await.unwrap();
        other.merge_many(sets, ROOMY).await.unwrap();
        assert_eq!(all_cells(&digests), all_cells(&other_digests));
        let before = all_cells(&digests);
        drop(digests);
        assert!(replica.close().await.unwrap());
        let (replica, reopened) = open(dir.path());
        assert_eq!(
            reopened.opened().0,
            150,
            "tombstone-only keys are not indexed"
        );
        assert_eq!(all_cells(&reopened), before);
        // The tombstones are in the tombstone index, oldest first.
        let tombs: Vec<_> = replica
            .db()
            .scan_prefix(TOMB_PREFIX)
            .unwrap()
            .map(|e| e.unwrap())
            .collect();
        assert_eq!(tombs.len(), 50);
    }

    #[test]
    fn the_scan_reads_what_a_full_decode_reads() {
        let mut sets = vec![VersionSet::new()];
        let mut set = VersionSet::new();
        for i in 0..40u64 {
            let value = match i % 3 {
                0 => Value::Tombstone,
                _ => Value::Data(vec![b'x'; (i * 7) as usize]),
            };
            let ctx = if i % 4 == 0 {
                set.context()
            } else {
                Context::default()
            };
            set.update(
                &ctx,
                value,
                (i % 5 == 0).then_some(1 << (i + 3)),
                &format!("n{}", i % 6),
                1 << i,
            );
            if i % 7 == 0 {
                set.record(ringkv_versions::Receipt {
                    token: format!("tok{i}"),
                    fingerprint: i,
                    recorded_at_ms: 1 << i,
                    outcome: vec![b'o'; i as usize],
                });
            }
            sets.push(set.clone());
            let mut only = VersionSet::new();
            only.update(&Context::default(), Value::Tombstone, None, "t", 1 << i);
            only.update(&Context::default(), Value::Tombstone, None, "u", i);
            sets.push(only);
        }
        // Format 2 (past values, receipts) is scanned too, not left to the full decode.
        assert!(sets.iter().any(|s| !s.history().is_empty()));
        assert!(sets.iter().any(|s| !s.receipts().is_empty()));
        for set in sets {
            let bytes = set.encode();
            let decoded = VersionSet::decode(&bytes).unwrap();
            let data = decoded
                .versions()
                .iter()
                .any(|v| matches!(v.value, Value::Data(_)));
            let tomb = decoded
                .versions()
                .iter()
                .filter(|v| v.value == Value::Tombstone)
                .map(|v| v.written_at_ms)
                .max();
            assert_eq!(scan(&bytes), Some((data, tomb)));
            for cut in 0..bytes.len() {
                assert_eq!(scan(&bytes[..cut]), None, "cut at {cut}");
            }
        }
    }

    #[test]
    fn a_tombstone_digests_like_no_copy_and_unlike_a_value() {
        let mut set = VersionSet::new();
        set.update(
            &Context::default(),
            Value::Data(b"x".to_vec()),
            None,
            "a",
            1,
        );
        assert_ne!(digest_of(&set.encode()), 0);
        set.update(&set.context(), Value::Tombstone, None, "a", 2);
        assert_eq!(digest_of(&set.encode()), 0);
        assert_eq!(summarize(Some(&set.encode())).tomb, Some(2));
    }
}
