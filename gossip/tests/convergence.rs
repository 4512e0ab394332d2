//! From one seed, clusters of 3, 10 and 50 nodes reach the same view (every node alive
//! everywhere, same incarnations), and the rounds needed are printed next to log2(n).
//!
//! Two join topologies: a star (everyone joins through node 0, the usual deployment with one
//! seed) and a chain (node i joins through node i-1, so no node starts knowing more than one
//! other and the view has to spread epidemically).

mod sim;

use std::time::Duration;

use sim::{Sim, test_config};

const SEED: u64 = 4;

fn converge(name: &str, n: usize, mut sim: Sim) {
    let took = sim
        .run_until(Duration::from_secs(60), Sim::converged)
        .unwrap_or_else(|| panic!("{name} n = {n} did not converge in 60 rounds"));
    let rounds = sim.rounds(took);
    let log2 = (n as f64).log2();
    let msgs_per_node_round = sim.stats.sent as f64 / n as f64 / rounds.max(1.0);
    let bytes_per_msg = sim.stats.bytes as f64 / sim.stats.sent as f64;
    println!(
        "convergence {name:<5} n={n:>2} seed={SEED}: {rounds:>4.1} rounds, log2(n) = {log2:.2}, \
         rounds/log2(n) = {:.2}; {msgs_per_node_round:.1} msgs/node/round, \
         {bytes_per_msg:.0} bytes/msg",
        rounds / log2
    );
    // Epidemic dissemination takes O(log n) rounds. The bound is generous on purpose; the
    // printed figure is the measurement.
    assert!(
        rounds <= 3.0 * log2 + 6.0,
        "{name} n = {n}: {rounds} rounds against log2(n) = {log2}"
    );
}

#[test]
fn clusters_of_3_10_50_converge_in_a_few_times_log2_n_rounds() {
    for n in [3usize, 10, 50] {
        converge("star", n, Sim::cluster(n, SEED, test_config()));
        converge("chain", n, Sim::joined(n, SEED, test_config(), |i| i - 1));
    }
}
