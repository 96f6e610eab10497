//! The records of the chat cache and the send jobs.
//!
//! The cache is per linked account (`AccountKey`): the same Telegram chat seen by two
//! accounts is two cached chats, because unread counts, message ids (in private chats and
//! basic groups) and permissions are per account. Structured parts that are only ever
//! shown, never queried (entities, forward header, media), are kept as JSON text written
//! and read by the chat service.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A linked account: the TalkApp user and which of their accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountKey {
    /// The TalkApp user.
    pub user_id: Uuid,
    /// 1, 2, 3, ...
    pub session_index: u32,
}

/// The kind a chat id implies, for a chat known only by id: Bot-API ids of users are
/// positive, of basic groups negative, of supergroups and channels below `-10^12`
/// (which of the two is only known from the chat itself).
pub fn kind_of_chat_id(chat_id: i64) -> &'static str {
    if chat_id > 0 {
        "private"
    } else if chat_id < -1_000_000_000_000 {
        "supergroup"
    } else {
        "group"
    }
}

/// What is known of a chat itself (from any reply or update that mentions it).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChatProfile {
    /// Bot-API-style chat id.
    pub chat_id: i64,
    /// `private`, `group`, `supergroup` or `channel`.
    pub kind: String,
    /// Title (the other user's name for private chats).
    pub title: String,
    /// Public username, may be empty.
    pub username: String,
    /// Photo reference as JSON, if any.
    pub photo: Option<String>,
    /// Members, where known.
    pub members_count: Option<i32>,
    /// The account created it.
    pub is_creator: bool,
    /// The account administers it.
    pub is_admin: bool,
    /// The account left it.
    pub has_left: bool,
}

/// A chat's place in the account's chat list (Telegram's dialog).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialogState {
    /// Unread incoming messages.
    pub unread_count: i32,
    /// Read up to here (incoming).
    pub read_inbox_max_id: i32,
    /// The peer read up to here (outgoing).
    pub read_outbox_max_id: i32,
    /// Newest message id.
    pub top_message_id: i32,
    /// Its date (Unix seconds), the list's order.
    pub top_date: i64,
    /// Pinned in the list.
    pub pinned: bool,
    /// In the archive.
    pub archived: bool,
    /// Muted until (Unix seconds; 0: not muted).
    pub muted_until: i64,
}

/// A cached chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedChat {
    /// The chat.
    pub profile: ChatProfile,
    /// Its list state; `None` when the chat is known but not in the account's list.
    pub dialog: Option<DialogState>,
    /// Every message with an id at or above this is cached (None: none known yet).
    pub history_floor: Option<i32>,
    /// The floor is the chat's first message: nothing older exists.
    pub history_complete: bool,
}

/// A cached message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedMessage {
    /// The chat.
    pub chat_id: i64,
    /// The id in the chat.
    pub message_id: i32,
    /// Sent at (Unix seconds).
    pub date: i64,
    /// Edited at.
    pub edit_date: Option<i64>,
    /// Sender (user or channel id).
    pub sender_id: Option<i64>,
    /// Sent by the account.
    pub outgoing: bool,
    /// Text or caption.
    pub text: String,
    /// The message replied to.
    pub reply_to: Option<i32>,
    /// Views (channel posts).
    pub views: Option<i32>,
    /// Service action, for service messages.
    pub service: Option<String>,
    /// The rest (entities, forward, media, flags) as JSON.
    pub details: String,
}

/// A cached Telegram user.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CachedUser {
    /// Telegram user id.
    pub tg_user_id: i64,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Username.
    pub username: String,
    /// Phone, when visible.
    pub phone: String,
    /// Everything else (flags, presence, photo) as JSON.
    pub details: String,
}

/// A chat as the chat list shows it: with its newest message, when that is cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedChat {
    /// The chat.
    pub chat: CachedChat,
    /// Its newest message (`top_message_id`), when cached.
    pub top_message: Option<CachedMessage>,
}

/// A page of the chat list with what it shows, read together
/// ([`crate::ChatCacheStore::chat_list_page`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatListPage {
    /// The chats, newest activity first.
    pub chats: Vec<ListedChat>,
    /// The cached users the page names: each private chat's other user, and each newest
    /// message's sender when that is a user other than the chat itself; each once.
    pub users: Vec<CachedUser>,
}

impl ChatListPage {
    /// The page from a joined read's rows: each chat with its newest message, its other
    /// user (a private chat) and that message's sender (users kept once each).
    pub(crate) fn from_rows(
        rows: Vec<(ListedChat, Option<CachedUser>, Option<CachedUser>)>,
    ) -> Self {
        let mut page = Self::default();
        for (chat, peer, sender) in rows {
            page.chats.push(chat);
            for user in peer.into_iter().chain(sender) {
                if !page
                    .users
                    .iter()
                    .any(|known| known.tg_user_id == user.tg_user_id)
                {
                    page.users.push(user);
                }
            }
        }
        page
    }
}

/// A page of the chat list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatListQuery {
    /// Only this kind.
    pub kind: Option<String>,
    /// Only archived (`Some(true)`), only not archived (`Some(false)`), or both.
    pub archived: Option<bool>,
    /// After this chat (its `top_date`, `chat_id`), as the previous page ended.
    pub after: Option<(i64, i64)>,
    /// At most this many.
    pub limit: u32,
}

/// A page of history, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryQuery {
    /// Only ids below this.
    pub before_id: Option<i32>,
    /// Only ids above this.
    pub after_id: Option<i32>,
    /// Only messages sent at or after this (Unix seconds).
    pub from_date: Option<i64>,
    /// Only messages sent before this (Unix seconds).
    pub to_date: Option<i64>,
    /// At most this many.
    pub limit: u32,
    /// Take the page from the oldest end of the range (for paging towards newer
    /// messages); the result is still newest first.
    pub oldest_first: bool,
}

/// A page of a chat's history with what it shows, read together
/// ([`crate::ChatCacheStore::history_page`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedHistory {
    /// The chat.
    pub chat: CachedChat,
    /// The messages [`crate::ChatCacheStore::cached_messages`] gives for the same query,
    /// newest first.
    pub messages: Vec<CachedMessage>,
    /// The cached users among the messages' senders, each once (in no particular order).
    pub senders: Vec<CachedUser>,
}

/// Where a send job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    /// Waiting to be sent.
    Queued,
    /// Being sent (or was, when its sender died: it is tried again).
    Sending,
    /// Telegram accepted it.
    Sent,
    /// It will not be sent.
    Failed,
    /// The peer read it.
    Read,
}

impl JobStatus {
    /// Database and wire form.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Read => "read",
        }
    }

    /// Parses [`JobStatus::as_str`].
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "queued" => Some(Self::Queued),
            "sending" => Some(Self::Sending),
            "sent" => Some(Self::Sent),
            "failed" => Some(Self::Failed),
            "read" => Some(Self::Read),
            _ => None,
        }
    }

    /// Whether nothing more will be attempted.
    pub const fn is_final(self) -> bool {
        matches!(self, Self::Sent | Self::Failed | Self::Read)
    }
}

/// A message to send, as requested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSendJob {
    /// Its id (derived from the idempotency key when there is one).
    pub job_id: Uuid,
    /// Whose account sends it.
    pub key: AccountKey,
    /// The caller's idempotency key.
    pub client_message_id: Option<String>,
    /// Where.
    pub chat_id: i64,
    /// What.
    pub text: String,
    /// In reply to.
    pub reply_to: Option<i32>,
    /// Without notification.
    pub silent: bool,
    /// Telegram's de-duplication id (fixed for the job's life).
    pub random_id: i64,
    /// When requested.
    pub created_at: DateTime<Utc>,
    /// The files of a media send (`text` is then the caption); `None` for text.
    pub media: Option<JobMedia>,
}

/// The files a media send carries, as the media service described them when the job was
/// accepted (their bytes are pinned for the job there). Kept with the job as JSON.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JobMedia {
    /// How they are sent: `photo`, `video`, `document`, `voice` or `audio`.
    pub send_as: String,
    /// One file, or an album's, in order.
    pub files: Vec<JobFile>,
}

/// One file of a media send.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JobFile {
    /// The uploaded file (the media service's id).
    pub file_id: Uuid,
    /// Lower-case hex SHA-256 of its bytes.
    pub sha256: String,
    /// Bytes.
    pub size: u64,
    /// The type of its bytes.
    pub mime: String,
    /// Its name (may be empty).
    pub file_name: String,
    /// Pixels, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Pixels, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Milliseconds, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// A voice note's waveform (0..=31 per value), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waveform: Option<Vec<u8>>,
    /// Whether the media service has a preview image of it (a video's frame, a PDF's
    /// first page), or was making one when the send was queued (ADR 0049), sent to
    /// Telegram as its thumbnail. Absent in jobs written before.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub has_preview: bool,
}

impl JobMedia {
    /// The stored form.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// From the stored form; `None` when it is not readable.
    pub fn from_json(json: &str) -> Option<Self> {
        serde_json::from_str(json).ok()
    }
}

/// A send job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendJob {
    /// The request.
    pub job: NewSendJob,
    /// Order among the account's jobs (increasing).
    pub seq: i64,
    /// Where it stands.
    pub status: JobStatus,
    /// Tries so far.
    pub attempts: u32,
    /// The Telegram message, once sent.
    pub message_id: Option<i32>,
    /// When Telegram accepted it.
    pub sent_date: Option<i64>,
    /// Why it failed (a stable reason).
    pub failure: Option<String>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// When it was handed to the bus (None: not yet confirmed).
    pub published_at: Option<DateTime<Utc>>,
}

/// Whether creating a job made a new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobCreated {
    /// A new job.
    New(SendJob),
    /// The idempotency key was used before: this is that job.
    Existing(SendJob),
}

impl JobCreated {
    /// The job either way.
    pub fn job(&self) -> &SendJob {
        match self {
            Self::New(job) | Self::Existing(job) => job,
        }
    }
}

/// A browser's Web Push subscription (what `PushManager.subscribe` returned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSubscription {
    /// Whose.
    pub user_id: Uuid,
    /// The push service URL.
    pub endpoint: String,
    /// The browser's P-256 public key (base64url).
    pub p256dh: String,
    /// The browser's authentication secret (base64url).
    pub auth: String,
    /// When it was added.
    pub created_at: DateTime<Utc>,
}

/// An idempotency key taken for an action that changes Telegram state other than a send
/// (creating a group, adding a member): the first request with the key does it, retries
/// get its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionClaim {
    /// The account acting.
    pub key: AccountKey,
    /// The caller's `Idempotency-Key` (or `client_request_id`).
    pub idempotency_key: String,
    /// What the action is (`create_group`, `add_member`).
    pub action: String,
    /// A digest of the request, to tell a retry from another request under the same key.
    pub request_hash: String,
    /// Now.
    pub at: DateTime<Utc>,
    /// A claim left unfinished this long (its process died midway) may be taken again.
    pub stale_after: chrono::Duration,
}

/// What claiming an idempotency key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionClaimed {
    /// The key is this caller's now: do the action, then finish or release it.
    Claimed,
    /// Another request with the key is being carried out.
    InProgress,
    /// The action was done: its result.
    Done(String),
    /// The key was used for another action or request.
    Mismatch,
}
