//! [`WriteBatch`]: an atomic group of puts and deletes, and its encoding inside a log record.
//!
//! Invariant: a batch is applied all or nothing. The commit log writes a whole group of batches
//! as one checksummed record, so recovery sees either every operation of a batch or none.

use crate::codec::{Reader, put_bytes};

/// One operation: `None` is a delete (a tombstone once written).
pub(crate) type Op = (Vec<u8>, Option<Vec<u8>>);

const KIND_PUT: u8 = 0;
const KIND_DELETE: u8 = 1;

/// An atomic group of writes.
#[derive(Debug, Default, Clone)]
pub struct WriteBatch {
    ops: Vec<Op>,
    /// Approximate bytes of keys and values, for memtable accounting.
    bytes: usize,
}

impl WriteBatch {
    pub fn new() -> Self {
        WriteBatch::default()
    }
    pub fn put(&mut self, key: &[u8], value: &[u8]) {
        self.bytes += key.len() + value.len();
        self.ops.push((key.to_vec(), Some(value.to_vec())));
    }
    pub fn delete(&mut self, key: &[u8]) {
        self.bytes += key.len();
        self.ops.push((key.to_vec(), None));
    }
    pub fn len(&self) -> usize {
        self.ops.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    pub(crate) fn ops(&self) -> &[Op] {
        &self.ops
    }

    pub(crate) fn into_ops(self) -> Vec<Op> {
        self.ops
    }

    /// Whether every key and value fits the `u32` length fields of the on-disk formats.
    pub(crate) fn fits_format(&self) -> bool {
        self.ops.iter().all(|(k, v)| {
            k.len() <= u32::MAX as usize && v.as_ref().is_none_or(|v| v.len() <= u32::MAX as usize)
        })
    }
}

/// Encodes the operations of several batches as one log payload.
///
/// ```text
/// +-----------+----------------------------------------------------------+
/// | count u32 | count x ( kind u8 | key_len u32 | key | [val_len u32 | val] ) |
/// +-----------+----------------------------------------------------------+
/// kind 0 = put (value follows), 1 = delete (no value)
/// ```
pub(crate) fn encode_ops<'a>(batches: impl Iterator<Item = &'a WriteBatch>, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    let mut count: u32 = 0;
    for batch in batches {
        for (key, value) in batch.ops() {
            count += 1;
            match value {
                Some(v) => {
                    out.push(KIND_PUT);
                    put_bytes(out, key);
                    put_bytes(out, v);
                }
                None => {
                    out.push(KIND_DELETE);
                    put_bytes(out, key);
                }
            }
        }
    }
    out[start..start + 4].copy_from_slice(&count.to_le_bytes());
}

/// Decodes a payload written by [`encode_ops`]; `Err` carries a reason for a corruption error.
pub(crate) fn decode_ops(payload: &[u8]) -> Result<Vec<Op>, &'static str> {
    let mut r = Reader::new(payload);
    let count = r.u32().ok_or("truncated operation count")?;
    let mut ops = Vec::with_capacity((count as usize).min(payload.len() / 5));
    for _ in 0..count {
        let kind = r.u8().ok_or("truncated operation")?;
        let key = r.bytes().ok_or("truncated key")?.to_vec();
        let value = match kind {
            KIND_PUT => Some(r.bytes().ok_or("truncated value")?.to_vec()),
            KIND_DELETE => None,
            _ => return Err("unknown operation kind"),
        };
        ops.push((key, value));
    }
    if !r.is_empty() {
        return Err("trailing bytes after operations");
    }
    Ok(ops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ringkv_testkit::proptest_config("storage batch decode", 256))]

        #[test]
        fn decoding_garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_ops(&bytes);
        }
    }

    #[test]
    fn ops_round_trip_and_reject_damage() {
        let mut a = WriteBatch::new();
        a.put(b"k1", b"v1");
        a.delete(b"k2");
        let mut b = WriteBatch::new();
        b.put(b"", b"");
        let mut buf = Vec::new();
        encode_ops([&a, &b].into_iter(), &mut buf);
        let ops = decode_ops(&buf).unwrap();
        assert_eq!(
            ops,
            vec![
                (b"k1".to_vec(), Some(b"v1".to_vec())),
                (b"k2".to_vec(), None),
                (Vec::new(), Some(Vec::new())),
            ]
        );
        for cut in 0..buf.len() {
            assert!(decode_ops(&buf[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad = buf.clone();
        bad[4] = 9;
        assert!(decode_ops(&bad).is_err());
    }
}
