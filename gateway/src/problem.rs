//! Every error leaves the gateway as `application/problem+json` (RFC 9457) with a stable
//! `code`.
//!
//! Handlers return [`ApiError`]. Errors actix raises itself (bad JSON, oversized bodies,
//! bad path or query values) are turned into [`ApiError`]s by the handlers in
//! [`extractor_config`]; anything else that still ends up as a bare 4xx/5xx (an unknown
//! route, a wrong method) is rewritten by [`rewrite_bare_errors`].

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpResponse, ResponseError, web};
use serde::Serialize;
use talkapp_common::ErrorCode;
use utoipa::ToSchema;

/// Content type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid field.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldError {
    /// The field, as named in the request (`email`, `user_id`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// An RFC 9457 problem with TalkApp's stable `code`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// `about:blank`-style type URI naming the code.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short summary of the code.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// Stable machine-readable code.
    pub code: String,
    /// What happened in this case.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Field-level validation errors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Extra members (readiness checks).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub extensions: Option<serde_json::Map<String, serde_json::Value>>,
}

/// An error answered to the client.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// Stable code; decides the status.
    pub code: ErrorCode,
    /// Explanation for this case (never internals for 5xx).
    pub detail: Option<String>,
    /// Field-level errors.
    pub errors: Vec<FieldError>,
    /// Seconds for `Retry-After`.
    pub retry_after_secs: Option<u64>,
    /// Extra members of the problem object.
    pub extensions: Option<serde_json::Map<String, serde_json::Value>>,
}

impl ApiError {
    /// An error with `code` and a detail.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: Some(detail.into()),
            errors: Vec::new(),
            retry_after_secs: None,
            extensions: None,
        }
    }

    /// A validation error with field-level messages.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        Self {
            code: ErrorCode::ValidationFailed,
            detail: Some("the request has invalid fields".into()),
            errors,
            retry_after_secs: None,
            extensions: None,
        }
    }

    /// A 500 whose cause is logged, not shown.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::warn!(%cause, "internal error");
        Self {
            code: ErrorCode::Internal,
            detail: None,
            errors: Vec::new(),
            retry_after_secs: None,
            extensions: None,
        }
    }

    /// The problem body.
    pub fn problem(&self) -> Problem {
        Problem {
            problem_type: format!("https://talkapp.dev/problems/{}", self.code.as_str()),
            title: self.code.title().to_owned(),
            status: self.code.http_status(),
            code: self.code.as_str().to_owned(),
            detail: self.detail.clone(),
            errors: self.errors.clone(),
            extensions: self.extensions.clone(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}", self.code.as_str())?;
        if let Some(detail) = &self.detail {
            write!(formatter, ": {detail}")?;
        }
        Ok(())
    }
}

/// Marker left in the response extensions so metrics can count errors by code.
#[derive(Debug, Clone, Copy)]
pub struct ErrorCodeTag(pub ErrorCode);

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        if self.code.http_status() >= 500 {
            tracing::warn!(code = self.code.as_str(), detail = ?self.detail, "request failed");
        } else {
            tracing::info!(code = self.code.as_str(), detail = ?self.detail, "request refused");
        }
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CONTENT_TYPE, PROBLEM_JSON));
        if let Some(seconds) = self.retry_after_secs {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        if matches!(
            self.code,
            ErrorCode::Unauthenticated | ErrorCode::TokenExpired | ErrorCode::TokenInvalid
        ) {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        let mut response = response.body(serde_json::to_vec(&self.problem()).unwrap_or_default());
        response.extensions_mut().insert(ErrorCodeTag(self.code));
        response
    }
}

impl From<talkapp_store::StoreError> for ApiError {
    fn from(error: talkapp_store::StoreError) -> Self {
        match error {
            talkapp_store::StoreError::Unavailable(cause) => {
                tracing::warn!(%cause, "store unavailable");
                let mut api_error = ApiError::new(
                    ErrorCode::ServiceUnavailable,
                    "the database is not reachable",
                );
                api_error.retry_after_secs = Some(2);
                api_error
            }
            talkapp_store::StoreError::Conflict(what) => {
                ApiError::internal(format!("conflict on {what}"))
            }
            talkapp_store::StoreError::Internal(cause) => ApiError::internal(cause),
        }
    }
}

impl From<tonic::Status> for ApiError {
    fn from(status: tonic::Status) -> Self {
        let code = ErrorCode::from_grpc_status(&status);
        // A service's own 5xx outcomes (Telegram away) say what happened; only
        // transport-level failures and internal errors get the generic reply.
        let generic = matches!(
            code,
            ErrorCode::Internal | ErrorCode::ServiceUnavailable | ErrorCode::Timeout
        );
        if generic && code.http_status() >= 500 {
            let mut api_error = ApiError::internal(format!("service call failed: {status}"));
            api_error.code = code;
            if code != ErrorCode::Internal {
                api_error.detail = Some("a service is not reachable right now".into());
                api_error.retry_after_secs = Some(2);
            }
            return api_error;
        }
        let mut api_error = ApiError::new(code, status.message().to_owned());
        api_error.retry_after_secs = talkapp_common::error_code::retry_after_secs(&status);
        api_error
    }
}

/// The detail of a media call that failed for want of the file storage (the media
/// service away, or its storage: S3 unreachable or refusing it, the database).
pub const FILE_STORAGE_UNAVAILABLE: &str = "the file storage is unavailable; try again later";

impl ApiError {
    /// A media service call's failure, as [`From<tonic::Status>`] has it, but a
    /// `service_unavailable` says what is away for the client: the file storage (a
    /// generic text: where the storage is, the service's log has).
    pub fn from_media(status: tonic::Status) -> Self {
        let mut api_error = Self::from(status);
        if api_error.code == ErrorCode::ServiceUnavailable {
            api_error.detail = Some(FILE_STORAGE_UNAVAILABLE.into());
        }
        api_error
    }
}

use talkapp_proto::tonic;

/// Extractor configurations whose errors become problems.
pub mod extractor_config {
    use super::*;
    use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};

    /// JSON bodies: at most `limit` bytes, `application/json` only.
    pub fn json(limit: usize) -> web::JsonConfig {
        web::JsonConfig::default()
            .limit(limit)
            .error_handler(|error, _request| json_error(error).into())
    }

    /// Converts a JSON body error to a problem.
    pub fn json_error(error: JsonPayloadError) -> ApiError {
        match error {
            JsonPayloadError::OverflowKnownLength { length, limit } => ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("the body has {length} bytes; at most {limit} are accepted"),
            ),
            JsonPayloadError::Overflow { limit } => ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("the body is larger than the {limit} bytes accepted"),
            ),
            JsonPayloadError::ContentType => ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "send the body as application/json",
            ),
            JsonPayloadError::Deserialize(error) if error.is_data() => ApiError {
                code: ErrorCode::ValidationFailed,
                detail: Some(error.to_string()),
                errors: Vec::new(),
                retry_after_secs: None,
                extensions: None,
            },
            JsonPayloadError::Deserialize(error) => ApiError::new(
                ErrorCode::MalformedJson,
                format!("the body is not valid JSON: {error}"),
            ),
            other => ApiError::new(ErrorCode::MalformedJson, other.to_string()),
        }
    }

    /// Path parameters.
    pub fn path() -> web::PathConfig {
        web::PathConfig::default().error_handler(|error: PathError, _request| {
            ApiError::new(
                ErrorCode::ValidationFailed,
                format!("invalid path: {error}"),
            )
            .into()
        })
    }

    /// Query strings.
    pub fn query() -> web::QueryConfig {
        web::QueryConfig::default().error_handler(|error: QueryPayloadError, _request| {
            ApiError::new(
                ErrorCode::ValidationFailed,
                format!("invalid query: {error}"),
            )
            .into()
        })
    }
}

/// Rewrites a bare 4xx/5xx (no problem body yet) into a problem: unknown routes, wrong
/// methods, and errors raised by actix itself.
pub fn rewrite_bare_errors<B: MessageBody + 'static>(
    response: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_problem = response
        .response()
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value == HeaderValue::from_static(PROBLEM_JSON));
    if is_problem {
        return Ok(ErrorHandlerResponse::Response(
            response.map_into_left_body(),
        ));
    }
    let status = response.status();
    let api_error = match status {
        StatusCode::NOT_FOUND => ApiError::new(ErrorCode::NotFound, "no such route"),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::new(
            ErrorCode::MethodNotAllowed,
            "this method is not served on this path",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(ErrorCode::PayloadTooLarge, "the body is too large")
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ApiError::new(ErrorCode::UnsupportedMediaType, "unsupported content type")
        }
        status if status.is_server_error() => ApiError::internal(format!("bare {status}")),
        _ => ApiError::new(
            ErrorCode::ValidationFailed,
            "the request was not understood",
        ),
    };
    let (request, _) = response.into_parts();
    let problem_response: HttpResponse<BoxBody> = api_error.error_response();
    let rewritten = ServiceResponse::new(request, problem_response.map_into_boxed_body());
    Ok(ErrorHandlerResponse::Response(
        rewritten.map_into_right_body(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A media call that failed for want of the storage (the media service's own answer,
    /// whatever its text says, or the service away) is told as the file storage being
    /// unavailable, `Retry-After` 2, nothing of the cause; the media service's other
    /// answers (a full storage) pass as it said them.
    #[test]
    fn a_media_calls_unavailable_storage_is_the_file_storage_without_its_cause() {
        let leaky = ErrorCode::ServiceUnavailable.to_grpc_status(
            "storage unavailable: Error performing PUT http://minio.internal:9000/talkapp-media/tmp/1",
        );
        let away = tonic::Status::unavailable("tcp connect error: 10.1.2.3:50053");
        for status in [leaky, away] {
            let error = ApiError::from_media(status);
            assert_eq!(error.code, ErrorCode::ServiceUnavailable);
            assert_eq!(error.detail.as_deref(), Some(FILE_STORAGE_UNAVAILABLE));
            assert_eq!(error.retry_after_secs, Some(2));
        }
        let full = ErrorCode::InsufficientStorage.to_grpc_status_with_retry(
            "the server's storage is full (no space left on the device); try again later",
            60,
        );
        let error = ApiError::from_media(full);
        assert_eq!(
            (error.code, error.detail.as_deref(), error.retry_after_secs),
            (
                ErrorCode::InsufficientStorage,
                Some("the server's storage is full (no space left on the device); try again later"),
                Some(60)
            )
        );
    }
}
