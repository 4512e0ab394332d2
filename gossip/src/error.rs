//! The crate's one error type.
//!
//! Decoding errors describe what was wrong with untrusted bytes without echoing them back;
//! configuration errors name the offending field so `PUT /config` can answer 422 with a reason.

/// Everything that can go wrong in ringkv-gossip.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// An encoded message is larger than [`crate::MAX_MESSAGE_BYTES`].
    #[error("gossip message of {len} bytes exceeds the {max}-byte limit")]
    MessageTooLarge { len: usize, max: usize },
    /// The message is empty or starts with a format version this build does not speak.
    #[error("unsupported gossip message format {found:?} (expected {expected})")]
    UnsupportedFormat { found: Option<u8>, expected: u8 },
    /// The body does not decode as a gossip message (truncated, bad tag, bad varint...).
    #[error("malformed gossip message: {reason}")]
    Malformed { reason: String },
    /// Bytes were left over after a complete message.
    #[error("{trailing} trailing bytes after the gossip message")]
    TrailingBytes { trailing: usize },
    /// A decoded field is outside its allowed range.
    #[error("invalid gossip message field `{field}`: {reason}")]
    InvalidField {
        field: &'static str,
        reason: &'static str,
    },
    /// A configuration value is out of range; nothing was changed.
    #[error("invalid gossip config `{field}`: {reason}")]
    InvalidConfig {
        field: &'static str,
        reason: &'static str,
    },
    /// A settings blob is larger than [`crate::MAX_SETTINGS_BYTES`].
    #[error("settings blob of {len} bytes exceeds the {max}-byte limit")]
    SettingsTooLarge { len: usize, max: usize },
    /// The member id or address given to [`crate::Gossip::new`] is unusable.
    #[error("invalid local identity `{field}`: {reason}")]
    InvalidIdentity {
        field: &'static str,
        reason: &'static str,
    },
    /// `remove` named a member this node does not know.
    #[error("unknown member `{id}`")]
    UnknownMember { id: String },
    /// `remove` named this node itself; a node leaves with `leave`.
    #[error("a node cannot remove itself; use leave")]
    RemoveSelf,
}
