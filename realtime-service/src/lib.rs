//! The realtime service: the update events of linked accounts, replayed and streamed to
//! gateways; presence; Web Push notifications.
//!
//! Events come from the account hosts on the event bus. This service is the single
//! active consumer of its queue: it appends each event to the replay log (Redis, or in
//! process) before acknowledging it, and sends a push notification for a new incoming
//! message to users with no live connection. Gateways subscribe per linked account
//! (`Subscribe`, ADR 0043): they get the log after the client's `since`, then its tail,
//! which comes from the ingest in memory rather than read back from the log (ADR 0053).
//!
//! # Layout
//! - [`ingest`]: from the bus into the log (and to push).
//! - [`live`]: appended events handed from the ingest to the streams in memory.
//! - [`subscribe`]: one connection's event stream.
//! - [`presence`]: live connections per user.
//! - [`push`]: Web Push notifications.
//! - [`grpc_adapter`]: the gRPC face (`talkapp.realtime.v1.RealtimeService`).
//! - [`Application`]: build and run, shared by `main.rs`, the all-in-one binary and tests.

pub mod grpc_adapter;
pub mod ingest;
pub mod live;
pub mod presence;
pub mod push;
pub mod subscribe;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use secrecy::ExposeSecret as _;
use talkapp_bus::Bus;
use talkapp_common::config::Config;
use talkapp_common::grpc_server::GrpcServer;
use talkapp_common::probe::Probe;
use talkapp_eventlog::memory::MemoryEventLog;
use talkapp_eventlog::redis::{RedisEventLog, RedisOptions};
use talkapp_eventlog::{EventLog, Retention};
use talkapp_proto::realtime::v1::realtime_service_server::RealtimeServiceServer;
use talkapp_proto::tonic;
use talkapp_store::{RealtimeStore, StoreProbe};
use talkapp_webpush::{SenderConfig, VapidKey, VapidSigner, WebPushSender};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::live::Live;
use crate::presence::Presence;
use crate::push::Notifier;

/// The realtime service, bound and ready to run.
pub struct Application {
    server: GrpcServer,
    bus: Bus,
    log: Arc<dyn EventLog>,
    /// The same log when it is in process: what it holds is reported as gauges.
    memory_log: Option<MemoryEventLog>,
    live: Arc<Live>,
    notifier: Arc<Notifier>,
    ingesting: CancellationToken,
    /// Ends the event streams when the service stops (a graceful stop waits for every
    /// call in flight, and a stream lasts as long as its WebSocket).
    closing_streams: CancellationToken,
}

/// The VAPID key: configured, or generated once into the data directory.
fn vapid_key(config: &Config) -> anyhow::Result<VapidKey> {
    let configured = config.realtime.vapid_private_key.expose_secret();
    if !configured.is_empty() {
        return VapidKey::from_base64url(configured)
            .map_err(|error| anyhow::anyhow!("realtime.vapid_private_key: {error}"));
    }
    let bytes =
        talkapp_common::secrets::configured_or_generated(None, &config.data.dir, "vapid.key", 32)?;
    VapidKey::from_base64url(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
        .map_err(|error| anyhow::anyhow!("the generated VAPID key is unusable: {error}"))
}

impl Application {
    /// Builds the service on `listener`: events from `bus`, push subscriptions and muted
    /// chats from `store`, the replay log and presence in Redis when configured.
    pub async fn build(
        config: &Config,
        store: Arc<dyn RealtimeStore>,
        bus: Bus,
        listener: TcpListener,
    ) -> anyhow::Result<Self> {
        let mut probes: Vec<Arc<dyn Probe>> = vec![Arc::new(StoreProbe(Arc::clone(&store)))];
        probes.extend(talkapp_common::probe::broker_and_cache_probes(config)?);
        let retention = Retention {
            max_events_per_account: config.realtime.retained_events,
            max_age: Duration::from_secs(config.realtime.retention_secs),
        };
        let redis_url = config.redis.url.expose_secret();
        let memory_log = redis_url.is_empty().then(|| {
            MemoryEventLog::new(retention)
                .with_max_bytes_per_account(config.realtime.retained_bytes_per_account)
        });
        let (log, presence): (Arc<dyn EventLog>, Arc<Presence>) = if let Some(memory) = &memory_log
        {
            (Arc::new(memory.clone()), Presence::local())
        } else {
            let log = RedisEventLog::new(RedisOptions {
                url: redis_url.to_owned(),
                prefix: config.redis.prefix.clone(),
                retention,
            })
            .map_err(|error| anyhow::anyhow!("redis.url: {error}"))?;
            let client = redis::Client::open(redis_url)
                .map_err(|error| anyhow::anyhow!("redis.url: {error}"))?;
            // Connects lazily and again after a loss; calls fail meanwhile.
            let manager = redis::aio::ConnectionManager::new_lazy_with_config(
                client,
                redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(2)))
                    .set_response_timeout(Some(Duration::from_secs(2))),
            )
            .map_err(|error| anyhow::anyhow!("redis.url: {error}"))?;
            (
                Arc::new(log),
                Presence::redis(manager, &config.redis.prefix),
            )
        };
        let signer = VapidSigner::new(vapid_key(config)?, &config.realtime.vapid_subject)
            .map_err(|error| anyhow::anyhow!("realtime.vapid_subject: {error}"))?;
        let sender = WebPushSender::new(
            signer,
            SenderConfig {
                allow_http_loopback: config.realtime.push_allow_http_loopback,
                ..SenderConfig::default()
            },
        )
        .map_err(|error| anyhow::anyhow!("push sender: {error}"))?;
        let notifier = Notifier::new(Arc::clone(&store), Arc::clone(&presence), sender);
        let closing_streams = CancellationToken::new();
        let live = Live::new();
        let adapter = grpc_adapter::RealtimeGrpcAdapter::new(
            Arc::clone(&log),
            Arc::clone(&live),
            presence,
            Arc::clone(&notifier),
            store,
            closing_streams.clone(),
        );
        let routes = tonic::service::Routes::new(RealtimeServiceServer::new(adapter));
        Ok(Self {
            server: GrpcServer::new(
                talkapp_proto::realtime::v1::SERVICE_NAME,
                listener,
                routes,
                probes,
                config.probes.clone(),
            ),
            bus,
            log,
            memory_log,
            live,
            notifier,
            ingesting: CancellationToken::new(),
            closing_streams,
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

    /// The VAPID public key browsers subscribe with.
    pub fn push_public_key(&self) -> String {
        self.notifier.public_key().to_owned()
    }

    /// Consumes events and serves until `shutdown` is cancelled.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let ingest = tokio::spawn(ingest::run(
            Arc::clone(&self.bus.events),
            Arc::clone(&self.log),
            Arc::clone(&self.live),
            Some(Arc::clone(&self.notifier)),
            self.ingesting.clone(),
        ));
        if let Some(memory) = self.memory_log.clone() {
            tokio::spawn(report_memory_log(memory, shutdown.clone()));
        }
        let closing_streams = self.closing_streams.clone();
        let stopping = shutdown.clone();
        tokio::spawn(async move {
            stopping.cancelled().await;
            closing_streams.cancel();
        });
        let served = self.server.run_until_stopped(shutdown).await;
        self.ingesting.cancel();
        if let Err(error) = ingest.await {
            tracing::warn!(%error, "event ingest task failed");
        }
        served
    }
}

/// How often what the in-process log holds is reported.
const MEMORY_LOG_GAUGES_EVERY: Duration = Duration::from_secs(10);

/// Reports what the in-process log holds (`talkapp_realtime_log_accounts`, `_events`,
/// `_bytes`) every [`MEMORY_LOG_GAUGES_EVERY`] until `stop`: the embedded default's
/// replay memory, which grows with every event until each active account holds
/// `realtime.retained_events` of them, or `realtime.retained_bytes_per_account` bytes
/// (docs/BENCHMARKS.md, the mix's memory).
async fn report_memory_log(log: MemoryEventLog, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(MEMORY_LOG_GAUGES_EVERY);
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                let held = log.held();
                metrics::gauge!("talkapp_realtime_log_accounts").set(held.accounts as f64);
                metrics::gauge!("talkapp_realtime_log_events").set(held.events as f64);
                metrics::gauge!("talkapp_realtime_log_bytes").set(held.bytes as f64);
            }
            () = stop.cancelled() => break,
        }
    }
}

/// Runs the service as its own process would: listening on `realtime_service.listen`,
/// until `shutdown` fires.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let store = talkapp_store::connect(&config.database).await?;
    let listener = talkapp_common::grpc_server::bind(config.realtime_service.listen).await?;
    let bus = Bus::from_config(&config.amqp);
    Application::build(&config, store, bus, listener)
        .await?
        .run_until_stopped(shutdown)
        .await
}
