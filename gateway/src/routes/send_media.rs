//! `POST /me/send_media/{user_id}/{session_index}`: uploaded files sent as a message (a
//! photo, video, document, voice note or audio, or an album of up to 10), on the same
//! durable job path as text. Two shapes:
//!
//! * JSON `{chat_id, file_id | file_ids, kind?, caption?, reply_to?, silent?,
//!   client_message_id}` for files uploaded before (`POST /upload`);
//! * a one-step `multipart/form-data` form, the shape of TorexTalkWeb's composer
//!   (`{text?, attachment?: {type: image|audio|document, file}}`): the file (part `file`
//!   or `attachment`) streams to the media service, then the send is queued. A send that
//!   is refused, or that repeats an earlier `client_message_id`, leaves no upload behind.

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use talkapp_proto::chat::v1 as chat;
use talkapp_proto::media::v1 as media;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::extract::PathOwner;
use crate::problem::{ApiError, FieldError};
use crate::routes::chats::{SendJobView, account_ref, chat_id_text, field_error};
use crate::routes::uploads::{
    UPLOAD_QUEUE, end_message, file_ref, forward, incomplete, pump, start_message,
};
use crate::state::AppState;

/// The most files in one send (an album).
const MAX_FILES: usize = 10;
/// Largest JSON body (ids and a caption).
const MAX_JSON_BYTES: usize = 16 * 1024;
/// Largest text field of the form (the caption is at most 1,024 characters).
const MAX_FORM_FIELD_BYTES: u64 = 8 * 1024;

/// Uploaded files to send as a message.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMedia {
    /// The chat (a string or a number).
    #[schema(value_type = String)]
    pub chat_id: serde_json::Value,
    /// One uploaded file (`POST /upload`); or `file_ids`.
    pub file_id: Option<String>,
    /// An album: 2 to 10 uploaded files (photos and videos, documents, or audio); or
    /// `file_id`.
    pub file_ids: Option<Vec<String>>,
    /// `photo`, `video`, `document`, `voice` or `audio`; absent: as the (first) file is.
    /// A file that cannot be sent so is `media_kind_not_sendable` (422).
    pub kind: Option<String>,
    /// Up to 1,024 characters (on an album's first item). `text` is taken too.
    #[serde(alias = "text")]
    pub caption: Option<String>,
    /// Reply to this message.
    pub reply_to: Option<i32>,
    /// Without notification.
    #[serde(default)]
    pub silent: bool,
    /// Idempotency key (required): the same key twice makes one job and one message.
    pub client_message_id: String,
}

/// The fields of the one-step form (documentation only: it is read as a stream).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct SendMediaForm {
    /// The chat.
    pub chat_id: String,
    /// The file (part name `file` or `attachment`); streamed to the media service.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
    /// TorexTalkWeb's attachment type: `image` (a photo), `audio` (a voice note when the
    /// bytes are Ogg Opus, else audio), `document`, or `video`. `attachment_type` too.
    #[schema(value_type = Option<String>)]
    pub r#type: Option<String>,
    /// Or exactly as in JSON: `photo`, `video`, `document`, `voice` or `audio`.
    pub kind: Option<String>,
    /// The caption (`caption` too), up to 1,024 characters.
    pub text: Option<String>,
    /// Reply to this message.
    pub reply_to: Option<i32>,
    /// `true` for no notification.
    pub silent: Option<bool>,
    /// Idempotency key (required).
    pub client_message_id: String,
}

/// The text fields of the form, wherever they came in it.
#[derive(Debug, Default)]
struct FormFields {
    chat_id: Option<String>,
    caption: Option<String>,
    kind: Option<String>,
    attachment_type: Option<String>,
    reply_to: Option<String>,
    silent: Option<String>,
    client_message_id: Option<String>,
    had_file: bool,
}

impl FormFields {
    /// Keeps a text field; unknown fields are ignored (as browsers add their own).
    fn set(&mut self, name: &str, value: String) {
        let slot = match name {
            "chat_id" => &mut self.chat_id,
            "text" | "caption" => &mut self.caption,
            "kind" => &mut self.kind,
            "type" | "attachment_type" | "attachment[type]" => &mut self.attachment_type,
            "reply_to" => &mut self.reply_to,
            "silent" => &mut self.silent,
            "client_message_id" => &mut self.client_message_id,
            _ => return,
        };
        *slot = Some(value);
    }
}

fn is_file_part(name: Option<&str>) -> bool {
    matches!(name, Some("file" | "attachment" | "attachment[file]"))
}

/// Reads the form: text fields, and the one file part streamed to the media service
/// (the end is sent only once the whole form has arrived, so a cut form stores nothing).
async fn feed_form(
    body: mpsc::Receiver<Result<Bytes, std::io::Error>>,
    boundary: String,
    sender: mpsc::Sender<media::UploadRequest>,
    user_id: Uuid,
) -> Result<FormFields, ApiError> {
    let mut limits = multer::SizeLimit::new();
    for name in [
        "chat_id",
        "text",
        "caption",
        "kind",
        "type",
        "attachment_type",
        "attachment[type]",
        "reply_to",
        "silent",
        "client_message_id",
    ] {
        limits = limits.for_field(name, MAX_FORM_FIELD_BYTES);
    }
    let mut form = multer::Multipart::with_constraints(
        ReceiverStream::new(body),
        boundary,
        multer::Constraints::new().size_limit(limits),
    );
    let malformed = |error: multer::Error| match error {
        multer::Error::FieldSizeExceeded { field_name, .. } => field_error(
            field_name.as_deref().unwrap_or("form"),
            "is longer than accepted",
        ),
        error => incomplete(format!(
            "the multipart body is incomplete or malformed: {error}"
        )),
    };
    let mut fields = FormFields::default();
    let mut size = 0_u64;
    let mut service_listening = true;
    while let Some(mut field) = form.next_field().await.map_err(malformed)? {
        let name = field.name().map(str::to_owned);
        if is_file_part(name.as_deref()) {
            if fields.had_file {
                return Err(field_error(
                    "file",
                    "one file per form (an album: upload, then send file_ids)",
                ));
            }
            fields.had_file = true;
            let file_name = field.file_name().map(str::to_owned).unwrap_or_default();
            service_listening = sender
                .send(start_message(user_id, file_name, None))
                .await
                .is_ok();
            while let Some(chunk) = field.chunk().await.map_err(malformed)? {
                size += chunk.len() as u64;
                if service_listening && !forward(&sender, chunk).await {
                    // The media service refused (its answer says why): read on, quietly.
                    service_listening = false;
                }
            }
        } else if let Some(name) = name {
            let value = field.text().await.map_err(malformed)?;
            fields.set(&name, value);
        }
    }
    if !fields.had_file {
        return Err(field_error(
            "file",
            "the form needs a `file` (or `attachment`) part",
        ));
    }
    if service_listening {
        // The media service already ended the call (with its own answer, read next).
        let _ = sender.send(end_message(size)).await;
    }
    Ok(fields)
}

/// TorexTalkWeb's attachment type, for the file the upload found.
fn kind_for_attachment(attachment_type: &str, uploaded_kind: &str) -> Result<String, ApiError> {
    Ok(match attachment_type {
        "image" | "photo" => "photo",
        "video" => "video",
        "document" | "file" => "document",
        "audio" | "voice" if uploaded_kind == "voice" => "voice",
        "audio" | "voice" => "audio",
        _ => {
            return Err(field_error(
                "type",
                "must be image, audio, document or video",
            ));
        }
    }
    .to_owned())
}

fn parse_reply_to(value: Option<&str>) -> Result<Option<i32>, ApiError> {
    value
        .filter(|value| !value.trim().is_empty())
        .map(|value| {
            value
                .trim()
                .parse::<i32>()
                .ok()
                .filter(|id| *id > 0)
                .ok_or_else(|| field_error("reply_to", "must be a message id"))
        })
        .transpose()
}

fn parse_silent(value: Option<&str>) -> Result<bool, ApiError> {
    match value.map(str::trim) {
        None | Some("" | "false" | "0") => Ok(false),
        Some("true" | "1" | "on") => Ok(true),
        Some(_) => Err(field_error("silent", "must be true or false")),
    }
}

fn check_kind(kind: Option<&str>) -> Result<(), ApiError> {
    match kind {
        None | Some("photo" | "video" | "document" | "voice" | "audio") => Ok(()),
        Some(_) => Err(field_error(
            "kind",
            "must be photo, video, document, voice or audio",
        )),
    }
}

fn check_client_message_id(value: &str) -> Result<(), ApiError> {
    if value.is_empty() || value.chars().count() > 128 {
        return Err(field_error(
            "client_message_id",
            "must have 1 to 128 characters",
        ));
    }
    Ok(())
}

/// Sends uploaded files as a message; 202 with the job, as `send_message`. Watch it with
/// `message_status` (or the WebSocket's `message.status`; the sent message arrives as
/// `message.new` with its media). The same `client_message_id` twice yields the same job.
/// The files are pinned for the job when it is accepted: deleting them meanwhile does
/// not break the send.
#[utoipa::path(post, path = "/me/send_media/{user_id}/{session_index}", tag = "chats",
    request_body(
        content(
            (SendMedia = "application/json"),
            (SendMediaForm = "multipart/form-data"),
        ),
        description = "Files uploaded before (JSON), or one file and the fields in one form",
    ),
    params(
        crate::routes::common::AccountPath,
    ),
    security(("bearer" = [])),
    responses(
        (status = 202, body = SendJobView),
        (status = 400, description = "`malformed_json`; `upload_incomplete`: the form was cut", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`, `token_expired`, ...", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such account or chat, or a file that is not the user's", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large` (JSON); `media_too_large`, `quota_exceeded` (the form's file)", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`: neither JSON nor a form; `file_type_not_allowed` (the form's file)", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: no file, more than 10, a repeated file, a caption over 1,024 characters, no `client_message_id`; `media_kind_not_sendable`: a file that cannot be sent as `kind` (a PDF as a photo, a voice note in an album); `empty_file`, `image_too_large` (the form's file)", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: the media service is away; retry", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 507, description = "`insufficient_storage`: the server's storage filled up while the form's file was written (nothing kept, nothing sent); retry after `Retry-After`", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %owner.user_id))]
pub async fn send_media(
    owner: PathOwner,
    state: web::Data<AppState>,
    path: web::Path<(String, u32)>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let account = account_ref(&owner, path.1)?;
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let lower = content_type.to_ascii_lowercase();
    if lower.starts_with("multipart/form-data") {
        let boundary = multer::parse_boundary(&content_type).map_err(|error| {
            ApiError::validation(vec![FieldError {
                field: "content-type".into(),
                message: format!("multipart/form-data needs a boundary: {error}"),
            }])
        })?;
        return send_form(owner.user_id, account, &state, payload, boundary).await;
    }
    if !lower.starts_with("application/json") {
        return Err(ApiError::new(
            talkapp_common::ErrorCode::UnsupportedMediaType,
            "send JSON (files uploaded before) or multipart/form-data (one file and the fields)",
        ));
    }
    let body = read_json(payload).await?;
    let file_ids = match (body.file_id, body.file_ids) {
        (Some(file_id), None) => vec![file_id],
        (None, Some(file_ids)) if !file_ids.is_empty() && file_ids.len() <= MAX_FILES => file_ids,
        (None, Some(_)) => {
            return Err(field_error("file_ids", "must name 1 to 10 files"));
        }
        (Some(_), Some(_)) => {
            return Err(field_error("file_id", "give file_id or file_ids, not both"));
        }
        (None, None) => return Err(field_error("file_id", "is required (or file_ids)")),
    };
    check_kind(body.kind.as_deref())?;
    check_client_message_id(&body.client_message_id)?;
    let chat_id = chat_id_text(&body.chat_id)?;
    crate::routes::chats::note_send_target(&chat_id, Some(&body.client_message_id));
    let job = state
        .services
        .send_media(chat::SendMediaRequest {
            account: Some(account),
            chat_id,
            file_ids,
            kind: body.kind,
            caption: body.caption,
            reply_to: body.reply_to.filter(|id| *id > 0),
            silent: body.silent,
            client_message_id: body.client_message_id,
        })
        .await?;
    Ok(HttpResponse::Accepted().json(SendJobView::from(job)))
}

/// Reads a JSON body of at most [`MAX_JSON_BYTES`].
async fn read_json(mut payload: web::Payload) -> Result<SendMedia, ApiError> {
    use futures::StreamExt as _;
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|error| incomplete(format!("the body was cut: {error}")))?;
        if body.len() + chunk.len() > MAX_JSON_BYTES {
            return Err(ApiError::new(
                talkapp_common::ErrorCode::PayloadTooLarge,
                format!("the body is larger than {MAX_JSON_BYTES} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|error| {
        if error.is_data() {
            ApiError::validation(vec![FieldError {
                field: "body".into(),
                message: error.to_string(),
            }])
        } else {
            ApiError::new(talkapp_common::ErrorCode::MalformedJson, error.to_string())
        }
    })
}

async fn send_form(
    user_id: Uuid,
    account: chat::AccountRef,
    state: &AppState,
    payload: web::Payload,
    boundary: String,
) -> Result<HttpResponse, ApiError> {
    let (sender, receiver) = mpsc::channel(UPLOAD_QUEUE);
    let (body_sender, body_receiver) = mpsc::channel(UPLOAD_QUEUE);
    let (stored, (), fields) = futures::join!(
        state.services.upload(ReceiverStream::new(receiver)),
        pump(payload, body_sender),
        feed_form(body_receiver, boundary, sender, user_id),
    );
    // What went wrong with the form says more than the service's view of it; a stored
    // upload of a refused form is removed.
    let fields = match fields {
        Ok(fields) => fields,
        Err(error) => {
            if let Ok(stored) = stored {
                discard(state, user_id, &stored.file_id).await;
            }
            return Err(error);
        }
    };
    let stored = stored?;
    let job = queue_form(account, state, &fields, &stored).await;
    let keep = match &job {
        Ok(job) => job.media.as_ref().is_some_and(|media| {
            media
                .files
                .iter()
                .any(|file| file.file_id == stored.file_id)
        }),
        Err(_) => false,
    };
    if !keep {
        // Refused, or a repeat of an earlier send (whose own upload is the one sent).
        discard(state, user_id, &stored.file_id).await;
    }
    Ok(HttpResponse::Accepted().json(SendJobView::from(job?)))
}

async fn queue_form(
    account: chat::AccountRef,
    state: &AppState,
    fields: &FormFields,
    stored: &media::FileInfo,
) -> Result<chat::SendJob, ApiError> {
    let chat_id = fields
        .chat_id
        .clone()
        .filter(|chat_id| !chat_id.trim().is_empty())
        .ok_or_else(|| field_error("chat_id", "is required"))?;
    let client_message_id = fields.client_message_id.clone().unwrap_or_default();
    check_client_message_id(&client_message_id)?;
    check_kind(fields.kind.as_deref())?;
    let kind = match (&fields.kind, &fields.attachment_type) {
        (Some(kind), _) => Some(kind.clone()),
        (None, Some(attachment_type)) => {
            Some(kind_for_attachment(attachment_type.trim(), &stored.kind)?)
        }
        (None, None) => None,
    };
    state
        .services
        .send_media(chat::SendMediaRequest {
            account: Some(account),
            chat_id: chat_id.trim().to_owned(),
            file_ids: vec![stored.file_id.clone()],
            kind,
            caption: fields.caption.clone(),
            reply_to: parse_reply_to(fields.reply_to.as_deref())?,
            silent: parse_silent(fields.silent.as_deref())?,
            client_message_id,
        })
        .await
}

/// Removes an upload the send does not use (best effort: it stays the user's file).
async fn discard(state: &AppState, user_id: Uuid, file_id: &str) {
    if let Err(error) = state.services.delete_file(file_ref(user_id, file_id)).await {
        tracing::warn!(
            ?error,
            file_id,
            "an unused upload of a one-step send was not removed"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_composers_attachment_types_map_to_kinds() {
        assert_eq!(
            kind_for_attachment("image", "photo").ok().as_deref(),
            Some("photo")
        );
        assert_eq!(
            kind_for_attachment("audio", "voice").ok().as_deref(),
            Some("voice")
        );
        assert_eq!(
            kind_for_attachment("audio", "audio").ok().as_deref(),
            Some("audio")
        );
        assert_eq!(
            kind_for_attachment("document", "photo").ok().as_deref(),
            Some("document")
        );
        assert!(kind_for_attachment("sticker", "photo").is_err());
    }

    #[test]
    fn form_flags_and_reply_ids_are_read_strictly() {
        assert_eq!(parse_silent(Some("true")).ok(), Some(true));
        assert_eq!(parse_silent(None).ok(), Some(false));
        assert!(parse_silent(Some("maybe")).is_err());
        assert_eq!(parse_reply_to(Some(" 42 ")).ok(), Some(Some(42)));
        assert_eq!(parse_reply_to(Some("")).ok(), Some(None));
        assert!(parse_reply_to(Some("-1")).is_err());
    }
}
