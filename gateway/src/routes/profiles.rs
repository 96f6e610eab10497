//! Telegram users' profiles, as one linked account (`{session_index}`) of the path's
//! user sees them.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use talkapp_proto::chat::v1 as chat;
use utoipa::ToSchema;

use crate::auth::extract::PathOwner;
use crate::problem::ApiError;
use crate::routes::chats::{PresenceView, account_ref};
use crate::state::AppState;

/// A Telegram user's profile.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserProfileView {
    /// Telegram user id (a string: ids can exceed 2^53).
    pub id: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: Option<String>,
    /// Username without `@`.
    pub username: Option<String>,
    /// Phone number (digits), when their privacy shows it to this account.
    pub phone: Option<String>,
    /// Reference of their profile photo for the media routes.
    pub photo_id: Option<String>,
    /// Their bio.
    pub bio: Option<String>,
    /// Online state, as Telegram shows it to this account.
    pub presence: Option<PresenceView>,
    /// In this account's contacts.
    pub is_contact: bool,
    /// A bot.
    pub is_bot: bool,
    /// Verified by Telegram.
    pub is_verified: bool,
    /// The account itself.
    pub is_self: bool,
    /// Groups and channels this account shares with them.
    pub common_chats_count: i32,
}

/// A Telegram user's profile (asked of Telegram through the account): name, username,
/// bio, photo, phone when visible, presence, whether a contact, a bot, verified, and the
/// chats in common.
#[utoipa::path(get, path = "/me/user_profile/{user_id}/{session_index}/{telegram_user_id}", tag = "chats",
    params(
        crate::routes::common::AccountPath,
        ("telegram_user_id" = String, Path, description = "The Telegram user (one this account has met: in its chats, contacts or groups)"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, body = UserProfileView),
        (status = 404, description = "`not_found`: no such account, or a user this account does not know", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: not a Telegram user id", body = crate::problem::Problem, content_type = "application/problem+json"),
        crate::routes::common::TelegramErrors,
    ))]
#[tracing::instrument(skip_all, fields(user_id = %owner.user_id))]
pub async fn user_profile(
    owner: PathOwner,
    state: web::Data<AppState>,
    path: web::Path<(String, u32, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, session_index, telegram_user_id) = path.into_inner();
    let profile = state
        .services
        .user_profile(chat::GetUserProfileRequest {
            account: Some(account_ref(&owner, session_index)?),
            telegram_user_id,
        })
        .await?;
    Ok(HttpResponse::Ok().json(profile_view(profile)?))
}

/// A profile as shown.
pub(crate) fn profile_view(profile: chat::UserProfile) -> Result<UserProfileView, ApiError> {
    let user = profile
        .user
        .ok_or_else(|| ApiError::internal("a profile without the user"))?;
    Ok(UserProfileView {
        id: user.id,
        first_name: user.first_name,
        last_name: user.last_name,
        username: user.username,
        phone: user.phone,
        photo_id: user.photo_id,
        bio: profile.bio,
        presence: profile.presence.map(PresenceView::from),
        is_contact: profile.is_contact,
        is_bot: profile.is_bot,
        is_verified: profile.is_verified,
        is_self: profile.is_self,
        common_chats_count: profile.common_chats_count,
    })
}
