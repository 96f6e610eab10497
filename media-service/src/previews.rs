//! The queue of video and PDF previews made after their uploads answered (ADR 0049).
//!
//! Taking a video's frame costs an ffmpeg process (about 0.1 s of CPU, nearly all of it
//! the process's start), a PDF's page a pdftoppm process: an upload that waited for its
//! preview waited behind every other upload's too. So an upload whose blob needs one
//! records it as `preview_pending`, offers it to this queue and answers at once; a few
//! workers ([`PreviewQueue::workers`], `media.frame_concurrency`) take the previews from
//! a bounded queue (`media.preview_queue`). When the queue is full the preview is skipped
//! (counted, and recorded as skipped: made again when someone asks for it): a burst of
//! uploads never piles up unbounded work.
//!
//! Several media-service replicas each have a queue; a worker claims a preview in the
//! store (a lease) before making it, so a preview queued by two replicas is made once.
//! A worker with nothing in its own queue takes the oldest pending preview no one holds
//! from the store ([`crate::MediaCore::run_previews`], at most every
//! `media.preview_store_poll_ms` while the store has none): what waits in a busy
//! replica's queue, or in the queue of one that stopped, is made by whichever replica
//! has a worker free.
//!
//! A blob is in the queue at most once per process (by SHA-256): identical bytes uploaded
//! again while their preview waits share it. The queue lives in memory; what a stopped
//! process left pending is taken from the store by the idle workers of another replica,
//! or of the same one started again (with `media.preview_store_poll_ms` 0, queued again
//! by the sweep instead: [`crate::MediaCore::sweep`]).
//!
//! A preview whose image could not be stored because the storage is full is skipped like
//! one the queue had no room for (made again when asked for), and remembered here as
//! skipped for that reason ([`PreviewQueue::skipped_for_full_storage`]), so that asking
//! for it says the storage is full (507) rather than that it is being made (ADR 0069,
//! amended). In memory only: another replica, or this one after a restart, answers 409
//! `preview_pending` the first time and learns it from its own try.
//!
//! The work itself (the tool, storing the image, recording it) is
//! [`crate::MediaCore`]'s; this module only queues and counts.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use talkapp_store::MediaBlob;
use tokio::sync::mpsc;

use crate::error::FullStorage;

/// Blobs remembered as skipped for a full storage, at most (past it the memory starts
/// again: a forgotten one is answered `preview_pending` once, and learnt again).
const MAX_FULL_STORAGE_SKIPS: usize = 10_000;

/// A preview to make: what the tool needs to know of the blob.
#[derive(Debug, Clone)]
pub(crate) struct PreviewJob {
    pub(crate) sha256: String,
    pub(crate) size: u64,
    pub(crate) mime: String,
    pub(crate) duration_ms: Option<u64>,
    /// The store's claim on it when it was taken from the store (claimed before it was
    /// taken); `None` for a job of this process's queue (claimed when a worker takes it).
    pub(crate) claim: Option<uuid::Uuid>,
}

impl PreviewJob {
    pub(crate) fn of(blob: &MediaBlob) -> Self {
        Self {
            sha256: blob.sha256.clone(),
            size: blob.size,
            mime: blob.mime.clone(),
            duration_ms: blob.duration_ms,
            claim: None,
        }
    }
}

/// What [`PreviewQueue::offer`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offered {
    /// Queued.
    Queued,
    /// The same blob is queued or being made already.
    AlreadyQueued,
    /// The queue is full: no preview.
    Full,
}

/// How a preview ended, for the counts and `talkapp_media_previews_total{outcome}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Made and recorded.
    Made,
    /// The tool made none (it failed, timed out, or is off).
    None,
    /// Not made under load (the queue was full, storage unreachable, no process):
    /// made again when asked for.
    Skipped,
    /// The blob was deleted meanwhile; whatever was written is removed.
    Gone,
    /// Not made here: another worker (another replica) holds it or made it already.
    Elsewhere,
}

impl Outcome {
    const fn label(self) -> &'static str {
        match self {
            Self::Made => "made",
            Self::None => "none",
            Self::Skipped => "skipped",
            Self::Gone => "gone",
            Self::Elsewhere => "elsewhere",
        }
    }
}

/// Previews by outcome since the process started (also the metric).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PreviewCounts {
    /// Made and recorded.
    pub made: u64,
    /// The tool made none.
    pub none: u64,
    /// Skipped: the queue was full.
    pub skipped: u64,
    /// The file was deleted before its preview was recorded.
    pub gone: u64,
    /// Taken up here but made (or being made) by another worker: not made twice.
    pub elsewhere: u64,
    /// Taken from the store by an idle worker (queued by another replica, or left by one
    /// that stopped), not from this process's queue; counted again in its outcome.
    pub from_store: u64,
}

#[derive(Default)]
struct Counters {
    made: AtomicU64,
    none: AtomicU64,
    skipped: AtomicU64,
    gone: AtomicU64,
    elsewhere: AtomicU64,
    from_store: AtomicU64,
    /// Previews being made now.
    busy: AtomicU64,
}

/// The bounded queue of previews; cheap to clone (one queue per process).
#[derive(Clone)]
pub(crate) struct PreviewQueue {
    sender: mpsc::Sender<PreviewJob>,
    receiver: Arc<Mutex<Option<mpsc::Receiver<PreviewJob>>>>,
    /// SHA-256 of the blobs queued or being made.
    queued: Arc<Mutex<HashSet<String>>>,
    /// The store's claims this process's workers hold, by SHA-256 (given back at a stop).
    held: Arc<Mutex<HashMap<String, uuid::Uuid>>>,
    /// Blobs whose preview was last skipped because the storage was full, and how.
    full_storage: Arc<Mutex<HashMap<String, FullStorage>>>,
    counters: Arc<Counters>,
    workers: usize,
}

impl PreviewQueue {
    /// A queue of at most `capacity` previews waiting, for `workers` workers.
    pub(crate) fn new(capacity: usize, workers: usize) -> Self {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        Self {
            sender,
            receiver: Arc::new(Mutex::new(Some(receiver))),
            queued: Arc::new(Mutex::new(HashSet::new())),
            held: Arc::new(Mutex::new(HashMap::new())),
            full_storage: Arc::new(Mutex::new(HashMap::new())),
            counters: Arc::new(Counters::default()),
            workers: workers.max(1),
        }
    }

    /// Previews made at once.
    pub(crate) fn workers(&self) -> usize {
        self.workers
    }

    /// Queues the preview of `blob` unless it is queued already or the queue is full.
    pub(crate) fn offer(&self, blob: &MediaBlob) -> Offered {
        let mut queued = self.queued.lock().unwrap_or_else(PoisonError::into_inner);
        if queued.contains(&blob.sha256) {
            return Offered::AlreadyQueued;
        }
        let offered = match self.sender.try_send(PreviewJob::of(blob)) {
            Ok(()) => {
                queued.insert(blob.sha256.clone());
                Offered::Queued
            }
            Err(_) => Offered::Full,
        };
        self.publish_depth();
        offered
    }

    /// Marks the blob as being made here, for a preview taken from the store (not from
    /// the queue); false when it is queued or being made here already.
    pub(crate) fn take_up(&self, sha256: &str) -> bool {
        self.queued
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(sha256.to_owned())
    }

    /// A preview was taken from the store (`talkapp_media_previews_from_store_total`).
    pub(crate) fn count_from_store(&self) {
        self.counters.from_store.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("talkapp_media_previews_from_store_total").increment(1);
    }

    /// Whether the queue has room for one more now (it may be taken before an offer).
    pub(crate) fn has_room(&self) -> bool {
        self.sender.capacity() > 0
    }

    /// Previews waiting in the queue (not being made).
    pub(crate) fn depth(&self) -> u64 {
        (self.sender.max_capacity() - self.sender.capacity()) as u64
    }

    /// Previews being made now.
    pub(crate) fn busy(&self) -> u64 {
        self.counters.busy.load(Ordering::Relaxed)
    }

    /// `talkapp_media_preview_queue_depth` as it is now.
    pub(crate) fn publish_depth(&self) {
        metrics::gauge!("talkapp_media_preview_queue_depth").set(self.depth() as f64);
    }

    /// A worker took a preview up: it is out of the queue and being made.
    pub(crate) fn started(&self) {
        self.counters.busy.fetch_add(1, Ordering::Relaxed);
        self.publish_busy();
        self.publish_depth();
    }

    /// A worker is done with a preview (whatever its outcome).
    pub(crate) fn stopped(&self) {
        self.counters.busy.fetch_sub(1, Ordering::Relaxed);
        self.publish_busy();
    }

    fn publish_busy(&self) {
        metrics::gauge!("talkapp_media_preview_workers_busy").set(self.busy() as f64);
    }

    /// The blob's preview is over (made, none, or gone): it may be queued again.
    pub(crate) fn finished(&self, sha256: &str) {
        self.queued
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(sha256);
    }

    /// A worker holds the store's `claim` on the blob's preview.
    pub(crate) fn hold(&self, sha256: &str, claim: uuid::Uuid) {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(sha256.to_owned(), claim);
    }

    /// The worker is done with its claim.
    pub(crate) fn let_go(&self, sha256: &str) {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(sha256);
    }

    /// The claims held now.
    pub(crate) fn held(&self) -> Vec<(String, uuid::Uuid)> {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(sha256, claim)| (sha256.clone(), *claim))
            .collect()
    }

    /// The blob's preview was skipped because its image could not be stored: the storage
    /// is full (`reason`); `None`: it ended otherwise (made, none, gone, skipped for another
    /// reason), and what was remembered of it is forgotten.
    pub(crate) fn skipped_for_full_storage(&self, sha256: &str, reason: Option<FullStorage>) {
        let mut full = self
            .full_storage
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(reason) = reason else {
            full.remove(sha256);
            return;
        };
        if full.len() >= MAX_FULL_STORAGE_SKIPS && !full.contains_key(sha256) {
            full.clear();
        }
        full.insert(sha256.to_owned(), reason);
    }

    /// How the storage was full when the blob's preview was last skipped, if that is why.
    pub(crate) fn full_storage(&self, sha256: &str) -> Option<FullStorage> {
        self.full_storage
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(sha256)
            .copied()
    }

    /// The receiving end, once (the workers' dispatcher takes it).
    pub(crate) fn take_receiver(&self) -> Option<mpsc::Receiver<PreviewJob>> {
        self.receiver
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// Counts an outcome (and the metric).
    pub(crate) fn count(&self, outcome: Outcome) {
        let counter = match outcome {
            Outcome::Made => &self.counters.made,
            Outcome::None => &self.counters.none,
            Outcome::Skipped => &self.counters.skipped,
            Outcome::Gone => &self.counters.gone,
            Outcome::Elsewhere => &self.counters.elsewhere,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("talkapp_media_previews_total", "outcome" => outcome.label())
            .increment(1);
    }

    /// The counts so far.
    pub(crate) fn counts(&self) -> PreviewCounts {
        PreviewCounts {
            made: self.counters.made.load(Ordering::Relaxed),
            none: self.counters.none.load(Ordering::Relaxed),
            skipped: self.counters.skipped.load(Ordering::Relaxed),
            gone: self.counters.gone.load(Ordering::Relaxed),
            elsewhere: self.counters.elsewhere.load(Ordering::Relaxed),
            from_store: self.counters.from_store.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(seed: &str) -> MediaBlob {
        MediaBlob {
            sha256: format!("{seed:0>64}"),
            size: 10,
            mime: "video/mp4".to_owned(),
            kind: talkapp_store::MediaKind::Video,
            width: None,
            height: None,
            duration_ms: Some(2000),
            waveform: None,
            preview_size: None,
            preview_pending: true,
            preview_skipped: false,
            created_at: talkapp_store::now(),
        }
    }

    #[test]
    fn a_blob_is_queued_once_and_a_full_queue_refuses() {
        let queue = PreviewQueue::new(2, 1);
        assert_eq!(queue.offer(&blob("a")), Offered::Queued);
        assert_eq!(queue.offer(&blob("a")), Offered::AlreadyQueued);
        assert_eq!(queue.offer(&blob("b")), Offered::Queued);
        assert_eq!(queue.offer(&blob("c")), Offered::Full);

        let mut receiver = queue.take_receiver().expect("the receiver");
        assert!(queue.take_receiver().is_none(), "taken once");
        let first = receiver.try_recv().expect("a job");
        assert_eq!(first.sha256, blob("a").sha256);
        assert_eq!(
            queue.offer(&blob("a")),
            Offered::AlreadyQueued,
            "being made"
        );
        assert_eq!(queue.offer(&blob("c")), Offered::Queued, "room again");
        queue.finished(&first.sha256);
        assert_eq!(queue.offer(&blob("a")), Offered::Full);
    }

    #[test]
    fn a_preview_taken_from_the_store_is_not_queued_as_well_and_the_reverse() {
        let queue = PreviewQueue::new(2, 1);
        assert!(queue.take_up(&blob("a").sha256), "taken from the store");
        assert!(!queue.take_up(&blob("a").sha256), "once");
        assert_eq!(queue.offer(&blob("a")), Offered::AlreadyQueued);
        assert_eq!(queue.depth(), 0, "not in the queue");
        assert_eq!(queue.offer(&blob("b")), Offered::Queued);
        assert!(!queue.take_up(&blob("b").sha256), "queued here: not taken");
        queue.finished(&blob("a").sha256);
        assert!(queue.take_up(&blob("a").sha256), "made: may be taken again");
    }

    #[test]
    fn a_preview_skipped_for_a_full_storage_is_remembered_until_it_ends_otherwise() {
        let queue = PreviewQueue::new(2, 1);
        let sha256 = blob("a").sha256;
        assert_eq!(queue.full_storage(&sha256), None);
        queue.skipped_for_full_storage(&sha256, Some(FullStorage::NoSpace));
        assert_eq!(queue.full_storage(&sha256), Some(FullStorage::NoSpace));
        assert_eq!(
            queue.full_storage(&blob("b").sha256),
            None,
            "that blob only"
        );
        queue.skipped_for_full_storage(&sha256, Some(FullStorage::DiskQuota));
        assert_eq!(queue.full_storage(&sha256), Some(FullStorage::DiskQuota));
        queue.skipped_for_full_storage(&sha256, None);
        assert_eq!(queue.full_storage(&sha256), None, "made after all");
    }

    #[test]
    fn the_depth_counts_what_waits_and_busy_what_is_being_made() {
        let queue = PreviewQueue::new(3, 2);
        assert_eq!(
            (queue.depth(), queue.busy(), queue.has_room()),
            (0, 0, true)
        );
        for seed in ["a", "b", "c"] {
            assert_eq!(queue.offer(&blob(seed)), Offered::Queued);
        }
        assert_eq!((queue.depth(), queue.has_room()), (3, false));
        let mut receiver = queue.take_receiver().expect("the receiver");
        let job = receiver.try_recv().expect("a job");
        queue.started();
        assert_eq!(
            (queue.depth(), queue.busy(), queue.has_room()),
            (2, 1, true)
        );
        queue.stopped();
        queue.finished(&job.sha256);
        assert_eq!((queue.depth(), queue.busy()), (2, 0));
    }
}
