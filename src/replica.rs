//! The local replica: this node's copy of the version sets of the keys it holds.
//!
//! Invariants:
//! - Every change to a key is an atomic read-merge-write: a striped lock (chosen by the key's
//!   hash) is held around `get` + merge/update + `put`, so two requests for the same key on this
//!   node never lose each other's versions. Different keys mostly take different stripes. The
//!   stripes are async locks, so requests queued behind a hot key wait as futures, not as
//!   parked threads.
//! - Every change goes through one commit path ([`Replica::commit`]): the key's set and the
//!   side records kept in step with it ([`SideRecords`]: Merkle buckets, history...) are
//!   written in one storage batch, under the key's lock.
//! - New dots are minted only here (`update`), under that lock, from the stored set: this node's
//!   counter in the stored clock only grows, so no two writes get the same dot.
//! - Storage is synchronous. Changes read the key and stage their batch on the calling
//!   thread (reads never wait on an fsync: only on the memtable, or on table blocks the page
//!   cache usually holds), then hand the batch to the engine's commit thread
//!   ([`Db::write_batch_then`]) and wait for it as a future, holding the key's lock: no thread
//!   is parked on the fsync, and the changes of concurrent requests share one group commit.
//!   (Before, every change ran on a blocking thread: a hop there and back, and a parked thread
//!   per write in the group-commit queue; the put profile spent most of its time switching.)
//!   Scans, which may read many table blocks, still run in `spawn_blocking`.
//! - User data lives under the storage key prefix `d/` (see [`data_key`]) so that later
//!   features (hints, Merkle state) can keep their own prefixes in the same engine.
//! - Each stored set is pruned with the current `versioning` limits; a compaction filter drops
//!   sets that `can_collect` (expired or deleted longer than the tombstone grace).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::ops::Bound;
use std::sync::Arc;

use ringkv_storage::{CompactionFilter, Db, FilterDecision, WriteBatch};
use ringkv_versions::{Context, Limits, Receipt, Value, VersionSet};

use crate::handoff::hints::{self, Hint};
use crate::handoff::{DropReason, HintBook, HintCaps};

/// The storage key prefix of user data.
pub const DATA_PREFIX: &[u8] = b"d/";
const STRIPES: usize = 1024;

/// What can go wrong applying a change locally.
#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    #[error("storage: {0}")]
    Storage(#[from] ringkv_storage::Error),
    #[error("stored version set of `{key}` is corrupt: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("storage task failed: {0}")]
    Task(String),
}

/// The storage key holding `key`'s version set.
pub fn data_key(key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(DATA_PREFIX.len() + key.len());
    k.extend_from_slice(DATA_PREFIX);
    k.extend_from_slice(key.as_bytes());
    k
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The result of a local update: the set before and after.
pub struct Updated {
    /// The copy before the update had a live value (at the time of the update).
    pub prior_live: bool,
    /// The copy before the update had seen every version the update's context covers: its
    /// `prior_live` speaks for what the writer saw. `false` when this replica is behind the
    /// writer (it missed a write the writer read).
    pub prior_saw_context: bool,
    pub set: VersionSet,
    /// `set` as stored, encoded once and shared with the replicas it is shipped to.
    pub encoded: Arc<Vec<u8>>,
    /// The stored receipt of the update's idempotency token, when the set already held one:
    /// nothing was written (`set` is the stored set), the caller answers from the receipt.
    pub replayed: Option<Receipt>,
}

/// A page of [`Replica::scan_moving`].
#[derive(Debug, Default)]
pub struct ScanPage {
    pub entries: Vec<(String, Vec<u8>)>,
    pub cursor: Option<String>,
    pub done: bool,
}

/// The result of merging a set received from another replica.
pub struct Merged {
    /// The stored set after the merge.
    pub set: VersionSet,
    /// The copy before the merge had a live value.
    pub prior_live: bool,
    /// Every version of the copy before the merge was covered by the incoming set's clock:
    /// the incoming set descends from all this replica held (nothing here was unseen).
    pub covered: bool,
}

/// Records kept in step with the keys' sets, written in the same storage batch as the set.
///
/// Both calls happen under the key's lock, `stage` before the batch is written (add the
/// side records' puts and deletes to it), `committed` after it was (update in-memory state).
/// `before` and `after` are the stored encodings (`None`: absent).
pub trait SideRecords: Send + Sync {
    fn stage(&self, key: &str, before: Option<&[u8]>, after: Option<&[u8]>, batch: &mut WriteBatch);
    fn committed(&self, key: &str, before: Option<&[u8]>, after: Option<&[u8]>);
}

/// A change handed to the storage engine: [`Committing::wait`] returns when it is durable and
/// visible (at once when there was nothing to write). Dropping it leaves the commit going.
pub struct Committing(Option<tokio::sync::oneshot::Receiver<ringkv_storage::Result<()>>>);

impl Committing {
    pub async fn wait(self) -> Result<(), ReplicaError> {
        let Some(outcome) = self.0 else {
            return Ok(());
        };
        outcome
            .await
            .map_err(|_| ReplicaError::Task("the storage engine dropped a write".into()))?
            .map_err(ReplicaError::from)
    }
}

/// Held stripe locks (see [`Replica::lock_keys`]).
type Locked = Vec<tokio::sync::OwnedMutexGuard<()>>;

/// One key's change: its stored encoding before and after.
struct Change {
    key: String,
    before: Option<Vec<u8>>,
    after: Option<Vec<u8>>,
}

/// This node's replica store. Cheap to clone (shared state behind `Arc`s).
#[derive(Clone)]
pub struct Replica {
    db: Arc<Db>,
    stripes: Arc<Vec<Arc<tokio::sync::Mutex<()>>>>,
    hasher: std::hash::BuildHasherDefault<std::hash::DefaultHasher>,
    side: Arc<Vec<Arc<dyn SideRecords>>>,
    floor: Arc<DotFloor>,
    hints: Arc<HintBook>,
}

/// The storage key of the persisted dot-counter ceiling.
const DOT_CEILING_KEY: &[u8] = b"n/dot-ceiling";
/// Counters handed out between two persisted ceilings.
const DOT_LEASE: u64 = 1 << 20;
/// 2025-01-01 in ms since the Unix epoch: the wall-clock floor counts from here.
const FLOOR_EPOCH_MS: u64 = 1_735_689_600_000;

/// The floor of every dot counter this node mints: one counter per node, above every counter
/// it ever minted, for any key, in any run.
///
/// A new dot must be above every counter this node ever minted for its key. The stored copy's
/// clock says so only if the copy holds every dot minted: not for a key whose copy was
/// collected, dropped, pruned or lost with the disk, nor after a crash took back a write that
/// other replicas already hold (a coordinator ships a write while its own commit is still in
/// flight, see `coordinator::write`). So every dot takes the node's next counter. Two guards
/// keep it above everything minted before: a ceiling persisted in the engine before any
/// counter past it is used (restarts, clock steps back), and at open a wall-clock floor,
/// `(now - 2025) << 10` ms (a wiped data dir forgot the ceiling; 1024 new dots per ms before
/// the counter runs ahead of the clock, harmlessly).
struct DotFloor {
    next: std::sync::atomic::AtomicU64,
    ceiling: std::sync::atomic::AtomicU64,
    /// Held while a raised ceiling is written: one raise at a time.
    raising: tokio::sync::Mutex<()>,
}

impl DotFloor {
    fn open(db: &Db) -> Result<DotFloor, ReplicaError> {
        let persisted = match db.get(DOT_CEILING_KEY)? {
            Some(b) if b.len() == 8 => u64::from_be_bytes(b.try_into().unwrap_or([0; 8])),
            _ => 0,
        };
        let wall = now_ms().saturating_sub(FLOOR_EPOCH_MS) << 10;
        let start = persisted.max(wall).max(1);
        Ok(DotFloor {
            next: std::sync::atomic::AtomicU64::new(start),
            ceiling: std::sync::atomic::AtomicU64::new(persisted),
            raising: tokio::sync::Mutex::new(()),
        })
    }

    fn below_ceiling(&self, counter: u64) -> bool {
        counter < self.ceiling.load(std::sync::atomic::Ordering::Acquire)
    }

    /// A counter never handed out before, by this node in any run: when it reaches the
    /// persisted ceiling, a raised one is durable before the counter is returned.
    async fn next(&self, replica: &Replica) -> Result<u64, ReplicaError> {
        let counter = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if self.below_ceiling(counter) {
            return Ok(counter);
        }
        let _raising = self.raising.lock().await;
        if self.below_ceiling(counter) {
            return Ok(counter);
        }
        let raised = counter + DOT_LEASE;
        let mut batch = WriteBatch::new();
        batch.put(DOT_CEILING_KEY, &raised.to_be_bytes());
        replica
            .write_locked(batch, Vec::new(), || {})
            .wait()
            .await?;
        self.ceiling
            .fetch_max(raised, std::sync::atomic::Ordering::AcqRel);
        Ok(counter)
    }
}

impl Replica {
    pub fn new(db: Db) -> Result<Replica, ReplicaError> {
        Replica::with_side_records(db, Vec::new())
    }

    /// A replica whose every change also updates `side`'s records, in the same batch.
    pub fn with_side_records(
        db: Db,
        side: Vec<Arc<dyn SideRecords>>,
    ) -> Result<Replica, ReplicaError> {
        let db = Arc::new(db);
        let hints = HintBook::default();
        for entry in db.scan_prefix(hints::HINT_PREFIX)? {
            let (k, v) = entry?;
            if let Ok((target, _)) = hints::split_key(&k) {
                hints.found(&target, v.len() as u64);
            }
        }
        Ok(Replica {
            hints: Arc::new(hints),
            floor: Arc::new(DotFloor::open(&db)?),
            db,
            stripes: Arc::new(
                (0..STRIPES)
                    .map(|_| Arc::new(tokio::sync::Mutex::new(())))
                    .collect(),
            ),
            hasher: Default::default(),
            side: Arc::new(side),
        })
    }

    /// The storage engine (for side records that keep their own prefixes in it).
    pub fn db(&self) -> &Arc<Db> {
        &self.db
    }

    fn stripe_index(&self, key: &str) -> usize {
        let mut h = self.hasher.build_hasher();
        h.write(key.as_bytes());
        (h.finish() as usize) % STRIPES
    }

    async fn blocking<T, F>(&self, f: F) -> Result<T, ReplicaError>
    where
        T: Send + 'static,
        F: FnOnce(&Replica) -> Result<T, ReplicaError> + Send + 'static,
    {
        let this = self.clone();
        tokio::task::spawn_blocking(move || f(&this))
            .await
            .map_err(|e| ReplicaError::Task(e.to_string()))?
    }

    /// The stripe locks of `keys`, taken in stripe order (so two multi-key calls never
    /// deadlock); held until the guards drop.
    async fn lock_keys(&self, keys: &[&str]) -> Locked {
        let mut stripes: Vec<usize> = keys.iter().map(|k| self.stripe_index(k)).collect();
        stripes.sort_unstable();
        stripes.dedup();
        let mut guards = Vec::with_capacity(stripes.len());
        for i in stripes {
            guards.push(Arc::clone(&self.stripes[i]).lock_owned().await);
        }
        guards
    }

    /// Writes `batch` through the engine's commit thread and waits for it as a future (see
    /// the module doc). Once the batch is handed over, the rest runs to the end even if this
    /// future is dropped (a client gone, a timeout): on the committing thread, `then` runs
    /// after a successful commit, and only then are `locked`'s keys released, so no other
    /// change of those keys reads them before the batch is visible, and side records never
    /// miss a committed change.
    fn write_locked(
        &self,
        batch: WriteBatch,
        locked: Locked,
        then: impl FnOnce() + Send + 'static,
    ) -> Committing {
        let (done, outcome) = tokio::sync::oneshot::channel();
        self.db.write_batch_then(batch, move |result| {
            if result.is_ok() {
                then();
            }
            drop(locked);
            let _ = done.send(result);
        });
        Committing(Some(outcome))
    }

    fn load_raw(&self, key: &str) -> Result<Option<Vec<u8>>, ReplicaError> {
        Ok(self.db.get(&data_key(key))?)
    }

    fn decode(key: &str, bytes: &[u8]) -> Result<VersionSet, ReplicaError> {
        VersionSet::decode(bytes).map_err(|e| ReplicaError::Corrupt {
            key: key.to_string(),
            reason: e.to_string(),
        })
    }

    /// The stored bytes of `key` and their decoded set.
    fn load_both(&self, key: &str) -> Result<(Option<Vec<u8>>, Option<VersionSet>), ReplicaError> {
        let before = self.load_raw(key)?;
        let set = before
            .as_deref()
            .map(|b| Replica::decode(key, b))
            .transpose()?;
        Ok((before, set))
    }

    fn load(&self, key: &str) -> Result<Option<VersionSet>, ReplicaError> {
        match self.load_raw(key)? {
            None => Ok(None),
            Some(bytes) => Replica::decode(key, &bytes).map(Some),
        }
    }

    /// Writes `changes` and their side records in one batch, then releases `locked` (the
    /// keys' locks; see [`Replica::write_locked`]).
    async fn commit(&self, changes: Vec<Change>, locked: Locked) -> Result<(), ReplicaError> {
        self.start_commit(changes, locked).wait().await
    }

    /// [`Replica::commit`], handed to the engine: the commit goes on whether or not the
    /// returned handle is awaited.
    fn start_commit(&self, changes: Vec<Change>, locked: Locked) -> Committing {
        let changes: Vec<Change> = changes
            .into_iter()
            .filter(|c| c.before != c.after)
            .collect();
        if changes.is_empty() {
            drop(locked);
            return Committing(None);
        }
        let mut batch = WriteBatch::new();
        for c in &changes {
            match &c.after {
                Some(bytes) => batch.put(&data_key(&c.key), bytes),
                None => batch.delete(&data_key(&c.key)),
            }
            for side in self.side.iter() {
                side.stage(&c.key, c.before.as_deref(), c.after.as_deref(), &mut batch);
            }
        }
        let side = Arc::clone(&self.side);
        self.write_locked(batch, locked, move || {
            for c in &changes {
                for side in side.iter() {
                    side.committed(&c.key, c.before.as_deref(), c.after.as_deref());
                }
            }
        })
    }

    /// This replica's stored set bytes for several keys, read on the calling thread: reads
    /// never wait on an fsync (only on the memtable, or on table blocks the page cache
    /// usually holds), so they skip the hop to a blocking thread that writes need.
    pub fn read_raw_now(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>, ReplicaError> {
        keys.iter().map(|k| self.load_raw(k)).collect()
    }

    /// This replica's set for `key`, read on the calling thread (see [`Replica::read_raw_now`]).
    pub fn read_now(&self, key: &str) -> Result<Option<VersionSet>, ReplicaError> {
        self.load(key)
    }

    /// This replica's set for `key`, if any.
    pub async fn read(&self, key: &str) -> Result<Option<VersionSet>, ReplicaError> {
        let key = key.to_string();
        self.blocking(move |r| r.load(&key)).await
    }

    /// Merges a set received from another replica; returns the stored result and what the
    /// prior copy held relative to `incoming` (see [`Merged`]). Writes only when the merge
    /// changed something.
    pub async fn merge(
        &self,
        key: &str,
        incoming: VersionSet,
        limits: Limits,
    ) -> Result<Merged, ReplicaError> {
        let mut merged = self
            .merge_each(vec![(key.to_string(), incoming)], limits)
            .await?;
        merged
            .pop()
            .ok_or_else(|| ReplicaError::Task("a merge gave no result".into()))
    }

    /// Creates a new version coordinated by `node_id`, superseding what `ctx` covers, or, when
    /// `ctx` is `None`, everything this replica holds for the key (its own stored context,
    /// read under the same lock).
    pub async fn update(
        &self,
        key: &str,
        ctx: Option<Context>,
        value: Value,
        expires_at_ms: Option<u64>,
        node_id: &str,
        limits: Limits,
    ) -> Result<Updated, ReplicaError> {
        let (updated, committing) = self
            .start_update(key, ctx, value, expires_at_ms, node_id, limits, None)
            .await?;
        committing.wait().await?;
        Ok(updated)
    }

    /// [`Replica::update`] that returns as soon as the new set is handed to the engine: the
    /// set is known (and may be shipped to other replicas) while its commit is still in
    /// flight; the returned handle says when it is durable. The key stays locked until then.
    ///
    /// With a `receipt`, it is recorded in the same stored set, unless the set already holds
    /// an unexpired receipt of its token (checked under the key's lock): then nothing is
    /// written and that receipt is returned in [`Updated::replayed`].
    #[allow(clippy::too_many_arguments)]
    pub async fn start_update(
        &self,
        key: &str,
        ctx: Option<Context>,
        value: Value,
        expires_at_ms: Option<u64>,
        node_id: &str,
        limits: Limits,
        receipt: Option<Receipt>,
    ) -> Result<(Updated, Committing), ReplicaError> {
        let locked = self.lock_keys(&[key]).await;
        let (before, prior) = self.load_both(key)?;
        let held = receipt.as_ref().and_then(|new| {
            prior
                .as_ref()
                .and_then(|p| p.receipt(&new.token))
                .filter(|old| old.recorded_at_ms >= limits.receipts_since_ms)
                .cloned()
        });
        let prior_live = prior.as_ref().is_some_and(|p| p.is_live(now_ms()));
        let mut set = prior.unwrap_or_default();
        let prior_saw_context = ctx
            .as_ref()
            .is_none_or(|ctx| ctx.iter().all(|(node, n)| set.counter_of(node) >= n));
        if let Some(held) = held {
            let updated = Updated {
                prior_live,
                prior_saw_context,
                encoded: Arc::new(set.encode()),
                set,
                replayed: Some(held),
            };
            return Ok((updated, Committing(None)));
        }
        let ctx = ctx.unwrap_or_else(|| set.context());
        let floor = self.floor.next(self).await?;
        set.update_at_least(&ctx, value, expires_at_ms, node_id, now_ms(), floor);
        if let Some(receipt) = receipt {
            set.record(receipt);
        }
        set.prune(&limits);
        let encoded = set.encode();
        let committing = self.start_commit(
            vec![Change {
                key: key.to_string(),
                before,
                after: Some(encoded.clone()),
            }],
            locked,
        );
        let updated = Updated {
            prior_live,
            prior_saw_context,
            set,
            encoded: Arc::new(encoded),
            replayed: None,
        };
        Ok((updated, committing))
    }

    /// Up to `limit` stored `(key, set)` pairs whose key starts with `prefix` and sorts after
    /// `after`, in key order (dead sets included: the coordinator merges before judging).
    pub async fn scan(
        &self,
        prefix: &str,
        after: Option<String>,
        limit: usize,
    ) -> Result<Vec<(String, VersionSet)>, ReplicaError> {
        let lower = data_key(prefix);
        let upper = ringkv_storage::prefix_successor(&lower);
        self.blocking(move |r| {
            let from = match after.map(|a| data_key(&a)) {
                Some(a) if a >= lower => Bound::Excluded(a),
                _ => Bound::Included(lower),
            };
            let to = upper.map_or(Bound::Unbounded, Bound::Excluded);
            let mut out = Vec::new();
            for entry in r.db.scan(from, to)? {
                if out.len() >= limit {
                    break;
                }
                let (k, v) = entry?;
                let key = String::from_utf8_lossy(&k[DATA_PREFIX.len()..]).into_owned();
                let set = VersionSet::decode(&v).map_err(|e| ReplicaError::Corrupt {
                    key: key.clone(),
                    reason: e.to_string(),
                })?;
                out.push((key, set));
            }
            Ok(out)
        })
        .await
    }

    /// One page of stored keys after `after` for data movement: scans at most `budget` keys
    /// and returns those `wanted` keeps (at most `limit`), with their sets as stored, the last
    /// key scanned (the next page's `after`) and whether the scan reached the end.
    pub async fn scan_moving<F>(
        &self,
        after: Option<String>,
        budget: usize,
        limit: usize,
        wanted: F,
    ) -> Result<ScanPage, ReplicaError>
    where
        F: Fn(&str) -> bool + Send + 'static,
    {
        self.blocking(move |r| {
            let from = match after {
                Some(a) => Bound::Excluded(data_key(&a)),
                None => Bound::Included(DATA_PREFIX.to_vec()),
            };
            let to = ringkv_storage::prefix_successor(DATA_PREFIX)
                .map_or(Bound::Unbounded, Bound::Excluded);
            let mut page = ScanPage::default();
            let mut scanned = 0;
            for entry in r.db.scan(from, to)? {
                let (k, v) = entry?;
                let key = String::from_utf8_lossy(&k[DATA_PREFIX.len()..]).into_owned();
                scanned += 1;
                if wanted(&key) {
                    page.entries.push((key.clone(), v));
                }
                page.cursor = Some(key);
                if scanned >= budget || page.entries.len() >= limit {
                    return Ok(page);
                }
            }
            page.done = true;
            Ok(page)
        })
        .await
    }

    /// Merges each `(key, set)` like [`Replica::merge`], all in one storage batch (one fsync
    /// for a coalesced batch of replica merges); the results in order. A key twice in the batch
    /// is merged in order, the second seeing the first.
    pub async fn merge_each(
        &self,
        entries: Vec<(String, VersionSet)>,
        limits: Limits,
    ) -> Result<Vec<Merged>, ReplicaError> {
        let keys: Vec<String> = entries.iter().map(|(k, _)| k.clone()).collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let locked = self.lock_keys(&refs).await;
        let now = now_ms();
        // Entries of one key still to come: a key's set is encoded for the batch at its last
        // entry, and cloned for a result only when another entry of it follows (so the common
        // batch, one entry a key, moves sets instead of copying them).
        let mut left: HashMap<&str, usize> = HashMap::with_capacity(refs.len());
        for key in &refs {
            *left.entry(key).or_default() += 1;
        }
        let mut current: HashMap<String, (Option<Vec<u8>>, Option<VersionSet>)> = HashMap::new();
        let mut changes = Vec::with_capacity(refs.len());
        let mut results = Vec::with_capacity(entries.len());
        for (key, incoming) in entries {
            let (before, prior) = match current.remove(&key) {
                Some(held) => held,
                None => self.load_both(&key)?,
            };
            let seen = incoming.context();
            let (prior_live, covered) = prior.as_ref().map_or((false, true), |p| {
                let covered = p.versions().iter().all(|v| seen.covers(&v.dot));
                (p.is_live(now), covered)
            });
            let mut set = prior.unwrap_or_default();
            set.merge(&incoming);
            set.prune(&limits);
            let remaining = left.get_mut(key.as_str()).expect("every key was counted");
            *remaining -= 1;
            if *remaining > 0 {
                current.insert(key, (before, Some(set.clone())));
            } else {
                changes.push(Change {
                    after: Some(set.encode()),
                    key,
                    before,
                });
            }
            results.push(Merged {
                set,
                prior_live,
                covered,
            });
        }
        self.commit(changes, locked).await?;
        Ok(results)
    }

    /// Merges many received sets (data movement) in one storage batch, so one fsync covers
    /// them all, holding every key's lock until the batch is written ([`Replica::merge_each`]
    /// without the per-key results).
    pub async fn merge_many(
        &self,
        entries: Vec<(String, VersionSet)>,
        limits: Limits,
    ) -> Result<(), ReplicaError> {
        self.merge_each(entries, limits).await.map(drop)
    }

    /// Drops this replica's copy of `key` if it is still `expected` (a copy handed to the
    /// key's owners; a newer write keeps it). Returns whether it was dropped.
    pub async fn drop_if_unchanged(
        &self,
        key: &str,
        expected: Vec<u8>,
    ) -> Result<bool, ReplicaError> {
        let locked = self.lock_keys(&[key]).await;
        let before = self.load_raw(key)?;
        if before.as_deref() != Some(&expected[..]) {
            return Ok(false);
        }
        self.commit(
            vec![Change {
                key: key.to_string(),
                before,
                after: None,
            }],
            locked,
        )
        .await?;
        Ok(true)
    }

    /// What this node holds in hints for other replicas.
    pub fn hint_book(&self) -> &HintBook {
        &self.hints
    }

    /// Keeps `set` of `key` as a hint for replica `target` (merged into an earlier hint of the
    /// same pair). `Err(reason)` inside `Ok` when a cap refuses it: nothing was stored.
    pub async fn store_hint(
        &self,
        target: &str,
        key: &str,
        set: VersionSet,
        caps: HintCaps,
    ) -> Result<Result<(), DropReason>, ReplicaError> {
        let locked = self.lock_keys(&[key]).await;
        let storage_key = hints::hint_key(target, key);
        let before = self.db.get(&storage_key)?;
        let fresh = Hint {
            created_ms: now_ms(),
            set,
        };
        let hint = match before.as_deref().map(Hint::decode) {
            Some(Ok(mut old)) => {
                old.absorb(&fresh);
                old
            }
            _ => fresh,
        };
        let after = hint.encode();
        let old_len = before.as_ref().map_or(0, Vec::len) as u64;
        let grows = (after.len() as u64).saturating_sub(old_len);
        if let Some(reason) = self.hints.over_cap(target, grows, caps) {
            self.hints.dropped(reason, 1);
            return Ok(Err(reason));
        }
        let mut batch = WriteBatch::new();
        batch.put(&storage_key, &after);
        let (book, target, new_len) = (Arc::clone(&self.hints), target.to_string(), after.len());
        self.write_locked(batch, locked, move || {
            book.changed(&target, old_len, new_len as u64);
            book.stored();
        })
        .wait()
        .await?;
        Ok(Ok(()))
    }

    /// Up to `limit` hints for `target` after key `after`, as stored: `(key, record bytes)`.
    pub async fn hint_page(
        &self,
        target: &str,
        after: Option<String>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, ReplicaError> {
        let target = target.to_string();
        self.blocking(move |r| {
            let prefix = hints::target_prefix(&target);
            let from = match after {
                Some(k) => Bound::Excluded(hints::hint_key(&target, &k)),
                None => Bound::Included(prefix.clone()),
            };
            let to =
                ringkv_storage::prefix_successor(&prefix).map_or(Bound::Unbounded, Bound::Excluded);
            let mut out = Vec::new();
            for entry in r.db.scan(from, to)? {
                let (k, v) = entry?;
                if let Ok((_, key)) = hints::split_key(&k) {
                    out.push((key, v));
                }
                if out.len() >= limit {
                    break;
                }
            }
            Ok(out)
        })
        .await
    }

    /// Deletes the hint of `key` for `target` if it is still `expected` (delivered, or
    /// dropped); a hint merged since stays for the next round. Returns whether it was deleted.
    pub async fn drop_hint_if(
        &self,
        target: &str,
        key: &str,
        expected: Vec<u8>,
    ) -> Result<bool, ReplicaError> {
        let locked = self.lock_keys(&[key]).await;
        let storage_key = hints::hint_key(target, key);
        match self.db.get(&storage_key)? {
            Some(now) if now == expected => {
                let mut batch = WriteBatch::new();
                batch.delete(&storage_key);
                let (book, target) = (Arc::clone(&self.hints), target.to_string());
                self.write_locked(batch, locked, move || {
                    book.changed(&target, now.len() as u64, 0)
                })
                .wait()
                .await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// How many keys this replica holds (a full key scan).
    pub async fn count(&self) -> Result<u64, ReplicaError> {
        self.blocking(|r| {
            let mut n = 0;
            for entry in r.db.scan_prefix(DATA_PREFIX)? {
                entry?;
                n += 1;
            }
            Ok(n)
        })
        .await
    }

    pub fn stats(&self) -> ringkv_storage::Stats {
        self.db.stats()
    }

    /// Syncs the commit log (used when the engine cannot be closed yet).
    pub async fn sync(&self) -> Result<(), ReplicaError> {
        self.blocking(|r| Ok(r.db.sync()?)).await
    }

    /// Closes the engine once this is the last handle; otherwise syncs and reports `false`.
    pub async fn close(self) -> Result<bool, ReplicaError> {
        let Replica { db, .. } = self;
        tokio::task::spawn_blocking(move || match Arc::try_unwrap(db) {
            Ok(db) => db.close().map(|()| true),
            Err(shared) => shared.sync().map(|()| false),
        })
        .await
        .map_err(|e| ReplicaError::Task(e.to_string()))?
        .map_err(ReplicaError::from)
    }

    /// How many handles share the engine (shutdown waits for background tasks to drop theirs).
    pub fn handles(&self) -> usize {
        Arc::strong_count(&self.db)
    }
}

/// The storage compaction filter: drops version sets holding data that is dead past the grace
/// period (expired TTLs). Sets holding only tombstones are kept: they are collected by
/// anti-entropy once every replica was seen to hold them (`anti_entropy::exchange`), never by
/// time alone. Undecodable entries are kept for an operator to see.
pub struct CollectDead {
    pub grace_ms: u64,
}

impl CompactionFilter for CollectDead {
    fn filter(&self, key: &[u8], value: &[u8]) -> FilterDecision {
        if !key.starts_with(DATA_PREFIX) {
            return FilterDecision::Keep;
        }
        match VersionSet::decode(value) {
            Ok(set)
                if set
                    .versions()
                    .iter()
                    .any(|v| matches!(v.value, Value::Data(_)))
                    && set.can_collect(now_ms(), self.grace_ms) =>
            {
                FilterDecision::Remove
            }
            _ => FilterDecision::Keep,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &std::path::Path) -> Replica {
        Replica::new(Db::open(dir, ringkv_storage::Options::default()).unwrap()).unwrap()
    }

    const ROOMY: Limits = Limits::caps(1000, 1000);

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_updates_of_one_key_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let replica = open(dir.path());
        let writes = (0..64).map(|i| {
            let r = replica.clone();
            // Test clients on the runtime's threads (not node work: no supervisor here).
            tokio::spawn(async move {
                let value = Value::Data(vec![i as u8]);
                // Empty contexts: every write is concurrent with the others and must stay.
                r.update(
                    "k",
                    Some(Context::default()),
                    value,
                    None,
                    &format!("n{}", i % 3),
                    ROOMY,
                )
                .await
            })
        });
        for w in futures::future::join_all(writes).await {
            w.unwrap().unwrap();
        }
        let set = replica.read("k").await.unwrap().unwrap();
        assert_eq!(set.live_values(now_ms()).len(), 64);
    }

    /// A change whose caller went away (a client gone, a timeout) after its batch was handed
    /// to the engine still finishes: the key stays locked until the batch is visible, so the
    /// next change of the key builds on it instead of overwriting it. (When the lock was
    /// released with the dropped future, the next update read the set before the batch
    /// landed: one of the two concurrent values was lost, and both carried the same dot.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_update_still_commits_before_the_key_is_released() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(
            dir.path(),
            ringkv_storage::Options {
                sync: ringkv_storage::SyncPolicy::Always,
                ..ringkv_storage::Options::default()
            },
        )
        .unwrap();
        let replica = Replica::new(db).unwrap();
        // The first fresh key raises the persisted dot ceiling (a write of its own first).
        replica
            .update("warm", None, Value::Data(vec![0]), None, "n", ROOMY)
            .await
            .unwrap();
        let mut dropped = 0;
        for k in 0..40 {
            let key = format!("k{k}");
            let update = |v: u8| {
                replica.update(
                    &key,
                    Some(Context::default()),
                    Value::Data(vec![v]),
                    None,
                    "n",
                    ROOMY,
                )
            };
            // Polled once (the batch is handed over), then dropped.
            let first = futures::FutureExt::now_or_never(update(1));
            dropped += usize::from(first.is_none());
            update(2).await.unwrap();
            let set = replica.read(&key).await.unwrap().unwrap();
            let mut values = set.live_values(now_ms());
            values.sort();
            assert_eq!(values.len(), 2, "{key}: both concurrent values are kept");
        }
        assert!(
            dropped >= 20,
            "only {dropped} of 40 first updates were dropped waiting"
        );
    }

    /// A coordinator ships a new set while its own commit of it is in flight, so a crash can
    /// take back its copy of a dot other replicas hold. The next dot it mints for the key must
    /// still be a new one. (Counting on from the stored copy's own entry minted the same
    /// counter again, for a different value.)
    #[tokio::test]
    async fn a_dot_taken_back_by_a_crash_is_never_minted_again() {
        let dir = tempfile::tempdir().unwrap();
        let replica = open(dir.path());
        let update = |r: &Replica, v: u8| {
            let r = r.clone();
            async move {
                r.update("k", None, Value::Data(vec![v]), None, "n", ROOMY)
                    .await
                    .unwrap()
                    .set
                    .counter_of("n")
            }
        };
        update(&replica, 1).await;
        let after_first = replica.db().get(&data_key("k")).unwrap().unwrap();
        let taken_back = update(&replica, 2).await;
        // The crash: the second write never reached this disk (the others have it).
        replica.db().put(&data_key("k"), &after_first).unwrap();
        drop(replica);
        let replica = open(dir.path());
        let next = update(&replica, 3).await;
        assert!(
            next > taken_back,
            "counter {next} minted again after {taken_back} was taken back"
        );
    }

    #[tokio::test]
    async fn merge_is_stored_and_scan_pages_by_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let replica = open(dir.path());
        for key in ["a1", "a2", "a3", "b1"] {
            let mut set = VersionSet::new();
            set.update(&Context::default(), Value::Data(key.into()), None, "x", 1);
            replica.merge(key, set, ROOMY).await.unwrap();
        }
        let page = replica.scan("a", None, 2).await.unwrap();
        let keys: Vec<_> = page.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a1", "a2"]);
        let rest = replica.scan("a", Some("a2".into()), 10).await.unwrap();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].0, "a3");
        assert!(replica.clone().close().await.is_ok());
    }

    #[tokio::test]
    async fn merge_reports_whether_the_incoming_set_saw_everything_stored() {
        let dir = tempfile::tempdir().unwrap();
        let replica = open(dir.path());
        let first = replica
            .update("k", None, Value::Data(b"1".to_vec()), None, "a", ROOMY)
            .await
            .unwrap();
        assert!(!first.prior_live);
        // A set that descends from what is stored: covered, and the prior copy was live.
        let mut next = first.set.clone();
        next.update(
            &first.set.context(),
            Value::Data(b"2".to_vec()),
            None,
            "b",
            2,
        );
        let merged = replica.merge("k", next.clone(), ROOMY).await.unwrap();
        assert!(merged.covered && merged.prior_live);
        assert_eq!(merged.set.versions().len(), 1);
        // A set minted without seeing the stored version: not covered, both kept.
        let mut blind = VersionSet::new();
        blind.update(
            &Context::default(),
            Value::Data(b"3".to_vec()),
            None,
            "c",
            3,
        );
        let merged = replica.merge("k", blind, ROOMY).await.unwrap();
        assert!(!merged.covered);
        assert_eq!(merged.set.versions().len(), 2);
        // `update(None)` supersedes everything stored.
        let own = replica
            .update("k", None, Value::Data(b"4".to_vec()), None, "a", ROOMY)
            .await
            .unwrap();
        assert_eq!(own.set.versions().len(), 1);
        assert!(replica.clone().close().await.is_ok());
    }

    #[tokio::test]
    async fn a_key_re_created_after_its_copy_was_collected_gets_a_dot_never_minted_before() {
        let dir = tempfile::tempdir().unwrap();
        let a = open(dir.path());
        let data = |s: &str| Value::Data(s.as_bytes().to_vec());
        let first = a
            .update("k", None, data("v1"), None, "a", ROOMY)
            .await
            .unwrap();
        let deleted = a
            .update("k", None, Value::Tombstone, None, "a", ROOMY)
            .await
            .unwrap();
        // Another replica keeps the tombstone; this one collects its copy.
        let other = deleted.set.clone();
        assert!(
            a.drop_if_unchanged("k", deleted.set.encode())
                .await
                .unwrap()
        );
        let again = a
            .update("k", None, data("v2"), None, "a", ROOMY)
            .await
            .unwrap();
        let mut merged = other.clone();
        merged.merge(&again.set);
        assert_eq!(
            merged.live_values(now_ms()),
            [b"v2".as_slice()],
            "the re-created value survives a replica holding the old clock"
        );
        // And after a restart of the node (the engine reopened), still never a reused dot.
        let highest = again.set.counter_of("a").max(first.set.counter_of("a"));
        drop(a);
        let reopened = open(dir.path());
        let fresh = reopened
            .update("other", None, data("x"), None, "a", ROOMY)
            .await
            .unwrap();
        assert!(fresh.set.counter_of("a") > highest);
    }

    /// The storage cost of history, as a node stores it (`--nocapture` prints the table the
    /// README quotes): each kept value costs its payload (JSON + 9 bytes of TTL header) plus its
    /// dot and time, and every write of the key rewrites (and ships) all of them.
    #[tokio::test]
    async fn history_costs_its_payload_plus_its_dot_per_kept_value() {
        let dir = tempfile::tempdir().unwrap();
        let replica = open(dir.path());
        let node = "127.0.0.1:7777-3f9a2c"; // a default node id: host:port-random
        for json_len in [10usize, 100, 1000] {
            let mut sizes = Vec::new();
            let key = format!("k{json_len}");
            for (i, kept) in [0usize, 1, 3, 10].into_iter().enumerate() {
                let limits = Limits {
                    history: kept,
                    ..Limits::caps(20, 32)
                };
                // Enough writes to fill the history, each a distinct JSON string of json_len.
                let mut set = None;
                for w in 0..=kept {
                    let text = format!("\"{}{:0>width$}\"", i, w, width = json_len - 3);
                    let value = Value::Data(crate::payload::encode(text.as_bytes(), None));
                    set = Some(
                        replica
                            .update(&key, None, value, None, node, limits)
                            .await
                            .unwrap()
                            .set,
                    );
                }
                let set = set.unwrap();
                assert_eq!(set.history().len(), kept);
                sizes.push((kept, set.encode().len()));
            }
            let base = sizes[0].1;
            for (kept, size) in &sizes[1..] {
                let per = (size - base - 2) as f64 / *kept as f64;
                println!(
                    "value {json_len} B JSON: set {base} B without history, {size} B with {kept} \
                     kept: {per:.1} B per kept value ({:.1} B over the payload)",
                    per - (json_len + 9) as f64
                );
                // Payload (json + 9) + id (1 + 21) + counter (7) + time (6) + flags (1) + len.
                let len_bytes = if json_len + 9 < 128 { 1 } else { 2 };
                assert_eq!(per, (json_len + 9 + 22 + 7 + 6 + 1 + len_bytes) as f64);
            }
        }
    }

    #[test]
    fn prefix_end_bounds_the_prefix() {
        assert_eq!(
            ringkv_storage::prefix_successor(b"d/a"),
            Some(b"d/b".to_vec())
        );
        assert_eq!(
            ringkv_storage::prefix_successor(b"d/\xff"),
            Some(b"d0".to_vec())
        );
        assert_eq!(ringkv_storage::prefix_successor(b"\xff\xff"), None);
    }
}
