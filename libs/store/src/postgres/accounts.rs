//! Built-in accounts, sign-in sessions and refresh tokens.

use super::{
    AUTH_SESSION_COLUMNS, AccountStore, AuthSession, DateTime, NewUser, PostgresStore,
    Prepared as _, RefreshOutcome, Result, User, UserCredentials, Utc, Uuid, async_trait,
    auth_session_from_row, map_error, user_from_row,
};

#[async_trait]
impl AccountStore for PostgresStore {
    #[tracing::instrument(skip_all)]
    async fn create_user(&self, new_user: &NewUser) -> Result<User> {
        let client = self.client().await?;
        let row = client
            .prepared_query_one(
                "INSERT INTO users (id, email, email_normalized, password_hash, created_at)
                 VALUES ($1, $2, $3, $4, $5)
                 RETURNING id, email, created_at, last_sign_in_at",
                &[
                    &new_user.id,
                    &new_user.email,
                    &new_user.email_normalized,
                    &new_user.password_hash,
                    &new_user.created_at,
                ],
            )
            .await
            .map_err(map_error)?;
        Ok(user_from_row(&row))
    }

    #[tracing::instrument(skip_all)]
    async fn user_credentials_by_email(
        &self,
        email_normalized: &str,
    ) -> Result<Option<UserCredentials>> {
        let client = self.client().await?;
        let row = client
            .prepared_query_opt(
                "SELECT id, email, created_at, last_sign_in_at, password_hash
                 FROM users WHERE email_normalized = $1",
                &[&email_normalized],
            )
            .await
            .map_err(map_error)?;
        Ok(row.map(|row| UserCredentials {
            user: user_from_row(&row),
            password_hash: row.get("password_hash"),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn user_by_id(&self, user_id: Uuid) -> Result<Option<User>> {
        let client = self.client().await?;
        let row = client
            .prepared_query_opt(
                "SELECT id, email, created_at, last_sign_in_at FROM users WHERE id = $1",
                &[&user_id],
            )
            .await
            .map_err(map_error)?;
        Ok(row.as_ref().map(user_from_row))
    }

    async fn record_sign_in(&self, user_id: Uuid, at: DateTime<Utc>) -> Result<()> {
        let client = self.client().await?;
        client
            .prepared_execute(
                "UPDATE users SET last_sign_in_at = $2 WHERE id = $1",
                &[&user_id, &at],
            )
            .await
            .map_err(map_error)?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn create_auth_session(
        &self,
        session: &AuthSession,
        refresh_token_hash: &[u8],
    ) -> Result<()> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(map_error)?;
        transaction
            .prepared_execute(
                "INSERT INTO auth_sessions (id, user_id, created_at, last_seen_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &session.id,
                    &session.user_id,
                    &session.created_at,
                    &session.last_seen_at,
                    &session.expires_at,
                ],
            )
            .await
            .map_err(map_error)?;
        transaction
            .prepared_execute(
                "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES ($1, $2, $3)",
                &[&refresh_token_hash, &session.id, &session.created_at],
            )
            .await
            .map_err(map_error)?;
        transaction.commit().await.map_err(map_error)
    }

    #[tracing::instrument(skip_all)]
    async fn auth_session(&self, session_id: Uuid) -> Result<Option<AuthSession>> {
        let client = self.client().await?;
        let row = client
            .prepared_query_opt(
                &format!("SELECT {AUTH_SESSION_COLUMNS} FROM auth_sessions WHERE id = $1"),
                &[&session_id],
            )
            .await
            .map_err(map_error)?;
        Ok(row.as_ref().map(auth_session_from_row))
    }

    async fn touch_auth_session(&self, session_id: Uuid, at: DateTime<Utc>) -> Result<()> {
        let client = self.client().await?;
        client
            .prepared_execute(
                "UPDATE auth_sessions SET last_seen_at = GREATEST(last_seen_at, $2) WHERE id = $1",
                &[&session_id, &at],
            )
            .await
            .map_err(map_error)?;
        Ok(())
    }

    async fn revoke_auth_session(
        &self,
        session_id: Uuid,
        at: DateTime<Utc>,
        reason: &str,
    ) -> Result<()> {
        let client = self.client().await?;
        client
            .prepared_execute(
                "UPDATE auth_sessions SET revoked_at = $2, revoked_reason = $3
                 WHERE id = $1 AND revoked_at IS NULL",
                &[&session_id, &at, &reason],
            )
            .await
            .map_err(map_error)?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn rotate_refresh_token(
        &self,
        presented_hash: &[u8],
        next_hash: &[u8],
        at: DateTime<Utc>,
    ) -> Result<RefreshOutcome> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(map_error)?;
        // Lock the presented token's row so that two concurrent refreshes with the same
        // token serialise: the second sees it spent and revokes the family.
        let Some(token) = transaction
            .prepared_query_opt(
                "SELECT session_id, spent_at FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
                &[&presented_hash],
            )
            .await
            .map_err(map_error)?
        else {
            return Ok(RefreshOutcome::Unknown);
        };
        let session_id: Uuid = token.get("session_id");
        let spent_at: Option<DateTime<Utc>> = token.get("spent_at");
        if spent_at.is_some() {
            transaction
                .prepared_execute(
                    "UPDATE auth_sessions SET revoked_at = $2, revoked_reason = 'refresh_token_reused'
                     WHERE id = $1 AND revoked_at IS NULL",
                    &[&session_id, &at],
                )
                .await
                .map_err(map_error)?;
            transaction.commit().await.map_err(map_error)?;
            return Ok(RefreshOutcome::Reused { session_id });
        }
        transaction
            .prepared_execute(
                "UPDATE refresh_tokens SET spent_at = $2 WHERE token_hash = $1",
                &[&presented_hash, &at],
            )
            .await
            .map_err(map_error)?;
        transaction
            .prepared_execute(
                "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES ($1, $2, $3)",
                &[&next_hash, &session_id, &at],
            )
            .await
            .map_err(map_error)?;
        let session = transaction
            .prepared_query_one(
                &format!("SELECT {AUTH_SESSION_COLUMNS} FROM auth_sessions WHERE id = $1"),
                &[&session_id],
            )
            .await
            .map_err(map_error)?;
        transaction
            .prepared_execute(
                "UPDATE auth_sessions SET last_seen_at = GREATEST(last_seen_at, $2) WHERE id = $1",
                &[&session_id, &at],
            )
            .await
            .map_err(map_error)?;
        transaction.commit().await.map_err(map_error)?;
        Ok(RefreshOutcome::Rotated(auth_session_from_row(&session)))
    }
}
