//! What a key's set remembers besides its siblings: past values (history) and write receipts.
//!
//! **History.** The data versions a set has let go of, whether a write superseded them
//! ([`VersionSet::update`]), a merge found them covered by the other side's clock, or the
//! sibling cap dropped them, with their dots and write times. It is a function of what the set
//! has seen: after a merge it is *every data version either side held or remembered, minus the
//! survivors*, so the merge stays commutative, associative and idempotent (the union of two
//! sets of versions, one dot keeping the greater version as merge does, less a survivor set
//! that is itself a lattice join). Superseded tombstones are kept too, as small markers: a dot
//! reused after clock pruning may name both a deletion and a value, and only remembering the
//! tombstone lets every merge order pick the same one. Readers show data only. Only the newest
//! `Limits::history` values are kept ([`VersionSet::prune`]), with the markers among them; the
//! top-k of a union is the top-k of the sides' top-ks, so replicas that prune after every merge
//! still converge. A version that expired stays in history (readers filter by its expiry, so
//! past values expire with the TTL they were written with).
//!
//! **Receipts.** One record per idempotency token: a fingerprint of the request it answered, when
//! it was recorded, and an opaque outcome (the node's answer, encoded by the node). They merge as
//! a union by token (for one token the greater record, by time then fingerprint then outcome, on
//! both sides), and are dropped once older than `Limits::receipts_since_ms`. They travel with the
//! set, so every path that moves a set (replication, read repair, hints, rebalance, anti-entropy)
//! moves them too.
//!
//! History and receipts never decide causality: merge and update read only the clock and the
//! siblings, as before.

use std::collections::HashMap;

use crate::{Dot, Value, Version, VersionSet};

/// The record of one idempotent request (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The client's token (`Idempotency-Key`).
    pub token: String,
    /// A hash of the request the token was first used with (a repeat must match it).
    pub fingerprint: u64,
    /// When the request was applied, ms since the Unix epoch (collection counts from here).
    pub recorded_at_ms: u64,
    /// The answer to repeat, encoded by the caller.
    pub outcome: Vec<u8>,
}

impl Receipt {
    fn order_key(&self) -> (u64, u64, &[u8]) {
        (self.recorded_at_ms, self.fingerprint, &self.outcome)
    }
}

impl VersionSet {
    /// The versions this set let go of, oldest first (display order): values and the
    /// markers of superseded deletions (tombstones).
    pub fn history(&self) -> &[Version] {
        &self.history
    }

    /// The past values at `now_ms`, newest first: data that has not expired.
    pub fn past_values(&self, now_ms: u64) -> impl Iterator<Item = &Version> {
        self.history.iter().rev().filter(move |v| v.is_live(now_ms))
    }

    /// The receipt of `token`, if this set holds one.
    pub fn receipt(&self, token: &str) -> Option<&Receipt> {
        self.receipts
            .binary_search_by(|r| r.token.as_str().cmp(token))
            .ok()
            .map(|i| &self.receipts[i])
    }

    /// All receipts, in token order.
    pub fn receipts(&self) -> &[Receipt] {
        &self.receipts
    }

    /// Keeps `receipt` (replacing one of the same token only if it is greater, as a merge would).
    pub fn record(&mut self, receipt: Receipt) {
        match self
            .receipts
            .binary_search_by(|r| r.token.as_str().cmp(&receipt.token))
        {
            Ok(i) => {
                if receipt.order_key() > self.receipts[i].order_key() {
                    self.receipts[i] = receipt;
                }
            }
            Err(i) => self.receipts.insert(i, receipt),
        }
    }

    /// Adds versions this set no longer holds to its history (the dots of current siblings
    /// are skipped; one dot twice keeps the greater, as merge does).
    pub(crate) fn remember(&mut self, gone: impl IntoIterator<Item = Version>) {
        let mut gone = gone.into_iter().peekable();
        if gone.peek().is_none() && self.history.is_empty() {
            return;
        }
        let mut by_dot: HashMap<Dot, Version> = std::mem::take(&mut self.history)
            .into_iter()
            .map(|v| (v.dot.clone(), v))
            .collect();
        for v in gone {
            match by_dot.get_mut(&v.dot) {
                Some(held) => {
                    if Version::same_dot_order(&v, held).is_gt() {
                        *held = v;
                    }
                }
                None => {
                    by_dot.insert(v.dot.clone(), v);
                }
            }
        }
        // A dot held as a sibling leaves history; should history hold a greater version of it
        // (a reused dot), the sibling takes it, as a merge of two siblings would.
        let mut replaced = false;
        for v in &mut self.versions {
            if let Some(held) = by_dot.remove(&v.dot)
                && Version::same_dot_order(&held, v).is_gt()
            {
                *v = held;
                replaced = true;
            }
        }
        if replaced {
            self.versions.sort_by(Version::display_order);
        }
        self.history = by_dot.into_values().collect();
        self.history.sort_by(Version::display_order);
    }

    /// Merges `other`'s history and receipts into this set's (part of [`VersionSet::merge`],
    /// after the siblings were merged; `gone` are the siblings either side let go of).
    pub(crate) fn merge_past(&mut self, other: &VersionSet, gone: Vec<Version>) {
        // Also when nothing is gone: a sibling that arrived may share a dot with our history.
        let theirs = other.history.iter().cloned();
        self.remember(gone.into_iter().chain(theirs));
        for r in &other.receipts {
            self.record(r.clone());
        }
    }

    /// Keeps the newest `keep` past values and the receipts recorded at or after `since_ms`;
    /// returns how many of each were dropped.
    pub(crate) fn prune_past(
        &mut self,
        keep: usize,
        since_ms: u64,
        max_receipts: usize,
    ) -> (usize, usize) {
        // Keep from the `keep`-th newest value on (every marker newer than it included).
        let mut newest_values = self
            .history
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, v)| matches!(v.value, Value::Data(_)));
        let history = match keep {
            0 => self.history.len(),
            k => newest_values.nth(k - 1).map_or(0, |(i, _)| i),
        };
        self.history.drain(..history);
        let before = self.receipts.len();
        self.receipts.retain(|r| r.recorded_at_ms >= since_ms);
        if self.receipts.len() > max_receipts {
            let mut times: Vec<(u64, &str)> = self
                .receipts
                .iter()
                .map(|r| (r.recorded_at_ms, r.token.as_str()))
                .collect();
            times.sort_unstable();
            let (t, token) = times[times.len() - max_receipts.max(1)];
            let floor = (t, token.to_owned());
            self.receipts
                .retain(|r| (r.recorded_at_ms, r.token.as_str()) >= (floor.0, floor.1.as_str()));
        }
        (history, before - self.receipts.len())
    }
}

#[cfg(test)]
mod tests {
    use crate::{Context, Limits, Value, VersionSet};

    fn data(s: &str) -> Value {
        Value::Data(s.as_bytes().to_vec())
    }

    fn limits(history: usize) -> Limits {
        Limits {
            max_clock_entries: 10,
            max_siblings: 10,
            history,
            receipts_since_ms: 0,
            max_receipts: 2,
        }
    }

    /// Past values, oldest first.
    fn values(s: &VersionSet) -> Vec<&[u8]> {
        let mut out: Vec<&[u8]> = s
            .past_values(0)
            .map(|v| match &v.value {
                Value::Data(d) => d.as_slice(),
                Value::Tombstone => unreachable!(),
            })
            .collect();
        out.reverse();
        out
    }

    #[test]
    fn superseded_values_are_kept_newest_last_and_capped() {
        let mut s = VersionSet::new();
        for (t, v) in ["a", "b", "c", "d", "e"].into_iter().enumerate() {
            let ctx = s.context();
            s.update(&ctx, data(v), None, "n1", t as u64);
        }
        assert_eq!(values(&s), [b"a".as_slice(), b"b", b"c", b"d"]);
        s.prune(&limits(2));
        assert_eq!(values(&s), [b"c".as_slice(), b"d"]);
        // A delete keeps the deleted value; a superseded tombstone is a marker, not a value.
        let ctx = s.context();
        s.update(&ctx, Value::Tombstone, None, "n1", 9);
        let ctx = s.context();
        s.update(&ctx, data("f"), None, "n1", 10);
        s.prune(&limits(10));
        assert_eq!(values(&s), [b"c".as_slice(), b"d", b"e"]);
        assert_eq!(s.history().len(), 4, "with the tombstone's marker");
        s.prune(&limits(1));
        assert_eq!(values(&s), [b"e".as_slice()]);
        assert_eq!(
            s.history().len(),
            2,
            "the marker newer than the kept value stays"
        );
    }

    #[test]
    fn past_values_expire_with_the_ttl_they_were_written_with() {
        let mut s = VersionSet::new();
        s.update(&Context::default(), data("short"), Some(100), "n1", 0);
        let ctx = s.context();
        s.update(&ctx, data("long"), Some(1_000), "n1", 10);
        let ctx = s.context();
        s.update(&ctx, data("now"), None, "n1", 20);
        let at = |t| values_at(&s, t);
        assert_eq!(at(50), [b"long".as_slice(), b"short"]);
        assert_eq!(at(100), [b"long".as_slice()]);
        assert!(at(1_000).is_empty());
        // An expired key (no live sibling, no tombstone) is collected with its history.
        let mut gone = VersionSet::new();
        gone.update(&Context::default(), data("a"), Some(100), "n1", 0);
        let ctx = gone.context();
        gone.update(&ctx, data("b"), Some(100), "n1", 1);
        assert!(gone.can_collect(200, 50));
    }

    fn values_at(s: &VersionSet, now: u64) -> Vec<&[u8]> {
        s.past_values(now)
            .map(|v| match &v.value {
                Value::Data(d) => d.as_slice(),
                Value::Tombstone => unreachable!(),
            })
            .collect()
    }

    #[test]
    fn a_replica_that_only_merges_learns_the_history() {
        let mut a = VersionSet::new();
        let mut b = VersionSet::new();
        for (t, v) in ["1", "2", "3"].into_iter().enumerate() {
            let ctx = a.context();
            a.update(&ctx, data(v), None, "n1", t as u64);
            b.merge(&a);
        }
        assert_eq!(values(&b), [b"1".as_slice(), b"2"]);
        assert_eq!(a, b);
        // A replica that missed the middle write still learns it from one that saw it.
        let mut c = VersionSet::new();
        let mut first = VersionSet::new();
        first.update(&Context::default(), data("1"), None, "n1", 0);
        c.merge(&first);
        let mut last = a.clone();
        last.history.clear();
        c.merge(&last);
        assert_eq!(values(&c), [b"1".as_slice()]);
        c.merge(&a);
        assert_eq!(values(&c), [b"1".as_slice(), b"2"]);
    }

    #[test]
    fn receipts_merge_by_token_and_expire() {
        let receipt = |token: &str, at| crate::Receipt {
            token: token.into(),
            fingerprint: 7,
            recorded_at_ms: at,
            outcome: b"ok".to_vec(),
        };
        let mut a = VersionSet::new();
        a.record(receipt("t2", 5));
        let mut b = VersionSet::new();
        b.record(receipt("t1", 10));
        b.record(receipt("t2", 6));
        let mut ab = a.clone();
        ab.merge(&b);
        let mut ba = b.clone();
        ba.merge(&a);
        assert_eq!(ab, ba);
        assert_eq!(ab.receipt("t2").unwrap().recorded_at_ms, 6);
        let mut l = limits(0);
        l.receipts_since_ms = 8;
        ab.prune(&l);
        assert!(ab.receipt("t2").is_none());
        assert!(ab.receipt("t1").is_some());
        // The cap keeps the newest.
        for (t, at) in [("t3", 20), ("t0", 30)] {
            ab.record(receipt(t, at));
        }
        ab.prune(&l);
        let left: Vec<&str> = ab.receipts().iter().map(|r| r.token.as_str()).collect();
        assert_eq!(left, ["t0", "t3"]);
    }
}
