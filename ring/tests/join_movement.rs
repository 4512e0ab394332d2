//! When a member joins a ring of `n`, about `1/(n+1)` of the keys change primary, and every key
//! that changes goes to the joiner. Measured exactly (the width of the primary-replica moves of
//! `Ring::diff`) and by sampling keys; the figures are printed (`--nocapture`).
//!
//! The joiner's share has a relative standard deviation of about `1/sqrt(256) = 6.25%`, so the
//! fixed memberships are held to `±25%` of `1/(n+1)` and random ones to `±35%` (4 and 5.6 sigma).

mod common;

use common::addresses;
use proptest::prelude::*;
use ringkv_ring::{DEFAULT_TOKENS_PER_MEMBER, Ring};

const SAMPLED_KEYS: usize = 50_000;

/// Exact fraction of the hash space that changes primary from `old` to `new`: with one replica
/// each changed arc is in exactly one move.
fn moved_fraction(old: &Ring, new: &Ring) -> f64 {
    let width: u128 = old.diff(new, 1).iter().map(|m| m.range.width()).sum();
    width as f64 / 2f64.powi(64)
}

/// Fraction of sampled keys whose primary changes, checking each went to `joiner`.
fn sampled_moved_fraction(old: &Ring, new: &Ring, joiner: &str) -> f64 {
    let mut moved = 0;
    for i in 0..SAMPLED_KEYS {
        let key = format!("sample-key-{i}");
        let (before, after) = (
            old.preference_list(key.as_bytes(), 1),
            new.preference_list(key.as_bytes(), 1),
        );
        if before != after {
            assert_eq!(
                after,
                [joiner],
                "key {key} moved to a member that was already there"
            );
            moved += 1;
        }
    }
    moved as f64 / SAMPLED_KEYS as f64
}

/// Fraction of sampled keys whose owner set for `replicas` changes.
fn sampled_owner_change(old: &Ring, new: &Ring, replicas: usize) -> f64 {
    let changed = (0..SAMPLED_KEYS)
        .filter(|i| {
            let key = format!("sample-key-{i}");
            let mut a = old.preference_list(key.as_bytes(), replicas);
            let mut b = new.preference_list(key.as_bytes(), replicas);
            a.sort();
            b.sort();
            a != b
        })
        .count();
    changed as f64 / SAMPLED_KEYS as f64
}

#[test]
fn a_join_moves_about_one_in_n_plus_one_keys() {
    for n in [1usize, 2, 3, 5, 10, 20, 50] {
        let old = Ring::new(addresses(0..n), DEFAULT_TOKENS_PER_MEMBER);
        let new = Ring::new(addresses(0..n + 1), DEFAULT_TOKENS_PER_MEMBER);
        let joiner = &addresses(n..n + 1)[0];
        let ideal = 1.0 / (n + 1) as f64;
        let exact = moved_fraction(&old, &new);
        let sampled = sampled_moved_fraction(&old, &new, joiner);
        let owners3 = sampled_owner_change(&old, &new, 3);
        eprintln!(
            "join {n:>2} -> {:>2}: primary moved exact {exact:.4}, sampled {sampled:.4}, \
             ideal 1/(n+1) {ideal:.4} (ratio {:.3}); N=3 owner set changed (sampled) {owners3:.4}, \
             ideal min(3,n+1)/(n+1) {:.4}",
            n + 1,
            exact / ideal,
            3.min(n + 1) as f64 / (n + 1) as f64,
        );
        assert!(
            (exact / ideal - 1.0).abs() <= 0.25,
            "n={n}: {exact} vs {ideal}"
        );
        assert!(
            (sampled - exact).abs() < 0.01,
            "n={n}: sampled {sampled} exact {exact}"
        );
    }
}

proptest! {
    #![proptest_config(ringkv_testkit::proptest_config("ring join_movement", 24))]
    #[test]
    fn a_join_moves_about_one_in_n_plus_one_of_the_space(
        salt in "[a-z0-9]{1,8}",
        n in 1usize..30,
    ) {
        let ids: Vec<String> = (0..=n).map(|i| format!("{salt}/{i}")).collect();
        let old = Ring::new(ids[..n].to_vec(), DEFAULT_TOKENS_PER_MEMBER);
        let new = Ring::new(ids.clone(), DEFAULT_TOKENS_PER_MEMBER);
        let moves = old.diff(&new, 1);
        prop_assert!(moves.iter().all(|m| m.to == ids[n]));
        let ratio = moved_fraction(&old, &new) * (n + 1) as f64;
        prop_assert!((ratio - 1.0).abs() <= 0.35, "n={}: ratio {}", n, ratio);
    }
}
