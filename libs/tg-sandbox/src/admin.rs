//! The admin API: plain HTTP/1.1 with JSON bodies, meant for loopback only. It lets
//! another process steer the sandbox the way [`SandboxHandle`] lets an embedder do:
//!
//! * `GET /healthz` → `{"status":"ok"}`
//! * `POST /v1/auth_keys` → `201 {"dc_id":2,"auth_key":"<base64 of 256 bytes>"}`: a fresh
//!   key, not signed in (the client logs in with it). Saved before the answer.
//! * `GET /v1/users?phone=...` → the account's [`UserInfo`]
//! * `POST /v1/users/{id}/flood_wait` `{"seconds":N}` or `{"seconds":null}`
//! * `POST /v1/users/{id}/disconnect` → `{"closed":n}`
//! * `POST /v1/users/{id}/silence` → `{"silenced":n}`: the account's open connections stop
//!   getting updates (they stay open and answer calls)
//! * `POST /v1/messages` `{"from":id,"to":{"user":id}|{"chat":id}|{"channel":id},
//!   "text":"..."}` → `201 {"id":n}` (the id the sender sees), pushed to connected clients
//!
//! Errors are `{"error":"..."}`: 404 for an unknown account, 400 with Telegram's error
//! name (`CHAT_WRITE_FORBIDDEN`, ...) when Telegram would refuse the same request.

use std::net::SocketAddr;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::server::{SandboxHandle, SendFailure};
use crate::world::{Peer, UserId, UserInfo};

/// An error answer: a status and a message, as `{"error": message}`.
struct AdminError {
    status: StatusCode,
    message: String,
}

impl AdminError {
    fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            warn!(status = %self.status, error = %self.message, "admin request failed");
        } else {
            info!(status = %self.status, error = %self.message, "admin request refused");
        }
        let body = Json(ErrorBody {
            error: self.message,
        });
        (self.status, body).into_response()
    }
}

#[derive(Serialize)]
struct ErrorBody {
    error: String,
}

type AdminResult<T> = Result<T, AdminError>;

pub(crate) fn router(sandbox: SandboxHandle) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/auth_keys", post(create_auth_key))
        .route("/v1/users", get(find_user))
        .route("/v1/users/{id}/flood_wait", post(set_flood_wait))
        .route("/v1/users/{id}/disconnect", post(disconnect))
        .route("/v1/users/{id}/silence", post(silence))
        .route("/v1/messages", post(send_message))
        .with_state(sandbox)
}

/// Binds `addr` and serves the admin API until the sandbox shuts down.
pub(crate) async fn serve(sandbox: &SandboxHandle, addr: SocketAddr) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let cancel = sandbox.cancel_token().clone();
    let app = router(sandbox.clone());
    sandbox.tasks().spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(cancel.cancelled_owned())
            .await;
        if let Err(error) = served {
            warn!(%error, "admin api stopped");
        }
    });
    info!(addr = %bound, "telegram sandbox admin api listening");
    Ok(bound)
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
}

async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

#[derive(Serialize)]
struct AuthKeyBody {
    dc_id: i32,
    /// Standard base64 of the 256 key bytes.
    auth_key: String,
}

async fn create_auth_key(
    State(sandbox): State<SandboxHandle>,
) -> AdminResult<(StatusCode, Json<AuthKeyBody>)> {
    let grant = sandbox
        .create_auth_key()
        .await
        .map_err(|error| AdminError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: format!("{error:#}"),
        })?;
    Ok((
        StatusCode::CREATED,
        Json(AuthKeyBody {
            dc_id: grant.dc_id,
            auth_key: STANDARD.encode(grant.auth_key),
        }),
    ))
}

#[derive(Deserialize)]
struct UserQuery {
    phone: String,
}

async fn find_user(
    State(sandbox): State<SandboxHandle>,
    Query(query): Query<UserQuery>,
) -> AdminResult<Json<UserInfo>> {
    sandbox
        .user_by_phone(&query.phone)
        .map(Json)
        .ok_or_else(|| AdminError::not_found(format!("no account has the phone {}", query.phone)))
}

fn existing_user(sandbox: &SandboxHandle, id: UserId) -> AdminResult<()> {
    if sandbox.world(|w| w.user(id).is_some()) {
        Ok(())
    } else {
        Err(AdminError::not_found(format!("no user {id}")))
    }
}

#[derive(Deserialize, Serialize)]
struct FloodWait {
    /// `null` switches it off.
    seconds: Option<u32>,
}

#[derive(Serialize)]
struct FloodWaitSet {
    user_id: UserId,
    seconds: Option<u32>,
}

async fn set_flood_wait(
    State(sandbox): State<SandboxHandle>,
    Path(id): Path<UserId>,
    Json(body): Json<FloodWait>,
) -> AdminResult<Json<FloodWaitSet>> {
    existing_user(&sandbox, id)?;
    sandbox.set_flood_wait(id, body.seconds);
    Ok(Json(FloodWaitSet {
        user_id: id,
        seconds: body.seconds,
    }))
}

#[derive(Serialize)]
struct Closed {
    closed: usize,
}

async fn disconnect(
    State(sandbox): State<SandboxHandle>,
    Path(id): Path<UserId>,
) -> AdminResult<Json<Closed>> {
    existing_user(&sandbox, id)?;
    Ok(Json(Closed {
        closed: sandbox.disconnect_user(id),
    }))
}

#[derive(Serialize)]
struct Silenced {
    silenced: usize,
}

async fn silence(
    State(sandbox): State<SandboxHandle>,
    Path(id): Path<UserId>,
) -> AdminResult<Json<Silenced>> {
    existing_user(&sandbox, id)?;
    Ok(Json(Silenced {
        silenced: sandbox.silence_updates(id),
    }))
}

#[derive(Deserialize)]
struct NewMessage {
    from: UserId,
    to: Peer,
    text: String,
}

#[derive(Serialize)]
struct Sent {
    id: i32,
}

async fn send_message(
    State(sandbox): State<SandboxHandle>,
    Json(body): Json<NewMessage>,
) -> AdminResult<(StatusCode, Json<Sent>)> {
    existing_user(&sandbox, body.from)?;
    match sandbox.send_message_as(body.from, body.to, &body.text) {
        Ok(id) => Ok((StatusCode::CREATED, Json(Sent { id }))),
        Err(SendFailure::Refused(error)) => Err(AdminError::bad_request(error.message)),
    }
}
