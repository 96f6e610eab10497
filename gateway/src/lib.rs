//! The TalkApp gateway: the REST (and later WebSocket) face of the backend.
//!
//! It authenticates every request (built-in accounts or an external identity provider),
//! refuses a `{user_id}` path that is not the caller's before any work, validates input,
//! answers errors as problem+json, documents itself (`/openapi.json`, `/docs`), and calls
//! the services over gRPC.
//!
//! # Layout
//! - [`Application`]: build on a listener, run until a shutdown token fires.
//! - [`routes`]: handlers, one module per area.
//! - [`audit`]: which requests the audit log records, and its batching writer.
//! - [`auth`]: password hashing, tokens, the verifier, the extractors.
//! - [`problem`]: the error type and the problem+json rewriting.
//! - [`clients`]: typed gRPC clients of the services; [`per_thread`] (from
//!   `talkapp-common`): what each HTTP worker thread keeps its own copy of (its
//!   connections, ADR 0055, 0075).
//! - [`middleware`]: request spans and metrics; [`route_metrics`]: their handles per route;
//!   [`request_ids`]: the ids of requests that bring none.
//! - [`media_links`]: signed, short-lived links to media for `<img>` / `<video>`.
//! - [`revocations`]: ended sign-in sessions and accounts, told to every gateway.
//! - [`openapi_responses`]: the error responses every operation can give, in the document.
//! - [`stats`]: service-wide gauges (users, active users, accounts, waiting sends).
//! - [`slow_clients`]: the body deadline, connections per client address, the file limit.
//! - [`cors`]: CORS for browsers on other origins (`gateway.cors_allowed_origins`).
//! - [`rate_limit`]: per-address and per-user limits (GCRA in Redis or memory).
//! - [`openapi`]: the OpenAPI document.
//! - [`ws`]: the WebSocket of events (tickets, frames, connections).

pub mod activity;
pub mod audit;
pub mod auth;
pub mod chat_reads;
pub mod clients;
pub mod cors;
pub mod media_links;
pub mod middleware;
pub mod openapi;
pub mod openapi_responses;
pub use talkapp_common::per_thread;
pub mod problem;
pub mod rate_limit;
pub mod redis_connections;
pub mod request_ids;
pub mod revocations;
pub mod route_metrics;
pub mod routes;
pub mod slow_clients;
pub mod state;
pub mod stats;
pub mod ws;

use std::sync::Arc;
use std::time::Duration;

use actix_web::middleware::{ErrorHandlers, from_fn};
use actix_web::{App, HttpServer, web};
use secrecy::ExposeSecret;
use talkapp_common::config::Config;
use talkapp_common::probe::Probe;
use talkapp_store::{GatewayStore, StoreProbe};
use tokio_util::sync::CancellationToken;

pub use clients::{InProcessServices, ServiceEndpoints};

use crate::auth::tokens::AccessTokens;
use crate::auth::verifier::TokenVerifier;
use crate::clients::ServiceClients;
use crate::state::AppState;

/// The gateway, bound and ready to run.
pub struct Application {
    server: actix_web::dev::Server,
    port: u16,
    ws_connections: Arc<ws::registry::Connections>,
    revocations: Arc<revocations::Revocations>,
    audit_writer: Option<audit::AuditWriter>,
    store: Arc<dyn GatewayStore>,
    activity: Arc<activity::Activity>,
    config: Config,
}

impl Application {
    /// Builds the gateway on `listener`, over `store` (a process's `Arc<dyn Store>`
    /// coerces to it), calling the services at `endpoints`.
    pub fn build(
        config: &Config,
        store: Arc<dyn GatewayStore>,
        endpoints: &ServiceEndpoints,
        listener: std::net::TcpListener,
    ) -> anyhow::Result<Self> {
        // reqwest (JWKS) uses rustls; pick its crypto once per process.
        let _ = rustls::crypto::ring::default_provider().install_default();
        // Install the metrics recorder before the first request records anything.
        talkapp_common::telemetry::prometheus();
        let access_tokens = if config.auth.builtin_enabled {
            Some(AccessTokens::new(
                &auth::tokens::signing_secret(config)?,
                &config.auth.issuer,
                &config.auth.audience,
                config.auth.access_token_ttl_secs,
            ))
        } else {
            None
        };
        let mut probes: Vec<Arc<dyn Probe>> = vec![Arc::new(StoreProbe(Arc::clone(&store)))];
        probes.extend(talkapp_common::probe::broker_and_cache_probes(config)?);
        let limiter_store: Arc<dyn rate_limit::LimiterStore> =
            if config.redis.url.expose_secret().is_empty() {
                Arc::new(rate_limit::memory::MemoryLimiter::default())
            } else {
                Arc::new(rate_limit::redis::RedisLimiter::new(
                    redis::Client::open(config.redis.url.expose_secret())?,
                    &config.rate_limit.redis_key_prefix,
                )?)
            };
        let ws_secret = auth::tokens::signing_secret(config)?;
        let ws_tickets = if config.redis.url.expose_secret().is_empty() {
            ws::tickets::WsTickets::local(&ws_secret)
        } else {
            ws::tickets::WsTickets::redis(
                &ws_secret,
                redis_connections::patient(redis::Client::open(config.redis.url.expose_secret())?)?,
                &config.redis.prefix,
            )
        };
        let ws_connections =
            ws::registry::Connections::new(config.gateway.ws_max_connections_per_user);
        let revocations = if config.redis.url.expose_secret().is_empty() {
            revocations::Revocations::local()
        } else {
            let client = redis::Client::open(config.redis.url.expose_secret())?;
            revocations::Revocations::redis(
                client.clone(),
                redis_connections::patient(client)?,
                &config.redis.prefix,
            )
        };
        let media_links = media_links::MediaLinks::new(
            &ws_secret,
            config.downloads.signed_url_ttl_secs,
            config.downloads.legacy_link_ttl_secs,
        );
        let (audit, audit_writer) = if config.audit.enabled {
            let (audit, writer) = audit::AuditLog::start(
                Arc::clone(&store) as _,
                config.audit.retention_days,
                Duration::from_millis(config.audit.batch_window_ms),
            );
            (Some(audit), Some(writer))
        } else {
            (None, None)
        };
        let stats_store = Arc::clone(&store);
        let activity = Arc::new(activity::Activity::default());
        let state = web::Data::new(AppState {
            audit,
            activity: Arc::clone(&activity),
            media_links,
            ws_tickets,
            ws_connections: Arc::clone(&ws_connections),
            revocations: Arc::clone(&revocations),
            rate_limiter: rate_limit::RateLimiter::new(&config.rate_limit, Some(limiter_store))
                .with_local_shares(if config.redis.url.expose_secret().is_empty() {
                    // In memory, asking is as cheap as a share (ADR 0076).
                    std::time::Duration::ZERO
                } else {
                    std::time::Duration::from_millis(config.rate_limit.api_local_share_ms)
                }),
            config: Arc::new(config.clone()),
            verifier: TokenVerifier::new(
                &config.auth,
                access_tokens.clone(),
                Arc::clone(&store),
                Arc::clone(&revocations),
            )?,
            chat_reads: chat_reads::ChatReads::new(Arc::clone(&store)),
            store,
            access_tokens,
            services: ServiceClients::connect_lazy(
                endpoints,
                Duration::from_millis(config.gateway.grpc_timeout_ms),
            )?,
            probes,
        });

        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let json_limit = config.gateway.max_json_body_bytes;
        let builtin_accounts = config.auth.builtin_enabled;
        let cors = cors::Cors::new(&config.gateway.cors_allowed_origins);
        // One ledger for every worker: a token's second arrival may reach another one.
        let refresh_reuse = web::Data::new(auth::refresh_reuse::RefreshReuse::from_config(config)?);
        if let Some(limit) = slow_clients::raise_open_file_limit() {
            tracing::debug!(limit, "open file limit");
        }
        let connection_slots = Arc::new(slow_clients::ConnectionSlots::default());
        // Behind a proxy every connection has the proxy's address: no per-address limit.
        let per_client_limit = if config.rate_limit.trust_forwarded_for {
            0
        } else {
            config.gateway.max_connections_per_client
        };
        let workers = match config.gateway.workers {
            // Actix's own default.
            0 => std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
            workers => workers,
        };
        // The database connections, shared out among the workers (ADR 0075).
        let store_connections_per_worker = config.database.max_connections.div_ceil(workers).max(2);
        let mut server = HttpServer::new(move || {
            // Actix runs this on each worker's thread, inside its runtime: the worker's own
            // connections are made here, so its calls stay on its thread (ADR 0055, 0075).
            state.services.open_on_this_thread();
            state.rate_limiter.open_on_this_thread();
            state
                .store
                .open_on_this_thread(store_connections_per_worker);
            App::new()
                .app_data(state.clone())
                .app_data(problem::extractor_config::json(json_limit))
                .app_data(problem::extractor_config::path())
                .app_data(problem::extractor_config::query())
                .app_data(web::PayloadConfig::new(json_limit))
                .app_data(refresh_reuse.clone())
                .configure(|service_config| routes::configure(service_config, builtin_accounts))
                .default_service(web::to(not_found))
                .wrap(from_fn(slow_clients::guard))
                .wrap(ErrorHandlers::new().default_handler(problem::rewrite_bare_errors))
                // Outside the rewriting above: /auth/v1 answers GoTrue's errors, not problems.
                .wrap(from_fn(routes::auth::gotrue::error::keep_gotrue_errors))
                .wrap(cors.clone())
                .wrap(from_fn(activity::count_requests))
                .wrap(from_fn(audit::record_actions))
                .wrap(from_fn(middleware::request_telemetry))
        })
        .on_connect(move |connection, data| {
            slow_clients::on_connect(&connection_slots, per_client_limit, connection, data);
        })
        .listen(listener)?
        // Stop signals are ours to handle (run_until_stopped), not actix's.
        .disable_signals()
        .shutdown_timeout(config.gateway.shutdown_grace_secs);
        server = server.workers(workers);
        Ok(Self {
            server: server.run(),
            port,
            ws_connections,
            revocations,
            audit_writer,
            store: stats_store,
            activity,
            config: config.clone(),
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` fires, then stops accepting and lets in-flight requests
    /// finish (up to `gateway.shutdown_grace_secs`).
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let handle = self.server.handle();
        let ws_connections = self.ws_connections;
        tokio::spawn(Arc::clone(&self.revocations).listen(shutdown.clone()));
        tokio::spawn(
            Arc::clone(&self.revocations)
                .load_disabled_subjects(Arc::clone(&self.store) as _, shutdown.clone()),
        );
        tokio::spawn(stats::export(
            Arc::clone(&self.store) as _,
            shutdown.clone(),
        ));
        // Its last flush runs once the server stopped (below), with nothing counted after.
        let activity_stop = CancellationToken::new();
        let activity_flusher = tokio::spawn(activity::flush_every(
            Arc::clone(&self.activity),
            Arc::clone(&self.store) as _,
            Duration::from_secs(self.config.operator.activity_flush_secs),
            self.config.operator.activity_retention_days,
            activity_stop.clone(),
        ));
        tokio::spawn(async move {
            shutdown.cancelled().await;
            // Sockets close at once ("going away": their clients reconnect elsewhere with
            // `since`); requests in flight get the grace period.
            ws_connections.stop_all();
            handle.stop(true).await;
        });
        tracing::info!(port = self.port, "gateway serving");
        let served = self.server.await;
        activity_stop.cancel();
        if tokio::time::timeout(Duration::from_secs(10), activity_flusher)
            .await
            .is_err()
        {
            tracing::warn!("per-user activity not flushed at shutdown in time; it is lost");
        }
        served?;
        // The server and with it every handle to the audit log are gone: the writer
        // stores what is queued and ends.
        if let Some(writer) = self.audit_writer {
            writer.finish(Duration::from_secs(10)).await;
        }
        Ok(())
    }
}

async fn not_found() -> Result<actix_web::HttpResponse, problem::ApiError> {
    Err(problem::ApiError::new(
        talkapp_common::ErrorCode::NotFound,
        "no such route",
    ))
}

/// Runs the gateway as its own process would: store from `database.url`, services at the
/// configured URLs, listening on `gateway.listen`, until `shutdown` fires.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let store = talkapp_store::connect(&config.database).await?;
    let listener = std::net::TcpListener::bind(config.gateway.listen)
        .map_err(|error| anyhow::anyhow!("cannot listen on {}: {error}", config.gateway.listen))?;
    let endpoints = ServiceEndpoints::from_config(&config.gateway);
    Application::build(&config, store, &endpoints, listener)?
        .run_until_stopped(shutdown)
        .await
}
