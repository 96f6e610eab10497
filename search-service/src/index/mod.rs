//! The search index: what it keeps, and the [`SearchIndex`] contract its backends meet.
//!
//! The index keeps, per linked account, the searchable side of each cached message (its
//! folded terms, date, sender, chat and kinds) and of each chat (title, username, the other
//! person's name and phone). It does not keep what is shown: hits are shown from the chat
//! cache, so they are always as current as the history route, and a message the cache no
//! longer has is not shown.
//!
//! Terms are folded in Rust ([`crate::normalize`]) and stored prefixed with the
//! account's scope ([`scoped_term`]), so a backend's full-text structure answers "this
//! account's messages with a word starting so" from one posting range instead of
//! filtering every account's matches. The scope is a speed-up only: every query also
//! filters on the account's columns, so a scope collision can never show another
//! account's message.
//!
//! Messages come in three ways: the events ([`SearchIndex::apply`]), a build from the
//! cache, and what Telegram's own search found and the account's host stored in the cache
//! ([`SearchIndex::add_found`], ADR 0035). Every one is a message the cache holds, so the
//! index is bounded as the cache is: a message leaves it when it is deleted (its
//! tombstone, a few dozen bytes, for [`TOMBSTONE_RETENTION`] more), and an account's
//! whole index when the account is unlinked.
//!
//! Two backends pass one conformance suite (`tests/it/index_conformance.rs`):
//! [`sqlite::SqliteIndex`] (FTS5, the embedded default, its own file under the data
//! directory) and [`postgres::PostgresIndex`] (a GIN-indexed `tsvector` of the same terms,
//! split mode, in the main database under its own migration table).
//!
//! # Layout
//! - [`SearchIndex`], [`IndexChange`], [`IndexedMessage`], [`IndexedChat`],
//!   [`MessageQuery`], [`MessageRef`]: the contract; [`IndexChange`] also says how an
//!   account's events are kept in event-id order (ADR 0047).
//! - [`sqlite`], [`postgres`]: the backends.
//! - [`open`]: the backend `database.url` implies.

pub mod postgres;
pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use talkapp_store::AccountKey;

/// Why an index call failed.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The database could not be reached; try again later.
    #[error("search index unavailable: {0}")]
    Unavailable(String),
    /// Anything else (a bug or corrupted data).
    #[error("search index failure: {0}")]
    Internal(String),
}

/// `Result` with [`IndexError`].
pub type Result<T, E = IndexError> = std::result::Result<T, E>;

/// Kinds of message, as a set of bits (a captioned photo with a link is both).
pub mod kind {
    /// Text (no media, or only a link preview).
    pub const TEXT: i32 = 1;
    /// A photo.
    pub const PHOTO: i32 = 2;
    /// A video, round video or animation.
    pub const VIDEO: i32 = 4;
    /// A file (document or audio).
    pub const DOCUMENT: i32 = 8;
    /// A voice message.
    pub const VOICE: i32 = 16;
    /// Carries a link (a URL in the text, a text link, or a link preview).
    pub const LINK: i32 = 32;

    /// The bit of a `kind` filter value (`text`, `photo`, `video`, `document`, `voice`,
    /// `link`).
    pub fn parse(name: &str) -> Option<i32> {
        Some(match name {
            "text" => TEXT,
            "photo" => PHOTO,
            "video" => VIDEO,
            "document" => DOCUMENT,
            "voice" => VOICE,
            "link" => LINK,
            _ => return None,
        })
    }

    /// The kinds of a message with this text, media kind (Telegram's names: `photo`,
    /// `video`, `voice`, `document`, `web_page`, ...) and entity kinds.
    pub fn of_message<'a>(
        text: &str,
        media_kind: Option<&str>,
        entity_kinds: impl IntoIterator<Item = &'a str>,
    ) -> i32 {
        let mut kinds = match media_kind {
            None => 0,
            Some("photo") => PHOTO,
            Some("video" | "video_note" | "animation") => VIDEO,
            Some("document" | "audio") => DOCUMENT,
            Some("voice") => VOICE,
            Some("web_page") => LINK,
            Some(_) => 0,
        };
        if !text.trim().is_empty() && matches!(media_kind, None | Some("web_page")) {
            kinds |= TEXT;
        }
        if entity_kinds
            .into_iter()
            .any(|entity| matches!(entity, "url" | "text_url"))
        {
            kinds |= LINK;
        }
        kinds
    }
}

/// The searchable side of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedMessage {
    /// Whose.
    pub key: AccountKey,
    /// The chat.
    pub chat_id: i64,
    /// The message.
    pub message_id: i32,
    /// Sent at (Unix seconds).
    pub date: i64,
    /// Sender (user or chat id).
    pub sender_id: Option<i64>,
    /// [`kind`] bits.
    pub kinds: i32,
    /// Folded terms ([`crate::normalize::terms`]), unscoped.
    pub terms: Vec<String>,
}

/// The searchable side of one chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedChat {
    /// Whose.
    pub key: AccountKey,
    /// The chat.
    pub chat_id: i64,
    /// `private`, `group`, `supergroup` or `channel`.
    pub kind: String,
    /// Title (the other person's name for private chats).
    pub title: String,
    /// Public username.
    pub username: String,
    /// The other person's phone (private chats), digits; may be empty.
    pub phone: String,
    /// Its newest activity (Unix seconds; 0 when unknown), to rank equal matches.
    pub top_date: i64,
}

/// The id of the event a change comes from: strictly increasing per account, across the
/// account's hosts (`EventIdStore::next_event_ids`, one counter row per account). `None`: a
/// change from no event (a build from the cache, a found message taken out again).
pub type EventId = Option<i64>;

/// One change to the index, applied in order with the others of its batch.
///
/// Changes carrying an event id are applied in event-id order whatever order they come
/// in (ADR 0047): a row keeps the id of the event that last wrote it, and an upsert with
/// an id at or below it is skipped as stale. A deletion with an event id is final
/// (Telegram never reuses a message id): it leaves a tombstone that blocks every later
/// upsert of that message, events, builds and found copies alike, until the sweep
/// ([`SearchIndex::sweep_tombstones`]). A change without an event id never overwrites a
/// row an event wrote, and its deletion leaves no tombstone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexChange {
    /// A message is new or was edited.
    UpsertMessage {
        /// Its searchable side.
        message: IndexedMessage,
        /// The event that told it.
        event_id: EventId,
    },
    /// Messages were deleted: in `chat_id`, or (without it) in the account's private
    /// chats and basic groups, whose message ids are unique per account.
    DeleteMessages {
        /// Whose.
        key: AccountKey,
        /// Where, when Telegram said.
        chat_id: Option<i64>,
        /// Which.
        message_ids: Vec<i32>,
        /// The event that told it.
        event_id: EventId,
    },
    /// A chat is new or changed.
    UpsertChat {
        /// Its searchable side.
        chat: IndexedChat,
        /// The event that told it.
        event_id: EventId,
    },
}

/// What [`SearchIndex::apply`] did besides applying.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    /// Upserts with an event id skipped: the row holds a newer event's write, or the
    /// message was deleted.
    pub skipped_stale: u64,
}

/// Chat ids above this are private chats and basic groups, whose message ids are unique
/// per account (a deletion may come without its chat); channels and supergroups are
/// `-100…` ids below it.
pub const ACCOUNT_WIDE_IDS_ABOVE: i64 = -1_000_000_000_000;

/// A tombstone's chat when the deletion came without one (no Telegram chat id is 0).
pub const ANY_ACCOUNT_WIDE_CHAT: i64 = 0;

/// How long a tombstone is kept at least: far longer than a publisher's replay window
/// (30 s by default, ADR 0045), so a consumer held up between a deletion and an older
/// upsert told again (the index unavailable, search-service restarted) still meets it.
/// [`tombstone_retention`] makes it longer for a longer window.
pub const TOMBSTONE_RETENTION: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// How long tombstones are kept with a publisher replay window of `replay_window`: at
/// least [`TOMBSTONE_RETENTION`], and twice the window.
pub fn tombstone_retention(replay_window: std::time::Duration) -> std::time::Duration {
    TOMBSTONE_RETENTION.max(replay_window.saturating_mul(2))
}

/// A message search in one account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageQuery {
    /// Every term must start one of the message's words; empty: no text condition.
    pub terms: Vec<String>,
    /// Only this chat.
    pub chat_id: Option<i64>,
    /// Sent at or after (Unix seconds).
    pub from_date: Option<i64>,
    /// Sent at or before (Unix seconds).
    pub to_date: Option<i64>,
    /// Only from this sender.
    pub sender_id: Option<i64>,
    /// Only messages with one of these [`kind`] bits.
    pub kinds: Option<i32>,
    /// Only messages ordered after this one (date, chat, message) in newest-first order.
    pub before: Option<(i64, i64, i32)>,
    /// At most this many.
    pub limit: u32,
}

/// A message the index found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageRef {
    /// The chat.
    pub chat_id: i64,
    /// The message.
    pub message_id: i32,
    /// Sent at (Unix seconds).
    pub date: i64,
}

/// The search index.
#[async_trait]
pub trait SearchIndex: Send + Sync + 'static {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    /// Applies `changes` in order, all or none, each only if it is newer than what its
    /// row holds ([`IndexChange`]); one transaction, no round trip per skipped change.
    async fn apply(&self, changes: &[IndexChange]) -> Result<Applied>;

    /// Indexes messages found outside the events (Telegram's own search stored them in
    /// the cache, which publishes no event) that the index does not hold yet, all or
    /// none; returns those added, as (chat id, message id). A message already indexed is
    /// left as it is: the events keep it current, and a found copy may be older than its
    /// last edit; a message deleted (a tombstone) is not added either. Only accounts the index has built ([`SearchIndex::mark_built`]) take
    /// them: one not built yet reads them from the cache when it is, and one forgotten
    /// (unlinked) does not come back through a search that was under way.
    async fn add_found(&self, messages: &[IndexedMessage]) -> Result<Vec<(i64, i32)>>;

    /// An account's messages matching `query`, newest first (date, then chat and message
    /// id, descending).
    async fn search_messages(
        &self,
        key: AccountKey,
        query: &MessageQuery,
    ) -> Result<Vec<MessageRef>>;

    /// An account's chats (at most `limit`, most recent activity first), for name
    /// matching.
    async fn chats(&self, key: AccountKey, limit: u32) -> Result<Vec<IndexedChat>>;

    /// Forgets everything indexed for the account (before a rebuild, or once unlinked),
    /// except its tombstones: through a rebuild they keep blocking an older upsert told
    /// again, and the sweep removes them (an unlinked account's key is never used again).
    async fn forget_account(&self, key: AccountKey) -> Result<()>;

    /// Removes the tombstones of deletions applied before `deleted_before` (Unix
    /// seconds); returns how many.
    async fn sweep_tombstones(&self, deleted_before: i64) -> Result<u64>;

    /// Records that the account's index was built from the cache.
    async fn mark_built(&self, key: AccountKey) -> Result<()>;

    /// The accounts whose index was built from the cache.
    async fn built_accounts(&self) -> Result<Vec<AccountKey>>;

    /// Messages indexed for the account (tombstones are not messages).
    async fn message_count(&self, key: AccountKey) -> Result<u64>;

    /// Bytes the index takes on disk (its tables and indexes), where the backend can tell.
    async fn size_on_disk(&self) -> Result<u64>;
}

/// The account's scope prefix: 8 hex digits of a stable hash of the account, so terms of
/// different accounts occupy different ranges of the full-text structure.
pub fn scope_of(key: AccountKey) -> String {
    // FNV-1a: stable across processes and Rust versions.
    let mut hash: u32 = 0x811c_9dc5;
    for byte in key
        .user_id
        .as_bytes()
        .iter()
        .chain(key.session_index.to_be_bytes().iter())
    {
        hash ^= u32::from(*byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    format!("{hash:08x}")
}

/// A folded term as stored for the account.
pub fn scoped_term(scope: &str, term: &str) -> String {
    format!("{scope}{term}")
}

/// The index `database.url` implies: PostgreSQL beside the store, or an SQLite file
/// `search.sqlite` in the data directory.
pub async fn open(config: &talkapp_common::config::Config) -> anyhow::Result<Arc<dyn SearchIndex>> {
    use secrecy::ExposeSecret as _;
    let url = config.database.url.expose_secret();
    if url.starts_with("sqlite://") {
        let path = config.data.dir.join("search.sqlite");
        Ok(Arc::new(sqlite::SqliteIndex::open(&path).await?))
    } else {
        Ok(Arc::new(
            postgres::PostgresIndex::connect(
                url,
                config.database.max_connections,
                std::time::Duration::from_millis(config.database.connect_timeout_ms),
                std::time::Duration::from_millis(config.database.startup_timeout_ms),
            )
            .await?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_media_and_links() {
        assert_eq!(kind::of_message("hi", None, []), kind::TEXT);
        assert_eq!(kind::of_message("", Some("photo"), []), kind::PHOTO);
        assert_eq!(
            kind::of_message("see x.uz", Some("photo"), ["url"]),
            kind::PHOTO | kind::LINK
        );
        assert_eq!(
            kind::of_message("x.uz", Some("web_page"), ["url"]),
            kind::TEXT | kind::LINK
        );
        assert_eq!(kind::of_message("", Some("voice"), []), kind::VOICE);
        assert_eq!(kind::of_message("", Some("sticker"), []), 0);
        assert_eq!(kind::parse("link"), Some(kind::LINK));
        assert_eq!(kind::parse("sticker"), None);
    }

    #[test]
    fn tombstones_outlive_any_replay_window_by_far() {
        let window = |seconds| std::time::Duration::from_secs(seconds);
        assert_eq!(tombstone_retention(window(30)), TOMBSTONE_RETENTION);
        assert_eq!(tombstone_retention(window(0)), TOMBSTONE_RETENTION);
        assert_eq!(
            tombstone_retention(window(20 * 3600)),
            window(40 * 3600),
            "a window configured longer: twice it"
        );
    }

    #[test]
    fn scopes_differ_between_accounts_and_are_stable() {
        let user = uuid::Uuid::from_u128(7);
        let one = AccountKey {
            user_id: user,
            session_index: 1,
        };
        let two = AccountKey {
            user_id: user,
            session_index: 2,
        };
        assert_eq!(scope_of(one), scope_of(one));
        assert_ne!(scope_of(one), scope_of(two));
        assert_eq!(scope_of(one).len(), 8);
    }
}
