//! `POST /auth/register`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use talkapp_common::ErrorCode;
use talkapp_store::{NewUser, StoreError, User};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Credentials, UserView, check_auth_rate, validate_credentials};
use crate::auth::password;
use crate::problem::ApiError;
use crate::state::AppState;

/// The created account.
#[derive(Debug, Serialize, ToSchema)]
pub struct Registered {
    /// The new user.
    pub user: UserView,
}

/// Creates a built-in account.
#[utoipa::path(post, path = "/auth/register", tag = "auth", request_body = Credentials,
    responses(
        (status = 201, body = Registered),
        (status = 409, description = "`email_taken`", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn register(
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Credentials>,
) -> Result<HttpResponse, ApiError> {
    check_auth_rate(&state, &request).await?;
    let user = create_account(&state, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(Registered {
        user: UserView::from(&user),
    }))
}

/// Creates the built-in account for `credentials` (validated here): `validation_failed`
/// for bad fields, `email_taken` when the normalised email has an account.
pub(crate) async fn create_account(
    state: &AppState,
    credentials: Credentials,
) -> Result<User, ApiError> {
    let email_normalized =
        validate_credentials(&credentials, state.config.auth.min_password_length)?;
    let password_hash = password::hash(credentials.password)
        .await
        .map_err(ApiError::internal)?;
    let new_user = NewUser {
        id: Uuid::new_v4(),
        email: credentials.email.trim().to_owned(),
        email_normalized,
        password_hash,
        created_at: talkapp_store::now(),
    };
    let user = match state.store.create_user(&new_user).await {
        Ok(user) => user,
        Err(StoreError::Conflict("users.email")) => {
            return Err(ApiError::new(
                ErrorCode::EmailTaken,
                "an account with this email exists",
            ));
        }
        Err(error) => return Err(error.into()),
    };
    tracing::info!(user_id = %user.id, "account registered");
    crate::audit::note_caller(user.id);
    Ok(user)
}
