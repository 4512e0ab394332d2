//! ringkv-gossip: membership, failure detection and settings dissemination (sans-IO).
//!
//! Placeholder crate root; the protocol lands with the gossip issue.
