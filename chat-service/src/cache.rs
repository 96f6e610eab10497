//! The chat cache: Telegram's chats, messages and users as the store keeps them, filled
//! by a backfill when an account is first connected and kept fresh from its updates.
//!
//! Invariant of each cached chat: every message with an id at or above its
//! `history_floor` is cached (updates arrive gapless, and each history page fetched
//! from Telegram is contiguous with what is below the floor), so a page of history
//! above the floor is served from the cache alone; below it, the account's host fetches
//! from Telegram first (see [`ChatCache::fetch_older`]).

use std::collections::HashMap;
use std::hash::{Hash, Hasher as _};
use std::sync::Arc;

use async_trait::async_trait;
use talkapp_store::{
    AccountKey, CachedMessage, CachedUser, ChatProfile, ChatStore, DialogState, StoreError,
};
use talkapp_telegram::account::{Account, DialogOffset, HistoryRequest};
use talkapp_telegram::convert;
use talkapp_telegram::error::TelegramError;
use talkapp_telegram::model::{
    ChatInfo, DialogInfo, MessagesPage, Presence, TelegramUpdate, TgUser,
};

use crate::hosted_accounts::{HostedUpdate, UpdateSink};

/// How much a first backfill takes from Telegram.
#[derive(Debug, Clone, Copy)]
pub struct BackfillLimits {
    /// Chats of the list (in pages of 100).
    pub max_chats: usize,
    /// Chats whose newest messages are fetched too.
    pub chats_with_history: usize,
    /// Messages fetched for each of those.
    pub messages_per_chat: i32,
}

impl Default for BackfillLimits {
    fn default() -> Self {
        Self {
            max_chats: 500,
            chats_with_history: 30,
            messages_per_chat: 50,
        }
    }
}

// A message, a user and a chat's photo as the store keeps them and back: one conversion,
// shared with search-service (ADR 0054).
pub use talkapp_views::{
    message_from_record, message_record, profile_photo, user_from_record, user_record,
};

/// A chat's profile as the store keeps it.
pub fn profile_record(chat: &ChatInfo) -> ChatProfile {
    ChatProfile {
        chat_id: chat.id,
        kind: chat.kind.as_str().to_owned(),
        title: chat.title.clone(),
        username: chat.username.clone(),
        photo: chat
            .photo
            .as_ref()
            .and_then(|photo| serde_json::to_string(photo).ok()),
        members_count: chat.members_count,
        is_creator: chat.is_creator,
        is_admin: chat.is_admin,
        has_left: chat.has_left,
    }
}

fn dialog_state(dialog: &DialogInfo, top_date: i64) -> DialogState {
    DialogState {
        unread_count: dialog.unread_count,
        read_inbox_max_id: dialog.read_inbox_max_id,
        read_outbox_max_id: dialog.read_outbox_max_id,
        top_message_id: dialog.top_message_id,
        top_date,
        pinned: dialog.pinned,
        archived: dialog.archived,
        muted_until: dialog.muted_until,
    }
}

/// Why filling the cache from Telegram failed.
#[derive(Debug, thiserror::Error)]
pub enum FillError {
    /// Telegram said no or was away.
    #[error(transparent)]
    Telegram(#[from] TelegramError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Users and chat profiles a cached account holds per account before its memo starts over.
const WRITTEN_PER_ACCOUNT: usize = 4096;

/// What this replica last wrote of each user and chat profile of the accounts it hosts
/// (a hash per record). Telegram repeats the same user and chat objects with every
/// update; a record equal to the last one written is not written again (each write is
/// a transaction, several per message otherwise). Only an account's host writes its
/// cache, and the memo of an account starts over whenever it is hosted here again, so a
/// record another replica wrote meanwhile is never taken for ours.
#[derive(Default)]
struct WrittenMemo {
    accounts: std::sync::Mutex<HashMap<AccountKey, WrittenHashes>>,
}

/// A hash of the record last written, by (is a user, id).
type WrittenHashes = HashMap<(bool, i64), u64>;

impl WrittenMemo {
    fn hash_of(record: &impl Hash) -> u64 {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        record.hash(&mut hasher);
        hasher.finish()
    }

    /// The records of `items` that differ from what was last written.
    fn changed<'a, T: Hash>(
        &self,
        key: AccountKey,
        items: &'a [T],
        id: impl Fn(&T) -> (bool, i64),
    ) -> Vec<&'a T> {
        let Ok(accounts) = self.accounts.lock() else {
            return items.iter().collect();
        };
        let written = accounts.get(&key);
        items
            .iter()
            .filter(|item| {
                written.and_then(|written| written.get(&id(item))) != Some(&Self::hash_of(*item))
            })
            .collect()
    }

    fn wrote<T: Hash>(&self, key: AccountKey, items: &[&T], id: impl Fn(&T) -> (bool, i64)) {
        if let Ok(mut accounts) = self.accounts.lock() {
            let written = accounts.entry(key).or_default();
            if written.len() + items.len() > WRITTEN_PER_ACCOUNT {
                written.clear();
            }
            for item in items {
                written.insert(id(item), Self::hash_of(*item));
            }
        }
    }

    /// Whether a record of this id was written (by this process, since the account was
    /// last hosted here).
    fn has(&self, key: AccountKey, id: (bool, i64)) -> bool {
        self.accounts.lock().is_ok_and(|accounts| {
            accounts
                .get(&key)
                .is_some_and(|written| written.contains_key(&id))
        })
    }

    fn forget(&self, key: AccountKey) {
        if let Ok(mut accounts) = self.accounts.lock() {
            accounts.remove(&key);
        }
    }
}

/// The memo's name of a user.
fn user_memo_id(user: &CachedUser) -> (bool, i64) {
    (true, user.tg_user_id)
}

/// The memo's name of a chat profile.
fn profile_memo_id(profile: &ChatProfile) -> (bool, i64) {
    (false, profile.chat_id)
}

/// Reads and writes the cache.
#[derive(Clone)]
pub struct ChatCache {
    store: Arc<dyn ChatStore>,
    written: Arc<WrittenMemo>,
}

impl ChatCache {
    /// A cache over `store`.
    pub fn new(store: Arc<dyn ChatStore>) -> Self {
        Self {
            store,
            written: Arc::default(),
        }
    }

    /// Writes the users that differ from what was last written of them.
    async fn write_users(&self, key: AccountKey, users: &[CachedUser]) -> Result<(), StoreError> {
        let changed = self.written.changed(key, users, user_memo_id);
        if changed.is_empty() {
            return Ok(());
        }
        let records: Vec<CachedUser> = changed.iter().map(|user| (*user).clone()).collect();
        self.store.upsert_users(key, &records).await?;
        self.written.wrote(key, &changed, user_memo_id);
        Ok(())
    }

    /// Writes the chat profiles that differ from what was last written of them.
    async fn write_profiles(
        &self,
        key: AccountKey,
        profiles: &[ChatProfile],
    ) -> Result<(), StoreError> {
        let changed = self.written.changed(key, profiles, profile_memo_id);
        if changed.is_empty() {
            return Ok(());
        }
        let records: Vec<ChatProfile> = changed.iter().map(|profile| (*profile).clone()).collect();
        self.store.upsert_chat_profiles(key, &records).await?;
        self.written.wrote(key, &changed, profile_memo_id);
        Ok(())
    }

    /// Records users and chats that came with a reply or an update.
    async fn remember(
        &self,
        key: AccountKey,
        users: &[TgUser],
        chats: &[ChatInfo],
    ) -> Result<(), StoreError> {
        let user_records: Vec<CachedUser> = users.iter().map(user_record).collect();
        self.write_users(key, &user_records).await?;
        let profiles: Vec<ChatProfile> = chats.iter().map(profile_record).collect();
        self.write_profiles(key, &profiles).await
    }

    /// Stores what Telegram's own search found (messages older than the cache among
    /// them), with the users and chats they mention, so the caller reads them from the
    /// cache like any other. Below a chat's history floor the cache already tolerates
    /// holes, so a lone old message does not pretend the history around it is cached.
    pub async fn store_found(
        &self,
        key: AccountKey,
        page: &MessagesPage,
    ) -> Result<(), StoreError> {
        self.remember(key, &page.users, &page.chats).await?;
        let mut private_chats: Vec<i64> = page
            .messages
            .iter()
            .map(|message| message.chat_id)
            .filter(|chat_id| *chat_id > 0)
            .collect();
        private_chats.sort_unstable();
        private_chats.dedup();
        for chat_id in private_chats {
            self.ensure_private_chat(key, chat_id, &page.users).await?;
        }
        let records: Vec<CachedMessage> = page.messages.iter().map(message_record).collect();
        self.store.upsert_messages(key, &records, false).await?;
        Ok(())
    }

    /// Stores the users of the account's contact list (their names and presence).
    pub async fn store_users(&self, key: AccountKey, users: &[TgUser]) -> Result<(), StoreError> {
        self.remember(key, users, &[]).await
    }

    /// The profile of a private chat from its user, when the cache lacks it. A profile
    /// this process wrote since it hosts the account is there (chats are removed only
    /// with the whole cache, which the account's next hosting writes again): not read
    /// again for every message of the chat.
    async fn ensure_private_chat(
        &self,
        key: AccountKey,
        chat_id: i64,
        users: &[TgUser],
    ) -> Result<(), StoreError> {
        if chat_id <= 0
            || self.written.has(key, (false, chat_id))
            || self.store.cached_chat(key, chat_id).await?.is_some()
        {
            return Ok(());
        }
        if let Some(user) = users.iter().find(|user| user.id == chat_id) {
            self.write_profiles(key, &[profile_record(&convert::private_chat(user))])
                .await?;
        }
        Ok(())
    }

    /// Keeps a cached user's online state current. A user the cache lacks is not added:
    /// a status update carries no name.
    async fn set_presence(
        &self,
        key: AccountKey,
        user_id: i64,
        presence: Presence,
    ) -> Result<(), StoreError> {
        let Some(record) = self.store.cached_users(key, &[user_id]).await?.pop() else {
            return Ok(());
        };
        let mut user = user_from_record(&record);
        if user.presence == presence {
            return Ok(());
        }
        user.presence = presence;
        self.write_users(key, &[user_record(&user)]).await
    }

    /// Marks cached messages pinned or not (those not cached are left to the next
    /// fetch, which brings Telegram's flag).
    async fn set_pinned(
        &self,
        key: AccountKey,
        chat_id: i64,
        message_ids: &[i32],
        pinned: bool,
    ) -> Result<(), StoreError> {
        let changed: Vec<CachedMessage> = self
            .store
            .cached_messages_by_id(key, chat_id, message_ids)
            .await?
            .iter()
            .map(message_from_record)
            .filter(|message| message.pinned != pinned)
            .map(|mut message| {
                message.pinned = pinned;
                message_record(&message)
            })
            .collect();
        if changed.is_empty() {
            return Ok(());
        }
        self.store
            .upsert_messages(key, &changed, false)
            .await
            .map(drop)
    }

    /// Applies one update of a hosted account.
    pub async fn apply(&self, hosted: &HostedUpdate) -> Result<(), StoreError> {
        let key = hosted.key;
        self.remember(key, &hosted.users, &hosted.chats).await?;
        match &hosted.update {
            TelegramUpdate::NewMessage { message } => {
                self.ensure_private_chat(key, message.chat_id, &hosted.users)
                    .await?;
                // Updates arrive without gaps: the cache is contiguous from here up (the
                // history floor comes down to the message in the same statement).
                self.store
                    .upsert_messages(key, &[message_record(message)], true)
                    .await
                    .map(drop)
            }
            TelegramUpdate::MessageEdited { message } => self
                .store
                .upsert_messages(key, &[message_record(message)], false)
                .await
                .map(drop),
            TelegramUpdate::MessagesDeleted {
                chat_id,
                message_ids,
            } => self
                .store
                .delete_messages(key, *chat_id, message_ids)
                .await
                .map(drop),
            TelegramUpdate::ReadInbox {
                chat_id,
                max_id,
                still_unread_count,
            } => {
                self.store
                    .set_read_inbox(key, *chat_id, *max_id, *still_unread_count)
                    .await
            }
            // The jobs this marks read are moved by the events, which tell of them.
            TelegramUpdate::ReadOutbox { chat_id, max_id } => {
                self.store.set_read_outbox(key, *chat_id, *max_id).await
            }
            TelegramUpdate::UserStatus { user_id, presence } => {
                self.set_presence(key, *user_id, *presence).await
            }
            TelegramUpdate::MessagesPinned {
                chat_id,
                message_ids,
                pinned,
            } => self.set_pinned(key, *chat_id, message_ids, *pinned).await,
            TelegramUpdate::Typing { .. }
            | TelegramUpdate::ChatMember { .. }
            | TelegramUpdate::ChatChanged { .. }
            | TelegramUpdate::DialogPinned { .. }
            | TelegramUpdate::NotifySettings { .. } => Ok(()),
        }
    }

    /// Fills the cache of a newly connected account: its chat list (up to
    /// `limits.max_chats`) and the newest messages of its most recent chats. When the
    /// account has a cached list already (a restart), only the first page of the list
    /// is refreshed: the updates missed meanwhile are caught up by the update stream.
    #[tracing::instrument(skip_all, fields(user_id = %key.user_id, session_index = key.session_index))]
    pub async fn backfill(
        &self,
        key: AccountKey,
        account: &Account,
        limits: BackfillLimits,
    ) -> Result<(), FillError> {
        // Hosted here (again): what another replica wrote meanwhile is unknown here.
        self.written.forget(key);
        // The account's own user, for its name and photo in the account list (Telegram
        // may have changed them since the link or the last connection).
        let me = account.me().await?;
        self.write_users(key, &[user_record(&me)]).await?;
        let has_cache = !self
            .store
            .list_chats(
                key,
                &talkapp_store::ChatListQuery {
                    limit: 1,
                    ..talkapp_store::ChatListQuery::default()
                },
            )
            .await?
            .is_empty();
        let mut offset: Option<DialogOffset> = None;
        let mut listed = Vec::new();
        for archived in [false, true] {
            loop {
                let page = account.dialogs(offset, 100, archived).await?;
                self.store_dialog_page(key, &page).await?;
                listed.extend(page.dialogs.iter().map(|dialog| dialog.chat.id));
                let last = page.dialogs.last().map(|dialog| {
                    let date = page
                        .messages
                        .iter()
                        .find(|m| m.chat_id == dialog.chat.id && m.id == dialog.top_message_id)
                        .map_or(0, |m| m.date);
                    DialogOffset {
                        chat_id: dialog.chat.id,
                        message_id: dialog.top_message_id,
                        date: i32::try_from(date).unwrap_or(0),
                    }
                });
                if has_cache || page.complete || listed.len() >= limits.max_chats {
                    break;
                }
                match last {
                    Some(last) => offset = Some(last),
                    None => break,
                }
            }
            offset = None;
            if has_cache {
                break;
            }
        }
        if has_cache {
            return Ok(());
        }
        for chat_id in listed.into_iter().take(limits.chats_with_history) {
            match self
                .fetch_older(key, account, chat_id, 0, None, limits.messages_per_chat)
                .await
            {
                Ok(_) => {}
                // One chat that cannot be read (left, banned) does not stop the rest.
                Err(FillError::Telegram(error)) if !error.is_transient() => {
                    tracing::info!(chat_id, %error, "chat history not available");
                }
                Err(error) => return Err(error),
            }
        }
        tracing::info!("chat cache filled");
        Ok(())
    }

    /// Caches one chat as Telegram lists it now (its profile, its dialog and newest
    /// message), after this account made or changed it.
    /// `known`: the chat as a reply just described it (kept even when Telegram does not
    /// list it as a dialog).
    pub async fn refresh_chat(
        &self,
        key: AccountKey,
        account: &Account,
        chat_id: i64,
        known: Option<&ChatInfo>,
    ) -> Result<(), FillError> {
        if let Some(chat) = known {
            self.write_profiles(key, &[profile_record(chat)]).await?;
        }
        let page = account.peer_dialog(chat_id).await?;
        self.store_dialog_page(key, &page).await?;
        Ok(())
    }

    /// Marks a chat the account left (it is no longer listed; its details and cached
    /// messages stay readable).
    pub async fn mark_left(&self, key: AccountKey, chat_id: i64) -> Result<(), StoreError> {
        let Some(chat) = self.store.cached_chat(key, chat_id).await? else {
            return Ok(());
        };
        let profile = ChatProfile {
            has_left: true,
            ..chat.profile
        };
        self.write_profiles(key, &[profile]).await
    }

    async fn store_dialog_page(
        &self,
        key: AccountKey,
        page: &talkapp_telegram::model::DialogsPage,
    ) -> Result<(), StoreError> {
        let users: Vec<CachedUser> = page.users.iter().map(user_record).collect();
        self.write_users(key, &users).await?;
        let dialogs: Vec<(ChatProfile, DialogState)> = page
            .dialogs
            .iter()
            .map(|dialog| {
                let top_date = page
                    .messages
                    .iter()
                    .find(|m| m.chat_id == dialog.chat.id && m.id == dialog.top_message_id)
                    .map_or(0, |m| m.date);
                (profile_record(&dialog.chat), dialog_state(dialog, top_date))
            })
            .collect();
        self.store.upsert_dialogs(key, &dialogs).await?;
        let profiles: Vec<&ChatProfile> = dialogs.iter().map(|(profile, _)| profile).collect();
        self.written.wrote(key, &profiles, profile_memo_id);
        let messages: Vec<CachedMessage> = page.messages.iter().map(message_record).collect();
        self.store.upsert_messages(key, &messages, false).await?;
        Ok(())
    }

    /// Fetches history older than `below_id` (0: from the newest) from Telegram into the
    /// cache, page after page, until `limit` messages are stored, the chat's beginning is
    /// reached, or (with `down_to_date`) messages older than that date are cached.
    /// Returns how many messages were stored.
    #[tracing::instrument(skip_all, fields(chat_id, below_id))]
    pub async fn fetch_older(
        &self,
        key: AccountKey,
        account: &Account,
        chat_id: i64,
        below_id: i32,
        down_to_date: Option<i64>,
        limit: i32,
    ) -> Result<u32, FillError> {
        const PAGE: i32 = 100;
        let mut offset_id = below_id;
        let mut stored: u32 = 0;
        let mut remaining = limit.max(1);
        loop {
            let page_size = remaining.min(PAGE);
            let page = account
                .history(
                    chat_id,
                    HistoryRequest {
                        offset_id,
                        limit: page_size,
                        ..HistoryRequest::default()
                    },
                )
                .await?;
            self.remember(key, &page.users, &page.chats).await?;
            let records: Vec<CachedMessage> = page.messages.iter().map(message_record).collect();
            self.store.upsert_messages(key, &records, false).await?;
            stored += u32::try_from(records.len()).unwrap_or(0);
            let reached_start = page.messages.len() < usize::try_from(page_size).unwrap_or(0);
            let oldest = page.messages.iter().min_by_key(|message| message.id);
            match oldest {
                Some(oldest) => {
                    self.store
                        .set_history_floor(key, chat_id, oldest.id, reached_start)
                        .await?;
                    offset_id = oldest.id;
                }
                None => {
                    // Nothing older: the cache holds the whole history.
                    self.store
                        .set_history_floor(key, chat_id, offset_id.max(1), true)
                        .await?;
                }
            }
            remaining -= page_size;
            let deep_enough = match (down_to_date, oldest) {
                (Some(date), Some(oldest)) => oldest.date < date,
                (Some(_), None) => true,
                (None, _) => remaining <= 0,
            };
            if reached_start || deep_enough || (down_to_date.is_some() && stored >= 5_000) {
                return Ok(stored);
            }
            if down_to_date.is_some() {
                remaining = PAGE;
            }
        }
    }
}

#[async_trait]
impl UpdateSink for ChatCache {
    async fn apply(&self, update: &HostedUpdate) -> Result<(), StoreError> {
        ChatCache::apply(self, update).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: i64, first_name: &str) -> CachedUser {
        CachedUser {
            tg_user_id: id,
            first_name: first_name.to_owned(),
            last_name: String::new(),
            username: String::new(),
            phone: String::new(),
            details: "{}".to_owned(),
        }
    }

    fn key(index: u32) -> AccountKey {
        AccountKey {
            user_id: uuid::Uuid::from_u128(7),
            session_index: index,
        }
    }

    #[test]
    fn a_record_is_written_again_only_when_it_changed_or_the_account_was_hosted_anew() {
        let memo = WrittenMemo::default();
        let ada = user(1, "Ada");
        let bob = user(2, "Bob");
        let both = [ada.clone(), bob.clone()];
        assert_eq!(
            memo.changed(key(1), &both, user_memo_id).len(),
            2,
            "never written"
        );

        memo.wrote(key(1), &[&ada, &bob], user_memo_id);
        assert!(memo.changed(key(1), &both, user_memo_id).is_empty());
        assert_eq!(
            memo.changed(key(2), &both, user_memo_id).len(),
            2,
            "another account's cache is another"
        );
        let renamed = [user(1, "Ada L."), bob.clone()];
        let changed = memo.changed(key(1), &renamed, user_memo_id);
        assert_eq!(changed.len(), 1);
        assert_eq!(changed[0].first_name, "Ada L.");

        memo.forget(key(1));
        assert_eq!(memo.changed(key(1), &both, user_memo_id).len(), 2);
    }
}
