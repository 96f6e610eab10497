//! Per-request telemetry: a span continuing the caller's trace, a request id, and the
//! Prometheus request count, latency histogram ([`route_metrics`]) and error count by code.

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
use crate::{request_ids, route_metrics};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The longest request id taken from a caller; longer ones are replaced.
const MAX_CALLER_REQUEST_ID: usize = 128;

/// The request's id, in the request's extensions for the layers inside (the audit log).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Records the request; see the module docs.
///
/// The route label comes from the request once routing has run (a walk along the
/// matched resource's indices); matching the path against every route before routing
/// (`match_pattern` on a request not yet routed) is done only when the span is recorded,
/// so that it names its route from the start.
pub async fn request_telemetry(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let request_id = caller_request_id(request.headers()).unwrap_or_else(request_ids::next);
    let method = request.method().clone();
    request
        .extensions_mut()
        .insert(RequestId(request_id.clone()));
    let span = tracing::info_span!(
        "http.request",
        otel.kind = "server",
        otel.name = tracing::field::Empty,
        http.request.method = method.as_str(),
        http.route = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
        request_id = %request_id,
    );
    if !span.is_disabled() {
        let route = request
            .match_pattern()
            .unwrap_or_else(|| route_metrics::UNMATCHED.to_owned());
        span.record("otel.name", format!("{method} {route}").as_str());
        span.record("http.route", route.as_str());
        let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.extract(&HeaderExtractor(request.headers()))
        });
        // Without an OpenTelemetry layer the span takes no parent; the request is served the same.
        let _ = span.set_parent(parent);
    }
    let started = Instant::now();
    let mut response = next.call(request).instrument(span.clone()).await?;

    let status = response.status().as_u16();
    span.record("http.response.status_code", status);
    if let Some(ErrorCodeTag(code)) = response.response().extensions().get::<ErrorCodeTag>() {
        metrics::counter!("talkapp_http_errors_total", "code" => code.as_str()).increment(1);
    }
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| route_metrics::UNMATCHED.to_owned());
    route_metrics::record(&method, route, status, started.elapsed().as_secs_f64());
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    Ok(response)
}

/// The caller's own request id, when it sent a usable one (visible ASCII, 1 to 128 bytes).
fn caller_request_id(headers: &actix_web::http::header::HeaderMap) -> Option<String> {
    headers
        .get(&REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|value| value.len() <= MAX_CALLER_REQUEST_ID && !value.is_empty())
        .map(str::to_owned)
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
