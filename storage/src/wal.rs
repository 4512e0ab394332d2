//! The commit log: append-only segment files of checksummed records.
//!
//! Each memtable has its own segment, named `<id>.log` with the file id the memtable got when it
//! became active. A segment is deleted once the manifest says its memtable is in an SSTable
//! (every segment id below the manifest's `log_number`).
//!
//! Invariants:
//! - a record is written with one `write` call after the previous one completed, so only the
//!   last record of a segment can be torn by a crash;
//! - a segment is fsynced before the next one is created, so only the newest segment can end in
//!   a torn write;
//! - recovery accepts the longest valid prefix. In the newest segment, a bad record with no
//!   valid record anywhere after it is a torn tail and is truncated; a bad record followed by a
//!   valid one, or a bad record in an older segment, is corruption and opening fails with the
//!   file and offset (silently skipping it would lose acknowledged data). A torn tail whose
//!   garbage happens to contain a valid framed record (a value that is itself a log record,
//!   cut exactly there) would be reported as corruption: the safe side.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::batch::{Op, decode_ops};
use crate::codec::u32_at;
use crate::{Error, Result};

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
    file: Arc<File>,
    bytes: u64,
    /// Fault injection: the next `sync` fails, as a failing disk would.
    #[cfg(test)]
    pub(crate) fail_next_sync: bool,
}

impl LogWriter {
    /// Creates a new, empty segment (and fsyncs the directory so the segment survives a crash).
    pub(crate) fn create(dir: &Path, id: u64) -> Result<LogWriter> {
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(log_path(dir, id))?;
        File::open(dir)?.sync_all()?;
        Ok(LogWriter {
            id,
            file: Arc::new(file),
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

    pub(crate) fn file(&self) -> Arc<File> {
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
        (&*self.file).write_all(scratch)?;
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

/// Replays one segment: calls `apply` for each valid record in order. In the `last` segment a
/// bad record with nothing valid after it is a torn tail and is truncated; a bad record followed
/// by a valid one, or any bad record in an older segment (fsynced before its successor was
/// created), fails with `Error::Corruption`.
pub(crate) fn replay_segment(
    path: &Path,
    last: bool,
    mut apply: impl FnMut(Vec<Op>),
) -> Result<()> {
    let mut buf = Vec::new();
    File::open(path)?.read_to_end(&mut buf)?;
    let mut off = 0;
    while off < buf.len() {
        let Some((start, end)) = record_at(&buf, off) else {
            if !last {
                return Err(corruption(path, off, "bad record in a sealed segment"));
            }
            return truncate_or_fail(path, &buf, off, "bad record header or checksum");
        };
        match decode_ops(&buf[start..end]) {
            Ok(ops) => apply(ops),
            // The checksum matched, so these bytes were written like this: not a torn write.
            Err(reason) => return Err(corruption(path, off, reason)),
        }
        off = end;
    }
    Ok(())
}

fn truncate_or_fail(path: &Path, buf: &[u8], bad: usize, reason: &str) -> Result<()> {
    if (bad + 1..buf.len()).any(|off| record_at(buf, off).is_some()) {
        return Err(corruption(path, bad, reason));
    }
    let file = OpenOptions::new().write(true).open(path)?;
    file.set_len(bad as u64)?;
    file.sync_all()?;
    Ok(())
}

fn corruption(path: &Path, offset: usize, reason: &str) -> Error {
    Error::Corruption {
        file: path.to_path_buf(),
        offset: offset as u64,
        reason: format!("commit log: {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WriteBatch;
    use crate::batch::encode_ops;

    fn write_records(dir: &Path, n: usize) -> (PathBuf, Vec<u64>) {
        let mut w = LogWriter::create(dir, 7).unwrap();
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

    fn count(path: &Path) -> Result<usize> {
        let mut n = 0;
        replay_segment(path, true, |ops| n += ops.len())?;
        Ok(n)
    }

    #[test]
    fn replays_every_record() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = write_records(dir.path(), 5);
        assert_eq!(count(&path).unwrap(), 5);
        assert_eq!(parse_log_name("00000000000000000007.log"), Some(7));
    }

    fn assert_corruption_at(result: Result<()>, expected: u64) {
        match result {
            Err(Error::Corruption { offset, .. }) => assert_eq!(offset, expected),
            other => panic!("expected corruption at {expected}, got {other:?}"),
        }
    }

    #[test]
    fn torn_tail_is_truncated_in_the_newest_segment_only() {
        for last in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let (path, ends) = write_records(dir.path(), 3);
            let file = OpenOptions::new().write(true).open(&path).unwrap();
            file.set_len(ends[2] - 3).unwrap();
            if last {
                assert_eq!(count(&path).unwrap(), 2);
                assert_eq!(std::fs::metadata(&path).unwrap().len(), ends[1]);
            } else {
                assert_corruption_at(replay_segment(&path, false, |_| {}), ends[1]);
            }
        }
    }

    #[test]
    fn damage_before_valid_records_is_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let (path, ends) = write_records(dir.path(), 3);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[ends[0] as usize + 10] ^= 0x40;
        std::fs::write(&path, &bytes).unwrap();
        assert_corruption_at(count(&path).map(drop), ends[0]);
    }
}
