//! Compaction: leveled, with the policy in [`policy`] and the merge that executes a task here.
//!
//! Why leveled rather than size-tiered: a ringkv node does read-merge-write (every PUT first
//! reads the key's sibling set), so point reads dominate. Leveled keeps a lookup to the level-0
//! tables plus at most one table per deeper level (each guarded by its bloom filter), bounds
//! space amplification to about 1/multiplier, and pushes tombstones quickly to the bottom where
//! they can be dropped, which matters for a store whose deletes are tombstones with a grace
//! period. The price is write amplification (a byte is rewritten about `multiplier` times per
//! level), which the sequential, block-streamed merge keeps cheap. Level 0 is effectively
//! tiered: flushed memtables accumulate there until `l0_compaction_trigger`.
//!
//! Invariants of the merge:
//! - inputs are merged newest first, so only the newest version of each key is written;
//! - a tombstone (or an entry the [`crate::CompactionFilter`] removes) is written as a
//!   tombstone only if a table below the output level may still hold the key (key range and
//!   bloom filter); otherwise it is dropped for good;
//! - outputs are cut at key boundaries into tables of about `table_bytes`, so the output level
//!   stays sorted and non-overlapping.

pub(crate) mod policy;

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use crate::iter::{MergeIter, Source};
use crate::sst::iter::{LevelIter, TableIter};
use crate::sst::{Table, TableBuilder, table_path};
use crate::stats::Counters;
use crate::version::Version;
use crate::{FilterDecision, Options, Result};
pub(crate) use policy::{Policy, TableInfo, Task, pick};

impl Policy {
    pub(crate) fn from_options(opts: &Options) -> Policy {
        Policy {
            l0_trigger: opts.l0_compaction_trigger,
            level1_bytes: opts.level1_bytes,
            multiplier: opts.level_multiplier,
            max_levels: opts.max_levels,
        }
    }
}

/// The policy's view of a version's tables.
pub(crate) fn table_infos(version: &Version) -> Vec<Vec<TableInfo>> {
    version
        .levels
        .iter()
        .map(|level| {
            level
                .iter()
                .map(|t| TableInfo {
                    id: t.id(),
                    size: t.size(),
                    smallest: t.smallest().to_vec(),
                    largest: t.largest().to_vec(),
                })
                .collect()
        })
        .collect()
}

/// What running a compaction needs from the engine.
pub(crate) struct Context<'a> {
    pub(crate) dir: &'a Path,
    pub(crate) opts: &'a Options,
    pub(crate) counters: &'a Arc<Counters>,
    pub(crate) alloc_id: &'a dyn Fn() -> u64,
}

/// Merges the task's input tables (as found in `version`) into new tables for level
/// `task.level + 1`, returned in key order. Does not touch the manifest.
pub(crate) fn run(task: &Task, version: &Version, ctx: &Context<'_>) -> Result<Vec<Arc<Table>>> {
    let pick_tables = |level: usize, ids: &[u64]| -> Vec<Arc<Table>> {
        version.levels[level]
            .iter()
            .filter(|t| ids.contains(&t.id()))
            .cloned()
            .collect()
    };
    let mut sources: Vec<Box<dyn Source>> = Vec::new();
    for table in pick_tables(task.level, &task.upper) {
        let it = TableIter::seek(table, Arc::clone(ctx.counters), Bound::Unbounded)?;
        sources.push(Box::new(it));
    }
    let lower = pick_tables(task.level + 1, &task.lower);
    sources.push(Box::new(LevelIter::seek(
        lower,
        Arc::clone(ctx.counters),
        Bound::Unbounded,
    )?));
    let below = &version.levels[task.level + 2..];
    let may_exist_below = |key: &[u8]| {
        below.iter().any(|level| {
            let i = level.partition_point(|t| t.largest() < key);
            level.get(i).is_some_and(|t| t.may_contain(key))
        })
    };

    let mut merge = MergeIter::new(sources, Bound::Unbounded);
    let mut outputs = Vec::new();
    let mut builder: Option<TableBuilder> = None;
    let result = (|| -> Result<()> {
        while let Some((key, value)) = merge.next_entry()? {
            let removed = match &value {
                None => true,
                Some(v) => ctx
                    .opts
                    .compaction_filter
                    .as_ref()
                    .is_some_and(|f| f.filter(&key, v) == FilterDecision::Remove),
            };
            if removed && !may_exist_below(&key) {
                continue;
            }
            let b = match &mut builder {
                Some(b) => b,
                None => builder.insert(new_builder(ctx)?),
            };
            b.add(&key, if removed { None } else { value.as_deref() })?;
            if let Some(full) = builder.take_if(|b| b.estimated_size() >= ctx.opts.table_bytes) {
                outputs.push(Arc::new(full.finish()?));
            }
        }
        if let Some(last) = builder.take() {
            outputs.push(Arc::new(last.finish()?));
        }
        Ok(())
    })();
    if let Err(e) = result {
        // Unfinished outputs are not in the manifest; remove them now rather than at next open.
        if let Some(b) = builder {
            let _ = ctx.opts.fs.remove_file(b.path());
        }
        for t in &outputs {
            let _ = ctx.opts.fs.remove_file(&table_path(ctx.dir, t.id()));
        }
        return Err(e);
    }
    Ok(outputs)
}

fn new_builder(ctx: &Context<'_>) -> Result<TableBuilder> {
    TableBuilder::create(
        &ctx.opts.fs,
        ctx.dir,
        (ctx.alloc_id)(),
        ctx.opts.block_bytes,
        ctx.opts.bloom_fp_rate,
    )
}
