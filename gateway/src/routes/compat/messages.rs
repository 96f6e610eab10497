//! A chat's messages, newest first, paged by a count `offset` (contract §6). Served from
//! TalkApp's cache of the account like the native history route (the frontend gives up
//! after 5 s); pages older than the cache are fetched from Telegram by the chat service.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use talkapp_proto::chat::v1 as chat;
use utoipa::{IntoParams, ToSchema};

use super::{CompatError, account_index, account_ref, field_error, id_number, non_empty};
use crate::auth::extract::Caller;
use crate::problem::ApiError;
use crate::state::AppState;

/// Largest `offset` accepted: paging by a count reads every message before the page.
const MAX_OFFSET: u32 = 5000;
/// Messages per history call to the chat service.
const SERVICE_PAGE: u32 = 100;
/// How long the chat's kind and read marks may take; without them the kind is told from
/// the id and `is_read` is false.
const DETAILS_WAIT: Duration = Duration::from_millis(1500);

/// Paging, and which account.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessagesQuery {
    /// The account `index` from `/me/telegrams` (required; else 422 `validation_failed`).
    #[param(max_length = 10)]
    pub session_index: Option<String>,
    /// 1 to 100 (default 10).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// How many of the newest messages to skip (a count, not an id), 0 to 5000
    /// (default 0).
    #[param(minimum = 0, maximum = 5000)]
    pub offset: Option<u32>,
}

/// Who sent a message; always present (built from the chat for anonymous posts).
#[derive(Debug, Serialize, ToSchema)]
pub struct FromUserOut {
    /// Telegram user id, or the sending chat's id for posts and anonymous admins.
    pub id: i64,
    /// The sender's display name (TalkApp keeps the whole name here).
    pub first_name: Option<String>,
    /// Always null (the whole name is in `first_name`).
    pub last_name: Option<String>,
    /// Username without `@`.
    pub username: Option<String>,
    /// Not known from history: null.
    pub phone_number: Option<String>,
    /// Root-relative, signed avatar URL (as a chat's `photo_url`); null when the sender
    /// has no photo or the cache does not know it.
    pub photo_url: Option<String>,
    /// Not cached: null.
    pub status: Option<String>,
    /// Not cached: false.
    pub is_premium: bool,
    /// None yet: null.
    pub emoji_url: Option<String>,
}

/// One message, with the keys in the legacy order.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageOut {
    /// Id within the chat.
    pub id: i32,
    /// When sent: RFC 3339 with offset (UTC).
    pub date: String,
    /// The chat (a number).
    pub chat_id: i64,
    /// `private`, `group`, `supergroup` or `channel`.
    pub chat_type: String,
    /// Outgoing: the peer read it; incoming: this account read it.
    pub is_read: bool,
    /// Sent by this account.
    pub is_outgoing: bool,
    /// The sender.
    pub from_user: FromUserOut,
    /// Text of a message without media.
    pub text: Option<String>,
    /// Caption of a message with media.
    pub caption: Option<String>,
    /// `photo`, `video`, `audio`, `document`, `voice`, `sticker`, `animation`,
    /// `video_note`, `location`, `contact`, `poll`, or null.
    pub media_type: Option<String>,
    /// TalkApp's media reference (`m:{chat_id}:{message_id}`, query-safe), for kinds with a
    /// file.
    pub file_id: Option<String>,
    /// Original file name.
    pub file_name: Option<String>,
    /// MIME type.
    pub mime_type: Option<String>,
    /// Root-relative thumbnail URL.
    // TODO(media): thumbnails come with `/me/download_media`; null until then.
    pub thumb_url: Option<String>,
    /// Human size (`"12.5 KB"`, 1024-based), only with `file_id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_size: Option<String>,
    /// Whole seconds, voice and video notes only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<u64>,
    /// `M:SS`, voice and video notes only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_formatted: Option<String>,
    /// Telegram's packed waveform bytes as numbers 0–255, voice only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waveform: Option<Vec<u8>>,
    /// Locations only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latitude: Option<f64>,
    /// Locations only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub longitude: Option<f64>,
    /// Root-relative URL of a downloaded copy.
    // TODO(media): set by the media download work (`/me/download_media`); null until then.
    pub file_url: Option<String>,
}

/// A page of messages.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessagesOut {
    /// Always `true`.
    pub ok: bool,
    /// Messages in this page (not the chat's total).
    pub count: usize,
    /// Newest first.
    pub messages: Vec<MessageOut>,
}

/// What the page needs to know of the chat.
struct ChatFacts {
    kind: String,
    title: Option<String>,
    username: Option<String>,
    photo_id: Option<String>,
    read_inbox_max_id: i32,
    read_outbox_max_id: i32,
}

impl ChatFacts {
    /// Told from the id alone: positive ids are users, `-100…` supergroups (or channels).
    fn from_id(chat_id: i64) -> Self {
        let kind = if chat_id > 0 {
            "private"
        } else if chat_id <= -1_000_000_000_000 {
            "supergroup"
        } else {
            "group"
        };
        Self {
            kind: kind.to_owned(),
            title: None,
            username: None,
            photo_id: None,
            read_inbox_max_id: 0,
            read_outbox_max_id: 0,
        }
    }
}

/// 1024-based with one decimal, as the legacy backend wrote sizes.
pub fn human_size(bytes: i64) -> String {
    if bytes <= 0 {
        return "0 B".to_owned();
    }
    let mut value = bytes as f64;
    for unit in ["B", "KB", "MB", "GB"] {
        if value < 1024.0 {
            return format!("{value:.1} {unit}");
        }
        value /= 1024.0;
    }
    format!("{value:.1} TB")
}

/// `M:SS`.
fn minutes_seconds(seconds: u64) -> String {
    format!("{}:{:02}", seconds / 60, seconds % 60)
}

/// The legacy `media_type` of a TalkApp media kind.
fn media_type(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "photo" => "photo",
        "video" => "video",
        "audio" => "audio",
        "document" => "document",
        "voice" => "voice",
        "sticker" => "sticker",
        "animation" => "animation",
        "video_note" => "video_note",
        "location" => "location",
        "contact" => "contact",
        "poll" => "poll",
        // Link previews had no media type before; the text carries the link.
        _ => return None,
    })
}

fn from_user(
    sender: Option<chat::Sender>,
    chat_id: i64,
    facts: &ChatFacts,
    links: &super::media::Links<'_>,
) -> FromUserOut {
    let (id, name, username, photo_id) = match sender {
        Some(sender) => (
            id_number(&sender.id),
            non_empty(sender.name),
            sender.username,
            sender.photo_id,
        ),
        // Anonymous posts: the chat speaks (contract quirk 2: never null).
        None => (
            chat_id,
            facts.title.clone(),
            facts.username.clone(),
            facts.photo_id.clone(),
        ),
    };
    FromUserOut {
        id,
        first_name: name,
        last_name: None,
        username,
        phone_number: None,
        photo_url: photo_id.map(|photo_id| links.url(&photo_id)),
        status: None,
        is_premium: false,
        emoji_url: None,
    }
}

fn message_out(
    message: chat::Message,
    facts: &ChatFacts,
    links: &super::media::Links<'_>,
) -> MessageOut {
    let chat_id = id_number(&message.chat_id);
    let is_read = if message.outgoing {
        message.id <= facts.read_outbox_max_id
    } else {
        message.id <= facts.read_inbox_max_id
    };
    let media = message.media;
    let text = non_empty(message.text);
    let mut out = MessageOut {
        id: message.id,
        date: message.date,
        chat_id,
        chat_type: facts.kind.clone(),
        is_read,
        is_outgoing: message.outgoing,
        from_user: from_user(message.sender, chat_id, facts, links),
        text: None,
        caption: None,
        media_type: None,
        file_id: None,
        file_name: None,
        mime_type: None,
        thumb_url: None,
        file_size: None,
        duration_seconds: None,
        duration_formatted: None,
        waveform: None,
        latitude: None,
        longitude: None,
        file_url: None,
    };
    let Some(media) = media else {
        out.text = text;
        return out;
    };
    let kind = media_type(&media.kind);
    if kind.is_none() {
        out.text = text;
        return out;
    }
    out.caption = text;
    out.media_type = kind.map(str::to_owned);
    out.file_id = media.file_id.map(|media_ref| links.file_id(&media_ref));
    out.thumb_url = media.thumbnail_id.map(|media_ref| links.url(&media_ref));
    out.file_name = media.file_name;
    out.mime_type = media.mime_type;
    if out.file_id.is_some() {
        out.file_size = Some(human_size(media.size.unwrap_or(0)));
    }
    if matches!(kind, Some("voice" | "video_note")) {
        let seconds = media.duration.unwrap_or(0.0).max(0.0).round() as u64;
        out.duration_seconds = Some(seconds);
        out.duration_formatted = Some(minutes_seconds(seconds));
    }
    if kind == Some("voice") {
        out.waveform = Some(media.waveform.unwrap_or_default());
    }
    out.latitude = media.latitude;
    out.longitude = media.longitude;
    out
}

/// The chat's kind, title and read marks, or what the id tells when they take too long.
async fn chat_facts(state: &AppState, account: &chat::AccountRef, chat_id: i64) -> ChatFacts {
    let details = state.services.chat_details(chat::GetChatRequest {
        account: Some(account.clone()),
        chat_id: chat_id.to_string(),
    });
    match tokio::time::timeout(DETAILS_WAIT, details).await {
        Ok(Ok(chat::ChatDetails {
            chat: Some(chat), ..
        })) => ChatFacts {
            kind: chat.kind,
            title: non_empty(chat.title),
            username: chat.username,
            photo_id: chat.photo_id,
            read_inbox_max_id: chat.read_inbox_max_id,
            read_outbox_max_id: chat.read_outbox_max_id,
        },
        _ => ChatFacts::from_id(chat_id),
    }
}

/// The newest `offset + limit` messages, without the first `offset`.
async fn page(
    state: &AppState,
    account: &chat::AccountRef,
    chat_id: i64,
    offset: u32,
    limit: u32,
) -> Result<Vec<chat::Message>, ApiError> {
    let wanted = usize::try_from(offset + limit).unwrap_or(usize::MAX);
    let mut messages = Vec::new();
    let mut before = None;
    while messages.len() < wanted {
        let missing = u32::try_from(wanted - messages.len()).unwrap_or(SERVICE_PAGE);
        let reply = state
            .chat_reads
            .history(
                &state.services,
                chat::GetHistoryRequest {
                    account: Some(account.clone()),
                    chat_id: chat_id.to_string(),
                    before: before.take(),
                    limit: Some(missing.min(SERVICE_PAGE)),
                    ..chat::GetHistoryRequest::default()
                },
            )
            .await?;
        if reply.messages.is_empty() {
            break;
        }
        messages.extend(reply.messages);
        let Some(next_cursor) = reply.next_cursor else {
            break;
        };
        before = Some(next_cursor);
    }
    Ok(messages
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .collect())
}

/// A chat's messages, newest first; `offset` skips that many of the newest.
#[utoipa::path(get, path = "/me/chats/{chat_id}/messages", tag = "torextalkweb",
    params(
        ("chat_id" = i64, Path, description = "Chat id as listed (negative for groups)"),
        MessagesQuery,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, body = MessagesOut),
        (status = 404, description = "`not_found`: no such account of the caller, or no such chat", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`telegram_unavailable`: not cached and Telegram cannot be reached now", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %caller.0.user_id))]
pub async fn messages(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<MessagesQuery>,
) -> Result<HttpResponse, CompatError> {
    let chat_id: i64 = path
        .trim()
        .parse()
        .map_err(|_| field_error("chat_id", "must be an integer chat id"))?;
    let session_index = query
        .session_index
        .as_deref()
        .ok_or_else(|| field_error("session_index", "is required"))?;
    let session_index = account_index("session_index", session_index)?;
    let limit = query.limit.unwrap_or(10);
    if !(1..=100).contains(&limit) {
        return Err(field_error("limit", "must be 1 to 100").into());
    }
    let offset = query.offset.unwrap_or(0);
    if offset > MAX_OFFSET {
        return Err(field_error("offset", format!("must be 0 to {MAX_OFFSET}")).into());
    }
    let account = account_ref(caller.0.user_id, session_index);
    let (messages, facts) = futures::future::join(
        page(&state, &account, chat_id, offset, limit),
        chat_facts(&state, &account, chat_id),
    )
    .await;
    let links = super::media::Links::new(&state, &caller.0, session_index);
    let messages: Vec<MessageOut> = messages?
        .into_iter()
        .map(|message| message_out(message, &facts, &links))
        .collect();
    Ok(HttpResponse::Ok().json(MessagesOut {
        ok: true,
        count: messages.len(),
        messages,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_the_legacy_ones() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(512), "512.0 B");
        assert_eq!(human_size(12_800), "12.5 KB");
        assert_eq!(human_size(3 * 1024 * 1024 + 200_000), "3.2 MB");
        assert_eq!(minutes_seconds(3), "0:03");
        assert_eq!(minutes_seconds(725), "12:05");
    }
}
