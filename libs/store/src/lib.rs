//! TalkApp's relational store.
//!
//! One [`Store`] trait with two implementations that pass the same conformance suite
//! (`tests/it/conformance.rs`): [`postgres::PostgresStore`] for production (deadpool-postgres,
//! versioned migrations under `migrations/postgres`) and [`sqlite::SqliteStore`] for the
//! embedded default (one file, `migrations/sqlite`).
//!
//! # Layout
//! - [`model`]: the records the store keeps (users, sign-in sessions, linked Telegram
//!   accounts and logins).
//! - The traits, one per area ([`AccountStore`], [`TelegramStore`], [`ChatCacheStore`],
//!   [`SendJobStore`], [`EventIdStore`], [`PushStore`], [`ActionStore`], [`AuditStore`],
//!   [`UserAdminStore`], [`SentFileStore`]), gathered by [`Store`]; a consumer
//!   that needs one area takes that trait. Each process holds the narrow view of the areas
//!   it uses, never the whole [`Store`]: [`GatewayStore`] (accounts, audit, user admin;
//!   not the Telegram data nor the send jobs), [`ChatStore`] (everything but accounts,
//!   audit, user admin and push subscriptions), [`SearchStore`] (linked accounts and the
//!   chat cache, read only in practice), [`RealtimeStore`] (push subscriptions and cached
//!   chat names). Each includes [`StoreHealth`], the readiness probe's ping.
//! - [`postgres`], [`sqlite`]: the implementations and their migrations, one file per
//!   area.
//! - [`migrations`]: the one migration runner of each database, also used by
//!   search-service for its index's own set.
//! - [`media`]: the narrow [`MediaStore`] of uploaded files (not part of [`Store`]: the
//!   media service holds only this one, through [`connect_stores`]).
//! - [`connect`], [`connect_stores`]: pick the implementation from `database.url`.

pub mod admin;
pub mod audit;
mod cache_columns;
pub mod media;
pub mod migrations;
pub mod model;
pub mod postgres;
pub mod records;
pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use uuid::Uuid;

pub use admin::{
    ActivityCounts, ActivityDelta, ActivitySummary, MAX_USERS_PAGE, SubjectOverview,
    UserAdminStore, UserCursor, UserOverview,
};
pub use audit::{
    AuditActor, AuditEntry, AuditOutcome, AuditQuery, AuditStore, MAX_AUDIT_PAGE, NewAuditEntry,
};
pub use media::{
    MediaBlob, MediaFile, MediaKind, MediaStore, PreviewEnd, PreviewFinish, Reservation,
};
pub use model::*;
pub use records::*;

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken; the payload names it (`users.email`).
    #[error("conflict on {0}")]
    Conflict(&'static str),
    /// The database could not be reached or did not answer in time.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else; a bug or corrupted data.
    #[error("store failure: {0}")]
    Internal(String),
}

/// `Result` with [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Everything TalkApp keeps in its relational database: one object implements every
/// area's trait, so a process opens one `Arc<dyn Store>` and hands each part the narrow
/// view it uses (an upcast: `Arc<dyn Store>` coerces to any of its supertraits, the
/// processes' views [`GatewayStore`], [`ChatStore`], [`SearchStore`], [`RealtimeStore`]
/// or one area's `Arc<dyn AccountStore>`, ...). The views are supertraits here so that
/// the upcast exists; the areas are what an implementation writes.
pub trait Store:
    GatewayStore
    + ChatStore
    + SearchStore
    + RealtimeStore
    + TelegramStore
    + ChatCacheStore
    + SendJobStore
    + EventIdStore
    + PushStore
    + ActionStore
    + SentFileStore
{
}

/// The database's health, which every process's readiness probe asks ([`StoreProbe`]).
#[async_trait]
pub trait StoreHealth: Send + Sync + 'static {
    /// `postgres` or `sqlite`.
    fn backend(&self) -> &'static str;

    /// Answers when the database is reachable.
    async fn ping(&self) -> Result<()>;

    /// Gives the calling thread connections of its own, at most `max_connections`, which
    /// its later calls use (ADR 0075: the gateway's HTTP workers, each on a runtime of
    /// its own). Nothing for a store without connection tasks (SQLite).
    fn open_on_this_thread(&self, max_connections: usize) {
        let _ = max_connections;
    }
}

/// The areas the gateway uses, and nothing else: built-in accounts and their sign-in
/// sessions ([`AccountStore`]), the audit log ([`AuditStore`]), the operators' view of
/// users and their activity ([`UserAdminStore`]), the session list
/// ([`SessionListStore`], a read: ADR 0072), the chat cache's reads ([`ChatCacheReads`]:
/// the chat list and cached history pages, ADR 0073) and the database's health
/// ([`StoreHealth`]). Linking Telegram accounts, their sealed sessions, the cache's
/// writes and send jobs are the services' (the gateway reaches them over gRPC).
/// Implemented by every type that implements the parts.
pub trait GatewayStore:
    StoreHealth + AccountStore + AuditStore + UserAdminStore + SessionListStore + ChatCacheReads
{
}

impl<T> GatewayStore for T where
    T: StoreHealth
        + AccountStore
        + AuditStore
        + UserAdminStore
        + SessionListStore
        + ChatCacheReads
        + ?Sized
{
}

/// The areas the chat service uses: linked Telegram accounts and their sign-ins
/// ([`TelegramStore`]), the chat cache ([`ChatCacheStore`]), send jobs
/// ([`SendJobStore`]), event ids ([`EventIdStore`]), idempotent actions
/// ([`ActionStore`]), sent files' references ([`SentFileStore`]) and the database's
/// health. Not the built-in accounts, the audit log, the operators' views nor push
/// subscriptions (the gateway's and the realtime service's). Implemented by every type
/// that implements the parts.
pub trait ChatStore:
    StoreHealth
    + TelegramStore
    + ChatCacheStore
    + SendJobStore
    + EventIdStore
    + ActionStore
    + SentFileStore
{
}

impl<T> ChatStore for T where
    T: StoreHealth
        + TelegramStore
        + ChatCacheStore
        + SendJobStore
        + EventIdStore
        + ActionStore
        + SentFileStore
        + ?Sized
{
}

/// The areas the search service uses: which accounts are linked and hosted where
/// ([`TelegramStore`], for its rebuilds and its access checks), the chat cache it
/// indexes and shows hits from ([`ChatCacheStore`]), and the database's health.
/// Implemented by every type that implements the parts.
pub trait SearchStore: StoreHealth + TelegramStore + ChatCacheStore {}

impl<T> SearchStore for T where T: StoreHealth + TelegramStore + ChatCacheStore + ?Sized {}

/// The areas the realtime service uses: Web Push subscriptions ([`PushStore`]), the
/// cached chat a notification names ([`ChatCacheStore`]), and the database's health.
/// Implemented by every type that implements the parts.
pub trait RealtimeStore: StoreHealth + PushStore + ChatCacheStore {}

impl<T> RealtimeStore for T where T: StoreHealth + PushStore + ChatCacheStore + ?Sized {}

/// Built-in TalkApp accounts, their sign-in sessions and refresh tokens.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Adds a built-in account; [`StoreError::Conflict`]`("users.email")` when the
    /// normalised email is taken.
    async fn create_user(&self, new_user: &NewUser) -> Result<User>;

    /// The account and its password hash, by normalised email.
    async fn user_credentials_by_email(
        &self,
        email_normalized: &str,
    ) -> Result<Option<UserCredentials>>;

    /// The account by id.
    async fn user_by_id(&self, user_id: Uuid) -> Result<Option<User>>;

    /// Records a successful sign-in.
    async fn record_sign_in(&self, user_id: Uuid, at: DateTime<Utc>) -> Result<()>;

    /// Starts a sign-in session whose first refresh token has `refresh_token_hash`.
    async fn create_auth_session(
        &self,
        session: &AuthSession,
        refresh_token_hash: &[u8],
    ) -> Result<()>;

    /// A sign-in session by id.
    async fn auth_session(&self, session_id: Uuid) -> Result<Option<AuthSession>>;

    /// Marks a sign-in session as used at `at` (inactivity is measured from here).
    async fn touch_auth_session(&self, session_id: Uuid, at: DateTime<Utc>) -> Result<()>;

    /// Ends a sign-in session and with it every refresh token of its family.
    async fn revoke_auth_session(
        &self,
        session_id: Uuid,
        at: DateTime<Utc>,
        reason: &str,
    ) -> Result<()>;

    /// Spends the refresh token with `presented_hash` and adds `next_hash` to its family,
    /// atomically. A token spent before revokes its whole family ([`RefreshOutcome::Reused`]).
    async fn rotate_refresh_token(
        &self,
        presented_hash: &[u8],
        next_hash: &[u8],
        at: DateTime<Utc>,
    ) -> Result<RefreshOutcome>;
}

/// The list of a user's linked accounts as the session list shows them: read by the
/// gateway itself, in both modes (ADR 0072). Apart from [`TelegramStore`] so that the
/// gateway, which never holds an account's sealed session, reads only this.
#[async_trait]
pub trait SessionListStore: Send + Sync {
    /// The user's linked Telegram accounts by `session_index`
    /// ([`TelegramStore::linked_accounts_of`]), each with its own Telegram user as its
    /// chat cache holds it ([`ChatCacheStore::cached_users`] of its `telegram_user_id`),
    /// in one read.
    async fn linked_accounts_with_own_users(
        &self,
        user_id: Uuid,
    ) -> Result<Vec<ListedLinkedAccount>>;
}

/// Linked Telegram accounts and the logins that link them.
#[async_trait]
pub trait TelegramStore: Send + Sync {
    /// Records a newly linked Telegram account under the next never-used
    /// `session_index` of the user (1, 2, 3, ...; a freed index is not reused), with its
    /// sealed grammers session. [`StoreError::Conflict`]`("telegram_sessions.phone")` when
    /// the user has linked this phone already.
    async fn link_telegram_account(
        &self,
        user_id: Uuid,
        account: &TelegramAccount,
        status: LinkStatus,
        sealed_session: &[u8],
        at: DateTime<Utc>,
    ) -> Result<LinkedAccount>;

    /// The user's linked Telegram accounts, by `session_index`.
    async fn linked_accounts_of(&self, user_id: Uuid) -> Result<Vec<LinkedAccount>>;

    /// One linked account with its sealed MTProto session.
    async fn hosted_account(
        &self,
        user_id: Uuid,
        session_index: u32,
    ) -> Result<Option<HostedAccount>>;

    /// Every linked account of the given shards, for the replica that hosts them.
    async fn hosted_accounts_of(&self, shards: &[u16]) -> Result<Vec<HostedAccount>>;

    /// Replaces the sealed session (the grammers state moves: peers, update state);
    /// `None` erases it (Telegram ended the authorisation). False when no such linked account.
    async fn save_sealed_session(
        &self,
        user_id: Uuid,
        session_index: u32,
        sealed_session: Option<&[u8]>,
    ) -> Result<bool>;

    /// Records the connection state shown to the user. False when no such linked account.
    async fn set_link_status(
        &self,
        user_id: Uuid,
        session_index: u32,
        status: LinkStatus,
        at: DateTime<Utc>,
    ) -> Result<bool>;

    /// Records that the account's Telegram link was found silent at `at` and replaced.
    /// False when no such linked account.
    async fn note_link_stalled(
        &self,
        user_id: Uuid,
        session_index: u32,
        at: DateTime<Utc>,
    ) -> Result<bool>;

    /// Records the account's names as Telegram now has them (its profile changed).
    /// False when no such linked account.
    async fn set_account_names(
        &self,
        user_id: Uuid,
        session_index: u32,
        first_name: &str,
        last_name: &str,
        username: &str,
    ) -> Result<bool>;

    /// Forgets a linked account and its keys; its index is never given out again.
    /// False when no such linked account.
    async fn unlink_telegram_account(&self, user_id: Uuid, session_index: u32) -> Result<bool>;

    /// Stores a new pending login.
    async fn create_telegram_login(&self, login: &TelegramLogin) -> Result<()>;

    /// A pending login by id.
    async fn telegram_login(&self, login_id: Uuid) -> Result<Option<TelegramLogin>>;

    /// The user's newest pending login of `phone` (digits only), for clients that name
    /// a login by its phone instead of its id (the TorexTalkWeb compatibility routes).
    async fn latest_telegram_login_by_phone(
        &self,
        user_id: Uuid,
        phone: &str,
    ) -> Result<Option<TelegramLogin>>;

    /// Counts one more try of a pending login and returns the new count; `None` when the
    /// login is gone. Atomic, so concurrent tries cannot exceed the limit unnoticed.
    async fn record_login_attempt(&self, login_id: Uuid) -> Result<Option<u32>>;

    /// Moves a pending login to `state` with the session the last step left.
    async fn advance_telegram_login(
        &self,
        login_id: Uuid,
        state: LoginState,
        sealed_session: &[u8],
    ) -> Result<()>;

    /// Forgets a pending login.
    async fn delete_telegram_login(&self, login_id: Uuid) -> Result<()>;

    /// Forgets every pending login that expired before `now`; returns how many.
    async fn delete_expired_telegram_logins(&self, now: DateTime<Utc>) -> Result<u64>;
}

/// What each linked account sent to Telegram already: per SHA-256 of a file's bytes and
/// the kind it went as (`photo`, `document`, ...), the serialized `InputMedia` Telegram
/// gave back, so the file goes again by reference after a restart. Bounded per account
/// (the oldest remembered are dropped); unlinking the account forgets its files. Not
/// secret: a file's id, access hash and file reference, no keys.
#[async_trait]
pub trait SentFileStore: Send + Sync {
    /// The reference remembered for a file, if any.
    async fn recall_sent_file(
        &self,
        key: AccountKey,
        sha256: &str,
        kind: &str,
    ) -> Result<Option<Vec<u8>>>;

    /// Remembers (or replaces) a file's reference as the account's newest, then drops the
    /// account's oldest beyond `keep`. Nothing is kept for an account that is not linked.
    async fn remember_sent_file(
        &self,
        key: AccountKey,
        sha256: &str,
        kind: &str,
        media: &[u8],
        keep: u32,
    ) -> Result<()>;

    /// Forgets a file's reference (Telegram refused it).
    async fn forget_sent_file(&self, key: AccountKey, sha256: &str, kind: &str) -> Result<()>;
}

/// Each linked account's event ids (the realtime log's order), strictly increasing across
/// restarts and replicas.
#[async_trait]
pub trait EventIdStore: Send + Sync {
    /// Allocates `count` event ids of a linked account, strictly above every id given
    /// before; returns the first (the others follow it). `None` when no such account.
    async fn next_event_ids(&self, key: AccountKey, count: u32) -> Result<Option<i64>>;
}

/// Idempotency keys of the actions that change Telegram state other than sends
/// (creating a group, adding a member): the first request with a key does the action,
/// a retry gets its result instead of doing it again.
#[async_trait]
pub trait ActionStore: Send + Sync {
    /// Takes the key for this request, or says who has it or what it gave. A claim
    /// older than `claim.stale_after` that was never finished is taken over.
    async fn claim_action(&self, claim: &ActionClaim) -> Result<ActionClaimed>;

    /// Records the result of a claimed action; retries get it from now on.
    async fn finish_action(
        &self,
        key: AccountKey,
        idempotency_key: &str,
        result: &str,
    ) -> Result<()>;

    /// Gives up an unfinished claim (the action failed): a retry does it again.
    async fn release_action(&self, key: AccountKey, idempotency_key: &str) -> Result<()>;
}

/// Web Push subscriptions of TalkApp users (their browsers).
#[async_trait]
pub trait PushStore: Send + Sync {
    /// Adds (or refreshes the keys of) a subscription.
    async fn add_push_subscription(&self, subscription: &PushSubscription) -> Result<()>;

    /// Removes a subscription; false when there was none.
    async fn remove_push_subscription(&self, user_id: Uuid, endpoint: &str) -> Result<bool>;

    /// The user's subscriptions.
    async fn push_subscriptions(&self, user_id: Uuid) -> Result<Vec<PushSubscription>>;
}

/// The cache of each linked account's chats, messages and users, kept fresh from
/// Telegram's updates and backfills: its writes here, its reads in [`ChatCacheReads`].
#[async_trait]
pub trait ChatCacheStore: ChatCacheReads + Send + Sync {
    /// Records what is known of chats (from a reply or update that mentions them),
    /// leaving their list state and history bounds as they are.
    async fn upsert_chat_profiles(&self, key: AccountKey, chats: &[ChatProfile]) -> Result<()>;

    /// Records chats as they stand in the account's list (a backfill or refresh).
    async fn upsert_dialogs(
        &self,
        key: AccountKey,
        dialogs: &[(ChatProfile, DialogState)],
    ) -> Result<()>;

    /// Records users.
    async fn upsert_users(&self, key: AccountKey, users: &[CachedUser]) -> Result<()>;

    /// Stores messages as they are now (new or edited). A message newer than its chat's
    /// newest becomes the newest, and the chat enters the list. With `from_updates` (they
    /// came as new-message updates), an incoming message not stored before and above the
    /// read mark counts as unread, and the chat's history floor comes down to each
    /// message as [`ChatCacheStore::set_history_floor`] would (`complete` false: updates
    /// arrive without gaps, so the cache is contiguous from there up), in the same
    /// statement. Returns how many were not stored before.
    async fn upsert_messages(
        &self,
        key: AccountKey,
        messages: &[CachedMessage],
        from_updates: bool,
    ) -> Result<u64>;

    /// Forgets messages. With `chat_id`, in that chat; without, wherever they are (ids
    /// of private chats and basic groups are unique per account). Returns the chats
    /// they were in.
    async fn delete_messages(
        &self,
        key: AccountKey,
        chat_id: Option<i64>,
        message_ids: &[i32],
    ) -> Result<Vec<i64>>;

    /// The account read incoming messages up to `max_id`; `still_unread` remain.
    async fn set_read_inbox(
        &self,
        key: AccountKey,
        chat_id: i64,
        max_id: i32,
        still_unread: i32,
    ) -> Result<()>;

    /// The peer read the account's messages up to `max_id`.
    async fn set_read_outbox(&self, key: AccountKey, chat_id: i64, max_id: i32) -> Result<()>;

    /// Moves a chat's cached-history bounds: every message at or above `floor` is cached;
    /// `complete` when nothing older exists.
    async fn set_history_floor(
        &self,
        key: AccountKey,
        chat_id: i64,
        floor: i32,
        complete: bool,
    ) -> Result<()>;

    /// Forgets everything cached for the account (it was unlinked).
    async fn clear_cache(&self, key: AccountKey) -> Result<()>;
}

/// Reads of the chat cache, apart from its writes ([`ChatCacheStore`]) so that the
/// gateway, which serves the chat list and cached history pages itself (ADR 0073), reads
/// the cache and never writes it.
#[async_trait]
pub trait ChatCacheReads: Send + Sync {
    /// A page of the account's chat list, newest activity first (pinned chats are not
    /// put first: the list is ordered by activity so that the cursor is stable). Chats
    /// the account left are not listed (they stay readable by id).
    async fn list_chats(&self, key: AccountKey, query: &ChatListQuery) -> Result<Vec<CachedChat>>;

    /// The page [`Self::list_chats`] gives, with each chat's newest message and the users
    /// the page shows, in one read (a chat list is the most frequent read).
    async fn chat_list_page(&self, key: AccountKey, query: &ChatListQuery) -> Result<ChatListPage>;

    /// One chat.
    async fn cached_chat(&self, key: AccountKey, chat_id: i64) -> Result<Option<CachedChat>>;

    /// Some chats by id (those cached), in one read.
    async fn cached_chats(&self, key: AccountKey, chat_ids: &[i64]) -> Result<Vec<CachedChat>>;

    /// Messages of a chat, newest first.
    async fn cached_messages(
        &self,
        key: AccountKey,
        chat_id: i64,
        query: &HistoryQuery,
    ) -> Result<Vec<CachedMessage>>;

    /// A page of a chat's history with what it shows, in one read (a history page is
    /// the second most frequent read): the chat as [`Self::cached_chat`] gives it, the
    /// messages [`Self::cached_messages`] gives for `query`, and the cached users among
    /// their senders. `None` when the chat is not cached.
    async fn history_page(
        &self,
        key: AccountKey,
        chat_id: i64,
        query: &HistoryQuery,
    ) -> Result<Option<CachedHistory>>;

    /// Messages by chat and id, across chats (the newest message of each listed chat).
    async fn cached_messages_at(
        &self,
        key: AccountKey,
        chat_messages: &[(i64, i32)],
    ) -> Result<Vec<CachedMessage>>;

    /// Some messages of a chat by id (those cached).
    async fn cached_messages_by_id(
        &self,
        key: AccountKey,
        chat_id: i64,
        message_ids: &[i32],
    ) -> Result<Vec<CachedMessage>>;

    /// Users by id (those cached).
    async fn cached_users(&self, key: AccountKey, tg_user_ids: &[i64]) -> Result<Vec<CachedUser>>;

    /// A page of every cached message of the account, across its chats, in (chat, id)
    /// order after `after` (a rebuild of the search index reads the cache this way).
    async fn cached_messages_page(
        &self,
        key: AccountKey,
        after: Option<(i64, i32)>,
        limit: u32,
    ) -> Result<Vec<CachedMessage>>;
}

/// Send jobs: what users asked to send, in order per account, and where each stands.
#[async_trait]
pub trait SendJobStore: Send + Sync {
    /// Records a job; when its idempotency key was used before, returns that job instead.
    async fn create_send_job(&self, job: &NewSendJob) -> Result<JobCreated>;

    /// [`SendJobStore::create_send_job`] for a job whose chat must be one the account's
    /// cache knows, checked in the same statement as the insert; `None` when the cache
    /// lacks the chat (unless the idempotency key was used before: its first job answers).
    async fn create_send_job_in_known_chat(&self, job: &NewSendJob) -> Result<Option<JobCreated>>;

    /// One job of the account.
    async fn send_job(&self, key: AccountKey, job_id: Uuid) -> Result<Option<SendJob>>;

    /// Records that the relay's announcement of the job was confirmed by the bus, while
    /// the job is still to send (a final one is left alone: the relay never looks at it).
    /// The announcement made when the job is accepted is not recorded (ADR 0039).
    async fn mark_job_published(&self, job_id: Uuid, at: DateTime<Utc>) -> Result<()>;

    /// The account's jobs still to send (queued or sending), oldest first.
    async fn pending_jobs(&self, key: AccountKey, limit: u32) -> Result<Vec<SendJob>>;

    /// Jobs still to send (queued or sending) and not marked published, created before
    /// `before`, of the given shards, oldest first.
    async fn unpublished_jobs(
        &self,
        shards: &[u16],
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<SendJob>>;

    /// Accounts of the given shards with a job still to send (queued or sending) that
    /// was created before `before`, at most `limit` of them: what the shard's queue
    /// should have brought already.
    async fn accounts_with_waiting_jobs(
        &self,
        shards: &[u16],
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<AccountKey>>;

    /// Takes a job for a try: queued or sending becomes sending with one more attempt.
    /// `None` when the job is already final.
    async fn claim_job(&self, job_id: Uuid, at: DateTime<Utc>) -> Result<Option<SendJob>>;

    /// [`SendJobStore::claim_job`], only when the job is its account's oldest still to send
    /// (queued or sending): one statement for what a worker woken by the job's announcement
    /// would otherwise ask in two (its pending jobs, then the claim). `None` when the job is
    /// final, not the account's, or an older job waits; the caller then reads the pending
    /// jobs.
    async fn claim_job_in_order(
        &self,
        key: AccountKey,
        job_id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<Option<SendJob>>;

    /// Back to queued after a failed try that will be retried.
    async fn requeue_job(&self, job_id: Uuid, at: DateTime<Utc>) -> Result<()>;

    /// Telegram accepted it. Returns the job as it is now, `None` when it was final
    /// already (and so left alone).
    async fn complete_job(
        &self,
        job_id: Uuid,
        message_id: i32,
        sent_date: i64,
        at: DateTime<Utc>,
    ) -> Result<Option<SendJob>>;

    /// It will not be sent, for `reason`. Returns the job as it is now, `None` when it was
    /// final already (and so left alone).
    async fn fail_job(
        &self,
        job_id: Uuid,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<SendJob>>;

    /// Sent jobs in a chat up to `max_id` were read by the peer; returns them.
    async fn mark_jobs_read(
        &self,
        key: AccountKey,
        chat_id: i64,
        max_id: i32,
        at: DateTime<Utc>,
    ) -> Result<Vec<SendJob>>;
}

/// Opens the store named by `database.url` and brings its schema up to date. While the
/// database is unreachable it keeps trying, with back-off, for `database.startup_timeout_ms`
/// (processes of a deployment may start before their database).
pub async fn connect(config: &talkapp_common::config::DatabaseConfig) -> Result<Arc<dyn Store>> {
    Ok(connect_stores(config).await?.store)
}

/// Calls `open` until it gives anything but an error `unreachable` says to wait out (the
/// database is not up yet), or until `patience` has passed; between calls it waits, from
/// 100 ms doubling to 2 s. Every process opening the database at start waits this way
/// (the store, search-service's index).
pub async fn retry_while_unreachable<T, E, F, Fut>(
    patience: std::time::Duration,
    unreachable: impl Fn(&E) -> bool,
    mut open: F,
) -> std::result::Result<T, E>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, E>>,
{
    let deadline = std::time::Instant::now() + patience;
    let mut pause = std::time::Duration::from_millis(100);
    loop {
        match open().await {
            Err(error) if unreachable(&error) && std::time::Instant::now() < deadline => {
                tracing::warn!(%error, retry_in_ms = pause.as_millis() as u64, "database not reachable yet");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_secs(2));
            }
            result => return result,
        }
    }
}

/// One database seen through the traits a process needs: the whole [`Store`], and the
/// narrow [`MediaStore`] the media service holds (the same connections).
#[derive(Clone)]
pub struct Stores {
    /// Every area.
    pub store: Arc<dyn Store>,
    /// Uploaded files only.
    pub media: Arc<dyn MediaStore>,
}

/// Like [`connect`], giving both views of the one store.
pub async fn connect_stores(config: &talkapp_common::config::DatabaseConfig) -> Result<Stores> {
    retry_while_unreachable(
        std::time::Duration::from_millis(config.startup_timeout_ms),
        |error| matches!(error, StoreError::Unavailable(_)),
        || open_stores(config),
    )
    .await
}

async fn open_stores(config: &talkapp_common::config::DatabaseConfig) -> Result<Stores> {
    let url = config.url.expose_secret();
    if let Some(path) = url.strip_prefix("sqlite://") {
        let store = Arc::new(sqlite::SqliteStore::open(std::path::Path::new(path)).await?);
        Ok(Stores {
            store: Arc::clone(&store) as Arc<dyn Store>,
            media: store,
        })
    } else {
        let store = Arc::new(
            postgres::PostgresStore::connect(
                url,
                config.max_connections,
                std::time::Duration::from_millis(config.connect_timeout_ms),
            )
            .await?,
        );
        Ok(Stores {
            store: Arc::clone(&store) as Arc<dyn Store>,
            media: store,
        })
    }
}

/// The current time at the precision both databases keep (microseconds), so that what is
/// written compares equal to what is read back.
pub fn now() -> DateTime<Utc> {
    use chrono::DurationRound;
    let now = Utc::now();
    now.duration_trunc(chrono::TimeDelta::microseconds(1))
        .unwrap_or(now)
}

/// The media store as a readiness probe.
pub struct MediaStoreProbe(pub Arc<dyn MediaStore>);

#[async_trait]
impl talkapp_common::probe::Probe for MediaStoreProbe {
    fn name(&self) -> &'static str {
        "database"
    }

    async fn check(&self) -> std::result::Result<(), String> {
        self.0.ping_media().await.map_err(|error| error.to_string())
    }
}

/// The store as a readiness probe, over whichever view a process holds (its
/// `Arc<dyn GatewayStore>`, `Arc<dyn ChatStore>`, ...).
pub struct StoreProbe<S: StoreHealth + ?Sized>(pub Arc<S>);

#[async_trait]
impl<S: StoreHealth + ?Sized> talkapp_common::probe::Probe for StoreProbe<S> {
    fn name(&self) -> &'static str {
        "database"
    }

    async fn check(&self) -> std::result::Result<(), String> {
        self.0.ping().await.map_err(|error| error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    use super::{StoreError, retry_while_unreachable};

    fn unreachable(error: &StoreError) -> bool {
        matches!(error, StoreError::Unavailable(_))
    }

    #[tokio::test]
    async fn an_unreachable_database_is_tried_again_until_it_answers() {
        let calls = AtomicU32::new(0);
        let opened = retry_while_unreachable(Duration::from_secs(10), unreachable, || async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 | 1 => Err(StoreError::Unavailable("starting".into())),
                call => Ok(call),
            }
        })
        .await;
        assert_eq!(opened.expect("opened on the third call"), 2);
    }

    #[tokio::test]
    async fn an_error_that_waiting_does_not_mend_is_returned_at_once() {
        let calls = AtomicU32::new(0);
        let opened: Result<(), _> =
            retry_while_unreachable(Duration::from_secs(10), unreachable, || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(StoreError::Internal("bad url".into()))
            })
            .await;
        assert!(matches!(opened, Err(StoreError::Internal(_))));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_unreachable_database_is_given_up_on_after_the_patience() {
        let calls = AtomicU32::new(0);
        let started = std::time::Instant::now();
        let opened: Result<(), _> =
            retry_while_unreachable(Duration::from_millis(250), unreachable, || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(StoreError::Unavailable("down".into()))
            })
            .await;
        let waited = started.elapsed();
        assert!(matches!(opened, Err(StoreError::Unavailable(_))));
        // Tried again within the patience, given up once it was spent (at 0, 100 and
        // 300 ms on an idle machine).
        assert!(calls.load(Ordering::SeqCst) >= 2);
        assert!(
            waited >= Duration::from_millis(250),
            "gave up after {waited:?}"
        );
        assert!(
            waited < Duration::from_secs(5),
            "kept trying for {waited:?}"
        );
    }
}
