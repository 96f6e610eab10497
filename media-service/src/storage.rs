//! Where the bytes live: an `object_store` (a local directory or S3), with the keys the
//! service uses. Blobs are content-addressed (`blobs/ab/abcd...`), their previews beside
//! them (`previews/ab/abcd....jpg`), uploads in progress under `tmp/`.

use std::path::PathBuf;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::path::Path;
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
