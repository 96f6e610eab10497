//! The index in SQLite (the embedded default): its own file beside the store's, an FTS5
//! table of scoped terms (contentless: the terms are not stored twice) joined by rowid to
//! a plain table of the messages' columns.
//!
//! One writer connection and a few readers (WAL lets them read while it writes); calls
//! run on the blocking pool so they never stall the async runtime.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension as _, params};
use talkapp_store::AccountKey;

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
        include_str!("../../migrations/sqlite/0001_search_index.sql"),
    ),
    (
        2,
        "event_order",
        include_str!("../../migrations/sqlite/0002_event_order.sql"),
    ),
];

/// Reader connections (searches run side by side; the writer is one).
const READERS: usize = 4;

/// The SQLite implementation of [`SearchIndex`].
#[derive(Clone)]
pub struct SqliteIndex {
    path: PathBuf,
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Vec<Mutex<Connection>>>,
    next_reader: Arc<AtomicUsize>,
}

fn unavailable(error: impl std::fmt::Display) -> IndexError {
    IndexError::Unavailable(error.to_string())
}

fn failed(error: rusqlite::Error) -> IndexError {
    match &error {
        rusqlite::Error::SqliteFailure(failure, _)
            if matches!(
                failure.code,
                rusqlite::ErrorCode::DatabaseBusy
                    | rusqlite::ErrorCode::DatabaseLocked
                    | rusqlite::ErrorCode::CannotOpen
                    | rusqlite::ErrorCode::DiskFull
                    | rusqlite::ErrorCode::SystemIoFailure
            ) =>
        {
            IndexError::Unavailable(error.to_string())
        }
        _ => IndexError::Internal(error.to_string()),
    }
}

fn open_connection(path: &Path) -> Result<Connection> {
    let connection = Connection::open(path).map_err(failed)?;
    connection
        .execute_batch(
            // WAL: readers go on while the writer writes; NORMAL sync is durable across
            // process crashes in WAL mode (the index can be rebuilt from the cache anyway);
            // the busy timeout covers the writer's short transactions.
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA busy_timeout = 5000;",
        )
        .map_err(failed)?;
    connection.set_prepared_statement_cache_capacity(64);
    Ok(connection)
}

fn migrate(connection: &mut Connection) -> Result<()> {
    talkapp_store::migrations::apply_sqlite(
        connection,
        "search_schema_migrations",
        MIGRATIONS,
        |_| Ok(()),
        || chrono::Utc::now().timestamp(),
    )
    .map_err(failed)
}

/// The FTS5 query for `terms` of the account with `scope`: each a quoted prefix, all
/// required. The terms are folded words (letters and digits only), and quoting makes
/// every one a plain string to FTS5 whatever it holds.
fn match_expression(scope: &str, terms: &[String]) -> String {
    terms
        .iter()
        .map(|term| format!("\"{}\"*", scoped_term(scope, term).replace('"', "")))
        .collect::<Vec<_>>()
        .join(" AND ")
}

fn terms_document(message: &IndexedMessage) -> String {
    let scope = scope_of(message.key);
    message
        .terms
        .iter()
        .map(|term| scoped_term(&scope, term))
        .collect::<Vec<_>>()
        .join(" ")
}

fn insert_terms(
    transaction: &rusqlite::Transaction<'_>,
    id: i64,
    message: &IndexedMessage,
) -> Result<()> {
    transaction
        .prepare_cached("INSERT INTO search_terms (rowid, terms) VALUES (?1, ?2)")
        .map_err(failed)?
        .execute(params![id, terms_document(message)])
        .map_err(failed)?;
    Ok(())
}

/// Runs `sql`, an insert of `message`'s row (`?1`..`?8`: account, chat, message, date,
/// sender, kinds, event id) that returns its row id, when it returns one.
fn message_row(
    transaction: &rusqlite::Transaction<'_>,
    sql: &str,
    message: &IndexedMessage,
    event_id: EventId,
) -> Result<Option<i64>> {
    transaction
        .prepare_cached(sql)
        .map_err(failed)?
        .query_row(
            params![
                message.key.user_id.to_string(),
                message.key.session_index,
                message.chat_id,
                message.message_id,
                message.date,
                message.sender_id,
                message.kinds,
                event_id,
            ],
            |row| row.get(0),
        )
        .optional()
        .map_err(failed)
}

/// The condition of a message insert (`?1`..`?4`: account, chat, message) that no
/// tombstone covers the message: one of its chat, or one of a deletion told without its
/// chat ([`ANY_ACCOUNT_WIDE_CHAT`]) when the chat's ids are account-wide
/// ([`ACCOUNT_WIDE_IDS_ABOVE`]).
/// A macro, so the statements that hold it are literals (`concat!`), not text built
/// for every change.
macro_rules! not_deleted {
    () => {
        "NOT EXISTS (
            SELECT 1 FROM search_deleted d
            WHERE d.user_id = ?1 AND d.session_index = ?2 AND d.message_id = ?4
              AND (d.chat_id = ?3 OR (d.chat_id = 0 AND ?3 > -1000000000000)))"
    };
}

/// Adds `message` unless the index holds it already, it was deleted or its account is
/// not built; its row id when added.
fn add_found_message(
    transaction: &rusqlite::Transaction<'_>,
    message: &IndexedMessage,
) -> Result<Option<i64>> {
    let id = message_row(
        transaction,
        concat!(
            "INSERT INTO search_messages (user_id, session_index, chat_id, message_id,
                                          date, sender_id, kinds, event_id)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8
             WHERE EXISTS (SELECT 1 FROM search_accounts
                           WHERE user_id = ?1 AND session_index = ?2)
               AND ",
            not_deleted!(),
            "
             ON CONFLICT (user_id, session_index, chat_id, message_id) DO NOTHING
             RETURNING id"
        ),
        message,
        None,
    )?;
    if let Some(id) = id {
        insert_terms(transaction, id, message)?;
    }
    Ok(id)
}

/// Deletes the message's rows (one, or with no chat the account-wide ones) and their terms.
fn delete_messages(
    transaction: &rusqlite::Transaction<'_>,
    key: AccountKey,
    chat_id: Option<i64>,
    message_id: i32,
) -> Result<()> {
    // Without a chat: the account-wide ids of private chats and basic groups.
    let removed: Vec<i64> = transaction
        .prepare_cached(
            "DELETE FROM search_messages
             WHERE user_id = ?1 AND session_index = ?2 AND message_id = ?3
               AND ((?4 IS NULL AND chat_id > ?5) OR chat_id = ?4)
             RETURNING id",
        )
        .map_err(failed)?
        .query_map(
            params![
                key.user_id.to_string(),
                key.session_index,
                message_id,
                chat_id,
                ACCOUNT_WIDE_IDS_ABOVE,
            ],
            |row| row.get(0),
        )
        .map_err(failed)?
        .collect::<rusqlite::Result<_>>()
        .map_err(failed)?;
    for id in removed {
        transaction
            .prepare_cached("DELETE FROM search_terms WHERE rowid = ?1")
            .map_err(failed)?
            .execute([id])
            .map_err(failed)?;
    }
    Ok(())
}

/// Applies one change; 1 when it was an upsert with an event id that was skipped as
/// stale, else 0.
fn apply_change(transaction: &rusqlite::Transaction<'_>, change: &IndexChange) -> Result<u64> {
    match change {
        IndexChange::UpsertMessage { message, event_id } => {
            let id = message_row(
                transaction,
                concat!(
                    "INSERT INTO search_messages (user_id, session_index, chat_id, message_id,
                                                  date, sender_id, kinds, event_id)
                     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8
                     WHERE ",
                    not_deleted!(),
                    "
                     ON CONFLICT (user_id, session_index, chat_id, message_id) DO UPDATE SET
                         date = excluded.date, sender_id = excluded.sender_id,
                         kinds = excluded.kinds, event_id = excluded.event_id
                     WHERE search_messages.event_id IS NULL
                        OR search_messages.event_id < excluded.event_id
                     RETURNING id"
                ),
                message,
                *event_id,
            )?;
            // Nothing written: deleted, or the row holds a newer event's write.
            let Some(id) = id else {
                return Ok(u64::from(event_id.is_some()));
            };
            transaction
                .prepare_cached("DELETE FROM search_terms WHERE rowid = ?1")
                .map_err(failed)?
                .execute([id])
                .map_err(failed)?;
            insert_terms(transaction, id, message)?;
            Ok(0)
        }
        IndexChange::DeleteMessages {
            key,
            chat_id,
            message_ids,
            event_id,
        } => {
            for message_id in message_ids {
                delete_messages(transaction, *key, *chat_id, *message_id)?;
                let Some(event_id) = event_id else { continue };
                transaction
                    .prepare_cached(
                        "INSERT INTO search_deleted (user_id, session_index, message_id,
                                                     chat_id, event_id, deleted_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                         ON CONFLICT (user_id, session_index, message_id, chat_id) DO UPDATE
                         SET event_id = MAX(search_deleted.event_id, excluded.event_id),
                             deleted_at = MAX(search_deleted.deleted_at, excluded.deleted_at)",
                    )
                    .map_err(failed)?
                    .execute(params![
                        key.user_id.to_string(),
                        key.session_index,
                        message_id,
                        chat_id.unwrap_or(ANY_ACCOUNT_WIDE_CHAT),
                        event_id,
                        chrono::Utc::now().timestamp(),
                    ])
                    .map_err(failed)?;
            }
            Ok(0)
        }
        IndexChange::UpsertChat { chat, event_id } => {
            let written = transaction
                .prepare_cached(
                    "INSERT INTO search_chats (user_id, session_index, chat_id, kind, title,
                                               username, phone, top_date, event_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                     ON CONFLICT (user_id, session_index, chat_id) DO UPDATE SET
                         kind = excluded.kind, title = excluded.title,
                         username = excluded.username,
                         phone = CASE WHEN excluded.phone = '' THEN search_chats.phone
                                      ELSE excluded.phone END,
                         top_date = MAX(search_chats.top_date, excluded.top_date),
                         event_id = excluded.event_id
                     WHERE search_chats.event_id IS NULL
                        OR search_chats.event_id < excluded.event_id",
                )
                .map_err(failed)?
                .execute(params![
                    chat.key.user_id.to_string(),
                    chat.key.session_index,
                    chat.chat_id,
                    chat.kind,
                    chat.title,
                    chat.username,
                    chat.phone,
                    chat.top_date,
                    event_id,
                ])
                .map_err(failed)?;
            Ok(u64::from(written == 0 && event_id.is_some()))
        }
    }
}

impl SqliteIndex {
    /// Opens (creating if needed) the index file at `path` and migrates it.
    pub async fn open(path: &Path) -> Result<Self> {
        let path = path.to_owned();
        let opened = path.clone();
        let (writer, readers) = tokio::task::spawn_blocking(move || -> Result<_> {
            if let Some(parent) = path
                .parent()
                .filter(|parent| !parent.as_os_str().is_empty())
            {
                talkapp_common::secrets::create_private_dir(parent).map_err(|error| {
                    unavailable(format!("cannot create {}: {error}", parent.display()))
                })?;
            }
            // The index holds the accounts' messages: its owner's only.
            talkapp_common::secrets::private_database_file(&path)
                .map_err(|error| unavailable(format!("cannot open {}: {error}", path.display())))?;
            let mut writer = open_connection(&path)?;
            migrate(&mut writer)?;
            let readers = (0..READERS)
                .map(|_| open_connection(&path).map(Mutex::new))
                .collect::<Result<Vec<_>>>()?;
            Ok((writer, readers))
        })
        .await
        .map_err(|error| IndexError::Internal(error.to_string()))??;
        Ok(Self {
            path: opened,
            writer: Arc::new(Mutex::new(writer)),
            readers: Arc::new(readers),
            next_reader: Arc::new(AtomicUsize::new(0)),
        })
    }

    async fn write<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let writer = Arc::clone(&self.writer);
        tokio::task::spawn_blocking(move || {
            let mut connection = writer
                .lock()
                .map_err(|_| IndexError::Internal("index writer lock poisoned".into()))?;
            work(&mut connection)
        })
        .await
        .map_err(|error| IndexError::Internal(error.to_string()))?
    }

    async fn read<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let readers = Arc::clone(&self.readers);
        let first = self.next_reader.fetch_add(1, Ordering::Relaxed);
        tokio::task::spawn_blocking(move || {
            // The first free reader from a rotating start; wait on one when all are busy.
            for offset in 0..readers.len() {
                if let Ok(connection) = readers[(first + offset) % readers.len()].try_lock() {
                    return work(&connection);
                }
            }
            let connection = readers[first % readers.len()]
                .lock()
                .map_err(|_| IndexError::Internal("index reader lock poisoned".into()))?;
            work(&connection)
        })
        .await
        .map_err(|error| IndexError::Internal(error.to_string()))?
    }
}

fn message_ref(row: &rusqlite::Row<'_>) -> rusqlite::Result<MessageRef> {
    Ok(MessageRef {
        chat_id: row.get(0)?,
        message_id: row.get(1)?,
        date: row.get(2)?,
    })
}

#[async_trait]
impl SearchIndex for SqliteIndex {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn apply(&self, changes: &[IndexChange]) -> Result<Applied> {
        if changes.is_empty() {
            return Ok(Applied::default());
        }
        let changes = changes.to_vec();
        self.write(move |connection| {
            let transaction = connection.transaction().map_err(failed)?;
            let mut applied = Applied::default();
            for change in &changes {
                applied.skipped_stale += apply_change(&transaction, change)?;
            }
            transaction.commit().map_err(failed)?;
            Ok(applied)
        })
        .await
    }

    async fn add_found(&self, messages: &[IndexedMessage]) -> Result<Vec<(i64, i32)>> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let messages = messages.to_vec();
        self.write(move |connection| {
            let transaction = connection.transaction().map_err(failed)?;
            let mut added = Vec::new();
            for message in &messages {
                if add_found_message(&transaction, message)?.is_some() {
                    added.push((message.chat_id, message.message_id));
                }
            }
            transaction.commit().map_err(failed)?;
            Ok(added)
        })
        .await
    }

    async fn search_messages(
        &self,
        key: AccountKey,
        query: &MessageQuery,
    ) -> Result<Vec<MessageRef>> {
        let query = query.clone();
        self.read(move |connection| {
            let (before_date, before_chat, before_message) = match query.before {
                Some((date, chat, message)) => (Some(date), Some(chat), Some(message)),
                None => (None, None, None),
            };
            let filters = "m.user_id = ?1 AND m.session_index = ?2
                   AND (?3 IS NULL OR m.chat_id = ?3)
                   AND (?4 IS NULL OR m.date >= ?4) AND (?5 IS NULL OR m.date <= ?5)
                   AND (?6 IS NULL OR m.sender_id = ?6)
                   AND (?7 IS NULL OR (m.kinds & ?7) != 0)
                   AND (?8 IS NULL OR (m.date, m.chat_id, m.message_id) < (?8, ?9, ?10))";
            let order = "ORDER BY m.date DESC, m.chat_id DESC, m.message_id DESC LIMIT ?11";
            let limit = i64::from(query.limit.clamp(1, 1000));
            let user_id = key.user_id.to_string();
            let expression;
            let mut values = params![
                user_id,
                key.session_index,
                query.chat_id,
                query.from_date,
                query.to_date,
                query.sender_id,
                query.kinds,
                before_date,
                before_chat,
                before_message,
                limit,
            ]
            .to_vec();
            let sql = if query.terms.is_empty() {
                format!(
                    "SELECT m.chat_id, m.message_id, m.date FROM search_messages m
                     WHERE {filters} {order}"
                )
            } else {
                expression = match_expression(&scope_of(key), &query.terms);
                values.push(&expression);
                // The full-text match runs once, as a set the account's rows are checked
                // against; as the inner side of a join it would run again for every row.
                format!(
                    "SELECT m.chat_id, m.message_id, m.date FROM search_messages m
                     WHERE m.id IN (SELECT rowid FROM search_terms WHERE search_terms MATCH ?12)
                       AND {filters} {order}"
                )
            };
            let mut statement = connection.prepare_cached(&sql).map_err(failed)?;
            let rows = statement
                .query_map(values.as_slice(), message_ref)
                .map_err(failed)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(failed)
        })
        .await
    }

    async fn chats(&self, key: AccountKey, limit: u32) -> Result<Vec<IndexedChat>> {
        self.read(move |connection| {
            let mut statement = connection
                .prepare_cached(
                    "SELECT chat_id, kind, title, username, phone, top_date FROM search_chats
                     WHERE user_id = ?1 AND session_index = ?2
                     ORDER BY top_date DESC, chat_id DESC LIMIT ?3",
                )
                .map_err(failed)?;
            let rows = statement
                .query_map(
                    params![key.user_id.to_string(), key.session_index, i64::from(limit)],
                    |row| {
                        Ok(IndexedChat {
                            key,
                            chat_id: row.get(0)?,
                            kind: row.get(1)?,
                            title: row.get(2)?,
                            username: row.get(3)?,
                            phone: row.get(4)?,
                            top_date: row.get(5)?,
                        })
                    },
                )
                .map_err(failed)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(failed)
        })
        .await
    }

    async fn forget_account(&self, key: AccountKey) -> Result<()> {
        self.write(move |connection| {
            let transaction = connection.transaction().map_err(failed)?;
            let user_id = key.user_id.to_string();
            transaction
                .execute(
                    "DELETE FROM search_terms WHERE rowid IN (
                         SELECT id FROM search_messages WHERE user_id = ?1 AND session_index = ?2)",
                    params![user_id, key.session_index],
                )
                .map_err(failed)?;
            for sql in [
                "DELETE FROM search_messages WHERE user_id = ?1 AND session_index = ?2",
                "DELETE FROM search_chats WHERE user_id = ?1 AND session_index = ?2",
                "DELETE FROM search_accounts WHERE user_id = ?1 AND session_index = ?2",
            ] {
                transaction
                    .execute(sql, params![user_id, key.session_index])
                    .map_err(failed)?;
            }
            transaction.commit().map_err(failed)
        })
        .await
    }

    async fn sweep_tombstones(&self, deleted_before: i64) -> Result<u64> {
        self.write(move |connection| {
            connection
                .execute(
                    "DELETE FROM search_deleted WHERE deleted_at < ?1",
                    [deleted_before],
                )
                .map(|swept| u64::try_from(swept).unwrap_or(0))
                .map_err(failed)
        })
        .await
    }

    async fn mark_built(&self, key: AccountKey) -> Result<()> {
        self.write(move |connection| {
            connection
                .execute(
                    "INSERT INTO search_accounts (user_id, session_index, built_at)
                     VALUES (?1, ?2, ?3)
                     ON CONFLICT (user_id, session_index) DO UPDATE SET built_at = excluded.built_at",
                    params![
                        key.user_id.to_string(),
                        key.session_index,
                        chrono::Utc::now().timestamp()
                    ],
                )
                .map(drop)
                .map_err(failed)
        })
        .await
    }

    async fn built_accounts(&self) -> Result<Vec<AccountKey>> {
        self.read(move |connection| {
            let mut statement = connection
                .prepare_cached("SELECT user_id, session_index FROM search_accounts")
                .map_err(failed)?;
            let rows = statement
                .query_map([], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, u32>(1)?))
                })
                .map_err(failed)?;
            let mut keys = Vec::new();
            for row in rows {
                let (user_id, session_index) = row.map_err(failed)?;
                let user_id = uuid::Uuid::parse_str(&user_id)
                    .map_err(|error| IndexError::Internal(error.to_string()))?;
                keys.push(AccountKey {
                    user_id,
                    session_index,
                });
            }
            Ok(keys)
        })
        .await
    }

    async fn message_count(&self, key: AccountKey) -> Result<u64> {
        self.read(move |connection| {
            connection
                .query_row(
                    "SELECT COUNT(*) FROM search_messages WHERE user_id = ?1 AND session_index = ?2",
                    params![key.user_id.to_string(), key.session_index],
                    |row| row.get::<_, i64>(0),
                )
                .map(|count| u64::try_from(count).unwrap_or(0))
                .map_err(failed)
        })
        .await
    }

    async fn size_on_disk(&self) -> Result<u64> {
        let mut total = 0;
        for suffix in ["", "-wal"] {
            let mut path = self.path.clone().into_os_string();
            path.push(suffix);
            if let Ok(metadata) = std::fs::metadata(&path) {
                total += metadata.len();
            }
        }
        Ok(total)
    }
}
