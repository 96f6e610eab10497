//! Chat domain logic, independent of the transport.

use std::sync::Arc;

use talkapp_common::ErrorCode;
use talkapp_store::{Store, StoreError, TelegramSession};
use uuid::Uuid;

/// Why a chat operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// The request is not acceptable.
    #[error("{0}")]
    InvalidArgument(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ChatError {
    /// The stable code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidArgument(_) => ErrorCode::ValidationFailed,
            Self::Store(StoreError::Conflict(_)) => ErrorCode::ValidationFailed,
            Self::Store(StoreError::Unavailable(_)) => ErrorCode::ServiceUnavailable,
            Self::Store(StoreError::Internal(_)) => ErrorCode::Internal,
        }
    }
}

/// The chat service's operations.
#[derive(Clone)]
pub struct ChatService {
    store: Arc<dyn Store>,
}

impl ChatService {
    /// A service over `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// The Telegram accounts `user_id` has linked, by `session_index`.
    #[tracing::instrument(skip(self))]
    pub async fn list_sessions(&self, user_id: &str) -> Result<Vec<TelegramSession>, ChatError> {
        let user_id = Uuid::parse_str(user_id)
            .map_err(|_| ChatError::InvalidArgument("user_id must be a UUID".into()))?;
        Ok(self.store.telegram_sessions(user_id).await?)
    }
}
