//! Gossip bandwidth: bytes each node sends per second in a converged cluster of 5 and of 20
//! nodes (1 s interval, fanout 3), every member carrying an application state of ringkv's size
//! (its phase and acknowledgement as JSON, ~70 bytes). Printed for the record; the assertion
//! is a loose budget that a regression to whole-view pushes every round would break.

mod sim;

use std::time::Duration;

use sim::{Sim, test_config};

const META: &[u8] = br#"{"phase":"normal","seen":12345678901234567890,"movement":null}"#;

fn bytes_per_node_per_second(n: usize) -> f64 {
    let mut sim = Sim::converged_cluster(n, 71 + n as u64, test_config());
    for i in 0..n {
        let out = sim.gossip_mut(i).set_meta(META.to_vec(), false).unwrap();
        sim.inject(i, out);
    }
    sim.run_for(Duration::from_secs(10), |_| {});
    let before = sim.stats;
    let span = Duration::from_secs(60);
    sim.run_for(span, |_| {});
    let bytes = sim.stats.bytes - before.bytes;
    bytes as f64 / span.as_secs_f64() / n as f64
}

#[test]
fn bytes_per_node_grow_about_linearly_with_the_cluster() {
    let five = bytes_per_node_per_second(5);
    let twenty = bytes_per_node_per_second(20);
    println!(
        "gossip bytes sent per node per second (interval 1 s, fanout 3): 5 nodes {five:.0} B/s, \
         20 nodes {twenty:.0} B/s"
    );
    // A digest entry is ~10 bytes per member per message; three rounds' worth of messages per
    // second, plus the occasional entry: well under 1 KiB per member per second.
    assert!(five < 5.0 * 1024.0, "{five}");
    assert!(twenty < 20.0 * 1024.0, "{twenty}");
}
