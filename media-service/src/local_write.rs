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
//! Past its first [`DIRECT_AFTER_BYTES`], an upload skips the page cache (ADR 0068,
//! proposed): the file gets `O_DIRECT`, the chunks are copied into two aligned buffers,
//! and a disk thread writes each full one while the other fills. The page cache's work
//! per byte (the copy into folios, ext4's delayed allocation per block, the writeback
//! and invalidation of each window) was about half of a large upload's system time.
//! The unaligned end goes through the page cache; `fdatasync` ends every upload.
//!
//! The file is the temporary object `tmp/<id>` itself: the object store reads, renames
//! and deletes it like any of its objects. A write that stops without [`LocalWrite::finish`]
//! (an error, a cut stream, a dropped upload) removes its file.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::fd::AsFd as _;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use nix::fcntl::{FcntlArg, OFlag, PosixFadviseAdvice, fcntl, posix_fadvise};
use tokio::sync::{mpsc, oneshot};

use crate::error::{MediaError, Result};

/// Bytes of a write-behind window: its writeback starts when it is full; its pages
/// leave the page cache one and two windows later (those still being written stay the
/// first time).
const WINDOW_BYTES: u64 = 8 * 1024 * 1024;
/// Chunks queued for the writing thread (about 128–256 KiB each).
const QUEUE: usize = 8;
/// Stack of an upload's writing thread (it writes; nothing deep).
const THREAD_STACK_BYTES: usize = 256 * 1024;
/// Bytes of an upload written through the page cache before the rest goes direct
/// (`O_DIRECT`): smaller uploads never hold the direct writes' two buffers.
const DIRECT_AFTER_BYTES: u64 = 16 * 1024 * 1024;
/// Bytes of one direct write, and of each of the two aligned buffers the chunks are
/// gathered in.
const DIRECT_WRITE_BYTES: usize = 4 * 1024 * 1024;
/// Alignment of a direct write's memory, offset and length: the page size, a multiple
/// of the logical block size of the disks in use.
const DIRECT_ALIGN: usize = 4096;

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

fn io_failure(error: &std::io::Error) -> MediaError {
    MediaError::Unavailable(format!("cannot write the upload: {error}"))
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
            Some(Ok(())) | None => MediaError::Internal("the upload's writing thread ended".into()),
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
            None => Err(MediaError::Internal(
                "the upload's writing thread ended".into(),
            )),
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
    let file = OpenOptions::new().write(true).create_new(true).open(path)?;
    let mut sink = Sink::new(file, DIRECT_AFTER_BYTES);
    while let Some(piece) = queue.blocking_recv() {
        match piece {
            Piece::Bytes(bytes) => sink.write(&bytes)?,
            Piece::Finish => return sink.finish(),
        }
    }
    Err(std::io::Error::other("the upload stopped before its end"))
}

/// An upload's file and the way its bytes go to it: through the page cache and written
/// behind window by window up to `direct_after` bytes, then direct (`O_DIRECT`, where the
/// file system allows it: else on through the page cache).
struct Sink {
    file: File,
    /// Bytes handed to the file so far (direct: those in the buffers included).
    written: u64,
    /// Where the current write-behind window starts.
    window_start: u64,
    direct_after: u64,
    direct: Option<DirectWrites>,
    /// Direct writes were refused: the file stays cached to its end.
    cached_only: bool,
}

impl Sink {
    fn new(file: File, direct_after: u64) -> Self {
        Self {
            file,
            written: 0,
            window_start: 0,
            direct_after,
            direct: None,
            cached_only: false,
        }
    }

    fn write(&mut self, mut bytes: &[u8]) -> std::io::Result<()> {
        if self.direct.is_none() && !self.cached_only && self.written >= self.direct_after {
            // Up to an aligned offset through the page cache, then direct.
            let unaligned = self.written % DIRECT_ALIGN as u64;
            if unaligned != 0 {
                let to_aligned = usize::try_from(DIRECT_ALIGN as u64 - unaligned)
                    .unwrap_or(DIRECT_ALIGN)
                    .min(bytes.len());
                self.write_cached(&bytes[..to_aligned])?;
                bytes = &bytes[to_aligned..];
            }
            if self.written.is_multiple_of(DIRECT_ALIGN as u64) {
                self.go_direct()?;
            }
        }
        let Some(direct) = self.direct.as_mut() else {
            return self.write_cached(bytes);
        };
        self.written += bytes.len() as u64;
        direct.write(bytes)
    }

    fn write_cached(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.file.write_all(bytes)?;
        self.written += bytes.len() as u64;
        if self.written - self.window_start >= WINDOW_BYTES {
            write_behind(&self.file, self.window_start, self.written);
            self.window_start = self.written;
        }
        Ok(())
    }

    /// Turns direct writes on; where the file system refuses them, the file stays cached.
    fn go_direct(&mut self) -> std::io::Result<()> {
        if let Err(error) = set_direct(&self.file, true) {
            tracing::debug!(%error, "direct writes refused: the upload stays in the page cache");
            self.cached_only = true;
            return Ok(());
        }
        // The writing thread's copy shares the file's offset and flags.
        self.direct = Some(DirectWrites::start(self.file.try_clone()?)?);
        Ok(())
    }

    /// Writes what is left and makes the file durable.
    fn finish(mut self) -> std::io::Result<()> {
        if let Some(direct) = self.direct.take() {
            let tail = direct.finish()?;
            // The unaligned end goes through the page cache.
            let aligned = tail.len() - tail.len() % DIRECT_ALIGN;
            (&self.file).write_all(&tail.filled()[..aligned])?;
            set_direct(&self.file, false)?;
            (&self.file).write_all(&tail.filled()[aligned..])?;
        }
        self.file.sync_data()?;
        // All clean now: keep only the last window cached (the analysis reads the end of
        // some formats; the head it has in memory).
        drop_cached(&self.file, 0, self.written.saturating_sub(WINDOW_BYTES));
        Ok(())
    }
}

/// Sets or clears `O_DIRECT` on the file (and every copy of its descriptor).
fn set_direct(file: &File, direct: bool) -> std::io::Result<()> {
    let flags = OFlag::from_bits_truncate(fcntl(file.as_fd(), FcntlArg::F_GETFL)?);
    let flags = if direct {
        flags | OFlag::O_DIRECT
    } else {
        flags - OFlag::O_DIRECT
    };
    fcntl(file.as_fd(), FcntlArg::F_SETFL(flags))?;
    Ok(())
}

/// Direct writes in [`DIRECT_WRITE_BYTES`] pieces, double-buffered: the upload's writing
/// thread copies the chunks into one aligned buffer while a thread of its own writes the
/// other (a direct write returns once the disk has the bytes: without the second buffer,
/// the upload would wait for each).
struct DirectWrites {
    filling: AlignedBuffer,
    spare: Option<AlignedBuffer>,
    /// Full buffers to the disk thread, in order.
    to_disk: Option<std::sync::mpsc::SyncSender<AlignedBuffer>>,
    /// Written buffers back (emptied), or why a write failed.
    written: std::sync::mpsc::Receiver<std::io::Result<AlignedBuffer>>,
    in_flight: usize,
    disk: Option<std::thread::JoinHandle<()>>,
}

impl DirectWrites {
    fn start(file: File) -> std::io::Result<Self> {
        let (to_disk, full) = std::sync::mpsc::sync_channel::<AlignedBuffer>(1);
        let (give_back, written) = std::sync::mpsc::sync_channel(2);
        let disk = std::thread::Builder::new()
            .name("upload-disk".into())
            .stack_size(THREAD_STACK_BYTES)
            .spawn(move || {
                for mut buffer in full {
                    let outcome = (&file).write_all(buffer.filled()).map(|()| {
                        buffer.clear();
                        buffer
                    });
                    let failed = outcome.is_err();
                    if give_back.send(outcome).is_err() || failed {
                        return;
                    }
                }
            })?;
        Ok(Self {
            filling: AlignedBuffer::new(DIRECT_WRITE_BYTES),
            spare: Some(AlignedBuffer::new(DIRECT_WRITE_BYTES)),
            to_disk: Some(to_disk),
            written,
            in_flight: 0,
            disk: Some(disk),
        })
    }

    fn write(&mut self, mut bytes: &[u8]) -> std::io::Result<()> {
        while !bytes.is_empty() {
            let taken = self.filling.fill(bytes);
            bytes = &bytes[taken..];
            if self.filling.is_full() {
                let next = match self.spare.take() {
                    Some(spare) => spare,
                    None => self.written_back()?,
                };
                let full = std::mem::replace(&mut self.filling, next);
                self.to_disk
                    .as_ref()
                    .ok_or_else(|| std::io::Error::other("the disk thread is gone"))?
                    .send(full)
                    .map_err(|_| std::io::Error::other("the upload's disk thread ended"))?;
                self.in_flight += 1;
            }
        }
        Ok(())
    }

    /// The next buffer the disk thread wrote.
    fn written_back(&mut self) -> std::io::Result<AlignedBuffer> {
        let buffer = self
            .written
            .recv()
            .map_err(|_| std::io::Error::other("the upload's disk thread ended"))??;
        self.in_flight -= 1;
        Ok(buffer)
    }

    /// Waits for every full buffer to be written; returns the one being filled.
    fn finish(mut self) -> std::io::Result<AlignedBuffer> {
        while self.in_flight > 0 {
            self.written_back()?;
        }
        Ok(std::mem::replace(&mut self.filling, AlignedBuffer::new(0)))
    }
}

impl Drop for DirectWrites {
    fn drop(&mut self) {
        // The disk thread ends with its queue; it holds the file until then.
        drop(self.to_disk.take());
        if let Some(disk) = self.disk.take() {
            let _ = disk.join();
        }
    }
}

/// Memory aligned to [`DIRECT_ALIGN`], filled from the front (a safe stand-in for an
/// aligned allocation: a little more is allocated, and the aligned part used).
struct AlignedBuffer {
    storage: Vec<u8>,
    start: usize,
    capacity: usize,
    filled: usize,
}

impl AlignedBuffer {
    fn new(capacity: usize) -> Self {
        let storage = vec![0; capacity + DIRECT_ALIGN];
        let start = storage.as_ptr().align_offset(DIRECT_ALIGN);
        Self {
            storage,
            start,
            capacity,
            filled: 0,
        }
    }

    /// Copies what fits of `bytes`; returns how much.
    fn fill(&mut self, bytes: &[u8]) -> usize {
        let taken = bytes.len().min(self.capacity - self.filled);
        let at = self.start + self.filled;
        self.storage[at..at + taken].copy_from_slice(&bytes[..taken]);
        self.filled += taken;
        taken
    }

    fn is_full(&self) -> bool {
        self.filled == self.capacity
    }

    fn len(&self) -> usize {
        self.filled
    }

    fn filled(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.filled]
    }

    fn clear(&mut self) {
        self.filled = 0;
    }
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

    fn bytes_of(length: usize) -> Vec<u8> {
        // Not a repeating pattern of any power of two: a piece written at a wrong offset
        // shows.
        (0..length).map(|index| (index * 7 % 251) as u8).collect()
    }

    fn fresh_path(name: &str) -> PathBuf {
        let directory =
            std::env::temp_dir().join(format!("talkapp-local-write-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&directory).expect("test directory");
        let path = directory.join("file");
        let _ = std::fs::remove_file(&path);
        path
    }

    /// Writes `bytes` through a sink in pieces of the sizes given (cycled), and reads the
    /// file back; also says whether the sink went direct.
    fn write_through_sink(
        name: &str,
        bytes: &[u8],
        direct_after: u64,
        pieces: &[usize],
    ) -> (Vec<u8>, bool) {
        let path = fresh_path(name);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .expect("file");
        let mut sink = Sink::new(file, direct_after);
        let mut rest = bytes;
        let mut went_direct = false;
        for piece in pieces.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (now, later) = rest.split_at((*piece).min(rest.len()));
            sink.write(now).expect("write");
            went_direct |= sink.direct.is_some();
            rest = later;
        }
        sink.finish().expect("finish");
        let stored = std::fs::read(&path).expect("read back");
        std::fs::remove_file(&path).expect("removed");
        (stored, went_direct)
    }

    #[test]
    fn a_file_written_direct_after_an_unaligned_start_holds_every_byte_in_order() {
        // Past the threshold at an unaligned offset, through several full direct writes
        // (both buffers, more than once), and an unaligned end.
        let bytes = bytes_of(3 * 1024 * 1024 + 5 * DIRECT_WRITE_BYTES + 1234);
        let (stored, went_direct) = write_through_sink(
            "unaligned",
            &bytes,
            1024 * 1024 + 333,
            &[1, 4095, 128 * 1024 + 17, 300 * 1024, 7],
        );
        assert_eq!(stored.len(), bytes.len());
        assert!(
            stored == bytes,
            "the stored bytes differ from those written"
        );
        assert!(went_direct, "the file never went direct");
    }

    #[test]
    fn a_file_that_ends_right_after_the_threshold_or_on_a_buffer_edge_is_whole() {
        for (name, length) in [
            ("at-threshold", 1024 * 1024),
            ("one-more", 1024 * 1024 + 1),
            ("one-buffer", 1024 * 1024 + DIRECT_WRITE_BYTES),
            ("two-buffers", 1024 * 1024 + 2 * DIRECT_WRITE_BYTES),
        ] {
            let bytes = bytes_of(length);
            let (stored, _) = write_through_sink(name, &bytes, 1024 * 1024, &[256 * 1024]);
            assert!(stored == bytes, "{name}: the stored bytes differ");
        }
    }

    #[test]
    fn a_small_file_stays_in_the_page_cache_path() {
        let bytes = bytes_of(DIRECT_WRITE_BYTES + 99);
        let (stored, went_direct) =
            write_through_sink("small", &bytes, DIRECT_AFTER_BYTES, &[128 * 1024]);
        assert!(stored == bytes, "the stored bytes differ");
        assert!(!went_direct, "a file under the threshold went direct");
    }
}
