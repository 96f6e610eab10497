//! Chats, history and sending, for one linked account (`{session_index}`) of the path's
//! user: the user's own plan's endpoints, verbatim.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use talkapp_proto::chat::v1 as chat;
use utoipa::{IntoParams, ToSchema};

use crate::auth::extract::{OwnedJson, PathOwner};
use crate::problem::{ApiError, FieldError};
use crate::state::AppState;

pub(crate) fn field_error(field: &str, message: &str) -> ApiError {
    ApiError::validation(vec![FieldError {
        field: field.into(),
        message: message.into(),
    }])
}

/// The path owner's linked account `{session_index}` (422 for 0: they start at 1).
pub(crate) fn account_ref(
    owner: &PathOwner,
    session_index: u32,
) -> Result<chat::AccountRef, ApiError> {
    user_account_ref(owner.user_id, session_index)
}

/// The linked account `session_index` of a user (422 for 0: they start at 1).
pub(crate) fn user_account_ref(
    user_id: uuid::Uuid,
    session_index: u32,
) -> Result<chat::AccountRef, ApiError> {
    Ok(chat::AccountRef {
        user_id: user_id.to_string(),
        session_index: checked_session_index(session_index)?,
    })
}

/// A path's `{session_index}`: linked accounts are numbered from 1 (422 for 0).
pub(crate) fn checked_session_index(session_index: u32) -> Result<u32, ApiError> {
    if session_index == 0 {
        return Err(field_error("session_index", "starts at 1"));
    }
    Ok(session_index)
}

/// The checked `{session_index}` and the `{chat_id}` of a
/// `.../{user_id}/{session_index}/{chat_id}` path (a path's chat id is text already).
pub(crate) fn account_and_chat(
    owner: &PathOwner,
    path: web::Path<(String, u32, String)>,
) -> Result<(chat::AccountRef, String), ApiError> {
    let (_, session_index, chat_id) = path.into_inner();
    Ok((account_ref(owner, session_index)?, chat_id))
}

/// Who sent a message.
#[derive(Debug, Serialize, ToSchema)]
pub struct SenderView {
    /// User id, or chat id for posts and anonymous admins (a string: ids can exceed 2^53).
    pub id: String,
    /// `user` or `chat`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Display name.
    pub name: String,
    /// Username without `@`, if any.
    pub username: Option<String>,
    /// Reference of their photo for the media routes, when cached.
    pub photo_id: Option<String>,
}

impl From<chat::Sender> for SenderView {
    fn from(sender: chat::Sender) -> Self {
        Self {
            id: sender.id,
            kind: sender.kind,
            name: sender.name,
            username: sender.username,
            photo_id: sender.photo_id,
        }
    }
}

/// A formatting or link span (offsets in UTF-16 code units).
#[derive(Debug, Serialize, ToSchema)]
pub struct EntityView {
    /// `bold`, `italic`, `url`, `text_url`, `mention`, `code`, `pre`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// Start.
    pub offset: i32,
    /// Length.
    pub length: i32,
    /// For `text_url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// For `mention_name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// For `pre`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

/// Where a forwarded message came from.
#[derive(Debug, Serialize, ToSchema)]
pub struct ForwardView {
    /// The original sender, when not hidden.
    pub from: Option<SenderView>,
    /// The original sender's name, when the id is hidden.
    pub from_name: Option<String>,
    /// The original date (RFC 3339).
    pub date: String,
    /// The original post, for channel posts.
    pub channel_post: Option<i32>,
}

/// A message's media.
#[derive(Debug, Serialize, ToSchema)]
pub struct MediaView {
    /// `photo`, `video`, `voice`, `audio`, `document`, `animation`, `sticker`,
    /// `video_note`, `location`, `contact`, `poll`, `web_page`, `other`.
    pub kind: String,
    /// Reference of the file for the media service (absent for kinds without a file).
    pub file_id: Option<String>,
    /// Reference of its preview.
    pub thumbnail_id: Option<String>,
    /// MIME type.
    pub mime_type: Option<String>,
    /// Bytes.
    pub size: Option<i64>,
    /// Original file name.
    pub file_name: Option<String>,
    /// Pixels.
    pub width: Option<i32>,
    /// Pixels.
    pub height: Option<i32>,
    /// Seconds.
    pub duration: Option<f64>,
    /// Voice waveform: 5-bit samples packed, as Telegram sends them.
    pub waveform: Option<Vec<u8>>,
    /// Audio title, venue or contact name.
    pub title: Option<String>,
    /// Audio performer.
    pub performer: Option<String>,
    /// For locations.
    pub latitude: Option<f64>,
    /// For locations.
    pub longitude: Option<f64>,
}

impl From<chat::Media> for MediaView {
    fn from(media: chat::Media) -> Self {
        Self {
            kind: media.kind,
            file_id: media.file_id,
            thumbnail_id: media.thumbnail_id,
            mime_type: media.mime_type,
            size: media.size,
            file_name: media.file_name,
            width: media.width,
            height: media.height,
            duration: media.duration,
            waveform: media.waveform,
            title: media.title,
            performer: media.performer,
            latitude: media.latitude,
            longitude: media.longitude,
        }
    }
}

/// A message.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageView {
    /// Id within the chat.
    pub id: i32,
    /// The chat.
    pub chat_id: String,
    /// When sent (RFC 3339, UTC).
    pub date: String,
    /// Who sent it (absent for anonymous posts).
    pub sender: Option<SenderView>,
    /// Sent by this account.
    pub outgoing: bool,
    /// Text or caption.
    pub text: String,
    /// Formatting and links.
    pub entities: Vec<EntityView>,
    /// The message it replies to.
    pub reply_to: Option<i32>,
    /// Forward header.
    pub forward: Option<ForwardView>,
    /// When last edited.
    pub edit_date: Option<String>,
    /// Media.
    pub media: Option<MediaView>,
    /// Views, for channel posts.
    pub views: Option<i32>,
    /// For service messages: what happened (`members_joined`, `title_changed`, ...).
    pub service: Option<String>,
    /// Sent without notification.
    pub silent: bool,
    /// Pinned in the chat.
    pub pinned: bool,
    /// Album id, for messages sent as one group.
    pub grouped_id: Option<String>,
}

impl From<chat::Message> for MessageView {
    fn from(message: chat::Message) -> Self {
        Self {
            id: message.id,
            chat_id: message.chat_id,
            date: message.date,
            sender: message.sender.map(SenderView::from),
            outgoing: message.outgoing,
            text: message.text,
            entities: message
                .entities
                .into_iter()
                .map(|entity| EntityView {
                    kind: entity.kind,
                    offset: entity.offset,
                    length: entity.length,
                    url: entity.url,
                    user_id: entity.user_id,
                    language: entity.language,
                })
                .collect(),
            reply_to: message.reply_to,
            forward: message.forward.map(|forward| ForwardView {
                from: forward.from.map(SenderView::from),
                from_name: forward.from_name,
                date: forward.date,
                channel_post: forward.channel_post,
            }),
            edit_date: message.edit_date,
            media: message.media.map(MediaView::from),
            views: message.views,
            service: message.service,
            silent: message.silent,
            pinned: message.pinned,
            grouped_id: message.grouped_id,
        }
    }
}

/// A chat of the list.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatView {
    /// Bot-API-style id: the user's id for private chats, negative for groups, `-100…` for
    /// supergroups and channels.
    pub chat_id: String,
    /// `private`, `group`, `supergroup` or `channel`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Title (the other user's name for private chats).
    pub title: String,
    /// Public username, if any.
    pub username: Option<String>,
    /// Reference of the chat's photo for the media service.
    pub photo_id: Option<String>,
    /// Unread incoming messages.
    pub unread_count: i32,
    /// The newest message.
    pub last_message: Option<MessageView>,
    /// Pinned in the chat list.
    pub pinned: bool,
    /// In the archive.
    pub archived: bool,
    /// Notifications muted.
    pub muted: bool,
    /// Muted until (RFC 3339).
    pub muted_until: Option<String>,
    /// Members, where known.
    pub members_count: Option<i32>,
    /// Incoming messages read up to this id.
    pub read_inbox_max_id: i32,
    /// The peer read this account's messages up to this id.
    pub read_outbox_max_id: i32,
    /// Date of the newest message (RFC 3339).
    pub last_activity: Option<String>,
    /// A private chat's other user's online state, as Telegram last told it; absent for
    /// other chats and users not cached yet.
    pub presence: Option<PresenceView>,
}

/// A user's online state (as in the WebSocket's `user.status` events).
#[derive(Debug, Serialize, ToSchema)]
pub struct PresenceView {
    /// `online`, `offline`, `recently`, `last_week`, `last_month` or `unknown`.
    pub status: String,
    /// RFC 3339: until when online (unless renewed), or when last seen; absent when
    /// hidden.
    pub at: Option<String>,
}

impl From<chat::Presence> for PresenceView {
    fn from(presence: chat::Presence) -> Self {
        Self {
            // A presence Telegram did not word (none on the wire) is unknown.
            status: if presence.status.is_empty() {
                "unknown".to_owned()
            } else {
                presence.status
            },
            at: presence.at,
        }
    }
}

impl From<chat::Chat> for ChatView {
    fn from(chat: chat::Chat) -> Self {
        Self {
            chat_id: chat.chat_id,
            kind: chat.kind,
            title: chat.title,
            username: chat.username,
            photo_id: chat.photo_id,
            unread_count: chat.unread_count,
            last_message: chat.last_message.map(MessageView::from),
            pinned: chat.pinned,
            archived: chat.archived,
            muted: chat.muted_until.is_some(),
            muted_until: chat.muted_until,
            members_count: chat.members_count,
            read_inbox_max_id: chat.read_inbox_max_id,
            read_outbox_max_id: chat.read_outbox_max_id,
            last_activity: chat.last_activity,
            presence: chat.presence.map(PresenceView::from),
        }
    }
}

/// A page of chats.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatList {
    /// Newest activity first.
    pub chats: Vec<ChatView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Chat list filters and paging.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ChatListQuery {
    /// Only `private`, `group`, `supergroup` or `channel` chats (else 422 `validation_failed`).
    #[serde(rename = "type")]
    #[param(rename = "type", pattern = "^(private|group|supergroup|channel)$")]
    pub kind: Option<String>,
    /// Only archived (`true`) or only not archived (`false`) chats.
    pub archived: Option<bool>,
    /// From a previous page's `next_cursor` (an unknown cursor: 422 `validation_failed`).
    #[param(max_length = 256)]
    pub cursor: Option<String>,
    /// 1 to 100 (default 50; else 422 `validation_failed`).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

/// The account's chats: private chats, groups, supergroups and channels, newest activity
/// first, from TalkApp's cache of the account.
#[utoipa::path(get, path = "/me/chats/{user_id}/{session_index}", tag = "chats",
    params(
        ("user_id" = uuid::Uuid, Path, description = "TalkApp user id; must be the token's user"),
        ("session_index" = u32, Path, description = "Which linked account (1, 2, ...)"),
        ChatListQuery,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, body = ChatList),
        (status = 404, description = "`not_found`: no such linked account", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %owner.user_id))]
pub async fn list_chats(
    owner: PathOwner,
    state: web::Data<AppState>,
    path: web::Path<(String, u32)>,
    query: web::Query<ChatListQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let reply = state
        .chat_reads
        .list_chats(chat::ListChatsRequest {
            account: Some(account_ref(&owner, path.1)?),
            kind: query.kind,
            archived: query.archived,
            cursor: query.cursor,
            limit: query.limit,
        })
        .await?;
    Ok(HttpResponse::Ok().json(ChatList {
        chats: reply.chats.into_iter().map(ChatView::from).collect(),
        next_cursor: reply.next_cursor,
    }))
}

/// A chat with its details.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatDetailsView {
    /// The chat as listed.
    #[serde(flatten)]
    pub chat: ChatView,
    /// Description (a user's bio for private chats).
    pub description: Option<String>,
    /// This account's role: `creator`, `admin`, `member` or `left`.
    pub role: String,
    /// Whether this account may post.
    pub can_send_messages: bool,
    /// The pinned message (the newest, when several are), when it is cached.
    pub pinned_message: Option<MessageView>,
    /// The pinned message's id (the newest, when several are), cached or not; absent
    /// when none is pinned.
    pub pinned_message_id: Option<i32>,
    /// The linked discussion group or channel.
    pub linked_chat_id: Option<String>,
    /// Members online now, where Telegram says.
    pub online_count: Option<i32>,
    /// False when Telegram could not be asked just now (description, online count and
    /// pinned message may then be missing).
    pub details_complete: bool,
}

/// A chat's details: description, members, this account's role, pinned message, linked
/// chat, online count.
#[utoipa::path(get, path = "/me/chat/{user_id}/{session_index}/{chat_id}", tag = "chats",
    params(
        crate::routes::common::AccountChatPath,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, body = ChatDetailsView),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %owner.user_id))]
pub async fn chat_details(
    owner: PathOwner,
    state: web::Data<AppState>,
    path: web::Path<(String, u32, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, session_index, chat_id) = path.into_inner();
    let details = state
        .services
        .chat_details(chat::GetChatRequest {
            account: Some(account_ref(&owner, session_index)?),
            chat_id,
        })
        .await?;
    let chat = details
        .chat
        .ok_or_else(|| ApiError::internal("chat details without the chat"))?;
    Ok(HttpResponse::Ok().json(ChatDetailsView {
        chat: ChatView::from(chat),
        description: details.description,
        role: details.role,
        can_send_messages: details.can_send_messages,
        pinned_message: details.pinned_message.map(MessageView::from),
        pinned_message_id: details.pinned_message_id,
        linked_chat_id: details.linked_chat_id,
        online_count: details.online_count,
        details_complete: details.details_complete,
    }))
}

/// History paging and the date filter.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// Older than this cursor (a previous page's `next_cursor`; else 422 `validation_failed`).
    #[param(max_length = 256)]
    pub before: Option<String>,
    /// Newer than this cursor (a previous page's `prev_cursor`; else 422 `validation_failed`).
    #[param(max_length = 256)]
    pub after: Option<String>,
    /// Only messages sent at or after this time (RFC 3339; inclusive; else 422
    /// `validation_failed`).
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// Only messages sent before this time (RFC 3339; exclusive; else 422
    /// `validation_failed`).
    #[param(format = DateTime)]
    pub to: Option<String>,
    /// 1 to 100 (default 50; else 422 `validation_failed`).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

/// A page of history.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryPage {
    /// Newest first.
    pub messages: Vec<MessageView>,
    /// Pass as `before` for older messages; absent when there are none.
    pub next_cursor: Option<String>,
    /// Pass as `after` for newer messages (poll it for new ones).
    pub prev_cursor: Option<String>,
}

fn unix_seconds(field: &str, value: Option<String>) -> Result<Option<i64>, ApiError> {
    value
        .map(|value| {
            chrono::DateTime::parse_from_rfc3339(&value)
                .map(|at| at.timestamp())
                .map_err(|_| {
                    field_error(
                        field,
                        "must be an RFC 3339 time such as 2026-01-31T12:00:00Z",
                    )
                })
        })
        .transpose()
}

/// A chat's history, newest first, with cursors both ways and a date filter. Pages older
/// than TalkApp's cache are fetched from Telegram first.
#[utoipa::path(get, path = "/me/chat/messages/{user_id}/{session_index}/{chat_id}", tag = "chats",
    params(
        crate::routes::common::AccountChatPath,
        HistoryQuery,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, body = HistoryPage),
        (status = 503, description = "`telegram_unavailable`: not cached and Telegram cannot be reached now", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %owner.user_id))]
pub async fn history(
    owner: PathOwner,
    state: web::Data<AppState>,
    path: web::Path<(String, u32, String)>,
    query: web::Query<HistoryQuery>,
) -> Result<HttpResponse, ApiError> {
    let (_, session_index, chat_id) = path.into_inner();
    let query = query.into_inner();
    let from_date = unix_seconds("from", query.from)?;
    let to_date = unix_seconds("to", query.to)?;
    let reply = state
        .chat_reads
        .history(
            &state.services,
            chat::GetHistoryRequest {
                account: Some(account_ref(&owner, session_index)?),
                chat_id,
                before: query.before,
                after: query.after,
                from_date,
                to_date,
                limit: query.limit,
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(HistoryPage {
        messages: reply.messages.into_iter().map(MessageView::from).collect(),
        next_cursor: reply.next_cursor,
        prev_cursor: reply.prev_cursor,
    }))
}

/// A text message to send.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMessage {
    /// The chat (a string or a number).
    #[schema(value_type = String)]
    pub chat_id: serde_json::Value,
    /// 1 to 4096 characters; no control characters but line breaks and tabs.
    pub text: String,
    /// Reply to this message (1 or more).
    #[schema(minimum = 1)]
    pub reply_to: Option<i32>,
    /// Without notification.
    #[serde(default)]
    pub silent: bool,
    /// Idempotency key: the same key twice makes one job and one Telegram message.
    pub client_message_id: Option<String>,
}

/// A send job.
#[derive(Debug, Serialize, ToSchema)]
pub struct SendJobView {
    /// The job.
    pub job_id: String,
    /// `queued`, `sending`, `sent`, `failed` or `read`.
    pub status: String,
    /// The chat.
    pub chat_id: String,
    /// The Telegram message, once sent.
    pub message_id: Option<i32>,
    /// When Telegram accepted it (RFC 3339).
    pub sent_at: Option<String>,
    /// Why it failed: `chat_not_found`, `session_logged_out`, `attempts_exhausted`,
    /// or Telegram's error name in lower case (`chat_write_forbidden`, ...).
    pub failure: Option<String>,
    /// The idempotency key given.
    pub client_message_id: Option<String>,
    /// When the send was asked for.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// Tries so far.
    pub attempts: u32,
    /// A media send's files (absent for text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media: Option<SendJobMediaView>,
}

/// What a media send carries.
#[derive(Debug, Serialize, ToSchema)]
pub struct SendJobMediaView {
    /// How the files are sent: `photo`, `video`, `document`, `voice` or `audio` (an album
    /// of photos and videos sends each as what it is).
    pub kind: String,
    /// The uploaded files, in order (an album's first carries the caption).
    pub files: Vec<SendJobFileView>,
}

/// One file of a media send.
#[derive(Debug, Serialize, ToSchema)]
pub struct SendJobFileView {
    /// The uploaded file (`GET /media/{file_id}` while its owner keeps it).
    pub file_id: String,
    /// Bytes.
    pub size: u64,
    /// The type of its bytes.
    pub mime: String,
    /// Its name (may be empty).
    pub file_name: String,
    /// Pixels, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Pixels, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Seconds (millisecond precision), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
}

impl From<chat::SendJobMedia> for SendJobMediaView {
    fn from(media: chat::SendJobMedia) -> Self {
        Self {
            kind: media.kind,
            files: media
                .files
                .into_iter()
                .map(|file| SendJobFileView {
                    file_id: file.file_id,
                    size: file.size,
                    mime: file.mime,
                    file_name: file.file_name,
                    width: file.width,
                    height: file.height,
                    duration: file.duration_ms.map(|ms| ms as f64 / 1000.0),
                })
                .collect(),
        }
    }
}

impl From<chat::SendJob> for SendJobView {
    fn from(job: chat::SendJob) -> Self {
        Self {
            job_id: job.job_id,
            status: job.status,
            chat_id: job.chat_id,
            message_id: job.message_id,
            sent_at: job.sent_at,
            failure: job.failure,
            client_message_id: job.client_message_id,
            created_at: job.created_at,
            updated_at: job.updated_at,
            attempts: job.attempts,
            media: job.media.map(SendJobMediaView::from),
        }
    }
}

pub(crate) fn chat_id_text(value: &serde_json::Value) -> Result<String, ApiError> {
    match value {
        serde_json::Value::String(text) => Ok(text.clone()),
        serde_json::Value::Number(number) if number.is_i64() => Ok(number.to_string()),
        _ => Err(field_error(
            "chat_id",
            "must be a chat id (string or integer)",
        )),
    }
}

/// Queues a text message; 202 with the job. Watch it with `message_status` (or the
/// WebSocket). The same `client_message_id` twice yields the same job.
#[utoipa::path(post, path = "/me/send_message/{user_id}/{session_index}", tag = "chats", request_body = SendMessage,
    params(
        crate::routes::common::AccountPath,
    ),
    security(("bearer" = [])),
    responses(
        (status = 202, body = SendJobView),
        (status = 404, description = "`not_found`: no such account or chat", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %request.owner.user_id))]
pub async fn send_message(
    request: OwnedJson<SendMessage>,
    state: web::Data<AppState>,
    path: web::Path<(String, u32)>,
) -> Result<HttpResponse, ApiError> {
    let OwnedJson { owner, body } = request;
    let chat_id = chat_id_text(&body.chat_id)?;
    note_send_target(&chat_id, body.client_message_id.as_deref());
    if body.reply_to.is_some_and(|message_id| message_id < 1) {
        return Err(field_error("reply_to", "must be a message id (1 or more)"));
    }
    let job = state
        .services
        .send_message(chat::SendMessageRequest {
            account: Some(account_ref(&owner, path.1)?),
            chat_id,
            text: body.text,
            reply_to: body.reply_to,
            silent: body.silent,
            client_message_id: body.client_message_id,
        })
        .await?;
    Ok(HttpResponse::Accepted().json(SendJobView::from(job)))
}

/// Adds a send's chat and client id to its audit record.
pub(crate) fn note_send_target(chat_id: &str, client_message_id: Option<&str>) {
    let chat_id = chat_id.to_owned();
    let client_message_id = client_message_id.map(|id| id.chars().take(128).collect::<String>());
    crate::audit::note(|note| {
        note.target.push(("chat_id".to_owned(), chat_id));
        if let Some(id) = client_message_id {
            note.target.push(("client_message_id".to_owned(), id));
        }
    });
}

/// Where a send stands: `queued`, `sending`, `sent` (with the message id), `failed` (with
/// a reason), `read` once the peer read it.
#[utoipa::path(get, path = "/me/message_status/{user_id}/{session_index}/{job_id}", tag = "chats",
    params(
        crate::routes::common::AccountPath,
        ("job_id" = uuid::Uuid, Path, description = "From the send"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, body = SendJobView),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %owner.user_id))]
pub async fn message_status(
    owner: PathOwner,
    state: web::Data<AppState>,
    path: web::Path<(String, u32, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, session_index, job_id) = path.into_inner();
    let job = state
        .services
        .message_status(chat::GetMessageStatusRequest {
            account: Some(account_ref(&owner, session_index)?),
            job_id,
        })
        .await?;
    Ok(HttpResponse::Ok().json(SendJobView::from(job)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chat_without_its_optional_parts_serves_nulls_and_not_muted() {
        let chat = ChatView::from(chat::Chat {
            chat_id: "-100123".into(),
            kind: "channel".into(),
            title: "News".into(),
            presence: Some(chat::Presence::default()),
            ..chat::Chat::default()
        });
        assert_eq!(
            serde_json::to_string(&chat).expect("json"),
            r#"{"chat_id":"-100123","type":"channel","title":"News","username":null,"photo_id":null,"unread_count":0,"last_message":null,"pinned":false,"archived":false,"muted":false,"muted_until":null,"members_count":null,"read_inbox_max_id":0,"read_outbox_max_id":0,"last_activity":null,"presence":{"status":"unknown","at":null}}"#
        );
    }

    #[test]
    fn a_message_serves_what_the_wire_has_in_the_same_keys() {
        let message = MessageView::from(chat::Message {
            id: 7,
            chat_id: "-100123".into(),
            date: "2027-01-15T08:00:00Z".into(),
            text: "hi".into(),
            reply_to: Some(3),
            views: Some(0),
            media: Some(chat::Media {
                kind: "location".into(),
                latitude: Some(0.0),
                longitude: Some(69.25),
                ..chat::Media::default()
            }),
            ..chat::Message::default()
        });
        assert_eq!(
            serde_json::to_string(&message).expect("json"),
            r#"{"id":7,"chat_id":"-100123","date":"2027-01-15T08:00:00Z","sender":null,"outgoing":false,"text":"hi","entities":[],"reply_to":3,"forward":null,"edit_date":null,"media":{"kind":"location","file_id":null,"thumbnail_id":null,"mime_type":null,"size":null,"file_name":null,"width":null,"height":null,"duration":null,"waveform":null,"title":null,"performer":null,"latitude":0.0,"longitude":69.25},"views":0,"service":null,"silent":false,"pinned":false,"grouped_id":null}"#
        );
    }
}
