//! `POST /auth/v1/logout?scope=global|local`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::GoTrueError;
use super::{authenticated_caller, check_api_key};
use crate::auth::verifier::TokenSource;
use crate::state::AppState;

/// Which sessions end.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogoutQuery {
    /// `global` (supabase-js's default) or `local`: the caller's sign-in session ends.
    /// `others` (every session but the caller's) is refused: TalkApp cannot end a user's
    /// other sessions from here yet.
    pub scope: Option<String>,
}

/// Ends the caller's sign-in session: its access tokens stop working at once and its
/// refresh tokens are revoked (as `POST /auth/logout`). 204, as GoTrue.
#[utoipa::path(post, path = "/auth/v1/logout", tag = "supabase-auth", security(("bearer" = [])),
    params(LogoutQuery, ("apikey" = Option<String>, Header, description = "Required to equal `auth.supabase_anon_key` when that is set")),
    responses(
        (status = 204, description = "Signed out"),
        (status = 400, description = "`validation_failed`: unsupported scope", body = super::error::GoTrueErrorBody),
        (status = 401, description = "`no_authorization`", body = super::error::GoTrueErrorBody),
        (status = 403, description = "`bad_jwt`, `session_not_found` (supabase-js signs out locally anyway)", body = super::error::GoTrueErrorBody),
    ))]
#[tracing::instrument(skip_all)]
pub async fn logout(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match sign_out(&request, &state).await {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(error) => error.respond(&request),
    }
}

async fn sign_out(request: &HttpRequest, state: &AppState) -> Result<(), GoTrueError> {
    check_api_key(state, request.headers())?;
    let scope = web::Query::<LogoutQuery>::from_query(request.query_string())
        .ok()
        .and_then(|query| query.into_inner().scope)
        .unwrap_or_default();
    match scope.as_str() {
        "" | "global" | "local" => {}
        "others" => {
            return Err(GoTrueError::validation(
                "Unsupported logout scope \"others\": TalkApp ends the caller's session only",
            ));
        }
        other => {
            return Err(GoTrueError::validation(format!(
                "Unsupported logout scope {other:?}"
            )));
        }
    }
    let identity = authenticated_caller(state, request).await?;
    // An external provider's session is ended at the provider; nothing to end here.
    if let TokenSource::Builtin { session_id } = identity.source {
        state
            .store
            .revoke_auth_session(session_id, talkapp_store::now(), "logout")
            .await
            .map_err(|error| GoTrueError::from_api(error.into()))?;
        state
            .revocations
            .revoke(crate::revocations::Revoked::Session(session_id))
            .await;
        tracing::info!(user_id = %identity.user_id, %session_id, %scope, "signed out");
    }
    Ok(())
}
