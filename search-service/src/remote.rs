//! Telegram's own search, as the search core sees it: a small port the account's host
//! answers (`messages.search`, `messages.searchGlobal`), so that a message older than the
//! cache is still found.
//!
//! Wave 1 (this code): nothing implements it in production yet; the service runs with no
//! Telegram-side search and answers from its index of the cache alone. The call into the
//! account's host arrives in wave 2, once chat-service's core and its "this replica or the
//! account's host" router are in place (issue 15); it implements [`TelegramSearch`] and is
//! passed to [`crate::service::SearchCore::new`]. The merge, the de-duplication and the
//! `partial` marking that use it are tested now, with an in-process implementation that
//! lives in the tests only.

use async_trait::async_trait;
use talkapp_store::{CachedMessage, CachedUser, ChatProfile, SessionKey};

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
    /// Older than this (date, chat, message), newest first.
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

/// Telegram's search through the account's host.
#[async_trait]
pub trait TelegramSearch: Send + Sync + 'static {
    /// Messages of the account matching `query`, as Telegram finds them.
    async fn search_messages(
        &self,
        key: SessionKey,
        query: &RemoteQuery,
    ) -> Result<RemoteHits, RemoteError>;
}
