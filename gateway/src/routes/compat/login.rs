//! Linking a Telegram account the TorexTalkWeb way (contract §3): the login is named by
//! the phone number, not by a login id. The chat service finds the caller's newest pending
//! login of that phone in the store, so any gateway (and chat-service) replica can take
//! the next step; the gateway keeps nothing.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use talkapp_common::ErrorCode;
use talkapp_proto::chat::v1 as chat;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{CompatError, field_error};
use crate::auth::extract::Caller;
use crate::problem::{ApiError, FieldError};
use crate::state::AppState;

/// Longest phone number, code or password accepted.
const MAX_FIELD_CHARS: usize = 1024;

/// `POST /start_login` body (extra fields are ignored, as before).
#[derive(Debug, Deserialize, ToSchema)]
pub struct StartLoginIn {
    /// The phone as typed, whitespace removed, e.g. `+998901234567`.
    #[schema(example = "+9996620001")]
    pub phone_number: String,
}

/// `POST /verify_code` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct VerifyCodeIn {
    /// The same phone as at `/start_login`.
    #[schema(example = "+9996620001")]
    pub phone_number: String,
    /// The digits Telegram sent.
    #[schema(example = "22222")]
    pub code: String,
}

/// `POST /verify_password` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct VerifyPasswordIn {
    /// The same phone as at `/start_login`.
    #[schema(example = "+9996620002")]
    pub phone_number: String,
    /// The account's 2FA (cloud) password.
    pub password: String,
}

/// The code was sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginStartedOut {
    /// Always `true`.
    pub ok: bool,
    /// `Kod yuborildi` ("code sent"), as before.
    pub message: &'static str,
    /// An opaque reference of the pending login (not Telegram's hash, which stays in the
    /// service); the frontend keeps it but never sends it back.
    pub phone_code_hash: String,
    /// `account_index` as a string.
    pub session_name: String,
    /// The index the account is expected to get (the next one of the user's); the index
    /// is only given out when the login completes, see `/verify_code`.
    pub account_index: u32,
}

/// A login step's outcome.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginStepOut {
    /// `true` when logged in; `false` with `PASSWORD_REQUIRED`.
    pub ok: bool,
    /// `LOGGED_IN` or `PASSWORD_REQUIRED`.
    pub status: &'static str,
    /// Only after the password step: `2FA orqali login qilindi`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<&'static str>,
    /// `account_index` as a string.
    pub session_name: String,
    /// The linked account's index (expected index while the password is pending).
    pub account_index: u32,
}

/// The statuses of the contract: 400 for a bad phone, code or password, 404 for a login
/// that is gone (never started, expired, or out of attempts).
fn login_error(error: ApiError) -> CompatError {
    let status = match error.code {
        ErrorCode::ValidationFailed
        | ErrorCode::PhoneInvalid
        | ErrorCode::TelegramCodeInvalid
        | ErrorCode::TelegramPasswordInvalid
        | ErrorCode::TelegramAccountMissing => Some(StatusCode::BAD_REQUEST),
        ErrorCode::LoginExpired => Some(StatusCode::NOT_FOUND),
        _ => None,
    };
    match status {
        Some(status) => CompatError::with_status(error, status),
        None => error.into(),
    }
}

fn check_length(field: &str, value: &str) -> Result<(), ApiError> {
    if value.trim().is_empty() || value.chars().count() > MAX_FIELD_CHARS {
        return Err(field_error(
            field,
            format!("must have 1 to {MAX_FIELD_CHARS} characters"),
        ));
    }
    Ok(())
}

/// The phone without whitespace, as the service takes it; refused here already when it
/// cannot be a phone.
fn check_phone(phone: &str) -> Result<String, ApiError> {
    check_length("phone_number", phone)?;
    let phone: String = phone
        .chars()
        .filter(|character| !character.is_whitespace())
        .collect();
    let digits: String = phone
        .chars()
        .filter(|character| !matches!(character, '-' | '(' | ')'))
        .collect();
    let digits = digits.strip_prefix('+').unwrap_or(&digits);
    if !(7..=15).contains(&digits.len()) || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        let mut error = ApiError::new(
            ErrorCode::PhoneInvalid,
            "phone_number must be an international number such as +998901234567",
        );
        error.errors = vec![FieldError {
            field: "phone_number".into(),
            message: "must be 7 to 15 digits, optionally after a +".into(),
        }];
        return Err(error);
    }
    Ok(phone)
}

/// The index the user's next linked account is expected to get. Indices come from a
/// per-user counter and are never reused, so after an unlink of the newest account this
/// guess is low; the frontend stores it without using it.
async fn expected_index(state: &AppState, user_id: Uuid) -> Result<u32, ApiError> {
    let accounts = state.linked_accounts(user_id).await?;
    Ok(accounts
        .iter()
        .map(|account| account.session_index)
        .max()
        .unwrap_or(0)
        + 1)
}

async fn step_out(
    state: &AppState,
    user_id: Uuid,
    step: chat::LoginStepResponse,
    message: Option<&'static str>,
) -> Result<LoginStepOut, ApiError> {
    match step.step {
        Some(chat::login_step_response::Step::Account(account)) => Ok(LoginStepOut {
            ok: true,
            status: "LOGGED_IN",
            message,
            session_name: account.session_index.to_string(),
            account_index: account.session_index,
        }),
        Some(chat::login_step_response::Step::PasswordHint(_)) => {
            let index = expected_index(state, user_id).await?;
            Ok(LoginStepOut {
                ok: false,
                status: "PASSWORD_REQUIRED",
                message: None,
                session_name: index.to_string(),
                account_index: index,
            })
        }
        None => Err(ApiError::internal("login step without an outcome")),
    }
}

/// The phone number of a login step, checked, once the caller's login steps are
/// within the rate limit (per user, phone and address).
async fn login_phone(
    state: &AppState,
    user_id: Uuid,
    phone_number: &str,
    http_request: &HttpRequest,
) -> Result<String, CompatError> {
    let phone = check_phone(phone_number).map_err(login_error)?;
    state
        .rate_limiter
        .check_telegram_login(user_id, Some(&phone), &state.client_address(http_request))
        .await
        .map_err(login_error)?;
    Ok(phone)
}

/// Sends a login code to the phone (TorexTalkWeb `AddAccountModal`, step 1).
#[utoipa::path(post, path = "/start_login", tag = "torextalkweb", request_body = StartLoginIn,
    security(("bearer" = [])),
    responses(
        (status = 200, body = LoginStartedOut),
        (status = 400, description = "`phone_invalid`, `validation_failed`, `telegram_account_missing`", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`phone_already_linked`", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: body or field missing", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 429, description = "`telegram_flood_wait`, or `rate_limited`: too many login steps for this user, phone or address; see Retry-After", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %caller.0.user_id))]
pub async fn start_login(
    caller: Caller,
    state: web::Data<AppState>,
    body: web::Json<StartLoginIn>,
    http_request: HttpRequest,
) -> Result<HttpResponse, CompatError> {
    let user_id = caller.0.user_id;
    let phone = login_phone(&state, user_id, &body.phone_number, &http_request).await?;
    let account_index = expected_index(&state, user_id).await?;
    let started = state
        .services
        .start_login(user_id, &phone)
        .await
        .map_err(login_error)?;
    Ok(HttpResponse::Ok().json(LoginStartedOut {
        ok: true,
        message: "Kod yuborildi",
        phone_code_hash: started.login_id,
        session_name: account_index.to_string(),
        account_index,
    }))
}

/// Checks the code of the caller's pending login of `phone_number`: `LOGGED_IN`, or
/// `ok: false` with `PASSWORD_REQUIRED` (still 200) for accounts with 2FA.
#[utoipa::path(post, path = "/verify_code", tag = "torextalkweb", request_body = VerifyCodeIn,
    security(("bearer" = [])),
    responses(
        (status = 200, body = LoginStepOut),
        (status = 400, description = "`telegram_code_invalid`, `phone_invalid`, `validation_failed`", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`login_not_found`, `login_expired`: no pending login for this phone; start again", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`login_step_mismatch`: the password is next", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 429, description = "`telegram_flood_wait`, or `rate_limited`: too many login steps for this user, phone or address; see Retry-After", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %caller.0.user_id))]
pub async fn verify_code(
    caller: Caller,
    state: web::Data<AppState>,
    body: web::Json<VerifyCodeIn>,
    http_request: HttpRequest,
) -> Result<HttpResponse, CompatError> {
    let user_id = caller.0.user_id;
    let phone = login_phone(&state, user_id, &body.phone_number, &http_request).await?;
    check_length("code", &body.code).map_err(login_error)?;
    let step = state
        .services
        .submit_login_code_by_phone(user_id, &phone, body.code.trim())
        .await
        .map_err(login_error)?;
    Ok(HttpResponse::Ok().json(step_out(&state, user_id, step, None).await?))
}

/// Checks the 2FA password of the caller's pending login of `phone_number`.
#[utoipa::path(post, path = "/verify_password", tag = "torextalkweb", request_body = VerifyPasswordIn,
    security(("bearer" = [])),
    responses(
        (status = 200, body = LoginStepOut),
        (status = 400, description = "`telegram_password_invalid` (try again), `validation_failed`", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`login_not_found`, `login_expired`", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`login_step_mismatch`: the code is next", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 429, description = "`telegram_flood_wait`, or `rate_limited`: too many login steps for this user, phone or address; see Retry-After", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %caller.0.user_id))]
pub async fn verify_password(
    caller: Caller,
    state: web::Data<AppState>,
    body: web::Json<VerifyPasswordIn>,
    http_request: HttpRequest,
) -> Result<HttpResponse, CompatError> {
    let user_id = caller.0.user_id;
    let phone = login_phone(&state, user_id, &body.phone_number, &http_request).await?;
    check_length("password", &body.password).map_err(login_error)?;
    let step = state
        .services
        .submit_login_password_by_phone(user_id, &phone, &body.password)
        .await
        .map_err(login_error)?;
    Ok(HttpResponse::Ok()
        .json(step_out(&state, user_id, step, Some("2FA orqali login qilindi")).await?))
}
