//! The manifest: the durable record of which tables are live on which level, and which
//! commit-log segments still hold unflushed writes.
//!
//! Every change rewrites the whole (small) file atomically: write `MANIFEST.tmp`, fsync it,
//! rename it over `MANIFEST`, fsync the directory. A crash leaves either the old or the new
//! manifest, never a mix; files it does not name are orphans and are deleted on open.
//!
//! ```text
//! +-----------+-------------+----------+---------+------------------------------------+
//! | magic u64 | version u32 | body_len | crc u32 | body                               |
//! | "RKVMANIF"|             | u32      |         |                                    |
//! +-----------+-------------+----------+---------+------------------------------------+
//! body = next_file_id u64 | log_number u64 | levels u32 | levels x (count u32 | count x id u64)
//! crc = crc32(body); log_number = the oldest segment whose writes are not all in tables
//! ```

use std::path::Path;

use crate::codec::{Reader, put_u32, put_u64};
use crate::io::Fs;
use crate::{Error, Result};

const MAGIC: u64 = u64::from_le_bytes(*b"RKVMANIF");
const VERSION: u32 = 1;
pub(crate) const FILE_NAME: &str = "MANIFEST";
pub(crate) const TEMP_NAME: &str = "MANIFEST.tmp";

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Manifest {
    pub(crate) next_file_id: u64,
    pub(crate) log_number: u64,
    pub(crate) levels: Vec<Vec<u64>>,
}

impl Manifest {
    fn encode(&self) -> Vec<u8> {
        let mut body = Vec::new();
        put_u64(&mut body, self.next_file_id);
        put_u64(&mut body, self.log_number);
        put_u32(&mut body, self.levels.len() as u32);
        for level in &self.levels {
            put_u32(&mut body, level.len() as u32);
            for id in level {
                put_u64(&mut body, *id);
            }
        }
        let mut out = Vec::with_capacity(body.len() + 20);
        put_u64(&mut out, MAGIC);
        put_u32(&mut out, VERSION);
        put_u32(&mut out, body.len() as u32);
        put_u32(&mut out, crc32fast::hash(&body));
        out.extend_from_slice(&body);
        out
    }

    fn decode(bytes: &[u8]) -> std::result::Result<Manifest, &'static str> {
        let mut r = Reader::new(bytes);
        if r.u64() != Some(MAGIC) {
            return Err("bad magic");
        }
        if r.u32() != Some(VERSION) {
            return Err("unknown manifest version");
        }
        let len = r.u32().ok_or("truncated header")? as usize;
        let crc = r.u32().ok_or("truncated header")?;
        let body = r.take(len).ok_or("truncated body")?;
        if !r.is_empty() {
            return Err("trailing bytes");
        }
        if crc32fast::hash(body) != crc {
            return Err("checksum mismatch");
        }
        let mut r = Reader::new(body);
        let next_file_id = r.u64().ok_or("truncated body")?;
        let log_number = r.u64().ok_or("truncated body")?;
        let n = r.u32().ok_or("truncated body")? as usize;
        let mut levels = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            let count = r.u32().ok_or("truncated level")? as usize;
            let mut ids = Vec::with_capacity(count.min(body.len() / 8));
            for _ in 0..count {
                ids.push(r.u64().ok_or("truncated level")?);
            }
            levels.push(ids);
        }
        Ok(Manifest {
            next_file_id,
            log_number,
            levels,
        })
    }

    /// Reads `dir/MANIFEST`; `None` for a directory that has none yet.
    pub(crate) fn load(fs: &dyn Fs, dir: &Path) -> Result<Option<Manifest>> {
        let path = dir.join(FILE_NAME);
        let bytes = match fs.read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        Manifest::decode(&bytes)
            .map(Some)
            .map_err(|reason| Error::Corruption {
                file: path,
                offset: 0,
                reason: format!("manifest: {reason}"),
            })
    }

    /// Replaces `dir/MANIFEST` atomically and durably.
    pub(crate) fn store(&self, fs: &dyn Fs, dir: &Path) -> Result<()> {
        let tmp = dir.join(TEMP_NAME);
        // Left behind by a store that failed half-way.
        match fs.remove_file(&tmp) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
        let file = fs.create_new(&tmp)?;
        file.append(&self.encode())?;
        file.sync_all()?;
        drop(file);
        fs.rename(&tmp, &dir.join(FILE_NAME))?;
        fs.sync_dir(dir)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ringkv_testkit::proptest_config("storage manifest decode", 256))]

        /// Arbitrary bodies behind a valid header and checksum decode or fail cleanly.
        #[test]
        fn decoding_checksummed_garbage_never_panics(body in prop::collection::vec(any::<u8>(), 0..200)) {
            let mut bytes = Vec::new();
            put_u64(&mut bytes, MAGIC);
            put_u32(&mut bytes, VERSION);
            put_u32(&mut bytes, body.len() as u32);
            put_u32(&mut bytes, crc32fast::hash(&body));
            bytes.extend_from_slice(&body);
            let _ = Manifest::decode(&bytes);
        }
    }

    #[test]
    fn store_load_and_reject_damage() {
        let fs = &crate::io::RealFs;
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Manifest::load(fs, dir.path()).unwrap(), None);
        let m = Manifest {
            next_file_id: 42,
            log_number: 40,
            levels: vec![vec![3, 2], vec![], vec![7]],
        };
        m.store(fs, dir.path()).unwrap();
        m.store(fs, dir.path()).unwrap();
        assert_eq!(Manifest::load(fs, dir.path()).unwrap(), Some(m.clone()));
        let bytes = m.encode();
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x10;
            assert!(Manifest::decode(&bad).is_err(), "flip at {i}");
            assert!(Manifest::decode(&bytes[..i]).is_err(), "cut at {i}");
        }
    }
}
