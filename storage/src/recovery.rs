//! Opening a directory: lock it, load the manifest, open the live tables, replay the commit
//! log, and clean up what a crash left behind.
//!
//! Recovery flushes every replayed write to level-0 tables before the engine starts, then
//! records a manifest whose `log_number` is a fresh segment. So a reopened engine starts with
//! an empty memtable, sequence numbers can restart at 1, and old segments are deleted only once
//! a durable manifest no longer needs them.
//!
//! Orphans, deleted here: tables the manifest does not name (an interrupted flush or
//! compaction), segments below `log_number` (flushed before a crash interrupted their
//! deletion), and a leftover `MANIFEST.tmp`.

use std::fs::{self, File, OpenOptions};
use std::path::Path;
use std::sync::Arc;

use crate::db::Recovered;
use crate::manifest::{self, Manifest};
use crate::memtable::MemTable;
use crate::sst::{Table, parse_table_name, table_path};
use crate::version::Version;
use crate::wal::{LogWriter, log_path, parse_log_name, replay_segment};
use crate::{Error, Options, Result, worker};

pub(crate) fn recover(dir: &Path, opts: &Options) -> Result<Recovered> {
    fs::create_dir_all(dir)?;
    let lock = lock_dir(dir)?;
    let files = list_files(dir)?;
    let manifest = match Manifest::load(dir)? {
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
    let mut levels = open_tables(dir, &manifest, opts)?;
    let mut next_file_id = manifest.next_file_id.max(files.max_id + 1).max(1);

    // Replay, flushing to level 0 whenever the memtable budget is reached.
    let logs: Vec<u64> = files
        .logs
        .into_iter()
        .filter(|&id| id >= manifest.log_number)
        .collect();
    let mut recovered: Vec<Arc<Table>> = Vec::new();
    let mut mem = MemTable::new(0, opts.memtable_bytes);
    let mut seq = 1;
    let newest = logs.last().copied();
    for id in logs {
        replay_segment(&log_path(dir, id), Some(id) == newest, |ops| {
            for (key, value) in ops {
                mem.insert(key, seq, value);
                seq += 1;
            }
        })?;
        if mem.approximate_bytes() >= opts.memtable_bytes || Some(id) == newest && !mem.is_empty() {
            let full = std::mem::replace(&mut mem, MemTable::new(0, opts.memtable_bytes));
            recovered.push(Arc::new(worker::write_memtable(
                dir,
                next_file_id,
                &full,
                opts,
            )?));
            next_file_id += 1;
        }
    }
    // Level 0 is newest first; replayed tables are newer than every table already there.
    recovered.reverse();
    recovered.append(&mut levels[0]);
    levels[0] = recovered;

    let writer = LogWriter::create(dir, next_file_id)?;
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
    manifest.store(dir)?;
    remove_orphans(dir, &manifest)?;
    Ok(Recovered {
        version,
        writer,
        next_file_id,
        lock,
    })
}

/// The engine's files found in a directory.
struct Files {
    logs: Vec<u64>,
    tables: Vec<u64>,
    max_id: u64,
}

fn list_files(dir: &Path) -> Result<Files> {
    let mut files = Files {
        logs: Vec::new(),
        tables: Vec::new(),
        max_id: 0,
    };
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
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
fn open_tables(dir: &Path, manifest: &Manifest, opts: &Options) -> Result<Vec<Vec<Arc<Table>>>> {
    let mut levels = vec![Vec::new(); opts.max_levels.max(manifest.levels.len())];
    for (n, ids) in manifest.levels.iter().enumerate() {
        for &id in ids {
            levels[n].push(Arc::new(Table::open(id, &table_path(dir, id))?));
        }
        if n > 0 {
            levels[n].sort_by(|a: &Arc<Table>, b| a.smallest().cmp(b.smallest()));
        }
    }
    Ok(levels)
}

/// Takes the advisory lock on `dir/LOCK`, so two engines never share a directory.
fn lock_dir(dir: &Path) -> Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("LOCK"))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(std::io::Error::new(
            std::io::ErrorKind::WouldBlock,
            format!("{} is in use by another engine", dir.display()),
        )
        .into()),
        Err(fs::TryLockError::Error(e)) => Err(e.into()),
    }
}

fn remove_orphans(dir: &Path, manifest: &Manifest) -> Result<()> {
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        let orphan = if let Some(id) = parse_log_name(&name) {
            id < manifest.log_number
        } else if let Some(id) = parse_table_name(&name) {
            !manifest.levels.iter().flatten().any(|&live| live == id)
        } else {
            name == manifest::TEMP_NAME
        };
        if orphan {
            fs::remove_file(dir.join(&name))?;
        }
    }
    Ok(())
}
