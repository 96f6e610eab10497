//! An upload's bytes into a local file, and their hash, on two threads of the upload (the
//! local backend's write path, ADR 0051 amended).
//!
//! The upload's task batches the chunks it receives (about [`BATCH_BYTES`] each, the
//! chunks' `Bytes` themselves, no copy) and hands each batch to both threads through
//! short bounded queues: one hand-over and one wake-up per thread and MiB, instead of a
//! wake-up of the hashing thread per chunk and a blocking-pool task per part of the
//! object store's multipart write (a seek and a `write` per chunk). The writer writes a
//! batch in `writev` calls of [`WRITE_BYTES`]; the hasher hashes it beside (one thread
//! doing both ran them one after the other, and the upload took longer: ADR 0051's
//! amendment). The batches are the only memory an upload holds beyond the HTTP buffers:
//! about `(SPOOL_QUEUE + 2) * BATCH_BYTES` at most (queued, in each thread's hands,
//! being gathered).
//!
//! The file is the object store's own (`tmp/<id>` under the local root), so the rest of
//! the upload (analysis, the rename into place) reads it through `object_store` as before.
//! A spool that ends without [`Spool::finish`] (an error, a cut stream, a dropped task)
//! has its writer remove the file before the thread ends; [`Spool::abort`] waits for that.

use std::io::{IoSlice, Write as _};
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;
use tokio::sync::oneshot;

use crate::error::{MediaError, Result};

/// Bytes gathered before a batch goes to the threads.
const BATCH_BYTES: usize = 1024 * 1024;
/// Batches queued for each thread.
const SPOOL_QUEUE: usize = 3;
/// Stack of each thread (they hash and write; nothing deep).
const THREAD_STACK_BYTES: usize = 256 * 1024;
/// Bytes per `writev`. With 1 MiB per call a 1 GiB upload took 2.45–2.60 s of CPU
/// (three runs) against 1.44–1.49 s with 64 KiB, the difference in the kernel's copy into
/// the page cache. Likely cause, not proven: larger writes get larger page-cache folios,
/// which on this machine (a VM that gives free memory back to its host) cost host page
/// faults to fill. 64 KiB is still few calls (16 per MiB).
const WRITE_BYTES: usize = 64 * 1024;

type Batch = Arc<Vec<Bytes>>;

enum Message {
    Batch(Batch),
    /// Every byte was sent: keep the file.
    End,
}

/// The writing and the hashing thread of one upload.
pub(crate) struct Spool {
    to_writer: mpsc::Sender<Message>,
    to_hasher: mpsc::Sender<Message>,
    file: PathBuf,
    batch: Vec<Bytes>,
    batched: usize,
    writer: oneshot::Receiver<std::io::Result<()>>,
    hasher: oneshot::Receiver<Sha256>,
}

fn failed(error: &std::io::Error) -> MediaError {
    MediaError::Unavailable(format!("cannot write the upload: {error}"))
}

fn stopped() -> MediaError {
    MediaError::Internal("the upload's writer stopped early".into())
}

fn panicked(_: oneshot::error::RecvError) -> MediaError {
    MediaError::Internal("an upload's thread ended without its outcome (a panic)".into())
}

/// Runs `work` on a thread of its own and returns its outcome's receiver. Threads of
/// their own rather than tokio's blocking pool: the two threads of an upload wait on each
/// other's pace (through its task), and with the pool's threads all taken by uploads,
/// one whose second thread was still queued would wait for ever.
fn spawn<T: Send + 'static>(
    name: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<oneshot::Receiver<T>> {
    let (outcome, receiver) = oneshot::channel();
    std::thread::Builder::new()
        .name(format!("upload-{name}"))
        .stack_size(THREAD_STACK_BYTES)
        .spawn(move || {
            let _ = outcome.send(work());
        })
        .map_err(|error| {
            MediaError::Unavailable(format!("cannot start an upload's {name}: {error}"))
        })?;
    Ok(receiver)
}

impl Spool {
    /// Starts the threads; the writer creates `file` (which must not exist) and its
    /// directory.
    pub(crate) fn start(file: PathBuf) -> Result<Self> {
        let (to_writer, batches) = mpsc::channel(SPOOL_QUEUE);
        let path = file.clone();
        let writer = spawn("writer", move || write(&path, batches))?;
        let (to_hasher, batches) = mpsc::channel(SPOOL_QUEUE);
        // Without its hasher the writer sees its queue closed and removes the file.
        let hasher = spawn("hasher", move || hash(batches))?;
        Ok(Self {
            to_writer,
            to_hasher,
            file,
            batch: Vec::with_capacity(64),
            batched: 0,
            writer,
            hasher,
        })
    }

    /// Adds a chunk; waits only when a thread is [`SPOOL_QUEUE`] batches behind.
    pub(crate) async fn push(&mut self, chunk: Bytes) -> Result<()> {
        self.batched += chunk.len();
        self.batch.push(chunk);
        if self.batched >= BATCH_BYTES {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<()> {
        let batch = Arc::new(std::mem::replace(&mut self.batch, Vec::with_capacity(64)));
        self.batched = 0;
        let (written, hashed) = futures::join!(
            self.to_writer.send(Message::Batch(batch.clone())),
            self.to_hasher.send(Message::Batch(batch)),
        );
        if written.is_err() {
            // The writer stopped: its outcome says why.
            return Err(self.written().await.err().unwrap_or_else(stopped));
        }
        if hashed.is_err() {
            return Err(MediaError::Internal("the upload's hasher stopped".into()));
        }
        Ok(())
    }

    async fn written(&mut self) -> Result<()> {
        (&mut self.writer)
            .await
            .map_err(panicked)?
            .map_err(|error| failed(&error))
    }

    /// Writes what is left and returns the SHA-256 of every byte pushed (lower-case
    /// hex) once all of them are in the file.
    pub(crate) async fn finish(mut self) -> Result<String> {
        if !self.batch.is_empty() {
            self.flush().await?;
        }
        let (written, hashed) = futures::join!(
            self.to_writer.send(Message::End),
            self.to_hasher.send(Message::End),
        );
        if written.is_err() {
            return Err(self.written().await.err().unwrap_or_else(stopped));
        }
        if hashed.is_err() {
            // The writer had its end: the file is whole, but its hash is lost.
            let _ = self.writer.await;
            remove(&self.file);
            return Err(MediaError::Internal("the upload's hasher stopped".into()));
        }
        self.written().await?;
        match self.hasher.await {
            Ok(hasher) => Ok(format!("{:x}", hasher.finalize())),
            Err(error) => {
                remove(&self.file);
                Err(panicked(error))
            }
        }
    }

    /// Stops, and returns once the file is removed.
    pub(crate) async fn abort(self) {
        let Self {
            to_writer,
            to_hasher,
            writer,
            ..
        } = self;
        drop((to_writer, to_hasher));
        match writer.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::debug!(%error, "an aborted upload's writer ended"),
            Err(_) => tracing::warn!("an aborted upload's writer panicked"),
        }
    }
}

/// The hashing thread (its digest is used only after [`Message::End`]).
fn hash(mut batches: mpsc::Receiver<Message>) -> Sha256 {
    let mut hasher = Sha256::new();
    while let Some(Message::Batch(batch)) = batches.blocking_recv() {
        for piece in batch.iter() {
            hasher.update(piece);
        }
    }
    hasher
}

/// The writing thread: the file is removed unless [`Message::End`] came after every
/// batch was written.
fn write(path: &std::path::Path, mut batches: mpsc::Receiver<Message>) -> std::io::Result<()> {
    let mut file = create(path)?;
    let written: std::io::Result<bool> = (|| {
        while let Some(message) = batches.blocking_recv() {
            match message {
                Message::Batch(batch) => write_all(&mut file, &batch)?,
                Message::End => return Ok(true),
            }
        }
        Ok(false)
    })();
    // Taking no more batches lets a waiting sender see the end at once.
    drop(batches);
    let error = match written {
        Ok(true) => return Ok(()),
        Ok(false) => std::io::Error::other("the upload stopped before its end"),
        Err(error) => error,
    };
    drop(file);
    remove(path);
    Err(error)
}

fn remove(path: &std::path::Path) {
    if let Err(error) = std::fs::remove_file(path)
        && error.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(%error, path = %path.display(), "could not remove an abandoned upload");
    }
}

/// A new file, its directory made when missing (the object store removes an empty
/// directory as its last file goes, so another upload may remove it in between: tried
/// again then).
fn create(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let mut tries = 0;
    loop {
        match std::fs::File::options()
            .write(true)
            .create_new(true)
            .open(path)
        {
            Err(error) if error.kind() == std::io::ErrorKind::NotFound && tries < 3 => {
                tries += 1;
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
            }
            other => return other,
        }
    }
}

/// `write_all` of several pieces in `writev` calls of at most [`WRITE_BYTES`] each.
fn write_all(file: &mut std::fs::File, pieces: &[Bytes]) -> std::io::Result<()> {
    let mut group: Vec<IoSlice<'_>> = Vec::with_capacity(16);
    let mut grouped = 0;
    for piece in pieces {
        for part in piece.chunks(WRITE_BYTES) {
            if grouped + part.len() > WRITE_BYTES {
                write_group(file, &mut group)?;
                grouped = 0;
            }
            grouped += part.len();
            group.push(IoSlice::new(part));
        }
    }
    write_group(file, &mut group)
}

/// Writes `group` whole, and empties it.
fn write_group(file: &mut std::fs::File, group: &mut Vec<IoSlice<'_>>) -> std::io::Result<()> {
    let mut slices = &mut group[..];
    while !slices.is_empty() {
        match file.write_vectored(slices) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(written) => IoSlice::advance_slices(&mut slices, written),
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    group.clear();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory, removed at the end.
    struct Dir(PathBuf);

    impl Dir {
        fn new() -> Self {
            let dir = std::env::temp_dir().join(format!("talkapp-spool-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&dir).expect("dir");
            Self(dir)
        }

        fn path(&self) -> &std::path::Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[tokio::test]
    async fn the_file_holds_every_byte_in_order_and_the_hash_is_theirs() {
        let dir = Dir::new();
        let path = dir.path().join("tmp").join("upload");
        let mut spool = Spool::start(path.clone()).expect("start");
        let mut all = Vec::new();
        // Pieces of many sizes, across batch and group boundaries.
        for (index, size) in [1, 7000, 300_000, 65_536, 1_048_576, 3, 262_144, 900_001]
            .into_iter()
            .cycle()
            .take(40)
            .enumerate()
        {
            let piece: Vec<u8> = (0..size).map(|at| (at * 31 + index) as u8).collect();
            all.extend_from_slice(&piece);
            spool.push(Bytes::from(piece)).await.expect("push");
        }
        let sha256 = spool.finish().await.expect("finish");
        assert_eq!(sha256, format!("{:x}", Sha256::digest(&all)));
        assert!(std::fs::read(&path).expect("file") == all);
    }

    #[tokio::test]
    async fn an_aborted_or_dropped_spool_leaves_no_file() {
        let dir = Dir::new();
        let aborted = dir.path().join("aborted");
        let mut spool = Spool::start(aborted.clone()).expect("start");
        spool
            .push(Bytes::from(vec![1; BATCH_BYTES * 2]))
            .await
            .expect("push");
        spool.abort().await;
        assert!(!aborted.exists());

        let dropped = dir.path().join("dropped");
        let mut spool = Spool::start(dropped.clone()).expect("start");
        spool
            .push(Bytes::from(vec![1; BATCH_BYTES * 2]))
            .await
            .expect("push");
        drop(spool);
        for _ in 0..200 {
            if !dropped.exists() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("a dropped spool's file stayed");
    }

    #[tokio::test]
    async fn a_file_that_cannot_be_written_is_an_error_not_a_panic() {
        let dir = Dir::new();
        let path = dir.path().join("taken");
        std::fs::write(&path, b"already here").expect("write");
        let mut spool = Spool::start(path.clone()).expect("start");
        let pushed = async {
            for _ in 0..8 {
                spool.push(Bytes::from(vec![0; BATCH_BYTES])).await?;
            }
            Ok::<_, MediaError>(())
        }
        .await;
        let error = match pushed {
            Err(error) => error,
            Ok(()) => spool.finish().await.expect_err("the file existed"),
        };
        assert!(matches!(error, MediaError::Unavailable(_)), "{error:?}");
        // Not its file: left alone.
        assert_eq!(std::fs::read(&path).expect("file"), b"already here");
    }
}
