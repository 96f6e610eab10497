//! Running one gRPC service: its routes, gRPC health that follows its dependencies,
//! `/metrics`, on one listener.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;

use crate::config::ProbeConfig;
use crate::probe::Probe;

/// A gRPC server for one service, bound and ready to run.
pub struct GrpcServer {
    service_name: &'static str,
    listener: TcpListener,
    routes: Routes,
    probes: Vec<Arc<dyn Probe>>,
    probe_config: ProbeConfig,
}

impl GrpcServer {
    /// A server for `routes` on `listener`. `service_name` is the proto service name under
    /// which health is reported; `probes` are the dependencies health follows.
    pub fn new(
        service_name: &'static str,
        listener: TcpListener,
        routes: Routes,
        probes: Vec<Arc<dyn Probe>>,
        probe_config: ProbeConfig,
    ) -> Self {
        // Install the metrics recorder before the first call records anything.
        crate::telemetry::prometheus();
        Self {
            service_name,
            listener,
            routes,
            probes,
            probe_config,
        }
    }

    /// The bound port (tests bind port 0).
    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map(|addr| addr.port())
            .unwrap_or(0)
    }

    /// The service's gRPC routes, for callers in the same process
    /// ([`crate::grpc::InProcess`]).
    pub fn routes(&self) -> Routes {
        self.routes.clone()
    }

    /// Serves until `shutdown` is cancelled, then drains in-flight calls.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let (reporter, health_service) = talkapp_proto::tonic_health::server::health_reporter();
        crate::grpc::spawn_health_updates(
            reporter,
            self.service_name,
            self.probes,
            self.probe_config,
            shutdown.clone(),
        );
        tracing::info!(service = self.service_name, address = ?self.listener.local_addr().ok(), "serving");
        let routes = self.routes.add_service(health_service);
        crate::grpc::serve(self.listener, routes, shutdown).await
    }
}

/// Binds `address` with a message naming what could not be bound.
pub async fn bind(address: std::net::SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .map_err(|error| anyhow::anyhow!("cannot listen on {address}: {error}"))
}
