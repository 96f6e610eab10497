//! The chat service's reads: the chat list and history pages through the cache reads it
//! shares with the gateway (`talkapp_views::cached_reads`, ADR 0073), a history page the
//! cache does not cover fetched through the account's host first, and a chat's details
//! (what only Telegram tells asked of the host).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use talkapp_store::{AccountKey, CachedChat, ChatStore, StoreError};
use talkapp_telegram::model::{ChatFullInfo, Message};
use talkapp_views::cached_reads::{CacheReads, HistoryRead};
pub use talkapp_views::cached_reads::{
    ChatView, HistoryPage, HistoryParams, MessageView, SenderView,
};

use crate::account_host::{HostError, OlderHistory, Router};
use crate::cache::message_from_record;

/// How long Telegram-only chat details are reused.
const DETAILS_TTL: Duration = Duration::from_secs(60);
/// Details kept at most (oldest dropped first).
const DETAILS_CAPACITY: usize = 10_000;

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// A parameter is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// No such chat in this account.
    #[error("no chat {0} in this account")]
    ChatNotFound(i64),
    /// The part of the history asked for is not cached and its host could not fetch it.
    #[error(transparent)]
    Host(#[from] HostError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<talkapp_views::cached_reads::ReadError> for ReadError {
    fn from(error: talkapp_views::cached_reads::ReadError) -> Self {
        use talkapp_views::cached_reads::ReadError as Cache;
        match error {
            Cache::Invalid(message) => Self::Invalid(message),
            Cache::ChatNotFound(chat_id) => Self::ChatNotFound(chat_id),
            Cache::Store(error) => Self::Store(error),
        }
    }
}

/// A chat with its details.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatDetailsView {
    /// The chat.
    pub chat: ChatView,
    /// What Telegram tells beyond the listing, when it could be asked.
    pub full: Option<ChatFullInfo>,
    /// The pinned message, when cached.
    pub pinned: Option<MessageView>,
}

/// Serves reads.
pub struct Reads {
    store: Arc<dyn ChatStore>,
    cache: CacheReads,
    router: Arc<Router>,
    details: Mutex<HashMap<(AccountKey, i64), (Instant, ChatFullInfo)>>,
}

impl Reads {
    /// Reads of `store`'s cache, filled through the accounts' hosts (`router`) when
    /// needed.
    pub fn new(store: Arc<dyn ChatStore>, router: Arc<Router>) -> Self {
        Self {
            cache: CacheReads::new(Arc::clone(&store) as _),
            store,
            router,
            details: Mutex::new(HashMap::new()),
        }
    }

    /// Senders (and forward origins) of `messages`, resolved from the cache.
    async fn views(
        &self,
        key: AccountKey,
        messages: Vec<Message>,
    ) -> Result<Vec<MessageView>, StoreError> {
        self.cache.views(key, messages).await
    }

    /// One message with its sender resolved; `users`: users the caller holds as the
    /// cache has them (an update's, written to the cache just before), not read again.
    pub(crate) async fn message_view(
        &self,
        key: AccountKey,
        message: Message,
        users: &[talkapp_telegram::model::TgUser],
    ) -> Result<MessageView, StoreError> {
        self.cache.message_view(key, message, users).await
    }

    /// One chat as listed, with its newest message.
    pub(crate) async fn chat_view(
        &self,
        key: AccountKey,
        chat_id: i64,
    ) -> Result<Option<ChatView>, StoreError> {
        self.cache.chat_view(key, chat_id).await
    }

    async fn cached_chat(&self, key: AccountKey, chat_id: i64) -> Result<CachedChat, ReadError> {
        self.store
            .cached_chat(key, chat_id)
            .await?
            .ok_or(ReadError::ChatNotFound(chat_id))
    }

    /// One chat with what Telegram tells of it beyond the list.
    #[tracing::instrument(skip(self))]
    pub async fn chat_details(
        &self,
        key: AccountKey,
        chat_id: i64,
    ) -> Result<ChatDetailsView, ReadError> {
        let cached = self.cached_chat(key, chat_id).await?;
        let full = self.full_info(key, chat_id).await;
        let pinned_id = full.as_ref().and_then(|full| full.pinned_message_id);
        let pinned = match pinned_id {
            Some(id) => {
                let messages: Vec<Message> = self
                    .store
                    .cached_messages_by_id(key, chat_id, &[id])
                    .await?
                    .iter()
                    .map(message_from_record)
                    .collect();
                self.views(key, messages).await?.into_iter().next()
            }
            None => None,
        };
        let chat = self
            .cache
            .chat_views(key, vec![cached])
            .await?
            .into_iter()
            .next()
            .ok_or(ReadError::ChatNotFound(chat_id))?;
        Ok(ChatDetailsView { chat, full, pinned })
    }

    /// Forgets the Telegram-only details kept for a chat (its pinned message changed):
    /// the next read asks Telegram again.
    pub fn forget_details(&self, key: AccountKey, chat_id: i64) {
        if let Ok(mut details) = self.details.lock() {
            details.remove(&(key, chat_id));
        }
    }

    /// Telegram-only details, recent ones reused; `None` when the host cannot be asked.
    async fn full_info(&self, key: AccountKey, chat_id: i64) -> Option<ChatFullInfo> {
        if let Some((at, full)) = self
            .details
            .lock()
            .ok()
            .and_then(|details| details.get(&(key, chat_id)).cloned())
            && at.elapsed() < DETAILS_TTL
        {
            return Some(full);
        }
        let full = match self.router.host_of(key) {
            Ok(host) => host.chat_full(key, chat_id).await,
            Err(error) => Err(error),
        }
        .inspect_err(|error| tracing::debug!(%error, chat_id, "chat details not available"))
        .ok()?;
        if let Ok(mut details) = self.details.lock() {
            if details.len() >= DETAILS_CAPACITY {
                details.retain(|_, (at, _)| at.elapsed() < DETAILS_TTL);
                if details.len() >= DETAILS_CAPACITY {
                    details.clear();
                }
            }
            details.insert((key, chat_id), (Instant::now(), full.clone()));
        }
        Some(full)
    }

    /// Asks the account's host (here or elsewhere) to cache older history.
    async fn fetch_older(&self, key: AccountKey, older: OlderHistory) -> Result<(), HostError> {
        self.router
            .host_of(key)?
            .fetch_older_history(key, older)
            .await
            .map(drop)
    }

    /// A page of a chat's history, newest first: when the cache does not cover it, the
    /// account's host fetches older messages into the cache first (once).
    #[tracing::instrument(skip(self))]
    pub async fn history(
        &self,
        key: AccountKey,
        chat_id: i64,
        params: HistoryParams,
    ) -> Result<HistoryPage, ReadError> {
        let plan = HistoryRead::new(&params)?;
        // The chat, its messages and their senders, in one read.
        let mut read = self.cache.history_read(key, chat_id, &plan).await?;
        let mut fetched = false;
        while let Some(older) = plan.older_wanted(&mut read) {
            if fetched {
                break;
            }
            let older = OlderHistory {
                chat_id,
                below_id: older.below_id,
                down_to_date: older.down_to_date,
                limit: older.limit,
            };
            match self.fetch_older(key, older).await {
                Ok(()) => {}
                // Serve what is cached; the cursor lets the caller come back for more.
                Err(error) if error.is_unavailable() && !read.messages.is_empty() => break,
                Err(error) => return Err(error.into()),
            }
            fetched = true;
            read = self.cache.history_read(key, chat_id, &plan).await?;
        }
        Ok(self.cache.history_page(key, chat_id, &plan, read).await?)
    }
}
