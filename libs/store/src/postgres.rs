//! The PostgreSQL store (production): a deadpool pool and versioned migrations.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::error::SqlState;
use tokio_postgres::{NoTls, Row};
use uuid::Uuid;

use crate::{
    AuthSession, NewUser, RefreshOutcome, Result, SessionStatus, Store, StoreError,
    TelegramAccount, TelegramSession, User, UserCredentials,
};

/// Versioned migrations, applied in order, each once.
const MIGRATIONS: &[(i64, &str, &str)] = &[(
    1,
    "accounts",
    include_str!("../migrations/postgres/0001_accounts.sql"),
)];

/// Advisory-lock key serialising migrations when several replicas start at once.
const MIGRATION_LOCK_KEY: i64 = 0x0074_616c_6b61_7070;

/// The PostgreSQL implementation of [`Store`].
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
}

impl PostgresStore {
    /// Connects to `url`, with up to `max_connections` pooled connections, and migrates.
    pub async fn connect(url: &str, max_connections: usize, timeout: Duration) -> Result<Self> {
        let pg_config: tokio_postgres::Config = url
            .parse()
            .map_err(|error| StoreError::Internal(format!("database.url: {error}")))?;
        let manager = Manager::from_config(
            pg_config,
            NoTls,
            // Fast recycling skips a round trip per checkout; a broken connection is
            // detected by the failing query and dropped by the pool.
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(max_connections)
            .runtime(Runtime::Tokio1)
            // Bounded waits: a request fails with "unavailable" instead of hanging when
            // the database is gone.
            .wait_timeout(Some(timeout))
            .create_timeout(Some(timeout))
            .recycle_timeout(Some(timeout))
            .build()
            .map_err(|error| StoreError::Internal(error.to_string()))?;
        let store = Self { pool };
        store.migrate().await?;
        Ok(store)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.pool
            .get()
            .await
            .map_err(|error| StoreError::Unavailable(error.to_string()))
    }

    async fn migrate(&self) -> Result<()> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(map_error)?;
        // The lock comes first: replicas starting together would otherwise race even on
        // `CREATE TABLE IF NOT EXISTS` (it is not atomic in PostgreSQL).
        transaction
            .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK_KEY])
            .await
            .map_err(map_error)?;
        transaction
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (
                     version    bigint PRIMARY KEY,
                     name       text NOT NULL,
                     applied_at timestamptz NOT NULL DEFAULT now()
                 )",
            )
            .await
            .map_err(map_error)?;
        let applied: Vec<i64> = transaction
            .query("SELECT version FROM schema_migrations", &[])
            .await
            .map_err(map_error)?
            .iter()
            .map(|row| row.get(0))
            .collect();
        for (version, name, sql) in MIGRATIONS {
            if applied.contains(version) {
                continue;
            }
            tracing::info!(version, name, "applying migration");
            transaction.batch_execute(sql).await.map_err(map_error)?;
            transaction
                .execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    &[version, name],
                )
                .await
                .map_err(map_error)?;
        }
        transaction.commit().await.map_err(map_error)
    }
}

fn map_error(error: tokio_postgres::Error) -> StoreError {
    if let Some(db_error) = error.as_db_error() {
        if *db_error.code() == SqlState::UNIQUE_VIOLATION {
            return match db_error.constraint() {
                Some("users_email_normalized_key") => StoreError::Conflict("users.email"),
                _ => StoreError::Conflict("unique"),
            };
        }
        return StoreError::Internal(db_error.to_string());
    }
    if error.is_closed() {
        return StoreError::Unavailable(error.to_string());
    }
    StoreError::Unavailable(error.to_string())
}

fn user_from_row(row: &Row) -> User {
    User {
        id: row.get("id"),
        email: row.get("email"),
        created_at: row.get("created_at"),
        last_sign_in_at: row.get("last_sign_in_at"),
    }
}

fn auth_session_from_row(row: &Row) -> AuthSession {
    AuthSession {
        id: row.get("id"),
        user_id: row.get("user_id"),
        created_at: row.get("created_at"),
        last_seen_at: row.get("last_seen_at"),
        expires_at: row.get("expires_at"),
        revoked_at: row.get("revoked_at"),
    }
}

fn telegram_session_from_row(row: &Row) -> Result<TelegramSession> {
    let status: String = row.get("status");
    let session_index: i32 = row.get("session_index");
    Ok(TelegramSession {
        user_id: row.get("user_id"),
        session_index: u32::try_from(session_index)
            .map_err(|_| StoreError::Internal(format!("session_index {session_index}")))?,
        account: TelegramAccount {
            telegram_user_id: row.get("telegram_user_id"),
            first_name: row.get("first_name"),
            last_name: row.get("last_name"),
            username: row.get("username"),
            phone: row.get("phone"),
        },
        status: SessionStatus::parse(&status)
            .ok_or_else(|| StoreError::Internal(format!("unknown session status {status}")))?,
        linked_at: row.get("linked_at"),
    })
}

const AUTH_SESSION_COLUMNS: &str = "id, user_id, created_at, last_seen_at, expires_at, revoked_at";

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> Result<()> {
        let client = self.client().await?;
        client.simple_query("SELECT 1").await.map_err(map_error)?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn create_user(&self, new_user: &NewUser) -> Result<User> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "INSERT INTO users (id, email, email_normalized, password_hash, created_at)
                 VALUES ($1, $2, $3, $4, $5)
                 RETURNING id, email, created_at, last_sign_in_at",
                &[
                    &new_user.id,
                    &new_user.email,
                    &new_user.email_normalized,
                    &new_user.password_hash,
                    &new_user.created_at,
                ],
            )
            .await
            .map_err(map_error)?;
        Ok(user_from_row(&row))
    }

    #[tracing::instrument(skip_all)]
    async fn user_credentials_by_email(
        &self,
        email_normalized: &str,
    ) -> Result<Option<UserCredentials>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT id, email, created_at, last_sign_in_at, password_hash
                 FROM users WHERE email_normalized = $1",
                &[&email_normalized],
            )
            .await
            .map_err(map_error)?;
        Ok(row.map(|row| UserCredentials {
            user: user_from_row(&row),
            password_hash: row.get("password_hash"),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn user_by_id(&self, user_id: Uuid) -> Result<Option<User>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT id, email, created_at, last_sign_in_at FROM users WHERE id = $1",
                &[&user_id],
            )
            .await
            .map_err(map_error)?;
        Ok(row.as_ref().map(user_from_row))
    }

    async fn record_sign_in(&self, user_id: Uuid, at: DateTime<Utc>) -> Result<()> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE users SET last_sign_in_at = $2 WHERE id = $1",
                &[&user_id, &at],
            )
            .await
            .map_err(map_error)?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn create_auth_session(
        &self,
        session: &AuthSession,
        refresh_token_hash: &[u8],
    ) -> Result<()> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(map_error)?;
        transaction
            .execute(
                "INSERT INTO auth_sessions (id, user_id, created_at, last_seen_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &session.id,
                    &session.user_id,
                    &session.created_at,
                    &session.last_seen_at,
                    &session.expires_at,
                ],
            )
            .await
            .map_err(map_error)?;
        transaction
            .execute(
                "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES ($1, $2, $3)",
                &[&refresh_token_hash, &session.id, &session.created_at],
            )
            .await
            .map_err(map_error)?;
        transaction.commit().await.map_err(map_error)
    }

    #[tracing::instrument(skip_all)]
    async fn auth_session(&self, session_id: Uuid) -> Result<Option<AuthSession>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {AUTH_SESSION_COLUMNS} FROM auth_sessions WHERE id = $1"),
                &[&session_id],
            )
            .await
            .map_err(map_error)?;
        Ok(row.as_ref().map(auth_session_from_row))
    }

    async fn touch_auth_session(&self, session_id: Uuid, at: DateTime<Utc>) -> Result<()> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE auth_sessions SET last_seen_at = GREATEST(last_seen_at, $2) WHERE id = $1",
                &[&session_id, &at],
            )
            .await
            .map_err(map_error)?;
        Ok(())
    }

    async fn revoke_auth_session(
        &self,
        session_id: Uuid,
        at: DateTime<Utc>,
        reason: &str,
    ) -> Result<()> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE auth_sessions SET revoked_at = $2, revoked_reason = $3
                 WHERE id = $1 AND revoked_at IS NULL",
                &[&session_id, &at, &reason],
            )
            .await
            .map_err(map_error)?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn rotate_refresh_token(
        &self,
        presented_hash: &[u8],
        next_hash: &[u8],
        at: DateTime<Utc>,
    ) -> Result<RefreshOutcome> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(map_error)?;
        // Lock the presented token's row so that two concurrent refreshes with the same
        // token serialise: the second sees it spent and revokes the family.
        let Some(token) = transaction
            .query_opt(
                "SELECT session_id, spent_at FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
                &[&presented_hash],
            )
            .await
            .map_err(map_error)?
        else {
            return Ok(RefreshOutcome::Unknown);
        };
        let session_id: Uuid = token.get("session_id");
        let spent_at: Option<DateTime<Utc>> = token.get("spent_at");
        if spent_at.is_some() {
            transaction
                .execute(
                    "UPDATE auth_sessions SET revoked_at = $2, revoked_reason = 'refresh_token_reused'
                     WHERE id = $1 AND revoked_at IS NULL",
                    &[&session_id, &at],
                )
                .await
                .map_err(map_error)?;
            transaction.commit().await.map_err(map_error)?;
            return Ok(RefreshOutcome::Reused { session_id });
        }
        transaction
            .execute(
                "UPDATE refresh_tokens SET spent_at = $2 WHERE token_hash = $1",
                &[&presented_hash, &at],
            )
            .await
            .map_err(map_error)?;
        transaction
            .execute(
                "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES ($1, $2, $3)",
                &[&next_hash, &session_id, &at],
            )
            .await
            .map_err(map_error)?;
        let session = transaction
            .query_one(
                &format!("SELECT {AUTH_SESSION_COLUMNS} FROM auth_sessions WHERE id = $1"),
                &[&session_id],
            )
            .await
            .map_err(map_error)?;
        transaction
            .execute(
                "UPDATE auth_sessions SET last_seen_at = GREATEST(last_seen_at, $2) WHERE id = $1",
                &[&session_id, &at],
            )
            .await
            .map_err(map_error)?;
        transaction.commit().await.map_err(map_error)?;
        Ok(RefreshOutcome::Rotated(auth_session_from_row(&session)))
    }

    #[tracing::instrument(skip_all)]
    async fn link_telegram_session(
        &self,
        user_id: Uuid,
        account: &TelegramAccount,
        status: SessionStatus,
        at: DateTime<Utc>,
    ) -> Result<TelegramSession> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(map_error)?;
        let index_row = transaction
            .query_one(
                "INSERT INTO session_index_counters (user_id, last_index) VALUES ($1, 1)
                 ON CONFLICT (user_id) DO UPDATE SET last_index = session_index_counters.last_index + 1
                 RETURNING last_index",
                &[&user_id],
            )
            .await
            .map_err(map_error)?;
        let session_index: i32 = index_row.get(0);
        let row = transaction
            .query_one(
                "INSERT INTO telegram_sessions
                     (user_id, session_index, telegram_user_id, first_name, last_name, username,
                      phone, status, linked_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 RETURNING *",
                &[
                    &user_id,
                    &session_index,
                    &account.telegram_user_id,
                    &account.first_name,
                    &account.last_name,
                    &account.username,
                    &account.phone,
                    &status.as_str(),
                    &at,
                ],
            )
            .await
            .map_err(map_error)?;
        transaction.commit().await.map_err(map_error)?;
        telegram_session_from_row(&row)
    }

    #[tracing::instrument(skip_all)]
    async fn telegram_sessions(&self, user_id: Uuid) -> Result<Vec<TelegramSession>> {
        let client = self.client().await?;
        client
            .query(
                "SELECT * FROM telegram_sessions WHERE user_id = $1 ORDER BY session_index",
                &[&user_id],
            )
            .await
            .map_err(map_error)?
            .iter()
            .map(telegram_session_from_row)
            .collect()
    }
}
