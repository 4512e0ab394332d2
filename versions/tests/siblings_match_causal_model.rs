//! No lost update and no false sibling: at every replica, after any history of reads, writes
//! and syncs (no pruning), the versions held are exactly the writes the causal model says are
//! concurrent, i.e. seen there and superseded by no other seen write.

mod common;

use common::{REPLICAS, cases, history, run};
use proptest::prelude::*;

proptest! {
    #![proptest_config(cases(1024))]

    #[test]
    fn every_replica_holds_exactly_the_maximal_writes(ops in history(40)) {
        let mut cluster = run(&ops);
        for r in 0..REPLICAS {
            prop_assert_eq!(cluster.actual_siblings(r), cluster.model_siblings(r), "replica {}", r);
        }
        cluster.sync_all();
        let converged = cluster.replicas[0].clone();
        for r in 0..REPLICAS {
            prop_assert_eq!(&cluster.replicas[r], &converged);
            prop_assert_eq!(cluster.actual_siblings(r), cluster.model_siblings(r), "replica {}", r);
        }
    }
}
