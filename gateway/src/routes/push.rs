//! Web Push subscriptions of a user's browsers.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use talkapp_proto::realtime::v1 as realtime;
use utoipa::ToSchema;

use crate::auth::extract::OwnedJson;
use crate::problem::{ApiError, FieldError};
use crate::state::AppState;

/// The subscription's keys, as `PushSubscription.toJSON()` gives them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushKeys {
    /// The browser's P-256 public key (base64url).
    pub p256dh: String,
    /// The browser's authentication secret (base64url).
    pub auth: String,
}

/// A browser's push subscription: `PushSubscription.toJSON()`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPushSubscription {
    /// The push service URL.
    pub endpoint: String,
    /// Its keys.
    pub keys: PushKeys,
    /// Ignored (browsers send it).
    #[serde(default, rename = "expirationTime")]
    #[schema(value_type = Option<i64>)]
    pub expiration_time: Option<serde_json::Value>,
}

/// Which subscription to forget.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OldPushSubscription {
    /// Its push service URL.
    pub endpoint: String,
}

/// The user's subscriptions after the change.
#[derive(Debug, Serialize, ToSchema)]
pub struct PushSubscriptions {
    /// How many the user has now.
    pub subscriptions: u32,
}

/// The key browsers subscribe with.
#[derive(Debug, Serialize, ToSchema)]
pub struct VapidPublicKey {
    /// Base64url of the uncompressed P-256 point: `applicationServerKey`.
    pub public_key: String,
}

fn too_long(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.is_empty() || value.len() > max {
        return Err(ApiError::validation(vec![FieldError {
            field: field.into(),
            message: format!("must have 1 to {max} characters"),
        }]));
    }
    Ok(())
}

/// Registers a browser for push notifications of new messages (sent while the user has
/// no live WebSocket, for chats that are not muted).
#[utoipa::path(post, path = "/me/push/{user_id}", tag = "realtime", request_body = NewPushSubscription,
    params(("user_id" = uuid::Uuid, Path, description = "TalkApp user id; must be the token's user")),
    security(("bearer" = [])),
    responses(
        (status = 201, body = PushSubscriptions),
    ))]
#[tracing::instrument(skip_all)]
pub async fn subscribe(
    request: OwnedJson<NewPushSubscription>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let OwnedJson { owner, body } = request;
    too_long("endpoint", &body.endpoint, 2048)?;
    too_long("keys.p256dh", &body.keys.p256dh, 128)?;
    too_long("keys.auth", &body.keys.auth, 64)?;
    let reply = state
        .services
        .add_push_subscription(realtime::PushSubscription {
            user_id: owner.user_id.to_string(),
            endpoint: body.endpoint,
            p256dh: body.keys.p256dh,
            auth: body.keys.auth,
        })
        .await?;
    Ok(HttpResponse::Created().json(PushSubscriptions {
        subscriptions: reply.subscriptions,
    }))
}

/// Forgets a browser's push subscription.
#[utoipa::path(delete, path = "/me/push/{user_id}", tag = "realtime", request_body = OldPushSubscription,
    params(("user_id" = uuid::Uuid, Path, description = "TalkApp user id; must be the token's user")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = PushSubscriptions),
        (status = 404, description = "`not_found`: no such subscription", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn unsubscribe(
    request: OwnedJson<OldPushSubscription>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let OwnedJson { owner, body } = request;
    too_long("endpoint", &body.endpoint, 2048)?;
    let reply = state
        .services
        .remove_push_subscription(realtime::RemovePushSubscriptionRequest {
            user_id: owner.user_id.to_string(),
            endpoint: body.endpoint,
        })
        .await?;
    if !reply.removed {
        return Err(ApiError::new(
            talkapp_common::ErrorCode::NotFound,
            "no such push subscription",
        ));
    }
    Ok(HttpResponse::Ok().json(PushSubscriptions {
        subscriptions: reply.subscriptions,
    }))
}

/// The VAPID public key to subscribe browsers with (`applicationServerKey`).
#[utoipa::path(get, path = "/push/vapid_public_key", tag = "realtime",
    responses((status = 200, body = VapidPublicKey)))]
pub async fn vapid_public_key(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(VapidPublicKey {
        public_key: state.services.push_public_key().await?,
    }))
}
