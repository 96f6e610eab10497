//! Search: an account's chats, an account's messages, and messages across all of the
//! user's accounts (the user's plan's endpoints, verbatim, and the cross-account one).
//!
//! `q` is plain text: every word is matched as a word prefix, ignoring case, Uzbek
//! apostrophe variants and the Latin/Cyrillic script; search syntax in it means nothing.
//! Hits come from TalkApp's index of each account's cache and from Telegram's own search
//! (`messages.search`, `messages.searchGlobal`), merged without duplicates, so a message
//! older than the cache is found too; when Telegram asks to wait or cannot be reached the
//! cached hits come alone with `partial: true`.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use talkapp_proto::search::v1 as search;
use utoipa::{IntoParams, ToSchema};

use crate::auth::extract::PathOwner;
use crate::problem::ApiError;
use crate::routes::chats::{ChatView, MessageView, checked_session_index, field_error};
use crate::state::AppState;

/// A time given as RFC 3339 or as Unix seconds, in whole seconds: rounded up for a lower
/// bound and down for an upper one, so both edges stay exact (messages carry whole
/// seconds).
fn unix_seconds(field: &str, value: Option<&str>, upper: bool) -> Result<Option<i64>, ApiError> {
    let Some(value) = value.map(str::trim).filter(|value| !value.is_empty()) else {
        return Ok(None);
    };
    let refused = || {
        field_error(
            field,
            "must be an RFC 3339 time (2026-01-31T12:00:00Z) or Unix seconds",
        )
    };
    if value.len() <= 12 && value.bytes().all(|byte| byte.is_ascii_digit()) {
        return value.parse::<i64>().map(Some).map_err(|_| refused());
    }
    let at = chrono::DateTime::parse_from_rfc3339(value).map_err(|_| refused())?;
    let seconds = at.timestamp();
    let fractional = at.timestamp_subsec_nanos() > 0;
    Ok(Some(if fractional && !upper {
        seconds + 1
    } else {
        seconds
    }))
}

fn non_empty(text: Option<String>) -> Option<String> {
    text.filter(|text| !text.is_empty())
}

/// A matched word, for highlighting: in UTF-16 code units of the text (as `entities`).
#[derive(Debug, Serialize, ToSchema)]
pub struct MatchView {
    /// Start.
    pub offset: u32,
    /// Length.
    pub length: u32,
}

fn matches(ranges: Vec<search::MatchRange>) -> Vec<MatchView> {
    ranges
        .into_iter()
        .map(|range| MatchView {
            offset: range.offset,
            length: range.length,
        })
        .collect()
}

/// A message found.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageHitView {
    /// Which linked account it belongs to.
    pub session_index: u32,
    /// The message, as in the history route.
    pub message: MessageView,
    /// Its chat (without `last_message` and `presence`), when known.
    pub chat: Option<ChatView>,
    /// Where the query's words matched in `message.text`.
    pub matches: Vec<MatchView>,
    /// `cache` (TalkApp's index) or `telegram` (Telegram's own search).
    pub source: String,
}

/// A page of messages found.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageHits {
    /// Newest first.
    pub hits: Vec<MessageHitView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
    /// True when Telegram's own search could not be asked (it asked to wait, or the
    /// account's connection was not reachable): these are the cached hits only.
    pub partial: bool,
}

/// A chat found.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatHitView {
    /// The chat (without `last_message` and `presence`).
    pub chat: ChatView,
    /// Where the query's words matched in `chat.title`.
    pub title_matches: Vec<MatchView>,
    /// Typos forgiven to match (0: every word matched as a prefix).
    pub typos: u32,
}

/// A page of chats found.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatHits {
    /// Best matches first (fewest typos, then most recent activity).
    pub hits: Vec<ChatHitView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Chat search parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChatSearchQuery {
    /// Plain text, 1 to 256 characters: words of the title, username, or (private
    /// chats) the other person's name; digits also find their phone. A typo is forgiven.
    pub q: Option<String>,
    /// Only `private`, `group`, `supergroup` or `channel` chats.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub kind: Option<String>,
    /// 1 to 100 (default 20).
    pub limit: Option<u32>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// Message search parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MessageSearchQuery {
    /// Plain text, up to 256 characters: every word a word prefix (case, Uzbek
    /// apostrophes and Latin/Cyrillic do not matter). May be empty for one account when
    /// a filter is given.
    pub q: Option<String>,
    /// Only this chat (Bot-API-style id).
    pub chat_id: Option<String>,
    /// Sent at or after (inclusive): RFC 3339 or Unix seconds.
    pub from: Option<String>,
    /// Sent at or before (inclusive): RFC 3339 or Unix seconds.
    pub to: Option<String>,
    /// Only from this sender (user or chat id).
    pub sender: Option<String>,
    /// Only `text`, `photo`, `video`, `document`, `voice` or `link` messages.
    pub kind: Option<String>,
    /// 1 to 100 (default 20).
    pub limit: Option<u32>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

fn message_request(
    owner: &PathOwner,
    session_index: Option<u32>,
    query: MessageSearchQuery,
) -> Result<search::SearchMessagesRequest, ApiError> {
    Ok(search::SearchMessagesRequest {
        user_id: owner.user_id.to_string(),
        session_index,
        query: query.q.unwrap_or_default(),
        chat_id: non_empty(query.chat_id),
        from_date: unix_seconds("from", query.from.as_deref(), false)?,
        to_date: unix_seconds("to", query.to.as_deref(), true)?,
        sender_id: non_empty(query.sender),
        kind: non_empty(query.kind),
        cursor: non_empty(query.cursor),
        limit: query.limit,
    })
}

fn message_hits(reply: search::SearchMessagesResponse) -> MessageHits {
    MessageHits {
        hits: reply
            .hits
            .into_iter()
            .filter_map(|hit| {
                Some(MessageHitView {
                    session_index: hit.session_index,
                    message: MessageView::from(hit.message?),
                    chat: hit.chat.map(ChatView::from),
                    matches: matches(hit.ranges),
                    source: hit.source,
                })
            })
            .collect(),
        next_cursor: reply.next_cursor,
        partial: reply.partial,
    }
}

/// The account's chats whose title, username or (private chats) other person's name or
/// phone match `q`, best first; a typo in a name is forgiven.
#[utoipa::path(get, path = "/me/search/chats/{user_id}/{session_index}", tag = "search",
    params(
        ("user_id" = uuid::Uuid, Path, description = "TalkApp user id; must be the token's user"),
        ("session_index" = u32, Path, description = "Which linked account (1, 2, ...)"),
        ChatSearchQuery,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, body = ChatHits),
        (status = 404, description = "`not_found`: no such linked account", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: empty `q`, `q` over 256 characters, unknown `type`, `limit` over 100, a foreign cursor", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %owner.user_id))]
pub async fn search_chats(
    owner: PathOwner,
    state: web::Data<AppState>,
    path: web::Path<(String, u32)>,
    query: web::Query<ChatSearchQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let reply = state
        .services
        .search_chats(search::SearchChatsRequest {
            user_id: owner.user_id.to_string(),
            session_index: checked_session_index(path.1)?,
            query: query.q.unwrap_or_default(),
            kind: non_empty(query.kind),
            cursor: non_empty(query.cursor),
            limit: query.limit,
        })
        .await?;
    Ok(HttpResponse::Ok().json(ChatHits {
        hits: reply
            .hits
            .into_iter()
            .filter_map(|hit| {
                Some(ChatHitView {
                    chat: ChatView::from(hit.chat?),
                    title_matches: matches(hit.title_ranges),
                    typos: hit.typos,
                })
            })
            .collect(),
        next_cursor: reply.next_cursor,
    }))
}

/// The account's messages matching `q` and the filters, newest first, each with its chat
/// and the matched words.
#[utoipa::path(get, path = "/me/search/messages/{user_id}/{session_index}", tag = "search",
    params(
        ("user_id" = uuid::Uuid, Path, description = "TalkApp user id; must be the token's user"),
        ("session_index" = u32, Path, description = "Which linked account (1, 2, ...)"),
        MessageSearchQuery,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, body = MessageHits),
        (status = 404, description = "`not_found`: no such linked account", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: no `q` and no filter, `q` over 256 characters, `from` after `to`, an invalid date, unknown `kind`, `limit` over 100, a foreign cursor", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %owner.user_id))]
pub async fn search_messages(
    owner: PathOwner,
    state: web::Data<AppState>,
    path: web::Path<(String, u32)>,
    query: web::Query<MessageSearchQuery>,
) -> Result<HttpResponse, ApiError> {
    let request = message_request(
        &owner,
        Some(checked_session_index(path.1)?),
        query.into_inner(),
    )?;
    let reply = state.services.search_messages(request).await?;
    Ok(HttpResponse::Ok().json(message_hits(reply)))
}

/// Messages matching `q` across all the user's linked accounts, newest first; each hit
/// names its `session_index`.
#[utoipa::path(get, path = "/me/search/messages/{user_id}", tag = "search",
    params(
        ("user_id" = uuid::Uuid, Path, description = "TalkApp user id; must be the token's user"),
        MessageSearchQuery,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, body = MessageHits),
        (status = 422, description = "`validation_failed`: empty `q`, `q` over 256 characters, `from` after `to`, an invalid date, unknown `kind`, `limit` over 100, a foreign cursor", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %owner.user_id))]
pub async fn search_all_messages(
    owner: PathOwner,
    state: web::Data<AppState>,
    query: web::Query<MessageSearchQuery>,
) -> Result<HttpResponse, ApiError> {
    let request = message_request(&owner, None, query.into_inner())?;
    let reply = state.services.search_messages(request).await?;
    Ok(HttpResponse::Ok().json(message_hits(reply)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc3339_or_unix_seconds_and_stay_exact_at_the_edges() {
        assert_eq!(
            unix_seconds("from", Some("1700000000"), false).expect("unix"),
            Some(1_700_000_000)
        );
        assert_eq!(
            unix_seconds("from", Some("2023-11-14T22:13:20Z"), false).expect("rfc"),
            Some(1_700_000_000)
        );
        assert_eq!(
            unix_seconds("from", Some("2023-11-14T22:13:20.5Z"), false).expect("rfc"),
            Some(1_700_000_001),
            "a lower bound inside a second starts at the next"
        );
        assert_eq!(
            unix_seconds("to", Some("2023-11-14T22:13:20.5Z"), true).expect("rfc"),
            Some(1_700_000_000)
        );
        assert_eq!(
            unix_seconds("to", Some("2023-11-15T03:13:20+05:00"), true).expect("offset"),
            Some(1_700_000_000)
        );
        assert_eq!(unix_seconds("to", None, true).expect("absent"), None);
        for bad in [
            "yesterday",
            "2023-13-01T00:00:00Z",
            "-5",
            "1e9",
            "99999999999999999999",
        ] {
            assert!(unix_seconds("from", Some(bad), false).is_err(), "{bad}");
        }
    }
}
