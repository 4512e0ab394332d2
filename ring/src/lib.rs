//! ringkv-ring: consistent-hash placement with virtual nodes (pure, no I/O).
//!
//! Tour:
//! - [`token`]: the hash space, how keys ([`key_token`]) and members ([`member_token`]) land on
//!   it (xxh3-64), and [`TokenRange`], an arc of it;
//! - [`ring`]: [`Ring`], built from a membership; preference lists (the first N distinct members
//!   clockwise from a key, wrapping) and fallbacks for sloppy quorum (the next ones, skipping
//!   members believed down);
//! - [`ownership`]: the ranges a member holds as k-th replica ([`Ring::ranges_of`]) and the
//!   ranges that change hands between two rings ([`Ring::diff`], [`RangeMove`]).
//!
//! Everything is a pure function of the member ids and the number of tokens per member, so every
//! node that knows the same membership computes the same placement. The edge cases (empty ring,
//! `n == 0`, `n` > members, duplicate ids, token collisions) are decided in [`ring`]'s doc.
//! Nothing here can fail, so the crate has no error type.

pub mod ownership;
pub mod ring;
pub mod token;

pub use ownership::RangeMove;
pub use ring::Ring;
pub use token::{Token, TokenRange, key_token, member_token};

/// Default number of tokens (virtual nodes) each member owns.
pub const DEFAULT_TOKENS_PER_MEMBER: usize = 256;
