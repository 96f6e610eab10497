//! A media service per test: a fresh database, a fresh directory (or bucket), port 0.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt as _;
use talkapp_common::config::{Config, ConfigSources};
use talkapp_media_service::{Application, MediaCore, Storage};
use talkapp_proto::media::v1 as proto;
use talkapp_proto::media::v1::media_service_client::MediaServiceClient;
use talkapp_proto::tonic::transport::Channel;
use talkapp_proto::tonic::{Code, Status};
use talkapp_store::MediaStore;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Where the PostgreSQL tests create their databases.
const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// The S3-compatible test server (`.ci/run` starts moto's server there).
pub(crate) const DEFAULT_S3_ENDPOINT: &str = "http://127.0.0.1:9900";

/// Which database a test runs on.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Database {
    Sqlite,
    Postgres,
}

/// Which object store.
#[derive(Debug, Clone)]
pub(crate) enum Objects {
    Local,
    S3 { endpoint: String, bucket: String },
}

pub(crate) struct TestService {
    pub(crate) client: MediaServiceClient<Channel>,
    /// `Upload` as a gateway in the same process calls it (ADR 0051).
    pub(crate) in_process: Arc<dyn talkapp_common::grpc::InProcessUploads>,
    pub(crate) core: MediaCore,
    pub(crate) store: Arc<dyn MediaStore>,
    pub(crate) dir: PathBuf,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    postgres_database: Option<String>,
    /// What it was started with (for [`TestService::restart_with`]).
    overrides: Vec<(String, String)>,
    s3: bool,
    /// Whether stopping it removes its directory and database (a replica's are its
    /// first instance's).
    owned: bool,
}

pub(crate) fn config(dir: &std::path::Path, overrides: &[(&str, &str)]) -> Config {
    let mut all = vec![
        ("data.dir".to_owned(), dir.display().to_string()),
        (
            "media.quota_bytes".to_owned(),
            (64 * 1024 * 1024).to_string(),
        ),
        (
            "media.max_file_bytes".to_owned(),
            (32 * 1024 * 1024).to_string(),
        ),
        ("media.stale_upload_secs".to_owned(), "60".to_owned()),
    ];
    all.extend(
        overrides
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned())),
    );
    Config::load(&ConfigSources {
        overrides: all,
        ..ConfigSources::default()
    })
    .expect("test config")
}

async fn admin() -> tokio_postgres::Client {
    let url = std::env::var("TALKAPP_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("PostgreSQL for the media tests");
    tokio::spawn(connection);
    client
}

impl TestService {
    pub(crate) async fn start(database: Database) -> Self {
        Self::start_with(database, Objects::Local, &[]).await
    }

    pub(crate) async fn start_with(
        database: Database,
        objects: Objects,
        overrides: &[(&str, &str)],
    ) -> Self {
        let dir =
            std::env::temp_dir().join(format!("talkapp-media-test-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut overrides: Vec<(&str, String)> = overrides
            .iter()
            .map(|(k, v)| (*k, (*v).to_owned()))
            .collect();
        let mut postgres_database = None;
        match database {
            Database::Sqlite => {
                overrides.push((
                    "database.url",
                    format!("sqlite://{}/db.sqlite", dir.display()),
                ));
            }
            Database::Postgres => {
                let name = format!("talkapp_test_{}", Uuid::new_v4().simple());
                admin()
                    .await
                    .batch_execute(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .expect("create database");
                overrides.push((
                    "database.url",
                    format!("postgres://postgres@127.0.0.1:5432/{name}"),
                ));
                postgres_database = Some(name);
            }
        }
        if let Objects::S3 { endpoint, bucket } = &objects {
            overrides.extend([
                ("storage.backend", "s3".to_owned()),
                ("storage.s3_endpoint", endpoint.clone()),
                ("storage.s3_bucket", bucket.clone()),
                ("storage.s3_allow_http", "true".to_owned()),
                ("storage.s3_access_key_id", "testing".to_owned()),
                ("storage.s3_secret_access_key", "testing".to_owned()),
            ]);
        }
        let overrides = overrides
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value))
            .collect();
        Self::launch(
            dir,
            overrides,
            matches!(objects, Objects::S3 { .. }),
            postgres_database,
        )
        .await
    }

    /// Stops the service (its preview workers with it) and starts another on the same
    /// database and objects, with `overrides` on top of the first one's settings.
    pub(crate) async fn restart_with(self, overrides: &[(&str, &str)]) -> Self {
        self.shutdown.cancel();
        let _ = self.task.await;
        let mut all = self.overrides;
        all.extend(
            overrides
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned())),
        );
        Self::launch(self.dir, all, self.s3, self.postgres_database).await
    }

    /// Another replica of the service on the same database and objects, with
    /// `overrides` on top of this one's settings; stop it before this one.
    pub(crate) async fn replica(&self, overrides: &[(&str, &str)]) -> Self {
        let mut all = self.overrides.clone();
        all.extend(
            overrides
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned())),
        );
        let mut replica = Self::launch(self.dir.clone(), all, self.s3, None).await;
        replica.owned = false;
        replica
    }

    async fn launch(
        dir: PathBuf,
        overrides: Vec<(String, String)>,
        s3: bool,
        postgres_database: Option<String>,
    ) -> Self {
        let borrowed: Vec<(&str, &str)> = overrides
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let config = config(&dir, &borrowed);
        let stores = talkapp_store::connect_stores(&config.database)
            .await
            .expect("store");
        let storage = if s3 {
            Storage::from_config(&config).expect("s3 storage")
        } else {
            Storage::local(dir.join("media")).expect("local storage")
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let app =
            Application::build_with_storage(&config, Arc::clone(&stores.media), storage, listener)
                .expect("build");
        let port = app.port();
        let core = app.core();
        let in_process = app.in_process_uploads();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(app.run_until_stopped(shutdown.clone()));
        let client = MediaServiceClient::connect(format!("http://127.0.0.1:{port}"))
            .await
            .expect("connect")
            .max_decoding_message_size(8 * 1024 * 1024);
        Self {
            client,
            in_process,
            core,
            store: stores.media,
            dir,
            shutdown,
            task,
            postgres_database,
            overrides,
            s3,
            owned: true,
        }
    }

    pub(crate) async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.task.await;
        if !self.owned {
            return;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some(name) = self.postgres_database {
            let _ = admin()
                .await
                .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await;
        }
    }

    /// Uploads `bytes` in pieces of `chunk` bytes, with the end message.
    pub(crate) async fn upload(
        &self,
        user_id: Uuid,
        file_name: &str,
        bytes: &[u8],
    ) -> Result<proto::FileInfo, Status> {
        self.upload_parts(user_id, file_name, bytes, true).await
    }

    pub(crate) async fn upload_parts(
        &self,
        user_id: Uuid,
        file_name: &str,
        bytes: &[u8],
        with_end: bool,
    ) -> Result<proto::FileInfo, Status> {
        self.client
            .clone()
            .upload(futures::stream::iter(upload_messages(
                user_id, file_name, bytes, with_end,
            )))
            .await
            .map(|response| response.into_inner())
    }

    /// Uploads as a gateway in the same process does: the messages as values.
    pub(crate) async fn upload_in_process(
        &self,
        messages: Vec<proto::UploadRequest>,
    ) -> Result<proto::FileInfo, Status> {
        self.in_process
            .upload(futures::stream::iter(messages).boxed())
            .await
    }
}

/// The messages of an upload of `bytes` in pieces of 64 KiB: the start, the chunks and,
/// `with_end`, the end.
pub(crate) fn upload_messages(
    user_id: Uuid,
    file_name: &str,
    bytes: &[u8],
    with_end: bool,
) -> Vec<proto::UploadRequest> {
    use proto::upload_request::Part;
    let mut messages = vec![proto::UploadRequest {
        part: Some(Part::Start(proto::UploadStart {
            user_id: user_id.to_string(),
            file_name: file_name.to_owned(),
            declared_size: None,
        })),
    }];
    for chunk in bytes.chunks(64 * 1024) {
        messages.push(proto::UploadRequest {
            part: Some(Part::Chunk(Bytes::copy_from_slice(chunk))),
        });
    }
    if with_end {
        messages.push(proto::UploadRequest {
            part: Some(Part::End(proto::UploadEnd {
                size: bytes.len() as u64,
            })),
        });
    }
    messages
}

impl TestService {
    /// Downloads (a range of) a file: its header and bytes.
    /// Asserts that `info` is `bytes` stored whole: its SHA-256 and size, and the bytes
    /// downloaded back.
    pub(crate) async fn assert_stored_intact(
        &self,
        user_id: Uuid,
        info: &proto::FileInfo,
        bytes: &[u8],
    ) {
        use sha2::Digest as _;
        assert_eq!(info.sha256, format!("{:x}", sha2::Sha256::digest(bytes)));
        assert_eq!(info.size, bytes.len() as u64);
        let (_, downloaded) = self
            .download(user_id, &info.file_id, None, None)
            .await
            .expect("download");
        assert!(
            downloaded == bytes,
            "the stored bytes differ from those sent"
        );
    }

    pub(crate) async fn download(
        &self,
        user_id: Uuid,
        file_id: &str,
        offset: Option<u64>,
        length: Option<u64>,
    ) -> Result<(proto::DownloadHeader, Vec<u8>), Status> {
        let stream = self
            .client
            .clone()
            .download(proto::DownloadRequest {
                file: Some(file_ref(user_id, file_id)),
                offset,
                length,
                suffix: None,
            })
            .await?
            .into_inner();
        collect(stream).await
    }

    pub(crate) async fn preview(
        &self,
        user_id: Uuid,
        file_id: &str,
    ) -> Result<(proto::DownloadHeader, Vec<u8>), Status> {
        let stream = self
            .client
            .clone()
            .preview(file_ref(user_id, file_id))
            .await?
            .into_inner();
        collect(stream).await
    }

    /// Files in the object store's directory (local backend): `blobs`, `previews`, `tmp`.
    pub(crate) fn stored_files(&self, under: &str) -> Vec<PathBuf> {
        fn walk(dir: &std::path::Path, found: &mut Vec<PathBuf>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, found);
                } else {
                    found.push(path);
                }
            }
        }
        let mut found = Vec::new();
        walk(&self.dir.join("media").join(under), &mut found);
        found
    }
}

pub(crate) fn file_ref(user_id: Uuid, file_id: &str) -> proto::FileRef {
    proto::FileRef {
        user_id: user_id.to_string(),
        file_id: file_id.to_owned(),
    }
}

pub(crate) async fn collect(
    mut stream: talkapp_proto::tonic::Streaming<proto::DownloadChunk>,
) -> Result<(proto::DownloadHeader, Vec<u8>), Status> {
    let header = stream
        .next()
        .await
        .expect("a first message")?
        .header
        .expect("the first message is the header");
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk?.data);
    }
    Ok((header, bytes))
}

/// The stable code a status carries.
pub(crate) fn code_of(status: &Status) -> String {
    status
        .metadata()
        .get(talkapp_common::error_code::ERROR_CODE_METADATA_KEY)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Asserts that `result` failed with `grpc` and the stable `code`.
pub(crate) fn assert_refused<T: std::fmt::Debug>(
    result: Result<T, Status>,
    grpc: Code,
    code: &str,
) {
    let status = result.expect_err("refused");
    assert_eq!(
        (status.code(), code_of(&status).as_str()),
        (grpc, code),
        "{status:?}"
    );
}

/// The preview of a file once it is made: polls while the service answers
/// `preview_pending` (ADR 0049); `None` when it ends without one.
pub(crate) async fn await_preview(
    service: &TestService,
    user_id: Uuid,
    file_id: &str,
) -> Option<(proto::DownloadHeader, Vec<u8>)> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match service.preview(user_id, file_id).await {
            Ok(preview) => return Some(preview),
            Err(status) if code_of(&status) == "preview_pending" => {
                assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
                assert!(
                    std::time::Instant::now() < deadline,
                    "the preview of {file_id} is still pending after 30 s"
                );
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(status) if status.code() == Code::NotFound => return None,
            Err(status) => panic!("preview: {status:?}"),
        }
    }
}

/// A PNG of `width` x `height` (a gradient, so it is not trivially compressible).
pub(crate) fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("encode png");
    out.into_inner()
}

/// Pseudo-random bytes that no sniffer takes for anything, after a text-free prefix.
pub(crate) fn pdf_of_size(size: usize) -> Vec<u8> {
    let mut bytes = b"%PDF-1.7\n".to_vec();
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    while bytes.len() < size {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(size);
    bytes
}

/// Asserts that `status` is the storage being full: `RESOURCE_EXHAUSTED`,
/// `insufficient_storage`, `Retry-After` 60 s.
pub(crate) fn assert_storage_full(status: &Status) {
    assert_eq!(
        (status.code(), code_of(status).as_str()),
        (Code::ResourceExhausted, "insufficient_storage"),
        "{status:?}"
    );
    assert_eq!(
        status
            .metadata()
            .get(talkapp_common::error_code::RETRY_AFTER_METADATA_KEY)
            .and_then(|value| value.to_str().ok()),
        Some("60"),
        "{status:?}"
    );
}

/// The file's blob as the store has it once its preview is no longer pending.
pub(crate) async fn settled_blob(
    service: &TestService,
    user: Uuid,
    file_id: &str,
) -> talkapp_store::MediaBlob {
    let file_id: Uuid = file_id.parse().expect("uuid");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let blob = service
            .store
            .media_file(user, file_id)
            .await
            .expect("read")
            .expect("the file")
            .blob;
        if !blob.preview_pending {
            return blob;
        }
        assert!(Instant::now() < deadline, "still pending after 30 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
