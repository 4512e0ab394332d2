//! The causal context a client reads and sends back: a plain version vector.
//!
//! A context `{X: n, ...}` covers every dot `(X, 1..=n)`. Because each coordinator numbers its
//! writes contiguously, this is exactly the set of writes the reader had seen, so an update made
//! with it supersedes the versions that read returned and nothing newer.
//!
//! Invariants: entries are ordered by node id and no entry is 0, so equal contexts are equal
//! values with equal encodings. Timestamps are not part of a context: they matter only to the
//! replica that prunes its stored clock.
//!
//! On the wire (`X-Context`) a context is the base64url (RFC 4648 §5, no padding) of:
//!
//! ```text
//! +------+-----------+------------------------------------------+
//! | 0x01 | n: varint | n x entry, strictly ascending by id bytes |
//! +------+-----------+------------------------------------------+
//! entry: | id_len: varint | id: UTF-8 | counter: varint (>= 1) |
//! ```
//!
//! Varints are canonical unsigned LEB128. The header is opaque to clients: the leading format
//! byte lets a later release change the layout and still reject (not misread) an old one.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::codec::{Reader, invalid, put_bytes, put_varint};
use crate::{DecodeError, Dot, NodeId};

/// Format byte of the context encoding.
const CONTEXT_FORMAT: u8 = 1;

/// Longest `X-Context` value accepted. Far above any real clock (a 64-entry clock with 40-byte
/// ids is under 4 KiB), it bounds the work a hostile header can cause.
pub const MAX_HEADER_LEN: usize = 64 * 1024;

/// A causal context: the version vector that a client read and sends back with its next write.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Context {
    /// Node id -> highest counter seen; never holds a 0 (see the module invariants).
    entries: BTreeMap<NodeId, u64>,
}

/// [`Context::to_bytes`] of the context holding `entries` (ascending node ids), without
/// building it; zero counters are left out, as a context never holds one.
pub(crate) fn encode_entries<'a>(entries: impl Iterator<Item = (&'a str, u64)> + Clone) -> Vec<u8> {
    let kept = entries.filter(|(_, c)| *c > 0);
    let n = kept.clone().count();
    let mut out = Vec::with_capacity(2 + n * 12);
    out.push(CONTEXT_FORMAT);
    put_varint(&mut out, n as u64);
    for (node, counter) in kept {
        put_bytes(&mut out, node.as_bytes());
        put_varint(&mut out, counter);
    }
    out
}

/// [`Context::to_header`] of the context holding `entries` (see [`encode_entries`]).
pub(crate) fn header_of<'a>(entries: impl Iterator<Item = (&'a str, u64)> + Clone) -> String {
    URL_SAFE_NO_PAD.encode(encode_entries(entries))
}

impl Context {
    /// Opaque URL-safe string for the `X-Context` header.
    pub fn to_header(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.to_bytes())
    }

    /// Parses an `X-Context` value. An empty string is the empty context (a client that read
    /// nothing); anything else must be exactly what [`Context::to_header`] produces.
    pub fn from_header(s: &str) -> Result<Context, DecodeError> {
        if s.len() > MAX_HEADER_LEN {
            return Err(invalid(format!(
                "context longer than {MAX_HEADER_LEN} bytes"
            )));
        }
        if s.is_empty() {
            return Ok(Context::default());
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|e| invalid(format!("context is not base64url: {e}")))?;
        Context::from_bytes(&bytes)
    }

    /// True when the context covers no write at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Least upper bound of two contexts (entry-wise maximum).
    pub fn merge(&mut self, other: &Context) {
        for (node, counter) in &other.entries {
            self.raise(node, *counter);
        }
    }

    /// The counter this context holds for `node` (0 when absent).
    pub fn counter(&self, node: &str) -> u64 {
        self.entries.get(node).copied().unwrap_or(0)
    }

    /// Whether the write that created `dot` is covered (was seen) by this context.
    pub fn covers(&self, dot: &Dot) -> bool {
        self.counter(&dot.node) >= dot.counter
    }

    /// Number of nodes with a non-zero counter.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entries in node-id order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, u64)> {
        self.entries.iter().map(|(n, c)| (n.as_str(), *c))
    }

    /// Raises `node`'s counter to at least `counter` (zero is a no-op: absent means 0).
    pub(crate) fn raise(&mut self, node: &str, counter: u64) {
        if counter == 0 {
            return;
        }
        match self.entries.get_mut(node) {
            Some(c) => *c = (*c).max(counter),
            None => {
                self.entries.insert(node.to_owned(), counter);
            }
        }
    }

    pub(crate) fn from_entries(entries: BTreeMap<NodeId, u64>) -> Self {
        let entries = entries.into_iter().filter(|(_, c)| *c > 0).collect();
        Context { entries }
    }

    /// The compact binary form drawn in the module docs.
    pub fn to_bytes(&self) -> Vec<u8> {
        encode_entries(self.entries.iter().map(|(n, c)| (n.as_str(), *c)))
    }

    /// Decodes [`Context::to_bytes`] output; rejects anything not canonical.
    pub fn from_bytes(bytes: &[u8]) -> Result<Context, DecodeError> {
        let mut r = Reader::new(bytes);
        r.format(CONTEXT_FORMAT, "context")?;
        // An entry is at least 2 bytes: an empty id's length and a counter.
        let n = r.count(2)?;
        let mut entries = BTreeMap::new();
        let mut previous: Option<String> = None;
        for _ in 0..n {
            let node = r.string()?;
            if previous
                .as_ref()
                .is_some_and(|p| p.as_bytes() >= node.as_bytes())
            {
                return Err(invalid("context entries not strictly ascending"));
            }
            let counter = r.varint()?;
            if counter == 0 {
                return Err(invalid("zero counter in context"));
            }
            previous = Some(node.clone());
            entries.insert(node, counter);
        }
        r.finish()?;
        Ok(Context { entries })
    }
}

/// Builds a context from `(node, counter)` pairs: zero counters are dropped and a node given
/// twice keeps its highest counter.
impl FromIterator<(NodeId, u64)> for Context {
    fn from_iter<I: IntoIterator<Item = (NodeId, u64)>>(iter: I) -> Self {
        let mut ctx = Context::default();
        for (node, counter) in iter {
            ctx.raise(&node, counter);
        }
        ctx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(entries: &[(&str, u64)]) -> Context {
        entries.iter().map(|(n, c)| (n.to_string(), *c)).collect()
    }

    #[test]
    fn header_roundtrips_and_is_url_safe() {
        let c = ctx(&[("node-a", 3), ("node-b", 1 << 40), ("ü", 1)]);
        let h = c.to_header();
        assert!(
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(Context::from_header(&h).unwrap(), c);
        assert_eq!(
            Context::from_header(&Context::default().to_header()).unwrap(),
            Context::default()
        );
        assert_eq!(Context::from_header("").unwrap(), Context::default());
    }

    #[test]
    fn header_rejects_garbage() {
        for bad in ["!!!", "AQ", "Ag", "AQEBYQA", "a b c", "AQA=", "AQAA"] {
            assert!(Context::from_header(bad).is_err(), "{bad:?} accepted");
        }
        assert!(Context::from_header(&"A".repeat(MAX_HEADER_LEN + 1)).is_err());
    }

    #[test]
    fn from_bytes_rejects_unsorted_and_zero_entries() {
        let mut unsorted = vec![1, 2];
        for (id, c) in [(b'b', 1u8), (b'a', 1)] {
            unsorted.extend_from_slice(&[1, id, c]);
        }
        assert!(Context::from_bytes(&unsorted).is_err());
        assert!(Context::from_bytes(&[1, 1, 1, b'a', 0]).is_err());
        assert_eq!(
            Context::from_bytes(&[1, 1, 1, b'a', 5]).unwrap(),
            ctx(&[("a", 5)])
        );
    }

    #[test]
    fn merge_is_pointwise_max_and_zero_entries_vanish() {
        let mut a = ctx(&[("x", 2), ("y", 0)]);
        assert_eq!(a.len(), 1);
        a.merge(&ctx(&[("x", 1), ("z", 4)]));
        assert_eq!(a, ctx(&[("x", 2), ("z", 4)]));
        assert!(a.covers(&Dot {
            node: "z".into(),
            counter: 4
        }));
        assert!(!a.covers(&Dot {
            node: "y".into(),
            counter: 1
        }));
    }
}
