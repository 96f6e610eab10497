//! `GET /me/download_media` and the media URLs of the legacy shapes.
//!
//! The frontend loads what it gets in `<img>`/`<video>` tags, which send no headers, so
//! every URL here is a short-lived signed link (`/media/t/<token>`, see
//! [`crate::media_links`]) to one file of one of the caller's accounts, never a public
//! path. The `file_id`s of the legacy messages name their account (`m:{chat}:{msg}@{index}`):
//! the frontend always asks with `account_index=1`, so the id's own index wins.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use talkapp_common::ErrorCode;
use talkapp_proto::chat::v1 as chat;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{CompatError, account_index, account_ref, field_error};
use crate::auth::extract::Caller;
use crate::auth::verifier::Identity;
use crate::problem::ApiError;
use crate::routes::media::well_formed;
use crate::state::AppState;

/// The media types the legacy route takes.
const MEDIA_TYPES: [&str; 8] = [
    "photo",
    "video",
    "audio",
    "document",
    "voice",
    "sticker",
    "animation",
    "video_note",
];
/// The longest `file_id` taken.
const MAX_FILE_ID: usize = 128;

/// A signed, root-relative link to `media_ref` of the caller's account `session_index`,
/// lasting (`downloads.legacy_link_ttl_secs`): the frontend keeps its URLs while a page is
/// open, and re-renders `<img>`s from them.
pub fn signed_path(
    state: &AppState,
    user_id: Uuid,
    sign_in: Option<Uuid>,
    session_index: u32,
    media_ref: &str,
) -> String {
    state.media_links.issue_lasting_path(
        user_id,
        sign_in,
        session_index,
        media_ref,
        chrono::Utc::now().timestamp(),
    )
}

/// A legacy `file_id`: a media reference and the account it belongs to.
pub fn file_id(media_ref: &str, session_index: u32) -> String {
    format!("{media_ref}@{session_index}")
}

/// The media URLs and ids of one reply, for one of the caller's accounts.
pub struct Links<'a> {
    state: &'a AppState,
    user_id: Uuid,
    sign_in: Option<Uuid>,
    session_index: u32,
}

impl<'a> Links<'a> {
    /// Links to files of the caller's account `session_index`, for as long as the
    /// caller's sign-in session lasts.
    pub fn new(state: &'a AppState, caller: &Identity, session_index: u32) -> Self {
        Self {
            state,
            user_id: caller.user_id,
            sign_in: caller.sign_in_session(),
            session_index,
        }
    }

    /// A signed link to `media_ref`.
    pub fn url(&self, media_ref: &str) -> String {
        signed_path(
            self.state,
            self.user_id,
            self.sign_in,
            self.session_index,
            media_ref,
        )
    }

    /// The legacy `file_id` of `media_ref`.
    pub fn file_id(&self, media_ref: &str) -> String {
        file_id(media_ref, self.session_index)
    }

    /// A chat's `photo_url`: a signed link to its photo, or the legacy default avatar
    /// path when it has none (the field may not be null).
    pub fn photo_url(&self, photo_id: Option<&str>) -> String {
        photo_id.map_or_else(
            || super::chat_lists::DEFAULT_AVATAR.to_owned(),
            |photo_id| self.url(photo_id),
        )
    }
}

/// The reference and account a `file_id` names (`fallback` when it names none).
fn parse_file_id(file_id: &str, fallback: u32) -> Option<(&str, u32)> {
    let (media_ref, index) = match file_id.rsplit_once('@') {
        Some((media_ref, index)) => (media_ref, index.parse().ok()?),
        None => (file_id, fallback),
    };
    (well_formed(media_ref) && index >= 1).then_some((media_ref, index))
}

/// What `/me/download_media` is asked.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DownloadQuery {
    /// The account (`1`, `2`, ...); a `file_id` from the messages names its own.
    #[param(max_length = 10)]
    pub account_index: Option<String>,
    /// A message's `file_id` (at most 128 characters).
    #[param(max_length = 128)]
    pub file_id: Option<String>,
    /// `photo`, `video`, `audio`, `document`, `voice`, `sticker`, `animation` or `video_note`.
    pub media_type: Option<String>,
}

/// Where the file can be loaded.
#[derive(Debug, Serialize, ToSchema)]
pub struct DownloadOut {
    /// Always true.
    pub ok: bool,
    /// Root-relative signed link, good for `downloads.legacy_link_ttl_secs` (at least)
    /// without headers.
    pub url: String,
    /// The file's size in bytes.
    pub size: u64,
}

/// A link the browser can load a message's file from (the legacy download route).
#[utoipa::path(get, path = "/me/download_media", tag = "torextalkweb",
    params(DownloadQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = DownloadOut),
        (status = 404, description = "`not_found`: no such file among the caller's accounts", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 413, description = "`media_too_large`", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %caller.0.user_id))]
pub async fn download_media(
    caller: Caller,
    state: web::Data<AppState>,
    query: web::Query<DownloadQuery>,
) -> Result<HttpResponse, CompatError> {
    let query = query.into_inner();
    let fallback = account_index(
        "account_index",
        query.account_index.as_deref().unwrap_or("1"),
    )?;
    let media_type = query.media_type.unwrap_or_default();
    if !MEDIA_TYPES.contains(&media_type.as_str()) {
        return Err(field_error(
            "media_type",
            format!("must be one of {}", MEDIA_TYPES.join(", ")),
        )
        .into());
    }
    let file_id = query.file_id.unwrap_or_default();
    if file_id.is_empty() || file_id.len() > MAX_FILE_ID {
        return Err(field_error(
            "file_id",
            format!("must be a message's file_id (1 to {MAX_FILE_ID} characters)"),
        )
        .into());
    }
    let Some((media_ref, session_index)) = parse_file_id(&file_id, fallback) else {
        return Err(ApiError::new(ErrorCode::NotFound, "no such file").into());
    };
    // The first byte: proves the file is there (and the caller's) and gives its size.
    let mut stream = state
        .services
        .download_media(chat::DownloadMediaRequest {
            account: Some(account_ref(caller.0.user_id, session_index)),
            media_ref: media_ref.to_owned(),
            offset: 0,
            length: 1,
            ..chat::DownloadMediaRequest::default()
        })
        .await?;
    let header = stream
        .message()
        .await
        .map_err(ApiError::from)?
        .and_then(|chunk| chunk.header)
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such file"))?;
    Ok(HttpResponse::Ok().json(DownloadOut {
        ok: true,
        url: signed_path(
            &state,
            caller.0.user_id,
            caller.0.sign_in_session(),
            session_index,
            media_ref,
        ),
        size: header.size,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_id_names_its_account_and_falls_back_to_the_one_asked() {
        assert_eq!(parse_file_id("m:5:7@2", 1), Some(("m:5:7", 2)));
        assert_eq!(parse_file_id("m:5:7", 3), Some(("m:5:7", 3)));
        assert_eq!(
            parse_file_id(&file_id("t:-100:9", 4), 1),
            Some(("t:-100:9", 4))
        );
        assert_eq!(parse_file_id("m:5:7@0", 1), None);
        assert_eq!(parse_file_id("m:5:7@x", 1), None);
        assert_eq!(parse_file_id("/media/downloads/a/1/x.jpg", 1), None);
        assert_eq!(parse_file_id("", 1), None);
    }
}
