//! Sending messages as durable jobs.
//!
//! Any replica takes a send: the job is written to the store (the idempotency key makes
//! a repeat return the first job), the send is accepted, and a message naming it is
//! published, with publisher confirms, to the queue of the account's shard. The replica hosting the shard consumes
//! that queue and hands each message to the account's own worker (a job accepted by
//! that replica itself goes to the worker directly, without the queue: ADR 0060), which sends the
//! account's pending jobs strictly in the order they were asked for (the store's `seq`),
//! and acknowledges a message only once its job is final. So:
//!
//! * **Nothing is lost**: a job is in the store before the send is accepted; a message
//!   not acknowledged goes back to the queue when its consumer dies; a job whose publish
//!   failed (broker away) is published again by the relay, and is anyway sent when its
//!   account's worker next looks at its pending jobs. The relay also asks the worker of
//!   each account with a job older than two relay intervals still waiting to look again:
//!   a queue whose consumer link went silent (no error, no end, no deliveries) holds up
//!   nothing for longer than that (issue 16, finding 12).
//! * **Nothing is sent twice**: each job has a fixed Telegram `random_id`; Telegram
//!   de-duplicates on it, and a job already final is never sent again.
//! * **Order holds per account** (hence per chat), whatever order messages arrive in.
//! * **FLOOD_WAIT** pauses that account's worker for the time Telegram asks (the job goes
//!   back to `queued`), never a thread and never another account. Transient failures
//!   retry with back-off; a job out of attempts, or refused by Telegram, is `failed`
//!   with a stable reason and parked on the dead-letter queue.
//! * **Media sends take the same path.** A media send pins its files at the media
//!   service before its job is written (a `DELETE` of a file meanwhile does not break
//!   it), the account's host streams them from there to Telegram when the job's turn
//!   comes (never the whole file in memory), and the pins are released when the job is
//!   final.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use talkapp_bus::{Delivery, JobQueue};
use talkapp_store::{
    AccountKey, ChatStore, JobCreated, JobFile, JobMedia, MediaKind, NewSendJob, SendJob,
    StoreError,
};
use talkapp_telegram::account::{Account, AccountStatus, OutgoingText};
use talkapp_telegram::error::TelegramError;
use talkapp_telegram::send_media::{
    ByteStream, FileSource, MAX_ALBUM_FILES, MAX_CAPTION_CHARS, OutgoingFile, OutgoingMedia, SendAs,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::events::EventPublisher;
use crate::hosted_accounts::HostedAccounts;
use crate::media_files::{MediaFiles, MediaFilesError, PinnedFile};

/// The longest text Telegram takes in one message.
pub const MAX_TEXT_CHARS: usize = 4096;
/// The largest photo Telegram takes as a photo (larger ones go as documents).
pub const MAX_PHOTO_BYTES: u64 = 10 * 1024 * 1024;
/// The longest idempotency key accepted.
pub const MAX_CLIENT_MESSAGE_ID_CHARS: usize = 128;

/// Tries of a job whose chat Telegram does not know yet before it fails `chat_not_found`.
const UNKNOWN_CHAT_TRIES: u32 = 4;

/// Names the jobs derived from idempotency keys (UUIDv5 namespace).
const JOB_NAMESPACE: Uuid = Uuid::from_u128(0x6b1f_3c2e_8d4a_4f6b_9e21_7a5c_0d3b_1e90);

/// A message on a shard queue: the job to look at.
#[derive(Debug, Serialize, Deserialize)]
struct JobMessage {
    job_id: Uuid,
    user_id: Uuid,
    session_index: u32,
}

/// How sends are retried.
#[derive(Debug, Clone)]
pub struct SendOptions {
    /// Tries before a job fails with `attempts_exhausted`.
    pub max_attempts: u32,
    /// Unacknowledged messages a shard's consumer holds.
    pub prefetch: u16,
    /// The longest pause between retries of a transient failure.
    pub max_backoff: Duration,
    /// How often unconfirmed jobs are published again.
    pub relay_interval: Duration,
}

impl Default for SendOptions {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            prefetch: 256,
            max_backoff: Duration::from_secs(30),
            relay_interval: Duration::from_secs(5),
        }
    }
}

/// A send as asked for.
#[derive(Debug, Clone)]
pub struct SendRequest {
    /// Where.
    pub chat_id: i64,
    /// What.
    pub text: String,
    /// In reply to.
    pub reply_to: Option<i32>,
    /// Without notification.
    pub silent: bool,
    /// The caller's idempotency key.
    pub client_message_id: Option<String>,
}

/// A media send as asked for.
#[derive(Debug, Clone)]
pub struct MediaSendRequest {
    /// Where.
    pub chat_id: i64,
    /// The uploaded files: one, or an album of up to [`MAX_ALBUM_FILES`].
    pub file_ids: Vec<Uuid>,
    /// How to send them; `None`: as the first file is.
    pub kind: Option<SendAs>,
    /// Up to [`MAX_CAPTION_CHARS`] characters.
    pub caption: String,
    /// In reply to.
    pub reply_to: Option<i32>,
    /// Without notification.
    pub silent: bool,
    /// The caller's idempotency key (required: a media send is never anonymous).
    pub client_message_id: String,
}

/// Why a send was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// A field is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// A file is not the user's (or does not exist).
    #[error("no such file")]
    FileNotFound,
    /// A file cannot be sent as the kind asked for.
    #[error("{0}")]
    NotSendableAs(String),
    /// The media service is not reachable now.
    #[error("the media service is not reachable")]
    MediaUnavailable,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Characters a message text may not hold: C0 and C1 controls and DEL (a NUL reached
/// Telegram as a message of its own; escape sequences would reach terminals and logs),
/// except the line breaks and tab that text uses.
pub(crate) fn forbidden_in_text(c: char) -> bool {
    c.is_control() && !matches!(c, '\n' | '\r' | '\t')
}

/// The job id for an idempotency key: the same key of the same account, the same job
/// (also the id its files are pinned under at the media service).
pub fn job_id_for(key: AccountKey, client_message_id: Option<&str>) -> Uuid {
    match client_message_id {
        Some(client_message_id) => Uuid::new_v5(
            &JOB_NAMESPACE,
            format!("{}/{}/{client_message_id}", key.user_id, key.session_index).as_bytes(),
        ),
        None => Uuid::new_v4(),
    }
}

/// Telegram's `random_id` for a job: fixed by its id, so every try is the same send.
fn random_id_for(job_id: Uuid) -> i64 {
    let bytes = job_id.as_bytes();
    i64::from_le_bytes([
        bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
    ])
}

/// How each file of a media send goes to Telegram, or why it cannot.
fn send_as_of(kind: Option<SendAs>, files: &[PinnedFile]) -> Result<SendAs, SendError> {
    let first = files.first().ok_or(SendError::FileNotFound)?;
    let natural = |kind: MediaKind| match kind {
        MediaKind::Photo => SendAs::Photo,
        MediaKind::Video => SendAs::Video,
        MediaKind::Audio => SendAs::Audio,
        MediaKind::Voice => SendAs::Voice,
        MediaKind::Document => SendAs::Document,
    };
    let wanted = kind.unwrap_or_else(|| natural(first.kind));
    let album = files.len() > 1;
    for file in files {
        let fits = match wanted {
            SendAs::Document => true,
            // An album of photos and videos sends each as what it is.
            SendAs::Photo | SendAs::Video if album => {
                file.kind == MediaKind::Video
                    || (file.kind == MediaKind::Photo && file.size <= MAX_PHOTO_BYTES)
            }
            SendAs::Photo => file.kind == MediaKind::Photo && file.size <= MAX_PHOTO_BYTES,
            SendAs::Video => file.kind == MediaKind::Video,
            SendAs::Voice => file.kind == MediaKind::Voice && !album,
            SendAs::Audio => matches!(file.kind, MediaKind::Audio | MediaKind::Voice),
        };
        if !fits {
            let why = if album && wanted == SendAs::Voice {
                "a voice note cannot be part of an album".to_owned()
            } else if file.kind == MediaKind::Photo && file.size > MAX_PHOTO_BYTES {
                format!(
                    "file {} is larger than the {MAX_PHOTO_BYTES} bytes of a photo; send it as a document",
                    file.file_id
                )
            } else {
                format!(
                    "file {} is {} ({}), which cannot be sent as {}",
                    file.file_id,
                    file.kind.as_str(),
                    file.mime,
                    wanted.as_str()
                )
            };
            return Err(SendError::NotSendableAs(why));
        }
    }
    Ok(wanted)
}

fn check_client_message_id(client_message_id: &str) -> Result<(), SendError> {
    if client_message_id.is_empty()
        || client_message_id.chars().count() > MAX_CLIENT_MESSAGE_ID_CHARS
        || client_message_id.chars().any(char::is_control)
    {
        return Err(SendError::Invalid(format!(
            "client_message_id must have 1 to {MAX_CLIENT_MESSAGE_ID_CHARS} characters"
        )));
    }
    Ok(())
}

/// Accepts sends (any replica).
#[derive(Clone)]
pub struct Sends {
    store: Arc<dyn ChatStore>,
    queue: Arc<dyn JobQueue>,
    media: Arc<dyn MediaFiles>,
    /// This replica's send worker: a job whose shard it consumes is handed to it
    /// directly (ADR 0060).
    worker: Arc<SendWorker>,
}

impl Sends {
    /// Sends recorded in `store`, announced on `queue` (or handed to `worker` when it
    /// consumes the job's shard, ADR 0060); media files pinned at `media`.
    pub fn new(
        store: Arc<dyn ChatStore>,
        queue: Arc<dyn JobQueue>,
        media: Arc<dyn MediaFiles>,
        worker: Arc<SendWorker>,
    ) -> Self {
        Self {
            store,
            queue,
            media,
            worker,
        }
    }

    /// Records and queues a media send: its files pinned for the job first, then the job
    /// written to a chat the account's cache knows (checked with the insert, one
    /// statement). A repeated idempotency key returns the first job (and pins nothing).
    /// `None`: the cache does not know the chat (the pins just made are released).
    #[tracing::instrument(skip_all, fields(user_id = %key.user_id, session_index = key.session_index))]
    pub async fn submit_media(
        &self,
        key: AccountKey,
        request: MediaSendRequest,
    ) -> Result<Option<SendJob>, SendError> {
        check_client_message_id(&request.client_message_id)?;
        if request.file_ids.is_empty() || request.file_ids.len() > MAX_ALBUM_FILES {
            return Err(SendError::Invalid(format!(
                "name 1 to {MAX_ALBUM_FILES} files (file_id, or file_ids for an album)"
            )));
        }
        let mut distinct = request.file_ids.clone();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() != request.file_ids.len() {
            return Err(SendError::Invalid("file_ids must not repeat a file".into()));
        }
        if request.caption.chars().count() > MAX_CAPTION_CHARS {
            return Err(SendError::Invalid(format!(
                "caption must have at most {MAX_CAPTION_CHARS} characters"
            )));
        }
        let job_id = job_id_for(key, Some(&request.client_message_id));
        if let Some(existing) = self.store.send_job(key, job_id).await? {
            return Ok(Some(existing));
        }
        let pinned = match self.media.pin(key.user_id, job_id, &request.file_ids).await {
            Ok(pinned) => pinned,
            Err(error) => {
                self.release_unused(job_id).await;
                return Err(match error {
                    MediaFilesError::NotFound => SendError::FileNotFound,
                    MediaFilesError::Unavailable(_) | MediaFilesError::Failed(_) => {
                        tracing::warn!(%error, "cannot pin the files of a media send");
                        SendError::MediaUnavailable
                    }
                });
            }
        };
        let send_as = match send_as_of(request.kind, &pinned) {
            Ok(send_as) => send_as,
            Err(error) => {
                self.release_unused(job_id).await;
                return Err(error);
            }
        };
        let media = JobMedia {
            send_as: send_as.as_str().to_owned(),
            files: pinned
                .into_iter()
                .map(|file| JobFile {
                    file_id: file.file_id,
                    sha256: file.sha256,
                    size: file.size,
                    mime: file.mime,
                    file_name: file.file_name,
                    width: file.width,
                    height: file.height,
                    duration_ms: file.duration_ms,
                    waveform: file.waveform,
                    // A preview still being made is asked for at send, which waits
                    // a bounded time for it (ADR 0049).
                    has_preview: file.has_preview || file.preview_pending,
                })
                .collect(),
        };
        let created = self
            .store
            .create_send_job_in_known_chat(&NewSendJob {
                job_id,
                key,
                client_message_id: Some(request.client_message_id),
                chat_id: request.chat_id,
                text: request.caption,
                reply_to: request.reply_to,
                silent: request.silent,
                random_id: random_id_for(job_id),
                created_at: talkapp_store::now(),
                media: Some(media),
            })
            .await?;
        let Some(created) = created else {
            self.release_unused(job_id).await;
            return Ok(None);
        };
        Ok(Some(self.announce(created)))
    }

    /// Pins the user's uploaded file for a photo change (a chat's or the account's own):
    /// a job of its own that is never written, whose pin the caller releases with
    /// [`Sends::release_photo`] once the change is done. Answers the job and the file.
    /// (Should the process stop in between, the pin keeps the bytes, not the job.)
    pub async fn pin_photo(
        &self,
        user_id: Uuid,
        file_id: Uuid,
    ) -> Result<(Uuid, PinnedFile), SendError> {
        let job_id = Uuid::new_v4();
        let error = match self.media.pin(user_id, job_id, &[file_id]).await {
            Ok(mut files) if files.len() == 1 => return Ok((job_id, files.remove(0))),
            Ok(_) => SendError::MediaUnavailable,
            Err(MediaFilesError::NotFound) => SendError::FileNotFound,
            Err(error) => {
                tracing::warn!(%error, "cannot pin the file of a photo");
                SendError::MediaUnavailable
            }
        };
        self.release_unused(job_id).await;
        Err(error)
    }

    /// Releases the pin of a photo change ([`Sends::pin_photo`]).
    pub async fn release_photo(&self, job_id: Uuid) {
        self.release_unused(job_id).await;
    }

    /// Releases pins made for a job that was not written after all (a job that exists
    /// never gets here, so its pins are never taken away).
    async fn release_unused(&self, job_id: Uuid) {
        if let Err(error) = self.media.release(job_id).await {
            tracing::warn!(%error, %job_id, "pins of a refused media send not released");
        }
    }

    /// Records and queues a send to a chat the account's cache knows (checked with the
    /// insert, one statement); a repeated idempotency key returns the first job. `None`:
    /// the cache does not know the chat.
    #[tracing::instrument(skip_all, fields(user_id = %key.user_id, session_index = key.session_index))]
    pub async fn submit(
        &self,
        key: AccountKey,
        request: SendRequest,
    ) -> Result<Option<SendJob>, SendError> {
        if request.text.trim().is_empty() {
            return Err(SendError::Invalid("text must not be empty".into()));
        }
        if request.text.chars().count() > MAX_TEXT_CHARS {
            return Err(SendError::Invalid(format!(
                "text must have at most {MAX_TEXT_CHARS} characters"
            )));
        }
        if request.text.chars().any(forbidden_in_text) {
            return Err(SendError::Invalid(
                "text must not contain control characters (line breaks and tabs are fine)".into(),
            ));
        }
        if request.reply_to.is_some_and(|message_id| message_id < 1) {
            return Err(SendError::Invalid(
                "reply_to must be a message id (1 or more)".into(),
            ));
        }
        if let Some(client_message_id) = &request.client_message_id {
            check_client_message_id(client_message_id)?;
        }
        let job_id = job_id_for(key, request.client_message_id.as_deref());
        let created = self
            .store
            .create_send_job_in_known_chat(&NewSendJob {
                job_id,
                key,
                client_message_id: request.client_message_id,
                chat_id: request.chat_id,
                text: request.text,
                reply_to: request.reply_to,
                silent: request.silent,
                random_id: random_id_for(job_id),
                created_at: talkapp_store::now(),
                media: None,
            })
            .await?;
        Ok(created.map(|created| self.announce(created)))
    }

    /// Announces a job just written (or one written before and never announced).
    fn announce(&self, created: JobCreated) -> SendJob {
        let job = match created {
            JobCreated::New(job) => job,
            JobCreated::Existing(job) => {
                if job.published_at.is_some() || job.status.is_final() {
                    return job;
                }
                job
            }
        };
        // This replica consumes the job's shard: its worker is the one the announcement
        // would reach, so it gets the job directly (ADR 0060), without the broker's
        // publish, confirm, delivery and acknowledgement. What a lost announcement would
        // leave undone (this process ends before the worker took the job) is covered the
        // same way: the next holder's scan of the account's pending jobs, and the relay.
        if self.worker.take_here(job.job.key, job.job.job_id) {
            return job;
        }
        // The job is safe in the store from here: the announcement (and the broker's
        // confirm, a quorum write) is off the reply's path. Should it be lost, the relay
        // publishes the job again, and its account's worker finds it anyway when it next
        // looks at the pending jobs; a job announced twice is sent once. The confirm is
        // not written down (ADR 0039): that write cost a synchronous commit per send and
        // mostly waited for the worker's claim of the same row, while a job is usually
        // final long before the relay would look at it; one still waiting then is
        // announced once more by the relay, which records that it did.
        let queue = Arc::clone(&self.queue);
        let announced = job.clone();
        tokio::spawn(async move {
            publish(queue.as_ref(), &announced).await;
        });
        job
    }
}

/// Announces a job on its shard's queue; `true` once the broker confirmed it. A failure
/// is logged and left to the relay: the job is safe in the store.
async fn publish(queue: &dyn JobQueue, job: &SendJob) -> bool {
    let key = job.job.key;
    let message = JobMessage {
        job_id: job.job.job_id,
        user_id: key.user_id,
        session_index: key.session_index,
    };
    let Ok(body) = serde_json::to_vec(&message) else {
        return false;
    };
    let shard = talkapp_store::shard_of(key.user_id, key.session_index);
    match queue.publish(shard, &body).await {
        Ok(()) => true,
        Err(error) => {
            tracing::warn!(%error, job_id = %job.job.job_id, "job not published yet; the relay will");
            false
        }
    }
}

/// Records the broker's confirmation of a job's publish (so the relay leaves it alone).
async fn mark_published(store: &dyn ChatStore, job_id: Uuid) {
    if let Err(error) = store.mark_job_published(job_id, talkapp_store::now()).await {
        tracing::warn!(%error, %job_id, "cannot record the publish");
    }
}

/// What an account's worker is given.
enum Work {
    /// A queue message announcing a job: send what is pending, then acknowledge it.
    Delivery(Delivery, Uuid),
    /// A job accepted by this replica, which consumes its shard (ADR 0060): as a
    /// delivery, with no message to acknowledge.
    Accepted(Uuid),
    /// Look at the pending jobs (the account connected).
    Scan,
}

/// The files of a media job, read from the media service as Telegram takes them (also
/// the file a chat or profile photo is made of, [`Sends::pin_photo`]), and their preview
/// images as thumbnails.
pub(crate) struct PinnedSource {
    pub(crate) media: Arc<dyn MediaFiles>,
    pub(crate) job_id: Uuid,
    pub(crate) file_ids: Vec<Uuid>,
    /// The files (of `file_ids`) that have a preview image; no other is asked for one.
    pub(crate) previewed: Vec<Uuid>,
}

#[async_trait::async_trait]
impl FileSource for PinnedSource {
    async fn open(&self, index: usize) -> Result<ByteStream, TelegramError> {
        let file_id = self
            .file_ids
            .get(index)
            .ok_or_else(|| TelegramError::Internal(format!("no file {index} in the job")))?;
        self.media
            .open(self.job_id, *file_id)
            .await
            .map_err(|error| match error {
                // The pin is gone: nothing will bring the bytes back.
                MediaFilesError::NotFound => TelegramError::Refused {
                    code: 404,
                    name: "MEDIA_FILE_GONE".into(),
                },
                MediaFilesError::Unavailable(message) => TelegramError::Unavailable(message),
                MediaFilesError::Failed(message) => TelegramError::Internal(message),
            })
    }

    async fn thumb(&self, index: usize) -> Result<Option<Vec<u8>>, TelegramError> {
        let Some(file_id) = self
            .file_ids
            .get(index)
            .filter(|file_id| self.previewed.contains(file_id))
        else {
            return Ok(None);
        };
        match self.media.open_preview(self.job_id, *file_id).await {
            Ok(preview) => Ok(Some(preview)),
            Err(MediaFilesError::NotFound) => Ok(None),
            Err(MediaFilesError::Unavailable(message)) => Err(TelegramError::Unavailable(message)),
            Err(MediaFilesError::Failed(message)) => Err(TelegramError::Internal(message)),
        }
    }
}

/// What Telegram is asked to send for a media job.
fn outgoing_media(job: &SendJob, media: &JobMedia) -> Result<OutgoingMedia, TelegramError> {
    let wanted = SendAs::parse(&media.send_as)
        .ok_or_else(|| TelegramError::Internal(format!("unknown kind {}", media.send_as)))?;
    let album = media.files.len() > 1;
    Ok(OutgoingMedia {
        chat_id: job.job.chat_id,
        files: media
            .files
            .iter()
            .map(|file| OutgoingFile {
                sha256: file.sha256.clone(),
                size: file.size,
                file_name: file.file_name.clone(),
                mime: file.mime.clone(),
                // An album of photos and videos sends each as what it is.
                send_as: if album && matches!(wanted, SendAs::Photo | SendAs::Video) {
                    if file.mime.starts_with("video/") {
                        SendAs::Video
                    } else {
                        SendAs::Photo
                    }
                } else {
                    wanted
                },
                width: file.width,
                height: file.height,
                duration_ms: file.duration_ms,
                waveform: file.waveform.clone(),
            })
            .collect(),
        caption: job.job.text.clone(),
        reply_to: job.job.reply_to,
        silent: job.job.silent,
        random_id: job.job.random_id,
    })
}

/// Sends the jobs of the accounts hosted here (the replica holding their shards).
pub struct SendWorker {
    store: Arc<dyn ChatStore>,
    queue: Arc<dyn JobQueue>,
    hosted_accounts: Arc<HostedAccounts>,
    media: Arc<dyn MediaFiles>,
    events: Arc<EventPublisher>,
    options: SendOptions,
    accounts: Mutex<HashMap<AccountKey, WorkerHandle>>,
    shards: Mutex<HashMap<u16, CancellationToken>>,
    shutdown: CancellationToken,
}

/// An account's worker: where its work goes, and how it is stopped.
struct WorkerHandle {
    work: mpsc::UnboundedSender<Work>,
    stop: CancellationToken,
    /// A scan is asked for and not yet begun (scans asked for meanwhile are the same).
    scan_asked: Arc<std::sync::atomic::AtomicBool>,
}

/// Why a job could not be taken further now.
enum Blocked {
    /// The worker is stopping (shut down, or its account moved elsewhere).
    Stopping,
}

fn backoff(attempt: u32, max: Duration) -> Duration {
    Duration::from_millis(200_u64.saturating_mul(1_u64 << attempt.min(16))).min(max)
}

impl SendWorker {
    /// A worker sending through the accounts hosted here (`hosted_accounts`), telling `events` of finished jobs,
    /// stopping when `shutdown` fires.
    pub fn new(
        store: Arc<dyn ChatStore>,
        queue: Arc<dyn JobQueue>,
        hosted_accounts: Arc<HostedAccounts>,
        media: Arc<dyn MediaFiles>,
        events: Arc<EventPublisher>,
        options: SendOptions,
        shutdown: CancellationToken,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            queue,
            hosted_accounts,
            media,
            events,
            options,
            accounts: Mutex::new(HashMap::new()),
            shards: Mutex::new(HashMap::new()),
            shutdown,
        })
    }

    fn accounts(&self) -> std::sync::MutexGuard<'_, HashMap<AccountKey, WorkerHandle>> {
        self.accounts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn shard_tokens(&self) -> std::sync::MutexGuard<'_, HashMap<u16, CancellationToken>> {
        self.shards
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts consuming the queues of `shards` (now hosted here) and relaying their
    /// unconfirmed jobs.
    pub fn start_shards(self: &Arc<Self>, shards: &[u16]) {
        for &shard in shards {
            let stop = self.shutdown.child_token();
            if let Some(previous) = self.shard_tokens().insert(shard, stop.clone()) {
                previous.cancel();
            }
            tokio::spawn(Arc::clone(self).consume_shard(shard, stop.clone()));
            tokio::spawn(Arc::clone(self).relay_shard(shard, stop));
        }
    }

    /// Hands a job just accepted to its account's worker when this replica consumes the
    /// job's shard, as a delivery from its queue would (ADR 0060); `false`: the shard is
    /// not consumed here, the job is to be announced on its queue.
    ///
    /// Checked and handed under the lock [`SendWorker::stop_shards`] takes first: either
    /// the shard is still consumed here and the job reaches a worker that shard's release
    /// stops like any other (the next holder's scan of the account finds the job), or the
    /// release came first and the job goes to the queue, for the next holder.
    pub(crate) fn take_here(self: &Arc<Self>, key: AccountKey, job_id: Uuid) -> bool {
        let shard = talkapp_store::shard_of(key.user_id, key.session_index);
        let shards = self.shard_tokens();
        if shards
            .get(&shard)
            .is_none_or(CancellationToken::is_cancelled)
        {
            return false;
        }
        self.dispatch(key, Work::Accepted(job_id));
        drop(shards);
        true
    }

    /// Stops consuming `shards` (their unacknowledged messages go back to the queue for
    /// the next host) and stops the workers of their accounts.
    pub fn stop_shards(&self, shards: &[u16]) {
        let mut tokens = self.shard_tokens();
        for shard in shards {
            if let Some(token) = tokens.remove(shard) {
                token.cancel();
            }
        }
        drop(tokens);
        self.accounts().retain(|key, worker| {
            let moved = shards.contains(&talkapp_store::shard_of(key.user_id, key.session_index));
            if moved {
                worker.stop.cancel();
            }
            !moved
        });
    }

    /// The account connected: send whatever it has pending.
    pub fn account_connected(self: &Arc<Self>, key: AccountKey) {
        self.dispatch(key, Work::Scan);
    }

    /// The account is no longer hosted here: stop its worker.
    pub fn account_released(&self, key: AccountKey) {
        if let Some(worker) = self.accounts().remove(&key) {
            worker.stop.cancel();
        }
    }

    fn start_worker(self: &Arc<Self>, key: AccountKey) -> WorkerHandle {
        let (work, receiver) = mpsc::unbounded_channel();
        let stop = self.shutdown.child_token();
        let scan_asked = Arc::new(std::sync::atomic::AtomicBool::new(false));
        tokio::spawn(Arc::clone(self).account_worker(
            key,
            receiver,
            stop.clone(),
            Arc::clone(&scan_asked),
        ));
        WorkerHandle {
            work,
            stop,
            scan_asked,
        }
    }

    /// Asks the account's worker to look at its pending jobs, unless it is asked already.
    fn ask_scan(self: &Arc<Self>, key: AccountKey) {
        let asked = self
            .accounts()
            .get(&key)
            .is_some_and(|worker| worker.scan_asked.load(std::sync::atomic::Ordering::Relaxed));
        if !asked {
            self.dispatch(key, Work::Scan);
        }
    }

    fn dispatch(self: &Arc<Self>, key: AccountKey, work: Work) {
        let mut accounts = self.accounts();
        let worker = accounts
            .entry(key)
            .or_insert_with(|| self.start_worker(key));
        if matches!(work, Work::Scan) {
            worker
                .scan_asked
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        if let Err(mpsc::error::SendError(work)) = worker.work.send(work) {
            // The worker ended: start a new one.
            let worker = self.start_worker(key);
            // A worker just started holds its receiver until it stops, which it does at
            // once only when shutting down; the work is then dropped with it (a delivery
            // left unacknowledged comes back from the broker, a scan is redone at start).
            let _ = worker.work.send(work);
            accounts.insert(key, worker);
        }
    }

    async fn consume_shard(self: Arc<Self>, shard: u16, stop: CancellationToken) {
        let mut failures = 0;
        while !stop.is_cancelled() {
            let mut subscription = match self.queue.consume(shard, self.options.prefetch).await {
                Ok(subscription) => {
                    failures = 0;
                    subscription
                }
                Err(error) => {
                    if failures == 0 {
                        tracing::warn!(%error, shard, "cannot consume the send queue; retrying");
                    }
                    failures += 1;
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(backoff(failures, Duration::from_secs(5))) => {}
                    }
                    continue;
                }
            };
            loop {
                let delivery = tokio::select! {
                    () = stop.cancelled() => return,
                    delivery = subscription.next() => delivery,
                };
                let Some(delivery) = delivery else {
                    tracing::info!(shard, "send queue consumer ended; subscribing again");
                    break;
                };
                match serde_json::from_slice::<JobMessage>(&delivery.body) {
                    Ok(message) => self.dispatch(
                        AccountKey {
                            user_id: message.user_id,
                            session_index: message.session_index,
                        },
                        Work::Delivery(delivery, message.job_id),
                    ),
                    Err(error) => {
                        tracing::error!(%error, shard, "unreadable send queue message; parking it");
                        match self.queue.dead_letter(&delivery.body).await {
                            Ok(()) => {
                                if let Err(error) = delivery.ack().await {
                                    // Delivered again after the link is back, and parked again.
                                    tracing::warn!(%error, shard, "parked message not acknowledged");
                                }
                            }
                            // Left unacknowledged: it comes back when the broker link is
                            // restored, and is parked then.
                            Err(error) => {
                                tracing::warn!(%error, shard, "unreadable message not parked yet");
                            }
                        }
                    }
                }
            }
        }
    }

    /// Publishes the shard's jobs still to send a round after they were written and never
    /// announced by the relay (their first announcement may have been lost with the
    /// broker, ADR 0039).
    async fn relay_shard(self: Arc<Self>, shard: u16, stop: CancellationToken) {
        let mut interval = tokio::time::interval(self.options.relay_interval);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = interval.tick() => {}
            }
            let before = talkapp_store::now()
                - chrono::TimeDelta::from_std(self.options.relay_interval)
                    .unwrap_or(chrono::TimeDelta::seconds(5));
            match self.store.unpublished_jobs(&[shard], before, 500).await {
                Ok(jobs) => {
                    for job in jobs {
                        if !publish(self.queue.as_ref(), &job).await {
                            // The broker is away: the rest waits for the next round
                            // (the check for overdue jobs below must not wait for it).
                            break;
                        }
                        mark_published(self.store.as_ref(), job.job.job_id).await;
                    }
                }
                Err(error) => tracing::debug!(%error, shard, "relay cannot read the store"),
            }
            // Jobs the queue should have brought by now: their workers look again.
            let overdue = talkapp_store::now()
                - chrono::TimeDelta::from_std(self.options.relay_interval * 2)
                    .unwrap_or(chrono::TimeDelta::seconds(10));
            match self
                .store
                .accounts_with_waiting_jobs(&[shard], overdue, 500)
                .await
            {
                Ok(accounts) => {
                    for key in accounts {
                        if self.hosted_accounts.account(key).is_some() {
                            self.ask_scan(key);
                        }
                    }
                }
                Err(error) => tracing::debug!(%error, shard, "relay cannot read the store"),
            }
        }
    }

    async fn account_worker(
        self: Arc<Self>,
        key: AccountKey,
        mut work: mpsc::UnboundedReceiver<Work>,
        stop: CancellationToken,
        scan_asked: Arc<std::sync::atomic::AtomicBool>,
    ) {
        loop {
            let next = tokio::select! {
                () = stop.cancelled() => return,
                next = work.recv() => next,
            };
            let Some(next) = next else {
                return;
            };
            let done = match &next {
                Work::Scan => {
                    scan_asked.store(false, std::sync::atomic::Ordering::Relaxed);
                    self.send_pending(key, &stop).await
                }
                Work::Delivery(_, job_id) | Work::Accepted(job_id) => {
                    self.send_announced(key, *job_id, &stop).await
                }
            };
            if let Err(Blocked::Stopping) = done {
                return;
            }
            if let Work::Delivery(delivery, _) = next
                && let Err(error) = delivery.ack().await
            {
                // The consumer is gone: the message will come back and find its job final.
                tracing::debug!(%error, "acknowledgement not delivered");
            }
        }
    }

    /// Sends the job a queue message announced when it is the account's oldest still to
    /// send (its claim says so in one statement), else the account's pending jobs in
    /// order. Either way no job goes before an older one of its account: the claim is
    /// taken only when none is older, and jobs announced later come with messages of
    /// their own (or the relay's, or the overdue scan's).
    async fn send_announced(
        &self,
        key: AccountKey,
        job_id: Uuid,
        stop: &CancellationToken,
    ) -> Result<(), Blocked> {
        if let Some(account) = self.hosted_accounts.account(key)
            && account.status() != AccountStatus::LoggedOut
            && let Ok(Some(claimed)) = self
                .store
                .claim_job_in_order(key, job_id, talkapp_store::now())
                .await
        {
            return self
                .send_one(key, claimed.clone(), Some((account, claimed)), stop)
                .await;
        }
        // Not hosted here right now, an older job first, final already, or the store
        // away: the general path (which waits, fails or retries as each case needs).
        self.send_pending(key, stop).await
    }

    /// Sends the account's pending jobs, oldest first, 20 at a time until a read finds
    /// fewer (jobs written after that read come with announcements of their own).
    async fn send_pending(&self, key: AccountKey, stop: &CancellationToken) -> Result<(), Blocked> {
        loop {
            let pending = loop {
                match self.store.pending_jobs(key, 20).await {
                    Ok(pending) => break pending,
                    Err(error) => {
                        tracing::warn!(%error, "cannot read pending jobs; retrying");
                        pause(stop, Duration::from_secs(1)).await?;
                    }
                }
            };
            if pending.is_empty() {
                return Ok(());
            }
            let full = pending.len() >= 20;
            for job in pending {
                self.send_one(key, job, None, stop).await?;
            }
            // Fewer than asked for: none was left then, and a job written since comes
            // with an announcement of its own.
            if !full {
                return Ok(());
            }
        }
    }

    /// Takes one job to a final state (or until stopping); `claimed`: its first claim,
    /// taken already (with the account it was taken for).
    async fn send_one(
        &self,
        key: AccountKey,
        job: SendJob,
        mut claimed: Option<(Account, SendJob)>,
        stop: &CancellationToken,
    ) -> Result<(), Blocked> {
        let job_id = job.job.job_id;
        loop {
            if stop.is_cancelled() {
                return Err(Blocked::Stopping);
            }
            if let Some((account, claimed)) = claimed.take() {
                if let Some(done) = self.try_claimed(key, &account, claimed, stop).await? {
                    return Ok(done);
                }
                continue;
            }
            let Some(account) = self.hosted_accounts.account(key) else {
                match self
                    .store
                    .hosted_account(key.user_id, key.session_index)
                    .await
                {
                    Ok(None) => return self.fail(&job, stop, "session_unlinked").await,
                    Ok(Some(hosted)) if hosted.sealed_session.is_none() => {
                        return self.fail(&job, stop, "session_logged_out").await;
                    }
                    // Connecting, or hosted elsewhere for a moment: wait.
                    Ok(Some(_)) | Err(_) => {
                        pause(stop, Duration::from_millis(300)).await?;
                        continue;
                    }
                }
            };
            if account.status() == AccountStatus::LoggedOut {
                return self.fail(&job, stop, "session_logged_out").await;
            }
            let claimed = match self.store.claim_job(job_id, talkapp_store::now()).await {
                Ok(Some(claimed)) => claimed,
                // Final already (sent by an earlier try, or failed): its pins may have
                // outlived a crash.
                Ok(None) => {
                    if job.job.media.is_some() {
                        self.release_pins(job_id).await;
                    }
                    return Ok(());
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot claim job; retrying");
                    pause(stop, Duration::from_secs(1)).await?;
                    continue;
                }
            };
            if let Some(done) = self.try_claimed(key, &account, claimed, stop).await? {
                return Ok(done);
            }
        }
    }

    /// One try of a claimed job: `Some` once it is final, `None` when it was put back
    /// to be tried again (after the pause it called for).
    async fn try_claimed(
        &self,
        key: AccountKey,
        account: &Account,
        claimed: SendJob,
        stop: &CancellationToken,
    ) -> Result<Option<()>, Blocked> {
        let job_id = claimed.job.job_id;
        if claimed.attempts > self.options.max_attempts {
            return self
                .fail(&claimed, stop, "attempts_exhausted")
                .await
                .map(Some);
        }
        let sent = match &claimed.job.media {
            None => {
                let outgoing = OutgoingText {
                    chat_id: claimed.job.chat_id,
                    text: claimed.job.text.clone(),
                    reply_to: claimed.job.reply_to,
                    silent: claimed.job.silent,
                    random_id: claimed.job.random_id,
                };
                account.send_text(&outgoing).await
            }
            Some(media) => {
                let source = PinnedSource {
                    media: Arc::clone(&self.media),
                    job_id,
                    file_ids: media.files.iter().map(|file| file.file_id).collect(),
                    previewed: media
                        .files
                        .iter()
                        .filter(|file| file.has_preview)
                        .map(|file| file.file_id)
                        .collect(),
                };
                match outgoing_media(&claimed, media) {
                    Ok(outgoing) => account
                        .send_media(&outgoing, &source)
                        .await
                        .and_then(|sent| {
                            sent.into_iter().next().ok_or_else(|| {
                                TelegramError::Internal("no message was sent".into())
                            })
                        }),
                    Err(error) => Err(error),
                }
            }
        };
        match sent {
            Ok(sent) => {
                count_final(&claimed, "sent");
                let now = write_until_done(stop, || {
                    self.store
                        .complete_job(job_id, sent.id, sent.date, talkapp_store::now())
                })
                .await?;
                tracing::debug!(%job_id, message_id = sent.id, "job sent");
                self.tell(key, job_id, now).await;
                return Ok(Some(()));
            }
            Err(TelegramError::FloodWait { seconds }) => {
                tracing::info!(%job_id, seconds, "telegram asks to wait; the account's sends pause");
                metrics::counter!("talkapp_telegram_flood_waits_total", "call" => "send")
                    .increment(1);
                metrics::histogram!("talkapp_telegram_flood_wait_seconds")
                    .record(f64::from(seconds));
                requeue(self.store.as_ref(), job_id, stop).await?;
                pause(stop, Duration::from_secs(u64::from(seconds))).await?;
            }
            Err(error) if error.is_transient() => {
                tracing::info!(%job_id, %error, attempt = claimed.attempts, "send failed; retrying");
                requeue(self.store.as_ref(), job_id, stop).await?;
                pause(stop, backoff(claimed.attempts, self.options.max_backoff)).await?;
            }
            Err(TelegramError::Refused { name, .. }) if name == "RANDOM_ID_DUPLICATE" => {
                // An earlier try went through; Telegram does not say the id again.
                let now = write_until_done(stop, || {
                    self.store.complete_job(
                        job_id,
                        0,
                        talkapp_store::now().timestamp(),
                        talkapp_store::now(),
                    )
                })
                .await?;
                self.tell(key, job_id, now).await;
                return Ok(Some(()));
            }
            // The chat was known when the send was taken (it is checked then): an
            // account that just moved to this replica may not have its peers back
            // yet. A few tries before giving up.
            Err(TelegramError::UnknownChat(_)) if claimed.attempts < UNKNOWN_CHAT_TRIES => {
                tracing::info!(%job_id, attempt = claimed.attempts, "chat not resolved yet; retrying");
                requeue(self.store.as_ref(), job_id, stop).await?;
                pause(
                    stop,
                    backoff(claimed.attempts + 1, self.options.max_backoff),
                )
                .await?;
            }
            Err(TelegramError::UnknownChat(_)) => {
                return self.fail(&claimed, stop, "chat_not_found").await.map(Some);
            }
            Err(TelegramError::LoggedOut(_)) => {
                return self
                    .fail(&claimed, stop, "session_logged_out")
                    .await
                    .map(Some);
            }
            Err(TelegramError::Refused { name, .. }) => {
                return self
                    .fail(&claimed, stop, &name.to_ascii_lowercase())
                    .await
                    .map(Some);
            }
            Err(error) => {
                tracing::warn!(%job_id, %error, "send failed for good");
                return self.fail(&claimed, stop, "internal_error").await.map(Some);
            }
        }
        Ok(None)
    }

    /// Releases the pins of a final media job (best effort: a pin left behind keeps its
    /// bytes, not the job).
    async fn release_pins(&self, job_id: Uuid) {
        if let Err(error) = self.media.release(job_id).await {
            tracing::warn!(%error, %job_id, "pins of a final media job not released");
        }
    }

    /// Publishes the job's final state as a `message.status` event (and releases a media
    /// job's pins): `now`, the job as its final write returned it, else (that write found
    /// it final already) as the store has it.
    async fn tell(&self, key: AccountKey, job_id: Uuid, now: Option<SendJob>) {
        let job = match now {
            Some(job) => Ok(Some(job)),
            None => self.store.send_job(key, job_id).await,
        };
        match job {
            Ok(Some(job)) => {
                if job.job.media.is_some() {
                    self.release_pins(job_id).await;
                }
                self.events.publish_job(job).await;
            }
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, %job_id, "job status not told"),
        }
    }

    /// Marks the job failed and parks it on the dead-letter queue.
    async fn fail(
        &self,
        job: &SendJob,
        stop: &CancellationToken,
        reason: &str,
    ) -> Result<(), Blocked> {
        let job_id = job.job.job_id;
        tracing::info!(%job_id, reason, "job failed");
        count_final(job, "failed");
        let now = write_until_done(stop, || {
            self.store.fail_job(job_id, reason, talkapp_store::now())
        })
        .await?;
        self.tell(job.job.key, job_id, now).await;
        let parked = serde_json::json!({
            "job_id": job_id,
            "user_id": job.job.key.user_id,
            "session_index": job.job.key.session_index,
            "chat_id": job.job.chat_id,
            "reason": reason,
            "attempts": job.attempts,
        });
        if let Err(error) = self.queue.dead_letter(parked.to_string().as_bytes()).await {
            tracing::warn!(%error, %job_id, "cannot park the failed job");
        }
        Ok(())
    }
}

async fn pause(stop: &CancellationToken, duration: Duration) -> Result<(), Blocked> {
    tokio::select! {
        () = stop.cancelled() => Err(Blocked::Stopping),
        () = tokio::time::sleep(duration) => Ok(()),
    }
}

async fn requeue(
    store: &dyn ChatStore,
    job_id: Uuid,
    stop: &CancellationToken,
) -> Result<(), Blocked> {
    write_until_done(stop, || store.requeue_job(job_id, talkapp_store::now())).await
}

/// Retries a store write until it succeeds (the database came back) or stopping; its
/// answer.
async fn write_until_done<T, F, Fut>(stop: &CancellationToken, mut write: F) -> Result<T, Blocked>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    loop {
        match write().await {
            Ok(answer) => return Ok(answer),
            Err(error) => {
                tracing::warn!(%error, "job write failed; retrying");
                pause(stop, Duration::from_millis(500)).await?;
            }
        }
    }
}

/// Counts a job that reached `outcome` (`sent`, `failed`) by its kind (`text`, `media`).
fn count_final(job: &SendJob, outcome: &'static str) {
    let kind = if job.job.media.is_some() {
        "media"
    } else {
        "text"
    };
    metrics::counter!("talkapp_sends_total", "kind" => kind, "outcome" => outcome).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The media service as far as thumbnails go: previews by file, and what was asked.
    #[derive(Default)]
    struct Previews {
        kept: std::collections::HashMap<Uuid, Result<Vec<u8>, &'static str>>,
        asked: std::sync::Mutex<Vec<Uuid>>,
    }

    #[async_trait::async_trait]
    impl MediaFiles for Previews {
        async fn pin(
            &self,
            _: Uuid,
            _: Uuid,
            _: &[Uuid],
        ) -> Result<Vec<PinnedFile>, MediaFilesError> {
            Err(MediaFilesError::Failed("not in this test".into()))
        }

        async fn release(&self, _: Uuid) -> Result<(), MediaFilesError> {
            Ok(())
        }

        async fn open(&self, _: Uuid, _: Uuid) -> Result<ByteStream, MediaFilesError> {
            Err(MediaFilesError::Failed("not in this test".into()))
        }

        async fn open_preview(&self, _: Uuid, file_id: Uuid) -> Result<Vec<u8>, MediaFilesError> {
            self.asked
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(file_id);
            match self.kept.get(&file_id) {
                Some(Ok(preview)) => Ok(preview.clone()),
                Some(Err(why)) => Err(MediaFilesError::Unavailable((*why).into())),
                None => Err(MediaFilesError::NotFound),
            }
        }
    }

    #[tokio::test]
    async fn a_job_asks_only_for_the_previews_its_files_have_and_a_missing_one_is_no_thumbnail() {
        let (with, gone, away, without) = (
            Uuid::from_u128(1),
            Uuid::from_u128(2),
            Uuid::from_u128(3),
            Uuid::from_u128(4),
        );
        let previews = Arc::new(Previews {
            kept: [(with, Ok(b"jpeg".to_vec())), (away, Err("unreachable"))].into(),
            ..Previews::default()
        });
        let source = PinnedSource {
            media: Arc::clone(&previews) as Arc<dyn MediaFiles>,
            job_id: Uuid::from_u128(9),
            file_ids: vec![with, gone, away, without],
            previewed: vec![with, gone, away],
        };

        assert_eq!(source.thumb(0).await.ok(), Some(Some(b"jpeg".to_vec())));
        assert_eq!(
            source.thumb(1).await.ok(),
            Some(None),
            "its preview is gone"
        );
        assert!(
            matches!(source.thumb(2).await, Err(TelegramError::Unavailable(_))),
            "told, for libs/telegram to send it without"
        );
        assert_eq!(source.thumb(3).await.ok(), Some(None));
        assert_eq!(source.thumb(4).await.ok(), Some(None), "no such file");
        assert_eq!(
            *previews
                .asked
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            vec![with, gone, away],
            "a file without a preview is not asked for one"
        );
    }

    #[test]
    fn an_idempotency_key_names_one_job_per_account() {
        let key = AccountKey {
            user_id: Uuid::from_u128(1),
            session_index: 1,
        };
        let other = AccountKey {
            session_index: 2,
            ..key
        };
        assert_eq!(job_id_for(key, Some("a")), job_id_for(key, Some("a")));
        assert_ne!(job_id_for(key, Some("a")), job_id_for(key, Some("b")));
        assert_ne!(job_id_for(key, Some("a")), job_id_for(other, Some("a")));
        assert_ne!(job_id_for(key, None), job_id_for(key, None));
        let job = job_id_for(key, Some("a"));
        assert_eq!(random_id_for(job), random_id_for(job));
    }

    fn pinned(kind: MediaKind, size: u64) -> PinnedFile {
        PinnedFile {
            file_id: Uuid::new_v4(),
            kind,
            sha256: "00".repeat(32),
            size,
            mime: "x/y".into(),
            file_name: String::new(),
            width: None,
            height: None,
            duration_ms: None,
            waveform: None,
            has_preview: false,
            preview_pending: false,
        }
    }

    #[test]
    fn files_go_as_what_they_are_or_as_a_kind_they_can_be_sent_as() {
        let photo = pinned(MediaKind::Photo, 1000);
        let video = pinned(MediaKind::Video, 1000);
        let voice = pinned(MediaKind::Voice, 1000);
        let document = pinned(MediaKind::Document, 1000);
        let huge_photo = pinned(MediaKind::Photo, MAX_PHOTO_BYTES + 1);
        let kind = |kind, files: &[PinnedFile]| send_as_of(kind, files).ok();

        assert_eq!(
            kind(None, std::slice::from_ref(&photo)),
            Some(SendAs::Photo)
        );
        assert_eq!(
            kind(None, std::slice::from_ref(&voice)),
            Some(SendAs::Voice)
        );
        assert_eq!(
            kind(Some(SendAs::Audio), std::slice::from_ref(&voice)),
            Some(SendAs::Audio)
        );
        assert_eq!(
            kind(Some(SendAs::Document), std::slice::from_ref(&photo)),
            Some(SendAs::Document)
        );
        assert_eq!(
            kind(Some(SendAs::Photo), std::slice::from_ref(&document)),
            None
        );
        assert_eq!(kind(None, std::slice::from_ref(&huge_photo)), None);
        assert_eq!(
            kind(Some(SendAs::Document), std::slice::from_ref(&huge_photo)),
            Some(SendAs::Document)
        );
        // Albums: photos with videos, never a voice note.
        assert_eq!(
            kind(None, &[photo.clone(), video.clone()]),
            Some(SendAs::Photo)
        );
        assert_eq!(kind(None, &[photo.clone(), voice.clone()]), None);
        assert_eq!(kind(None, &[voice.clone(), voice]), None);
        assert_eq!(kind(None, &[photo, document]), None);
    }
}
