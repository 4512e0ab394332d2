//! Background work: the flusher (frozen memtables to level-0 tables, oldest first), the
//! compactor (runs the policy until nothing is due), and under `SyncPolicy::Interval` the log
//! syncer.
//!
//! Each thread waits on the engine's `bg` condvar, exits when `shutdown` is set (the engine
//! joins them on close or drop), and poisons the engine if its work fails: a flush or
//! compaction that cannot finish would otherwise let memory or level 0 grow without bound.

use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::compaction::{self, Policy, pick, table_infos};
use crate::db::Shared;
use crate::memtable::MemTable;
use crate::sst::{Table, TableBuilder, table_path};
use crate::wal::log_path;
use crate::{Options, Result, SyncPolicy};

pub(crate) fn spawn_all(shared: &Arc<Shared>) -> Result<Vec<JoinHandle<()>>> {
    let mut threads = Vec::new();
    let s = Arc::clone(shared);
    threads.push(spawn("ringkv-flush", move || flusher(&s))?);
    let s = Arc::clone(shared);
    threads.push(spawn("ringkv-compact", move || compactor(&s))?);
    if let SyncPolicy::Interval(every) = shared.opts.sync {
        let s = Arc::clone(shared);
        threads.push(spawn("ringkv-sync", move || syncer(&s, every))?);
    }
    Ok(threads)
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>> {
    Ok(std::thread::Builder::new().name(name.into()).spawn(f)?)
}

/// Writes every key's newest version of `mem` to table `id`.
pub(crate) fn write_memtable(dir: &Path, id: u64, mem: &MemTable, opts: &Options) -> Result<Table> {
    let mut builder =
        TableBuilder::create(&opts.fs, dir, id, opts.block_bytes, opts.bloom_fp_rate)?;
    mem.for_each_newest(|key, value| builder.add(key, value))?;
    builder.finish()
}

fn flusher(shared: &Shared) {
    loop {
        {
            let mut bg = shared.bg.lock();
            loop {
                if bg.shutdown || shared.check_poisoned().is_err() {
                    return;
                }
                if !shared.current().imm.is_empty() {
                    break;
                }
                shared.bg_cv.wait(&mut bg);
            }
        }
        if let Err(e) = flush_oldest(shared) {
            shared.poison(e);
            return;
        }
    }
}

fn flush_oldest(shared: &Shared) -> Result<()> {
    let Some(mem) = shared.current().imm.last().cloned() else {
        return Ok(());
    };
    let table = if mem.is_empty() {
        None
    } else {
        let id = shared.alloc_file_id();
        Some(Arc::new(write_memtable(
            &shared.dir,
            id,
            &mem,
            &shared.opts,
        )?))
    };
    shared.opts.fs.sync_dir(&shared.dir)?;
    shared.install(|v| {
        v.imm.retain(|m| !Arc::ptr_eq(m, &mem));
        if let Some(t) = &table {
            v.levels[0].insert(0, Arc::clone(t));
        }
    })?;
    // The manifest no longer needs this segment; if the removal fails, the next open does it.
    let _ = shared
        .opts
        .fs
        .remove_file(&log_path(&shared.dir, mem.log_id()));
    shared.counters.add(&shared.counters.flushes, 1);
    let mut bg = shared.bg.lock();
    bg.flushed += 1;
    bg.compaction_due = true;
    shared.bg_cv.notify_all();
    Ok(())
}

fn compactor(shared: &Shared) {
    loop {
        {
            let mut bg = shared.bg.lock();
            while !bg.compaction_due && !bg.shutdown {
                shared.bg_cv.wait(&mut bg);
            }
            if bg.shutdown || shared.check_poisoned().is_err() {
                return;
            }
            bg.compaction_due = false;
        }
        if let Err(e) = compact_until_done(shared) {
            shared.poison(e);
            return;
        }
    }
}

/// Runs compaction tasks until the policy finds none due (or the engine shuts down).
pub(crate) fn compact_until_done(shared: &Shared) -> Result<()> {
    let policy = Policy::from_options(&shared.opts);
    loop {
        if shared.bg.lock().shutdown {
            return Ok(());
        }
        shared.check_poisoned()?;
        let _running = shared.compaction.lock();
        let version = shared.current();
        let Some(task) = pick(&table_infos(&version), &policy) else {
            return Ok(());
        };
        let alloc = || shared.alloc_file_id();
        let ctx = compaction::Context {
            dir: &shared.dir,
            opts: &shared.opts,
            counters: &shared.counters,
            alloc_id: &alloc,
        };
        let outputs = compaction::run(&task, &version, &ctx)?;
        shared.opts.fs.sync_dir(&shared.dir)?;
        shared.install(|v| {
            v.levels[task.level].retain(|t| !task.upper.contains(&t.id()));
            let out = &mut v.levels[task.level + 1];
            out.retain(|t| !task.lower.contains(&t.id()));
            out.extend(outputs.iter().cloned());
            out.sort_by(|a, b| a.smallest().cmp(b.smallest()));
        })?;
        for id in task.upper.iter().chain(&task.lower) {
            let _ = shared.opts.fs.remove_file(&table_path(&shared.dir, *id));
        }
        shared.counters.add(&shared.counters.compactions, 1);
        let _bg = shared.bg.lock();
        shared.bg_cv.notify_all();
    }
}

fn syncer(shared: &Shared, every: Duration) {
    loop {
        let deadline = Instant::now() + every;
        {
            let mut bg = shared.bg.lock();
            while !bg.shutdown && Instant::now() < deadline {
                shared.bg_cv.wait_until(&mut bg, deadline);
            }
            if bg.shutdown {
                return;
            }
        }
        if shared.check_poisoned().is_err() {
            return;
        }
        if let Err(e) = shared.log_file().sync_data() {
            shared.poison(e);
            return;
        }
    }
}
