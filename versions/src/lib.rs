//! ringkv-versions: dotted version vectors and per-key version sets (pure, no I/O).
//!
//! A tour, in the order a write meets it:
//! - [`version`]: [`Dot`] names one write `(coordinator, counter)`; a [`Version`] is a value or
//!   a [`Value::Tombstone`] with its dot, write time and optional expiry.
//! - [`context`]: a [`Context`] is the version vector a client reads (`X-Context`) and sends
//!   back; it covers exactly the writes the client saw.
//! - `clock`: the per-key clock, a version vector with a timestamp per entry for pruning.
//! - [`set`]: a [`VersionSet`] holds a key's concurrent siblings and its clock; `update` writes
//!   with a context, `merge` reconciles replicas (a join-semilattice), the read helpers answer
//!   "what is live" and "may this be collected".
//! - [`prune`]: the [`Limits`] on clock entries and siblings, and what each costs.
//! - `encoding` / `codec`: the canonical binary form of a set (drawn on [`VersionSet`]) and the
//!   bounds-checked reader every decoder uses.
//!
//! Time is always passed in (`now_ms`, ms since the Unix epoch), so everything is deterministic.

mod clock;
mod codec;
pub mod context;
mod encoding;
pub mod prune;
pub mod set;
pub mod version;

pub use clock::ClockEntry;
pub use context::{Context, MAX_HEADER_LEN};
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
