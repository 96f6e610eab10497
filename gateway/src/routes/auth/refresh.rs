//! `POST /auth/refresh`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use talkapp_common::ErrorCode;
use talkapp_store::RefreshOutcome;
use utoipa::ToSchema;

use super::{TokenPair, UserView, builtin_tokens};
use crate::auth::tokens::{hash_refresh_token, new_refresh_token};
use crate::auth::verifier::ensure_session_live;
use crate::problem::ApiError;
use crate::rate_limit::Bucket;
use crate::state::AppState;

/// A refresh token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token from the last login or refresh.
    pub refresh_token: String,
}

/// Exchanges a refresh token for a new pair. Each refresh token works once; presenting a
/// spent one ends the whole sign-in session (`refresh_token_reused`).
#[utoipa::path(post, path = "/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses(
        (status = 200, body = TokenPair),
        (status = 401, description = "`refresh_token_invalid`, `refresh_token_reused` or `session_expired`", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn refresh(
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    state
        .rate_limiter
        .check(Bucket::Auth, &state.client_address(&request))
        .await?;
    let tokens = builtin_tokens(&state)?;
    let presented = body.into_inner().refresh_token;
    if presented.is_empty() || presented.len() > 256 {
        return Err(ApiError::new(
            ErrorCode::RefreshTokenInvalid,
            "unknown refresh token",
        ));
    }
    let (next_token, next_hash) = new_refresh_token();
    let now = talkapp_store::now();
    let session = match state
        .store
        .rotate_refresh_token(&hash_refresh_token(&presented), &next_hash, now)
        .await?
    {
        RefreshOutcome::Rotated(session) => session,
        RefreshOutcome::Reused { session_id } => {
            tracing::warn!(%session_id, "spent refresh token presented again; session revoked");
            return Err(ApiError::new(
                ErrorCode::RefreshTokenReused,
                "this refresh token was used before; the session is ended, sign in again",
            ));
        }
        RefreshOutcome::Unknown => {
            return Err(ApiError::new(
                ErrorCode::RefreshTokenInvalid,
                "unknown refresh token",
            ));
        }
    };
    // `session` is as it was before this use, so idleness is judged from the previous use.
    let idle_timeout = chrono::TimeDelta::seconds(
        i64::try_from(state.config.auth.idle_timeout_secs).unwrap_or(i64::MAX / 1_000_000),
    );
    ensure_session_live(&*state.store, &session, now, idle_timeout).await?;
    let user = state
        .store
        .user_by_id(session.user_id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::SessionExpired, "the account no longer exists"))?;
    let access_token = tokens
        .issue(user.id, &user.email, session.id, now)
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(TokenPair {
        access_token,
        token_type: "bearer",
        expires_in: tokens.ttl_secs(),
        refresh_token: next_token,
        user: UserView::from(&user),
    }))
}
