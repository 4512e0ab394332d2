//! Writes one table file, streaming blocks to disk as they fill.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::block::BlockBuilder;
use super::bloom::BloomFilter;
use super::{FORMAT_VERSION, MAGIC};
use crate::Result;
use crate::codec::{put_bytes, put_u32, put_u64};
use crate::io::{Appender, FileIo, Fs};

/// Writes a table. Keys must be added in strictly increasing order, each once.
///
/// ```text
/// +------------------+-----+--------------------+-------------+-------------+--------------+
/// | data block 0     | ... | data block n-1     | index block | bloom block | footer (48B) |
/// +------------------+-----+--------------------+-------------+-------------+--------------+
/// data block : see `block.rs` (entries, offsets, count, crc32)
/// index block: +-----------+--------------------------+----------------------------------------+---------+
///              | count u32 | first_len u32 | first key | count x (off u64 | len u32 | last_len u32 | last key) | crc u32 |
///              +-----------+--------------------------+----------------------------------------+---------+
///              (off, len) locate data block i, len including its crc; last key = its largest key
/// bloom block: bloomfilter bytes | crc u32
/// footer     : +-----------+-----------+-----------+-----------+-------------+-------------+---------+-----------+
///              | index_off | index_len | bloom_off | bloom_len | entries u64 | version u32 | crc u32 | magic u64 |
///              | u64       | u32       | u64       | u32       |             |             |         | "RKVSST\r\n" |
///              +-----------+-----------+-----------+-----------+-------------+-------------+---------+-----------+
///              crc = crc32 of the 36 footer bytes before it; all integers little-endian
/// ```
pub(crate) struct TableBuilder {
    id: u64,
    path: PathBuf,
    fs: Arc<dyn Fs>,
    file: Arc<dyn FileIo>,
    out: BufWriter<Appender>,
    written: u64,
    block_bytes: usize,
    fp_rate: f64,
    block: BlockBuilder,
    /// Reused encoding buffer for finished blocks.
    scratch: Vec<u8>,
    /// The index: one `(offset, len, last key)` per finished block.
    index: Vec<(u64, u32, Vec<u8>)>,
    first_key: Option<Vec<u8>>,
    last_key: Vec<u8>,
    /// Every key, concatenated, for the bloom filter sized once the count is known.
    keys: Vec<u8>,
    key_ends: Vec<usize>,
}

impl TableBuilder {
    /// Creates table file `id` in `dir`; it is an orphan until a manifest names it.
    pub(crate) fn create(
        fs: &Arc<dyn Fs>,
        dir: &Path,
        id: u64,
        block_bytes: usize,
        fp_rate: f64,
    ) -> Result<TableBuilder> {
        let path = super::table_path(dir, id);
        let file = fs.create_new(&path)?;
        Ok(TableBuilder {
            id,
            path,
            fs: Arc::clone(fs),
            out: BufWriter::with_capacity(256 << 10, Appender(Arc::clone(&file))),
            file,
            written: 0,
            block_bytes: block_bytes.max(64),
            fp_rate,
            block: BlockBuilder::default(),
            scratch: Vec::new(),
            index: Vec::new(),
            first_key: None,
            last_key: Vec::new(),
            keys: Vec::new(),
            key_ends: Vec::new(),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.key_ends.is_empty()
    }

    /// Bytes the table would have if finished now (without index and bloom).
    pub(crate) fn estimated_size(&self) -> u64 {
        self.written + self.block.size() as u64
    }

    pub(crate) fn add(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        debug_assert!(
            self.is_empty() || key > &self.last_key[..],
            "keys out of order"
        );
        if self.first_key.is_none() {
            self.first_key = Some(key.to_vec());
        }
        self.block.add(key, value);
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        self.keys.extend_from_slice(key);
        self.key_ends.push(self.keys.len());
        if self.block.size() >= self.block_bytes {
            self.finish_block()?;
        }
        Ok(())
    }

    fn finish_block(&mut self) -> Result<()> {
        if self.block.is_empty() {
            return Ok(());
        }
        self.scratch.clear();
        self.block.finish_into(&mut self.scratch);
        self.index.push((
            self.written,
            self.scratch.len() as u32,
            self.last_key.clone(),
        ));
        self.out.write_all(&self.scratch)?;
        self.written += self.scratch.len() as u64;
        Ok(())
    }

    /// Writes index, bloom and footer, fsyncs, and opens the finished table.
    pub(crate) fn finish(self) -> Result<super::Table> {
        let (id, path, fs) = (self.id, self.path.clone(), Arc::clone(&self.fs));
        self.write_tail()?;
        super::Table::open(&*fs, id, &path)
    }

    fn write_tail(mut self) -> Result<u64> {
        self.finish_block()?;
        let mut buf = Vec::new();
        put_u32(&mut buf, self.index.len() as u32);
        put_bytes(&mut buf, self.first_key.as_deref().unwrap_or_default());
        for (off, len, last) in &self.index {
            put_u64(&mut buf, *off);
            put_u32(&mut buf, *len);
            put_bytes(&mut buf, last);
        }
        let (index_off, index_len) = self.write_with_crc(&mut buf)?;

        let mut bloom = BloomFilter::new(self.key_ends.len(), self.fp_rate);
        let mut start = 0;
        for &end in &self.key_ends {
            bloom.insert(&self.keys[start..end]);
            start = end;
        }
        let mut buf = bloom.to_bytes();
        let (bloom_off, bloom_len) = self.write_with_crc(&mut buf)?;

        let mut footer = Vec::with_capacity(super::FOOTER_BYTES);
        put_u64(&mut footer, index_off);
        put_u32(&mut footer, index_len);
        put_u64(&mut footer, bloom_off);
        put_u32(&mut footer, bloom_len);
        put_u64(&mut footer, self.key_ends.len() as u64);
        put_u32(&mut footer, FORMAT_VERSION);
        let crc = crc32fast::hash(&footer);
        put_u32(&mut footer, crc);
        put_u64(&mut footer, MAGIC);
        debug_assert_eq!(footer.len(), super::FOOTER_BYTES);
        self.out.write_all(&footer)?;
        self.written += footer.len() as u64;
        self.out.flush()?;
        self.file.sync_all()?;
        Ok(self.written)
    }

    fn write_with_crc(&mut self, buf: &mut Vec<u8>) -> Result<(u64, u32)> {
        let crc = crc32fast::hash(buf);
        put_u32(buf, crc);
        let at = self.written;
        self.out.write_all(buf)?;
        self.written += buf.len() as u64;
        Ok((at, buf.len() as u32))
    }
}
