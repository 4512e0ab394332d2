//! Two concurrent updates, through the same coordinator or different ones, both survive every
//! merge: neither context saw the other write, so no replica may drop either.

mod common;

use common::{REPLICAS, cases, history, run};
use proptest::prelude::*;
use ringkv_versions::Value;

fn syncs() -> impl Strategy<Value = Vec<(usize, usize)>> {
    prop::collection::vec((0..REPLICAS, 0..REPLICAS), 0..12)
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn both_concurrent_writes_survive(
        base in history(24),
        reads in [prop::collection::vec(0..REPLICAS, 0..=3), prop::collection::vec(0..REPLICAS, 0..=3)],
        coordinators in [0..REPLICAS, 0..REPLICAS],
        same_coordinator in any::<bool>(),
        partial_syncs in syncs(),
    ) {
        let mut cluster = run(&base);
        let (c1, c2) = if same_coordinator {
            (coordinators[0], coordinators[0])
        } else {
            (coordinators[0], coordinators[1])
        };
        // Both clients read before either writes: the writes are concurrent.
        let (r1, saw1) = cluster.read(&reads[0]);
        let (r2, saw2) = cluster.read(&reads[1]);
        let d1 = cluster.write_with(c1, &r1.context(), saw1, Value::Data(b"one".to_vec()), None);
        let d2 = cluster.write_with(c2, &r2.context(), saw2, Value::Data(b"two".to_vec()), None);
        prop_assert_ne!(&d1, &d2);
        if c1 == c2 {
            let held = &cluster.replicas[c1];
            prop_assert!(held.versions().iter().any(|v| v.dot == d1));
            prop_assert!(held.versions().iter().any(|v| v.dot == d2));
        }
        for (from, to) in partial_syncs {
            cluster.sync(from, to);
            for d in [&d1, &d2] {
                // Wherever a write has arrived, it is still there.
                let arrived = cluster.replicas[to].context().covers(d);
                let held = cluster.replicas[to].versions().iter().any(|v| &v.dot == d);
                prop_assert_eq!(arrived, held, "{:?} at replica {}", d, to);
            }
        }
        cluster.sync_all();
        for r in 0..REPLICAS {
            let values = cluster.replicas[r].live_values(0);
            prop_assert!(values.contains(&b"one".as_slice()) && values.contains(&b"two".as_slice()));
        }
    }
}
