//! What the `/me/...` account routes share in their OpenAPI annotations: the path
//! parameters naming one linked account (and a chat of it), and the Telegram errors
//! every call that reaches Telegram can give.
//!
//! The types here only describe; the handlers still take their path as
//! `web::Path<(String, u32[, String])>` and check it with
//! [`super::chats::account_ref`] (the user id is checked by
//! [`crate::auth::extract::PathOwner`]).

use std::collections::BTreeMap;

use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{IntoParams, IntoResponses};

use crate::problem::PROBLEM_JSON;

/// `{user_id}/{session_index}`: one linked account of the token's user.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // Read by the OpenAPI document only.
pub struct AccountPath {
    /// TalkApp user id; must be the token's user
    user_id: uuid::Uuid,
    /// Which linked account
    session_index: u32,
}

/// `{user_id}/{session_index}/{chat_id}`: a chat of one linked account.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // Read by the OpenAPI document only.
pub struct AccountChatPath {
    /// TalkApp user id; must be the token's user
    user_id: uuid::Uuid,
    /// Which linked account
    session_index: u32,
    /// Bot-API-style chat id
    chat_id: String,
}

/// `{user_id}/{session_index}/{chat_id}` where the chat must be a group, supergroup or
/// channel.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // Read by the OpenAPI document only.
pub struct AccountGroupPath {
    /// TalkApp user id; must be the token's user
    user_id: uuid::Uuid,
    /// Which linked account
    session_index: u32,
    /// Bot-API-style chat id of a group, supergroup or channel
    chat_id: String,
}

/// The `Idempotency-Key` header of the routes that change something once per key (the
/// chat service takes 1 to 128 printable ASCII characters); see
/// [`super::groups::idempotency_key`].
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)] // Read by the OpenAPI document only.
pub struct IdempotencyKeyHeader {
    /// Retries with the same key get the first answer (up to 128 printable ASCII characters)
    #[param(rename = "Idempotency-Key")]
    idempotency_key: Option<String>,
}

/// A problem+json response with `description`.
pub(crate) fn problem_response(description: &str) -> RefOr<Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                PROBLEM_JSON,
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build(),
    )
}

/// 429 `telegram_flood_wait` and 503 `telegram_unavailable`: what any call that reaches
/// Telegram through the account can answer. A route that says more about either lists
/// its own response for that status instead.
pub struct TelegramErrors;

impl IntoResponses for TelegramErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        BTreeMap::from([
            (
                "429".to_owned(),
                problem_response("`telegram_flood_wait`, with `Retry-After`"),
            ),
            ("503".to_owned(), problem_response("`telegram_unavailable`")),
        ])
    }
}
