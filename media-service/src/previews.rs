//! The queue of video and PDF previews made after their uploads answered (ADR 0049).
//!
//! Taking a video's frame costs an ffmpeg process (about 0.1 s of CPU, nearly all of it
//! the process's start), a PDF's page a pdftoppm process: an upload that waited for its
//! preview waited behind every other upload's too. So an upload whose blob needs one
//! records it as `preview_pending`, offers it to this queue and answers at once; a few
//! workers ([`PreviewQueue::workers`], `media.frame_concurrency`) take the previews from
//! a bounded queue (`media.preview_queue`). When the queue is full the preview is skipped
//! (none, counted): a burst of uploads never piles up unbounded work.
//!
//! A blob is in the queue at most once per process (by SHA-256): identical bytes uploaded
//! again while their preview waits share it. The queue lives in memory; what a stopped
//! process left pending is queued again by the sweep ([`crate::MediaCore::sweep`]).
//!
//! The work itself (the tool, storing the image, recording it) is
//! [`crate::MediaCore`]'s; this module only queues and counts.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use talkapp_store::MediaBlob;
use tokio::sync::mpsc;

/// A preview to make: what the tool needs to know of the blob.
#[derive(Debug, Clone)]
pub(crate) struct PreviewJob {
    pub(crate) sha256: String,
    pub(crate) size: u64,
    pub(crate) mime: String,
    pub(crate) duration_ms: Option<u64>,
}

impl PreviewJob {
    pub(crate) fn of(blob: &MediaBlob) -> Self {
        Self {
            sha256: blob.sha256.clone(),
            size: blob.size,
            mime: blob.mime.clone(),
            duration_ms: blob.duration_ms,
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
    /// Not made: the queue was full.
    Skipped,
    /// The blob was deleted meanwhile; whatever was written is removed.
    Gone,
}

impl Outcome {
    const fn label(self) -> &'static str {
        match self {
            Self::Made => "made",
            Self::None => "none",
            Self::Skipped => "skipped",
            Self::Gone => "gone",
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
}

#[derive(Default)]
struct Counters {
    made: AtomicU64,
    none: AtomicU64,
    skipped: AtomicU64,
    gone: AtomicU64,
}

/// The bounded queue of previews; cheap to clone (one queue per process).
#[derive(Clone)]
pub(crate) struct PreviewQueue {
    sender: mpsc::Sender<PreviewJob>,
    receiver: Arc<Mutex<Option<mpsc::Receiver<PreviewJob>>>>,
    /// SHA-256 of the blobs queued or being made.
    queued: Arc<Mutex<HashSet<String>>>,
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
        match self.sender.try_send(PreviewJob::of(blob)) {
            Ok(()) => {
                queued.insert(blob.sha256.clone());
                Offered::Queued
            }
            Err(_) => Offered::Full,
        }
    }

    /// The blob's preview is over (made, none, or gone): it may be queued again.
    pub(crate) fn finished(&self, sha256: &str) {
        self.queued
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(sha256);
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
}
