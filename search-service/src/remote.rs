//! Telegram's own search and the contact list, as the search core sees them: a small port
//! ([`TelegramSearch`]) that the account's host answers (`messages.search`,
//! `messages.searchGlobal`, `contacts.getContacts`), so that a message older than the
//! cache is still found.
//!
//! In production it is [`ChatServiceTelegram`]: search-service asks the chat service
//! (`talkapp.chat.v1.ChatService`, at `search.chat_service_url`), whose router passes the
//! call to the replica that hosts the account (its `AccountHost`). The host stores what
//! Telegram found in the chat cache and names it, so the hits are read from the cache
//! like any other (ADR 0022). Tests may pass another implementation.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use talkapp_common::ErrorCode;
use talkapp_common::grpc::TraceContextInterceptor;
use talkapp_proto::chat::v1 as chat;
use talkapp_proto::chat::v1::chat_service_client::ChatServiceClient;
use talkapp_proto::tonic::codegen::InterceptedService;
use talkapp_proto::tonic::transport::{Channel, Endpoint};
use talkapp_proto::tonic::{self, Status};
use talkapp_store::{AccountKey, CachedMessage, CachedUser, ChatProfile, SearchStore};

use crate::index::kind;

/// What Telegram is asked for (the same filters as the index query).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteQuery {
    /// The query as the user typed it (Telegram does its own matching).
    pub text: String,
    /// Only this chat (`messages.search`); none: every chat (`messages.searchGlobal`).
    pub chat_id: Option<i64>,
    /// Sent at or after (Unix seconds).
    pub from_date: Option<i64>,
    /// Sent at or before (Unix seconds).
    pub to_date: Option<i64>,
    /// Only this sender.
    pub sender_id: Option<i64>,
    /// Only messages of these [`crate::index::kind`] bits.
    pub kinds: Option<i32>,
    /// Older than this (date, chat, message), newest first: the previous page's last hit,
    /// or, for another account's cursor, its date with `i64::MAX` (every hit of that
    /// second is still to come) or `i64::MIN` (only older seconds are) as the chat.
    pub before: Option<(i64, i64, i32)>,
    /// At most this many.
    pub limit: u32,
}

/// What Telegram found: messages in the cache's shape, with the chats and users they
/// mention (for showing hits the cache does not hold).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteHits {
    /// The messages, in any order.
    pub messages: Vec<CachedMessage>,
    /// Chats they are in or come from.
    pub chats: Vec<ChatProfile>,
    /// Users who sent them.
    pub users: Vec<CachedUser>,
}

/// Why Telegram's search gave nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteError {
    /// Telegram asked to wait (`FLOOD_WAIT_N`).
    #[error("telegram asked to wait {seconds} s")]
    FloodWait {
        /// How long.
        seconds: u32,
    },
    /// The account's host or Telegram could not be reached.
    #[error("telegram search unavailable: {0}")]
    Unavailable(String),
}

/// One of the account's contacts, as the chat service shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteContact {
    /// Telegram user id.
    pub user_id: i64,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Username without `@`.
    pub username: String,
    /// Phone, digits only, when visible.
    pub phone: String,
    /// Their profile photo as a media reference; none when none is known.
    pub photo_id: Option<String>,
    /// Whether they have the account in their contacts too.
    pub mutual: bool,
    /// `online`, `offline`, `recently`, `last_week`, `last_month` or `unknown`.
    pub presence: String,
    /// RFC 3339: until when online, or when last seen; none when hidden.
    pub presence_at: Option<String>,
}

impl RemoteContact {
    /// "First Last", trimmed.
    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
            .trim()
            .to_owned()
    }
}

/// Telegram's search and contact list through the account's host.
#[async_trait]
pub trait TelegramSearch: Send + Sync + 'static {
    /// Messages of the account matching `query`, as Telegram finds them.
    async fn search_messages(
        &self,
        key: AccountKey,
        query: &RemoteQuery,
    ) -> Result<RemoteHits, RemoteError>;

    /// The account's contacts, in Telegram's order.
    async fn contacts(&self, key: AccountKey) -> Result<Vec<RemoteContact>, RemoteError>;
}

/// The one [`kind`] a Telegram filter can ask for (Telegram takes one `MessagesFilter`
/// per call; text has none: every message is asked for and the core filters).
fn telegram_filter(kinds: Option<i32>) -> Option<&'static str> {
    match kinds? {
        kind::PHOTO => Some("photo"),
        kind::VIDEO => Some("video"),
        kind::DOCUMENT => Some("document"),
        kind::VOICE => Some("voice"),
        kind::LINK => Some("link"),
        _ => None,
    }
}

/// How a later page asks Telegram: the inclusive upper date bound, and the hit to
/// continue after with Telegram's own offsets (ADR 0022). A bound that names no message
/// (another account's cursor) is a date bound only: every hit of its second, or none.
fn continuation(
    query: &RemoteQuery,
) -> (
    Option<i64>,
    Option<chat::search_telegram_messages_request::Offset>,
) {
    let earlier = |date: i64| Some(query.to_date.map_or(date, |to| to.min(date)));
    match query.before {
        None => (query.to_date, None),
        Some((date, i64::MAX, _)) => (earlier(date), None),
        Some((date, i64::MIN, _)) => (earlier(date.saturating_sub(1)), None),
        Some((date, chat_id, message_id)) => (
            query.to_date,
            Some(chat::search_telegram_messages_request::Offset {
                date,
                chat_id,
                message_id,
            }),
        ),
    }
}

/// A refusal from the chat service as the core sees it: Telegram's wait, or unreachable.
fn remote_error(status: &Status) -> RemoteError {
    match ErrorCode::from_grpc_status(status) {
        ErrorCode::TelegramFloodWait => RemoteError::FloodWait {
            seconds: talkapp_common::error_code::retry_after_secs(status)
                .and_then(|seconds| u32::try_from(seconds).ok())
                .unwrap_or(1),
        },
        code => RemoteError::Unavailable(format!("{}: {}", code.as_str(), status.message())),
    }
}

/// Telegram's search and contacts through the chat service (which routes each call to the
/// account's host); found messages are read from the chat cache the host fills.
pub struct ChatServiceTelegram {
    client: ChatServiceClient<InterceptedService<Channel, TraceContextInterceptor>>,
    store: Arc<dyn SearchStore>,
    timeout: Duration,
}

impl ChatServiceTelegram {
    /// A client of the chat service at `address` (`http://host:port`), connected on first
    /// use; found messages are read from `store`; a call waits at most `timeout`.
    pub fn connect_lazy(
        address: &str,
        store: Arc<dyn SearchStore>,
        timeout: Duration,
    ) -> Result<Self, tonic::transport::Error> {
        let channel = Endpoint::from_shared(address.to_owned())?
            // A chat service that does not accept within a second counts as unreachable:
            // the search answers with its cached hits (partial).
            .connect_timeout(Duration::from_secs(1))
            .timeout(timeout)
            // Replies span several segments; without it each waits for a delayed ACK.
            .tcp_nodelay(true)
            .connect_lazy();
        Ok(Self {
            client: ChatServiceClient::with_interceptor(channel, TraceContextInterceptor),
            store,
            timeout,
        })
    }

    fn account_ref(key: AccountKey) -> Option<chat::AccountRef> {
        Some(chat::AccountRef {
            user_id: key.user_id.to_string(),
            session_index: key.session_index,
        })
    }
}

#[async_trait]
impl TelegramSearch for ChatServiceTelegram {
    async fn search_messages(
        &self,
        key: AccountKey,
        query: &RemoteQuery,
    ) -> Result<RemoteHits, RemoteError> {
        // A later page continues after the previous page's last hit with Telegram's own
        // offsets; the core still drops whatever is not strictly after its cursor.
        let (to_date, offset) = continuation(query);
        let request = chat::SearchTelegramMessagesRequest {
            account: Self::account_ref(key),
            query: query.text.clone(),
            chat_id: query.chat_id,
            from_date: query.from_date,
            to_date,
            // Across chats Telegram has no sender filter; the core applies it.
            sender_id: query.chat_id.and(query.sender_id),
            filter: telegram_filter(query.kinds).map(str::to_owned),
            limit: query.limit.clamp(1, 100),
            offset,
        };
        let mut client = self.client.clone();
        let call = client.search_telegram_messages(request);
        let reply = tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| RemoteError::Unavailable("telegram search timed out".into()))?
            .map_err(|status| remote_error(&status))?
            .into_inner();
        let found: Vec<(i64, i32)> = reply
            .messages
            .iter()
            .map(|found| (found.chat_id, found.message_id))
            .collect();
        let messages = self
            .store
            .cached_messages_at(key, &found)
            .await
            .map_err(|error| RemoteError::Unavailable(error.to_string()))?;
        // Chats and senders are in the cache too (the host stored them with the hits).
        Ok(RemoteHits {
            messages,
            chats: Vec::new(),
            users: Vec::new(),
        })
    }

    async fn contacts(&self, key: AccountKey) -> Result<Vec<RemoteContact>, RemoteError> {
        let mut client = self.client.clone();
        let call = client.list_contacts(chat::ListContactsRequest {
            account: Self::account_ref(key),
        });
        let reply = tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| RemoteError::Unavailable("contact list timed out".into()))?
            .map_err(|status| remote_error(&status))?
            .into_inner();
        Ok(reply
            .contacts
            .into_iter()
            .filter_map(|contact| {
                let user = contact.user?;
                let presence = contact.presence.unwrap_or_default();
                Some(RemoteContact {
                    user_id: user.id.parse().ok()?,
                    first_name: user.first_name,
                    last_name: user.last_name.unwrap_or_default(),
                    username: user.username.unwrap_or_default(),
                    phone: user.phone.unwrap_or_default(),
                    photo_id: user.photo_id,
                    mutual: contact.mutual,
                    presence: presence.status,
                    presence_at: presence.at,
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_kind_becomes_telegrams_filter_and_text_asks_for_everything() {
        assert_eq!(telegram_filter(None), None);
        assert_eq!(telegram_filter(Some(kind::TEXT)), None);
        assert_eq!(telegram_filter(Some(kind::PHOTO)), Some("photo"));
        assert_eq!(telegram_filter(Some(kind::LINK)), Some("link"));
        assert_eq!(telegram_filter(Some(kind::PHOTO | kind::VIDEO)), None);
    }

    #[test]
    fn a_later_page_continues_after_the_last_hit_and_another_accounts_cursor_bounds_dates() {
        let query = |to_date: Option<i64>, before: Option<(i64, i64, i32)>| RemoteQuery {
            text: "hisobot".into(),
            chat_id: None,
            from_date: None,
            to_date,
            sender_id: None,
            kinds: None,
            before,
            limit: 21,
        };
        assert_eq!(continuation(&query(Some(9), None)), (Some(9), None));
        let offset = chat::search_telegram_messages_request::Offset {
            date: 5_000,
            chat_id: -42,
            message_id: 17,
        };
        assert_eq!(
            continuation(&query(None, Some((5_000, -42, 17)))),
            (None, Some(offset))
        );
        assert_eq!(
            continuation(&query(Some(6_000), Some((5_000, -42, 17)))),
            (Some(6_000), Some(offset))
        );
        assert_eq!(
            continuation(&query(None, Some((5_000, i64::MAX, i32::MAX)))),
            (Some(5_000), None)
        );
        assert_eq!(
            continuation(&query(Some(4_000), Some((5_000, i64::MAX, i32::MAX)))),
            (Some(4_000), None)
        );
        assert_eq!(
            continuation(&query(None, Some((5_000, i64::MIN, i32::MIN)))),
            (Some(4_999), None)
        );
    }

    #[test]
    fn a_flood_wait_keeps_its_seconds() {
        let status = ErrorCode::TelegramFloodWait.to_grpc_status_with_retry("wait", 42);
        assert_eq!(
            remote_error(&status),
            RemoteError::FloodWait { seconds: 42 }
        );
        let status = ErrorCode::TelegramUnavailable.to_grpc_status("away");
        assert!(matches!(remote_error(&status), RemoteError::Unavailable(_)));
    }
}
