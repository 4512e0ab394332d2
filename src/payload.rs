//! The bytes inside one version's `Value::Data`: the user's JSON value plus the TTL it was
//! written with (so that an empty-string append can restart the same TTL, as seed 003 does).
//!
//! ```text
//! +------+----------------------+---------------------------+
//! | 0x01 | ttl_ms: u64 BE       | JSON text of the value    |
//! | 1 B  | 8 B, 0 = no TTL      | compact, as serde_json    |
//! +------+----------------------+---------------------------+
//! ```
//! The absolute expiry lives on the version itself (`expires_at_ms`); the TTL here is only the
//! duration to restart. Decoding checks the tag, the length and that the JSON is one valid
//! value: bytes from disk or from a peer are never trusted.

use serde_json::value::RawValue;

const TAG: u8 = 1;
const HEADER: usize = 9;

/// Why stored bytes are not a payload.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PayloadError {
    #[error("payload too short: {0} bytes")]
    Truncated(usize),
    #[error("unknown payload tag {0}")]
    Tag(u8),
    #[error("payload JSON is invalid: {0}")]
    Json(String),
}

/// A decoded payload borrowing the stored bytes.
#[derive(Debug)]
pub struct Payload<'a> {
    /// The TTL the value was written with, in ms.
    pub ttl_ms: Option<u64>,
    pub json: &'a RawValue,
}

/// Encodes `json` (already serialised, compact) with its TTL.
pub fn encode(json: &[u8], ttl_ms: Option<u64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + json.len());
    out.push(TAG);
    out.extend_from_slice(&ttl_ms.unwrap_or(0).to_be_bytes());
    out.extend_from_slice(json);
    out
}

pub fn decode(bytes: &[u8]) -> Result<Payload<'_>, PayloadError> {
    if bytes.len() < HEADER {
        return Err(PayloadError::Truncated(bytes.len()));
    }
    if bytes[0] != TAG {
        return Err(PayloadError::Tag(bytes[0]));
    }
    let mut ttl = [0u8; 8];
    ttl.copy_from_slice(&bytes[1..HEADER]);
    let ttl_ms = u64::from_be_bytes(ttl);
    let json: &RawValue =
        serde_json::from_slice(&bytes[HEADER..]).map_err(|e| PayloadError::Json(e.to_string()))?;
    Ok(Payload {
        ttl_ms: (ttl_ms != 0).then_some(ttl_ms),
        json,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_falsy_values_and_ttl() {
        for json in ["0", "\"\"", "false", "null", "[]", "{}", "{\"a\":[1,2.5]}"] {
            for ttl in [None, Some(1500)] {
                let bytes = encode(json.as_bytes(), ttl);
                let p = decode(&bytes).unwrap();
                assert_eq!(p.json.get(), json);
                assert_eq!(p.ttl_ms, ttl);
            }
        }
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        let good = encode(b"[1,2]", Some(3));
        for cut in 0..good.len() {
            assert!(decode(&good[..cut]).is_err(), "prefix of {cut} bytes");
        }
        let mut bad = good.clone();
        bad[0] = 9;
        assert_eq!(decode(&bad).unwrap_err(), PayloadError::Tag(9));
    }
}
