//! The OpenAPI document and a browsable page for it.

use actix_web::HttpResponse;
use utoipa::OpenApi;

use crate::openapi::ApiDoc;

/// The OpenAPI 3.1 document, generated from the code.
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

/// A self-contained page that renders `/openapi.json` (no CDN: it works offline).
pub async fn docs_page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'",
        ))
        .body(DOCS_PAGE)
}

const DOCS_PAGE: &str = include_str!("docs.html");
