//! The chat service: chats, history, send jobs, groups, contacts and profiles, and the
//! host of linked Telegram accounts.
//!
//! Implemented: linking Telegram accounts (login code, 2FA password, unlink); hosting
//! them (each connected from exactly one replica, reconnected when it drops, its session
//! kept sealed in the store); the chat cache filled by backfill and kept fresh from
//! updates; reads (chat list, details, history with read-through); sends as durable,
//! ordered, de-duplicated jobs, text and media (uploaded files pinned at the media service,
//! streamed to Telegram by the account's host); media downloads (with byte ranges) through
//! the account's host; creating groups and channels, adding and removing members,
//! leaving chats, promoting and demoting admins (ADR 0025), editing, deleting and
//! forwarding messages, users' profiles (through the account's host; the non-send actions
//! once per idempotency key, ADR 0021), changing a chat's title and description; the
//! account's own profile (read, names, bio, username) and adding and deleting contacts
//! (ADR 0026); chat photos and the own profile photo from uploaded files (ADR 0031).
//! Not yet: joining, pins.
//!
//! # Layout
//! - [`service`]: the domain logic ([`service::ChatService`]), free of gRPC types.
//! - [`grpc_adapter`]: maps the domain to `talkapp.chat.v1.ChatService` (the
//!   replica's accounts' `talkapp.chat.v1.AccountHost`, for the other replicas, is
//!   [`account_host::AccountHostGrpcAdapter`]).
//! - [`proto_views`]: the domain's views in their proto form.
//! - [`linking`]: the login steps, their state in the store.
//! - [`hosted_accounts`]: [`hosted_accounts::HostedAccounts`], the accounts this replica
//!   hosts: their supervised Telegram connections, what those report written down.
//! - [`telegram`]: which Telegram to reach (real, or a sandbox process; the all-in-one
//!   binary brings its in-process sandbox itself).
//! - [`cache`]: the chat cache (backfill, updates, older history on demand).
//! - [`reads`]: chat list, chat details, history.
//! - [`media`]: media downloads (references resolved from the cache, files fetched
//!   through the account, stale file references refreshed).
//! - [`media_cache`]: the in-memory LRU of recently served small files.
//! - [`sends`]: send jobs (text and media), the shard consumers and the per-account send
//!   workers.
//! - [`media_files`]: the uploaded files media sends carry, pinned and read at the media
//!   service.
//! - [`ownership`]: which replica holds which shard (advisory locks, or all of them).
//! - [`account_host`]: what only an account's host can do, here ([`account_host::LocalHost`])
//!   or on the peer that hosts it, and the [`account_host::Router`] that picks, once;
//!   each host call declared once ([`account_host::calls`], ADR 0032), both ends of it
//!   written from that.
//! - [`groups`]: group and member requests checked, members on the wire, idempotency
//!   digests.
//! - [`profiles`]: users' profiles on the wire.
//! - [`profile_edits`]: own-profile and contact changes checked, Telegram's refusals of
//!   them coded.
//! - [`actions`]: chat actions by their API names.
//! - [`events`]: the accounts' updates and send outcomes as events on the bus, their ids
//!   reserved in blocks by [`event_ids`].
//! - [`hooks`]: what happens when shards and accounts arrive here and leave (the
//!   [`ownership`] and [`hosted_accounts`] hooks, implemented over the cache, the events
//!   and the send worker).
//! - [`joins`]: joining by username or invite link and invite links' settings, checked.
//! - [`Application`]: build and run, shared by `main.rs`, the all-in-one binary and tests.

pub mod account_host;
pub mod actions;
pub mod cache;
pub mod event_ids;
pub mod events;
pub mod groups;
pub mod grpc_adapter;
pub mod hooks;
pub mod hosted_accounts;
pub mod joins;
pub mod linking;
pub mod media;
pub mod media_cache;
pub mod media_files;
pub mod ownership;
pub mod profile_edits;
pub mod profiles;
pub mod proto_views;
pub mod reads;
pub mod sends;
pub mod sent_files;
pub mod service;
pub mod telegram;

use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret as _;
use talkapp_bus::{Bus, JobQueue};
use talkapp_common::config::Config;
use talkapp_common::grpc_server::GrpcServer;
use talkapp_common::probe::Probe;
use talkapp_proto::chat::v1::account_host_server::AccountHostServer;
use talkapp_proto::chat::v1::chat_service_server::ChatServiceServer;
use talkapp_proto::tonic;
use talkapp_store::{ChatStore, StoreProbe};
use talkapp_telegram::account::AccountOptions;
use talkapp_telegram::login::Login;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::account_host::{LocalHost, Router};
use crate::cache::{BackfillLimits, ChatCache};
use crate::events::EventPublisher;
use crate::hooks::{AccountLifecycle, CacheAndEvents, ShardHosting};
use crate::hosted_accounts::HostedAccounts;
use crate::linking::Linking;
use crate::media_files::{GrpcMediaFiles, MediaFiles};
use crate::ownership::{LeaseBackend, LeaseTimings, Ownership};
use crate::sends::{SendOptions, SendWorker, Sends};
use crate::telegram::TelegramSetup;

/// How often expired pending logins are purged.
const LOGIN_PURGE_INTERVAL: Duration = Duration::from_secs(60);
/// How often the accounts of held shards are compared with the store (accounts linked
/// through another replica are connected by the shard's holder this way).
const RECONCILE_INTERVAL: Duration = Duration::from_secs(3);

/// The chat service, bound and ready to run.
pub struct Application {
    server: GrpcServer,
    hosted_accounts: Arc<HostedAccounts>,
    worker: Arc<SendWorker>,
    ownership: Arc<Ownership>,
    stop_hosting: CancellationToken,
    store: Arc<dyn ChatStore>,
    queue: Arc<dyn JobQueue>,
}

/// How this replica is reached by the others.
fn advertised_url(config: &Config, listener: &TcpListener) -> String {
    if !config.chat_service.advertise_url.is_empty() {
        return config.chat_service.advertise_url.clone();
    }
    let address = listener.local_addr().unwrap_or(config.chat_service.listen);
    let host = if address.ip().is_unspecified() {
        std::net::IpAddr::from([127, 0, 0, 1])
    } else {
        address.ip()
    };
    format!("http://{host}:{}", address.port())
}

impl Application {
    /// Builds the service on `listener` over `store` and `bus`, reaching Telegram as
    /// configured.
    pub fn build(
        config: &Config,
        store: Arc<dyn ChatStore>,
        bus: Bus,
        listener: TcpListener,
    ) -> anyhow::Result<Self> {
        let telegram = TelegramSetup::from_config(config)?;
        Self::build_with(config, store, bus, listener, telegram)
    }

    /// Builds the service with Telegram set up already (tests bring their own).
    pub fn build_with(
        config: &Config,
        store: Arc<dyn ChatStore>,
        bus: Bus,
        listener: TcpListener,
        telegram: TelegramSetup,
    ) -> anyhow::Result<Self> {
        let queue = Arc::clone(&bus.jobs);
        let mut probes: Vec<Arc<dyn Probe>> = vec![Arc::new(StoreProbe(Arc::clone(&store)))];
        probes.extend(talkapp_common::probe::broker_and_cache_probes(config)?);
        let sealer = telegram::session_sealer(config)?;
        let stop_hosting = CancellationToken::new();
        let cache = ChatCache::new(Arc::clone(&store));
        let hosted_accounts = HostedAccounts::new(
            Arc::clone(&store),
            telegram.endpoint.clone(),
            sealer.clone(),
            AccountOptions {
                keepalive: Duration::from_secs(config.telegram.keepalive_secs),
                stall_grace: Duration::from_secs(config.telegram.stall_grace_secs),
                ..AccountOptions::default()
            },
            stop_hosting.clone(),
        );
        let backend = match config.sqlite_path() {
            Some(_) => LeaseBackend::Local,
            None => LeaseBackend::Postgres {
                url: config.database.url.expose_secret().to_owned(),
            },
        };
        let ownership = Ownership::new(
            advertised_url(config, &listener),
            backend,
            LeaseTimings::default(),
        );
        let media_files: Arc<dyn MediaFiles> = Arc::new(
            GrpcMediaFiles::connect_lazy(&config.sends.media_service_url).map_err(|error| {
                anyhow::anyhow!(
                    "sends.media_service_url {:?} is not usable: {error}",
                    config.sends.media_service_url
                )
            })?,
        );
        let local_host = Arc::new(LocalHost::new(
            Arc::clone(&hosted_accounts),
            cache.clone(),
            media::Media::new(
                Arc::clone(&store),
                config.downloads.max_file_bytes,
                config.downloads.cache_bytes,
            ),
            Arc::clone(&media_files),
        ));
        let router = Arc::new(Router::new(Arc::clone(&ownership), Arc::clone(&local_host)));
        let reads = Arc::new(reads::Reads::new(Arc::clone(&store), Arc::clone(&router)));
        let events = Arc::new(EventPublisher::new(
            Arc::clone(&store),
            Arc::clone(&bus.events),
            Arc::clone(&reads),
            stop_hosting.clone(),
        ));
        let worker = SendWorker::new(
            Arc::clone(&store),
            Arc::clone(&queue),
            Arc::clone(&hosted_accounts),
            Arc::clone(&media_files),
            Arc::clone(&events),
            SendOptions {
                max_attempts: config.sends.max_attempts,
                prefetch: config.sends.prefetch,
                max_backoff: Duration::from_secs(config.sends.max_backoff_secs),
                ..SendOptions::default()
            },
            stop_hosting.clone(),
        );
        hosted_accounts.set_handlers(
            Arc::new(CacheAndEvents {
                cache: cache.clone(),
                events: Arc::clone(&events),
            }),
            Arc::new(AccountLifecycle {
                cache,
                worker: Arc::clone(&worker),
                events,
                limits: BackfillLimits::default(),
            }),
        );
        let linking = Linking::new(
            Arc::clone(&store),
            Login::new(telegram.endpoint),
            sealer,
            config.telegram.login_ttl_secs,
            config.telegram.max_login_attempts,
        );
        let service = Arc::new(service::ChatService::new(
            Arc::clone(&store),
            linking,
            Arc::clone(&hosted_accounts),
            Arc::clone(&ownership),
            reads,
            Sends::new(
                Arc::clone(&store),
                Arc::clone(&queue),
                media_files,
                Arc::clone(&worker),
            ),
            router,
        ));
        let routes = tonic::service::Routes::new(ChatServiceServer::new(
            grpc_adapter::ChatGrpcAdapter::new(service),
        ))
        .add_service(AccountHostServer::new(
            grpc_adapter::AccountHostGrpcAdapter::new(local_host),
        ));
        Ok(Self {
            server: GrpcServer::new(
                talkapp_proto::chat::v1::SERVICE_NAME,
                listener,
                routes,
                probes,
                config.probes.clone(),
            ),
            hosted_accounts,
            worker,
            ownership,
            stop_hosting,
            store,
            queue,
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

    /// The hosted accounts.
    pub fn hosted_accounts(&self) -> Arc<HostedAccounts> {
        Arc::clone(&self.hosted_accounts)
    }

    /// Which shards this replica holds.
    pub fn ownership(&self) -> Arc<Ownership> {
        Arc::clone(&self.ownership)
    }

    /// The send-job queues.
    pub fn queue(&self) -> Arc<dyn JobQueue> {
        Arc::clone(&self.queue)
    }

    /// Takes its share of the shards (connecting their accounts, consuming their send
    /// queues) and serves until `shutdown` is cancelled; then drains in-flight calls,
    /// hands its shards back and disconnects the accounts (their last state written).
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let hosted_accounts = Arc::clone(&self.hosted_accounts);
        let leasing = tokio::spawn(Arc::clone(&self.ownership).run(
            Arc::new(ShardHosting {
                accounts: Arc::clone(&self.hosted_accounts),
                worker: Arc::clone(&self.worker),
            }),
            self.stop_hosting.clone(),
        ));
        tokio::spawn(reconcile_hosted_accounts(
            Arc::clone(&self.hosted_accounts),
            Arc::clone(&self.ownership),
            self.stop_hosting.clone(),
        ));
        tokio::spawn(purge_expired_logins(
            Arc::clone(&self.store),
            self.stop_hosting.clone(),
        ));
        let served = self.server.run_until_stopped(shutdown).await;
        self.stop_hosting.cancel();
        if let Err(error) = leasing.await {
            tracing::warn!(%error, "lease task failed");
        }
        hosted_accounts.stopped().await;
        served
    }
}

async fn reconcile_hosted_accounts(
    hosted_accounts: Arc<HostedAccounts>,
    ownership: Arc<Ownership>,
    stop: CancellationToken,
) {
    let mut interval = tokio::time::interval(RECONCILE_INTERVAL);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = interval.tick() => {}
        }
        let held = ownership.held();
        if held.is_empty() {
            continue;
        }
        if let Err(error) = hosted_accounts.host_shards(&held).await {
            tracing::debug!(%error, "cannot compare hosted accounts with the store");
        }
    }
}

async fn purge_expired_logins(store: Arc<dyn ChatStore>, stop: CancellationToken) {
    let mut interval = tokio::time::interval(LOGIN_PURGE_INTERVAL);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = interval.tick() => {}
        }
        match store
            .delete_expired_telegram_logins(talkapp_store::now())
            .await
        {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "expired logins purged"),
            Err(error) => tracing::warn!(%error, "cannot purge expired logins"),
        }
    }
}

/// Runs the service as its own process would: store from `database.url`, listening on
/// `chat_service.listen`, until `shutdown` fires.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let store = talkapp_store::connect(&config.database).await?;
    let listener = talkapp_common::grpc_server::bind(config.chat_service.listen).await?;
    Application::build(&config, store, Bus::from_config(&config.amqp), listener)?
        .run_until_stopped(shutdown)
        .await
}
