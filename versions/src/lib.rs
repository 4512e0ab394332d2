//! ringkv-versions: dotted version vectors and per-key version sets (pure, no I/O).
//!
//! A tour, in the order a write meets it:
//! - `version`: [`Dot`] names one write `(coordinator, counter)`; a [`Version`] is a value or
//!   a [`Value::Tombstone`] with its dot, write time and optional expiry.
//! - `context`: a [`Context`] is the version vector a client reads (`X-Context`) and sends
//!   back; it covers exactly the writes the client saw.
//! - `clock`: the per-key clock, a version vector with a timestamp per entry for pruning.
//! - `set`: a [`VersionSet`] holds a key's concurrent siblings and its clock; `update` writes
//!   with a context, `merge` reconciles replicas (a join-semilattice), the read helpers answer
//!   "what is live" and "may this be collected".
//! - `prune`: the [`Limits`] on clock entries, siblings and past values, and what each costs.
//! - `past`: what a set remembers besides its siblings: past values (history) and idempotency
//!   [`Receipt`]s; both merge with the set and travel with it.
//! - `encoding` / `codec`: the canonical binary form of a set (drawn on [`VersionSet`]) and the
//!   bounds-checked reader every decoder uses.
//!
//! Time is always passed in (`now_ms`, ms since the Unix epoch), so everything is deterministic.
//!
//! ```
//! use ringkv_versions::{Context, Limits, Value, VersionSet};
//!
//! // Two clients read the same (empty) state and write through the same coordinator.
//! let mut replica = VersionSet::new();
//! let read = replica.context();
//! replica.update(&read, Value::Data(b"a".to_vec()), None, "node-1", 1_000);
//! replica.update(&read, Value::Data(b"b".to_vec()), None, "node-1", 1_001);
//! assert_eq!(replica.live_values(1_002), [b"a".as_slice(), b"b"]); // siblings, nothing lost
//!
//! // A client resolves them with the context of its read, sent back through `X-Context`.
//! let header = replica.context().to_header();
//! let ctx = Context::from_header(&header).unwrap();
//! replica.update(&ctx, Value::Data(b"ab".to_vec()), None, "node-2", 1_003);
//! assert_eq!(replica.live_values(1_004), [b"ab".as_slice()]);
//!
//! // Replicas exchange the canonical bytes and merge; caps are applied after writes. The
//! // superseded values travel too, as the key's history.
//! assert_eq!(replica.past_values(1_004).count(), 2);
//! let stored = VersionSet::decode(&replica.encode()).unwrap();
//! let mut other = VersionSet::new();
//! other.merge(&stored);
//! other.prune(&Limits { history: 8, ..Limits::caps(16, 8) });
//! assert_eq!(other, replica);
//! ```

mod clock;
mod codec;
mod context;
mod encoding;
mod past;
mod prune;
mod set;
mod version;

pub use clock::ClockEntry;
pub use context::{Context, MAX_HEADER_LEN};
pub use past::Receipt;
pub use prune::{Limits, PruneReport};
pub use set::VersionSet;
pub use version::{Dot, NodeId, Value, Version};

/// Why bytes or a header string could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("truncated input")]
    Truncated,
    #[error("invalid encoding: {0}")]
    Invalid(String),
}
