//! Merge is a join: commutative, associative and idempotent, on any reachable states.
//!
//! States come from simulated histories with pruning, taken either from one cluster (the usual
//! case: replicas of one key) or from independent clusters that reuse node ids, which makes
//! equal dots with different contents meet and exercises the deterministic tie-break.

mod common;

use common::{REPLICAS, cases, history_with_pruning, reachable_set, run};
use proptest::prelude::*;
use ringkv_versions::VersionSet;

fn joined(a: &VersionSet, b: &VersionSet) -> VersionSet {
    let mut out = a.clone();
    out.merge(b);
    out
}

/// Three replicas of one history, or three independent reachable sets.
fn three_sets() -> impl Strategy<Value = (VersionSet, VersionSet, VersionSet)> {
    let same_cluster = (
        history_with_pruning(24),
        [0..REPLICAS, 0..REPLICAS, 0..REPLICAS],
    )
        .prop_map(|(ops, [i, j, k])| {
            let c = run(&ops);
            (
                c.replicas[i].clone(),
                c.replicas[j].clone(),
                c.replicas[k].clone(),
            )
        });
    let independent = (reachable_set(), reachable_set(), reachable_set());
    prop_oneof![same_cluster, independent]
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn merge_is_commutative((a, b, _) in three_sets()) {
        let ab = joined(&a, &b);
        let ba = joined(&b, &a);
        prop_assert_eq!(ab.encode(), ba.encode());
        prop_assert_eq!(ab, ba);
    }

    #[test]
    fn merge_is_associative((a, b, c) in three_sets()) {
        let left = joined(&joined(&a, &b), &c);
        let right = joined(&a, &joined(&b, &c));
        prop_assert_eq!(left.encode(), right.encode());
        prop_assert_eq!(left, right);
    }

    #[test]
    fn merge_is_idempotent((a, b, _) in three_sets()) {
        prop_assert_eq!(&joined(&a, &a), &a);
        let ab = joined(&a, &b);
        prop_assert_eq!(&joined(&ab, &b), &ab);
        prop_assert_eq!(&joined(&ab, &a), &ab);
    }

    #[test]
    fn merge_result_context_covers_both((a, b, _) in three_sets()) {
        let mut ctx = a.context();
        ctx.merge(&b.context());
        prop_assert_eq!(joined(&a, &b).context(), ctx);
    }
}
