//! `POST /auth/v1/signup`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use talkapp_common::ErrorCode;
use utoipa::ToSchema;

use super::error::GoTrueError;
use super::{GoTrueSession, check_api_key, check_auth_rate, read_json};
use crate::routes::auth::register::create_account;
use crate::routes::auth::{Credentials, MAX_PASSWORD_CHARS, start_session};
use crate::state::AppState;

/// What supabase-js sends to sign up (`signUp({email, password})`).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct SignupRequest {
    /// The email.
    pub email: Option<String>,
    /// Phone sign-up is not offered; present and non-empty, it is refused.
    pub phone: Option<String>,
    /// The password (at least `auth.min_password_length` characters).
    pub password: Option<String>,
    /// User metadata; accepted but not kept.
    #[schema(value_type = Option<Object>)]
    pub data: Option<serde_json::Value>,
}

/// Creates an account, confirmed at once, and signs it in (GoTrue with auto-confirm).
#[utoipa::path(post, path = "/auth/v1/signup", tag = "supabase-auth",
    request_body = SignupRequest,
    params(("apikey" = Option<String>, Header, description = "Required to equal `auth.supabase_anon_key` when that is set")),
    responses(
        (status = 200, description = "A session with the new user", body = super::GoTrueSession),
        (status = 400, description = "`validation_failed`, `bad_json`, `phone_provider_disabled`", body = super::error::GoTrueErrorBody),
        (status = 422, description = "`user_already_exists`, `weak_password`", body = super::error::GoTrueErrorBody),
        (status = 429, description = "`over_request_rate_limit`", body = super::error::GoTrueErrorBody),
    ))]
#[tracing::instrument(skip_all)]
pub async fn signup(
    request: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> HttpResponse {
    match sign_up(&request, &state, payload).await {
        Ok(session) => HttpResponse::Ok().json(session),
        Err(error) => error.respond(&request),
    }
}

async fn sign_up(
    request: &HttpRequest,
    state: &AppState,
    payload: web::Payload,
) -> Result<GoTrueSession, GoTrueError> {
    check_api_key(state, request.headers())?;
    check_auth_rate(state, request).await?;
    let body: SignupRequest = read_json(state, payload).await?;
    let credentials = credentials(body, state.config.auth.min_password_length)?;
    let user = create_account(state, credentials)
        .await
        .map_err(|error| match error.code {
            // The password was checked above; what is left is the email.
            ErrorCode::ValidationFailed => {
                GoTrueError::validation("Unable to validate email address: invalid format")
            }
            _ => GoTrueError::from_api(error),
        })?;
    // Confirmed at once, so signed in at once, as GoTrue with auto-confirm.
    let now = talkapp_store::now();
    state
        .store
        .record_sign_in(user.id, now)
        .await
        .map_err(|error| GoTrueError::from_api(error.into()))?;
    let mut user = user;
    user.last_sign_in_at = Some(now);
    state.verifier.signed_in(&user);
    let issued = start_session(state, user)
        .await
        .map_err(GoTrueError::from_api)?;
    Ok(GoTrueSession::new(issued, &state.config.auth.audience))
}

/// GoTrue's checks and wording (`signup.go`, `password.go`, `mail.go`), in its order.
fn credentials(
    body: SignupRequest,
    min_password_length: usize,
) -> Result<Credentials, GoTrueError> {
    let password = body.password.unwrap_or_default();
    if password.is_empty() {
        return Err(GoTrueError::validation("Signup requires a valid password"));
    }
    let password_chars = password.chars().count();
    if password_chars > MAX_PASSWORD_CHARS {
        return Err(GoTrueError::validation(format!(
            "Password cannot be longer than {MAX_PASSWORD_CHARS} characters"
        )));
    }
    if password_chars < min_password_length {
        return Err(GoTrueError::weak_password(
            format!("Password should be at least {min_password_length} characters."),
            vec!["length"],
        ));
    }
    let email = body.email.unwrap_or_default();
    let phone = body.phone.unwrap_or_default();
    if !email.is_empty() && !phone.is_empty() {
        return Err(GoTrueError::validation(
            "Only an email address or phone number should be provided on signup.",
        ));
    }
    if !phone.is_empty() {
        return Err(GoTrueError::new(
            StatusCode::BAD_REQUEST,
            "phone_provider_disabled",
            "Phone signups are disabled",
        ));
    }
    if email.is_empty() {
        return Err(GoTrueError::validation("An email address is required"));
    }
    Ok(Credentials { email, password })
}
