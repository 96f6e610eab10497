//! Joining a group or channel by username or invite link, an invite link's preview, and
//! exporting a new link, for one linked account (`{session_index}`) of the path's user.
//! Joining is done once per `Idempotency-Key` header (or `client_request_id`): a retry
//! gets the first answer. The requests are checked by the chat service (exactly one of
//! username and invite link, their spellings and lengths) before Telegram is asked.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use talkapp_proto::chat::v1 as chat;
use utoipa::{IntoParams, ToSchema};

use crate::auth::extract::{OwnedJson, PathOwner};
use crate::problem::ApiError;
use crate::routes::chats::{ChatView, account_and_chat, account_ref};
use crate::routes::groups::idempotency_key;
use crate::state::AppState;

/// A chat to join: exactly one of `username` and `invite_link`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinChat {
    /// A public supergroup's or channel's username: `@name`, `name` or `t.me/name`
    /// (up to 256 characters).
    pub username: Option<String>,
    /// An invite link: `https://t.me/+HASH`, `t.me/joinchat/HASH` or
    /// `tg://join?invite=HASH` (up to 256 characters).
    pub invite_link: Option<String>,
    /// Idempotency key, when the `Idempotency-Key` header is not used.
    pub client_request_id: Option<String>,
}

/// A request to join was sent instead of joining: the link needs an admin's approval.
#[derive(Debug, Serialize, ToSchema)]
pub struct JoinRequested {
    /// Always `true`.
    pub pending_approval: bool,
}

/// The invite link to look at.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CheckInviteQuery {
    /// An invite link, in any of the spellings `join_chat` takes.
    pub invite_link: String,
}

/// What an invite link shows.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitePreviewView {
    /// The account is in the chat already; `chat` is then the chat as listed.
    pub already_member: bool,
    /// The chat, when the account is a member (and the chat is cached).
    pub chat: Option<ChatView>,
    /// The chat's id, when the account is a member.
    pub chat_id: Option<String>,
    /// The chat's title.
    pub title: String,
    /// Its description; absent when none.
    pub about: Option<String>,
    /// `group`, `supergroup` or `channel`.
    pub kind: String,
    /// How many members it has, where known.
    pub members_count: Option<i32>,
    /// Joining needs an admin's approval (`join_chat` then answers 202).
    pub request_needed: bool,
    /// The chat is public (has a username).
    pub public: bool,
}

/// A link to export (an empty object is fine).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportInvite {
    /// When the link stops working, Unix seconds in the future; absent: never.
    pub expire_date: Option<i64>,
    /// How many may join through it, 1 to 99999; absent: no limit.
    pub usage_limit: Option<i32>,
    /// A name for it, up to 32 characters (only admins see it).
    pub title: Option<String>,
    /// Joining needs an admin's approval (then no `usage_limit`).
    #[serde(default)]
    pub request_needed: bool,
}

/// An exported invite link.
#[derive(Debug, Serialize, ToSchema)]
pub struct InviteLinkView {
    /// `https://t.me/+HASH`.
    pub link: String,
    /// The chat.
    pub chat_id: String,
    /// The Telegram user who made it.
    pub admin_id: String,
    /// When, Unix seconds.
    pub date: i64,
    /// When it stops working, Unix seconds; absent: never.
    pub expire_date: Option<i64>,
    /// How many may join through it; absent: no limit.
    pub usage_limit: Option<i32>,
    /// How many joined through it.
    pub usage: i32,
    /// Its name.
    pub title: Option<String>,
    /// Joining needs an admin's approval.
    pub request_needed: bool,
    /// Revoked.
    pub revoked: bool,
    /// The chat's permanent link.
    pub permanent: bool,
    /// How many requests to join through it wait for an admin.
    pub requested: i32,
}

/// Joins a public supergroup or channel by username (`contacts.resolveUsername`, then
/// `channels.joinChannel`) or a chat by invite link (`messages.importChatInvite`)
/// through the account; answers 200 with the chat as the chat list shows it (and the
/// account's sockets get `chat.updated`), or 202 `{pending_approval: true}` when the link
/// needs an admin's approval. The same `Idempotency-Key` (or `client_request_id`)
/// answers the first result again.
#[utoipa::path(post, path = "/me/join_chat/{user_id}/{session_index}", tag = "groups", request_body = JoinChat,
    params(
        crate::routes::common::AccountPath,
        crate::routes::common::IdempotencyKeyHeader,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, body = ChatView),
        (status = 202, description = "The link needs an admin's approval: a request to join was sent (INVITE_REQUEST_SENT)", body = JoinRequested),
        (status = 403, description = "`forbidden`: another user's path; `channel_private`: the channel is private or the account was banned from it (CHANNEL_PRIVATE)", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such linked account, or no chat with that username (USERNAME_NOT_OCCUPIED, a user's username); `invite_invalid`: no such invite link (INVITE_HASH_INVALID, INVITE_HASH_EMPTY)", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`already_participant`: the account is a member already (USER_ALREADY_PARTICIPANT); `too_many_channels`: the account is in as many supergroups and channels as Telegram allows (CHANNELS_TOO_MUCH); `request_in_progress`", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 410, description = "`invite_expired`: the link was revoked, expired or used up (INVITE_HASH_EXPIRED)", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: both or neither of username and invite_link, a link that is not an invite, a malformed username, over 256 characters; `idempotency_key_reused`", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 429, description = "`telegram_flood_wait` (FLOOD_WAIT), with `Retry-After`", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`telegram_unavailable`", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %request.owner.user_id))]
pub async fn join_chat(
    http: HttpRequest,
    request: OwnedJson<JoinChat>,
    state: web::Data<AppState>,
    path: web::Path<(String, u32)>,
) -> Result<HttpResponse, ApiError> {
    let OwnedJson { owner, body } = request;
    let idempotency_key = idempotency_key(&http, body.client_request_id)?;
    let joined = state
        .services
        .join_chat(chat::JoinChatRequest {
            account: Some(account_ref(&owner, path.1)?),
            username: body.username,
            invite_link: body.invite_link,
            idempotency_key,
        })
        .await?;
    match joined.chat {
        Some(chat) => Ok(HttpResponse::Ok().json(ChatView::from(chat))),
        None if joined.pending_approval => Ok(HttpResponse::Accepted().json(JoinRequested {
            pending_approval: true,
        })),
        None => Err(ApiError::internal("a join without the chat")),
    }
}

/// What an invite link shows (`messages.checkChatInvite`): the chat's title, about,
/// kind, member count and whether joining needs approval; or, when the account is in it
/// already, the chat itself with `already_member: true`.
#[utoipa::path(get, path = "/me/check_invite/{user_id}/{session_index}", tag = "groups",
    params(
        crate::routes::common::AccountPath,
        CheckInviteQuery,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, body = InvitePreviewView),
        (status = 404, description = "`not_found`: no such linked account; `invite_invalid`: no such invite link", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 410, description = "`invite_expired`: the link was revoked, expired or used up", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: not an invite link, or over 256 characters", body = crate::problem::Problem, content_type = "application/problem+json"),
        crate::routes::common::TelegramErrors,
    ))]
#[tracing::instrument(skip_all, fields(user_id = %owner.user_id))]
pub async fn check_invite(
    owner: PathOwner,
    state: web::Data<AppState>,
    path: web::Path<(String, u32)>,
    query: web::Query<CheckInviteQuery>,
) -> Result<HttpResponse, ApiError> {
    let preview = state
        .services
        .check_invite(chat::CheckInviteRequest {
            account: Some(account_ref(&owner, path.1)?),
            invite_link: query.into_inner().invite_link,
        })
        .await?;
    Ok(HttpResponse::Ok().json(InvitePreviewView {
        already_member: preview.already_member,
        chat: preview.chat.map(ChatView::from),
        chat_id: preview.chat_id,
        title: preview.title,
        about: preview.about,
        kind: preview.kind,
        members_count: preview.members_count,
        request_needed: preview.request_needed,
        public: preview.public,
    }))
}

/// Exports a new invite link to a group, supergroup or channel the account administers
/// (`messages.exportChatInvite`); answers 201 with the link.
#[utoipa::path(post, path = "/me/export_invite/{user_id}/{session_index}/{chat_id}", tag = "groups", request_body = ExportInvite,
    params(
        crate::routes::common::AccountGroupPath,
    ),
    security(("bearer" = [])),
    responses(
        (status = 201, body = InviteLinkView),
        (status = 403, description = "`forbidden`: another user's path; `telegram_admin_required`: only the chat's admins export links (CHAT_ADMIN_REQUIRED); `channel_private`", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such account or chat", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: a private chat, `expire_date` not in the future, `usage_limit` outside 1 to 99999 (or with `request_needed`), a title over 32 characters", body = crate::problem::Problem, content_type = "application/problem+json"),
        crate::routes::common::TelegramErrors,
    ))]
#[tracing::instrument(skip_all, fields(user_id = %request.owner.user_id))]
pub async fn export_invite(
    request: OwnedJson<ExportInvite>,
    state: web::Data<AppState>,
    path: web::Path<(String, u32, String)>,
) -> Result<HttpResponse, ApiError> {
    let OwnedJson { owner, body } = request;
    let (account, chat_id) = account_and_chat(&owner, path)?;
    let link = state
        .services
        .export_invite(chat::ExportInviteRequest {
            account: Some(account),
            chat_id,
            expire_date: body.expire_date,
            usage_limit: body.usage_limit,
            title: body.title,
            request_needed: body.request_needed,
        })
        .await?;
    Ok(HttpResponse::Created().json(InviteLinkView::from(link)))
}

impl From<chat::InviteLink> for InviteLinkView {
    fn from(link: chat::InviteLink) -> Self {
        Self {
            link: link.link,
            chat_id: link.chat_id,
            admin_id: link.admin_id,
            date: link.date,
            expire_date: link.expire_date,
            usage_limit: link.usage_limit,
            usage: link.usage,
            title: link.title,
            request_needed: link.request_needed,
            revoked: link.revoked,
            permanent: link.permanent,
            requested: link.requested,
        }
    }
}
