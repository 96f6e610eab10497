//! Dependency probes: can this process reach what it depends on right now?
//!
//! Each dependency (store, Redis, RabbitMQ) has a [`Probe`]. Services run them on an
//! interval and publish the result through gRPC health; the gateway runs its own on each
//! `/readyz` request.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

/// Checks one dependency.
#[async_trait]
pub trait Probe: Send + Sync {
    /// Short stable name (`database`, `redis`, `amqp`).
    fn name(&self) -> &'static str;
    /// `Ok` when the dependency answered; `Err` says why not.
    async fn check(&self) -> Result<(), String>;
}

/// The outcome of one probe.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ProbeOutcome {
    /// The probe's name.
    pub name: &'static str,
    /// Whether it answered in time.
    pub ok: bool,
    /// Why not, when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Runs every probe concurrently, each bounded by `timeout`.
pub async fn check_all(probes: &[Arc<dyn Probe>], timeout: Duration) -> Vec<ProbeOutcome> {
    futures::future::join_all(probes.iter().map(|probe| async move {
        let result = match tokio::time::timeout(timeout, probe.check()).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
        };
        ProbeOutcome {
            name: probe.name(),
            ok: result.is_ok(),
            error: result.err(),
        }
    }))
    .await
}

/// Redis answers `PING`.
pub struct RedisProbe {
    client: redis::Client,
}

impl RedisProbe {
    /// A probe for the Redis at `url`.
    pub fn new(url: &SecretString) -> anyhow::Result<Self> {
        Ok(Self {
            client: redis::Client::open(url.expose_secret())?,
        })
    }
}

#[async_trait]
impl Probe for RedisProbe {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn check(&self) -> Result<(), String> {
        let mut connection = self
            .client
            .get_multiplexed_async_connection()
            .await
            .map_err(|error| error.to_string())?;
        redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await
            .map(drop)
            .map_err(|error| error.to_string())
    }
}

/// RabbitMQ accepts an AMQP connection.
pub struct AmqpProbe {
    url: SecretString,
}

impl AmqpProbe {
    /// A probe for the broker at `url`.
    pub fn new(url: SecretString) -> Self {
        Self { url }
    }
}

#[async_trait]
impl Probe for AmqpProbe {
    fn name(&self) -> &'static str {
        "amqp"
    }

    async fn check(&self) -> Result<(), String> {
        let connection = lapin::Connection::connect(
            self.url.expose_secret(),
            lapin::ConnectionProperties::default(),
        )
        .await
        .map_err(|error| error.to_string())?;
        connection
            .close(200, "probe done".into())
            .await
            .map_err(|error| error.to_string())
    }
}

/// The Redis and RabbitMQ probes a process is configured with (empty URL: not used).
pub fn broker_and_cache_probes(
    config: &crate::config::Config,
) -> anyhow::Result<Vec<Arc<dyn Probe>>> {
    let mut probes: Vec<Arc<dyn Probe>> = Vec::new();
    if !config.redis.url.expose_secret().is_empty() {
        probes.push(Arc::new(RedisProbe::new(&config.redis.url)?));
    }
    if !config.amqp.url.expose_secret().is_empty() {
        probes.push(Arc::new(AmqpProbe::new(config.amqp.url.clone())));
    }
    Ok(probes)
}
