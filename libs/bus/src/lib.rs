//! TalkApp's message bus.
//!
//! [`JobQueue`]: one durable queue per shard of linked accounts, consumed by the
//! chat-service replica that hosts the shard. A message stays on its queue until the
//! consumer acknowledges it; a consumer that goes away (closed, crashed, cut off) hands
//! its unacknowledged messages back, in their order, to the next consumer. At most one
//! consumer of a queue receives messages at a time (single active consumer).
//!
//! Two implementations pass the same conformance suite (`tests/it`):
//! [`amqp::AmqpJobQueue`] on RabbitMQ (persistent messages, publisher confirms, durable
//! quorum or classic queues with `x-single-active-consumer`), and
//! [`memory::MemoryJobQueue`] in process for the embedded default (nothing survives the
//! process: the embedded chat service re-reads pending jobs from its store on start).
//!
//! [`EventBus`]: the update events every account's host produces, on a durable topic
//! exchange; consumers (the realtime service, the search service) read them from durable queues
//! bound by routing pattern, which exist from the producer's first connection on, so an
//! event published while its consumer is away waits for it.
//!
//! # Layout
//! - [`JobQueue`], [`EventBus`], [`Subscription`], [`Delivery`]: the contract.
//! - [`memory`]: in process.
//! - [`amqp`]: RabbitMQ, with reconnection, and [`replay`]: the recent events it
//!   publishes again on a new connection (ADR 0045).

pub mod amqp;
pub mod memory;
pub mod replay;

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::mpsc;

/// Why a bus call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BusError {
    /// The broker is not reachable (or the connection dropped); try again later.
    #[error("bus unavailable: {0}")]
    Unavailable(String),
    /// The broker refused (the message was not accepted).
    #[error("bus refused: {0}")]
    Refused(String),
}

/// Settles a delivery with its broker.
#[async_trait]
pub trait Settle: Send + Sync {
    /// Done with it: the broker forgets it.
    async fn ack(&self) -> Result<(), BusError>;
    /// Give it back to the queue, to be delivered again.
    async fn requeue(&self) -> Result<(), BusError>;
}

/// One message handed to a consumer.
pub struct Delivery {
    /// The message.
    pub body: Vec<u8>,
    /// Delivered before (to a consumer that did not acknowledge it).
    pub redelivered: bool,
    settle: Box<dyn Settle>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("bytes", &self.body.len())
            .field("redelivered", &self.redelivered)
            .finish_non_exhaustive()
    }
}

impl Delivery {
    /// A delivery settled through `settle`.
    pub fn new(body: Vec<u8>, redelivered: bool, settle: Box<dyn Settle>) -> Self {
        Self {
            body,
            redelivered,
            settle,
        }
    }

    /// Acknowledges: the message is done with.
    pub async fn ack(self) -> Result<(), BusError> {
        self.settle.ack().await
    }

    /// Returns the message to its queue.
    pub async fn requeue(self) -> Result<(), BusError> {
        self.settle.requeue().await
    }
}

/// A consumer of one queue. Deliveries arrive on [`Subscription::next`]; `None` means
/// the consumer is gone (stopped, or its connection was lost: subscribe again).
/// Dropping it cancels the consumer; what it had not acknowledged goes back to the queue.
pub struct Subscription {
    deliveries: mpsc::Receiver<Delivery>,
    _cancel: tokio_util::sync::DropGuard,
}

impl Subscription {
    /// A subscription fed by `deliveries`, cancelled (through `cancel`) when dropped.
    pub fn new(
        deliveries: mpsc::Receiver<Delivery>,
        cancel: tokio_util::sync::CancellationToken,
    ) -> Self {
        Self {
            deliveries,
            _cancel: cancel.drop_guard(),
        }
    }

    /// The next delivery; `None` once the consumer is gone.
    pub async fn next(&mut self) -> Option<Delivery> {
        self.deliveries.recv().await
    }
}

/// The stream of update events: a durable topic exchange, and durable queues bound to it
/// by routing pattern. Routing keys are `<user_id>.<session_index>.<type>`.
#[async_trait]
pub trait EventBus: Send + Sync + 'static {
    /// `rabbitmq` or `memory`.
    fn backend(&self) -> &'static str;

    /// Publishes one event; returns once the broker holds it durably in every queue bound
    /// to it. On RabbitMQ, events are at least once: a recent one can come again (the
    /// replay after a lost connection, ADR 0045), always in its original order, so a
    /// consumer takes an event it has seen as a repeat.
    async fn publish_event(&self, routing_key: &str, body: &[u8]) -> Result<(), BusError>;

    /// Consumes the durable queue `name`, bound to `pattern` (topic syntax: `*` one word,
    /// `#` any), as its single active consumer.
    async fn consume_events(
        &self,
        name: &str,
        pattern: &str,
        prefetch: u16,
    ) -> Result<Subscription, BusError>;
}

/// Consumes `name` as [`EventBus::consume_events`] does, trying again while the bus is
/// away (0.4 s between the first attempts, doubling to 6.4 s; the first failure of a
/// series is logged, naming `what`); `None` once `stop` fires. The consumers of the event
/// queues (realtime-service, search-service) subscribe again through it whenever their
/// subscription ends.
pub async fn consume_events_until_stopped(
    bus: &dyn EventBus,
    (name, pattern): (&str, &str),
    prefetch: u16,
    what: &str,
    stop: &tokio_util::sync::CancellationToken,
) -> Option<Subscription> {
    let mut failures: u32 = 0;
    while !stop.is_cancelled() {
        match bus.consume_events(name, pattern, prefetch).await {
            Ok(subscription) => return Some(subscription),
            Err(error) => {
                if failures == 0 {
                    tracing::warn!(%error, "cannot consume {what}; retrying");
                }
                failures += 1;
                let pause = std::time::Duration::from_millis(200 << failures.min(5));
                tokio::select! {
                    () = stop.cancelled() => return None,
                    () = tokio::time::sleep(pause) => {}
                }
            }
        }
    }
    None
}

/// Durable per-shard job queues.
#[async_trait]
pub trait JobQueue: Send + Sync + 'static {
    /// `rabbitmq` or `memory`.
    fn backend(&self) -> &'static str;

    /// Appends `body` to the shard's queue; returns once the broker holds it durably.
    async fn publish(&self, shard: u16, body: &[u8]) -> Result<(), BusError>;

    /// Consumes the shard's queue, at most `prefetch` unacknowledged deliveries at a time.
    /// While another consumer of the queue is active this one receives nothing; it takes
    /// over when the other goes away.
    async fn consume(&self, shard: u16, prefetch: u16) -> Result<Subscription, BusError>;

    /// Parks a message that will not be processed (its job failed for good), for people
    /// to look at.
    async fn dead_letter(&self, body: &[u8]) -> Result<(), BusError>;
}

/// The realtime service's event queue: every event, kept for the realtime service while it
/// is away (declared by producers too, so nothing is published into the void).
pub const REALTIME_EVENTS: (&str, &str) = ("realtime", "#");

/// The search service's event queue: the message and chat events it indexes, kept for
/// it while it is away (declared by producers too). One queue, two bindings (the patterns
/// are disjoint, so an event lands in it once); consumers name the first.
pub const SEARCH_EVENTS: [(&str, &str); 2] =
    [("search", "*.*.message.*"), ("search", "*.*.chat.updated")];

/// Both faces of one bus.
#[derive(Clone)]
pub struct Bus {
    /// Send-job queues.
    pub jobs: Arc<dyn JobQueue>,
    /// The event stream.
    pub events: Arc<dyn EventBus>,
}

impl Bus {
    /// RabbitMQ when `amqp` is given, else in process; the standing event queues are the
    /// realtime service's and the search service's.
    pub fn new(amqp: Option<amqp::AmqpOptions>) -> Self {
        let standing = [REALTIME_EVENTS, SEARCH_EVENTS[0], SEARCH_EVENTS[1]];
        match amqp {
            Some(mut options) => {
                options.standing_event_queues = standing
                    .iter()
                    .map(|(name, pattern)| ((*name).to_owned(), (*pattern).to_owned()))
                    .collect();
                let bus = Arc::new(amqp::AmqpBus::new(options));
                Self {
                    jobs: bus.clone(),
                    events: bus,
                }
            }
            None => {
                let bus = Arc::new(memory::MemoryBus::with_event_queues(&standing));
                Self {
                    jobs: bus.clone(),
                    events: bus,
                }
            }
        }
    }

    /// The bus `[amqp]` configures: RabbitMQ when its `url` is set, else in process (the
    /// embedded default, where everything runs in one process).
    pub fn from_config(config: &talkapp_common::config::AmqpConfig) -> Self {
        use secrecy::ExposeSecret as _;
        let url = config.url.expose_secret();
        Self::new((!url.is_empty()).then(|| {
            amqp::AmqpOptions {
                url: url.to_owned(),
                prefix: config.prefix.clone(),
                queue_type: if config.queue_type == "classic" {
                    amqp::QueueType::Classic
                } else {
                    amqp::QueueType::Quorum
                },
                queue_expires: (config.queue_expires_secs > 0)
                    .then(|| std::time::Duration::from_secs(config.queue_expires_secs)),
                replay: replay::ReplayLimits {
                    max_age: std::time::Duration::from_secs(config.replay_window_secs),
                    max_events: config.replay_window_events,
                    max_bytes: config.replay_window_bytes,
                },
                ..amqp::AmqpOptions::default()
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::{Duration, Instant};

    use tokio_util::sync::CancellationToken;

    use super::*;

    /// A bus that refuses the first `refusals` subscriptions.
    struct Refusing {
        refusals: u32,
        attempts: AtomicU32,
    }

    #[async_trait]
    impl EventBus for Refusing {
        fn backend(&self) -> &'static str {
            "refusing"
        }

        async fn publish_event(&self, _: &str, _: &[u8]) -> Result<(), BusError> {
            Ok(())
        }

        async fn consume_events(&self, _: &str, _: &str, _: u16) -> Result<Subscription, BusError> {
            if self.attempts.fetch_add(1, Ordering::SeqCst) < self.refusals {
                return Err(BusError::Unavailable("refused".into()));
            }
            let (_, deliveries) = mpsc::channel(1);
            Ok(Subscription::new(deliveries, CancellationToken::new()))
        }
    }

    #[tokio::test]
    async fn a_consumer_subscribes_again_until_the_bus_takes_it() {
        let bus = Refusing {
            refusals: 2,
            attempts: AtomicU32::new(0),
        };
        let stop = CancellationToken::new();
        let started = Instant::now();
        let subscription =
            consume_events_until_stopped(&bus, ("q", "#"), 1, "test events", &stop).await;
        assert!(subscription.is_some());
        assert_eq!(bus.attempts.load(Ordering::SeqCst), 3);
        // 0.4 s after the first refusal, 0.8 s after the second.
        assert!(started.elapsed() >= Duration::from_millis(1_200));
    }

    #[tokio::test]
    async fn a_stop_ends_the_wait_for_the_bus() {
        let bus = Refusing {
            refusals: u32::MAX,
            attempts: AtomicU32::new(0),
        };
        let stop = CancellationToken::new();
        let stopper = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            stopper.cancel();
        });
        let waited = tokio::time::timeout(
            Duration::from_secs(5),
            consume_events_until_stopped(&bus, ("q", "#"), 1, "test events", &stop),
        )
        .await
        .expect("the stop ends the wait");
        assert!(waited.is_none());
    }
}
