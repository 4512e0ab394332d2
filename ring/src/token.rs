//! Tokens: positions on the ring, how keys and members are hashed onto it, and arcs of it.
//!
//! The ring is the xxh3-64 hash space `0..=u64::MAX`, closed into a circle. A key sits at
//! `xxh3_64(key)`. A member owns `tokens_per_member` virtual nodes; token `i` of member `id` is
//!
//! ```text
//! xxh3_64( id as UTF-8 bytes || i as u64 little-endian (8 bytes) )
//! ```
//!
//! The 8-byte fixed-width suffix makes the hashed byte string decode uniquely back into
//! `(id, i)`, so no two `(id, i)` pairs hash the same input. This scheme is part of the wire
//! contract between nodes: every node must derive the same tokens, so changing it is a
//! cluster-wide breaking change (`tests/naive_model.rs` pins it, and a unit test below pins
//! golden values).
//!
//! Invariant of [`TokenRange`]: `(start, end]` is half-open on the left; when `start >= end` it
//! wraps past `u64::MAX`, so `start == end` is the whole ring.

use xxhash_rust::xxh3::xxh3_64;

/// Position on the ring: the xxh3-64 hash space.
pub type Token = u64;

/// The hash of a key on the ring (xxh3-64 of its bytes).
pub fn key_token(key: &[u8]) -> Token {
    xxh3_64(key)
}

/// Token number `index` of member `id`: `xxh3_64(id || index as u64 LE)` (see the module doc).
pub fn member_token(id: &str, index: u64) -> Token {
    let mut buf = Vec::with_capacity(id.len() + 8);
    buf.extend_from_slice(id.as_bytes());
    buf.extend_from_slice(&index.to_le_bytes());
    xxh3_64(&buf)
}

/// A half-open arc of the ring `(start, end]`, wrapping past `u64::MAX` when `start >= end`.
///
/// `start == end` therefore denotes the whole ring (it is what a ring with a single token, or a
/// member holding everything, reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenRange {
    pub start: Token,
    pub end: Token,
}

impl TokenRange {
    pub fn contains(&self, token: Token) -> bool {
        if self.start < self.end {
            self.start < token && token <= self.end
        } else {
            token > self.start || token <= self.end
        }
    }

    /// How many tokens the arc covers, as a `u128` because the whole ring has `2^64`.
    pub fn width(&self) -> u128 {
        if self.start < self.end {
            u128::from(self.end - self.start)
        } else {
            (1u128 << 64) - u128::from(self.start - self.end)
        }
    }

    /// Whether the arc is the whole ring.
    pub fn is_full(&self) -> bool {
        self.start == self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_range_is_left_open_right_closed() {
        let r = TokenRange { start: 10, end: 20 };
        assert!(!r.contains(10));
        assert!(r.contains(11));
        assert!(r.contains(20));
        assert!(!r.contains(21));
        assert_eq!(r.width(), 10);
    }

    #[test]
    fn wrapping_range_covers_both_ends() {
        let r = TokenRange {
            start: u64::MAX - 1,
            end: 1,
        };
        assert!(r.contains(u64::MAX));
        assert!(r.contains(0));
        assert!(r.contains(1));
        assert!(!r.contains(2));
        assert!(!r.contains(u64::MAX - 1));
        assert_eq!(r.width(), 3);
    }

    #[test]
    fn equal_bounds_are_the_whole_ring() {
        let r = TokenRange { start: 7, end: 7 };
        assert!(r.is_full());
        for t in [0, 6, 7, 8, u64::MAX] {
            assert!(r.contains(t));
        }
        assert_eq!(r.width(), 1u128 << 64);
    }

    #[test]
    fn tokens_are_pinned() {
        // Changing these values changes placement cluster-wide: it must be a deliberate decision.
        assert_eq!(key_token(b""), 0x2d06_8005_38d3_94c2);
        assert_eq!(member_token("a", 0), xxh3_64(b"a\0\0\0\0\0\0\0\0"));
        assert_ne!(member_token("a", 0), member_token("a", 1));
    }
}
