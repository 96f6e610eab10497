//! Reads of the chat cache that need nothing but the store: a page of an account's chat
//! list, and a page of a chat's history when the cache covers it, each with the senders
//! its messages name resolved from the cache (ADR 0073).
//!
//! The chat service serves every read with these (its history pages first ask the
//! account's host for older messages when the cache does not cover them); the gateway
//! runs the same reads on its own store pool, in both modes, and asks the chat service
//! only for a history page the cache cannot give. One implementation, so a page looks the
//! same whichever process answers it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use talkapp_proto::chat::v1 as proto;
use talkapp_store::{
    AccountKey, CachedChat, CachedHistory, ChatCacheReads, ChatListPage, ChatListQuery,
    ChatProfile, DialogState, HistoryQuery, StoreError,
};
use talkapp_telegram::model::{ChatKind, Message, PhotoRef, Presence, TgUser};

use crate::{message_from_record, profile_photo, time, user_from_record};

/// Chats or messages per page when the caller does not say.
pub const DEFAULT_PAGE: u32 = 50;
/// The most per page.
pub const MAX_PAGE: u32 = 100;

/// Why a read of the cache failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// A parameter is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// No such chat in this account.
    #[error("no chat {0} in this account")]
    ChatNotFound(i64),
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

/// A chat as the sender of its own posts (a channel's) or of a forward.
fn chat_sender(profile: &ChatProfile) -> SenderView {
    SenderView {
        id: profile.chat_id,
        kind: "chat",
        photo: profile_photo(profile),
        name: profile.title.clone(),
        username: profile.username.clone(),
    }
}

/// A cached user as a sender.
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

/// A cursor as this API gives it out (URL-safe base64 of `text`).
fn encode_cursor(text: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

/// The numbers of a cursor this API gave out (`v1:` and numbers), for the `field` named.
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

/// The message id of a history cursor this API gave out.
fn message_cursor(field: &str, cursor: &str) -> Result<i32, ReadError> {
    match decode_cursor(field, cursor)?.as_slice() {
        [id] => i32::try_from(*id)
            .map_err(|_| ReadError::Invalid(format!("{field} is not a cursor this API gave out"))),
        _ => Err(ReadError::Invalid(format!(
            "{field} is not a cursor this API gave out"
        ))),
    }
}

/// A page's limit: [`DEFAULT_PAGE`] when not given, 1 to [`MAX_PAGE`].
fn page_limit(limit: Option<u32>) -> Result<u32, ReadError> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(limit @ 1..=MAX_PAGE) => Ok(limit),
        Some(_) => Err(ReadError::Invalid(format!(
            "limit must be between 1 and {MAX_PAGE}"
        ))),
    }
}

/// A history read checked and planned: what to ask the store and how to cut the page.
#[derive(Debug, Clone)]
pub struct HistoryRead {
    query: HistoryQuery,
    limit: u32,
    wanted: usize,
    before_id: Option<i32>,
    after_id: Option<i32>,
    from_date: Option<i64>,
    to_date: Option<i64>,
}

/// The older history a page waits for: what the account's host is to fetch into the
/// cache before the page can be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OlderWanted {
    /// Below this message id (the cached floor); `None`: from the newest.
    pub below_id: Option<i32>,
    /// Down to this date (Unix seconds), when the read names one.
    pub down_to_date: Option<i64>,
    /// At least this many messages.
    pub limit: u32,
}

impl HistoryRead {
    /// Checks `params` (422 material: both cursors, `from` not before `to`, a foreign
    /// cursor, a limit out of range).
    pub fn new(params: &HistoryParams) -> Result<Self, ReadError> {
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
        Ok(Self {
            query: HistoryQuery {
                before_id,
                after_id,
                from_date: params.from_date,
                to_date: params.to_date,
                limit: limit + 1,
                oldest_first: after_id.is_some(),
            },
            limit,
            wanted: usize::try_from(limit).unwrap_or(usize::MAX),
            before_id,
            after_id,
            from_date: params.from_date,
            to_date: params.to_date,
        })
    }

    /// What the store is asked.
    pub fn query(&self) -> &HistoryQuery {
        &self.query
    }

    /// Drops from `read` the messages below the chat's cached floor (below it the cache
    /// may have holes: those wait for a fetch), then says which older history the page
    /// still waits for: `None` when the page is full, reaches its `from` date, or nothing
    /// older can exist.
    pub fn older_wanted(&self, read: &mut CachedHistory) -> Option<OlderWanted> {
        let (chat, page) = (&read.chat, &mut read.messages);
        let covered = if chat.history_complete {
            i32::MIN
        } else {
            chat.history_floor.unwrap_or(i32::MAX)
        };
        page.retain(|message| message.message_id >= covered);
        let filled = page.len() > self.wanted;
        let passed_from = match (self.from_date, page.last()) {
            (Some(from), Some(oldest)) => oldest.date < from,
            _ => false,
        };
        let may_have_older = !chat.history_complete && self.after_id.is_none();
        if filled || passed_from || !may_have_older {
            return None;
        }
        Some(OlderWanted {
            below_id: (covered != i32::MAX).then_some(covered),
            down_to_date: self.from_date.or(self.to_date),
            limit: (self.limit + 1).max(50),
        })
    }
}

/// How long an account found linked is not looked up again, by the gateway and the chat
/// service alike.
pub const ACCOUNT_CHECK_TTL: Duration = Duration::from_secs(10);
/// Accounts remembered at most (all forgotten past it).
const KNOWN_ACCOUNTS_CAPACITY: usize = 100_000;

/// Linked accounts found in the store lately, so that each read does not look its
/// account up again: remembered for [`ACCOUNT_CHECK_TTL`].
#[derive(Default)]
pub struct KnownAccounts {
    found: Mutex<HashMap<AccountKey, Instant>>,
}

impl KnownAccounts {
    /// Whether `key` was found linked less than [`ACCOUNT_CHECK_TTL`] ago.
    pub fn is_fresh(&self, key: AccountKey) -> bool {
        self.found
            .lock()
            .ok()
            .and_then(|found| found.get(&key).copied())
            .is_some_and(|at| at.elapsed() < ACCOUNT_CHECK_TTL)
    }

    /// `key` was just found linked.
    pub fn remember(&self, key: AccountKey) {
        if let Ok(mut found) = self.found.lock() {
            if found.len() >= KNOWN_ACCOUNTS_CAPACITY {
                found.clear();
            }
            found.insert(key, Instant::now());
        }
    }

    /// `key` is no longer linked: the next read looks it up.
    pub fn forget(&self, key: AccountKey) {
        if let Ok(mut found) = self.found.lock() {
            found.remove(&key);
        }
    }
}

/// Reads of the chat cache.
pub struct CacheReads {
    store: Arc<dyn ChatCacheReads>,
}

impl CacheReads {
    /// Reads of `store`'s chat cache.
    pub fn new(store: Arc<dyn ChatCacheReads>) -> Self {
        Self { store }
    }

    /// Senders (and forward origins) of `messages`, resolved from the cache.
    pub async fn views(
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
    pub async fn message_view(
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
    pub async fn chat_view(
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
    pub async fn chat_views(
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

    /// The chat, the messages `plan` asks for and their senders, in one read
    /// ([`ChatCacheReads::history_page`]); the chat not cached is [`ReadError::ChatNotFound`].
    pub async fn history_read(
        &self,
        key: AccountKey,
        chat_id: i64,
        plan: &HistoryRead,
    ) -> Result<CachedHistory, ReadError> {
        self.store
            .history_page(key, chat_id, &plan.query)
            .await?
            .ok_or(ReadError::ChatNotFound(chat_id))
    }

    /// A page of a chat's history when the cache covers it, in one read; `None` when it
    /// waits for older history that only the account's host can fetch.
    pub async fn cached_history(
        &self,
        key: AccountKey,
        chat_id: i64,
        params: &HistoryParams,
    ) -> Result<Option<HistoryPage>, ReadError> {
        let plan = HistoryRead::new(params)?;
        let mut read = self.history_read(key, chat_id, &plan).await?;
        if plan.older_wanted(&mut read).is_some() {
            return Ok(None);
        }
        Ok(Some(self.history_page(key, chat_id, &plan, read).await?))
    }

    /// The page of `read` (as [`HistoryRead::older_wanted`] left it): cut to the
    /// limit, its cursors, its senders resolved.
    pub async fn history_page(
        &self,
        key: AccountKey,
        chat_id: i64,
        plan: &HistoryRead,
        read: CachedHistory,
    ) -> Result<HistoryPage, StoreError> {
        let CachedHistory {
            chat,
            messages: mut page,
            senders,
        } = read;
        let (wanted, before_id, after_id) = (plan.wanted, plan.before_id, plan.after_id);
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
}

fn wire_sender(view: SenderView) -> crate::Sender {
    crate::Sender {
        id: view.id,
        kind: view.kind,
        name: view.name,
        username: view.username,
        photo_id: view.photo.map(|photo| photo.photo_id),
    }
}

/// A user's online state as the API words it: the state, and until when (online) or since
/// when (offline) as RFC 3339, none when Telegram hides it.
pub fn presence_fields(presence: Presence) -> (&'static str, Option<String>) {
    match presence {
        Presence::Online { expires } => ("online", time(expires)),
        Presence::Offline { was_online } => ("offline", time(was_online)),
        Presence::Recently => ("recently", None),
        Presence::LastWeek => ("last_week", None),
        Presence::LastMonth => ("last_month", None),
        Presence::Unknown => ("unknown", None),
    }
}

/// A user's online state on the wire.
pub fn presence_to_proto(presence: Presence) -> proto::Presence {
    let (status, at) = presence_fields(presence);
    proto::Presence {
        status: status.to_owned(),
        at,
    }
}

/// A message with its senders on the wire: the conversion search-service's hits use too
/// (ADR 0054).
pub fn message_to_proto(view: MessageView) -> proto::Message {
    crate::to_proto_message(
        view.message,
        view.sender.map(wire_sender),
        view.forward_from.map(wire_sender),
    )
}

/// A chat as listed on the wire (ADR 0054).
pub fn chat_to_proto(view: ChatView) -> proto::Chat {
    crate::to_proto_chat(
        view.profile,
        view.dialog.as_ref(),
        view.last_message.map(message_to_proto),
        view.presence.map(presence_to_proto),
    )
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

    #[test]
    fn a_history_read_refuses_both_cursors_and_an_empty_date_range() {
        let both = HistoryParams {
            before: Some(encode_cursor("v1:5")),
            after: Some(encode_cursor("v1:1")),
            ..HistoryParams::default()
        };
        assert!(matches!(
            HistoryRead::new(&both),
            Err(ReadError::Invalid(_))
        ));
        let empty_range = HistoryParams {
            from_date: Some(10),
            to_date: Some(10),
            ..HistoryParams::default()
        };
        assert!(matches!(
            HistoryRead::new(&empty_range),
            Err(ReadError::Invalid(_))
        ));
        let newer = HistoryRead::new(&HistoryParams {
            after: Some(encode_cursor("v1:7")),
            limit: Some(3),
            ..HistoryParams::default()
        })
        .expect("valid");
        assert_eq!(newer.query().after_id, Some(7));
        assert_eq!(newer.query().limit, 4);
        assert!(newer.query().oldest_first);
    }
}
