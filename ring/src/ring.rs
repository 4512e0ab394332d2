//! The ring for one membership: building it, and walking it for preference lists and fallbacks.
//!
//! A [`Ring`] is two parallel arrays sorted by token (`tokens[i]` owned by member
//! `members[owners[i]]`), plus the sorted, deduplicated member ids. The virtual node at index `i`
//! covers the arc `(tokens[i - 1], tokens[i]]` (index `-1` meaning the last one: the ring wraps).
//! A key's walk starts at the first token `>=` its hash, wrapping to index 0 past the end, and
//! visits virtual nodes clockwise; the distinct members in visit order are the key's placement.
//!
//! Invariants, all established by [`Ring::new`] and relied on everywhere else:
//! - `tokens` is strictly increasing (no two virtual nodes share a token);
//! - every member in `members` owns at least one token (save a 2^-64-likely collision, below);
//! - the ring depends only on the *set* of member ids and `tokens_per_member`, never on the
//!   order or repetition of the input: every node that knows the same membership builds the
//!   same ring.
//!
//! Edge cases, decided here once:
//! - duplicate member ids are deduplicated;
//! - `tokens_per_member == 0` is treated as 1 (a member on the ring always owns something);
//! - token collisions (two virtual nodes hashing to the same token, across members or within
//!   one) keep one virtual node: the one whose member id sorts first wins, the other is dropped.
//!   That is deterministic, and with 64-bit tokens it practically never happens;
//! - an empty ring, or `n == 0`, gives empty preference lists and owns no ranges;
//! - `n` larger than the membership gives every member (`min(n, members)`).

use std::collections::HashSet;

use crate::token::{Token, key_token, member_token};

/// The ring for one membership. Every node that knows the same member ids builds the same ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ring {
    /// Sorted, deduplicated member ids; `owners` indexes into it.
    members: Vec<String>,
    /// Virtual node positions, strictly increasing.
    tokens: Vec<Token>,
    /// `owners[i]` is the index in `members` of the member owning `tokens[i]`. `u32` keeps the
    /// array compact for the binary search's cache footprint; a ring has far fewer members.
    owners: Vec<u32>,
    tokens_per_member: usize,
}

impl Ring {
    /// Builds the ring from member ids, each owning `tokens_per_member` tokens derived from its id.
    pub fn new<I, S>(members: I, tokens_per_member: usize) -> Ring
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut members: Vec<String> = members.into_iter().map(Into::into).collect();
        members.sort_unstable();
        members.dedup();
        let tokens_per_member = tokens_per_member.max(1);
        let mut vnodes: Vec<(Token, u32)> = Vec::with_capacity(members.len() * tokens_per_member);
        for (m, id) in members.iter().enumerate() {
            let m = u32::try_from(m).expect("a ring has fewer than 2^32 members");
            vnodes.extend((0..tokens_per_member as u64).map(|i| (member_token(id, i), m)));
        }
        let (tokens, owners) = place(vnodes);
        Ring {
            members,
            tokens,
            owners,
            tokens_per_member,
        }
    }

    /// Member ids, sorted.
    pub fn members(&self) -> &[String] {
        &self.members
    }

    /// Tokens each member was given (after the `0 => 1` rule).
    pub fn tokens_per_member(&self) -> usize {
        self.tokens_per_member
    }

    /// Every virtual node in ring order: `(token, member id)`.
    pub fn vnodes(&self) -> impl ExactSizeIterator<Item = (Token, &str)> + '_ {
        self.tokens
            .iter()
            .zip(&self.owners)
            .map(|(&t, &m)| (t, self.members[m as usize].as_str()))
    }

    /// Each member's share of the hash space as primary (first owner), in member order; the
    /// shares sum to 1 (all 0 on an empty ring).
    pub fn primary_shares(&self) -> Vec<(String, f64)> {
        let mut widths = vec![0u128; self.members.len()];
        for (i, (&token, &owner)) in self.tokens.iter().zip(&self.owners).enumerate() {
            // Vnode i owns the arc (previous token, token], wrapping before the first one.
            let width = match i {
                0 => {
                    let last = *self.tokens.last().unwrap_or(&token);
                    (u128::from(u64::MAX) - u128::from(last)) + u128::from(token) + 1
                }
                _ => u128::from(token - self.tokens[i - 1]),
            };
            widths[owner as usize] += width;
        }
        let space = (u128::from(u64::MAX) + 1) as f64;
        self.members
            .iter()
            .zip(widths)
            .map(|(m, w)| (m.clone(), w as f64 / space))
            .collect()
    }

    /// The first `min(n, members)` distinct members clockwise from the key's token, wrapping.
    pub fn preference_list(&self, key: &[u8], n: usize) -> Vec<String> {
        self.preference_list_at(key_token(key), n)
    }

    /// [`Ring::preference_list`] for a key whose token is `token`.
    pub fn preference_list_at(&self, token: Token, n: usize) -> Vec<String> {
        self.walk(token)
            .take(n)
            .map(|m| self.members[m as usize].clone())
            .collect()
    }

    /// The next distinct members after the key's preference list of `n`, skipping `down`, in walk
    /// order: the stand-ins for sloppy quorum.
    ///
    /// All of them are returned (every member not in the preference list nor `down`); the caller
    /// takes as many as it needs. Empty when `n >= members`.
    pub fn fallbacks(&self, key: &[u8], n: usize, down: &HashSet<String>) -> Vec<String> {
        self.walk(key_token(key))
            .skip(n)
            .map(|m| &self.members[m as usize])
            .filter(|id| !down.contains(*id))
            .cloned()
            .collect()
    }

    /// Index of the virtual node whose arc contains `token`: the first token `>= token`,
    /// wrapping to 0. Meaningless on an empty ring (callers check).
    pub(crate) fn vnode_of(&self, token: Token) -> usize {
        let i = self.tokens.partition_point(|&t| t < token);
        if i == self.tokens.len() { 0 } else { i }
    }

    /// The sorted virtual node tokens.
    pub(crate) fn tokens(&self) -> &[Token] {
        &self.tokens
    }

    /// Distinct member indices in walk order from `token`, each member once, ending after one
    /// full turn. Empty on an empty ring.
    pub(crate) fn walk(&self, token: Token) -> Walk<'_> {
        let start = if self.tokens.is_empty() {
            0
        } else {
            self.vnode_of(token)
        };
        Walk {
            ring: self,
            next: start,
            remaining: self.tokens.len(),
            seen: Seen::new(self.members.len()),
        }
    }
}

/// Sorts virtual nodes `(token, member index)` into the ring's parallel arrays, applying the
/// collision rule: members are indexed in id order, so sorting by `(token, index)` puts the
/// smallest id first among colliding virtual nodes, and `dedup` keeps the first.
fn place(mut vnodes: Vec<(Token, u32)>) -> (Vec<Token>, Vec<u32>) {
    vnodes.sort_unstable();
    vnodes.dedup_by_key(|v| v.0);
    vnodes.into_iter().unzip()
}

/// Iterator behind [`Ring::walk`]: at most one turn of the ring, yielding unseen members.
pub(crate) struct Walk<'a> {
    ring: &'a Ring,
    next: usize,
    remaining: usize,
    seen: Seen,
}

impl Iterator for Walk<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        while self.remaining > 0 {
            let owner = self.ring.owners[self.next];
            self.remaining -= 1;
            self.next += 1;
            if self.next == self.ring.tokens.len() {
                self.next = 0;
            }
            if self.seen.insert(owner) {
                if self.seen.count == self.ring.members.len() {
                    // Everyone has been met: no need to finish the turn.
                    self.remaining = 0;
                }
                return Some(owner);
            }
        }
        None
    }
}

/// The members a walk has met: a bitset, one bit per member, with a count to stop early.
struct Seen {
    bits: Vec<u64>,
    count: usize,
}

impl Seen {
    fn new(members: usize) -> Seen {
        Seen {
            bits: vec![0; members.div_ceil(64)],
            count: 0,
        }
    }

    /// Marks `m` seen; true if it was not before.
    fn insert(&mut self, m: u32) -> bool {
        let (word, bit) = ((m / 64) as usize, 1u64 << (m % 64));
        let fresh = self.bits[word] & bit == 0;
        self.bits[word] |= bit;
        self.count += usize::from(fresh);
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("node-{i}")).collect()
    }

    #[test]
    fn primary_shares_sum_to_one_and_match_sampled_keys() {
        let ring = Ring::new(ids(4), 64);
        let shares = ring.primary_shares();
        let total: f64 = shares.iter().map(|(_, s)| s).sum();
        assert!((total - 1.0).abs() < 1e-9, "{total}");
        let mut counts = std::collections::BTreeMap::new();
        for i in 0..20_000 {
            let key = format!("k{i}");
            *counts
                .entry(ring.preference_list(key.as_bytes(), 1)[0].clone())
                .or_insert(0) += 1;
        }
        for (member, share) in &shares {
            let sampled = f64::from(counts[member]) / 20_000.0;
            assert!(
                (sampled - share).abs() < 0.02,
                "{member}: {sampled} vs {share}"
            );
        }
        let one = Ring::new(ids(1), 8).primary_shares();
        assert!((one[0].1 - 1.0).abs() < 1e-9);
        assert!(
            Ring::new(Vec::<String>::new(), 8)
                .primary_shares()
                .is_empty()
        );
    }

    #[test]
    fn empty_ring_places_nothing() {
        let ring = Ring::new(Vec::<String>::new(), 256);
        assert!(ring.members().is_empty());
        assert!(ring.preference_list(b"k", 3).is_empty());
        assert!(ring.fallbacks(b"k", 3, &HashSet::new()).is_empty());
    }

    #[test]
    fn zero_replicas_is_an_empty_list_and_all_members_are_fallbacks() {
        let ring = Ring::new(ids(4), 8);
        assert!(ring.preference_list(b"k", 0).is_empty());
        assert_eq!(ring.fallbacks(b"k", 0, &HashSet::new()).len(), 4);
    }

    #[test]
    fn more_replicas_than_members_gives_every_member_once() {
        let ring = Ring::new(ids(3), 16);
        let mut list = ring.preference_list(b"k", 10);
        list.sort();
        assert_eq!(list, ids(3));
        assert!(ring.fallbacks(b"k", 10, &HashSet::new()).is_empty());
    }

    #[test]
    fn duplicates_and_input_order_do_not_change_the_ring() {
        let a = Ring::new(["b", "a", "c", "a"], 32);
        let b = Ring::new(["c", "b", "a"], 32);
        assert_eq!(a, b);
        assert_eq!(a.members(), ["a", "b", "c"]);
        assert_eq!(a.vnodes().len(), 96);
    }

    #[test]
    fn zero_tokens_per_member_means_one() {
        let ring = Ring::new(["a", "b"], 0);
        assert_eq!(ring.tokens_per_member(), 1);
        assert_eq!(ring.preference_list(b"k", 2).len(), 2);
    }

    #[test]
    fn walk_wraps_past_the_last_token() {
        let ring = Ring::new(ids(5), 4);
        let last = *ring.tokens.last().unwrap();
        assert!(
            last < u64::MAX,
            "2^-64 odds; pick other ids if this ever trips"
        );
        let first = ring.members[ring.owners[0] as usize].clone();
        assert_eq!(
            ring.preference_list_at(last + 1, 1),
            std::slice::from_ref(&first)
        );
        assert_eq!(ring.preference_list_at(u64::MAX, 1), [first]);
        assert_eq!(ring.preference_list_at(u64::MAX, 5).len(), 5);
    }

    #[test]
    fn fallbacks_follow_the_preference_list_and_skip_down_members() {
        let ring = Ring::new(ids(6), 16);
        let walk: Vec<String> = ring.preference_list(b"key", 6);
        let down: HashSet<String> = [walk[4].clone()].into();
        assert_eq!(
            ring.fallbacks(b"key", 3, &down),
            [walk[3].clone(), walk[5].clone()]
        );
        // A down member inside the preference list is not a fallback's business.
        let down: HashSet<String> = [walk[0].clone()].into();
        assert_eq!(ring.fallbacks(b"key", 3, &down), walk[3..].to_vec());
    }

    #[test]
    fn colliding_tokens_keep_the_smallest_member_id() {
        let (tokens, owners) = place(vec![(5, 2), (9, 0), (5, 1), (3, 2), (9, 0)]);
        assert_eq!(tokens, [3, 5, 9]);
        assert_eq!(owners, [2, 1, 0]);
        // And `new` never leaves duplicate tokens behind.
        let big = Ring::new(ids(50), 64);
        assert!(big.tokens.windows(2).all(|w| w[0] < w[1]));
    }
}
