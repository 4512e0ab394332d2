//! Dead members are forgotten after `forget_after` everywhere, and stay forgotten: a node
//! that was frozen while the others forgot, and comes back with its stale view, does not bring
//! the forgotten member back.

mod sim;

use std::time::Duration;

use ringkv_gossip::{Config, Event};
use sim::{Sim, test_config};

fn knows(sim: &Sim, observer: usize, subject: &str) -> bool {
    sim.gossip(observer).member(subject).is_some()
}

#[test]
fn a_dead_member_is_forgotten_and_stale_gossip_does_not_revive_it() {
    let config = Config {
        forget_after: Duration::from_secs(30),
        ..test_config()
    };
    let mut sim = Sim::converged_cluster(8, 71, config);
    sim.pause(7);
    sim.stop(2);
    sim.run_until(Duration::from_secs(60), |sim| {
        sim.live().into_iter().all(|i| !knows(sim, i, "n02"))
    })
    .expect("forgotten by every running node");
    for i in sim.live() {
        let forgot = sim.nodes[i]
            .events
            .iter()
            .any(|(_, e)| *e == Event::Forgotten { id: "n02".into() });
        assert!(forgot, "node {i} reported forgetting n02");
    }

    // Node 7 was frozen before anyone noticed n02 stopped: its view still holds n02.
    sim.resume(7);
    assert!(knows(&sim, 7, "n02"));
    let others: Vec<usize> = (0..7).filter(|&i| i != 2).collect();
    sim.run_for(Duration::from_secs(20), |sim| {
        for &i in &others {
            assert!(
                !knows(sim, i, "n02"),
                "node {i} took n02 back from stale gossip"
            );
        }
    });
    sim.run_until(Duration::from_secs(60), |sim| !knows(sim, 7, "n02"))
        .expect("the frozen node forgets n02 too");
    sim.converge(
        Duration::from_secs(10),
        "the frozen node is alive everywhere again",
    );
    // No tombstone expiry lets it bounce back: it stays gone for several forget periods.
    sim.run_for(Duration::from_secs(120), |sim| {
        for i in sim.live() {
            assert!(!knows(sim, i, "n02"), "node {i} knows n02 again");
        }
    });
}
