//! Linked Telegram accounts and logins in progress.

use super::{
    CachedStatements, DateTime, HostedAccount, LinkStatus, LinkedAccount, LoginState,
    OptionalExtension, Result, Row, SqliteStore, TelegramAccount, TelegramLogin, TelegramStore,
    Utc, Uuid, async_trait, invalid, linked_account_from_row, map_error, micros, params, time_at,
    uuid_at,
};

use super::cache::user_at;
use crate::ListedLinkedAccount;
use crate::cache_columns::{LINKED_ACCOUNT_WIDTH, linked_account_columns, user_columns};

fn hosted_account_from_row(row: &Row<'_>) -> rusqlite::Result<HostedAccount> {
    Ok(HostedAccount {
        linked: linked_account_from_row(row)?,
        shard: row.get("shard")?,
        sealed_session: row.get("sealed_session")?,
    })
}

fn login_from_row(row: &Row<'_>) -> rusqlite::Result<TelegramLogin> {
    let state: String = row.get("state")?;
    Ok(TelegramLogin {
        login_id: uuid_at(row, "login_id")?,
        user_id: uuid_at(row, "user_id")?,
        phone: row.get("phone")?,
        phone_code_hash: row.get("phone_code_hash")?,
        sealed_session: row.get("sealed_session")?,
        state: LoginState::parse(&state).ok_or_else(|| invalid("state"))?,
        attempts: row.get("attempts")?,
        created_at: time_at(row, "created_at")?,
        expires_at: time_at(row, "expires_at")?,
    })
}

#[async_trait]
impl TelegramStore for SqliteStore {
    async fn link_telegram_account(
        &self,
        user_id: Uuid,
        account: &TelegramAccount,
        status: LinkStatus,
        sealed_session: &[u8],
        at: DateTime<Utc>,
    ) -> Result<LinkedAccount> {
        let account = account.clone();
        let sealed_session = sealed_session.to_vec();
        self.call(move |connection| {
            let transaction = connection
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(map_error)?;
            let session_index: u32 = transaction
                .query_row_cached(
                    "INSERT INTO session_index_counters (user_id, last_index) VALUES (?1, 1)
                     ON CONFLICT (user_id) DO UPDATE SET last_index = last_index + 1
                     RETURNING last_index",
                    [user_id.to_string()],
                    |row| row.get(0),
                )
                .map_err(map_error)?;
            transaction
                .execute_cached(
                    "INSERT INTO telegram_sessions
                         (user_id, session_index, telegram_user_id, first_name, last_name, username,
                          phone, status, linked_at, sealed_session, shard, status_changed_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?9)",
                    params![
                        user_id.to_string(),
                        session_index,
                        account.telegram_user_id,
                        account.first_name,
                        account.last_name,
                        account.username,
                        account.phone,
                        status.as_str(),
                        micros(at),
                        sealed_session,
                        crate::shard_of(user_id, session_index),
                    ],
                )
                .map_err(map_error)?;
            transaction.commit().map_err(map_error)?;
            Ok(LinkedAccount {
                user_id,
                session_index,
                account,
                status,
                linked_at: at,
                link_stalled_at: None,
            })
        })
        .await
    }

    async fn linked_accounts_of(&self, user_id: Uuid) -> Result<Vec<LinkedAccount>> {
        self.read(move |connection| {
            let mut statement = connection
                .prepare_cached(
                    "SELECT * FROM telegram_sessions WHERE user_id = ?1 ORDER BY session_index",
                )
                .map_err(map_error)?;
            let rows = statement
                .query_map([user_id.to_string()], linked_account_from_row)
                .map_err(map_error)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
                .map_err(map_error)
        })
        .await
    }

    async fn hosted_account(
        &self,
        user_id: Uuid,
        session_index: u32,
    ) -> Result<Option<HostedAccount>> {
        self.read(move |connection| {
            connection
                .query_row_cached(
                    "SELECT * FROM telegram_sessions WHERE user_id = ?1 AND session_index = ?2",
                    params![user_id.to_string(), session_index],
                    hosted_account_from_row,
                )
                .optional()
                .map_err(map_error)
        })
        .await
    }

    async fn hosted_accounts_of(&self, shards: &[u16]) -> Result<Vec<HostedAccount>> {
        let shards: std::collections::HashSet<u16> = shards.iter().copied().collect();
        self.call(move |connection| {
            let mut statement = connection
                .prepare_cached("SELECT * FROM telegram_sessions ORDER BY user_id, session_index")
                .map_err(map_error)?;
            let rows = statement
                .query_map([], hosted_account_from_row)
                .map_err(map_error)?;
            let mut hosted = Vec::new();
            for row in rows {
                let account = row.map_err(map_error)?;
                if shards.contains(&account.shard) {
                    hosted.push(account);
                }
            }
            Ok(hosted)
        })
        .await
    }

    async fn save_sealed_session(
        &self,
        user_id: Uuid,
        session_index: u32,
        sealed_session: Option<&[u8]>,
    ) -> Result<bool> {
        let sealed_session = sealed_session.map(<[u8]>::to_vec);
        self.call(move |connection| {
            connection
                .execute_cached(
                    "UPDATE telegram_sessions SET sealed_session = ?3
                     WHERE user_id = ?1 AND session_index = ?2",
                    params![user_id.to_string(), session_index, sealed_session],
                )
                .map(|updated| updated > 0)
                .map_err(map_error)
        })
        .await
    }

    async fn set_link_status(
        &self,
        user_id: Uuid,
        session_index: u32,
        status: LinkStatus,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        self.call(move |connection| {
            connection
                .execute_cached(
                    "UPDATE telegram_sessions SET status = ?3, status_changed_at = ?4
                     WHERE user_id = ?1 AND session_index = ?2",
                    params![
                        user_id.to_string(),
                        session_index,
                        status.as_str(),
                        micros(at)
                    ],
                )
                .map(|updated| updated > 0)
                .map_err(map_error)
        })
        .await
    }

    async fn note_link_stalled(
        &self,
        user_id: Uuid,
        session_index: u32,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        self.call(move |connection| {
            connection
                .execute_cached(
                    "UPDATE telegram_sessions SET link_stalled_at = ?3
                     WHERE user_id = ?1 AND session_index = ?2",
                    params![user_id.to_string(), session_index, micros(at)],
                )
                .map(|updated| updated > 0)
                .map_err(map_error)
        })
        .await
    }

    async fn set_account_names(
        &self,
        user_id: Uuid,
        session_index: u32,
        first_name: &str,
        last_name: &str,
        username: &str,
    ) -> Result<bool> {
        let (first_name, last_name, username) = (
            first_name.to_owned(),
            last_name.to_owned(),
            username.to_owned(),
        );
        self.call(move |connection| {
            connection
                .execute_cached(
                    "UPDATE telegram_sessions SET first_name = ?3, last_name = ?4, username = ?5
                     WHERE user_id = ?1 AND session_index = ?2",
                    params![
                        user_id.to_string(),
                        session_index,
                        first_name,
                        last_name,
                        username
                    ],
                )
                .map(|updated| updated > 0)
                .map_err(map_error)
        })
        .await
    }

    async fn unlink_telegram_account(&self, user_id: Uuid, session_index: u32) -> Result<bool> {
        self.call(move |connection| {
            connection
                .execute_cached(
                    "DELETE FROM telegram_sessions WHERE user_id = ?1 AND session_index = ?2",
                    params![user_id.to_string(), session_index],
                )
                .map(|deleted| deleted > 0)
                .map_err(map_error)
        })
        .await
    }

    async fn create_telegram_login(&self, login: &TelegramLogin) -> Result<()> {
        let login = login.clone();
        self.call(move |connection| {
            connection
                .execute_cached(
                    "INSERT INTO telegram_logins
                         (login_id, user_id, phone, phone_code_hash, sealed_session, state,
                          attempts, created_at, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        login.login_id.to_string(),
                        login.user_id.to_string(),
                        login.phone,
                        login.phone_code_hash,
                        login.sealed_session,
                        login.state.as_str(),
                        login.attempts,
                        micros(login.created_at),
                        micros(login.expires_at),
                    ],
                )
                .map(drop)
                .map_err(map_error)
        })
        .await
    }

    async fn telegram_login(&self, login_id: Uuid) -> Result<Option<TelegramLogin>> {
        self.call(move |connection| {
            connection
                .query_row_cached(
                    "SELECT * FROM telegram_logins WHERE login_id = ?1",
                    [login_id.to_string()],
                    login_from_row,
                )
                .optional()
                .map_err(map_error)
        })
        .await
    }

    async fn latest_telegram_login_by_phone(
        &self,
        user_id: Uuid,
        phone: &str,
    ) -> Result<Option<TelegramLogin>> {
        let phone = phone.to_owned();
        self.call(move |connection| {
            connection
                .query_row_cached(
                    "SELECT * FROM telegram_logins WHERE user_id = ?1 AND phone = ?2
                     ORDER BY created_at DESC LIMIT 1",
                    params![user_id.to_string(), phone],
                    login_from_row,
                )
                .optional()
                .map_err(map_error)
        })
        .await
    }

    async fn record_login_attempt(&self, login_id: Uuid) -> Result<Option<u32>> {
        self.call(move |connection| {
            connection
                .query_row_cached(
                    "UPDATE telegram_logins SET attempts = attempts + 1 WHERE login_id = ?1
                     RETURNING attempts",
                    [login_id.to_string()],
                    |row| row.get(0),
                )
                .optional()
                .map_err(map_error)
        })
        .await
    }

    async fn advance_telegram_login(
        &self,
        login_id: Uuid,
        state: LoginState,
        sealed_session: &[u8],
    ) -> Result<()> {
        let sealed_session = sealed_session.to_vec();
        self.call(move |connection| {
            connection
                .execute_cached(
                    "UPDATE telegram_logins SET state = ?2, sealed_session = ?3 WHERE login_id = ?1",
                    params![login_id.to_string(), state.as_str(), sealed_session],
                )
                .map(drop)
                .map_err(map_error)
        })
        .await
    }

    async fn delete_telegram_login(&self, login_id: Uuid) -> Result<()> {
        self.call(move |connection| {
            connection
                .execute_cached(
                    "DELETE FROM telegram_logins WHERE login_id = ?1",
                    [login_id.to_string()],
                )
                .map(drop)
                .map_err(map_error)
        })
        .await
    }

    async fn delete_expired_telegram_logins(&self, now: DateTime<Utc>) -> Result<u64> {
        self.call(move |connection| {
            connection
                .execute_cached(
                    "DELETE FROM telegram_logins WHERE expires_at <= ?1",
                    [micros(now)],
                )
                .map(|deleted| deleted as u64)
                .map_err(map_error)
        })
        .await
    }
}

#[async_trait]
impl crate::SessionListStore for SqliteStore {
    async fn linked_accounts_with_own_users(
        &self,
        user_id: Uuid,
    ) -> Result<Vec<ListedLinkedAccount>> {
        self.read(move |connection| {
            let mut statement = connection
                .prepare_cached(concat!(
                    "SELECT ",
                    linked_account_columns!("a."),
                    ", ",
                    user_columns!("u."),
                    " FROM telegram_sessions a
                     LEFT JOIN tg_users u
                       ON u.user_id = a.user_id AND u.session_index = a.session_index
                      AND u.tg_user_id = a.telegram_user_id
                     WHERE a.user_id = ?1 ORDER BY a.session_index"
                ))
                .map_err(map_error)?;
            let rows = statement
                .query_map([user_id.to_string()], |row| {
                    Ok(ListedLinkedAccount {
                        linked: linked_account_from_row(row)?,
                        own_user: user_at(row, LINKED_ACCOUNT_WIDTH)?,
                    })
                })
                .map_err(map_error)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
                .map_err(map_error)
        })
        .await
    }
}

#[async_trait]
impl crate::EventIdStore for SqliteStore {
    async fn next_event_ids(&self, key: crate::AccountKey, count: u32) -> Result<Option<i64>> {
        let count = i64::from(count.max(1));
        self.call(move |connection| {
            connection
                .query_row_cached(
                    "UPDATE telegram_sessions SET last_event_id = last_event_id + ?3
                     WHERE user_id = ?1 AND session_index = ?2
                     RETURNING last_event_id",
                    params![key.user_id.to_string(), key.session_index, count],
                    |row| row.get::<_, i64>(0),
                )
                .optional()
                .map(|last| last.map(|last| last - count + 1))
                .map_err(map_error)
        })
        .await
    }
}
