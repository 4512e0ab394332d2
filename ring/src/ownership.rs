//! Ownership by range: which arcs a member holds as k-th replica, and what moves between rings.
//!
//! Both answers are computed over *elementary segments*: arcs between consecutive boundary tokens
//! in which every key has the same walk, hence the same preference list. For one ring the
//! boundaries are its own tokens; for two rings they are the union of both rings' tokens, so in
//! each segment both preference lists are constant. Consecutive segments with the same answer
//! are coalesced (also across the wrap point), so results are few and maximal.
//!
//! What a [`RangeMove`] means, for a segment whose preference list goes from `old` to `new`:
//! - each member in `new` but not `old` (a *gainer*, in `new` order) is paired with a member in
//!   `old` but not `new` (a *loser*, in `old` order): `from` no longer holds the arc, `to` now does
//!   as replica number `replica` (its rank in `new`);
//! - a gainer left without a loser (the owner set grew, which happens while the ring has fewer
//!   than `n` members) gets `from = old[0]`, the old primary, which keeps its copy and can send it;
//! - a loser left without a gainer (the owner set shrank below `n`) gets `to = new[0]`, the new
//!   primary, which already has the data (`replica` 0): the move is then a no-op to apply, but it is
//!   reported so that every key whose owner set changes lies in some move (exactness);
//! - members that stay but change rank are not moves (they already hold the data);
//! - nothing moves from or to an empty ring, nor for `n == 0`: nobody holds anything there.
//!
//! Invariant (checked by `tests/diff_exact.rs`): a key lies in a reported move iff its owner set
//! differs between the two rings, and for every gainer there is a move to it covering the key.

use std::collections::BTreeMap;

use crate::ring::Ring;
use crate::token::{Token, TokenRange};

/// A range that changes hands between two rings: `from` no longer holds it, `to` now does,
/// as replica number `replica` (0 = primary). See the module doc for when the owner set grows
/// or shrinks rather than trading one member for another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeMove {
    pub range: TokenRange,
    pub replica: usize,
    pub from: String,
    pub to: String,
}

impl Ring {
    /// The ranges `member` holds, each with its replica number (0 = primary) for replication `n`.
    ///
    /// Sorted by replica number, then clockwise. Empty for a non-member, an empty ring or `n == 0`.
    pub fn ranges_of(&self, member: &str, n: usize) -> Vec<(TokenRange, usize)> {
        let Ok(me) = self.members().binary_search_by(|m| m.as_str().cmp(member)) else {
            return Vec::new();
        };
        let me = me as u32;
        let tokens = self.tokens();
        let mut by_rank: Vec<Vec<usize>> = vec![Vec::new(); n.min(self.members().len())];
        for (i, &t) in tokens.iter().enumerate() {
            if let Some(rank) = self.walk(t).take(n).position(|m| m == me) {
                by_rank[rank].push(i);
            }
        }
        by_rank
            .iter()
            .enumerate()
            .flat_map(|(rank, segs)| coalesce(tokens, segs).into_iter().map(move |r| (r, rank)))
            .collect()
    }

    /// Which ranges move from whom to whom going from `self` to `next`, for replication `n`.
    ///
    /// Sorted by `(from, to, replica)`, then clockwise. See the module doc for the exact meaning.
    pub fn diff(&self, next: &Ring, n: usize) -> Vec<RangeMove> {
        if self.tokens().is_empty() || next.tokens().is_empty() || n == 0 {
            return Vec::new();
        }
        let mut bounds: Vec<Token> = self.tokens().iter().chain(next.tokens()).copied().collect();
        bounds.sort_unstable();
        bounds.dedup();
        let mut segments: BTreeMap<(&str, &str, usize), Vec<usize>> = BTreeMap::new();
        for (i, &b) in bounds.iter().enumerate() {
            let old = names(self, b, n);
            let new = names(next, b, n);
            for (from, to, replica) in moves(&old, &new) {
                segments.entry((from, to, replica)).or_default().push(i);
            }
        }
        segments
            .into_iter()
            .flat_map(|((from, to, replica), segs)| {
                coalesce(&bounds, &segs)
                    .into_iter()
                    .map(move |range| RangeMove {
                        range,
                        replica,
                        from: from.to_owned(),
                        to: to.to_owned(),
                    })
            })
            .collect()
    }
}

/// The preference list of length `n` at `token`, as borrowed ids.
fn names(ring: &Ring, token: Token, n: usize) -> Vec<&str> {
    let members = ring.members();
    ring.walk(token)
        .take(n)
        .map(|m| members[m as usize].as_str())
        .collect()
}

/// The moves `(from, to, replica)` for one segment whose preference list goes `old -> new`
/// (both non-empty), following the pairing rules of the module doc.
fn moves<'a>(old: &[&'a str], new: &[&'a str]) -> Vec<(&'a str, &'a str, usize)> {
    let sorted = |list: &[&'a str]| {
        let mut s = list.to_vec();
        s.sort_unstable();
        s
    };
    let (old_set, new_set) = (sorted(old), sorted(new));
    let gainers: Vec<(usize, &str)> = (new.iter().enumerate())
        .filter(|(_, m)| old_set.binary_search(m).is_err())
        .map(|(rank, m)| (rank, *m))
        .collect();
    let mut losers = old.iter().filter(|m| new_set.binary_search(m).is_err());
    let mut out: Vec<_> = gainers
        .iter()
        .map(|&(rank, to)| (*losers.next().unwrap_or(&old[0]), to, rank))
        .collect();
    out.extend(losers.map(|from| (*from, new[0], 0)));
    out
}

/// Coalesces elementary segments into maximal arcs. Segment `i` is `(bounds[i - 1], bounds[i]]`
/// (segment 0 starts at the last bound: the ring wraps); `segs` holds ascending segment indices.
/// Runs of consecutive indices become one arc, a run ending at the last segment joins one
/// starting at segment 0, and all segments together are the whole ring `(last, last]`.
fn coalesce(bounds: &[Token], segs: &[usize]) -> Vec<TokenRange> {
    let last = bounds.len() - 1;
    if segs.len() == bounds.len() {
        return vec![TokenRange {
            start: bounds[last],
            end: bounds[last],
        }];
    }
    let start_of = |i: usize| bounds[if i == 0 { last } else { i - 1 }];
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for &i in segs {
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == i => *end = i,
            _ => runs.push((i, i)),
        }
    }
    if runs.len() > 1 && runs[0].0 == 0 && runs[runs.len() - 1].1 == last {
        let (wrap_start, _) = runs.pop().expect("more than one run");
        runs[0].0 = wrap_start;
    }
    runs.into_iter()
        .map(|(first, end)| TokenRange {
            start: start_of(first),
            end: bounds[end],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coalesce_merges_runs_and_the_wrap() {
        let b = [10, 20, 30, 40, 50];
        let r = |start, end| TokenRange { start, end };
        assert_eq!(coalesce(&b, &[1, 2]), [r(10, 30)]);
        assert_eq!(coalesce(&b, &[0, 1, 3]), [r(50, 20), r(30, 40)]);
        assert_eq!(coalesce(&b, &[0, 2, 4]), [r(40, 10), r(20, 30)]);
        assert_eq!(coalesce(&b, &[0, 1, 2, 3, 4]), [r(50, 50)]);
        assert_eq!(coalesce(&b, &[]), []);
    }

    #[test]
    fn moves_pair_gainers_with_losers_in_order() {
        assert_eq!(moves(&["a", "b", "c"], &["x", "a", "b"]), [("c", "x", 0)]);
        assert_eq!(
            moves(&["a", "b", "c"], &["x", "y", "a"]),
            [("b", "x", 0), ("c", "y", 1)]
        );
        // Rank changes alone are not moves.
        assert_eq!(moves(&["a", "b"], &["b", "a"]), []);
        // Growth: the old primary sends. Shrink: the new primary receives.
        assert_eq!(moves(&["a", "b"], &["a", "c", "b"]), [("a", "c", 1)]);
        assert_eq!(moves(&["a", "c", "b"], &["b", "a"]), [("c", "b", 0)]);
    }

    #[test]
    fn single_member_holds_the_whole_ring_as_primary() {
        let ring = Ring::new(["solo"], 8);
        let ranges = ring.ranges_of("solo", 3);
        assert_eq!(ranges.len(), 1);
        assert!(ranges[0].0.is_full());
        assert_eq!(ranges[0].1, 0);
        assert!(ring.ranges_of("stranger", 3).is_empty());
        assert!(ring.ranges_of("solo", 0).is_empty());
    }

    #[test]
    fn with_n_equal_members_everyone_holds_everything_once() {
        let ring = Ring::new(["a", "b", "c"], 16);
        for m in ring.members() {
            let width: u128 = ring.ranges_of(m, 3).iter().map(|(r, _)| r.width()).sum();
            assert_eq!(width, 1u128 << 64, "{m}");
        }
    }

    #[test]
    fn diff_of_equal_or_empty_rings_is_empty() {
        let ring = Ring::new(["a", "b", "c"], 16);
        let empty = Ring::new(Vec::<String>::new(), 16);
        assert!(ring.diff(&ring.clone(), 3).is_empty());
        assert!(ring.diff(&empty, 3).is_empty());
        assert!(empty.diff(&ring, 3).is_empty());
        assert!(ring.diff(&Ring::new(["a", "b"], 16), 0).is_empty());
    }

    #[test]
    fn joining_member_only_receives() {
        let old = Ring::new(["a", "b", "c"], 32);
        let new = Ring::new(["a", "b", "c", "d"], 32);
        let moves = old.diff(&new, 2);
        assert!(!moves.is_empty());
        assert!(moves.iter().all(|m| m.to == "d" && m.from != "d"));
        // And leaving is the mirror image.
        let back = new.diff(&old, 2);
        assert!(back.iter().all(|m| m.from == "d"));
    }
}
