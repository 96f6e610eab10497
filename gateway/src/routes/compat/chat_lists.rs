//! Private chats and groups of one of the caller's accounts (contract §5), from TalkApp's
//! cache of the account (no Telegram round trip).

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use talkapp_proto::chat::v1 as chat;
use utoipa::{IntoParams, ToSchema};

use super::{CompatError, account_index, account_ref, field_error, id_number, non_empty};
use crate::auth::extract::Caller;
use crate::problem::ApiError;
use crate::state::AppState;

/// The avatar path the legacy backend sends for a chat without a photo; `photo_url` may
/// not be null in the contract (and, as before, this path does not resolve: the frontend
/// shows initials when `has_photo` is false).
pub const DEFAULT_AVATAR: &str = "/media/avatars/default.jpg";

/// Chat list size.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DialogQuery {
    /// 1 to 100 (default 10).
    #[param(minimum = 1, maximum = 100)]
    pub dialog_limit: Option<u32>,
}

/// A private chat.
#[derive(Debug, Serialize, ToSchema)]
pub struct PrivateChatOut {
    /// The other user's Telegram id (= chat id, positive).
    pub id: i64,
    /// Their name; null when empty (deleted accounts).
    pub full_name: Option<String>,
    /// Username without `@`.
    pub username: Option<String>,
    /// `online`, `offline`, `recently`, `last_week`, `last_month`, `long_ago` or null
    /// (unknown), as Telegram last told (its status updates keep the cache current).
    pub last_seen: Option<String>,
    /// Online now (`last_seen` is `online` and has not lapsed).
    pub is_online: bool,
    /// The chat has a photo.
    pub has_photo: bool,
    /// Root-relative avatar URL (see [`DEFAULT_AVATAR`]).
    pub photo_url: String,
    /// Telegram Premium (not cached: always false).
    pub is_premium: bool,
    /// Emoji status sticker URL (none yet: null).
    pub emoji_url: Option<String>,
}

/// A group or supergroup.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupOut {
    /// Negative chat id (`-N` groups, `-100…` supergroups).
    pub id: i64,
    /// Title.
    pub title: String,
    /// Public username.
    pub username: Option<String>,
    /// Members, 0 when unknown.
    pub member_count: i32,
    /// Members online: always 0 for now (not yet done). Only Telegram knows, one call per
    /// group, which a list of up to 100 groups must not make each time (FLOOD_WAIT would
    /// stop the whole account); the legacy backend also answered 0 when it could not tell.
    /// `GET /me/chat/{user_id}/{session_index}/{chat_id}` has the count.
    pub online_count: i32,
    /// The group has a photo.
    pub has_photo: bool,
    /// Root-relative avatar URL (see [`DEFAULT_AVATAR`]).
    pub photo_url: String,
}

/// `GET /me/private_chats/{session_index}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PrivateChatsOut {
    /// Always `true`.
    pub ok: bool,
    /// `items.len()`.
    pub count: usize,
    /// Newest activity first.
    pub items: Vec<PrivateChatOut>,
}

/// `GET /me/groups/{session_index}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupsOut {
    /// Always `true`.
    pub ok: bool,
    /// `items.len()`.
    pub count: usize,
    /// Newest activity first.
    pub items: Vec<GroupOut>,
}

/// Whether a presence says online now: Telegram's online state lapses at its `at`
/// unless renewed, and the lapse sends no update.
fn is_online(presence: Option<&chat::Presence>, now: chrono::DateTime<chrono::Utc>) -> bool {
    presence.is_some_and(|presence| {
        presence.status == "online"
            && presence
                .at
                .as_deref()
                .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
                .is_some_and(|until| until.with_timezone(&chrono::Utc) > now)
    })
}

/// The legacy `last_seen` word of a presence; a lapsed online state reads `offline`.
fn last_seen(
    presence: Option<&chat::Presence>,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<String> {
    let presence = presence?;
    match presence.status.as_str() {
        "online" if is_online(Some(presence), now) => Some("online".to_owned()),
        "online" | "offline" => Some("offline".to_owned()),
        "recently" | "last_week" | "last_month" => Some(presence.status.clone()),
        _ => None,
    }
}

fn dialog_limit(query: &DialogQuery) -> Result<u32, ApiError> {
    match query.dialog_limit {
        None => Ok(10),
        Some(limit) if (1..=100).contains(&limit) => Ok(limit),
        Some(_) => Err(field_error("dialog_limit", "must be 1 to 100")),
    }
}

/// Up to `limit` chats of `kinds`, newest activity first (the cache's order).
/// The chats of `kinds` of the path's account (`{session_index}`), as many as the query
/// asks for, and the links to their photos.
async fn account_chats<'a>(
    state: &'a AppState,
    caller: &Caller,
    session_index: &str,
    query: &DialogQuery,
    kinds: &[&str],
) -> Result<(Vec<chat::Chat>, super::media::Links<'a>), CompatError> {
    let index = account_index("session_index", session_index)?;
    let limit = dialog_limit(query)?;
    let account = account_ref(caller.0.user_id, index);
    let chats = chats_of_kinds(state, &account, kinds, limit).await?;
    Ok((chats, super::media::Links::new(state, &caller.0, index)))
}

async fn chats_of_kinds(
    state: &AppState,
    account: &chat::AccountRef,
    kinds: &[&str],
    limit: u32,
) -> Result<Vec<chat::Chat>, ApiError> {
    let replies = futures::future::try_join_all(kinds.iter().map(|kind| {
        state.chat_reads.list_chats(chat::ListChatsRequest {
            account: Some(account.clone()),
            kind: Some((*kind).to_owned()),
            limit: Some(limit),
            ..chat::ListChatsRequest::default()
        })
    }))
    .await?;
    let mut chats: Vec<chat::Chat> = replies.into_iter().flat_map(|reply| reply.chats).collect();
    if kinds.len() > 1 {
        // RFC 3339 UTC strings of one format order as their times.
        chats.sort_by(|a, b| {
            b.last_activity
                .cmp(&a.last_activity)
                .then_with(|| id_number(&b.chat_id).cmp(&id_number(&a.chat_id)))
        });
    }
    chats.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(chats)
}

/// The account's private chats (bots included: TalkApp does not tell them apart yet).
#[utoipa::path(get, path = "/me/private_chats/{session_index}", tag = "torextalkweb",
    params(
        ("session_index" = String, Path, description = "The account `index` from `/me/telegrams`"),
        DialogQuery,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, body = PrivateChatsOut),
        (status = 404, description = "`not_found`: the caller has no such account", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %caller.0.user_id))]
pub async fn private_chats(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<DialogQuery>,
) -> Result<HttpResponse, CompatError> {
    let (chats, links) = account_chats(&state, &caller, &path, &query, &["private"]).await?;
    let now = chrono::Utc::now();
    let items: Vec<PrivateChatOut> = chats
        .into_iter()
        .map(|chat| PrivateChatOut {
            id: id_number(&chat.chat_id),
            full_name: non_empty(chat.title),
            username: chat.username,
            last_seen: last_seen(chat.presence.as_ref(), now),
            is_online: is_online(chat.presence.as_ref(), now),
            has_photo: chat.photo_id.is_some(),
            photo_url: links.photo_url(chat.photo_id.as_deref()),
            is_premium: false,
            emoji_url: None,
        })
        .collect();
    Ok(HttpResponse::Ok().json(PrivateChatsOut {
        ok: true,
        count: items.len(),
        items,
    }))
}

/// The account's groups and supergroups (channels left out).
#[utoipa::path(get, path = "/me/groups/{session_index}", tag = "torextalkweb",
    params(
        ("session_index" = String, Path, description = "The account `index` from `/me/telegrams`"),
        DialogQuery,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, body = GroupsOut),
        (status = 404, description = "`not_found`: the caller has no such account", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %caller.0.user_id))]
pub async fn groups(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<DialogQuery>,
) -> Result<HttpResponse, CompatError> {
    let (chats, links) =
        account_chats(&state, &caller, &path, &query, &["group", "supergroup"]).await?;
    let items: Vec<GroupOut> = chats
        .into_iter()
        .map(|chat| GroupOut {
            id: id_number(&chat.chat_id),
            title: chat.title,
            username: chat.username,
            member_count: chat.members_count.unwrap_or(0),
            online_count: 0,
            has_photo: chat.photo_id.is_some(),
            photo_url: links.photo_url(chat.photo_id.as_deref()),
        })
        .collect();
    Ok(HttpResponse::Ok().json(GroupsOut {
        ok: true,
        count: items.len(),
        items,
    }))
}
