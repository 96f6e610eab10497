//! A group's or channel's title and description, changed through one linked account
//! (`{session_index}`) of the path's user. Setting what the chat has already is no
//! change, answered like one (Telegram's `CHAT_NOT_MODIFIED`).
//!
//! Not yet: the chat's photo from an uploaded file (`photo_file_id` is refused as an
//! unknown field until it is done).

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use talkapp_proto::chat::v1 as chat;
use utoipa::ToSchema;

use crate::auth::extract::OwnedJson;
use crate::problem::ApiError;
use crate::routes::chats::{ChatView, chat_id_text, session_ref};
use crate::state::AppState;

/// What to change; at least one of the two.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditChat {
    /// The new title: 1 to 128 characters, one line.
    #[schema(max_length = 128)]
    pub title: Option<String>,
    /// The new description, up to 255 characters (empty: none).
    #[schema(max_length = 255)]
    pub about: Option<String>,
}

/// Changes a group's or channel's title and / or description through the account (an
/// admin of it); answers the chat as the chat list shows it. A `chat.updated` event
/// reaches the account's sockets.
#[utoipa::path(post, path = "/me/edit_chat/{user_id}/{session_index}/{chat_id}", tag = "groups", request_body = EditChat,
    params(
        ("user_id" = uuid::Uuid, Path, description = "TalkApp user id; must be the token's user"),
        ("session_index" = u32, Path, description = "Which linked account"),
        ("chat_id" = String, Path, description = "Bot-API-style chat id of a group, supergroup or channel"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, body = ChatView, description = "The chat as listed (unchanged when it had that title and about already)"),
        (status = 403, description = "`forbidden`: another user's path; `telegram_admin_required`: only admins change a chat's info", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such account or chat", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: nothing to change, a title or about out of bounds, a private chat", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 429, description = "`telegram_flood_wait`, with `Retry-After`", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`telegram_unavailable`", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %request.owner.user_id))]
pub async fn edit_chat(
    request: OwnedJson<EditChat>,
    state: web::Data<AppState>,
    path: web::Path<(String, u32, String)>,
) -> Result<HttpResponse, ApiError> {
    let OwnedJson { owner, body } = request;
    let (_, session_index, chat_id) = path.into_inner();
    let chat_id = chat_id_text(&serde_json::Value::String(chat_id))?;
    let edited = state
        .services
        .edit_chat(chat::EditChatRequest {
            session: Some(session_ref(&owner, session_index)?),
            chat_id,
            title: body.title,
            about: body.about,
        })
        .await?;
    Ok(HttpResponse::Ok().json(ChatView::from(edited)))
}
