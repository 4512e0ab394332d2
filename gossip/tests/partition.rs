//! Partition and heal: while the network is cut, each side suspects (then declares dead)
//! every node of the other side and keeps its own side alive; after healing, every node is
//! alive again everywhere. Prints the times.

mod sim;

use std::time::Duration;

use ringkv_gossip::Status;
use sim::{Sim, test_config};

/// Whether every node of `side` sees every node of `other` with a status in `statuses`.
fn side_sees(sim: &Sim, side: &[usize], other: &[usize], statuses: &[Status]) -> bool {
    side.iter().all(|&i| {
        other
            .iter()
            .all(|&j| sim.status(i, j).is_some_and(|s| statuses.contains(&s)))
    })
}

#[test]
fn both_sides_suspect_each_other_and_all_are_alive_again_after_healing() {
    let config = test_config();
    let (left, right): (Vec<usize>, Vec<usize>) = ((0..4).collect(), (4..10).collect());
    let mut sim = Sim::converged_cluster(10, 21, config.clone());
    sim.partition(&[&left, &right]);

    let suspecting = [Status::Suspect, Status::Dead];
    let limit = config.failure_timeout + 5 * config.interval;
    let suspected = sim
        .run_until(limit, |sim| {
            side_sees(sim, &left, &right, &suspecting) && side_sees(sim, &right, &left, &suspecting)
        })
        .expect("both sides suspect the other side");
    let dead = sim
        .run_until(config.suspect_timeout + 5 * config.interval, |sim| {
            side_sees(sim, &left, &right, &[Status::Dead])
                && side_sees(sim, &right, &left, &[Status::Dead])
        })
        .expect("both sides declare the other side dead")
        + suspected;
    // Each side still sees itself alive.
    assert!(side_sees(&sim, &left, &left, &[Status::Alive]));
    assert!(side_sees(&sim, &right, &right, &[Status::Alive]));

    // Stay cut for a while, then heal.
    sim.run_for(Duration::from_secs(60), |_| {});
    sim.heal();
    let healed = sim.converge(
        Duration::from_secs(30),
        "every node is alive everywhere after healing",
    );
    println!(
        "partition 4|6 of n=10: both sides suspect each other after {:.1} s, dead after {:.1} s \
         (failure_timeout {:?} + suspect_timeout {:?}); cut for 60 s more; after healing all \
         alive everywhere in {:.1} s = {:.1} rounds",
        suspected.as_secs_f64(),
        dead.as_secs_f64(),
        config.failure_timeout,
        config.suspect_timeout,
        healed.as_secs_f64(),
        sim.rounds(healed)
    );
}

#[test]
fn a_three_way_partition_heals_too() {
    let config = test_config();
    let groups: [Vec<usize>; 3] = [(0..3).collect(), (3..6).collect(), (6..9).collect()];
    let mut sim = Sim::converged_cluster(9, 22, config.clone());
    sim.partition(&[&groups[0], &groups[1], &groups[2]]);
    sim.run_until(Duration::from_secs(30), |sim| {
        (0..3).all(|a| {
            (0..3)
                .filter(|&b| b != a)
                .all(|b| side_sees(sim, &groups[a], &groups[b], &[Status::Dead]))
        })
    })
    .expect("every group declares the others dead");
    sim.heal();
    let healed = sim.converge(
        Duration::from_secs(30),
        "every node is alive everywhere after healing",
    );
    println!(
        "partition 3|3|3 of n=9: after healing all alive everywhere in {:.1} s",
        healed.as_secs_f64()
    );
}
