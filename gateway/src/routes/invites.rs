//! Managing a chat's invite links and its requests to join, for one linked account
//! (`{session_index}`) of the path's user that administers the chat: the links it made
//! (`messages.getExportedChatInvites`), revoking one or changing its settings
//! (`messages.editExportedChatInvite`), the pending requests to join
//! (`messages.getChatInviteImporters` with `requested`) and approving or declining one
//! (`messages.hideChatJoinRequest`). The changing calls are done once per
//! `Idempotency-Key` header (or `client_request_id`). The chat service checks the input
//! (a link's spelling, its settings, the page size and cursor) before Telegram is asked.
//!
//! Not yet: other admins' links (the creator's view), deleting revoked links, who joined
//! through a link, the requester's `about`-only search, and an event to admins when a
//! request comes in (`updatePendingJoinRequests`).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use talkapp_proto::chat::v1 as chat;
use utoipa::{IntoParams, ToSchema};

use crate::auth::extract::{OwnedJson, PathOwner};
use crate::problem::ApiError;
use crate::routes::chats::account_and_chat;
use crate::routes::groups::idempotency_key;
use crate::routes::joins::InviteLinkView;
use crate::state::AppState;

/// Which links to list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InvitesQuery {
    /// `true`: the revoked links; else (the default) the working ones.
    pub revoked: Option<bool>,
    /// 1 to 100; default 50.
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// A page of the account's links to a chat, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct InviteLinksView {
    /// The links.
    pub links: Vec<InviteLinkView>,
    /// How many links the query has in all.
    pub count: i32,
    /// The next page's cursor; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A link to revoke.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeInvite {
    /// The link, in any spelling `join_chat` takes (up to 256 characters).
    pub invite_link: String,
    /// Idempotency key, when the `Idempotency-Key` header is not used.
    pub client_request_id: Option<String>,
}

/// A change to a link: at least one setting.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditInvite {
    /// The link, in any spelling `join_chat` takes (up to 256 characters).
    pub invite_link: String,
    /// When it stops working, Unix seconds in the future; 0: never.
    pub expire_date: Option<i64>,
    /// How many may join through it, 1 to 99999; 0: no limit.
    pub usage_limit: Option<i32>,
    /// Its name, up to 32 characters; empty: none.
    pub title: Option<String>,
    /// Joining needs an admin's approval (then no `usage_limit`).
    pub request_needed: Option<bool>,
    /// Idempotency key, when the `Idempotency-Key` header is not used.
    pub client_request_id: Option<String>,
}

/// Which requests to list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JoinRequestsQuery {
    /// 1 to 100; default 50.
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// A pending request to join.
#[derive(Debug, Serialize, ToSchema)]
pub struct JoinRequestView {
    /// The Telegram user who asked.
    pub user_id: String,
    /// When, Unix seconds.
    pub date: i64,
    /// What they wrote; absent when nothing.
    pub about: Option<String>,
    /// Their first name.
    pub first_name: String,
    /// Their last name; absent when none.
    pub last_name: Option<String>,
    /// Their username without `@`; absent when none.
    pub username: Option<String>,
}

/// A page of pending requests, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct JoinRequestsView {
    /// The requests.
    pub requests: Vec<JoinRequestView>,
    /// How many wait in all.
    pub count: i32,
    /// The next page's cursor; absent on the last page.
    pub next_cursor: Option<String>,
}

/// An answer to a request to join.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerJoinRequest {
    /// The requester's Telegram user id (`user_id` of the list).
    pub user: String,
    /// `true`: let them in; `false`: decline.
    pub approve: bool,
    /// Idempotency key, when the `Idempotency-Key` header is not used.
    pub client_request_id: Option<String>,
}

/// A request answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct JoinRequestAnswered {
    /// The chat.
    pub chat_id: String,
    /// The requester.
    pub user_id: String,
    /// Let in (else declined).
    pub approved: bool,
}

/// The links the account made to a group, supergroup or channel it administers, newest
/// first (`messages.getExportedChatInvites`): the working ones, or with `revoked=true`
/// the revoked ones; `requested` is how many requests to join through a link wait.
#[utoipa::path(get, path = "/me/invites/{user_id}/{session_index}/{chat_id}", tag = "groups",
    params(
        crate::routes::common::AccountGroupPath,
        InvitesQuery,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, body = InviteLinksView),
        (status = 403, description = "`forbidden`: another user's path; `telegram_admin_required`: only the chat's admins have links (CHAT_ADMIN_REQUIRED); `channel_private`", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such account or chat", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: a private chat, `limit` outside 1 to 100, a cursor this list did not give", body = crate::problem::Problem, content_type = "application/problem+json"),
        crate::routes::common::TelegramErrors,
    ))]
#[tracing::instrument(skip_all, fields(user_id = %owner.user_id))]
pub async fn list_invites(
    owner: PathOwner,
    state: web::Data<AppState>,
    path: web::Path<(String, u32, String)>,
    query: web::Query<InvitesQuery>,
) -> Result<HttpResponse, ApiError> {
    let (account, chat_id) = account_and_chat(&owner, path)?;
    let query = query.into_inner();
    let page = state
        .services
        .list_invites(chat::ListInvitesRequest {
            account: Some(account),
            chat_id,
            revoked: query.revoked.unwrap_or(false),
            limit: query.limit.unwrap_or(0),
            cursor: query.cursor,
        })
        .await?;
    Ok(HttpResponse::Ok().json(InviteLinksView {
        links: page.links.into_iter().map(InviteLinkView::from).collect(),
        count: page.count,
        next_cursor: page.next_cursor,
    }))
}

/// Sends a change of one of the chat's links (revoking is one): the idempotency key
/// (header or body's `key`) and the path are checked, in this order, before the chat
/// service is asked; 200 with the link as it is now.
async fn change_invite(
    state: &AppState,
    http: &HttpRequest,
    owner: &PathOwner,
    path: web::Path<(String, u32, String)>,
    key: Option<String>,
    change: chat::EditInviteRequest,
) -> Result<HttpResponse, ApiError> {
    let idempotency_key = idempotency_key(http, key)?;
    let (account, chat_id) = account_and_chat(owner, path)?;
    let link = state
        .services
        .edit_invite(chat::EditInviteRequest {
            account: Some(account),
            chat_id,
            idempotency_key,
            ..change
        })
        .await?;
    Ok(HttpResponse::Ok().json(InviteLinkView::from(link)))
}

/// Revokes one of the chat's links (`messages.editExportedChatInvite` with `revoked`):
/// 200 with the link, `revoked: true`; joining by it answers 410 `invite_expired` from
/// then on. The same `Idempotency-Key` (or `client_request_id`) answers the first result
/// again.
#[utoipa::path(post, path = "/me/revoke_invite/{user_id}/{session_index}/{chat_id}", tag = "groups", request_body = RevokeInvite,
    params(
        crate::routes::common::AccountGroupPath,
        crate::routes::common::IdempotencyKeyHeader,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, body = InviteLinkView),
        (status = 403, description = "`forbidden`: another user's path; `telegram_admin_required`: not an admin, or another admin's link (CHAT_ADMIN_REQUIRED); `channel_private`", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such account or chat; `invite_invalid`: the chat has no such link (INVITE_HASH_INVALID)", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`request_in_progress`", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 410, description = "`invite_expired`: the link is revoked already (INVITE_REVOKED_MISSING)", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: a private chat, not an invite link, over 256 characters; `idempotency_key_reused`", body = crate::problem::Problem, content_type = "application/problem+json"),
        crate::routes::common::TelegramErrors,
    ))]
#[tracing::instrument(skip_all, fields(user_id = %request.owner.user_id))]
pub async fn revoke_invite(
    http: HttpRequest,
    request: OwnedJson<RevokeInvite>,
    state: web::Data<AppState>,
    path: web::Path<(String, u32, String)>,
) -> Result<HttpResponse, ApiError> {
    let OwnedJson { owner, body } = request;
    let change = chat::EditInviteRequest {
        invite_link: body.invite_link,
        revoke: true,
        ..chat::EditInviteRequest::default()
    };
    let key = body.client_request_id;
    change_invite(&state, &http, &owner, path, key, change).await
}

/// Changes one of the chat's links (`messages.editExportedChatInvite`): its expiry,
/// usage limit, title or whether joining needs approval (at least one; a setting not
/// given stays); 200 with the link as it is now. The same `Idempotency-Key` (or
/// `client_request_id`) answers the first result again.
#[utoipa::path(post, path = "/me/edit_invite/{user_id}/{session_index}/{chat_id}", tag = "groups", request_body = EditInvite,
    params(
        crate::routes::common::AccountGroupPath,
        crate::routes::common::IdempotencyKeyHeader,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, body = InviteLinkView),
        (status = 403, description = "`forbidden`: another user's path; `telegram_admin_required`: not an admin, or another admin's link (CHAT_ADMIN_REQUIRED); `channel_private`", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such account or chat; `invite_invalid`: the chat has no such link (INVITE_HASH_INVALID)", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`request_in_progress`", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 410, description = "`invite_expired`: the link is revoked (INVITE_REVOKED_MISSING)", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: a private chat, not an invite link, no change given, `expire_date` not 0 nor in the future, `usage_limit` outside 0 to 99999 (or above 0 with `request_needed`), a title over 32 characters; `idempotency_key_reused`", body = crate::problem::Problem, content_type = "application/problem+json"),
        crate::routes::common::TelegramErrors,
    ))]
#[tracing::instrument(skip_all, fields(user_id = %request.owner.user_id))]
pub async fn edit_invite(
    http: HttpRequest,
    request: OwnedJson<EditInvite>,
    state: web::Data<AppState>,
    path: web::Path<(String, u32, String)>,
) -> Result<HttpResponse, ApiError> {
    let OwnedJson { owner, body } = request;
    let change = chat::EditInviteRequest {
        invite_link: body.invite_link,
        revoke: false,
        expire_date: body.expire_date,
        usage_limit: body.usage_limit,
        title: body.title,
        request_needed: body.request_needed,
        ..chat::EditInviteRequest::default()
    };
    let key = body.client_request_id;
    change_invite(&state, &http, &owner, path, key, change).await
}

/// The pending requests to join a group, supergroup or channel the account
/// administers, newest first (`messages.getChatInviteImporters` with `requested`).
#[utoipa::path(get, path = "/me/join_requests/{user_id}/{session_index}/{chat_id}", tag = "groups",
    params(
        crate::routes::common::AccountGroupPath,
        JoinRequestsQuery,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, body = JoinRequestsView),
        (status = 403, description = "`forbidden`: another user's path; `telegram_admin_required`: only the chat's admins see requests (CHAT_ADMIN_REQUIRED); `channel_private`", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such account or chat", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: a private chat, `limit` outside 1 to 100, a cursor this list did not give", body = crate::problem::Problem, content_type = "application/problem+json"),
        crate::routes::common::TelegramErrors,
    ))]
#[tracing::instrument(skip_all, fields(user_id = %owner.user_id))]
pub async fn list_join_requests(
    owner: PathOwner,
    state: web::Data<AppState>,
    path: web::Path<(String, u32, String)>,
    query: web::Query<JoinRequestsQuery>,
) -> Result<HttpResponse, ApiError> {
    let (account, chat_id) = account_and_chat(&owner, path)?;
    let query = query.into_inner();
    let page = state
        .services
        .list_join_requests(chat::ListJoinRequestsRequest {
            account: Some(account),
            chat_id,
            limit: query.limit.unwrap_or(0),
            cursor: query.cursor,
        })
        .await?;
    Ok(HttpResponse::Ok().json(JoinRequestsView {
        requests: page
            .requests
            .into_iter()
            .map(|request| JoinRequestView {
                user_id: request.user_id,
                date: request.date,
                about: request.about,
                first_name: request.first_name,
                last_name: request.last_name,
                username: request.username,
            })
            .collect(),
        count: page.count,
        next_cursor: page.next_cursor,
    }))
}

/// Approves a request to join (the requester becomes a member: their chat list gains
/// the chat, the members' sockets get `chat.member`) or declines it (the request is
/// dropped) (`messages.hideChatJoinRequest`). The same `Idempotency-Key` (or
/// `client_request_id`) answers the first result again.
#[utoipa::path(post, path = "/me/join_requests/{user_id}/{session_index}/{chat_id}", tag = "groups", request_body = AnswerJoinRequest,
    params(
        crate::routes::common::AccountGroupPath,
        crate::routes::common::IdempotencyKeyHeader,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, body = JoinRequestAnswered),
        (status = 403, description = "`forbidden`: another user's path; `telegram_admin_required` (CHAT_ADMIN_REQUIRED); `channel_private`: the requester is banned (CHANNEL_PRIVATE)", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such account or chat, or no pending request from that user (HIDE_REQUESTER_MISSING, USER_ID_INVALID)", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`already_participant` (USER_ALREADY_PARTICIPANT); `too_many_channels` (CHANNELS_TOO_MUCH); `request_in_progress`", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: a private chat, `user` not a Telegram user id; `idempotency_key_reused`", body = crate::problem::Problem, content_type = "application/problem+json"),
        crate::routes::common::TelegramErrors,
    ))]
#[tracing::instrument(skip_all, fields(user_id = %request.owner.user_id))]
pub async fn answer_join_request(
    http: HttpRequest,
    request: OwnedJson<AnswerJoinRequest>,
    state: web::Data<AppState>,
    path: web::Path<(String, u32, String)>,
) -> Result<HttpResponse, ApiError> {
    let OwnedJson { owner, body } = request;
    let idempotency_key = idempotency_key(&http, body.client_request_id)?;
    let (account, chat_id) = account_and_chat(&owner, path)?;
    let answered = state
        .services
        .answer_join_request(chat::AnswerJoinRequestRequest {
            account: Some(account),
            chat_id,
            user: body.user,
            approve: body.approve,
            idempotency_key,
        })
        .await?;
    Ok(HttpResponse::Ok().json(JoinRequestAnswered {
        chat_id: answered.chat_id,
        user_id: answered.user_id,
        approved: answered.approved,
    }))
}
