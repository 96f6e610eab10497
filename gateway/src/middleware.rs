//! Per-request telemetry: a span continuing the caller's trace, a request id, and the
//! Prometheus request count, latency histogram and error count by code.

use std::time::Instant;

use actix_web::HttpMessage as _;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use opentelemetry::propagation::Extractor;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::problem::ErrorCodeTag;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request's id, in the request's extensions for the layers inside (the audit log).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The request's route pattern (`/me/chats/{user_id}/{session_index}`), resolved once here
/// and kept in the request's extensions for the layers inside; absent when no route matched.
#[derive(Debug, Clone)]
pub struct RoutePattern(pub String);

/// Records the request; see the module docs.
pub async fn request_telemetry(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|value| value.len() <= 128 && !value.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let method = request.method().to_string();
    // Resolved from the resource map, so it is known before routing runs.
    let pattern = request.match_pattern();
    let route = pattern.clone().unwrap_or_else(|| "unmatched".to_owned());
    {
        let mut extensions = request.extensions_mut();
        extensions.insert(RequestId(request_id.clone()));
        if let Some(pattern) = pattern {
            extensions.insert(RoutePattern(pattern));
        }
    }
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(request.headers()))
    });
    let span = tracing::info_span!(
        "http.request",
        otel.kind = "server",
        otel.name = %format!("{method} {route}"),
        http.request.method = %method,
        http.route = %route,
        http.response.status_code = tracing::field::Empty,
        request_id = %request_id,
    );
    // Without an OpenTelemetry layer the span takes no parent; the request is served the same.
    let _ = span.set_parent(parent);
    let started = Instant::now();
    let mut response = next.call(request).instrument(span.clone()).await?;

    let status = response.status().as_u16();
    span.record("http.response.status_code", status);
    if let Some(ErrorCodeTag(code)) = response.response().extensions().get::<ErrorCodeTag>() {
        metrics::counter!("talkapp_http_errors_total", "code" => code.as_str()).increment(1);
    }
    metrics::counter!(
        "talkapp_http_requests_total",
        "method" => method.clone(),
        "route" => route.clone(),
        "status" => status.to_string()
    )
    .increment(1);
    metrics::histogram!(
        "talkapp_http_request_duration_seconds",
        "method" => method,
        "route" => route
    )
    .record(started.elapsed().as_secs_f64());
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    Ok(response)
}

struct HeaderExtractor<'a>(&'a actix_web::http::header::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}
