//! `POST /me/contacts/{user_id}/{session_index}`: adding a contact by phone number
//! (`contacts.importContacts`) or by Telegram user id or username
//! (`contacts.addContact`), saved under the names given, once per `Idempotency-Key`
//! (or `client_request_id`); and `DELETE /me/contacts/{user_id}/{session_index}/{telegram_user_id}`
//! (`contacts.deleteContacts`). The list itself is `GET /me/contacts` (`contact_list`).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use talkapp_proto::chat::v1 as chat;
use utoipa::ToSchema;

use crate::auth::extract::{OwnedJson, PathOwner};
use crate::problem::ApiError;
use crate::routes::chats::{account_ref, field_error};
use crate::routes::contact_list::ContactView;
use crate::routes::groups::idempotency_key;
use crate::state::AppState;

/// A contact to add: a `phone`, or a `user` (id or `@username`), not both.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewContact {
    /// A phone number in international form (`+` optional; spaces, dashes and
    /// parentheses ignored), 5 to 15 digits.
    #[schema(max_length = 32)]
    pub phone: Option<String>,
    /// A Telegram user id this account has met (number or string) or a `@username`.
    #[schema(value_type = Option<String>)]
    pub user: Option<serde_json::Value>,
    /// The name to save them under: 1 to 64 characters, one line.
    #[schema(min_length = 1, max_length = 64)]
    pub first_name: String,
    /// Up to 64 characters, one line.
    #[schema(max_length = 64)]
    pub last_name: Option<String>,
    /// Idempotency key, when the `Idempotency-Key` header is not used (up to 128
    /// printable ASCII characters).
    pub client_request_id: Option<String>,
}

/// Who to add, as the chat service takes it: a user id, `@username` or `+phone`.
fn contact_user(body: &NewContact) -> Result<String, ApiError> {
    match (&body.phone, &body.user) {
        (Some(phone), None) => {
            let phone = phone.trim();
            if phone.len() > 32 {
                return Err(field_error("phone", "at most 32 characters"));
            }
            Ok(if phone.starts_with('+') {
                phone.to_owned()
            } else {
                format!("+{phone}")
            })
        }
        (None, Some(serde_json::Value::String(user))) => Ok(user.clone()),
        (None, Some(serde_json::Value::Number(number))) if number.is_i64() => {
            Ok(number.to_string())
        }
        (None, Some(_)) => Err(field_error("user", "must be a user id or @username")),
        (Some(_), Some(_)) => Err(field_error("phone", "give phone or user, not both")),
        (None, None) => Err(field_error("phone", "give phone or user")),
    }
}

/// A contact as the contact list shows it.
fn contact_view(contact: chat::Contact) -> Result<ContactView, ApiError> {
    ContactView::from_contact(contact)
        .ok_or_else(|| ApiError::internal("a contact without the user"))
}

/// Adds a contact: by phone number, or a user this account can address (id or
/// `@username`), saved under the names given; answers 201 with the contact as the
/// contact list shows it. The same `Idempotency-Key` (or `client_request_id`) answers the
/// first result again.
#[utoipa::path(post, path = "/me/contacts/{user_id}/{session_index}", tag = "contacts", request_body = NewContact,
    params(
        crate::routes::common::AccountPath,
        crate::routes::common::IdempotencyKeyHeader,
    ),
    security(("bearer" = [])),
    responses(
        (status = 201, body = ContactView),
        (status = 404, description = "`not_found`: no such linked account; no Telegram user has the phone number (PHONE_NOT_OCCUPIED), the username (USERNAME_NOT_OCCUPIED), or an id this account has met (USER_ID_INVALID)", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`request_in_progress`: the first request with this key is still running", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: neither or both of phone and user, a malformed phone, id or username, a name over 64 characters or blank (also Telegram's CONTACT_NAME_EMPTY), the account itself (CONTACT_ID_INVALID); `idempotency_key_reused`", body = crate::problem::Problem, content_type = "application/problem+json"),
        crate::routes::common::TelegramErrors,
    ))]
#[tracing::instrument(skip_all, fields(user_id = %request.owner.user_id))]
pub async fn add_contact(
    http: HttpRequest,
    request: OwnedJson<NewContact>,
    state: web::Data<AppState>,
    path: web::Path<(String, u32)>,
) -> Result<HttpResponse, ApiError> {
    let OwnedJson { owner, body } = request;
    let user = contact_user(&body)?;
    let idempotency_key = idempotency_key(&http, body.client_request_id)?;
    let contact = state
        .services
        .add_contact(chat::AddContactRequest {
            account: Some(account_ref(&owner, path.1)?),
            user,
            first_name: body.first_name,
            last_name: body.last_name.unwrap_or_default(),
            idempotency_key,
        })
        .await?;
    Ok(HttpResponse::Created().json(contact_view(contact)?))
}

/// Deletes a contact (a user this account has met); 204 also when they were not a
/// contact.
#[utoipa::path(delete, path = "/me/contacts/{user_id}/{session_index}/{telegram_user_id}", tag = "contacts",
    params(
        crate::routes::common::AccountPath,
        ("telegram_user_id" = String, Path, description = "The contact's Telegram user id"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "`not_found`: no such linked account, or a user this account has not met (USER_ID_INVALID)", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: not a Telegram user id", body = crate::problem::Problem, content_type = "application/problem+json"),
        crate::routes::common::TelegramErrors,
    ))]
#[tracing::instrument(skip_all, fields(user_id = %owner.user_id))]
pub async fn delete_contact(
    owner: PathOwner,
    state: web::Data<AppState>,
    path: web::Path<(String, u32, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, session_index, telegram_user_id) = path.into_inner();
    state
        .services
        .delete_contact(chat::DeleteContactRequest {
            account: Some(account_ref(&owner, session_index)?),
            telegram_user_id,
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
