//! Ring diffs are exact: at every probed token, the moves covering it are exactly the ones the
//! owner-set change there calls for (none when the owner set is unchanged, one to every member
//! that gains the key), computed here from a naive model of both rings.

mod common;

use common::NaiveRing;
use proptest::prelude::*;
use ringkv_ring::Ring;

/// The moves the module doc prescribes for a key whose preference list goes `old -> new`:
/// gainers (in `new` order) paired with losers (in `old` order); surplus gainers receive from
/// `old[0]`, surplus losers send to `new[0]` as replica 0.
fn expected_moves(old: &[String], new: &[String]) -> Vec<(String, String, usize)> {
    let gainers: Vec<(usize, &String)> = new
        .iter()
        .enumerate()
        .filter(|(_, m)| !old.contains(m))
        .collect();
    let losers: Vec<&String> = old.iter().filter(|m| !new.contains(m)).collect();
    let mut out = Vec::new();
    for (i, (rank, to)) in gainers.iter().enumerate() {
        let from = losers.get(i).copied().unwrap_or(&old[0]);
        out.push((from.clone(), (*to).clone(), *rank));
    }
    for from in losers.iter().skip(gainers.len()) {
        out.push(((*from).clone(), new[0].clone(), 0));
    }
    out.sort();
    out
}

/// An old membership drawn from a pool of 10 ids, and a new one that adds and removes some.
fn memberships() -> impl Strategy<Value = (Vec<String>, Vec<String>)> {
    (1u16..1024, any::<u16>(), any::<u16>()).prop_map(|(old_mask, add, remove)| {
        let pool: Vec<String> = (0..10).map(|i| format!("m{i}")).collect();
        let pick = |mask: u16| -> Vec<String> {
            (pool.iter().enumerate())
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, m)| m.clone())
                .collect()
        };
        // Mostly one or two changes, as joins and leaves happen, sometimes many.
        let (add, remove) = if add % 4 == 0 {
            (add, remove)
        } else {
            (1 << (add % 10), 1 << (remove % 10))
        };
        let mut new_mask = (old_mask | add) & !remove;
        if new_mask & 0x3ff == 0 {
            new_mask = old_mask;
        }
        (pick(old_mask), pick(new_mask))
    })
}

proptest! {
    #![proptest_config(ringkv_testkit::proptest_config("ring diff_exact", 256))]
    #[test]
    fn every_owner_change_is_in_exactly_the_prescribed_moves(
        (old_ids, new_ids) in memberships(),
        tokens in 1usize..10,
        n in 1usize..5,
        random in prop::collection::vec(any::<u64>(), 0..32),
    ) {
        let (old, new) = (Ring::new(old_ids.clone(), tokens), Ring::new(new_ids.clone(), tokens));
        let (naive_old, naive_new) = (NaiveRing::new(&old_ids, tokens), NaiveRing::new(&new_ids, tokens));
        let moves = old.diff(&new, n);
        let mut probes = random;
        probes.extend([0, u64::MAX]);
        for (t, _) in naive_old.vnodes.iter().chain(&naive_new.vnodes) {
            probes.extend([t.wrapping_sub(1), *t, t.wrapping_add(1)]);
        }
        for t in probes {
            let a = naive_old.preference_list(t, n);
            let b = naive_new.preference_list(t, n);
            let mut covering: Vec<(String, String, usize)> = moves
                .iter()
                .filter(|m| m.range.contains(t))
                .map(|m| (m.from.clone(), m.to.clone(), m.replica))
                .collect();
            covering.sort();
            prop_assert_eq!(&covering, &expected_moves(&a, &b), "token {}: {:?} -> {:?}", t, a, b);
            let (mut sa, mut sb) = (a.clone(), b.clone());
            sa.sort();
            sb.sort();
            prop_assert_eq!(sa != sb, !covering.is_empty());
        }
    }
}

#[test]
fn a_join_moves_only_to_the_joiner_and_a_leave_only_from_the_leaver() {
    let before = common::addresses(0..8);
    let after = common::addresses(0..9);
    let (small, big) = (Ring::new(before, 64), Ring::new(after, 64));
    let joiner = "10.0.0.8:7000";
    for n in 1..=3 {
        let join = small.diff(&big, n);
        assert!(join.iter().all(|m| m.to == joiner && m.from != joiner));
        // Joining takes, per replica rank, about 1/9 of the ring: never nothing.
        for k in 0..n {
            assert!(join.iter().any(|m| m.replica == k), "n={n} k={k}");
        }
        let leave = big.diff(&small, n);
        assert!(leave.iter().all(|m| m.from == joiner && m.to != joiner));
        let (joined, left): (u128, u128) = (
            join.iter().map(|m| m.range.width()).sum(),
            leave.iter().map(|m| m.range.width()).sum(),
        );
        assert_eq!(
            joined, left,
            "a leave undoes a join over the same width, n={n}"
        );
    }
}
