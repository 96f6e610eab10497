//! HTTP routes, one module per area and one file per handler where they grow.

pub mod auth;
pub mod docs;
pub mod health;
pub mod sessions;

use actix_web::web;

/// Registers every route.
pub fn configure(config: &mut web::ServiceConfig, builtin_accounts: bool) {
    // `web::resource` answers 405 for a known path with an unserved method.
    config
        .service(web::resource("/healthz").get(health::healthz))
        .service(web::resource("/readyz").get(health::readyz))
        .service(web::resource("/metrics").get(health::metrics))
        .service(web::resource("/openapi.json").get(docs::openapi_json))
        .service(web::resource("/docs").get(docs::docs_page))
        .service(web::resource("/auth/me").get(auth::me::me))
        .service(web::resource("/auth/logout").post(auth::logout::logout))
        .service(web::resource("/me/sessions/{user_id}").get(sessions::list_sessions));
    if builtin_accounts {
        config
            .service(web::resource("/auth/register").post(auth::register::register))
            .service(web::resource("/auth/login").post(auth::login::login))
            .service(web::resource("/auth/refresh").post(auth::refresh::refresh));
    }
}
