//! Sorted string tables: immutable, sorted, block-based files.
//!
//! - `builder`: writes a table (the byte format is drawn on [`builder::TableBuilder`]);
//! - `block`: encodes and decodes one checksummed data block;
//! - `bloom`: the per-table bloom filter, consulted before any data block is read;
//! - `table`: an open table: footer, index and bloom in memory, blocks read on demand;
//! - `iter`: a streaming iterator over one table and over the tables of one level.

pub(crate) mod block;
pub(crate) mod bloom;
pub(crate) mod builder;
pub(crate) mod iter;
pub(crate) mod table;

use std::path::{Path, PathBuf};

pub(crate) use builder::TableBuilder;
pub(crate) use table::Table;

/// Last 8 bytes of every table.
pub(crate) const MAGIC: u64 = u64::from_le_bytes(*b"RKVSST\r\n");
/// Bumped on any change of the byte format; readers refuse versions they do not know.
pub(crate) const FORMAT_VERSION: u32 = 1;
/// Size of the fixed footer.
pub(crate) const FOOTER_BYTES: usize = 48;

pub(crate) fn table_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.sst"))
}

pub(crate) fn parse_table_name(name: &str) -> Option<u64> {
    name.strip_suffix(".sst")?.parse().ok()
}
