//! The search core, free of gRPC types: validation, the index queries, the merge with
//! Telegram's own hits (and indexing those the index lacks, ADR 0035), cursors, and
//! showing hits from the chat cache.
//!
//! Message hits are ordered newest first by (date, session_index, chat_id, message_id);
//! a cursor is the last hit's place in that order, so pages neither repeat nor skip
//! while new messages arrive. Chat hits are ranked by how well they match (typos cost),
//! then by recent activity; their cursor is an offset in that ranking.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use base64::Engine as _;
use talkapp_store::{
    AccountKey, CachedChat, CachedMessage, CachedUser, ChatProfile, SearchStore, StoreError,
};
use uuid::Uuid;

use crate::index::{
    IndexChange, IndexError, IndexedChat, IndexedMessage, MessageQuery, SearchIndex, kind,
};
use crate::normalize;
use crate::remote::{RemoteContact, RemoteError, RemoteHits, RemoteQuery, TelegramSearch};

/// Hits per page when the caller does not say.
pub const DEFAULT_LIMIT: u32 = 20;
/// The most hits per page.
pub const MAX_LIMIT: u32 = 100;
/// The longest query, in characters.
pub const MAX_QUERY_CHARS: usize = 256;
/// Chats of one account considered by a chat search (the most recently active).
const MAX_CHATS_CONSIDERED: u32 = 10_000;

/// Why a search failed.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// A parameter is not acceptable; `field` names it.
    #[error("{field}: {message}")]
    Invalid {
        /// The parameter.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// No such linked account.
    #[error("no linked account {0} for this user")]
    AccountNotFound(u32),
    /// The index or the store cannot be reached now.
    #[error("search unavailable: {0}")]
    Unavailable(String),
    /// Telegram asked to wait (a call that has no cached answer to fall back on).
    #[error("telegram asked to wait {seconds} s")]
    TelegramFloodWait {
        /// How long.
        seconds: u32,
    },
    /// Telegram (or the account's host) cannot be reached now, and nothing cached answers.
    #[error("telegram unavailable: {0}")]
    TelegramUnavailable(String),
    /// A bug or corrupted data.
    #[error("search failure: {0}")]
    Internal(String),
}

impl From<IndexError> for SearchError {
    fn from(error: IndexError) -> Self {
        match error {
            IndexError::Unavailable(cause) => Self::Unavailable(cause),
            IndexError::Internal(cause) => Self::Internal(cause),
        }
    }
}

impl From<StoreError> for SearchError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(cause) => Self::Unavailable(cause),
            StoreError::Conflict(what) => Self::Internal(format!("conflict on {what}")),
            StoreError::Internal(cause) => Self::Internal(cause),
        }
    }
}

fn invalid(field: &'static str, message: impl Into<String>) -> SearchError {
    SearchError::Invalid {
        field,
        message: message.into(),
    }
}

/// A message search.
#[derive(Debug, Clone, Default)]
pub struct MessageSearch {
    /// The TalkApp user.
    pub user_id: Uuid,
    /// One linked account; none: every account of the user.
    pub session_index: Option<u32>,
    /// The text looked for (plain text; every word a prefix).
    pub query: String,
    /// Only this chat.
    pub chat_id: Option<i64>,
    /// Sent at or after (Unix seconds, inclusive).
    pub from_date: Option<i64>,
    /// Sent at or before (Unix seconds, inclusive).
    pub to_date: Option<i64>,
    /// Only from this sender (user or chat id).
    pub sender_id: Option<i64>,
    /// `text`, `photo`, `video`, `document`, `voice` or `link`.
    pub kind: Option<String>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Hits per page.
    pub limit: Option<u32>,
}

/// A chat search in one account.
#[derive(Debug, Clone, Default)]
pub struct ChatSearch {
    /// The TalkApp user.
    pub user_id: Uuid,
    /// The linked account.
    pub session_index: u32,
    /// The text looked for in titles, usernames, names and phones.
    pub query: String,
    /// `private`, `group`, `supergroup` or `channel`.
    pub kind: Option<String>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Hits per page.
    pub limit: Option<u32>,
}

/// Who sent a message, as the cache knows them (the sender of the shared message view,
/// ADR 0054).
pub use talkapp_views::Sender as SenderRecord;

/// Where a hit was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HitSource {
    /// TalkApp's index of the account's cache.
    Cache,
    /// Telegram's own search (messages older than the cache).
    Telegram,
}

/// One message found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageHit {
    /// Which of the user's accounts.
    pub session_index: u32,
    /// The message as cached (or as Telegram returned it).
    pub message: CachedMessage,
    /// Its chat, when known.
    pub chat: Option<CachedChat>,
    /// Its sender.
    pub sender: Option<SenderRecord>,
    /// The original sender of a forward.
    pub forward_from: Option<SenderRecord>,
    /// Matched words in the text: UTF-16 offset and length.
    pub ranges: Vec<(u32, u32)>,
    /// Where it was found.
    pub source: HitSource,
}

/// A page of message hits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessagePage {
    /// Newest first.
    pub hits: Vec<MessageHit>,
    /// The next page, if any.
    pub next_cursor: Option<String>,
    /// Telegram's own search could not be asked (it asked to wait, or was unreachable):
    /// these are the cached hits only.
    pub partial: bool,
}

/// One chat found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatHit {
    /// The chat as cached.
    pub chat: CachedChat,
    /// Typos it took to match (0: every word matched as a prefix).
    pub typos: usize,
    /// Matched words in the title: UTF-16 offset and length.
    pub ranges: Vec<(u32, u32)>,
}

/// A page of chat hits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatPage {
    /// Best matches first.
    pub hits: Vec<ChatHit>,
    /// The next page, if any.
    pub next_cursor: Option<String>,
}

/// A look at one account's contacts.
#[derive(Debug, Clone, Default)]
pub struct ContactSearch {
    /// The TalkApp user.
    pub user_id: Uuid,
    /// The linked account.
    pub session_index: u32,
    /// Names, username or phone digits; empty: every contact.
    pub query: String,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Contacts per page.
    pub limit: Option<u32>,
}

/// One contact found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactHit {
    /// The contact, as Telegram lists them, with their presence.
    pub contact: RemoteContact,
    /// Typos it took to match (0: every word matched as a prefix, or no query).
    pub typos: usize,
    /// Matched words in "first last": UTF-16 offset and length.
    pub ranges: Vec<(u32, u32)>,
}

/// A page of contacts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactPage {
    /// Best matches first; without a query, by name.
    pub hits: Vec<ContactHit>,
    /// The next page, if any.
    pub next_cursor: Option<String>,
}

/// The place of a message hit in the newest-first order.
type Place = (i64, u32, i64, i32);

fn encode_cursor(text: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

fn decode_cursor(cursor: &str) -> Option<Vec<i64>> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let mut parts = text.split(':');
    if parts.next() != Some("s1") {
        return None;
    }
    parts.map(|part| part.parse::<i64>().ok()).collect()
}

fn message_cursor(cursor: &str) -> Result<Place, SearchError> {
    let refused = || invalid("cursor", "is not a cursor this API gave out");
    match decode_cursor(cursor).ok_or_else(refused)?.as_slice() {
        [date, session, chat, message] => Ok((
            *date,
            u32::try_from(*session).map_err(|_| refused())?,
            *chat,
            i32::try_from(*message).map_err(|_| refused())?,
        )),
        _ => Err(refused()),
    }
}

fn chat_cursor(cursor: &str) -> Result<usize, SearchError> {
    let refused = || invalid("cursor", "is not a cursor this API gave out");
    match decode_cursor(cursor).ok_or_else(refused)?.as_slice() {
        [offset] => usize::try_from(*offset).map_err(|_| refused()),
        _ => Err(refused()),
    }
}

fn page_limit(limit: Option<u32>) -> Result<u32, SearchError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(limit @ 1..=MAX_LIMIT) => Ok(limit),
        Some(_) => Err(invalid(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        )),
    }
}

fn check_query_length(query: &str) -> Result<(), SearchError> {
    if query.chars().count() > MAX_QUERY_CHARS {
        return Err(invalid(
            "q",
            format!("must be at most {MAX_QUERY_CHARS} characters"),
        ));
    }
    Ok(())
}

/// The bound an account's query gets from a cross-account cursor: the hits of that
/// account that come after the cursor's place in the (date, session_index, chat, message) order.
fn bound_for(session_index: u32, cursor: Place) -> (i64, i64, i32) {
    let (date, cursor_session, chat, message) = cursor;
    match session_index.cmp(&cursor_session) {
        // Lower session indexes come after the cursor at the same date: every one of that date.
        std::cmp::Ordering::Less => (date, i64::MAX, i32::MAX),
        std::cmp::Ordering::Equal => (date, chat, message),
        // Higher session indexes come before it at the same date: only older dates.
        std::cmp::Ordering::Greater => (date, i64::MIN, i32::MIN),
    }
}

/// What the message's details (kept by the chat cache, read by its own conversion: ADR
/// 0054) say about its media, links and forward origin.
struct DetailsView {
    media_kind: Option<&'static str>,
    media_words: String,
    entity_kinds: Vec<String>,
    forward_from: Option<i64>,
}

fn details_view(message: &CachedMessage) -> DetailsView {
    let message = talkapp_views::message_from_record(message);
    let media = message.media.as_ref();
    let media_words = media
        .map(|media| {
            [&media.file_name, &media.title, &media.performer]
                .into_iter()
                .filter_map(Option::as_deref)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    DetailsView {
        media_kind: media.map(|media| media.kind.as_str()),
        media_words,
        entity_kinds: message
            .entities
            .into_iter()
            .map(|entity| entity.kind)
            .collect(),
        forward_from: message.forward.and_then(|forward| forward.from_id),
    }
}

/// The [`kind`] bits of a cached message.
pub fn kinds_of_record(message: &CachedMessage) -> i32 {
    let details = details_view(message);
    kind::of_message(
        &message.text,
        details.media_kind,
        details.entity_kinds.iter().map(String::as_str),
    )
}

/// The index record of a cached message.
pub fn indexed_record(key: AccountKey, message: &CachedMessage) -> IndexedMessage {
    IndexedMessage {
        key,
        chat_id: message.chat_id,
        message_id: message.message_id,
        date: message.date,
        sender_id: message.sender_id,
        kinds: kinds_of_record(message),
        terms: normalize::terms(&searchable_text_of_record(message)),
    }
}

/// The searchable words of a cached message: its text and its file's name and title.
pub fn searchable_text_of_record(message: &CachedMessage) -> String {
    let details = details_view(message);
    if details.media_words.is_empty() {
        message.text.clone()
    } else {
        format!("{} {}", message.text, details.media_words)
    }
}

fn user_sender(user: &CachedUser) -> SenderRecord {
    let user = talkapp_views::user_from_record(user);
    SenderRecord {
        id: user.id,
        kind: "user",
        name: user.shown_name(),
        photo_id: user.photo.map(|photo| photo.photo_id),
        username: user.username,
    }
}

fn chat_sender(profile: &ChatProfile) -> SenderRecord {
    SenderRecord {
        id: profile.chat_id,
        kind: "chat",
        name: profile.title.clone(),
        username: profile.username.clone(),
        photo_id: talkapp_views::profile_photo(profile).map(|photo| photo.photo_id),
    }
}

fn unknown_sender(id: i64) -> SenderRecord {
    SenderRecord {
        id,
        kind: if id > 0 { "user" } else { "chat" },
        name: String::new(),
        username: String::new(),
        photo_id: None,
    }
}

/// A candidate hit before it is shown.
struct Candidate {
    place: Place,
    message: CachedMessage,
    source: HitSource,
}

/// The search core.
pub struct SearchCore {
    index: Arc<dyn SearchIndex>,
    store: Arc<dyn SearchStore>,
    telegram: Option<Arc<dyn TelegramSearch>>,
}

impl SearchCore {
    /// Searches `index`, shows hits from `store`'s cache, and merges Telegram's own hits
    /// when `telegram` is given (in production the chat service:
    /// [`crate::remote::ChatServiceTelegram`]).
    pub fn new(
        index: Arc<dyn SearchIndex>,
        store: Arc<dyn SearchStore>,
        telegram: Option<Arc<dyn TelegramSearch>>,
    ) -> Self {
        Self {
            index,
            store,
            telegram,
        }
    }

    /// The index searched.
    pub fn index(&self) -> &Arc<dyn SearchIndex> {
        &self.index
    }

    async fn linked_accounts(&self, user_id: Uuid) -> Result<Vec<u32>, SearchError> {
        Ok(self
            .store
            .linked_accounts_of(user_id)
            .await?
            .into_iter()
            .map(|linked| linked.session_index)
            .collect())
    }

    async fn linked_account(&self, user_id: Uuid, session_index: u32) -> Result<(), SearchError> {
        if session_index == 0 {
            return Err(invalid("session_index", "starts at 1"));
        }
        if self
            .linked_accounts(user_id)
            .await?
            .contains(&session_index)
        {
            Ok(())
        } else {
            Err(SearchError::AccountNotFound(session_index))
        }
    }

    /// Messages of one account, or of every account of the user, newest first.
    #[tracing::instrument(skip_all, fields(user_id = %search.user_id, session_index = ?search.session_index))]
    pub async fn search_messages(&self, search: MessageSearch) -> Result<MessagePage, SearchError> {
        check_query_length(&search.query)?;
        let limit = page_limit(search.limit)?;
        if let (Some(from), Some(to)) = (search.from_date, search.to_date)
            && from > to
        {
            return Err(invalid("from", "must not be after to"));
        }
        let kinds = search
            .kind
            .as_deref()
            .map(|name| {
                kind::parse(name).ok_or_else(|| {
                    invalid(
                        "kind",
                        "must be text, photo, video, document, voice or link",
                    )
                })
            })
            .transpose()?;
        let has_filter = search.chat_id.is_some()
            || search.from_date.is_some()
            || search.to_date.is_some()
            || search.sender_id.is_some()
            || kinds.is_some();
        let blank = search.query.trim().is_empty();
        if blank && (search.session_index.is_none() || !has_filter) {
            return Err(invalid(
                "q",
                "must not be empty (give q, or a filter: chat_id, from, to, sender or kind)",
            ));
        }
        let cursor = search.cursor.as_deref().map(message_cursor).transpose()?;
        let indexes = match search.session_index {
            Some(session_index) => {
                self.linked_account(search.user_id, session_index).await?;
                vec![session_index]
            }
            None => self.linked_accounts(search.user_id).await?,
        };
        let terms = normalize::query_terms(&search.query);
        // Text that yields no words (only punctuation or search syntax) finds nothing.
        if terms.is_empty() && !blank {
            return Ok(MessagePage {
                hits: Vec::new(),
                next_cursor: None,
                partial: false,
            });
        }
        let mut candidates: Vec<(AccountKey, Candidate)> = Vec::new();
        let mut remote_context: HashMap<u32, RemoteHits> = HashMap::new();
        let mut partial = false;
        for session_index in indexes {
            let key = AccountKey {
                user_id: search.user_id,
                session_index,
            };
            let before = cursor.map(|cursor| bound_for(session_index, cursor));
            let query = MessageQuery {
                terms: terms.clone(),
                chat_id: search.chat_id,
                from_date: search.from_date,
                to_date: search.to_date,
                sender_id: search.sender_id,
                kinds,
                before,
                limit: limit + 1,
            };
            let found = self.index.search_messages(key, &query).await?;
            let wanted: Vec<(i64, i32)> = found
                .iter()
                .map(|found| (found.chat_id, found.message_id))
                .collect();
            // Shown from the cache: a message it no longer holds is not shown.
            let mut seen = HashSet::new();
            for message in self.store.cached_messages_at(key, &wanted).await? {
                seen.insert((message.chat_id, message.message_id));
                candidates.push((
                    key,
                    Candidate {
                        place: (
                            message.date,
                            session_index,
                            message.chat_id,
                            message.message_id,
                        ),
                        message,
                        source: HitSource::Cache,
                    },
                ));
            }
            let Some(telegram) = &self.telegram else {
                continue;
            };
            if terms.is_empty() {
                continue;
            }
            let remote = telegram
                .search_messages(
                    key,
                    &RemoteQuery {
                        text: search.query.clone(),
                        chat_id: search.chat_id,
                        from_date: search.from_date,
                        to_date: search.to_date,
                        sender_id: search.sender_id,
                        kinds,
                        before,
                        limit: limit + 1,
                    },
                )
                .await;
            match remote {
                Ok(mut hits) => {
                    let messages = std::mem::take(&mut hits.messages);
                    // What Telegram found beyond this page's index hits: indexed below, so
                    // the next search finds it here (ADR 0035).
                    let found: Vec<IndexedMessage> = messages
                        .iter()
                        .filter(|message| !seen.contains(&(message.chat_id, message.message_id)))
                        .map(|message| indexed_record(key, message))
                        .collect();
                    for message in messages {
                        // Telegram's filters are not ours to trust: the same ones again.
                        let place = (
                            message.date,
                            session_index,
                            message.chat_id,
                            message.message_id,
                        );
                        let inside = search.chat_id.is_none_or(|chat| chat == message.chat_id)
                            && search.from_date.is_none_or(|from| message.date >= from)
                            && search.to_date.is_none_or(|to| message.date <= to)
                            && search
                                .sender_id
                                .is_none_or(|sender| message.sender_id == Some(sender))
                            && kinds.is_none_or(|bits| kinds_of_record(&message) & bits != 0)
                            && cursor.is_none_or(|cursor| place < cursor);
                        if inside && seen.insert((message.chat_id, message.message_id)) {
                            candidates.push((
                                key,
                                Candidate {
                                    place,
                                    message,
                                    source: HitSource::Telegram,
                                },
                            ));
                        }
                    }
                    remote_context.insert(session_index, hits);
                    self.index_found(key, found).await;
                }
                Err(error) => {
                    match &error {
                        RemoteError::FloodWait { seconds } => {
                            tracing::info!(
                                seconds,
                                "telegram search asked to wait; cached hits only"
                            );
                        }
                        RemoteError::Unavailable(cause) => {
                            tracing::info!(%cause, "telegram search unavailable; cached hits only");
                        }
                    }
                    partial = true;
                }
            }
        }
        candidates.sort_by_key(|(_, candidate)| std::cmp::Reverse(candidate.place));
        let wanted = usize::try_from(limit).unwrap_or(usize::MAX);
        let more = candidates.len() > wanted;
        candidates.truncate(wanted);
        let next_cursor = if more {
            candidates.last().map(|(_, last)| {
                let (date, session, chat, message) = last.place;
                encode_cursor(&format!("s1:{date}:{session}:{chat}:{message}"))
            })
        } else {
            None
        };
        let hits = self.show(candidates, &remote_context, &terms).await?;
        Ok(MessagePage {
            hits,
            next_cursor,
            partial,
        })
    }

    /// Indexes messages Telegram's search found (the account's host stored them in the
    /// cache, which sends no event) that the index lacks; one it holds already is left to
    /// its events. A failure costs only this: the message is found through Telegram again.
    ///
    /// A deletion may reach the cache after Telegram answered: the cache is deleted from
    /// before the event is published, so the messages added are looked up in the cache
    /// once more, and those it no longer holds are taken out. Whichever comes first, the
    /// index ends without them: a deletion the look-up misses is in the cache after it,
    /// so its event is applied after the addition.
    async fn index_found(&self, key: AccountKey, found: Vec<IndexedMessage>) {
        if found.is_empty() {
            return;
        }
        let added = match self.index.add_found(&found).await {
            Ok(added) => added,
            Err(error) => {
                tracing::warn!(%error, "telegram's hits not indexed; found through telegram again");
                return;
            }
        };
        if added.is_empty() {
            return;
        }
        let gone: Vec<(i64, i32)> = match self.store.cached_messages_at(key, &added).await {
            Ok(cached) => {
                let held: HashSet<(i64, i32)> = cached
                    .iter()
                    .map(|message| (message.chat_id, message.message_id))
                    .collect();
                added
                    .iter()
                    .copied()
                    .filter(|place| !held.contains(place))
                    .collect()
            }
            // Not known to be cached: out again (found through Telegram next time).
            Err(_) => added.clone(),
        };
        metrics::counter!("talkapp_search_found_indexed_total")
            .increment(u64::try_from(added.len() - gone.len()).unwrap_or(0));
        if gone.is_empty() {
            return;
        }
        let mut by_chat: HashMap<i64, Vec<i32>> = HashMap::new();
        for (chat_id, message_id) in gone {
            by_chat.entry(chat_id).or_default().push(message_id);
        }
        let changes: Vec<IndexChange> = by_chat
            .into_iter()
            .map(|(chat_id, message_ids)| IndexChange::DeleteMessages {
                key,
                chat_id: Some(chat_id),
                message_ids,
                // No event: the rows added just now go, and no tombstone is left (the
                // deletion's own event leaves one).
                event_id: None,
            })
            .collect();
        if let Err(error) = self.index.apply(&changes).await {
            // Harmless to what is shown (hits are shown from the cache); a rebuild drops it.
            tracing::warn!(%error, "a found message the cache no longer holds stays indexed");
        }
    }

    /// Chats, senders and highlight ranges for a page of candidates.
    async fn show(
        &self,
        candidates: Vec<(AccountKey, Candidate)>,
        remote_context: &HashMap<u32, RemoteHits>,
        terms: &[String],
    ) -> Result<Vec<MessageHit>, SearchError> {
        let mut by_account: HashMap<AccountKey, Vec<&Candidate>> = HashMap::new();
        for (key, candidate) in &candidates {
            by_account.entry(*key).or_default().push(candidate);
        }
        let mut chats: HashMap<(u32, i64), CachedChat> = HashMap::new();
        let mut senders: HashMap<(u32, i64), SenderRecord> = HashMap::new();
        for (key, page) in &by_account {
            let remote = remote_context.get(&key.session_index);
            let mut chat_ids: Vec<i64> = Vec::new();
            let mut user_ids: Vec<i64> = Vec::new();
            for candidate in page {
                chat_ids.push(candidate.message.chat_id);
                let forward = details_view(&candidate.message).forward_from;
                for id in candidate.message.sender_id.iter().chain(forward.iter()) {
                    if *id > 0 {
                        user_ids.push(*id);
                    } else {
                        chat_ids.push(*id);
                    }
                }
            }
            chat_ids.sort_unstable();
            chat_ids.dedup();
            user_ids.sort_unstable();
            user_ids.dedup();
            let mut cached: HashMap<i64, CachedChat> = self
                .store
                .cached_chats(*key, &chat_ids)
                .await?
                .into_iter()
                .map(|chat| (chat.profile.chat_id, chat))
                .collect();
            for chat_id in chat_ids {
                let chat = cached.remove(&chat_id).or_else(|| {
                    remote
                        .and_then(|hits| hits.chats.iter().find(|chat| chat.chat_id == chat_id))
                        .map(|profile| CachedChat {
                            profile: profile.clone(),
                            dialog: None,
                            history_floor: None,
                            history_complete: false,
                        })
                });
                if let Some(chat) = chat {
                    senders.insert((key.session_index, chat_id), chat_sender(&chat.profile));
                    chats.insert((key.session_index, chat_id), chat);
                }
            }
            let mut users = self.store.cached_users(*key, &user_ids).await?;
            if let Some(remote) = remote {
                let known: HashSet<i64> = users.iter().map(|user| user.tg_user_id).collect();
                users.extend(
                    remote
                        .users
                        .iter()
                        .filter(|user| !known.contains(&user.tg_user_id))
                        .cloned(),
                );
            }
            for user in &users {
                senders.insert((key.session_index, user.tg_user_id), user_sender(user));
            }
        }
        let sender_of = |session: u32, id: i64| {
            senders
                .get(&(session, id))
                .cloned()
                .unwrap_or_else(|| unknown_sender(id))
        };
        Ok(candidates
            .into_iter()
            .map(|(key, candidate)| {
                let session = key.session_index;
                let forward = details_view(&candidate.message).forward_from;
                MessageHit {
                    session_index: session,
                    chat: chats.get(&(session, candidate.message.chat_id)).cloned(),
                    sender: candidate.message.sender_id.map(|id| sender_of(session, id)),
                    forward_from: forward.map(|id| sender_of(session, id)),
                    ranges: normalize::matched_ranges(&candidate.message.text, terms),
                    message: candidate.message,
                    source: candidate.source,
                }
            })
            .collect())
    }

    /// Chats of one account by title, username, the other person's name and phone; a
    /// typo in a name is forgiven.
    #[tracing::instrument(skip_all, fields(user_id = %search.user_id, session_index = search.session_index))]
    pub async fn search_chats(&self, search: ChatSearch) -> Result<ChatPage, SearchError> {
        check_query_length(&search.query)?;
        let limit = page_limit(search.limit)?;
        if search.query.trim().is_empty() {
            return Err(invalid("q", "must not be empty"));
        }
        if let Some(kind) = &search.kind
            && !matches!(
                kind.as_str(),
                "private" | "group" | "supergroup" | "channel"
            )
        {
            return Err(invalid(
                "type",
                "must be private, group, supergroup or channel",
            ));
        }
        let offset = search
            .cursor
            .as_deref()
            .map(chat_cursor)
            .transpose()?
            .unwrap_or(0);
        self.linked_account(search.user_id, search.session_index)
            .await?;
        let key = AccountKey {
            user_id: search.user_id,
            session_index: search.session_index,
        };
        let terms = normalize::query_terms(&search.query);
        if terms.is_empty() {
            return Ok(ChatPage {
                hits: Vec::new(),
                next_cursor: None,
            });
        }
        let mut ranked: Vec<(usize, IndexedChat)> = self
            .index
            .chats(key, MAX_CHATS_CONSIDERED)
            .await?
            .into_iter()
            .filter(|chat| search.kind.as_ref().is_none_or(|kind| *kind == chat.kind))
            .filter_map(|chat| chat_typos(&chat, &terms).map(|typos| (typos, chat)))
            .collect();
        ranked.sort_by(|(left_typos, left), (right_typos, right)| {
            left_typos
                .cmp(right_typos)
                .then(right.top_date.cmp(&left.top_date))
                .then(right.chat_id.cmp(&left.chat_id))
        });
        let wanted = usize::try_from(limit).unwrap_or(usize::MAX);
        let page: Vec<(usize, IndexedChat)> =
            ranked.iter().skip(offset).take(wanted).cloned().collect();
        let next_cursor = (ranked.len() > offset + wanted)
            .then(|| encode_cursor(&format!("s1:{}", offset + wanted)));
        let page_ids: Vec<i64> = page.iter().map(|(_, chat)| chat.chat_id).collect();
        let mut cached: HashMap<i64, CachedChat> = self
            .store
            .cached_chats(key, &page_ids)
            .await?
            .into_iter()
            .map(|chat| (chat.profile.chat_id, chat))
            .collect();
        let mut hits = Vec::with_capacity(page.len());
        for (typos, indexed) in page {
            // Shown from the cache; a chat the cache dropped is shown as the index knows it.
            let chat = match cached.remove(&indexed.chat_id) {
                Some(chat) => chat,
                None => CachedChat {
                    profile: ChatProfile {
                        chat_id: indexed.chat_id,
                        kind: indexed.kind.clone(),
                        title: indexed.title.clone(),
                        username: indexed.username.clone(),
                        photo: None,
                        members_count: None,
                        is_creator: false,
                        is_admin: false,
                        has_left: false,
                    },
                    dialog: None,
                    history_floor: None,
                    history_complete: false,
                },
            };
            hits.push(ChatHit {
                ranges: normalize::matched_ranges(&chat.profile.title, &terms),
                chat,
                typos,
            });
        }
        Ok(ChatPage { hits, next_cursor })
    }
}

impl SearchCore {
    /// The contacts of one account (asked of Telegram through the account's host),
    /// filtered by `query` as chats are (word prefixes after folding, a typo forgiven in
    /// names, phone digits), best matches first; every contact, by name, without a query.
    #[tracing::instrument(skip_all, fields(user_id = %search.user_id, session_index = search.session_index))]
    pub async fn search_contacts(&self, search: ContactSearch) -> Result<ContactPage, SearchError> {
        check_query_length(&search.query)?;
        let limit = page_limit(search.limit)?;
        let offset = search
            .cursor
            .as_deref()
            .map(chat_cursor)
            .transpose()?
            .unwrap_or(0);
        self.linked_account(search.user_id, search.session_index)
            .await?;
        let key = AccountKey {
            user_id: search.user_id,
            session_index: search.session_index,
        };
        let Some(telegram) = &self.telegram else {
            return Err(SearchError::TelegramUnavailable(
                "no chat service to ask for contacts".into(),
            ));
        };
        let contacts = telegram.contacts(key).await.map_err(|error| match error {
            RemoteError::FloodWait { seconds } => SearchError::TelegramFloodWait { seconds },
            RemoteError::Unavailable(cause) => SearchError::TelegramUnavailable(cause),
        })?;
        let terms = normalize::query_terms(&search.query);
        // Text that yields no words (only punctuation) finds no one; no text: everyone.
        if terms.is_empty() && !search.query.trim().is_empty() {
            return Ok(ContactPage {
                hits: Vec::new(),
                next_cursor: None,
            });
        }
        let mut ranked: Vec<(usize, String, RemoteContact)> = contacts
            .into_iter()
            .filter_map(|contact| {
                let typos = if terms.is_empty() {
                    0
                } else {
                    chat_typos(&contact_as_chat(key, &contact), &terms)?
                };
                Some((typos, contact.full_name().to_lowercase(), contact))
            })
            .collect();
        ranked.sort_by(
            |(left_typos, left_name, left), (right_typos, right_name, right)| {
                left_typos
                    .cmp(right_typos)
                    .then(left_name.cmp(right_name))
                    .then(left.user_id.cmp(&right.user_id))
            },
        );
        let wanted = usize::try_from(limit).unwrap_or(usize::MAX);
        let next_cursor = (ranked.len() > offset + wanted)
            .then(|| encode_cursor(&format!("s1:{}", offset + wanted)));
        let hits = ranked
            .into_iter()
            .skip(offset)
            .take(wanted)
            .map(|(typos, _, contact)| ContactHit {
                ranges: normalize::matched_ranges(&contact.full_name(), &terms),
                contact,
                typos,
            })
            .collect();
        Ok(ContactPage { hits, next_cursor })
    }
}

/// A contact as the chat matcher sees a private chat: their name, username and phone.
fn contact_as_chat(key: AccountKey, contact: &RemoteContact) -> IndexedChat {
    IndexedChat {
        key,
        chat_id: contact.user_id,
        kind: "private".into(),
        title: contact.full_name(),
        username: contact.username.clone(),
        phone: contact.phone.clone(),
        top_date: 0,
    }
}

/// How many typos `chat` needs to match every term (`None`: it does not match). Words
/// are the title's and the username's; a term of digits also finds the phone.
fn chat_typos(chat: &IndexedChat, terms: &[String]) -> Option<usize> {
    let mut words: Vec<String> = normalize::words(&chat.title)
        .into_iter()
        .map(|word| word.folded)
        .collect();
    words.extend(
        normalize::words(&chat.username.replace('_', " "))
            .into_iter()
            .map(|word| word.folded),
    );
    words.push(normalize::fold_word(&chat.username.replace('_', "")));
    let mut total = 0;
    for term in terms {
        let digits_only = term.chars().all(|c| c.is_ascii_digit());
        if digits_only && term.len() >= 3 && chat.phone.contains(term.as_str()) {
            continue;
        }
        let best = words
            .iter()
            .filter_map(|word| normalize::fuzzy_prefix_match(term, word))
            .min()?;
        total += best;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(title: &str, username: &str, phone: &str) -> IndexedChat {
        IndexedChat {
            key: AccountKey {
                user_id: Uuid::nil(),
                session_index: 1,
            },
            chat_id: 1,
            kind: "private".into(),
            title: title.into(),
            username: username.into(),
            phone: phone.into(),
            top_date: 0,
        }
    }

    #[test]
    fn chats_match_names_usernames_phones_and_forgive_a_typo() {
        let alice = chat("Alice Karimova", "alice_k", "998901234567");
        let terms = |q: &str| normalize::query_terms(q);
        assert_eq!(chat_typos(&alice, &terms("ali")), Some(0));
        assert_eq!(chat_typos(&alice, &terms("karimova alice")), Some(0));
        assert_eq!(chat_typos(&alice, &terms("Каримова")), Some(0));
        assert_eq!(chat_typos(&alice, &terms("alcie")), Some(1));
        assert_eq!(chat_typos(&alice, &terms("alice_k")), Some(0));
        assert_eq!(chat_typos(&alice, &terms("90123")), Some(0));
        assert_eq!(chat_typos(&alice, &terms("bobur")), None);
    }

    #[test]
    fn cursors_round_trip_and_foreign_ones_are_refused() {
        let cursor = encode_cursor("s1:100:2:-5:7");
        assert_eq!(message_cursor(&cursor).expect("decodes"), (100, 2, -5, 7));
        assert!(message_cursor("not a cursor").is_err());
        assert!(message_cursor(&encode_cursor("v1:1")).is_err());
        assert!(chat_cursor(&encode_cursor("s1:40")).is_ok());
        assert!(chat_cursor(&encode_cursor("s1:-1")).is_err());
    }

    #[test]
    fn a_cross_account_cursor_bounds_each_account_in_order() {
        let cursor = (100, 2, 10, 5);
        assert_eq!(bound_for(1, cursor), (100, i64::MAX, i32::MAX));
        assert_eq!(bound_for(2, cursor), (100, 10, 5));
        assert_eq!(bound_for(3, cursor), (100, i64::MIN, i32::MIN));
    }

    #[test]
    fn record_kinds_come_from_the_details() {
        let message = CachedMessage {
            chat_id: 1,
            message_id: 1,
            date: 0,
            edit_date: None,
            sender_id: None,
            outgoing: false,
            text: "see https://x.uz".into(),
            reply_to: None,
            views: None,
            service: None,
            details: r#"{"entities":[{"kind":"url","offset":4,"length":12}],"media":{"kind":"photo","file_name":"Hisobot.pdf"}}"#.into(),
        };
        assert_eq!(kinds_of_record(&message), kind::PHOTO | kind::LINK);
        assert_eq!(
            searchable_text_of_record(&message),
            "see https://x.uz Hisobot.pdf"
        );
    }
}
