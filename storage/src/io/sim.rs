//! [`SimFs`]: an in-memory disk for tests that records every write and fsync and can lose power.
//!
//! What a power loss keeps (the strict reading of POSIX, which real disks and file systems are
//! allowed to do, and some do):
//! - **file contents**: the bytes an fsync of that file covered. Each write after its file's
//!   last fsync is, depending on the [`Loss`], kept, lost, or torn (a prefix of it kept); a lost
//!   write followed by a kept one leaves a hole of zeros in between, as unwritten blocks would;
//! - **directory entries**: the state as of the last [`Fs::sync_dir`] of the directory. Each
//!   create, rename and remove after it is kept or lost on its own (kept ones are applied in
//!   order, skipping those whose file is no longer under that name). An fsync of a file does
//!   not make its name durable;
//! - directories themselves are durable at once (the engine creates its one directory once),
//!   and locks are released.
//!
//! A power cut can be scheduled right after the n-th coming operation of some kind (any
//! mutating one, or say the n-th rename: [`SimFs::cut_power_after`]), so it lands in the middle
//! of whatever the engine is doing, or made at once ([`SimFs::cut_power`]). From then on every operation fails with an I/O error, as on a
//! machine that lost power, until [`SimFs::restart`] keeps what survived and powers it on
//! again. Handles opened before the cut keep failing after the restart (the process that held
//! them is gone). [`SimFs::crashed_copy`] answers "what would a power loss keep right now"
//! without disturbing the running disk.
//!
//! Files are append-only (the engine's contract, see [`super`]), so a file is its bytes, the
//! length an fsync covered, and the ranges written since.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::{FileIo, Fs, LockGuard};

/// The kinds of mutating disk operations, to schedule a power cut after one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskOp {
    /// Any of the others.
    Any,
    Create,
    Write,
    /// An fsync of a file.
    Sync,
    Rename,
    Remove,
    /// An fsync of a directory.
    SyncDir,
}

/// What a power loss does to the writes and directory changes that no fsync covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    /// Nothing is lost (what a killed process leaves: the OS still writes its page cache).
    Nothing,
    /// Every unsynced write and directory change is lost.
    Unsynced,
    /// Each unsynced write is kept, lost or torn, and each unsynced directory change kept or
    /// lost, at random from this seed (the same seed and state lose the same things).
    Random(u64),
}

type Ino = u64;

#[derive(Debug, Clone, Default)]
struct Inode {
    data: Vec<u8>,
    /// Bytes an fsync covered: `data[..durable]`.
    durable: usize,
    /// Writes since the last fsync, as `(offset, len)`, in order.
    unsynced: Vec<(usize, usize)>,
}

#[derive(Debug, Clone)]
enum DirOp {
    Create {
        path: PathBuf,
        ino: Ino,
    },
    Rename {
        from: PathBuf,
        to: PathBuf,
        ino: Ino,
    },
    Remove {
        path: PathBuf,
        ino: Ino,
    },
}

impl DirOp {
    /// The directory whose fsync makes this change durable.
    fn dir(&self) -> &Path {
        let path = match self {
            DirOp::Create { path, .. } | DirOp::Remove { path, .. } => path,
            DirOp::Rename { to, .. } => to,
        };
        path.parent().unwrap_or(Path::new(""))
    }

    /// Applies the change to `names` if it still applies there.
    fn apply(&self, names: &mut BTreeMap<PathBuf, Ino>) {
        match self {
            DirOp::Create { path, ino } => {
                names.insert(path.clone(), *ino);
            }
            DirOp::Rename { from, to, ino } => {
                if names.get(from) == Some(ino) {
                    names.remove(from);
                    names.insert(to.clone(), *ino);
                }
            }
            DirOp::Remove { path, ino } => {
                if names.get(path) == Some(ino) {
                    names.remove(path);
                }
            }
        }
    }
}

#[derive(Debug, Default)]
struct Disk {
    /// Bumped by every restart: handles of an older generation belong to a dead process.
    generation: u64,
    powered_off: bool,
    /// Operations of a kind still allowed before the power is cut.
    cut_after: Option<(DiskOp, u64)>,
    dirs: BTreeSet<PathBuf>,
    /// The names as the running system sees them.
    names: BTreeMap<PathBuf, Ino>,
    /// The names as of each directory's last fsync.
    durable_names: BTreeMap<PathBuf, Ino>,
    /// Directory changes no directory fsync covered yet, in order.
    pending: Vec<DirOp>,
    inodes: HashMap<Ino, Inode>,
    next_ino: Ino,
    locks: BTreeSet<PathBuf>,
}

fn power_lost() -> io::Error {
    io::Error::other("simulated power loss")
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{}: no such file", path.display()),
    )
}

impl Disk {
    /// Checks that the power is on, for an operation by a handle of `generation`.
    fn check(&self, generation: u64) -> io::Result<()> {
        if self.powered_off || generation != self.generation {
            return Err(power_lost());
        }
        Ok(())
    }

    /// Counts one mutating operation of `kind` against a scheduled power cut.
    fn mutate(&mut self, generation: u64, kind: DiskOp) -> io::Result<()> {
        self.check(generation)?;
        match &mut self.cut_after {
            Some((_, 0)) => {
                self.powered_off = true;
                Err(power_lost())
            }
            Some((counted, n)) if *counted == DiskOp::Any || *counted == kind => {
                *n -= 1;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn inode(&self, path: &Path) -> io::Result<Ino> {
        self.names.get(path).copied().ok_or_else(|| not_found(path))
    }

    fn change(&mut self, op: DirOp) {
        op.apply(&mut self.names);
        self.pending.push(op);
    }

    /// What a power loss leaves of this disk.
    fn survivor(&self, loss: Loss) -> Disk {
        let mut rng = match loss {
            Loss::Random(seed) => Some(fastrand::Rng::with_seed(seed)),
            _ => None,
        };
        let mut names = self.durable_names.clone();
        for op in &self.pending {
            let keep = match (&loss, &mut rng) {
                (Loss::Nothing, _) => true,
                (_, Some(rng)) => rng.bool(),
                _ => false,
            };
            if keep {
                op.apply(&mut names);
            }
        }
        let mut inodes = HashMap::new();
        for ino in names.values() {
            let inode = &self.inodes[ino];
            let data = match (&loss, &mut rng) {
                (Loss::Nothing, _) => inode.data.clone(),
                (_, Some(rng)) => torn_copy(inode, rng),
                _ => inode.data[..inode.durable].to_vec(),
            };
            let durable = data.len();
            inodes.insert(
                *ino,
                Inode {
                    data,
                    durable,
                    unsynced: Vec::new(),
                },
            );
        }
        Disk {
            generation: self.generation + 1,
            dirs: self.dirs.clone(),
            durable_names: names.clone(),
            names,
            inodes,
            next_ino: self.next_ino,
            ..Disk::default()
        }
    }
}

/// The durable bytes of `inode` plus each unsynced write kept, lost or torn at random.
fn torn_copy(inode: &Inode, rng: &mut fastrand::Rng) -> Vec<u8> {
    let mut data = inode.data[..inode.durable].to_vec();
    for &(offset, len) in &inode.unsynced {
        let kept = match rng.u8(0..3) {
            0 => 0,
            1 => len,
            _ => rng.usize(0..=len),
        };
        if kept == 0 {
            continue;
        }
        if data.len() < offset + kept {
            data.resize(offset + kept, 0);
        }
        data[offset..offset + kept].copy_from_slice(&inode.data[offset..offset + kept]);
    }
    data
}

/// The simulated disk (see the module docs). Cheap to clone: clones share the disk.
#[derive(Debug, Clone, Default)]
pub struct SimFs {
    disk: Arc<Mutex<Disk>>,
}

impl SimFs {
    pub fn new() -> SimFs {
        SimFs::default()
    }

    /// Cuts the power right after `n` more operations of kind `op` complete (`n = 0`: before
    /// the next operation): the operation after them fails, and so does everything after it
    /// until [`SimFs::restart`].
    pub fn cut_power_after(&self, op: DiskOp, n: u64) {
        self.disk.lock().cut_after = Some((op, n));
    }

    /// Cuts the power now.
    pub fn cut_power(&self) {
        self.disk.lock().powered_off = true;
    }

    /// Whether the power is cut.
    pub fn is_powered_off(&self) -> bool {
        self.disk.lock().powered_off
    }

    /// Powers the disk on again with what the power loss kept (`loss` decides what an fsync did
    /// not cover). Cuts the power first if it was on, so this is also "crash now".
    pub fn restart(&self, loss: Loss) {
        let mut disk = self.disk.lock();
        *disk = disk.survivor(loss);
    }

    /// A new disk holding what a power loss right now would keep; this one is left as it is.
    pub fn crashed_copy(&self, loss: Loss) -> SimFs {
        let survivor = self.disk.lock().survivor(loss);
        SimFs {
            disk: Arc::new(Mutex::new(survivor)),
        }
    }

    /// The current content of the file at `path` (for tests that look at the bytes).
    pub fn contents(&self, path: &Path) -> io::Result<Vec<u8>> {
        let disk = self.disk.lock();
        let ino = disk.inode(path)?;
        Ok(disk.inodes[&ino].data.clone())
    }

    /// Replaces the content of the file at `path` as durable bytes (for tests that damage a
    /// file, as a bad disk would).
    pub fn set_contents(&self, path: &Path, data: Vec<u8>) -> io::Result<()> {
        let mut disk = self.disk.lock();
        let ino = disk.inode(path)?;
        let durable = data.len();
        disk.inodes.insert(
            ino,
            Inode {
                data,
                durable,
                unsynced: Vec::new(),
            },
        );
        Ok(())
    }

    #[cfg(test)]
    fn generation(&self) -> u64 {
        self.disk.lock().generation
    }
}

#[derive(Debug)]
struct SimFile {
    disk: Arc<Mutex<Disk>>,
    ino: Ino,
    generation: u64,
}

impl SimFile {
    fn sync(&self) -> io::Result<()> {
        let mut disk = self.disk.lock();
        disk.mutate(self.generation, DiskOp::Sync)?;
        let inode = disk.inodes.get_mut(&self.ino).expect("open inode");
        inode.durable = inode.data.len();
        inode.unsynced.clear();
        Ok(())
    }
}

impl FileIo for SimFile {
    fn append(&self, buf: &[u8]) -> io::Result<()> {
        let mut disk = self.disk.lock();
        disk.mutate(self.generation, DiskOp::Write)?;
        let inode = disk.inodes.get_mut(&self.ino).expect("open inode");
        inode.unsynced.push((inode.data.len(), buf.len()));
        inode.data.extend_from_slice(buf);
        Ok(())
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let disk = self.disk.lock();
        disk.check(self.generation)?;
        let data = &disk.inodes[&self.ino].data;
        let range = usize::try_from(offset)
            .ok()
            .and_then(|start| Some(start..start.checked_add(buf.len())?))
            .filter(|r| r.end <= data.len())
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        buf.copy_from_slice(&data[range]);
        Ok(())
    }
    fn size(&self) -> io::Result<u64> {
        let disk = self.disk.lock();
        disk.check(self.generation)?;
        Ok(disk.inodes[&self.ino].data.len() as u64)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.sync()
    }
    fn sync_all(&self) -> io::Result<()> {
        self.sync()
    }
}

/// Releases a lock taken in the same generation (a restart already released the older ones).
#[derive(Debug)]
struct SimLock {
    disk: Arc<Mutex<Disk>>,
    path: PathBuf,
    generation: u64,
}

impl Drop for SimLock {
    fn drop(&mut self) {
        let mut disk = self.disk.lock();
        if disk.generation == self.generation {
            disk.locks.remove(&self.path);
        }
    }
}

impl Fs for SimFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut disk = self.disk.lock();
        disk.check(disk.generation)?;
        for dir in dir.ancestors() {
            disk.dirs.insert(dir.to_path_buf());
        }
        Ok(())
    }
    fn create_new(&self, path: &Path) -> io::Result<Arc<dyn FileIo>> {
        let mut disk = self.disk.lock();
        let generation = disk.generation;
        disk.mutate(generation, DiskOp::Create)?;
        let parent = path.parent().unwrap_or(Path::new(""));
        if !disk.dirs.contains(parent) {
            return Err(not_found(parent));
        }
        if disk.names.contains_key(path) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists", path.display()),
            ));
        }
        let ino = disk.next_ino;
        disk.next_ino += 1;
        disk.inodes.insert(ino, Inode::default());
        disk.change(DirOp::Create {
            path: path.to_path_buf(),
            ino,
        });
        Ok(Arc::new(SimFile {
            disk: Arc::clone(&self.disk),
            ino,
            generation,
        }))
    }
    fn open(&self, path: &Path) -> io::Result<Arc<dyn FileIo>> {
        let disk = self.disk.lock();
        disk.check(disk.generation)?;
        Ok(Arc::new(SimFile {
            disk: Arc::clone(&self.disk),
            ino: disk.inode(path)?,
            generation: disk.generation,
        }))
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let disk = self.disk.lock();
        disk.check(disk.generation)?;
        if !disk.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        Ok(disk
            .names
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .collect())
    }
    fn file_size(&self, path: &Path) -> io::Result<u64> {
        let disk = self.disk.lock();
        disk.check(disk.generation)?;
        Ok(disk.inodes[&disk.inode(path)?].data.len() as u64)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut disk = self.disk.lock();
        let generation = disk.generation;
        disk.mutate(generation, DiskOp::Rename)?;
        let ino = disk.inode(from)?;
        disk.change(DirOp::Rename {
            from: from.to_path_buf(),
            to: to.to_path_buf(),
            ino,
        });
        Ok(())
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut disk = self.disk.lock();
        let generation = disk.generation;
        disk.mutate(generation, DiskOp::Remove)?;
        let ino = disk.inode(path)?;
        disk.change(DirOp::Remove {
            path: path.to_path_buf(),
            ino,
        });
        Ok(())
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut disk = self.disk.lock();
        let generation = disk.generation;
        disk.mutate(generation, DiskOp::SyncDir)?;
        let disk = &mut *disk;
        let (now, later): (Vec<DirOp>, Vec<DirOp>) = std::mem::take(&mut disk.pending)
            .into_iter()
            .partition(|op| op.dir() == dir);
        for op in &now {
            op.apply(&mut disk.durable_names);
        }
        disk.pending = later;
        Ok(())
    }
    fn lock(&self, path: &Path) -> io::Result<LockGuard> {
        let mut disk = self.disk.lock();
        disk.check(disk.generation)?;
        if !disk.locks.insert(path.to_path_buf()) {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("{} is held by another engine", path.display()),
            ));
        }
        Ok(Box::new(SimLock {
            disk: Arc::clone(&self.disk),
            path: path.to_path_buf(),
            generation: disk.generation,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        PathBuf::from("/db")
    }

    fn fs_with_dir() -> SimFs {
        let fs = SimFs::new();
        fs.create_dir_all(&dir()).unwrap();
        fs
    }

    #[test]
    fn only_fsynced_bytes_and_names_survive() {
        let fs = fs_with_dir();
        let a = fs.create_new(&dir().join("a")).unwrap();
        a.append(b"synced").unwrap();
        a.sync_data().unwrap();
        a.append(b" lost").unwrap();
        fs.sync_dir(&dir()).unwrap();
        let b = fs.create_new(&dir().join("b")).unwrap();
        b.append(b"contents synced, name not").unwrap();
        b.sync_all().unwrap();

        let copy = fs.crashed_copy(Loss::Unsynced);
        assert_eq!(copy.read(&dir().join("a")).unwrap(), b"synced");
        assert!(
            copy.open(&dir().join("b")).is_err(),
            "b's name was never synced"
        );
        let kept = fs.crashed_copy(Loss::Nothing);
        assert_eq!(kept.read(&dir().join("a")).unwrap(), b"synced lost");
        assert_eq!(
            kept.read(&dir().join("b")).unwrap(),
            b"contents synced, name not"
        );
        // The running disk is untouched.
        assert_eq!(fs.read(&dir().join("a")).unwrap(), b"synced lost");
    }

    #[test]
    fn unsynced_rename_and_remove_may_be_undone() {
        let fs = fs_with_dir();
        let tmp = fs.create_new(&dir().join("tmp")).unwrap();
        tmp.append(b"new").unwrap();
        tmp.sync_all().unwrap();
        fs.sync_dir(&dir()).unwrap();
        fs.rename(&dir().join("tmp"), &dir().join("current"))
            .unwrap();
        let copy = fs.crashed_copy(Loss::Unsynced);
        assert_eq!(copy.list(&dir()).unwrap(), vec!["tmp".to_string()]);
        fs.sync_dir(&dir()).unwrap();
        fs.remove_file(&dir().join("current")).unwrap();
        let copy = fs.crashed_copy(Loss::Unsynced);
        assert_eq!(copy.read(&dir().join("current")).unwrap(), b"new");
        assert!(fs.open(&dir().join("current")).is_err());
    }

    #[test]
    fn a_scheduled_cut_fails_everything_until_restart() {
        let fs = fs_with_dir();
        let f = fs.create_new(&dir().join("f")).unwrap();
        fs.cut_power_after(DiskOp::Any, 2);
        f.append(b"one").unwrap();
        f.sync_data().unwrap();
        assert!(f.append(b"two").is_err());
        assert!(fs.is_powered_off());
        assert!(fs.list(&dir()).is_err());
        fs.sync_dir(&dir()).unwrap_err();
        fs.restart(Loss::Nothing);
        // The name was never made durable by a directory fsync, but Loss::Nothing keeps it.
        assert_eq!(fs.read(&dir().join("f")).unwrap(), b"one");
        assert!(f.append(b"stale handle").is_err());
    }

    #[test]
    fn a_cut_after_the_nth_operation_of_a_kind_counts_only_that_kind() {
        let fs = fs_with_dir();
        let f = fs.create_new(&dir().join("f")).unwrap();
        fs.cut_power_after(DiskOp::Sync, 1);
        f.append(b"a").unwrap();
        f.append(b"b").unwrap();
        f.sync_data().unwrap();
        assert!(fs.rename(&dir().join("f"), &dir().join("g")).is_err());
        fs.restart(Loss::Unsynced);
        // The file's bytes were synced, its name never was.
        assert!(fs.list(&dir()).unwrap().is_empty());
    }

    #[test]
    fn random_loss_is_reproducible_and_leaves_holes_of_zeros() {
        let fs = fs_with_dir();
        let f = fs.create_new(&dir().join("f")).unwrap();
        fs.sync_dir(&dir()).unwrap();
        for i in 0..20u8 {
            f.append(&[i + 1; 4]).unwrap();
        }
        let mut holes = 0;
        for seed in 0..20 {
            let a = fs.crashed_copy(Loss::Random(seed)).read(&dir().join("f"));
            let b = fs.crashed_copy(Loss::Random(seed)).read(&dir().join("f"));
            let a = a.unwrap();
            assert_eq!(a, b.unwrap(), "seed {seed}");
            let full = fs.read(&dir().join("f")).unwrap();
            for (i, byte) in a.iter().enumerate() {
                assert!(
                    *byte == 0 || *byte == full[i],
                    "seed {seed}: invented byte at {i}"
                );
            }
            holes += usize::from(a.contains(&0));
        }
        assert!(holes > 0, "random loss never left a hole");
    }

    #[test]
    fn locks_are_exclusive_and_released_by_drop_or_restart() {
        let fs = fs_with_dir();
        let guard = fs.lock(&dir().join("LOCK")).unwrap();
        assert_eq!(
            fs.lock(&dir().join("LOCK")).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        drop(guard);
        let stale = fs.lock(&dir().join("LOCK")).unwrap();
        fs.restart(Loss::Unsynced);
        let _fresh = fs.lock(&dir().join("LOCK")).unwrap();
        drop(stale); // must not release the new generation's lock
        assert!(fs.lock(&dir().join("LOCK")).is_err());
        assert_eq!(fs.generation(), 1);
    }
}
