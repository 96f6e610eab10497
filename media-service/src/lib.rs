//! The media service: upload, type and size checks, storage, previews, download (with Range) and delete of files.
//!
//! Not implemented yet: the service runs as its own process or inside the all-in-one
//! binary, answers gRPC health following its dependencies (the store and, when configured, Redis and RabbitMQ) and serves
//! `/metrics`; `talkapp.media.v1.MediaService` has no calls until the issue that builds
//! the capability adds them.
//!
//! # Layout
//! - [`Application`]: build and run, shared by `main.rs`, the all-in-one binary and tests.

use std::sync::Arc;

use talkapp_common::config::Config;
use talkapp_common::probe::Probe;
use talkapp_common::service_host::ServiceHost;
use talkapp_proto::media::v1::media_service_server::{MediaService, MediaServiceServer};
use talkapp_proto::tonic;
use talkapp_store::{Store, StoreProbe};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The gRPC face of the media service (no calls yet).
struct MediaGrpcAdapter;

impl MediaService for MediaGrpcAdapter {}

/// The media service, bound and ready to run.
pub struct Application {
    host: ServiceHost,
}

impl Application {
    /// Builds the service on `listener` over `store`.
    pub fn build(
        config: &Config,
        store: Arc<dyn Store>,
        listener: TcpListener,
    ) -> anyhow::Result<Self> {
        let mut probes: Vec<Arc<dyn Probe>> = vec![Arc::new(StoreProbe(store))];
        probes.extend(talkapp_common::probe::broker_and_cache_probes(config)?);
        let routes = tonic::service::Routes::new(MediaServiceServer::new(MediaGrpcAdapter));
        Ok(Self {
            host: ServiceHost::new(
                talkapp_proto::media::v1::SERVICE_NAME,
                listener,
                routes,
                probes,
                config.probes.clone(),
            ),
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.host.port()
    }

    /// Serves until `shutdown` is cancelled.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        self.host.run_until_stopped(shutdown).await
    }
}

/// Runs the service as its own process would: store from `database.url`, listening on
/// `media_service.listen`, until `shutdown` fires.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let store = talkapp_store::connect(&config.database).await?;
    let listener = talkapp_common::service_host::bind(config.media_service.listen).await?;
    Application::build(&config, store, listener)?
        .run_until_stopped(shutdown)
        .await
}
