//! The OpenAPI 3.1 document, assembled from the handlers' annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::problem::{FieldError, Problem};
use crate::routes::{auth, health, sessions};

/// The whole REST API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "TalkApp API",
        description = "REST and WebSocket access to Telegram user accounts. Every error is application/problem+json with a stable `code`.",
    ),
    paths(
        health::healthz,
        health::readyz,
        health::metrics,
        auth::register::register,
        auth::login::login,
        auth::refresh::refresh,
        auth::logout::logout,
        auth::me::me,
        sessions::list_sessions,
    ),
    components(schemas(
        Problem,
        FieldError,
        auth::Credentials,
        auth::UserView,
        auth::TokenPair,
        auth::register::Registered,
        auth::refresh::RefreshRequest,
        sessions::SessionList,
        sessions::SessionView,
        sessions::TelegramUserView,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Built-in accounts and tokens"),
        (name = "sessions", description = "Linked Telegram accounts"),
        (name = "health", description = "Liveness, readiness, metrics"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A TalkApp access token (POST /auth/login) or the configured identity provider's (Supabase) access token",
                    ))
                    .build(),
            ),
        );
    }
}
