//! Extractors that authenticate a request before the handler runs.

use actix_web::{FromRequest, HttpMessage as _, HttpRequest, dev::Payload, web};
use futures::future::LocalBoxFuture;
use talkapp_common::ErrorCode;
use uuid::Uuid;

use super::verifier::{Identity, bearer_token};
use crate::problem::{ApiError, FieldError};
use crate::rate_limit::Bucket;
use crate::state::AppState;

/// Any caller with a valid token.
#[derive(Debug, Clone)]
pub struct Caller(pub Identity);

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let verification = start_verification(request);
        Box::pin(async move { verification.await.map(Caller) })
    }
}

/// A caller whose token's user is the `{user_id}` of the path. Every route with
/// `{user_id}` takes this first, so a user reaches only their own resources, and the
/// refusal comes before any work is done.
#[derive(Debug, Clone)]
pub struct PathOwner {
    /// The verified caller.
    pub identity: Identity,
    /// The path's (and the caller's) user id.
    pub user_id: Uuid,
}

impl FromRequest for PathOwner {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let verification = start_verification(request);
        let path_user = request.match_info().get("user_id").map(str::to_owned);
        Box::pin(async move {
            let identity = verification.await?;
            let path_user = path_user
                .ok_or_else(|| ApiError::internal("PathOwner used on a route without {user_id}"))?;
            let user_id = Uuid::parse_str(&path_user).map_err(|_| {
                ApiError::validation(vec![FieldError {
                    field: "user_id".into(),
                    message: "must be a UUID".into(),
                }])
            })?;
            if user_id != identity.user_id {
                return Err(ApiError::new(
                    ErrorCode::Forbidden,
                    "this path belongs to another user",
                ));
            }
            Ok(PathOwner { identity, user_id })
        })
    }
}

fn start_verification(
    request: &HttpRequest,
) -> LocalBoxFuture<'static, Result<Identity, ApiError>> {
    let state = request.app_data::<web::Data<AppState>>().cloned();
    let token = bearer_token(request).map(str::to_owned);
    crate::audit::note_path(request);
    let request = request.clone();
    Box::pin(async move {
        let state = state.ok_or_else(|| ApiError::internal("application state missing"))?;
        let token = token?;
        let identity = state.verifier.verify(&token).await?;
        crate::audit::note_caller(identity.user_id);
        // Counted as the user's request (`activity`), whatever the answer.
        request
            .extensions_mut()
            .insert(crate::activity::CountedUser(identity.user_id));
        state
            .rate_limiter
            .check(Bucket::Api, &identity.user_id.to_string())
            .await?;
        Ok(identity)
    })
}

/// A [`PathOwner`] and its JSON body, checked in that order: a caller on another user's
/// path is refused (403) before the body is even read, whatever it holds.
#[derive(Debug)]
pub struct OwnedJson<T> {
    /// The verified owner.
    pub owner: PathOwner,
    /// The body.
    pub body: T,
}

impl<T: serde::de::DeserializeOwned + 'static> FromRequest for OwnedJson<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let owner = PathOwner::from_request(request, payload);
        let body = web::Json::<T>::from_request(request, payload);
        Box::pin(async move {
            let owner = owner.await?;
            let body = body.await?.into_inner();
            Ok(Self { owner, body })
        })
    }
}
