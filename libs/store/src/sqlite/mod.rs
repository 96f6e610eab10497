//! The SQLite store (the embedded default): one file, one connection that writes and a
//! few that read. A call runs on the caller's thread when its connection is free (an
//! indexed read or a short write takes less than a trip to the blocking pool and back),
//! else on the blocking pool; what takes milliseconds (the log's checkpoints) runs on the
//! blocking pool only ([`writer`], ADR 0050).

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};
use uuid::Uuid;

use crate::{
    AccountStore, AuthSession, HostedAccount, LinkStatus, LinkedAccount, LoginState, NewUser,
    RefreshOutcome, Result, Store, StoreError, StoreHealth, TelegramAccount, TelegramLogin,
    TelegramStore, User, UserCredentials,
};

mod accounts;
mod actions;
mod admin;
mod audit;
mod cache;
mod jobs;
mod media;
mod push;
mod sent_files;
mod telegram;
mod writer;

/// Versioned migrations, applied in order, each once.
const MIGRATIONS: &[crate::migrations::Migration] = &[
    (
        1,
        "accounts",
        include_str!("../../migrations/sqlite/0001_accounts.sql"),
    ),
    (
        2,
        "telegram_links",
        include_str!("../../migrations/sqlite/0002_telegram_links.sql"),
    ),
    (
        3,
        "chat_cache_and_sends",
        include_str!("../../migrations/sqlite/0003_chat_cache_and_sends.sql"),
    ),
    (
        4,
        "chat_replicas",
        include_str!("../../migrations/sqlite/0004_chat_replicas.sql"),
    ),
    (
        5,
        "events_and_push",
        include_str!("../../migrations/sqlite/0005_events_and_push.sql"),
    ),
    (
        6,
        "media_files",
        include_str!("../../migrations/sqlite/0006_media_files.sql"),
    ),
    (
        7,
        "waiting_jobs",
        include_str!("../../migrations/sqlite/0007_waiting_jobs.sql"),
    ),
    (
        8,
        "send_media",
        include_str!("../../migrations/sqlite/0008_send_media.sql"),
    ),
    (
        9,
        "chat_actions",
        include_str!("../../migrations/sqlite/0009_chat_actions.sql"),
    ),
    (
        10,
        "external_subjects",
        include_str!("../../migrations/sqlite/0010_external_subjects.sql"),
    ),
    (
        11,
        "audit_log",
        include_str!("../../migrations/sqlite/0011_audit_log.sql"),
    ),
    (
        12,
        "disabled_users",
        include_str!("../../migrations/sqlite/0012_disabled_users.sql"),
    ),
    (
        13,
        "sent_files",
        include_str!("../../migrations/sqlite/0013_sent_files.sql"),
    ),
    (
        14,
        "user_activity",
        include_str!("../../migrations/sqlite/0014_user_activity.sql"),
    ),
    // No migration was ever numbered 15, in either set: the numbers are each set's order
    // and its record in `schema_migrations`, so the gap costs nothing and stays.
    (
        16,
        "stalled_links",
        include_str!("../../migrations/sqlite/0016_stalled_links.sql"),
    ),
    (
        17,
        "send_jobs_without_unpublished_index",
        include_str!("../../migrations/sqlite/0017_send_jobs_without_unpublished_index.sql"),
    ),
    (
        18,
        "media_preview_pending",
        include_str!("../../migrations/sqlite/0018_media_preview_pending.sql"),
    ),
    (
        19,
        "media_preview_skipped_and_claims",
        include_str!("../../migrations/sqlite/0019_media_preview_skipped_and_claims.sql"),
    ),
];

/// Statements through the connection's statement cache: each text is parsed once, not on
/// every call.
trait CachedStatements {
    fn execute_cached<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize>;

    fn query_row_cached<T, P, F>(&self, sql: &str, params: P, map: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>;
}

impl CachedStatements for Connection {
    fn execute_cached<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    fn query_row_cached<T, P, F>(&self, sql: &str, params: P, map: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    {
        self.prepare_cached(sql)?.query_row(params, map)
    }
}

/// Distinct statement texts kept prepared (the store has fewer than this).
const STATEMENT_CACHE: usize = 128;

/// Connections that only read, beside the one that writes.
const READERS: usize = 4;

/// The SQLite implementation of [`Store`].
#[derive(Clone)]
pub struct SqliteStore {
    // One connection writes: SQLite serialises writers anyway, and the embedded default
    // serves one machine.
    writer: writer::Writer,
    // Readers (WAL: they see every committed write and never wait for the writer). A read
    // runs on the caller's thread when a reader is free: an indexed page takes tens of
    // microseconds, less than handing it to the blocking pool and back costs.
    readers: Arc<[Mutex<Connection>]>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and migrates it.
    pub async fn open(path: &Path) -> Result<Self> {
        let path = path.to_owned();
        let connection =
            tokio::task::spawn_blocking(move || -> Result<(Connection, Vec<Mutex<Connection>>)> {
                if let Some(parent) = path
                    .parent()
                    .filter(|parent| !parent.as_os_str().is_empty())
                {
                    talkapp_common::secrets::create_private_dir(parent).map_err(|error| {
                        StoreError::Unavailable(format!(
                            "cannot create {}: {error}",
                            parent.display()
                        ))
                    })?;
                }
                owner_only(&path)?;
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
                plan_once(&connection)?;
                connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
                let readers = (0..READERS)
                    .map(|_| open_reader(&path).map(Mutex::new))
                    .collect::<Result<Vec<_>>>()?;
                Ok((connection, readers))
            })
            .await
            .map_err(|error| StoreError::Internal(error.to_string()))??;
        let (connection, readers) = connection;
        Ok(Self {
            writer: writer::Writer::new(connection),
            readers: readers.into(),
        })
    }

    /// Runs `work` on a reading connection: at once on this thread when one is free, else
    /// on the blocking pool once one is.
    async fn read<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        for reader in self.readers.iter() {
            match reader.try_lock() {
                Ok(connection) => return work(&connection),
                Err(std::sync::TryLockError::WouldBlock) => {}
                Err(std::sync::TryLockError::Poisoned(_)) => {
                    return Err(StoreError::Internal("sqlite reader lock poisoned".into()));
                }
            }
        }
        let readers = Arc::clone(&self.readers);
        tokio::task::spawn_blocking(move || {
            let reader = readers
                .first()
                .ok_or_else(|| StoreError::Internal("no sqlite reader".into()))?;
            let connection = reader
                .lock()
                .map_err(|_| StoreError::Internal("sqlite reader lock poisoned".into()))?;
            work(&connection)
        })
        .await
        .map_err(|error| StoreError::Internal(error.to_string()))?
    }

    /// Runs `work` on the writing connection (on this thread when it is free, see
    /// [`writer`]).
    async fn call<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        self.writer.call(work).await
    }
}

/// Creates the database file readable and writable by its owner only (0600), or takes
/// an existing one to that mode: it holds cached messages and phone numbers. SQLite
/// gives its `-wal` and `-shm` files the database file's mode.
fn owner_only(path: &Path) -> Result<()> {
    talkapp_common::secrets::private_database_file(path).map_err(|error| {
        StoreError::Unavailable(format!("cannot open {}: {error}", path.display()))
    })
}

/// A connection that only reads (`query_only`), on the migrated file.
fn open_reader(path: &Path) -> Result<Connection> {
    let connection = Connection::open(path).map_err(map_error)?;
    connection
        .execute_batch(
            "PRAGMA query_only = ON;
             PRAGMA busy_timeout = 5000;",
        )
        .map_err(map_error)?;
    plan_once(&connection)?;
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(connection)
}

/// Plans each statement once, whatever its parameters are bound to (SQLite's query
/// planner stability guarantee). Without it SQLite folds bound values into the plan where
/// it can (`?3 IS NULL OR kind = ?3`, `LIMIT ?7`) and prepares the statement again
/// whenever one of them changes: the chat list and history statements were prepared
/// anew on nearly every call, 13 % of the process's CPU under the chat-list benchmark
/// (docs/BENCHMARKS.md, 2026-12-05 evening). Every statement here looks rows up by key,
/// so the plans are the same either way (checked with `EXPLAIN QUERY PLAN`).
fn plan_once(connection: &Connection) -> Result<()> {
    connection
        .set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )
        .map(drop)
        .map_err(map_error)
}

fn migrate(connection: &mut Connection) -> Result<()> {
    crate::migrations::apply_sqlite(
        connection,
        "schema_migrations",
        MIGRATIONS,
        // Before both sets shared their numbers, SQLite's events_and_push was version 4
        // (it is PostgreSQL's 5; 4 is PostgreSQL's chat_replicas): such a database is
        // renumbered rather than migrated again.
        |transaction| {
            transaction
                .execute_cached(
                    "UPDATE schema_migrations SET version = 5
                     WHERE version = 4 AND name = 'events_and_push'",
                    [],
                )
                .map(drop)
        },
        || micros(crate::now()),
    )
    .map_err(map_error)
}

fn map_error(error: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(failure, message) = &error {
        if failure.code == rusqlite::ErrorCode::ConstraintViolation {
            let message = message.as_deref().unwrap_or_default();
            if message.contains("users.email_normalized") {
                return StoreError::Conflict("users.email");
            }
            if message.contains("telegram_sessions.user_id, telegram_sessions.phone") {
                return StoreError::Conflict("telegram_sessions.phone");
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

/// The ids as a JSON array, for `IN (SELECT value FROM json_each(?))`.
fn json_ids<T: std::fmt::Display>(ids: &[T]) -> String {
    let items: Vec<String> = ids.iter().map(ToString::to_string).collect();
    format!("[{}]", items.join(","))
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

fn linked_account_from_row(row: &Row<'_>) -> rusqlite::Result<LinkedAccount> {
    let status: String = row.get("status")?;
    Ok(LinkedAccount {
        user_id: uuid_at(row, "user_id")?,
        session_index: row.get("session_index")?,
        account: TelegramAccount {
            telegram_user_id: row.get("telegram_user_id")?,
            first_name: row.get("first_name")?,
            last_name: row.get("last_name")?,
            username: row.get("username")?,
            phone: row.get("phone")?,
        },
        status: LinkStatus::parse(&status).ok_or_else(|| invalid("status"))?,
        linked_at: time_at(row, "linked_at")?,
        link_stalled_at: optional_time_at(row, "link_stalled_at")?,
    })
}

const AUTH_SESSION_COLUMNS: &str = "id, user_id, created_at, last_seen_at, expires_at, revoked_at";

impl Store for SqliteStore {}

#[async_trait]
impl StoreHealth for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<()> {
        self.call(|connection| {
            connection
                .query_row_cached("SELECT 1", [], |row| row.get::<_, i64>(0))
                .map(drop)
                .map_err(map_error)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_is_not_prepared_again_for_new_parameters() {
        let connection = Connection::open_in_memory().expect("open");
        connection
            .execute_batch(
                "CREATE TABLE t (a TEXT NOT NULL, b INTEGER NOT NULL, PRIMARY KEY (a, b));",
            )
            .expect("schema");
        let reprepares = |connection: &Connection| {
            let mut statement = connection
                .prepare(
                    "SELECT * FROM t WHERE a = ?1 AND (?2 IS NULL OR b < ?2)
                     ORDER BY b DESC LIMIT ?3",
                )
                .expect("prepare");
            for n in 0..5_i64 {
                let bound: Option<i64> = (n % 2 == 0).then_some(n);
                let mut rows = statement
                    .query(rusqlite::params![format!("user {n}"), bound, n + 1])
                    .expect("query");
                while rows.next().expect("step").is_some() {}
            }
            statement.get_status(rusqlite::StatementStatus::RePrepare)
        };
        assert!(
            reprepares(&connection) > 0,
            "SQLite's default prepares such a statement again (else this test shows nothing)"
        );
        plan_once(&connection).expect("configured");
        assert_eq!(reprepares(&connection), 0);
    }
}
