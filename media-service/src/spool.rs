//! An upload's bytes into a local file, hashed on the way, by one blocking thread (the
//! local backend's write path, ADR 0051 amended).
//!
//! The upload's task batches the chunks it receives (about [`BATCH_BYTES`] each, the
//! chunks' `Bytes` themselves, no copy) and hands each batch to the thread through a
//! short bounded queue: one hand-over and one thread wake-up per MiB instead of one per
//! chunk for the hash and a blocking-pool task per part for the write. The thread hashes
//! a group of pieces (at most [`GROUP_BYTES`], so they are still in the CPU's cache) and
//! writes the same group with one `writev`, so every byte is read from memory once for
//! both. A batch the thread has not taken yet is the only memory an upload holds beyond
//! the HTTP buffers: `(SPOOL_QUEUE + 1) * BATCH_BYTES` at most.
//!
//! The file is the object store's own (`tmp/<id>` under the local root), so the rest of
//! the upload (analysis, the rename into place) reads it through `object_store` as before.
//! A spool that ends without [`Spool::finish`] (an error, a cut stream, a dropped task)
//! removes its file before its thread ends; [`Spool::abort`] waits for that.

use std::io::{IoSlice, Write as _};
use std::path::PathBuf;

use bytes::Bytes;
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;

use crate::error::{MediaError, Result};

/// Bytes gathered before a batch goes to the thread.
const BATCH_BYTES: usize = 1024 * 1024;
/// Batches queued for the thread.
const SPOOL_QUEUE: usize = 3;
/// Bytes hashed then written together (one `writev`).
const GROUP_BYTES: usize = 256 * 1024;

enum Message {
    Batch(Vec<Bytes>),
    /// Every byte was sent: keep the file.
    End,
}

/// The writing and hashing thread of one upload.
pub(crate) struct Spool {
    batches: mpsc::Sender<Message>,
    batch: Vec<Bytes>,
    batched: usize,
    done: tokio::task::JoinHandle<std::io::Result<Sha256>>,
}

fn failed(error: &std::io::Error) -> MediaError {
    MediaError::Unavailable(format!("cannot write the upload: {error}"))
}

impl Spool {
    /// Starts the thread; it creates `file` (which must not exist) and its directory.
    pub(crate) fn start(file: PathBuf) -> Self {
        let (batches, receiver) = mpsc::channel(SPOOL_QUEUE);
        let done = tokio::task::spawn_blocking(move || run(&file, receiver));
        Self {
            batches,
            batch: Vec::with_capacity(64),
            batched: 0,
            done,
        }
    }

    /// Adds a chunk; waits only when the thread is [`SPOOL_QUEUE`] batches behind.
    pub(crate) async fn push(&mut self, chunk: Bytes) -> Result<()> {
        self.batched += chunk.len();
        self.batch.push(chunk);
        if self.batched >= BATCH_BYTES {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<()> {
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(64));
        self.batched = 0;
        if self.batches.send(Message::Batch(batch)).await.is_err() {
            // The thread stopped: its outcome says why.
            return Err(self.outcome().await.err().unwrap_or_else(|| {
                MediaError::Internal("the upload's writer stopped early".into())
            }));
        }
        Ok(())
    }

    async fn outcome(&mut self) -> Result<Sha256> {
        (&mut self.done)
            .await
            .map_err(|error| MediaError::Internal(format!("the upload's writer failed: {error}")))?
            .map_err(|error| failed(&error))
    }

    /// Writes what is left and returns the SHA-256 of every byte pushed (lower-case
    /// hex) once all of them are in the file.
    pub(crate) async fn finish(mut self) -> Result<String> {
        if !self.batch.is_empty() {
            self.flush().await?;
        }
        if self.batches.send(Message::End).await.is_err() {
            return Err(self.outcome().await.err().unwrap_or_else(|| {
                MediaError::Internal("the upload's writer stopped early".into())
            }));
        }
        let hasher = self.outcome().await?;
        Ok(format!("{:x}", hasher.finalize()))
    }

    /// Stops, and returns once the file is removed.
    pub(crate) async fn abort(self) {
        let Self { batches, done, .. } = self;
        drop(batches);
        match done.await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::warn!(%error, "an aborted upload's writer failed"),
            Err(error) => tracing::warn!(%error, "an aborted upload's writer panicked"),
        }
    }
}

/// The thread: the file is removed unless [`Message::End`] came after every batch was
/// written.
fn run(path: &std::path::Path, mut batches: mpsc::Receiver<Message>) -> std::io::Result<Sha256> {
    let mut file = create(path)?;
    let mut hasher = Sha256::new();
    let written: std::io::Result<bool> = (|| {
        while let Some(message) = batches.blocking_recv() {
            match message {
                Message::Batch(batch) => write_batch(&mut file, &mut hasher, &batch)?,
                Message::End => return Ok(true),
            }
        }
        Ok(false)
    })();
    // Taking no more batches lets a waiting sender see the end at once.
    drop(batches);
    match written {
        Ok(true) => Ok(hasher),
        Ok(false) => {
            drop(file);
            remove(path);
            Err(std::io::Error::other("the upload stopped before its end"))
        }
        Err(error) => {
            drop(file);
            remove(path);
            Err(error)
        }
    }
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

/// Hashes and writes `batch`, a group of at most [`GROUP_BYTES`] at a time.
fn write_batch(
    file: &mut std::fs::File,
    hasher: &mut Sha256,
    batch: &[Bytes],
) -> std::io::Result<()> {
    let mut rest = batch;
    while !rest.is_empty() {
        let mut count = 0;
        let mut bytes = 0;
        while count < rest.len() && (count == 0 || bytes + rest[count].len() <= GROUP_BYTES) {
            bytes += rest[count].len();
            count += 1;
        }
        let (group, after) = rest.split_at(count);
        for piece in group {
            hasher.update(piece);
        }
        write_all(file, group)?;
        rest = after;
    }
    Ok(())
}

/// `write_all` of several pieces, as few `writev` calls as the kernel allows.
fn write_all(file: &mut std::fs::File, pieces: &[Bytes]) -> std::io::Result<()> {
    let mut slices: Vec<IoSlice<'_>> = pieces
        .iter()
        .filter(|piece| !piece.is_empty())
        .map(|piece| IoSlice::new(piece))
        .collect();
    let mut slices = &mut slices[..];
    while !slices.is_empty() {
        match file.write_vectored(slices) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(written) => IoSlice::advance_slices(&mut slices, written),
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
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
        let mut spool = Spool::start(path.clone());
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
        let mut spool = Spool::start(aborted.clone());
        spool
            .push(Bytes::from(vec![1; BATCH_BYTES * 2]))
            .await
            .expect("push");
        spool.abort().await;
        assert!(!aborted.exists());

        let dropped = dir.path().join("dropped");
        let mut spool = Spool::start(dropped.clone());
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
        let mut spool = Spool::start(path.clone());
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
