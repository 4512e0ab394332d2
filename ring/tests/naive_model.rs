//! Lookups agree with a naive model (all tokens sorted, scanned linearly), including at and
//! around every virtual node's token, where off-by-one errors in `(start, end]` would show, and
//! the ranges a member holds agree with the model's preference lists.

mod common;

use common::{NaiveRing, member_ids};
use proptest::prelude::*;
use ringkv_ring::{Ring, key_token};

/// Probe tokens: random ones, both ends of the hash space, and each vnode token and its neighbours.
fn probes(naive: &NaiveRing, random: &[u64]) -> Vec<u64> {
    let mut out = random.to_vec();
    out.extend([0, u64::MAX]);
    for (t, _) in &naive.vnodes {
        out.extend([t.wrapping_sub(1), *t, t.wrapping_add(1)]);
    }
    out
}

proptest! {
    #![proptest_config(ringkv_testkit::proptest_config("ring naive_model", 256))]
    #[test]
    fn preference_lists_agree_with_the_naive_ring(
        ids in member_ids(10),
        tokens in 0usize..12,
        n in 0usize..6,
        keys in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..16), 0..8),
        random in prop::collection::vec(any::<u64>(), 0..16),
    ) {
        let ring = Ring::new(ids.clone(), tokens);
        let naive = NaiveRing::new(&ids, tokens);
        let vnodes: Vec<(u64, String)> =
            ring.vnodes().map(|(t, m)| (t, m.to_owned())).collect();
        prop_assert_eq!(&vnodes, &naive.vnodes);
        for key in &keys {
            prop_assert_eq!(ring.preference_list(key, n), naive.preference_list(key_token(key), n));
        }
        for t in probes(&naive, &random) {
            prop_assert_eq!(ring.preference_list_at(t, n), naive.preference_list(t, n));
        }
    }

    #[test]
    fn ranges_of_agree_with_the_naive_ring(
        ids in member_ids(8),
        tokens in 1usize..8,
        n in 0usize..5,
        random in prop::collection::vec(any::<u64>(), 0..16),
    ) {
        let ring = Ring::new(ids.clone(), tokens);
        let naive = NaiveRing::new(&ids, tokens);
        let held: Vec<_> = ring.members().iter().map(|m| ring.ranges_of(m, n)).collect();
        for t in probes(&naive, &random) {
            let list = naive.preference_list(t, n);
            for (member, ranges) in ring.members().iter().zip(&held) {
                let covering: Vec<usize> =
                    ranges.iter().filter(|(r, _)| r.contains(t)).map(|(_, k)| *k).collect();
                let expected: Vec<usize> = list.iter().position(|m| m == member).into_iter().collect();
                prop_assert_eq!(covering, expected, "member {} at token {}", member, t);
            }
        }
    }
}

#[test]
fn ring_is_identical_across_builds_and_input_orders() {
    let ids = common::addresses(0..20);
    let mut reversed = ids.clone();
    reversed.reverse();
    reversed.extend(ids.iter().take(5).cloned());
    assert_eq!(Ring::new(ids, 64), Ring::new(reversed, 64));
}
