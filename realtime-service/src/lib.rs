//! The realtime service: streaming update events to gateways, presence and push notifications.
//!
//! Not implemented yet: the service runs as its own process or inside the all-in-one
//! binary, answers gRPC health following its dependencies (Redis and RabbitMQ when configured) and serves
//! `/metrics`; `talkapp.realtime.v1.RealtimeService` has no calls until the issue that builds
//! the capability adds them.
//!
//! # Layout
//! - [`Application`]: build and run, shared by `main.rs`, the all-in-one binary and tests.

use std::sync::Arc;

use talkapp_common::config::Config;
use talkapp_common::probe::Probe;
use talkapp_common::service_host::ServiceHost;
use talkapp_proto::realtime::v1::realtime_service_server::{
    RealtimeService, RealtimeServiceServer,
};
use talkapp_proto::tonic;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The gRPC face of the realtime service (no calls yet).
struct RealtimeGrpcAdapter;

impl RealtimeService for RealtimeGrpcAdapter {}

/// The realtime service, bound and ready to run.
pub struct Application {
    host: ServiceHost,
}

impl Application {
    /// Builds the service on `listener` (it keeps nothing in the relational store).
    pub fn build(config: &Config, listener: TcpListener) -> anyhow::Result<Self> {
        let probes: Vec<Arc<dyn Probe>> = talkapp_common::probe::broker_and_cache_probes(config)?;
        let routes = tonic::service::Routes::new(RealtimeServiceServer::new(RealtimeGrpcAdapter));
        Ok(Self {
            host: ServiceHost::new(
                talkapp_proto::realtime::v1::SERVICE_NAME,
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

/// Runs the service as its own process would: listening on `realtime_service.listen`, until
/// `shutdown` fires.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let listener = talkapp_common::service_host::bind(config.realtime_service.listen).await?;
    Application::build(&config, listener)?
        .run_until_stopped(shutdown)
        .await
}
