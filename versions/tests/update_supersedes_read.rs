//! An update made with the context of a read supersedes exactly the versions that read saw:
//! everything the coordinator holds that the read did not see (concurrent writes made after
//! it, through any node) stays as a sibling, and nothing the read saw survives.

mod common;

use common::{REPLICAS, cases, dots, history, node, run};
use proptest::prelude::*;
use ringkv_versions::Value;

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn update_drops_what_the_read_saw_and_keeps_the_rest(
        before in history(24),
        read_from in prop::collection::vec(0..REPLICAS, 1..=3),
        after in history(16),
        coordinator in 0..REPLICAS,
    ) {
        let mut cluster = run(&before);
        let (read, saw) = cluster.read(&read_from);
        let ctx = read.context();
        for op in &after {
            cluster.apply(op);
        }
        let pre = cluster.replicas[coordinator].clone();
        let mut post = pre.clone();
        let dot = post.update(&ctx, Value::Data(b"new".to_vec()), None, &node(coordinator), u64::MAX);

        let read_dots = dots(&read);
        let post_dots = dots(&post);
        prop_assert!(read_dots.is_disjoint(&post_dots), "a version the read saw survived");
        for v in pre.versions() {
            // The model knows, without clocks, which writes the read saw (directly or as the
            // past of what it saw): exactly those go.
            let kept = post.versions().contains(v);
            let seen_by_read = saw.contains(&cluster.writes[&v.dot]);
            prop_assert_eq!(kept, !seen_by_read, "{:?}", v.dot);
        }
        prop_assert!(!ctx.covers(&dot));
        prop_assert_eq!(post.versions().len(), pre.versions().iter().filter(|v| !ctx.covers(&v.dot)).count() + 1);
        prop_assert!(post.context().covers(&dot));
        let mut expected_ctx = pre.context();
        expected_ctx.merge(&ctx);
        prop_assert!(post.context().iter().all(|(n, c)| c >= expected_ctx.counter(n)));
    }
}
