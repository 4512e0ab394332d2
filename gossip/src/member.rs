//! Member entries and the order that makes their merge deterministic.
//!
//! Every member's entry carries a [`Version`] `(incarnation, heartbeat, status rank)`, compared
//! lexicographically; merging two views keeps, per member, the entry with the greater version.
//! That merge is commutative, associative and idempotent (a max per key), so views converge
//! whatever the order in which gossip arrives.
//!
//! Invariants the order encodes:
//! - only the member itself raises its `(incarnation, heartbeat)`: a newer heartbeat is proof of
//!   life and overrides any suspicion or death declared at an older one;
//! - other nodes only change the status at the member's current `(incarnation, heartbeat)`, and
//!   the status rank makes the stronger claim win there: alive < leaving < suspect < dead < left;
//! - a restarted member, whose heartbeat starts again from zero, must come back with a higher
//!   incarnation, which it learns by hearing about itself (see `Gossip` refutation).

use std::cmp::Ordering;
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// A member's stable identity: the node id the ring hashes.
pub type NodeId = String;

/// What the cluster believes about a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Status {
    /// Renewing its heartbeat.
    Alive,
    /// No heartbeat renewal for `failure_timeout` (or phi above the threshold) somewhere.
    Suspect,
    /// Suspected for `suspect_timeout` with no newer heartbeat.
    Dead,
    /// Handing its data off before it leaves; still serving and heartbeating.
    Leaving,
    /// Gone for good (graceful leave, or removed by an operator).
    Left,
}

impl Status {
    /// Precedence at equal `(incarnation, heartbeat)`.
    fn rank(self) -> u8 {
        match self {
            Status::Alive => 0,
            Status::Leaving => 1,
            Status::Suspect => 2,
            Status::Dead => 3,
            Status::Left => 4,
        }
    }

    /// Whether the member is believed to be running (worth gossiping with and failure-detecting).
    pub fn is_live(self) -> bool {
        matches!(self, Status::Alive | Status::Leaving | Status::Suspect)
    }

    /// Lower-case name, as the HTTP API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Alive => "alive",
            Status::Suspect => "suspect",
            Status::Dead => "dead",
            Status::Leaving => "leaving",
            Status::Left => "left",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The version of one member entry; greater wins on merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    pub incarnation: u64,
    pub heartbeat: u64,
    pub status: Status,
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.incarnation, self.heartbeat, self.status.rank()).cmp(&(
            other.incarnation,
            other.heartbeat,
            other.status.rank(),
        ))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Version {
    /// Whether `self` carries a newer heartbeat than `other` (proof the member ran since).
    pub(crate) fn beats_heartbeat_of(&self, other: &Version) -> bool {
        (self.incarnation, self.heartbeat) > (other.incarnation, other.heartbeat)
    }
}

/// One member entry as it travels in gossip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberState {
    pub id: NodeId,
    /// Base URL the member serves on, e.g. `http://10.0.0.5:7000`.
    pub addr: String,
    pub version: Version,
    /// Application state owned by the member itself (ringkv: its ring phase and data-movement
    /// progress), at most [`crate::MAX_META_BYTES`]. Only the member changes it, always with a
    /// heartbeat bump, so it travels with the entry's version and survives other nodes'
    /// suspicion (which changes only `status`).
    pub meta: Vec<u8>,
}

/// A member as this node sees it: the gossiped entry plus local observations.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Member {
    pub id: NodeId,
    pub addr: String,
    pub status: Status,
    /// Bumped by the member to refute suspicion or after a restart.
    pub incarnation: u64,
    /// Bumped by the member every gossip round.
    pub heartbeat: u64,
    /// When this node last saw the member's `(incarnation, heartbeat)` advance (for itself: the
    /// last tick). Failure detection runs from here.
    pub last_heard: Instant,
    /// When this node last saw the member's status change.
    pub status_since: Instant,
    /// The member's own application state (see [`MemberState::meta`]).
    pub meta: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(incarnation: u64, heartbeat: u64, status: Status) -> Version {
        Version {
            incarnation,
            heartbeat,
            status,
        }
    }

    #[test]
    fn newer_heartbeat_beats_any_status_at_an_older_one() {
        assert!(v(0, 6, Status::Alive) > v(0, 5, Status::Dead));
        assert!(v(0, 6, Status::Alive) > v(0, 5, Status::Left));
        assert!(v(1, 0, Status::Alive) > v(0, 99, Status::Dead));
    }

    #[test]
    fn stronger_claim_wins_at_the_same_heartbeat() {
        let order = [
            Status::Alive,
            Status::Leaving,
            Status::Suspect,
            Status::Dead,
            Status::Left,
        ];
        for pair in order.windows(2) {
            assert!(v(3, 7, pair[0]) < v(3, 7, pair[1]), "{pair:?}");
        }
    }

    #[test]
    fn heartbeat_comparison_ignores_status() {
        assert!(!v(0, 5, Status::Dead).beats_heartbeat_of(&v(0, 5, Status::Alive)));
        assert!(v(0, 6, Status::Alive).beats_heartbeat_of(&v(0, 5, Status::Dead)));
    }
}
