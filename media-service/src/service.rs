//! The media service's domain core: no proto types here (the gRPC adapter converts).

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt as _};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStoreExt as _, PutPayload, WriteMultipart};
use sha2::{Digest as _, Sha256};
use talkapp_common::config::MediaConfig;
use talkapp_store::{MediaBlob, MediaFile, MediaStore, PreviewEnd, PreviewFinish, Reservation};
use uuid::Uuid;

use crate::analyze::{AnalysisLimits, analyze};
use crate::error::{MediaError, Result};
use crate::frames::{FrameTools, NoPreview, StoredFile};
use crate::local_write::{LocalWrite, sync_directory};
use crate::names::sanitize_file_name;
use crate::previews::{Offered, Outcome, PreviewCounts, PreviewJob, PreviewQueue};
use crate::sniff::{SNIFF_BYTES, Sniffed, sniff};
use crate::storage::{Storage, TEMPORARY_PREFIX, blob_path, preview_path, temporary_path};

/// Bytes per message of a download (the object store may read in smaller pieces).
const DOWNLOAD_CHUNK_BYTES: usize = 256 * 1024;
/// The longest side of the preview read for a send ([`MediaService::read_pinned`]): the
/// largest thumbnail Telegram takes. A larger stored preview (`media.preview_max_side`
/// above it) is scaled down to it when read.
pub const THUMBNAIL_MAX_SIDE: u32 = 320;
/// Parts of a streamed write in flight at once.
const WRITE_CONCURRENCY: usize = 2;
/// How long an upload waits for a blob being collected to go (then it stores it anew).
const BLOB_BUSY_WAIT: Duration = Duration::from_secs(5);
/// Bytes of an upload hashed in line; past them the hash goes on beside the receiving
/// ([`UploadHash`]).
const INLINE_HASH_BYTES: u64 = 1024 * 1024;
/// Chunks queued for the hashing thread (at most this many chunks, 256 KiB each from
/// the gateway, are held for it).
const HASH_QUEUE: usize = 8;
/// Stack of an upload's hashing thread (it hashes; nothing deep).
const HASH_THREAD_STACK_BYTES: usize = 256 * 1024;
/// How often a read of a pinned file's thumbnail looks whether its pending preview is made.
const PREVIEW_POLL: Duration = Duration::from_millis(50);
/// Pending previews queued again by one sweep, at most.
const REQUEUE_BATCH: u32 = 1000;
/// Pending previews an idle worker looks at in the store at once: it takes the first it
/// can claim (others' workers may claim the oldest ones first).
const STORE_TAKE_BATCH: u32 = 8;
/// A worker's claim on a preview lasts its run's deadline (`media.frame_timeout_ms`) and
/// this much more (storing and recording it); a claim older than that is a dead worker's.
const PREVIEW_LEASE_MARGIN: Duration = Duration::from_secs(30);

/// The SHA-256 of an upload as its bytes arrive. A small file is hashed in line; a large
/// one's hash moves to a thread of its own after [`INLINE_HASH_BYTES`], fed in order
/// through a bounded queue, so it runs beside the receiving and writing instead of between
/// them. In line, hashing was 42 % of a 512 MiB upload's CPU (perf, SHA-NI at about
/// 1.2 GB/s) and the upload ran at the sum of the two; on two cores they now overlap.
/// The thread is not one of tokio's blocking pool: it lives as long as its upload, and
/// with the pool's threads all hashing (`max_blocking_threads` uploads at once) the
/// object store's writes, which run on that pool, would wait for ever, and the uploads
/// with them.
enum UploadHash {
    Inline(Sha256, u64),
    Beside {
        chunks: tokio::sync::mpsc::Sender<Bytes>,
        done: tokio::sync::oneshot::Receiver<Sha256>,
    },
}

async fn queue_for_hashing(chunks: &tokio::sync::mpsc::Sender<Bytes>, chunk: &Bytes) -> Result<()> {
    chunks
        .send(chunk.clone())
        .await
        .map_err(|_| MediaError::Internal("the hashing thread ended".into()))
}

impl UploadHash {
    fn new() -> Self {
        Self::Inline(Sha256::new(), 0)
    }

    async fn update(&mut self, chunk: &Bytes) -> Result<()> {
        match self {
            Self::Inline(hasher, hashed) if *hashed < INLINE_HASH_BYTES => {
                hasher.update(chunk);
                *hashed += chunk.len() as u64;
                Ok(())
            }
            Self::Inline(hasher, _) => {
                let mut hasher = std::mem::take(hasher);
                let (chunks, mut queue) = tokio::sync::mpsc::channel::<Bytes>(HASH_QUEUE);
                let (hashed, done) = tokio::sync::oneshot::channel();
                std::thread::Builder::new()
                    .name("upload-hash".into())
                    .stack_size(HASH_THREAD_STACK_BYTES)
                    .spawn(move || {
                        while let Some(chunk) = queue.blocking_recv() {
                            hasher.update(&chunk);
                        }
                        // The upload gave up waiting (its task ended): nothing to tell.
                        let _ = hashed.send(hasher);
                    })
                    .map_err(|error| {
                        MediaError::Unavailable(format!(
                            "cannot start an upload's hashing: {error}"
                        ))
                    })?;
                let sent = queue_for_hashing(&chunks, chunk).await;
                *self = Self::Beside { chunks, done };
                sent
            }
            Self::Beside { chunks, .. } => queue_for_hashing(chunks, chunk).await,
        }
    }

    /// The digest, in lower-case hex, once every chunk is hashed.
    async fn finish(self) -> Result<String> {
        let hasher = match self {
            Self::Inline(hasher, _) => hasher,
            Self::Beside { chunks, done } => {
                drop(chunks);
                done.await.map_err(|_| {
                    MediaError::Internal("hashing failed: its thread ended without a hash".into())
                })?
            }
        };
        Ok(format!("{:x}", hasher.finalize()))
    }
}

/// An upload's temporary object being written.
enum TemporaryWrite {
    /// The local backend: a file of the upload's own thread, written behind and durable.
    Local(LocalWrite),
    /// Parts of the object store's multipart upload (S3).
    Store(WriteMultipart),
}

impl TemporaryWrite {
    /// The sniffed head, the first bytes written.
    async fn put_head(&mut self, head: &[u8]) -> Result<()> {
        match self {
            Self::Local(writer) => writer.write(Bytes::copy_from_slice(head)).await,
            Self::Store(writer) => {
                writer.write(head);
                Ok(())
            }
        }
    }

    async fn put(&mut self, chunk: Bytes) -> Result<()> {
        match self {
            Self::Local(writer) => writer.write(chunk).await,
            Self::Store(writer) => {
                writer.wait_for_capacity(WRITE_CONCURRENCY).await?;
                writer.put(chunk);
                Ok(())
            }
        }
    }

    async fn finish(self) -> Result<()> {
        match self {
            Self::Local(writer) => writer.finish().await,
            Self::Store(writer) => {
                writer.finish().await?;
                Ok(())
            }
        }
    }

    /// Removes what was written.
    async fn abort(self) {
        match self {
            Self::Local(writer) => writer.abort().await,
            Self::Store(writer) => {
                if let Err(error) = writer.abort().await {
                    tracing::warn!(%error, "could not abort a partial upload");
                }
            }
        }
    }
}

/// What starts an upload.
#[derive(Debug, Clone)]
pub struct UploadStart {
    /// Who uploads.
    pub user_id: Uuid,
    /// The name the client gave (sanitised here).
    pub file_name: String,
    /// The size the client announced, when it did.
    pub declared_size: Option<u64>,
}

/// What follows the start of an upload.
#[derive(Debug, Clone)]
pub enum UploadPart {
    /// More bytes.
    Chunk(Bytes),
    /// The end, with the size the client sent.
    End {
        /// Bytes sent.
        size: u64,
    },
}

/// The bytes a download asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ByteRange {
    /// The whole file.
    #[default]
    Whole,
    /// From `offset`, `length` bytes (`None`: to the end).
    From {
        /// First byte.
        offset: u64,
        /// Bytes wanted.
        length: Option<u64>,
    },
    /// The last this many bytes.
    Suffix(u64),
}

impl ByteRange {
    /// `[start, end)` within `size`, or `None` when the range lies outside the file.
    fn resolve(self, size: u64) -> Option<(u64, u64)> {
        match self {
            Self::Whole => Some((0, size)),
            Self::From { offset, .. } if offset >= size => None,
            Self::From { offset, length } => {
                let end = length.map_or(size, |length| offset.saturating_add(length).min(size));
                (end > offset).then_some((offset, end))
            }
            Self::Suffix(0) => None,
            Self::Suffix(suffix) => (size > 0).then(|| (size.saturating_sub(suffix), size)),
        }
    }
}

/// A download about to stream.
pub struct Download {
    /// The file.
    pub file: MediaFile,
    /// The type and size of what is served (the file's, or its preview's).
    pub mime: String,
    /// Bytes of what is served in whole.
    pub size: u64,
    /// The bytes that follow: `[offset, offset + length)`; `None` when the range lies
    /// outside (nothing follows).
    pub range: Option<(u64, u64)>,
    /// The bytes.
    pub body: BoxStream<'static, Result<Bytes>>,
}

/// The media service.
#[derive(Clone)]
pub struct MediaCore {
    store: Arc<dyn MediaStore>,
    storage: Storage,
    config: MediaConfig,
    frames: FrameTools,
    previews: PreviewQueue,
    /// When this process's core was made: previews left pending before it are queued
    /// again by the first sweep.
    started_at: chrono::DateTime<chrono::Utc>,
}

impl MediaCore {
    /// The service over `store` (metadata) and `storage` (bytes). Video and PDF previews
    /// are made once [`Self::run_previews`] runs.
    pub fn new(store: Arc<dyn MediaStore>, storage: Storage, config: MediaConfig) -> Self {
        Self {
            store,
            storage,
            frames: FrameTools::from_config(&config),
            previews: PreviewQueue::new(config.preview_queue, config.frame_concurrency),
            config,
            started_at: talkapp_store::now(),
        }
    }

    /// Makes the queued video and PDF previews, `media.frame_concurrency` at once, until
    /// `shutdown` (the tools running then are killed; their blobs stay pending, given
    /// back, for the next start or another replica). A worker with nothing in this process's queue
    /// takes the oldest pending preview that no one holds from the store (another
    /// replica's, or one left by a replica that stopped), looking at most every
    /// `media.preview_store_poll_ms` while the store has none. Runs once per core.
    pub async fn run_previews(self, shutdown: tokio_util::sync::CancellationToken) {
        let Some(mut jobs) = self.previews.take_receiver() else {
            return;
        };
        let turns = Arc::new(tokio::sync::Semaphore::new(self.previews.workers()));
        let mut running = tokio::task::JoinSet::new();
        let poll_every = Duration::from_millis(self.config.preview_store_poll_ms);
        let polls_store = !poll_every.is_zero();
        let mut next_poll = tokio::time::Instant::now();
        loop {
            // A turn first, then a job: the jobs beyond the running ones stay in the
            // bounded queue, where a full queue turns new ones away.
            let turn = tokio::select! {
                () = shutdown.cancelled() => break,
                turn = Arc::clone(&turns).acquire_owned() => match turn {
                    Ok(turn) => turn,
                    Err(_) => break,
                },
            };
            let job = match jobs.try_recv() {
                Ok(job) => job,
                Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => break,
                // A worker is free and nothing waits here: the store's turn, unless it
                // had nothing a moment ago.
                Err(tokio::sync::mpsc::error::TryRecvError::Empty)
                    if polls_store && tokio::time::Instant::now() >= next_poll =>
                {
                    match self.take_from_store().await {
                        // Looked at again as soon as a worker is free: the store may
                        // hold more.
                        Some(job) => job,
                        None => {
                            next_poll = tokio::time::Instant::now() + poll_every;
                            continue;
                        }
                    }
                }
                Err(tokio::sync::mpsc::error::TryRecvError::Empty) => tokio::select! {
                    () = shutdown.cancelled() => break,
                    job = jobs.recv() => match job {
                        Some(job) => job,
                        None => break,
                    },
                    // The store's turn again (the turn is taken anew).
                    () = tokio::time::sleep_until(next_poll), if polls_store => continue,
                },
            };
            let core = self.clone();
            running.spawn(async move {
                core.make_preview(job).await;
                drop(turn);
            });
            while running.try_join_next().is_some() {}
        }
        running.abort_all();
        while running.join_next().await.is_some() {}
        // The tools are killed; what they were making is given back to be taken at once
        // (by the next start, or another replica's sweep), not after the lease.
        for (sha256, claim) in self.previews.held() {
            if let Err(error) = self.store.release_blob_preview(&sha256, claim).await {
                tracing::warn!(%error, "could not give a preview back (taken again after its lease)");
            }
        }
    }

    /// The oldest pending preview in the store that no worker holds (or whose worker's
    /// lease expired) and that is not queued here, claimed for this process; `None` when
    /// there is none (or the store could not be read).
    async fn take_from_store(&self) -> Option<PreviewJob> {
        let waiting = match self
            .store
            .blobs_awaiting_preview(talkapp_store::now(), STORE_TAKE_BATCH)
            .await
        {
            Ok(waiting) => waiting,
            Err(error) => {
                tracing::warn!(%error, "could not look for pending previews in the store");
                return None;
            }
        };
        for blob in waiting {
            // Queued here already: this process's queue has it.
            if !self.previews.take_up(&blob.sha256) {
                continue;
            }
            match self.claim_preview(&blob.sha256).await {
                Ok(Some(claim)) => {
                    self.previews.count_from_store();
                    tracing::debug!(mime = %blob.mime, "a pending preview taken from the store");
                    return Some(PreviewJob {
                        claim: Some(claim),
                        ..PreviewJob::of(&blob)
                    });
                }
                // Another worker claimed it meanwhile, or it is no longer pending.
                Ok(None) => self.previews.finished(&blob.sha256),
                Err(error) => {
                    self.previews.finished(&blob.sha256);
                    tracing::warn!(%error, "could not claim a pending preview from the store");
                    return None;
                }
            }
        }
        None
    }

    /// Claims the pending preview of `sha256` for a worker of this process (a new claim
    /// id, [`MediaCore::preview_lease`]) and holds the claim here (given back at a stop);
    /// `None` when another worker holds it or it is no longer pending.
    async fn claim_preview(&self, sha256: &str) -> talkapp_store::Result<Option<Uuid>> {
        let claim = Uuid::new_v4();
        let claimed = self
            .store
            .claim_blob_preview(sha256, claim, self.preview_lease())
            .await?;
        if claimed {
            self.previews.hold(sha256, claim);
        }
        Ok(claimed.then_some(claim))
    }

    /// Previews by outcome since the start (also `talkapp_media_previews_total`).
    pub fn preview_counts(&self) -> PreviewCounts {
        self.previews.counts()
    }

    /// Takes the frame or page of a blob, stores it beside the blob and records it.
    async fn make_preview(&self, job: PreviewJob) {
        self.previews.started();
        let outcome = self.claimed_preview(&job).await;
        self.previews.finished(&job.sha256);
        self.previews.stopped();
        if let Some(outcome) = outcome {
            self.previews.count(outcome);
        }
    }

    /// How long a worker's claim on a preview lasts.
    fn preview_lease(&self) -> Duration {
        Duration::from_millis(self.config.frame_timeout_ms) + PREVIEW_LEASE_MARGIN
    }

    /// Makes the preview of `job` under a claim in the store, so that no other worker
    /// (of this replica or another) makes it meanwhile. `None` when the store could not
    /// be told (it stays pending: queued again later).
    async fn claimed_preview(&self, job: &PreviewJob) -> Option<Outcome> {
        let claim = match job.claim {
            // Claimed (and held) when it was taken from the store.
            Some(claim) => claim,
            None => match self.claim_preview(&job.sha256).await {
                Ok(Some(claim)) => claim,
                // Another worker holds it, or it is no longer pending (made, or gone).
                Ok(None) => return Some(Outcome::Elsewhere),
                Err(error) => {
                    tracing::warn!(%error, "could not claim a preview (queued again later)");
                    return None;
                }
            },
        };
        let path = blob_path(&job.sha256);
        let objects = self.storage.objects();
        let preview = self
            .frames
            .preview(StoredFile {
                objects: objects.as_ref(),
                path: &path,
                local: self.storage.local_file(&path),
                size: job.size,
                mime: &job.mime,
                duration_ms: job.duration_ms,
            })
            .await;
        let outcome = self.record_preview(&job.sha256, claim, preview).await;
        self.previews.let_go(&job.sha256);
        outcome
    }

    /// Writes the preview object (when there is one), then records the end of the
    /// blob's pending preview under `claim`; when the blob went meanwhile, removes what
    /// it wrote. `None` when the store could not be told (the claim lapses after its
    /// lease and the preview is made again).
    async fn record_preview(
        &self,
        sha256: &str,
        claim: Uuid,
        preview: std::result::Result<Bytes, NoPreview>,
    ) -> Option<Outcome> {
        let objects = self.storage.objects();
        let path = preview_path(sha256);
        // Why the image could not be stored, when the storage is full.
        let mut full_storage = None;
        let end = match preview {
            Ok(preview) => {
                let bytes = preview.len() as u64;
                match objects.put(&path, PutPayload::from_bytes(preview)).await {
                    Ok(_) => PreviewEnd::Made(bytes),
                    // A full storage (a local disk, an S3 server out of space) is logged
                    // and counted by the conversion; nothing of the image stays (the
                    // local backend removes its staging file, S3 stores all or nothing).
                    Err(error) => match MediaError::from(error) {
                        MediaError::StorageFull(reason) => {
                            tracing::warn!(
                                reason = reason.label(),
                                "a preview not stored: the storage is full (skipped: made when asked for)"
                            );
                            full_storage = Some(reason);
                            PreviewEnd::Skipped
                        }
                        error => {
                            tracing::warn!(%error, "could not store a preview (skipped: made when asked for)");
                            PreviewEnd::Skipped
                        }
                    },
                }
            }
            Err(NoPreview::Bytes) => PreviewEnd::None,
            Err(NoPreview::Load) => PreviewEnd::Skipped,
            // Logged and counted where it was found (`crate::frames`); asking for the
            // preview says so, as for an image that found the storage full.
            Err(NoPreview::TempDirFull(reason)) => {
                full_storage = Some(reason);
                PreviewEnd::Skipped
            }
        };
        let recorded = self
            .store
            .finish_blob_preview(sha256, Some(claim), end)
            .await;
        // Remembered while it is skipped for a full storage (asking for it then says so);
        // forgotten once it ends otherwise. Left as it was when the store was not told.
        match &recorded {
            Ok(PreviewFinish::Recorded) => {
                self.previews.skipped_for_full_storage(sha256, full_storage);
            }
            Ok(PreviewFinish::NotClaimed | PreviewFinish::Gone) => {
                self.previews.skipped_for_full_storage(sha256, None);
            }
            Err(_) => {}
        }
        match recorded {
            Ok(PreviewFinish::Recorded) => Some(match end {
                PreviewEnd::Made(_) => Outcome::Made,
                PreviewEnd::None => Outcome::None,
                PreviewEnd::Skipped => Outcome::Skipped,
            }),
            // Its claim lapsed and another worker took it over: the object at the
            // preview's key is that worker's (the same tool on the same bytes) to keep.
            Ok(PreviewFinish::NotClaimed) => Some(Outcome::Elsewhere),
            Ok(PreviewFinish::Gone) => {
                if matches!(end, PreviewEnd::Made(_))
                    && let Err(error) = objects.delete(&path).await
                    && !matches!(error, object_store::Error::NotFound { .. })
                {
                    tracing::warn!(%error, "could not remove the preview of a deleted file");
                }
                Some(Outcome::Gone)
            }
            Err(error) => {
                tracing::warn!(%error, "could not record a preview (made again after its lease)");
                None
            }
        }
    }

    /// Offers a blob's pending preview to the queue; a full queue means it is skipped
    /// (recorded, so that nobody waits for it; made again when asked for). Sets the
    /// blob's `preview_pending` and `preview_skipped` to what they are now.
    async fn queue_preview(&self, blob: &mut MediaBlob) {
        match self.previews.offer(blob) {
            Offered::Queued | Offered::AlreadyQueued => {}
            Offered::Full => {
                tracing::info!(mime = %blob.mime, "preview skipped: the preview queue is full");
                self.previews.count(Outcome::Skipped);
                match self
                    .store
                    .finish_blob_preview(&blob.sha256, None, PreviewEnd::Skipped)
                    .await
                {
                    Ok(PreviewFinish::Recorded) => {
                        blob.preview_pending = false;
                        blob.preview_skipped = true;
                        // Skipped for want of room now, whatever it was before.
                        self.previews.skipped_for_full_storage(&blob.sha256, None);
                    }
                    // Another replica is making it.
                    Ok(PreviewFinish::NotClaimed) => {}
                    Ok(PreviewFinish::Gone) => blob.preview_pending = false,
                    Err(error) => {
                        tracing::warn!(%error, "could not record a skipped preview (queued again later)");
                    }
                }
            }
        }
    }

    /// Queues a skipped preview again (someone asked for it), when the queue has room;
    /// the blob as it is then.
    async fn remake_preview(&self, mut blob: MediaBlob) -> Result<MediaBlob> {
        if blob.preview_skipped
            && self.previews.has_room()
            && self.store.requeue_skipped_preview(&blob.sha256).await?
        {
            blob.preview_pending = true;
            blob.preview_skipped = false;
            self.queue_preview(&mut blob).await;
        }
        Ok(blob)
    }

    fn limits(&self) -> AnalysisLimits {
        AnalysisLimits {
            max_image_pixels: self.config.max_image_pixels,
            preview_max_side: self.config.preview_max_side,
            preview_max_source_bytes: self.config.preview_max_source_bytes,
            max_moov_bytes: self.config.max_moov_bytes,
            live_webm_search_bytes: self.config.live_webm_search_bytes,
        }
    }

    /// Stores an upload: type from the bytes, limits while streaming, content-addressed,
    /// previewed; visible only once everything is in place. Whatever fails, nothing of it
    /// is left behind (a crash is cleaned up by [`Self::sweep`]).
    #[tracing::instrument(skip_all, fields(user_id = %start.user_id))]
    pub async fn upload<S>(&self, start: UploadStart, parts: S) -> Result<MediaFile>
    where
        S: Stream<Item = Result<UploadPart>> + Send + Unpin,
    {
        let max = self.config.max_file_bytes;
        let quota = self.config.quota_bytes;
        if start.declared_size.is_some_and(|declared| declared > max) {
            return Err(MediaError::TooLarge { limit: max });
        }
        let used = self.store.media_usage(start.user_id).await?;
        let over_quota = |bytes: u64| used.saturating_add(bytes) > quota;
        if over_quota(start.declared_size.unwrap_or(0)) || used >= quota {
            return Err(MediaError::QuotaExceeded { used, quota });
        }
        let upload_id = Uuid::new_v4();
        let temporary = temporary_path(upload_id);
        let received = self
            .receive(&temporary, parts, max, &over_quota, used, quota)
            .await?;
        let outcome = self.commit(&start, &temporary, received).await;
        if outcome.is_err() {
            // Best effort: the sweep removes what this leaves.
            if let Err(error) = self.storage.objects().delete(&temporary).await
                && !matches!(error, object_store::Error::NotFound { .. })
            {
                tracing::warn!(%error, "could not remove an abandoned upload");
            }
        }
        outcome
    }

    /// Streams the parts into `temporary`; returns what was received.
    async fn receive<S>(
        &self,
        temporary: &Path,
        mut parts: S,
        max: u64,
        over_quota: &(dyn Fn(u64) -> bool + Sync),
        used: u64,
        quota: u64,
    ) -> Result<Received>
    where
        S: Stream<Item = Result<UploadPart>> + Send + Unpin,
    {
        let mut head = BytesMut::new();
        let mut hash = UploadHash::new();
        let mut size = 0_u64;
        let mut writer: Option<TemporaryWrite> = None;
        let mut sniffed = None;
        let result: Result<u64> = async {
            loop {
                let part = parts.next().await.ok_or_else(|| {
                    MediaError::Incomplete("the stream ended before its end message".into())
                })??;
                let chunk = match part {
                    UploadPart::Chunk(chunk) => chunk,
                    UploadPart::End { size: sent } => {
                        if sent != size {
                            return Err(MediaError::Incomplete(format!(
                                "{sent} bytes announced, {size} received"
                            )));
                        }
                        break;
                    }
                };
                size = size.saturating_add(chunk.len() as u64);
                if size > max {
                    return Err(MediaError::TooLarge { limit: max });
                }
                if over_quota(size) {
                    return Err(MediaError::QuotaExceeded { used, quota });
                }
                hash.update(&chunk).await?;
                if sniffed.is_none() {
                    head.extend_from_slice(&chunk);
                    if head.len() < SNIFF_BYTES {
                        continue;
                    }
                    sniffed = Some(self.judge(&head, false)?);
                    let mut started = self.start_write(temporary).await?;
                    started.put_head(&head).await?;
                    writer = Some(started);
                    continue;
                }
                if let Some(writer) = writer.as_mut() {
                    writer.put(chunk).await?;
                }
            }
            Ok(size)
        }
        .await;
        match result {
            Ok(size) => {
                if size == 0 {
                    return Err(MediaError::Empty);
                }
                let sniffed = match sniffed {
                    Some(sniffed) => sniffed,
                    None => self.judge(&head, true)?,
                };
                match writer {
                    Some(writer) => writer.finish().await?,
                    None => match self.storage.local_file(temporary) {
                        Some(path) => {
                            let mut writer = LocalWrite::start(path)?;
                            writer.write(head.clone().freeze()).await?;
                            writer.finish().await?;
                        }
                        None => {
                            self.storage
                                .objects()
                                .put(temporary, PutPayload::from_bytes(head.clone().freeze()))
                                .await?;
                        }
                    },
                }
                Ok(Received {
                    size,
                    sha256: hash.finish().await?,
                    head: head.freeze(),
                    mime: sniffed.0,
                    kind: sniffed.1,
                })
            }
            Err(error) => {
                if let Some(writer) = writer {
                    writer.abort().await;
                }
                Err(error)
            }
        }
    }

    fn judge(
        &self,
        head: &[u8],
        complete: bool,
    ) -> Result<(&'static str, talkapp_store::MediaKind)> {
        match sniff(head, complete) {
            Sniffed::Allowed { mime, kind } => Ok((mime, kind)),
            Sniffed::Executable(what) if !self.config.allow_executables => Err(
                MediaError::TypeNotAllowed(format!("{what}: executables are not accepted")),
            ),
            Sniffed::Executable(_) => Ok((
                "application/octet-stream",
                talkapp_store::MediaKind::Document,
            )),
            Sniffed::Unknown => Err(MediaError::TypeNotAllowed(
                "the bytes are not of an accepted type (images, audio, video, PDF, archives, text)"
                    .into(),
            )),
        }
    }

    /// The local backend's files are written by a thread of the upload (ADR 0067); S3's
    /// through the object store's multipart upload.
    async fn start_write(&self, temporary: &Path) -> Result<TemporaryWrite> {
        if let Some(path) = self.storage.local_file(temporary) {
            return Ok(TemporaryWrite::Local(LocalWrite::start(path)?));
        }
        let upload = self.storage.objects().put_multipart(temporary).await?;
        Ok(TemporaryWrite::Store(WriteMultipart::new_with_chunk_size(
            upload,
            self.storage.part_bytes,
        )))
    }

    /// Analyses the stored bytes, reserves the file, moves the bytes into place.
    async fn commit(
        &self,
        start: &UploadStart,
        temporary: &Path,
        received: Received,
    ) -> Result<MediaFile> {
        let objects = self.storage.objects();
        let findings = analyze(
            objects.as_ref(),
            temporary,
            received.size,
            received.mime,
            received.kind,
            &received.head,
            self.limits(),
        )
        .await?;
        // A video's frame or a PDF's page takes a process: made after the answer
        // (ADR 0049).
        let preview_pending = findings.preview.is_none() && self.frames.covers(received.mime);
        let now = talkapp_store::now();
        let file = MediaFile {
            file_id: Uuid::new_v4(),
            user_id: start.user_id,
            file_name: sanitize_file_name(&start.file_name),
            created_at: now,
            blob: MediaBlob {
                sha256: received.sha256.clone(),
                size: received.size,
                mime: received.mime.to_owned(),
                kind: received.kind,
                width: findings.width,
                height: findings.height,
                duration_ms: findings.duration_ms,
                waveform: findings.waveform,
                preview_size: findings
                    .preview
                    .as_ref()
                    .map(|preview| preview.len() as u64),
                preview_pending,
                preview_skipped: false,
                created_at: now,
            },
        };
        let deadline = tokio::time::Instant::now() + BLOB_BUSY_WAIT;
        loop {
            match self
                .store
                .reserve_media_file(&file, self.config.quota_bytes)
                .await?
            {
                Reservation::Reserved => break,
                Reservation::QuotaExceeded { used } => {
                    return Err(MediaError::QuotaExceeded {
                        used,
                        quota: self.config.quota_bytes,
                    });
                }
                Reservation::BlobBusy if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Reservation::BlobBusy => {
                    return Err(MediaError::Unavailable(
                        "the same bytes are being removed; try again".into(),
                    ));
                }
            }
        }
        let placed: Result<Option<MediaFile>> = async {
            // The same bytes in place already are simply replaced by themselves.
            let blob = blob_path(&received.sha256);
            objects.rename(temporary, &blob).await?;
            self.sync_blob_directory(&blob).await?;
            if let Some(preview) = findings.preview {
                objects
                    .put(
                        &preview_path(&received.sha256),
                        PutPayload::from_bytes(preview),
                    )
                    .await?;
            }
            Ok(self.store.complete_media_file(file.file_id).await?)
        }
        .await;
        match placed {
            // The stored blob says whether a preview is pending (identical bytes stored
            // before keep theirs).
            Ok(Some(mut stored)) if stored.blob.preview_pending => {
                self.queue_preview(&mut stored.blob).await;
                Ok(stored)
            }
            Ok(Some(stored)) => Ok(stored),
            Ok(None) => Err(MediaError::Internal("the reserved file vanished".into())),
            Err(error) => {
                if let Err(abort_error) = self.store.abort_media_file(file.file_id).await {
                    tracing::warn!(error = %abort_error, "could not undo a reservation (the sweep will)");
                } else {
                    self.collect(&received.sha256).await;
                }
                Err(error)
            }
        }
    }

    /// Makes a renamed blob's name durable with its bytes (local backend; the bytes
    /// themselves were synced by [`LocalWrite::finish`]): its directory, and the one above
    /// it in case the rename created it.
    async fn sync_blob_directory(&self, blob: &Path) -> Result<()> {
        let Some(file) = self.storage.local_file(blob) else {
            return Ok(());
        };
        tokio::task::spawn_blocking(move || {
            let mut directories = file.ancestors().skip(1).take(2);
            directories.try_for_each(sync_directory)
        })
        .await
        .map_err(|error| MediaError::Internal(error.to_string()))?
        .map_err(|error| MediaError::Unavailable(format!("cannot sync the stored file: {error}")))
    }

    /// A file's metadata.
    pub async fn stat(&self, user_id: Uuid, file_id: Uuid) -> Result<MediaFile> {
        self.store
            .media_file(user_id, file_id)
            .await?
            .ok_or(MediaError::NotFound)
    }

    /// The bytes of a file, or of the range asked for.
    pub async fn download(
        &self,
        user_id: Uuid,
        file_id: Uuid,
        range: ByteRange,
    ) -> Result<Download> {
        let file = self.stat(user_id, file_id).await?;
        let size = file.blob.size;
        let path = blob_path(&file.blob.sha256);
        let mime = file.blob.mime.clone();
        self.serve(file, path, mime, size, range).await
    }

    /// The preview image of a file; `PreviewPending` while it is being made, or when
    /// it was skipped under load (then it is queued again now); `StorageFull` when it was
    /// skipped because its image could not be stored for want of space (queued again
    /// too: the next try tells whether space came back).
    pub async fn preview(&self, user_id: Uuid, file_id: Uuid) -> Result<Download> {
        let file = self.stat(user_id, file_id).await?;
        if file.blob.preview_skipped {
            let full_storage = self.previews.full_storage(&file.blob.sha256);
            self.remake_preview(file.blob).await?;
            return Err(match full_storage {
                // Counted and logged when the write failed, not again for each ask.
                Some(reason) => MediaError::StorageFull(reason),
                None => MediaError::PreviewPending,
            });
        }
        if file.blob.preview_pending {
            return Err(MediaError::PreviewPending);
        }
        let Some(size) = file.blob.preview_size else {
            return Err(MediaError::NotFound);
        };
        let path = preview_path(&file.blob.sha256);
        self.serve(file, path, "image/jpeg".to_owned(), size, ByteRange::Whole)
            .await
    }

    async fn serve(
        &self,
        file: MediaFile,
        path: Path,
        mime: String,
        size: u64,
        range: ByteRange,
    ) -> Result<Download> {
        let Some((start, end)) = range.resolve(size) else {
            return Ok(Download {
                file,
                mime,
                size,
                range: None,
                body: futures::stream::empty().boxed(),
            });
        };
        let options = GetOptions {
            range: Some(GetRange::Bounded(start..end)),
            ..GetOptions::default()
        };
        let result = self.storage.objects().get_opts(&path, options).await?;
        let body = rechunk(
            result
                .into_stream()
                .map(|chunk| chunk.map_err(MediaError::from)),
        );
        Ok(Download {
            file,
            mime,
            size,
            range: Some((start, end - start)),
            body,
        })
    }

    /// Pins the user's files for `job_id` (a send job): their bytes stay until
    /// [`Self::release_pins`], whatever the user deletes meanwhile. `NotFound` when one
    /// is not the user's; what was pinned before it stays pinned (the caller releases
    /// the job).
    #[tracing::instrument(skip_all, fields(%user_id, %job_id))]
    pub async fn pin(
        &self,
        user_id: Uuid,
        job_id: Uuid,
        file_ids: &[Uuid],
    ) -> Result<Vec<MediaFile>> {
        let mut files = Vec::with_capacity(file_ids.len());
        for file_id in file_ids {
            let file = self
                .store
                .pin_media_file(user_id, *file_id, job_id)
                .await?
                .ok_or(MediaError::NotFound)?;
            files.push(file);
        }
        Ok(files)
    }

    /// Releases the pins of a final job; bytes nothing refers to any more are collected.
    #[tracing::instrument(skip_all, fields(%job_id))]
    pub async fn release_pins(&self, job_id: Uuid) -> Result<()> {
        for sha256 in self.store.release_media_pins(job_id).await? {
            self.collect(&sha256).await;
        }
        Ok(())
    }

    /// The whole of a file `job_id` pinned, even if its owner deleted it since; or, with
    /// `preview`, its preview image as a send's thumbnail, at most
    /// [`THUMBNAIL_MAX_SIDE`] a side (`NotFound` when it has none; one still being made
    /// is waited for up to `media.thumbnail_wait_ms`): the pin keeps the blob, and with
    /// it the preview stored beside it.
    pub async fn read_pinned(
        &self,
        job_id: Uuid,
        file_id: Uuid,
        preview: bool,
    ) -> Result<Download> {
        let mut blob = self
            .store
            .pinned_media_blob(job_id, file_id)
            .await?
            .ok_or(MediaError::NotFound)?;
        if preview && (blob.preview_pending || blob.preview_skipped) {
            blob = self.await_preview(job_id, file_id, blob).await?;
        }
        let (path, mime, size) = if preview {
            let size = blob.preview_size.ok_or(MediaError::NotFound)?;
            let path = preview_path(&blob.sha256);
            if self.config.preview_max_side > THUMBNAIL_MAX_SIDE {
                return self.thumbnail(file_id, blob, &path).await;
            }
            (path, "image/jpeg".to_owned(), size)
        } else {
            (blob_path(&blob.sha256), blob.mime.clone(), blob.size)
        };
        let file = MediaFile {
            file_id,
            user_id: Uuid::nil(),
            file_name: String::new(),
            created_at: blob.created_at,
            blob,
        };
        self.serve(file, path, mime, size, ByteRange::Whole).await
    }

    /// The pinned blob once its pending preview is made or given up, or as it is after
    /// `media.thumbnail_wait_ms`; a skipped preview is queued again meanwhile.
    async fn await_preview(
        &self,
        job_id: Uuid,
        file_id: Uuid,
        blob: MediaBlob,
    ) -> Result<MediaBlob> {
        let deadline =
            tokio::time::Instant::now() + Duration::from_millis(self.config.thumbnail_wait_ms);
        let mut blob = self.remake_preview(blob).await?;
        while (blob.preview_pending || blob.preview_skipped)
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(PREVIEW_POLL).await;
            blob = self
                .store
                .pinned_media_blob(job_id, file_id)
                .await?
                .ok_or(MediaError::NotFound)?;
            // Tried again and the storage is still full: no use trying again every poll.
            if blob.preview_skipped && self.previews.full_storage(&blob.sha256).is_some() {
                break;
            }
            blob = self.remake_preview(blob).await?;
        }
        if blob.preview_pending || blob.preview_skipped {
            tracing::info!(%file_id, "the thumbnail was not made in time: sent without");
        }
        Ok(blob)
    }

    /// A stored preview larger than Telegram's thumbnails, scaled down to
    /// [`THUMBNAIL_MAX_SIDE`] (by the image code previews are made with).
    async fn thumbnail(&self, file_id: Uuid, blob: MediaBlob, path: &Path) -> Result<Download> {
        let stored = self.storage.objects().get(path).await?.bytes().await?;
        let max_pixels = self.config.max_image_pixels;
        // Decoding is CPU work: off the async runtime.
        let scaled = tokio::task::spawn_blocking(move || {
            crate::analyze::preview_of(&stored, THUMBNAIL_MAX_SIDE, max_pixels)
        })
        .await
        .map_err(|error| MediaError::Internal(error.to_string()))?
        .map_err(|error| {
            MediaError::Internal(format!("a stored preview does not decode: {error}"))
        })?
        .0;
        let size = scaled.len() as u64;
        Ok(Download {
            file: MediaFile {
                file_id,
                user_id: Uuid::nil(),
                file_name: String::new(),
                created_at: blob.created_at,
                blob,
            },
            mime: "image/jpeg".to_owned(),
            size,
            range: Some((0, size)),
            body: futures::stream::once(async move { Ok(scaled) }).boxed(),
        })
    }

    /// Removes the user's file; its bytes go once nothing refers to them.
    pub async fn delete(&self, user_id: Uuid, file_id: Uuid) -> Result<()> {
        let sha256 = self
            .store
            .delete_media_file(user_id, file_id)
            .await?
            .ok_or(MediaError::NotFound)?;
        self.collect(&sha256).await;
        Ok(())
    }

    /// Removes a blob's bytes when nothing refers to it (best effort: the sweep retries).
    pub async fn collect(&self, sha256: &str) {
        let claimed = match self.store.claim_unreferenced_blob(sha256).await {
            Ok(claimed) => claimed,
            Err(error) => {
                tracing::warn!(%error, "could not check a blob for collection");
                return;
            }
        };
        let Some(blob) = claimed else { return };
        let objects = self.storage.objects();
        for path in [blob_path(&blob.sha256), preview_path(&blob.sha256)] {
            match objects.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(error) => {
                    tracing::warn!(%error, "could not delete a blob's object (the sweep retries)");
                    return;
                }
            }
        }
        if let Err(error) = self.store.forget_blob(&blob.sha256).await {
            tracing::warn!(%error, "could not forget a deleted blob (the sweep retries)");
        }
    }

    /// Removes what interrupted uploads and deletes left: pending files and temporary
    /// objects older than `media.stale_upload_secs`, and blobs nothing refers to.
    pub async fn sweep(&self) -> Result<SweepReport> {
        let mut report = SweepReport::default();
        let stale_age = Duration::from_secs(self.config.stale_upload_secs);
        let cutoff = talkapp_store::now()
            - chrono::TimeDelta::from_std(stale_age).unwrap_or(chrono::TimeDelta::hours(1));
        for file_id in self.store.stale_pending_files(cutoff, 1000).await? {
            if self.store.abort_media_file(file_id).await? {
                report.abandoned_files += 1;
            }
        }
        for sha256 in self.store.unreferenced_blobs(1000).await? {
            self.collect(&sha256).await;
            report.collected_blobs += 1;
        }
        // Previews left pending by a process that stopped (stored before this one
        // started), or pending far longer than any queue takes, or claimed by a worker
        // whose lease expired (it died). When the workers look in the store themselves,
        // they take those as they are free (none skipped for want of room in the queue):
        // the sweep queues them only when the workers do not look.
        let requeue_before = cutoff.max(self.started_at);
        let awaiting = if self.config.preview_store_poll_ms == 0 {
            self.store
                .blobs_awaiting_preview(requeue_before, REQUEUE_BATCH)
                .await?
        } else {
            Vec::new()
        };
        for blob in awaiting {
            let mut blob = blob;
            self.queue_preview(&mut blob).await;
            if blob.preview_pending {
                report.queued_previews += 1;
            } else {
                report.skipped_previews += 1;
            }
        }
        report.temporary_objects = self.sweep_temporary(cutoff).await?;
        Ok(report)
    }

    async fn sweep_temporary(&self, cutoff: chrono::DateTime<chrono::Utc>) -> Result<u64> {
        let mut removed = 0;
        if let Some(root) = self.storage.local_root() {
            // Staging files of interrupted writes (`tmp/<id>#<n>`) are invisible to
            // `list`: look at the directory itself.
            let directory = root.join(TEMPORARY_PREFIX);
            let cutoff = std::time::SystemTime::from(cutoff);
            removed = tokio::task::spawn_blocking(move || {
                let mut removed = 0_u64;
                let Ok(entries) = std::fs::read_dir(&directory) else {
                    return removed;
                };
                for entry in entries.flatten() {
                    let old = entry
                        .metadata()
                        .and_then(|metadata| metadata.modified())
                        .is_ok_and(|modified| modified < cutoff);
                    if old && std::fs::remove_file(entry.path()).is_ok() {
                        removed += 1;
                    }
                }
                removed
            })
            .await
            .map_err(|error| MediaError::Internal(error.to_string()))?;
            return Ok(removed);
        }
        let objects = self.storage.objects();
        let mut listing = objects.list(Some(&Path::from(TEMPORARY_PREFIX)));
        while let Some(meta) = listing.next().await {
            let meta = meta?;
            if meta.last_modified < cutoff {
                objects.delete(&meta.location).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// What one sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    /// Pending files given up.
    pub abandoned_files: u64,
    /// Blobs checked for collection.
    pub collected_blobs: u64,
    /// Temporary objects removed.
    pub temporary_objects: u64,
    /// Pending previews (of a stopped process) offered to the queue again (only with
    /// `media.preview_store_poll_ms` 0: else the workers take them from the store).
    pub queued_previews: u64,
    /// Pending previews given up because the queue was full (idem).
    pub skipped_previews: u64,
}

struct Received {
    size: u64,
    sha256: String,
    head: Bytes,
    mime: &'static str,
    kind: talkapp_store::MediaKind,
}

/// Regroups a byte stream into pieces of about [`DOWNLOAD_CHUNK_BYTES`].
fn rechunk(
    stream: impl Stream<Item = Result<Bytes>> + Send + 'static,
) -> BoxStream<'static, Result<Bytes>> {
    let mut stream = Box::pin(stream);
    async_stream(move |sender| async move {
        let mut buffer = BytesMut::new();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(chunk) => {
                    buffer.extend_from_slice(&chunk);
                    if buffer.len() >= DOWNLOAD_CHUNK_BYTES
                        && sender.send(Ok(buffer.split().freeze())).await.is_err()
                    {
                        return;
                    }
                }
                Err(error) => {
                    // The caller stopped reading the download: nothing left to send to.
                    let _ = sender.send(Err(error)).await;
                    return;
                }
            }
        }
        if !buffer.is_empty() {
            // The caller stopped reading the download: nothing left to send to.
            let _ = sender.send(Ok(buffer.freeze())).await;
        }
    })
}

/// A stream fed by a task through a small channel (back-pressure: one piece ahead).
fn async_stream<F, Fut>(produce: F) -> BoxStream<'static, Result<Bytes>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<Bytes>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (sender, receiver) = tokio::sync::mpsc::channel(1);
    tokio::spawn(produce(sender));
    tokio_stream::wrappers::ReceiverStream::new(receiver).boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_resolve_within_the_file() {
        assert_eq!(ByteRange::Whole.resolve(10), Some((0, 10)));
        assert_eq!(
            ByteRange::From {
                offset: 2,
                length: Some(3)
            }
            .resolve(10),
            Some((2, 5))
        );
        assert_eq!(
            ByteRange::From {
                offset: 8,
                length: Some(30)
            }
            .resolve(10),
            Some((8, 10))
        );
        assert_eq!(
            ByteRange::From {
                offset: 10,
                length: None
            }
            .resolve(10),
            None
        );
        assert_eq!(ByteRange::Suffix(4).resolve(10), Some((6, 10)));
        assert_eq!(ByteRange::Suffix(40).resolve(10), Some((0, 10)));
        assert_eq!(ByteRange::Suffix(0).resolve(10), None);
    }
}
