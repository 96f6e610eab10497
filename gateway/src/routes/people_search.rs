//! `GET /me/search/people/{user_id}/{session_index}?q=&limit=`: Telegram's people search
//! (`contacts.search`) through the account's host: users by name or username, outside
//! the contact list too (the account's contacts and chats first, then others found by
//! username). The contact list itself, filtered, is `GET /me/contacts`. Not yet: paging
//! past the first `limit` (Telegram's search has no offset).

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use talkapp_proto::chat::v1 as chat;
use utoipa::{IntoParams, ToSchema};

use crate::auth::extract::PathOwner;
use crate::problem::ApiError;
use crate::routes::chats::{PresenceView, account_ref};
use crate::state::AppState;

/// People search parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PeopleQuery {
    /// 1 to 256 characters: a name or username (with or without `@`).
    pub q: String,
    /// 1 to 100 (default 20).
    pub limit: Option<u32>,
}

/// One person found.
#[derive(Debug, Serialize, ToSchema)]
pub struct PersonView {
    /// Telegram user id (a string: it can exceed 2^53); as a private chat's `chat_id`.
    pub user_id: String,
    /// First name (a contact's as the account saved it).
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Username without `@`; absent when none.
    pub username: Option<String>,
    /// Phone number (digits), when Telegram shows it.
    pub phone: Option<String>,
    /// Profile photo as a media reference; absent when none.
    pub photo_id: Option<String>,
    /// In this account's contacts.
    pub is_contact: bool,
    /// Their online state, as Telegram tells it.
    pub presence: PresenceView,
}

/// People found.
#[derive(Debug, Serialize, ToSchema)]
pub struct People {
    /// The account's contacts and chats first, then others found by username.
    pub people: Vec<PersonView>,
}

fn person_view(person: chat::Person) -> Option<PersonView> {
    let user = person.user?;
    Some(PersonView {
        user_id: user.id,
        first_name: user.first_name,
        last_name: user.last_name.unwrap_or_default(),
        username: user.username,
        phone: user.phone,
        photo_id: user.photo_id,
        is_contact: person.is_contact,
        presence: person.presence.unwrap_or_default().into(),
    })
}

/// People on Telegram by name or username (`contacts.search`), asked through the account.
#[utoipa::path(get, path = "/me/search/people/{user_id}/{session_index}", tag = "search",
    params(
        crate::routes::common::AccountPath,
        PeopleQuery,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, body = People),
        (status = 404, description = "`not_found`: no such linked account", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: `q` missing, empty or over 256 characters, `limit` 0 or over 100, `session_index` 0", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`; `telegram_flood_wait`: Telegram asks to wait (`Retry-After`)", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`telegram_unavailable`", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %owner.user_id))]
pub async fn search_people(
    owner: PathOwner,
    state: web::Data<AppState>,
    path: web::Path<(String, u32)>,
    query: web::Query<PeopleQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let reply = state
        .services
        .search_people(chat::SearchPeopleRequest {
            account: Some(account_ref(&owner, path.1)?),
            query: query.q,
            limit: query.limit.unwrap_or(20),
        })
        .await?;
    Ok(HttpResponse::Ok().json(People {
        people: reply.people.into_iter().filter_map(person_view).collect(),
    }))
}
