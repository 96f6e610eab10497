//! Groups and channels: creating one and adding members, for one linked account
//! (`{session_index}`) of the path's user. Both are done once per `Idempotency-Key`
//! header (or `client_request_id`): a retry gets the first answer.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use talkapp_proto::chat::v1 as chat;
use utoipa::ToSchema;

use crate::auth::extract::OwnedJson;
use crate::problem::ApiError;
use crate::routes::chats::{ChatView, account_and_chat, account_ref, field_error};
use crate::state::AppState;

/// The header that makes a request idempotent.
const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
/// Most members in one request (Telegram's limit for one call).
const MAX_MEMBERS: usize = 200;

/// A group or channel to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroup {
    /// 1 to 128 characters, one line.
    pub title: String,
    /// `group` (a basic group: at least one member), `supergroup` or `channel`.
    #[schema(pattern = "^(group|supergroup|channel)$")]
    pub kind: String,
    /// Who to add: Telegram user ids (numbers or strings), `@username`s or `+phone`
    /// numbers; up to 200. A user whose privacy keeps them out is listed in the answer's
    /// `missing_members`, not an error.
    #[serde(default)]
    #[schema(value_type = Vec<String>, max_items = 200)]
    pub members: Vec<serde_json::Value>,
    /// The description, up to 255 characters (supergroups and channels only; for a
    /// basic group: 422, not done yet).
    pub about: Option<String>,
    /// Idempotency key, when the `Idempotency-Key` header is not used (up to 128
    /// printable ASCII characters).
    pub client_request_id: Option<String>,
}

/// A group or channel just created.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedGroup {
    /// The chat, as the chat list shows it.
    #[serde(flatten)]
    pub chat: ChatView,
    /// Telegram user ids their privacy settings kept out (Telegram's
    /// `missing_invitees`); invite them by link instead.
    pub missing_members: Vec<String>,
}

/// A member to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    /// A Telegram user id (number or string), `@username` or `+phone`.
    #[schema(value_type = String)]
    pub user: serde_json::Value,
    /// Idempotency key, when the `Idempotency-Key` header is not used.
    pub client_request_id: Option<String>,
}

/// A member added.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberAdded {
    /// The chat.
    pub chat_id: String,
    /// The Telegram user added.
    pub user_id: String,
}

/// A member as text: a JSON number is a user id.
pub(crate) fn member_text(field: &str, value: &serde_json::Value) -> Result<String, ApiError> {
    match value {
        serde_json::Value::String(text) => Ok(text.clone()),
        serde_json::Value::Number(number) if number.is_i64() => Ok(number.to_string()),
        _ => Err(field_error(
            field,
            "must be a user id, @username or +phone number",
        )),
    }
}

/// The idempotency key of a request: the header or `client_request_id` (the same one
/// when both are given).
pub(crate) fn idempotency_key(
    request: &HttpRequest,
    body_key: Option<String>,
) -> Result<Option<String>, ApiError> {
    let header = match request.headers().get(IDEMPOTENCY_KEY_HEADER) {
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| field_error("Idempotency-Key", "must be printable ASCII"))?
                .to_owned(),
        ),
        None => None,
    };
    match (header, body_key) {
        (Some(header), Some(body)) if header != body => Err(field_error(
            "client_request_id",
            "differs from the Idempotency-Key header; give one of them",
        )),
        (Some(key), _) | (None, Some(key)) => Ok(Some(key)),
        (None, None) => Ok(None),
    }
}

/// Creates a basic group, supergroup or broadcast channel through the account, adds the
/// members, and answers 201 with the chat as the chat list shows it. The same
/// `Idempotency-Key` (or `client_request_id`) answers the first chat again.
#[utoipa::path(post, path = "/me/create_group/{user_id}/{session_index}", tag = "groups", request_body = CreateGroup,
    params(
        crate::routes::common::AccountPath,
        crate::routes::common::IdempotencyKeyHeader,
    ),
    security(("bearer" = [])),
    responses(
        (status = 201, body = CreatedGroup),
        (status = 404, description = "`not_found`: no such linked account, or a member Telegram does not know", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`request_in_progress`: the first request with this key is still running", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`; `idempotency_key_reused`: the key was used for another request", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 429, description = "`telegram_flood_wait` (Telegram's FLOOD_WAIT or PEER_FLOOD), with `Retry-After`", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`telegram_unavailable`", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %request.owner.user_id))]
pub async fn create_group(
    http: HttpRequest,
    request: OwnedJson<CreateGroup>,
    state: web::Data<AppState>,
    path: web::Path<(String, u32)>,
) -> Result<HttpResponse, ApiError> {
    let OwnedJson { owner, body } = request;
    if body.members.len() > MAX_MEMBERS {
        return Err(field_error("members", "at most 200 members at once"));
    }
    let members = body
        .members
        .iter()
        .map(|member| member_text("members", member))
        .collect::<Result<Vec<_>, _>>()?;
    let idempotency_key = idempotency_key(&http, body.client_request_id)?;
    let created = state
        .services
        .create_group(chat::CreateGroupRequest {
            account: Some(account_ref(&owner, path.1)?),
            title: body.title,
            kind: body.kind,
            about: body.about,
            members,
            idempotency_key,
        })
        .await?;
    let chat = created
        .chat
        .ok_or_else(|| ApiError::internal("a created group without the chat"))?;
    Ok(HttpResponse::Created().json(CreatedGroup {
        chat: ChatView::from(chat),
        missing_members: created.missing_members,
    }))
}

/// Adds a user (id, `@username` or `+phone`) to a group, supergroup or channel through
/// the account. The same `Idempotency-Key` (or `client_request_id`) answers the first
/// result again.
#[utoipa::path(post, path = "/me/add_member/{user_id}/{session_index}/{chat_id}", tag = "groups", request_body = AddMember,
    params(
        crate::routes::common::AccountGroupPath,
        crate::routes::common::IdempotencyKeyHeader,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, body = MemberAdded),
        (status = 403, description = "`forbidden`: another user's path; `telegram_privacy_restricted`: the user's privacy settings do not let this account add them; `telegram_admin_required`: only admins may add members here", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such account or chat (CHANNEL_INVALID, PEER_ID_INVALID), or no such user", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`already_participant`: the user is a member already; `request_in_progress`", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`; `idempotency_key_reused`", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 429, description = "`telegram_flood_wait` (FLOOD_WAIT or PEER_FLOOD), with `Retry-After`", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`telegram_unavailable`", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %request.owner.user_id))]
pub async fn add_member(
    http: HttpRequest,
    request: OwnedJson<AddMember>,
    state: web::Data<AppState>,
    path: web::Path<(String, u32, String)>,
) -> Result<HttpResponse, ApiError> {
    let OwnedJson { owner, body } = request;
    let user = member_text("user", &body.user)?;
    let idempotency_key = idempotency_key(&http, body.client_request_id)?;
    let (account, chat_id) = account_and_chat(&owner, path)?;
    let added = state
        .services
        .add_member(chat::AddMemberRequest {
            account: Some(account),
            chat_id,
            user,
            idempotency_key,
        })
        .await?;
    Ok(HttpResponse::Ok().json(MemberAdded {
        chat_id: added.chat_id,
        user_id: added.user_id,
    }))
}
