//! One data block: sorted entries, an offset array for binary search, and a crc32.
//!
//! ```text
//! +-----------------------------------------------------+----------------+-------+---------+
//! | entry*: kind u8 | key_len u32 | val_len u32 | key | val | offset u32 * n | n u32 | crc u32 |
//! +-----------------------------------------------------+----------------+-------+---------+
//! kind 0 = value, 1 = tombstone (val_len 0); offsets point at entries, in key order;
//! crc = crc32 of every byte before it
//! ```
//!
//! Invariant: decoding checks the crc first, then every offset and length against the block
//! size, so a damaged block yields an error, never a panic.

use crate::codec::{put_u32, u32_at};

const KIND_VALUE: u8 = 0;
const KIND_TOMBSTONE: u8 = 1;
const ENTRY_HEADER: usize = 9;

/// Accumulates entries of one block.
#[derive(Default)]
pub(crate) struct BlockBuilder {
    buf: Vec<u8>,
    offsets: Vec<u32>,
}

impl BlockBuilder {
    pub(crate) fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// Encoded size if finished now.
    pub(crate) fn size(&self) -> usize {
        self.buf.len() + 4 * self.offsets.len() + 8
    }

    pub(crate) fn add(&mut self, key: &[u8], value: Option<&[u8]>) {
        self.offsets.push(self.buf.len() as u32);
        self.buf.push(if value.is_some() {
            KIND_VALUE
        } else {
            KIND_TOMBSTONE
        });
        put_u32(&mut self.buf, key.len() as u32);
        put_u32(&mut self.buf, value.map_or(0, <[u8]>::len) as u32);
        self.buf.extend_from_slice(key);
        self.buf.extend_from_slice(value.unwrap_or_default());
    }

    /// Appends the finished block to `out` and resets the builder.
    pub(crate) fn finish_into(&mut self, out: &mut Vec<u8>) {
        let start = out.len();
        out.append(&mut self.buf);
        let n = self.offsets.len() as u32;
        for off in self.offsets.drain(..) {
            put_u32(out, off);
        }
        put_u32(out, n);
        let crc = crc32fast::hash(&out[start..]);
        put_u32(out, crc);
    }
}

/// A decoded block; entries are parsed lazily, each access bounds-checked.
pub(crate) struct Block {
    /// Block bytes without the crc.
    data: Vec<u8>,
    /// Where the offset array starts.
    offsets_at: usize,
    len: usize,
}

pub(crate) type BlockEntry<'a> = (&'a [u8], Option<&'a [u8]>);

impl Block {
    /// Checks the crc and the offset array of a block read from disk.
    pub(crate) fn decode(mut raw: Vec<u8>) -> Result<Block, &'static str> {
        if raw.len() < 8 {
            return Err("block shorter than its trailer");
        }
        let crc_at = raw.len() - 4;
        let stored = u32_at(&raw, crc_at).ok_or("block trailer")?;
        if crc32fast::hash(&raw[..crc_at]) != stored {
            return Err("block checksum mismatch");
        }
        raw.truncate(crc_at);
        let n = u32_at(&raw, crc_at - 4).ok_or("block count")? as usize;
        let offsets_at = (crc_at - 4)
            .checked_sub(n.checked_mul(4).ok_or("block count")?)
            .ok_or("block entry count exceeds block size")?;
        Ok(Block {
            data: raw,
            offsets_at,
            len: n,
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The entry at index `i < len()`.
    pub(crate) fn entry(&self, i: usize) -> Result<BlockEntry<'_>, &'static str> {
        let off = u32_at(&self.data, self.offsets_at + 4 * i).ok_or("entry offset")? as usize;
        let region = &self.data[..self.offsets_at];
        let kind = *region.get(off).ok_or("entry offset out of block")?;
        let klen = u32_at(region, off + 1).ok_or("entry header")? as usize;
        let vlen = u32_at(region, off + 5).ok_or("entry header")? as usize;
        let kstart = off + ENTRY_HEADER;
        let key = region
            .get(kstart..kstart.checked_add(klen).ok_or("key length")?)
            .ok_or("key runs past block")?;
        let vstart = kstart + klen;
        let value = region
            .get(vstart..vstart.checked_add(vlen).ok_or("value length")?)
            .ok_or("value runs past block")?;
        match kind {
            KIND_VALUE => Ok((key, Some(value))),
            KIND_TOMBSTONE => Ok((key, None)),
            _ => Err("unknown entry kind"),
        }
    }

    /// Index of the first entry with key >= `key` (`len()` if none).
    pub(crate) fn seek(&self, key: &[u8]) -> Result<usize, &'static str> {
        let (mut lo, mut hi) = (0, self.len);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.entry(mid)?.0 < key {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ringkv_testkit::proptest_config("storage block decode", 256))]

        /// Arbitrary bytes with a valid checksum: decoding and every access either work or
        /// return an error, never panic.
        #[test]
        fn decoding_checksummed_garbage_never_panics(mut raw in prop::collection::vec(any::<u8>(), 0..300), probe in prop::collection::vec(any::<u8>(), 0..8)) {
            let crc = crc32fast::hash(&raw);
            raw.extend_from_slice(&crc.to_le_bytes());
            if let Ok(block) = Block::decode(raw) {
                for i in 0..block.len().min(64) {
                    let _ = block.entry(i);
                }
                let _ = block.seek(&probe);
            }
        }
    }

    fn sample() -> Vec<u8> {
        let mut b = BlockBuilder::default();
        b.add(b"a", Some(b"1"));
        b.add(b"c", None);
        b.add(b"e", Some(b""));
        let mut out = Vec::new();
        b.finish_into(&mut out);
        assert!(b.is_empty());
        out
    }

    #[test]
    fn round_trip_and_seek() {
        let block = Block::decode(sample()).unwrap();
        assert_eq!(block.len(), 3);
        assert_eq!(block.entry(1).unwrap(), (&b"c"[..], None));
        assert_eq!(block.entry(2).unwrap(), (&b"e"[..], Some(&b""[..])));
        assert_eq!(block.seek(b"b").unwrap(), 1);
        assert_eq!(block.seek(b"c").unwrap(), 1);
        assert_eq!(block.seek(b"z").unwrap(), 3);
    }

    #[test]
    fn every_flipped_byte_and_cut_is_an_error() {
        let raw = sample();
        for i in 0..raw.len() {
            let mut bad = raw.clone();
            bad[i] ^= 0x01;
            assert!(Block::decode(bad).is_err(), "flip at {i}");
            assert!(Block::decode(raw[..i].to_vec()).is_err(), "cut at {i}");
        }
    }
}
