//! ringkv-testkit: what the workspace's randomized tests share, so that every one of them prints
//! its seed and can be rerun with it (a dev-dependency only; nothing here ships in the node).
//!
//! - Property tests: [`proptest_config`] takes `PROPTEST_RNG_SEED` (proptest's own variable) if
//!   set, else draws a seed, prints `<name>: seed N (rerun with PROPTEST_RNG_SEED=N)` and fixes
//!   the runner's RNG to it. `RINGKV_PROPTEST_CASES` overrides the number of cases.
//! - Other randomized tests: [`seed`] does the same with `RINGKV_TEST_SEED`, for a seeded RNG
//!   of the test's own ([`rng`]).
//!
//! The line goes to stdout, which the test harness shows for a failing test (and for all with
//! `--nocapture`).

use proptest::test_runner::{Config, RngSeed};

/// The environment variable [`seed`] reads.
pub const SEED_VAR: &str = "RINGKV_TEST_SEED";
/// proptest's own seed variable, read by [`proptest_config`].
pub const PROPTEST_SEED_VAR: &str = "PROPTEST_RNG_SEED";

fn seed_from(var: &str, name: &str) -> u64 {
    let given = std::env::var(var).ok().and_then(|s| s.trim().parse().ok());
    let seed = given.unwrap_or_else(|| fastrand::u64(..));
    let how = if given.is_some() { "given" } else { "drawn" };
    println!("{name}: seed {seed} ({how}; rerun with {var}={seed})");
    seed
}

/// The seed of the randomized test `name`: `RINGKV_TEST_SEED` if set, else a fresh one; printed.
pub fn seed(name: &str) -> u64 {
    seed_from(SEED_VAR, name)
}

/// A generator seeded with [`seed`]`(name)`.
pub fn rng(name: &str) -> fastrand::Rng {
    fastrand::Rng::with_seed(seed(name))
}

/// A proptest config for the property test `name` with `cases` cases (`RINGKV_PROPTEST_CASES`
/// overrides), its RNG fixed to a printed seed (`PROPTEST_RNG_SEED` if set).
pub fn proptest_config(name: &str, cases: u32) -> Config {
    let cases = std::env::var("RINGKV_PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(cases);
    Config {
        cases,
        rng_seed: RngSeed::Fixed(seed_from(PROPTEST_SEED_VAR, name)),
        ..Config::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proptest_runs_are_pinned_to_a_seed() {
        let config = proptest_config("testkit", 7);
        assert!(matches!(config.rng_seed, RngSeed::Fixed(_)));
        // An unset variable draws a fresh seed each time.
        let (a, b) = (
            seed_from("RINGKV_TESTKIT_UNSET", "a"),
            seed_from("RINGKV_TESTKIT_UNSET", "b"),
        );
        assert_ne!(a, b);
    }
}
