//! The uploaded files a media send carries, as the media service keeps them: pinned for
//! the job when it is accepted, read (streamed) by the account's host when it sends,
//! released when the job is final; a pinned file's preview image is what a video or
//! document carries to Telegram as its thumbnail. [`MediaFiles`] is what the domain sees;
//! [`GrpcMediaFiles`] reaches the media service over `talkapp.media.v1.MediaService`.

use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt as _;
use talkapp_common::grpc::TraceContextInterceptor;
use talkapp_proto::media::v1 as proto;
use talkapp_proto::media::v1::media_service_client::MediaServiceClient;
use talkapp_proto::tonic::codegen::InterceptedService;
use talkapp_proto::tonic::transport::{Channel, Endpoint};
use talkapp_proto::tonic::{self, Code};
use talkapp_store::MediaKind;
use talkapp_telegram::error::TelegramError;
use talkapp_telegram::send_media::ByteStream;
use uuid::Uuid;

/// How long the media service may take to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Bounds a pin or a release (a read streams as long as the file takes).
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest message read from the media service (its chunks are 256 KiB to 1 MiB).
const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
/// Largest preview image read for a thumbnail: previews are JPEGs of at most
/// `media.preview_max_side` a side (tens of KiB); Telegram takes thumbnails of up to
/// 200 KiB, so a larger one is never read whole.
pub const MAX_PREVIEW_BYTES: u64 = 1024 * 1024;

/// A file pinned for a job, as the media service describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedFile {
    /// The file.
    pub file_id: Uuid,
    /// What its bytes are.
    pub kind: MediaKind,
    /// Lower-case hex SHA-256.
    pub sha256: String,
    /// Bytes.
    pub size: u64,
    /// The type of its bytes.
    pub mime: String,
    /// Its name (may be empty).
    pub file_name: String,
    /// Pixels, when known.
    pub width: Option<u32>,
    /// Pixels, when known.
    pub height: Option<u32>,
    /// Milliseconds, when known.
    pub duration_ms: Option<u64>,
    /// A voice note's waveform, when known.
    pub waveform: Option<Vec<u8>>,
    /// Whether it has a preview image ([`MediaFiles::open_preview`]).
    pub has_preview: bool,
    /// Whether its preview image is still being made (ADR 0049):
    /// [`MediaFiles::open_preview`] waits a bounded time for it.
    pub preview_pending: bool,
}

/// Why the media service could not do it.
#[derive(Debug, thiserror::Error)]
pub enum MediaFilesError {
    /// No such file of the user (or no such pin of the job).
    #[error("no such file")]
    NotFound,
    /// The media service is not reachable now.
    #[error("the media service is not reachable: {0}")]
    Unavailable(String),
    /// It refused or failed otherwise.
    #[error("the media service failed: {0}")]
    Failed(String),
}

/// The media service, as a send needs it.
#[async_trait]
pub trait MediaFiles: Send + Sync {
    /// Pins the user's files for `job_id`; their descriptions in order.
    async fn pin(
        &self,
        user_id: Uuid,
        job_id: Uuid,
        file_ids: &[Uuid],
    ) -> Result<Vec<PinnedFile>, MediaFilesError>;

    /// Releases the job's pins.
    async fn release(&self, job_id: Uuid) -> Result<(), MediaFilesError>;

    /// The bytes of a file the job pinned, as a stream.
    async fn open(&self, job_id: Uuid, file_id: Uuid) -> Result<ByteStream, MediaFilesError>;

    /// The preview image (a JPEG) of a file the job pinned, whole; `NotFound` when it has
    /// none (one still being made is waited for, up to `media.thumbnail_wait_ms`), `Failed` when it is larger than [`MAX_PREVIEW_BYTES`].
    async fn open_preview(&self, job_id: Uuid, file_id: Uuid) -> Result<Vec<u8>, MediaFilesError>;
}

/// The media service over gRPC.
pub struct GrpcMediaFiles {
    client: MediaServiceClient<InterceptedService<Channel, TraceContextInterceptor>>,
}

impl GrpcMediaFiles {
    /// A client of the media service at `url`, connected on first use.
    pub fn connect_lazy(url: &str) -> Result<Self, tonic::transport::Error> {
        let channel = Endpoint::from_shared(url.to_owned())?
            .connect_timeout(CONNECT_TIMEOUT)
            // Multi-segment replies would otherwise wait for delayed ACKs.
            .tcp_nodelay(true)
            .connect_lazy();
        Ok(Self {
            client: MediaServiceClient::with_interceptor(channel, TraceContextInterceptor)
                .max_decoding_message_size(MAX_MESSAGE_BYTES),
        })
    }
}

fn from_status(status: &tonic::Status) -> MediaFilesError {
    match status.code() {
        Code::NotFound => MediaFilesError::NotFound,
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Unknown => {
            MediaFilesError::Unavailable(status.message().to_owned())
        }
        _ => MediaFilesError::Failed(format!("{:?} {}", status.code(), status.message())),
    }
}

async fn bounded<T>(
    call: impl std::future::Future<Output = Result<T, tonic::Status>>,
) -> Result<T, MediaFilesError> {
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(status)) => Err(from_status(&status)),
        Err(_) => Err(MediaFilesError::Unavailable("timed out".into())),
    }
}

fn pinned_file(info: proto::FileInfo) -> Result<PinnedFile, MediaFilesError> {
    Ok(PinnedFile {
        file_id: Uuid::parse_str(&info.file_id)
            .map_err(|_| MediaFilesError::Failed("a pinned file without a UUID".into()))?,
        kind: MediaKind::parse(&info.kind)
            .ok_or_else(|| MediaFilesError::Failed(format!("unknown kind {}", info.kind)))?,
        sha256: info.sha256,
        size: info.size,
        mime: info.mime,
        file_name: info.file_name,
        width: info.width,
        height: info.height,
        duration_ms: info.duration_ms,
        waveform: info.waveform.map(|waveform| waveform.to_vec()),
        has_preview: info.has_preview,
        preview_pending: info.preview_pending,
    })
}

/// A pinned file's bytes (or its preview's) as the media service streams them: the
/// header read, the bytes to follow.
type PinnedStream = tonic::Streaming<proto::DownloadChunk>;

impl GrpcMediaFiles {
    async fn read_pinned(
        &self,
        job_id: Uuid,
        file_id: Uuid,
        preview: bool,
    ) -> Result<(proto::DownloadHeader, PinnedStream), MediaFilesError> {
        let mut client = self.client.clone();
        let mut stream = bounded(client.read_pinned(proto::ReadPinnedRequest {
            job_id: job_id.to_string(),
            file_id: file_id.to_string(),
            preview,
        }))
        .await?
        .into_inner();
        // The header first; the bytes follow.
        match tokio::time::timeout(CALL_TIMEOUT, stream.message()).await {
            Ok(Ok(Some(proto::DownloadChunk {
                header: Some(header),
                ..
            }))) => Ok((header, stream)),
            Ok(Ok(_)) => Err(MediaFilesError::Failed("a read without a header".into())),
            Ok(Err(status)) => Err(from_status(&status)),
            Err(_) => Err(MediaFilesError::Unavailable("timed out".into())),
        }
    }
}

#[async_trait]
impl MediaFiles for GrpcMediaFiles {
    async fn pin(
        &self,
        user_id: Uuid,
        job_id: Uuid,
        file_ids: &[Uuid],
    ) -> Result<Vec<PinnedFile>, MediaFilesError> {
        let mut client = self.client.clone();
        let answer = bounded(client.pin_files(proto::PinFilesRequest {
            user_id: user_id.to_string(),
            job_id: job_id.to_string(),
            file_ids: file_ids.iter().map(Uuid::to_string).collect(),
        }))
        .await?
        .into_inner();
        answer.files.into_iter().map(pinned_file).collect()
    }

    async fn release(&self, job_id: Uuid) -> Result<(), MediaFilesError> {
        let mut client = self.client.clone();
        bounded(client.release_pins(proto::ReleasePinsRequest {
            job_id: job_id.to_string(),
        }))
        .await?;
        Ok(())
    }

    async fn open(&self, job_id: Uuid, file_id: Uuid) -> Result<ByteStream, MediaFilesError> {
        let (_, stream) = self.read_pinned(job_id, file_id, false).await?;
        Ok(stream
            .map(|chunk| match chunk {
                Ok(chunk) => Ok(chunk.data.to_vec()),
                Err(status) => Err(TelegramError::Unavailable(format!(
                    "reading the file from the media service: {}",
                    status.message()
                ))),
            })
            .boxed())
    }

    async fn open_preview(&self, job_id: Uuid, file_id: Uuid) -> Result<Vec<u8>, MediaFilesError> {
        let (header, mut stream) = self.read_pinned(job_id, file_id, true).await?;
        if header.size > MAX_PREVIEW_BYTES {
            return Err(MediaFilesError::Failed(format!(
                "a preview of {} bytes",
                header.size
            )));
        }
        let mut preview = Vec::with_capacity(usize::try_from(header.size).unwrap_or(0));
        let read = async {
            while let Some(chunk) = stream
                .message()
                .await
                .map_err(|status| from_status(&status))?
            {
                preview.extend_from_slice(&chunk.data);
                if preview.len() as u64 > MAX_PREVIEW_BYTES {
                    return Err(MediaFilesError::Failed("a preview larger than told".into()));
                }
            }
            Ok(())
        };
        let outcome = tokio::time::timeout(CALL_TIMEOUT, read).await;
        match outcome {
            Ok(Ok(())) => Ok(preview),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(MediaFilesError::Unavailable("timed out".into())),
        }
    }
}
