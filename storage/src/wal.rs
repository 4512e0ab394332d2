//! The commit log: append-only segment files of checksummed records.
//!
//! Each memtable has its own segment, named `<id>.log` with the file id the memtable got when it
//! became active. A segment is deleted once the manifest says its memtable is in an SSTable
//! (every segment id below the manifest's `log_number`).
//!
//! Invariants:
//! - a record is written with one `append` call after the previous one completed, so a crash
//!   of the process can only tear the last record of a segment; a power loss may lose any
//!   unsynced write, so the unsynced tail of a segment may also hold holes;
//! - a segment is fsynced before the next one is created, so only the newest segment can end in
//!   unsynced writes;
//! - replay keeps the longest valid prefix of the log and never goes past a bad record: a
//!   record after a hole may depend on one in it (a later batch, a delete of what it wrote), so
//!   replaying it would make up a state that never existed. Where replay stopped and what it
//!   left out is reported (`recovery::Recovery`), never silently skipped.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::Result;
use crate::batch::{Op, decode_ops};
use crate::codec::u32_at;
use crate::io::{FileIo, Fs};

/// Bytes of the record header: `len` and `crc`.
const HEADER: usize = 8;
/// The smallest payload: an operation count.
const MIN_PAYLOAD: usize = 4;

pub(crate) fn log_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.log"))
}

/// The id of a segment file name, if it is one.
pub(crate) fn parse_log_name(name: &str) -> Option<u64> {
    name.strip_suffix(".log")?.parse().ok()
}

/// Appends records to one segment file.
///
/// ```text
/// segment = record*
/// record  = +----------+----------+---------------------+
///           | len u32  | crc u32  | payload (len bytes) |
///           +----------+----------+---------------------+
/// crc = crc32(len as 4 LE bytes ++ payload); len >= 4 (a payload starts with its op count)
/// ```
pub(crate) struct LogWriter {
    id: u64,
    /// Shared so the interval syncer and `Db::sync` can fsync without the writer's lock.
    file: Arc<dyn FileIo>,
    bytes: u64,
    /// Fault injection: the next `sync` fails, as a failing disk would.
    #[cfg(test)]
    pub(crate) fail_next_sync: bool,
}

impl LogWriter {
    /// Creates a new, empty segment (and fsyncs the directory so the segment survives a crash).
    pub(crate) fn create(fs: &dyn Fs, dir: &Path, id: u64) -> Result<LogWriter> {
        let file = fs.create_new(&log_path(dir, id))?;
        fs.sync_dir(dir)?;
        Ok(LogWriter {
            id,
            file,
            bytes: 0,
            #[cfg(test)]
            fail_next_sync: false,
        })
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    #[cfg(test)]
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    pub(crate) fn file(&self) -> Arc<dyn FileIo> {
        Arc::clone(&self.file)
    }

    /// Frames `payload` and writes it with one call. `scratch` is reused between calls.
    pub(crate) fn append(&mut self, payload: &[u8], scratch: &mut Vec<u8>) -> std::io::Result<()> {
        debug_assert!(payload.len() >= MIN_PAYLOAD);
        let len = u32::try_from(payload.len()).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "log record over 4 GiB")
        })?;
        scratch.clear();
        scratch.extend_from_slice(&len.to_le_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(&len.to_le_bytes());
        crc.update(payload);
        scratch.extend_from_slice(&crc.finalize().to_le_bytes());
        scratch.extend_from_slice(payload);
        self.file.append(scratch)?;
        self.bytes += scratch.len() as u64;
        Ok(())
    }

    pub(crate) fn sync(&mut self) -> std::io::Result<()> {
        #[cfg(test)]
        if std::mem::take(&mut self.fail_next_sync) {
            return Err(std::io::Error::other("injected fsync failure"));
        }
        self.file.sync_data()
    }
}

/// Whether a valid record starts at `off`; returns its payload range end.
fn record_at(buf: &[u8], off: usize) -> Option<(usize, usize)> {
    let len = u32_at(buf, off)? as usize;
    let crc = u32_at(buf, off + 4)?;
    if len < MIN_PAYLOAD {
        return None;
    }
    let start = off + HEADER;
    let end = start.checked_add(len)?;
    let payload = buf.get(start..end)?;
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&buf[off..off + 4]);
    hasher.update(payload);
    (hasher.finalize() == crc).then_some((start, end))
}

/// How the replay of one segment ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Replayed {
    /// Every byte belonged to a valid record.
    Whole,
    /// Replay stopped at the first bad record, at `offset` of a segment of `len` bytes.
    Stopped {
        offset: u64,
        len: u64,
        reason: String,
        /// Something that checks out as a record follows the bad one: a hole, not a torn tail.
        valid_after: bool,
    },
}

/// Replays one segment: calls `apply` for each valid record in order, up to the first bad one
/// (a bad header or checksum, or a checksummed payload that does not decode).
pub(crate) fn replay_segment(
    fs: &dyn Fs,
    path: &Path,
    mut apply: impl FnMut(Vec<Op>),
) -> Result<Replayed> {
    let buf = fs.read(path)?;
    let mut off = 0;
    while off < buf.len() {
        let bad = match record_at(&buf, off) {
            None => "bad record header or checksum",
            Some((start, end)) => match decode_ops(&buf[start..end]) {
                Ok(ops) => {
                    apply(ops);
                    off = end;
                    continue;
                }
                Err(reason) => reason,
            },
        };
        return Ok(Replayed::Stopped {
            offset: off as u64,
            len: buf.len() as u64,
            reason: format!("commit log: {bad}"),
            valid_after: (off + 1..buf.len()).any(|o| record_at(&buf, o).is_some()),
        });
    }
    Ok(Replayed::Whole)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WriteBatch;
    use crate::batch::encode_ops;
    use crate::io::RealFs;

    fn write_records(dir: &Path, n: usize) -> (PathBuf, Vec<u64>) {
        let mut w = LogWriter::create(&RealFs, dir, 7).unwrap();
        let mut ends = Vec::new();
        let mut scratch = Vec::new();
        for i in 0..n {
            let mut b = WriteBatch::new();
            b.put(format!("key{i}").as_bytes(), &[i as u8; 10]);
            let mut payload = Vec::new();
            encode_ops(std::iter::once(&b), &mut payload);
            w.append(&payload, &mut scratch).unwrap();
            ends.push(w.bytes());
        }
        (log_path(dir, 7), ends)
    }

    fn count(path: &Path) -> (usize, Replayed) {
        let mut n = 0;
        let end = replay_segment(&RealFs, path, |ops| n += ops.len()).unwrap();
        (n, end)
    }

    #[test]
    fn replays_every_record() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = write_records(dir.path(), 5);
        assert_eq!(count(&path), (5, Replayed::Whole));
        assert_eq!(parse_log_name("00000000000000000007.log"), Some(7));
    }

    fn stopped_at(end: Replayed) -> (u64, bool) {
        match end {
            Replayed::Stopped {
                offset,
                valid_after,
                ..
            } => (offset, valid_after),
            Replayed::Whole => panic!("replay did not stop"),
        }
    }

    #[test]
    fn a_torn_tail_stops_replay_with_nothing_valid_after() {
        let dir = tempfile::tempdir().unwrap();
        let (path, ends) = write_records(dir.path(), 3);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..ends[2] as usize - 3]).unwrap();
        let (n, end) = count(&path);
        assert_eq!(n, 2);
        assert_eq!(stopped_at(end), (ends[1], false));
    }

    #[test]
    fn a_hole_keeps_the_prefix_and_reports_valid_records_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let (path, ends) = write_records(dir.path(), 3);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[ends[0] as usize + 10] ^= 0x40;
        std::fs::write(&path, &bytes).unwrap();
        let (n, end) = count(&path);
        assert_eq!(n, 1, "only the record before the hole");
        assert_eq!(stopped_at(end), (ends[0], true));
    }
}
