//! Shared harness for the property tests: a simulated cluster of replicas of one key.
//!
//! Each replica holds a `VersionSet`, and replica `i` coordinates writes as node `n{i}`. Next
//! to the real state the harness keeps a model of causality that does not use clocks at all:
//! every write gets an id, every replica the set of write ids that reached it (`seen`), and each
//! write the set of writes its client had read (`past`). The writes that should be siblings at
//! a replica are then exactly the maximal ones: seen there, and in no seen write's past.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use ringkv_versions::{Context, Dot, Limits, Value, VersionSet};

/// Property-test cases per test (`RINGKV_PROPTEST_CASES` overrides the default), with a printed
/// seed that `PROPTEST_RNG_SEED` gives back (see `ringkv_testkit`).
pub fn cases(default: u32) -> ProptestConfig {
    ringkv_testkit::proptest_config("versions property test", default)
}

pub fn node(i: usize) -> String {
    format!("n{i}")
}

/// One step of a simulated history.
#[derive(Debug, Clone)]
pub enum Op {
    /// A client reads the merge of `read_from` (empty: a blind write) and writes through the
    /// replica `coordinator` with the context of that read.
    Write {
        coordinator: usize,
        read_from: Vec<usize>,
        value: Option<u8>,
        ttl: Option<u64>,
    },
    /// Replica `to` merges the state of replica `from` (replication, read repair, anti-entropy).
    Sync { from: usize, to: usize },
    /// Replica `replica` applies caps.
    Prune { replica: usize, limits: Limits },
}

#[derive(Debug, Clone)]
pub struct Cluster {
    pub replicas: Vec<VersionSet>,
    pub seen: Vec<BTreeSet<usize>>,
    /// Write id -> the writes its client had read (what it supersedes).
    pub past: Vec<BTreeSet<usize>>,
    /// Dot -> write id (dots are unique while nothing is pruned).
    pub writes: BTreeMap<Dot, usize>,
    pub now_ms: u64,
    pub pruned: bool,
}

impl Cluster {
    pub fn new(n: usize) -> Self {
        Cluster {
            replicas: vec![VersionSet::new(); n],
            seen: vec![BTreeSet::new(); n],
            past: Vec::new(),
            writes: BTreeMap::new(),
            now_ms: 1_000,
            pruned: false,
        }
    }

    /// What a client reading `from` gets: the merged state and, in the model, what it saw.
    pub fn read(&self, from: &[usize]) -> (VersionSet, BTreeSet<usize>) {
        let mut state = VersionSet::new();
        let mut seen = BTreeSet::new();
        for &r in from {
            state.merge(&self.replicas[r]);
            seen.extend(self.seen[r].iter().copied());
        }
        (state, seen)
    }

    /// Writes through `coordinator` with `ctx`, whose model meaning is `saw`. Returns the dot.
    pub fn write_with(
        &mut self,
        coordinator: usize,
        ctx: &Context,
        saw: BTreeSet<usize>,
        value: Value,
        ttl: Option<u64>,
    ) -> Dot {
        self.now_ms += 1;
        let expires = ttl.map(|t| self.now_ms + t);
        let dot =
            self.replicas[coordinator].update(ctx, value, expires, &node(coordinator), self.now_ms);
        let id = self.past.len();
        self.seen[coordinator].extend(saw.iter().copied());
        self.seen[coordinator].insert(id);
        self.past.push(saw);
        self.writes.insert(dot.clone(), id);
        dot
    }

    pub fn sync(&mut self, from: usize, to: usize) {
        self.now_ms += 1;
        let state = self.replicas[from].clone();
        self.replicas[to].merge(&state);
        let seen = self.seen[from].clone();
        self.seen[to].extend(seen);
    }

    pub fn apply(&mut self, op: &Op) {
        match op {
            Op::Write {
                coordinator,
                read_from,
                value,
                ttl,
            } => {
                let (state, saw) = self.read(read_from);
                let value = value.map_or(Value::Tombstone, |b| Value::Data(vec![b]));
                self.write_with(*coordinator, &state.context(), saw, value, *ttl);
            }
            Op::Sync { from, to } => self.sync(*from, *to),
            Op::Prune { replica, limits } => {
                self.now_ms += 1;
                if self.replicas[*replica].prune(limits).changed() {
                    self.pruned = true;
                }
            }
        }
    }

    /// Every replica merges every other, twice round, so all states become equal.
    pub fn sync_all(&mut self) {
        let n = self.replicas.len();
        for _ in 0..2 {
            for from in 0..n {
                for to in 0..n {
                    self.sync(from, to);
                }
            }
        }
    }

    /// The write ids that should be siblings at `replica`: seen there and superseded by none.
    pub fn model_siblings(&self, replica: usize) -> BTreeSet<usize> {
        let seen = &self.seen[replica];
        let superseded: BTreeSet<usize> = seen
            .iter()
            .flat_map(|&w| self.past[w].iter().copied())
            .collect();
        seen.difference(&superseded).copied().collect()
    }

    /// The write ids of the versions `replica` actually holds.
    pub fn actual_siblings(&self, replica: usize) -> BTreeSet<usize> {
        self.replicas[replica]
            .versions()
            .iter()
            .map(|v| self.writes[&v.dot])
            .collect()
    }
}

pub const REPLICAS: usize = 4;

fn replica() -> impl Strategy<Value = usize> {
    0..REPLICAS
}

fn read_set() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(replica(), 0..=3)
}

pub fn limits() -> impl Strategy<Value = Limits> {
    (0usize..6, 0usize..5, 0usize..4).prop_map(|(max_clock_entries, max_siblings, history)| {
        Limits {
            history,
            ..Limits::caps(max_clock_entries, max_siblings)
        }
    })
}

fn write_op() -> impl Strategy<Value = Op> {
    let value = prop_oneof![4 => any::<u8>().prop_map(Some), 1 => Just(None)];
    let ttl = prop_oneof![4 => Just(None), 1 => (1u64..20).prop_map(Some)];
    (replica(), read_set(), value, ttl).prop_map(|(coordinator, read_from, value, ttl)| Op::Write {
        coordinator,
        read_from,
        value,
        ttl,
    })
}

fn sync_op() -> impl Strategy<Value = Op> {
    (replica(), replica()).prop_map(|(from, to)| Op::Sync { from, to })
}

/// Histories of writes and syncs only: the model predicts siblings exactly.
pub fn history(max_len: usize) -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(prop_oneof![3 => write_op(), 2 => sync_op()], 0..max_len)
}

/// Histories that also prune, for laws that must hold on any reachable state.
pub fn history_with_pruning(max_len: usize) -> impl Strategy<Value = Vec<Op>> {
    let prune = (replica(), limits()).prop_map(|(replica, limits)| Op::Prune { replica, limits });
    prop::collection::vec(
        prop_oneof![6 => write_op(), 4 => sync_op(), 1 => prune],
        0..max_len,
    )
}

pub fn run(ops: &[Op]) -> Cluster {
    let mut cluster = Cluster::new(REPLICAS);
    for op in ops {
        cluster.apply(op);
    }
    cluster
}

/// A reachable version set: replica `pick` of a simulated history (with pruning).
pub fn reachable_set() -> impl Strategy<Value = VersionSet> {
    (history_with_pruning(24), replica()).prop_map(|(ops, pick)| run(&ops).replicas[pick].clone())
}

/// The dots a set holds.
pub fn dots(set: &VersionSet) -> BTreeSet<Dot> {
    set.versions().iter().map(|v| v.dot.clone()).collect()
}
