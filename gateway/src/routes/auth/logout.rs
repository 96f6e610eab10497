//! `POST /auth/logout`.

use actix_web::{HttpResponse, web};

use crate::auth::extract::Caller;
use crate::auth::verifier::TokenSource;
use crate::problem::ApiError;
use crate::state::AppState;

/// Ends the caller's sign-in session: its access tokens stop working at once and its
/// refresh tokens are revoked. For an external provider's token there is nothing to end
/// here (sign out at the provider).
#[utoipa::path(post, path = "/auth/logout", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn logout(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if let TokenSource::Builtin { session_id } = caller.0.source {
        state
            .store
            .revoke_auth_session(session_id, talkapp_store::now(), "logout")
            .await?;
        // Its sockets close and its media links stop, in every gateway.
        state
            .revocations
            .revoke(crate::revocations::Revoked::Session(session_id))
            .await;
        tracing::info!(user_id = %caller.0.user_id, %session_id, "signed out");
    }
    Ok(HttpResponse::NoContent().finish())
}
