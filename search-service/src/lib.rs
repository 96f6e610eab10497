//! The search service: chat and message search over an index of each linked account's
//! cache, kept current from the update events.
//!
//! The index ([`index::SearchIndex`]) follows `message.new`, `message.edited`,
//! `message.deleted` and `chat.updated` from its own queue on the event bus
//! ([`ingest`]), and is built from the chat cache for accounts it has not seen and for
//! newly linked ones while their backfill runs ([`rebuild`]). Text is folded in Rust
//! ([`normalize`]: case, Uzbek apostrophes, Cyrillic and Latin, word prefixes) so every
//! backend sees the same terms. Hits are shown from the cache.
//!
//! Telegram's own search (`messages.search`, `messages.searchGlobal`) finds messages older
//! than the cache, and the contact list (`contacts.getContacts`) is filtered like chats:
//! both are asked of the chat service ([`remote::ChatServiceTelegram`]), which passes them
//! to the account's host. The messages Telegram finds that the index lacks are indexed by
//! the search that found them (ADR 0035), so the next search finds them here and their
//! edits and deletes follow. Not yet: `contacts.search` (people outside the contact list).
//!
//! # Layout
//! - [`normalize`]: words, folding, prefixes, typo distance.
//! - [`index`]: the index contract and its SQLite (FTS5) and PostgreSQL backends.
//! - [`service`]: the search core ([`service::SearchCore`]), free of gRPC types.
//! - [`remote`]: the port to Telegram's own search and contacts, and its chat-service client.
//! - [`ingest`]: from the bus into the index.
//! - [`rebuild`]: from the cache into the index.
//! - [`grpc_adapter`]: the gRPC face (`talkapp.search.v1.SearchService`).
//! - [`Application`]: build and run, shared by `main.rs`, the all-in-one binary and tests.

pub mod grpc_adapter;
pub mod index;
pub mod ingest;
pub mod normalize;
pub mod rebuild;
pub mod remote;
pub mod service;

use std::sync::Arc;
use std::time::Duration;

use talkapp_bus::Bus;
use talkapp_common::config::Config;
use talkapp_common::grpc_server::GrpcServer;
use talkapp_common::probe::Probe;
use talkapp_proto::search::v1::search_service_server::SearchServiceServer;
use talkapp_proto::tonic;
use talkapp_store::{SearchStore, StoreProbe};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::index::SearchIndex;
use crate::remote::TelegramSearch;
use crate::service::SearchCore;

/// How often linked accounts are compared with what the index has built.
const RECONCILE_INTERVAL: Duration = Duration::from_secs(5);

/// The search service, bound and ready to run.
pub struct Application {
    server: GrpcServer,
    bus: Bus,
    store: Arc<dyn SearchStore>,
    index: Arc<dyn SearchIndex>,
    /// How long the index keeps a deletion's tombstone (ADR 0047).
    tombstone_retention: Duration,
}

impl Application {
    /// Builds the service on `listener`: its index as `database.url` implies, events from
    /// `bus`, hits shown from `store`'s cache, Telegram's own search and the contact list
    /// through the chat service at `search.chat_service_url`.
    pub async fn build(
        config: &Config,
        store: Arc<dyn SearchStore>,
        bus: Bus,
        listener: TcpListener,
    ) -> anyhow::Result<Self> {
        let index = index::open(config).await?;
        let telegram = remote::ChatServiceTelegram::connect_lazy(
            &config.search.chat_service_url,
            Arc::clone(&store),
            Duration::from_millis(config.search.telegram_timeout_ms),
        )
        .map_err(|error| {
            anyhow::anyhow!(
                "search.chat_service_url {:?} is not usable: {error}",
                config.search.chat_service_url
            )
        })?;
        let telegram: Arc<dyn TelegramSearch> = Arc::new(telegram);
        Self::build_with(config, store, bus, index, Some(telegram), listener)
    }

    /// Builds the service on a given index and, when given, Telegram-side search.
    pub fn build_with(
        config: &Config,
        store: Arc<dyn SearchStore>,
        bus: Bus,
        index: Arc<dyn SearchIndex>,
        telegram: Option<Arc<dyn TelegramSearch>>,
        listener: TcpListener,
    ) -> anyhow::Result<Self> {
        let mut probes: Vec<Arc<dyn Probe>> = vec![Arc::new(StoreProbe(Arc::clone(&store)))];
        probes.extend(talkapp_common::probe::broker_and_cache_probes(config)?);
        let core = Arc::new(SearchCore::new(
            Arc::clone(&index),
            Arc::clone(&store),
            telegram,
        ));
        let adapter =
            grpc_adapter::SearchGrpcAdapter::new(core, Arc::clone(&store), Arc::clone(&index));
        let routes = tonic::service::Routes::new(SearchServiceServer::new(adapter));
        Ok(Self {
            server: GrpcServer::new(
                talkapp_proto::search::v1::SERVICE_NAME,
                listener,
                routes,
                probes,
                config.probes.clone(),
            ),
            bus,
            store,
            index,
            tombstone_retention: index::tombstone_retention(Duration::from_secs(
                config.amqp.replay_window_secs,
            )),
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

    /// The index it searches.
    pub fn index(&self) -> Arc<dyn SearchIndex> {
        Arc::clone(&self.index)
    }

    /// Follows events, builds missing accounts and serves until `shutdown` is cancelled.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let background = CancellationToken::new();
        let ingest = tokio::spawn(ingest::run(
            Arc::clone(&self.bus.events),
            Arc::clone(&self.index),
            Arc::clone(&self.store),
            background.clone(),
        ));
        let reconcile = tokio::spawn(rebuild::run(
            Arc::clone(&self.store),
            Arc::clone(&self.index),
            RECONCILE_INTERVAL,
            self.tombstone_retention,
            background.clone(),
        ));
        let served = self.server.run_until_stopped(shutdown).await;
        background.cancel();
        for task in [ingest, reconcile] {
            if let Err(error) = task.await {
                tracing::warn!(%error, "search background task failed");
            }
        }
        served
    }
}

/// Runs the service as its own process would: listening on `search_service.listen`,
/// until `shutdown` fires.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let store = talkapp_store::connect(&config.database).await?;
    let listener = talkapp_common::grpc_server::bind(config.search_service.listen).await?;
    let bus = Bus::from_config(&config.amqp);
    Application::build(&config, store, bus, listener)
        .await?
        .run_until_stopped(shutdown)
        .await
}
