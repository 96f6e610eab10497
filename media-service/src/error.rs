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
    /// The storage is full (no space left on the device, the filesystem's quota for the
    /// service used up, an S3 server out of space or over a bucket's or user's quota):
    /// what was written of the upload is removed. The client is told which, never the
    /// path or the bucket (the log has them).
    #[error("the server's storage is full ({}); try again later", .0.describe())]
    StorageFull(FullStorage),
    /// The store or the object store cannot be reached, or refused for another reason
    /// than space. The cause (which may name the S3 endpoint, the bucket, a key or the
    /// database's host) is for the log only: the client is told [`UNAVAILABLE_MESSAGE`].
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A bug or corrupted data.
    #[error("internal: {0}")]
    Internal(String),
}

/// What a client is told of a [`MediaError::Unavailable`]: useful, and nothing of where
/// the storage is (its cause goes to the log).
pub const UNAVAILABLE_MESSAGE: &str = "the file storage is unavailable; try again later";

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
            Self::StorageFull(_) => ErrorCode::InsufficientStorage,
            Self::Unavailable(_) => ErrorCode::ServiceUnavailable,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    /// What the caller is told: the failure's own text, but for the two whose text is
    /// the server's business (a bug's cause, and an unavailable storage's, which names
    /// the endpoint and the bucket): those are logged, and the caller gets a fixed text.
    pub fn client_message(&self) -> String {
        match self {
            Self::Internal(_) => "internal error".to_owned(),
            Self::Unavailable(_) => UNAVAILABLE_MESSAGE.to_owned(),
            other => other.to_string(),
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
            // The local backend's own writes (a preview's file) on a full disk; an S3
            // server's refusal for want of space (`crate::storage`'s connector).
            other => match full_storage_in(&other) {
                Some(reason) => storage_full(reason, &other),
                None => Self::Unavailable(other.to_string()),
            },
        }
    }
}

/// Which way the storage is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FullStorage {
    /// `ENOSPC`: no space left on the device.
    NoSpace,
    /// `EDQUOT`: the filesystem's quota for the service's user is used up.
    DiskQuota,
    /// The object storage's quota (a bucket's or its user's) is used up: an S3 server
    /// refused a write with Ceph RGW's `QuotaExceeded` or MinIO's
    /// `XMinioAdminBucketQuotaExceeded`. Not the TalkApp user's own quota (that is
    /// [`MediaError::QuotaExceeded`], which the user can do something about).
    StorageQuota,
}

impl FullStorage {
    /// The metric's label (a bounded set).
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::NoSpace => "no_space",
            Self::DiskQuota => "disk_quota",
            Self::StorageQuota => "storage_quota",
        }
    }

    pub(crate) fn describe(self) -> &'static str {
        match self {
            Self::NoSpace => "no space left on the device",
            Self::DiskQuota => "its disk quota is used up",
            Self::StorageQuota => "the object storage's quota is used up",
        }
    }
}

/// Whether a write failed because the storage is full (`ENOSPC`, `EDQUOT`).
pub(crate) fn full_storage(error: &std::io::Error) -> Option<FullStorage> {
    match error.kind() {
        std::io::ErrorKind::StorageFull => Some(FullStorage::NoSpace),
        std::io::ErrorKind::QuotaExceeded => Some(FullStorage::DiskQuota),
        _ => None,
    }
}

/// A full storage found anywhere in an error's chain of sources.
fn full_storage_in(error: &(dyn std::error::Error + 'static)) -> Option<FullStorage> {
    let mut current = Some(error);
    while let Some(error) = current {
        let Some(io) = error.downcast_ref::<std::io::Error>() else {
            current = error.source();
            continue;
        };
        // An S3 server's refusal says which way it is full (an `io::Error` of kind
        // `QuotaExceeded` around it is not the local disk's `EDQUOT`).
        if let Some(refusal) = io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<crate::storage::ServerRefusal>())
        {
            return Some(refusal.reason);
        }
        if let Some(reason) = full_storage(io) {
            return Some(reason);
        }
        // An `io::Error` wrapping another error skips it in `source()`.
        current = match io.get_ref() {
            Some(inner) => Some(inner),
            None => error.source(),
        };
    }
    None
}

/// The failure of a write that found the storage full, told to the operator (an error
/// line and `talkapp_media_write_failures_total{reason}`): only they can free space.
pub(crate) fn storage_full(reason: FullStorage, error: &dyn std::fmt::Display) -> MediaError {
    tracing::error!(%error, reason = reason.label(), "the media storage is full: a write failed");
    count_full_storage(reason);
    MediaError::StorageFull(reason)
}

/// The preview tools' temporary directory (`media.frame_temp_dir`) found full while an
/// S3-stored video's or PDF's copy was written for its preview: not the media storage,
/// and told apart in the log line, but counted with the same reasons (the same alert
/// fires: only an operator can free the space, and until then no such preview is made).
pub(crate) fn frame_temp_dir_full(reason: FullStorage, error: &dyn std::fmt::Display) {
    tracing::error!(
        %error,
        reason = reason.label(),
        "the preview tools' temporary directory (media.frame_temp_dir) is full: a preview's copy failed"
    );
    count_full_storage(reason);
}

fn count_full_storage(reason: FullStorage) {
    metrics::counter!("talkapp_media_write_failures_total", "reason" => reason.label())
        .increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The local backend's own writes (a preview put through the object store) on a full
    /// disk: the `ENOSPC` under the object store's error is found.
    #[test]
    fn an_object_store_write_on_a_full_disk_is_the_storage_being_full() {
        let full = object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(std::io::Error::other(std::io::Error::from_raw_os_error(
                nix::libc::ENOSPC,
            ))),
        };
        let error = MediaError::from(full);
        assert!(
            matches!(error, MediaError::StorageFull(FullStorage::NoSpace)),
            "{error:?}"
        );
        let other = object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(std::io::Error::from_raw_os_error(nix::libc::EACCES)),
        };
        let error = MediaError::from(other);
        assert!(matches!(error, MediaError::Unavailable(_)), "{error:?}");
    }

    /// An S3 server's quota refusal under the object store's error (as the S3 client's
    /// connection gives it, `crate::storage`) is the object storage's quota, not the local
    /// disk's `EDQUOT` (an `io::Error` of the same kind).
    #[test]
    fn an_s3_quota_refusal_is_the_storage_quota_and_a_local_edquot_stays_the_disk_quota() {
        let refusal = crate::storage::ServerRefusal::of(
            FullStorage::StorageQuota,
            403,
            "<Error><Code>QuotaExceeded</Code></Error>",
        );
        let refused = object_store::Error::Generic {
            store: "S3",
            source: Box::new(refusal.into_http_error()),
        };
        let error = MediaError::from(refused);
        assert!(
            matches!(error, MediaError::StorageFull(FullStorage::StorageQuota)),
            "{error:?}"
        );
        assert_eq!(error.code(), ErrorCode::InsufficientStorage);
        assert_eq!(
            error.to_string(),
            "the server's storage is full (the object storage's quota is used up); try again later"
        );
        let disk_quota = object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(std::io::Error::from_raw_os_error(nix::libc::EDQUOT)),
        };
        let error = MediaError::from(disk_quota);
        assert!(
            matches!(error, MediaError::StorageFull(FullStorage::DiskQuota)),
            "{error:?}"
        );
    }
}
