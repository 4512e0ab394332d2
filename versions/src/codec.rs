//! Byte-level building blocks shared by the binary encodings: canonical LEB128 varints and a
//! bounds-checked reader.
//!
//! Every encoding in this crate is canonical (one value, one byte string), so the reader rejects
//! what the writer never produces: over-long varints, varints past 64 bits, invalid UTF-8 and
//! trailing bytes. Every length and count is checked against the remaining input before anything
//! is sliced or allocated, so hostile input costs at most time linear in its length.

use crate::DecodeError;

/// Appends `v` as an unsigned LEB128 varint (7 bits a byte, low bits first, high bit = more).
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends a varint length followed by the bytes.
pub(crate) fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// A cursor over untrusted bytes; every method fails instead of reading past the end.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        let (&first, rest) = self.buf.split_first().ok_or(DecodeError::Truncated)?;
        self.buf = rest;
        Ok(first)
    }

    /// Reads the leading format byte and rejects any but `expected` (`what` names the encoding).
    pub(crate) fn format(&mut self, expected: u8, what: &str) -> Result<(), DecodeError> {
        match self.u8()? {
            f if f == expected => Ok(()),
            f => Err(invalid(format!("unknown {what} format {f}"))),
        }
    }

    /// Reads a canonical varint: at most 10 bytes, no bits past 64, no redundant zero high byte.
    pub(crate) fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut value: u64 = 0;
        for i in 0..10u32 {
            let byte = self.u8()?;
            let bits = u64::from(byte & 0x7f);
            if i == 9 && bits > 1 {
                return Err(invalid("varint overflows 64 bits"));
            }
            value |= bits << (7 * i);
            if byte & 0x80 == 0 {
                if byte == 0 && i > 0 {
                    return Err(invalid("over-long varint"));
                }
                return Ok(value);
            }
        }
        Err(invalid("varint longer than 10 bytes"))
    }

    /// Reads exactly `len` bytes.
    pub(crate) fn bytes(&mut self, len: u64) -> Result<&'a [u8], DecodeError> {
        let len = usize::try_from(len).map_err(|_| DecodeError::Truncated)?;
        if len > self.buf.len() {
            return Err(DecodeError::Truncated);
        }
        let (head, rest) = self.buf.split_at(len);
        self.buf = rest;
        Ok(head)
    }

    /// Reads a varint length then that many bytes.
    pub(crate) fn len_prefixed(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.varint()?;
        self.bytes(len)
    }

    /// Reads a length-prefixed UTF-8 string.
    pub(crate) fn string(&mut self) -> Result<String, DecodeError> {
        let raw = self.len_prefixed()?;
        std::str::from_utf8(raw)
            .map(str::to_owned)
            .map_err(|_| invalid("node id is not UTF-8"))
    }

    /// Reads an item count, rejecting counts that could not fit in the remaining input when
    /// each item takes at least `min_item_len` bytes. The result is safe to preallocate.
    pub(crate) fn count(&mut self, min_item_len: usize) -> Result<usize, DecodeError> {
        let n = self.varint()?;
        let fits = (self.remaining() / min_item_len.max(1)) as u64;
        if n > fits {
            return Err(DecodeError::Truncated);
        }
        Ok(n as usize)
    }

    /// Succeeds only if every byte was consumed.
    pub(crate) fn finish(self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(invalid(format!("{} trailing bytes", self.buf.len())))
        }
    }
}

pub(crate) fn invalid(msg: impl Into<String>) -> DecodeError {
    DecodeError::Invalid(msg.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(v: u64) -> u64 {
        let mut out = Vec::new();
        put_varint(&mut out, v);
        let mut r = Reader::new(&out);
        let got = r.varint().unwrap();
        r.finish().unwrap();
        got
    }

    #[test]
    fn varints_roundtrip_at_the_edges() {
        for v in [
            0,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX - 1,
            u64::MAX,
        ] {
            assert_eq!(roundtrip(v), v);
        }
    }

    #[test]
    fn varint_rejects_non_canonical_and_overflowing_forms() {
        let overlong = [0x80, 0x00];
        assert!(matches!(
            Reader::new(&overlong).varint(),
            Err(DecodeError::Invalid(_))
        ));
        let mut too_big = vec![0xff; 9];
        too_big.push(0x02);
        assert!(matches!(
            Reader::new(&too_big).varint(),
            Err(DecodeError::Invalid(_))
        ));
        let endless = [0xff; 11];
        assert!(matches!(
            Reader::new(&endless).varint(),
            Err(DecodeError::Invalid(_))
        ));
        assert_eq!(Reader::new(&[0x80]).varint(), Err(DecodeError::Truncated));
    }

    #[test]
    fn lengths_and_counts_are_checked_against_the_input() {
        let mut r = Reader::new(&[5, b'a', b'b']);
        assert_eq!(r.len_prefixed(), Err(DecodeError::Truncated));
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0]);
        assert_eq!(r.count(1), Err(DecodeError::Truncated));
        let mut r = Reader::new(&[2, 0xc3, 0x28]);
        assert!(matches!(r.string(), Err(DecodeError::Invalid(_))));
        let r = Reader::new(&[1]);
        assert!(matches!(r.finish(), Err(DecodeError::Invalid(_))));
    }
}
