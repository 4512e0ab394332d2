//! Settings: a change made on one node is seen by every live node within a few rounds;
//! concurrent changes resolve to the same winner everywhere (highest `(version, origin)`).

mod sim;

use std::time::Duration;

use ringkv_gossip::{Event, SettingsVersion};
use sim::{Sim, test_config};

fn everyone_has(sim: &Sim, version: &SettingsVersion, bytes: &[u8]) -> bool {
    sim.live().into_iter().all(|i| {
        sim.gossip(i)
            .settings()
            .is_some_and(|s| s.version == *version && s.bytes == bytes)
    })
}

/// Writes new settings on node `i`.
fn set(sim: &mut Sim, i: usize, bytes: &[u8]) -> SettingsVersion {
    sim.gossip_mut(i).set_settings(bytes.to_vec()).unwrap()
}

#[test]
fn a_change_on_one_node_reaches_every_live_node_within_a_few_rounds() {
    for (n, loss) in [(10usize, 0.0), (50, 0.0), (50, 0.10)] {
        let mut sim = Sim::converged_cluster(n, 41, test_config());
        sim.loss = loss;
        sim.stop(n - 1);
        let bytes = br#"{"quorum":{"n":3,"r":2,"w":2}}"#.to_vec();
        let version = sim.gossip_mut(3).set_settings(bytes.clone()).unwrap();
        let took = sim
            .run_until(Duration::from_secs(30), |sim| {
                everyone_has(sim, &version, &bytes)
            })
            .expect("the settings reach every live node");
        let (rounds, log2) = (sim.rounds(took), (n as f64).log2());
        println!(
            "settings n={n} (1 node down), loss {:.0}%: every live node has the change after \
             {rounds:.1} rounds (log2(n) = {log2:.2})",
            loss * 100.0
        );
        assert!(rounds <= 2.0 * log2 + 3.0, "{rounds} rounds");
        for i in sim.live() {
            let changed = sim.nodes[i]
                .events
                .iter()
                .any(|(_, e)| matches!(e, Event::SettingsChanged { version: v } if *v == version));
            assert!(changed, "node {i} reported the change");
        }
    }
}

#[test]
fn concurrent_changes_resolve_to_the_same_winner_everywhere() {
    let mut sim = Sim::converged_cluster(10, 42, test_config());
    let first = set(&mut sim, 2, b"from n02");
    let second = set(&mut sim, 7, b"from n07");
    assert_eq!(first.version, second.version, "written concurrently");
    sim.run_until(Duration::from_secs(30), |sim| {
        everyone_has(sim, &second, b"from n07")
    })
    .expect("the higher origin wins at the same version");
    let next = set(&mut sim, 2, b"n02 again");
    assert_eq!(
        next.version,
        second.version + 1,
        "a writer builds on the winner"
    );
    sim.run_until(Duration::from_secs(30), |sim| {
        everyone_has(sim, &next, b"n02 again")
    })
    .expect("the newer version wins");
}

#[test]
fn a_change_made_during_a_partition_wins_everywhere_after_healing() {
    let mut sim = Sim::converged_cluster(10, 43, test_config());
    sim.partition(&[&[0, 1, 2], &[3, 4, 5, 6, 7, 8, 9]]);
    let minor = set(&mut sim, 1, b"minority");
    sim.run_for(Duration::from_secs(5), |_| {});
    let newer = set(&mut sim, 1, b"minority 2");
    let major = set(&mut sim, 8, b"majority");
    assert!(newer.version > major.version && minor.version == major.version);
    sim.run_for(Duration::from_secs(20), |_| {});
    assert!(
        !everyone_has(&sim, &newer, b"minority 2"),
        "cut off while partitioned"
    );
    sim.heal();
    sim.run_until(Duration::from_secs(30), |sim| {
        everyone_has(sim, &newer, b"minority 2")
    })
    .expect("the highest version wins after healing");
}
