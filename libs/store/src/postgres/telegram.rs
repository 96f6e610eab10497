//! Linked Telegram accounts and logins in progress.

use super::cache::user_at;
use super::{
    DateTime, HostedAccount, LinkStatus, LinkedAccount, LoginState, PostgresStore, Prepared as _,
    Result, Row, StoreError, TelegramAccount, TelegramLogin, TelegramStore, Utc, Uuid, async_trait,
    linked_account_from_row, map_error, session_index_param, shard_params,
};
use crate::ListedLinkedAccount;
use crate::cache_columns::{LINKED_ACCOUNT_WIDTH, linked_account_columns, user_columns};

fn hosted_account_from_row(row: &Row) -> Result<HostedAccount> {
    let shard: i16 = row.get("shard");
    Ok(HostedAccount {
        linked: linked_account_from_row(row)?,
        shard: u16::try_from(shard).map_err(|_| StoreError::Internal(format!("shard {shard}")))?,
        sealed_session: row.get("sealed_session"),
    })
}

fn login_from_row(row: &Row) -> Result<TelegramLogin> {
    let state: String = row.get("state");
    let attempts: i32 = row.get("attempts");
    Ok(TelegramLogin {
        login_id: row.get("login_id"),
        user_id: row.get("user_id"),
        phone: row.get("phone"),
        phone_code_hash: row.get("phone_code_hash"),
        sealed_session: row.get("sealed_session"),
        state: LoginState::parse(&state)
            .ok_or_else(|| StoreError::Internal(format!("unknown login state {state}")))?,
        attempts: u32::try_from(attempts).unwrap_or(0),
        created_at: row.get("created_at"),
        expires_at: row.get("expires_at"),
    })
}

#[async_trait]
impl TelegramStore for PostgresStore {
    #[tracing::instrument(skip_all)]
    async fn link_telegram_account(
        &self,
        user_id: Uuid,
        account: &TelegramAccount,
        status: LinkStatus,
        sealed_session: &[u8],
        at: DateTime<Utc>,
    ) -> Result<LinkedAccount> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(map_error)?;
        let index_row = transaction
            .prepared_query_one(
                "INSERT INTO session_index_counters (user_id, last_index) VALUES ($1, 1)
                 ON CONFLICT (user_id) DO UPDATE SET last_index = session_index_counters.last_index + 1
                 RETURNING last_index",
                &[&user_id],
            )
            .await
            .map_err(map_error)?;
        let session_index: i32 = index_row.get(0);
        let shard = i16::try_from(crate::shard_of(
            user_id,
            u32::try_from(session_index).unwrap_or(0),
        ))
        .unwrap_or(0);
        let row = transaction
            .prepared_query_one(
                "INSERT INTO telegram_sessions
                     (user_id, session_index, telegram_user_id, first_name, last_name, username,
                      phone, status, linked_at, sealed_session, shard, status_changed_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $9)
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
                    &sealed_session,
                    &shard,
                ],
            )
            .await
            .map_err(map_error)?;
        transaction.commit().await.map_err(map_error)?;
        linked_account_from_row(&row)
    }

    #[tracing::instrument(skip_all)]
    async fn linked_accounts_of(&self, user_id: Uuid) -> Result<Vec<LinkedAccount>> {
        let client = self.client().await?;
        client
            .prepared_query(
                "SELECT * FROM telegram_sessions WHERE user_id = $1 ORDER BY session_index",
                &[&user_id],
            )
            .await
            .map_err(map_error)?
            .iter()
            .map(linked_account_from_row)
            .collect()
    }

    #[tracing::instrument(skip_all)]
    async fn hosted_account(
        &self,
        user_id: Uuid,
        session_index: u32,
    ) -> Result<Option<HostedAccount>> {
        let client = self.client().await?;
        client
            .prepared_query_opt(
                "SELECT * FROM telegram_sessions WHERE user_id = $1 AND session_index = $2",
                &[&user_id, &session_index_param(session_index)?],
            )
            .await
            .map_err(map_error)?
            .as_ref()
            .map(hosted_account_from_row)
            .transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn hosted_accounts_of(&self, shards: &[u16]) -> Result<Vec<HostedAccount>> {
        let shards = shard_params(shards);
        let client = self.client().await?;
        client
            .prepared_query(
                "SELECT * FROM telegram_sessions WHERE shard = ANY($1)
                 ORDER BY user_id, session_index",
                &[&shards],
            )
            .await
            .map_err(map_error)?
            .iter()
            .map(hosted_account_from_row)
            .collect()
    }

    async fn save_sealed_session(
        &self,
        user_id: Uuid,
        session_index: u32,
        sealed_session: Option<&[u8]>,
    ) -> Result<bool> {
        let client = self.client().await?;
        let updated = client
            .prepared_execute(
                "UPDATE telegram_sessions SET sealed_session = $3
                 WHERE user_id = $1 AND session_index = $2",
                &[
                    &user_id,
                    &session_index_param(session_index)?,
                    &sealed_session,
                ],
            )
            .await
            .map_err(map_error)?;
        Ok(updated > 0)
    }

    async fn set_link_status(
        &self,
        user_id: Uuid,
        session_index: u32,
        status: LinkStatus,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let client = self.client().await?;
        let updated = client
            .prepared_execute(
                "UPDATE telegram_sessions SET status = $3, status_changed_at = $4
                 WHERE user_id = $1 AND session_index = $2",
                &[
                    &user_id,
                    &session_index_param(session_index)?,
                    &status.as_str(),
                    &at,
                ],
            )
            .await
            .map_err(map_error)?;
        Ok(updated > 0)
    }

    async fn note_link_stalled(
        &self,
        user_id: Uuid,
        session_index: u32,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let client = self.client().await?;
        let updated = client
            .prepared_execute(
                "UPDATE telegram_sessions SET link_stalled_at = $3
                 WHERE user_id = $1 AND session_index = $2",
                &[&user_id, &session_index_param(session_index)?, &at],
            )
            .await
            .map_err(map_error)?;
        Ok(updated > 0)
    }

    #[tracing::instrument(skip_all)]
    async fn set_account_names(
        &self,
        user_id: Uuid,
        session_index: u32,
        first_name: &str,
        last_name: &str,
        username: &str,
    ) -> Result<bool> {
        let client = self.client().await?;
        let updated = client
            .prepared_execute(
                "UPDATE telegram_sessions SET first_name = $3, last_name = $4, username = $5
                 WHERE user_id = $1 AND session_index = $2",
                &[
                    &user_id,
                    &session_index_param(session_index)?,
                    &first_name,
                    &last_name,
                    &username,
                ],
            )
            .await
            .map_err(map_error)?;
        Ok(updated > 0)
    }

    #[tracing::instrument(skip_all)]
    async fn unlink_telegram_account(&self, user_id: Uuid, session_index: u32) -> Result<bool> {
        let client = self.client().await?;
        let deleted = client
            .prepared_execute(
                "DELETE FROM telegram_sessions WHERE user_id = $1 AND session_index = $2",
                &[&user_id, &session_index_param(session_index)?],
            )
            .await
            .map_err(map_error)?;
        Ok(deleted > 0)
    }

    #[tracing::instrument(skip_all)]
    async fn create_telegram_login(&self, login: &TelegramLogin) -> Result<()> {
        let client = self.client().await?;
        let attempts = i32::try_from(login.attempts).unwrap_or(i32::MAX);
        client
            .prepared_execute(
                "INSERT INTO telegram_logins
                     (login_id, user_id, phone, phone_code_hash, sealed_session, state, attempts,
                      created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[
                    &login.login_id,
                    &login.user_id,
                    &login.phone,
                    &login.phone_code_hash,
                    &login.sealed_session,
                    &login.state.as_str(),
                    &attempts,
                    &login.created_at,
                    &login.expires_at,
                ],
            )
            .await
            .map_err(map_error)?;
        Ok(())
    }

    async fn telegram_login(&self, login_id: Uuid) -> Result<Option<TelegramLogin>> {
        let client = self.client().await?;
        client
            .prepared_query_opt(
                "SELECT * FROM telegram_logins WHERE login_id = $1",
                &[&login_id],
            )
            .await
            .map_err(map_error)?
            .as_ref()
            .map(login_from_row)
            .transpose()
    }

    async fn latest_telegram_login_by_phone(
        &self,
        user_id: Uuid,
        phone: &str,
    ) -> Result<Option<TelegramLogin>> {
        let client = self.client().await?;
        client
            .prepared_query_opt(
                "SELECT * FROM telegram_logins WHERE user_id = $1 AND phone = $2
                 ORDER BY created_at DESC LIMIT 1",
                &[&user_id, &phone],
            )
            .await
            .map_err(map_error)?
            .as_ref()
            .map(login_from_row)
            .transpose()
    }

    async fn record_login_attempt(&self, login_id: Uuid) -> Result<Option<u32>> {
        let client = self.client().await?;
        let row = client
            .prepared_query_opt(
                "UPDATE telegram_logins SET attempts = attempts + 1 WHERE login_id = $1
                 RETURNING attempts",
                &[&login_id],
            )
            .await
            .map_err(map_error)?;
        Ok(row.map(|row| u32::try_from(row.get::<_, i32>(0)).unwrap_or(u32::MAX)))
    }

    async fn advance_telegram_login(
        &self,
        login_id: Uuid,
        state: LoginState,
        sealed_session: &[u8],
    ) -> Result<()> {
        let client = self.client().await?;
        client
            .prepared_execute(
                "UPDATE telegram_logins SET state = $2, sealed_session = $3 WHERE login_id = $1",
                &[&login_id, &state.as_str(), &sealed_session],
            )
            .await
            .map_err(map_error)?;
        Ok(())
    }

    async fn delete_telegram_login(&self, login_id: Uuid) -> Result<()> {
        let client = self.client().await?;
        client
            .prepared_execute(
                "DELETE FROM telegram_logins WHERE login_id = $1",
                &[&login_id],
            )
            .await
            .map_err(map_error)?;
        Ok(())
    }

    async fn delete_expired_telegram_logins(&self, now: DateTime<Utc>) -> Result<u64> {
        let client = self.client().await?;
        client
            .prepared_execute(
                "DELETE FROM telegram_logins WHERE expires_at <= $1",
                &[&now],
            )
            .await
            .map_err(map_error)
    }
}

#[async_trait]
impl crate::SessionListStore for PostgresStore {
    #[tracing::instrument(skip_all)]
    async fn linked_accounts_with_own_users(
        &self,
        user_id: Uuid,
    ) -> Result<Vec<ListedLinkedAccount>> {
        let client = self.client().await?;
        client
            .prepared_query(
                concat!(
                    "SELECT ",
                    linked_account_columns!("a."),
                    ", ",
                    user_columns!("u."),
                    " FROM telegram_sessions a
                     LEFT JOIN tg_users u
                       ON u.user_id = a.user_id AND u.session_index = a.session_index
                      AND u.tg_user_id = a.telegram_user_id
                     WHERE a.user_id = $1 ORDER BY a.session_index"
                ),
                &[&user_id],
            )
            .await
            .map_err(map_error)?
            .iter()
            .map(|row| {
                Ok(ListedLinkedAccount {
                    linked: linked_account_from_row(row)?,
                    own_user: user_at(row, LINKED_ACCOUNT_WIDTH),
                })
            })
            .collect()
    }
}

#[async_trait]
impl crate::EventIdStore for PostgresStore {
    async fn next_event_ids(&self, key: crate::AccountKey, count: u32) -> Result<Option<i64>> {
        let client = self.client().await?;
        let row = client
            .prepared_query_opt(
                "UPDATE telegram_sessions SET last_event_id = last_event_id + $3
                 WHERE user_id = $1 AND session_index = $2
                 RETURNING last_event_id",
                &[
                    &key.user_id,
                    &session_index_param(key.session_index)?,
                    &i64::from(count.max(1)),
                ],
            )
            .await
            .map_err(map_error)?;
        Ok(row.map(|row| row.get::<_, i64>(0) - i64::from(count.max(1)) + 1))
    }
}
