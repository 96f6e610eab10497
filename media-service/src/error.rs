//! Why a media call failed, and the stable code each reason is answered with.

use talkapp_common::ErrorCode;

/// A media call's failure.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// No such file of this user.
    #[error("no such file")]
    NotFound,
    /// The bytes exceed `media.max_file_bytes`.
    #[error("the file is larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// The upload would take the user past `media.quota_bytes`.
    #[error("the upload would exceed the storage quota of {quota} bytes ({used} in use)")]
    QuotaExceeded {
        /// Bytes the user's files take.
        used: u64,
        /// The quota.
        quota: u64,
    },
    /// The bytes are of a type not accepted.
    #[error("{0}")]
    TypeNotAllowed(String),
    /// An image with more pixels than accepted.
    #[error("the image is {width} x {height} pixels, more than accepted")]
    ImageTooLarge {
        /// Pixels.
        width: u32,
        /// Pixels.
        height: u32,
    },
    /// No bytes at all.
    #[error("the file is empty")]
    Empty,
    /// The upload stopped before its end.
    #[error("the upload is incomplete: {0}")]
    Incomplete(String),
    /// The file's preview is still being made (ADR 0049).
    #[error("the preview is still being made; try again shortly")]
    PreviewPending,
    /// A malformed request.
    #[error("{0}")]
    InvalidArgument(String),
    /// The store or the object store cannot be reached.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A bug or corrupted data.
    #[error("internal: {0}")]
    Internal(String),
}

/// `Result` with [`MediaError`].
pub type Result<T, E = MediaError> = std::result::Result<T, E>;

impl MediaError {
    /// The stable code of this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::NotFound => ErrorCode::NotFound,
            Self::TooLarge { .. } => ErrorCode::MediaTooLarge,
            Self::QuotaExceeded { .. } => ErrorCode::QuotaExceeded,
            Self::TypeNotAllowed(_) => ErrorCode::FileTypeNotAllowed,
            Self::ImageTooLarge { .. } => ErrorCode::ImageTooLarge,
            Self::Empty => ErrorCode::EmptyFile,
            Self::Incomplete(_) => ErrorCode::UploadIncomplete,
            Self::PreviewPending => ErrorCode::PreviewPending,
            Self::InvalidArgument(_) => ErrorCode::ValidationFailed,
            Self::Unavailable(_) => ErrorCode::ServiceUnavailable,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }
}

impl From<talkapp_store::StoreError> for MediaError {
    fn from(error: talkapp_store::StoreError) -> Self {
        match error {
            talkapp_store::StoreError::Unavailable(cause) => Self::Unavailable(cause),
            talkapp_store::StoreError::Conflict(what) => {
                Self::Internal(format!("conflict on {what}"))
            }
            talkapp_store::StoreError::Internal(cause) => Self::Internal(cause),
        }
    }
}

impl From<object_store::Error> for MediaError {
    fn from(error: object_store::Error) -> Self {
        match error {
            object_store::Error::NotFound { .. } => {
                Self::Internal(format!("an object is missing: {error}"))
            }
            other => Self::Unavailable(other.to_string()),
        }
    }
}
