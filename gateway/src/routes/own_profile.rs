//! `GET` and `PATCH /me/profile/{user_id}/{session_index}`: the linked account's own
//! Telegram profile (in the shape of `GET /me/user_profile`), and changing its first and
//! last name, bio and username (`account.updateProfile`, `account.updateUsername`).
//! The session list (`GET /me/sessions`, `/me/telegrams`) shows the new names after a
//! change. The profile photo has routes of its own ([`crate::routes::photos`]).

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use talkapp_proto::chat::v1 as chat;
use utoipa::ToSchema;

use crate::auth::extract::{OwnedJson, PathOwner};
use crate::problem::ApiError;
use crate::routes::chats::account_ref;
use crate::routes::profiles::{UserProfileView, profile_view};
use crate::state::AppState;

/// What to change; absent fields stay as they are (at least one is needed).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileUpdate {
    /// 1 to 64 characters, one line.
    #[schema(min_length = 1, max_length = 64)]
    pub first_name: Option<String>,
    /// Up to 64 characters, one line; empty removes it.
    #[schema(max_length = 64)]
    pub last_name: Option<String>,
    /// Up to 70 characters (Telegram's limit without Premium), one line; empty removes it.
    #[schema(max_length = 70)]
    pub bio: Option<String>,
    /// 5 to 32 letters, digits and underscores, starting with a letter (without `@`);
    /// empty removes it.
    #[schema(max_length = 32, pattern = "^([a-zA-Z0-9_]{5,32})?$")]
    pub username: Option<String>,
}

/// The account's own profile, as Telegram has it now.
#[utoipa::path(get, path = "/me/profile/{user_id}/{session_index}", tag = "profiles",
    params(
        crate::routes::common::AccountPath,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, body = UserProfileView),
        (status = 404, description = "`not_found`: no such linked account", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: `session_index` 0", body = crate::problem::Problem, content_type = "application/problem+json"),
        crate::routes::common::TelegramErrors,
    ))]
#[tracing::instrument(skip_all, fields(user_id = %owner.user_id))]
pub async fn own_profile(
    owner: PathOwner,
    state: web::Data<AppState>,
    path: web::Path<(String, u32)>,
) -> Result<HttpResponse, ApiError> {
    let profile = state
        .services
        .own_profile(chat::GetOwnProfileRequest {
            account: Some(account_ref(&owner, path.1)?),
        })
        .await?;
    Ok(HttpResponse::Ok().json(profile_view(profile)?))
}

/// Changes the account's names, bio and username at Telegram; answers the profile as it
/// is afterwards. The limits are checked before Telegram is asked. A username the account
/// has already is no error. The username is changed first: when it is refused nothing
/// changes.
#[utoipa::path(patch, path = "/me/profile/{user_id}/{session_index}", tag = "profiles", request_body = ProfileUpdate,
    params(
        crate::routes::common::AccountPath,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, body = UserProfileView),
        (status = 404, description = "`not_found`: no such linked account", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`username_taken`: another user or channel holds the username (USERNAME_OCCUPIED)", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: nothing to change, a name, bio or username over the limits (also Telegram's FIRST_NAME_INVALID, ABOUT_TOO_LONG); `username_invalid`: Telegram does not accept the username (USERNAME_INVALID)", body = crate::problem::Problem, content_type = "application/problem+json"),
        crate::routes::common::TelegramErrors,
    ))]
#[tracing::instrument(skip_all, fields(user_id = %request.owner.user_id))]
pub async fn update_own_profile(
    request: OwnedJson<ProfileUpdate>,
    state: web::Data<AppState>,
    path: web::Path<(String, u32)>,
) -> Result<HttpResponse, ApiError> {
    let OwnedJson { owner, body } = request;
    let profile = state
        .services
        .update_own_profile(chat::UpdateOwnProfileRequest {
            account: Some(account_ref(&owner, path.1)?),
            first_name: body.first_name,
            last_name: body.last_name,
            bio: body.bio,
            username: body.username,
        })
        .await?;
    Ok(HttpResponse::Ok().json(profile_view(profile)?))
}
