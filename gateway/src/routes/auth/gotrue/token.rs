//! `POST /auth/v1/token?grant_type=password|refresh_token`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use talkapp_common::ErrorCode;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::error::GoTrueError;
use super::{GoTrueSession, check_api_key, check_auth_rate, read_json};
use crate::auth::refresh_reuse::{RefreshReuse, Turn};
use crate::auth::tokens::hash_refresh_token;
use crate::auth::verifier::ensure_session_live;
use crate::problem::ApiError;
use crate::routes::auth::login::authenticate;
use crate::routes::auth::refresh::exchange;
use crate::routes::auth::{Credentials, Issued, builtin_tokens, issue_access_token, start_session};
use crate::state::AppState;

/// The grant.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokenQuery {
    /// `password` or `refresh_token` (GoTrue's other grants are not offered).
    pub grant_type: Option<String>,
}

/// The body of either grant.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct TokenRequest {
    /// `password` grant: the email.
    pub email: Option<String>,
    /// `password` grant: phone sign-in is not offered.
    pub phone: Option<String>,
    /// `password` grant: the password.
    pub password: Option<String>,
    /// `refresh_token` grant: the refresh token of the session.
    pub refresh_token: Option<String>,
}

/// Signs in with a password, or exchanges a refresh token for a new session. A refresh
/// token presented again within `auth.refresh_reuse_interval_secs` of its use gets the
/// same successor (several supabase-js clients share one token); later, it ends the
/// session (`refresh_token_already_used`).
#[utoipa::path(post, path = "/auth/v1/token", tag = "supabase-auth",
    params(TokenQuery, ("apikey" = Option<String>, Header, description = "Required to equal `auth.supabase_anon_key` when that is set")),
    request_body = TokenRequest,
    responses(
        (status = 200, description = "A session", body = super::GoTrueSession),
        (status = 400, description = "`invalid_credentials`, `refresh_token_not_found`, `refresh_token_already_used`, `session_expired`, `validation_failed`, `bad_json`; `{\"error\": \"invalid_request\"}` without a refresh token", body = super::error::GoTrueErrorBody),
        (status = 429, description = "`over_request_rate_limit`", body = super::error::GoTrueErrorBody),
    ))]
#[tracing::instrument(skip_all, fields(grant_type))]
pub async fn token(
    request: HttpRequest,
    state: web::Data<AppState>,
    reuse: web::Data<RefreshReuse>,
    payload: web::Payload,
) -> HttpResponse {
    match grant(&request, &state, &reuse, payload).await {
        Ok(session) => HttpResponse::Ok().json(session),
        Err(error) => error.respond(&request),
    }
}

async fn grant(
    request: &HttpRequest,
    state: &AppState,
    reuse: &RefreshReuse,
    payload: web::Payload,
) -> Result<GoTrueSession, GoTrueError> {
    check_api_key(state, request.headers())?;
    let grant_type = web::Query::<TokenQuery>::from_query(request.query_string())
        .ok()
        .and_then(|query| query.into_inner().grant_type)
        .unwrap_or_default();
    tracing::Span::current().record("grant_type", grant_type.as_str());
    if !matches!(grant_type.as_str(), "password" | "refresh_token") {
        // GoTrue's own code and wording for an unknown grant.
        return Err(GoTrueError::new(
            StatusCode::BAD_REQUEST,
            "invalid_credentials",
            "unsupported_grant_type",
        ));
    }
    check_auth_rate(state, request).await?;
    let body: TokenRequest = read_json(state, payload).await?;
    let issued = if grant_type == "password" {
        password_grant(state, body).await?
    } else {
        refresh_grant(state, reuse, body.refresh_token.unwrap_or_default()).await?
    };
    Ok(GoTrueSession::new(issued, &state.config.auth.audience))
}

async fn password_grant(state: &AppState, body: TokenRequest) -> Result<Issued, GoTrueError> {
    crate::audit::note(|note| note.action = Some("auth.sign_in"));
    let email = body.email.unwrap_or_default();
    let phone = body.phone.unwrap_or_default();
    if !email.is_empty() && !phone.is_empty() {
        return Err(GoTrueError::validation(
            "Only an email address or phone number should be provided on login.",
        ));
    }
    if !phone.is_empty() {
        return Err(GoTrueError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "phone_provider_disabled",
            "Phone logins are disabled",
        ));
    }
    if email.is_empty() {
        return Err(GoTrueError::validation("missing email or phone"));
    }
    let credentials = Credentials {
        email,
        password: body.password.unwrap_or_default(),
    };
    let user = authenticate(state, credentials)
        .await
        .map_err(GoTrueError::from_api)?;
    start_session(state, user)
        .await
        .map_err(GoTrueError::from_api)
}

async fn refresh_grant(
    state: &AppState,
    reuse: &RefreshReuse,
    presented: String,
) -> Result<Issued, GoTrueError> {
    if presented.is_empty() {
        return Err(GoTrueError::oauth(
            "invalid_request",
            "refresh_token required",
        ));
    }
    let tokens = builtin_tokens(state).map_err(GoTrueError::from_api)?;
    let (successor, successor_hash) = tokens
        .successor_refresh_token(&presented)
        .map_err(|error| GoTrueError::from_api(ApiError::internal(error)))?;
    let presented_hash = hash_refresh_token(&presented);
    let turn = reuse.begin(&presented_hash).await.map_err(|_| {
        // 503 is retried by supabase-js; by then the other exchange has finished.
        GoTrueError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unexpected_failure",
            "the refresh token is being exchanged by another request; retry",
        )
        .with_retry_after(1)
    })?;
    let exchanged = match turn {
        Turn::Replay(session_id) => {
            tracing::info!(%session_id, "refresh token presented again within the reuse interval");
            return replay(state, session_id, successor).await;
        }
        Turn::Exchange { claimed } => {
            let exchanged = exchange(state, &presented, successor, &successor_hash).await;
            if claimed {
                let spent_into = exchanged.as_ref().ok().map(|issued| issued.session_id);
                reuse.finish(&presented_hash, spent_into).await;
            }
            exchanged
        }
    };
    exchanged.map_err(refresh_error)
}

/// The answer to a token spent into `session_id` moments ago: its successor again (still
/// the one the store knows) and a fresh access token, if the session is still live.
async fn replay(
    state: &AppState,
    session_id: Uuid,
    successor: String,
) -> Result<Issued, GoTrueError> {
    let store_error = |error: talkapp_store::StoreError| refresh_error(error.into());
    let session = state
        .store
        .auth_session(session_id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| {
            refresh_error(ApiError::new(
                ErrorCode::SessionExpired,
                "the session has ended",
            ))
        })?;
    let now = talkapp_store::now();
    let idle_timeout = chrono::TimeDelta::seconds(
        i64::try_from(state.config.auth.idle_timeout_secs).unwrap_or(i64::MAX / 1_000_000),
    );
    ensure_session_live(&*state.store, &session, now, idle_timeout)
        .await
        .map_err(refresh_error)?;
    let user = state
        .store
        .user_by_id(session.user_id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| {
            refresh_error(ApiError::new(
                ErrorCode::SessionExpired,
                "the account no longer exists",
            ))
        })?;
    issue_access_token(state, user, session_id, successor, now).map_err(refresh_error)
}

/// GoTrue's wording for a refresh that cannot be honoured (`tokens/service.go`).
fn refresh_error(error: ApiError) -> GoTrueError {
    match error.code {
        ErrorCode::SessionExpired => GoTrueError::new(
            StatusCode::BAD_REQUEST,
            "session_expired",
            "Invalid Refresh Token: Session Expired",
        ),
        // Unknown and reused tokens, rate limits and outages read the same everywhere.
        _ => GoTrueError::from_api(error),
    }
}
