//! Opening a directory: lock it, load the manifest, open the live tables, replay the commit
//! log, and clean up what a crash left behind.
//!
//! Recovery flushes every replayed write to level-0 tables before the engine starts, then
//! records a manifest whose `log_number` is a fresh segment. So a reopened engine starts with
//! an empty memtable, sequence numbers can restart at 1, and old segments are deleted only once
//! a durable manifest no longer needs them. Replayed segments are never modified: a crash
//! during recovery leaves them as they were, and the next open replays the same prefix.
//!
//! Damage in the log: replay keeps the longest valid prefix and stops at the first bad record
//! (see `wal`), skipping the rest of that segment and every later one. A torn tail (nothing
//! valid after the bad record) is what a crash during an unsynced write leaves; a hole
//! (valid-looking records after it) is what a power loss may leave in the unsynced tail, or a
//! damaged disk anywhere. Both are reported in [`Recovery`] (and counted in the stats), so the
//! owner can log it and repair the lost writes from elsewhere; nothing is made up.
//!
//! Orphans, deleted here: tables the manifest does not name (an interrupted flush or
//! compaction), segments below `log_number` (flushed before a crash interrupted their
//! deletion), and a leftover `MANIFEST.tmp`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::db::Recovered;
use crate::io::{Fs, LockGuard};
use crate::manifest::{self, Manifest};
use crate::memtable::MemTable;
use crate::sst::{Table, parse_table_name, table_path};
use crate::version::Version;
use crate::wal::{LogWriter, Replayed, log_path, parse_log_name, replay_segment};
use crate::{Error, Options, Result, worker};

/// What opening found in the commit log ([`crate::Db::recovery`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Log records (write groups) replayed into tables.
    pub records: u64,
    /// Where replay stopped before the end of the log, if it did.
    pub damage: Option<LogDamage>,
}

/// The first bad record of the log and what was left out from it on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogDamage {
    pub file: PathBuf,
    pub offset: u64,
    pub reason: String,
    /// Bytes not replayed: the rest of the damaged segment and every later segment.
    pub dropped_bytes: u64,
    /// Later segments not replayed.
    pub dropped_segments: usize,
    /// Valid-looking records came after the bad one (a hole, so writes were dropped to keep a
    /// valid prefix), rather than only a torn tail.
    pub hole: bool,
}

impl std::fmt::Display for LogDamage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = if self.hole {
            "a hole with records after it"
        } else {
            "a torn tail"
        };
        write!(
            f,
            "{what} in {} at offset {} ({}); kept the log up to there, dropped {} bytes \
             ({} later segments)",
            self.file.display(),
            self.offset,
            self.reason,
            self.dropped_bytes,
            self.dropped_segments
        )
    }
}

pub(crate) fn recover(dir: &Path, opts: &Options) -> Result<Recovered> {
    let fs = &*opts.fs;
    fs.create_dir_all(dir)?;
    let lock = lock_dir(fs, dir)?;
    let files = list_files(fs, dir)?;
    let manifest = match Manifest::load(fs, dir)? {
        Some(m) => m,
        // Every open writes a manifest before any table can exist: tables without one mean
        // the manifest was lost, and treating them as orphans would delete the data.
        None if !files.tables.is_empty() => {
            return Err(Error::Corruption {
                file: dir.join(manifest::FILE_NAME),
                offset: 0,
                reason: "manifest missing but tables present".into(),
            });
        }
        None => Manifest::default(),
    };
    let mut levels = open_tables(fs, dir, &manifest, opts)?;
    let mut next_file_id = manifest.next_file_id.max(files.max_id + 1).max(1);
    let logs: Vec<u64> = files
        .logs
        .into_iter()
        .filter(|&id| id >= manifest.log_number)
        .collect();
    let (mut recovered, report) = replay(fs, dir, &logs, opts, &mut next_file_id)?;
    // Level 0 is newest first; replayed tables are newer than every table already there.
    recovered.reverse();
    recovered.append(&mut levels[0]);
    levels[0] = recovered;

    let writer = LogWriter::create(fs, dir, next_file_id)?;
    next_file_id += 1;
    let version = Version {
        mem: Arc::new(MemTable::new(writer.id(), opts.memtable_bytes)),
        imm: Vec::new(),
        levels,
    };
    let manifest = Manifest {
        next_file_id,
        log_number: writer.id(),
        levels: version.table_ids(),
    };
    manifest.store(fs, dir)?;
    remove_orphans(fs, dir, &manifest)?;
    Ok(Recovered {
        version,
        writer,
        next_file_id,
        lock,
        report,
    })
}

/// Replays the segments `logs` (oldest first) up to the first bad record, flushing to level-0
/// tables whenever the memtable budget is reached; the tables, oldest first.
fn replay(
    fs: &dyn Fs,
    dir: &Path,
    logs: &[u64],
    opts: &Options,
    next_file_id: &mut u64,
) -> Result<(Vec<Arc<Table>>, Recovery)> {
    let mut tables = Vec::new();
    let mut report = Recovery::default();
    let mut mem = MemTable::new(0, opts.memtable_bytes);
    let mut seq = 1;
    for (i, &id) in logs.iter().enumerate() {
        let path = log_path(dir, id);
        let end = replay_segment(fs, &path, |ops| {
            report.records += 1;
            for (key, value) in ops {
                mem.insert(key, seq, value);
                seq += 1;
            }
        })?;
        let last = i + 1 == logs.len();
        if let Replayed::Stopped {
            offset,
            len,
            reason,
            valid_after,
        } = end
        {
            let later = &logs[i + 1..];
            let later_bytes = later
                .iter()
                .map(|&id| fs.file_size(&log_path(dir, id)))
                .sum::<std::io::Result<u64>>()?;
            report.damage = Some(LogDamage {
                file: path,
                offset,
                reason,
                dropped_bytes: len - offset + later_bytes,
                dropped_segments: later.len(),
                hole: valid_after || later_bytes > 0,
            });
        }
        let stop = last || report.damage.is_some();
        if mem.approximate_bytes() >= opts.memtable_bytes || stop && !mem.is_empty() {
            let full = std::mem::replace(&mut mem, MemTable::new(0, opts.memtable_bytes));
            let table = worker::write_memtable(dir, *next_file_id, &full, opts)?;
            tables.push(Arc::new(table));
            *next_file_id += 1;
        }
        if stop {
            break;
        }
    }
    Ok((tables, report))
}

/// The engine's files found in a directory.
struct Files {
    logs: Vec<u64>,
    tables: Vec<u64>,
    max_id: u64,
}

fn list_files(fs: &dyn Fs, dir: &Path) -> Result<Files> {
    let mut files = Files {
        logs: Vec::new(),
        tables: Vec::new(),
        max_id: 0,
    };
    for name in fs.list(dir)? {
        if let Some(id) = parse_log_name(&name) {
            files.logs.push(id);
            files.max_id = files.max_id.max(id);
        } else if let Some(id) = parse_table_name(&name) {
            files.tables.push(id);
            files.max_id = files.max_id.max(id);
        }
    }
    files.logs.sort_unstable();
    Ok(files)
}

/// Opens the tables the manifest names, level by level (levels >= 1 sorted by key).
fn open_tables(
    fs: &dyn Fs,
    dir: &Path,
    manifest: &Manifest,
    opts: &Options,
) -> Result<Vec<Vec<Arc<Table>>>> {
    let mut levels = vec![Vec::new(); opts.max_levels.max(manifest.levels.len())];
    for (n, ids) in manifest.levels.iter().enumerate() {
        for &id in ids {
            levels[n].push(Arc::new(Table::open(fs, id, &table_path(dir, id))?));
        }
        if n > 0 {
            levels[n].sort_by(|a: &Arc<Table>, b| a.smallest().cmp(b.smallest()));
        }
    }
    Ok(levels)
}

/// Takes the advisory lock on `dir/LOCK`, so two engines never share a directory.
fn lock_dir(fs: &dyn Fs, dir: &Path) -> Result<LockGuard> {
    fs.lock(&dir.join("LOCK")).map_err(|e| {
        if e.kind() == std::io::ErrorKind::WouldBlock {
            std::io::Error::new(
                std::io::ErrorKind::WouldBlock,
                format!("{} is in use by another engine", dir.display()),
            )
            .into()
        } else {
            e.into()
        }
    })
}

fn remove_orphans(fs: &dyn Fs, dir: &Path, manifest: &Manifest) -> Result<()> {
    for name in fs.list(dir)? {
        let orphan = if let Some(id) = parse_log_name(&name) {
            id < manifest.log_number
        } else if let Some(id) = parse_table_name(&name) {
            !manifest.levels.iter().flatten().any(|&live| live == id)
        } else {
            name == manifest::TEMP_NAME
        };
        if orphan {
            fs.remove_file(&dir.join(&name))?;
        }
    }
    Ok(())
}
