//! ringkv-ring: consistent-hash placement with virtual nodes (pure, no I/O).
//!
//! CONTRACT SKELETON. The public API below is what the node codes against; the implementation
//! replaces every `todo!()` and may add items, but must keep these signatures.

use std::collections::HashSet;

/// Position on the ring: the xxh3-64 hash space.
pub type Token = u64;

/// Default number of tokens (virtual nodes) each member owns.
pub const DEFAULT_TOKENS_PER_MEMBER: usize = 256;

/// The hash of a key on the ring (xxh3-64 of its bytes).
pub fn key_token(_key: &[u8]) -> Token {
    todo!()
}

/// A half-open arc of the ring `(start, end]`, wrapping past `u64::MAX` when `start >= end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenRange {
    pub start: Token,
    pub end: Token,
}

impl TokenRange {
    pub fn contains(&self, _token: Token) -> bool {
        todo!()
    }
}

/// A range that changes hands between two rings: `from` no longer holds it, `to` now does,
/// as replica number `replica` (0 = primary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeMove {
    pub range: TokenRange,
    pub replica: usize,
    pub from: String,
    pub to: String,
}

/// The ring for one membership. Every node that knows the same member ids builds the same ring.
#[derive(Debug, Clone)]
pub struct Ring {}

impl Ring {
    /// Builds the ring from member ids, each owning `tokens_per_member` tokens derived from its id.
    pub fn new<I, S>(_members: I, _tokens_per_member: usize) -> Ring
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        todo!()
    }
    /// Member ids, sorted.
    pub fn members(&self) -> &[String] {
        todo!()
    }
    /// The first `min(n, members)` distinct members clockwise from the key's token, wrapping.
    pub fn preference_list(&self, _key: &[u8], _n: usize) -> Vec<String> {
        todo!()
    }
    /// The next distinct members after the key's preference list of `n`, skipping `down`, in walk
    /// order: the stand-ins for sloppy quorum.
    pub fn fallbacks(&self, _key: &[u8], _n: usize, _down: &HashSet<String>) -> Vec<String> {
        todo!()
    }
    /// The ranges `member` holds, each with its replica number (0 = primary) for replication `n`.
    pub fn ranges_of(&self, _member: &str, _n: usize) -> Vec<(TokenRange, usize)> {
        todo!()
    }
    /// Which ranges move from whom to whom going from `self` to `next`, for replication `n`.
    pub fn diff(&self, _next: &Ring, _n: usize) -> Vec<RangeMove> {
        todo!()
    }
}
