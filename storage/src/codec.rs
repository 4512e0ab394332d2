//! Little-endian encoding helpers shared by every on-disk format.
//!
//! Invariant: decoding never indexes out of bounds. [`Reader`] returns `None` when the input is
//! shorter than a field claims; callers turn that into `Error::Corruption` naming file and offset.

pub(crate) fn put_u32(buf: &mut Vec<u8>, v: u32) {
    buf.extend_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_u64(buf: &mut Vec<u8>, v: u64) {
    buf.extend_from_slice(&v.to_le_bytes());
}

/// Appends `len: u32` then the bytes. Lengths above `u32::MAX` are rejected earlier, at the API.
pub(crate) fn put_bytes(buf: &mut Vec<u8>, bytes: &[u8]) {
    put_u32(buf, bytes.len() as u32);
    buf.extend_from_slice(bytes);
}

/// Reads `u32` little-endian at `pos`, if the slice is long enough.
pub(crate) fn u32_at(buf: &[u8], pos: usize) -> Option<u32> {
    let end = pos.checked_add(4)?;
    let bytes = buf.get(pos..end)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

/// A bounds-checked cursor over untrusted bytes.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let out = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(out)
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    pub(crate) fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    /// A `len: u32` prefixed byte string.
    pub(crate) fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = self.u32()? as usize;
        self.take(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_refuses_to_run_past_the_end() {
        let mut buf = Vec::new();
        put_bytes(&mut buf, b"abc");
        put_u64(&mut buf, 7);
        let mut r = Reader::new(&buf);
        assert_eq!(r.bytes(), Some(&b"abc"[..]));
        assert_eq!(r.u64(), Some(7));
        assert!(r.is_empty());
        assert_eq!(r.u8(), None);
        let truncated = &buf[..5];
        assert_eq!(Reader::new(truncated).bytes(), None);
        assert_eq!(u32_at(&buf, buf.len() - 3), None);
        assert_eq!(u32_at(&buf, usize::MAX), None);
    }
}
