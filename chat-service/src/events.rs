//! Update events: what changed in a linked account, told to its clients.
//!
//! The account's host turns each Telegram update (after the cache has taken it) and each
//! send job that reaches `sent`, `failed` or `read` into TalkApp events (`message.new`,
//! `message.edited`, `message.deleted`, `message.status`, `chat.updated`, `chat.member`,
//! `user.status`, `typing`), carrying the same shapes as the REST replies. Each gets the
//! next id of its account (strictly increasing across restarts and replicas: reserved
//! from the store in blocks, [`crate::event_ids`]) and goes to the event exchange with the
//! routing key `<user_id>.<session_index>.<type>`. Publishing waits for the broker's confirmation and
//! is retried until it succeeds: events are never dropped, and a failure holds the
//! account's later updates back (they wait; Telegram keeps them).
//!
//! An account's events leave in the order of their ids: its update pump and its send
//! worker publish concurrently, so taking ids and publishing them happen under one lock
//! per account (striped). The realtime log relies on that order: it keeps an account's
//! events by increasing id and takes an id at or below its newest as a repeat.

use std::sync::Arc;
use std::time::Duration;

use prost::Message as _;
use talkapp_bus::EventBus;
use talkapp_proto::realtime::v1 as realtime;
use talkapp_store::{AccountKey, ChatStore, SendJob, StoreError};
use talkapp_telegram::model::{ChatAction, TelegramUpdate};
use tokio_util::sync::CancellationToken;

use crate::event_ids::EventIds;
use crate::hosted_accounts::HostedUpdate;
use crate::proto_views::{presence_fields, to_proto_chat, to_proto_job, to_proto_message};
use crate::reads::Reads;

/// An event before it has its id.
struct Pending {
    kind: &'static str,
    payload: realtime::event::Payload,
}

/// Produces and publishes the events of the accounts hosted here.
pub struct EventPublisher {
    store: Arc<dyn ChatStore>,
    ids: EventIds,
    bus: Arc<dyn EventBus>,
    reads: Arc<Reads>,
    stop: CancellationToken,
    /// Orders each account's id allocation and publishing (an account always maps to the
    /// same stripe; unrelated accounts rarely share one).
    stripes: Vec<tokio::sync::Mutex<()>>,
}

/// Locks ordering the accounts' events.
const STRIPES: usize = 1024;

fn stripe_of(key: AccountKey) -> usize {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key
        .user_id
        .as_bytes()
        .iter()
        .chain(key.session_index.to_be_bytes().iter())
    {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    usize::try_from(hash % STRIPES as u64).unwrap_or(0)
}

fn action_name(action: ChatAction) -> &'static str {
    match action {
        ChatAction::Typing => "typing",
        ChatAction::Cancel => "cancel",
        ChatAction::RecordingVoice => "recording_voice",
        ChatAction::RecordingVideo => "recording_video",
        ChatAction::UploadingPhoto => "uploading_photo",
        ChatAction::UploadingVideo => "uploading_video",
        ChatAction::UploadingDocument => "uploading_document",
        ChatAction::Other => "other",
    }
}

impl EventPublisher {
    /// Events of accounts in `store`, shaped through `reads`, published on `bus`, retried
    /// until `stop` fires.
    pub fn new(
        store: Arc<dyn ChatStore>,
        bus: Arc<dyn EventBus>,
        reads: Arc<Reads>,
        stop: CancellationToken,
    ) -> Self {
        Self {
            ids: EventIds::new(Arc::clone(&store) as Arc<dyn talkapp_store::EventIdStore>),
            store,
            bus,
            reads,
            stop,
            stripes: (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
        }
    }

    async fn chat_event(
        &self,
        key: AccountKey,
        chat_id: i64,
    ) -> Result<Option<Pending>, StoreError> {
        Ok(self
            .reads
            .chat_view(key, chat_id)
            .await?
            .map(|chat| Pending {
                kind: "chat.updated",
                payload: realtime::event::Payload::Chat(to_proto_chat(chat)),
            }))
    }

    /// The events an update (already in the cache) stands for; read receipts also move
    /// the account's sent jobs to `read`.
    async fn events_of(&self, hosted: &HostedUpdate) -> Result<Vec<Pending>, StoreError> {
        let key = hosted.key;
        let mut events = Vec::new();
        match &hosted.update {
            TelegramUpdate::NewMessage { message } => {
                let direction = if message.outgoing { "out" } else { "in" };
                metrics::counter!("talkapp_messages_total", "direction" => direction).increment(1);
                let view = self
                    .reads
                    .message_view(key, message.clone(), &hosted.users)
                    .await?;
                events.push(Pending {
                    kind: "message.new",
                    payload: realtime::event::Payload::Message(to_proto_message(view)),
                });
                // A new title or photo told by a service message: the chat as listed now
                // (its profile came with the update), for every member's sockets.
                if matches!(
                    message.service.as_deref(),
                    Some("title_changed" | "photo_changed" | "photo_removed")
                ) {
                    events.extend(self.chat_event(key, message.chat_id).await?);
                }
            }
            TelegramUpdate::MessageEdited { message } => {
                let view = self
                    .reads
                    .message_view(key, message.clone(), &hosted.users)
                    .await?;
                events.push(Pending {
                    kind: "message.edited",
                    payload: realtime::event::Payload::Message(to_proto_message(view)),
                });
            }
            TelegramUpdate::MessagesDeleted {
                chat_id,
                message_ids,
            } => events.push(Pending {
                kind: "message.deleted",
                payload: realtime::event::Payload::Deleted(realtime::MessagesDeleted {
                    chat_id: chat_id.map(|id| id.to_string()),
                    message_ids: message_ids.clone(),
                }),
            }),
            TelegramUpdate::ReadInbox { chat_id, .. }
            | TelegramUpdate::ChatChanged { chat_id }
            | TelegramUpdate::DialogPinned { chat_id, .. }
            | TelegramUpdate::NotifySettings { chat_id, .. } => {
                events.extend(self.chat_event(key, *chat_id).await?);
            }
            TelegramUpdate::MessagesPinned {
                chat_id,
                message_ids,
                pinned,
            } => {
                // The chat's pinned message (in its details) changed too.
                self.reads.forget_details(key, *chat_id);
                events.push(Pending {
                    kind: "message.pinned",
                    payload: realtime::event::Payload::Pinned(realtime::MessagesPinned {
                        chat_id: chat_id.to_string(),
                        message_ids: message_ids.clone(),
                        pinned: *pinned,
                    }),
                });
            }
            TelegramUpdate::ReadOutbox { chat_id, max_id } => {
                let read = self
                    .store
                    .mark_jobs_read(key, *chat_id, *max_id, talkapp_store::now())
                    .await?;
                events.extend(read.into_iter().map(|job| Pending {
                    kind: "message.status",
                    payload: realtime::event::Payload::Job(to_proto_job(job)),
                }));
                events.extend(self.chat_event(key, *chat_id).await?);
            }
            TelegramUpdate::UserStatus { user_id, presence } => {
                let (status, at) = presence_fields(*presence);
                events.push(Pending {
                    kind: "user.status",
                    payload: realtime::event::Payload::UserStatus(realtime::UserStatus {
                        user_id: user_id.to_string(),
                        status: status.to_owned(),
                        at,
                    }),
                });
            }
            TelegramUpdate::Typing {
                chat_id,
                sender_id,
                action,
            } => events.push(Pending {
                kind: "typing",
                payload: realtime::event::Payload::Typing(realtime::Typing {
                    chat_id: chat_id.to_string(),
                    sender_id: sender_id.to_string(),
                    action: action_name(*action).to_owned(),
                }),
            }),
            TelegramUpdate::ChatMember {
                chat_id,
                user_id,
                joined,
            } => events.push(Pending {
                kind: "chat.member",
                payload: realtime::event::Payload::Member(realtime::ChatMember {
                    chat_id: chat_id.to_string(),
                    user_id: user_id.to_string(),
                    joined: *joined,
                }),
            }),
        }
        Ok(events)
    }

    /// Publishes the events of a hosted update; returns once every one is confirmed by
    /// the broker (or the host is stopping).
    pub async fn publish_update(&self, hosted: &HostedUpdate) {
        let Some(events) = self.retry("build events", || self.events_of(hosted)).await else {
            return;
        };
        self.publish(hosted.key, events).await;
    }

    /// The account is no longer hosted here: the ids reserved for it are dropped, so that
    /// if it comes back after another replica hosted it, its ids are taken above that
    /// replica's (ADR 0071).
    pub fn account_released(&self, key: AccountKey) {
        self.ids.forget(key);
    }

    /// Publishes a job that reached `sent`, `failed` or `read`.
    pub async fn publish_job(&self, job: SendJob) {
        let key = job.job.key;
        self.publish(
            key,
            vec![Pending {
                kind: "message.status",
                payload: realtime::event::Payload::Job(to_proto_job(job)),
            }],
        )
        .await;
    }

    async fn publish(&self, key: AccountKey, events: Vec<Pending>) {
        if events.is_empty() {
            return;
        }
        let count = u32::try_from(events.len()).unwrap_or(u32::MAX);
        // Ids taken and published in one go per account: in id order on the bus.
        let _ordered = self.stripes[stripe_of(key)].lock().await;
        let Some(first) = self
            .retry("allocate event ids", || async {
                self.ids.take(key, count).await
            })
            .await
        else {
            return;
        };
        // The account was unlinked meanwhile: nobody is left to tell.
        let Some(first) = first else {
            return;
        };
        let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        for (offset, pending) in (0_i64..).zip(events) {
            let event = realtime::Event {
                event_id: first + offset,
                user_id: key.user_id.to_string(),
                session_index: key.session_index,
                r#type: pending.kind.to_owned(),
                at: at.clone(),
                payload: Some(pending.payload),
            };
            let routing_key = format!("{}.{}.{}", key.user_id, key.session_index, pending.kind);
            let body = event.encode_to_vec();
            let published = self
                .retry("publish event", || async {
                    self.bus
                        .publish_event(&routing_key, &body)
                        .await
                        .map_err(|error| StoreError::Unavailable(error.to_string()))
                })
                .await;
            if published.is_none() {
                return;
            }
        }
    }

    /// Runs `work` until it succeeds; `None` only when stopping.
    async fn retry<T, F, Fut>(&self, what: &str, mut work: F) -> Option<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let mut failures: u32 = 0;
        loop {
            match work().await {
                Ok(value) => return Some(value),
                Err(error) => {
                    failures += 1;
                    if failures == 1 || failures.is_multiple_of(20) {
                        tracing::warn!(what, %error, failures, "event step failed; retrying");
                    }
                }
            }
            let pause = Duration::from_millis(100_u64 << failures.min(5));
            tokio::select! {
                () = self.stop.cancelled() => return None,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }
}
