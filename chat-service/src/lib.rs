//! The chat service: chats, history, send jobs, groups, contacts and profiles, and the
//! host of linked Telegram accounts.
//!
//! Implemented so far: the list of a user's linked Telegram accounts (sessions). The
//! Telegram-facing capabilities arrive with their issues.
//!
//! # Layout
//! - [`service`]: the domain logic ([`service::ChatService`]), free of gRPC types.
//! - [`grpc_adapter`]: maps the domain to `talkapp.chat.v1.ChatService`.
//! - [`Application`]: build and run, shared by `main.rs`, the all-in-one binary and tests.

pub mod grpc_adapter;
pub mod service;

use std::sync::Arc;

use talkapp_common::config::Config;
use talkapp_common::probe::Probe;
use talkapp_common::service_host::ServiceHost;
use talkapp_proto::chat::v1::chat_service_server::ChatServiceServer;
use talkapp_proto::tonic;
use talkapp_store::{Store, StoreProbe};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The chat service, bound and ready to run.
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
        let mut probes: Vec<Arc<dyn Probe>> = vec![Arc::new(StoreProbe(Arc::clone(&store)))];
        probes.extend(talkapp_common::probe::broker_and_cache_probes(config)?);
        let adapter = grpc_adapter::ChatGrpcAdapter::new(service::ChatService::new(store));
        let routes = tonic::service::Routes::new(ChatServiceServer::new(adapter));
        Ok(Self {
            host: ServiceHost::new(
                talkapp_proto::chat::v1::SERVICE_NAME,
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
/// `chat_service.listen`, until `shutdown` fires.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let store = talkapp_store::connect(&config.database).await?;
    let listener = talkapp_common::service_host::bind(config.chat_service.listen).await?;
    Application::build(&config, store, listener)?
        .run_until_stopped(shutdown)
        .await
}
