//! The chat list and history pages, read by the gateway from the chat cache itself, in
//! both modes (ADR 0073): the same reads the chat service runs
//! (`talkapp_views::cached_reads`), on the gateway's store pool, without a call to the chat
//! service. A history page the cache does not cover (older messages only the account's
//! host can fetch from Telegram) is asked of the chat service, which fetches and answers.

use std::sync::Arc;

use talkapp_common::ErrorCode;
use talkapp_proto::chat::v1 as chat;
use talkapp_store::{AccountKey, GatewayStore};
use talkapp_views::cached_reads::{
    CacheReads, HistoryParams, KnownAccounts, ReadError, chat_to_proto, message_to_proto,
};

use crate::clients::ServiceClients;
use crate::problem::ApiError;

/// The chat cache's reads and which accounts exist.
pub struct ChatReads {
    cache: CacheReads,
    store: Arc<dyn GatewayStore>,
    /// Accounts found linked lately. An account unlinked through this gateway is
    /// forgotten at once; one unlinked through another replica reads as an empty list
    /// here for at most the time it is remembered (its cache is cleared with it).
    known_accounts: KnownAccounts,
}

impl From<ReadError> for ApiError {
    fn from(error: ReadError) -> Self {
        match error {
            ReadError::Invalid(message) => ApiError::new(ErrorCode::ValidationFailed, message),
            ReadError::ChatNotFound(_) => ApiError::new(ErrorCode::NotFound, error.to_string()),
            ReadError::Store(error) => error.into(),
        }
    }
}

impl ChatReads {
    /// Reads of `store`'s chat cache.
    pub fn new(store: Arc<dyn GatewayStore>) -> Self {
        Self {
            cache: CacheReads::new(Arc::clone(&store) as _),
            store,
            known_accounts: KnownAccounts::default(),
        }
    }

    /// The account `account` names, when its user has linked it (else 404 `not_found`,
    /// as the chat service answers).
    async fn account(&self, account: Option<&chat::AccountRef>) -> Result<AccountKey, ApiError> {
        let account = account
            .ok_or_else(|| ApiError::new(ErrorCode::ValidationFailed, "account is required"))?;
        let user_id = uuid::Uuid::parse_str(&account.user_id)
            .map_err(|_| ApiError::new(ErrorCode::ValidationFailed, "user_id must be a UUID"))?;
        if account.session_index == 0 {
            return Err(ApiError::new(
                ErrorCode::ValidationFailed,
                "session_index starts at 1",
            ));
        }
        let key = AccountKey {
            user_id,
            session_index: account.session_index,
        };
        if self.known_accounts.is_fresh(key) {
            return Ok(key);
        }
        let linked = self
            .store
            .linked_accounts_with_own_users(user_id)
            .await?
            .iter()
            .any(|listed| listed.linked.session_index == key.session_index);
        if !linked {
            return Err(ApiError::new(
                ErrorCode::NotFound,
                format!("no linked telegram account {}", key.session_index),
            ));
        }
        self.known_accounts.remember(key);
        Ok(key)
    }

    /// The account is no longer linked: the next read looks it up again.
    pub fn forget_account(&self, user_id: uuid::Uuid, session_index: u32) {
        self.known_accounts.forget(AccountKey {
            user_id,
            session_index,
        });
    }

    /// A page of the account's chat list.
    pub async fn list_chats(
        &self,
        request: chat::ListChatsRequest,
    ) -> Result<chat::ListChatsResponse, ApiError> {
        let key = self.account(request.account.as_ref()).await?;
        let page = self
            .cache
            .list_chats(
                key,
                request.kind,
                request.archived,
                request.cursor.as_deref(),
                request.limit,
            )
            .await?;
        Ok(chat::ListChatsResponse {
            chats: page.chats.into_iter().map(chat_to_proto).collect(),
            next_cursor: page.next_cursor,
        })
    }

    /// A page of a chat's history: from the cache when it covers the page, else from the
    /// chat service (which has the account's host fetch the older messages first).
    pub async fn history(
        &self,
        services: &ServiceClients,
        request: chat::GetHistoryRequest,
    ) -> Result<chat::GetHistoryResponse, ApiError> {
        let key = self.account(request.account.as_ref()).await?;
        let chat_id = request
            .chat_id
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|id| *id != 0)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::ValidationFailed,
                    "chat_id must be a Telegram chat id",
                )
            })?;
        let params = HistoryParams {
            before: request.before.clone(),
            after: request.after.clone(),
            from_date: request.from_date,
            to_date: request.to_date,
            limit: request.limit,
        };
        match self.cache.cached_history(key, chat_id, &params).await? {
            Some(page) => Ok(chat::GetHistoryResponse {
                messages: page.messages.into_iter().map(message_to_proto).collect(),
                next_cursor: page.next_cursor,
                prev_cursor: page.prev_cursor,
            }),
            None => services.history(request).await,
        }
    }
}
