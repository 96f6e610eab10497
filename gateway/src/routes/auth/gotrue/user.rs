//! `GET /auth/v1/user`.

use actix_web::{HttpRequest, HttpResponse, web};

use super::error::GoTrueError;
use super::{GoTrueUser, authenticated_caller, check_api_key};
use crate::state::AppState;

/// The signed-in user (supabase-js reads it after an OAuth redirect and in `getUser()`).
#[utoipa::path(get, path = "/auth/v1/user", tag = "supabase-auth", security(("bearer" = [])),
    params(("apikey" = Option<String>, Header, description = "Required to equal `auth.supabase_anon_key` when that is set")),
    responses(
        (status = 200, body = super::GoTrueUser),
        (status = 401, description = "`no_authorization`: no bearer token", body = super::error::GoTrueErrorBody),
        (status = 403, description = "`bad_jwt`, `session_not_found`, `user_not_found`", body = super::error::GoTrueErrorBody),
    ))]
#[tracing::instrument(skip_all)]
pub async fn user(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match current_user(&request, &state).await {
        Ok(user) => HttpResponse::Ok().json(user),
        Err(error) => error.respond(&request),
    }
}

async fn current_user(request: &HttpRequest, state: &AppState) -> Result<GoTrueUser, GoTrueError> {
    check_api_key(state, request.headers())?;
    let identity = authenticated_caller(state, request).await?;
    GoTrueUser::of_identity(state, &identity).await
}
