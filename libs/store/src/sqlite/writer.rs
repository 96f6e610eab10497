//! The one connection that writes, and when its write-ahead log is copied back into the
//! database file (a checkpoint). ADR 0050.
//!
//! A write runs at once on the caller's thread when the connection is free, else on the
//! blocking pool once it is (the same rule as the readers'). Nearly every write is one
//! short transaction: a few rows and a commit that appends a few pages to the log, with
//! no fsync (`synchronous = NORMAL` in WAL mode), tens of microseconds. Handing it to the
//! blocking pool and back cost more than that: a wake-up of a pool thread and one of the
//! async worker, with their context switches, about ten times per text send.
//!
//! What must not run on an async worker is SQLite's automatic checkpoint, which the commit
//! that takes the log past 1,000 pages would make: copying them into the database file and
//! two fsyncs, milliseconds. So the writer's commits only note the log's size (a WAL hook,
//! which replaces the automatic checkpoint), and a write that leaves the log at
//! [`CHECKPOINT_PAGES`] or more has one checkpoint made on the blocking pool. Should that
//! one not get its turn (writes back to back keep the connection busy), the write that
//! leaves the log at [`FORCED_CHECKPOINT_PAGES`] checkpoints on its own thread, as SQLite
//! would have: the log stays bounded whatever the pool does.

use std::cell::Cell;
use std::ffi::c_int;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, TryLockError};

use rusqlite::Connection;
use rusqlite::hooks::Wal;

use crate::{Result, StoreError};

/// The log's size that calls for a checkpoint (SQLite's own default threshold).
pub(super) const CHECKPOINT_PAGES: c_int = 1000;

/// The log's size at which the writing thread checkpoints itself: the blocking pool's
/// checkpoint has not had the connection since the log passed [`CHECKPOINT_PAGES`].
pub(super) const FORCED_CHECKPOINT_PAGES: c_int = 3 * CHECKPOINT_PAGES;

thread_local! {
    /// Pages in the log after the last commit on this thread (the WAL hook sets it).
    static LOG_PAGES: Cell<c_int> = const { Cell::new(0) };
}

/// The writer's WAL hook: notes the log's size; never checkpoints itself.
// rusqlite's hook is a plain `fn` returning its `Result`.
#[allow(clippy::unnecessary_wraps)]
fn note_log_pages(_wal: &Wal, pages: c_int) -> rusqlite::Result<()> {
    LOG_PAGES.set(pages);
    Ok(())
}

/// The connection that writes.
#[derive(Clone)]
pub(super) struct Writer {
    // SQLite serialises writers anyway. A poisoned lock (a panic mid-call) is reported as
    // an internal error.
    connection: Arc<Mutex<Connection>>,
    /// A checkpoint is scheduled and not finished yet.
    checkpointing: Arc<AtomicBool>,
}

fn poisoned() -> StoreError {
    StoreError::Internal("sqlite connection lock poisoned".into())
}

/// Runs `work`, answering its result and the log's size after it (0: it committed
/// nothing). A panic in `work` is an internal error, as it was on the blocking pool.
fn write_on<T, F>(connection: &mut Connection, work: F) -> (Result<T>, c_int)
where
    F: FnOnce(&mut Connection) -> Result<T>,
{
    LOG_PAGES.set(0);
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| work(connection)))
        .unwrap_or_else(|_| Err(StoreError::Internal("a sqlite write panicked".into())));
    let log_pages = LOG_PAGES.replace(0);
    if log_pages >= FORCED_CHECKPOINT_PAGES {
        tracing::debug!(log_pages, "sqlite log checkpointed by the write");
        checkpoint(connection);
    }
    (result, log_pages)
}

/// Copies the log into the database file. Passive, as SQLite's own: pages a reader still
/// needs stay in the log until a later checkpoint.
fn checkpoint(connection: &Connection) {
    if let Err(error) = connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
        tracing::warn!(%error, "sqlite checkpoint failed; the next write tries again");
    }
}

impl Writer {
    /// Takes `connection` (the database migrated, in WAL mode) as the one that writes.
    pub(super) fn new(connection: Connection) -> Self {
        connection.wal_hook(Some(note_log_pages));
        Self {
            connection: Arc::new(Mutex::new(connection)),
            checkpointing: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Runs `work` on the writing connection: at once on this thread when it is free,
    /// else on the blocking pool once it is.
    pub(super) async fn call<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        // The guard goes before any await (it is not `Send`): `work` comes back when the
        // connection is busy.
        let inline = match self.connection.try_lock() {
            Ok(mut connection) => Ok(write_on(&mut connection, work)),
            Err(TryLockError::Poisoned(_)) => return Err(poisoned()),
            Err(TryLockError::WouldBlock) => Err(work),
        };
        let (result, log_pages) = match inline {
            Ok(written) => written,
            Err(work) => {
                let connection = Arc::clone(&self.connection);
                tokio::task::spawn_blocking(move || {
                    let mut connection = connection.lock().map_err(|_| poisoned())?;
                    Ok(write_on(&mut connection, work))
                })
                .await
                .map_err(|error| StoreError::Internal(error.to_string()))??
            }
        };
        if log_pages >= CHECKPOINT_PAGES {
            self.checkpoint_soon();
        }
        result
    }

    /// [`checkpoint`] on the blocking pool, unless one is under way already.
    fn checkpoint_soon(&self) {
        if self.checkpointing.swap(true, Ordering::AcqRel) {
            return;
        }
        let connection = Arc::clone(&self.connection);
        let checkpointing = Arc::clone(&self.checkpointing);
        tokio::task::spawn_blocking(move || {
            match connection.lock() {
                Ok(connection) => checkpoint(&connection),
                Err(_) => tracing::error!("sqlite connection lock poisoned; no checkpoint"),
            }
            checkpointing.store(false, Ordering::Release);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh database file in WAL mode under the temporary directory, removed on drop.
    struct Scratch(std::path::PathBuf);

    impl Scratch {
        fn new() -> Self {
            let dir = std::env::temp_dir().join(format!("talkapp-writer-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&dir).expect("scratch dir");
            Self(dir)
        }

        fn open(&self) -> Connection {
            let connection = Connection::open(self.0.join("db.sqlite")).expect("open");
            connection
                .execute_batch(
                    "PRAGMA journal_mode = WAL;
                     PRAGMA synchronous = NORMAL;
                     CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, body BLOB NOT NULL);",
                )
                .expect("schema");
            connection
        }

        fn log_bytes(&self) -> u64 {
            std::fs::metadata(self.0.join("db.sqlite-wal"))
                .map(|meta| meta.len())
                .unwrap_or(0)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn insert(connection: &mut Connection, bytes: usize) -> Result<()> {
        connection
            .execute("INSERT INTO t (body) VALUES (?1)", [vec![7_u8; bytes]])
            .map(drop)
            .map_err(|error| StoreError::Internal(error.to_string()))
    }

    #[tokio::test]
    async fn a_write_runs_on_the_callers_thread_when_the_connection_is_free() {
        let scratch = Scratch::new();
        let writer = Writer::new(scratch.open());
        let caller = std::thread::current().id();
        let ran_on = writer
            .call(|connection| {
                insert(connection, 10)?;
                Ok(std::thread::current().id())
            })
            .await
            .expect("written");
        assert_eq!(ran_on, caller);

        // Held elsewhere: the write waits on the blocking pool and still happens.
        let held = Arc::clone(&writer.connection);
        let holder = std::thread::spawn(move || {
            let _guard = held.lock().expect("lock");
            std::thread::sleep(std::time::Duration::from_millis(100));
        });
        std::thread::sleep(std::time::Duration::from_millis(20));
        let ran_on = writer
            .call(|connection| {
                insert(connection, 10)?;
                Ok(std::thread::current().id())
            })
            .await
            .expect("written after the holder let go");
        assert_ne!(ran_on, caller);
        holder.join().expect("holder");
        let rows: i64 = writer
            .call(|connection| {
                connection
                    .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
                    .map_err(|error| StoreError::Internal(error.to_string()))
            })
            .await
            .expect("counted");
        assert_eq!(rows, 2);
    }

    #[tokio::test]
    async fn a_log_the_pools_checkpoint_never_reaches_is_checkpointed_by_the_writes() {
        let scratch = Scratch::new();
        let writer = Writer::new(scratch.open());
        // As if the pool's checkpoint were scheduled and never got the connection.
        writer.checkpointing.store(true, Ordering::Release);
        for _ in 0..2_000 {
            writer
                .call(|connection| insert(connection, 16 * 1024))
                .await
                .expect("written");
        }
        let page = 4096 + 24;
        let limit = u64::try_from(FORCED_CHECKPOINT_PAGES + 10).expect("positive") * page;
        assert!(
            scratch.log_bytes() < limit,
            "the log holds {} bytes; the writes checkpoint it at {} pages",
            scratch.log_bytes(),
            FORCED_CHECKPOINT_PAGES
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_log_is_checkpointed_off_the_writes_and_does_not_grow_without_bound() {
        let scratch = Scratch::new();
        let writer = Writer::new(scratch.open());
        // 2,000 commits of 16 KiB each: about 10,000 pages through the log, ten times
        // the checkpoint threshold.
        for _ in 0..2_000 {
            writer
                .call(|connection| insert(connection, 16 * 1024))
                .await
                .expect("written");
            tokio::task::yield_now().await;
        }
        // Let the last scheduled checkpoint finish.
        for _ in 0..100 {
            if !writer.checkpointing.load(Ordering::Acquire) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let page = 4096;
        let limit = 4 * u64::try_from(CHECKPOINT_PAGES).expect("positive") * page;
        assert!(
            scratch.log_bytes() < limit,
            "the log holds {} bytes; checkpoints keep it near {} pages",
            scratch.log_bytes(),
            CHECKPOINT_PAGES
        );
        assert!(
            !writer.checkpointing.load(Ordering::Acquire),
            "no checkpoint left hanging"
        );
    }
}
