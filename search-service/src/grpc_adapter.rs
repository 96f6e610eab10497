//! `talkapp.search.v1.SearchService`: requests to the core's types, hits to the chat
//! service's message and chat shapes (so the gateway shows them as it shows history).
//!
//! The cached message's details (entities, forward, media) are read here with the
//! Telegram model's own types, the way chat-service writes them. chat-service has the same
//! conversion for its replies; the two become one when its views move to a shared place
//! (wave 2, with issue 15's reshaping of chat-service).

use std::sync::Arc;

use chrono::SecondsFormat;
use serde::Deserialize;
use talkapp_common::ErrorCode;
use talkapp_proto::chat::v1 as chat;
use talkapp_proto::search::v1 as proto;
use talkapp_proto::tonic::{self, Request, Response, Status};
use talkapp_store::{AccountKey, CachedChat, CachedMessage, SearchStore};
use talkapp_telegram::model::{ForwardInfo, MediaInfo, TextEntity};

use crate::index::SearchIndex;
use crate::rebuild;
use crate::service::{
    ChatHit, ChatSearch, ContactHit, ContactSearch, HitSource, MessageHit, MessageSearch,
    SearchCore, SearchError, SenderRecord,
};

/// The gRPC face of the search service.
pub struct SearchGrpcAdapter {
    core: Arc<SearchCore>,
    store: Arc<dyn SearchStore>,
    index: Arc<dyn SearchIndex>,
}

impl SearchGrpcAdapter {
    /// Serves `core`; rebuilds read `store` into `index`.
    pub fn new(
        core: Arc<SearchCore>,
        store: Arc<dyn SearchStore>,
        index: Arc<dyn SearchIndex>,
    ) -> Self {
        Self { core, store, index }
    }
}

fn status(error: SearchError) -> Status {
    match error {
        SearchError::Invalid { field, message } => {
            tracing::info!(field, %message, "search refused");
            ErrorCode::ValidationFailed.to_grpc_status(format!("{field}: {message}"))
        }
        SearchError::AccountNotFound(index) => {
            tracing::info!(session_index = index, "search of an unknown account");
            ErrorCode::NotFound.to_grpc_status(format!("no linked account {index}"))
        }
        SearchError::Unavailable(cause) => {
            tracing::warn!(%cause, "search unavailable");
            ErrorCode::ServiceUnavailable.to_grpc_status("search is unavailable right now")
        }
        SearchError::TelegramFloodWait { seconds } => {
            tracing::info!(seconds, "telegram asked to wait");
            ErrorCode::TelegramFloodWait.to_grpc_status_with_retry(
                format!("telegram asks to wait {seconds} s"),
                u64::from(seconds),
            )
        }
        SearchError::TelegramUnavailable(cause) => {
            tracing::warn!(%cause, "telegram unavailable");
            ErrorCode::TelegramUnavailable
                .to_grpc_status_with_retry("telegram is not reachable for this account now", 5)
        }
        SearchError::Internal(cause) => {
            tracing::warn!(%cause, "search failed");
            ErrorCode::Internal.to_grpc_status("search failed")
        }
    }
}

fn user(user_id: &str) -> Result<uuid::Uuid, Status> {
    uuid::Uuid::parse_str(user_id)
        .map_err(|_| ErrorCode::ValidationFailed.to_grpc_status("user_id must be a UUID"))
}

fn id_field(field: &'static str, value: Option<String>) -> Result<Option<i64>, Status> {
    value
        .filter(|value| !value.is_empty())
        .map(|value| {
            value.parse::<i64>().map_err(|_| {
                ErrorCode::ValidationFailed
                    .to_grpc_status(format!("{field}: must be an integer id"))
            })
        })
        .transpose()
}

fn rfc3339(unix: i64) -> String {
    time(unix).unwrap_or_default()
}

/// A time as RFC 3339; none when it is out of range.
fn time(unix: i64) -> Option<String> {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|at| at.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// Text the wire carries only when there is some: an empty string is "none".
fn filled(text: String) -> Option<String> {
    Some(text).filter(|text| !text.is_empty())
}

/// A number the wire carries only when it is one: 0 and below are "unknown".
fn positive<T: PartialOrd + Default>(value: Option<T>) -> Option<T> {
    value.filter(|value| *value > T::default())
}

/// What a cached message keeps beyond its columns (as chat-service's cache writes it).
#[derive(Default, Deserialize)]
struct MessageDetails {
    #[serde(default)]
    entities: Vec<TextEntity>,
    #[serde(default)]
    forward: Option<ForwardInfo>,
    #[serde(default)]
    media: Option<MediaInfo>,
    #[serde(default)]
    silent: bool,
    #[serde(default)]
    pinned: bool,
    #[serde(default)]
    grouped_id: Option<i64>,
}

fn to_proto_sender(sender: SenderRecord) -> chat::Sender {
    chat::Sender {
        id: sender.id.to_string(),
        kind: sender.kind.to_owned(),
        name: sender.name,
        username: filled(sender.username),
        photo_id: sender
            .photo_id
            .map(|photo| format!("p:{}:{photo}", sender.id)),
    }
}

fn to_proto_media(chat_id: i64, message_id: i32, media: MediaInfo) -> chat::Media {
    let reference = |part: &str| format!("{part}:{chat_id}:{message_id}");
    chat::Media {
        kind: media.kind.as_str().to_owned(),
        file_id: media.file.as_ref().map(|_| reference("m")),
        thumbnail_id: media.thumbnail.as_ref().map(|_| reference("t")),
        mime_type: media.mime_type.and_then(filled),
        size: positive(media.size),
        file_name: media.file_name.and_then(filled),
        width: positive(media.width),
        height: positive(media.height),
        duration: positive(media.duration),
        waveform: media.waveform.filter(|waveform| !waveform.is_empty()),
        title: media.title.and_then(filled),
        performer: media.performer.and_then(filled),
        latitude: media.latitude,
        // Both or neither.
        longitude: media.latitude.map(|_| media.longitude.unwrap_or_default()),
    }
}

/// A cached message in the history route's shape.
fn to_proto_message(
    message: CachedMessage,
    sender: Option<SenderRecord>,
    forward_from: Option<SenderRecord>,
) -> chat::Message {
    let details: MessageDetails = serde_json::from_str(&message.details).unwrap_or_default();
    chat::Message {
        id: message.message_id,
        chat_id: message.chat_id.to_string(),
        date: rfc3339(message.date),
        sender: sender.map(to_proto_sender),
        outgoing: message.outgoing,
        text: message.text,
        entities: details
            .entities
            .into_iter()
            .map(|entity| chat::Entity {
                kind: entity.kind,
                offset: entity.offset,
                length: entity.length,
                url: entity.url.and_then(filled),
                user_id: entity.user_id.map(|id| id.to_string()),
                language: entity.language.and_then(filled),
            })
            .collect(),
        reply_to: positive(message.reply_to),
        forward: details.forward.map(|forward| chat::Forward {
            from: forward_from.map(to_proto_sender),
            from_name: forward.from_name.and_then(filled),
            date: rfc3339(forward.date),
            channel_post: positive(forward.channel_post),
        }),
        edit_date: message.edit_date.and_then(time),
        media: details
            .media
            .map(|media| to_proto_media(message.chat_id, message.message_id, media)),
        views: message.views.filter(|views| *views >= 0),
        service: message.service.and_then(filled),
        silent: details.silent,
        pinned: details.pinned,
        grouped_id: details.grouped_id.map(|id| id.to_string()),
    }
}

/// A cached chat in the chat list's shape (without its newest message and presence,
/// which the chat routes give).
fn to_proto_chat(cached: CachedChat) -> chat::Chat {
    let photo = cached
        .profile
        .photo
        .as_deref()
        .and_then(|photo| serde_json::from_str::<serde_json::Value>(photo).ok())
        .and_then(|photo| photo.get("photo_id").and_then(serde_json::Value::as_i64));
    let chat_id = cached.profile.chat_id;
    let now = chrono::Utc::now().timestamp();
    let dialog = cached.dialog;
    chat::Chat {
        chat_id: chat_id.to_string(),
        kind: cached.profile.kind,
        title: cached.profile.title,
        username: filled(cached.profile.username),
        photo_id: photo.map(|photo| format!("p:{chat_id}:{photo}")),
        unread_count: dialog.as_ref().map_or(0, |dialog| dialog.unread_count),
        last_message: None,
        pinned: dialog.as_ref().is_some_and(|dialog| dialog.pinned),
        archived: dialog.as_ref().is_some_and(|dialog| dialog.archived),
        muted_until: dialog
            .as_ref()
            .filter(|dialog| dialog.muted_until > now)
            .and_then(|dialog| time(dialog.muted_until)),
        members_count: cached.profile.members_count.filter(|count| *count >= 0),
        read_inbox_max_id: dialog.as_ref().map_or(0, |dialog| dialog.read_inbox_max_id),
        read_outbox_max_id: dialog
            .as_ref()
            .map_or(0, |dialog| dialog.read_outbox_max_id),
        last_activity: dialog
            .as_ref()
            .filter(|dialog| dialog.top_date > 0)
            .and_then(|dialog| time(dialog.top_date)),
        presence: None,
    }
}

fn ranges(ranges: Vec<(u32, u32)>) -> Vec<proto::MatchRange> {
    ranges
        .into_iter()
        .map(|(offset, length)| proto::MatchRange { offset, length })
        .collect()
}

fn to_proto_message_hit(hit: MessageHit) -> proto::MessageHit {
    proto::MessageHit {
        session_index: hit.session_index,
        message: Some(to_proto_message(hit.message, hit.sender, hit.forward_from)),
        chat: hit.chat.map(to_proto_chat),
        ranges: ranges(hit.ranges),
        source: match hit.source {
            HitSource::Cache => "cache",
            HitSource::Telegram => "telegram",
        }
        .to_owned(),
    }
}

fn to_proto_chat_hit(hit: ChatHit) -> proto::ChatHit {
    proto::ChatHit {
        chat: Some(to_proto_chat(hit.chat)),
        title_ranges: ranges(hit.ranges),
        typos: u32::try_from(hit.typos).unwrap_or(u32::MAX),
    }
}

fn to_proto_contact_hit(hit: ContactHit) -> proto::ContactHit {
    let contact = hit.contact;
    proto::ContactHit {
        contact: Some(chat::Contact {
            user: Some(chat::TelegramUser {
                id: contact.user_id.to_string(),
                first_name: contact.first_name,
                last_name: filled(contact.last_name),
                username: filled(contact.username),
                phone: filled(contact.phone),
                photo_id: contact.photo_id,
            }),
            mutual: contact.mutual,
            presence: Some(chat::Presence {
                status: contact.presence,
                at: contact.presence_at,
            }),
        }),
        name_ranges: ranges(hit.ranges),
        typos: u32::try_from(hit.typos).unwrap_or(u32::MAX),
    }
}

#[tonic::async_trait]
impl proto::search_service_server::SearchService for SearchGrpcAdapter {
    async fn search_contacts(
        &self,
        request: Request<proto::SearchContactsRequest>,
    ) -> Result<Response<proto::SearchContactsResponse>, Status> {
        let request = request.into_inner();
        let page = self
            .core
            .search_contacts(ContactSearch {
                user_id: user(&request.user_id)?,
                session_index: request.session_index,
                query: request.query,
                cursor: request.cursor.filter(|cursor| !cursor.is_empty()),
                limit: request.limit,
            })
            .await
            .map_err(status)?;
        Ok(Response::new(proto::SearchContactsResponse {
            hits: page.hits.into_iter().map(to_proto_contact_hit).collect(),
            next_cursor: page.next_cursor,
        }))
    }

    async fn search_chats(
        &self,
        request: Request<proto::SearchChatsRequest>,
    ) -> Result<Response<proto::SearchChatsResponse>, Status> {
        let request = request.into_inner();
        let page = self
            .core
            .search_chats(ChatSearch {
                user_id: user(&request.user_id)?,
                session_index: request.session_index,
                query: request.query,
                kind: request.kind.filter(|kind| !kind.is_empty()),
                cursor: request.cursor.filter(|cursor| !cursor.is_empty()),
                limit: request.limit,
            })
            .await
            .map_err(status)?;
        Ok(Response::new(proto::SearchChatsResponse {
            hits: page.hits.into_iter().map(to_proto_chat_hit).collect(),
            next_cursor: page.next_cursor,
        }))
    }

    async fn search_messages(
        &self,
        request: Request<proto::SearchMessagesRequest>,
    ) -> Result<Response<proto::SearchMessagesResponse>, Status> {
        let request = request.into_inner();
        let page = self
            .core
            .search_messages(MessageSearch {
                user_id: user(&request.user_id)?,
                session_index: request.session_index,
                query: request.query,
                chat_id: id_field("chat_id", request.chat_id)?,
                from_date: request.from_date,
                to_date: request.to_date,
                sender_id: id_field("sender", request.sender_id)?,
                kind: request.kind.filter(|kind| !kind.is_empty()),
                cursor: request.cursor.filter(|cursor| !cursor.is_empty()),
                limit: request.limit,
            })
            .await
            .map_err(status)?;
        Ok(Response::new(proto::SearchMessagesResponse {
            hits: page.hits.into_iter().map(to_proto_message_hit).collect(),
            next_cursor: page.next_cursor,
            partial: page.partial,
        }))
    }

    async fn rebuild_index(
        &self,
        request: Request<proto::RebuildIndexRequest>,
    ) -> Result<Response<proto::RebuildIndexResponse>, Status> {
        let request = request.into_inner();
        let key = AccountKey {
            user_id: user(&request.user_id)?,
            session_index: request.session_index,
        };
        let built = rebuild::rebuild_account(self.store.as_ref(), self.index.as_ref(), key)
            .await
            .map_err(status)?;
        Ok(Response::new(proto::RebuildIndexResponse {
            messages: built.messages,
            chats: built.chats,
        }))
    }
}
