//! CORS for browsers on other origins (the TorexTalkWeb SPA served elsewhere), per
//! `gateway.cors_allowed_origins`:
//!
//! - empty (the default): no CORS headers at all; a browser on another origin is refused
//!   by the browser itself, and `OPTIONS` reaches the routes like any other method;
//! - a list of origins: those are echoed in `Access-Control-Allow-Origin`, with
//!   `Access-Control-Allow-Credentials: true`;
//! - `*`: any origin, answered with `Access-Control-Allow-Origin: *` and never with
//!   credentials (development).
//!
//! A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) is answered
//! here for every path, before routing: `204` listing the methods and echoing the
//! requested headers one by one (`Access-Control-Allow-Headers: *` would not cover
//! `Authorization`), or `403` problem+json for an origin that is not allowed. Every
//! response, error responses included, carries `Vary: Origin` and, for an allowed origin,
//! the headers a script may read (`Retry-After`, `X-Request-Id`, `X-Supabase-Api-Version`...).

use std::future::{Ready, ready};
use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::{Error, HttpResponse, ResponseError};
use futures::future::LocalBoxFuture;
use talkapp_common::ErrorCode;

use crate::problem::ApiError;

/// Methods the gateway serves, listed in every preflight answer.
const ALLOWED_METHODS: &str = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";
/// Response headers scripts may read beyond the CORS-safelisted ones.
const EXPOSED_HEADERS: &str = "Retry-After, X-Request-Id, X-Supabase-Api-Version, X-Sb-Error-Code, WWW-Authenticate, Content-Disposition, Location, Content-Range, Accept-Ranges, Content-Length";
/// How long a browser may reuse a preflight answer (Chromium caps it at 7200 s); short, so
/// a changed configuration takes effect soon.
const PREFLIGHT_MAX_AGE_SECS: &str = "600";
/// More requested headers than this are not echoed (no browser sends nearly as many).
const MAX_REQUESTED_HEADERS: usize = 64;

const ALLOW_PRIVATE_NETWORK: HeaderName =
    HeaderName::from_static("access-control-allow-private-network");
const REQUEST_PRIVATE_NETWORK: HeaderName =
    HeaderName::from_static("access-control-request-private-network");

#[derive(Debug)]
enum AllowedOrigins {
    None,
    Any,
    /// Lowercase origins (`scheme://host[:port]`).
    List(Vec<String>),
}

/// The CORS middleware; see the module docs.
#[derive(Debug, Clone)]
pub struct Cors {
    allowed: Arc<AllowedOrigins>,
}

impl Cors {
    /// CORS for `origins` (`gateway.cors_allowed_origins`, validated by the config).
    pub fn new(origins: &[String]) -> Self {
        let allowed = if origins.is_empty() {
            AllowedOrigins::None
        } else if origins.iter().any(|origin| origin == "*") {
            AllowedOrigins::Any
        } else {
            AllowedOrigins::List(origins.iter().map(|origin| origin.to_lowercase()).collect())
        };
        Self {
            allowed: Arc::new(allowed),
        }
    }
}

/// What an allowed origin gets.
#[derive(Debug, Clone)]
struct Grant {
    allow_origin: HeaderValue,
    credentials: bool,
}

impl AllowedOrigins {
    fn grant(&self, origin: &HeaderValue) -> Option<Grant> {
        match self {
            Self::None => None,
            Self::Any => Some(Grant {
                allow_origin: HeaderValue::from_static("*"),
                credentials: false,
            }),
            Self::List(origins) => {
                let origin_text = origin.to_str().ok()?;
                origins
                    .iter()
                    .any(|allowed| allowed.eq_ignore_ascii_case(origin_text))
                    .then(|| Grant {
                        allow_origin: origin.clone(),
                        credentials: true,
                    })
            }
        }
    }
}

impl<S, B> Transform<S, ServiceRequest> for Cors
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = CorsMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(CorsMiddleware {
            service,
            allowed: Arc::clone(&self.allowed),
        }))
    }
}

/// [`Cors`] around a service.
pub struct CorsMiddleware<S> {
    service: S,
    allowed: Arc<AllowedOrigins>,
}

impl<S, B> Service<ServiceRequest> for CorsMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        if matches!(*self.allowed, AllowedOrigins::None) {
            let response = self.service.call(request);
            return Box::pin(async move { Ok(response.await?.map_into_left_body()) });
        }
        let origin = request.headers().get(header::ORIGIN).cloned();
        let grant = origin
            .as_ref()
            .and_then(|origin| self.allowed.grant(origin));
        let is_preflight = request.method() == Method::OPTIONS
            && origin.is_some()
            && request
                .headers()
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        if is_preflight {
            let response = preflight(request.headers(), grant.as_ref());
            return Box::pin(ready(Ok(request
                .into_response(response)
                .map_into_right_body())));
        }
        // Handlers' errors arrive here as responses and get the headers too (or the
        // browser would show a network error instead of the status). An `Err` from the
        // services inside (no middleware there produces one) is rendered by actix
        // itself; the request cannot be kept to render it here, since routing needs it
        // unshared.
        let response = self.service.call(request);
        Box::pin(async move {
            let mut response = response.await?.map_into_left_body();
            let headers = response.headers_mut();
            headers.append(header::VARY, HeaderValue::from_static("Origin"));
            if let Some(grant) = grant {
                allow(headers, &grant);
                headers.insert(
                    header::ACCESS_CONTROL_EXPOSE_HEADERS,
                    HeaderValue::from_static(EXPOSED_HEADERS),
                );
            }
            Ok(response)
        })
    }
}

fn allow(headers: &mut HeaderMap, grant: &Grant) {
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        grant.allow_origin.clone(),
    );
    if grant.credentials {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
}

/// The answer to a preflight.
fn preflight(request_headers: &HeaderMap, grant: Option<&Grant>) -> HttpResponse {
    let vary = HeaderValue::from_static(
        "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
    );
    let Some(grant) = grant else {
        let mut response = ApiError::new(
            ErrorCode::Forbidden,
            "this origin is not allowed to call the API (gateway.cors_allowed_origins)",
        )
        .error_response();
        response.headers_mut().insert(header::VARY, vary);
        return response;
    };
    let mut response = HttpResponse::NoContent().finish();
    let headers = response.headers_mut();
    allow(headers, grant);
    headers.insert(header::VARY, vary);
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(ALLOWED_METHODS),
    );
    if let Some(requested) = requested_headers(request_headers) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested);
    }
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static(PREFLIGHT_MAX_AGE_SECS),
    );
    // Chromium's Private Network Access: a public page calling a LAN gateway asks first.
    let private_network_requested = request_headers
        .get(REQUEST_PRIVATE_NETWORK)
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"true"));
    if private_network_requested {
        headers.insert(ALLOW_PRIVATE_NETWORK, HeaderValue::from_static("true"));
    }
    response
}

/// The requested header names, each checked to be a header name, lowercased, listed.
fn requested_headers(request_headers: &HeaderMap) -> Option<HeaderValue> {
    let names: Vec<String> = request_headers
        .get_all(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .filter_map(|name| HeaderName::from_bytes(name.as_bytes()).ok())
        .map(|name| name.as_str().to_owned())
        .take(MAX_REQUESTED_HEADERS)
        .collect();
    if names.is_empty() {
        return None;
    }
    HeaderValue::from_str(&names.join(", ")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        map
    }

    #[test]
    fn listed_origins_are_echoed_with_credentials_and_others_get_nothing() {
        let cors = Cors::new(&["http://localhost:8080".to_owned()]);
        let grant = cors
            .allowed
            .grant(&HeaderValue::from_static("http://LOCALHOST:8080"))
            .expect("listed");
        assert_eq!(grant.allow_origin, "http://LOCALHOST:8080");
        assert!(grant.credentials);
        assert!(
            cors.allowed
                .grant(&HeaderValue::from_static("http://localhost:8081"))
                .is_none()
        );
        assert!(
            cors.allowed
                .grant(&HeaderValue::from_static("null"))
                .is_none()
        );
    }

    #[test]
    fn any_origin_gets_a_wildcard_without_credentials() {
        let cors = Cors::new(&["*".to_owned()]);
        let grant = cors
            .allowed
            .grant(&HeaderValue::from_static("https://anything.example"))
            .expect("any");
        assert_eq!(grant.allow_origin, "*");
        assert!(!grant.credentials);
    }

    #[test]
    fn requested_headers_are_listed_one_by_one_and_junk_is_dropped() {
        let request = headers(&[
            (
                "access-control-request-headers",
                "Authorization, content-type,, bad header, X-Client-Info",
            ),
            ("access-control-request-headers", "apikey"),
        ]);
        assert_eq!(
            requested_headers(&request).expect("some"),
            "authorization, content-type, x-client-info, apikey"
        );
        assert!(requested_headers(&HeaderMap::new()).is_none());
    }
}
