//! TalkApp's relational store.
//!
//! One [`Store`] trait with two implementations that pass the same conformance suite
//! (`tests/it/conformance.rs`): [`postgres::PostgresStore`] for production (deadpool-postgres,
//! versioned migrations under `migrations/postgres`) and [`sqlite::SqliteStore`] for the
//! embedded default (one file, `migrations/sqlite`).
//!
//! # Layout
//! - [`model`]: the records the store keeps (users, sign-in sessions, Telegram sessions).
//! - [`postgres`], [`sqlite`]: the implementations and their migration runners.
//! - [`connect`]: picks the implementation from `database.url`.

pub mod model;
pub mod postgres;
pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use uuid::Uuid;

pub use model::*;

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

/// Everything TalkApp keeps in its relational database.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `postgres` or `sqlite`.
    fn backend(&self) -> &'static str;

    /// Answers when the database is reachable.
    async fn ping(&self) -> Result<()>;

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

    /// Records a newly linked Telegram account under the next never-used
    /// `session_index` of the user (1, 2, 3, ...; a freed index is not reused).
    async fn link_telegram_session(
        &self,
        user_id: Uuid,
        account: &TelegramAccount,
        status: SessionStatus,
        at: DateTime<Utc>,
    ) -> Result<TelegramSession>;

    /// The user's linked Telegram accounts, by `session_index`.
    async fn telegram_sessions(&self, user_id: Uuid) -> Result<Vec<TelegramSession>>;
}

/// Opens the store named by `database.url` and brings its schema up to date. While the
/// database is unreachable it keeps trying, with back-off, for `database.startup_timeout_ms`
/// (processes of a deployment may start before their database).
pub async fn connect(config: &talkapp_common::config::DatabaseConfig) -> Result<Arc<dyn Store>> {
    let deadline =
        std::time::Instant::now() + std::time::Duration::from_millis(config.startup_timeout_ms);
    let mut pause = std::time::Duration::from_millis(100);
    loop {
        match open(config).await {
            Err(StoreError::Unavailable(cause)) if std::time::Instant::now() < deadline => {
                tracing::warn!(%cause, retry_in_ms = pause.as_millis() as u64, "database not reachable yet");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_secs(2));
            }
            result => return result,
        }
    }
}

async fn open(config: &talkapp_common::config::DatabaseConfig) -> Result<Arc<dyn Store>> {
    let url = config.url.expose_secret();
    if let Some(path) = url.strip_prefix("sqlite://") {
        let store = sqlite::SqliteStore::open(std::path::Path::new(path)).await?;
        Ok(Arc::new(store))
    } else {
        let store = postgres::PostgresStore::connect(
            url,
            config.max_connections,
            std::time::Duration::from_millis(config.connect_timeout_ms),
        )
        .await?;
        Ok(Arc::new(store))
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

/// The store as a readiness probe.
pub struct StoreProbe(pub Arc<dyn Store>);

#[async_trait]
impl talkapp_common::probe::Probe for StoreProbe {
    fn name(&self) -> &'static str {
        "database"
    }

    async fn check(&self) -> std::result::Result<(), String> {
        self.0.ping().await.map_err(|error| error.to_string())
    }
}
