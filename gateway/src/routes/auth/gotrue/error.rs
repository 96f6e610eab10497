//! GoTrue's error shapes (`internal/api/errors.go`, `apierrors/apierrors.go`), as
//! supabase-js 2.84.0 parses them (`lib/fetch.js` `handleError`): the code from `code`
//! (API version 2024-01-01, announced by the `X-Supabase-Api-Version` response header)
//! or `error_code`, the message from `msg`, `message` or `error_description`; 502/503/504
//! are retried without reading the body.
//!
//! The gateway rewrites every 4xx/5xx that is not problem+json into problem+json
//! ([`crate::problem::rewrite_bare_errors`]). A GoTrue error therefore also leaves a copy
//! of itself in the request's extensions, and [`keep_gotrue_errors`], registered outside
//! that rewriting, puts the copy back.

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::{HttpMessage, HttpRequest, HttpResponse};
use serde::Serialize;
use talkapp_common::ErrorCode;
use utoipa::ToSchema;

use crate::problem::{ApiError, ErrorCodeTag};

/// The response header that announces the API version of an error body.
pub const API_VERSION_HEADER: &str = "x-supabase-api-version";
/// The only dated API version GoTrue has.
const API_VERSION_2024_01_01: &str = "2024-01-01";
/// GoTrue repeats the error code in this header.
const ERROR_CODE_HEADER: HeaderName = HeaderName::from_static("x-sb-error-code");

/// GoTrue's `code`: a string, or in the legacy shape the HTTP status as a number.
fn string_or_status() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
    Schema::OneOf(
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::String))
            .item(ObjectBuilder::new().schema_type(Type::Integer))
            .build(),
    )
}

/// A GoTrue error body (either API version; OAuth-style errors carry `error` and
/// `error_description` instead).
#[derive(Debug, Serialize, ToSchema)]
pub struct GoTrueErrorBody {
    /// The error code (`invalid_credentials`, `user_already_exists`, ...); in the legacy
    /// shape (no `X-Supabase-Api-Version: 2024-01-01` on the request), the HTTP status
    /// (a number).
    #[schema(schema_with = string_or_status)]
    pub code: serde_json::Value,
    /// The error code (both shapes; what supabase-js reads when it cannot see the version
    /// header).
    pub error_code: String,
    /// What happened (API version 2024-01-01).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// What happened (legacy shape).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msg: Option<String>,
    /// Why a password was refused (`weak_password` only): `length`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weak_password: Option<WeakPasswordReasons>,
}

/// `weak_password.reasons`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WeakPasswordReasons {
    /// `length`, ...
    pub reasons: Vec<&'static str>,
}

#[derive(Debug, Serialize)]
struct OAuthErrorBody<'a> {
    error: &'a str,
    error_description: &'a str,
}

#[derive(Debug, Clone)]
enum Shape {
    /// `{"code", "message"}` or `{"code": status, "error_code", "msg"}`.
    Http,
    /// `{"error", "error_description"}`.
    OAuth { error: &'static str },
    /// [`Shape::Http`] plus `weak_password.reasons`.
    WeakPassword { reasons: Vec<&'static str> },
}

/// An error of the `/auth/v1` routes.
#[derive(Debug, Clone)]
pub struct GoTrueError {
    status: StatusCode,
    code: &'static str,
    message: String,
    shape: Shape,
    retry_after_secs: Option<u64>,
    /// TalkApp's nearest code, for the error metrics.
    tag: ErrorCode,
}

impl GoTrueError {
    /// An error with GoTrue's `code` and `message`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        let tag = match status.as_u16() {
            400 | 422 => ErrorCode::ValidationFailed,
            401 => ErrorCode::Unauthenticated,
            403 => ErrorCode::Forbidden,
            404 => ErrorCode::NotFound,
            405 => ErrorCode::MethodNotAllowed,
            413 => ErrorCode::PayloadTooLarge,
            429 => ErrorCode::RateLimited,
            503 => ErrorCode::ServiceUnavailable,
            _ if status.is_server_error() => ErrorCode::Internal,
            _ => ErrorCode::ValidationFailed,
        };
        Self {
            status,
            code,
            message: message.into(),
            shape: Shape::Http,
            retry_after_secs: None,
            tag,
        }
    }

    /// `400 {"error": error, "error_description": description}`.
    pub fn oauth(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            shape: Shape::OAuth { error },
            ..Self::new(StatusCode::BAD_REQUEST, error, description)
        }
    }

    /// `400 validation_failed`.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "validation_failed", message)
    }

    /// `422 weak_password` with `weak_password.reasons`.
    pub fn weak_password(message: impl Into<String>, reasons: Vec<&'static str>) -> Self {
        Self {
            shape: Shape::WeakPassword { reasons },
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "weak_password", message)
        }
    }

    /// `400 bad_json`.
    pub fn bad_json(message: impl Into<String>) -> Self {
        Self {
            tag: ErrorCode::MalformedJson,
            ..Self::new(StatusCode::BAD_REQUEST, "bad_json", message)
        }
    }

    /// `413 request_entity_too_large`.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request_entity_too_large",
            format!("Request body too large (max {limit} bytes)"),
        )
    }

    /// `401` for a missing or wrong `apikey`.
    pub fn api_key(message: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "no_authorization", message)
    }

    /// `403 user_not_found`: the token's account is gone.
    pub fn user_not_found() -> Self {
        Self {
            tag: ErrorCode::SessionExpired,
            ..Self::new(
                StatusCode::FORBIDDEN,
                "user_not_found",
                "User from sub claim in JWT does not exist",
            )
        }
    }

    /// GoTrue's counterpart of a TalkApp error, as GoTrue answers it on its authenticated
    /// routes (`/user`, `/logout`); the token grants map the refresh and credential codes
    /// themselves where GoTrue's wording differs.
    pub fn from_api(error: ApiError) -> Self {
        let detail = error.detail.clone().unwrap_or_default();
        let status =
            StatusCode::from_u16(error.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
        let (status, code, message): (StatusCode, &'static str, String) = match error.code {
            ErrorCode::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                "no_authorization",
                "This endpoint requires a valid Bearer token".into(),
            ),
            ErrorCode::TokenExpired => (
                StatusCode::FORBIDDEN,
                "bad_jwt",
                "invalid JWT: unable to parse or verify signature, token has invalid claims: token is expired".into(),
            ),
            ErrorCode::TokenInvalid => (
                StatusCode::FORBIDDEN,
                "bad_jwt",
                format!("invalid JWT: unable to parse or verify signature, {detail}"),
            ),
            ErrorCode::SessionExpired => (
                StatusCode::FORBIDDEN,
                "session_not_found",
                "Session from session_id claim in JWT does not exist".into(),
            ),
            ErrorCode::InvalidCredentials => (
                StatusCode::BAD_REQUEST,
                "invalid_credentials",
                "Invalid login credentials".into(),
            ),
            ErrorCode::RefreshTokenInvalid => (
                StatusCode::BAD_REQUEST,
                "refresh_token_not_found",
                "Invalid Refresh Token: Refresh Token Not Found".into(),
            ),
            ErrorCode::RefreshTokenReused => (
                StatusCode::BAD_REQUEST,
                "refresh_token_already_used",
                "Invalid Refresh Token: Already Used".into(),
            ),
            ErrorCode::Forbidden => (StatusCode::FORBIDDEN, "no_authorization", detail),
            // GoTrue's answer for a banned user.
            ErrorCode::AccountDisabled => {
                (StatusCode::BAD_REQUEST, "user_banned", "User is banned".into())
            }
            ErrorCode::NotFound => (StatusCode::NOT_FOUND, "not_found", detail),
            ErrorCode::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                detail,
            ),
            ErrorCode::MalformedJson | ErrorCode::UnsupportedMediaType => {
                (StatusCode::BAD_REQUEST, "bad_json", detail)
            }
            ErrorCode::ValidationFailed => (StatusCode::BAD_REQUEST, "validation_failed", detail),
            ErrorCode::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "request_entity_too_large",
                detail,
            ),
            ErrorCode::EmailTaken => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "user_already_exists",
                "User already registered".into(),
            ),
            ErrorCode::RateLimited => (
                StatusCode::TOO_MANY_REQUESTS,
                "over_request_rate_limit",
                "Request rate limit reached".into(),
            ),
            // GoTrue has no code of its own for these; it answers `unexpected_failure`
            // for 5xx and `unknown` otherwise.
            ErrorCode::ServiceUnavailable | ErrorCode::Timeout | ErrorCode::Internal => (
                status,
                "unexpected_failure",
                detail_or(&detail, "Internal Server Error"),
            ),
            ErrorCode::PhoneInvalid
            | ErrorCode::PhoneAlreadyLinked
            | ErrorCode::TelegramCodeInvalid
            | ErrorCode::TelegramPasswordInvalid
            | ErrorCode::TelegramAccountMissing
            | ErrorCode::LoginNotFound
            | ErrorCode::LoginExpired
            | ErrorCode::LoginStepMismatch
            | ErrorCode::TelegramFloodWait
            | ErrorCode::TelegramUnavailable
            | ErrorCode::TooManyConnections
            | ErrorCode::MediaTooLarge
            | ErrorCode::RangeNotSatisfiable
            | ErrorCode::MediaLinkExpired
            | ErrorCode::MediaLinkInvalid
            | ErrorCode::QuotaExceeded
            | ErrorCode::InsufficientStorage
            | ErrorCode::FileTypeNotAllowed
            | ErrorCode::ImageTooLarge
            | ErrorCode::EmptyFile
            | ErrorCode::UploadIncomplete
            | ErrorCode::RequestTimeout
            | ErrorCode::MediaKindNotSendable
            | ErrorCode::TelegramPrivacyRestricted
            | ErrorCode::TelegramAdminRequired
            | ErrorCode::AlreadyParticipant
            | ErrorCode::IdempotencyKeyReused
            | ErrorCode::RequestInProgress
            | ErrorCode::UsernameTaken
            | ErrorCode::UsernameInvalid
            | ErrorCode::NotParticipant
            | ErrorCode::TelegramAdminInvalid
            | ErrorCode::ChatCreator
            | ErrorCode::InviteExpired
            | ErrorCode::InviteInvalid
            | ErrorCode::ChannelPrivate
            | ErrorCode::TooManyChannels
            | ErrorCode::PhotoInvalid
            | ErrorCode::PhotoTooSmall
            | ErrorCode::PreviewPending => {
                let code = if status.is_server_error() {
                    "unexpected_failure"
                } else {
                    "unknown"
                };
                (status, code, detail)
            }
        };
        Self {
            retry_after_secs: error.retry_after_secs,
            tag: error.code,
            ..Self::new(status, code, message)
        }
    }

    /// Overrides `Retry-After`.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after_secs = Some(seconds);
        self
    }

    /// The response, in the shape the request's API version asks for. A copy stays in
    /// the request for [`keep_gotrue_errors`].
    pub fn respond(self, request: &HttpRequest) -> HttpResponse {
        if self.status.is_server_error() {
            tracing::warn!(code = self.code, message = %self.message, "auth request failed");
        } else {
            tracing::info!(code = self.code, message = %self.message, "auth request refused");
        }
        let dated = asks_for_dated_api(request);
        let body = match &self.shape {
            Shape::OAuth { error } => serde_json::to_vec(&OAuthErrorBody {
                error,
                error_description: &self.message,
            }),
            Shape::Http | Shape::WeakPassword { .. } => {
                let weak_password = match &self.shape {
                    Shape::WeakPassword { reasons } => Some(WeakPasswordReasons {
                        reasons: reasons.clone(),
                    }),
                    Shape::Http | Shape::OAuth { .. } => None,
                };
                serde_json::to_vec(&GoTrueErrorBody {
                    code: if dated {
                        self.code.into()
                    } else {
                        self.status.as_u16().into()
                    },
                    error_code: self.code.to_owned(),
                    message: dated.then(|| self.message.clone()),
                    msg: (!dated).then(|| self.message.clone()),
                    weak_password,
                })
            }
        }
        .unwrap_or_default();
        let mut headers = vec![(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )];
        if !matches!(self.shape, Shape::OAuth { .. })
            && let Ok(value) = HeaderValue::from_str(self.code)
        {
            headers.push((ERROR_CODE_HEADER, value));
        }
        if dated {
            headers.push((
                HeaderName::from_static(API_VERSION_HEADER),
                HeaderValue::from_static(API_VERSION_2024_01_01),
            ));
        }
        if let Some(seconds) = self.retry_after_secs {
            headers.push((header::RETRY_AFTER, HeaderValue::from(seconds)));
        }
        let kept = KeptReply {
            status: self.status,
            headers,
            body: Bytes::from(body),
            tag: self.tag,
        };
        let response = kept.to_response();
        request.extensions_mut().insert(kept);
        response
    }
}

fn detail_or(detail: &str, fallback: &str) -> String {
    if detail.is_empty() {
        fallback.to_owned()
    } else {
        detail.to_owned()
    }
}

/// Whether the request asks for API version 2024-01-01 or later (GoTrue's
/// `DetermineClosestAPIVersion`: a `YYYY-MM-DD` date; anything else is the legacy API).
fn asks_for_dated_api(request: &HttpRequest) -> bool {
    let Some(version) = request
        .headers()
        .get(API_VERSION_HEADER)
        .and_then(|value| value.to_str().ok())
    else {
        return false;
    };
    let well_formed = version.len() == 10
        && version
            .char_indices()
            .all(|(index, character)| match index {
                4 | 7 => character == '-',
                _ => character.is_ascii_digit(),
            });
    // Same-length ISO dates order as strings.
    well_formed && version >= API_VERSION_2024_01_01
}

/// A GoTrue error response, kept so it survives the problem+json rewriting.
#[derive(Debug, Clone)]
struct KeptReply {
    status: StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
    tag: ErrorCode,
}

impl KeptReply {
    fn to_response(&self) -> HttpResponse {
        let mut builder = HttpResponse::build(self.status);
        for (name, value) in &self.headers {
            builder.insert_header((name.clone(), value.clone()));
        }
        let mut response = builder.body(self.body.clone());
        response.extensions_mut().insert(ErrorCodeTag(self.tag));
        response
    }
}

/// Puts back the GoTrue error a `/auth/v1` handler answered, after
/// [`crate::problem::rewrite_bare_errors`] replaced it with a problem. Registered just
/// outside that rewriting; a no-op for every other response.
pub async fn keep_gotrue_errors(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody, BoxBody>>, actix_web::Error> {
    let response = next.call(request).await?;
    let kept = response.request().extensions_mut().remove::<KeptReply>();
    let Some(kept) = kept else {
        return Ok(response.map_into_left_body());
    };
    let (request, _rewritten) = response.into_parts();
    Ok(ServiceResponse::new(request, kept.to_response()).map_into_right_body())
}

/// Unknown paths under `/auth/v1`.
pub async fn not_found(request: HttpRequest) -> HttpResponse {
    GoTrueError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "TalkApp serves signup, token, user, logout and authorize under /auth/v1",
    )
    .respond(&request)
}

/// A known `/auth/v1` path with a method it does not serve.
pub async fn method_not_allowed(request: HttpRequest) -> HttpResponse {
    GoTrueError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this method is not served on this path",
    )
    .respond(&request)
}
