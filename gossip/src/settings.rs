//! The cluster-wide settings blob: opaque bytes with a version and an origin.
//!
//! Invariant: of two blobs, the one with the greater `(version, origin)` wins, so every node
//! ends with the same blob whatever the gossip order, and two nodes changing the settings at the
//! same version are ordered by their ids (a last-writer-wins register, no merge of contents).
//! A node writing new settings takes `version = highest known + 1`.

use serde::{Deserialize, Serialize};

use crate::NodeId;

/// Largest settings blob accepted, locally or from the wire.
pub const MAX_SETTINGS_BYTES: usize = 1 << 20;

/// The identity of a settings blob: what a digest carries instead of the bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SettingsVersion {
    pub version: u64,
    /// The node that wrote this version.
    pub origin: NodeId,
}

/// A versioned opaque blob; ringkv puts its hot-reloadable config in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub version: SettingsVersion,
    pub bytes: Vec<u8>,
}

/// Whether `candidate` should replace `current`.
pub(crate) fn is_newer(candidate: &SettingsVersion, current: Option<&Settings>) -> bool {
    current.is_none_or(|current| *candidate > current.version)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sv(version: u64, origin: &str) -> SettingsVersion {
        SettingsVersion {
            version,
            origin: origin.into(),
        }
    }

    #[test]
    fn version_then_origin_decides() {
        let current = Settings {
            version: sv(3, "b"),
            bytes: vec![],
        };
        assert!(is_newer(&sv(4, "a"), Some(&current)));
        assert!(is_newer(&sv(3, "c"), Some(&current)));
        assert!(!is_newer(&sv(3, "a"), Some(&current)));
        assert!(!is_newer(&sv(3, "b"), Some(&current)));
        assert!(is_newer(&sv(0, ""), None));
    }
}
