//! The Telegram accounts (sessions) a user has linked.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use talkapp_proto::chat::v1 as chat;
use utoipa::ToSchema;

use crate::auth::extract::PathOwner;
use crate::problem::ApiError;
use crate::state::AppState;

/// The Telegram account behind a session.
#[derive(Debug, Serialize, ToSchema)]
pub struct TelegramUserView {
    /// Telegram user id (a string: it can exceed 2^53).
    pub id: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Username without `@`.
    pub username: String,
    /// Phone number.
    pub phone: String,
}

/// One linked Telegram account.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// 1, 2, 3, ... per user; never reused.
    pub session_index: u32,
    /// The Telegram account.
    pub telegram_user: Option<TelegramUserView>,
    /// `connected`, `connecting`, `logged_out` or `flood_wait`.
    pub status: &'static str,
    /// When it was linked (RFC 3339, UTC).
    pub linked_at: String,
    /// When its Telegram link was last found open but delivering no updates while
    /// Telegram's state moved on, and was replaced by a new one that caught up (RFC 3339,
    /// UTC). Absent when that never happened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_stalled_at: Option<String>,
}

/// The user's sessions.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    /// By `session_index`.
    pub sessions: Vec<SessionView>,
}

fn status_name(status: i32) -> &'static str {
    match chat::LinkStatus::try_from(status) {
        Ok(chat::LinkStatus::Connected) => "connected",
        Ok(chat::LinkStatus::Connecting) => "connecting",
        Ok(chat::LinkStatus::LoggedOut) => "logged_out",
        Ok(chat::LinkStatus::FloodWait) => "flood_wait",
        Ok(chat::LinkStatus::Unspecified) | Err(_) => "unknown",
    }
}

impl From<chat::LinkedAccount> for SessionView {
    fn from(account: chat::LinkedAccount) -> Self {
        Self {
            session_index: account.session_index,
            status: status_name(account.status),
            telegram_user: account.telegram_user.map(|user| TelegramUserView {
                id: user.id,
                first_name: user.first_name,
                last_name: user.last_name.unwrap_or_default(),
                username: user.username.unwrap_or_default(),
                phone: user.phone.unwrap_or_default(),
            }),
            linked_at: account.linked_at,
            link_stalled_at: account.link_stalled_at,
        }
    }
}

/// The Telegram accounts this user has linked, with their connection state.
#[utoipa::path(get, path = "/me/sessions/{user_id}", tag = "sessions",
    params(("user_id" = uuid::Uuid, Path, description = "TalkApp user id; must be the token's user")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = SessionList),
        (status = 401, body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 403, body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %owner.user_id))]
pub async fn list_sessions(
    owner: PathOwner,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let sessions = state.linked_accounts(owner.user_id).await?;
    let sessions = sessions.into_iter().map(SessionView::from).collect();
    Ok(HttpResponse::Ok().json(SessionList { sessions }))
}
