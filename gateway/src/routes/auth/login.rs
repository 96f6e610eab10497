//! `POST /auth/login`.

use actix_web::{HttpRequest, HttpResponse, web};
use talkapp_common::ErrorCode;
use talkapp_store::User;

use super::{Credentials, TokenPair, check_auth_rate, start_session, validate_credentials};
use crate::auth::password;
use crate::problem::ApiError;
use crate::state::AppState;

/// Signs in with email and password.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = Credentials,
    responses(
        (status = 200, body = TokenPair),
        (status = 401, description = "`invalid_credentials`", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "`account_disabled`: an operator disabled the account", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn login(
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Credentials>,
) -> Result<HttpResponse, ApiError> {
    check_auth_rate(&state, &request).await?;
    let user = authenticate(&state, body.into_inner()).await?;
    let pair = TokenPair::from(start_session(&state, user).await?);
    Ok(HttpResponse::Ok().json(pair))
}

/// The account whose email and password these are, its sign-in recorded; otherwise
/// `invalid_credentials`, the same for an unknown email and a wrong password.
pub(crate) async fn authenticate(
    state: &AppState,
    credentials: Credentials,
) -> Result<User, ApiError> {
    let wrong = || ApiError::new(ErrorCode::InvalidCredentials, "wrong email or password");
    // A malformed email or password cannot belong to an account; same answer as a wrong one.
    let email_normalized = validate_credentials(&credentials, 1).map_err(|_| wrong())?;
    let stored = state
        .store
        .user_credentials_by_email(&email_normalized)
        .await?;
    let matches = password::verify(
        credentials.password,
        stored.as_ref().map(|stored| stored.password_hash.clone()),
    )
    .await
    .map_err(ApiError::internal)?;
    if let Some(stored) = &stored {
        // A failed attempt is recorded in the log of the account it named.
        let user_id = stored.user.id;
        crate::audit::note(|note| note.user_id = Some(user_id));
    }
    let Some(stored) = stored.filter(|_| matches) else {
        tracing::info!("sign-in refused");
        return Err(wrong());
    };
    if state
        .store
        .user_disabled_at(stored.user.id)
        .await?
        .is_some()
    {
        tracing::info!(user_id = %stored.user.id, "sign-in of a disabled account refused");
        return Err(ApiError::new(
            ErrorCode::AccountDisabled,
            "this account is disabled; ask the operator",
        ));
    }
    let now = talkapp_store::now();
    state.store.record_sign_in(stored.user.id, now).await?;
    let mut user = stored.user;
    user.last_sign_in_at = Some(now);
    state.verifier.signed_in(&user);
    tracing::info!(user_id = %user.id, "signed in");
    crate::audit::note_caller(user.id);
    Ok(user)
}
