//! The chat cache. Lists of ids travel as JSON arrays (`json_each`), so every statement
//! has a fixed text and is prepared once.

use rusqlite::{Connection, Transaction};

use super::{
    CachedStatements, OptionalExtension, Result, Row, SqliteStore, async_trait, json_ids,
    map_error, params,
};
use crate::cache_columns::{
    CHAT_WIDTH, MESSAGE_WIDTH, USER_WIDTH, chat_columns, chat_list_filter, history_filter,
    message_columns, user_columns,
};
use crate::{
    AccountKey, CachedChat, CachedHistory, CachedMessage, CachedUser, ChatCacheReads,
    ChatCacheStore, ChatListPage, ChatListQuery, ChatProfile, DialogState, HistoryQuery,
    ListedChat, kind_of_chat_id,
};

fn limit(limit: u32) -> i64 {
    i64::from(limit.clamp(1, 1000))
}

/// A chat from the [`chat_columns`] starting at column `at`.
fn chat_at(row: &Row<'_>, at: usize) -> rusqlite::Result<CachedChat> {
    let in_dialogs: bool = row.get(at + 9)?;
    Ok(CachedChat {
        profile: ChatProfile {
            chat_id: row.get(at)?,
            kind: row.get(at + 1)?,
            title: row.get(at + 2)?,
            username: row.get(at + 3)?,
            photo: row.get(at + 4)?,
            members_count: row.get(at + 5)?,
            is_creator: row.get(at + 6)?,
            is_admin: row.get(at + 7)?,
            has_left: row.get(at + 8)?,
        },
        dialog: if in_dialogs {
            Some(DialogState {
                unread_count: row.get(at + 10)?,
                read_inbox_max_id: row.get(at + 11)?,
                read_outbox_max_id: row.get(at + 12)?,
                top_message_id: row.get(at + 13)?,
                top_date: row.get(at + 14)?,
                pinned: row.get(at + 15)?,
                archived: row.get(at + 16)?,
                muted_until: row.get(at + 17)?,
            })
        } else {
            None
        },
        history_floor: row.get(at + 18)?,
        history_complete: row.get(at + 19)?,
    })
}

fn chat_from_row(row: &Row<'_>) -> rusqlite::Result<CachedChat> {
    chat_at(row, 0)
}

/// A message from the [`message_columns`] starting at column `at`; `None` where a left
/// join found none.
fn message_at(row: &Row<'_>, at: usize) -> rusqlite::Result<Option<CachedMessage>> {
    let Some(message_id) = row.get(at + 1)? else {
        return Ok(None);
    };
    Ok(Some(CachedMessage {
        chat_id: row.get(at)?,
        message_id,
        date: row.get(at + 2)?,
        edit_date: row.get(at + 3)?,
        sender_id: row.get(at + 4)?,
        outgoing: row.get(at + 5)?,
        text: row.get(at + 6)?,
        reply_to: row.get(at + 7)?,
        views: row.get(at + 8)?,
        service: row.get(at + 9)?,
        details: row.get(at + 10)?,
    }))
}

fn message_from_row(row: &Row<'_>) -> rusqlite::Result<CachedMessage> {
    message_at(row, 0)?.ok_or(rusqlite::Error::InvalidColumnType(
        1,
        "message_id".into(),
        rusqlite::types::Type::Null,
    ))
}

/// A user from the [`user_columns`] starting at column `at`; `None` where a left join
/// found none.
pub(super) fn user_at(row: &Row<'_>, at: usize) -> rusqlite::Result<Option<CachedUser>> {
    let Some(tg_user_id) = row.get(at)? else {
        return Ok(None);
    };
    Ok(Some(CachedUser {
        tg_user_id,
        first_name: row.get(at + 1)?,
        last_name: row.get(at + 2)?,
        username: row.get(at + 3)?,
        phone: row.get(at + 4)?,
        details: row.get(at + 5)?,
    }))
}

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<CachedUser> {
    user_at(row, 0)?.ok_or(rusqlite::Error::InvalidColumnType(
        0,
        "tg_user_id".into(),
        rusqlite::types::Type::Null,
    ))
}

fn upsert_profile(
    transaction: &Transaction<'_>,
    key: AccountKey,
    chat: &ChatProfile,
) -> rusqlite::Result<usize> {
    transaction
        .prepare_cached(
            "INSERT INTO tg_chats (user_id, session_index, chat_id, kind, title, username, photo,
                                   members_count, is_creator, is_admin, has_left)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (user_id, session_index, chat_id) DO UPDATE SET
                 kind = excluded.kind, title = excluded.title, username = excluded.username,
                 photo = excluded.photo,
                 members_count = COALESCE(excluded.members_count, tg_chats.members_count),
                 is_creator = excluded.is_creator, is_admin = excluded.is_admin,
                 has_left = excluded.has_left",
        )?
        .execute(params![
            key.user_id.to_string(),
            key.session_index,
            chat.chat_id,
            chat.kind,
            chat.title,
            chat.username,
            chat.photo,
            chat.members_count,
            chat.is_creator,
            chat.is_admin,
            chat.has_left,
        ])
}

fn query_rows<T>(
    connection: &Connection,
    sql: &str,
    parameters: impl rusqlite::Params,
    map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>> {
    let mut statement = connection.prepare_cached(sql).map_err(map_error)?;
    let rows = statement.query_map(parameters, map).map_err(map_error)?;
    rows.collect::<rusqlite::Result<Vec<T>>>()
        .map_err(map_error)
}

/// One cached chat of the account.
fn chat_by_id(
    connection: &Connection,
    key: AccountKey,
    chat_id: i64,
) -> Result<Option<CachedChat>> {
    connection
        .query_row_cached(
            concat!(
                "SELECT ",
                chat_columns!(""),
                " FROM tg_chats WHERE user_id = ?1 AND session_index = ?2 AND chat_id = ?3"
            ),
            params![key.user_id.to_string(), key.session_index, chat_id],
            chat_from_row,
        )
        .optional()
        .map_err(map_error)
}

/// A page of a chat's history, newest first.
fn history_messages(
    connection: &Connection,
    key: AccountKey,
    chat_id: i64,
    query: &HistoryQuery,
) -> Result<Vec<CachedMessage>> {
    let sql = if query.oldest_first {
        concat!(
            "SELECT ",
            message_columns!(""),
            " FROM tg_messages WHERE ",
            history_filter!(sqlite),
            " ORDER BY message_id ASC LIMIT ?8"
        )
    } else {
        concat!(
            "SELECT ",
            message_columns!(""),
            " FROM tg_messages WHERE ",
            history_filter!(sqlite),
            " ORDER BY message_id DESC LIMIT ?8"
        )
    };
    let mut messages = query_rows(
        connection,
        sql,
        params![
            key.user_id.to_string(),
            key.session_index,
            chat_id,
            query.before_id,
            query.after_id,
            query.from_date,
            query.to_date,
            limit(query.limit),
        ],
        message_from_row,
    )?;
    if query.oldest_first {
        messages.reverse();
    }
    Ok(messages)
}

const USERS_BY_IDS: &str = concat!(
    "SELECT ",
    user_columns!(""),
    " FROM tg_users
     WHERE user_id = ?1 AND session_index = ?2
       AND tg_user_id IN (SELECT value FROM json_each(?3))
     ORDER BY tg_user_id"
);

impl SqliteStore {
    /// The account's rows that `sql` reads for `ids` (`?1` the user, `?2` the session
    /// index, `?3` the ids as a JSON array), each made by `from_row`; no ids, no read.
    async fn account_rows_by_ids<T: Send + 'static>(
        &self,
        key: AccountKey,
        ids: &[i64],
        sql: &'static str,
        from_row: fn(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = json_ids(ids);
        self.read(move |connection| {
            query_rows(
                connection,
                sql,
                params![key.user_id.to_string(), key.session_index, ids],
                from_row,
            )
        })
        .await
    }
}

#[async_trait]
impl ChatCacheStore for SqliteStore {
    async fn upsert_chat_profiles(&self, key: AccountKey, chats: &[ChatProfile]) -> Result<()> {
        if chats.is_empty() {
            return Ok(());
        }
        let chats = chats.to_vec();
        self.call(move |connection| {
            let transaction = connection.transaction().map_err(map_error)?;
            for chat in &chats {
                upsert_profile(&transaction, key, chat).map_err(map_error)?;
            }
            transaction.commit().map_err(map_error)
        })
        .await
    }

    async fn upsert_dialogs(
        &self,
        key: AccountKey,
        dialogs: &[(ChatProfile, DialogState)],
    ) -> Result<()> {
        if dialogs.is_empty() {
            return Ok(());
        }
        let dialogs = dialogs.to_vec();
        self.call(move |connection| {
            let transaction = connection.transaction().map_err(map_error)?;
            for (chat, dialog) in &dialogs {
                upsert_profile(&transaction, key, chat).map_err(map_error)?;
                transaction
                    .prepare_cached(
                        "UPDATE tg_chats SET in_dialogs = 1, unread_count = ?4,
                             read_inbox_max_id = ?5, read_outbox_max_id = ?6,
                             top_message_id = ?7, top_date = ?8, pinned = ?9, archived = ?10,
                             muted_until = ?11
                         WHERE user_id = ?1 AND session_index = ?2 AND chat_id = ?3",
                    )
                    .map_err(map_error)?
                    .execute(params![
                        key.user_id.to_string(),
                        key.session_index,
                        chat.chat_id,
                        dialog.unread_count,
                        dialog.read_inbox_max_id,
                        dialog.read_outbox_max_id,
                        dialog.top_message_id,
                        dialog.top_date,
                        dialog.pinned,
                        dialog.archived,
                        dialog.muted_until,
                    ])
                    .map_err(map_error)?;
            }
            transaction.commit().map_err(map_error)
        })
        .await
    }

    async fn upsert_users(&self, key: AccountKey, users: &[CachedUser]) -> Result<()> {
        if users.is_empty() {
            return Ok(());
        }
        let users = users.to_vec();
        self.call(move |connection| {
            let transaction = connection.transaction().map_err(map_error)?;
            for user in &users {
                transaction
                    .prepare_cached(
                        "INSERT INTO tg_users (user_id, session_index, tg_user_id, first_name,
                                               last_name, username, phone, details)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                         ON CONFLICT (user_id, session_index, tg_user_id) DO UPDATE SET
                             first_name = excluded.first_name, last_name = excluded.last_name,
                             username = excluded.username,
                             phone = CASE WHEN excluded.phone = '' THEN tg_users.phone
                                          ELSE excluded.phone END,
                             details = excluded.details",
                    )
                    .map_err(map_error)?
                    .execute(params![
                        key.user_id.to_string(),
                        key.session_index,
                        user.tg_user_id,
                        user.first_name,
                        user.last_name,
                        user.username,
                        user.phone,
                        user.details,
                    ])
                    .map_err(map_error)?;
            }
            transaction.commit().map_err(map_error)
        })
        .await
    }

    async fn upsert_messages(
        &self,
        key: AccountKey,
        messages: &[CachedMessage],
        from_updates: bool,
    ) -> Result<u64> {
        if messages.is_empty() {
            return Ok(0);
        }
        let messages = messages.to_vec();
        self.call(move |connection| {
            let transaction = connection.transaction().map_err(map_error)?;
            let user_id = key.user_id.to_string();
            let mut inserted_count = 0;
            for message in &messages {
                let existed: bool = transaction
                    .prepare_cached(
                        "SELECT EXISTS (SELECT 1 FROM tg_messages WHERE user_id = ?1
                             AND session_index = ?2 AND chat_id = ?3 AND message_id = ?4)",
                    )
                    .map_err(map_error)?
                    .query_row(
                        params![
                            user_id,
                            key.session_index,
                            message.chat_id,
                            message.message_id
                        ],
                        |row| row.get(0),
                    )
                    .map_err(map_error)?;
                transaction
                    .prepare_cached(
                        "INSERT INTO tg_messages (user_id, session_index, chat_id, message_id,
                             date, edit_date, sender_id, outgoing, text, reply_to, views,
                             service, details)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
                         ON CONFLICT (user_id, session_index, chat_id, message_id) DO UPDATE SET
                             date = excluded.date, edit_date = excluded.edit_date,
                             sender_id = excluded.sender_id, outgoing = excluded.outgoing,
                             text = excluded.text, reply_to = excluded.reply_to,
                             views = excluded.views, service = excluded.service,
                             details = excluded.details",
                    )
                    .map_err(map_error)?
                    .execute(params![
                        user_id,
                        key.session_index,
                        message.chat_id,
                        message.message_id,
                        message.date,
                        message.edit_date,
                        message.sender_id,
                        message.outgoing,
                        message.text,
                        message.reply_to,
                        message.views,
                        message.service,
                        message.details,
                    ])
                    .map_err(map_error)?;
                if !existed {
                    inserted_count += 1;
                }
                let unread = i32::from(!existed && from_updates && !message.outgoing);
                transaction
                    .prepare_cached(
                        "INSERT INTO tg_chats (user_id, session_index, chat_id, kind, title,
                             username, in_dialogs, top_message_id, top_date, unread_count,
                             history_floor)
                         VALUES (?1, ?2, ?3, ?4, '', '', 1, ?5, ?6, ?7,
                                 CASE WHEN ?8 THEN ?5 END)
                         ON CONFLICT (user_id, session_index, chat_id) DO UPDATE SET
                             in_dialogs = 1,
                             top_date = CASE WHEN excluded.top_message_id >= tg_chats.top_message_id
                                             THEN excluded.top_date ELSE tg_chats.top_date END,
                             top_message_id = MAX(tg_chats.top_message_id, excluded.top_message_id),
                             unread_count = tg_chats.unread_count + CASE
                                 WHEN excluded.unread_count > 0
                                      AND excluded.top_message_id > tg_chats.read_inbox_max_id
                                 THEN 1 ELSE 0 END,
                             history_floor = CASE WHEN ?8
                                 THEN MIN(COALESCE(tg_chats.history_floor, ?5), ?5)
                                 ELSE tg_chats.history_floor END",
                    )
                    .map_err(map_error)?
                    .execute(params![
                        user_id,
                        key.session_index,
                        message.chat_id,
                        kind_of_chat_id(message.chat_id),
                        message.message_id,
                        message.date,
                        unread,
                        from_updates,
                    ])
                    .map_err(map_error)?;
            }
            transaction.commit().map_err(map_error)?;
            Ok(inserted_count)
        })
        .await
    }

    async fn delete_messages(
        &self,
        key: AccountKey,
        chat_id: Option<i64>,
        message_ids: &[i32],
    ) -> Result<Vec<i64>> {
        if message_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = json_ids(message_ids);
        self.call(move |connection| {
            let transaction = connection.transaction().map_err(map_error)?;
            let user_id = key.user_id.to_string();
            let mut chats: Vec<i64> = match chat_id {
                Some(chat_id) => query_rows(
                    &transaction,
                    "DELETE FROM tg_messages WHERE user_id = ?1 AND session_index = ?2
                         AND chat_id = ?3 AND message_id IN (SELECT value FROM json_each(?4))
                     RETURNING chat_id",
                    params![user_id, key.session_index, chat_id, ids],
                    |row| row.get(0),
                )?,
                // Without a chat: the account-wide ids of private chats and basic groups.
                None => query_rows(
                    &transaction,
                    "DELETE FROM tg_messages WHERE user_id = ?1 AND session_index = ?2
                         AND chat_id > -1000000000000
                         AND message_id IN (SELECT value FROM json_each(?3))
                     RETURNING chat_id",
                    params![user_id, key.session_index, ids],
                    |row| row.get(0),
                )?,
            };
            chats.sort_unstable();
            chats.dedup();
            for chat in &chats {
                let newest: Option<(i32, i64)> = transaction
                    .query_row_cached(
                        "SELECT message_id, date FROM tg_messages
                         WHERE user_id = ?1 AND session_index = ?2 AND chat_id = ?3
                         ORDER BY message_id DESC LIMIT 1",
                        params![user_id, key.session_index, chat],
                        |row| Ok((row.get(0)?, row.get(1)?)),
                    )
                    .optional()
                    .map_err(map_error)?;
                if let Some((message_id, date)) = newest {
                    transaction
                        .execute_cached(
                            "UPDATE tg_chats SET top_message_id = ?4, top_date = ?5
                             WHERE user_id = ?1 AND session_index = ?2 AND chat_id = ?3
                               AND top_message_id IN (SELECT value FROM json_each(?6))",
                            params![user_id, key.session_index, chat, message_id, date, ids],
                        )
                        .map_err(map_error)?;
                }
            }
            transaction.commit().map_err(map_error)?;
            Ok(chats)
        })
        .await
    }

    async fn set_read_inbox(
        &self,
        key: AccountKey,
        chat_id: i64,
        max_id: i32,
        still_unread: i32,
    ) -> Result<()> {
        self.call(move |connection| {
            connection
                .execute_cached(
                    "UPDATE tg_chats SET read_inbox_max_id = MAX(read_inbox_max_id, ?4),
                         unread_count = ?5
                     WHERE user_id = ?1 AND session_index = ?2 AND chat_id = ?3",
                    params![
                        key.user_id.to_string(),
                        key.session_index,
                        chat_id,
                        max_id,
                        still_unread
                    ],
                )
                .map(drop)
                .map_err(map_error)
        })
        .await
    }

    async fn set_read_outbox(&self, key: AccountKey, chat_id: i64, max_id: i32) -> Result<()> {
        self.call(move |connection| {
            connection
                .execute_cached(
                    "UPDATE tg_chats SET read_outbox_max_id = MAX(read_outbox_max_id, ?4)
                     WHERE user_id = ?1 AND session_index = ?2 AND chat_id = ?3",
                    params![key.user_id.to_string(), key.session_index, chat_id, max_id],
                )
                .map(drop)
                .map_err(map_error)
        })
        .await
    }

    async fn set_history_floor(
        &self,
        key: AccountKey,
        chat_id: i64,
        floor: i32,
        complete: bool,
    ) -> Result<()> {
        self.call(move |connection| {
            connection
                .execute_cached(
                    "UPDATE tg_chats SET
                         history_floor = MIN(COALESCE(history_floor, ?4), ?4),
                         history_complete = history_complete OR ?5
                     WHERE user_id = ?1 AND session_index = ?2 AND chat_id = ?3
                       AND (history_floor IS NULL OR history_floor > ?4
                            OR (?5 AND NOT history_complete))",
                    params![
                        key.user_id.to_string(),
                        key.session_index,
                        chat_id,
                        floor,
                        complete
                    ],
                )
                .map(drop)
                .map_err(map_error)
        })
        .await
    }

    async fn clear_cache(&self, key: AccountKey) -> Result<()> {
        self.call(move |connection| {
            let transaction = connection.transaction().map_err(map_error)?;
            for sql in [
                "DELETE FROM tg_messages WHERE user_id = ?1 AND session_index = ?2",
                "DELETE FROM tg_chats WHERE user_id = ?1 AND session_index = ?2",
                "DELETE FROM tg_users WHERE user_id = ?1 AND session_index = ?2",
            ] {
                transaction
                    .execute_cached(sql, params![key.user_id.to_string(), key.session_index])
                    .map_err(map_error)?;
            }
            transaction.commit().map_err(map_error)
        })
        .await
    }
}

#[async_trait]
impl ChatCacheReads for SqliteStore {
    async fn list_chats(&self, key: AccountKey, query: &ChatListQuery) -> Result<Vec<CachedChat>> {
        let query = query.clone();
        self.read(move |connection| {
            let (after_date, after_chat) = query.after.unzip();
            query_rows(
                connection,
                concat!(
                    "SELECT ",
                    chat_columns!(""),
                    " FROM tg_chats WHERE ",
                    chat_list_filter!(sqlite),
                    " ORDER BY top_date DESC, chat_id DESC LIMIT ?7"
                ),
                params![
                    key.user_id.to_string(),
                    key.session_index,
                    query.kind,
                    query.archived,
                    after_date,
                    after_chat,
                    limit(query.limit),
                ],
                chat_from_row,
            )
        })
        .await
    }

    async fn chat_list_page(&self, key: AccountKey, query: &ChatListQuery) -> Result<ChatListPage> {
        let query = query.clone();
        self.read(move |connection| {
            let (after_date, after_chat) = query.after.unzip();
            let rows = query_rows(
                connection,
                // The page first, then for each of its chats one primary-key lookup of
                // its newest message, of a private chat's other user, and of that
                // message's sender.
                concat!(
                    "SELECT ",
                    chat_columns!("c."),
                    ", ",
                    message_columns!("m."),
                    ", ",
                    user_columns!("p."),
                    ", ",
                    user_columns!("s."),
                    " FROM (SELECT ",
                    chat_columns!(""),
                    " FROM tg_chats WHERE ",
                    chat_list_filter!(sqlite),
                    " ORDER BY top_date DESC, chat_id DESC LIMIT ?7) c
                     LEFT JOIN tg_messages m
                       ON m.user_id = ?1 AND m.session_index = ?2
                      AND m.chat_id = c.chat_id AND m.message_id = c.top_message_id
                     LEFT JOIN tg_users p
                       ON c.chat_id > 0 AND p.user_id = ?1 AND p.session_index = ?2
                      AND p.tg_user_id = c.chat_id
                     LEFT JOIN tg_users s
                       ON m.sender_id > 0 AND m.sender_id <> c.chat_id
                      AND s.user_id = ?1 AND s.session_index = ?2 AND s.tg_user_id = m.sender_id
                     ORDER BY c.top_date DESC, c.chat_id DESC"
                ),
                params![
                    key.user_id.to_string(),
                    key.session_index,
                    query.kind,
                    query.archived,
                    after_date,
                    after_chat,
                    limit(query.limit),
                ],
                |row| {
                    Ok((
                        ListedChat {
                            chat: chat_at(row, 0)?,
                            top_message: message_at(row, CHAT_WIDTH)?,
                        },
                        user_at(row, CHAT_WIDTH + MESSAGE_WIDTH)?,
                        user_at(row, CHAT_WIDTH + MESSAGE_WIDTH + USER_WIDTH)?,
                    ))
                },
            )?;
            Ok(ChatListPage::from_rows(rows))
        })
        .await
    }

    async fn cached_chat(&self, key: AccountKey, chat_id: i64) -> Result<Option<CachedChat>> {
        self.read(move |connection| chat_by_id(connection, key, chat_id))
            .await
    }

    async fn cached_chats(&self, key: AccountKey, chat_ids: &[i64]) -> Result<Vec<CachedChat>> {
        self.account_rows_by_ids(
            key,
            chat_ids,
            concat!(
                "SELECT ",
                chat_columns!(""),
                " FROM tg_chats
                 WHERE user_id = ?1 AND session_index = ?2
                   AND chat_id IN (SELECT value FROM json_each(?3))
                 ORDER BY chat_id"
            ),
            chat_from_row,
        )
        .await
    }

    async fn cached_messages(
        &self,
        key: AccountKey,
        chat_id: i64,
        query: &HistoryQuery,
    ) -> Result<Vec<CachedMessage>> {
        let query = query.clone();
        self.read(move |connection| history_messages(connection, key, chat_id, &query))
            .await
    }

    async fn history_page(
        &self,
        key: AccountKey,
        chat_id: i64,
        query: &HistoryQuery,
    ) -> Result<Option<CachedHistory>> {
        let query = query.clone();
        // In process there is no round trip to save: the three reads of the page on one
        // reader, in one transaction so that they see the same state, as PostgreSQL's
        // one statement does.
        self.read(move |connection| {
            let transaction = connection.unchecked_transaction().map_err(map_error)?;
            let Some(chat) = chat_by_id(&transaction, key, chat_id)? else {
                return Ok(None);
            };
            let messages = history_messages(&transaction, key, chat_id, &query)?;
            let mut sender_ids: Vec<i64> = messages
                .iter()
                .filter_map(|message| message.sender_id)
                .filter(|id| *id > 0)
                .collect();
            sender_ids.sort_unstable();
            sender_ids.dedup();
            let senders = if sender_ids.is_empty() {
                Vec::new()
            } else {
                query_rows(
                    &transaction,
                    USERS_BY_IDS,
                    params![
                        key.user_id.to_string(),
                        key.session_index,
                        json_ids(&sender_ids)
                    ],
                    user_from_row,
                )?
            };
            transaction.commit().map_err(map_error)?;
            Ok(Some(CachedHistory {
                chat,
                messages,
                senders,
            }))
        })
        .await
    }

    async fn cached_messages_at(
        &self,
        key: AccountKey,
        chat_messages: &[(i64, i32)],
    ) -> Result<Vec<CachedMessage>> {
        if chat_messages.is_empty() {
            return Ok(Vec::new());
        }
        let pairs = format!(
            "[{}]",
            chat_messages
                .iter()
                .map(|(chat, id)| format!("[{chat},{id}]"))
                .collect::<Vec<_>>()
                .join(",")
        );
        self.read(move |connection| {
            query_rows(
                connection,
                // CROSS JOIN keeps the wanted pairs outside: each is one primary-key
                // lookup, instead of the pairs parsed again for every row of the account.
                concat!(
                    "SELECT ",
                    message_columns!("m."),
                    " FROM (SELECT json_extract(value, '$[0]') AS chat_id,
                                         json_extract(value, '$[1]') AS message_id
                                  FROM json_each(?3)) wanted
                 CROSS JOIN tg_messages m
                 WHERE m.user_id = ?1 AND m.session_index = ?2
                   AND m.chat_id = wanted.chat_id AND m.message_id = wanted.message_id"
                ),
                params![key.user_id.to_string(), key.session_index, pairs],
                message_from_row,
            )
        })
        .await
    }

    async fn cached_messages_by_id(
        &self,
        key: AccountKey,
        chat_id: i64,
        message_ids: &[i32],
    ) -> Result<Vec<CachedMessage>> {
        if message_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = json_ids(message_ids);
        self.read(move |connection| {
            query_rows(
                connection,
                concat!(
                    "SELECT ",
                    message_columns!(""),
                    " FROM tg_messages
                 WHERE user_id = ?1 AND session_index = ?2 AND chat_id = ?3
                   AND message_id IN (SELECT value FROM json_each(?4))
                 ORDER BY message_id DESC"
                ),
                params![key.user_id.to_string(), key.session_index, chat_id, ids],
                message_from_row,
            )
        })
        .await
    }

    async fn cached_messages_page(
        &self,
        key: AccountKey,
        after: Option<(i64, i32)>,
        count: u32,
    ) -> Result<Vec<CachedMessage>> {
        self.read(move |connection| {
            let (after_chat, after_message) = after.unzip();
            query_rows(
                connection,
                concat!(
                    "SELECT ",
                    message_columns!(""),
                    " FROM tg_messages
                 WHERE user_id = ?1 AND session_index = ?2
                   AND (?3 IS NULL OR (chat_id, message_id) > (?3, ?4))
                 ORDER BY chat_id, message_id
                 LIMIT ?5"
                ),
                params![
                    key.user_id.to_string(),
                    key.session_index,
                    after_chat,
                    after_message,
                    limit(count),
                ],
                message_from_row,
            )
        })
        .await
    }

    async fn cached_users(&self, key: AccountKey, tg_user_ids: &[i64]) -> Result<Vec<CachedUser>> {
        self.account_rows_by_ids(key, tg_user_ids, USERS_BY_IDS, user_from_row)
            .await
    }
}
