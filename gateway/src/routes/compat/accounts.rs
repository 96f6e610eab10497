//! The caller's linked Telegram accounts (contract §4): list, unlink one, unlink all.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use talkapp_proto::chat::v1 as chat;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{CompatError, account_index, id_number};
use crate::auth::extract::Caller;
use crate::state::AppState;

/// One linked account.
#[derive(Debug, Serialize, ToSchema)]
pub struct TelegramAccountOut {
    /// The account index as a **string** (`"1"`, `"2"`, ...); the frontend passes it
    /// verbatim as `session_index`.
    pub index: String,
    /// First and last name; falls back to the username, then the phone (the frontend
    /// cannot render a missing name).
    pub full_name: Option<String>,
    /// Username without `@`.
    pub username: Option<String>,
    /// Digits only, no `+`.
    pub phone_number: Option<String>,
    /// Telegram user id (a number).
    pub telegram_id: i64,
    /// Root-relative, short-lived signed URL of the account's photo (as `photo_url` of a
    /// chat); null when the account has none, or until its host has connected it once
    /// since it was linked.
    pub profile_picture: Option<String>,
    /// `https://t.me/<username>`, when there is a username.
    pub profile_url: Option<String>,
}

/// `GET /me/telegrams`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TelegramAccountsOut {
    /// Always `true`.
    pub ok: bool,
    /// The TalkApp (Supabase) user id.
    pub user_id: String,
    /// The token's email, when it carries one.
    pub email: Option<String>,
    /// By index, ascending; accounts logged out at Telegram are left out.
    pub telegram_accounts: Vec<TelegramAccountOut>,
}

/// What happened to one account.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogoutResultOut {
    /// The account index (a string).
    pub index: String,
    /// Always `logged_out` (TalkApp keeps the keys and fails with 503 when Telegram
    /// cannot be told, so `file_removed_only` never happens).
    pub status: &'static str,
}

/// `DELETE /me/telegrams/{index}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogoutOneOut {
    /// Always `true`.
    pub ok: bool,
    /// The account.
    pub result: LogoutResultOut,
}

/// `DELETE /me/telegrams`.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogoutAllOut {
    /// Always `true`.
    pub ok: bool,
    /// One per account, by index.
    pub results: Vec<LogoutResultOut>,
}

fn non_empty(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}

fn account_out(
    state: &AppState,
    user_id: Uuid,
    sign_in: Option<Uuid>,
    account: chat::LinkedAccount,
) -> Option<TelegramAccountOut> {
    if account.status == chat::LinkStatus::LoggedOut as i32 {
        return None;
    }
    let user = account.telegram_user?;
    let phone = user
        .phone
        .as_deref()
        .unwrap_or_default()
        .trim_start_matches('+')
        .to_owned();
    let name = format!(
        "{} {}",
        user.first_name,
        user.last_name.as_deref().unwrap_or_default()
    )
    .trim()
    .to_owned();
    let full_name = non_empty(&name)
        .or_else(|| user.username.clone())
        .or_else(|| non_empty(&phone));
    Some(TelegramAccountOut {
        index: account.session_index.to_string(),
        full_name,
        phone_number: non_empty(&phone),
        telegram_id: id_number(&user.id),
        profile_picture: user.photo_id.map(|photo_id| {
            super::media::signed_path(state, user_id, sign_in, account.session_index, &photo_id)
        }),
        profile_url: user
            .username
            .as_deref()
            .map(|username| format!("https://t.me/{username}")),
        username: user.username,
    })
}

/// The caller's linked Telegram accounts, in the shape TorexTalkWeb reads.
#[utoipa::path(get, path = "/me/telegrams", tag = "torextalkweb",
    security(("bearer" = [])),
    responses(
        (status = 200, body = TelegramAccountsOut),
        (status = 401, body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %caller.0.user_id))]
pub async fn list_accounts(
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, CompatError> {
    let user_id = caller.0.user_id;
    let mut accounts = state.linked_accounts(user_id).await?;
    accounts.sort_by_key(|account| account.session_index);
    Ok(HttpResponse::Ok().json(TelegramAccountsOut {
        ok: true,
        user_id: user_id.to_string(),
        email: caller.0.email.clone(),
        telegram_accounts: accounts
            .into_iter()
            .filter_map(|account| account_out(&state, user_id, caller.0.sign_in_session(), account))
            .collect(),
    }))
}

/// Logs one of the caller's accounts out at Telegram and forgets it.
#[utoipa::path(delete, path = "/me/telegrams/{index}", tag = "torextalkweb",
    params(("index" = String, Path, description = "The account index from `/me/telegrams` (`\"1\"`, `\"2\"`, ...)")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = LogoutOneOut),
        (status = 404, description = "`not_found`: the caller has no such account", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`telegram_unavailable`: keys kept, try again", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %caller.0.user_id))]
pub async fn delete_account(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, CompatError> {
    let index = account_index("index", &path)?;
    state
        .services
        .unlink_account(caller.0.user_id, index)
        .await?;
    state.chat_reads.forget_account(caller.0.user_id, index);
    state
        .revocations
        .revoke(crate::revocations::Revoked::Account {
            user_id: caller.0.user_id,
            session_index: index,
        })
        .await;
    Ok(HttpResponse::Ok().json(LogoutOneOut {
        ok: true,
        result: LogoutResultOut {
            index: index.to_string(),
            status: "logged_out",
        },
    }))
}

/// Logs every account of the caller out (not used by the frontend; kept for parity).
/// Stops at the first account that cannot be logged out (the ones before it are gone).
#[utoipa::path(delete, path = "/me/telegrams", tag = "torextalkweb",
    security(("bearer" = [])),
    responses(
        (status = 200, body = LogoutAllOut),
        (status = 503, description = "`telegram_unavailable`: that account's keys are kept, try again", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %caller.0.user_id))]
pub async fn delete_all_accounts(
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, CompatError> {
    let user_id = caller.0.user_id;
    let mut accounts = state.linked_accounts(user_id).await?;
    accounts.sort_by_key(|account| account.session_index);
    let mut results = Vec::with_capacity(accounts.len());
    for account in accounts {
        state
            .services
            .unlink_account(user_id, account.session_index)
            .await?;
        state
            .chat_reads
            .forget_account(user_id, account.session_index);
        state
            .revocations
            .revoke(crate::revocations::Revoked::Account {
                user_id,
                session_index: account.session_index,
            })
            .await;
        results.push(LogoutResultOut {
            index: account.session_index.to_string(),
            status: "logged_out",
        });
    }
    Ok(HttpResponse::Ok().json(LogoutAllOut { ok: true, results }))
}
