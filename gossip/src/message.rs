//! Gossip messages and their wire encoding.
//!
//! A round is a three-way push-pull exchange, so only entries newer than the peer's travel:
//!
//! ```text
//!   A (initiator)                                  B (peer)
//!     | Syn: A's entry + digest of A's view ------>  |  merge A's entry; compare digest
//!     |                                              |
//!     | <---- Ack: B's entries newer than A's,      |
//!     |            ids (and settings) A has newer,  |
//!     |            ids B has forgotten              |
//!     | merge; Updates: the entries B asked for --> |  merge
//! ```
//!
//! Every message also carries the sender's own full entry, so the receiver learns the
//! sender's address and freshest heartbeat without trusting the transport's source address.
//!
//! Wire format (one HTTP body or datagram):
//!
//! ```text
//!   +--------+--------------------------------------------------------------+
//!   | format |  postcard body: `Message` with varint integers, varint-length |
//!   |  u8=2  |  prefixed strings and lists, varint enum tags                |
//!   +--------+--------------------------------------------------------------+
//!     1 byte   at most MAX_MESSAGE_BYTES - 1 bytes, nothing may follow
//! ```
//!
//! postcard rather than JSON: a digest entry is ~10 bytes instead of ~80, which matters because
//! every node sends `fanout` digests of the whole view every interval (O(n) bytes each), and the
//! settings blob travels as raw bytes instead of a JSON array of numbers. Decoding is strict:
//! truncation, bad tags, trailing bytes and out-of-range fields are errors, never panics, and
//! list preallocation is bounded by serde. The leading format byte lets a future encoding
//! coexist during a rolling upgrade.

use serde::{Deserialize, Serialize};

use crate::settings::{MAX_SETTINGS_BYTES, Settings, SettingsVersion};
use crate::{Error, MemberState, NodeId, Version};

/// The format byte this build writes and reads.
pub const FORMAT_VERSION: u8 = 2;
/// Largest encoded message accepted by [`Message::decode`].
pub const MAX_MESSAGE_BYTES: usize = 4 << 20;
/// Longest member id, in bytes.
pub const MAX_ID_BYTES: usize = 256;
/// Longest member address, in bytes.
pub const MAX_ADDR_BYTES: usize = 2048;
/// Most entries in any one list of a message (a bound on cluster size as gossip sees it).
pub const MAX_ENTRIES: usize = 16_384;
/// Largest per-member application state ([`MemberState::meta`]).
pub const MAX_META_BYTES: usize = 4096;

/// A gossip message; opaque to the transport, which only moves its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The sender's own entry, freshest version.
    pub(crate) from: MemberState,
    pub(crate) body: Body,
}

/// The three steps of a push-pull exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Body {
    /// Opens a round: the version of every entry the sender knows (itself excluded).
    Syn {
        digest: Vec<Digest>,
        settings: Option<SettingsVersion>,
    },
    /// Answers a `Syn` with what the initiator lacks and asks for what it has newer.
    Ack {
        updates: Vec<MemberState>,
        settings: Option<Settings>,
        want: Vec<NodeId>,
        want_settings: bool,
        /// Digest entries the responder has forgotten (tombstoned at this version or later):
        /// the initiator forgets them too instead of gossiping them back.
        forgotten: Vec<Digest>,
    },
    /// Entries pushed without being asked (the end of an exchange, or a leave announcement).
    Updates {
        updates: Vec<MemberState>,
        settings: Option<Settings>,
    },
}

/// One digest entry: which member, at which version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Digest {
    pub(crate) id: NodeId,
    pub(crate) version: Version,
}

impl Message {
    /// The sending member's id.
    pub fn sender(&self) -> &str {
        &self.from.id
    }

    /// The sending member's advertised address.
    pub fn sender_addr(&self) -> &str {
        &self.from.addr
    }

    /// `"syn"`, `"ack"` or `"updates"`, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self.body {
            Body::Syn { .. } => "syn",
            Body::Ack { .. } => "ack",
            Body::Updates { .. } => "updates",
        }
    }

    /// The wire bytes (format byte, then postcard).
    pub fn encode(&self) -> Vec<u8> {
        // postcard fails only on sequences of unknown length and on a full fixed buffer;
        // neither exists here (every list is a Vec, the output a growing Vec).
        postcard::to_extend(self, vec![FORMAT_VERSION])
            .expect("postcard serialises every gossip message into a Vec")
    }

    /// Parses and validates untrusted bytes.
    pub fn decode(bytes: &[u8]) -> Result<Message, Error> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(Error::MessageTooLarge {
                len: bytes.len(),
                max: MAX_MESSAGE_BYTES,
            });
        }
        let (&format, body) = bytes.split_first().ok_or(Error::UnsupportedFormat {
            found: None,
            expected: FORMAT_VERSION,
        })?;
        if format != FORMAT_VERSION {
            return Err(Error::UnsupportedFormat {
                found: Some(format),
                expected: FORMAT_VERSION,
            });
        }
        let (message, rest) =
            postcard::take_from_bytes::<Message>(body).map_err(|e| Error::Malformed {
                reason: e.to_string(),
            })?;
        if !rest.is_empty() {
            return Err(Error::TrailingBytes {
                trailing: rest.len(),
            });
        }
        message.validate()?;
        Ok(message)
    }

    fn validate(&self) -> Result<(), Error> {
        check_entry(&self.from)?;
        match &self.body {
            Body::Syn { digest, settings } => {
                check_digest("digest", digest)?;
                if let Some(version) = settings {
                    check_id(&version.origin)?;
                }
            }
            Body::Ack {
                updates,
                settings,
                want,
                want_settings: _,
                forgotten,
            } => {
                check_updates(updates, settings.as_ref())?;
                check_len("want", want.len())?;
                for id in want {
                    check_id(id)?;
                }
                check_digest("forgotten", forgotten)?;
            }
            Body::Updates { updates, settings } => check_updates(updates, settings.as_ref())?,
        }
        Ok(())
    }
}

fn check_updates(updates: &[MemberState], settings: Option<&Settings>) -> Result<(), Error> {
    check_len("updates", updates.len())?;
    for entry in updates {
        check_entry(entry)?;
    }
    if let Some(settings) = settings {
        check_id(&settings.version.origin)?;
        if settings.bytes.len() > MAX_SETTINGS_BYTES {
            return Err(Error::SettingsTooLarge {
                len: settings.bytes.len(),
                max: MAX_SETTINGS_BYTES,
            });
        }
    }
    Ok(())
}

fn check_digest(field: &'static str, digest: &[Digest]) -> Result<(), Error> {
    check_len(field, digest.len())?;
    digest.iter().try_for_each(|entry| check_id(&entry.id))
}

fn check_len(field: &'static str, len: usize) -> Result<(), Error> {
    if len > MAX_ENTRIES {
        return Err(Error::InvalidField {
            field,
            reason: "more entries than MAX_ENTRIES",
        });
    }
    Ok(())
}

/// Checks a member id, from the wire or from the local caller.
pub(crate) fn check_id(id: &str) -> Result<(), Error> {
    check_text("id", id, MAX_ID_BYTES, "must be 1..=256 bytes")
}

/// Checks a member address, from the wire or from the local caller.
pub(crate) fn check_addr(addr: &str) -> Result<(), Error> {
    check_text("addr", addr, MAX_ADDR_BYTES, "must be 1..=2048 bytes")
}

fn check_text(
    field: &'static str,
    text: &str,
    max: usize,
    reason: &'static str,
) -> Result<(), Error> {
    if text.is_empty() || text.len() > max {
        return Err(Error::InvalidField { field, reason });
    }
    Ok(())
}

fn check_entry(entry: &MemberState) -> Result<(), Error> {
    check_id(&entry.id)?;
    check_addr(&entry.addr)?;
    check_meta(&entry.meta)
}

/// Checks a member's application state, from the wire or from the local caller.
pub(crate) fn check_meta(meta: &[u8]) -> Result<(), Error> {
    if meta.len() > MAX_META_BYTES {
        return Err(Error::InvalidField {
            field: "meta",
            reason: "more than MAX_META_BYTES bytes",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    fn entry(id: &str) -> MemberState {
        MemberState {
            id: id.into(),
            addr: format!("http://{id}:7000"),
            version: Version {
                incarnation: 2,
                heartbeat: 300,
                status: Status::Alive,
            },
            meta: id.as_bytes().to_vec(),
        }
    }

    fn samples() -> Vec<Message> {
        let settings = Settings {
            version: SettingsVersion {
                version: 7,
                origin: "n2".into(),
            },
            bytes: b"{\"quorum\":{\"n\":3}}".to_vec(),
        };
        let bodies = [
            Body::Syn {
                digest: (0..5)
                    .map(|i| Digest {
                        id: format!("n{i}"),
                        version: entry("x").version,
                    })
                    .collect(),
                settings: Some(settings.version.clone()),
            },
            Body::Ack {
                updates: vec![entry("n3"), entry("n4")],
                settings: Some(settings.clone()),
                want: vec!["n5".into()],
                want_settings: true,
                forgotten: vec![Digest {
                    id: "n9".into(),
                    version: entry("x").version,
                }],
            },
            Body::Updates {
                updates: vec![entry("n5")],
                settings: None,
            },
        ];
        bodies
            .into_iter()
            .map(|body| Message {
                from: entry("n1"),
                body,
            })
            .collect()
    }

    #[test]
    fn round_trips() {
        for message in samples() {
            assert_eq!(Message::decode(&message.encode()).unwrap(), message);
        }
    }

    #[test]
    fn digest_entries_are_compact() {
        let syn = &samples()[0];
        // 5 digest entries of a 2-byte id plus a version: ~8 bytes each.
        assert!(syn.encode().len() < 100, "{}", syn.encode().len());
    }

    #[test]
    fn every_truncation_is_an_error() {
        for message in samples() {
            let bytes = message.encode();
            for cut in 0..bytes.len() {
                assert!(Message::decode(&bytes[..cut]).is_err(), "cut at {cut}");
            }
        }
    }

    #[test]
    fn trailing_bytes_format_and_size_are_checked() {
        let mut bytes = samples()[2].encode();
        bytes.push(0);
        assert_eq!(
            Message::decode(&bytes),
            Err(Error::TrailingBytes { trailing: 1 })
        );
        bytes[0] = 9;
        assert!(matches!(
            Message::decode(&bytes),
            Err(Error::UnsupportedFormat { found: Some(9), .. })
        ));
        let huge = vec![FORMAT_VERSION; MAX_MESSAGE_BYTES + 1];
        assert!(matches!(
            Message::decode(&huge),
            Err(Error::MessageTooLarge { .. })
        ));
    }

    #[test]
    fn empty_ids_are_rejected() {
        let mut message = samples()[2].clone();
        message.from.id.clear();
        assert!(matches!(
            Message::decode(&message.encode()),
            Err(Error::InvalidField { field: "id", .. })
        ));
    }

    #[test]
    fn mutated_bytes_never_panic() {
        // A small deterministic fuzz: flip, insert and delete bytes of valid messages.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for message in samples() {
            let bytes = message.encode();
            for _ in 0..3000 {
                let mut mutated = bytes.clone();
                for _ in 0..(next() % 4 + 1) {
                    let at = (next() as usize) % mutated.len().max(1);
                    match next() % 3 {
                        0 if !mutated.is_empty() => mutated[at] = next() as u8,
                        1 => mutated.insert(at, next() as u8),
                        _ if !mutated.is_empty() => {
                            mutated.remove(at);
                        }
                        _ => {}
                    }
                }
                // Either outcome is fine; a panic fails the test.
                let _ = Message::decode(&mutated);
            }
        }
    }
}
