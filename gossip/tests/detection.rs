//! A node that stops is seen suspect, then dead, by every live node within
//! `failure_timeout + suspect_timeout` plus a few intervals; nobody else is suspected.
//! Prints per-node detection times (since the stop) for n = 10 and n = 50.

mod sim;

use ringkv_gossip::{Event, Status};
use sim::{Sim, spread, test_config};

#[test]
fn a_stopped_node_is_seen_dead_everywhere_within_the_timeouts_plus_a_few_intervals() {
    let config = test_config();
    let slack = 3 * config.interval;
    for (n, victim) in [(10usize, 7usize), (50, 31)] {
        let mut sim = Sim::converged_cluster(n, 11, config.clone());
        sim.run_for(10 * config.interval, |_| {});
        let stopped_at = sim.elapsed();
        sim.stop(victim);
        let limit = config.failure_timeout + config.suspect_timeout + slack;
        sim.run_until(limit, |sim| sim.all_see(victim, Status::Dead))
            .unwrap_or_else(|| panic!("n = {n}: not dead everywhere within {limit:?}"));

        let suspected = sim.first_seen(victim, Status::Suspect, stopped_at);
        let dead = sim.first_seen(victim, Status::Dead, stopped_at);
        assert_eq!(dead.len(), n - 1, "every live node saw the death");
        println!(
            "detection n={n}: failure_timeout {:?}, suspect_timeout {:?}, interval {:?}; \
             suspect after {}; dead after {} (bound {:?})",
            config.failure_timeout,
            config.suspect_timeout,
            config.interval,
            spread(&suspected),
            spread(&dead),
            limit
        );
        // Nobody but the victim was ever suspected.
        for node in &sim.nodes {
            for (_, event) in &node.events {
                if let Event::Suspect { id } | Event::Dead { id } = event {
                    assert_eq!(id, &sim.nodes[victim].id, "false suspicion at {}", node.id);
                }
            }
        }
    }
}
