//! The media service: uploads (type from the bytes, size and quota checked while the
//! bytes stream in), content-addressed storage through `object_store` (a local directory
//! or S3), previews, downloads with byte ranges, and deletes.
//!
//! It owns uploaded files (`docs/adr/0013-media-service-owns-uploaded-files.md`); the
//! files of Telegram messages are still downloaded through the account's host in
//! chat-service (ADR 0010).
//!
//! # Layout
//! - [`Application`]: build and run, shared by `main.rs`, the all-in-one binary and tests.
//! - [`service`]: the domain core ([`MediaCore`]): upload, download, stat, preview,
//!   delete, the sweep, and the pins of queued sends (pin, read pinned, release). No
//!   proto types.
//! - `grpc_adapter`: `talkapp.media.v1.MediaService` over the core.
//! - [`storage`]: the object store (local or S3) and the keys used in it.
//! - `sniff`: the type of a file from its magic numbers; `names`: safe file names;
//!   `analyze`: dimensions, durations and previews; `frames`: preview images of videos
//!   and PDFs by external tools (ffmpeg, pdftoppm) under limits; `mp4_samples` and
//!   `pdf_parts`: where an MP4's first video frames and a PDF's first page lie (copied
//!   for the tools from S3); `previews`: the bounded
//!   queue those previews are made from after the upload answered (ADR 0049).
//! - [`error`]: [`MediaError`] and its stable codes.

pub mod error;
pub mod service;
pub mod storage;

mod analyze;
mod frames;
mod grpc_adapter;
mod local_write;
mod mp4_samples;
mod names;
mod pdf_parts;
mod previews;
mod sniff;

use std::sync::Arc;
use std::time::Duration;

use talkapp_common::config::Config;
use talkapp_common::grpc_server::GrpcServer;
use talkapp_common::probe::Probe;
use talkapp_proto::media::v1::media_service_server::MediaServiceServer;
use talkapp_proto::tonic;
use talkapp_store::{MediaStore, MediaStoreProbe};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use error::MediaError;
pub use previews::PreviewCounts;
pub use service::MediaCore;
pub use storage::Storage;

/// Largest gRPC message accepted: an upload's chunk (the gateway sends 256 KiB).
const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// The media service, bound and ready to run.
pub struct Application {
    server: GrpcServer,
    core: MediaCore,
    sweep_interval: Duration,
}

impl Application {
    /// Builds the service on `listener` over `store` (metadata) and the object store the
    /// configuration names (bytes).
    pub fn build(
        config: &Config,
        store: Arc<dyn MediaStore>,
        listener: TcpListener,
    ) -> anyhow::Result<Self> {
        let storage = Storage::from_config(config)?;
        Self::build_with_storage(config, store, storage, listener)
    }

    /// Like [`Self::build`] with the object store given (tests).
    pub fn build_with_storage(
        config: &Config,
        store: Arc<dyn MediaStore>,
        storage: Storage,
        listener: TcpListener,
    ) -> anyhow::Result<Self> {
        let mut probes: Vec<Arc<dyn Probe>> = vec![Arc::new(MediaStoreProbe(Arc::clone(&store)))];
        probes.extend(talkapp_common::probe::broker_and_cache_probes(config)?);
        let core = MediaCore::new(store, storage, config.media.clone());
        let server = MediaServiceServer::new(grpc_adapter::MediaGrpcAdapter { core: core.clone() })
            .max_decoding_message_size(MAX_MESSAGE_BYTES);
        let routes = tonic::service::Routes::new(server);
        Ok(Self {
            server: GrpcServer::new(
                talkapp_proto::media::v1::SERVICE_NAME,
                listener,
                routes,
                probes,
                config.probes.clone(),
            ),
            core,
            sweep_interval: Duration::from_secs(config.media.sweep_interval_secs),
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// Its gRPC routes, for a gateway in the same process (the embedded default).
    pub fn routes(&self) -> talkapp_proto::tonic::service::Routes {
        self.server.routes()
    }

    /// Its `Upload` for a gateway in the same process, taking the call's messages as
    /// values (ADR 0051).
    pub fn in_process_uploads(&self) -> Arc<dyn talkapp_common::grpc::InProcessUploads> {
        Arc::new(grpc_adapter::DirectUploads {
            core: self.core.clone(),
        })
    }

    /// The domain core (tests).
    pub fn core(&self) -> MediaCore {
        self.core.clone()
    }

    /// Serves (and sweeps now and then, and makes the queued previews) until `shutdown`
    /// is cancelled.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let previews_stop = shutdown.child_token();
        let previews = tokio::spawn(self.core.clone().run_previews(previews_stop.clone()));
        let core = self.core;
        let interval = self.sweep_interval;
        let sweep_shutdown = shutdown.clone();
        let sweeper = tokio::spawn(async move {
            loop {
                match core.sweep().await {
                    Ok(report) => tracing::debug!(?report, "media sweep done"),
                    Err(error) => tracing::warn!(%error, "media sweep failed"),
                }
                tokio::select! {
                    () = sweep_shutdown.cancelled() => return,
                    () = tokio::time::sleep(interval) => {}
                }
            }
        });
        let served = self.server.run_until_stopped(shutdown).await;
        sweeper.abort();
        previews_stop.cancel();
        if let Err(error) = previews.await {
            tracing::warn!(%error, "the preview workers ended badly");
        }
        served
    }
}

/// Runs the service as its own process would: store from `database.url`, bytes where
/// `storage` says, listening on `media_service.listen`, until `shutdown` fires.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let stores = talkapp_store::connect_stores(&config.database).await?;
    let listener = talkapp_common::grpc_server::bind(config.media_service.listen).await?;
    Application::build(&config, stores.media, listener)?
        .run_until_stopped(shutdown)
        .await
}
