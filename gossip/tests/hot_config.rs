//! Hot changes of timing parameters: a new interval, failure timeout or detector applies at
//! the next tick on a running cluster, without restarts and without losing member history;
//! an invalid config is refused whole.

mod sim;

use std::time::Duration;

use ringkv_gossip::{Config, Error, Status};
use sim::{Sim, spread, test_config};

fn heartbeat(sim: &Sim, i: usize) -> u64 {
    let id = sim.nodes[i].id.clone();
    sim.gossip(i).member(&id).expect("own entry").heartbeat
}

#[test]
fn a_new_interval_changes_the_round_rate_at_once() {
    let mut sim = Sim::converged_cluster(10, 51, test_config());
    let before = heartbeat(&sim, 0);
    sim.run_for(Duration::from_secs(20), |_| {});
    let slow = heartbeat(&sim, 0) - before;
    sim.set_config_everywhere(Config {
        interval: Duration::from_millis(250),
        failure_timeout: Duration::from_secs(2),
        ..test_config()
    });
    sim.step = Duration::from_millis(25);
    let before = heartbeat(&sim, 0);
    sim.run_for(Duration::from_secs(20), |_| {});
    let fast = heartbeat(&sim, 0) - before;
    println!("hot config: rounds in 20 s at interval 1 s: {slow}; at 250 ms: {fast}");
    assert!((19..=21).contains(&slow), "{slow}");
    assert!((79..=81).contains(&fast), "{fast}");
    assert!(sim.converged(), "nobody was suspected across the change");
}

#[test]
fn a_raised_then_lowered_failure_timeout_delays_then_speeds_detection() {
    let mut sim = Sim::converged_cluster(10, 52, test_config());
    let patient = Config {
        failure_timeout: Duration::from_secs(30),
        ..test_config()
    };
    sim.set_config_everywhere(patient);
    sim.stop(6);
    sim.run_for(Duration::from_secs(15), |sim| {
        assert!(sim.all_see(6, Status::Alive), "suspected before 30 s");
    });
    let quick = Config {
        failure_timeout: Duration::from_secs(3),
        ..test_config()
    };
    sim.set_config_everywhere(quick.clone());
    let changed_at = sim.elapsed();
    // Silent for 15 s already: suspected at the next tick, dead suspect_timeout later.
    let took = sim
        .run_until(quick.suspect_timeout + 3 * quick.interval, |sim| {
            sim.all_see(6, Status::Dead)
        })
        .expect("detected under the new timeout");
    let suspected = sim.first_seen(6, Status::Suspect, changed_at);
    println!(
        "hot config: node silent 15 s under failure_timeout 30 s was unsuspected; after \
         lowering it to 3 s, suspected after {}, dead everywhere after {:.1} s",
        spread(&suspected),
        took.as_secs_f64()
    );
}

#[test]
fn switching_to_phi_accrual_at_runtime_detects_a_stopped_node() {
    let mut sim = Sim::converged_cluster(10, 53, test_config());
    sim.run_for(Duration::from_secs(30), |_| {});
    let phi = Config {
        phi_threshold: Some(8.0),
        failure_timeout: Duration::from_secs(60),
        ..test_config()
    };
    sim.set_config_everywhere(phi.clone());
    sim.run_for(Duration::from_secs(30), |sim| {
        assert!(sim.converged(), "no suspicion of live nodes under phi");
    });
    let stopped_at = sim.elapsed();
    sim.stop(3);
    // phi = t / mean * log10(e) > 8 means t > 18.4 mean inter-arrival times; a heartbeat
    // advances once per round, so about 18.4 intervals: well under the 60 s fixed timeout.
    sim.run_until(Duration::from_secs(40), |sim| sim.all_see(3, Status::Dead))
        .expect("phi detects the stopped node");
    let suspected = sim.first_seen(3, Status::Suspect, stopped_at);
    println!(
        "hot config: phi threshold 8 (fixed timeout 60 s): stopped node suspected after {}",
        spread(&suspected)
    );
    assert!(suspected.iter().all(|&t| t < phi.failure_timeout));
}

#[test]
fn an_invalid_config_is_refused_and_the_old_one_kept() {
    let mut sim = Sim::converged_cluster(3, 54, test_config());
    let bad = Config {
        fanout: 0,
        ..test_config()
    };
    let err = sim.gossip_mut(0).set_config(bad).unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidConfig {
            field: "fanout",
            ..
        }
    ));
    assert_eq!(*sim.gossip(0).config(), test_config());
}
