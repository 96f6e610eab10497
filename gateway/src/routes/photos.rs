//! Photos from uploaded files (`POST /upload`): a group's or channel's photo
//! (`PUT`/`DELETE /me/chat_photo/{user_id}/{session_index}/{chat_id}`,
//! `messages.editChatPhoto` / `channels.editPhoto`) and the linked account's own
//! profile photo (`PUT`/`DELETE /me/profile/photo/{user_id}/{session_index}`,
//! `photos.uploadProfilePhoto`; removing it deletes the current one). The file must be
//! the user's own upload and a still image; the account's host streams it to Telegram
//! as a media send's files go (ADR 0020).

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use talkapp_proto::chat::v1 as chat;
use utoipa::ToSchema;

use crate::auth::extract::{OwnedJson, PathOwner};
use crate::problem::ApiError;
use crate::routes::chats::{ChatView, account_and_chat, account_ref};
use crate::routes::profiles::{UserProfileView, profile_view};
use crate::state::AppState;

/// The uploaded image to make the photo of.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhotoFile {
    /// An uploaded file of the caller's (`POST /upload`) whose `kind` is `photo`; the
    /// smaller side at least 160 pixels, at most 10 MiB.
    #[schema(format = "uuid", max_length = 36)]
    pub file_id: String,
}

/// An uploaded file's id given as `field`, bounded before it goes further (the chat
/// service parses it).
pub(crate) fn checked_file_id(field: &str, file_id: String) -> Result<String, ApiError> {
    if file_id.len() > 36 {
        return Err(ApiError::new(
            talkapp_common::ErrorCode::ValidationFailed,
            format!("{field} must be a UUID"),
        ));
    }
    Ok(file_id)
}

/// Sets (with a body) or removes a chat's photo; answers the chat as listed.
async fn change_chat_photo(
    state: &AppState,
    owner: &PathOwner,
    path: web::Path<(String, u32, String)>,
    body: Option<PhotoFile>,
) -> Result<HttpResponse, ApiError> {
    let (account, chat_id) = account_and_chat(owner, path)?;
    let file_id = body
        .map(|body| checked_file_id("file_id", body.file_id))
        .transpose()?;
    let chat = state
        .services
        .set_chat_photo(chat::SetChatPhotoRequest {
            account: Some(account),
            chat_id,
            file_id,
        })
        .await?;
    Ok(HttpResponse::Ok().json(ChatView::from(chat)))
}

/// Sets (with a body) or removes the account's profile photo; answers the profile.
async fn change_own_photo(
    state: &AppState,
    owner: &PathOwner,
    session_index: u32,
    body: Option<PhotoFile>,
) -> Result<HttpResponse, ApiError> {
    let account = account_ref(owner, session_index)?;
    let file_id = body
        .map(|body| checked_file_id("file_id", body.file_id))
        .transpose()?;
    let profile = state
        .services
        .set_own_photo(chat::SetOwnPhotoRequest {
            account: Some(account),
            file_id,
        })
        .await?;
    Ok(HttpResponse::Ok().json(profile_view(profile)?))
}

/// Sets a group's, supergroup's or channel's photo from the caller's uploaded image,
/// through the account (an admin of the chat); answers the chat as the chat list shows
/// it, with its new `photo_id`. Every member's clients hear of it (`chat.updated`, and a
/// service message in the chat).
#[utoipa::path(put, path = "/me/chat_photo/{user_id}/{session_index}/{chat_id}", tag = "groups", request_body = PhotoFile,
    params(
        crate::routes::common::AccountGroupPath,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, body = ChatView, description = "The chat as listed, with its new `photo_id`"),
        (status = 403, description = "`forbidden`: another user's path; `telegram_admin_required`: only admins change a chat's photo", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such account, chat, or uploaded file of the caller's", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`photo_invalid`: the file is no image, over 10 MiB, or Telegram cannot read it (PHOTO_INVALID, IMAGE_PROCESS_FAILED); `photo_too_small`: under 160×160 (PHOTO_CROP_SIZE_SMALL); `validation_failed`: a `file_id` that is no UUID, a private chat", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 429, description = "`telegram_flood_wait`, with `Retry-After`", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`telegram_unavailable`, `service_unavailable` (the media service)", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %request.owner.user_id))]
pub async fn set_chat_photo(
    request: OwnedJson<PhotoFile>,
    state: web::Data<AppState>,
    path: web::Path<(String, u32, String)>,
) -> Result<HttpResponse, ApiError> {
    let OwnedJson { owner, body } = request;
    change_chat_photo(&state, &owner, path, Some(body)).await
}

/// Removes a group's, supergroup's or channel's photo through the account (an admin of
/// it); answers the chat as listed, without a `photo_id`. A chat without a photo is
/// answered as it is.
#[utoipa::path(delete, path = "/me/chat_photo/{user_id}/{session_index}/{chat_id}", tag = "groups",
    params(
        crate::routes::common::AccountGroupPath,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, body = ChatView, description = "The chat as listed, without a photo"),
        (status = 403, description = "`forbidden`: another user's path; `telegram_admin_required`: only admins change a chat's photo", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such account or chat", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: a private chat", body = crate::problem::Problem, content_type = "application/problem+json"),
        crate::routes::common::TelegramErrors,
    ))]
#[tracing::instrument(skip_all, fields(user_id = %owner.user_id))]
pub async fn delete_chat_photo(
    owner: PathOwner,
    state: web::Data<AppState>,
    path: web::Path<(String, u32, String)>,
) -> Result<HttpResponse, ApiError> {
    change_chat_photo(&state, &owner, path, None).await
}

/// Makes the caller's uploaded image the account's profile photo
/// (`photos.uploadProfilePhoto`); answers the profile with its new `photo_id`. The
/// session list (`GET /me/sessions`, `/me/telegrams`) shows it.
#[utoipa::path(put, path = "/me/profile/photo/{user_id}/{session_index}", tag = "profiles", request_body = PhotoFile,
    params(
        crate::routes::common::AccountPath,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, body = UserProfileView),
        (status = 404, description = "`not_found`: no such linked account, or uploaded file of the caller's", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`photo_invalid`: the file is no image, over 10 MiB, or Telegram cannot read it; `photo_too_small`: under 160×160; `validation_failed`: a `file_id` that is no UUID", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 429, description = "`telegram_flood_wait`, with `Retry-After`", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`telegram_unavailable`, `service_unavailable` (the media service)", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %request.owner.user_id))]
pub async fn set_own_photo(
    request: OwnedJson<PhotoFile>,
    state: web::Data<AppState>,
    path: web::Path<(String, u32)>,
) -> Result<HttpResponse, ApiError> {
    let OwnedJson { owner, body } = request;
    change_own_photo(&state, &owner, path.1, Some(body)).await
}

/// Removes the account's current profile photo (`photos.deletePhotos`); answers the
/// profile as it is afterwards (Telegram makes an older photo current again, if there
/// is one). Without a photo it is answered as it is.
#[utoipa::path(delete, path = "/me/profile/photo/{user_id}/{session_index}", tag = "profiles",
    params(
        crate::routes::common::AccountPath,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, body = UserProfileView),
        (status = 404, description = "`not_found`: no such linked account", body = crate::problem::Problem, content_type = "application/problem+json"),
        crate::routes::common::TelegramErrors,
    ))]
#[tracing::instrument(skip_all, fields(user_id = %owner.user_id))]
pub async fn delete_own_photo(
    owner: PathOwner,
    state: web::Data<AppState>,
    path: web::Path<(String, u32)>,
) -> Result<HttpResponse, ApiError> {
    change_own_photo(&state, &owner, path.1, None).await
}
