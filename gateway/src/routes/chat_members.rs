//! Who is in a group or channel and who administers it, for one linked account
//! (`{session_index}`) of the path's user: removing a member, leaving, promoting and
//! demoting an admin. Removing and leaving are done once per `Idempotency-Key` header
//! (or `client_request_id`): a retry gets the first answer.
//!
//! Not yet: pinning messages (issue 13, a later part); titles and descriptions are in
//! [`super::chat_info`], joining and invite links in [`super::joins`].

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use talkapp_proto::chat::v1 as chat;
use utoipa::ToSchema;

use crate::auth::extract::OwnedJson;
use crate::problem::ApiError;
use crate::routes::chats::account_and_chat;
use crate::routes::groups::{idempotency_key, member_text};
use crate::state::AppState;

/// A member to remove.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoveMember {
    /// A Telegram user id (number or string), `@username` or `+phone`.
    #[schema(value_type = String)]
    pub user: serde_json::Value,
    /// Idempotency key, when the `Idempotency-Key` header is not used.
    pub client_request_id: Option<String>,
}

/// Leaving a chat (an empty object is fine).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeaveChat {
    /// Idempotency key, when the `Idempotency-Key` header is not used.
    pub client_request_id: Option<String>,
}

/// An admin to promote or demote.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetAdmin {
    /// A Telegram user id (number or string), `@username` or `+phone`; a member.
    #[schema(value_type = String)]
    pub user: serde_json::Value,
    /// `true`: make them an admin (managing messages, members and the chat's info, not
    /// adding admins); `false`: take the rights back.
    pub admin: bool,
}

/// A member change done.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberChanged {
    /// The chat.
    pub chat_id: String,
    /// The Telegram user the change was about (the account's own when it left).
    pub user_id: String,
}

/// Sends a member change to the chat service.
async fn change_members(
    state: &AppState,
    request: chat::ChangeMembersRequest,
) -> Result<HttpResponse, ApiError> {
    let changed = state.services.change_members(request).await?;
    Ok(HttpResponse::Ok().json(MemberChanged {
        chat_id: changed.chat_id,
        user_id: changed.user_id,
    }))
}

/// Removes a member (id, `@username` or `+phone`) from a group, supergroup or channel
/// through the account (an admin of it). The same `Idempotency-Key` (or
/// `client_request_id`) answers the first result again.
#[utoipa::path(post, path = "/me/remove_member/{user_id}/{session_index}/{chat_id}", tag = "groups", request_body = RemoveMember,
    params(
        crate::routes::common::AccountGroupPath,
        crate::routes::common::IdempotencyKeyHeader,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, body = MemberChanged),
        (status = 403, description = "`forbidden`: another user's path; `telegram_admin_required`: only admins remove members; `telegram_admin_invalid`: the member is an admin this account did not promote (or the creator)", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such account, chat or user; `not_participant`: the user is not a member", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`request_in_progress`", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (a private chat, a malformed user); `idempotency_key_reused`", body = crate::problem::Problem, content_type = "application/problem+json"),
        crate::routes::common::TelegramErrors,
    ))]
#[tracing::instrument(skip_all, fields(user_id = %request.owner.user_id))]
pub async fn remove_member(
    http: HttpRequest,
    request: OwnedJson<RemoveMember>,
    state: web::Data<AppState>,
    path: web::Path<(String, u32, String)>,
) -> Result<HttpResponse, ApiError> {
    let OwnedJson { owner, body } = request;
    let user = member_text("user", &body.user)?;
    let idempotency_key = idempotency_key(&http, body.client_request_id)?;
    let (account, chat_id) = account_and_chat(&owner, path)?;
    change_members(
        &state,
        chat::ChangeMembersRequest {
            account: Some(account),
            chat_id,
            action: chat::MemberAction::Remove.into(),
            user: Some(user),
            idempotency_key,
        },
    )
    .await
}

/// The account leaves a group, supergroup or channel; the chat leaves the chat list
/// and a `chat.updated` event tells the account's sockets. The same `Idempotency-Key`
/// (or `client_request_id`) answers the first result again.
#[utoipa::path(post, path = "/me/leave_chat/{user_id}/{session_index}/{chat_id}", tag = "groups", request_body = LeaveChat,
    params(
        crate::routes::common::AccountGroupPath,
        crate::routes::common::IdempotencyKeyHeader,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, body = MemberChanged),
        (status = 404, description = "`not_found`: no such account or chat; `not_participant`: the account is not a member", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`chat_creator`: the creator of a supergroup or channel cannot leave it; `request_in_progress`", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (a private chat); `idempotency_key_reused`", body = crate::problem::Problem, content_type = "application/problem+json"),
        crate::routes::common::TelegramErrors,
    ))]
#[tracing::instrument(skip_all, fields(user_id = %request.owner.user_id))]
pub async fn leave_chat(
    http: HttpRequest,
    request: OwnedJson<LeaveChat>,
    state: web::Data<AppState>,
    path: web::Path<(String, u32, String)>,
) -> Result<HttpResponse, ApiError> {
    let OwnedJson { owner, body } = request;
    let idempotency_key = idempotency_key(&http, body.client_request_id)?;
    let (account, chat_id) = account_and_chat(&owner, path)?;
    change_members(
        &state,
        chat::ChangeMembersRequest {
            account: Some(account),
            chat_id,
            action: chat::MemberAction::Leave.into(),
            user: None,
            idempotency_key,
        },
    )
    .await
}

/// Makes a member an admin (`admin: true`) or takes the rights back (`false`), through
/// the account (the chat's creator). Doing it twice changes nothing more.
#[utoipa::path(post, path = "/me/set_admin/{user_id}/{session_index}/{chat_id}", tag = "groups", request_body = SetAdmin,
    params(
        crate::routes::common::AccountGroupPath,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, body = MemberChanged),
        (status = 403, description = "`forbidden`: another user's path; `telegram_admin_required`: only the creator promotes and demotes", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such account, chat or user; `not_participant`: the user is not a member", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`chat_creator`: the creator's rights do not change", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (a private chat, a malformed user)", body = crate::problem::Problem, content_type = "application/problem+json"),
        crate::routes::common::TelegramErrors,
    ))]
#[tracing::instrument(skip_all, fields(user_id = %request.owner.user_id))]
pub async fn set_admin(
    request: OwnedJson<SetAdmin>,
    state: web::Data<AppState>,
    path: web::Path<(String, u32, String)>,
) -> Result<HttpResponse, ApiError> {
    let OwnedJson { owner, body } = request;
    let user = member_text("user", &body.user)?;
    let action = if body.admin {
        chat::MemberAction::Promote
    } else {
        chat::MemberAction::Demote
    };
    let (account, chat_id) = account_and_chat(&owner, path)?;
    change_members(
        &state,
        chat::ChangeMembersRequest {
            account: Some(account),
            chat_id,
            action: action.into(),
            user: Some(user),
            idempotency_key: None,
        },
    )
    .await
}
