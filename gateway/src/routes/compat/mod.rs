//! TorexTalkWeb compatibility routes (issue 6): the paths, bodies and JSON types the
//! unchanged TorexTalkWeb frontend sends and reads (`docs/compat/torextalkweb-contract.md`),
//! mapped onto the chat service like the native routes.
//!
//! The user is always the bearer token's user ([`Caller`]), never a path segment, so an
//! account index only ever names an account of the caller. Errors stay
//! `application/problem+json` (the frontend never reads error bodies; `detail` is there
//! for people), with a few statuses changed to the ones the contract lists (see
//! [`CompatError`]).
//!
//! Media: `/me/download_media`, message thumbnails (`thumb_url`) and chat photos
//! (`photo_url`) are short-lived signed links ([`media`]); the account photo of
//! `/me/telegrams` (`profile_picture`) is not yet (`null`).
//!
//! [`Caller`]: crate::auth::extract::Caller

pub mod accounts;
pub mod chat_lists;
pub mod login;
pub mod media;
pub mod messages;

use actix_web::body::BoxBody;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError, web};
use talkapp_proto::chat::v1 as chat;
use uuid::Uuid;

use crate::problem::{ApiError, FieldError};

/// Registers the routes. Call it before the native routes: actix matches in
/// registration order and `/me/chats/{chat_id}/messages` would otherwise be taken by
/// `/me/chats/{user_id}/{session_index}`.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(web::resource("/start_login").post(login::start_login))
        .service(web::resource("/verify_code").post(login::verify_code))
        .service(web::resource("/verify_password").post(login::verify_password))
        .service(
            web::resource("/me/telegrams")
                .get(accounts::list_accounts)
                .delete(accounts::delete_all_accounts),
        )
        .service(web::resource("/me/telegrams/{index}").delete(accounts::delete_account))
        .service(web::resource("/me/private_chats/{session_index}").get(chat_lists::private_chats))
        .service(web::resource("/me/groups/{session_index}").get(chat_lists::groups))
        .service(web::resource("/me/chats/{chat_id}/messages").get(messages::messages))
        .service(web::resource("/me/download_media").get(media::download_media));
}

/// An [`ApiError`] answered with the status the contract gives for it, when that differs
/// from TalkApp's usual one; the problem body's `status` follows.
#[derive(Debug)]
pub struct CompatError {
    error: ApiError,
    status: Option<StatusCode>,
}

impl CompatError {
    /// `error` with `status` instead of its own.
    pub fn with_status(error: ApiError, status: StatusCode) -> Self {
        Self {
            error,
            status: Some(status),
        }
    }
}

impl From<ApiError> for CompatError {
    fn from(error: ApiError) -> Self {
        Self {
            error,
            status: None,
        }
    }
}

impl std::fmt::Display for CompatError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(formatter)
    }
}

impl ResponseError for CompatError {
    fn status_code(&self) -> StatusCode {
        self.status.unwrap_or_else(|| self.error.status_code())
    }

    fn error_response(&self) -> HttpResponse {
        let response = self.error.error_response();
        let Some(status) = self.status else {
            return response;
        };
        let mut problem = self.error.problem();
        problem.status = status.as_u16();
        let mut response = response.set_body(BoxBody::new(
            serde_json::to_vec(&problem).unwrap_or_default(),
        ));
        *response.status_mut() = status;
        response
    }
}

/// A field-level validation error.
pub fn field_error(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::validation(vec![FieldError {
        field: field.into(),
        message: message.into(),
    }])
}

/// An account index as the frontend sends it (`"1"`, `"2"`, ...): 1 to 9999.
pub fn account_index(field: &str, value: &str) -> Result<u32, ApiError> {
    value
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|index| (1..=9999).contains(index))
        .ok_or_else(|| field_error(field, "must be an account index (1, 2, ...)"))
}

/// The caller's account `session_index`.
pub fn account_ref(user_id: Uuid, session_index: u32) -> chat::AccountRef {
    chat::AccountRef {
        user_id: user_id.to_string(),
        session_index,
    }
}

/// A decimal id from the chat service as a JSON number (the frontend wants numbers;
/// Telegram's user and chat ids stay within 2^53).
pub fn id_number(id: &str) -> i64 {
    id.parse().unwrap_or_default()
}

/// `None` for an empty string.
pub fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}
