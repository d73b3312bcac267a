//! [`FileStorage`]: the engine's [`Storage`] kept in an append-only log file, so sessions,
//! their subscriptions, queued and in-flight messages, inbound QoS 2 state, retained messages,
//! offline session deadlines and wills waiting for their delay survive a restart, a `kill -9`
//! and (with `fsync = "always"`) a power loss.
//!
//! # Shape
//! The state lives in a [`MemoryStorage`] (the engine reads it at memory speed); the store
//! remembers which keys the engine touched since the last [`commit`](FileStorage::commit),
//! and `commit` appends their current values as one *batch* of records followed by a commit
//! record, with one `write` and (per [`FsyncPolicy`]) one `fdatasync`. The driver calls it once
//! per batch of engine steps, before it lets that batch's packets out (see `server.rs`).
//!
//! # File format (`store.log` in the storage directory)
//! An 8-byte header `MQTTREF\x01`, then records: `len: u32 LE`, `crc32(body): u32 LE`,
//! `body` (`len` bytes: a kind byte and its fields). A batch counts only with its commit
//! record: recovery applies records batch by batch, so a crash in the middle of a write never
//! leaves half a batch applied. A record whose checksum fails, that cannot be decoded, or that
//! is cut off is *damage*: recovery keeps every batch before it, reports the file and offset
//! ([`StoreError`]), keeps the damaged file beside the new one (`store.log.damaged`), and
//! writes a clean file. A batch cut off without damage (the last write of a crash) is simply
//! not applied.
//!
//! # Compaction
//! The log grows with every change. When it passes twice the size of the last snapshot plus
//! [`COMPACT_SLACK`], the store writes the whole state as one batch to `store.log.tmp`, syncs
//! it, renames it over `store.log` and syncs the directory: at every moment one of the two
//! files is complete.
//!
//! # The disk underneath
//! Every file operation goes through a [`Disk`]: [`StdDisk`] (`std::fs`) in the broker, a
//! simulated disk in the simulator (writes buffered until synced, lost or torn by a simulated
//! power loss), so the same store code is what the simulator proves durable.
//!
//! # Time
//! The engine's [`Instant`] is milliseconds since the driver's epoch (process start), which
//! means nothing after a restart. Deadlines and message expiry are stored as wall-clock
//! milliseconds since the Unix epoch (`origin` + engine time), and converted back with the new
//! run's origin on load: a session's expiry and a will's delay count the downtime.

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant as ClockInstant;

use mqttref_core::broker::{
    InFlight, MemoryStorage, Message, MessageProps, OutState, Queued, RetainedPending, Session,
    SessionKey, SharedMessage, Storage, SubOpts, Subscription,
};
use mqttref_core::codec::ProtocolVersion;
use mqttref_core::time::Instant;

/// First bytes of a store file: name and format version.
const MAGIC: &[u8; 8] = b"MQTTREF\x01";
/// File name of the log in the storage directory.
pub const LOG_FILE: &str = "store.log";
/// Bytes a log may grow past twice its last snapshot before it is compacted.
pub const COMPACT_SLACK: u64 = 8 * 1024 * 1024;
/// The largest record accepted on load: a length above it is damage, not an allocation.
const MAX_RECORD: u32 = 512 * 1024 * 1024;

/// When [`FileStorage::commit`] makes its writes durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// After every batch, before its acknowledgements leave: nothing acknowledged is lost,
    /// even on power loss.
    Always,
    /// At most once per interval: every batch is written to the OS before its
    /// acknowledgements leave (a `kill -9` loses nothing), a power loss loses at most the
    /// last interval.
    Interval(Duration),
    /// Never: written to the OS before acknowledgements leave (a `kill -9` loses nothing);
    /// a power loss loses whatever the OS had not written.
    Never,
}

/// The file operations [`FileStorage`] needs, so that it can run on a real file system
/// ([`StdDisk`]) or on a simulated disk that loses what was not synced when the simulator
/// crashes the broker. The store only ever appends to its log, writes a snapshot to a new file,
/// renames it over the log and syncs the directory; a disk must keep POSIX's promises for
/// those: data written and then synced ([`DiskFile::sync_data`]) survives a crash, a rename
/// survives once its directory is synced ([`Disk::sync_dir`]), anything else may be lost, and
/// the last unsynced write may be torn.
pub trait Disk: fmt::Debug + Send + 'static {
    /// An open file, for writing.
    type File: DiskFile;
    /// Creates `dir` and its parents if missing.
    ///
    /// # Errors
    /// Whatever the file system reports.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// The whole content of `path`; `None` if it does not exist.
    ///
    /// # Errors
    /// Whatever the file system reports (other than a missing file).
    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>>;
    /// Copies `from` to `to` (created or truncated).
    ///
    /// # Errors
    /// Whatever the file system reports.
    fn copy(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Creates `path` empty (truncating it if it exists), for writing.
    ///
    /// # Errors
    /// Whatever the file system reports.
    fn create(&self, path: &Path) -> io::Result<Self::File>;
    /// Opens `path` for appending (creating it if missing).
    ///
    /// # Errors
    /// Whatever the file system reports.
    fn open_append(&self, path: &Path) -> io::Result<Self::File>;
    /// Renames `from` over `to`, atomically.
    ///
    /// # Errors
    /// Whatever the file system reports.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Makes the entries of `dir` (creations, renames) durable.
    ///
    /// # Errors
    /// Whatever the file system reports.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// A file open for writing on a [`Disk`].
pub trait DiskFile: Send + 'static {
    /// Writes all of `buf` at the end of the file.
    ///
    /// # Errors
    /// Whatever the file system reports; the file may then hold part of `buf`.
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()>;
    /// Makes what was written durable (`fdatasync`).
    ///
    /// # Errors
    /// Whatever the file system reports; nothing written since the last sync may be taken as
    /// durable.
    fn sync_data(&mut self) -> io::Result<()>;
    /// Makes what was written and the file's metadata durable (`fsync`).
    ///
    /// # Errors
    /// As [`DiskFile::sync_data`].
    fn sync_all(&mut self) -> io::Result<()> {
        self.sync_data()
    }
}

/// The real file system (`std::fs`).
#[derive(Debug, Clone, Copy, Default)]
pub struct StdDisk;

impl Disk for StdDisk {
    type File = File;

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }

    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        match File::open(path) {
            Ok(mut f) => {
                let mut bytes = Vec::new();
                f.read_to_end(&mut bytes)?;
                Ok(Some(bytes))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn copy(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::copy(from, to).map(|_| ())
    }

    fn create(&self, path: &Path) -> io::Result<File> {
        File::create(path)
    }

    fn open_append(&self, path: &Path) -> io::Result<File> {
        OpenOptions::new().create(true).append(true).open(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir).and_then(|d| d.sync_all())
    }
}

impl DiskFile for File {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        Write::write_all(self, buf)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        File::sync_data(self)
    }

    fn sync_all(&mut self) -> io::Result<()> {
        File::sync_all(self)
    }
}

/// A store file that could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Reading or writing failed.
    #[error("{path}: {error}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        error: io::Error,
    },
    /// Not a store file (wrong header).
    #[error("{path}: not an mqttref store file (bad header)")]
    BadHeader {
        /// The file.
        path: PathBuf,
    },
    /// A record is damaged: what came before `offset` was recovered, nothing after it.
    #[error("{path}: damaged at byte offset {offset}: {what}; recovered everything before it")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// Byte offset of the damaged record's start.
        offset: u64,
        /// What is wrong.
        what: &'static str,
    },
}

/// What [`FileStorage::open`] found.
#[derive(Debug, Default)]
pub struct Recovery {
    /// Batches applied.
    pub batches: u64,
    /// Damage found (recovery kept everything before it), if any.
    pub damage: Option<StoreError>,
    /// Bytes of a last batch cut off without its commit record (a crash mid-write), not
    /// applied.
    pub torn_tail: u64,
}

/// Counters of the store's work.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StoreStats {
    /// Batches written.
    pub batches: u64,
    /// `fdatasync` calls.
    pub syncs: u64,
    /// Bytes appended.
    pub bytes: u64,
    /// Compactions.
    pub compactions: u64,
}

/// The broker's [`Storage`] in an append-only log file (see the module documentation), on the
/// [`Disk`] `D`.
pub struct FileStorage<D: Disk = StdDisk> {
    mem: MemoryStorage,
    disk: D,
    dir: PathBuf,
    file: D::File,
    policy: FsyncPolicy,
    /// Wall-clock ms (Unix epoch) of the engine's `Instant::ZERO`.
    origin: u64,
    deadlines: BTreeMap<String, Instant>,
    wills: BTreeMap<String, (Instant, Message)>,
    /// Wills of open connections (delay in seconds).
    live_wills: BTreeMap<String, (u32, Message)>,
    dirty_sessions: BTreeSet<String>,
    dirty_retained: BTreeSet<String>,
    dirty_deadlines: BTreeSet<String>,
    dirty_wills: BTreeSet<String>,
    dirty_live_wills: BTreeSet<String>,
    len: u64,
    snapshot_len: u64,
    /// Written but not yet synced.
    unsynced: bool,
    /// From `tokio::time` (the simulator's clock under simulation).
    last_sync: ClockInstant,
    stats: StoreStats,
}

impl<D: Disk> fmt::Debug for FileStorage<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileStorage")
            .field("disk", &self.disk)
            .field("dir", &self.dir)
            .field("policy", &self.policy)
            .field("sessions", &self.mem.session_count())
            .field("retained", &self.mem.retained_count())
            .field("len", &self.len)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// Record kinds.
mod kind {
    pub const COMMIT: u8 = 0;
    pub const PUT_SESSION: u8 = 1;
    pub const DEL_SESSION: u8 = 2;
    pub const PUT_RETAINED: u8 = 3;
    pub const DEL_RETAINED: u8 = 4;
    pub const DEADLINE: u8 = 5;
    pub const WILL: u8 = 6;
    pub const LIVE_WILL: u8 = 7;
}

/// Wall-clock ms now (the real store's clock origin; the simulator passes its own).
pub(crate) fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl FileStorage {
    /// Opens (or creates) the store in `dir` on the real file system, loading what an earlier
    /// run left. The engine's clock is taken to start now (its `Instant::ZERO` is this
    /// moment's wall clock).
    ///
    /// Damage is not an error: it is reported in [`Recovery::damage`] and everything before
    /// it is kept. The file is rewritten clean (compacted) before it is used.
    ///
    /// # Errors
    /// [`StoreError::Io`] if the directory or file cannot be created, read or written;
    /// [`StoreError::BadHeader`] if the file is not a store file (it is left untouched).
    pub fn open(dir: &Path, policy: FsyncPolicy) -> Result<(Self, Recovery), StoreError> {
        Self::open_at(dir, policy, wall_ms())
    }

    /// As [`open`](FileStorage::open), with the engine's `Instant::ZERO` at `origin` (Unix ms).
    ///
    /// # Errors
    /// As [`open`](FileStorage::open).
    pub fn open_at(
        dir: &Path,
        policy: FsyncPolicy,
        origin: u64,
    ) -> Result<(Self, Recovery), StoreError> {
        FileStorage::open_on(StdDisk, dir, policy, origin)
    }
}

impl<D: Disk> FileStorage<D> {
    /// As [`FileStorage::open_at`], on `disk`.
    ///
    /// # Errors
    /// As [`FileStorage::open`].
    pub fn open_on(
        disk: D,
        dir: &Path,
        policy: FsyncPolicy,
        origin: u64,
    ) -> Result<(Self, Recovery), StoreError> {
        let io_err = |path: &Path| {
            let path = path.to_owned();
            move |error| StoreError::Io {
                path: path.clone(),
                error,
            }
        };
        disk.create_dir_all(dir).map_err(io_err(dir))?;
        let path = dir.join(LOG_FILE);
        let mut loaded = Loaded::default();
        let mut recovery = Recovery::default();
        if let Some(bytes) = disk.read(&path).map_err(io_err(&path))? {
            recovery = load(&path, &bytes, origin, &mut loaded)?;
        }
        if recovery.damage.is_some() {
            // Kept for whoever wants to look at it; the clean file replaces it below.
            let aside = dir.join(format!("{LOG_FILE}.damaged"));
            disk.copy(&path, &aside).map_err(io_err(&aside))?;
        }
        let file = disk.open_append(&path).map_err(io_err(&path))?;
        let mut store = FileStorage {
            mem: loaded.mem,
            disk,
            dir: dir.to_owned(),
            file,
            policy,
            origin,
            deadlines: loaded.deadlines,
            wills: loaded.wills,
            live_wills: loaded.live_wills,
            dirty_sessions: BTreeSet::new(),
            dirty_retained: BTreeSet::new(),
            dirty_deadlines: BTreeSet::new(),
            dirty_wills: BTreeSet::new(),
            dirty_live_wills: BTreeSet::new(),
            len: 0,
            snapshot_len: 0,
            unsynced: false,
            last_sync: ClockInstant::now(),
            stats: StoreStats::default(),
        };
        store.compact()?;
        Ok((store, recovery))
    }

    /// The disk underneath.
    pub fn disk(&self) -> &D {
        &self.disk
    }

    /// The log file's path.
    pub fn path(&self) -> PathBuf {
        self.dir.join(LOG_FILE)
    }

    /// Counters so far.
    pub fn stats(&self) -> StoreStats {
        self.stats
    }

    /// Writes everything the engine changed since the last call as one batch, and syncs it
    /// per the [`FsyncPolicy`]. Returns whether it synced. Nothing changed: nothing written.
    ///
    /// # Errors
    /// [`StoreError::Io`]: the write or sync failed; the batch must be taken as not durable.
    pub fn commit(&mut self) -> Result<bool, StoreError> {
        let mut batch = Vec::new();
        for id in std::mem::take(&mut self.dirty_sessions) {
            match self.mem.session(&id) {
                Some(s) => record(&mut batch, kind::PUT_SESSION, |e| {
                    enc_session(e, s, self.origin)
                }),
                None => record(&mut batch, kind::DEL_SESSION, |e| e.str(&id)),
            }
        }
        for topic in std::mem::take(&mut self.dirty_retained) {
            match self.mem.retained(&topic) {
                Some(m) => record(&mut batch, kind::PUT_RETAINED, |e| {
                    enc_message(e, m, self.origin)
                }),
                None => record(&mut batch, kind::DEL_RETAINED, |e| e.str(&topic)),
            }
        }
        for id in std::mem::take(&mut self.dirty_deadlines) {
            let at = self.deadlines.get(&id).copied();
            record(&mut batch, kind::DEADLINE, |e| {
                e.str(&id);
                e.opt(at, |e, t| e.u64(self.origin + t.as_millis()));
            });
        }
        for id in std::mem::take(&mut self.dirty_wills) {
            let will = self.wills.get(&id);
            record(&mut batch, kind::WILL, |e| {
                e.str(&id);
                e.opt(will, |e, (t, m)| {
                    e.u64(self.origin + t.as_millis());
                    enc_message(e, m, self.origin);
                });
            });
        }
        for id in std::mem::take(&mut self.dirty_live_wills) {
            let will = self.live_wills.get(&id);
            record(&mut batch, kind::LIVE_WILL, |e| {
                e.str(&id);
                e.opt(will, |e, (d, m)| {
                    e.u32(*d);
                    enc_message(e, m, self.origin);
                });
            });
        }
        if !batch.is_empty() {
            record(&mut batch, kind::COMMIT, |_| {});
            let path = self.path();
            self.file
                .write_all(&batch)
                .map_err(|error| StoreError::Io { path, error })?;
            self.len += batch.len() as u64;
            self.stats.batches += 1;
            self.stats.bytes += batch.len() as u64;
            self.unsynced = true;
        }
        let synced = self.sync_if_due()?;
        if self.len > 2 * self.snapshot_len + COMPACT_SLACK {
            self.compact()?;
        }
        Ok(synced)
    }

    /// Syncs unsynced writes if the policy says so now.
    fn sync_if_due(&mut self) -> Result<bool, StoreError> {
        let due = self.unsynced
            && match self.policy {
                FsyncPolicy::Always => true,
                FsyncPolicy::Interval(d) => self.last_sync.elapsed() >= d,
                FsyncPolicy::Never => false,
            };
        if due {
            self.sync()?;
        }
        Ok(due)
    }

    /// Syncs unsynced writes now (for the `interval` policy's timer, and shutdown).
    ///
    /// # Errors
    /// [`StoreError::Io`].
    pub fn sync(&mut self) -> Result<(), StoreError> {
        if !self.unsynced {
            return Ok(());
        }
        let path = self.path();
        self.file
            .sync_data()
            .map_err(|error| StoreError::Io { path, error })?;
        self.unsynced = false;
        self.last_sync = ClockInstant::now();
        self.stats.syncs += 1;
        Ok(())
    }

    /// When the `interval` policy wants its next sync, if writes are waiting for one
    /// (`tokio::time`'s clock).
    pub fn sync_due_at(&self) -> Option<ClockInstant> {
        match self.policy {
            FsyncPolicy::Interval(d) if self.unsynced => Some(self.last_sync + d),
            _ => None,
        }
    }

    /// Rewrites the whole state as one batch into a new file that replaces the log.
    fn compact(&mut self) -> Result<(), StoreError> {
        let mut batch = Vec::from(&MAGIC[..]);
        for id in self.mem.session_ids() {
            if let Some(s) = self.mem.session(&id) {
                record(&mut batch, kind::PUT_SESSION, |e| {
                    enc_session(e, s, self.origin)
                });
            }
        }
        let origin = self.origin;
        self.mem.for_each_retained(&mut |m| {
            record(&mut batch, kind::PUT_RETAINED, |e| {
                enc_message(e, m, origin)
            });
        });
        for (id, t) in &self.deadlines {
            record(&mut batch, kind::DEADLINE, |e| {
                e.str(id);
                e.opt(Some(*t), |e, t| e.u64(origin + t.as_millis()));
            });
        }
        for (id, w) in &self.wills {
            record(&mut batch, kind::WILL, |e| {
                e.str(id);
                e.opt(Some(w), |e, (t, m)| {
                    e.u64(origin + t.as_millis());
                    enc_message(e, m, origin);
                });
            });
        }
        for (id, w) in &self.live_wills {
            record(&mut batch, kind::LIVE_WILL, |e| {
                e.str(id);
                e.opt(Some(w), |e, (d, m)| {
                    e.u32(*d);
                    enc_message(e, m, origin);
                });
            });
        }
        record(&mut batch, kind::COMMIT, |_| {});
        // What is dirty is in the snapshot now.
        self.dirty_sessions.clear();
        self.dirty_retained.clear();
        self.dirty_deadlines.clear();
        self.dirty_wills.clear();
        self.dirty_live_wills.clear();
        let path = self.path();
        let tmp = self.dir.join(format!("{LOG_FILE}.tmp"));
        let io_err = |p: &Path| {
            let p = p.to_owned();
            move |error| StoreError::Io {
                path: p.clone(),
                error,
            }
        };
        {
            let mut f = self.disk.create(&tmp).map_err(io_err(&tmp))?;
            f.write_all(&batch).map_err(io_err(&tmp))?;
            f.sync_all().map_err(io_err(&tmp))?;
        }
        self.disk.rename(&tmp, &path).map_err(io_err(&path))?;
        // The rename itself is durable only once the directory is synced.
        self.disk.sync_dir(&self.dir).map_err(io_err(&self.dir))?;
        self.file = self.disk.open_append(&path).map_err(io_err(&path))?;
        self.len = batch.len() as u64;
        self.snapshot_len = self.len;
        self.unsynced = false;
        self.last_sync = ClockInstant::now();
        self.stats.compactions += 1;
        self.stats.syncs += 1;
        Ok(())
    }

    fn touch(&mut self, client_id: &str) {
        if !self.dirty_sessions.contains(client_id) {
            self.dirty_sessions.insert(client_id.to_owned());
        }
    }
}

impl<D: Disk> Storage for FileStorage<D> {
    fn session(&self, client_id: &str) -> Option<&Session> {
        self.mem.session(client_id)
    }
    fn session_mut(&mut self, client_id: &str) -> Option<&mut Session> {
        // Every mutable access counts as a change: the engine does not report them all.
        self.touch(client_id);
        self.mem.session_mut(client_id)
    }
    fn put_session(&mut self, session: Session) {
        self.touch(&session.client_id);
        self.mem.put_session(session);
    }
    fn remove_session(&mut self, client_id: &str) -> Option<Session> {
        self.touch(client_id);
        self.mem.remove_session(client_id)
    }
    fn session_key(&self, client_id: &str) -> Option<SessionKey> {
        self.mem.session_key(client_id)
    }
    fn session_by_key(&self, key: SessionKey) -> Option<&Session> {
        self.mem.session_by_key(key)
    }
    fn session_by_key_mut(&mut self, key: SessionKey) -> Option<&mut Session> {
        let id = self.mem.session_by_key(key)?.client_id.clone();
        self.dirty_sessions.insert(id);
        self.mem.session_by_key_mut(key)
    }
    fn session_updated(&mut self, client_id: &str) {
        self.touch(client_id);
    }
    fn session_count(&self) -> usize {
        self.mem.session_count()
    }
    fn retained(&self, topic: &str) -> Option<&Message> {
        self.mem.retained(topic)
    }
    fn set_retained(&mut self, topic: &str, msg: Option<Message>) {
        self.dirty_retained.insert(topic.to_owned());
        self.mem.set_retained(topic, msg);
    }
    fn retained_count(&self) -> usize {
        self.mem.retained_count()
    }
    fn for_each_retained(&self, f: &mut dyn FnMut(&Message)) {
        self.mem.for_each_retained(f);
    }
    fn session_ids(&self) -> Vec<String> {
        self.mem.session_ids()
    }
    fn set_session_deadline(&mut self, client_id: &str, at: Option<Instant>) {
        match at {
            Some(t) => self.deadlines.insert(client_id.to_owned(), t),
            None => self.deadlines.remove(client_id),
        };
        self.dirty_deadlines.insert(client_id.to_owned());
    }
    fn set_pending_will(&mut self, client_id: &str, will: Option<(Instant, &Message)>) {
        match will {
            Some((t, m)) => self.wills.insert(client_id.to_owned(), (t, m.clone())),
            None => self.wills.remove(client_id),
        };
        self.dirty_wills.insert(client_id.to_owned());
    }
    fn set_live_will(&mut self, client_id: &str, will: Option<(u32, &Message)>) {
        let changed = match will {
            Some((d, m)) => {
                self.live_wills.insert(client_id.to_owned(), (d, m.clone()));
                true
            }
            None => self.live_wills.remove(client_id).is_some(),
        };
        if changed {
            self.dirty_live_wills.insert(client_id.to_owned());
        }
    }
    fn saved_live_wills(&self) -> Vec<(String, u32, Message)> {
        self.live_wills
            .iter()
            .map(|(k, (d, m))| (k.clone(), *d, m.clone()))
            .collect()
    }
    fn saved_session_deadlines(&self) -> Vec<(String, Instant)> {
        self.deadlines
            .iter()
            .map(|(k, t)| (k.clone(), *t))
            .collect()
    }
    fn saved_pending_wills(&self) -> Vec<(String, Instant, Message)> {
        self.wills
            .iter()
            .map(|(k, (t, m))| (k.clone(), *t, m.clone()))
            .collect()
    }
}

/// What the engine task needs of a store beside [`Storage`]: to make a batch of engine steps'
/// changes durable before the packets of that batch leave (see `server.rs`).
pub trait Durable: Storage {
    /// Writes (and syncs, per its policy) every change since the last call.
    ///
    /// # Errors
    /// [`StoreError::Io`]: the changes are not durable; the broker stops rather than
    /// acknowledge them.
    fn commit(&mut self) -> Result<(), StoreError>;
    /// Whether the engine task should gather every waiting input into one batch per commit
    /// (a store that syncs), or handle inputs one at a time as it always did (memory: no
    /// commit to share, and the simulator's traces stay as they were).
    fn group_commit(&self) -> bool {
        false
    }
    /// When written but unsynced changes are due for a sync (the `interval` policy's timer,
    /// on `tokio::time`'s clock).
    fn sync_due_at(&self) -> Option<ClockInstant> {
        None
    }
    /// Syncs written changes now.
    ///
    /// # Errors
    /// As [`Durable::commit`].
    fn sync_now(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Counters, for the periodic log line (`None`: nothing to report).
    fn store_stats(&self) -> Option<StoreStats> {
        None
    }
}

/// Nothing to make durable: the in-memory store loses everything with the process anyway.
impl Durable for MemoryStorage {
    fn commit(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}

impl<D: Disk> Durable for FileStorage<D> {
    fn commit(&mut self) -> Result<(), StoreError> {
        FileStorage::commit(self).map(|_| ())
    }
    fn group_commit(&self) -> bool {
        true
    }
    fn sync_due_at(&self) -> Option<ClockInstant> {
        FileStorage::sync_due_at(self)
    }
    fn sync_now(&mut self) -> Result<(), StoreError> {
        self.sync()
    }
    fn store_stats(&self) -> Option<StoreStats> {
        Some(self.stats)
    }
}

// ---- loading ----

/// The state a log replays into.
#[derive(Default)]
struct Loaded {
    mem: MemoryStorage,
    deadlines: BTreeMap<String, Instant>,
    wills: BTreeMap<String, (Instant, Message)>,
    live_wills: BTreeMap<String, (u32, Message)>,
}

/// One decoded record.
enum Op {
    PutSession(Session),
    DelSession(String),
    PutRetained(Message),
    DelRetained(String),
    Deadline(String, Option<Instant>),
    Will(String, Option<(Instant, Message)>),
    LiveWill(String, Option<(u32, Message)>),
}

/// Replays `bytes` (the whole file) into `into`, batch by batch.
fn load(path: &Path, bytes: &[u8], origin: u64, into: &mut Loaded) -> Result<Recovery, StoreError> {
    if bytes.len() < MAGIC.len() {
        // A crash while the first snapshot was written cannot leave this (it is renamed into
        // place complete); an empty file is a store with nothing in it.
        if bytes.is_empty() || MAGIC.starts_with(bytes) {
            return Ok(Recovery::default());
        }
        return Err(StoreError::BadHeader {
            path: path.to_owned(),
        });
    }
    if &bytes[..MAGIC.len()] != MAGIC {
        return Err(StoreError::BadHeader {
            path: path.to_owned(),
        });
    }
    let mut rec = Recovery::default();
    let mut pos = MAGIC.len();
    let mut batch: Vec<Op> = Vec::new();
    let mut batch_start = pos;
    let damaged = |offset: usize, what| StoreError::Damaged {
        path: path.to_owned(),
        offset: offset as u64,
        what,
    };
    while pos < bytes.len() {
        let start = pos;
        let Some(head) = bytes.get(pos..pos + 8) else {
            rec.damage = Some(damaged(start, "record header cut off"));
            break;
        };
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        if len == 0 || len > MAX_RECORD {
            rec.damage = Some(damaged(start, "impossible record length"));
            break;
        }
        let end = pos + 8 + len as usize;
        let Some(body) = bytes.get(pos + 8..end) else {
            rec.damage = Some(damaged(start, "record cut off"));
            break;
        };
        if crc32fast::hash(body) != crc {
            rec.damage = Some(damaged(start, "checksum mismatch"));
            break;
        }
        pos = end;
        let mut d = Dec { buf: body, pos: 0 };
        let op = match decode_op(&mut d, origin) {
            Ok(op) if d.pos == body.len() => op,
            Ok(_) => {
                rec.damage = Some(damaged(start, "record longer than its contents"));
                break;
            }
            Err(what) => {
                rec.damage = Some(damaged(start, what));
                break;
            }
        };
        match op {
            None => {
                apply(into, std::mem::take(&mut batch));
                rec.batches += 1;
                batch_start = pos;
            }
            Some(op) => batch.push(op),
        }
    }
    if rec.damage.is_none() && !batch.is_empty() {
        rec.torn_tail = (bytes.len() - batch_start) as u64;
    }
    Ok(rec)
}

fn apply(into: &mut Loaded, ops: Vec<Op>) {
    for op in ops {
        match op {
            Op::PutSession(s) => into.mem.put_session(s),
            Op::DelSession(id) => {
                into.mem.remove_session(&id);
            }
            Op::PutRetained(m) => {
                let topic = m.topic.clone();
                into.mem.set_retained(&topic, Some(m));
            }
            Op::DelRetained(t) => into.mem.set_retained(&t, None),
            Op::Deadline(id, Some(t)) => {
                into.deadlines.insert(id, t);
            }
            Op::Deadline(id, None) => {
                into.deadlines.remove(&id);
            }
            Op::Will(id, Some(w)) => {
                into.wills.insert(id, w);
            }
            Op::Will(id, None) => {
                into.wills.remove(&id);
            }
            Op::LiveWill(id, Some(w)) => {
                into.live_wills.insert(id, w);
            }
            Op::LiveWill(id, None) => {
                into.live_wills.remove(&id);
            }
        }
    }
}

/// A record's operation; `None` for a commit record.
fn decode_op(d: &mut Dec<'_>, origin: u64) -> Result<Option<Op>, &'static str> {
    let wall = |ms: u64| Instant::from_millis(ms.saturating_sub(origin));
    Ok(Some(match d.u8()? {
        kind::COMMIT => return Ok(None),
        kind::PUT_SESSION => Op::PutSession(dec_session(d, origin)?),
        kind::DEL_SESSION => Op::DelSession(d.str()?),
        kind::PUT_RETAINED => Op::PutRetained(dec_message(d, origin)?),
        kind::DEL_RETAINED => Op::DelRetained(d.str()?),
        kind::DEADLINE => {
            let id = d.str()?;
            Op::Deadline(id, d.opt(|d| d.u64().map(wall))?)
        }
        kind::WILL => {
            let id = d.str()?;
            let w = d.opt(|d| {
                let t = wall(d.u64()?);
                Ok((t, dec_message(d, origin)?))
            })?;
            Op::Will(id, w)
        }
        kind::LIVE_WILL => {
            let id = d.str()?;
            let w = d.opt(|d| {
                let delay = d.u32()?;
                Ok((delay, dec_message(d, origin)?))
            })?;
            Op::LiveWill(id, w)
        }
        _ => return Err("unknown record kind"),
    }))
}

// ---- encoding ----

/// Appends one framed record (`len`, `crc32`, kind and what `f` writes) to `out`.
fn record(out: &mut Vec<u8>, kind: u8, f: impl FnOnce(&mut Enc)) {
    let mut e = Enc(vec![kind]);
    f(&mut e);
    let body = e.0;
    let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out.extend_from_slice(&body);
}

struct Enc(Vec<u8>);

impl Enc {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn len(&mut self, n: usize) {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }
    fn bytes(&mut self, b: &[u8]) {
        self.len(b.len());
        self.0.extend_from_slice(b);
    }
    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    fn bool(&mut self, b: bool) {
        self.u8(u8::from(b));
    }
    fn opt<T>(&mut self, v: Option<T>, f: impl FnOnce(&mut Self, T)) {
        match v {
            Some(v) => {
                self.u8(1);
                f(self, v);
            }
            None => self.u8(0),
        }
    }
}

struct Dec<'a> {
    buf: &'a [u8],
    pos: usize,
}

type DecResult<T> = Result<T, &'static str>;

impl Dec<'_> {
    fn take(&mut self, n: usize) -> DecResult<&[u8]> {
        let end = self.pos.checked_add(n).ok_or("length overflow")?;
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or("field runs past its record")?;
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> DecResult<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> DecResult<u16> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> DecResult<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> DecResult<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    /// A count of items that each take at least `min` bytes: bounded by what is left, so a
    /// damaged count cannot make a huge allocation.
    fn count(&mut self, min: usize) -> DecResult<usize> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min.max(1)) > self.buf.len() - self.pos {
            return Err("count larger than its record");
        }
        Ok(n)
    }
    fn bytes(&mut self) -> DecResult<Vec<u8>> {
        let n = self.u32()? as usize;
        Ok(self.take(n)?.to_vec())
    }
    fn str(&mut self) -> DecResult<String> {
        String::from_utf8(self.bytes()?).map_err(|_| "string is not UTF-8")
    }
    fn bool(&mut self) -> DecResult<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err("bad boolean"),
        }
    }
    fn opt<T>(&mut self, f: impl FnOnce(&mut Self) -> DecResult<T>) -> DecResult<Option<T>> {
        match self.u8()? {
            0 => Ok(None),
            1 => f(self).map(Some),
            _ => Err("bad option tag"),
        }
    }
}

fn enc_message(e: &mut Enc, m: &Message, origin: u64) {
    e.str(&m.topic);
    e.bytes(&m.payload);
    e.u8(m.qos);
    e.bool(m.retain);
    let p = &m.props;
    e.opt(p.payload_format, Enc::u8);
    e.opt(p.message_expiry, Enc::u32);
    e.opt(p.content_type.as_deref(), Enc::str);
    e.opt(p.response_topic.as_deref(), Enc::str);
    e.opt(p.correlation_data.as_deref(), Enc::bytes);
    e.len(p.user.len());
    for (k, v) in &p.user {
        e.str(k);
        e.str(v);
    }
    e.opt(m.expires_at, |e, t| e.u64(origin + t.as_millis()));
    e.opt(m.publisher.as_deref(), Enc::str);
}

fn dec_message(d: &mut Dec<'_>, origin: u64) -> DecResult<Message> {
    let topic = d.str()?;
    let payload = d.bytes()?;
    let qos = d.u8()?;
    let retain = d.bool()?;
    let payload_format = d.opt(Dec::u8)?;
    let message_expiry = d.opt(Dec::u32)?;
    let content_type = d.opt(Dec::str)?;
    let response_topic = d.opt(Dec::str)?;
    let correlation_data = d.opt(Dec::bytes)?;
    let n = d.count(8)?;
    let mut user = Vec::with_capacity(n);
    for _ in 0..n {
        user.push((d.str()?, d.str()?));
    }
    let expires_at = d.opt(|d| Ok(Instant::from_millis(d.u64()?.saturating_sub(origin))))?;
    let publisher = d.opt(Dec::str)?;
    if qos > 2 {
        return Err("bad QoS");
    }
    Ok(Message {
        topic,
        payload: payload.into(),
        qos,
        retain,
        props: MessageProps {
            payload_format,
            message_expiry,
            content_type,
            response_topic,
            correlation_data,
            user,
        },
        expires_at,
        publisher,
    })
}

fn enc_queued(e: &mut Enc, q: &Queued, origin: u64) {
    enc_message(e, &q.msg, origin);
    e.u8(q.qos);
    e.bool(q.retain);
    e.len(q.sub_ids.len());
    for id in &q.sub_ids {
        e.u32(*id);
    }
}

fn dec_queued(d: &mut Dec<'_>, origin: u64) -> DecResult<Queued> {
    let msg = SharedMessage::new(dec_message(d, origin)?);
    let qos = d.u8()?;
    let retain = d.bool()?;
    let n = d.count(4)?;
    let mut sub_ids = Vec::with_capacity(n);
    for _ in 0..n {
        sub_ids.push(d.u32()?);
    }
    Ok(Queued {
        msg,
        qos,
        retain,
        sub_ids,
    })
}

fn enc_session(e: &mut Enc, s: &Session, origin: u64) {
    e.str(&s.client_id);
    e.u8(match s.version {
        ProtocolVersion::V3_1_1 => 4,
        ProtocolVersion::V5 => 5,
    });
    e.u32(s.expiry_interval);
    e.len(s.subscriptions.len());
    for (filter, sub) in &s.subscriptions {
        e.str(filter);
        e.u8(sub.opts.qos);
        e.bool(sub.opts.no_local);
        e.bool(sub.opts.retain_as_published);
        e.u8(sub.opts.retain_handling);
        e.opt(sub.id, Enc::u32);
    }
    e.len(s.inflight.len());
    for (pid, f) in &s.inflight {
        e.u16(*pid);
        enc_queued(e, &f.item, origin);
        e.u8(match f.state {
            OutState::Qos1Sent => 1,
            OutState::Qos2Sent => 2,
            OutState::Released => 3,
        });
        e.u64(f.seq);
    }
    e.u16(s.next_pid);
    e.u64(s.next_seq);
    e.len(s.queue.len());
    for q in &s.queue {
        enc_queued(e, q, origin);
    }
    e.u64(s.queue_bytes as u64);
    e.len(s.inbound_qos2.len());
    for pid in &s.inbound_qos2 {
        e.u16(*pid);
    }
    e.len(s.retained_backlog.len());
    for r in &s.retained_backlog {
        e.str(&r.topic);
        e.u64(r.version);
        e.u8(r.qos);
        e.opt(r.sub_id, Enc::u32);
    }
    e.u64(s.dropped);
    e.opt(s.user.as_deref(), Enc::str);
}

fn dec_session(d: &mut Dec<'_>, origin: u64) -> DecResult<Session> {
    let client_id = d.str()?;
    let version = match d.u8()? {
        4 => ProtocolVersion::V3_1_1,
        5 => ProtocolVersion::V5,
        _ => return Err("bad protocol version"),
    };
    let mut s = Session::new(client_id, version, d.u32()?);
    for _ in 0..d.count(9)? {
        let filter = d.str()?;
        let opts = SubOpts {
            qos: d.u8()?,
            no_local: d.bool()?,
            retain_as_published: d.bool()?,
            retain_handling: d.u8()?,
        };
        let id = d.opt(Dec::u32)?;
        s.subscriptions.insert(filter, Subscription { opts, id });
    }
    for _ in 0..d.count(2)? {
        let pid = d.u16()?;
        let item = dec_queued(d, origin)?;
        let state = match d.u8()? {
            1 => OutState::Qos1Sent,
            2 => OutState::Qos2Sent,
            3 => OutState::Released,
            _ => return Err("bad in-flight state"),
        };
        let seq = d.u64()?;
        s.inflight.insert(pid, InFlight { item, state, seq });
    }
    s.next_pid = d.u16()?;
    s.next_seq = d.u64()?;
    for _ in 0..d.count(8)? {
        s.queue.push_back(dec_queued(d, origin)?);
    }
    s.queue_bytes = usize::try_from(d.u64()?).map_err(|_| "queue size too large")?;
    for _ in 0..d.count(2)? {
        s.inbound_qos2.insert(d.u16()?);
    }
    for _ in 0..d.count(14)? {
        s.retained_backlog.push_back(RetainedPending {
            topic: d.str()?,
            version: d.u64()?,
            qos: d.u8()?,
            sub_id: d.opt(Dec::u32)?,
        });
    }
    s.dropped = d.u64()?;
    s.user = d.opt(Dec::str)?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory under the system's temp dir, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let p =
                std::env::temp_dir().join(format!("mqttref-store-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            TempDir(p)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const ORIGIN: u64 = 1_800_000_000_000;

    fn message(topic: &str, payload: &[u8], qos: u8) -> Message {
        Message {
            topic: topic.into(),
            payload: payload.to_vec().into(),
            qos,
            retain: false,
            props: MessageProps {
                payload_format: Some(1),
                content_type: Some("text/plain".into()),
                correlation_data: Some(vec![0, 1, 2]),
                user: vec![("k".into(), "v".into())],
                ..MessageProps::default()
            },
            expires_at: Some(Instant::from_millis(90_000)),
            publisher: Some("pub".into()),
        }
    }

    fn queued(topic: &str, n: u8) -> Queued {
        Queued {
            msg: SharedMessage::new(message(topic, &[n; 3], 2)),
            qos: 2,
            retain: false,
            sub_ids: vec![7],
        }
    }

    /// A session with something in every field.
    fn session(id: &str, n: u8) -> Session {
        let mut s = Session::new(id.into(), ProtocolVersion::V5, 3600);
        s.subscriptions.insert(
            "a/+".into(),
            Subscription {
                opts: SubOpts {
                    qos: 2,
                    no_local: true,
                    retain_as_published: true,
                    retain_handling: 1,
                },
                id: Some(7),
            },
        );
        s.subscriptions.insert(
            "$share/g/b/#".into(),
            Subscription {
                opts: SubOpts::default(),
                id: None,
            },
        );
        s.inflight.insert(
            5,
            InFlight {
                item: queued("a/x", n),
                state: OutState::Released,
                seq: 3,
            },
        );
        s.next_pid = 6;
        s.next_seq = 4;
        s.queue.push_back(queued("a/y", n));
        s.queue_bytes = 6;
        s.inbound_qos2.insert(9);
        s.retained_backlog.push_back(RetainedPending {
            topic: "a/z".into(),
            version: 2,
            qos: 1,
            sub_id: None,
        });
        s.dropped = 1;
        s.user = Some("alice".into());
        s
    }

    fn open(dir: &Path) -> (FileStorage, Recovery) {
        FileStorage::open_at(dir, FsyncPolicy::Always, ORIGIN).expect("opens")
    }

    /// Two committed batches: the first puts sessions a and b, a retained message, a
    /// deadline and a will; the second changes b and deletes the retained message. Returns
    /// the file's length after the first batch.
    fn two_batches(dir: &Path) -> u64 {
        let (mut st, _) = open(dir);
        st.put_session(session("a", 1));
        st.put_session(session("b", 2));
        st.set_retained("r", Some(message("r", b"kept", 1)));
        st.set_session_deadline("a", Some(Instant::from_millis(5000)));
        st.set_pending_will(
            "b",
            Some((Instant::from_millis(7000), &message("w", b"x", 1))),
        );
        st.set_live_will("a", Some((3, &message("lw", b"l", 1))));
        assert!(st.commit().expect("commit"));
        let first = std::fs::metadata(st.path()).expect("stat").len();
        if let Some(s) = st.session_mut("b") {
            s.queue.clear();
            s.inbound_qos2.insert(10);
        }
        st.set_retained("r", None);
        assert!(st.commit().expect("commit"));
        first
    }

    /// Everything a session holds, retained messages, deadlines and wills come back as they
    /// were committed; message expiry and deadlines keep their wall-clock meaning.
    #[test]
    fn committed_state_comes_back() {
        let dir = TempDir::new("roundtrip");
        two_batches(&dir.0);
        let (st, rec) = open(&dir.0);
        assert!(rec.damage.is_none());
        assert_eq!(rec.torn_tail, 0);
        assert_eq!(st.session("a"), Some(&session("a", 1)));
        let b = st.session("b").expect("b");
        assert!(b.queue.is_empty());
        assert!(b.inbound_qos2.contains(&10));
        assert!(st.retained("r").is_none());
        assert_eq!(
            st.saved_session_deadlines(),
            vec![("a".to_owned(), Instant::from_millis(5000))]
        );
        let wills = st.saved_pending_wills();
        assert_eq!(wills.len(), 1);
        assert_eq!(wills[0].1, Instant::from_millis(7000));
        assert_eq!(wills[0].2, message("w", b"x", 1));
        assert_eq!(
            st.saved_live_wills(),
            vec![("a".to_owned(), 3, message("lw", b"l", 1))]
        );
        // A run that starts 2 s later sees the same deadlines 2 s sooner.
        drop(st);
        let (st, _) = FileStorage::open_at(&dir.0, FsyncPolicy::Always, ORIGIN + 2000).unwrap();
        assert_eq!(
            st.saved_session_deadlines(),
            vec![("a".to_owned(), Instant::from_millis(3000))]
        );
    }

    /// A file cut anywhere inside the second batch: recovery keeps the first batch, reports
    /// the damage (file and offset) or a torn tail, and never panics.
    #[test]
    fn truncated_file_keeps_what_came_before() {
        let dir = TempDir::new("truncate");
        let first = two_batches(&dir.0);
        let path = dir.0.join(LOG_FILE);
        let full = std::fs::read(&path).unwrap();
        for cut in (first as usize + 1)..full.len() {
            std::fs::write(&path, &full[..cut]).unwrap();
            let (st, rec) = open(&dir.0);
            let b = st.session("b").expect("b from the first batch");
            assert_eq!(
                b.queue.len(),
                1,
                "cut at {cut}: the second batch is not applied"
            );
            assert!(st.retained("r").is_some(), "cut at {cut}");
            match rec.damage {
                Some(StoreError::Damaged {
                    path: p, offset, ..
                }) => {
                    assert_eq!(p, path);
                    assert!(offset >= first && offset < cut as u64, "{offset}");
                }
                Some(e) => panic!("cut at {cut}: {e}"),
                // Cut exactly between records: a batch without its commit record.
                None => assert!(rec.torn_tail > 0, "cut at {cut}"),
            }
            // Recovery rewrote the file clean: opening again finds no damage.
            drop(st);
            let (_, again) = open(&dir.0);
            assert!(again.damage.is_none() && again.torn_tail == 0);
            std::fs::write(&path, &full).unwrap();
        }
    }

    /// A flipped bit anywhere in the second batch is caught by its record's checksum (or
    /// framing): reported at that record's offset, the first batch kept, the damaged file
    /// kept beside the clean one.
    #[test]
    fn bit_flip_is_detected_with_file_and_offset() {
        let dir = TempDir::new("bitflip");
        let first = two_batches(&dir.0);
        let path = dir.0.join(LOG_FILE);
        let full = std::fs::read(&path).unwrap();
        for i in (first as usize..full.len()).step_by(7) {
            let mut bad = full.clone();
            bad[i] ^= 0x10;
            std::fs::write(&path, &bad).unwrap();
            let (st, rec) = open(&dir.0);
            let Some(StoreError::Damaged {
                path: p, offset, ..
            }) = &rec.damage
            else {
                panic!("flip at {i} not detected: {:?}", rec.damage);
            };
            assert_eq!(p, &path);
            assert!(
                *offset >= first && *offset <= i as u64,
                "{offset} for a flip at {i}"
            );
            assert!(rec.damage.as_ref().unwrap().to_string().contains("offset"));
            assert_eq!(st.session("b").map(|b| b.queue.len()), Some(1));
            assert!(st.retained("r").is_some());
            assert_eq!(std::fs::read(dir.0.join("store.log.damaged")).unwrap(), bad);
            std::fs::write(&path, &full).unwrap();
        }
        // A flip in the header is not a store file at all.
        let mut bad = full.clone();
        bad[0] ^= 1;
        std::fs::write(&path, &bad).unwrap();
        assert!(matches!(
            FileStorage::open_at(&dir.0, FsyncPolicy::Always, ORIGIN),
            Err(StoreError::BadHeader { .. })
        ));
    }

    /// `interval` writes every batch but syncs at most once per interval, and says when the
    /// next sync is due; `never` never syncs a batch. Both write before returning, so what
    /// they acknowledged survives the process (reopening reads it back).
    #[test]
    fn interval_and_never_policies() {
        let dir = TempDir::new("policies");
        let period = Duration::from_millis(200);
        let (mut st, _) =
            FileStorage::open_at(&dir.0, FsyncPolicy::Interval(period), ORIGIN).unwrap();
        let base = st.stats().syncs;
        assert_eq!(st.sync_due_at(), None, "nothing written");
        st.put_session(session("a", 1));
        assert!(
            !st.commit().unwrap(),
            "the interval has not passed since the open"
        );
        let due = st.sync_due_at().expect("a sync is due later");
        assert!(due > ClockInstant::now());
        st.put_session(session("b", 1));
        assert!(!st.commit().unwrap());
        assert_eq!(st.stats().syncs, base);
        std::thread::sleep(period);
        st.put_session(session("c", 1));
        assert!(
            st.commit().unwrap(),
            "the interval passed: this commit syncs"
        );
        assert_eq!(st.stats().syncs, base + 1);
        assert_eq!(st.sync_due_at(), None);
        drop(st);
        let (mut st, _) = FileStorage::open_at(&dir.0, FsyncPolicy::Never, ORIGIN).unwrap();
        assert_eq!(st.session_count(), 3);
        let base = st.stats().syncs;
        st.put_session(session("d", 1));
        assert!(!st.commit().unwrap());
        assert_eq!(st.sync_due_at(), None, "never: no timer either");
        assert_eq!(st.stats().syncs, base);
        drop(st);
        assert_eq!(open(&dir.0).0.session_count(), 4);
    }

    /// The log is compacted once it outgrows its snapshot; the state survives compaction,
    /// and `always` syncs once per commit that wrote something.
    #[test]
    fn compaction_keeps_the_state() {
        let dir = TempDir::new("compact");
        let (mut st, _) = open(&dir.0);
        let big = vec![0u8; 64 * 1024];
        let mut syncs = st.stats().syncs;
        for i in 0..300u32 {
            st.set_retained("big", Some(message("big", &big, 0)));
            st.put_session(Session::new(format!("c{}", i % 10), ProtocolVersion::V5, i));
            st.commit().unwrap();
            syncs += 1;
        }
        assert!(
            !st.commit().unwrap(),
            "nothing changed: nothing written or synced"
        );
        let stats = st.stats();
        assert!(stats.compactions >= 2, "{stats:?}");
        assert_eq!(stats.syncs, syncs + stats.compactions - 1);
        assert!(std::fs::metadata(st.path()).unwrap().len() < 2 * COMPACT_SLACK + (1 << 20));
        drop(st);
        let (st, rec) = open(&dir.0);
        assert!(rec.damage.is_none());
        assert_eq!(st.session_count(), 10);
        assert_eq!(st.session("c9").map(|s| s.expiry_interval), Some(299));
        assert_eq!(st.retained("big").map(|m| m.payload.len()), Some(big.len()));
    }
}
