//! The read path: the chat list, a chat's details and its history, from the cache; what
//! the cache does not hold is fetched through the account's host first.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use talkapp_store::{
    AccountKey, CachedChat, CachedHistory, ChatListPage, ChatListQuery, ChatProfile, ChatStore,
    DialogState, HistoryQuery, StoreError,
};
use talkapp_telegram::model::{ChatFullInfo, ChatKind, Message, PhotoRef, Presence, TgUser};

use crate::account_host::{HostError, OlderHistory, Router};
use crate::cache::{message_from_record, profile_photo, user_from_record};

/// Chats or messages per page when the caller does not say.
pub const DEFAULT_PAGE: u32 = 50;
/// The most per page.
pub const MAX_PAGE: u32 = 100;
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

/// Who sent a message, for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderView {
    /// User or chat id.
    pub id: i64,
    /// `user` or `chat`.
    pub kind: &'static str,
    /// Display name.
    pub name: String,
    /// Username.
    pub username: String,
    /// Their current photo, when cached.
    pub photo: Option<PhotoRef>,
}

/// Who a page's messages may name, as far as the caller has read them already.
#[derive(Default)]
struct Known {
    /// Cached users by id.
    users: HashMap<i64, TgUser>,
    /// Chats (as senders) by id.
    chats: HashMap<i64, SenderView>,
    /// User ids already looked up, found or not (not looked up again).
    looked_up: HashSet<i64>,
}

fn chat_sender(profile: &ChatProfile) -> SenderView {
    SenderView {
        id: profile.chat_id,
        kind: "chat",
        photo: profile_photo(profile),
        name: profile.title.clone(),
        username: profile.username.clone(),
    }
}

fn user_sender(user: &TgUser) -> SenderView {
    SenderView {
        id: user.id,
        kind: "user",
        name: user.shown_name(),
        username: user.username.clone(),
        photo: user.photo.clone(),
    }
}

/// A message with its sender resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageView {
    /// The message.
    pub message: Message,
    /// Its sender.
    pub sender: Option<SenderView>,
    /// The original sender of a forward.
    pub forward_from: Option<SenderView>,
}

/// A chat of the list.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatView {
    /// The chat.
    pub profile: ChatProfile,
    /// Its list state (absent for chats outside the list).
    pub dialog: Option<DialogState>,
    /// Its newest message.
    pub last_message: Option<MessageView>,
    /// A private chat's other user's online state, when the cache knows the user.
    pub presence: Option<Presence>,
}

/// A page of chats.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatPage {
    /// The chats.
    pub chats: Vec<ChatView>,
    /// The next page, if any.
    pub next_cursor: Option<String>,
}

/// A page of history.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryPage {
    /// Newest first.
    pub messages: Vec<MessageView>,
    /// Older messages.
    pub next_cursor: Option<String>,
    /// Newer messages.
    pub prev_cursor: Option<String>,
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

/// What a history read asks for.
#[derive(Debug, Clone, Default)]
pub struct HistoryParams {
    /// Older than this cursor.
    pub before: Option<String>,
    /// Newer than this cursor.
    pub after: Option<String>,
    /// At or after (Unix seconds).
    pub from_date: Option<i64>,
    /// Before (Unix seconds).
    pub to_date: Option<i64>,
    /// At most this many.
    pub limit: Option<u32>,
}

fn encode_cursor(text: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

fn decode_cursor(field: &str, cursor: &str) -> Result<Vec<i64>, ReadError> {
    let invalid = || ReadError::Invalid(format!("{field} is not a cursor this API gave out"));
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let mut parts = text.split(':');
    if parts.next() != Some("v1") {
        return Err(invalid());
    }
    parts
        .map(|part| part.parse::<i64>().map_err(|_| invalid()))
        .collect()
}

fn message_cursor(field: &str, cursor: &str) -> Result<i32, ReadError> {
    match decode_cursor(field, cursor)?.as_slice() {
        [id] => i32::try_from(*id)
            .map_err(|_| ReadError::Invalid(format!("{field} is not a cursor this API gave out"))),
        _ => Err(ReadError::Invalid(format!(
            "{field} is not a cursor this API gave out"
        ))),
    }
}

fn page_limit(limit: Option<u32>) -> Result<u32, ReadError> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(limit @ 1..=MAX_PAGE) => Ok(limit),
        Some(_) => Err(ReadError::Invalid(format!(
            "limit must be between 1 and {MAX_PAGE}"
        ))),
    }
}

/// Serves reads.
pub struct Reads {
    store: Arc<dyn ChatStore>,
    router: Arc<Router>,
    details: Mutex<HashMap<(AccountKey, i64), (Instant, ChatFullInfo)>>,
}

impl Reads {
    /// Reads of `store`'s cache, filled through the accounts' hosts (`router`) when
    /// needed.
    pub fn new(store: Arc<dyn ChatStore>, router: Arc<Router>) -> Self {
        Self {
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
        Ok(self
            .views_and_users(key, messages, Vec::new(), Known::default())
            .await?
            .0)
    }

    /// [`Self::views`], and the cached users among the senders and `user_ids`, read from
    /// the store together; what `known` holds already is not read again.
    async fn views_and_users(
        &self,
        key: AccountKey,
        messages: Vec<Message>,
        mut user_ids: Vec<i64>,
        mut known: Known,
    ) -> Result<(Vec<MessageView>, HashMap<i64, TgUser>), StoreError> {
        let mut chat_ids: Vec<i64> = Vec::new();
        for message in &messages {
            for id in message
                .sender_id
                .iter()
                .chain(message.forward.as_ref().and_then(|f| f.from_id.as_ref()))
            {
                if *id > 0 {
                    user_ids.push(*id);
                } else {
                    chat_ids.push(*id);
                }
            }
        }
        user_ids.retain(|id| !known.users.contains_key(id) && !known.looked_up.contains(id));
        user_ids.sort_unstable();
        user_ids.dedup();
        chat_ids.retain(|id| !known.chats.contains_key(id));
        chat_ids.sort_unstable();
        chat_ids.dedup();
        if !user_ids.is_empty() {
            for record in self.store.cached_users(key, &user_ids).await? {
                let user = user_from_record(&record);
                known.users.insert(user.id, user);
            }
        }
        // Channels posting (and forwards from chats): one read for all of them.
        if !chat_ids.is_empty() {
            for chat in self.store.cached_chats(key, &chat_ids).await? {
                known
                    .chats
                    .insert(chat.profile.chat_id, chat_sender(&chat.profile));
            }
        }
        let mut senders: HashMap<i64, SenderView> = known.chats;
        for user in known.users.values() {
            senders.insert(user.id, user_sender(user));
        }
        let unknown = |id: i64| SenderView {
            id,
            kind: if id > 0 { "user" } else { "chat" },
            name: String::new(),
            username: String::new(),
            photo: None,
        };
        let views = messages
            .into_iter()
            .map(|message| MessageView {
                sender: message
                    .sender_id
                    .map(|id| senders.get(&id).cloned().unwrap_or_else(|| unknown(id))),
                forward_from: message
                    .forward
                    .as_ref()
                    .and_then(|forward| forward.from_id)
                    .map(|id| senders.get(&id).cloned().unwrap_or_else(|| unknown(id))),
                message,
            })
            .collect();
        Ok((views, known.users))
    }

    /// One message with its sender resolved; `users`: users the caller holds as the
    /// cache has them (an update's, written to the cache just before), not read again.
    pub(crate) async fn message_view(
        &self,
        key: AccountKey,
        message: Message,
        users: &[TgUser],
    ) -> Result<MessageView, StoreError> {
        let known = Known {
            users: users.iter().map(|user| (user.id, user.clone())).collect(),
            ..Known::default()
        };
        self.views_and_users(key, vec![message], Vec::new(), known)
            .await?
            .0
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::Internal("a message view went missing".into()))
    }

    /// One chat as listed, with its newest message.
    pub(crate) async fn chat_view(
        &self,
        key: AccountKey,
        chat_id: i64,
    ) -> Result<Option<ChatView>, StoreError> {
        let Some(chat) = self.store.cached_chat(key, chat_id).await? else {
            return Ok(None);
        };
        Ok(self.chat_views(key, vec![chat]).await?.into_iter().next())
    }

    /// A page of the chat list.
    #[tracing::instrument(skip(self))]
    pub async fn list_chats(
        &self,
        key: AccountKey,
        kind: Option<String>,
        archived: Option<bool>,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<ChatPage, ReadError> {
        if let Some(kind) = &kind
            && ChatKind::parse(kind).is_none()
        {
            return Err(ReadError::Invalid(
                "type must be private, group, supergroup or channel".into(),
            ));
        }
        let limit = page_limit(limit)?;
        let after = match cursor {
            Some(cursor) => match decode_cursor("cursor", cursor)?.as_slice() {
                [date, chat] => Some((*date, *chat)),
                _ => {
                    return Err(ReadError::Invalid(
                        "cursor is not a cursor this API gave out".into(),
                    ));
                }
            },
            None => None,
        };
        let mut page = self
            .store
            .chat_list_page(
                key,
                &ChatListQuery {
                    kind,
                    archived,
                    after,
                    limit: limit + 1,
                },
            )
            .await?;
        let more = page.chats.len() > usize::try_from(limit).unwrap_or(usize::MAX);
        page.chats
            .truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next_cursor = if more {
            page.chats.last().and_then(|listed| {
                listed.chat.dialog.as_ref().map(|dialog| {
                    encode_cursor(&format!(
                        "v1:{}:{}",
                        dialog.top_date, listed.chat.profile.chat_id
                    ))
                })
            })
        } else {
            None
        };
        let chats = self.page_views(key, page).await?;
        Ok(ChatPage { chats, next_cursor })
    }

    /// The chats of a page read with their newest messages and the users they name: only
    /// senders the page did not carry (forward origins, chats posting in another chat)
    /// are read after it.
    async fn page_views(
        &self,
        key: AccountKey,
        page: ChatListPage,
    ) -> Result<Vec<ChatView>, StoreError> {
        let mut known = Known::default();
        for record in &page.users {
            let user = user_from_record(record);
            known.users.insert(user.id, user);
        }
        let mut tops = Vec::new();
        let mut chats = Vec::with_capacity(page.chats.len());
        for listed in page.chats {
            let chat_id = listed.chat.profile.chat_id;
            // The page looked up a private chat's user and its newest message's sender.
            if chat_id > 0 {
                known.looked_up.insert(chat_id);
            }
            if let Some(top) = &listed.top_message {
                match top.sender_id {
                    Some(id) if id > 0 => {
                        known.looked_up.insert(id);
                    }
                    // A channel's own post.
                    Some(id) if id == chat_id => {
                        known
                            .chats
                            .insert(chat_id, chat_sender(&listed.chat.profile));
                    }
                    _ => {}
                }
                tops.push(message_from_record(top));
            }
            chats.push(listed.chat);
        }
        self.views_from(key, chats, tops, known).await
    }

    /// Chats as listed, their newest messages read for them.
    async fn chat_views(
        &self,
        key: AccountKey,
        chats: Vec<CachedChat>,
    ) -> Result<Vec<ChatView>, StoreError> {
        let tops: Vec<(i64, i32)> = chats
            .iter()
            .filter_map(|chat| {
                chat.dialog
                    .as_ref()
                    .filter(|dialog| dialog.top_message_id > 0)
                    .map(|dialog| (chat.profile.chat_id, dialog.top_message_id))
            })
            .collect();
        let top_messages: Vec<Message> = self
            .store
            .cached_messages_at(key, &tops)
            .await?
            .iter()
            .map(message_from_record)
            .collect();
        self.views_from(key, chats, top_messages, Known::default())
            .await
    }

    /// Chats as listed from their newest messages (`tops`): senders resolved, and each
    /// private chat's other user read for its presence (unless `known` has it).
    async fn views_from(
        &self,
        key: AccountKey,
        chats: Vec<CachedChat>,
        tops: Vec<Message>,
        known: Known,
    ) -> Result<Vec<ChatView>, StoreError> {
        // A private chat's id is its other user's id.
        let peers: Vec<i64> = chats
            .iter()
            .map(|chat| chat.profile.chat_id)
            .filter(|chat_id| *chat_id > 0)
            .collect();
        let (top_views, users) = self.views_and_users(key, tops, peers, known).await?;
        let mut top_views: HashMap<i64, MessageView> = top_views
            .into_iter()
            .map(|view| (view.message.chat_id, view))
            .collect();
        Ok(chats
            .into_iter()
            .map(|chat| ChatView {
                last_message: top_views.remove(&chat.profile.chat_id),
                presence: users.get(&chat.profile.chat_id).map(|user| user.presence),
                profile: chat.profile,
                dialog: chat.dialog,
            })
            .collect())
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

    /// A page of a chat's history, newest first.
    #[tracing::instrument(skip(self))]
    pub async fn history(
        &self,
        key: AccountKey,
        chat_id: i64,
        params: HistoryParams,
    ) -> Result<HistoryPage, ReadError> {
        if params.before.is_some() && params.after.is_some() {
            return Err(ReadError::Invalid(
                "give either before or after, not both".into(),
            ));
        }
        if let (Some(from), Some(to)) = (params.from_date, params.to_date)
            && from >= to
        {
            return Err(ReadError::Invalid("from must be earlier than to".into()));
        }
        let limit = page_limit(params.limit)?;
        let before_id = params
            .before
            .as_deref()
            .map(|cursor| message_cursor("before", cursor))
            .transpose()?;
        let after_id = params
            .after
            .as_deref()
            .map(|cursor| message_cursor("after", cursor))
            .transpose()?;
        let query = HistoryQuery {
            before_id,
            after_id,
            from_date: params.from_date,
            to_date: params.to_date,
            limit: limit + 1,
            oldest_first: after_id.is_some(),
        };
        let wanted = usize::try_from(limit).unwrap_or(usize::MAX);
        // The chat, its messages and their senders, in one read.
        let mut read = self.history_page(key, chat_id, &query).await?;
        let mut fetched = false;
        loop {
            let (chat, page) = (&read.chat, &mut read.messages);
            let covered = if chat.history_complete {
                i32::MIN
            } else {
                chat.history_floor.unwrap_or(i32::MAX)
            };
            // Below the floor the cache may have holes: those messages wait for a fetch.
            page.retain(|message| message.message_id >= covered);
            let filled = page.len() > wanted;
            let passed_from = match (params.from_date, page.last()) {
                (Some(from), Some(oldest)) => oldest.date < from,
                _ => false,
            };
            let may_have_older = !chat.history_complete && after_id.is_none();
            if filled || passed_from || !may_have_older || fetched {
                break;
            }
            let older = OlderHistory {
                chat_id,
                below_id: (covered != i32::MAX).then_some(covered),
                down_to_date: params.from_date.or(params.to_date),
                limit: (limit + 1).max(50),
            };
            match self.fetch_older(key, older).await {
                Ok(()) => {}
                // Serve what is cached; the cursor lets the caller come back for more.
                Err(error) if error.is_unavailable() && !page.is_empty() => break,
                Err(error) => return Err(error.into()),
            }
            fetched = true;
            read = self.history_page(key, chat_id, &query).await?;
        }
        let CachedHistory {
            chat,
            messages: mut page,
            senders,
        } = read;
        let more_older = page.len() > wanted || (!chat.history_complete && after_id.is_none());
        let more_newer = page.len() > wanted && after_id.is_some();
        if after_id.is_some() {
            // Paging towards newer: the page is the `limit` oldest of what is newer.
            let excess = page.len().saturating_sub(wanted);
            page.drain(..excess);
        } else {
            page.truncate(wanted);
        }
        let oldest = page.last().map(|message| message.message_id);
        let newest = page.first().map(|message| message.message_id);
        let next_cursor = match (after_id, oldest) {
            (Some(_), Some(oldest)) => Some(oldest),
            (None, Some(oldest)) if more_older => Some(oldest),
            (None, None) if more_older => before_id,
            _ => None,
        }
        .map(|id| encode_cursor(&format!("v1:{id}")));
        let prev_cursor = match (after_id, newest) {
            (Some(_), Some(newest)) if more_newer => Some(newest),
            (Some(_), _) => None,
            (None, Some(newest)) => Some(newest),
            (None, None) => before_id.map(|id| id - 1),
        }
        .map(|id| encode_cursor(&format!("v1:{id}")));
        // The read looked up every user who sent a message of the page; a channel's own
        // posts are the chat's.
        let mut known = Known::default();
        for record in &senders {
            let user = user_from_record(record);
            known.users.insert(user.id, user);
        }
        for message in &page {
            match message.sender_id {
                Some(id) if id > 0 => {
                    known.looked_up.insert(id);
                }
                Some(id) if id == chat_id => {
                    known.chats.insert(chat_id, chat_sender(&chat.profile));
                }
                _ => {}
            }
        }
        let messages: Vec<Message> = page.iter().map(message_from_record).collect();
        Ok(HistoryPage {
            messages: self
                .views_and_users(key, messages, Vec::new(), known)
                .await?
                .0,
            next_cursor,
            prev_cursor,
        })
    }

    /// A page of the chat's history as [`ChatCacheStore::history_page`] reads it.
    async fn history_page(
        &self,
        key: AccountKey,
        chat_id: i64,
        query: &HistoryQuery,
    ) -> Result<CachedHistory, ReadError> {
        self.store
            .history_page(key, chat_id, query)
            .await?
            .ok_or(ReadError::ChatNotFound(chat_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_foreign_ones_are_refused() {
        let cursor = encode_cursor("v1:42");
        assert_eq!(message_cursor("before", &cursor).expect("decodes"), 42);
        assert!(message_cursor("before", "not-base64!").is_err());
        assert!(message_cursor("before", &encode_cursor("v2:42")).is_err());
        assert!(message_cursor("before", &encode_cursor("v1:x")).is_err());
        assert!(message_cursor("before", &encode_cursor("v1:1:2")).is_err());
    }

    #[test]
    fn page_limits_are_bounded() {
        assert_eq!(page_limit(None).expect("default"), DEFAULT_PAGE);
        assert_eq!(page_limit(Some(100)).expect("max"), 100);
        assert!(page_limit(Some(0)).is_err());
        assert!(page_limit(Some(101)).is_err());
    }
}
