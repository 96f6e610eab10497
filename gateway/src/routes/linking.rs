//! Linking Telegram accounts: send the code, check it, check the 2FA password, unlink.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use talkapp_proto::chat::v1 as chat;
use utoipa::ToSchema;

use super::sessions::SessionView;
use crate::auth::extract::{OwnedJson, PathOwner};
use crate::problem::{ApiError, FieldError};
use crate::routes::chats::checked_session_index;
use crate::state::AppState;

/// Longest phone, code or password field accepted (they are far shorter in practice).
const MAX_FIELD_CHARS: usize = 1024;

/// The phone of the account to link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartLogin {
    /// International form, e.g. `+9996620001`.
    #[schema(example = "+9996620001")]
    pub phone: String,
}

/// A login waiting for its code.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginStarted {
    /// The login's id, for the next steps.
    pub login_id: String,
    /// Always `code`: the code Telegram sent is next.
    pub next: &'static str,
    /// After this (RFC 3339, UTC) the login must start again.
    pub expires_at: String,
}

/// The login code.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitCode {
    /// The digits Telegram sent (`22222` for the sandbox's `+9996620001`).
    #[schema(example = "22222")]
    pub code: String,
}

/// The 2FA password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitPassword {
    /// The account's cloud password.
    pub password: String,
}

/// The login needs the 2FA password next.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordNeeded {
    /// Always `password`.
    pub next: &'static str,
    /// The hint the account holder set (may be empty).
    pub hint: String,
}

fn check_length(field: &str, value: &str) -> Result<(), ApiError> {
    if value.is_empty() || value.chars().count() > MAX_FIELD_CHARS {
        return Err(ApiError::validation(vec![FieldError {
            field: field.into(),
            message: format!("must have 1 to {MAX_FIELD_CHARS} characters"),
        }]));
    }
    Ok(())
}

fn login_id(path: &(String, String)) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(&path.1)
        .map(|id| id.to_string())
        .map_err(|_| {
            ApiError::validation(vec![FieldError {
                field: "login_id".into(),
                message: "must be a UUID".into(),
            }])
        })
}

/// What the code and password steps check before the chat service is asked, in this
/// order: the secret's length (`field`, `value`), the caller's login steps against the
/// rate limit (per user and address), the path's login id (answered).
async fn login_step(
    state: &AppState,
    owner: &PathOwner,
    (field, value): (&str, &str),
    path: &(String, String),
    http_request: &HttpRequest,
) -> Result<String, ApiError> {
    check_length(field, value)?;
    state
        .rate_limiter
        .check_telegram_login(owner.user_id, None, &state.client_address(http_request))
        .await?;
    login_id(path)
}

fn step_reply(step: chat::LoginStepResponse) -> Result<HttpResponse, ApiError> {
    match step.step {
        Some(chat::login_step_response::Step::PasswordHint(hint)) => {
            Ok(HttpResponse::Ok().json(PasswordNeeded {
                next: "password",
                hint,
            }))
        }
        Some(chat::login_step_response::Step::Account(account)) => {
            Ok(HttpResponse::Created().json(SessionView::from(account)))
        }
        None => Err(ApiError::internal("login step without an outcome")),
    }
}

/// Starts linking a Telegram account: Telegram sends a code to the phone.
#[utoipa::path(post, path = "/me/sessions/{user_id}", tag = "sessions", request_body = StartLogin,
    params(("user_id" = uuid::Uuid, Path, description = "TalkApp user id; must be the token's user")),
    security(("bearer" = [])),
    responses(
        (status = 201, body = LoginStarted),
        (status = 409, description = "`phone_already_linked`", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`phone_invalid`, `telegram_account_missing`, `validation_failed`", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 429, description = "`telegram_flood_wait`, or `rate_limited`: too many login steps for this user, phone or address (`rate_limit.telegram_login_per_hour`); see Retry-After", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %request.owner.user_id))]
pub async fn start_login(
    request: OwnedJson<StartLogin>,
    state: web::Data<AppState>,
    http_request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let OwnedJson { owner, body } = request;
    check_length("phone", &body.phone)?;
    state
        .rate_limiter
        .check_telegram_login(
            owner.user_id,
            Some(&body.phone),
            &state.client_address(&http_request),
        )
        .await?;
    let started = state
        .services
        .start_login(owner.user_id, &body.phone)
        .await?;
    Ok(HttpResponse::Created().json(LoginStarted {
        login_id: started.login_id,
        next: "code",
        expires_at: started.expires_at,
    }))
}

/// Checks the code Telegram sent. 201 with the new session when the account is linked,
/// 200 with `next: "password"` when the account has 2FA.
#[utoipa::path(post, path = "/me/sessions/{user_id}/login/{login_id}/code", tag = "sessions", request_body = SubmitCode,
    params(
        ("user_id" = uuid::Uuid, Path, description = "TalkApp user id; must be the token's user"),
        ("login_id" = uuid::Uuid, Path, description = "From the start of the login"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, body = PasswordNeeded),
        (status = 201, body = SessionView),
        (status = 404, description = "`login_not_found`", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 410, description = "`login_expired`", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`telegram_code_invalid`", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: too many login steps for this user or address; see Retry-After", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %request.owner.user_id))]
pub async fn submit_code(
    request: OwnedJson<SubmitCode>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    http_request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let OwnedJson { owner, body } = request;
    let login_id = login_step(&state, &owner, ("code", &body.code), &path, &http_request).await?;
    let step = state
        .services
        .submit_login_code(owner.user_id, &login_id, &body.code)
        .await?;
    step_reply(step)
}

/// Checks the 2FA password; 201 with the new session.
#[utoipa::path(post, path = "/me/sessions/{user_id}/login/{login_id}/password", tag = "sessions", request_body = SubmitPassword,
    params(
        ("user_id" = uuid::Uuid, Path, description = "TalkApp user id; must be the token's user"),
        ("login_id" = uuid::Uuid, Path, description = "From the start of the login"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 201, body = SessionView),
        (status = 404, description = "`login_not_found`", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`login_step_mismatch`", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 410, description = "`login_expired`", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`telegram_password_invalid`", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: too many login steps for this user or address; see Retry-After", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %request.owner.user_id))]
pub async fn submit_password(
    request: OwnedJson<SubmitPassword>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    http_request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let OwnedJson { owner, body } = request;
    let login_id = login_step(
        &state,
        &owner,
        ("password", &body.password),
        &path,
        &http_request,
    )
    .await?;
    let step = state
        .services
        .submit_login_password(owner.user_id, &login_id, &body.password)
        .await?;
    step_reply(step)
}

/// Logs the account out at Telegram and erases its keys. Its `session_index` is never
/// given out again.
#[utoipa::path(delete, path = "/me/sessions/{user_id}/{session_index}", tag = "sessions",
    params(
        ("user_id" = uuid::Uuid, Path, description = "TalkApp user id; must be the token's user"),
        ("session_index" = u32, Path, description = "1, 2, 3, ..."),
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Unlinked"),
        (status = 404, body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`telegram_unavailable`: keys kept, try again", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %owner.user_id))]
pub async fn unlink(
    owner: PathOwner,
    state: web::Data<AppState>,
    path: web::Path<(String, u32)>,
) -> Result<HttpResponse, ApiError> {
    let session_index = checked_session_index(path.1)?;
    state
        .services
        .unlink_account(owner.user_id, session_index)
        .await?;
    state
        .chat_reads
        .forget_account(owner.user_id, session_index);
    state
        .revocations
        .revoke(crate::revocations::Revoked::Account {
            user_id: owner.user_id,
            session_index,
        })
        .await;
    Ok(HttpResponse::NoContent().finish())
}
