//! The state file: the world and the issued authorization keys (with the account each is
//! signed in as), so that a restarted sandbox keeps serving the sessions clients hold,
//! with their history, `pts` and message ids where they were.
//!
//! The file is JSON, written atomically (temporary file, fsync, rename, fsync of the
//! directory). File contents (photos, documents) are immutable and live beside it, one
//! file per blob in `<state file>.files/`, written once before the JSON that refers to
//! them. Not kept: connections, login codes in progress, flood-wait switches, uploads not
//! yet sent.
//!
//! Writes are debounced: a change marks the state dirty and a background task saves at
//! most once per interval (and on shutdown). Key issuance and sign-in/out are saved
//! before the client hears about them, so a crash never loses a key a client holds: they
//! are appended (one JSON line each, fsync'd) to the key journal `<state file>.keys`,
//! which a big world's snapshot would make too slow to rewrite on every login. Each
//! journal line carries a sequence number; the snapshot records the last one it
//! includes, later lines are replayed on load, and the journal is compacted after every
//! snapshot.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::crypto::AuthKey;
use crate::serde_util::base64_bytes;
use crate::state::Shared;
use crate::world::{UserId, World};

/// Bumped when the format changes incompatibly.
const STATE_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct SavedKey {
    #[serde(with = "base64_bytes")]
    auth_key: Vec<u8>,
    user: Option<UserId>,
}

#[derive(Serialize)]
struct SnapshotRef<'a> {
    version: u32,
    /// The last key journal entry the snapshot includes.
    keys_seq: u64,
    keys: Vec<SavedKey>,
    world: &'a World,
}

#[derive(Deserialize)]
struct Snapshot {
    version: u32,
    #[serde(default)]
    keys_seq: u64,
    keys: Vec<SavedKey>,
    world: World,
}

/// One line of the key journal: a key and whom it is signed in as, at `seq`.
#[derive(Serialize, Deserialize)]
struct JournalEntry {
    seq: u64,
    #[serde(flatten)]
    key: SavedKey,
}

/// A state file read back.
pub(crate) struct Loaded {
    pub(crate) world: World,
    /// Each key's latest binding (journal replayed).
    pub(crate) keys: Vec<(AuthKey, Option<UserId>)>,
    /// Where the key journal is: the last sequence number, and its lines still needed.
    journal: JournalState,
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn blob_dir(path: &Path) -> PathBuf {
    sibling(path, ".files")
}

fn journal_path(path: &Path) -> PathBuf {
    sibling(path, ".keys")
}

fn saved_key(bytes: Vec<u8>) -> anyhow::Result<AuthKey> {
    let bytes: [u8; 256] = bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("an auth key in the state file is not 256 bytes"))?;
    Ok(AuthKey::new(bytes))
}

/// The journal lines after `keys_seq`, in order. A torn last line (a crash while
/// appending) is ignored: its call was never answered.
fn read_journal(path: &Path, keys_seq: u64) -> anyhow::Result<Vec<(JournalEntry, String)>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error).with_context(|| format!("reading {}", path.display())),
    };
    let mut entries: Vec<(JournalEntry, String)> = text
        .lines()
        .filter_map(|line| {
            serde_json::from_str::<JournalEntry>(line)
                .ok()
                .map(|entry| (entry, line.to_owned()))
        })
        .filter(|(entry, _)| entry.seq > keys_seq)
        .collect();
    entries.sort_by_key(|(entry, _)| entry.seq);
    Ok(entries)
}

/// Reads the state file, `None` when there is none yet.
pub(crate) fn load(path: &Path) -> anyhow::Result<Option<Loaded>> {
    let text = match fs::read(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error).with_context(|| format!("reading {}", path.display())),
    };
    let snapshot: Snapshot = serde_json::from_slice(&text)
        .with_context(|| format!("parsing the state file {}", path.display()))?;
    anyhow::ensure!(
        snapshot.version == STATE_VERSION,
        "state file {} has version {}, this sandbox reads version {STATE_VERSION}",
        path.display(),
        snapshot.version
    );
    let mut world = snapshot.world;
    world.rebuild_indexes();
    let dir = blob_dir(path);
    for blob in world.referenced_blobs() {
        let file = dir.join(blob.to_string());
        let bytes = fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
        world.blobs.insert(blob, Arc::from(bytes));
    }
    // Snapshot keys, then the journal's later bindings in order: the last one wins.
    let mut keys: Vec<(AuthKey, Option<UserId>)> = Vec::with_capacity(snapshot.keys.len());
    let mut index = std::collections::HashMap::new();
    let journal = read_journal(&journal_path(path), snapshot.keys_seq)?;
    let mut seq = snapshot.keys_seq;
    let mut lines = Vec::with_capacity(journal.len());
    let saved = snapshot.keys.into_iter().map(|k| (k, None));
    let replayed = journal
        .into_iter()
        .map(|(entry, line)| (entry.key, Some((entry.seq, line))));
    for (saved, journaled) in saved.chain(replayed) {
        let key = saved_key(saved.auth_key)?;
        // A key bound to an account that did not make it to disk stays, signed out.
        let user = saved.user.filter(|u| world.user(*u).is_some());
        match index.get(&key.id()) {
            Some(at) => keys[*at] = (key, user),
            None => {
                index.insert(key.id(), keys.len());
                keys.push((key, user));
            }
        }
        if let Some((entry_seq, line)) = journaled {
            seq = seq.max(entry_seq);
            lines.push((entry_seq, line));
        }
    }
    Ok(Some(Loaded {
        world,
        keys,
        journal: JournalState { seq, lines },
    }))
}

/// Writes `bytes` to `path` so that a crash leaves either the old or the new file.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    {
        let mut file = File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    fs::rename(&temporary, path)?;
    // The rename itself is durable once the directory is synced.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// The key journal's lines not yet in a snapshot, and the last sequence number written.
#[derive(Default)]
struct JournalState {
    seq: u64,
    lines: Vec<(u64, String)>,
}

/// Saves the shared state to its file, debounced.
pub(crate) struct Persister {
    path: PathBuf,
    interval: Duration,
    dirty: AtomicBool,
    wake: Notify,
    /// Held while writing, so writes happen one at a time and in snapshot order; holds
    /// the blobs already on disk.
    written: Mutex<HashSet<u64>>,
    /// Journal sequence numbers are taken under the state lock, so that a snapshot
    /// knows exactly which bindings it holds.
    next_seq: AtomicU64,
    journal: Mutex<JournalState>,
}

impl Persister {
    /// `on_disk`: blobs loaded from the file's directory (they need no rewriting);
    /// `loaded`: the state file read back, if it existed.
    pub(crate) fn new(
        path: PathBuf,
        interval: Duration,
        on_disk: HashSet<u64>,
        loaded: Option<&mut Loaded>,
    ) -> Self {
        let journal = loaded
            .map(|l| std::mem::take(&mut l.journal))
            .unwrap_or_default();
        Self {
            path,
            interval,
            dirty: AtomicBool::new(false),
            wake: Notify::new(),
            written: Mutex::new(on_disk),
            next_seq: AtomicU64::new(journal.seq + 1),
            journal: Mutex::new(journal),
        }
    }

    /// Appends the current binding of each key to the key journal (fsync'd) and marks
    /// the state dirty, so that the next snapshot takes them in. Blocks on disk I/O.
    pub(crate) fn journal_keys_blocking(
        &self,
        shared: &Shared,
        key_ids: &[u64],
    ) -> anyhow::Result<()> {
        let entries: Vec<JournalEntry> = {
            let state = shared.lock();
            key_ids
                .iter()
                .filter_map(|id| state.keys.get(id))
                .map(|record| JournalEntry {
                    seq: self.next_seq.fetch_add(1, Ordering::AcqRel),
                    key: SavedKey {
                        auth_key: record.key.bytes().to_vec(),
                        user: record.user,
                    },
                })
                .collect()
        };
        let mut journal = self.journal.lock().unwrap_or_else(PoisonError::into_inner);
        let path = journal_path(&self.path);
        let mut file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        let mut text = String::new();
        let mut lines = Vec::with_capacity(entries.len());
        for entry in &entries {
            let line = serde_json::to_string(entry)?;
            text.push_str(&line);
            text.push('\n');
            lines.push((entry.seq, line));
        }
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_data())
            .with_context(|| format!("appending to {}", path.display()))?;
        for entry in &entries {
            journal.seq = journal.seq.max(entry.seq);
        }
        journal.lines.extend(lines);
        drop(journal);
        self.mark_dirty();
        Ok(())
    }

    /// [`Persister::journal_keys_blocking`] without blocking the runtime.
    pub(crate) async fn journal_keys(
        self: &Arc<Self>,
        shared: &Arc<Shared>,
        key_ids: Vec<u64>,
    ) -> anyhow::Result<()> {
        let persister = Arc::clone(self);
        let shared = Arc::clone(shared);
        tokio::task::spawn_blocking(move || persister.journal_keys_blocking(&shared, &key_ids))
            .await
            .context("the journal task panicked")?
    }

    /// Drops the journal lines a snapshot now holds (those up to `keys_seq`).
    fn compact_journal(&self, keys_seq: u64) -> anyhow::Result<()> {
        let mut journal = self.journal.lock().unwrap_or_else(PoisonError::into_inner);
        if journal.lines.iter().all(|(seq, _)| *seq > keys_seq) {
            return Ok(());
        }
        journal.lines.retain(|(seq, _)| *seq > keys_seq);
        let text: String = journal
            .lines
            .iter()
            .map(|(_, line)| format!("{line}\n"))
            .collect();
        let path = journal_path(&self.path);
        write_atomically(&path, text.as_bytes())
            .with_context(|| format!("compacting {}", path.display()))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Something changed: save within the interval.
    pub(crate) fn mark_dirty(&self) {
        self.dirty.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    /// Saves now, on the calling thread (it blocks on disk I/O).
    pub(crate) fn save_blocking(&self, shared: &Shared) -> anyhow::Result<()> {
        let mut written = self.written.lock().unwrap_or_else(PoisonError::into_inner);
        self.dirty.store(false, Ordering::Release);
        // Serialized under the state lock (one consistent snapshot), written outside it.
        let (json, new_blobs, keys_seq) = {
            let state = shared.lock();
            // Every sequence number below this was taken under the lock before now:
            // the bindings it journals are in this snapshot.
            let keys_seq = self.next_seq.load(Ordering::Acquire) - 1;
            let snapshot = SnapshotRef {
                version: STATE_VERSION,
                keys_seq,
                keys: state
                    .keys
                    .values()
                    .map(|record| SavedKey {
                        auth_key: record.key.bytes().to_vec(),
                        user: record.user,
                    })
                    .collect(),
                world: &state.world,
            };
            let json = serde_json::to_vec(&snapshot)?;
            let new_blobs: Vec<(u64, Arc<[u8]>)> = state
                .world
                .blobs
                .iter()
                .filter(|(id, _)| !written.contains(id))
                .map(|(id, bytes)| (*id, Arc::clone(bytes)))
                .collect();
            (json, new_blobs, keys_seq)
        };
        if !new_blobs.is_empty() {
            let dir = blob_dir(&self.path);
            fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            for (id, bytes) in new_blobs {
                let file = dir.join(id.to_string());
                write_atomically(&file, &bytes)
                    .with_context(|| format!("writing {}", file.display()))?;
                written.insert(id);
            }
        }
        write_atomically(&self.path, &json)
            .with_context(|| format!("writing {}", self.path.display()))?;
        self.compact_journal(keys_seq)?;
        debug!(path = %self.path.display(), bytes = json.len(), "state saved");
        Ok(())
    }

    /// Saves now without blocking the runtime.
    pub(crate) async fn save(self: &Arc<Self>, shared: &Arc<Shared>) -> anyhow::Result<()> {
        let persister = Arc::clone(self);
        let shared = Arc::clone(shared);
        tokio::task::spawn_blocking(move || persister.save_blocking(&shared))
            .await
            .context("the save task panicked")?
    }

    /// Saves at most once per interval while changes come in, and once more when
    /// `cancel` fires.
    pub(crate) async fn run(self: Arc<Self>, shared: Arc<Shared>, cancel: CancellationToken) {
        loop {
            tokio::select! {
                () = cancel.cancelled() => break,
                () = self.wake.notified() => {}
            }
            // Gather the changes of one interval into one write.
            tokio::select! {
                () = cancel.cancelled() => break,
                () = tokio::time::sleep(self.interval) => {}
            }
            if self.dirty.load(Ordering::Acquire)
                && let Err(error) = self.save(&shared).await
            {
                warn!(error = format!("{error:#}"), "saving the state failed");
            }
        }
        match self.save(&shared).await {
            Ok(()) => info!(path = %self.path.display(), "state saved on shutdown"),
            Err(error) => warn!(error = format!("{error:#}"), "saving the state failed"),
        }
    }
}
