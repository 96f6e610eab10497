//! Where the bytes live: an `object_store` (a local directory or S3), with the keys the
//! service uses. Blobs are content-addressed (`blobs/ab/abcd...`), their previews beside
//! them (`previews/ab/abcd....jpg`), uploads in progress under `tmp/`.

use std::path::PathBuf;
use std::sync::Arc;

use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpResponse, HttpService,
    ReqwestConnector,
};
use object_store::path::Path;
use object_store::{ClientOptions, ObjectStore};
use secrecy::ExposeSecret as _;
use talkapp_common::config::{Config, StorageBackend};

/// The object store and how to write to it.
#[derive(Clone)]
pub struct Storage {
    objects: Arc<dyn ObjectStore>,
    /// The directory of the local backend (its sweep looks at the files directly: the
    /// staging files of an interrupted write are invisible to `list`).
    local_root: Option<PathBuf>,
    /// Bytes per part of a streamed write (S3 wants at least 5 MiB but the last).
    pub(crate) part_bytes: usize,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Storage")
            .field("objects", &self.objects.to_string())
            .finish()
    }
}

impl Storage {
    /// The store `storage` configures (`local` under `data.dir`/media by default).
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let storage = &config.storage;
        match storage.backend {
            StorageBackend::Local => {
                let root = if storage.local_dir.is_empty() {
                    config.data.dir.join("media")
                } else {
                    PathBuf::from(&storage.local_dir)
                };
                Self::local(root)
            }
            StorageBackend::S3 => {
                let mut builder = object_store::aws::AmazonS3Builder::new()
                    // A server out of space told apart, and not retried (ADR 0069).
                    .with_http_connector(FullAwareConnector)
                    .with_bucket_name(&storage.s3_bucket)
                    .with_region(&storage.s3_region)
                    .with_allow_http(storage.s3_allow_http)
                    .with_virtual_hosted_style_request(!storage.s3_path_style);
                if !storage.s3_endpoint.is_empty() {
                    builder = builder.with_endpoint(&storage.s3_endpoint);
                }
                let key_id = storage.s3_access_key_id.expose_secret();
                if !key_id.is_empty() {
                    builder = builder
                        .with_access_key_id(key_id)
                        .with_secret_access_key(storage.s3_secret_access_key.expose_secret());
                }
                Ok(Self {
                    objects: Arc::new(builder.build()?),
                    local_root: None,
                    part_bytes: 8 * 1024 * 1024,
                })
            }
        }
    }

    /// Files under `root` (created when missing).
    pub fn local(root: PathBuf) -> anyhow::Result<Self> {
        // Users' files: the owner's only.
        talkapp_common::secrets::create_private_dir(&root)
            .map_err(|error| anyhow::anyhow!("cannot create {}: {error}", root.display()))?;
        let objects = object_store::local::LocalFileSystem::new_with_prefix(&root)?
            // Deleting the last file of a directory removes the directory too.
            .with_automatic_cleanup(true);
        Ok(Self {
            objects: Arc::new(objects),
            local_root: Some(root),
            // Parts are written in place on disk: small ones keep memory flat.
            part_bytes: 1024 * 1024,
        })
    }

    /// The object store.
    pub(crate) fn objects(&self) -> &Arc<dyn ObjectStore> {
        &self.objects
    }

    /// The file an object is kept in, for the local backend (absolute).
    pub(crate) fn local_file(&self, path: &Path) -> Option<PathBuf> {
        let file = self.local_root.as_ref()?.join(path.as_ref());
        std::path::absolute(&file).ok()
    }

    /// The local directory, for the local backend.
    pub(crate) fn local_root(&self) -> Option<&std::path::Path> {
        self.local_root.as_deref()
    }
}

/// HTTP 507 Insufficient Storage: what S3-compatible servers answer when they are out of
/// space (MinIO: `XMinioStorageFull`, "Storage backend has reached its minimum free drive
/// threshold"; others `InsufficientStorage`).
const INSUFFICIENT_STORAGE: u16 = 507;
/// The part of a 507's message kept for the log.
const MAX_FULL_MESSAGE_CHARS: usize = 300;

/// The S3 client's HTTP connections, with a server out of space told apart: its 507 is
/// turned into an error of kind `StorageFull` (`ENOSPC`'s), which [`crate::error`] finds
/// in the object store's error as it finds a full local disk's. Turned into an error
/// before the object store's retries see it: they retry every 5xx for up to three minutes,
/// and a full server is not full for a moment (a client is told to come back in one).
#[derive(Debug)]
struct FullAwareConnector;

impl HttpConnector for FullAwareConnector {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        let client = ReqwestConnector::default().connect(options)?;
        Ok(HttpClient::new(FullAwareClient(client)))
    }
}

#[derive(Debug)]
struct FullAwareClient(HttpClient);

#[async_trait::async_trait]
impl HttpService for FullAwareClient {
    async fn call(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let response = self.0.execute(request).await?;
        if response.status().as_u16() != INSUFFICIENT_STORAGE {
            return Ok(response);
        }
        let body = response.into_body().bytes().await?;
        let full = ServerFull::of(&String::from_utf8_lossy(&body));
        // `Unknown`: not retried.
        Err(HttpError::new(
            HttpErrorKind::Unknown,
            std::io::Error::new(std::io::ErrorKind::StorageFull, full),
        ))
    }
}

/// An S3-compatible server's answer that it is out of space: its error code and message.
#[derive(Debug, thiserror::Error)]
#[error("the S3 server is out of space (507 {code}: {message})")]
struct ServerFull {
    code: String,
    message: String,
}

impl ServerFull {
    /// From the XML error body (`<Error><Code>..</Code><Message>..</Message>`), what it has.
    fn of(body: &str) -> Self {
        let element = |name: &str| {
            let open = format!("<{name}>");
            let start = body.find(&open)? + open.len();
            let end = start + body[start..].find(&format!("</{name}>"))?;
            Some(
                body[start..end]
                    .chars()
                    .take(MAX_FULL_MESSAGE_CHARS)
                    .collect(),
            )
        };
        Self {
            code: element("Code").unwrap_or_else(|| "InsufficientStorage".to_owned()),
            message: element("Message").unwrap_or_default(),
        }
    }
}

/// Where a blob's bytes are.
pub(crate) fn blob_path(sha256: &str) -> Path {
    Path::from(format!("blobs/{}/{sha256}", &sha256[..2.min(sha256.len())]))
}

/// Where a blob's preview is.
pub(crate) fn preview_path(sha256: &str) -> Path {
    Path::from(format!(
        "previews/{}/{sha256}.jpg",
        &sha256[..2.min(sha256.len())]
    ))
}

/// Where an upload in progress is written.
pub(crate) fn temporary_path(upload_id: uuid::Uuid) -> Path {
    Path::from(format!("tmp/{upload_id}"))
}

/// The prefix of uploads in progress.
pub(crate) const TEMPORARY_PREFIX: &str = "tmp";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_servers_code_and_message_are_read_from_its_error_body() {
        let minio = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>XMinioStorageFull</Code>\
            <Message>Storage backend has reached its minimum free drive threshold.</Message>\
            <Resource>/b/k</Resource></Error>";
        let full = ServerFull::of(minio);
        assert_eq!(
            (full.code.as_str(), full.message.as_str()),
            (
                "XMinioStorageFull",
                "Storage backend has reached its minimum free drive threshold."
            )
        );
        let bare = ServerFull::of("");
        assert_eq!(
            (bare.code.as_str(), bare.message.as_str()),
            ("InsufficientStorage", "")
        );
        assert!(
            ServerFull::of("<Code>X</Code><Message>unterminated")
                .message
                .is_empty()
        );
    }
}
