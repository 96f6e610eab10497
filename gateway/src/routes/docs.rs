//! The OpenAPI document, a browsable page for it (`/docs`), and Swagger UI with "try it
//! out" (`/swagger-ui/`, its files vendored in the binary).

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

/// Swagger UI at `/swagger-ui/`, reading the document at `/swagger-ui/openapi.json`.
pub fn swagger_ui() -> utoipa_swagger_ui::SwaggerUi {
    utoipa_swagger_ui::SwaggerUi::new("/swagger-ui/{_:.*}")
        .url("/swagger-ui/openapi.json", ApiDoc::openapi())
}
