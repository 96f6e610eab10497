//! [`JobQueue`] on RabbitMQ.
//!
//! * Queues `<prefix>.send.NN` (one per shard) and `<prefix>.send.dead`: durable,
//!   quorum (replicated; the default) or classic, with `x-single-active-consumer` so
//!   that only one consumer of a shard receives messages even if two replicas briefly
//!   both believe they host it.
//! * Publishing: persistent messages (`delivery_mode` 2), `mandatory` (an unroutable
//!   message is an error, not a silent drop), and publisher confirms: `publish` returns
//!   only once the broker has the message.
//! * Connections: one for publishing, one for consumers (a consumer's channel each),
//!   opened lazily and opened again after a failure; a lost consumer connection ends its
//!   subscriptions, whose owners subscribe again.
//! * Deadlines: every round trip to the broker (a publish and its confirm, opening a
//!   channel, declaring, consuming, settling) is given up after [`OPERATION_TIMEOUT`] as
//!   `Unavailable`, and the connection it was on is closed and replaced. A confirm can
//!   be lost (a link that went silent, a connection closed while the publish was being
//!   written): waiting for it without a deadline held the account's event lock and so
//!   its send worker forever (issue 16, finding 12). A publish given up may still have
//!   reached the broker; callers republish, and consumers take repeats (event ids, job
//!   states) as such.
//! * Replay (ADR 0045): every event published within the recent window
//!   ([`AmqpOptions::replay`], [`crate::replay`]) is kept, and a new publishing
//!   connection publishes the whole window again, in its original order, before any other
//!   publish goes out on it (they wait for the publishing lock meanwhile). A classic
//!   queue can lose a publish confirmed during a broker's shutdown; the replay puts it
//!   back, and the consumers drop the repeats. If the replay fails, the connection is
//!   given up and the next one replays the whole window again. Job announcements are not
//!   kept: the store covers them (the relay and the pending-job scan, ADR 0006, 0018).

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt as _;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind,
};
use tokio::sync::{Mutex, mpsc};
use tokio_util::sync::CancellationToken;

use crate::replay::{ReplayLimits, ReplayWindow};
use crate::{BusError, Delivery, EventBus, JobQueue, Settle, Subscription};

/// How queues are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueueType {
    /// Replicated (Raft) queues: survive the loss of a broker node.
    #[default]
    Quorum,
    /// Single-node queues.
    Classic,
}

/// Where and how the queues live.
#[derive(Debug, Clone, Default)]
pub struct AmqpOptions {
    /// `amqp://user:pass@host:port/vhost`.
    pub url: String,
    /// Prefix of every queue name (separates deployments sharing a broker).
    pub prefix: String,
    /// Quorum or classic queues.
    pub queue_type: QueueType,
    /// Queues unused this long are deleted by the broker (tests); `None` keeps them.
    pub queue_expires: Option<Duration>,
    /// Event queues (name, routing pattern) declared and bound whenever this process
    /// connects, so that events published before their consumer first runs wait for it.
    pub standing_event_queues: Vec<(String, String)>,
    /// How many recent events are kept to be published again on a new connection.
    pub replay: ReplayLimits,
}

/// A connection and the queues declared on it.
struct Link {
    // Kept with its channel: the channel lives on it.
    connection: Connection,
    channel: Channel,
    declared: HashSet<String>,
    /// Tells this link from the ones before and after it (a channel number is reused).
    generation: u64,
}

/// The bus on RabbitMQ: job queues and the event exchange.
pub type AmqpJobQueue = AmqpBus;

/// The bus on RabbitMQ: job queues and the event exchange.
pub struct AmqpBus {
    options: AmqpOptions,
    publisher: Mutex<Option<Link>>,
    consumers: Mutex<Option<Connection>>,
    links_opened: std::sync::atomic::AtomicU64,
    /// Recent events, published again first on every new publishing connection.
    window: ReplayWindow,
}

/// Replayed events published before their confirms are awaited: enough to keep the
/// broker busy, few enough that one batch's confirms come well within
/// [`OPERATION_TIMEOUT`].
const REPLAY_BATCH: usize = 512;

/// A connection attempt is given up after this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Any other round trip to the broker (a publish's confirm, a declare, opening a
/// channel) is given up after this long. A healthy broker answers in milliseconds; a
/// quorum queue's confirm under load in well under a second. Long enough not to give up
/// on a busy broker, short enough that an account whose confirm was lost resumes within
/// seconds.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);

fn unavailable(error: impl std::fmt::Display) -> BusError {
    BusError::Unavailable(error.to_string())
}

/// `work` within [`OPERATION_TIMEOUT`]; past it, `Unavailable` naming `what`.
async fn within_deadline<T, E: std::fmt::Display>(
    what: &str,
    work: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, BusError> {
    match tokio::time::timeout(OPERATION_TIMEOUT, work).await {
        Ok(outcome) => outcome.map_err(unavailable),
        Err(_) => Err(BusError::Unavailable(format!(
            "the broker did not answer {what} within {OPERATION_TIMEOUT:?}"
        ))),
    }
}

/// Closes a connection that is given up on, in the background (a silent link would make
/// the close itself wait).
fn abandon(connection: Connection) {
    tokio::spawn(async move {
        // Given up on already: whether it closes cleanly, fails or times out, it is dropped.
        let _ = tokio::time::timeout(
            OPERATION_TIMEOUT,
            connection.close(320, "given up by talkapp".into()),
        )
        .await;
    });
}

impl AmqpBus {
    /// Queues as `options` say; nothing is connected until first used.
    pub fn new(options: AmqpOptions) -> Self {
        Self {
            window: ReplayWindow::new(options.replay),
            options,
            publisher: Mutex::new(None),
            consumers: Mutex::new(None),
            links_opened: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn shard_queue(&self, shard: u16) -> String {
        format!("{}.send.{shard:02}", self.options.prefix)
    }

    fn dead_queue(&self) -> String {
        format!("{}.send.dead", self.options.prefix)
    }

    fn event_exchange(&self) -> String {
        format!("{}.events", self.options.prefix)
    }

    fn event_queue(&self, name: &str) -> String {
        format!("{}.events.{name}", self.options.prefix)
    }

    /// The event exchange, and an event queue bound to it.
    async fn declare_event_queue(
        &self,
        channel: &Channel,
        name: &str,
        pattern: &str,
    ) -> Result<(), BusError> {
        self.declare_event_exchange(channel).await?;
        let queue = self.event_queue(name);
        self.declare(channel, &queue, true).await?;
        within_deadline(
            "queue.bind",
            channel.queue_bind(
                queue.as_str().into(),
                self.event_exchange().as_str().into(),
                pattern.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            ),
        )
        .await
    }

    async fn declare_event_exchange(&self, channel: &Channel) -> Result<(), BusError> {
        within_deadline(
            "exchange.declare",
            channel.exchange_declare(
                self.event_exchange().as_str().into(),
                ExchangeKind::Topic,
                // Durable: the exchange and its bindings survive a broker restart.
                ExchangeDeclareOptions {
                    durable: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            ),
        )
        .await
    }

    fn queue_arguments(&self, single_active_consumer: bool) -> FieldTable {
        let mut arguments = FieldTable::default();
        let queue_type = match self.options.queue_type {
            QueueType::Quorum => "quorum",
            QueueType::Classic => "classic",
        };
        arguments.insert(
            ShortString::from("x-queue-type"),
            AMQPValue::LongString(queue_type.into()),
        );
        if single_active_consumer {
            arguments.insert(
                ShortString::from("x-single-active-consumer"),
                AMQPValue::Boolean(true),
            );
        }
        if let Some(expires) = self.options.queue_expires {
            arguments.insert(
                ShortString::from("x-expires"),
                AMQPValue::LongLongInt(i64::try_from(expires.as_millis()).unwrap_or(i64::MAX)),
            );
        }
        arguments
    }

    async fn connect(&self) -> Result<Connection, BusError> {
        tokio::time::timeout(
            CONNECT_TIMEOUT,
            Connection::connect(&self.options.url, ConnectionProperties::default()),
        )
        .await
        .map_err(|_| unavailable("connecting to RabbitMQ timed out"))?
        .map_err(unavailable)
    }

    async fn declare(
        &self,
        channel: &Channel,
        queue: &str,
        single_active: bool,
    ) -> Result<(), BusError> {
        within_deadline(
            "queue.declare",
            channel.queue_declare(
                queue.into(),
                // Durable: the queue (and its persistent messages) survive a broker restart.
                QueueDeclareOptions {
                    durable: true,
                    ..QueueDeclareOptions::default()
                },
                self.queue_arguments(single_active),
            ),
        )
        .await
        .map(drop)
    }

    /// The publishing channel (and its link's generation), with `queue` declared on it.
    async fn publishing_channel(
        &self,
        queue: &str,
        single_active: bool,
    ) -> Result<(Channel, u64), BusError> {
        let mut publisher = self.publisher.lock().await;
        if publisher
            .as_ref()
            .is_some_and(|link| !link.channel.status().connected())
            && let Some(link) = publisher.take()
        {
            abandon(link.connection);
        }
        if publisher.is_none() {
            let connection = self.connect().await?;
            let ready = async {
                let channel =
                    within_deadline("opening a channel", connection.create_channel()).await?;
                within_deadline(
                    "confirm.select",
                    channel.confirm_select(ConfirmSelectOptions::default()),
                )
                .await?;
                for (name, pattern) in &self.options.standing_event_queues {
                    self.declare_event_queue(&channel, name, pattern).await?;
                }
                // Before anyone else publishes on it (they wait for this lock): the
                // events the last connection may have lost.
                self.replay_window(&channel).await?;
                Ok::<_, BusError>(channel)
            }
            .await;
            let channel = match ready {
                Ok(channel) => channel,
                Err(error) => {
                    abandon(connection);
                    return Err(error);
                }
            };
            *publisher = Some(Link {
                connection,
                channel,
                declared: HashSet::new(),
                generation: self
                    .links_opened
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            });
        }
        let Some(link) = publisher.as_mut() else {
            return Err(unavailable("no publishing connection"));
        };
        if !link.declared.contains(queue) {
            if let Err(error) = self.declare(&link.channel, queue, single_active).await {
                if let Some(link) = publisher.take() {
                    abandon(link.connection);
                }
                return Err(error);
            }
            link.declared.insert(queue.to_owned());
        }
        Ok((link.channel.clone(), link.generation))
    }

    async fn publish_to(
        &self,
        queue: &str,
        single_active: bool,
        body: &[u8],
    ) -> Result<(), BusError> {
        let channel = self.publishing_channel(queue, single_active).await?;
        self.confirmed_publish(channel, "", queue, body).await
    }

    /// Publishes with `mandatory` (an unroutable message is an error), persistent (the
    /// broker writes it to disk before confirming), and waits for the confirmation.
    async fn confirmed_publish(
        &self,
        (channel, generation): (Channel, u64),
        exchange: &str,
        routing_key: &str,
        body: &[u8],
    ) -> Result<(), BusError> {
        let outcome = tokio::time::timeout(OPERATION_TIMEOUT, async {
            channel
                .basic_publish(
                    exchange.into(),
                    routing_key.into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..BasicPublishOptions::default()
                    },
                    body,
                    BasicProperties::default().with_delivery_mode(2),
                )
                .await?
                .await
        })
        .await;
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(_) => {
                // No confirm (nor error) in time: the message may or may not be on the
                // broker. This channel's confirms can no longer be trusted to come:
                // start over on a new connection, and let the caller publish again.
                self.drop_publisher_link(generation).await;
                return Err(BusError::Unavailable(format!(
                    "no publisher confirm for {routing_key:?} within {OPERATION_TIMEOUT:?}"
                )));
            }
        };
        match outcome {
            Ok(Confirmation::Ack(None)) => Ok(()),
            Ok(Confirmation::Ack(Some(_))) => Err(BusError::Refused(format!(
                "nothing is bound to {routing_key:?} on {exchange:?}"
            ))),
            Ok(Confirmation::Nack(_)) => Err(BusError::Refused(format!(
                "the broker did not take the message for {routing_key:?}"
            ))),
            Ok(Confirmation::NotRequested) => Err(BusError::Refused(
                "publisher confirms are off on this channel".into(),
            )),
            Err(error) => {
                // The channel may be broken: start over on the next publish.
                self.drop_publisher_link(generation).await;
                Err(unavailable(error))
            }
        }
    }

    /// Publishes every event of the replay window again on `channel` (a new link's), in
    /// order, and waits for their confirms: in batches, every round trip within
    /// [`OPERATION_TIMEOUT`]. An error leaves the window as it was, for the next link.
    async fn replay_window(&self, channel: &Channel) -> Result<(), BusError> {
        let backlog = self.window.to_replay();
        if backlog.is_empty() {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let exchange = self.event_exchange();
        let mut unroutable: u64 = 0;
        for batch in backlog.chunks(REPLAY_BATCH) {
            let mut confirms = Vec::with_capacity(batch.len());
            for kept in batch {
                confirms.push(
                    within_deadline(
                        "a replayed publish",
                        channel.basic_publish(
                            exchange.as_str().into(),
                            (&*kept.routing_key).into(),
                            BasicPublishOptions {
                                mandatory: true,
                                ..BasicPublishOptions::default()
                            },
                            &kept.body,
                            BasicProperties::default().with_delivery_mode(2),
                        ),
                    )
                    .await?,
                );
            }
            for confirm in confirms {
                match within_deadline("a replayed publish's confirm", confirm).await? {
                    Confirmation::Ack(None) => {}
                    // Nothing is bound to it any more: nobody to lose it either.
                    Confirmation::Ack(Some(_)) => unroutable += 1,
                    Confirmation::Nack(_) => {
                        return Err(BusError::Unavailable(
                            "the broker did not take a replayed event".into(),
                        ));
                    }
                    Confirmation::NotRequested => {
                        return Err(BusError::Refused(
                            "publisher confirms are off on this channel".into(),
                        ));
                    }
                }
            }
            metrics::counter!("talkapp_bus_events_replayed_total")
                .increment(u64::try_from(batch.len()).unwrap_or(u64::MAX));
        }
        tracing::info!(
            events = backlog.len(),
            unroutable,
            took_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "replayed the recent events on a new broker connection"
        );
        Ok(())
    }

    /// Closes the publishing connection if it is (still) the link of `generation`; a
    /// link that another publish already replaced is left alone.
    async fn drop_publisher_link(&self, generation: u64) {
        let mut publisher = self.publisher.lock().await;
        if publisher
            .as_ref()
            .is_some_and(|link| link.generation == generation)
            && let Some(link) = publisher.take()
        {
            abandon(link.connection);
        }
    }

    /// A new channel on the consumers' connection (opened if needed).
    async fn consumer_channel(&self) -> Result<Channel, BusError> {
        let mut consumers = self.consumers.lock().await;
        if !consumers
            .as_ref()
            .is_some_and(|connection| connection.status().connected())
        {
            *consumers = Some(self.connect().await?);
        }
        let Some(connection) = consumers.as_ref() else {
            return Err(unavailable("no consumer connection"));
        };
        match within_deadline("opening a channel", connection.create_channel()).await {
            Ok(channel) => Ok(channel),
            Err(error) => {
                if let Some(connection) = consumers.take() {
                    abandon(connection);
                }
                Err(error)
            }
        }
    }
}

struct AmqpSettle {
    acker: lapin::Acker,
}

#[async_trait]
impl Settle for AmqpSettle {
    async fn ack(&self) -> Result<(), BusError> {
        within_deadline("basic.ack", self.acker.ack(BasicAckOptions::default()))
            .await
            .map(drop)
    }

    async fn requeue(&self) -> Result<(), BusError> {
        within_deadline(
            "basic.nack",
            self.acker.nack(BasicNackOptions {
                requeue: true,
                ..BasicNackOptions::default()
            }),
        )
        .await
        .map(drop)
    }
}

#[async_trait]
impl JobQueue for AmqpBus {
    fn backend(&self) -> &'static str {
        "rabbitmq"
    }

    async fn publish(&self, shard: u16, body: &[u8]) -> Result<(), BusError> {
        self.publish_to(&self.shard_queue(shard), true, body).await
    }

    async fn consume(&self, shard: u16, prefetch: u16) -> Result<Subscription, BusError> {
        let queue = self.shard_queue(shard);
        let channel = self.consumer_channel().await?;
        // At most `prefetch` unacknowledged messages in flight to this consumer.
        within_deadline(
            "basic.qos",
            channel.basic_qos(prefetch.max(1), BasicQosOptions::default()),
        )
        .await?;
        self.declare(&channel, &queue, true).await?;
        consume_queue(channel, queue, prefetch).await
    }

    async fn dead_letter(&self, body: &[u8]) -> Result<(), BusError> {
        self.publish_to(&self.dead_queue(), false, body).await
    }
}

#[async_trait]
impl EventBus for AmqpBus {
    fn backend(&self) -> &'static str {
        "rabbitmq"
    }

    async fn publish_event(&self, routing_key: &str, body: &[u8]) -> Result<(), BusError> {
        // The publishing channel; opening it declares the standing event queues and
        // replays the window.
        let channel = self.publishing_channel(&self.dead_queue(), false).await?;
        // Kept before it goes out, so that a replay on the next link includes it even if
        // this link ends between the broker's confirm and this task seeing it.
        let ticket = self.window.keep(routing_key, body);
        let published = self
            .confirmed_publish(channel, &self.event_exchange(), routing_key, body)
            .await;
        if published.is_err()
            && let Some(ticket) = ticket
        {
            // The caller publishes it again (after any replay, so in order).
            self.window.forget(ticket);
        }
        published
    }

    async fn consume_events(
        &self,
        name: &str,
        pattern: &str,
        prefetch: u16,
    ) -> Result<Subscription, BusError> {
        let channel = self.consumer_channel().await?;
        within_deadline(
            "basic.qos",
            channel.basic_qos(prefetch.max(1), BasicQosOptions::default()),
        )
        .await?;
        self.declare_event_queue(&channel, name, pattern).await?;
        consume_queue(channel, self.event_queue(name), prefetch).await
    }
}

/// Consumes `queue` on `channel`, forwarding deliveries to a [`Subscription`].
async fn consume_queue(
    channel: Channel,
    queue: String,
    prefetch: u16,
) -> Result<Subscription, BusError> {
    {
        let mut consumer = within_deadline(
            "basic.consume",
            channel.basic_consume(
                queue.as_str().into(),
                ShortString::from(""),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            ),
        )
        .await?;
        let (sender, receiver) = mpsc::channel(usize::from(prefetch.max(1)));
        let cancel = CancellationToken::new();
        let stopped = cancel.clone();
        tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    () = stopped.cancelled() => break,
                    next = consumer.next() => next,
                };
                match next {
                    Some(Ok(delivery)) => {
                        let delivery = Delivery::new(
                            delivery.data,
                            delivery.redelivered,
                            Box::new(AmqpSettle {
                                acker: delivery.acker,
                            }),
                        );
                        if sender.send(delivery).await.is_err() {
                            break;
                        }
                    }
                    Some(Err(error)) => {
                        tracing::warn!(%error, queue, "consumer lost");
                        break;
                    }
                    None => break,
                }
            }
            // Closing the channel hands every unacknowledged message back to the queue.
            if channel.status().connected() {
                // A channel that fails to close is gone with its connection, which hands the
                // messages back just the same.
                let _ = channel.close(200, "consumer stopped".into()).await;
            }
        });
        Ok(Subscription::new(receiver, cancel))
    }
}
