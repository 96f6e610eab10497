//! The PostgreSQL store (production): a deadpool pool and versioned migrations.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use talkapp_common::per_thread::PerThread;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};
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
pub mod leases;
mod media;
mod push;
mod sent_files;
mod telegram;

/// Versioned migrations, applied in order, each once.
const MIGRATIONS: &[crate::migrations::Migration] = &[
    (
        1,
        "accounts",
        include_str!("../../migrations/postgres/0001_accounts.sql"),
    ),
    (
        2,
        "telegram_links",
        include_str!("../../migrations/postgres/0002_telegram_links.sql"),
    ),
    (
        3,
        "chat_cache_and_sends",
        include_str!("../../migrations/postgres/0003_chat_cache_and_sends.sql"),
    ),
    (
        4,
        "chat_replicas",
        include_str!("../../migrations/postgres/0004_chat_replicas.sql"),
    ),
    (
        5,
        "events_and_push",
        include_str!("../../migrations/postgres/0005_events_and_push.sql"),
    ),
    (
        6,
        "media_files",
        include_str!("../../migrations/postgres/0006_media_files.sql"),
    ),
    (
        7,
        "waiting_jobs",
        include_str!("../../migrations/postgres/0007_waiting_jobs.sql"),
    ),
    (
        8,
        "send_media",
        include_str!("../../migrations/postgres/0008_send_media.sql"),
    ),
    (
        9,
        "chat_actions",
        include_str!("../../migrations/postgres/0009_chat_actions.sql"),
    ),
    (
        10,
        "external_subjects",
        include_str!("../../migrations/postgres/0010_external_subjects.sql"),
    ),
    (
        11,
        "audit_log",
        include_str!("../../migrations/postgres/0011_audit_log.sql"),
    ),
    (
        12,
        "disabled_users",
        include_str!("../../migrations/postgres/0012_disabled_users.sql"),
    ),
    (
        13,
        "sent_files",
        include_str!("../../migrations/postgres/0013_sent_files.sql"),
    ),
    (
        14,
        "user_activity",
        include_str!("../../migrations/postgres/0014_user_activity.sql"),
    ),
    // No migration was ever numbered 15, in either set: the numbers are each set's order
    // and its record in `schema_migrations`, so the gap costs nothing and stays.
    (
        16,
        "stalled_links",
        include_str!("../../migrations/postgres/0016_stalled_links.sql"),
    ),
    (
        17,
        "send_jobs_without_unpublished_index",
        include_str!("../../migrations/postgres/0017_send_jobs_without_unpublished_index.sql"),
    ),
    (
        18,
        "media_preview_pending",
        include_str!("../../migrations/postgres/0018_media_preview_pending.sql"),
    ),
    (
        19,
        "media_preview_skipped_and_claims",
        include_str!("../../migrations/postgres/0019_media_preview_skipped_and_claims.sql"),
    ),
];

/// Statements through the connection's cache: each text is parsed and planned once per
/// connection, not at every call (a plain text query costs the server a parse and the
/// caller an extra round trip each time, which halved the store's throughput).
pub(super) trait Prepared {
    async fn prepared_query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> std::result::Result<Vec<Row>, tokio_postgres::Error>;

    async fn prepared_query_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> std::result::Result<Option<Row>, tokio_postgres::Error>;

    async fn prepared_query_one(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> std::result::Result<Row, tokio_postgres::Error>;

    async fn prepared_execute(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> std::result::Result<u64, tokio_postgres::Error>;
}

macro_rules! impl_prepared {
    ($($target:ty),*) => {$(
        impl Prepared for $target {
            async fn prepared_query(
                &self,
                sql: &str,
                params: &[&(dyn ToSql + Sync)],
            ) -> std::result::Result<Vec<Row>, tokio_postgres::Error> {
                let statement = self.prepare_cached(sql).await?;
                self.query(&statement, params).await
            }

            async fn prepared_query_opt(
                &self,
                sql: &str,
                params: &[&(dyn ToSql + Sync)],
            ) -> std::result::Result<Option<Row>, tokio_postgres::Error> {
                let statement = self.prepare_cached(sql).await?;
                self.query_opt(&statement, params).await
            }

            async fn prepared_query_one(
                &self,
                sql: &str,
                params: &[&(dyn ToSql + Sync)],
            ) -> std::result::Result<Row, tokio_postgres::Error> {
                let statement = self.prepare_cached(sql).await?;
                self.query_one(&statement, params).await
            }

            async fn prepared_execute(
                &self,
                sql: &str,
                params: &[&(dyn ToSql + Sync)],
            ) -> std::result::Result<u64, tokio_postgres::Error> {
                let statement = self.prepare_cached(sql).await?;
                self.execute(&statement, params).await
            }
        }
    )*};
}

impl_prepared!(
    deadpool_postgres::Object,
    deadpool_postgres::Transaction<'_>
);

/// A pool of up to `max_connections` connections to the PostgreSQL database at `url`, set
/// up the one way every user of the main database sets it up (this store, search-service's
/// index). No connection is opened yet: the first checkout opens one.
pub fn connection_pool(url: &str, max_connections: usize, timeout: Duration) -> Result<Pool> {
    pool_of(&parse_url(url)?, max_connections, timeout)
}

fn parse_url(url: &str) -> Result<tokio_postgres::Config> {
    url.parse()
        .map_err(|error| StoreError::Internal(format!("database.url: {error}")))
}

fn pool_of(
    pg_config: &tokio_postgres::Config,
    max_connections: usize,
    timeout: Duration,
) -> Result<Pool> {
    let manager = Manager::from_config(
        pg_config.clone(),
        // Without TLS, as the store has always connected; TLS, once wanted, goes here for
        // every user of the database at once.
        NoTls,
        // Fast recycling skips a round trip per checkout; a broken connection is
        // detected by the failing query and dropped by the pool.
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        // A pool of none would make every checkout wait for its timeout.
        .max_size(max_connections.max(1))
        .runtime(Runtime::Tokio1)
        // Bounded waits: a request fails with "unavailable" instead of hanging when
        // the database is gone.
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .recycle_timeout(Some(timeout))
        .build()
        .map_err(|error| StoreError::Internal(error.to_string()))
}

/// Advisory-lock key serialising migrations when several replicas start at once.
const MIGRATION_LOCK_KEY: i64 = 0x0074_616c_6b61_7070;

/// The PostgreSQL implementation of [`Store`].
///
/// A thread may be given connections of its own ([`StoreHealth::open_on_this_thread`],
/// ADR 0075): a connection's task runs on the runtime that opened it, so the gateway's
/// HTTP workers, each on a runtime of its own, each read through a pool opened on their
/// thread, and a read stays on its thread from the handler to the socket and back. Every
/// other thread uses the shared pool.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    /// What the threads' own pools are opened with.
    pg_config: tokio_postgres::Config,
    timeout: Duration,
    /// The pools of the threads that have one.
    thread_pools: Arc<PerThread<Pool>>,
}

impl PostgresStore {
    /// Connects to `url`, with up to `max_connections` pooled connections, and migrates.
    pub async fn connect(url: &str, max_connections: usize, timeout: Duration) -> Result<Self> {
        let pg_config = parse_url(url)?;
        let store = Self {
            pool: pool_of(&pg_config, max_connections, timeout)?,
            pg_config,
            timeout,
            thread_pools: Arc::new(PerThread::new()),
        };
        store.migrate().await?;
        store.warn_without_autovacuum().await;
        Ok(store)
    }

    /// Logs a warning when the server's autovacuum is off: nothing then gathers the
    /// planner's statistics of the tables the chat cache fills, and its reads are planned
    /// as for empty tables (a filter over an account's messages instead of a key lookup).
    async fn warn_without_autovacuum(&self) {
        let Ok(client) = self.client().await else {
            return;
        };
        if let Ok(Some(row)) = client.query_opt("SHOW autovacuum", &[]).await
            && row
                .try_get::<_, String>(0)
                .is_ok_and(|value| value == "off")
        {
            tracing::warn!(
                "PostgreSQL's autovacuum is off: the planner's statistics go stale as the cache \
                 fills; turn it on, or run ANALYZE regularly"
            );
        }
    }

    async fn client(&self) -> Result<deadpool_postgres::Object> {
        match self.thread_pools.get() {
            Some(own) => own.get().await,
            None => self.pool.get().await,
        }
        .map_err(|error| StoreError::Unavailable(error.to_string()))
    }

    /// The connections open in the shared pool, and in this thread's own (`None` when it
    /// has none).
    pub fn open_connections(&self) -> (usize, Option<usize>) {
        (
            self.pool.status().size,
            self.thread_pools.get().map(|own| own.status().size),
        )
    }

    async fn migrate(&self) -> Result<()> {
        let mut client = self.client().await?;
        crate::migrations::apply_postgres(
            &mut client,
            MIGRATION_LOCK_KEY,
            "schema_migrations",
            MIGRATIONS,
        )
        .await
        .map_err(map_error)
    }
}

/// Whether a server error says "not now" rather than "never": the connection failed
/// (class 08), an operator or a shutdown ended it (57: `57P01` as PostgreSQL restarts,
/// `57P03` while it starts), the server lacks resources (53: too many connections), or
/// the transaction lost a race (40: serialization failure, deadlock). Such a call may work
/// again, so it is `Unavailable` (503 with `Retry-After`), never `Internal` (500): a
/// PostgreSQL restart in the fault suite gave one 500 before this.
pub fn is_transient(code: &SqlState) -> bool {
    matches!(code.code().get(..2), Some("08" | "57" | "53" | "40"))
}

/// The shards as the `smallint` column holds them (one past its range is no shard there).
fn shard_params(shards: &[u16]) -> Vec<i16> {
    shards
        .iter()
        .filter_map(|shard| i16::try_from(*shard).ok())
        .collect()
}

/// A session index as the `int` columns hold it (one over `i32::MAX` is never issued).
fn session_index_param(session_index: u32) -> Result<i32> {
    i32::try_from(session_index)
        .map_err(|_| StoreError::Internal(format!("session_index {session_index} out of range")))
}

/// The account's session index as the `int` columns hold it.
fn index(key: crate::AccountKey) -> Result<i32> {
    session_index_param(key.session_index)
}

fn map_error(error: tokio_postgres::Error) -> StoreError {
    if let Some(db_error) = error.as_db_error() {
        if *db_error.code() == SqlState::UNIQUE_VIOLATION {
            return match db_error.constraint() {
                Some("users_email_normalized_key") => StoreError::Conflict("users.email"),
                Some("telegram_sessions_user_phone") => {
                    StoreError::Conflict("telegram_sessions.phone")
                }
                _ => StoreError::Conflict("unique"),
            };
        }
        if is_transient(db_error.code()) {
            return StoreError::Unavailable(db_error.to_string());
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

fn linked_account_from_row(row: &Row) -> Result<LinkedAccount> {
    let status: String = row.get("status");
    let session_index: i32 = row.get("session_index");
    Ok(LinkedAccount {
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
        status: LinkStatus::parse(&status)
            .ok_or_else(|| StoreError::Internal(format!("unknown session status {status}")))?,
        linked_at: row.get("linked_at"),
        link_stalled_at: row.get("link_stalled_at"),
    })
}

const AUTH_SESSION_COLUMNS: &str = "id, user_id, created_at, last_seen_at, expires_at, revoked_at";

impl Store for PostgresStore {}

#[async_trait]
impl StoreHealth for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn open_on_this_thread(&self, max_connections: usize) {
        match pool_of(&self.pg_config, max_connections, self.timeout) {
            Ok(pool) => self.thread_pools.set(pool),
            // The shared pool was made from the same settings, so this cannot fail; if it
            // did, the thread would still read through the shared pool.
            Err(error) => tracing::error!(%error, "a thread's own connection pool not made"),
        }
    }

    async fn ping(&self) -> Result<()> {
        let client = self.client().await?;
        client.simple_query("SELECT 1").await.map_err(map_error)?;
        Ok(())
    }
}

#[cfg(test)]
mod transient_tests {
    use super::*;

    #[test]
    fn a_shutdown_a_lost_connection_or_a_lost_race_is_transient_and_a_bad_query_is_not() {
        for code in [
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::CONNECTION_FAILURE,
            SqlState::TOO_MANY_CONNECTIONS,
            SqlState::T_R_SERIALIZATION_FAILURE,
            SqlState::T_R_DEADLOCK_DETECTED,
        ] {
            assert!(is_transient(&code), "{code:?}");
        }
        for code in [
            SqlState::UNIQUE_VIOLATION,
            SqlState::FOREIGN_KEY_VIOLATION,
            SqlState::SYNTAX_ERROR,
            SqlState::UNDEFINED_TABLE,
        ] {
            assert!(!is_transient(&code), "{code:?}");
        }
    }

    /// A backend ended under the store's feet (as a PostgreSQL restart ends every one)
    /// answers `57P01`: the store calls that unavailable, not internal.
    #[tokio::test]
    async fn a_terminated_connection_is_unavailable() {
        let (client, connection) = tokio_postgres::connect(
            "host=127.0.0.1 port=5432 user=postgres dbname=postgres",
            tokio_postgres::NoTls,
        )
        .await
        .expect("the test PostgreSQL on 127.0.0.1:5432");
        tokio::spawn(connection);
        let error = client
            .simple_query("SELECT pg_terminate_backend(pg_backend_pid())")
            .await
            .expect_err("the backend ends");
        assert_eq!(
            error.as_db_error().map(|db_error| db_error.code().clone()),
            Some(SqlState::ADMIN_SHUTDOWN)
        );
        assert!(
            matches!(map_error(error), StoreError::Unavailable(_)),
            "unavailable"
        );
    }
}
