//! `/admin`: the operator's routes (an operator token, `auth::operator`): every user's
//! audit log, the users with their activity (their audit records, and their requests,
//! errors, sends and sockets per day: `crate::activity`, ADR 0037), reading, disabling and
//! enabling a user: a built-in account, or an external provider's user (a subject with no
//! account here, when an external provider is configured), whose tokens every gateway
//! then refuses from memory (ADR 0033).

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use talkapp_common::ErrorCode;
use talkapp_store::{MAX_USERS_PAGE, SubjectOverview, UserCursor, UserOverview};
use utoipa::openapi::{RefOr, Response};
use utoipa::{IntoParams, IntoResponses, ToSchema};
use uuid::Uuid;

use crate::auth::operator::Operator;
use crate::problem::ApiError;
use crate::revocations::Revoked;
use crate::routes::audit::{AuditLogQuery, AuditPage, AuditRecordView, read_page};
use crate::routes::auth::rfc3339;
use crate::routes::chats::field_error;
use crate::routes::common::problem_response;
use crate::state::AppState;

/// 401 `unauthenticated` or `token_invalid`: what every operator route answers a
/// request without the operator's token.
struct NotOperator;

impl IntoResponses for NotOperator {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        BTreeMap::from([(
            "401".to_owned(),
            problem_response("`unauthenticated` or `token_invalid`"),
        )])
    }
}

/// The errors of the operator's lists: [`NotOperator`], 404 `not_found` (no operator
/// configured) and 422 `validation_failed` (the page's query).
struct OperatorListErrors;

impl IntoResponses for OperatorListErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut responses = NotOperator::responses();
        responses.insert(
            "404".to_owned(),
            problem_response("`not_found`: no operator is configured"),
        );
        responses.insert("422".to_owned(), problem_response("`validation_failed`"));
        responses
    }
}

/// `{user_id}` of the routes about one user.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // Read by the OpenAPI document only.
struct AdminUserPath {
    /// The user (a built-in account, or an external provider's subject)
    user_id: Uuid,
}

/// The errors of disabling and enabling a user: [`NotOperator`], 404 `not_found`.
struct UserChangeErrors;

impl IntoResponses for UserChangeErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut responses = NotOperator::responses();
        responses.insert(
            "404".to_owned(),
            problem_response(
                "`not_found`: no such user and no external provider configured, or no operator is configured",
            ),
        );
        responses
    }
}

/// Every user's audit log, or one user's, with the same filters as `/me/audit`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AdminAuditQuery {
    /// Only this user's records.
    pub user_id: Option<Uuid>,
    /// Only actions starting with this (lowercase letters, digits, `.`, `_`; up to 64).
    #[param(max_length = 64, pattern = "^[a-z0-9._]+$")]
    pub action: Option<String>,
    /// From a previous page's `next_cursor`.
    #[param(max_length = 20)]
    pub cursor: Option<String>,
    /// 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// The audit log of every user (or of `user_id`), newest first.
#[utoipa::path(get, path = "/admin/audit", tag = "admin",
    params(AdminAuditQuery),
    security(("operator" = [])),
    responses(
        (status = 200, body = AuditPage),
        (status = 401, description = "`unauthenticated` or `token_invalid`: not an operator token", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no operator is configured", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn audit(
    _operator: Operator,
    state: web::Data<AppState>,
    query: web::Query<AdminAuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let store_query = AuditLogQuery {
        action: query.action,
        cursor: query.cursor,
        limit: query.limit,
    }
    .to_store_query(query.user_id)?;
    Ok(HttpResponse::Ok().json(read_page(&state, store_query).await?))
}

/// A user as an operator sees them.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserOverviewView {
    /// TalkApp user id.
    pub id: Uuid,
    /// Email as registered.
    pub email: String,
    /// RFC 3339.
    pub created_at: String,
    /// The last successful sign-in (RFC 3339).
    pub last_sign_in_at: Option<String>,
    /// When an operator disabled the account (absent: enabled).
    pub disabled_at: Option<String>,
    /// Linked Telegram accounts.
    pub linked_accounts: u32,
    /// Sign-in sessions not ended.
    pub open_sign_ins: u32,
}

impl From<UserOverview> for UserOverviewView {
    fn from(overview: UserOverview) -> Self {
        Self {
            id: overview.user.id,
            email: overview.user.email,
            created_at: rfc3339(overview.user.created_at),
            last_sign_in_at: overview.user.last_sign_in_at.map(rfc3339),
            disabled_at: overview.disabled_at.map(rfc3339),
            linked_accounts: overview.linked_accounts,
            open_sign_ins: overview.open_sign_ins,
        }
    }
}

/// Always `external`: the external identity provider owns this user.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubjectProvider {
    /// The external provider (Supabase).
    External,
}

/// An external identity provider's user (a subject: no account here) as an operator
/// sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubjectView {
    /// The subject (the `sub` of the provider's tokens).
    pub id: Uuid,
    /// Who owns the user.
    pub provider: SubjectProvider,
    /// When an operator disabled it (absent: enabled).
    pub disabled_at: Option<String>,
    /// Linked Telegram accounts.
    pub linked_accounts: u32,
    /// When it last used TalkApp (RFC 3339; recorded at most once a day per gateway, so
    /// up to a day early; absent: not recorded yet). Only in `/admin/subjects` and
    /// `/admin/users/{user_id}`, not in the answers of `disable` and `enable`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen_at: Option<String>,
}

impl From<SubjectOverview> for SubjectView {
    fn from(overview: SubjectOverview) -> Self {
        Self {
            id: overview.subject_id,
            provider: SubjectProvider::External,
            disabled_at: overview.disabled_at.map(rfc3339),
            linked_accounts: overview.linked_accounts,
            last_seen_at: overview.last_seen_at.map(rfc3339),
        }
    }
}

/// A page of an external provider's users.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubjectList {
    /// In the order of their ids.
    pub subjects: Vec<SubjectView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A built-in account, or an external provider's user.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum AdminUserView {
    /// A built-in account.
    Builtin(UserOverviewView),
    /// An external provider's user.
    External(SubjectView),
}

/// A page of users.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    /// Oldest account first.
    pub users: Vec<UserOverviewView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Paging of the users.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UserListQuery {
    /// From a previous page's `next_cursor` (else 422 `validation_failed`).
    #[param(max_length = 64)]
    pub cursor: Option<String>,
    /// 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

fn encode_cursor(overview: &UserOverview) -> String {
    format!(
        "{}.{}",
        overview.user.created_at.timestamp_micros(),
        overview.user.id.simple()
    )
}

fn decode_cursor(text: &str) -> Option<UserCursor> {
    let (micros, id) = text.split_once('.')?;
    Some(UserCursor {
        created_at: chrono::DateTime::from_timestamp_micros(micros.parse().ok()?)?,
        id: Uuid::parse_str(id).ok()?,
    })
}

/// A page's size: 1 to [`MAX_USERS_PAGE`] (default 50), else 422.
fn page_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    let limit = limit.unwrap_or(50);
    if !(1..=MAX_USERS_PAGE).contains(&limit) {
        return Err(field_error("limit", "must be 1 to 200"));
    }
    Ok(limit)
}

/// Where a page starts: after the cursor `decode` reads (422 when it reads none).
fn page_start<T>(
    cursor: Option<&str>,
    decode: impl FnOnce(&str) -> Option<T>,
) -> Result<Option<T>, ApiError> {
    cursor
        .map(|text| {
            decode(text).ok_or_else(|| field_error("cursor", "is not a cursor this route gave"))
        })
        .transpose()
}

/// The next page's cursor: the last item's, when the page is full.
fn next_cursor<T>(page: &[T], limit: u32, encode: impl FnOnce(&T) -> String) -> Option<String> {
    (page.len() == limit as usize)
        .then(|| page.last().map(encode))
        .flatten()
}

/// Every built-in account, oldest first, with its activity.
#[utoipa::path(get, path = "/admin/users", tag = "admin",
    params(UserListQuery),
    security(("operator" = [])),
    responses(
        (status = 200, body = UserList),
        OperatorListErrors,
    ))]
#[tracing::instrument(skip_all)]
pub async fn users(
    _operator: Operator,
    state: web::Data<AppState>,
    query: web::Query<UserListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page_limit(query.limit)?;
    let after = page_start(query.cursor.as_deref(), decode_cursor)?;
    let users = state.store.list_users(after, limit).await?;
    let next_cursor = next_cursor(&users, limit, encode_cursor);
    Ok(HttpResponse::Ok().json(UserList {
        users: users.into_iter().map(UserOverviewView::from).collect(),
        next_cursor,
    }))
}

/// The external identity provider's users TalkApp knows of (no account here: seen using
/// TalkApp, disabled by an operator, or owning linked Telegram accounts), in the order
/// of their ids. Empty when no external provider is configured.
#[utoipa::path(get, path = "/admin/subjects", tag = "admin",
    params(UserListQuery),
    security(("operator" = [])),
    responses(
        (status = 200, body = SubjectList),
        OperatorListErrors,
    ))]
#[tracing::instrument(skip_all)]
pub async fn subjects(
    _operator: Operator,
    state: web::Data<AppState>,
    query: web::Query<UserListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page_limit(query.limit)?;
    let after = page_start(query.cursor.as_deref(), |text| Uuid::try_parse(text).ok())?;
    let subjects = state.store.list_subjects(after, limit).await?;
    let next_cursor = next_cursor(&subjects, limit, |last| {
        last.subject_id.simple().to_string()
    });
    Ok(HttpResponse::Ok().json(SubjectList {
        subjects: subjects.into_iter().map(SubjectView::from).collect(),
        next_cursor,
    }))
}

/// One user's activity: the account, and the latest records of their audit log.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserActivity {
    /// The built-in account (as `/admin/users` lists it), or the external provider's user
    /// (as `/admin/subjects` lists it, with `provider: "external"`).
    pub user: AdminUserView,
    /// Their 20 latest audit records, newest first.
    pub recent: Vec<AuditRecordView>,
}

/// A built-in account, else an external provider's subject TalkApp knows of (seen,
/// disabled, or owning linked accounts), else 404.
async fn admin_user_of(state: &AppState, user_id: Uuid) -> Result<AdminUserView, ApiError> {
    if let Some(overview) = state.store.user_overview(user_id).await? {
        return Ok(AdminUserView::Builtin(overview.into()));
    }
    state
        .store
        .subject_overview(user_id)
        .await?
        .map(|subject| AdminUserView::External(subject.into()))
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such user"))
}

async fn overview_of(state: &AppState, user_id: Uuid) -> Result<UserOverview, ApiError> {
    state
        .store
        .user_overview(user_id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such user"))
}

/// One user's account and latest activity: a built-in account, or an external
/// provider's user TalkApp knows of (seen, disabled, or owning linked accounts; as
/// `/admin/subjects` lists it).
#[utoipa::path(get, path = "/admin/users/{user_id}", tag = "admin",
    params(AdminUserPath),
    security(("operator" = [])),
    responses(
        (status = 200, body = UserActivity),
        NotOperator,
        (status = 404, description = "`not_found`: no such account and no external provider's user of that id known (seen, disabled or owning linked accounts), or no operator is configured", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn user(
    _operator: Operator,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let user_id = path.into_inner();
    let user = admin_user_of(&state, user_id).await?;
    // With the audit log off there is no activity to show, which is no error.
    let recent = if state.audit.is_some() {
        let query = talkapp_store::AuditQuery {
            user_id: Some(user_id),
            action_prefix: None,
            before_id: None,
            limit: 20,
        };
        read_page(&state, query).await?.records
    } else {
        Vec::new()
    };
    Ok(HttpResponse::Ok().json(UserActivity { user, recent }))
}

/// How many days of activity to read.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ActivityQuery {
    /// Today (UTC) and the days before it: 1 to 366 (default 30).
    #[param(minimum = 1, maximum = 366)]
    pub days: Option<u32>,
}

/// What a user did on one day (UTC).
#[derive(Debug, Serialize, ToSchema)]
pub struct ActivityDayView {
    /// The day (UTC), `YYYY-MM-DD`.
    pub day: String,
    /// API requests made with the user's token.
    pub requests: u64,
    /// Of them, answered 4xx or 5xx (`client_errors` + `server_errors`).
    pub errors: u64,
    /// Of them, answered 4xx.
    pub client_errors: u64,
    /// Of them, answered 5xx.
    pub server_errors: u64,
    /// Messages accepted for sending (`send_message`, `send_media`).
    pub sends: u64,
    /// WebSocket connections opened.
    pub sockets: u64,
}

/// A user's activity per day.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserActivityDays {
    /// The user (a built-in account or an external provider's user).
    pub user_id: Uuid,
    /// Days with any activity, newest first (days without any are left out).
    pub days: Vec<ActivityDayView>,
}

/// A user's requests, errors, sends and sockets per day, as of the gateways' last flush
/// (each adds what it counted every `operator.activity_flush_secs`).
#[utoipa::path(get, path = "/admin/users/{user_id}/activity", tag = "admin",
    params(AdminUserPath, ActivityQuery),
    security(("operator" = [])),
    responses(
        (status = 200, body = UserActivityDays),
        NotOperator,
        (status = 404, description = "`not_found`: no account and no external provider's user of that id (seen, disabled or owning linked accounts) and no activity of it in the days asked for, or no operator is configured", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: `days` out of range", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn activity(
    _operator: Operator,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
    query: web::Query<ActivityQuery>,
) -> Result<HttpResponse, ApiError> {
    let user_id = path.into_inner();
    let days = query.days.unwrap_or(30);
    if !(1..=366).contains(&days) {
        return Err(field_error("days", "must be 1 to 366"));
    }
    let since = talkapp_store::now().date_naive() - chrono::TimeDelta::days(i64::from(days) - 1);
    let rows = state.store.user_activity(user_id, since).await?;
    // No counts yet (none flushed, or none in these days) is an empty answer for a user
    // TalkApp knows of: a built-in account, or an external provider's user seen, disabled
    // or owning linked accounts.
    if rows.is_empty()
        && state.store.user_overview(user_id).await?.is_none()
        && state.store.subject_overview(user_id).await?.is_none()
    {
        return Err(ApiError::new(ErrorCode::NotFound, "no such user"));
    }
    Ok(HttpResponse::Ok().json(UserActivityDays {
        user_id,
        days: rows
            .into_iter()
            .map(|(day, counts)| ActivityDayView {
                day: day.format("%Y-%m-%d").to_string(),
                requests: counts.requests,
                errors: counts.client_errors.saturating_add(counts.server_errors),
                client_errors: counts.client_errors,
                server_errors: counts.server_errors,
                sends: counts.sends,
                sockets: counts.sockets,
            })
            .collect(),
    }))
}

/// Disables a user: they cannot sign in; every sign-in session of theirs ends, and with
/// it their tokens, sockets (close 4001), tickets and media links, in every gateway. An
/// id with no account here is an external provider's user (when one is configured):
/// every gateway refuses its tokens (403 `account_disabled`), closes its sockets (4001)
/// and refuses its tickets and media links, until it is enabled again.
#[utoipa::path(post, path = "/admin/users/{user_id}/disable", tag = "admin",
    params(AdminUserPath),
    security(("operator" = [])),
    responses(
        (status = 200, body = AdminUserView),
        UserChangeErrors,
    ))]
#[tracing::instrument(skip_all)]
pub async fn disable(
    _operator: Operator,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let user_id = path.into_inner();
    crate::audit::note(|note| note.user_id = Some(user_id));
    let now = talkapp_store::now();
    if !state.store.set_user_disabled(user_id, Some(now)).await? {
        return set_subject_disabled(&state, user_id, Some(now)).await;
    }
    let ended = state
        .store
        .revoke_user_sessions(user_id, now, "disabled by an operator")
        .await?;
    for session_id in &ended {
        state
            .revocations
            .revoke(Revoked::Session(*session_id))
            .await;
    }
    // Sockets opened with an external provider's token belong to no sign-in session.
    state.revocations.revoke(Revoked::User(user_id)).await;
    tracing::warn!(%user_id, sessions = ended.len(), "user disabled by an operator");
    Ok(HttpResponse::Ok().json(UserOverviewView::from(overview_of(&state, user_id).await?)))
}

/// Disables (`Some(at)`) or enables an external provider's subject `subject_id`, and
/// tells every gateway; 404 when no external provider is configured (no such user).
async fn set_subject_disabled(
    state: &AppState,
    subject_id: Uuid,
    at: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<HttpResponse, ApiError> {
    if !state.config.auth.external.is_enabled() {
        return Err(ApiError::new(ErrorCode::NotFound, "no such user"));
    }
    let disabled_at = state.store.set_subject_disabled(subject_id, at).await?;
    if disabled_at.is_some() {
        state.revocations.revoke(Revoked::Subject(subject_id)).await;
        tracing::warn!(%subject_id, "external subject disabled by an operator");
    } else {
        state
            .revocations
            .revoke(Revoked::SubjectEnabled(subject_id))
            .await;
        tracing::info!(%subject_id, "external subject enabled by an operator");
    }
    let linked_accounts = state.store.linked_accounts(subject_id).await?;
    Ok(
        HttpResponse::Ok().json(AdminUserView::External(SubjectView {
            id: subject_id,
            provider: SubjectProvider::External,
            disabled_at: disabled_at.map(rfc3339),
            linked_accounts,
            last_seen_at: None,
        })),
    )
}

/// Enables a disabled user again (they sign in anew; ended sessions stay ended); an
/// external provider's user's tokens are accepted again by every gateway.
#[utoipa::path(post, path = "/admin/users/{user_id}/enable", tag = "admin",
    params(AdminUserPath),
    security(("operator" = [])),
    responses(
        (status = 200, body = AdminUserView),
        UserChangeErrors,
    ))]
#[tracing::instrument(skip_all)]
pub async fn enable(
    _operator: Operator,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let user_id = path.into_inner();
    crate::audit::note(|note| note.user_id = Some(user_id));
    if !state.store.set_user_disabled(user_id, None).await? {
        return set_subject_disabled(&state, user_id, None).await;
    }
    tracing::info!(%user_id, "user enabled by an operator");
    Ok(HttpResponse::Ok().json(UserOverviewView::from(overview_of(&state, user_id).await?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_garbage_is_no_cursor() {
        let overview = UserOverview {
            user: talkapp_store::User {
                id: Uuid::new_v4(),
                email: "a@example.com".into(),
                created_at: talkapp_store::now(),
                last_sign_in_at: None,
            },
            disabled_at: None,
            linked_accounts: 0,
            open_sign_ins: 0,
        };
        let cursor = decode_cursor(&encode_cursor(&overview)).expect("decodes");
        assert_eq!(cursor.id, overview.user.id);
        assert_eq!(
            cursor.created_at.timestamp_micros(),
            overview.user.created_at.timestamp_micros()
        );
        for garbage in ["", ".", "1.", "x.y", "123", "1.not-a-uuid"] {
            assert!(decode_cursor(garbage).is_none(), "{garbage}");
        }
    }
}
