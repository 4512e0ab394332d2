//! Restart: a node that comes back with a higher incarnation is alive everywhere again.
//! Either it was started with a higher incarnation (persisted and incremented), or it starts
//! from scratch and raises its incarnation above the old entry it hears about itself.

mod sim;

use std::time::Duration;

use ringkv_gossip::{Event, Status};
use sim::{Sim, test_config};

const VICTIM: usize = 4;

/// A converged 10-node cluster in which `VICTIM` stopped and was declared dead everywhere.
fn cluster_with_a_dead_node(seed: u64) -> (Sim, u64) {
    let mut sim = Sim::converged_cluster(10, seed, test_config());
    sim.run_for(Duration::from_secs(5), |_| {});
    let old = sim.gossip(VICTIM).incarnation();
    sim.stop(VICTIM);
    sim.run_until(Duration::from_secs(30), |sim| {
        sim.all_see(VICTIM, Status::Dead)
    })
    .expect("the stopped node is declared dead");
    (sim, old)
}

fn incarnation_everywhere(sim: &Sim) -> Vec<u64> {
    let id = &sim.nodes[VICTIM].id;
    sim.live()
        .into_iter()
        .map(|i| sim.gossip(i).member(id).expect("known").incarnation)
        .collect()
}

#[test]
fn a_node_restarted_with_a_higher_incarnation_is_alive_everywhere() {
    let (mut sim, old) = cluster_with_a_dead_node(31);
    sim.restart(VICTIM, old + 1, 0);
    let took = sim.converge(Duration::from_secs(30), "alive everywhere again");
    assert_eq!(
        sim.gossip(VICTIM).incarnation(),
        old + 1,
        "no refutation needed"
    );
    assert!(
        incarnation_everywhere(&sim)
            .iter()
            .all(|&inc| inc == old + 1)
    );
    println!(
        "restart with incarnation {} (was {old}): alive everywhere after {:.1} s",
        old + 1,
        took.as_secs_f64()
    );
}

#[test]
fn a_node_restarted_from_scratch_refutes_its_old_entry() {
    let (mut sim, old) = cluster_with_a_dead_node(32);
    sim.restart(VICTIM, 0, 2);
    let took = sim.converge(Duration::from_secs(30), "alive everywhere again");
    let now = sim.gossip(VICTIM).incarnation();
    assert!(now > old, "incarnation {now} must exceed the old {old}");
    assert!(incarnation_everywhere(&sim).iter().all(|&inc| inc == now));
    let refuted = sim.nodes[VICTIM]
        .events
        .iter()
        .any(|(_, e)| matches!(e, Event::Refuted { .. }));
    assert!(refuted, "the restarted node refuted its old entry");
    println!(
        "restart from scratch (incarnation 0, was {old}): refuted to {now}, alive everywhere \
         after {:.1} s",
        took.as_secs_f64()
    );
}

#[test]
fn a_quick_restart_before_detection_also_wins() {
    let mut sim = Sim::converged_cluster(10, 33, test_config());
    sim.run_for(Duration::from_secs(20), |_| {});
    let old = sim.gossip(VICTIM).incarnation();
    sim.stop(VICTIM);
    sim.run_for(Duration::from_secs(1), |_| {});
    // Everyone still holds its old entry, alive, at a heartbeat far above the new process's.
    assert!(sim.all_see(VICTIM, Status::Alive));
    sim.restart(VICTIM, 0, 1);
    sim.converge(
        Duration::from_secs(30),
        "alive everywhere with the new incarnation",
    );
    assert!(sim.gossip(VICTIM).incarnation() > old);
}
