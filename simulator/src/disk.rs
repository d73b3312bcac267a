//! The simulated disk under the broker's file store ([`mqttref_broker::store::Disk`]): files
//! in memory, with what a power loss does to a real disk.
//!
//! # Model
//! - A file is an inode: its bytes and how many of them are durable (`synced`). The store only
//!   appends to a file after creating it, so the durable content is always a prefix.
//! - Writes land in the volatile part (the page cache); [`DiskFile::sync_data`] makes every
//!   byte written so far durable.
//! - Names (creations, renames) are volatile until their directory is synced
//!   ([`Disk::sync_dir`]); the durable namespace is what a crash goes back to. An inode no
//!   durable name points to is gone after a crash.
//! - A crash ([`SimDisk::crash`], called by the nemesis when it crashes the broker) keeps, of
//!   each file's unsynced bytes, a prefix of seeded random length: nothing, all of them, or a
//!   write torn anywhere, even inside a record. Handles opened before the crash fail from then
//!   on (the process that held them is gone).
//!
//! One disk lives for the whole run and outlives every broker incarnation; the broker opens its
//! store on it at every (re)start. Everything is ordered (`BTreeMap`) and the crash's choices
//! come from the plan's seed, so a run is reproducible.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use mqttref_broker::store::{Disk, DiskFile};

use crate::rng::Rng;

/// Counters of what the disk saw, for tests and the run's summary.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DiskStats {
    /// Bytes written.
    pub written: u64,
    /// File syncs (`sync_data`/`sync_all`).
    pub syncs: u64,
    /// Crashes.
    pub crashes: u64,
    /// Unsynced bytes lost in crashes.
    pub lost: u64,
    /// Crashes that kept part of an unsynced write (a torn tail).
    pub torn: u64,
}

#[derive(Debug)]
struct Inode {
    data: Vec<u8>,
    /// `data[..synced]` is durable.
    synced: usize,
}

#[derive(Debug)]
struct State {
    inodes: BTreeMap<u64, Inode>,
    /// The namespace as the running process sees it.
    names: BTreeMap<PathBuf, u64>,
    /// The namespace a crash goes back to.
    durable_names: BTreeMap<PathBuf, u64>,
    next_inode: u64,
    /// Bumped by every crash: handles of an earlier generation are dead.
    generation: u64,
    rng: Rng,
    stats: DiskStats,
}

/// The simulated disk; clones share it.
#[derive(Debug, Clone)]
pub struct SimDisk(Arc<Mutex<State>>);

/// A file open for writing on a [`SimDisk`].
#[derive(Debug)]
pub struct SimFile {
    disk: SimDisk,
    inode: u64,
    generation: u64,
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{}: no such file", path.display()),
    )
}

impl SimDisk {
    /// An empty disk whose crashes draw from `seed`.
    pub fn new(seed: u64) -> Self {
        SimDisk(Arc::new(Mutex::new(State {
            inodes: BTreeMap::new(),
            names: BTreeMap::new(),
            durable_names: BTreeMap::new(),
            next_inode: 1,
            generation: 0,
            rng: Rng::new(seed),
            stats: DiskStats::default(),
        })))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // One simulation runs on one thread; a poisoned lock means a host panicked, and the
        // simulation reports that already.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A power loss: every file keeps its synced bytes and a seeded random prefix of the rest
    /// (possibly none, possibly a write torn in the middle), the namespace goes back to its
    /// last synced state, and open handles die.
    pub fn crash(&self) {
        let mut st = self.state();
        let st = &mut *st;
        st.generation += 1;
        st.stats.crashes += 1;
        st.names = st.durable_names.clone();
        let live: std::collections::BTreeSet<u64> = st.names.values().copied().collect();
        st.inodes.retain(|id, _| live.contains(id));
        for inode in st.inodes.values_mut() {
            let unsynced = inode.data.len() - inode.synced;
            if unsynced == 0 {
                continue;
            }
            let kept = usize::try_from(st.rng.range(0, unsynced as u64)).unwrap_or(0);
            if kept > 0 && kept < unsynced {
                st.stats.torn += 1;
            }
            st.stats.lost += (unsynced - kept) as u64;
            inode.data.truncate(inode.synced + kept);
            inode.synced = inode.data.len();
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> DiskStats {
        self.state().stats
    }

    /// The durable content of `path` (what a crash now would leave), if it exists.
    pub fn durable(&self, path: &Path) -> Option<Vec<u8>> {
        let st = self.state();
        let inode = st.inodes.get(st.durable_names.get(path)?)?;
        Some(inode.data[..inode.synced].to_vec())
    }

    fn new_inode(st: &mut State, path: &Path, data: Vec<u8>) -> u64 {
        let id = st.next_inode;
        st.next_inode += 1;
        st.inodes.insert(id, Inode { data, synced: 0 });
        st.names.insert(path.to_owned(), id);
        id
    }

    fn handle(&self, st: &State, inode: u64) -> SimFile {
        SimFile {
            disk: self.clone(),
            inode,
            generation: st.generation,
        }
    }
}

impl Disk for SimDisk {
    type File = SimFile;

    fn create_dir_all(&self, _dir: &Path) -> io::Result<()> {
        // Directories are implicit: a path's parent is its directory.
        Ok(())
    }

    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        let st = self.state();
        Ok(st
            .names
            .get(path)
            .and_then(|id| st.inodes.get(id))
            .map(|i| i.data.clone()))
    }

    fn copy(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut st = self.state();
        let data = st
            .names
            .get(from)
            .and_then(|id| st.inodes.get(id))
            .map(|i| i.data.clone())
            .ok_or_else(|| not_found(from))?;
        st.stats.written += data.len() as u64;
        SimDisk::new_inode(&mut st, to, data);
        Ok(())
    }

    fn create(&self, path: &Path) -> io::Result<SimFile> {
        let mut st = self.state();
        let id = SimDisk::new_inode(&mut st, path, Vec::new());
        Ok(self.handle(&st, id))
    }

    fn open_append(&self, path: &Path) -> io::Result<SimFile> {
        let mut st = self.state();
        let id = match st.names.get(path) {
            Some(id) => *id,
            None => SimDisk::new_inode(&mut st, path, Vec::new()),
        };
        Ok(self.handle(&st, id))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut st = self.state();
        let id = st.names.remove(from).ok_or_else(|| not_found(from))?;
        st.names.insert(to.to_owned(), id);
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut st = self.state();
        let st = &mut *st;
        let in_dir = |p: &Path| p.parent() == Some(dir);
        st.durable_names.retain(|p, _| !in_dir(p));
        for (p, id) in &st.names {
            if in_dir(p) {
                st.durable_names.insert(p.clone(), *id);
            }
        }
        Ok(())
    }
}

impl SimFile {
    fn with_inode<T>(&self, f: impl FnOnce(&mut Inode, &mut DiskStats) -> T) -> io::Result<T> {
        let mut st = self.disk.state();
        let st = &mut *st;
        if st.generation != self.generation {
            return Err(io::Error::other(
                "the disk crashed since this file was opened",
            ));
        }
        let inode = st
            .inodes
            .get_mut(&self.inode)
            .ok_or_else(|| io::Error::other("file removed"))?;
        Ok(f(inode, &mut st.stats))
    }
}

impl DiskFile for SimFile {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.with_inode(|i, stats| {
            i.data.extend_from_slice(buf);
            stats.written += buf.len() as u64;
        })
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.with_inode(|i, stats| {
            i.synced = i.data.len();
            stats.syncs += 1;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    /// Synced bytes survive a crash; unsynced ones survive only as a prefix; a name survives
    /// only once its directory was synced; old handles die.
    #[test]
    fn crash_keeps_synced_and_a_prefix_of_the_rest() {
        for seed in 0..40 {
            let d = SimDisk::new(seed);
            let mut f = d.open_append(&p("/s/log")).unwrap();
            f.write_all(b"durable").unwrap();
            f.sync_data().unwrap();
            d.sync_dir(&p("/s")).unwrap();
            f.write_all(b"-volatile").unwrap();
            let mut g = d.create(&p("/s/new")).unwrap();
            g.write_all(b"x").unwrap();
            g.sync_data().unwrap();
            d.crash();
            let log = d.read(&p("/s/log")).unwrap().unwrap();
            assert!(log.starts_with(b"durable"), "{log:?}");
            assert!(b"durable-volatile".starts_with(&log[..]), "{log:?}");
            assert_eq!(d.read(&p("/s/new")).unwrap(), None, "name never synced");
            assert!(
                f.write_all(b"late").is_err(),
                "handle from before the crash"
            );
        }
        let kept: std::collections::BTreeSet<usize> = (0..40)
            .map(|seed| {
                let d = SimDisk::new(seed);
                let mut f = d.open_append(&p("/s/log")).unwrap();
                d.sync_dir(&p("/s")).unwrap();
                f.write_all(&[7; 100]).unwrap();
                d.crash();
                d.read(&p("/s/log")).unwrap().unwrap().len()
            })
            .collect();
        assert!(kept.len() > 10, "seeds choose different tears: {kept:?}");
    }

    /// The broker's file store on this disk, losing power at every point of a run of commits
    /// (`fsync = "never"`, so every crash drops or tears unsynced batches): recovery never
    /// panics, always yields the state of some committed prefix (a batch is never half
    /// applied), never loses what compaction synced, and reports the tear.
    #[test]
    fn file_store_recovers_a_committed_prefix_after_any_power_loss() {
        use mqttref_broker::store::{FileStorage, FsyncPolicy};
        use mqttref_core::broker::{Session, Storage};
        use mqttref_core::codec::ProtocolVersion;

        let dir = p("/store");
        let mut torn = 0;
        for seed in 0..60 {
            let d = SimDisk::new(seed);
            let (mut st, _) =
                FileStorage::open_on(d.clone(), &dir, FsyncPolicy::Never, 0).expect("opens");
            // Batch i puts session s<i> with expiry i and the expiry of s0 as i: every batch
            // changes two keys, so half a batch would show as s0's expiry disagreeing.
            let batches = 1 + seed % 12;
            for i in 1..=batches {
                st.put_session(Session::new(format!("s{i}"), ProtocolVersion::V5, i as u32));
                if let Some(s0) = st.session_mut("s0") {
                    s0.expiry_interval = i as u32;
                } else {
                    st.put_session(Session::new("s0".into(), ProtocolVersion::V5, i as u32));
                }
                st.commit().expect("commit");
            }
            drop(st);
            d.crash();
            let (st, rec) = FileStorage::open_on(d.clone(), &dir, FsyncPolicy::Never, 0)
                .expect("reopens after a power loss");
            if rec.damage.is_some() || rec.torn_tail > 0 {
                torn += 1;
            }
            let kept = st.session("s0").map_or(0, |s| s.expiry_interval);
            assert!(u64::from(kept) <= batches, "seed {seed}");
            for i in 1..=batches {
                assert_eq!(
                    st.session(&format!("s{i}")).is_some(),
                    i <= u64::from(kept),
                    "seed {seed}: batch {i} applied apart from its batch ({kept} kept)"
                );
            }
            // What the reopening compacted is synced: a second power loss keeps all of it.
            drop(st);
            d.crash();
            let (again, _) = FileStorage::open_on(d, &dir, FsyncPolicy::Never, 0).expect("opens");
            assert_eq!(
                again.session("s0").map_or(0, |s| s.expiry_interval),
                kept,
                "seed {seed}"
            );
        }
        assert!(
            torn > 10,
            "power losses tore the log in only {torn} of 60 runs"
        );
    }

    /// A rename over an existing name is durable only after the directory sync: before it, a
    /// crash brings back the old file.
    #[test]
    fn rename_needs_the_directory_sync() {
        let d = SimDisk::new(1);
        let mut old = d.create(&p("/s/log")).unwrap();
        old.write_all(b"old").unwrap();
        old.sync_all().unwrap();
        d.sync_dir(&p("/s")).unwrap();
        let mut tmp = d.create(&p("/s/log.tmp")).unwrap();
        tmp.write_all(b"new").unwrap();
        tmp.sync_all().unwrap();
        d.rename(&p("/s/log.tmp"), &p("/s/log")).unwrap();
        assert_eq!(d.read(&p("/s/log")).unwrap().unwrap(), b"new");
        d.crash();
        assert_eq!(d.read(&p("/s/log")).unwrap().unwrap(), b"old");
        let mut tmp = d.create(&p("/s/log.tmp")).unwrap();
        tmp.write_all(b"new").unwrap();
        tmp.sync_all().unwrap();
        d.rename(&p("/s/log.tmp"), &p("/s/log")).unwrap();
        d.sync_dir(&p("/s")).unwrap();
        d.crash();
        assert_eq!(d.read(&p("/s/log")).unwrap().unwrap(), b"new");
        assert_eq!(d.read(&p("/s/log.tmp")).unwrap(), None);
    }
}
