//! `GET /auth/v1/authorize`: TalkApp has no OAuth providers, so sign-in with one ends at
//! once with the error GoTrue's implicit flow would return, in the fragment of
//! `redirect_to` (`#error=...&error_code=...&error_description=...`). supabase-js finds
//! it when the page loads, drops any session and stays signed out.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use reqwest::Url;
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::GoTrueError;
use crate::state::AppState;

/// The sign-in request of `signInWithOAuth`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuthorizeQuery {
    /// The OAuth provider (`google`, `github`, ...): none is offered.
    pub provider: Option<String>,
    /// Where to send the browser back. Only an origin in `gateway.cors_allowed_origins`
    /// (any with `*`) or the gateway's own host, so this is no open redirect.
    pub redirect_to: Option<String>,
}

/// Redirects back to `redirect_to` with `#error=invalid_request&error_code=provider_disabled&error_description=...`.
#[utoipa::path(get, path = "/auth/v1/authorize", tag = "supabase-auth",
    params(AuthorizeQuery),
    responses(
        (status = 302, description = "Back to `redirect_to`, the error in the fragment"),
        (status = 400, description = "`validation_failed`: no allowed `redirect_to` to report the error to", body = super::error::GoTrueErrorBody),
    ))]
#[tracing::instrument(skip_all)]
pub async fn authorize(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let query = web::Query::<AuthorizeQuery>::from_query(request.query_string())
        .map(web::Query::into_inner)
        .unwrap_or(AuthorizeQuery {
            provider: None,
            redirect_to: None,
        });
    let provider = query.provider.unwrap_or_default();
    let description = format!(
        "Unsupported provider: {provider:?} is not enabled; TalkApp signs in with email and password"
    );
    let Some(mut target) = query
        .redirect_to
        .as_deref()
        .and_then(|redirect_to| Url::parse(redirect_to).ok())
        .filter(|target| may_redirect_to(&state, &request, target))
    else {
        return GoTrueError::validation(format!(
            "{description} (and redirect_to is not an allowed origin to report it to)"
        ))
        .respond(&request);
    };
    // The fragment is form-encoded as GoTrue's; the query's encoder writes it.
    let mut encoder = target.clone();
    encoder.set_query(None);
    encoder
        .query_pairs_mut()
        .append_pair("error", "invalid_request")
        .append_pair("error_code", "provider_disabled")
        .append_pair("error_description", &description);
    let fragment = encoder.query().unwrap_or_default().to_owned();
    target.set_fragment(Some(&fragment));
    tracing::info!(%provider, "oauth sign-in refused, redirected back");
    HttpResponse::Found()
        .insert_header((header::LOCATION, target.as_str()))
        .finish()
}

/// Whether `target` is a page of an allowed frontend or of the gateway's own host.
fn may_redirect_to(state: &AppState, request: &HttpRequest, target: &Url) -> bool {
    if !matches!(target.scheme(), "http" | "https") {
        return false;
    }
    let allowed_origins = &state.config.gateway.cors_allowed_origins;
    if allowed_origins.iter().any(|allowed| allowed == "*") {
        return true;
    }
    let origin = target.origin().ascii_serialization();
    if allowed_origins
        .iter()
        .any(|allowed| allowed.eq_ignore_ascii_case(&origin))
    {
        return true;
    }
    let Some(host) = target.host_str() else {
        return false;
    };
    let authority = match target.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    request
        .connection_info()
        .host()
        .eq_ignore_ascii_case(&authority)
}
