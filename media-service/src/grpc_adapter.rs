//! The gRPC face of [`MediaCore`]: converts between proto messages and the core's types,
//! and maps [`MediaError`] to a status carrying its stable code.

use std::pin::Pin;

use futures::future::BoxFuture;
use futures::{FutureExt as _, Stream, StreamExt as _};
use talkapp_common::grpc::{InProcessUploads, UploadMessages};
use talkapp_proto::media::v1 as proto;
use talkapp_proto::media::v1::media_service_server::MediaService;
use talkapp_proto::tonic::{self, Request, Response, Status, Streaming};
use talkapp_store::MediaFile;
use tracing::Instrument as _;
use uuid::Uuid;

use crate::error::MediaError;
use crate::service::{ByteRange, Download, MediaCore, UploadPart, UploadStart};

/// The most files one job pins (an album's ten).
const MAX_PINNED_FILES: usize = 10;
/// The `Retry-After` of a preview still being made (one takes about 0.1 s of a worker).
const PREVIEW_RETRY_SECS: u64 = 1;
/// The `Retry-After` of an upload refused by a full storage: space comes back when an
/// operator frees some or other uploads' files are deleted, not within seconds.
const STORAGE_FULL_RETRY_SECS: u64 = 60;

/// Serves [`MediaCore`] over gRPC.
pub(crate) struct MediaGrpcAdapter {
    pub(crate) core: MediaCore,
}

fn status(error: MediaError) -> Status {
    let code = error.code();
    if code.http_status() >= 500 {
        tracing::warn!(%error, "media call failed");
    } else {
        tracing::info!(%error, "media call refused");
    }
    // A bug's cause and an unavailable storage's (the S3 endpoint, the bucket) are in the
    // log line above, not in the answer.
    let message = error.client_message();
    match error {
        MediaError::PreviewPending => code.to_grpc_status_with_retry(message, PREVIEW_RETRY_SECS),
        MediaError::StorageFull(_) => {
            code.to_grpc_status_with_retry(message, STORAGE_FULL_RETRY_SECS)
        }
        _ => code.to_grpc_status(message),
    }
}

fn uuid(field: &str, value: &str) -> Result<Uuid, Status> {
    Uuid::parse_str(value).map_err(|_| {
        status(MediaError::InvalidArgument(format!(
            "{field} is not a UUID"
        )))
    })
}

/// A file id that is not a UUID names no file: not found, as an unknown one.
fn file_ref(file: Option<proto::FileRef>) -> Result<(Uuid, Uuid), Status> {
    let file =
        file.ok_or_else(|| status(MediaError::InvalidArgument("file is required".into())))?;
    let user_id = uuid("user_id", &file.user_id)?;
    let file_id = Uuid::parse_str(&file.file_id).map_err(|_| status(MediaError::NotFound))?;
    Ok((user_id, file_id))
}

pub(crate) fn file_info(file: &MediaFile) -> proto::FileInfo {
    proto::FileInfo {
        file_id: file.file_id.to_string(),
        size: file.blob.size,
        mime: file.blob.mime.clone(),
        kind: file.blob.kind.as_str().to_owned(),
        sha256: file.blob.sha256.clone(),
        width: file.blob.width,
        height: file.blob.height,
        duration_ms: file.blob.duration_ms,
        has_preview: file.blob.preview_size.is_some(),
        // A skipped preview is made when asked for: pending, to a client.
        preview_pending: file.blob.preview_pending || file.blob.preview_skipped,
        file_name: file.file_name.clone(),
        waveform: file.blob.waveform.clone().map(Into::into),
        created_at: file.created_at.timestamp(),
    }
}

type ChunkStream = Pin<Box<dyn Stream<Item = Result<proto::DownloadChunk, Status>> + Send>>;

fn download_stream(download: Download) -> ChunkStream {
    let (offset, length) = download.range.unwrap_or((0, 0));
    let header = proto::DownloadChunk {
        header: Some(proto::DownloadHeader {
            file: Some(file_info(&download.file)),
            mime: download.mime,
            size: download.size,
            offset,
            length,
            range_satisfiable: download.range.is_some(),
        }),
        data: bytes::Bytes::new(),
    };
    let body = download.body.map(|chunk| {
        chunk
            .map(|data| proto::DownloadChunk { header: None, data })
            .map_err(status)
    });
    futures::stream::once(async move { Ok(header) })
        .chain(body)
        .boxed()
}

/// `Upload`: the messages of one call (the client's `start`, chunks and `end`, or the
/// status that cut the stream), whether they came through the router or, in this
/// process, as values ([`InProcessUploads`]).
async fn upload<S>(core: MediaCore, mut messages: S) -> Result<proto::FileInfo, Status>
where
    S: Stream<Item = Result<proto::UploadRequest, Status>> + Send + Unpin + 'static,
{
    let first = messages
        .next()
        .await
        .transpose()?
        .and_then(|first| first.part)
        .ok_or_else(|| {
            status(MediaError::InvalidArgument(
                "an upload starts with `start`".into(),
            ))
        })?;
    let proto::upload_request::Part::Start(start) = first else {
        return Err(status(MediaError::InvalidArgument(
            "an upload starts with `start`".into(),
        )));
    };
    let start = UploadStart {
        user_id: uuid("user_id", &start.user_id)?,
        file_name: start.file_name,
        declared_size: start.declared_size,
    };
    let parts = messages.map(|message| match message {
        Ok(proto::UploadRequest {
            part: Some(proto::upload_request::Part::Chunk(chunk)),
        }) => Ok(UploadPart::Chunk(chunk)),
        Ok(proto::UploadRequest {
            part: Some(proto::upload_request::Part::End(end)),
        }) => Ok(UploadPart::End { size: end.size }),
        Ok(_) => Err(MediaError::InvalidArgument(
            "`start` comes once, first".into(),
        )),
        Err(error) => Err(MediaError::Incomplete(format!(
            "the client went away: {}",
            error.message()
        ))),
    });
    // The upload runs to its end (or its clean-up) in a task of its own, even if this
    // call is dropped half way.
    let stored =
        tokio::spawn(async move { core.upload(start, parts.boxed()).await }.in_current_span())
            .await
            .map_err(|error| status(MediaError::Internal(error.to_string())))?
            .map_err(status)?;
    Ok(file_info(&stored))
}

/// The media service's `Upload` for a gateway in this process (ADR 0051): the same
/// messages and answers as the gRPC call, handed over as values.
pub(crate) struct DirectUploads {
    pub(crate) core: MediaCore,
}

impl std::fmt::Debug for DirectUploads {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("DirectUploads")
    }
}

impl InProcessUploads for DirectUploads {
    fn upload(
        &self,
        messages: UploadMessages,
    ) -> BoxFuture<'static, Result<proto::FileInfo, Status>> {
        upload(self.core.clone(), messages.map(Ok)).boxed()
    }
}

#[tonic::async_trait]
impl MediaService for MediaGrpcAdapter {
    async fn upload(
        &self,
        request: Request<Streaming<proto::UploadRequest>>,
    ) -> Result<Response<proto::FileInfo>, Status> {
        upload(self.core.clone(), request.into_inner())
            .await
            .map(Response::new)
    }

    type DownloadStream = ChunkStream;

    async fn download(
        &self,
        request: Request<proto::DownloadRequest>,
    ) -> Result<Response<Self::DownloadStream>, Status> {
        let request = request.into_inner();
        let (user_id, file_id) = file_ref(request.file)?;
        let range = match (request.suffix, request.offset) {
            (Some(suffix), _) => ByteRange::Suffix(suffix),
            (None, Some(offset)) => ByteRange::From {
                offset,
                length: request.length,
            },
            (None, None) => ByteRange::Whole,
        };
        let download = self
            .core
            .download(user_id, file_id, range)
            .await
            .map_err(status)?;
        Ok(Response::new(download_stream(download)))
    }

    async fn stat(
        &self,
        request: Request<proto::FileRef>,
    ) -> Result<Response<proto::FileInfo>, Status> {
        let (user_id, file_id) = file_ref(Some(request.into_inner()))?;
        let file = self.core.stat(user_id, file_id).await.map_err(status)?;
        Ok(Response::new(file_info(&file)))
    }

    type PreviewStream = ChunkStream;

    async fn preview(
        &self,
        request: Request<proto::FileRef>,
    ) -> Result<Response<Self::PreviewStream>, Status> {
        let (user_id, file_id) = file_ref(Some(request.into_inner()))?;
        let download = self.core.preview(user_id, file_id).await.map_err(status)?;
        Ok(Response::new(download_stream(download)))
    }

    async fn delete(
        &self,
        request: Request<proto::FileRef>,
    ) -> Result<Response<proto::DeleteResponse>, Status> {
        let (user_id, file_id) = file_ref(Some(request.into_inner()))?;
        self.core.delete(user_id, file_id).await.map_err(status)?;
        Ok(Response::new(proto::DeleteResponse {}))
    }

    async fn pin_files(
        &self,
        request: Request<proto::PinFilesRequest>,
    ) -> Result<Response<proto::PinFilesResponse>, Status> {
        let request = request.into_inner();
        let user_id = uuid("user_id", &request.user_id)?;
        let job_id = uuid("job_id", &request.job_id)?;
        if request.file_ids.is_empty() || request.file_ids.len() > MAX_PINNED_FILES {
            return Err(status(MediaError::InvalidArgument(format!(
                "file_ids must name 1 to {MAX_PINNED_FILES} files"
            ))));
        }
        let file_ids = request
            .file_ids
            .iter()
            .map(|file_id| Uuid::parse_str(file_id).map_err(|_| status(MediaError::NotFound)))
            .collect::<Result<Vec<_>, _>>()?;
        let files = self
            .core
            .pin(user_id, job_id, &file_ids)
            .await
            .map_err(status)?;
        Ok(Response::new(proto::PinFilesResponse {
            files: files.iter().map(file_info).collect(),
        }))
    }

    async fn release_pins(
        &self,
        request: Request<proto::ReleasePinsRequest>,
    ) -> Result<Response<proto::ReleasePinsResponse>, Status> {
        let job_id = uuid("job_id", &request.into_inner().job_id)?;
        self.core.release_pins(job_id).await.map_err(status)?;
        Ok(Response::new(proto::ReleasePinsResponse {}))
    }

    type ReadPinnedStream = ChunkStream;

    async fn read_pinned(
        &self,
        request: Request<proto::ReadPinnedRequest>,
    ) -> Result<Response<Self::ReadPinnedStream>, Status> {
        let request = request.into_inner();
        let job_id = uuid("job_id", &request.job_id)?;
        let file_id =
            Uuid::parse_str(&request.file_id).map_err(|_| status(MediaError::NotFound))?;
        let download = self
            .core
            .read_pinned(job_id, file_id, request.preview)
            .await
            .map_err(status)?;
        Ok(Response::new(download_stream(download)))
    }
}
