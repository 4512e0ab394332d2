//! One client doing read-then-write cycles, each through any coordinator, with read and write
//! quorums that intersect (R + W > N) and background syncs in between, never sees a sibling:
//! every read returns at most one version and the final converged state holds exactly the last
//! value written.

mod common;

use common::{REPLICAS, cases, node};
use proptest::prelude::*;
use ringkv_versions::{Value, VersionSet};

/// One cycle: the client reads `read`, writes through `coordinator`, which replicates to `copies`;
/// then anti-entropy runs `syncs`.
#[derive(Debug, Clone)]
struct Cycle {
    read: Vec<usize>,
    coordinator: usize,
    copies: Vec<usize>,
    syncs: Vec<(usize, usize)>,
}

/// `k` distinct replicas, in a random order.
fn quorum(k: usize) -> impl Strategy<Value = Vec<usize>> {
    Just((0..REPLICAS).collect::<Vec<_>>())
        .prop_shuffle()
        .prop_map(move |v| v[..k].to_vec())
}

fn cycles() -> impl Strategy<Value = Vec<Cycle>> {
    // R + W > N with N = REPLICAS.
    (1..=REPLICAS).prop_flat_map(|w| {
        let r = REPLICAS + 1 - w;
        let cycle = (
            quorum(r),
            quorum(w),
            prop::collection::vec((0..REPLICAS, 0..REPLICAS), 0..3),
        )
            .prop_map(|(read, write, syncs)| Cycle {
                read,
                coordinator: write[0],
                copies: write[1..].to_vec(),
                syncs,
            });
        prop::collection::vec(cycle, 1..20)
    })
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn a_single_client_never_creates_siblings(cycles in cycles()) {
        let mut replicas = vec![VersionSet::new(); REPLICAS];
        let mut now = 1;
        for (i, c) in cycles.iter().enumerate() {
            let mut read = VersionSet::new();
            for &r in &c.read {
                read.merge(&replicas[r]);
            }
            prop_assert_eq!(read.versions().len(), usize::from(i > 0), "cycle {}", i);
            now += 1;
            let value = Value::Data(i.to_le_bytes().to_vec());
            replicas[c.coordinator].update(&read.context(), value, None, &node(c.coordinator), now);
            let written = replicas[c.coordinator].clone();
            prop_assert_eq!(written.versions().len(), 1);
            for &to in &c.copies {
                replicas[to].merge(&written);
            }
            for &(from, to) in &c.syncs {
                let state = replicas[from].clone();
                replicas[to].merge(&state);
            }
        }
        let mut all = VersionSet::new();
        for r in &replicas {
            all.merge(r);
        }
        let last = (cycles.len() - 1).to_le_bytes();
        prop_assert_eq!(all.live_values(now), [last.as_slice()]);
    }
}
