//! ringkv-versions: dotted version vectors and per-key version sets (pure, no I/O).
//!
//! CONTRACT SKELETON. The public API below is what the node codes against; the implementation
//! replaces every `todo!()` and may add items, but must keep these signatures.

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

/// Why bytes or a header string could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("truncated input")]
    Truncated,
    #[error("invalid encoding: {0}")]
    Invalid(String),
}

/// Thresholds applied by `prune` (hot-reloadable in the node).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_clock_entries: usize,
    pub max_siblings: usize,
}

/// What `prune` removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PruneReport {
    pub clock_entries_dropped: usize,
    pub siblings_dropped: usize,
}

/// A causal context: the version vector that a client read and sends back with its next write.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Context {}

impl Context {
    /// Opaque URL-safe string for the `X-Context` header.
    pub fn to_header(&self) -> String {
        todo!()
    }
    pub fn from_header(_s: &str) -> Result<Context, DecodeError> {
        todo!()
    }
    pub fn is_empty(&self) -> bool {
        todo!()
    }
    /// Least upper bound of two contexts.
    pub fn merge(&mut self, _other: &Context) {
        todo!()
    }
}

/// The versions of one key that are concurrent with each other, plus the clock covering them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VersionSet {}

impl VersionSet {
    pub fn new() -> Self {
        todo!()
    }
    /// A write coordinated by `coordinator`: the new version supersedes exactly the versions that
    /// `ctx` covers; versions it does not cover stay as siblings. Returns the new version's dot.
    pub fn update(
        &mut self,
        _ctx: &Context,
        _value: Value,
        _expires_at_ms: Option<u64>,
        _coordinator: &str,
        _now_ms: u64,
    ) -> Dot {
        todo!()
    }
    /// Reconciles another replica's set into this one (commutative, associative, idempotent).
    pub fn merge(&mut self, _other: &VersionSet) {
        todo!()
    }
    /// The context covering every version in the set.
    pub fn context(&self) -> Context {
        todo!()
    }
    /// All versions (data and tombstones, expired or not) in a deterministic order.
    pub fn versions(&self) -> &[Version] {
        todo!()
    }
    /// Unexpired data values at `now_ms`, in the same deterministic order as `versions`.
    pub fn live_values(&self, _now_ms: u64) -> Vec<&[u8]> {
        todo!()
    }
    pub fn is_live(&self, _now_ms: u64) -> bool {
        todo!()
    }
    /// True when nothing is live and every version became dead more than `grace_ms` ago, so the
    /// whole set may be dropped from storage.
    pub fn can_collect(&self, _now_ms: u64, _grace_ms: u64) -> bool {
        todo!()
    }
    /// Applies the caps; never grows the set.
    pub fn prune(&mut self, _limits: &Limits) -> PruneReport {
        todo!()
    }
    /// Compact canonical binary form: equal sets encode to equal bytes (Merkle trees hash it).
    pub fn encode(&self) -> Vec<u8> {
        todo!()
    }
    pub fn decode(_bytes: &[u8]) -> Result<VersionSet, DecodeError> {
        todo!()
    }
}
