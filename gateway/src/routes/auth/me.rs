//! `GET /auth/me`.

use actix_web::{HttpResponse, web};
use talkapp_common::ErrorCode;

use super::UserView;
use crate::auth::extract::Caller;
use crate::auth::verifier::TokenSource;
use crate::problem::ApiError;
use crate::state::AppState;

/// The signed-in user.
#[utoipa::path(get, path = "/auth/me", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, body = UserView),
        (status = 401, body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn me(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let identity = caller.0;
    let view = match identity.source {
        TokenSource::Builtin { .. } => {
            let user = state
                .verifier
                .builtin_user(identity.user_id)
                .await?
                .ok_or_else(|| {
                    ApiError::new(ErrorCode::SessionExpired, "the account no longer exists")
                })?;
            UserView::from(&user)
        }
        // The provider owns the account; the token is all we know of it.
        TokenSource::External => UserView {
            id: identity.user_id,
            email: identity.email,
            created_at: None,
            last_sign_in_at: None,
        },
    };
    Ok(HttpResponse::Ok().json(view))
}
