//! `GET /me/contacts/{user_id}/{session_index}`: the account's contacts (Telegram's
//! `contacts.getContacts`, asked through the account's host), with their presence,
//! filtered by `q` as chat search filters chats (word prefixes, Uzbek apostrophes,
//! Latin/Cyrillic, a typo forgiven in names, phone digits), paged by cursor.
//!
//! Served by search-service, which asks the chat service for the list: the same folding
//! as search, in one place. People outside the list (`contacts.search`) are found by
//! `GET /me/search/people` (`people_search`); contacts are added and deleted by
//! `contact_changes`.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use talkapp_proto::chat::v1 as chat;
use talkapp_proto::search::v1 as search;
use utoipa::{IntoParams, ToSchema};

use crate::auth::extract::PathOwner;
use crate::problem::ApiError;
use crate::routes::chats::PresenceView;
use crate::routes::chats::checked_session_index;
use crate::routes::search::MatchView;
use crate::state::AppState;

/// Contact list parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ContactsQuery {
    /// Up to 256 characters: words of the name or username (every word a prefix; a typo
    /// is forgiven), or 3+ digits of the phone. Absent or empty: every contact, by name.
    pub q: Option<String>,
    /// 1 to 100 (default 20).
    pub limit: Option<u32>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// One contact.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactView {
    /// Telegram user id (a string: it can exceed 2^53); as a private chat's `chat_id`.
    pub user_id: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Username without `@`; absent when none.
    pub username: Option<String>,
    /// Phone number (digits), when Telegram shows it.
    pub phone: Option<String>,
    /// Profile photo as a media reference for `GET /me/media/{user_id}/{session_index}/{media_ref}`;
    /// absent when none.
    pub photo_id: Option<String>,
    /// Whether they have this account in their contacts too.
    pub mutual: bool,
    /// Their online state, as Telegram tells it.
    pub presence: PresenceView,
    /// Where the query's words matched in "first_name last_name".
    pub name_matches: Vec<MatchView>,
    /// Typos forgiven to match (0: every word matched as a prefix, or no `q`).
    pub typos: u32,
}

/// A page of contacts.
#[derive(Debug, Serialize, ToSchema)]
pub struct Contacts {
    /// Best matches first (fewest typos, then by name); without `q`, by name.
    pub contacts: Vec<ContactView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl ContactView {
    /// A contact as the chat service or search service gives it, without matches (none
    /// when it names no user).
    pub(crate) fn from_contact(contact: chat::Contact) -> Option<Self> {
        let user = contact.user?;
        Some(Self {
            user_id: user.id,
            first_name: user.first_name,
            last_name: user.last_name.unwrap_or_default(),
            username: user.username,
            phone: user.phone,
            photo_id: user.photo_id,
            mutual: contact.mutual,
            presence: contact.presence.unwrap_or_default().into(),
            name_matches: Vec::new(),
            typos: 0,
        })
    }
}

fn contact_view(hit: search::ContactHit) -> Option<ContactView> {
    Some(ContactView {
        name_matches: hit
            .name_ranges
            .into_iter()
            .map(|range| MatchView {
                offset: range.offset,
                length: range.length,
            })
            .collect(),
        typos: hit.typos,
        ..ContactView::from_contact(hit.contact?)?
    })
}

/// The account's contacts with their presence, filtered by `q` when given.
#[utoipa::path(get, path = "/me/contacts/{user_id}/{session_index}", tag = "search",
    params(
        ("user_id" = uuid::Uuid, Path, description = "TalkApp user id; must be the token's user"),
        ("session_index" = u32, Path, description = "Which linked account (1, 2, ...)"),
        ContactsQuery,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Contacts),
        (status = 404, description = "`not_found`: no such linked account", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: `q` over 256 characters, `limit` over 100 or 0, `session_index` 0, a foreign cursor", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`; `telegram_flood_wait`: Telegram asks to wait (`Retry-After`)", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`telegram_unavailable`: the account's Telegram connection is not reachable now (`Retry-After`)", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %owner.user_id))]
pub async fn contacts(
    owner: PathOwner,
    state: web::Data<AppState>,
    path: web::Path<(String, u32)>,
    query: web::Query<ContactsQuery>,
) -> Result<HttpResponse, ApiError> {
    let session_index = checked_session_index(path.1)?;
    let query = query.into_inner();
    let reply = state
        .services
        .search_contacts(search::SearchContactsRequest {
            user_id: owner.user_id.to_string(),
            session_index,
            query: query.q.unwrap_or_default(),
            cursor: query.cursor.filter(|cursor| !cursor.is_empty()),
            limit: query.limit,
        })
        .await?;
    Ok(HttpResponse::Ok().json(Contacts {
        contacts: reply.hits.into_iter().filter_map(contact_view).collect(),
        next_cursor: reply.next_cursor,
    }))
}
