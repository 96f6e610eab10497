//! `POST /auth/refresh`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use talkapp_common::ErrorCode;
use talkapp_store::RefreshOutcome;
use utoipa::ToSchema;

use super::{Issued, TokenPair, builtin_tokens, check_auth_rate, issue_access_token};
use crate::auth::tokens::{hash_refresh_token, new_refresh_token};
use crate::auth::verifier::ensure_session_live;
use crate::problem::ApiError;
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
    check_auth_rate(&state, &request).await?;
    let presented = body.into_inner().refresh_token;
    let (next_token, next_hash) = new_refresh_token();
    let issued = exchange(&state, &presented, next_token, &next_hash).await?;
    Ok(HttpResponse::Ok().json(TokenPair::from(issued)))
}

/// Spends `presented` and stores `next_hash` (the hash of `next_token`) as its successor
/// in one store transaction, then issues an access token for the session:
/// `refresh_token_invalid` for an unknown token, `refresh_token_reused` (the family is
/// revoked) for a spent one, `session_expired` for an ended session.
pub(crate) async fn exchange(
    state: &AppState,
    presented: &str,
    next_token: String,
    next_hash: &[u8],
) -> Result<Issued, ApiError> {
    builtin_tokens(state)?;
    if presented.is_empty() || presented.len() > 256 {
        return Err(ApiError::new(
            ErrorCode::RefreshTokenInvalid,
            "unknown refresh token",
        ));
    }
    let now = talkapp_store::now();
    let session = match state
        .store
        .rotate_refresh_token(&hash_refresh_token(presented), next_hash, now)
        .await?
    {
        RefreshOutcome::Rotated(session) => session,
        RefreshOutcome::Reused { session_id } => {
            tracing::warn!(%session_id, "spent refresh token presented again; session revoked");
            let owner = state
                .store
                .auth_session(session_id)
                .await
                .ok()
                .flatten()
                .map(|session| session.user_id);
            crate::audit::note(|note| {
                note.action = Some("auth.refresh_reused");
                note.user_id = owner;
            });
            state
                .revocations
                .revoke(crate::revocations::Revoked::Session(session_id))
                .await;
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
    issue_access_token(state, user, session.id, next_token, now)
}
