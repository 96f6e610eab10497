//! Liveness, readiness and metrics.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde::Serialize;
use talkapp_common::ErrorCode;
use talkapp_common::probe::{self, ProbeOutcome};
use utoipa::ToSchema;

use crate::problem::ApiError;
use crate::state::AppState;

/// Liveness answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Alive {
    /// Always `ok`.
    pub status: &'static str,
}

/// Readiness answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    /// `ready`.
    pub status: &'static str,
    /// Each dependency and service with its state.
    #[schema(value_type = Vec<Object>)]
    pub checks: Vec<ProbeOutcome>,
}

/// The process is alive (it answers HTTP).
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Alive)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Alive { status: "ok" })
}

/// Every dependency of the gateway and every service behind it answers.
#[utoipa::path(get, path = "/readyz", tag = "health", responses(
    (status = 200, body = Ready),
    (status = 503, description = "Something is down; `checks` says what", body = crate::problem::Problem, content_type = "application/problem+json"),
))]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let timeout = Duration::from_millis(state.config.probes.timeout_ms);
    let (mut checks, services) = futures::join!(
        probe::check_all(&state.probes, timeout),
        state.services.health(timeout)
    );
    checks.extend(services);
    if checks.iter().all(|check| check.ok) {
        return Ok(HttpResponse::Ok().json(Ready {
            status: "ready",
            checks,
        }));
    }
    let down: Vec<&str> = checks
        .iter()
        .filter(|check| !check.ok)
        .map(|check| check.name)
        .collect();
    let mut error = ApiError::new(
        ErrorCode::ServiceUnavailable,
        format!("not ready: {} down", down.join(", ")),
    );
    let mut extensions = serde_json::Map::new();
    extensions.insert(
        "checks".into(),
        serde_json::to_value(&checks).map_err(ApiError::internal)?,
    );
    error.extensions = Some(extensions);
    error.retry_after_secs = Some(2);
    Err(error)
}

/// Prometheus metrics of this process (the whole backend in the embedded default).
#[utoipa::path(get, path = "/metrics", tag = "health", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(talkapp_common::telemetry::prometheus().render())
}
