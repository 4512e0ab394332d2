//! Binary frames of `(key, version set)` pairs between nodes.
//!
//! ```text
//! entry := key_len: u32 BE | key: key_len bytes (UTF-8) | set_len: u32 BE | set: set_len bytes
//! body  := entry*            (a merge carries exactly one entry; a scan answer zero or more)
//! ```
//! `set` is `VersionSet::encode`. Decoding checks every length against what is left and that
//! keys are UTF-8: a truncated or corrupt frame is an error, never a panic.
//!
//! Two more bodies share the same length-prefixed framing:
//! ```text
//! frames    := (len: u32 BE | bytes: len bytes)*            (gossip replies)
//! hint      := owner_len: u32 BE | owner: UTF-8 | entry     (a set kept for `owner`)
//! reads     := (want: u8 (0 set, 1 digest) | key_len: u32 BE | key)*
//! answers   := frames, one per read: empty (no copy) | 0x01 set | 0x02 digest: u64 BE
//! move page := done: u8 (0 or 1) | cursor_len: u32 BE | cursor: UTF-8 | entry*
//! ```
//! A move page's cursor is the last key the source scanned (the next page starts after it).

use ringkv_versions::VersionSet;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    #[error("frame truncated at byte {0}")]
    Truncated(usize),
    #[error("key at byte {0} is not UTF-8")]
    Utf8(usize),
    #[error("version set at byte {offset}: {reason}")]
    Set { offset: usize, reason: String },
    #[error("expected one entry, found {0}")]
    Count(usize),
}

/// Appends one entry to `out`.
pub fn put_entry(out: &mut Vec<u8>, key: &str, set: &[u8]) {
    out.extend_from_slice(&(key.len() as u32).to_be_bytes());
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(&(set.len() as u32).to_be_bytes());
    out.extend_from_slice(set);
}

/// Encodes a list of pairs.
pub fn encode_entries(entries: &[(String, VersionSet)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, set) in entries {
        put_entry(&mut out, key, &set.encode());
    }
    out
}

/// The answer to a merge.
///
/// ```text
/// ack := flags: u8 (bit 0: prior copy was live, bit 1: prior copy covered) | set: rest
/// ```
/// `set` (the replica's merged `VersionSet::encode`) is present only when not covered: the
/// coordinator then learns the versions it had not seen.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeAck {
    pub prior_live: bool,
    pub covered: bool,
    /// The replica's merged set, when `covered` is false.
    pub set: Option<VersionSet>,
}

const ACK_LIVE: u8 = 1;
const ACK_COVERED: u8 = 2;

impl MergeAck {
    pub fn encode(&self) -> Vec<u8> {
        let flags =
            if self.prior_live { ACK_LIVE } else { 0 } | if self.covered { ACK_COVERED } else { 0 };
        let mut out = vec![flags];
        if let Some(set) = self.set.as_ref().filter(|_| !self.covered) {
            out.extend_from_slice(&set.encode());
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<MergeAck, WireError> {
        let (&flags, rest) = bytes.split_first().ok_or(WireError::Truncated(0))?;
        let covered = flags & ACK_COVERED != 0;
        let set = if covered || rest.is_empty() {
            None
        } else {
            Some(VersionSet::decode(rest).map_err(|e| WireError::Set {
                offset: 1,
                reason: e.to_string(),
            })?)
        };
        Ok(MergeAck {
            prior_live: flags & ACK_LIVE != 0,
            covered,
            set,
        })
    }
}

fn take<'a>(bytes: &'a [u8], pos: &mut usize, len: usize) -> Result<&'a [u8], WireError> {
    let end = pos
        .checked_add(len)
        .filter(|&e| e <= bytes.len())
        .ok_or(WireError::Truncated(*pos))?;
    let slice = &bytes[*pos..end];
    *pos = end;
    Ok(slice)
}

fn take_u32(bytes: &[u8], pos: &mut usize) -> Result<usize, WireError> {
    let raw = take(bytes, pos, 4)?;
    Ok(u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]) as usize)
}

/// Encodes opaque messages as length-prefixed frames.
pub fn encode_frames(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(frames.iter().map(|f| f.len() + 4).sum());
    for f in frames {
        out.extend_from_slice(&(f.len() as u32).to_be_bytes());
        out.extend_from_slice(f);
    }
    out
}

/// Decodes length-prefixed frames.
pub fn decode_frames(bytes: &[u8]) -> Result<Vec<Vec<u8>>, WireError> {
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < bytes.len() {
        let len = take_u32(bytes, &mut pos)?;
        out.push(take(bytes, &mut pos, len)?.to_vec());
    }
    Ok(out)
}

/// A hint request: keep `(key, set)` for replica `owner`.
pub fn encode_hint(owner: &str, key: &str, set: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(owner.len() + key.len() + set.len() + 12);
    out.extend_from_slice(&(owner.len() as u32).to_be_bytes());
    out.extend_from_slice(owner.as_bytes());
    put_entry(&mut out, key, set);
    out
}

/// Decodes [`encode_hint`]: `(owner, key, set)`.
pub fn decode_hint(bytes: &[u8]) -> Result<(String, String, VersionSet), WireError> {
    let mut pos = 0;
    let len = take_u32(bytes, &mut pos)?;
    let owner = std::str::from_utf8(take(bytes, &mut pos, len)?)
        .map_err(|_| WireError::Utf8(4))?
        .to_string();
    if owner.is_empty() || owner.contains('\0') {
        return Err(WireError::Utf8(4));
    }
    let (key, set) = decode_one(&bytes[pos..])?;
    Ok((owner, key, set))
}

/// What a coalesced read asks of one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// The whole set.
    Set,
    /// Only a digest of the stored set (read repair's probe of the replicas not read).
    Digest,
}

/// A replica's answer to one read.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadAnswer {
    Absent,
    Set(VersionSet),
    Digest(u64),
}

/// The digest of a stored set: xxh3-64 of its canonical encoding.
pub fn digest(encoded: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(encoded)
}

pub fn encode_reads(reads: &[(String, Want)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, want) in reads {
        out.push(match want {
            Want::Set => 0,
            Want::Digest => 1,
        });
        out.extend_from_slice(&(key.len() as u32).to_be_bytes());
        out.extend_from_slice(key.as_bytes());
    }
    out
}

pub fn decode_reads(bytes: &[u8]) -> Result<Vec<(String, Want)>, WireError> {
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < bytes.len() {
        let at = pos;
        let want = match take(bytes, &mut pos, 1)?[0] {
            0 => Want::Set,
            1 => Want::Digest,
            _ => return Err(WireError::Truncated(at)),
        };
        let len = take_u32(bytes, &mut pos)?;
        let key = std::str::from_utf8(take(bytes, &mut pos, len)?)
            .map_err(|_| WireError::Utf8(at))?
            .to_string();
        out.push((key, want));
    }
    Ok(out)
}

/// One answer frame: `stored` is the replica's stored set bytes, if any.
pub fn encode_answer(want: Want, stored: Option<&[u8]>) -> Vec<u8> {
    match (want, stored) {
        (_, None) => Vec::new(),
        (Want::Set, Some(bytes)) => {
            let mut out = Vec::with_capacity(bytes.len() + 1);
            out.push(1);
            out.extend_from_slice(bytes);
            out
        }
        (Want::Digest, Some(bytes)) => {
            let mut out = vec![2];
            out.extend_from_slice(&digest(bytes).to_be_bytes());
            out
        }
    }
}

pub fn decode_answer(frame: &[u8]) -> Result<ReadAnswer, WireError> {
    match frame.split_first() {
        None => Ok(ReadAnswer::Absent),
        Some((1, set)) => {
            VersionSet::decode(set)
                .map(ReadAnswer::Set)
                .map_err(|e| WireError::Set {
                    offset: 1,
                    reason: e.to_string(),
                })
        }
        Some((2, d)) if d.len() == 8 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(d);
            Ok(ReadAnswer::Digest(u64::from_be_bytes(b)))
        }
        _ => Err(WireError::Truncated(0)),
    }
}

/// One page of keys a source sends during data movement.
#[derive(Debug, Clone, PartialEq)]
pub struct MovePage {
    /// The source scanned to the end of its keys.
    pub done: bool,
    /// The last key scanned: the next page starts after it (`None` before any key).
    pub cursor: Option<String>,
    /// The matching keys and their sets.
    pub entries: Vec<(String, VersionSet)>,
}

impl MovePage {
    /// Encodes a page from sets as stored (already encoded), without decoding them.
    pub fn encode_raw(done: bool, cursor: Option<&str>, entries: &[(String, Vec<u8>)]) -> Vec<u8> {
        let cursor = cursor.unwrap_or_default();
        let mut out = vec![u8::from(done)];
        out.extend_from_slice(&(cursor.len() as u32).to_be_bytes());
        out.extend_from_slice(cursor.as_bytes());
        for (key, set) in entries {
            put_entry(&mut out, key, set);
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<MovePage, WireError> {
        let mut pos = 0;
        let done = match take(bytes, &mut pos, 1)?[0] {
            0 => false,
            1 => true,
            _ => return Err(WireError::Truncated(0)),
        };
        let len = take_u32(bytes, &mut pos)?;
        let cursor = std::str::from_utf8(take(bytes, &mut pos, len)?)
            .map_err(|_| WireError::Utf8(5))?
            .to_string();
        Ok(MovePage {
            done,
            cursor: (len > 0).then_some(cursor),
            entries: decode_entries(&bytes[pos..])?,
        })
    }
}

/// Decodes every entry of a body.
pub fn decode_entries(bytes: &[u8]) -> Result<Vec<(String, VersionSet)>, WireError> {
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < bytes.len() {
        let key_at = pos;
        let key_len = take_u32(bytes, &mut pos)?;
        let key = std::str::from_utf8(take(bytes, &mut pos, key_len)?)
            .map_err(|_| WireError::Utf8(key_at))?
            .to_string();
        let set_at = pos;
        let set_len = take_u32(bytes, &mut pos)?;
        let set =
            VersionSet::decode(take(bytes, &mut pos, set_len)?).map_err(|e| WireError::Set {
                offset: set_at,
                reason: e.to_string(),
            })?;
        out.push((key, set));
    }
    Ok(out)
}

/// Decodes a body of exactly one entry.
pub fn decode_one(bytes: &[u8]) -> Result<(String, VersionSet), WireError> {
    let mut entries = decode_entries(bytes)?;
    match entries.len() {
        1 => Ok(entries.remove(0)),
        n => Err(WireError::Count(n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_acks_round_trip_and_reject_garbage() {
        let mut set = VersionSet::new();
        let value = ringkv_versions::Value::Data(b"v".to_vec());
        set.update(&Default::default(), value, None, "n1", 5);
        let unseen = MergeAck {
            prior_live: true,
            covered: false,
            set: Some(set.clone()),
        };
        assert_eq!(MergeAck::decode(&unseen.encode()).unwrap(), unseen);
        let covered = MergeAck {
            prior_live: false,
            covered: true,
            set: Some(set),
        };
        let encoded = covered.encode();
        assert_eq!(encoded.len(), 1, "a covered ack carries no set");
        let decoded = MergeAck::decode(&encoded).unwrap();
        assert_eq!(
            (decoded.prior_live, decoded.covered, decoded.set),
            (false, true, None)
        );
        assert!(MergeAck::decode(&[]).is_err());
        assert!(MergeAck::decode(&[1, 0xff, 0xff]).is_err());
    }

    #[test]
    fn entries_round_trip() {
        let mut set = VersionSet::new();
        let value = ringkv_versions::Value::Data(b"v".to_vec());
        set.update(&Default::default(), value, None, "n1", 5);
        let entries = vec![
            ("a b".to_string(), set.clone()),
            ("ключ".to_string(), VersionSet::new()),
        ];
        assert_eq!(decode_entries(&encode_entries(&entries)).unwrap(), entries);
        let mut one = Vec::new();
        put_entry(&mut one, "k", &set.encode());
        assert_eq!(decode_one(&one).unwrap(), ("k".to_string(), set));
        assert_eq!(
            decode_one(&encode_entries(&entries)).unwrap_err(),
            WireError::Count(2)
        );
    }

    #[test]
    fn frames_and_move_pages_round_trip_and_reject_truncation() {
        let frames = vec![b"one".to_vec(), Vec::new(), vec![7; 300]];
        let body = encode_frames(&frames);
        assert_eq!(decode_frames(&body).unwrap(), frames);
        assert!(decode_frames(&body[..body.len() - 1]).is_err());
        let mut set = VersionSet::new();
        set.update(
            &Default::default(),
            ringkv_versions::Value::Data(b"v".to_vec()),
            None,
            "n1",
            5,
        );
        let page = MovePage {
            done: false,
            cursor: Some("k9".into()),
            entries: vec![("k1".into(), set.clone())],
        };
        let bytes = MovePage::encode_raw(false, Some("k9"), &[("k1".into(), set.encode())]);
        assert_eq!(MovePage::decode(&bytes).unwrap(), page);
        let header = 1 + 4 + "k9".len();
        for cut in (0..bytes.len()).filter(|&c| c != header) {
            assert!(MovePage::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let empty = MovePage {
            done: true,
            cursor: None,
            entries: Vec::new(),
        };
        assert_eq!(
            MovePage::decode(&MovePage::encode_raw(true, None, &[])).unwrap(),
            empty
        );
    }

    #[test]
    fn hints_round_trip_and_reject_garbage() {
        let mut set = VersionSet::new();
        set.update(
            &Default::default(),
            ringkv_versions::Value::Data(b"v".to_vec()),
            None,
            "n1",
            5,
        );
        let bytes = encode_hint("owner-1", "k", &set.encode());
        assert_eq!(
            decode_hint(&bytes).unwrap(),
            ("owner-1".to_string(), "k".to_string(), set.clone())
        );
        for cut in 0..bytes.len() {
            assert!(decode_hint(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        assert!(decode_hint(&encode_hint("a\0b", "k", &set.encode())).is_err());
        assert!(decode_hint(&encode_hint("", "k", &set.encode())).is_err());
    }

    #[test]
    fn reads_and_answers_round_trip() {
        let reads = vec![
            ("a".to_string(), Want::Set),
            ("ключ".to_string(), Want::Digest),
        ];
        let bytes = encode_reads(&reads);
        assert_eq!(decode_reads(&bytes).unwrap(), reads);
        for cut in 1..bytes.len() {
            let cut_at_boundary = cut == 6;
            assert_eq!(
                decode_reads(&bytes[..cut]).is_err(),
                !cut_at_boundary,
                "cut at {cut}"
            );
        }
        let mut set = VersionSet::new();
        set.update(
            &Default::default(),
            ringkv_versions::Value::Data(b"v".to_vec()),
            None,
            "n1",
            5,
        );
        let enc = set.encode();
        assert_eq!(
            decode_answer(&encode_answer(Want::Set, Some(&enc))).unwrap(),
            ReadAnswer::Set(set)
        );
        assert_eq!(
            decode_answer(&encode_answer(Want::Digest, Some(&enc))).unwrap(),
            ReadAnswer::Digest(digest(&enc))
        );
        assert_eq!(
            decode_answer(&encode_answer(Want::Set, None)).unwrap(),
            ReadAnswer::Absent
        );
        assert!(decode_answer(&[2, 1, 2]).is_err());
        assert!(decode_answer(&[7]).is_err());
    }

    #[test]
    fn truncated_frames_are_errors() {
        let mut body = Vec::new();
        put_entry(&mut body, "key", &[1, 2, 3]);
        for cut in 1..body.len() {
            assert!(decode_entries(&body[..cut]).is_err(), "cut at {cut}");
        }
        assert_eq!(decode_entries(&[]).unwrap().len(), 0);
        let mut huge = Vec::new();
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(decode_entries(&huge).unwrap_err(), WireError::Truncated(4));
        let mut bad_utf8 = Vec::new();
        put_entry(&mut bad_utf8, "", &[]);
        bad_utf8[3] = 1;
        bad_utf8.insert(4, 0xff);
        assert_eq!(decode_entries(&bad_utf8).unwrap_err(), WireError::Utf8(0));
    }
}
