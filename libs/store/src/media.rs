//! Uploaded files: the narrow [`MediaStore`] the media service holds, and its records.
//!
//! Bytes are content-addressed: one [`MediaBlob`] per SHA-256 (its type, size and what the
//! previewer found), kept in the object store by the media service. A user's upload is a
//! [`MediaFile`], a reference to a blob under a `file_id` of its own; identical bytes
//! uploaded twice (by one user or two) are stored once. A queued send can pin a file's
//! blob, so that the bytes outlive the user's `DELETE` until the send is done.
//!
//! The protocol that keeps rows and objects consistent (the media service follows it):
//! 1. the bytes go to a temporary object;
//! 2. [`MediaStore::reserve_media_file`] counts the size against the user's quota, makes
//!    sure the blob row is live and adds the file as `pending` (a pending file is a
//!    reference, so the blob cannot be collected from here on);
//! 3. the temporary object is moved to the blob's key, then
//!    [`MediaStore::complete_media_file`] makes the file visible; a failure in between is
//!    undone with [`MediaStore::abort_media_file`], and a crash is undone by the sweep
//!    ([`MediaStore::stale_pending_files`]);
//! 4. a blob without references is collected: [`MediaStore::claim_unreferenced_blob`]
//!    marks it `deleting` (atomically with the check that nothing refers to it), the
//!    object is deleted, then [`MediaStore::forget_blob`] drops the row. A reservation
//!    that meets a `deleting` blob gets [`Reservation::BlobBusy`] and tries again once the
//!    row is gone.
//! 5. a blob recorded with `preview_pending` gets its preview after the upload answered:
//!    the worker making it first takes it with [`MediaStore::claim_blob_preview`] (a
//!    lease: no other worker, in this process or another replica, makes it meanwhile),
//!    writes the preview object, then [`MediaStore::finish_blob_preview`] records it (or
//!    that there is none, or that it was skipped under load) under that claim; when that
//!    finds the blob gone or `deleting`, the writer removes the object it wrote. A
//!    skipped preview is made pending again by [`MediaStore::requeue_skipped_preview`]
//!    when someone asks for it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::Result;

/// What a file is, from its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// A still image (JPEG, PNG, GIF, WebP).
    Photo,
    /// A video (MP4, WebM).
    Video,
    /// Music or other audio (MP3, FLAC, Ogg Vorbis, M4A, WAV).
    Audio,
    /// A voice note (Ogg Opus).
    Voice,
    /// Anything else on the allow-list (PDF, text, archives, ...).
    Document,
}

impl MediaKind {
    /// The wire form.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Photo => "photo",
            Self::Video => "video",
            Self::Audio => "audio",
            Self::Voice => "voice",
            Self::Document => "document",
        }
    }

    /// Parses the wire form.
    pub fn parse(value: &str) -> Option<Self> {
        [
            Self::Photo,
            Self::Video,
            Self::Audio,
            Self::Voice,
            Self::Document,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == value)
    }
}

/// One stored content: the same bytes are one blob, whoever uploaded them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaBlob {
    /// Lower-case hex SHA-256 of the bytes (the object's key is derived from it).
    pub sha256: String,
    /// Bytes.
    pub size: u64,
    /// The type the bytes are (`image/png`), never the client's claim.
    pub mime: String,
    /// What the file is.
    pub kind: MediaKind,
    /// Pixels (images, videos), when known.
    pub width: Option<u32>,
    /// Pixels (images, videos), when known.
    pub height: Option<u32>,
    /// Milliseconds (audio, video, voice), when the container says.
    pub duration_ms: Option<u64>,
    /// A voice note's waveform: one value 0..=31 per byte, up to 100 values.
    pub waveform: Option<Vec<u8>>,
    /// Bytes of the preview image stored beside the blob (a JPEG), when there is one.
    pub preview_size: Option<u64>,
    /// Whether a preview is still to be made for it (a video's frame or a PDF's page,
    /// made after the upload answered: ADR 0049); then `preview_size` is `None` until
    /// [`MediaStore::finish_blob_preview`].
    pub preview_pending: bool,
    /// Whether its preview was turned away under load (a full queue, storage
    /// unreachable, no process to be had) rather than failed on the bytes: it is made again on demand
    /// ([`MediaStore::requeue_skipped_preview`]). Never set together with
    /// `preview_pending`.
    pub preview_skipped: bool,
    /// When the first copy was stored.
    pub created_at: DateTime<Utc>,
}

/// A user's upload: a reference, under its own id, to a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaFile {
    /// The id the user knows it by.
    pub file_id: Uuid,
    /// Whose it is.
    pub user_id: Uuid,
    /// The name given at upload, sanitised (may be empty).
    pub file_name: String,
    /// When it was uploaded.
    pub created_at: DateTime<Utc>,
    /// The bytes it refers to.
    pub blob: MediaBlob,
}

/// What [`MediaStore::reserve_media_file`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// The file is recorded as pending and its size counted.
    Reserved,
    /// It would take the user past `quota` bytes; nothing was recorded.
    QuotaExceeded {
        /// Bytes the user's files take now.
        used: u64,
    },
    /// The blob is being deleted right now; try again shortly (nothing was recorded).
    BlobBusy,
}

/// How a blob's pending preview ended ([`MediaStore::finish_blob_preview`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreviewEnd {
    /// Made: the bytes of the object written beside the blob.
    Made(u64),
    /// None can be made (the tool failed on the bytes, or is off): final.
    None,
    /// Turned away under load: made again when asked for.
    Skipped,
}

/// What [`MediaStore::finish_blob_preview`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreviewFinish {
    /// Recorded.
    Recorded,
    /// The blob is live but its preview is not pending under this claim (another worker
    /// holds it, or finished it already): nothing recorded, and the preview object is
    /// that worker's to keep.
    NotClaimed,
    /// The blob is gone or being collected: nothing recorded; remove what was written.
    Gone,
}

/// Files, blobs, quotas and pins.
#[async_trait]
pub trait MediaStore: Send + Sync + 'static {
    /// Answers when the database is reachable.
    async fn ping_media(&self) -> Result<()>;

    /// Counts `blob.size` against `user_id`'s `quota_bytes`, makes sure `blob` is recorded
    /// and live, and adds the file (pending, invisible) under `file_id`.
    async fn reserve_media_file(&self, file: &MediaFile, quota_bytes: u64) -> Result<Reservation>;

    /// Makes a pending file visible; `None` when there is no such pending file.
    async fn complete_media_file(&self, file_id: Uuid) -> Result<Option<MediaFile>>;

    /// Forgets a pending file and gives its size back; false when there was none.
    async fn abort_media_file(&self, file_id: Uuid) -> Result<bool>;

    /// A visible file of `user_id` (anyone else's, or a pending one, is `None`).
    async fn media_file(&self, user_id: Uuid, file_id: Uuid) -> Result<Option<MediaFile>>;

    /// Removes a visible file of `user_id` and gives its size back; returns the SHA-256
    /// of its blob (to collect when nothing else refers to it), `None` when there was no
    /// such file of this user.
    async fn delete_media_file(&self, user_id: Uuid, file_id: Uuid) -> Result<Option<String>>;

    /// Bytes the user's files take (pending ones included).
    async fn media_usage(&self, user_id: Uuid) -> Result<u64>;

    /// Pins the blob of `user_id`'s visible file for `job_id` (a queued send): its bytes
    /// stay while the pin does, even if the file is deleted. Answers the file as pinned
    /// (read with the pin, in one statement on PostgreSQL: the send's acceptance waits for
    /// it); `None` when no such file. Pinning the same file for the same job twice is one
    /// pin.
    async fn pin_media_file(
        &self,
        user_id: Uuid,
        file_id: Uuid,
        job_id: Uuid,
    ) -> Result<Option<MediaFile>>;

    /// The blob `job_id` pinned for `file_id` (whether or not the file was deleted since);
    /// `None` when the job holds no such pin.
    async fn pinned_media_blob(&self, job_id: Uuid, file_id: Uuid) -> Result<Option<MediaBlob>>;

    /// Releases every pin of `job_id`; returns the SHA-256 of the blobs it pinned.
    async fn release_media_pins(&self, job_id: Uuid) -> Result<Vec<String>>;

    /// Marks the blob `deleting` when no file (pending or visible) and no pin refers to
    /// it, and returns it; `None` when it is referenced or unknown. A blob already
    /// `deleting` (a collection that crashed half way) is returned again.
    async fn claim_unreferenced_blob(&self, sha256: &str) -> Result<Option<MediaBlob>>;

    /// Drops the row of a `deleting` blob (after its object was deleted).
    async fn forget_blob(&self, sha256: &str) -> Result<()>;

    /// Blobs nothing refers to any more, or left `deleting` (for the sweep).
    async fn unreferenced_blobs(&self, limit: u32) -> Result<Vec<String>>;

    /// Takes a live blob's pending preview for `claim` (one attempt of one worker) until
    /// `lease` from now, by the store's clock; false when it is not pending, or someone
    /// else's claim on it has not expired yet.
    async fn claim_blob_preview(
        &self,
        sha256: &str,
        claim: Uuid,
        lease: std::time::Duration,
    ) -> Result<bool>;

    /// Gives back `claim` on a blob's pending preview unfinished (a worker stopped); it
    /// stays pending, for anyone to take at once.
    async fn release_blob_preview(&self, sha256: &str, claim: Uuid) -> Result<()>;

    /// Records the end of a blob's pending preview, and drops its claim. With
    /// `Some(claim)`, only while that claim holds it; with `None` (a preview turned away
    /// before anyone took it), only while no unexpired claim does.
    async fn finish_blob_preview(
        &self,
        sha256: &str,
        claim: Option<Uuid>,
        end: PreviewEnd,
    ) -> Result<PreviewFinish>;

    /// Makes a live blob's skipped preview pending again (someone asked for it); false
    /// when it is not skipped (made, failed, pending already, or gone).
    async fn requeue_skipped_preview(&self, sha256: &str) -> Result<bool>;

    /// Live blobs with a preview pending that no claim holds, first stored before
    /// `before`, and those whose claim has expired (its worker died), whenever stored;
    /// oldest first (to queue again after a restart).
    async fn blobs_awaiting_preview(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<MediaBlob>>;

    /// Pending files reserved before `before` (their upload died; for the sweep).
    async fn stale_pending_files(&self, before: DateTime<Utc>, limit: u32) -> Result<Vec<Uuid>>;
}
