//! Graceful leave and operator removal: a leaving node is seen `leaving`, then `left`
//! everywhere, and is never suspected or declared dead afterwards; removing a node that is
//! down marks it `left` everywhere, while a node that is running refutes its removal (unless
//! `final_left` makes a removal final: then it accepts it, and its restart stays left).

mod sim;

use std::time::Duration;

use ringkv_gossip::{Event, Status};
use sim::{Sim, test_config};

#[test]
fn a_leaving_node_is_seen_leaving_then_left_and_never_dead() {
    let mut sim = Sim::converged_cluster(10, 61, test_config());
    let now = sim.now;
    let out = sim.gossip_mut(5).leave(now);
    assert_eq!(out.len(), 9, "the news is pushed to every live member");
    sim.inject(5, out);
    sim.run_until(Duration::from_secs(5), |sim| {
        sim.all_see(5, Status::Leaving)
    })
    .expect("seen leaving everywhere");
    // Handing data off takes a while; the leaving node keeps heartbeating meanwhile.
    sim.run_for(Duration::from_secs(20), |sim| {
        assert!(sim.all_see(5, Status::Leaving));
    });
    let now = sim.now;
    let out = sim.gossip_mut(5).complete_leave(now);
    sim.inject(5, out);
    sim.run_until(Duration::from_secs(5), |sim| sim.all_see(5, Status::Left))
        .expect("seen left everywhere");
    // Linger a few intervals, then go away for good.
    sim.run_for(Duration::from_secs(3), |_| {});
    sim.stop(5);
    sim.run_for(Duration::from_secs(60), |sim| {
        assert!(sim.all_see(5, Status::Left), "left is final");
    });
    for (i, node) in sim.nodes.iter().enumerate().filter(|(i, _)| *i != 5) {
        let about_5 = |e: &Event| match e {
            Event::Leaving { id } | Event::Left { id } | Event::Suspect { id } => id == "n05",
            Event::Dead { id } => id == "n05",
            _ => false,
        };
        let seen: Vec<&Event> = node
            .events
            .iter()
            .map(|(_, e)| e)
            .filter(|e| about_5(e))
            .collect();
        assert_eq!(
            seen,
            [
                &Event::Leaving { id: "n05".into() },
                &Event::Left { id: "n05".into() }
            ],
            "node {i}"
        );
    }
}

#[test]
fn removing_a_down_node_marks_it_left_everywhere() {
    let mut sim = Sim::converged_cluster(10, 62, test_config());
    sim.stop(6);
    let now = sim.now;
    let out = sim.gossip_mut(0).remove("n06", now).unwrap();
    sim.inject(0, out);
    sim.run_until(Duration::from_secs(5), |sim| sim.all_see(6, Status::Left))
        .expect("removed everywhere");
    sim.run_for(Duration::from_secs(30), |sim| {
        assert!(sim.all_see(6, Status::Left), "left is final");
    });
}

#[test]
fn removing_a_running_node_is_refuted() {
    let mut sim = Sim::converged_cluster(10, 63, test_config());
    let before = sim.gossip(7).incarnation();
    let now = sim.now;
    let out = sim.gossip_mut(0).remove("n07", now).unwrap();
    sim.inject(0, out);
    sim.run_until(Duration::from_secs(10), |sim| {
        sim.converged() && sim.gossip(7).incarnation() > before
    })
    .expect("the running node refutes its removal and is alive everywhere");
    assert!(sim.gossip_mut(0).remove("n00", now).is_err(), "not oneself");
    assert!(
        sim.gossip_mut(0).remove("nope", now).is_err(),
        "not a stranger"
    );
}

#[test]
fn with_final_left_a_removal_is_accepted_and_survives_a_restart() {
    let config = ringkv_gossip::Config {
        final_left: true,
        ..test_config()
    };
    let mut sim = Sim::converged_cluster(6, 64, config);
    let now = sim.now;
    let out = sim.gossip_mut(0).remove("n03", now).unwrap();
    sim.inject(0, out);
    sim.run_until(Duration::from_secs(10), |sim| {
        sim.all_see(3, Status::Left) && sim.gossip(3).status() == Status::Left
    })
    .expect("removed everywhere, and the removed node accepts it");
    // Restarted from scratch with a higher incarnation, it still cannot come back.
    sim.restart(3, 1_000, 0);
    sim.run_for(Duration::from_secs(20), |sim| {
        for i in sim.live().into_iter().filter(|i| *i != 3) {
            assert_eq!(sim.status(i, 3), Some(Status::Left), "observer {i}");
        }
    });
    assert_eq!(sim.gossip(3).status(), Status::Left);
}
