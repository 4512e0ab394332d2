//! The causal clock of a version set: a version vector with a wall-clock stamp per entry.
//!
//! A [`Clock`] maps each node id to a [`ClockEntry`] `{ counter, updated_at_ms }`. The counter `n`
//! for node `X` means "every dot `(X, 1..=n)` has been seen": dots from one coordinator form a
//! contiguous history, which is what lets a plain version vector describe exactly which versions
//! a reader saw (the insight of dotted version vectors).
//!
//! Invariants:
//! - no entry has counter 0 (an absent entry means 0), so equal clocks have equal maps and encode
//!   to equal bytes;
//! - `updated_at_ms` is only ever used to choose which entries [`Clock::prune_oldest`] drops; it
//!   never takes part in causality.
//!
//! [`Clock::join`] is the least upper bound: entry-wise maximum of the counter and, separately,
//! of the timestamp. Both halves are max-semilattices, so the join is commutative, associative
//! and idempotent.

use std::collections::{BTreeMap, BTreeSet};

use crate::{Dot, NodeId};

/// One clock entry: how far a node's history has been seen, and when it last advanced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClockEntry {
    /// Highest counter seen from this node; all lower counters are covered too.
    pub counter: u64,
    /// Wall-clock time (ms since the Unix epoch) of the entry's last advance, kept only to
    /// choose the oldest entries when pruning.
    pub updated_at_ms: u64,
}

/// A version vector with per-entry timestamps, ordered by node id.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Clock {
    entries: BTreeMap<NodeId, ClockEntry>,
}

impl Clock {
    pub(crate) fn counter(&self, node: &str) -> u64 {
        self.entries.get(node).map_or(0, |e| e.counter)
    }

    pub(crate) fn covers(&self, dot: &Dot) -> bool {
        self.counter(&dot.node) >= dot.counter
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn iter(&self) -> impl ExactSizeIterator<Item = (&NodeId, &ClockEntry)> + Clone {
        self.entries.iter()
    }

    /// Raises `node`'s entry to at least `counter`, stamping it with `now_ms` if it advanced.
    /// A zero counter is ignored (absent and zero are the same entry).
    pub(crate) fn advance(&mut self, node: &str, counter: u64, now_ms: u64) {
        if counter == 0 {
            return;
        }
        match self.entries.get_mut(node) {
            Some(e) if e.counter >= counter => {}
            Some(e) => {
                e.counter = counter;
                e.updated_at_ms = e.updated_at_ms.max(now_ms);
            }
            None => {
                let entry = ClockEntry {
                    counter,
                    updated_at_ms: now_ms,
                };
                self.entries.insert(node.to_owned(), entry);
            }
        }
    }

    /// Least upper bound: entry-wise max of counters and, independently, of timestamps.
    pub(crate) fn join(&mut self, other: &Clock) {
        for (node, theirs) in &other.entries {
            let mine = self.entries.entry(node.clone()).or_default();
            mine.counter = mine.counter.max(theirs.counter);
            mine.updated_at_ms = mine.updated_at_ms.max(theirs.updated_at_ms);
        }
    }

    /// Inserts a decoded entry; the decoder guarantees ascending, unique node ids.
    pub(crate) fn insert_decoded(&mut self, node: NodeId, entry: ClockEntry) {
        self.entries.insert(node, entry);
    }

    /// Drops the entries with the oldest `updated_at_ms` (ties broken by node id) until at most
    /// `max` remain, never dropping an entry of a node in `pinned`. Returns how many were dropped.
    pub(crate) fn prune_oldest(&mut self, max: usize, pinned: &BTreeSet<&str>) -> usize {
        if self.entries.len() <= max {
            return 0;
        }
        let mut candidates: Vec<(u64, NodeId)> = self
            .entries
            .iter()
            .filter(|(node, _)| !pinned.contains(node.as_str()))
            .map(|(node, e)| (e.updated_at_ms, node.clone()))
            .collect();
        candidates.sort_unstable();
        let excess = self.entries.len() - max;
        let mut dropped = 0;
        for (_, node) in candidates.into_iter().take(excess) {
            self.entries.remove(&node);
            dropped += 1;
        }
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dot(node: &str, counter: u64) -> Dot {
        Dot {
            node: node.into(),
            counter,
        }
    }

    #[test]
    fn advance_is_monotone_and_ignores_zero() {
        let mut c = Clock::default();
        c.advance("a", 0, 5);
        assert_eq!(c.len(), 0);
        c.advance("a", 3, 10);
        c.advance("a", 2, 20);
        assert_eq!(c.counter("a"), 3);
        assert_eq!(c.iter().next().unwrap().1.updated_at_ms, 10);
        assert!(c.covers(&dot("a", 3)));
        assert!(!c.covers(&dot("a", 4)));
        assert!(!c.covers(&dot("b", 1)));
    }

    #[test]
    fn join_takes_maxima_independently() {
        let mut a = Clock::default();
        a.advance("x", 5, 1);
        let mut b = Clock::default();
        b.advance("x", 2, 9);
        b.advance("y", 1, 3);
        a.join(&b);
        let x = a.iter().find(|(n, _)| *n == "x").unwrap().1;
        assert_eq!((x.counter, x.updated_at_ms), (5, 9));
        assert_eq!(a.counter("y"), 1);
    }

    #[test]
    fn prune_drops_oldest_unpinned_first() {
        let mut c = Clock::default();
        c.advance("old", 1, 1);
        c.advance("pinned", 1, 0);
        c.advance("mid", 1, 5);
        c.advance("new", 1, 9);
        let pinned: BTreeSet<&str> = ["pinned"].into();
        assert_eq!(c.prune_oldest(2, &pinned), 2);
        let left: Vec<&str> = c.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(left, ["new", "pinned"]);
        // Only pinned entries left over the cap: nothing more can go.
        assert_eq!(c.prune_oldest(0, &["new", "pinned"].into()), 0);
    }
}
