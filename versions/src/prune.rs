//! Pruning: keeping a version set's clock and sibling list within hot-reloadable caps.
//!
//! Both caps trade causal accuracy for bounded size, and both are lossy in a different way:
//!
//! - **Siblings** (`max_siblings`): the newest siblings by `(written_at_ms, dot)` are kept and
//!   the oldest dropped. Their dots stay covered by the clock, so the drop is *convergent*: any
//!   replica still holding one drops it too when it merges with us. It is a deliberate, reported
//!   loss of concurrent writes (a client writing blindly in a loop, the "sibling explosion",
//!   is what the cap is for). A cap of 0 is read as 1: pruning never deletes a key's newest
//!   write. Wall-clock skew between coordinators can make an older write look newer.
//! - **Clock entries** (`max_clock_entries`): the entries with the oldest `updated_at_ms` are
//!   dropped (ties by node id), except entries of nodes that coordinated a sibling still in the
//!   set. Those are *pinned*: without its entry a sibling would no longer be covered by the
//!   context a reader gets, so no write could ever supersede it, and its coordinator could hand
//!   out its dot again. So the clock may stay above the cap while more distinct nodes than
//!   `max_clock_entries` have siblings; since sibling pruning runs first, it holds at most
//!   `max(max_clock_entries, max_siblings)` entries.
//!
//!   Forgetting an entry forgets which of that node's writes were superseded. The cost is false
//!   concurrency, never a silently lost write: a replica that still holds such a superseded
//!   write no longer sees it as covered, so a merge brings it back as a sibling that the next
//!   read-then-write resolves. The one loss it can cause: if the dropped node later coordinates
//!   a write to this key, its counter restarts below the forgotten one and a new write may reuse
//!   a dot of an old write still held by a stale replica; merging the two keeps only one (chosen
//!   deterministically, see `Version::same_dot_order`). Entries that old are rare: the cap
//!   should exceed the number of nodes that coordinate writes in a normal period (the cluster
//!   size), so that only entries of departed or long-idle coordinators are ever pruned, and
//!   pruning should be applied only well after anti-entropy had time to spread a write.
//!
//! Pruning only removes: the set never gains a sibling or an entry, and no surviving sibling's
//! dot loses its cover.

use std::collections::BTreeSet;

use crate::VersionSet;

/// Thresholds applied by `prune` (hot-reloadable in the node).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_clock_entries: usize,
    pub max_siblings: usize,
    /// Past values kept (the newest; 0 keeps none). See `past.rs`.
    pub history: usize,
    /// Receipts recorded before this time (ms since the Unix epoch) are dropped; 0 keeps all.
    pub receipts_since_ms: u64,
    /// Most receipts kept (the newest by time, then token): a hot key written with a fresh
    /// token many times a second would otherwise carry every one of them through the window.
    pub max_receipts: usize,
}

impl Limits {
    /// Only the two causal caps: no history, every receipt kept.
    pub const fn caps(max_clock_entries: usize, max_siblings: usize) -> Limits {
        Limits {
            max_clock_entries,
            max_siblings,
            history: 0,
            receipts_since_ms: 0,
            max_receipts: usize::MAX,
        }
    }
}

/// What `prune` removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PruneReport {
    pub clock_entries_dropped: usize,
    pub siblings_dropped: usize,
    pub history_dropped: usize,
    pub receipts_dropped: usize,
}

impl PruneReport {
    /// Whether pruning removed anything (the caller then has a new state to store).
    pub fn changed(&self) -> bool {
        self.clock_entries_dropped > 0
            || self.siblings_dropped > 0
            || self.history_dropped > 0
            || self.receipts_dropped > 0
    }
}

impl VersionSet {
    /// Applies the caps; never grows the set. See the module docs for what each cap costs.
    pub fn prune(&mut self, limits: &Limits) -> PruneReport {
        let keep = limits.max_siblings.max(1);
        let siblings_dropped = self.versions.len().saturating_sub(keep);
        // Versions are sorted oldest first, so the prefix is what goes (into history).
        let dropped: Vec<_> = self.versions.drain(..siblings_dropped).collect();
        self.remember(dropped);
        let (history_dropped, receipts_dropped) = self.prune_past(
            limits.history,
            limits.receipts_since_ms,
            limits.max_receipts,
        );

        let pinned: BTreeSet<&str> = self.versions.iter().map(|v| v.dot.node.as_str()).collect();
        let clock_entries_dropped = self.clock.prune_oldest(limits.max_clock_entries, &pinned);
        PruneReport {
            clock_entries_dropped,
            siblings_dropped,
            history_dropped,
            receipts_dropped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Context, Value};

    fn blind_write(s: &mut VersionSet, node: &str, t: u64) {
        s.update(
            &Context::default(),
            Value::Data(vec![t as u8]),
            None,
            node,
            t,
        );
    }

    #[test]
    fn keeps_the_newest_siblings() {
        let mut s = VersionSet::new();
        for t in 0..5 {
            blind_write(&mut s, "n1", t);
        }
        let limits = Limits::caps(10, 2);
        let report = s.prune(&limits);
        assert_eq!(
            report,
            PruneReport {
                clock_entries_dropped: 0,
                siblings_dropped: 3,
                // Moved to history, which keeps none.
                history_dropped: 3,
                receipts_dropped: 0,
            }
        );
        assert_eq!(s.live_values(5), [[3u8].as_slice(), &[4]]);
        assert!(!s.prune(&limits).changed());
    }

    #[test]
    fn zero_sibling_cap_keeps_the_newest_write() {
        let mut s = VersionSet::new();
        blind_write(&mut s, "n1", 1);
        blind_write(&mut s, "n2", 2);
        let report = s.prune(&Limits::caps(0, 0));
        assert_eq!(report.siblings_dropped, 1);
        assert_eq!(s.live_values(2), [[2u8].as_slice()]);
        // n2 is pinned by the survivor; n1 is free to go.
        assert_eq!(report.clock_entries_dropped, 1);
        assert_eq!(s.clock().map(|(n, _)| n).collect::<Vec<_>>(), ["n2"]);
    }

    #[test]
    fn drops_oldest_unpinned_clock_entries() {
        let mut s = VersionSet::new();
        for (t, node) in ["a", "b", "c", "d"].into_iter().enumerate() {
            let ctx = s.context();
            s.update(&ctx, Value::Data(vec![]), None, node, t as u64);
        }
        // One sibling, from "d"; entries a (t=0), b (t=1), c (t=2) are unpinned.
        let report = s.prune(&Limits::caps(2, 4));
        assert_eq!(report.clock_entries_dropped, 2);
        let left: Vec<&str> = s.clock().map(|(n, _)| n).collect();
        assert_eq!(left, ["c", "d"]);
        assert_eq!(s.versions().len(), 1);
    }
}
