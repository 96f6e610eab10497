//! Uploaded files: `POST /upload` streams a file to the media service (never held whole
//! here), `GET`/`HEAD /media/{file_id}` serves it back (ranges, validators), `GET
//! /media/{file_id}/preview` its preview, `DELETE /media/{file_id}` removes it, and
//! `POST /media/{file_id}/url` gives a signed link (`/media/t/<token>`, the same links as
//! Telegram media) for `<img>` and `<video>`.
//!
//! The gateway never judges the bytes: the media service types them from their magic
//! numbers and enforces the size limit and quota while they stream. A file of another
//! user is 404, as an unknown one.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use futures::StreamExt as _;
use serde::{Deserialize, Serialize};
use talkapp_common::ErrorCode;
use talkapp_proto::media::v1 as media;
use talkapp_proto::media::v1::upload_request::Part;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::extract::Caller;
use crate::problem::{ApiError, FieldError};
use crate::routes::media::{
    MediaLink, RangeRequest, content_disposition, content_range, range_not_satisfiable,
};
use crate::state::AppState;

/// Bytes per message sent to the media service.
const UPLOAD_CHUNK_BYTES: usize = 256 * 1024;
/// Longest `filename` form field or query value read.
const MAX_FILENAME_FIELD_BYTES: u64 = 4096;
/// Messages in flight towards the media service (back-pressure on the client).
pub(crate) const UPLOAD_QUEUE: usize = 8;

/// An uploaded file.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadedFile {
    /// The file's id (`GET /media/{file_id}`, `send_media`).
    pub file_id: String,
    /// Bytes.
    pub size: u64,
    /// The type its bytes are (never the client's claim).
    pub mime: String,
    /// `photo`, `video`, `audio`, `voice` or `document`.
    pub kind: String,
    /// Lower-case hex SHA-256 of the bytes (also the `ETag`).
    pub sha256: String,
    /// The sanitised name (may be empty).
    pub file_name: String,
    /// Pixels, for photos and videos whose container says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Pixels, for photos and videos whose container says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Seconds (millisecond precision), for audio and video whose container says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    /// A voice note's waveform: 100 values of 0..=31 (Telegram's voice bars), when its
    /// audio decodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waveform: Option<Vec<u8>>,
    /// Set when the file has a preview image (photos; videos and PDFs when the server
    /// has ffmpeg and pdftoppm, once made): `GET /media/{preview_id}/preview`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview_id: Option<String>,
    /// `true` while a video's or PDF's preview is being made, after this answer (ADR
    /// 0049): `GET /media/{file_id}/preview` answers 409 `preview_pending` until it is
    /// made (then 200) or given up (then 404); 507 `insufficient_storage` while the
    /// server's storage is too full to store it. Absent otherwise.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub preview_pending: bool,
}

impl From<media::FileInfo> for UploadedFile {
    fn from(info: media::FileInfo) -> Self {
        Self {
            preview_id: info.has_preview.then(|| info.file_id.clone()),
            preview_pending: info.preview_pending,
            duration: info.duration_ms.map(|ms| ms as f64 / 1000.0),
            waveform: info.waveform.map(|waveform| waveform.to_vec()),
            file_id: info.file_id,
            size: info.size,
            mime: info.mime,
            kind: info.kind,
            sha256: info.sha256,
            file_name: info.file_name,
            width: info.width,
            height: info.height,
        }
    }
}

/// `?filename=` for raw uploads.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// The file's name, for a raw body (a multipart form names it in its `filename`
    /// field or the `file` part).
    pub filename: Option<String>,
}

pub(crate) fn incomplete(detail: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::UploadIncomplete, detail)
}

/// Sends `bytes` in messages of at most [`UPLOAD_CHUNK_BYTES`]; false when the media
/// service stopped listening (its answer says why).
pub(crate) async fn forward(sender: &mpsc::Sender<media::UploadRequest>, mut bytes: Bytes) -> bool {
    while !bytes.is_empty() {
        let piece = bytes.split_to(bytes.len().min(UPLOAD_CHUNK_BYTES));
        let message = media::UploadRequest {
            part: Some(Part::Chunk(piece)),
        };
        if sender.send(message).await.is_err() {
            return false;
        }
    }
    true
}

pub(crate) fn start_message(
    user_id: Uuid,
    file_name: String,
    declared_size: Option<u64>,
) -> media::UploadRequest {
    media::UploadRequest {
        part: Some(Part::Start(media::UploadStart {
            user_id: user_id.to_string(),
            file_name,
            declared_size,
        })),
    }
}

pub(crate) fn end_message(size: u64) -> media::UploadRequest {
    media::UploadRequest {
        part: Some(Part::End(media::UploadEnd { size })),
    }
}

/// Feeds a raw body: the start, every chunk, then the end (only when the body arrived
/// whole: a cut body sends no end, and the media service keeps nothing).
async fn feed_raw(
    mut payload: web::Payload,
    sender: mpsc::Sender<media::UploadRequest>,
    start: media::UploadRequest,
) -> Result<(), ApiError> {
    if sender.send(start).await.is_err() {
        return Ok(());
    }
    let mut size = 0_u64;
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|error| incomplete(format!("the body was cut: {error}")))?;
        size += chunk.len() as u64;
        if !forward(&sender, chunk).await {
            return Ok(());
        }
    }
    // The media service already ended the call (with its own answer, read next).
    let _ = sender.send(end_message(size)).await;
    Ok(())
}

/// Copies the request body into a channel: the multipart parser needs a `Send` stream,
/// which actix's payload is not.
pub(crate) async fn pump(
    mut payload: web::Payload,
    sender: mpsc::Sender<Result<Bytes, std::io::Error>>,
) {
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|error| std::io::Error::other(error.to_string()));
        let failed = chunk.is_err();
        if sender.send(chunk).await.is_err() || failed {
            return;
        }
    }
}

/// Feeds the `file` part of a multipart form (and the optional `filename` field before
/// it).
async fn feed_multipart(
    body: mpsc::Receiver<Result<Bytes, std::io::Error>>,
    boundary: String,
    sender: mpsc::Sender<media::UploadRequest>,
    user_id: Uuid,
    query_name: Option<String>,
) -> Result<(), ApiError> {
    let constraints = multer::Constraints::new()
        .size_limit(multer::SizeLimit::new().for_field("filename", MAX_FILENAME_FIELD_BYTES));
    let mut form =
        multer::Multipart::with_constraints(ReceiverStream::new(body), boundary, constraints);
    let mut file_name = query_name;
    let malformed = |error: multer::Error| {
        incomplete(format!(
            "the multipart body is incomplete or malformed: {error}"
        ))
    };
    while let Some(mut field) = form.next_field().await.map_err(malformed)? {
        match field.name() {
            Some("filename") => {
                file_name = Some(field.text().await.map_err(malformed)?);
            }
            Some("file") => {
                let name = file_name
                    .filter(|name| !name.is_empty())
                    .or_else(|| field.file_name().map(str::to_owned))
                    .unwrap_or_default();
                if sender
                    .send(start_message(user_id, name, None))
                    .await
                    .is_err()
                {
                    return Ok(());
                }
                let mut size = 0_u64;
                while let Some(chunk) = field.chunk().await.map_err(malformed)? {
                    size += chunk.len() as u64;
                    if !forward(&sender, chunk).await {
                        return Ok(());
                    }
                }
                // The rest of the form must be well formed too (a cut body has no end);
                // the parser reads on only once this part is dropped.
                drop(field);
                while let Some(field) = form.next_field().await.map_err(malformed)? {
                    drop(field);
                }
                // The media service already ended the call (with its own answer, read next).
                let _ = sender.send(end_message(size)).await;
                return Ok(());
            }
            _ => {}
        }
    }
    Err(ApiError::validation(vec![FieldError {
        field: "file".into(),
        message: "a multipart upload needs a `file` part".into(),
    }]))
}

/// Uploads a file, streamed: as `multipart/form-data` (a `file` part, and optionally a
/// `filename` field before it) or as a raw body with its `Content-Type`. Its type is
/// decided by its bytes; it answers once the file is stored and analysed (an image's
/// preview included; a video's or PDF's is made after the answer: `preview_pending`).
#[utoipa::path(post, path = "/upload", tag = "files",
    params(UploadQuery),
    request_body(content = Vec<u8>, description = "`multipart/form-data` with a `file` part (and optionally a `filename` field before it), or the file itself as a raw body", content_type = "multipart/form-data"),
    security(("bearer" = [])),
    responses(
        (status = 201, body = UploadedFile),
        (status = 400, description = "`upload_incomplete`: the body or the form was cut", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`, `token_expired`, ...", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 413, description = "`media_too_large`: over `media.max_file_bytes`; `quota_exceeded`: over `media.quota_bytes`", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 415, description = "`file_type_not_allowed`: executables and types not on the allow-list", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`empty_file`; `image_too_large` (pixels, from the header); `validation_failed`: no `file` part", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: the media service or storage is away; retry", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 507, description = "`insufficient_storage`: the server's storage filled up while the file (or a photo's preview) was written (nothing of it kept, no quota charged); retry after `Retry-After`", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %caller.0.user_id))]
pub async fn upload(
    caller: Caller,
    state: web::Data<AppState>,
    query: web::Query<UploadQuery>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let user_id = caller.0.user_id;
    let query_name = query.into_inner().filename.map(|name| {
        name.chars()
            .take(usize::try_from(MAX_FILENAME_FIELD_BYTES).unwrap_or(4096))
            .collect::<String>()
    });
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let multipart_boundary = content_type
        .to_ascii_lowercase()
        .starts_with("multipart/form-data")
        .then(|| multer::parse_boundary(content_type))
        .transpose()
        .map_err(|error| {
            ApiError::validation(vec![FieldError {
                field: "content-type".into(),
                message: format!("multipart/form-data needs a boundary: {error}"),
            }])
        })?;
    let (sender, receiver) = mpsc::channel(UPLOAD_QUEUE);
    let call = state.services.upload(ReceiverStream::new(receiver));
    let (stored, fed) = match multipart_boundary {
        Some(boundary) => {
            let (body_sender, body_receiver) = mpsc::channel(UPLOAD_QUEUE);
            let (stored, (), fed) = futures::join!(
                call,
                pump(payload, body_sender),
                feed_multipart(body_receiver, boundary, sender, user_id, query_name),
            );
            (stored, fed)
        }
        None => {
            let declared_size = request
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.parse().ok());
            let start = start_message(user_id, query_name.unwrap_or_default(), declared_size);
            futures::join!(call, feed_raw(payload, sender, start))
        }
    };
    // What went wrong on this side (a cut body) says more than the service's view of it.
    fed?;
    let stored = stored?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/media/{}", stored.file_id)))
        .json(UploadedFile::from(stored)))
}

pub(crate) fn file_ref(user_id: Uuid, file_id: &str) -> media::FileRef {
    media::FileRef {
        user_id: user_id.to_string(),
        file_id: file_id.to_owned(),
    }
}

/// How a response is marked for the way it was asked for.
pub(crate) enum Access {
    Bearer,
    Link { remaining_secs: i64 },
}

/// Whether `If-None-Match` names `etag` (or `*`).
fn not_modified(request: &HttpRequest, etag: &str) -> bool {
    request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value.split(',').any(|tag| {
                let tag = tag.trim();
                tag == "*" || tag.trim_start_matches("W/") == etag
            })
        })
}

/// The range asked for: `If-Range` with this file's `ETag` keeps it, any other validator
/// means the whole file.
fn range_for(request: &HttpRequest, etag: &str) -> RangeRequest {
    let if_range = request
        .headers()
        .get(header::IF_RANGE)
        .and_then(|value| value.to_str().ok());
    if if_range.is_some_and(|value| value.trim() != etag) {
        return RangeRequest::Whole;
    }
    request
        .headers()
        .get(header::RANGE)
        .and_then(|value| value.to_str().ok())
        .map_or(RangeRequest::Whole, RangeRequest::parse)
}

fn mark(builder: &mut actix_web::HttpResponseBuilder, access: &Access) {
    builder
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "sandbox; default-src 'none'",
        ));
    match access {
        Access::Bearer => {
            builder.insert_header((header::CACHE_CONTROL, "private, no-cache"));
        }
        Access::Link { remaining_secs } => {
            builder
                .insert_header((
                    header::CACHE_CONTROL,
                    format!("private, max-age={}", (*remaining_secs).max(0)),
                ))
                .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"));
        }
    }
}

/// Serves an uploaded file (or, with `head_only`, only its headers).
pub(crate) async fn serve_file(
    state: &AppState,
    user_id: Uuid,
    file_id: &str,
    request: &HttpRequest,
    access: Access,
    head_only: bool,
) -> Result<HttpResponse, ApiError> {
    if Uuid::parse_str(file_id).is_err() {
        return Err(ApiError::new(ErrorCode::NotFound, "no such file"));
    }
    // The validators first: a cached copy costs one metadata call, no bytes.
    let info = state.services.stat_file(file_ref(user_id, file_id)).await?;
    let etag = format!("\"{}\"", info.sha256);
    let disposition = content_disposition(&info.mime, &info.file_name, &info.file_id);
    if not_modified(request, &etag) {
        let mut builder = HttpResponse::NotModified();
        builder.insert_header((header::ETAG, etag));
        mark(&mut builder, &access);
        return Ok(builder.finish());
    }
    let range = range_for(request, &etag);
    let mut download = media::DownloadRequest {
        file: Some(file_ref(user_id, file_id)),
        ..media::DownloadRequest::default()
    };
    match range {
        RangeRequest::Whole => {}
        RangeRequest::From { offset, length } => {
            download.offset = Some(offset);
            download.length = length;
        }
        RangeRequest::Suffix(suffix) => download.suffix = Some(suffix),
    }
    if head_only {
        // The headers a GET would have, without reading any bytes.
        let mut builder = HttpResponse::Ok();
        builder
            .insert_header((header::ETAG, etag))
            .insert_header((header::ACCEPT_RANGES, "bytes"))
            .insert_header((header::CONTENT_TYPE, info.mime.clone()))
            .no_chunking(info.size);
        if let Ok(value) = HeaderValue::from_str(&disposition) {
            builder.insert_header((header::CONTENT_DISPOSITION, value));
        }
        mark(&mut builder, &access);
        // A body stream that is never polled (actix sends no body to HEAD) keeps the
        // announced length.
        return Ok(builder.streaming(futures::stream::empty::<Result<Bytes, std::io::Error>>()));
    }
    let mut stream = state.services.download_file(download).await?;
    let header = stream
        .message()
        .await
        .map_err(ApiError::from_media)?
        .and_then(|first| first.header)
        .ok_or_else(|| ApiError::internal("the media service sent no header"))?;
    if !header.range_satisfiable {
        return Ok(range_not_satisfiable(header.size));
    }
    let partial = !matches!(range, RangeRequest::Whole);
    let mut builder = HttpResponse::build(if partial {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    });
    builder
        .insert_header((header::ETAG, etag))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .no_chunking(header.length);
    if let Ok(mime) = HeaderValue::from_str(&header.mime) {
        builder.insert_header((header::CONTENT_TYPE, mime));
    }
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        builder.insert_header((header::CONTENT_DISPOSITION, value));
    }
    if partial {
        builder.insert_header((
            header::CONTENT_RANGE,
            content_range(header.offset, header.length, header.size),
        ));
    }
    mark(&mut builder, &access);
    let body = stream.map(|chunk| chunk.map(|chunk| chunk.data));
    Ok(builder.streaming(body))
}

/// Downloads an uploaded file: one `Range` (206), `ETag` with `If-None-Match` (304) and
/// `If-Range`; `Content-Disposition` with a safe name (only images, audio and video
/// inline; HTML, SVG, XML and the rest as attachments), `nosniff` and a sandboxing CSP.
#[utoipa::path(get, path = "/media/{file_id}", tag = "files",
    params(
        ("file_id" = String, Path, description = "From `POST /upload`"),
        ("Range" = Option<String>, Header, description = "One byte range (`bytes=0-1023`, `bytes=1024-`, `bytes=-500`)"),
        ("If-None-Match" = Option<String>, Header, description = "An `ETag` from before: 304 when the file is the same"),
        ("If-Range" = Option<String>, Header, description = "The `ETag` the range is for; another value means the whole file"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The whole file in its own type (`Content-Type` from its bytes: `image/png`, `video/mp4`, ...; `application/octet-stream` when unknown), with `ETag`, `Content-Length`, `Content-Disposition`, `Accept-Ranges: bytes`", content_type = "*/*"),
        (status = 206, description = "The range asked for, with `Content-Range`", content_type = "*/*"),
        (status = 304, description = "Not modified (`If-None-Match`)"),
        (status = 401, description = "`unauthenticated`, `token_expired`, ...", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such file of this user (another user's file is 404 too)", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 416, description = "`range_not_satisfiable` (`Content-Range: bytes */size`)", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %caller.0.user_id))]
pub async fn download(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    serve_file(
        &state,
        caller.0.user_id,
        &path.into_inner(),
        &request,
        Access::Bearer,
        false,
    )
    .await
}

/// The headers of `GET /media/{file_id}` without the bytes.
#[utoipa::path(head, path = "/media/{file_id}", tag = "files",
    params(("file_id" = String, Path, description = "From `POST /upload`")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`Content-Length`, `Content-Type`, `ETag`, `Accept-Ranges`; no body"),
        (status = 304, description = "Not modified (`If-None-Match`)"),
        (status = 404, description = "`not_found`"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %caller.0.user_id))]
pub async fn head(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    serve_file(
        &state,
        caller.0.user_id,
        &path.into_inner(),
        &request,
        Access::Bearer,
        true,
    )
    .await
}

/// The preview of an uploaded photo, video (a frame) or PDF (its first page): a JPEG of at
/// most `media.preview_max_side` pixels a side, upright, without the original's metadata.
#[utoipa::path(get, path = "/media/{file_id}/preview", tag = "files",
    params(("file_id" = String, Path, description = "From `POST /upload` (its `preview_id`)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The preview", content_type = "image/jpeg"),
        (status = 404, description = "`not_found`: no such file, or it has no preview", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`preview_pending`: the preview is still being made (after the upload answered); retry after `Retry-After`", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 507, description = "`insufficient_storage`: the preview could not be stored, the server's storage is full (the file itself is kept); it is tried again now, retry after `Retry-After`", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %caller.0.user_id))]
pub async fn preview(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let file_id = path.into_inner();
    if Uuid::parse_str(&file_id).is_err() {
        return Err(ApiError::new(ErrorCode::NotFound, "no such file"));
    }
    let mut stream = state
        .services
        .file_preview(file_ref(caller.0.user_id, &file_id))
        .await?;
    let header = stream
        .message()
        .await
        .map_err(ApiError::from_media)?
        .and_then(|first| first.header)
        .ok_or_else(|| ApiError::internal("the media service sent no header"))?;
    let mut builder = HttpResponse::Ok();
    builder
        .insert_header((header::CONTENT_TYPE, "image/jpeg"))
        .no_chunking(header.length);
    mark(&mut builder, &Access::Bearer);
    Ok(builder.streaming(stream.map(|chunk| chunk.map(|chunk| chunk.data))))
}

/// Deletes an uploaded file: 204, then 404. Its bytes go once nothing refers to them (a
/// send already queued with it still completes).
#[utoipa::path(delete, path = "/media/{file_id}", tag = "files",
    params(("file_id" = String, Path, description = "From `POST /upload`")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "`not_found`: no such file of this user", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %caller.0.user_id))]
pub async fn delete(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let file_id = path.into_inner();
    if Uuid::parse_str(&file_id).is_err() {
        return Err(ApiError::new(ErrorCode::NotFound, "no such file"));
    }
    state
        .services
        .delete_file(file_ref(caller.0.user_id, &file_id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The reference a signed link carries for an uploaded file (links for Telegram media
/// carry `m:`, `t:` or `p:` references).
pub(crate) const UPLOAD_REF_PREFIX: &str = "u:";

/// A short-lived signed link to an uploaded file (`/media/t/<token>`), for `<img>` and
/// `<video>`, valid for `downloads.signed_url_ttl_secs`, ranges included.
#[utoipa::path(post, path = "/media/{file_id}/url", tag = "files",
    params(("file_id" = String, Path, description = "From `POST /upload`")),
    security(("bearer" = [])),
    responses(
        (status = 201, body = MediaLink),
        (status = 404, description = "`not_found`: no such file of this user", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %caller.0.user_id))]
pub async fn signed_url(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let file_id = path.into_inner();
    if Uuid::parse_str(&file_id).is_err() {
        return Err(ApiError::new(ErrorCode::NotFound, "no such file"));
    }
    // Only for a file the caller has.
    state
        .services
        .stat_file(file_ref(caller.0.user_id, &file_id))
        .await?;
    let (url, expires_in) = state.media_links.issue_path(
        caller.0.user_id,
        caller.0.sign_in_session(),
        0,
        &format!("{UPLOAD_REF_PREFIX}{file_id}"),
        chrono::Utc::now().timestamp(),
    );
    Ok(HttpResponse::Created().json(MediaLink { url, expires_in }))
}
