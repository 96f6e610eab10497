//! TalkApp all-in-one: the gateway and every service in one process.
//!
//! This is the embedded default (`cargo run --release`): SQLite under `data/`, no servers
//! to install. The services run exactly the code they run as separate processes; here
//! they listen on private loopback ports chosen by the OS and the gateway calls them over
//! gRPC as it would in split mode (see `docs/adr/0002-embedded-mode-over-loopback-grpc.md`).
//!
//! # Layout
//! - [`Backend`]: build everything from one [`Config`], run until a shutdown token fires.
//! - [`sandbox`]: the local Telegram sandbox inside the process (only here: the services'
//!   own binaries reach a sandbox process or Telegram).

pub mod sandbox;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use talkapp_common::config::Config;
use talkapp_gateway::ServiceEndpoints;
use talkapp_store::Store;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Every TalkApp process in one, bound and ready to run.
pub struct Backend {
    gateway: talkapp_gateway::Application,
    chat: talkapp_chat_service::Application,
    media: talkapp_media_service::Application,
    search: talkapp_search_service::Application,
    realtime: talkapp_realtime_service::Application,
    store: Arc<dyn Store>,
    sandbox: Option<Arc<talkapp_tg_sandbox::SandboxHandle>>,
}

async fn private_listener() -> anyhow::Result<TcpListener> {
    talkapp_common::grpc_server::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
}

impl Backend {
    /// Opens the store, binds every service on a private loopback port and the gateway on
    /// `gateway.listen`.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let stores = talkapp_store::connect_stores(&config.database).await?;
        // Each service holds the narrow view of the store it uses (an upcast of this one).
        let store = Arc::clone(&stores.store);
        // One bus for the parts of this process: in process unless RabbitMQ is configured.
        let bus = talkapp_bus::Bus::from_config(&config.amqp);
        let (telegram, sandbox) = if sandbox::wanted(config) {
            let (telegram, sandbox) = sandbox::start(config).await?;
            (telegram, Some(sandbox))
        } else {
            (
                talkapp_chat_service::telegram::TelegramSetup::from_config(config)?,
                None,
            )
        };
        let media = talkapp_media_service::Application::build(
            config,
            stores.media,
            private_listener().await?,
        )?;
        // Media sends reach this process's own media service.
        let mut chat_config = config.clone();
        chat_config.sends.media_service_url = format!("http://127.0.0.1:{}", media.port());
        let chat = talkapp_chat_service::Application::build_with(
            &chat_config,
            Arc::clone(&store) as Arc<dyn talkapp_store::ChatStore>,
            bus.clone(),
            private_listener().await?,
            telegram,
        )?;
        // Telegram's own search and the contact list reach this process's chat service.
        let mut search_config = config.clone();
        search_config.search.chat_service_url = format!("http://127.0.0.1:{}", chat.port());
        let search = talkapp_search_service::Application::build(
            &search_config,
            Arc::clone(&store) as Arc<dyn talkapp_store::SearchStore>,
            bus.clone(),
            private_listener().await?,
        )
        .await?;
        let realtime = talkapp_realtime_service::Application::build(
            config,
            Arc::clone(&store) as Arc<dyn talkapp_store::RealtimeStore>,
            bus,
            private_listener().await?,
        )
        .await?;
        let loopback = |port: u16| format!("http://127.0.0.1:{port}");
        let runtime = tokio::runtime::Handle::current();
        let in_process =
            |routes| talkapp_common::grpc::InProcess::new(routes, runtime.clone(), None);
        let endpoints = ServiceEndpoints {
            chat: loopback(chat.port()),
            media: loopback(media.port()),
            search: loopback(search.port()),
            realtime: loopback(realtime.port()),
            // Calls go to the routers directly; the ports above serve health and metrics.
            in_process: Some(talkapp_gateway::InProcessServices {
                chat: in_process(chat.routes()),
                media: in_process(media.routes()),
                media_uploads: media.in_process_uploads(),
                search: in_process(search.routes()),
                realtime: in_process(realtime.routes()),
            }),
        };
        let gateway_listener =
            std::net::TcpListener::bind(config.gateway.listen).map_err(|error| {
                anyhow::anyhow!("cannot listen on {}: {error}", config.gateway.listen)
            })?;
        let gateway = talkapp_gateway::Application::build(
            config,
            Arc::clone(&store) as _,
            &endpoints,
            gateway_listener,
        )?;
        Ok(Self {
            gateway,
            chat,
            media,
            search,
            realtime,
            store,
            sandbox,
        })
    }

    /// The gateway's port.
    pub fn port(&self) -> u16 {
        self.gateway.port()
    }

    /// The hosted Telegram accounts.
    pub fn hosted_accounts(&self) -> Arc<talkapp_chat_service::hosted_accounts::HostedAccounts> {
        self.chat.hosted_accounts()
    }

    /// The in-process Telegram sandbox, when one runs (the embedded default).
    pub fn sandbox(&self) -> Option<Arc<talkapp_tg_sandbox::SandboxHandle>> {
        self.sandbox.clone()
    }

    /// The store every part shares.
    pub fn store(&self) -> Arc<dyn Store> {
        Arc::clone(&self.store)
    }

    /// Runs every part until `shutdown` fires or one of them fails (which stops the rest).
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let stop_all = |result: anyhow::Result<()>, shutdown: CancellationToken| {
            shutdown.cancel();
            result
        };
        let (gateway, chat, media, search, realtime) = tokio::join!(
            async {
                stop_all(
                    self.gateway.run_until_stopped(shutdown.clone()).await,
                    shutdown.clone(),
                )
            },
            async {
                let stopped = self.chat.run_until_stopped(shutdown.clone()).await;
                // Once the accounts are disconnected (their last state written).
                if let Some(sandbox) = &self.sandbox
                    && let Err(error) = sandbox.save().await
                {
                    tracing::warn!(
                        error = format!("{error:#}"),
                        "cannot save the sandbox state"
                    );
                }
                stop_all(stopped, shutdown.clone())
            },
            async {
                stop_all(
                    self.media.run_until_stopped(shutdown.clone()).await,
                    shutdown.clone(),
                )
            },
            async {
                stop_all(
                    self.search.run_until_stopped(shutdown.clone()).await,
                    shutdown.clone(),
                )
            },
            async {
                stop_all(
                    self.realtime.run_until_stopped(shutdown.clone()).await,
                    shutdown.clone(),
                )
            },
        );
        gateway.and(chat).and(media).and(search).and(realtime)
    }
}

/// Runs the whole backend in this process until `shutdown` fires.
pub async fn run_all(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let backend = Backend::build(&config).await?;
    tracing::info!(
        url = %format!("http://{}:{}", config.gateway.listen.ip(), backend.port()),
        docs = "/docs",
        "talkapp ready"
    );
    backend.run_until_stopped(shutdown).await
}
