//! The preference list always has `min(N, members)` distinct members, and the fallbacks are
//! the rest of the walk: disjoint from it, without the down members, in walk order.

mod common;

use std::collections::HashSet;

use common::member_ids;
use proptest::prelude::*;
use ringkv_ring::Ring;

proptest! {
    #![proptest_config(ringkv_testkit::proptest_config("ring preference_list_size", 256))]
    #[test]
    fn preference_list_has_min_n_members_distinct(
        ids in member_ids(12),
        tokens in 0usize..24,
        n in 0usize..16,
        key in prop::collection::vec(any::<u8>(), 0..32),
    ) {
        let ring = Ring::new(ids.clone(), tokens);
        let distinct: HashSet<&String> = ids.iter().collect();
        let list = ring.preference_list(&key, n);
        prop_assert_eq!(list.len(), n.min(distinct.len()));
        let unique: HashSet<&String> = list.iter().collect();
        prop_assert_eq!(unique.len(), list.len());
        prop_assert!(list.iter().all(|m| distinct.contains(m)));
    }

    #[test]
    fn fallbacks_are_the_rest_of_the_walk_without_down_members(
        ids in member_ids(12),
        tokens in 1usize..24,
        n in 0usize..8,
        down_mask in any::<u16>(),
        key in prop::collection::vec(any::<u8>(), 0..32),
    ) {
        let ring = Ring::new(ids, tokens);
        let whole_walk = ring.preference_list(&key, usize::MAX);
        prop_assert_eq!(whole_walk.len(), ring.members().len());
        let down: HashSet<String> = (ring.members().iter().enumerate())
            .filter(|(i, _)| down_mask & (1 << i) != 0)
            .map(|(_, m)| m.clone())
            .collect();
        let expected: Vec<String> = whole_walk
            .iter()
            .skip(n)
            .filter(|m| !down.contains(*m))
            .cloned()
            .collect();
        prop_assert_eq!(ring.fallbacks(&key, n, &down), expected);
    }
}
