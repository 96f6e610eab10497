//! `GET /me/audit/{user_id}`: a user's own audit log (what `crate::audit` records), newest
//! first. The log cannot be changed through the API: there is no route that writes to it.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use talkapp_store::{AuditEntry, AuditQuery};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::extract::PathOwner;
use crate::problem::ApiError;
use crate::routes::chats::field_error;
use crate::state::AppState;

/// The most records one page holds.
pub const MAX_PAGE: u32 = 200;

/// One audited action.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditRecordView {
    /// The record's id (increasing; the cursor).
    pub id: String,
    /// When the action ended (RFC 3339).
    pub at: String,
    /// The user whose log this is (absent for a sign-in naming no known account).
    pub user_id: Option<Uuid>,
    /// `user`, `operator` or `anonymous` (a sign-in attempt).
    pub actor: String,
    /// What was done: `auth.register`, `auth.sign_in`, `auth.sign_out`,
    /// `auth.refresh_reused`, `telegram.link.start`, `telegram.link.code`,
    /// `telegram.link.password`, `telegram.unlink`, `telegram.message.send`,
    /// `telegram.media.send`, `telegram.message.edit`, `telegram.message.delete`,
    /// `telegram.message.forward`, `telegram.message.pin`, `telegram.message.unpin`,
    /// `telegram.message.unpin_all`, `telegram.group.create`, `telegram.group.add_member`, `telegram.group.remove_member`, `telegram.group.leave`,
    /// `telegram.group.set_admin`, `telegram.group.edit`, `media.delete`, `push.subscribe`, `push.unsubscribe`,
    /// `operator.*`.
    pub action: String,
    /// What it was done to (the path's ids, a chat id, a client message id).
    #[schema(value_type = Option<Object>)]
    pub target: Option<serde_json::Value>,
    /// `success`, `denied` (401/403) or `failure`.
    pub outcome: String,
    /// The HTTP status answered.
    pub status: u16,
    /// The problem's `code` when it failed.
    pub error_code: Option<String>,
    /// The client's address.
    pub client_address: Option<String>,
    /// The client's `User-Agent` (up to 256 bytes).
    pub user_agent: Option<String>,
    /// The request's `X-Request-Id`.
    pub request_id: Option<String>,
    /// The trace it was part of, when tracing is on.
    pub trace_id: Option<String>,
}

impl From<AuditEntry> for AuditRecordView {
    fn from(record: AuditEntry) -> Self {
        let entry = record.entry;
        Self {
            id: record.id.to_string(),
            at: crate::routes::auth::rfc3339(entry.at),
            user_id: entry.user_id,
            actor: entry.actor.as_str().to_owned(),
            action: entry.action,
            target: entry
                .target
                .and_then(|text| serde_json::from_str(&text).ok()),
            outcome: entry.outcome.as_str().to_owned(),
            status: entry.status,
            error_code: entry.error_code,
            client_address: entry.client_address,
            user_agent: entry.user_agent,
            request_id: entry.request_id,
            trace_id: entry.trace_id,
        }
    }
}

/// A page of the audit log.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    /// Newest first.
    pub records: Vec<AuditRecordView>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Paging and filters of the audit log.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditLogQuery {
    /// Only actions starting with this (`auth.`, `telegram.message.send`): lowercase
    /// letters, digits, `.` and `_`, up to 64 (else 422 `validation_failed`).
    #[param(max_length = 64, pattern = "^[a-z0-9._]+$")]
    pub action: Option<String>,
    /// From a previous page's `next_cursor` (else 422 `validation_failed`).
    #[param(max_length = 20)]
    pub cursor: Option<String>,
    /// 1 to 200 (default 50; else 422 `validation_failed`).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

impl AuditLogQuery {
    /// The store query for `user_id`'s log (`None`: everyone's), or 422.
    pub(crate) fn to_store_query(&self, user_id: Option<Uuid>) -> Result<AuditQuery, ApiError> {
        let limit = self.limit.unwrap_or(50);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(field_error("limit", "must be 1 to 200"));
        }
        let before_id = match self.cursor.as_deref() {
            None => None,
            Some(cursor) => Some(
                cursor
                    .parse::<i64>()
                    .ok()
                    .filter(|id| *id > 0)
                    .ok_or_else(|| field_error("cursor", "is not a cursor this route gave"))?,
            ),
        };
        if let Some(action) = &self.action
            && (action.is_empty()
                || action.len() > 64
                || !action
                    .bytes()
                    .all(|byte| matches!(byte, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_')))
        {
            return Err(field_error(
                "action",
                "must be 1 to 64 lowercase letters, digits, `.` or `_`",
            ));
        }
        Ok(AuditQuery {
            user_id,
            action_prefix: self.action.clone(),
            before_id,
            limit,
        })
    }
}

/// Reads `query` after the records queued so far are stored, as one page.
pub(crate) async fn read_page(state: &AppState, query: AuditQuery) -> Result<AuditPage, ApiError> {
    let audit = state.audit.as_ref().ok_or_else(|| {
        ApiError::new(
            talkapp_common::ErrorCode::NotFound,
            "the audit log is off (audit.enabled)",
        )
    })?;
    audit.flush().await;
    let limit = query.limit as usize;
    let records = state.store.audit_entries(&query).await?;
    let next_cursor = (records.len() == limit)
        .then(|| records.last().map(|record| record.id.to_string()))
        .flatten();
    Ok(AuditPage {
        records: records.into_iter().map(AuditRecordView::from).collect(),
        next_cursor,
    })
}

/// The caller's audit log: sign-ins (also failed ones naming this account), sign-outs,
/// linking, sends and every other change made to Telegram through TalkApp, file
/// deletions; newest first.
#[utoipa::path(get, path = "/me/audit/{user_id}", tag = "auth",
    params(
        ("user_id" = uuid::Uuid, Path, description = "TalkApp user id; must be the token's user"),
        AuditLogQuery,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, body = AuditPage),
        (status = 404, description = "`not_found`: the audit log is off", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %owner.user_id))]
pub async fn own_audit_log(
    owner: PathOwner,
    state: web::Data<AppState>,
    query: web::Query<AuditLogQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner().to_store_query(Some(owner.user_id))?;
    Ok(HttpResponse::Ok().json(read_page(&state, query).await?))
}
