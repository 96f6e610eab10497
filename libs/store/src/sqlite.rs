//! The SQLite store (the embedded default): one file, one connection, calls run on the
//! blocking pool so they never stall the async runtime.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};
use uuid::Uuid;

use crate::{
    AuthSession, NewUser, RefreshOutcome, Result, SessionStatus, Store, StoreError,
    TelegramAccount, TelegramSession, User, UserCredentials,
};

/// Versioned migrations, applied in order, each once.
const MIGRATIONS: &[(i64, &str, &str)] = &[(
    1,
    "accounts",
    include_str!("../migrations/sqlite/0001_accounts.sql"),
)];

/// The SQLite implementation of [`Store`].
#[derive(Clone)]
pub struct SqliteStore {
    // One connection: SQLite serialises writers anyway, and the embedded default serves
    // one machine. A poisoned lock (a panic mid-call) is reported as an internal error.
    connection: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and migrates it.
    pub async fn open(path: &Path) -> Result<Self> {
        let path = path.to_owned();
        let connection = tokio::task::spawn_blocking(move || -> Result<Connection> {
            if let Some(parent) = path
                .parent()
                .filter(|parent| !parent.as_os_str().is_empty())
            {
                std::fs::create_dir_all(parent).map_err(|error| {
                    StoreError::Unavailable(format!("cannot create {}: {error}", parent.display()))
                })?;
            }
            let mut connection = Connection::open(&path).map_err(map_error)?;
            connection
                .execute_batch(
                    // WAL lets readers proceed during a write; NORMAL sync is durable across
                    // process crashes in WAL mode; the busy timeout covers a second process
                    // opening the same file (tools, tests).
                    "PRAGMA journal_mode = WAL;
                     PRAGMA synchronous = NORMAL;
                     PRAGMA foreign_keys = ON;
                     PRAGMA busy_timeout = 5000;",
                )
                .map_err(map_error)?;
            migrate(&mut connection)?;
            Ok(connection)
        })
        .await
        .map_err(|error| StoreError::Internal(error.to_string()))??;
        Ok(Self {
            connection: Arc::new(Mutex::new(connection)),
        })
    }

    async fn call<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let connection = Arc::clone(&self.connection);
        tokio::task::spawn_blocking(move || {
            let mut connection = connection
                .lock()
                .map_err(|_| StoreError::Internal("sqlite connection lock poisoned".into()))?;
            work(&mut connection)
        })
        .await
        .map_err(|error| StoreError::Internal(error.to_string()))?
    }
}

fn migrate(connection: &mut Connection) -> Result<()> {
    connection
        .execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version    INTEGER PRIMARY KEY,
                 name       TEXT NOT NULL,
                 applied_at INTEGER NOT NULL
             )",
        )
        .map_err(map_error)?;
    let transaction = connection.transaction().map_err(map_error)?;
    for (version, name, sql) in MIGRATIONS {
        let applied: bool = transaction
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?1)",
                [version],
                |row| row.get(0),
            )
            .map_err(map_error)?;
        if applied {
            continue;
        }
        tracing::info!(version, name, "applying migration");
        transaction.execute_batch(sql).map_err(map_error)?;
        transaction
            .execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                params![version, name, micros(crate::now())],
            )
            .map_err(map_error)?;
    }
    transaction.commit().map_err(map_error)
}

fn map_error(error: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(failure, message) = &error {
        if failure.code == rusqlite::ErrorCode::ConstraintViolation {
            let message = message.as_deref().unwrap_or_default();
            if message.contains("users.email_normalized") {
                return StoreError::Conflict("users.email");
            }
            if message.contains("UNIQUE") {
                return StoreError::Conflict("unique");
            }
        }
        if matches!(
            failure.code,
            rusqlite::ErrorCode::DatabaseBusy
                | rusqlite::ErrorCode::DatabaseLocked
                | rusqlite::ErrorCode::CannotOpen
                | rusqlite::ErrorCode::DiskFull
                | rusqlite::ErrorCode::SystemIoFailure
        ) {
            return StoreError::Unavailable(error.to_string());
        }
    }
    StoreError::Internal(error.to_string())
}

fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

fn time_at(row: &Row<'_>, column: &str) -> rusqlite::Result<DateTime<Utc>> {
    let value: i64 = row.get(column)?;
    DateTime::from_timestamp_micros(value).ok_or_else(|| invalid(column))
}

fn optional_time_at(row: &Row<'_>, column: &str) -> rusqlite::Result<Option<DateTime<Utc>>> {
    let value: Option<i64> = row.get(column)?;
    value
        .map(|value| DateTime::from_timestamp_micros(value).ok_or_else(|| invalid(column)))
        .transpose()
}

fn uuid_at(row: &Row<'_>, column: &str) -> rusqlite::Result<Uuid> {
    let value: String = row.get(column)?;
    Uuid::parse_str(&value).map_err(|_| invalid(column))
}

fn invalid(column: &str) -> rusqlite::Error {
    rusqlite::Error::InvalidColumnName(format!("{column} holds a value out of range"))
}

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: uuid_at(row, "id")?,
        email: row.get("email")?,
        created_at: time_at(row, "created_at")?,
        last_sign_in_at: optional_time_at(row, "last_sign_in_at")?,
    })
}

fn auth_session_from_row(row: &Row<'_>) -> rusqlite::Result<AuthSession> {
    Ok(AuthSession {
        id: uuid_at(row, "id")?,
        user_id: uuid_at(row, "user_id")?,
        created_at: time_at(row, "created_at")?,
        last_seen_at: time_at(row, "last_seen_at")?,
        expires_at: time_at(row, "expires_at")?,
        revoked_at: optional_time_at(row, "revoked_at")?,
    })
}

fn telegram_session_from_row(row: &Row<'_>) -> rusqlite::Result<TelegramSession> {
    let status: String = row.get("status")?;
    Ok(TelegramSession {
        user_id: uuid_at(row, "user_id")?,
        session_index: row.get("session_index")?,
        account: TelegramAccount {
            telegram_user_id: row.get("telegram_user_id")?,
            first_name: row.get("first_name")?,
            last_name: row.get("last_name")?,
            username: row.get("username")?,
            phone: row.get("phone")?,
        },
        status: SessionStatus::parse(&status).ok_or_else(|| invalid("status"))?,
        linked_at: time_at(row, "linked_at")?,
    })
}

const AUTH_SESSION_COLUMNS: &str = "id, user_id, created_at, last_seen_at, expires_at, revoked_at";

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<()> {
        self.call(|connection| {
            connection
                .query_row("SELECT 1", [], |row| row.get::<_, i64>(0))
                .map(drop)
                .map_err(map_error)
        })
        .await
    }

    async fn create_user(&self, new_user: &NewUser) -> Result<User> {
        let new_user = new_user.clone();
        self.call(move |connection| {
            connection
                .execute(
                    "INSERT INTO users (id, email, email_normalized, password_hash, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        new_user.id.to_string(),
                        new_user.email,
                        new_user.email_normalized,
                        new_user.password_hash,
                        micros(new_user.created_at)
                    ],
                )
                .map_err(map_error)?;
            Ok(User {
                id: new_user.id,
                email: new_user.email,
                created_at: new_user.created_at,
                last_sign_in_at: None,
            })
        })
        .await
    }

    async fn user_credentials_by_email(
        &self,
        email_normalized: &str,
    ) -> Result<Option<UserCredentials>> {
        let email_normalized = email_normalized.to_owned();
        self.call(move |connection| {
            connection
                .query_row(
                    "SELECT id, email, created_at, last_sign_in_at, password_hash
                     FROM users WHERE email_normalized = ?1",
                    [email_normalized],
                    |row| {
                        Ok(UserCredentials {
                            user: user_from_row(row)?,
                            password_hash: row.get("password_hash")?,
                        })
                    },
                )
                .optional()
                .map_err(map_error)
        })
        .await
    }

    async fn user_by_id(&self, user_id: Uuid) -> Result<Option<User>> {
        self.call(move |connection| {
            connection
                .query_row(
                    "SELECT id, email, created_at, last_sign_in_at FROM users WHERE id = ?1",
                    [user_id.to_string()],
                    user_from_row,
                )
                .optional()
                .map_err(map_error)
        })
        .await
    }

    async fn record_sign_in(&self, user_id: Uuid, at: DateTime<Utc>) -> Result<()> {
        self.call(move |connection| {
            connection
                .execute(
                    "UPDATE users SET last_sign_in_at = ?2 WHERE id = ?1",
                    params![user_id.to_string(), micros(at)],
                )
                .map(drop)
                .map_err(map_error)
        })
        .await
    }

    async fn create_auth_session(
        &self,
        session: &AuthSession,
        refresh_token_hash: &[u8],
    ) -> Result<()> {
        let session = session.clone();
        let refresh_token_hash = refresh_token_hash.to_vec();
        self.call(move |connection| {
            let transaction = connection.transaction().map_err(map_error)?;
            transaction
                .execute(
                    "INSERT INTO auth_sessions (id, user_id, created_at, last_seen_at, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        session.id.to_string(),
                        session.user_id.to_string(),
                        micros(session.created_at),
                        micros(session.last_seen_at),
                        micros(session.expires_at)
                    ],
                )
                .map_err(map_error)?;
            transaction
                .execute(
                    "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES (?1, ?2, ?3)",
                    params![refresh_token_hash, session.id.to_string(), micros(session.created_at)],
                )
                .map_err(map_error)?;
            transaction.commit().map_err(map_error)
        })
        .await
    }

    async fn auth_session(&self, session_id: Uuid) -> Result<Option<AuthSession>> {
        self.call(move |connection| {
            connection
                .query_row(
                    &format!("SELECT {AUTH_SESSION_COLUMNS} FROM auth_sessions WHERE id = ?1"),
                    [session_id.to_string()],
                    auth_session_from_row,
                )
                .optional()
                .map_err(map_error)
        })
        .await
    }

    async fn touch_auth_session(&self, session_id: Uuid, at: DateTime<Utc>) -> Result<()> {
        self.call(move |connection| {
            connection
                .execute(
                    "UPDATE auth_sessions SET last_seen_at = MAX(last_seen_at, ?2) WHERE id = ?1",
                    params![session_id.to_string(), micros(at)],
                )
                .map(drop)
                .map_err(map_error)
        })
        .await
    }

    async fn revoke_auth_session(
        &self,
        session_id: Uuid,
        at: DateTime<Utc>,
        reason: &str,
    ) -> Result<()> {
        let reason = reason.to_owned();
        self.call(move |connection| {
            connection
                .execute(
                    "UPDATE auth_sessions SET revoked_at = ?2, revoked_reason = ?3
                     WHERE id = ?1 AND revoked_at IS NULL",
                    params![session_id.to_string(), micros(at), reason],
                )
                .map(drop)
                .map_err(map_error)
        })
        .await
    }

    async fn rotate_refresh_token(
        &self,
        presented_hash: &[u8],
        next_hash: &[u8],
        at: DateTime<Utc>,
    ) -> Result<RefreshOutcome> {
        let presented_hash = presented_hash.to_vec();
        let next_hash = next_hash.to_vec();
        self.call(move |connection| {
            // IMMEDIATE takes the write lock up front, so a concurrent rotation of the same
            // token (another process on the same file) waits and then sees it spent.
            let transaction = connection
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(map_error)?;
            let token: Option<(String, Option<i64>)> = transaction
                .query_row(
                    "SELECT session_id, spent_at FROM refresh_tokens WHERE token_hash = ?1",
                    [&presented_hash],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()
                .map_err(map_error)?;
            let Some((session_id_text, spent_at)) = token else {
                return Ok(RefreshOutcome::Unknown);
            };
            let session_id = Uuid::parse_str(&session_id_text)
                .map_err(|error| StoreError::Internal(error.to_string()))?;
            if spent_at.is_some() {
                transaction
                    .execute(
                        "UPDATE auth_sessions SET revoked_at = ?2, revoked_reason = 'refresh_token_reused'
                         WHERE id = ?1 AND revoked_at IS NULL",
                        params![session_id_text, micros(at)],
                    )
                    .map_err(map_error)?;
                transaction.commit().map_err(map_error)?;
                return Ok(RefreshOutcome::Reused { session_id });
            }
            transaction
                .execute(
                    "UPDATE refresh_tokens SET spent_at = ?2 WHERE token_hash = ?1",
                    params![presented_hash, micros(at)],
                )
                .map_err(map_error)?;
            transaction
                .execute(
                    "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES (?1, ?2, ?3)",
                    params![next_hash, session_id_text, micros(at)],
                )
                .map_err(map_error)?;
            let session = transaction
                .query_row(
                    &format!("SELECT {AUTH_SESSION_COLUMNS} FROM auth_sessions WHERE id = ?1"),
                    [&session_id_text],
                    auth_session_from_row,
                )
                .map_err(map_error)?;
            transaction
                .execute(
                    "UPDATE auth_sessions SET last_seen_at = MAX(last_seen_at, ?2) WHERE id = ?1",
                    params![session_id_text, micros(at)],
                )
                .map_err(map_error)?;
            transaction.commit().map_err(map_error)?;
            Ok(RefreshOutcome::Rotated(session))
        })
        .await
    }

    async fn link_telegram_session(
        &self,
        user_id: Uuid,
        account: &TelegramAccount,
        status: SessionStatus,
        at: DateTime<Utc>,
    ) -> Result<TelegramSession> {
        let account = account.clone();
        self.call(move |connection| {
            let transaction = connection
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(map_error)?;
            let session_index: u32 = transaction
                .query_row(
                    "INSERT INTO session_index_counters (user_id, last_index) VALUES (?1, 1)
                     ON CONFLICT (user_id) DO UPDATE SET last_index = last_index + 1
                     RETURNING last_index",
                    [user_id.to_string()],
                    |row| row.get(0),
                )
                .map_err(map_error)?;
            transaction
                .execute(
                    "INSERT INTO telegram_sessions
                         (user_id, session_index, telegram_user_id, first_name, last_name, username,
                          phone, status, linked_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        user_id.to_string(),
                        session_index,
                        account.telegram_user_id,
                        account.first_name,
                        account.last_name,
                        account.username,
                        account.phone,
                        status.as_str(),
                        micros(at)
                    ],
                )
                .map_err(map_error)?;
            transaction.commit().map_err(map_error)?;
            Ok(TelegramSession {
                user_id,
                session_index,
                account,
                status,
                linked_at: at,
            })
        })
        .await
    }

    async fn telegram_sessions(&self, user_id: Uuid) -> Result<Vec<TelegramSession>> {
        self.call(move |connection| {
            let mut statement = connection
                .prepare_cached(
                    "SELECT * FROM telegram_sessions WHERE user_id = ?1 ORDER BY session_index",
                )
                .map_err(map_error)?;
            let rows = statement
                .query_map([user_id.to_string()], telegram_session_from_row)
                .map_err(map_error)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
                .map_err(map_error)
        })
        .await
    }
}
