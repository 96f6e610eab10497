//! The WebSocket endpoint and its tickets.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use talkapp_common::ErrorCode;
use utoipa::{IntoParams, ToSchema};

use crate::auth::extract::{Caller, PathOwner};
use crate::problem::{ApiError, FieldError};
use crate::state::AppState;
use crate::ws::connection::{Limits, Subscriber};
use crate::ws::tickets::TicketError;

/// A ticket for one WebSocket connection.
#[derive(Debug, Serialize, ToSchema)]
pub struct WsTicket {
    /// Put it in the WebSocket URL as `?ticket=...`; it works once.
    pub ticket: String,
    /// Seconds it stays good.
    pub expires_in: u64,
}

/// Trades the bearer token for a single-use ticket to open a WebSocket (browsers cannot
/// set an `Authorization` header on WebSocket requests).
#[utoipa::path(post, path = "/ws/ticket", tag = "realtime",
    security(("bearer" = [])),
    responses(
        (status = 201, body = WsTicket),
        (status = 401, body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn ticket(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let (ticket, expires_in) = state
        .ws_tickets
        .issue(caller.0.user_id, caller.0.sign_in_session());
    Ok(HttpResponse::Created().json(WsTicket { ticket, expires_in }))
}

/// How to connect.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConnectQuery {
    /// A ticket from `POST /ws/ticket` (instead of an `Authorization` header; a bad,
    /// expired or spent one: 401 `unauthenticated`).
    #[param(max_length = 256)]
    pub ticket: Option<String>,
    /// The last `event_id` the client has: events after it are replayed first.
    #[param(minimum = 0)]
    pub since: Option<i64>,
}

/// A linked account's events as they happen: `message.new`, `message.edited`,
/// `message.deleted`, `message.pinned` (`{chat_id, message_ids, pinned}`), `message.status`, `chat.updated`, `chat.member`, `user.status`,
/// `typing`, and `resync_required` when `since` is older than what is kept. Clients may
/// send `typing`, `read` and `ping` frames. See the gateway's `ws::frames` docs.
#[utoipa::path(get, path = "/ws/{user_id}/{session_index}", tag = "realtime",
    params(
        ("user_id" = uuid::Uuid, Path, description = "TalkApp user id; must be the token's (or ticket's) user"),
        ("session_index" = u32, Path, description = "Which linked account"),
        ConnectQuery,
    ),
    security(("bearer" = [])),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 401, description = "`unauthenticated`: no token, or a bad, expired or spent ticket", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 403, body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such linked account", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 429, description = "`too_many_connections`: the user holds `gateway.ws_max_connections_per_user` sockets already", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: the event stream cannot be opened (the realtime service or its log is away, and no socket of this gateway has the account's stream open)", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn connect(
    request: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    path: web::Path<(String, u32)>,
    query: web::Query<ConnectQuery>,
) -> Result<HttpResponse, actix_web::Error> {
    let (path_user, session_index) = path.into_inner();
    let query = query.into_inner();
    let (user_id, sign_in) = match &query.ticket {
        Some(ticket) => {
            let (user_id, sign_in) = state.ws_tickets.redeem(ticket).await.map_err(|error| {
                let code = match error {
                    TicketError::Unavailable => ErrorCode::ServiceUnavailable,
                    TicketError::Invalid | TicketError::Expired | TicketError::Spent => {
                        ErrorCode::Unauthenticated
                    }
                };
                ApiError::new(code, error.to_string())
            })?;
            let path_user = uuid::Uuid::parse_str(&path_user).map_err(|_| {
                ApiError::validation(vec![FieldError {
                    field: "user_id".into(),
                    message: "must be a UUID".into(),
                }])
            })?;
            if path_user != user_id {
                return Err(ApiError::new(
                    ErrorCode::Forbidden,
                    "this path belongs to another user",
                )
                .into());
            }
            // A ticket is worth no more than the sign-in session it was issued in.
            if let Some(session_id) = sign_in {
                if state.revocations.is_session_ended(session_id) {
                    return Err(
                        ApiError::new(ErrorCode::SessionExpired, "the session has ended").into(),
                    );
                }
                state.verifier.ensure_session(user_id, session_id).await?;
            } else if state.revocations.is_subject_disabled(user_id) {
                // An external provider's token, whose subject an operator disabled since.
                return Err(crate::auth::verifier::subject_disabled().into());
            }
            (user_id, sign_in)
        }
        None => {
            let owner = <PathOwner as actix_web::FromRequest>::extract(&request).await?;
            (owner.user_id, owner.identity.sign_in_session())
        }
    };
    let session_index = crate::routes::chats::checked_session_index(session_index)?;
    let linked = state
        .linked_accounts(user_id)
        .await?
        .iter()
        .any(|account| account.session_index == session_index);
    if !linked {
        return Err(ApiError::new(ErrorCode::NotFound, "no such linked account").into());
    }
    let Some(admission) = state.ws_connections.admit(user_id) else {
        return Err(ApiError::new(
            ErrorCode::TooManyConnections,
            format!(
                "a user may hold {} WebSocket connections at once; close one first",
                state.config.gateway.ws_max_connections_per_user
            ),
        )
        .into());
    };
    let subscriber = Subscriber {
        user_id,
        sign_in,
        session_index,
        since: query.since.filter(|since| *since > 0),
        opened_at: crate::revocations::unix_millis(),
    };
    // Before the upgrade: once the client has its 101, no event can slip past it.
    let opened = crate::ws::connection::open_events(&state, &subscriber).await?;
    let (response, session, messages) = actix_ws::handle(&request, body)?;
    actix_web::rt::spawn(crate::ws::connection::run(
        state,
        admission,
        session,
        messages,
        subscriber,
        opened,
        Limits::default(),
    ));
    Ok(response)
}
