//! The engine's file-system seam: every file and directory operation of the engine goes through
//! an [`Fs`] (chosen in [`crate::Options::fs`]), so a test can stand a simulated disk under it.
//!
//! - [`RealFs`]: `std::fs` and positioned reads (`pread`), the default. The engine calls it
//!   once per log record, block read or fsync; the dynamic dispatch costs a few nanoseconds
//!   next to a system call (see `benches/compare.rs`, before/after figures in the commit).
//! - [`SimFs`] (`sim`): an in-memory disk that records writes and fsyncs and, at a simulated
//!   power loss, keeps only what an fsync covered (file contents and directory entries).
//!
//! The contract the engine relies on, and that both implementations keep:
//! - files are written once, front to back ([`FileIo::append`]), and read with positioned
//!   reads; nothing is ever overwritten in place;
//! - written bytes are durable only once [`FileIo::sync_data`] / [`FileIo::sync_all`] of that
//!   file returns;
//! - a create, rename or remove is durable only once [`Fs::sync_dir`] of its directory returns
//!   (an fsync of the file itself does not make its name durable).

mod sim;

use std::any::Any;
use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

pub use sim::{DiskOp, Loss, SimFs};

/// One open file: appended to while it is written, read with positioned reads afterwards.
pub trait FileIo: Send + Sync + Debug {
    /// Writes all of `buf` at the end of the file.
    fn append(&self, buf: &[u8]) -> io::Result<()>;
    /// Fills `buf` from `offset`; an error if the file ends first.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// The file's current size.
    fn size(&self) -> io::Result<u64>;
    /// Makes the written bytes durable (`fdatasync`).
    fn sync_data(&self) -> io::Result<()>;
    /// Makes the written bytes and the file's metadata durable (`fsync`).
    fn sync_all(&self) -> io::Result<()>;
}

/// A guard holding a directory's lock until dropped.
pub type LockGuard = Box<dyn Any + Send + Sync>;

/// The file-system operations of the engine. Paths are the ones the engine builds: its
/// directory joined with a file name.
pub trait Fs: Send + Sync + Debug {
    /// Creates `dir` and its missing parents.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Creates a new, empty file for writing; fails if `path` exists.
    fn create_new(&self, path: &Path) -> io::Result<Arc<dyn FileIo>>;
    /// Opens an existing file for reading.
    fn open(&self, path: &Path) -> io::Result<Arc<dyn FileIo>>;
    /// The whole content of a file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let file = self.open(path)?;
        let mut buf = vec![0; usize::try_from(file.size()?).map_err(io::Error::other)?];
        file.read_exact_at(&mut buf, 0)?;
        Ok(buf)
    }
    /// The names of the entries in `dir`.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// The size of the file at `path`.
    fn file_size(&self, path: &Path) -> io::Result<u64>;
    /// Renames `from` to `to`, replacing `to` if it exists.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Makes the creates, renames and removes in `dir` durable (fsync of the directory).
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Takes an exclusive advisory lock on `path` (created if needed), held by the guard;
    /// `ErrorKind::WouldBlock` if another holder has it.
    fn lock(&self, path: &Path) -> io::Result<LockGuard>;
}

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealFs;

#[derive(Debug)]
struct RealFile(File);

impl FileIo for RealFile {
    fn append(&self, buf: &[u8]) -> io::Result<()> {
        (&self.0).write_all(buf)
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.0.read_exact_at(buf, offset)
    }
    fn size(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }
    fn sync_all(&self) -> io::Result<()> {
        self.0.sync_all()
    }
}

impl Fs for RealFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }
    fn create_new(&self, path: &Path) -> io::Result<Arc<dyn FileIo>> {
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(path)?;
        Ok(Arc::new(RealFile(file)))
    }
    fn open(&self, path: &Path) -> io::Result<Arc<dyn FileIo>> {
        Ok(Arc::new(RealFile(File::open(path)?)))
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        std::fs::read_dir(dir)?
            .map(|entry| Ok(entry?.file_name().to_string_lossy().into_owned()))
            .collect()
    }
    fn file_size(&self, path: &Path) -> io::Result<u64> {
        Ok(std::fs::metadata(path)?.len())
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
    fn lock(&self, path: &Path) -> io::Result<LockGuard> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Box::new(file)),
            Err(std::fs::TryLockError::WouldBlock) => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("{} is held by another engine", path.display()),
            )),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }
}

/// Adapts a [`FileIo`] to `std::io::Write` (for a `BufWriter` in front of it).
pub(crate) struct Appender(pub(crate) Arc<dyn FileIo>);

impl Write for Appender {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.append(buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
