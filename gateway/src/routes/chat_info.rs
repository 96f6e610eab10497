//! A group's or channel's title and description, changed through one linked account
//! (`{session_index}`) of the path's user. Setting what the chat has already is no
//! change, answered like one (Telegram's `CHAT_NOT_MODIFIED`). The photo from an
//! uploaded file (`photo_file_id`) is set first, as `PUT /me/chat_photo` sets it
//! ([`crate::routes::photos`]): when it is refused, nothing has changed.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use talkapp_proto::chat::v1 as chat;
use utoipa::ToSchema;

use crate::auth::extract::OwnedJson;
use crate::problem::ApiError;
use crate::routes::chats::{ChatView, account_ref};
use crate::routes::photos::checked_file_id;
use crate::state::AppState;

/// What to change; at least one of the three.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditChat {
    /// The new title: 1 to 128 characters, one line.
    #[schema(max_length = 128)]
    pub title: Option<String>,
    /// The new description, up to 255 characters (empty: none).
    #[schema(max_length = 255)]
    pub about: Option<String>,
    /// The new photo: an uploaded image of the caller's (`POST /upload`, `kind` photo,
    /// at least 160×160), as `PUT /me/chat_photo` takes it. Removing the photo is
    /// `DELETE /me/chat_photo`.
    #[schema(format = "uuid", max_length = 36)]
    pub photo_file_id: Option<String>,
}

/// Changes a group's or channel's title, description and / or photo through the
/// account (an admin of it); answers the chat as the chat list shows it. A
/// `chat.updated` event reaches the account's sockets.
#[utoipa::path(post, path = "/me/edit_chat/{user_id}/{session_index}/{chat_id}", tag = "groups", request_body = EditChat,
    params(
        crate::routes::common::AccountGroupPath,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, body = ChatView, description = "The chat as listed (unchanged when it had that title and about already)"),
        (status = 403, description = "`forbidden`: another user's path; `telegram_admin_required`: only admins change a chat's info", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such account or chat, or a `photo_file_id` that is no uploaded file of the caller's", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: nothing to change, a title or about out of bounds, a private chat; `photo_invalid`, `photo_too_small`: as `PUT /me/chat_photo`", body = crate::problem::Problem, content_type = "application/problem+json"),
        crate::routes::common::TelegramErrors,
    ))]
#[tracing::instrument(skip_all, fields(user_id = %request.owner.user_id))]
pub async fn edit_chat(
    request: OwnedJson<EditChat>,
    state: web::Data<AppState>,
    path: web::Path<(String, u32, String)>,
) -> Result<HttpResponse, ApiError> {
    let OwnedJson { owner, body } = request;
    let (_, session_index, chat_id) = path.into_inner();
    if let Some(photo_file_id) = body.photo_file_id {
        let photo_file_id = checked_file_id("photo_file_id", photo_file_id)?;
        let with_photo = state
            .services
            .set_chat_photo(chat::SetChatPhotoRequest {
                account: Some(account_ref(&owner, session_index)?),
                chat_id: chat_id.clone(),
                file_id: Some(photo_file_id),
            })
            .await?;
        if body.title.is_none() && body.about.is_none() {
            return Ok(HttpResponse::Ok().json(ChatView::from(with_photo)));
        }
    }
    let edited = state
        .services
        .edit_chat(chat::EditChatRequest {
            account: Some(account_ref(&owner, session_index)?),
            chat_id,
            title: body.title,
            about: body.about,
        })
        .await?;
    Ok(HttpResponse::Ok().json(ChatView::from(edited)))
}
