//! An upload written to the local backend's directory by a thread of its own, written
//! behind as it goes and durable when it ends (ADR 0067).
//!
//! `object_store`'s local multipart write leaves every byte dirty in the page cache: the
//! upload answers before any of it is on disk, and the file is not durable at all (no
//! `fsync`), while each byte is copied into a fresh page-cache page. Here, as each window
//! of [`WINDOW_BYTES`] fills, the kernel is told to start writing it out
//! (`POSIX_FADV_DONTNEED` on dirty pages starts their writeback), and the windows before
//! it, written out by then, leave the page cache (the same advice on clean pages drops
//! them), so the pages of one upload are few and reused. At the end, `fdatasync` waits
//! for the last windows: the file is on disk when the upload answers, and the disk's
//! work ran beside the upload instead of after it.
//!
//! The file is the temporary object `tmp/<id>` itself: the object store reads, renames
//! and deletes it like any of its objects. A write that stops without [`LocalWrite::finish`]
//! (an error, a cut stream, a dropped upload) removes its file.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use nix::fcntl::{PosixFadviseAdvice, posix_fadvise};
use tokio::sync::{mpsc, oneshot};

use crate::error::{MediaError, Result, full_storage, storage_full};

/// Bytes of a write-behind window: its writeback starts when it is full; its pages
/// leave the page cache one and two windows later (those still being written stay the
/// first time).
const WINDOW_BYTES: u64 = 8 * 1024 * 1024;
/// Chunks queued for the writing thread (about 128–256 KiB each).
const QUEUE: usize = 8;
/// Stack of an upload's writing thread (it writes; nothing deep).
const THREAD_STACK_BYTES: usize = 256 * 1024;

enum Piece {
    Bytes(Bytes),
    /// Every byte is sent: make the file durable.
    Finish,
}

/// An upload's file being written (see the module's documentation).
pub(crate) struct LocalWrite {
    pieces: mpsc::Sender<Piece>,
    /// The thread's outcome; `None` once it has been read (a oneshot is read once).
    done: Option<oneshot::Receiver<std::io::Result<()>>>,
}

/// A failed write: a full storage (`ENOSPC`, `EDQUOT`) is its own error, which the client
/// is told and the operator sees (the thread removed the file, which gave the space
/// back); any other failure is the storage being unavailable.
fn io_failure(error: &std::io::Error) -> MediaError {
    if let Some(reason) = full_storage(error) {
        return storage_full(reason, error);
    }
    metrics::counter!("talkapp_media_write_failures_total", "reason" => "io").increment(1);
    MediaError::Unavailable(format!("cannot write the upload: {error}"))
}

/// The thread ended without the outcome asked for (a bug).
fn thread_ended() -> MediaError {
    MediaError::Internal("the upload's writing thread ended".into())
}

impl LocalWrite {
    /// Starts writing a new file at `path` (its directory is created when missing).
    pub(crate) fn start(path: PathBuf) -> Result<Self> {
        let (pieces, queue) = mpsc::channel(QUEUE);
        let (outcome, done) = oneshot::channel();
        std::thread::Builder::new()
            .name("upload-write".into())
            .stack_size(THREAD_STACK_BYTES)
            .spawn(move || {
                let result = write_file(&path, queue);
                if result.is_err() {
                    // Nothing of a failed or abandoned upload stays.
                    if let Err(error) = std::fs::remove_file(&path)
                        && error.kind() != std::io::ErrorKind::NotFound
                    {
                        tracing::warn!(%error, "could not remove an abandoned upload (the sweep will)");
                    }
                }
                // The upload may have stopped waiting: nothing to tell then.
                let _ = outcome.send(result);
            })
            .map_err(|error| {
                MediaError::Unavailable(format!("cannot start an upload's writing: {error}"))
            })?;
        Ok(Self {
            pieces,
            done: Some(done),
        })
    }

    /// Queues bytes for the file (waits while the queue is full).
    pub(crate) async fn write(&mut self, bytes: Bytes) -> Result<()> {
        if self.pieces.send(Piece::Bytes(bytes)).await.is_ok() {
            return Ok(());
        }
        Err(self.failure().await)
    }

    /// Why the thread stopped taking bytes (the outcome is read here, once).
    async fn failure(&mut self) -> MediaError {
        match self.outcome().await {
            Some(Err(error)) => io_failure(&error),
            Some(Ok(())) | None => thread_ended(),
        }
    }

    /// The thread's outcome the first time it is asked for (after it ended), `None`
    /// afterwards or when the thread ended without one.
    async fn outcome(&mut self) -> Option<std::io::Result<()>> {
        self.done.take()?.await.ok()
    }

    /// Writes what is queued and makes the file durable (`fdatasync`).
    pub(crate) async fn finish(mut self) -> Result<()> {
        if self.pieces.send(Piece::Finish).await.is_err() {
            return Err(self.failure().await);
        }
        match self.outcome().await {
            Some(Ok(())) => Ok(()),
            Some(Err(error)) => Err(io_failure(&error)),
            None => Err(thread_ended()),
        }
    }

    /// Gives the file up: the thread removes it; returns once it is gone (at once when
    /// a failed write already waited for the thread's end).
    pub(crate) async fn abort(self) {
        let Self { pieces, done } = self;
        drop(pieces);
        if let Some(done) = done {
            let _ = done.await;
        }
    }
}

/// The thread's work: `Ok` only when [`Piece::Finish`] came and the file is durable.
fn write_file(path: &Path, mut queue: mpsc::Receiver<Piece>) -> std::io::Result<()> {
    if let Some(directory) = path.parent() {
        std::fs::create_dir_all(directory)?;
    }
    let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
    let mut written = 0_u64;
    let mut window_start = 0_u64;
    while let Some(piece) = queue.blocking_recv() {
        match piece {
            Piece::Bytes(bytes) => {
                file.write_all(&bytes)?;
                written += bytes.len() as u64;
                if written - window_start >= WINDOW_BYTES {
                    write_behind(&file, window_start, written);
                    window_start = written;
                }
            }
            Piece::Finish => {
                file.sync_data()?;
                // All clean now: keep only the last window cached (the analysis reads
                // the end of some formats; the head it has in memory).
                drop_cached(&file, 0, written.saturating_sub(WINDOW_BYTES));
                return Ok(());
            }
        }
    }
    Err(std::io::Error::other("the upload stopped before its end"))
}

/// Starts the writeback of `[start, end)` and drops the two windows before it from the
/// page cache (pages still being written are skipped: the next call tries them again).
fn write_behind(file: &File, start: u64, end: u64) {
    // On dirty pages, DONTNEED starts their writeback (without waiting) and keeps them.
    drop_cached(file, start, end);
    drop_cached(file, start.saturating_sub(2 * WINDOW_BYTES), start);
}

/// Advice only: a failure costs page cache, never bytes.
fn drop_cached(file: &File, start: u64, end: u64) {
    let (Ok(offset), Ok(length)) = (
        i64::try_from(start),
        i64::try_from(end.saturating_sub(start)),
    ) else {
        return;
    };
    if length > 0 {
        let _ = posix_fadvise(
            file,
            offset,
            length,
            PosixFadviseAdvice::POSIX_FADV_DONTNEED,
        );
    }
}

/// Makes a directory's entries durable (after a rename into it).
pub(crate) fn sync_directory(directory: &Path) -> std::io::Result<()> {
    File::open(directory)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file where the upload's directory should be: the thread fails before it reads.
    fn blocked_path(name: &str) -> (PathBuf, PathBuf) {
        let blocker = std::env::temp_dir().join(format!(
            "talkapp-local-write-{name}-{}",
            uuid::Uuid::new_v4()
        ));
        std::fs::write(&blocker, b"not a directory").expect("blocker written");
        (blocker.join("tmp").join("upload"), blocker)
    }

    /// The failure is read by the write that finds the thread gone; the abort that
    /// follows (as the upload's error path does) returns instead of reading it again.
    #[tokio::test]
    async fn a_write_that_finds_the_thread_failed_says_why_and_the_abort_returns() {
        let (path, blocker) = blocked_path("write");
        let mut write = LocalWrite::start(path).expect("thread started");
        let error = loop {
            // The queue takes a few pieces before the thread's end closes it.
            if let Err(error) = write.write(Bytes::from_static(b"bytes")).await {
                break error;
            }
        };
        assert!(
            matches!(&error, MediaError::Unavailable(cause) if cause.contains("cannot write the upload")),
            "{error:?}"
        );
        write.abort().await;
        std::fs::remove_file(blocker).expect("blocker removed");
    }

    /// A full disk (`ENOSPC`) or a used-up filesystem quota (`EDQUOT`) is the storage
    /// being full, its own error (507 `insufficient_storage`), not a 503; any other
    /// failure stays the storage being unavailable.
    #[test]
    fn a_full_storage_is_its_own_error_and_other_failures_stay_unavailable() {
        use crate::error::FullStorage;
        use nix::libc;
        use talkapp_common::ErrorCode;

        let no_space = io_failure(&std::io::Error::from_raw_os_error(libc::ENOSPC));
        assert!(
            matches!(no_space, MediaError::StorageFull(FullStorage::NoSpace)),
            "{no_space:?}"
        );
        assert_eq!(no_space.code(), ErrorCode::InsufficientStorage);
        assert_eq!(no_space.code().http_status(), 507);
        // The client is told what is full, not where.
        assert_eq!(
            no_space.to_string(),
            "the server's storage is full (no space left on the device); try again later"
        );
        let quota = io_failure(&std::io::Error::from_raw_os_error(libc::EDQUOT));
        assert!(
            matches!(quota, MediaError::StorageFull(FullStorage::DiskQuota)),
            "{quota:?}"
        );
        assert_eq!(quota.code(), ErrorCode::InsufficientStorage);
        let broken = io_failure(&std::io::Error::from_raw_os_error(libc::EIO));
        assert!(matches!(broken, MediaError::Unavailable(_)), "{broken:?}");
        assert_eq!(broken.code(), ErrorCode::ServiceUnavailable);
    }

    /// The same failure found by `finish` instead.
    #[tokio::test]
    async fn a_finish_that_finds_the_thread_failed_says_why() {
        let (path, blocker) = blocked_path("finish");
        let write = LocalWrite::start(path).expect("thread started");
        let error = write.finish().await.expect_err("the thread cannot write");
        assert!(
            matches!(&error, MediaError::Unavailable(cause) if cause.contains("cannot write the upload")),
            "{error:?}"
        );
        std::fs::remove_file(blocker).expect("blocker removed");
    }
}
