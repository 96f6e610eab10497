//! The chat cache.

use super::{PostgresStore, Prepared as _, Result, Row, async_trait, index, map_error};
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
fn chat_at(row: &Row, at: usize) -> CachedChat {
    let in_dialogs: bool = row.get(at + 9);
    CachedChat {
        profile: ChatProfile {
            chat_id: row.get(at),
            kind: row.get(at + 1),
            title: row.get(at + 2),
            username: row.get(at + 3),
            photo: row.get(at + 4),
            members_count: row.get(at + 5),
            is_creator: row.get(at + 6),
            is_admin: row.get(at + 7),
            has_left: row.get(at + 8),
        },
        dialog: in_dialogs.then(|| DialogState {
            unread_count: row.get(at + 10),
            read_inbox_max_id: row.get(at + 11),
            read_outbox_max_id: row.get(at + 12),
            top_message_id: row.get(at + 13),
            top_date: row.get(at + 14),
            pinned: row.get(at + 15),
            archived: row.get(at + 16),
            muted_until: row.get(at + 17),
        }),
        history_floor: row.get(at + 18),
        history_complete: row.get(at + 19),
    }
}

fn chat_from_row(row: &Row) -> CachedChat {
    chat_at(row, 0)
}

/// A message from the [`message_columns`] starting at column `at`; `None` where a left
/// join found none.
fn message_at(row: &Row, at: usize) -> Option<CachedMessage> {
    let message_id: i32 = row.get::<_, Option<i32>>(at + 1)?;
    Some(message_with_id(row, at, message_id))
}

/// The message of `message_id` from the [`message_columns`] starting at column `at`.
fn message_with_id(row: &Row, at: usize, message_id: i32) -> CachedMessage {
    CachedMessage {
        chat_id: row.get(at),
        message_id,
        date: row.get(at + 2),
        edit_date: row.get(at + 3),
        sender_id: row.get(at + 4),
        outgoing: row.get(at + 5),
        text: row.get(at + 6),
        reply_to: row.get(at + 7),
        views: row.get(at + 8),
        service: row.get(at + 9),
        details: row.get(at + 10),
    }
}

fn message_from_row(row: &Row) -> CachedMessage {
    message_with_id(row, 0, row.get(1))
}

/// A user from the [`user_columns`] starting at column `at`; `None` where a left join
/// found none.
pub(super) fn user_at(row: &Row, at: usize) -> Option<CachedUser> {
    let tg_user_id: i64 = row.get::<_, Option<i64>>(at)?;
    Some(user_with_id(row, at, tg_user_id))
}

/// The user `tg_user_id` from the [`user_columns`] starting at column `at`.
fn user_with_id(row: &Row, at: usize, tg_user_id: i64) -> CachedUser {
    CachedUser {
        tg_user_id,
        first_name: row.get(at + 1),
        last_name: row.get(at + 2),
        username: row.get(at + 3),
        phone: row.get(at + 4),
        details: row.get(at + 5),
    }
}

fn user_from_row(row: &Row) -> CachedUser {
    user_with_id(row, 0, row.get(0))
}

/// A page of history (parameters: [`history_filter`]'s, then the limit `$8`), in the
/// order it is taken from (`DESC`: newest first; `ASC`: oldest first).
macro_rules! history_sql {
    ($order:literal) => {
        concat!(
            "SELECT ",
            message_columns!(""),
            " FROM tg_messages WHERE ",
            history_filter!(postgres),
            " ORDER BY message_id ",
            $order,
            " LIMIT $8"
        )
    };
}

/// [`history_sql`] with the chat and the senders in one statement, each row one of three
/// parts (its first column): `0` the chat (none when it is not cached), `1` a message of
/// the page (in no particular order), `2` the cached user of one of their senders (each
/// once). The other parts' columns are null: nothing is sent twice, and a null costs the
/// server no conversion. (A join of the chat and the users to each message row cost the
/// server several times more: its sorts and window functions, or a user lookup per row.)
macro_rules! history_page_sql {
    ($order:literal) => {
        concat!(
            "WITH page AS (",
            history_sql!($order),
            ")
             SELECT 0 AS part, ",
            chat_columns!(""),
            ", ",
            null_columns!(message),
            ", NULL::bigint, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text
             FROM tg_chats WHERE user_id = $1 AND session_index = $2 AND chat_id = $3
             UNION ALL
             SELECT 1, ",
            null_columns!(chat),
            ", page.*, ",
            null_columns!(user),
            " FROM page
             UNION ALL
             SELECT 2, ",
            null_columns!(chat),
            ", ",
            null_columns!(message),
            ", ",
            user_columns!(""),
            " FROM tg_users
             WHERE user_id = $1 AND session_index = $2
               AND tg_user_id = ANY(ARRAY(SELECT DISTINCT sender_id FROM page
                                          WHERE sender_id > 0))"
        )
    };
}

/// As many `NULL`s as a table's [`chat_columns`], [`message_columns`] or
/// [`user_columns`] (their types come from the part that has them).
macro_rules! null_columns {
    (chat) => {
        "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
         NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL"
    };
    (message) => {
        "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL"
    };
    (user) => {
        "NULL, NULL, NULL, NULL, NULL, NULL"
    };
}

const UPSERT_PROFILE: &str = "
    INSERT INTO tg_chats (user_id, session_index, chat_id, kind, title, username, photo,
                          members_count, is_creator, is_admin, has_left)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
    ON CONFLICT (user_id, session_index, chat_id) DO UPDATE SET
        kind = EXCLUDED.kind, title = EXCLUDED.title, username = EXCLUDED.username,
        photo = EXCLUDED.photo,
        members_count = COALESCE(EXCLUDED.members_count, tg_chats.members_count),
        is_creator = EXCLUDED.is_creator, is_admin = EXCLUDED.is_admin,
        has_left = EXCLUDED.has_left";

const UPSERT_DIALOG: &str = "
    UPDATE tg_chats SET in_dialogs = true, unread_count = $4, read_inbox_max_id = $5,
        read_outbox_max_id = $6, top_message_id = $7, top_date = $8, pinned = $9,
        archived = $10, muted_until = $11
    WHERE user_id = $1 AND session_index = $2 AND chat_id = $3";

/// A transaction of cache writes, committed without waiting for the WAL flush: the cache
/// is rebuilt from Telegram, and the synchronous commits that follow (the account's
/// update state, jobs, event ids) flush the WAL up to and including these anyway, so
/// a crash can lose only cache rows whose updates Telegram gives again.
pub(super) async fn cache_transaction(
    client: &mut deadpool_postgres::Object,
) -> Result<deadpool_postgres::Transaction<'_>> {
    let transaction = client.transaction().await.map_err(map_error)?;
    transaction
        .batch_execute("SET LOCAL synchronous_commit = off")
        .await
        .map_err(map_error)?;
    Ok(transaction)
}

/// The parameters of [`history_sql`] and [`history_page_sql`].
struct HistoryParams {
    user_id: uuid::Uuid,
    session_index: i32,
    chat_id: i64,
    before_id: Option<i32>,
    after_id: Option<i32>,
    from_date: Option<i64>,
    to_date: Option<i64>,
    limit: i64,
}

impl HistoryParams {
    fn as_refs(&self) -> [&(dyn tokio_postgres::types::ToSql + Sync); 8] {
        [
            &self.user_id,
            &self.session_index,
            &self.chat_id,
            &self.before_id,
            &self.after_id,
            &self.from_date,
            &self.to_date,
            &self.limit,
        ]
    }
}

fn history_params(key: AccountKey, chat_id: i64, query: &HistoryQuery) -> Result<HistoryParams> {
    Ok(HistoryParams {
        user_id: key.user_id,
        session_index: index(key)?,
        chat_id,
        before_id: query.before_id,
        after_id: query.after_id,
        from_date: query.from_date,
        to_date: query.to_date,
        limit: limit(query.limit),
    })
}

impl PostgresStore {
    /// The account's rows that `sql` reads for `ids` (`$1` the user, `$2` the session
    /// index, `$3` the ids), each made by `from_row`; no ids, no round trip.
    async fn account_rows_by_ids<T>(
        &self,
        key: AccountKey,
        ids: &[i64],
        sql: &str,
        from_row: fn(&Row) -> T,
    ) -> Result<Vec<T>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.client().await?;
        let rows = client
            .prepared_query(sql, &[&key.user_id, &index(key)?, &ids])
            .await
            .map_err(map_error)?;
        Ok(rows.iter().map(from_row).collect())
    }
}

#[async_trait]
impl ChatCacheStore for PostgresStore {
    async fn upsert_chat_profiles(&self, key: AccountKey, chats: &[ChatProfile]) -> Result<()> {
        if chats.is_empty() {
            return Ok(());
        }
        let index = index(key)?;
        let mut client = self.client().await?;
        let transaction = cache_transaction(&mut client).await?;
        let statement = transaction
            .prepare_cached(UPSERT_PROFILE)
            .await
            .map_err(map_error)?;
        for chat in chats {
            transaction
                .execute(
                    &statement,
                    &[
                        &key.user_id,
                        &index,
                        &chat.chat_id,
                        &chat.kind,
                        &chat.title,
                        &chat.username,
                        &chat.photo,
                        &chat.members_count,
                        &chat.is_creator,
                        &chat.is_admin,
                        &chat.has_left,
                    ],
                )
                .await
                .map_err(map_error)?;
        }
        transaction.commit().await.map_err(map_error)
    }

    async fn upsert_dialogs(
        &self,
        key: AccountKey,
        dialogs: &[(ChatProfile, DialogState)],
    ) -> Result<()> {
        if dialogs.is_empty() {
            return Ok(());
        }
        let index = index(key)?;
        let mut client = self.client().await?;
        let transaction = cache_transaction(&mut client).await?;
        let profile = transaction
            .prepare_cached(UPSERT_PROFILE)
            .await
            .map_err(map_error)?;
        let dialog_statement = transaction
            .prepare_cached(UPSERT_DIALOG)
            .await
            .map_err(map_error)?;
        for (chat, dialog) in dialogs {
            transaction
                .execute(
                    &profile,
                    &[
                        &key.user_id,
                        &index,
                        &chat.chat_id,
                        &chat.kind,
                        &chat.title,
                        &chat.username,
                        &chat.photo,
                        &chat.members_count,
                        &chat.is_creator,
                        &chat.is_admin,
                        &chat.has_left,
                    ],
                )
                .await
                .map_err(map_error)?;
            transaction
                .execute(
                    &dialog_statement,
                    &[
                        &key.user_id,
                        &index,
                        &chat.chat_id,
                        &dialog.unread_count,
                        &dialog.read_inbox_max_id,
                        &dialog.read_outbox_max_id,
                        &dialog.top_message_id,
                        &dialog.top_date,
                        &dialog.pinned,
                        &dialog.archived,
                        &dialog.muted_until,
                    ],
                )
                .await
                .map_err(map_error)?;
        }
        transaction.commit().await.map_err(map_error)
    }

    async fn upsert_users(&self, key: AccountKey, users: &[CachedUser]) -> Result<()> {
        if users.is_empty() {
            return Ok(());
        }
        let index = index(key)?;
        let mut client = self.client().await?;
        let transaction = cache_transaction(&mut client).await?;
        let statement = transaction
            .prepare_cached(
                "INSERT INTO tg_users (user_id, session_index, tg_user_id, first_name, last_name,
                                       username, phone, details)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (user_id, session_index, tg_user_id) DO UPDATE SET
                     first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name,
                     username = EXCLUDED.username,
                     phone = CASE WHEN EXCLUDED.phone = '' THEN tg_users.phone ELSE EXCLUDED.phone END,
                     details = EXCLUDED.details",
            )
            .await
            .map_err(map_error)?;
        for user in users {
            transaction
                .execute(
                    &statement,
                    &[
                        &key.user_id,
                        &index,
                        &user.tg_user_id,
                        &user.first_name,
                        &user.last_name,
                        &user.username,
                        &user.phone,
                        &user.details,
                    ],
                )
                .await
                .map_err(map_error)?;
        }
        transaction.commit().await.map_err(map_error)
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
        let index = index(key)?;
        let mut client = self.client().await?;
        let transaction = cache_transaction(&mut client).await?;
        // `xmax = 0` holds for a freshly inserted row, not for an updated one.
        let upsert = transaction
            .prepare_cached(
                "INSERT INTO tg_messages (user_id, session_index, chat_id, message_id, date,
                     edit_date, sender_id, outgoing, text, reply_to, views, service, details)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                 ON CONFLICT (user_id, session_index, chat_id, message_id) DO UPDATE SET
                     date = EXCLUDED.date, edit_date = EXCLUDED.edit_date,
                     sender_id = EXCLUDED.sender_id, outgoing = EXCLUDED.outgoing,
                     text = EXCLUDED.text, reply_to = EXCLUDED.reply_to,
                     views = EXCLUDED.views, service = EXCLUDED.service,
                     details = EXCLUDED.details
                 RETURNING (xmax = 0) AS inserted",
            )
            .await
            .map_err(map_error)?;
        let top = transaction
            .prepare_cached(
                "INSERT INTO tg_chats (user_id, session_index, chat_id, kind, title, username,
                                       in_dialogs, top_message_id, top_date, unread_count,
                                       history_floor)
                 VALUES ($1, $2, $3, $4, '', '', true, $5, $6, $7,
                         CASE WHEN $8::boolean THEN $5::integer END)
                 ON CONFLICT (user_id, session_index, chat_id) DO UPDATE SET
                     in_dialogs = true,
                     top_date = CASE WHEN EXCLUDED.top_message_id >= tg_chats.top_message_id
                                     THEN EXCLUDED.top_date ELSE tg_chats.top_date END,
                     top_message_id = GREATEST(tg_chats.top_message_id, EXCLUDED.top_message_id),
                     unread_count = tg_chats.unread_count + CASE
                         WHEN EXCLUDED.unread_count > 0
                              AND EXCLUDED.top_message_id > tg_chats.read_inbox_max_id
                         THEN 1 ELSE 0 END,
                     history_floor = CASE WHEN $8::boolean
                         THEN LEAST(COALESCE(tg_chats.history_floor, $5::integer), $5::integer)
                         ELSE tg_chats.history_floor END",
            )
            .await
            .map_err(map_error)?;
        let mut inserted_count = 0;
        for message in messages {
            let row = transaction
                .query_one(
                    &upsert,
                    &[
                        &key.user_id,
                        &index,
                        &message.chat_id,
                        &message.message_id,
                        &message.date,
                        &message.edit_date,
                        &message.sender_id,
                        &message.outgoing,
                        &message.text,
                        &message.reply_to,
                        &message.views,
                        &message.service,
                        &message.details,
                    ],
                )
                .await
                .map_err(map_error)?;
            let inserted: bool = row.get("inserted");
            if inserted {
                inserted_count += 1;
            }
            let unread: i32 = i32::from(inserted && from_updates && !message.outgoing);
            transaction
                .execute(
                    &top,
                    &[
                        &key.user_id,
                        &index,
                        &message.chat_id,
                        &kind_of_chat_id(message.chat_id),
                        &message.message_id,
                        &message.date,
                        &unread,
                        &from_updates,
                    ],
                )
                .await
                .map_err(map_error)?;
        }
        transaction.commit().await.map_err(map_error)?;
        Ok(inserted_count)
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
        let index = index(key)?;
        let mut client = self.client().await?;
        let transaction = cache_transaction(&mut client).await?;
        let rows = match chat_id {
            Some(chat_id) => transaction
                .prepared_query(
                    "DELETE FROM tg_messages WHERE user_id = $1 AND session_index = $2
                         AND chat_id = $3 AND message_id = ANY($4) RETURNING chat_id",
                    &[&key.user_id, &index, &chat_id, &message_ids],
                )
                .await
                .map_err(map_error)?,
            // Without a chat: the account-wide ids of private chats and basic groups
            // (channels number their messages on their own).
            None => transaction
                .prepared_query(
                    "DELETE FROM tg_messages WHERE user_id = $1 AND session_index = $2
                         AND chat_id > -1000000000000 AND message_id = ANY($3)
                     RETURNING chat_id",
                    &[&key.user_id, &index, &message_ids],
                )
                .await
                .map_err(map_error)?,
        };
        let mut chats: Vec<i64> = rows.iter().map(|row| row.get(0)).collect();
        chats.sort_unstable();
        chats.dedup();
        for chat in &chats {
            // When the newest message went, the newest cached one takes its place.
            transaction
                .prepared_execute(
                    "UPDATE tg_chats c SET top_message_id = m.message_id, top_date = m.date
                     FROM (SELECT message_id, date FROM tg_messages
                           WHERE user_id = $1 AND session_index = $2 AND chat_id = $3
                           ORDER BY message_id DESC LIMIT 1) m
                     WHERE c.user_id = $1 AND c.session_index = $2 AND c.chat_id = $3
                       AND c.top_message_id = ANY($4)",
                    &[&key.user_id, &index, chat, &message_ids],
                )
                .await
                .map_err(map_error)?;
        }
        transaction.commit().await.map_err(map_error)?;
        Ok(chats)
    }

    async fn set_read_inbox(
        &self,
        key: AccountKey,
        chat_id: i64,
        max_id: i32,
        still_unread: i32,
    ) -> Result<()> {
        let client = self.client().await?;
        client
            .prepared_execute(
                "UPDATE tg_chats SET read_inbox_max_id = GREATEST(read_inbox_max_id, $4),
                     unread_count = $5
                 WHERE user_id = $1 AND session_index = $2 AND chat_id = $3",
                &[&key.user_id, &index(key)?, &chat_id, &max_id, &still_unread],
            )
            .await
            .map_err(map_error)?;
        Ok(())
    }

    async fn set_read_outbox(&self, key: AccountKey, chat_id: i64, max_id: i32) -> Result<()> {
        let client = self.client().await?;
        client
            .prepared_execute(
                "UPDATE tg_chats SET read_outbox_max_id = GREATEST(read_outbox_max_id, $4)
                 WHERE user_id = $1 AND session_index = $2 AND chat_id = $3",
                &[&key.user_id, &index(key)?, &chat_id, &max_id],
            )
            .await
            .map_err(map_error)?;
        Ok(())
    }

    async fn set_history_floor(
        &self,
        key: AccountKey,
        chat_id: i64,
        floor: i32,
        complete: bool,
    ) -> Result<()> {
        let client = self.client().await?;
        client
            .prepared_execute(
                // Only when something changes: most calls (a new message above the
                // floor) would write an identical row version and its WAL.
                "UPDATE tg_chats SET
                     history_floor = LEAST(COALESCE(history_floor, $4), $4),
                     history_complete = history_complete OR $5
                 WHERE user_id = $1 AND session_index = $2 AND chat_id = $3
                   AND (history_floor IS NULL OR history_floor > $4
                        OR ($5 AND NOT history_complete))",
                &[&key.user_id, &index(key)?, &chat_id, &floor, &complete],
            )
            .await
            .map_err(map_error)?;
        Ok(())
    }

    async fn clear_cache(&self, key: AccountKey) -> Result<()> {
        let index = index(key)?;
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(map_error)?;
        for table in ["tg_messages", "tg_chats", "tg_users"] {
            transaction
                .prepared_execute(
                    &format!("DELETE FROM {table} WHERE user_id = $1 AND session_index = $2"),
                    &[&key.user_id, &index],
                )
                .await
                .map_err(map_error)?;
        }
        transaction.commit().await.map_err(map_error)
    }
}

#[async_trait]
impl ChatCacheReads for PostgresStore {
    async fn list_chats(&self, key: AccountKey, query: &ChatListQuery) -> Result<Vec<CachedChat>> {
        let client = self.client().await?;
        let (after_date, after_chat) = query.after.unzip();
        let rows = client
            .prepared_query(
                concat!(
                    "SELECT ",
                    chat_columns!(""),
                    " FROM tg_chats WHERE ",
                    chat_list_filter!(postgres),
                    " ORDER BY top_date DESC, chat_id DESC LIMIT $7"
                ),
                &[
                    &key.user_id,
                    &index(key)?,
                    &query.kind,
                    &query.archived,
                    &after_date,
                    &after_chat,
                    &limit(query.limit),
                ],
            )
            .await
            .map_err(map_error)?;
        Ok(rows.iter().map(chat_from_row).collect())
    }

    async fn chat_list_page(&self, key: AccountKey, query: &ChatListQuery) -> Result<ChatListPage> {
        let client = self.client().await?;
        let (after_date, after_chat) = query.after.unzip();
        let rows = client
            .prepared_query(
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
                    chat_list_filter!(postgres),
                    " ORDER BY top_date DESC, chat_id DESC LIMIT $7) c
                     LEFT JOIN tg_messages m
                       ON m.user_id = $1 AND m.session_index = $2
                      AND m.chat_id = c.chat_id AND m.message_id = c.top_message_id
                     LEFT JOIN tg_users p
                       ON c.chat_id > 0 AND p.user_id = $1 AND p.session_index = $2
                      AND p.tg_user_id = c.chat_id
                     LEFT JOIN tg_users s
                       ON m.sender_id > 0 AND m.sender_id <> c.chat_id
                      AND s.user_id = $1 AND s.session_index = $2 AND s.tg_user_id = m.sender_id
                     ORDER BY c.top_date DESC, c.chat_id DESC"
                ),
                &[
                    &key.user_id,
                    &index(key)?,
                    &query.kind,
                    &query.archived,
                    &after_date,
                    &after_chat,
                    &limit(query.limit),
                ],
            )
            .await
            .map_err(map_error)?;
        Ok(ChatListPage::from_rows(
            rows.iter()
                .map(|row| {
                    (
                        ListedChat {
                            chat: chat_at(row, 0),
                            top_message: message_at(row, CHAT_WIDTH),
                        },
                        user_at(row, CHAT_WIDTH + MESSAGE_WIDTH),
                        user_at(row, CHAT_WIDTH + MESSAGE_WIDTH + USER_WIDTH),
                    )
                })
                .collect(),
        ))
    }

    async fn cached_chat(&self, key: AccountKey, chat_id: i64) -> Result<Option<CachedChat>> {
        let client = self.client().await?;
        let row = client
            .prepared_query_opt(
                concat!(
                    "SELECT ",
                    chat_columns!(""),
                    " FROM tg_chats WHERE user_id = $1 AND session_index = $2 AND chat_id = $3"
                ),
                &[&key.user_id, &index(key)?, &chat_id],
            )
            .await
            .map_err(map_error)?;
        Ok(row.as_ref().map(chat_from_row))
    }

    async fn cached_chats(&self, key: AccountKey, chat_ids: &[i64]) -> Result<Vec<CachedChat>> {
        self.account_rows_by_ids(
            key,
            chat_ids,
            concat!(
                "SELECT ",
                chat_columns!(""),
                " FROM tg_chats
                 WHERE user_id = $1 AND session_index = $2 AND chat_id = ANY($3)
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
        let client = self.client().await?;
        let sql = if query.oldest_first {
            history_sql!("ASC")
        } else {
            history_sql!("DESC")
        };
        let rows = client
            .prepared_query(sql, &history_params(key, chat_id, query)?.as_refs())
            .await
            .map_err(map_error)?;
        let mut messages: Vec<CachedMessage> = rows.iter().map(message_from_row).collect();
        if query.oldest_first {
            messages.reverse();
        }
        Ok(messages)
    }

    async fn history_page(
        &self,
        key: AccountKey,
        chat_id: i64,
        query: &HistoryQuery,
    ) -> Result<Option<CachedHistory>> {
        let client = self.client().await?;
        let sql = if query.oldest_first {
            history_page_sql!("ASC")
        } else {
            history_page_sql!("DESC")
        };
        let rows = client
            .prepared_query(sql, &history_params(key, chat_id, query)?.as_refs())
            .await
            .map_err(map_error)?;
        let mut chat = None;
        let mut messages = Vec::new();
        let mut senders = Vec::new();
        for row in &rows {
            match row.get::<_, i32>(0) {
                0 => chat = Some(chat_at(row, 1)),
                1 => messages.extend(message_at(row, 1 + CHAT_WIDTH)),
                _ => senders.extend(user_at(row, 1 + CHAT_WIDTH + MESSAGE_WIDTH)),
            }
        }
        let Some(chat) = chat else {
            return Ok(None);
        };
        // Newest first, whichever end the page was taken from.
        messages.sort_unstable_by_key(|message| std::cmp::Reverse(message.message_id));
        Ok(Some(CachedHistory {
            chat,
            messages,
            senders,
        }))
    }

    async fn cached_messages_at(
        &self,
        key: AccountKey,
        chat_messages: &[(i64, i32)],
    ) -> Result<Vec<CachedMessage>> {
        if chat_messages.is_empty() {
            return Ok(Vec::new());
        }
        let (chats, ids): (Vec<i64>, Vec<i32>) = chat_messages.iter().copied().unzip();
        let client = self.client().await?;
        let rows = client
            .prepared_query(
                concat!(
                    "SELECT ",
                    message_columns!("m."),
                    " FROM tg_messages m
                     JOIN unnest($3::bigint[], $4::integer[]) AS wanted(chat_id, message_id)
                       ON m.chat_id = wanted.chat_id AND m.message_id = wanted.message_id
                     WHERE m.user_id = $1 AND m.session_index = $2"
                ),
                &[&key.user_id, &index(key)?, &chats, &ids],
            )
            .await
            .map_err(map_error)?;
        Ok(rows.iter().map(message_from_row).collect())
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
        let client = self.client().await?;
        let rows = client
            .prepared_query(
                concat!(
                    "SELECT ",
                    message_columns!(""),
                    " FROM tg_messages
                 WHERE user_id = $1 AND session_index = $2 AND chat_id = $3
                   AND message_id = ANY($4)
                 ORDER BY message_id DESC"
                ),
                &[&key.user_id, &index(key)?, &chat_id, &message_ids],
            )
            .await
            .map_err(map_error)?;
        Ok(rows.iter().map(message_from_row).collect())
    }

    async fn cached_messages_page(
        &self,
        key: AccountKey,
        after: Option<(i64, i32)>,
        count: u32,
    ) -> Result<Vec<CachedMessage>> {
        let client = self.client().await?;
        let (after_chat, after_message) = after.unzip();
        let rows = client
            .prepared_query(
                concat!(
                    "SELECT ",
                    message_columns!(""),
                    " FROM tg_messages
                 WHERE user_id = $1 AND session_index = $2
                   AND ($3::bigint IS NULL OR (chat_id, message_id) > ($3, $4))
                 ORDER BY chat_id, message_id
                 LIMIT $5"
                ),
                &[
                    &key.user_id,
                    &index(key)?,
                    &after_chat,
                    &after_message,
                    &limit(count),
                ],
            )
            .await
            .map_err(map_error)?;
        Ok(rows.iter().map(message_from_row).collect())
    }

    async fn cached_users(&self, key: AccountKey, tg_user_ids: &[i64]) -> Result<Vec<CachedUser>> {
        self.account_rows_by_ids(
            key,
            tg_user_ids,
            concat!(
                "SELECT ",
                user_columns!(""),
                " FROM tg_users
                 WHERE user_id = $1 AND session_index = $2 AND tg_user_id = ANY($3)
                 ORDER BY tg_user_id"
            ),
            user_from_row,
        )
        .await
    }
}
