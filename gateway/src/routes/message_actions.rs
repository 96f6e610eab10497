//! Changing messages of one linked account (`{session_index}`) of the path's user:
//! editing a text, deleting (for the account or for everyone), forwarding, marking a
//! chat read, pinning and unpinning.
//! The changes reach the account's WebSocket clients as `message.edited`,
//! `message.deleted`, `message.pinned` and `chat.updated` events.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use talkapp_proto::chat::v1 as chat;
use utoipa::ToSchema;

use crate::auth::extract::{OwnedJson, PathOwner};
use crate::problem::ApiError;
use crate::routes::chats::{MessageView, account_ref, chat_id_text, field_error};
use crate::state::AppState;

/// Most messages deleted in one request (Telegram's limit for one call).
const MAX_DELETED: usize = 100;

/// A new text for a sent message.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditMessage {
    /// The chat (a string or a number).
    #[schema(value_type = String)]
    pub chat_id: serde_json::Value,
    /// A message this account sent.
    #[schema(minimum = 1)]
    pub message_id: i32,
    /// 1 to 4096 characters; no control characters but line breaks and tabs.
    pub text: String,
}

/// Messages to delete.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteMessages {
    /// The chat (a string or a number).
    #[schema(value_type = String)]
    pub chat_id: serde_json::Value,
    /// 1 to 100 message ids.
    #[schema(max_items = 100, min_items = 1)]
    pub message_ids: Vec<i32>,
    /// Delete for everyone (private chats and basic groups); false: for this account
    /// only. In supergroups and channels a deletion is always for everyone.
    #[serde(default)]
    pub for_everyone: bool,
}

/// Messages to forward.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForwardMessages {
    /// Where they are (a string or a number).
    #[schema(value_type = String)]
    pub from_chat_id: serde_json::Value,
    /// 1 to 100 message ids.
    #[schema(max_items = 100, min_items = 1)]
    pub message_ids: Vec<i32>,
    /// Where they go (a chat of the account's).
    #[schema(value_type = String)]
    pub to_chat_id: serde_json::Value,
    /// Without notification.
    #[serde(default)]
    pub silent: bool,
    /// Idempotency key, when the `Idempotency-Key` header is not used.
    pub client_request_id: Option<String>,
}

/// The forwarded copies.
#[derive(Debug, Serialize, ToSchema)]
pub struct Forwarded {
    /// In the target chat, oldest first.
    pub messages: Vec<MessageView>,
}

/// How far to mark a chat read.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkRead {
    /// Up to this message (absent or 0: everything).
    #[schema(minimum = 0)]
    pub max_id: Option<i32>,
}

/// A message to pin.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PinMessage {
    /// The chat (a string or a number).
    #[schema(value_type = String)]
    pub chat_id: serde_json::Value,
    /// The message.
    #[schema(minimum = 1)]
    pub message_id: i32,
    /// Without notifying the chat's members.
    #[serde(default)]
    pub silent: bool,
    /// Private chats only: pinned for this account alone (Telegram's `pm_oneside`);
    /// otherwise for both sides.
    #[serde(default)]
    pub for_me_only: bool,
}

/// A message to unpin.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnpinMessage {
    /// The chat (a string or a number).
    #[schema(value_type = String)]
    pub chat_id: serde_json::Value,
    /// The message.
    #[schema(minimum = 1)]
    pub message_id: i32,
}

/// Replaces the text of a message this account sent; 200 with the message as edited.
/// Other clients get `message.edited`.
#[utoipa::path(post, path = "/me/edit_message/{user_id}/{session_index}", tag = "chats", request_body = EditMessage,
    params(
        crate::routes::common::AccountPath,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, body = MessageView),
        (status = 403, description = "`forbidden`: another user's path, or not this account's message (MESSAGE_AUTHOR_REQUIRED)", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such account or chat", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: bad input, no such message (MESSAGE_ID_INVALID), the same text (MESSAGE_NOT_MODIFIED)", body = crate::problem::Problem, content_type = "application/problem+json"),
        crate::routes::common::TelegramErrors,
    ))]
#[tracing::instrument(skip_all, fields(user_id = %request.owner.user_id))]
pub async fn edit_message(
    request: OwnedJson<EditMessage>,
    state: web::Data<AppState>,
    path: web::Path<(String, u32)>,
) -> Result<HttpResponse, ApiError> {
    let OwnedJson { owner, body } = request;
    let chat_id = chat_id_text(&body.chat_id)?;
    let message_id = checked_message_id(body.message_id)?;
    let message = state
        .services
        .edit_message(chat::EditMessageRequest {
            account: Some(account_ref(&owner, path.1)?),
            chat_id,
            message_id,
            text: body.text,
        })
        .await?;
    Ok(HttpResponse::Ok().json(MessageView::from(message)))
}

/// Deletes messages, for this account only or for everyone; 204. Clients get
/// `message.deleted`.
#[utoipa::path(post, path = "/me/delete_messages/{user_id}/{session_index}", tag = "chats", request_body = DeleteMessages,
    params(
        crate::routes::common::AccountPath,
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "`forbidden`: another user's path; `telegram_admin_required`: others' messages in a group need admin rights", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such account or chat", body = crate::problem::Problem, content_type = "application/problem+json"),
        crate::routes::common::TelegramErrors,
    ))]
#[tracing::instrument(skip_all, fields(user_id = %request.owner.user_id))]
pub async fn delete_messages(
    request: OwnedJson<DeleteMessages>,
    state: web::Data<AppState>,
    path: web::Path<(String, u32)>,
) -> Result<HttpResponse, ApiError> {
    let OwnedJson { owner, body } = request;
    let chat_id = chat_id_text(&body.chat_id)?;
    checked_message_ids(&body.message_ids)?;
    state
        .services
        .delete_messages(chat::DeleteMessagesRequest {
            account: Some(account_ref(&owner, path.1)?),
            chat_id,
            message_ids: body.message_ids,
            for_everyone: body.for_everyone,
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Forwards messages to another chat; 200 with the copies. The same `Idempotency-Key`
/// (or `client_request_id`) answers the first copies (Telegram makes none again).
/// Clients get `message.new`.
#[utoipa::path(post, path = "/me/forward_messages/{user_id}/{session_index}", tag = "chats", request_body = ForwardMessages,
    params(
        crate::routes::common::AccountPath,
        crate::routes::common::IdempotencyKeyHeader,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Forwarded),
        (status = 403, description = "`forbidden`: another user's path, or Telegram refuses (CHAT_WRITE_FORBIDDEN, CHAT_FORWARDS_RESTRICTED)", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such account or chat", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`request_in_progress`", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`; `idempotency_key_reused`", body = crate::problem::Problem, content_type = "application/problem+json"),
        crate::routes::common::TelegramErrors,
    ))]
#[tracing::instrument(skip_all, fields(user_id = %request.owner.user_id))]
pub async fn forward_messages(
    http: HttpRequest,
    request: OwnedJson<ForwardMessages>,
    state: web::Data<AppState>,
    path: web::Path<(String, u32)>,
) -> Result<HttpResponse, ApiError> {
    let OwnedJson { owner, body } = request;
    let from_chat_id = chat_id_text(&body.from_chat_id)?;
    let to_chat_id = chat_id_text(&body.to_chat_id)?;
    checked_message_ids(&body.message_ids)?;
    let idempotency_key = crate::routes::groups::idempotency_key(&http, body.client_request_id)?;
    let forwarded = state
        .services
        .forward_messages(chat::ForwardMessagesRequest {
            account: Some(account_ref(&owner, path.1)?),
            from_chat_id,
            message_ids: body.message_ids,
            to_chat_id,
            silent: body.silent,
            idempotency_key,
        })
        .await?;
    Ok(HttpResponse::Ok().json(Forwarded {
        messages: forwarded
            .messages
            .into_iter()
            .map(MessageView::from)
            .collect(),
    }))
}

/// Marks a chat read up to a message (or all of it); 204. The sender sees it as read,
/// clients get `chat.updated`.
#[utoipa::path(post, path = "/me/mark_read/{user_id}/{session_index}/{chat_id}", tag = "chats", request_body = MarkRead,
    params(
        crate::routes::common::AccountChatPath,
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Marked read"),
        (status = 404, description = "`not_found`: no such account or chat", body = crate::problem::Problem, content_type = "application/problem+json"),
        crate::routes::common::TelegramErrors,
    ))]
#[tracing::instrument(skip_all, fields(user_id = %request.owner.user_id))]
pub async fn mark_read(
    request: OwnedJson<MarkRead>,
    state: web::Data<AppState>,
    path: web::Path<(String, u32, String)>,
) -> Result<HttpResponse, ApiError> {
    let OwnedJson { owner, body } = request;
    let (_, session_index, chat_id) = path.into_inner();
    let max_id = body.max_id.unwrap_or(0);
    if max_id < 0 {
        return Err(field_error("max_id", "must be 0 or a message id"));
    }
    state
        .services
        .mark_read(chat::MarkReadRequest {
            account: Some(account_ref(&owner, session_index)?),
            chat_id,
            // 0: everything, as none.
            max_id: (max_id > 0).then_some(max_id),
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Notes what a pin route acts on in the audit record.
fn note_pin_target(chat_id: &str, message_id: Option<i32>) {
    crate::audit::note(|note| {
        note.target.push(("chat_id".to_owned(), chat_id.to_owned()));
        if let Some(message_id) = message_id {
            note.target
                .push(("message_id".to_owned(), message_id.to_string()));
        }
    });
}

/// A message id of the body: 1 or more.
fn checked_message_id(message_id: i32) -> Result<i32, ApiError> {
    if message_id < 1 {
        return Err(field_error(
            "message_id",
            "must be a message id (1 or more)",
        ));
    }
    Ok(message_id)
}

/// The message ids of a deletion or forwarding: 1 to [`MAX_DELETED`].
fn checked_message_ids(message_ids: &[i32]) -> Result<(), ApiError> {
    if message_ids.is_empty() || message_ids.len() > MAX_DELETED {
        return Err(field_error("message_ids", "1 to 100 message ids"));
    }
    Ok(())
}

/// Pins (or with `unpin`, unpins) a message: the body's chat and message are checked
/// and noted for the audit record before the account is; 204.
async fn change_pin(
    state: &AppState,
    owner: &PathOwner,
    session_index: u32,
    pin: PinMessage,
    unpin: bool,
) -> Result<HttpResponse, ApiError> {
    let chat_id = chat_id_text(&pin.chat_id)?;
    let message_id = checked_message_id(pin.message_id)?;
    note_pin_target(&chat_id, Some(message_id));
    state
        .services
        .pin_message(chat::PinMessageRequest {
            account: Some(account_ref(owner, session_index)?),
            chat_id,
            message_id,
            unpin,
            silent: pin.silent,
            for_me_only: pin.for_me_only,
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Pins a message (for both sides of a private chat unless `for_me_only`); 204. A
/// message already pinned is no error. In a group, Telegram adds a "pinned" service
/// message (`message.new`); every member's clients get `message.pinned`, and the chat's
/// `pinned_message` follows.
#[utoipa::path(post, path = "/me/pin_message/{user_id}/{session_index}", tag = "chats", request_body = PinMessage,
    params(
        crate::routes::common::AccountPath,
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Pinned (or pinned already)"),
        (status = 403, description = "`forbidden`: another user's path; `telegram_admin_required`: pinning in this supergroup or channel needs admin rights (CHAT_ADMIN_REQUIRED)", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such account or chat, or no such message in it (MESSAGE_ID_INVALID)", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: bad input, `for_me_only` outside a private chat", body = crate::problem::Problem, content_type = "application/problem+json"),
        crate::routes::common::TelegramErrors,
    ))]
#[tracing::instrument(skip_all, fields(user_id = %request.owner.user_id))]
pub async fn pin_message(
    request: OwnedJson<PinMessage>,
    state: web::Data<AppState>,
    path: web::Path<(String, u32)>,
) -> Result<HttpResponse, ApiError> {
    let OwnedJson { owner, body } = request;
    change_pin(&state, &owner, path.1, body, false).await
}

/// Unpins a message; 204 (also when it was not pinned). Clients get `message.pinned`
/// with `pinned: false`.
#[utoipa::path(post, path = "/me/unpin_message/{user_id}/{session_index}", tag = "chats", request_body = UnpinMessage,
    params(
        crate::routes::common::AccountPath,
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Unpinned"),
        (status = 403, description = "`forbidden`: another user's path; `telegram_admin_required`: needs admin rights in this supergroup or channel", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such account, chat or message", body = crate::problem::Problem, content_type = "application/problem+json"),
        crate::routes::common::TelegramErrors,
    ))]
#[tracing::instrument(skip_all, fields(user_id = %request.owner.user_id))]
pub async fn unpin_message(
    request: OwnedJson<UnpinMessage>,
    state: web::Data<AppState>,
    path: web::Path<(String, u32)>,
) -> Result<HttpResponse, ApiError> {
    let OwnedJson { owner, body } = request;
    let pin = PinMessage {
        chat_id: body.chat_id,
        message_id: body.message_id,
        silent: false,
        for_me_only: false,
    };
    change_pin(&state, &owner, path.1, pin, true).await
}

/// Unpins every pinned message of a chat (`messages.unpinAllMessages`); 204. Clients
/// get `message.pinned` with `pinned: false`.
#[utoipa::path(post, path = "/me/unpin_all/{user_id}/{session_index}/{chat_id}", tag = "chats",
    params(
        crate::routes::common::AccountChatPath,
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Nothing is pinned any more"),
        (status = 403, description = "`forbidden`: another user's path; `telegram_admin_required`: needs admin rights in this supergroup or channel", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such account or chat", body = crate::problem::Problem, content_type = "application/problem+json"),
        crate::routes::common::TelegramErrors,
    ))]
#[tracing::instrument(skip_all, fields(user_id = %owner.user_id))]
pub async fn unpin_all(
    owner: PathOwner,
    state: web::Data<AppState>,
    path: web::Path<(String, u32, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, session_index, chat_id) = path.into_inner();
    note_pin_target(&chat_id, None);
    state
        .services
        .unpin_all_messages(chat::UnpinAllMessagesRequest {
            account: Some(account_ref(&owner, session_index)?),
            chat_id,
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
