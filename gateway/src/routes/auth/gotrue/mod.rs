//! The subset of the Supabase Auth (GoTrue) HTTP API that supabase-js 2.84.0 calls, under
//! `/auth/v1`, answered from TalkApp's built-in accounts: the same users, sign-in sessions,
//! refresh-token families and access tokens as `/auth/*`, so a token from here works on
//! every other route. The frontend points `VITE_SUPABASE_URL` at the gateway and needs
//! no Supabase project (see `docs/compat/torextalkweb-contract.md` §2.2, ADR 0008).
//!
//! Unlike the rest of TalkApp, errors here are GoTrue's own JSON, because that is what
//! supabase-js parses: `{"code": "<error_code>", "message": ...}` when the request asks
//! for API version 2024-01-01 (supabase-js always does), the legacy
//! `{"code": <status>, "error_code": ..., "msg": ...}` otherwise, and OAuth-style
//! `{"error": ..., "error_description": ...}` where GoTrue uses it.
//!
//! # Layout
//! - [`signup`]: `POST /auth/v1/signup` (auto-confirmed: answers a session).
//! - [`token`]: `POST /auth/v1/token?grant_type=password|refresh_token`.
//! - [`user`]: `GET /auth/v1/user`.
//! - [`logout`]: `POST /auth/v1/logout?scope=global|local`.
//! - [`authorize`]: `GET /auth/v1/authorize`: no OAuth providers, so it redirects back
//!   with an error in the fragment.
//! - [`error`]: [`error::GoTrueError`], its wire shapes, and
//!   [`error::keep_gotrue_errors`], the middleware that keeps them from being rewritten
//!   into problem+json.
//! - here: the session and user shapes, the `apikey` check, body reading.

pub mod authorize;
pub mod error;
pub mod logout;
pub mod signup;
pub mod token;
pub mod user;

use actix_web::http::header::HeaderMap;
use actix_web::{HttpRequest, web};
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use talkapp_store::User;
use utoipa::ToSchema;
use uuid::Uuid;

use self::error::GoTrueError;
use super::{Issued, rfc3339};
use crate::auth::verifier::{Identity, TokenSource};
use crate::state::AppState;

/// Registers the `/auth/v1` routes (built-in accounts only).
pub fn scope() -> actix_web::Scope {
    web::scope("/auth/v1")
        .service(
            web::resource("/signup")
                .post(signup::signup)
                .default_service(web::to(error::method_not_allowed)),
        )
        .service(
            web::resource("/token")
                .post(token::token)
                .default_service(web::to(error::method_not_allowed)),
        )
        .service(
            web::resource("/user")
                .get(user::user)
                .default_service(web::to(error::method_not_allowed)),
        )
        .service(
            web::resource("/logout")
                .post(logout::logout)
                .default_service(web::to(error::method_not_allowed)),
        )
        .service(
            web::resource("/authorize")
                .get(authorize::authorize)
                .default_service(web::to(error::method_not_allowed)),
        )
        .default_service(web::to(error::not_found))
}

/// `aud` and `role` of every user and token, as Supabase.
const AUTHENTICATED: &str = "authenticated";

/// A GoTrue session: what `signup` (auto-confirmed) and `token` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct GoTrueSession {
    /// The access token (a TalkApp JWT, accepted by every route).
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// Seconds until `access_token` expires.
    pub expires_in: u64,
    /// When `access_token` expires (seconds since the epoch).
    pub expires_at: i64,
    /// The refresh token for `grant_type=refresh_token`.
    pub refresh_token: String,
    /// The signed-in user.
    pub user: GoTrueUser,
}

impl GoTrueSession {
    fn new(issued: Issued, audience: &str) -> Self {
        Self {
            access_token: issued.access_token,
            token_type: "bearer",
            expires_in: issued.expires_in,
            expires_at: issued.expires_at.timestamp(),
            refresh_token: issued.refresh_token,
            user: GoTrueUser::builtin(&issued.user, audience),
        }
    }
}

/// A GoTrue user (`internal/models/user.go`); TorexTalkWeb reads `email`,
/// `user_metadata.*` and `app_metadata.role`.
#[derive(Debug, Serialize, ToSchema)]
pub struct GoTrueUser {
    /// User id (UUID), the `sub` of its tokens.
    pub id: Uuid,
    /// Audience (`authenticated`).
    pub aud: String,
    /// Always `authenticated`.
    pub role: &'static str,
    /// Email.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// When the email was confirmed: accounts are confirmed when created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_confirmed_at: Option<String>,
    /// Always empty (no phone sign-in).
    pub phone: String,
    /// Same as `email_confirmed_at`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmed_at: Option<String>,
    /// Last sign-in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_sign_in_at: Option<String>,
    /// `{"provider": "email", "providers": ["email"]}`.
    pub app_metadata: AppMetadata,
    /// `email`, `email_verified`, `phone_verified`, `sub` (signup `data` is not kept).
    #[schema(value_type = Object)]
    pub user_metadata: serde_json::Map<String, serde_json::Value>,
    /// The email identity.
    pub identities: Vec<GoTrueIdentity>,
    /// When the account was created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Last change (the last sign-in, else creation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// Always false.
    pub is_anonymous: bool,
}

/// `app_metadata` of a user.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppMetadata {
    /// How the user signs in (`email`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<&'static str>,
    /// Every way the user signs in.
    pub providers: Vec<&'static str>,
}

/// One way a user signs in (always the email identity here).
#[derive(Debug, Serialize, ToSchema)]
pub struct GoTrueIdentity {
    /// Identity id (derived from the user id).
    pub identity_id: Uuid,
    /// The provider's id of the user (the user id for `email`).
    pub id: String,
    /// The user.
    pub user_id: Uuid,
    /// `email`, `email_verified`, `phone_verified`, `sub`.
    #[schema(value_type = Object)]
    pub identity_data: serde_json::Map<String, serde_json::Value>,
    /// `email`.
    pub provider: &'static str,
    /// Last sign-in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_sign_in_at: Option<String>,
    /// Creation.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// The email.
    pub email: String,
}

impl GoTrueUser {
    /// A built-in account, shaped as GoTrue shapes an auto-confirmed email user.
    fn builtin(user: &User, audience: &str) -> Self {
        let created_at = rfc3339(user.created_at);
        let last_sign_in_at = user.last_sign_in_at.map(rfc3339);
        let updated_at = rfc3339(latest(user.created_at, user.last_sign_in_at));
        let metadata = email_metadata(user);
        Self {
            id: user.id,
            aud: audience.to_owned(),
            role: AUTHENTICATED,
            email: Some(user.email.clone()),
            email_confirmed_at: Some(created_at.clone()),
            phone: String::new(),
            confirmed_at: Some(created_at.clone()),
            last_sign_in_at: last_sign_in_at.clone(),
            app_metadata: AppMetadata {
                provider: Some("email"),
                providers: vec!["email"],
            },
            user_metadata: metadata.clone(),
            identities: vec![GoTrueIdentity {
                // Stable per user without a table of identities.
                identity_id: Uuid::new_v5(&user.id, b"talkapp:identity:email"),
                id: user.id.to_string(),
                user_id: user.id,
                identity_data: metadata,
                provider: "email",
                last_sign_in_at: last_sign_in_at.clone(),
                created_at: created_at.clone(),
                updated_at: updated_at.clone(),
                email: user.email.clone(),
            }],
            created_at: Some(created_at),
            updated_at: Some(updated_at),
            is_anonymous: false,
        }
    }

    /// A user of the external provider (Supabase): only what its token says.
    fn external(identity: &Identity, audience: &str) -> Self {
        Self {
            id: identity.user_id,
            aud: audience.to_owned(),
            role: AUTHENTICATED,
            email: identity.email.clone(),
            email_confirmed_at: None,
            phone: String::new(),
            confirmed_at: None,
            last_sign_in_at: None,
            app_metadata: AppMetadata {
                provider: None,
                providers: Vec::new(),
            },
            user_metadata: serde_json::Map::new(),
            identities: Vec::new(),
            created_at: None,
            updated_at: None,
            is_anonymous: false,
        }
    }

    /// The user behind a verified token.
    async fn of_identity(state: &AppState, identity: &Identity) -> Result<Self, GoTrueError> {
        let audience = &state.config.auth.audience;
        match identity.source {
            TokenSource::Builtin { .. } => {
                let user = state
                    .verifier
                    .builtin_user(identity.user_id)
                    .await
                    .map_err(GoTrueError::from_api)?
                    .ok_or_else(GoTrueError::user_not_found)?;
                Ok(Self::builtin(&user, audience))
            }
            TokenSource::External => Ok(Self::external(identity, audience)),
        }
    }
}

fn email_metadata(user: &User) -> serde_json::Map<String, serde_json::Value> {
    let mut metadata = serde_json::Map::new();
    metadata.insert("email".into(), user.email.clone().into());
    metadata.insert("email_verified".into(), true.into());
    metadata.insert("phone_verified".into(), false.into());
    metadata.insert("sub".into(), user.id.to_string().into());
    metadata
}

fn latest(created_at: DateTime<Utc>, last_sign_in_at: Option<DateTime<Utc>>) -> DateTime<Utc> {
    last_sign_in_at.map_or(created_at, |signed_in| signed_in.max(created_at))
}

/// Checks the `apikey` header against `auth.supabase_anon_key` (any value when empty).
/// Hosted Supabase checks it in its API gateway, before GoTrue; so do we, before anything.
fn check_api_key(state: &AppState, headers: &HeaderMap) -> Result<(), GoTrueError> {
    let expected = state.config.auth.supabase_anon_key.expose_secret();
    if expected.is_empty() {
        return Ok(());
    }
    let presented = headers
        .get("apikey")
        .map(|value| value.as_bytes())
        .ok_or_else(|| GoTrueError::api_key("No API key found in request"))?;
    // Digests of equal length compare without revealing where the key differs.
    if Sha256::digest(presented) != Sha256::digest(expected.as_bytes()) {
        return Err(GoTrueError::api_key("Invalid API key"));
    }
    Ok(())
}

/// Reads and parses a JSON body as GoTrue does: whatever the content type, at most
/// `gateway.max_json_body_bytes`, `bad_json` when it does not parse.
async fn read_json<T: DeserializeOwned>(
    state: &AppState,
    payload: web::Payload,
) -> Result<T, GoTrueError> {
    let limit = state.config.gateway.max_json_body_bytes;
    let body = match payload.to_bytes_limited(limit).await {
        Ok(Ok(body)) => body,
        Ok(Err(error)) => {
            return Err(GoTrueError::bad_json(format!(
                "Could not read the request body: {error}"
            )));
        }
        Err(_) => return Err(GoTrueError::too_large(limit)),
    };
    serde_json::from_slice(&body).map_err(|error| {
        GoTrueError::bad_json(format!("Could not parse request body as JSON: {error}"))
    })
}

/// Rate limit of sign-in, sign-up and refresh, per client address (as `/auth/*`).
async fn check_auth_rate(state: &AppState, request: &HttpRequest) -> Result<(), GoTrueError> {
    state
        .rate_limiter
        .check(
            crate::rate_limit::Bucket::Auth,
            &state.client_address(request),
        )
        .await
        .map_err(GoTrueError::from_api)
}

/// The caller of `/user` and `/logout`: a valid bearer token (built-in or the external
/// provider's, through the one verifier), within the per-user API rate.
async fn authenticated_caller(
    state: &AppState,
    request: &HttpRequest,
) -> Result<Identity, GoTrueError> {
    let token = crate::auth::verifier::bearer_token(request).map_err(GoTrueError::from_api)?;
    let identity = state
        .verifier
        .verify(token)
        .await
        .map_err(GoTrueError::from_api)?;
    crate::audit::note_caller(identity.user_id);
    state
        .rate_limiter
        .check(
            crate::rate_limit::Bucket::Api,
            &identity.user_id.to_string(),
        )
        .await
        .map_err(GoTrueError::from_api)?;
    Ok(identity)
}
