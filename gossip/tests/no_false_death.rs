//! With 10% of messages lost (and up to 200 ms of delay) and no failure, no live node is ever
//! declared dead over a long run. Prints the run length in simulated time and rounds, and how
//! many (transient) suspicions occurred. `RINGKV_GOSSIP_SIM_ROUNDS` lengthens the run.

mod sim;

use std::time::Duration;

use ringkv_gossip::{Config, Event};
use sim::{Sim, test_config};

/// Rounds to simulate: `default`, or `RINGKV_GOSSIP_SIM_ROUNDS` for a longer run.
fn rounds_to_run(default: u32) -> u32 {
    std::env::var("RINGKV_GOSSIP_SIM_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn long_lossy_run(name: &str, n: usize, config: Config, rounds: u32) {
    let mut sim = Sim::converged_cluster(n, 10, config.clone());
    sim.loss = 0.10;
    sim.delay = (Duration::from_millis(5), Duration::from_millis(200));
    let run = config.interval * rounds;
    let mut dead = Vec::new();
    let mut suspicions = 0usize;
    let mut checked = vec![0usize; n];
    sim.run_for(run, |sim| {
        for (i, node) in sim.nodes.iter().enumerate() {
            for (at, event) in &node.events[checked[i]..] {
                match event {
                    Event::Suspect { .. } => suspicions += 1,
                    Event::Dead { id } => dead.push((*at, node.id.clone(), id.clone())),
                    _ => {}
                }
            }
            checked[i] = node.events.len();
        }
    });
    println!(
        "no false death ({name}) n={n}, loss 10%, delay 5-200 ms: {:.0} s simulated = {rounds} \
         rounds, {} messages sent ({} lost); {suspicions} transient suspicions, {} deaths",
        run.as_secs_f64(),
        sim.stats.sent,
        sim.stats.lost,
        dead.len()
    );
    assert!(
        dead.is_empty(),
        "false deaths (time, observer, subject): {dead:?}"
    );
    assert!(sim.converged(), "every node still sees every node alive");
}

#[test]
fn no_live_node_is_declared_dead_at_ten_percent_loss() {
    long_lossy_run("fixed timeout", 10, test_config(), rounds_to_run(2000));
}

#[test]
fn no_live_node_is_declared_dead_at_ten_percent_loss_with_phi_accrual() {
    let config = Config {
        phi_threshold: Some(8.0),
        ..test_config()
    };
    long_lossy_run("phi 8", 10, config, rounds_to_run(1000));
}
