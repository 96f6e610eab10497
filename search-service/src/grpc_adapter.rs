//! `talkapp.search.v1.SearchService`: requests to the core's types, hits to the chat
//! service's message and chat shapes (so the gateway shows them as it shows history).
//!
//! A cached message becomes chat.v1's `Message` through `talkapp_views`, the conversion
//! chat-service's replies use too (ADR 0054), so a hit shows as history does.

use std::sync::Arc;

use talkapp_common::ErrorCode;
use talkapp_proto::chat::v1 as chat;
use talkapp_proto::search::v1 as proto;
use talkapp_proto::tonic::{self, Request, Response, Status};
use talkapp_store::{AccountKey, CachedChat, SearchStore};
use talkapp_views::{filled, record_to_proto_message};

use crate::index::SearchIndex;
use crate::rebuild;
use crate::service::{
    ChatHit, ChatSearch, ContactHit, ContactSearch, HitSource, MessageHit, MessageSearch,
    SearchCore, SearchError,
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

/// A cached chat in the chat list's shape (without its newest message and presence,
/// which the chat routes give): chat-service's conversion (ADR 0054).
fn to_proto_chat(cached: CachedChat) -> chat::Chat {
    talkapp_views::to_proto_chat(cached.profile, cached.dialog.as_ref(), None, None)
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
        message: Some(record_to_proto_message(
            &hit.message,
            hit.sender,
            hit.forward_from,
        )),
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

#[cfg(test)]
mod tests {
    use talkapp_store::{CachedMessage, ChatProfile};
    use talkapp_telegram::model::{FileLocation, MediaInfo, MediaKind, Message, TextEntity};

    use super::*;
    use crate::service::SenderRecord;

    fn stored() -> CachedMessage {
        let mut media = MediaInfo::of_kind(MediaKind::Photo);
        media.file = Some(FileLocation::Photo {
            id: 1,
            access_hash: 2,
            file_reference: vec![3],
            thumb_size: "y".into(),
            dc_id: 2,
        });
        media.width = Some(800);
        // As chat-service's cache writes it.
        talkapp_views::message_record(&Message {
            chat_id: -100_123,
            id: 7,
            sender_id: Some(42),
            outgoing: false,
            date: 1_800_000_000,
            edit_date: None,
            text: "see https://t.me".into(),
            entities: vec![TextEntity {
                kind: "url".into(),
                offset: 4,
                length: 12,
                url: None,
                user_id: None,
                language: None,
            }],
            reply_to: Some(5),
            forward: None,
            media: Some(media),
            views: None,
            service: None,
            silent: true,
            pinned: false,
            grouped_id: None,
        })
    }

    #[test]
    fn a_message_hit_shows_the_message_as_history_does_with_references_for_its_files() {
        let hit = to_proto_message_hit(MessageHit {
            session_index: 1,
            message: stored(),
            chat: Some(CachedChat {
                profile: ChatProfile {
                    chat_id: -100_123,
                    kind: "supergroup".into(),
                    title: "Team".into(),
                    username: String::new(),
                    photo: Some(r#"{"photo_id":9,"dc_id":2}"#.into()),
                    members_count: Some(3),
                    is_creator: false,
                    is_admin: false,
                    has_left: false,
                },
                dialog: None,
                history_floor: None,
                history_complete: false,
            }),
            sender: Some(SenderRecord {
                id: 42,
                kind: "user",
                name: "Ann".into(),
                username: "ann".into(),
                photo_id: Some(6),
            }),
            forward_from: None,
            ranges: vec![(4, 12)],
            source: HitSource::Cache,
        });

        let message = hit.message.expect("message");
        assert_eq!((message.id, message.chat_id.as_str()), (7, "-100123"));
        assert_eq!(message.date, "2027-01-15T08:00:00Z");
        assert_eq!((message.reply_to, message.silent), (Some(5), true));
        assert_eq!(message.entities[0].kind, "url");
        let media = message.media.expect("media");
        assert_eq!(media.kind, "photo");
        assert_eq!(media.file_id.as_deref(), Some("m:-100123:7"));
        assert_eq!((media.thumbnail_id, media.width), (None, Some(800)));
        let sender = message.sender.expect("sender");
        assert_eq!(sender.username.as_deref(), Some("ann"));
        assert_eq!(sender.photo_id.as_deref(), Some("p:42:6"));
        let chat = hit.chat.expect("chat");
        assert_eq!(chat.photo_id.as_deref(), Some("p:-100123:9"));
        assert_eq!(hit.source, "cache");
    }
}
