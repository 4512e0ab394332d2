//! One write as stored: its dot, its value (data or tombstone), and its times.
//!
//! A [`Dot`] `(node, counter)` names a write uniquely: `node` coordinated it and it was that
//! node's `counter`-th write to the key's history. Wall-clock times ride along for expiry,
//! tombstone collection, pruning and display order; they never decide causality.

use std::cmp::Ordering;

/// A node's id as it appears in clocks.
pub type NodeId = String;

/// One event: the `counter`-th write coordinated by `node`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Dot {
    pub node: NodeId,
    pub counter: u64,
}

/// What a version holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Data(Vec<u8>),
    Tombstone,
}

/// One sibling: a value (or deletion) with the dot that created it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub dot: Dot,
    pub value: Value,
    /// Wall-clock time of the write, ms since the Unix epoch (for pruning and GC, never for ordering causality).
    pub written_at_ms: u64,
    /// Absolute expiry time, ms since the Unix epoch.
    pub expires_at_ms: Option<u64>,
}

impl Version {
    /// Data that has not expired at `now_ms` (a version expiring at `t` is dead from `t` on).
    pub fn is_live(&self, now_ms: u64) -> bool {
        matches!(self.value, Value::Data(_)) && self.expires_at_ms.is_none_or(|t| now_ms < t)
    }

    /// When this version stopped being live: a tombstone when written, data when it expires;
    /// `None` for data that never expires.
    pub fn dead_since_ms(&self) -> Option<u64> {
        match self.value {
            Value::Tombstone => Some(self.written_at_ms),
            Value::Data(_) => self.expires_at_ms,
        }
    }

    /// The display and storage order of siblings: oldest write first, ties broken by dot.
    /// Dots are unique within a set, so this is a total order on a set's versions.
    pub(crate) fn display_order(a: &Version, b: &Version) -> Ordering {
        (a.written_at_ms, &a.dot).cmp(&(b.written_at_ms, &b.dot))
    }

    /// Picks between two versions carrying the same dot, deterministically (the greater wins).
    ///
    /// Distinct writes can only share a dot after clock pruning forgot a coordinator's entry
    /// or a counter saturated at `u64::MAX` (see `prune.rs`); then one of the two is lost. The
    /// choice must not depend on argument order, or merge would stop being commutative: the
    /// later write wins, then data over a tombstone, then by expiry and bytes.
    pub(crate) fn same_dot_order(a: &Version, b: &Version) -> Ordering {
        fn key(v: &Version) -> (u64, bool, Option<u64>, Option<&[u8]>) {
            let data = match &v.value {
                Value::Data(d) => Some(d.as_slice()),
                Value::Tombstone => None,
            };
            (v.written_at_ms, data.is_some(), v.expires_at_ms, data)
        }
        key(a).cmp(&key(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(value: Value, written: u64, expires: Option<u64>) -> Version {
        let dot = Dot {
            node: "n".into(),
            counter: 1,
        };
        Version {
            dot,
            value,
            written_at_ms: written,
            expires_at_ms: expires,
        }
    }

    #[test]
    fn liveness_and_death_time() {
        let forever = version(Value::Data(b"v".to_vec()), 10, None);
        assert!(forever.is_live(u64::MAX));
        assert_eq!(forever.dead_since_ms(), None);

        let ttl = version(Value::Data(b"v".to_vec()), 10, Some(100));
        assert!(ttl.is_live(99));
        assert!(!ttl.is_live(100));
        assert_eq!(ttl.dead_since_ms(), Some(100));

        let tomb = version(Value::Tombstone, 10, None);
        assert!(!tomb.is_live(10));
        assert_eq!(tomb.dead_since_ms(), Some(10));
    }

    #[test]
    fn same_dot_choice_is_symmetric() {
        let a = version(Value::Data(b"a".to_vec()), 5, None);
        let b = version(Value::Tombstone, 5, None);
        let c = version(Value::Data(b"c".to_vec()), 4, None);
        assert_eq!(Version::same_dot_order(&a, &b), Ordering::Greater);
        assert_eq!(Version::same_dot_order(&b, &a), Ordering::Less);
        assert_eq!(Version::same_dot_order(&c, &b), Ordering::Less);
    }
}
