//! Load balance with 256 tokens per member and 10 members: the most loaded member's share over
//! the mean, measured as the exact fraction of the hash space owned as primary and by sampling
//! keys.
//!
//! With random tokens a member's share is a sum of 256 of the 2560 gaps between virtual nodes,
//! whose relative standard deviation is about `1/sqrt(256) = 6.25%`; the maximum of 10 members
//! is typically `~1.09x` the mean, and exceeds `1.15x` for a few percent of membership sets (the
//! survey below measures how many). So `<= 1.15` is asserted for realistic fixed memberships and
//! as a statistical statement over many memberships, while every single random membership is
//! held to a bound it cannot miss short of a >5-sigma event (`1.35`).

mod common;

use common::{addresses, imbalance, primary_shares, sampled_shares};
use proptest::prelude::*;
use ringkv_ring::{DEFAULT_TOKENS_PER_MEMBER, Ring};

const SAMPLED_KEYS: usize = 100_000;

#[test]
fn realistic_memberships_are_within_15_percent_of_the_mean() {
    let node_names: Vec<String> = (1..=10).map(|i| format!("node-{i}")).collect();
    for ids in [addresses(0..10), addresses(1..11), node_names] {
        let ring = Ring::new(ids.clone(), DEFAULT_TOKENS_PER_MEMBER);
        let exact = imbalance(&primary_shares(&ring));
        let sampled = imbalance(&sampled_shares(&ring, SAMPLED_KEYS));
        eprintln!(
            "10 members {}..: max/mean primary share exact {exact:.4}, sampled ({SAMPLED_KEYS} keys) {sampled:.4}",
            ids[0]
        );
        assert!(exact <= 1.15, "{exact}");
        assert!(sampled <= 1.15, "{sampled}");
    }
}

#[test]
fn sampled_shares_track_the_exact_shares() {
    let ring = Ring::new(addresses(0..10), DEFAULT_TOKENS_PER_MEMBER);
    let exact = primary_shares(&ring);
    let sampled = sampled_shares(&ring, SAMPLED_KEYS);
    let total: f64 = exact.iter().map(|s| s.1).sum();
    assert!(
        (total - 1.0).abs() < 1e-9,
        "shares cover the ring once: {total}"
    );
    for ((m, e), (_, s)) in exact.iter().zip(&sampled) {
        // Sampling sd is about 0.1% absolute at 100k keys; 0.5% is five of them.
        assert!((e - s).abs() < 0.005, "{m}: exact {e} sampled {s}");
    }
}

#[test]
fn survey_of_random_memberships() {
    let rings = 300;
    let mut ratios: Vec<f64> = (0..rings)
        .map(|r| {
            let ids = (0..10).map(|i| format!("member-{r:03}-{i:02}"));
            imbalance(&primary_shares(&Ring::new(ids, DEFAULT_TOKENS_PER_MEMBER)))
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    let over = ratios.iter().filter(|&&r| r > 1.15).count();
    let (median, p95, worst) = (
        ratios[rings / 2],
        ratios[rings * 95 / 100],
        ratios[rings - 1],
    );
    eprintln!(
        "{rings} random 10-member rings, 256 tokens: max/mean median {median:.4}, p95 {p95:.4}, \
         worst {worst:.4}; {over} of {rings} ({:.1}%) above 1.15",
        100.0 * over as f64 / rings as f64
    );
    assert!(median <= 1.12, "{median}");
    // About 5% are expected above 1.15; 12% would be a placement bug, not bad luck.
    assert!(over * 100 <= 12 * rings, "{over}");
}

proptest! {
    #![proptest_config(ringkv_testkit::proptest_config("ring load_balance", 48))]
    #[test]
    fn no_membership_is_grossly_unbalanced(salt in "[a-z0-9]{1,12}") {
        let ids = (0..10).map(|i| format!("{salt}-{i}"));
        let ring = Ring::new(ids, DEFAULT_TOKENS_PER_MEMBER);
        let ratio = imbalance(&primary_shares(&ring));
        prop_assert!(ratio <= 1.35, "{}", ratio);
    }
}
