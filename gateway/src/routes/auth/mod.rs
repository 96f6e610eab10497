//! Built-in accounts: register, login, refresh, logout, me.
//!
//! Reply shapes follow what TorexTalkWeb already reads (Supabase's): `access_token`,
//! `token_type`, `expires_in`, `refresh_token`, `user`.
//!
//! # Layout
//! - one file per handler of TalkApp's own API (`/auth/register`, `/auth/login`, ...);
//!   each exposes its core ([`register::create_account`], [`login::authenticate`],
//!   [`refresh::exchange`]) so that
//! - [`gotrue`], the Supabase Auth (GoTrue) compatible routes under `/auth/v1`, answer
//!   from the same accounts, sessions and tokens.

pub mod gotrue;
pub mod login;
pub mod logout;
pub mod me;
pub mod refresh;
pub mod register;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use talkapp_store::{AuthSession, User};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::tokens::{AccessTokens, new_refresh_token};
use crate::problem::{ApiError, FieldError};
use crate::rate_limit::Bucket;
use crate::state::AppState;

/// The [`Bucket::Auth`] rate limit of the client's address, which every sign-in, sign-up
/// and token exchange spends from before anything is checked.
pub(crate) async fn check_auth_rate(
    state: &AppState,
    request: &actix_web::HttpRequest,
) -> Result<(), ApiError> {
    state
        .rate_limiter
        .check(Bucket::Auth, &state.client_address(request))
        .await
}

/// Longest password accepted (hashing cost grows with length; nobody needs more).
pub const MAX_PASSWORD_CHARS: usize = 1024;
/// Longest email accepted (RFC 5321's path limit).
pub const MAX_EMAIL_CHARS: usize = 254;

/// Email and password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// The account's email.
    #[schema(example = "ada@example.com")]
    pub email: String,
    /// The password (8 to 1024 characters).
    #[schema(example = "correct horse battery staple")]
    pub password: String,
}

/// A TalkApp user.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// User id (UUID).
    pub id: Uuid,
    /// Email.
    pub email: Option<String>,
    /// When the account was created (RFC 3339, UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Last sign-in (RFC 3339, UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_sign_in_at: Option<String>,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        Self {
            id: user.id,
            email: Some(user.email.clone()),
            created_at: Some(rfc3339(user.created_at)),
            last_sign_in_at: user.last_sign_in_at.map(rfc3339),
        }
    }
}

/// A new access token and refresh token.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPair {
    /// Short-lived bearer token (JWT).
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// Seconds until `access_token` expires.
    pub expires_in: u64,
    /// Single-use token for `/auth/refresh`.
    pub refresh_token: String,
    /// The signed-in user.
    pub user: UserView,
}

/// RFC 3339 with milliseconds, UTC (`2026-11-24T05:45:21.123Z`).
pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Normalised email and field errors for `credentials`.
pub fn validate_credentials(
    credentials: &Credentials,
    min_password_length: usize,
) -> Result<String, ApiError> {
    let mut errors = Vec::new();
    let email = credentials.email.trim();
    let email_ok = email.chars().count() <= MAX_EMAIL_CHARS
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if !email_ok {
        errors.push(FieldError {
            field: "email".into(),
            message: format!("must be an email address of at most {MAX_EMAIL_CHARS} characters"),
        });
    }
    let password_chars = credentials.password.chars().count();
    if password_chars < min_password_length || password_chars > MAX_PASSWORD_CHARS {
        errors.push(FieldError {
            field: "password".into(),
            message: format!("must have {min_password_length} to {MAX_PASSWORD_CHARS} characters"),
        });
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    Ok(email.to_lowercase())
}

pub(crate) fn builtin_tokens(state: &AppState) -> Result<&AccessTokens, ApiError> {
    state
        .access_tokens
        .as_ref()
        .ok_or_else(|| ApiError::internal("built-in accounts are disabled"))
}

/// Tokens just issued for a user's sign-in session.
#[derive(Debug)]
pub(crate) struct Issued {
    /// The access token (JWT).
    pub(crate) access_token: String,
    /// Its lifetime in seconds.
    pub(crate) expires_in: u64,
    /// When it expires.
    pub(crate) expires_at: DateTime<Utc>,
    /// The refresh token to present next.
    pub(crate) refresh_token: String,
    /// The sign-in session (refresh-token family).
    pub(crate) session_id: Uuid,
    /// The account.
    pub(crate) user: User,
}

impl From<Issued> for TokenPair {
    fn from(issued: Issued) -> Self {
        Self {
            access_token: issued.access_token,
            token_type: "bearer",
            expires_in: issued.expires_in,
            refresh_token: issued.refresh_token,
            user: UserView::from(&issued.user),
        }
    }
}

/// A new access token for `user` in the (live) sign-in session `session_id`, handed out
/// with `refresh_token`.
pub(crate) fn issue_access_token(
    state: &AppState,
    user: User,
    session_id: Uuid,
    refresh_token: String,
    now: DateTime<Utc>,
) -> Result<Issued, ApiError> {
    let tokens = builtin_tokens(state)?;
    let access_token = tokens
        .issue(user.id, &user.email, session_id, now)
        .map_err(ApiError::internal)?;
    let expires_in = tokens.ttl_secs();
    Ok(Issued {
        access_token,
        expires_in,
        expires_at: now
            + chrono::TimeDelta::seconds(i64::try_from(expires_in).unwrap_or(i64::MAX / 1_000_000)),
        refresh_token,
        session_id,
        user,
    })
}

/// Starts a sign-in session for `user` and returns its first token pair.
pub(crate) async fn start_session(state: &AppState, user: User) -> Result<Issued, ApiError> {
    // Fail before writing a session that no token could be issued for.
    builtin_tokens(state)?;
    let now = talkapp_store::now();
    let session = AuthSession {
        id: Uuid::new_v4(),
        user_id: user.id,
        created_at: now,
        last_seen_at: now,
        expires_at: now
            + chrono::TimeDelta::seconds(
                i64::try_from(state.config.auth.refresh_token_ttl_secs)
                    .unwrap_or(i64::MAX / 1_000_000),
            ),
        revoked_at: None,
    };
    let (refresh_token, refresh_hash) = new_refresh_token();
    state
        .store
        .create_auth_session(&session, &refresh_hash)
        .await?;
    issue_access_token(state, user, session.id, refresh_token, now)
}
