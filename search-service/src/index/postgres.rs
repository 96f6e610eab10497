//! The index in PostgreSQL (split mode): tables in the main database under search-service's
//! own migration table, the scoped terms as a GIN-indexed `tsvector` built from the terms
//! as they are (`array_to_tsvector`: PostgreSQL's parser and dictionaries never see them),
//! searched with prefix `tsquery`s.
//!
//! Several search-service replicas share it: queries run on any of them, and the event
//! queue's single active consumer is the one writer of events.

use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Pool};
use talkapp_store::AccountKey;
use tokio_postgres::types::ToSql;

use super::{
    ACCOUNT_WIDE_IDS_ABOVE, ANY_ACCOUNT_WIDE_CHAT, Applied, EventId, IndexChange, IndexError,
    IndexedChat, IndexedMessage, MessageQuery, MessageRef, Result, SearchIndex, scope_of,
    scoped_term,
};

/// Versioned migrations of the index's own tables, applied in order, each once.
const MIGRATIONS: &[talkapp_store::migrations::Migration] = &[
    (
        1,
        "search_index",
        include_str!("../../migrations/postgres/0001_search_index.sql"),
    ),
    (
        2,
        "event_order",
        include_str!("../../migrations/postgres/0002_event_order.sql"),
    ),
];

/// Advisory-lock key serialising the index's migrations when replicas start together.
const MIGRATION_LOCK_KEY: i64 = 0x7365_6172_6368_0001;

/// The PostgreSQL implementation of [`SearchIndex`].
#[derive(Clone)]
pub struct PostgresIndex {
    pool: Pool,
}

fn failed(error: tokio_postgres::Error) -> IndexError {
    match error.as_db_error() {
        // A restart, a lost connection or a lost race: may work again (as in the store).
        Some(db_error) if talkapp_store::postgres::is_transient(db_error.code()) => {
            IndexError::Unavailable(db_error.to_string())
        }
        Some(db_error) => IndexError::Internal(db_error.to_string()),
        None => IndexError::Unavailable(error.to_string()),
    }
}

/// The prefix `tsquery` of `terms` for the account with `scope`: each term a quoted
/// lexeme with `:*`, all required (`&`). Terms are folded words (letters and digits), and
/// quotes and backslashes are dropped anyway, so nothing a user typed is syntax.
fn tsquery(scope: &str, terms: &[String]) -> String {
    terms
        .iter()
        .map(|term| {
            let lexeme: String = scoped_term(scope, term)
                .chars()
                .filter(|c| !matches!(c, '\'' | '\\'))
                .collect();
            format!("'{lexeme}':*")
        })
        .collect::<Vec<_>>()
        .join(" & ")
}

impl PostgresIndex {
    /// Connects to `url` with up to `max_connections` pooled connections and migrates;
    /// while the database is unreachable it keeps trying for `startup`.
    pub async fn connect(
        url: &str,
        max_connections: usize,
        timeout: Duration,
        startup: Duration,
    ) -> Result<Self> {
        let pool = talkapp_store::postgres::connection_pool(url, max_connections, timeout)
            .map_err(|error| IndexError::Internal(error.to_string()))?;
        let index = Self { pool };
        talkapp_store::retry_while_unreachable(
            startup,
            |error| matches!(error, IndexError::Unavailable(_)),
            || index.migrate(),
        )
        .await?;
        Ok(index)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.pool
            .get()
            .await
            .map_err(|error| IndexError::Unavailable(error.to_string()))
    }

    async fn migrate(&self) -> Result<()> {
        let mut client = self.client().await?;
        talkapp_store::migrations::apply_postgres(
            &mut client,
            MIGRATION_LOCK_KEY,
            "search_schema_migrations",
            MIGRATIONS,
        )
        .await
        .map_err(failed)
    }
}

fn session_index(key: AccountKey) -> i32 {
    i32::try_from(key.session_index).unwrap_or(i32::MAX)
}

/// The message's terms as stored: scoped to its account.
fn scoped_terms(message: &IndexedMessage) -> Vec<String> {
    let scope = scope_of(message.key);
    message
        .terms
        .iter()
        .map(|term| scoped_term(&scope, term))
        .collect()
}

/// Runs `statement`, a write of `message`'s row (`$1`..`$9`: account, chat, message,
/// date, sender, kinds, scoped terms, event id); the rows it wrote.
async fn execute_message(
    transaction: &impl GenericClient,
    statement: &tokio_postgres::Statement,
    message: &IndexedMessage,
    event_id: EventId,
) -> Result<u64> {
    transaction
        .execute(
            statement,
            &[
                &message.key.user_id,
                &session_index(message.key),
                &message.chat_id,
                &message.message_id,
                &message.date,
                &message.sender_id,
                &message.kinds,
                &scoped_terms(message),
                &event_id,
            ],
        )
        .await
        .map_err(failed)
}

/// The condition of a message insert (`$1`..`$4`: account, chat, message) that no
/// tombstone covers the message: one of its chat, or one of a deletion told without its
/// chat ([`ANY_ACCOUNT_WIDE_CHAT`]) when the chat's ids are account-wide
/// ([`ACCOUNT_WIDE_IDS_ABOVE`]). Parameters are cast: an `INSERT .. SELECT` does not type
/// them by the columns.
/// A macro, so the statements that hold it are literals (`concat!`), not text built
/// for every change.
macro_rules! not_deleted {
    () => {
        "NOT EXISTS (
            SELECT 1 FROM search_deleted d
            WHERE d.user_id = $1::uuid AND d.session_index = $2::int AND d.message_id = $4::int
              AND (d.chat_id = $3::bigint
                   OR (d.chat_id = 0 AND $3::bigint > -1000000000000)))"
    };
}

async fn query_rows(
    client: &deadpool_postgres::Object,
    sql: &str,
    parameters: &[&(dyn ToSql + Sync)],
) -> Result<Vec<tokio_postgres::Row>> {
    let statement = client.prepare_cached(sql).await.map_err(failed)?;
    client.query(&statement, parameters).await.map_err(failed)
}

/// Writes one change through `client` (a transaction or the connection itself); 1 when
/// it was an upsert with an event id that was skipped as stale, else 0.
async fn apply_change(client: &impl GenericClient, change: &IndexChange) -> Result<u64> {
    match change {
        IndexChange::UpsertMessage { message, event_id } => {
            // One statement: the tombstone check and the newer-event condition are part of
            // the upsert, so a skipped change costs no round trip of its own.
            let statement = client
                .prepare_cached(concat!(
                    "INSERT INTO search_messages (user_id, session_index, chat_id,
                         message_id, date, sender_id, kinds, terms, event_id)
                     SELECT $1::uuid, $2::int, $3::bigint, $4::int, $5::bigint, $6::bigint,
                            $7::int, array_to_tsvector($8::text[]), $9::bigint
                     WHERE ",
                    not_deleted!(),
                    "
                     ON CONFLICT (user_id, session_index, chat_id, message_id) DO UPDATE
                     SET date = excluded.date, sender_id = excluded.sender_id,
                         kinds = excluded.kinds, terms = excluded.terms,
                         event_id = excluded.event_id
                     WHERE search_messages.event_id IS NULL
                        OR search_messages.event_id < excluded.event_id"
                ))
                .await
                .map_err(failed)?;
            let written = execute_message(client, &statement, message, *event_id).await?;
            Ok(u64::from(written == 0 && event_id.is_some()))
        }
        IndexChange::DeleteMessages {
            key,
            chat_id,
            message_ids,
            event_id: None,
        } => {
            let statement = client
                .prepare_cached(
                    "DELETE FROM search_messages
                     WHERE user_id = $1 AND session_index = $2
                       AND message_id = ANY($3)
                       AND (($4::bigint IS NULL AND chat_id > $5) OR chat_id = $4)",
                )
                .await
                .map_err(failed)?;
            client
                .execute(
                    &statement,
                    &[
                        &key.user_id,
                        &session_index(*key),
                        message_ids,
                        chat_id,
                        &ACCOUNT_WIDE_IDS_ABOVE,
                    ],
                )
                .await
                .map_err(failed)?;
            Ok(0)
        }
        IndexChange::DeleteMessages {
            key,
            chat_id,
            message_ids,
            event_id: Some(event_id),
        } => {
            // The rows go and their tombstones are written in one statement (a
            // data-modifying WITH runs whether or not it is referenced). DISTINCT: an id
            // told twice would make the upsert touch its tombstone twice, an error.
            let statement = client
                .prepare_cached(
                    "WITH gone AS (
                         DELETE FROM search_messages
                         WHERE user_id = $1 AND session_index = $2
                           AND message_id = ANY($3)
                           AND (($4::bigint IS NULL AND chat_id > $5) OR chat_id = $4))
                     INSERT INTO search_deleted (user_id, session_index, message_id, chat_id,
                                                 event_id, deleted_at)
                     SELECT $1::uuid, $2::int, deleted.id, COALESCE($4::bigint, $6::bigint), $7::bigint,
                            floor(extract(epoch FROM now()))::bigint
                     FROM (SELECT DISTINCT unnest($3::int[])) AS deleted(id)
                     ON CONFLICT (user_id, session_index, message_id, chat_id) DO UPDATE
                     SET event_id = GREATEST(search_deleted.event_id, excluded.event_id),
                         deleted_at = GREATEST(search_deleted.deleted_at, excluded.deleted_at)",
                )
                .await
                .map_err(failed)?;
            client
                .execute(
                    &statement,
                    &[
                        &key.user_id,
                        &session_index(*key),
                        message_ids,
                        chat_id,
                        &ACCOUNT_WIDE_IDS_ABOVE,
                        &ANY_ACCOUNT_WIDE_CHAT,
                        event_id,
                    ],
                )
                .await
                .map_err(failed)?;
            Ok(0)
        }
        IndexChange::UpsertChat { chat, event_id } => {
            let statement = client
                .prepare_cached(
                    "INSERT INTO search_chats (user_id, session_index, chat_id, kind,
                         title, username, phone, top_date, event_id)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                     ON CONFLICT (user_id, session_index, chat_id) DO UPDATE SET
                         kind = excluded.kind, title = excluded.title,
                         username = excluded.username,
                         phone = CASE WHEN excluded.phone = '' THEN search_chats.phone
                                      ELSE excluded.phone END,
                         top_date = GREATEST(search_chats.top_date, excluded.top_date),
                         event_id = excluded.event_id
                     WHERE search_chats.event_id IS NULL
                        OR search_chats.event_id < excluded.event_id",
                )
                .await
                .map_err(failed)?;
            let written = client
                .execute(
                    &statement,
                    &[
                        &chat.key.user_id,
                        &session_index(chat.key),
                        &chat.chat_id,
                        &chat.kind,
                        &chat.title,
                        &chat.username,
                        &chat.phone,
                        &chat.top_date,
                        event_id,
                    ],
                )
                .await
                .map_err(failed)?;
            Ok(u64::from(written == 0 && event_id.is_some()))
        }
    }
}

#[async_trait]
impl SearchIndex for PostgresIndex {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn apply(&self, changes: &[IndexChange]) -> Result<Applied> {
        if changes.is_empty() {
            return Ok(Applied::default());
        }
        let mut client = self.client().await?;
        // A batch of one change (one event: usual at a low rate) is one statement, not a
        // transaction of three round trips.
        if let [change] = changes {
            let skipped_stale = apply_change(&client, change).await?;
            return Ok(Applied { skipped_stale });
        }
        let transaction = client.transaction().await.map_err(failed)?;
        let mut applied = Applied::default();
        for change in changes {
            applied.skipped_stale += apply_change(&transaction, change).await?;
        }
        transaction.commit().await.map_err(failed)?;
        Ok(applied)
    }

    async fn add_found(&self, messages: &[IndexedMessage]) -> Result<Vec<(i64, i32)>> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(failed)?;
        // Parameters of an INSERT .. SELECT are not typed by the columns: cast each.
        let statement = transaction
            .prepare_cached(concat!(
                "INSERT INTO search_messages (user_id, session_index, chat_id, message_id,
                     date, sender_id, kinds, terms, event_id)
                 SELECT $1::uuid, $2::int, $3::bigint, $4::int, $5::bigint, $6::bigint,
                        $7::int, array_to_tsvector($8::text[]), $9::bigint
                 WHERE EXISTS (SELECT 1 FROM search_accounts
                               WHERE user_id = $1::uuid AND session_index = $2::int)
                   AND ",
                not_deleted!(),
                "
                 ON CONFLICT (user_id, session_index, chat_id, message_id) DO NOTHING"
            ))
            .await
            .map_err(failed)?;
        let mut added = Vec::new();
        for message in messages {
            if execute_message(&transaction, &statement, message, None).await? > 0 {
                added.push((message.chat_id, message.message_id));
            }
        }
        transaction.commit().await.map_err(failed)?;
        Ok(added)
    }

    async fn search_messages(
        &self,
        key: AccountKey,
        query: &MessageQuery,
    ) -> Result<Vec<MessageRef>> {
        let client = self.client().await?;
        let (before_date, before_chat, before_message) = match query.before {
            Some((date, chat, message)) => (Some(date), Some(chat), Some(message)),
            None => (None, None, None),
        };
        let text_query = (!query.terms.is_empty()).then(|| tsquery(&scope_of(key), &query.terms));
        let limit = i64::from(query.limit.clamp(1, 1000));
        let rows = query_rows(
            &client,
            "SELECT chat_id, message_id, date FROM search_messages
             WHERE user_id = $1 AND session_index = $2
               AND ($3::text IS NULL OR terms @@ $3::tsquery)
               AND ($4::bigint IS NULL OR chat_id = $4)
               AND ($5::bigint IS NULL OR date >= $5) AND ($6::bigint IS NULL OR date <= $6)
               AND ($7::bigint IS NULL OR sender_id = $7)
               AND ($8::int IS NULL OR (kinds & $8) <> 0)
               AND ($9::bigint IS NULL OR (date, chat_id, message_id) < ($9, $10, $11))
             ORDER BY date DESC, chat_id DESC, message_id DESC
             LIMIT $12",
            &[
                &key.user_id,
                &session_index(key),
                &text_query,
                &query.chat_id,
                &query.from_date,
                &query.to_date,
                &query.sender_id,
                &query.kinds,
                &before_date,
                &before_chat,
                &before_message,
                &limit,
            ],
        )
        .await?;
        Ok(rows
            .iter()
            .map(|row| MessageRef {
                chat_id: row.get(0),
                message_id: row.get(1),
                date: row.get(2),
            })
            .collect())
    }

    async fn chats(&self, key: AccountKey, limit: u32) -> Result<Vec<IndexedChat>> {
        let client = self.client().await?;
        let rows = query_rows(
            &client,
            "SELECT chat_id, kind, title, username, phone, top_date FROM search_chats
             WHERE user_id = $1 AND session_index = $2
             ORDER BY top_date DESC, chat_id DESC LIMIT $3",
            &[&key.user_id, &session_index(key), &i64::from(limit)],
        )
        .await?;
        Ok(rows
            .iter()
            .map(|row| IndexedChat {
                key,
                chat_id: row.get(0),
                kind: row.get(1),
                title: row.get(2),
                username: row.get(3),
                phone: row.get(4),
                top_date: row.get(5),
            })
            .collect())
    }

    async fn forget_account(&self, key: AccountKey) -> Result<()> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(failed)?;
        for sql in [
            "DELETE FROM search_messages WHERE user_id = $1 AND session_index = $2",
            "DELETE FROM search_chats WHERE user_id = $1 AND session_index = $2",
            "DELETE FROM search_accounts WHERE user_id = $1 AND session_index = $2",
        ] {
            transaction
                .execute(sql, &[&key.user_id, &session_index(key)])
                .await
                .map_err(failed)?;
        }
        transaction.commit().await.map_err(failed)
    }

    async fn sweep_tombstones(&self, deleted_before: i64) -> Result<u64> {
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM search_deleted WHERE deleted_at < $1",
                &[&deleted_before],
            )
            .await
            .map_err(failed)
    }

    async fn mark_built(&self, key: AccountKey) -> Result<()> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO search_accounts (user_id, session_index, built_at)
                 VALUES ($1, $2, now())
                 ON CONFLICT (user_id, session_index) DO UPDATE SET built_at = now()",
                &[&key.user_id, &session_index(key)],
            )
            .await
            .map(drop)
            .map_err(failed)
    }

    async fn built_accounts(&self) -> Result<Vec<AccountKey>> {
        let client = self.client().await?;
        let rows = query_rows(
            &client,
            "SELECT user_id, session_index FROM search_accounts",
            &[],
        )
        .await?;
        Ok(rows
            .iter()
            .map(|row| AccountKey {
                user_id: row.get(0),
                session_index: u32::try_from(row.get::<_, i32>(1)).unwrap_or(0),
            })
            .collect())
    }

    async fn message_count(&self, key: AccountKey) -> Result<u64> {
        let client = self.client().await?;
        let rows = query_rows(
            &client,
            "SELECT COUNT(*) FROM search_messages WHERE user_id = $1 AND session_index = $2",
            &[&key.user_id, &session_index(key)],
        )
        .await?;
        let count: i64 = rows.first().map_or(0, |row| row.get(0));
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn size_on_disk(&self) -> Result<u64> {
        let client = self.client().await?;
        let rows = query_rows(
            &client,
            "SELECT COALESCE(SUM(pg_total_relation_size(name::regclass)), 0)::bigint
             FROM unnest(ARRAY['search_messages', 'search_chats', 'search_accounts',
                               'search_deleted']) AS name",
            &[],
        )
        .await?;
        let bytes: i64 = rows.first().map_or(0, |row| row.get(0));
        Ok(u64::try_from(bytes).unwrap_or(0))
    }
}
