//! Joining: through any member (not only the first seed), two separate clusters merged by
//! one join (`POST /peers`), and a node started before its seed keeps retrying the seed.

mod sim;

use std::time::Duration;

use sim::{Sim, test_config};

#[test]
fn a_new_node_joins_through_any_member() {
    // Node 9 starts alone and joins through node 5, which itself joined through node 0.
    let mut sim = Sim::joined(10, 81, test_config(), |i| if i == 9 { 5 } else { 0 });
    let took = sim.converge(Duration::from_secs(30), "everyone knows everyone");
    println!(
        "join through a non-seed member, n=10: converged in {:.1} s",
        took.as_secs_f64()
    );
}

#[test]
fn one_join_merges_two_clusters_into_one() {
    // Nodes 0-4 and 5-9 form two clusters (5 joins 6, 7, 8, 9 join 5).
    let mut sim = Sim::joined(10, 82, test_config(), |i| if i < 5 { 0 } else { 5 });
    // Node 5 joined nothing yet (joined() starts at i = 1 with seed_of(5) = 5 = itself).
    sim.run_for(Duration::from_secs(10), |_| {});
    assert_eq!(sim.gossip(0).members().len(), 5);
    assert_eq!(sim.gossip(7).members().len(), 5);
    sim.join(3, 8);
    let took = sim.converge(Duration::from_secs(30), "one cluster of ten");
    println!(
        "merging two clusters of 5 with one join: converged in {:.1} s",
        took.as_secs_f64()
    );
}

#[test]
fn a_node_started_before_its_seed_keeps_trying_it() {
    let mut sim = Sim::new(4, 83, test_config());
    sim.stop(0);
    for i in 1..4 {
        sim.join(i, 0);
    }
    sim.run_for(Duration::from_secs(20), |_| {});
    assert_eq!(sim.gossip(1).members().len(), 1, "nobody reachable yet");
    sim.restart(0, 0, 0);
    sim.converge(Duration::from_secs(10), "the seed's arrival joins everyone");
}
