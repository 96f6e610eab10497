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
}

/// A connection and the queues declared on it.
struct Link {
    // Kept with its channel: the channel lives on it.
    _connection: Connection,
    channel: Channel,
    declared: HashSet<String>,
}

/// The bus on RabbitMQ: job queues and the event exchange.
pub type AmqpJobQueue = AmqpBus;

/// The bus on RabbitMQ: job queues and the event exchange.
pub struct AmqpBus {
    options: AmqpOptions,
    publisher: Mutex<Option<Link>>,
    consumers: Mutex<Option<Connection>>,
}

/// A connection attempt is given up after this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

fn unavailable(error: impl std::fmt::Display) -> BusError {
    BusError::Unavailable(error.to_string())
}

impl AmqpBus {
    /// Queues as `options` say; nothing is connected until first used.
    pub fn new(options: AmqpOptions) -> Self {
        Self {
            options,
            publisher: Mutex::new(None),
            consumers: Mutex::new(None),
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
        channel
            .queue_bind(
                queue.as_str().into(),
                self.event_exchange().as_str().into(),
                pattern.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(unavailable)
    }

    async fn declare_event_exchange(&self, channel: &Channel) -> Result<(), BusError> {
        channel
            .exchange_declare(
                self.event_exchange().as_str().into(),
                ExchangeKind::Topic,
                // Durable: the exchange and its bindings survive a broker restart.
                ExchangeDeclareOptions {
                    durable: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(unavailable)
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
        channel
            .queue_declare(
                queue.into(),
                // Durable: the queue (and its persistent messages) survive a broker restart.
                QueueDeclareOptions {
                    durable: true,
                    ..QueueDeclareOptions::default()
                },
                self.queue_arguments(single_active),
            )
            .await
            .map(drop)
            .map_err(unavailable)
    }

    /// The publishing channel, with `queue` declared on it.
    async fn publishing_channel(
        &self,
        queue: &str,
        single_active: bool,
    ) -> Result<Channel, BusError> {
        let mut publisher = self.publisher.lock().await;
        if publisher
            .as_ref()
            .is_some_and(|link| !link.channel.status().connected())
        {
            *publisher = None;
        }
        if publisher.is_none() {
            let connection = self.connect().await?;
            let channel = connection.create_channel().await.map_err(unavailable)?;
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await
                .map_err(unavailable)?;
            for (name, pattern) in &self.options.standing_event_queues {
                self.declare_event_queue(&channel, name, pattern).await?;
            }
            *publisher = Some(Link {
                _connection: connection,
                channel,
                declared: HashSet::new(),
            });
        }
        let Some(link) = publisher.as_mut() else {
            return Err(unavailable("no publishing connection"));
        };
        if !link.declared.contains(queue) {
            if let Err(error) = self.declare(&link.channel, queue, single_active).await {
                *publisher = None;
                return Err(error);
            }
            link.declared.insert(queue.to_owned());
        }
        Ok(link.channel.clone())
    }

    async fn publish_to(
        &self,
        queue: &str,
        single_active: bool,
        body: &[u8],
    ) -> Result<(), BusError> {
        let channel = self.publishing_channel(queue, single_active).await?;
        self.confirmed_publish(&channel, "", queue, body).await
    }

    /// Publishes with `mandatory` (an unroutable message is an error), persistent (the
    /// broker writes it to disk before confirming), and waits for the confirmation.
    async fn confirmed_publish(
        &self,
        channel: &Channel,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
    ) -> Result<(), BusError> {
        let outcome = async {
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
        }
        .await;
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
                *self.publisher.lock().await = None;
                Err(unavailable(error))
            }
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
        match connection.create_channel().await {
            Ok(channel) => Ok(channel),
            Err(error) => {
                *consumers = None;
                Err(unavailable(error))
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
        self.acker
            .ack(BasicAckOptions::default())
            .await
            .map(drop)
            .map_err(unavailable)
    }

    async fn requeue(&self) -> Result<(), BusError> {
        self.acker
            .nack(BasicNackOptions {
                requeue: true,
                ..BasicNackOptions::default()
            })
            .await
            .map(drop)
            .map_err(unavailable)
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
        channel
            .basic_qos(prefetch.max(1), BasicQosOptions::default())
            .await
            .map_err(unavailable)?;
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
        // The publishing channel; opening it declares the standing event queues.
        let channel = self.publishing_channel(&self.dead_queue(), false).await?;
        self.confirmed_publish(&channel, &self.event_exchange(), routing_key, body)
            .await
    }

    async fn consume_events(
        &self,
        name: &str,
        pattern: &str,
        prefetch: u16,
    ) -> Result<Subscription, BusError> {
        let channel = self.consumer_channel().await?;
        channel
            .basic_qos(prefetch.max(1), BasicQosOptions::default())
            .await
            .map_err(unavailable)?;
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
        let mut consumer = channel
            .basic_consume(
                queue.as_str().into(),
                ShortString::from(""),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(unavailable)?;
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
                let _ = channel.close(200, "consumer stopped".into()).await;
            }
        });
        Ok(Subscription::new(receiver, cancel))
    }
}
