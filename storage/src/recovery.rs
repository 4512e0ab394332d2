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
use crate::stats::Counters;
use crate::version::Version;
use crate::wal::{LogWriter, log_path, parse_log_name, replay_segment};
use crate::{Options, Result, worker};

pub(crate) fn recover(dir: &Path, opts: &Options, _counters: &Arc<Counters>) -> Result<Recovered> {
    fs::create_dir_all(dir)?;
    let lock = lock_dir(dir)?;
    let manifest = Manifest::load(dir)?.unwrap_or_default();
    let mut levels: Vec<Vec<Arc<Table>>> =
        vec![Vec::new(); opts.max_levels.max(manifest.levels.len())];
    for (n, ids) in manifest.levels.iter().enumerate() {
        for &id in ids {
            levels[n].push(Arc::new(Table::open(id, &table_path(dir, id))?));
        }
        if n > 0 {
            levels[n].sort_by(|a, b| a.smallest().cmp(b.smallest()));
        }
    }

    let mut max_id = 0;
    let mut logs = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if let Some(id) = parse_log_name(&name) {
            max_id = max_id.max(id);
            if id >= manifest.log_number {
                logs.push(id);
            }
        } else if let Some(id) = parse_table_name(&name) {
            max_id = max_id.max(id);
        }
    }
    logs.sort_unstable();
    let mut next_file_id = manifest.next_file_id.max(max_id + 1).max(1);

    // Replay, flushing to level 0 whenever the memtable budget is reached.
    let mut recovered: Vec<Arc<Table>> = Vec::new();
    let mut mem = MemTable::new(0);
    let mut seq = 1;
    for id in logs {
        replay_segment(&log_path(dir, id), |ops| {
            for (key, value) in ops {
                mem.insert(key, seq, value);
                seq += 1;
            }
        })?;
        if mem.approximate_bytes() >= opts.memtable_bytes {
            let full = std::mem::replace(&mut mem, MemTable::new(0));
            recovered.push(Arc::new(worker::write_memtable(
                dir,
                next_file_id,
                &full,
                opts,
            )?));
            next_file_id += 1;
        }
    }
    if !mem.is_empty() {
        recovered.push(Arc::new(worker::write_memtable(
            dir,
            next_file_id,
            &mem,
            opts,
        )?));
        next_file_id += 1;
    }
    // Level 0 is newest first; replayed tables are newer than every table already there.
    recovered.reverse();
    recovered.append(&mut levels[0]);
    levels[0] = recovered;

    let writer = LogWriter::create(dir, next_file_id)?;
    next_file_id += 1;
    let version = Version {
        mem: Arc::new(MemTable::new(writer.id())),
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
