//! Pruning respects its caps, never grows a set, keeps the newest siblings, keeps every
//! survivor covered by the context, and (clock pruning alone) can only add siblings to a later
//! merge, never remove one: false concurrency, not silent loss.

mod common;

use std::collections::BTreeSet;

use common::{cases, limits, reachable_set};
use proptest::prelude::*;
use ringkv_versions::{Limits, VersionSet};

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn pruning_respects_caps_and_never_grows(set in reachable_set(), limits in limits()) {
        let mut pruned = set.clone();
        let report = pruned.prune(&limits);

        let kept = pruned.versions().len();
        prop_assert!(kept <= limits.max_siblings.max(1));
        prop_assert!(kept <= set.versions().len());
        prop_assert_eq!(report.siblings_dropped, set.versions().len() - kept);
        // The survivors are the newest, in the same order.
        prop_assert_eq!(pruned.versions(), &set.versions()[report.siblings_dropped..]);

        let sibling_nodes: BTreeSet<&str> =
            pruned.versions().iter().map(|v| v.dot.node.as_str()).collect();
        let entries = pruned.clock().len();
        prop_assert!(entries <= limits.max_clock_entries.max(sibling_nodes.len()));
        prop_assert!(entries <= set.clock().len());
        prop_assert_eq!(report.clock_entries_dropped, set.clock().len() - entries);
        let ctx = pruned.context();
        prop_assert!(pruned.versions().iter().all(|v| ctx.covers(&v.dot)));
        // What is left is a valid state: it survives the strict decoder.
        prop_assert_eq!(&VersionSet::decode(&pruned.encode()).unwrap(), &pruned);

        // Pruning again changes nothing.
        let mut again = pruned.clone();
        prop_assert!(!again.prune(&limits).changed());
        prop_assert_eq!(again, pruned);
    }

    #[test]
    fn clock_pruning_only_adds_siblings_to_merges(
        a in reachable_set(),
        b in reachable_set(),
        max_clock_entries in 0usize..4,
    ) {
        let mut pruned = a.clone();
        // Clock pruning alone: every sibling and past value kept.
        let limits = Limits { history: usize::MAX, ..Limits::caps(max_clock_entries, usize::MAX) };
        prop_assert_eq!(pruned.prune(&limits).siblings_dropped, 0);
        let mut exact = a.clone();
        exact.merge(&b);
        pruned.merge(&b);
        for v in exact.versions() {
            prop_assert!(pruned.versions().contains(v), "{:?} lost by pruning", v.dot);
        }
    }
}
