//! Built-in accounts, sign-in sessions and refresh tokens.

use super::{
    AUTH_SESSION_COLUMNS, AccountStore, AuthSession, CachedStatements, DateTime, NewUser,
    OptionalExtension, RefreshOutcome, Result, SqliteStore, StoreError, User, UserCredentials, Utc,
    Uuid, async_trait, auth_session_from_row, map_error, micros, params, user_from_row,
};

#[async_trait]
impl AccountStore for SqliteStore {
    async fn create_user(&self, new_user: &NewUser) -> Result<User> {
        let new_user = new_user.clone();
        self.call(move |connection| {
            connection
                .execute_cached(
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
        self.read(move |connection| {
            connection
                .query_row_cached(
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
        self.read(move |connection| {
            connection
                .query_row_cached(
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
                .execute_cached(
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
                .execute_cached(
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
                .execute_cached(
                    "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES (?1, ?2, ?3)",
                    params![refresh_token_hash, session.id.to_string(), micros(session.created_at)],
                )
                .map_err(map_error)?;
            transaction.commit().map_err(map_error)
        })
        .await
    }

    async fn auth_session(&self, session_id: Uuid) -> Result<Option<AuthSession>> {
        self.read(move |connection| {
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
                .execute_cached(
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
                .execute_cached(
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
                .query_row_cached(
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
                    .execute_cached(
                        "UPDATE auth_sessions SET revoked_at = ?2, revoked_reason = 'refresh_token_reused'
                         WHERE id = ?1 AND revoked_at IS NULL",
                        params![session_id_text, micros(at)],
                    )
                    .map_err(map_error)?;
                transaction.commit().map_err(map_error)?;
                return Ok(RefreshOutcome::Reused { session_id });
            }
            transaction
                .execute_cached(
                    "UPDATE refresh_tokens SET spent_at = ?2 WHERE token_hash = ?1",
                    params![presented_hash, micros(at)],
                )
                .map_err(map_error)?;
            transaction
                .execute_cached(
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
                .execute_cached(
                    "UPDATE auth_sessions SET last_seen_at = MAX(last_seen_at, ?2) WHERE id = ?1",
                    params![session_id_text, micros(at)],
                )
                .map_err(map_error)?;
            transaction.commit().map_err(map_error)?;
            Ok(RefreshOutcome::Rotated(session))
        })
        .await
    }
}
