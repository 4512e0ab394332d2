//! The version set of one key: concurrent siblings plus the causal clock that covers them.
//!
//! This is a dotted causal container (Almeida, Baquero, Gonçalves, Preguiça, Fonte, "Scalable
//! and Accurate Causality Tracking for Eventually Consistent Stores", and Riak's `dvvset`): each
//! sibling carries the [`Dot`] of the write that created it, and one version vector per key
//! records every write the replica has seen, superseded or not.
//!
//! Invariants, kept by every operation and checked by [`VersionSet::decode`]:
//! 1. every sibling's dot is covered by the clock (`dot.counter <= clock[dot.node]`), and no
//!    clock entry is 0;
//! 2. dots are unique within the set;
//! 3. siblings are sorted strictly ascending by `(written_at_ms, dot)`.
//!
//! Reading: a client gets the live siblings and [`VersionSet::context`], the clock as a plain
//! version vector. Because a coordinator numbers its writes contiguously, that vector covers
//! exactly the dots the reader saw: those siblings, plus everything they had superseded.
//!
//! Writing ([`VersionSet::update`]) drops the siblings the context covers, and adds one version
//! with a fresh dot. Siblings the context does not cover were written concurrently with what the
//! client read and stay. That is the whole fix for the lost update of plain per-node vector
//! clocks: two clients writing through one coordinator with the same stale context get two dots
//! `(C, n+1)` and `(C, n+2)`, neither covering the other, so both survive.
//!
//! Merging ([`VersionSet::merge`]) is the join of the dot-store lattice: a sibling survives if
//! the other side holds the same dot or the other side's clock has not seen it (had it seen it
//! and dropped it, something newer superseded it). Clocks join entry-wise. The join is
//! commutative, associative and idempotent (property-tested in `tests/merge_laws.rs`), so
//! replicas may exchange states in any order, any number of times, and converge.

use std::collections::HashMap;

use crate::clock::{Clock, ClockEntry};
use crate::{Context, Dot, Value, Version};

/// The versions of one key that are concurrent with each other, plus the clock covering them.
///
/// Stored and sent between nodes as the canonical bytes of [`VersionSet::encode`] (equal sets
/// give equal bytes, so Merkle trees may hash them). All integers are unsigned LEB128 varints
/// in their shortest form, except the format byte and the flags byte:
///
/// ```text
/// +------+-----------+----------------------+--------------+-------------------------+
/// | 0x01 | n_nodes   | n_nodes x node entry | n_versions   | n_versions x version    |
/// +------+-----------+----------------------+--------------+-------------------------+
///
/// node entry (the clock), strictly ascending by id bytes:
/// +----------------+------------+------------------+------------------+
/// | id_len: varint | id: UTF-8  | counter (>= 1)   | updated_at_ms    |
/// +----------------+------------+------------------+------------------+
///
/// version (a sibling), strictly ascending by (written_at_ms, node id, counter):
/// +----------+-------------------------+---------------+----------+
/// | node_idx | counter (1..=clock[id]) | written_at_ms | flags:u8 | ...
/// +----------+-------------------------+---------------+----------+
///   ... [expires_at_ms]   if flags & 0b10
///   ... [data_len | data] unless flags & 0b01 (0b01 = tombstone; other bits must be 0)
/// ```
///
/// `node_idx` indexes the node table, so a dot can only name a node the clock holds, and
/// each node id is written once however many siblings it coordinated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VersionSet {
    pub(crate) clock: Clock,
    /// Sorted by `Version::display_order`; see the module invariants.
    pub(crate) versions: Vec<Version>,
    /// Past values, sorted like `versions`, data only, no dot of `versions` (see `past.rs`).
    pub(crate) history: Vec<Version>,
    /// Idempotency receipts, strictly ascending by token (see `past.rs`).
    pub(crate) receipts: Vec<crate::Receipt>,
}

impl VersionSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// A write coordinated by `coordinator`: the new version supersedes exactly the versions that
    /// `ctx` covers; versions it does not cover stay as siblings. Returns the new version's dot.
    ///
    /// Runs on the coordinator's own replica state. The new dot's counter is
    /// `max(clock[coordinator], ctx[coordinator]) + 1`, so it is fresh even if the client read
    /// from a replica ahead of this one; then `ctx` is joined into the clock, because the new
    /// version descends from everything the client saw. Clock entries that advance are stamped
    /// with `now_ms`, which is also the version's `written_at_ms`.
    ///
    /// A counter already at `u64::MAX` (only reachable through a forged context) saturates: the
    /// write then replaces the version holding that dot instead of panicking.
    pub fn update(
        &mut self,
        ctx: &Context,
        value: Value,
        expires_at_ms: Option<u64>,
        coordinator: &str,
        now_ms: u64,
    ) -> Dot {
        self.update_at_least(ctx, value, expires_at_ms, coordinator, now_ms, 0)
    }

    /// [`VersionSet::update`] with the new dot's counter at least `min_counter`.
    ///
    /// A coordinator whose own copy of the key is gone (its tombstone was collected, its disk
    /// was replaced, its clock entry pruned) no longer knows which counters it minted for the
    /// key; replicas that still hold the old clock would take a re-minted dot for one they
    /// already saw and drop the new write. Passing a counter above anything the coordinator
    /// ever minted (see ringkv's `DotFloor`) keeps every dot fresh.
    pub fn update_at_least(
        &mut self,
        ctx: &Context,
        value: Value,
        expires_at_ms: Option<u64>,
        coordinator: &str,
        now_ms: u64,
        min_counter: u64,
    ) -> Dot {
        let (superseded, kept): (Vec<Version>, Vec<Version>) = std::mem::take(&mut self.versions)
            .into_iter()
            .partition(|v| ctx.covers(&v.dot));
        self.versions = kept;
        let counter = self
            .clock
            .counter(coordinator)
            .max(ctx.counter(coordinator))
            .saturating_add(1)
            .max(min_counter);
        for (node, seen) in ctx.iter() {
            self.clock.advance(node, seen, now_ms);
        }
        self.clock.advance(coordinator, counter, now_ms);
        let dot = Dot {
            node: coordinator.to_owned(),
            counter,
        };
        let (reused, kept): (Vec<Version>, Vec<Version>) = std::mem::take(&mut self.versions)
            .into_iter()
            .partition(|v| v.dot == dot);
        self.versions = kept;
        self.versions.push(Version {
            dot: dot.clone(),
            value,
            written_at_ms: now_ms,
            expires_at_ms,
        });
        self.versions.sort_by(Version::display_order);
        self.remember(superseded.into_iter().chain(reused));
        dot
    }

    /// Reconciles another replica's set into this one (commutative, associative, idempotent).
    ///
    /// Ours survive if `other` holds the same dot or has not seen it; theirs are added if our
    /// clock has not seen them (a dot we hold is covered by our clock, so none is added twice).
    /// Should both sides hold one dot with different contents (see `Version::same_dot_order`),
    /// the greater is kept on both, keeping the merge commutative.
    pub fn merge(&mut self, other: &VersionSet) {
        let theirs: HashMap<&Dot, &Version> = other.versions.iter().map(|v| (&v.dot, v)).collect();
        let mut gone = Vec::new();
        let mut kept = Vec::with_capacity(self.versions.len() + other.versions.len());
        for mine in std::mem::take(&mut self.versions) {
            match theirs.get(&mine.dot) {
                Some(&t) if Version::same_dot_order(t, &mine).is_gt() => {
                    kept.push(t.clone());
                    gone.push(mine);
                }
                Some(&t) => {
                    if t != &mine {
                        gone.push(t.clone());
                    }
                    kept.push(mine);
                }
                None if other.clock.covers(&mine.dot) => gone.push(mine),
                None => kept.push(mine),
            }
        }
        self.versions = kept;
        for t in &other.versions {
            if !self.clock.covers(&t.dot) {
                self.versions.push(t.clone());
            } else if !theirs_kept(&self.versions, &t.dot) {
                // Theirs, superseded here: a past version.
                gone.push(t.clone());
            }
        }
        self.clock.join(&other.clock);
        self.versions.sort_by(Version::display_order);
        self.merge_past(other, gone);
    }

    /// The context covering every version in the set: the clock without its timestamps.
    pub fn context(&self) -> Context {
        Context::from_entries(
            self.clock
                .iter()
                .map(|(n, e)| (n.clone(), e.counter))
                .collect(),
        )
    }

    /// `self.context().to_header()`, written straight from the clock (a read answers every
    /// request with it).
    pub fn context_header(&self) -> String {
        crate::context::header_of(self.clock.iter().map(|(n, e)| (n.as_str(), e.counter)))
    }

    /// The highest counter of `node` this set's clock has seen (0: none).
    pub fn counter_of(&self, node: &str) -> u64 {
        self.clock.counter(node)
    }

    /// The clock entries in node-id order (for inspection, metrics and tests).
    pub fn clock(&self) -> impl ExactSizeIterator<Item = (&str, ClockEntry)> {
        self.clock.iter().map(|(n, e)| (n.as_str(), *e))
    }

    /// All versions (data and tombstones, expired or not) in a deterministic order: oldest
    /// `written_at_ms` first, ties broken by dot.
    pub fn versions(&self) -> &[Version] {
        &self.versions
    }

    /// Unexpired data values at `now_ms`, in the same deterministic order as `versions`.
    pub fn live_values(&self, now_ms: u64) -> Vec<&[u8]> {
        self.versions
            .iter()
            .filter(|v| v.is_live(now_ms))
            .filter_map(|v| match &v.value {
                Value::Data(d) => Some(d.as_slice()),
                Value::Tombstone => None,
            })
            .collect()
    }

    /// Whether any version holds unexpired data at `now_ms`.
    pub fn is_live(&self, now_ms: u64) -> bool {
        self.versions.iter().any(|v| v.is_live(now_ms))
    }

    /// True when nothing is live and every version became dead more than `grace_ms` ago, so the
    /// whole set may be dropped from storage.
    ///
    /// Dropping a set drops its clock too: a replica that missed the deletion and still holds an
    /// older value would then bring it back on the next merge. `grace_ms` must therefore exceed
    /// the time anti-entropy and hinted handoff need to spread a tombstone to every replica.
    /// An empty set is trivially collectable.
    pub fn can_collect(&self, now_ms: u64, grace_ms: u64) -> bool {
        self.versions.iter().all(|v| {
            !v.is_live(now_ms)
                && v.dead_since_ms()
                    .is_some_and(|dead| now_ms.saturating_sub(dead) > grace_ms)
        })
    }
}

/// Whether a sibling with `dot` is among `kept` (a dot both sides hold stays a sibling).
fn theirs_kept(kept: &[Version], dot: &Dot) -> bool {
    kept.iter().any(|v| &v.dot == dot)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(s: &str) -> Value {
        Value::Data(s.as_bytes().to_vec())
    }

    #[test]
    fn first_write_gets_dot_one_and_context_covers_it() {
        let mut s = VersionSet::new();
        let dot = s.update(&Context::default(), data("a"), None, "n1", 100);
        assert_eq!(
            dot,
            Dot {
                node: "n1".into(),
                counter: 1
            }
        );
        assert_eq!(s.live_values(100), [b"a".as_slice()]);
        assert!(s.context().covers(&dot));
        assert_eq!(
            s.clock().next().unwrap().1,
            ClockEntry {
                counter: 1,
                updated_at_ms: 100
            }
        );
    }

    #[test]
    fn a_re_created_key_with_a_fresh_floor_survives_a_replica_holding_the_old_clock() {
        // n1 writes then deletes the key; a replica keeps the tombstone (clock n1:2).
        let mut old = VersionSet::new();
        old.update(&Context::default(), data("a"), None, "n1", 1);
        let ctx = old.context();
        old.update(&ctx, Value::Tombstone, None, "n1", 2);
        // n1's own copy was collected: it re-creates the key from nothing.
        let mut reused = VersionSet::new();
        reused.update(&Context::default(), data("b"), None, "n1", 3);
        let mut replica = old.clone();
        replica.merge(&reused);
        assert!(replica.live_values(3).is_empty(), "a re-minted dot is lost");
        let mut fresh = VersionSet::new();
        let dot = fresh.update_at_least(&Context::default(), data("b"), None, "n1", 3, 1000);
        assert_eq!(dot.counter, 1000);
        let mut replica = old.clone();
        replica.merge(&fresh);
        assert_eq!(replica.live_values(3), [b"b".as_slice()]);
        assert_eq!(fresh.counter_of("n1"), 1000);
    }

    #[test]
    fn counter_takes_the_context_when_it_is_ahead() {
        let mut ahead = VersionSet::new();
        for t in 0..3 {
            let ctx = ahead.context();
            ahead.update(&ctx, data("x"), None, "n1", t);
        }
        let mut behind = VersionSet::new();
        let dot = behind.update(&ahead.context(), data("y"), None, "n1", 10);
        assert_eq!(dot.counter, 4);
        behind.merge(&ahead);
        assert_eq!(behind.live_values(10), [b"y".as_slice()]);
    }

    #[test]
    fn ttl_and_tombstones_decide_liveness_and_collection() {
        let mut s = VersionSet::new();
        s.update(&Context::default(), data("a"), Some(50), "n1", 10);
        assert!(s.is_live(49));
        assert!(!s.is_live(50));
        assert!(s.live_values(50).is_empty());
        assert!(!s.can_collect(60, 10));
        assert!(s.can_collect(61, 10));

        let ctx = s.context();
        s.update(&ctx, Value::Tombstone, None, "n1", 100);
        assert_eq!(s.versions().len(), 1);
        assert!(!s.is_live(100));
        assert!(!s.can_collect(150, 50));
        assert!(s.can_collect(151, 50));
        assert!(VersionSet::new().can_collect(0, 0));
    }

    #[test]
    fn a_live_sibling_blocks_collection() {
        let mut s = VersionSet::new();
        s.update(&Context::default(), Value::Tombstone, None, "n1", 0);
        s.update(&Context::default(), data("keep"), None, "n2", 1);
        assert!(!s.can_collect(u64::MAX, 0));
    }

    #[test]
    fn saturated_counter_replaces_instead_of_panicking() {
        let forged: Context = [("n1".to_string(), u64::MAX)].into_iter().collect();
        let mut s = VersionSet::new();
        s.update(&Context::default(), data("a"), None, "n1", 1);
        s.update(&forged, data("b"), None, "n1", 2);
        s.update(&Context::default(), data("c"), None, "n1", 3);
        assert_eq!(s.live_values(3), [b"c".as_slice()]);
    }
}
