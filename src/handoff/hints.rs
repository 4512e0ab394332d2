//! The byte format of a stored hint (pure: no storage, no I/O).
//!
//! A hint is a key's version set held for a replica that missed it, under a storage key of its
//! own, apart from the node's data (a fallback is not a replica of the key):
//!
//! ```text
//! storage key := "t/" | target id (UTF-8) | 0x00 | key (UTF-8)
//! value       := format: u8 = 1 | created_ms: u64 BE | set: VersionSet::encode (rest)
//! ```
//! One record per (target, key): a newer hint for the same pair is merged into it (the sets
//! merge; `created_ms` keeps the oldest, so the age bound counts from the first miss). A node
//! id never contains 0x00 (gossip ids are UTF-8 text checked at the edge; a 0x00 in one is
//! refused), so the target and the key split unambiguously at the first 0x00.

use ringkv_versions::VersionSet;

/// The storage prefix of every hint.
pub const HINT_PREFIX: &[u8] = b"t/";
const FORMAT: u8 = 1;

/// Why a stored hint could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HintError {
    #[error("hint record is truncated or of an unknown format")]
    Format,
    #[error("hint storage key is malformed")]
    Key,
    #[error("hint set: {0}")]
    Set(String),
}

/// The storage prefix of every hint for `target`.
pub fn target_prefix(target: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(HINT_PREFIX.len() + target.len() + 1);
    k.extend_from_slice(HINT_PREFIX);
    k.extend_from_slice(target.as_bytes());
    k.push(0);
    k
}

/// The storage key of the hint of `key` for `target`.
pub fn hint_key(target: &str, key: &str) -> Vec<u8> {
    let mut k = target_prefix(target);
    k.extend_from_slice(key.as_bytes());
    k
}

/// Splits a hint storage key into `(target, key)`.
pub fn split_key(storage_key: &[u8]) -> Result<(String, String), HintError> {
    let rest = storage_key
        .strip_prefix(HINT_PREFIX)
        .ok_or(HintError::Key)?;
    let at = rest.iter().position(|&b| b == 0).ok_or(HintError::Key)?;
    let target = std::str::from_utf8(&rest[..at]).map_err(|_| HintError::Key)?;
    let key = std::str::from_utf8(&rest[at + 1..]).map_err(|_| HintError::Key)?;
    Ok((target.to_string(), key.to_string()))
}

/// A decoded hint record.
#[derive(Debug, Clone, PartialEq)]
pub struct Hint {
    pub created_ms: u64,
    pub set: VersionSet,
}

impl Hint {
    pub fn encode(&self) -> Vec<u8> {
        let set = self.set.encode();
        let mut out = Vec::with_capacity(9 + set.len());
        out.push(FORMAT);
        out.extend_from_slice(&self.created_ms.to_be_bytes());
        out.extend_from_slice(&set);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Hint, HintError> {
        if bytes.len() < 9 || bytes[0] != FORMAT {
            return Err(HintError::Format);
        }
        let mut created = [0u8; 8];
        created.copy_from_slice(&bytes[1..9]);
        let set = VersionSet::decode(&bytes[9..]).map_err(|e| HintError::Set(e.to_string()))?;
        Ok(Hint {
            created_ms: u64::from_be_bytes(created),
            set,
        })
    }

    /// Folds a newer hint for the same (target, key) into this one.
    pub fn absorb(&mut self, newer: &Hint) {
        self.set.merge(&newer.set);
        self.created_ms = self.created_ms.min(newer.created_ms);
    }
}

#[cfg(test)]
mod tests {
    use ringkv_versions::{Context, Value};

    use super::*;

    fn set(value: &str, node: &str) -> VersionSet {
        let mut s = VersionSet::new();
        s.update(
            &Context::default(),
            Value::Data(value.as_bytes().to_vec()),
            None,
            node,
            5,
        );
        s
    }

    #[test]
    fn keys_split_back_and_records_round_trip() {
        let k = hint_key("10.0.0.1:7777-ab12cd", "a key/with\u{e9}");
        assert!(k.starts_with(&target_prefix("10.0.0.1:7777-ab12cd")));
        assert_eq!(
            split_key(&k).unwrap(),
            (
                "10.0.0.1:7777-ab12cd".to_string(),
                "a key/with\u{e9}".to_string()
            )
        );
        assert_eq!(split_key(b"d/x"), Err(HintError::Key));
        assert_eq!(split_key(b"t/no-separator"), Err(HintError::Key));
        let hint = Hint {
            created_ms: 42,
            set: set("v", "n1"),
        };
        let bytes = hint.encode();
        assert_eq!(Hint::decode(&bytes).unwrap(), hint);
        for cut in 0..bytes.len() {
            assert!(Hint::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn absorbing_merges_sets_and_keeps_the_oldest_time() {
        let mut old = Hint {
            created_ms: 10,
            set: set("a", "n1"),
        };
        let newer = Hint {
            created_ms: 20,
            set: set("b", "n2"),
        };
        old.absorb(&newer);
        assert_eq!(old.created_ms, 10);
        assert_eq!(
            old.set.live_values(30).len(),
            2,
            "concurrent versions both kept"
        );
    }
}
