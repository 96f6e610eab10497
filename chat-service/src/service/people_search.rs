//! Telegram's people search (`contacts.search`) through the account's host: users by
//! name or username, outside the contact list too, read from the cache the host fills.

use talkapp_store::AccountKey;
use talkapp_telegram::model::TgUser;

use super::{ChatError, ChatService, MAX_SEARCH_CHARS};
use crate::cache::user_from_record;

/// The most people one search returns.
const MAX_PEOPLE_LIMIT: u32 = 100;

impl ChatService {
    /// Up to `limit` (1 to 100) users matching `query` (1 to 256 characters), the
    /// account's contacts and chats first, in Telegram's order.
    #[tracing::instrument(skip_all, fields(user_id = %key.user_id, session_index = key.session_index))]
    pub async fn search_people(
        &self,
        key: AccountKey,
        query: &str,
        limit: u32,
    ) -> Result<Vec<TgUser>, ChatError> {
        let invalid = |message: &str| ChatError::InvalidArgument(message.to_owned());
        let query = query.trim();
        if query.trim_start_matches('@').is_empty() {
            return Err(invalid("q must not be empty"));
        }
        if query.chars().count() > MAX_SEARCH_CHARS {
            return Err(invalid("q must be at most 256 characters"));
        }
        if !(1..=MAX_PEOPLE_LIMIT).contains(&limit) {
            return Err(invalid("limit must be between 1 and 100"));
        }
        let limit = i32::try_from(limit).unwrap_or(20);
        let ids = self
            .router
            .host_of(key)?
            .search_people(key, query, limit)
            .await?;
        let users = self.cached_users_by_id(key, &ids).await?;
        Ok(ids
            .iter()
            .filter_map(|id| users.get(id).map(user_from_record))
            .collect())
    }
}
