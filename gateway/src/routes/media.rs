//! Media downloads: the files of messages and chats (the `file_id`, `thumbnail_id` and
//! `photo_id` references of history and chat replies), fetched from Telegram through the
//! account's host and streamed as they arrive, with HTTP ranges (for video seeking and
//! resumed downloads).
//!
//! Two ways in: with the bearer token (`GET /me/media/...`), or with a short-lived signed
//! link (`POST /me/media/.../url`, then `GET /media/t/{token}`), which `<img>` and
//! `<video>` can load without headers.
//!
//! Not yet: `HEAD`, validators (`ETag`, `If-Range` always means the whole file) and
//! multipart ranges (several ranges are answered with the whole file).
//!
//! User content is served from the API's origin, so it is never allowed to act there:
//! `nosniff`, a sandboxing CSP, and only images, audio and video shown inline (anything
//! else, SVG included, is an attachment).

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, ResponseError as _, web};
use futures::StreamExt as _;
use serde::Serialize;
use talkapp_common::ErrorCode;
use talkapp_proto::chat::v1 as chat;
use utoipa::ToSchema;

use crate::auth::extract::PathOwner;
use crate::media_links::LinkError;
use crate::problem::ApiError;
use crate::routes::chats::user_account_ref;
use crate::state::AppState;

/// A signed link to one file.
#[derive(Debug, Serialize, ToSchema)]
pub struct MediaLink {
    /// Path (on this gateway) that serves the file without headers, ranges included.
    pub url: String,
    /// Seconds it works for.
    pub expires_in: u64,
}

/// The bytes a request asks for, from its `Range` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// No (usable) range: the whole file.
    Whole,
    /// From `offset`, `length` bytes (`None`: to the end).
    From {
        /// First byte.
        offset: u64,
        /// Bytes wanted.
        length: Option<u64>,
    },
    /// The last this many bytes.
    Suffix(u64),
}

impl RangeRequest {
    /// Reads `Range` (and `If-Range`). Only a single byte range is honoured; anything
    /// else (several ranges, another unit, bad syntax) is ignored, as RFC 9110 allows,
    /// and the whole file is served. Without validators to compare, an `If-Range` always
    /// means the whole file.
    pub fn from_headers(request: &HttpRequest) -> Self {
        if request.headers().contains_key(header::IF_RANGE) {
            return Self::Whole;
        }
        request
            .headers()
            .get(header::RANGE)
            .and_then(|value| value.to_str().ok())
            .map_or(Self::Whole, Self::parse)
    }

    /// Parses a `Range` value.
    pub fn parse(value: &str) -> Self {
        let Some(spec) = value.trim().strip_prefix("bytes=") else {
            return Self::Whole;
        };
        let spec = spec.trim();
        if spec.contains(',') {
            return Self::Whole;
        }
        let Some((first, last)) = spec.split_once('-') else {
            return Self::Whole;
        };
        let number = |text: &str| {
            let text = text.trim();
            (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
                .then(|| text.parse::<u64>().ok())
                .flatten()
        };
        match (first.trim().is_empty(), number(first), number(last)) {
            (true, _, Some(suffix)) if suffix > 0 => Self::Suffix(suffix),
            (false, Some(offset), None) if last.trim().is_empty() => Self::From {
                offset,
                length: None,
            },
            (false, Some(offset), Some(last)) if last >= offset => Self::From {
                offset,
                length: Some(last - offset + 1),
            },
            _ => Self::Whole,
        }
    }

    fn is_ranged(self) -> bool {
        !matches!(self, Self::Whole)
    }

    fn apply(self, request: &mut chat::DownloadMediaRequest) {
        match self {
            Self::Whole => {}
            Self::From { offset, length } => {
                request.offset = offset;
                request.length = length.unwrap_or(0);
            }
            Self::Suffix(suffix) => request.suffix = suffix,
        }
    }
}

/// How a response is marked for the way it was asked for.
enum Access {
    /// With the bearer token: private, not cached.
    Bearer,
    /// With a signed link: cacheable by the browser until the link expires, any origin.
    Link {
        /// Seconds left.
        remaining_secs: i64,
    },
}

/// Whether a reference is well formed (`m|t|p:{chat}:{id}`); the chat service decides
/// whether the account has it.
pub(crate) fn well_formed(media_ref: &str) -> bool {
    let mut parts = media_ref.split(':');
    matches!(
        (parts.next(), parts.next(), parts.next(), parts.next()),
        (Some("m" | "t" | "p"), Some(chat), Some(id), None)
            if chat.parse::<i64>().is_ok_and(|chat| chat != 0) && id.parse::<i64>().is_ok()
    )
}

fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such media")
}

fn extension(mime_type: &str) -> &'static str {
    match mime_type {
        "image/jpeg" => ".jpg",
        "image/png" => ".png",
        "image/gif" => ".gif",
        "image/webp" => ".webp",
        "video/mp4" => ".mp4",
        "audio/ogg" => ".ogg",
        "audio/mpeg" => ".mp3",
        "text/plain" => ".txt",
        "application/pdf" => ".pdf",
        _ => "",
    }
}

/// `Content-Disposition`: inline for images, audio and video (not SVG, which can
/// script), an attachment otherwise; the name as ASCII and as RFC 8187 UTF-8.
pub(crate) fn content_disposition(mime_type: &str, file_name: &str, media_ref: &str) -> String {
    let inline = (mime_type.starts_with("image/")
        || mime_type.starts_with("audio/")
        || mime_type.starts_with("video/"))
        && !mime_type.contains("svg");
    let name = if file_name.is_empty() {
        format!("{}{}", media_ref.replace(':', "_"), extension(mime_type))
    } else {
        file_name.to_owned()
    };
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
                char::from(byte).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect();
    format!(
        "{}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}",
        if inline { "inline" } else { "attachment" }
    )
}

/// 416 `range_not_satisfiable` for a file of `size` bytes, with
/// `Content-Range: bytes */size`.
pub(crate) fn range_not_satisfiable(size: u64) -> HttpResponse {
    let mut response = ApiError::new(
        ErrorCode::RangeNotSatisfiable,
        format!("the file has {size} bytes"),
    )
    .error_response();
    if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
        response.headers_mut().insert(header::CONTENT_RANGE, value);
    }
    response
}

/// `Content-Range` of the bytes `[offset, offset + length)` (`length` at least 1) of a
/// file of `size` bytes.
pub(crate) fn content_range(offset: u64, length: u64, size: u64) -> String {
    format!("bytes {}-{}/{}", offset, offset + length - 1, size)
}

/// Downloads through the chat service and answers with the bytes as they arrive.
async fn serve(
    state: &AppState,
    account: chat::AccountRef,
    media_ref: String,
    range: RangeRequest,
    access: Access,
) -> Result<HttpResponse, ApiError> {
    if !well_formed(&media_ref) {
        return Err(not_found());
    }
    let mut download_request = chat::DownloadMediaRequest {
        account: Some(account),
        media_ref: media_ref.clone(),
        ..chat::DownloadMediaRequest::default()
    };
    range.apply(&mut download_request);
    let mut stream = state.services.download_media(download_request).await?;
    let header = stream
        .message()
        .await?
        .and_then(|first| first.header)
        .ok_or_else(|| ApiError::internal("the chat service sent no media header"))?;

    if !header.range_satisfiable {
        return Ok(range_not_satisfiable(header.size));
    }
    let partial = range.is_ranged() && header.length > 0;
    let mut builder = HttpResponse::build(if partial {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    });
    builder
        .insert_header((header::CONTENT_LENGTH, header.length))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "sandbox; default-src 'none'",
        ));
    if let Ok(mime_type) = HeaderValue::from_str(&header.mime_type) {
        builder.insert_header((header::CONTENT_TYPE, mime_type));
    }
    if let Ok(disposition) = HeaderValue::from_str(&content_disposition(
        &header.mime_type,
        header.file_name.as_deref().unwrap_or_default(),
        &media_ref,
    )) {
        builder.insert_header((header::CONTENT_DISPOSITION, disposition));
    }
    if partial {
        builder.insert_header((
            header::CONTENT_RANGE,
            content_range(header.offset, header.length, header.size),
        ));
    }
    match access {
        Access::Bearer => {
            builder.insert_header((header::CACHE_CONTROL, "private, no-store"));
        }
        Access::Link { remaining_secs } => {
            builder
                .insert_header((
                    header::CACHE_CONTROL,
                    format!("private, max-age={}", remaining_secs.max(0)),
                ))
                .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"));
        }
    }
    let body = stream.map(|chunk| chunk.map(|chunk| Bytes::from(chunk.data)));
    Ok(builder.streaming(body))
}

/// Downloads a file of the account: a message's file (`file_id`), its thumbnail
/// (`thumbnail_id`) or a chat's photo (`photo_id`). Supports a single `Range`.
#[utoipa::path(get, path = "/me/media/{user_id}/{session_index}/{media_ref}", tag = "media",
    params(
        crate::routes::common::AccountPath,
        ("media_ref" = String, Path, description = "A `file_id`, `thumbnail_id` or `photo_id` from a message or chat (`m:{chat}:{msg}`, `t:{chat}:{msg}`, `p:{chat}:{photo}`)"),
        ("Range" = Option<String>, Header, description = "One byte range (`bytes=0-1023`, `bytes=1024-`, `bytes=-500`)"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The whole file in its own type (`image/jpeg`, `video/mp4`, ...), with `Content-Type`, `Content-Length`, `Content-Disposition` and `Accept-Ranges: bytes`", content_type = "*/*"),
        (status = 206, description = "The range asked for, with `Content-Range`", content_type = "*/*"),
        (status = 404, description = "`not_found`: no such account, or no such file for it", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 413, description = "`media_too_large`: larger than `downloads.max_file_bytes`", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 416, description = "`range_not_satisfiable`: the range lies outside the file (`Content-Range: bytes */size`)", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`telegram_unavailable`: the account is not connected right now", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %owner.user_id))]
pub async fn download(
    owner: PathOwner,
    state: web::Data<AppState>,
    path: web::Path<(String, u32, String)>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (_, session_index, media_ref) = path.into_inner();
    serve(
        &state,
        user_account_ref(owner.user_id, session_index)?,
        media_ref,
        RangeRequest::from_headers(&request),
        Access::Bearer,
    )
    .await
}

/// A short-lived signed link to a file, for `<img>` and `<video>` (which cannot send the
/// bearer token). The link works for `downloads.signed_url_ttl_secs`, ranges included;
/// whether the file exists is checked when it is used.
#[utoipa::path(post, path = "/me/media/{user_id}/{session_index}/{media_ref}/url", tag = "media",
    params(
        crate::routes::common::AccountPath,
        ("media_ref" = String, Path, description = "A `file_id`, `thumbnail_id` or `photo_id`"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 201, body = MediaLink),
        (status = 404, description = "`not_found`: not a media reference", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %owner.user_id))]
pub async fn signed_url(
    owner: PathOwner,
    state: web::Data<AppState>,
    path: web::Path<(String, u32, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, session_index, media_ref) = path.into_inner();
    user_account_ref(owner.user_id, session_index)?;
    if !well_formed(&media_ref) {
        return Err(not_found());
    }
    let (url, expires_in) = state.media_links.issue_path(
        owner.user_id,
        owner.identity.sign_in_session(),
        session_index,
        &media_ref,
        chrono::Utc::now().timestamp(),
    );
    Ok(HttpResponse::Created().json(MediaLink { url, expires_in }))
}

/// Serves the file a signed link names, to anyone holding the link (no headers needed;
/// any origin; ranges as on the bearer route).
#[utoipa::path(get, path = "/media/t/{token}", tag = "media",
    params(
        ("token" = String, Path, description = "From `POST /me/media/.../url`"),
        ("Range" = Option<String>, Header, description = "One byte range"),
    ),
    responses(
        (status = 200, description = "The whole file in its own type (`image/jpeg`, `video/mp4`, ...); `Cache-Control: private, max-age=<seconds the link has left>`, `Access-Control-Allow-Origin: *`", content_type = "*/*"),
        (status = 206, description = "The range asked for", content_type = "*/*"),
        (status = 401, description = "`media_link_expired`: ask for a new link; `session_expired`: the sign-in session it was issued in has ended", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "`media_link_invalid`: an altered or foreign link; `account_disabled`: an operator disabled the external provider's user it was issued to", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such file (any more)", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 416, description = "`range_not_satisfiable`", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: the link's user spent their API allowance, or `telegram_flood_wait`", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn by_link(
    state: web::Data<AppState>,
    path: web::Path<String>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let now = chrono::Utc::now().timestamp();
    let grant = state
        .media_links
        .verify(&path.into_inner(), now)
        .map_err(|error| match error {
            LinkError::Expired => ApiError::new(ErrorCode::MediaLinkExpired, error.to_string()),
            LinkError::Invalid => ApiError::new(ErrorCode::MediaLinkInvalid, error.to_string()),
        })?;
    // A link of an ended sign-in session no longer works (memory only: no store read).
    if grant
        .sign_in
        .is_some_and(|id| state.revocations.is_session_ended(id))
    {
        return Err(ApiError::new(
            ErrorCode::SessionExpired,
            "the session this link was issued in has ended",
        ));
    }
    // A link of an external subject disabled since (memory only, too).
    if grant.sign_in.is_none() && state.revocations.is_subject_disabled(grant.user_id) {
        return Err(crate::auth::verifier::subject_disabled());
    }
    // A link spends its user's API allowance, as the bearer route does.
    state
        .rate_limiter
        .check(crate::rate_limit::Bucket::Api, &grant.user_id.to_string())
        .await?;
    // An uploaded file (media service) rather than a Telegram file (chat service).
    if let Some(file_id) = grant
        .media_ref
        .strip_prefix(crate::routes::uploads::UPLOAD_REF_PREFIX)
    {
        return crate::routes::uploads::serve_file(
            &state,
            grant.user_id,
            file_id,
            &request,
            crate::routes::uploads::Access::Link {
                remaining_secs: grant.expires_at - now,
            },
            false,
        )
        .await;
    }
    serve(
        &state,
        user_account_ref(grant.user_id, grant.session_index)?,
        grant.media_ref,
        RangeRequest::from_headers(&request),
        Access::Link {
            remaining_secs: grant.expires_at - now,
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_byte_ranges_are_honoured_and_anything_else_means_the_whole_file() {
        use RangeRequest::*;
        assert_eq!(
            RangeRequest::parse("bytes=0-99"),
            From {
                offset: 0,
                length: Some(100)
            }
        );
        assert_eq!(
            RangeRequest::parse("bytes=100-"),
            From {
                offset: 100,
                length: None
            }
        );
        assert_eq!(RangeRequest::parse("bytes=-500"), Suffix(500));
        for ignored in [
            "bytes=5-1",
            "bytes=0-1,5-9",
            "items=0-1",
            "bytes=-0",
            "bytes=a-b",
            "bytes=-",
            "bytes=+1-2",
            "",
        ] {
            assert_eq!(RangeRequest::parse(ignored), Whole, "{ignored}");
        }
    }

    #[test]
    fn only_media_is_shown_inline_and_names_are_header_safe() {
        assert_eq!(
            content_disposition("image/png", "", "m:-100:7"),
            "inline; filename=\"m_-100_7.png\"; filename*=UTF-8''m_-100_7.png"
        );
        assert_eq!(
            content_disposition("text/html", "a \"b\".html", "m:1:2"),
            "attachment; filename=\"a _b_.html\"; filename*=UTF-8''a%20%22b%22.html"
        );
        assert!(content_disposition("image/svg+xml", "x.svg", "m:1:2").starts_with("attachment"));
        assert_eq!(
            content_disposition("audio/ogg", "ноты.ogg", "m:1:2"),
            "inline; filename=\"____.ogg\"; filename*=UTF-8''%D0%BD%D0%BE%D1%82%D1%8B.ogg"
        );
    }

    #[test]
    fn references_are_checked_for_form_only() {
        assert!(well_formed("m:-1001234:5"));
        assert!(well_formed("p:42:-9007199254740993"));
        assert!(!well_formed("m:0:5"));
        assert!(!well_formed("x:1:2"));
        assert!(!well_formed("m:1:2:3"));
        assert!(!well_formed("m:1"));
    }
}
