//! The classic lost-update and sibling scenarios from the dotted-version-vector literature
//! (Preguiça, Baquero, Almeida et al., "Dotted Version Vectors: Logical Clocks for Optimistic
//! Replication"; Riak's "Vector Clocks Revisited" posts), each as a named test.

use ringkv_versions::{Context, Limits, Value, VersionSet};

fn data(s: &str) -> Value {
    Value::Data(s.as_bytes().to_vec())
}

fn values(set: &VersionSet) -> Vec<&str> {
    let mut v: Vec<&str> = set
        .live_values(u64::MAX)
        .into_iter()
        .map(|b| std::str::from_utf8(b).unwrap())
        .collect();
    v.sort_unstable();
    v
}

fn merged(a: &VersionSet, b: &VersionSet) -> VersionSet {
    let mut out = a.clone();
    out.merge(b);
    out
}

/// With one vector clock entry per server, two clients writing through the same server with the
/// same stale context make the second write "descend" from the first, and the first is lost.
/// With dots, the two writes get distinct dots that neither context covers.
#[test]
fn same_coordinator_same_stale_context_keeps_both() {
    let mut a = VersionSet::new();
    a.update(&Context::default(), data("v0"), None, "A", 1);
    let stale = a.context();
    a.update(&stale, data("client1"), None, "A", 2);
    a.update(&stale, data("client2"), None, "A", 3);
    assert_eq!(values(&a), ["client1", "client2"]);
    // A client that read both resolves them into one.
    let ctx = a.context();
    a.update(&ctx, data("resolved"), None, "A", 4);
    assert_eq!(values(&a), ["resolved"]);
}

/// Blind writes (no context) through one coordinator are concurrent with everything.
#[test]
fn same_coordinator_empty_context_keeps_both() {
    let mut a = VersionSet::new();
    a.update(&Context::default(), data("x"), None, "A", 1);
    a.update(&Context::default(), data("y"), None, "A", 2);
    assert_eq!(values(&a), ["x", "y"]);
}

/// Per-client (actor) clocks avoid lost updates but grow with every client; per-server clocks
/// without dots give "sibling explosion": two clients alternating writes with the contexts from
/// their own previous writes keep piling up siblings. With dots, each write removes what its
/// client saw, so the set stays at two siblings however long the exchange goes on.
#[test]
fn sibling_explosion_stays_at_two() {
    let mut a = VersionSet::new();
    let mut ctx1 = Context::default();
    let mut ctx2 = Context::default();
    for round in 0..20u64 {
        a.update(&ctx1, data(&format!("c1-{round}")), None, "A", 2 * round);
        ctx1 = a.context();
        a.update(
            &ctx2,
            data(&format!("c2-{round}")),
            None,
            "A",
            2 * round + 1,
        );
        ctx2 = a.context();
        assert!(
            a.versions().len() <= 2,
            "round {round}: {} siblings",
            a.versions().len()
        );
    }
    assert_eq!(values(&a), ["c1-19", "c2-19"]);
    assert_eq!(
        a.clock().len(),
        1,
        "the clock grows with servers, not with clients"
    );
}

/// A write carrying an old context arrives after newer causal writes: it must not clobber them
/// (it never saw them), and they must not clobber it.
#[test]
fn old_context_arriving_late_keeps_the_newer_writes() {
    let mut a = VersionSet::new();
    a.update(&Context::default(), data("v1"), None, "A", 1);
    let old = a.context();
    let newer = a.context();
    a.update(&newer, data("v2"), None, "A", 2);
    let ctx = a.context();
    a.update(&ctx, data("v3"), None, "A", 3);
    // The slow client's write, made with the context from before v2.
    a.update(&old, data("late"), None, "A", 4);
    assert_eq!(values(&a), ["late", "v3"]);
}

/// A stale replica still holding a superseded value must not bring it back on merge
/// (read repair or anti-entropy), in either direction.
#[test]
fn stale_replica_does_not_resurrect_superseded_values() {
    let mut a = VersionSet::new();
    a.update(&Context::default(), data("old"), None, "A", 1);
    let stale = a.clone();
    let ctx = a.context();
    a.update(&ctx, data("new"), None, "A", 2);
    assert_eq!(values(&merged(&stale, &a)), ["new"]);
    assert_eq!(values(&merged(&a, &stale)), ["new"]);
}

/// Writes through different coordinators on both sides of a partition are both kept.
#[test]
fn partitioned_writes_through_different_coordinators_both_survive() {
    let mut a = VersionSet::new();
    a.update(&Context::default(), data("base"), None, "A", 1);
    let mut b = a.clone();
    let ctx = a.context();
    a.update(&ctx, data("left"), None, "A", 2);
    b.update(&ctx, data("right"), None, "B", 3);
    let healed = merged(&a, &b);
    assert_eq!(values(&healed), ["left", "right"]);
    assert_eq!(healed, merged(&b, &a));
}

/// A client that read from one replica and writes through another coordinator supersedes what
/// it read even though that coordinator had never seen it.
#[test]
fn causal_write_through_another_coordinator_replaces() {
    let mut a = VersionSet::new();
    a.update(&Context::default(), data("v1"), None, "A", 1);
    let mut b = VersionSet::new();
    b.update(&a.context(), data("v2"), None, "B", 2);
    assert_eq!(values(&merged(&a, &b)), ["v2"]);
}

/// A versioned delete wins over what it saw and stays deleted when a stale replica merges in.
#[test]
fn delete_with_context_stays_deleted_after_stale_merge() {
    let mut a = VersionSet::new();
    a.update(&Context::default(), data("doomed"), None, "A", 1);
    let stale = a.clone();
    let ctx = a.context();
    a.update(&ctx, Value::Tombstone, None, "A", 2);
    let m = merged(&stale, &a);
    assert!(!m.is_live(3));
    assert_eq!(m.versions().len(), 1);
    assert!(!m.can_collect(3, 10));
    assert!(m.can_collect(20, 10));
}

/// A delete concurrent with a write does not remove the write.
#[test]
fn concurrent_delete_does_not_remove_an_unseen_write() {
    let mut a = VersionSet::new();
    a.update(&Context::default(), data("v1"), None, "A", 1);
    let ctx = a.context();
    let mut b = a.clone();
    a.update(&ctx, data("v2"), None, "A", 2);
    b.update(&ctx, Value::Tombstone, None, "B", 3);
    let m = merged(&a, &b);
    assert_eq!(values(&m), ["v2"]);
    assert_eq!(m.versions().len(), 2);
}

/// The sibling cap bounds a blind-writing client, keeps its newest writes, and the drop
/// propagates: a replica still holding a dropped sibling loses it on merge.
#[test]
fn sibling_cap_bounds_blind_writers_and_converges() {
    let mut a = VersionSet::new();
    for t in 0..10 {
        a.update(&Context::default(), data(&format!("w{t}")), None, "A", t);
    }
    let unpruned = a.clone();
    let report = a.prune(&Limits::caps(8, 3));
    assert_eq!(report.siblings_dropped, 7);
    assert_eq!(values(&a), ["w7", "w8", "w9"]);
    assert_eq!(values(&merged(&unpruned, &a)), ["w7", "w8", "w9"]);
}
