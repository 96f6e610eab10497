//! The in-process [`JobQueue`] of the embedded default: the same delivery rules as the
//! broker's (order, acknowledgements, hand-back on consumer loss, single active
//! consumer), none of its durability.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{BusError, Delivery, EventBus, JobQueue, Settle, Subscription};

struct Message {
    id: u64,
    body: Vec<u8>,
    redelivered: bool,
}

struct Consumer {
    id: u64,
    prefetch: usize,
    sender: mpsc::Sender<Delivery>,
    unacked: BTreeMap<u64, Vec<u8>>,
}

#[derive(Default)]
struct ShardQueue {
    ready: VecDeque<Message>,
    /// The first is the active consumer; the others wait their turn.
    consumers: VecDeque<Consumer>,
}

#[derive(Default)]
struct State {
    queues: HashMap<String, ShardQueue>,
    /// Event queues and the routing patterns they are bound to.
    bindings: Vec<(String, String)>,
    dead: Vec<Vec<u8>>,
    next_id: u64,
}

/// The bus in this process: job queues and event queues.
#[derive(Clone, Default)]
pub struct MemoryBus {
    state: Arc<Mutex<State>>,
}

/// The in-process job queues (the in-process bus).
pub type MemoryJobQueue = MemoryBus;

fn shard_queue(shard: u16) -> String {
    format!("send.{shard:02}")
}

fn event_queue(name: &str) -> String {
    format!("events.{name}")
}

/// Whether a routing key matches a topic pattern: words separated by dots, `*` one word,
/// `#` any number of words (RabbitMQ's topic exchange rules).
pub fn topic_matches(pattern: &str, routing_key: &str) -> bool {
    fn matches(pattern: &[&str], key: &[&str]) -> bool {
        match pattern.split_first() {
            None => key.is_empty(),
            Some((&"#", rest)) => (0..=key.len()).any(|skip| matches(rest, &key[skip..])),
            Some((&"*", rest)) => !key.is_empty() && matches(rest, &key[1..]),
            Some((word, rest)) => key.first() == Some(word) && matches(rest, &key[1..]),
        }
    }
    let pattern: Vec<&str> = pattern.split('.').collect();
    let key: Vec<&str> = routing_key.split('.').collect();
    matches(&pattern, &key)
}

impl MemoryBus {
    /// An empty bus whose event queues `standing` (name, pattern) exist from the start:
    /// events published before their consumer arrives wait in them.
    pub fn with_event_queues(standing: &[(&str, &str)]) -> Self {
        let bus = Self::default();
        {
            let mut state = bus.lock();
            for (name, pattern) in standing {
                let queue = event_queue(name);
                state.queues.entry(queue.clone()).or_default();
                state.bindings.push(((*pattern).to_owned(), queue));
            }
        }
        bus
    }

    /// An empty bus.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every mutation is a few container operations; a panic cannot leave them torn.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Messages parked by [`JobQueue::dead_letter`].
    pub fn dead_letters(&self) -> Vec<Vec<u8>> {
        self.lock().dead.clone()
    }

    /// Hands ready messages to the active consumer while it has room.
    fn dispatch(&self, state: &mut State, name: &str) {
        let Some(queue) = state.queues.get_mut(name) else {
            return;
        };
        let Some(consumer) = queue.consumers.front_mut() else {
            return;
        };
        while consumer.unacked.len() < consumer.prefetch {
            let Some(message) = queue.ready.pop_front() else {
                return;
            };
            let delivery = Delivery::new(
                message.body.clone(),
                message.redelivered,
                Box::new(MemorySettle {
                    queue: self.clone(),
                    name: name.to_owned(),
                    consumer: consumer.id,
                    message: message.id,
                }),
            );
            match consumer.sender.try_send(delivery) {
                Ok(()) => {
                    consumer.unacked.insert(message.id, message.body);
                }
                Err(_) => {
                    // The consumer went away or lags: keep the message for later.
                    queue.ready.push_front(message);
                    return;
                }
            }
        }
    }

    fn settle(&self, name: &str, consumer: u64, message: u64, requeue: bool) {
        let mut state = self.lock();
        let Some(queue) = state.queues.get_mut(name) else {
            return;
        };
        let Some(owner) = queue.consumers.iter_mut().find(|c| c.id == consumer) else {
            // The consumer is gone: its messages were handed back already.
            return;
        };
        if let Some(body) = owner.unacked.remove(&message)
            && requeue
        {
            queue.ready.push_front(Message {
                id: message,
                body,
                redelivered: true,
            });
        }
        self.dispatch(&mut state, name);
    }

    fn remove_consumer(&self, name: &str, consumer: u64) {
        let mut state = self.lock();
        let Some(queue) = state.queues.get_mut(name) else {
            return;
        };
        let Some(position) = queue.consumers.iter().position(|c| c.id == consumer) else {
            return;
        };
        if let Some(gone) = queue.consumers.remove(position) {
            // Unacknowledged messages go back in front, in their order.
            for (id, body) in gone.unacked.into_iter().rev() {
                queue.ready.push_front(Message {
                    id,
                    body,
                    redelivered: true,
                });
            }
        }
        self.dispatch(&mut state, name);
    }

    fn push(&self, state: &mut State, name: &str, body: &[u8]) {
        state.next_id += 1;
        let id = state.next_id;
        state
            .queues
            .entry(name.to_owned())
            .or_default()
            .ready
            .push_back(Message {
                id,
                body: body.to_vec(),
                redelivered: false,
            });
        self.dispatch(state, name);
    }

    fn subscribe(&self, name: &str, prefetch: u16) -> Subscription {
        let prefetch = usize::from(prefetch.max(1));
        let (sender, receiver) = mpsc::channel(prefetch);
        let cancel = CancellationToken::new();
        let id = {
            let mut state = self.lock();
            state.next_id += 1;
            let id = state.next_id;
            state
                .queues
                .entry(name.to_owned())
                .or_default()
                .consumers
                .push_back(Consumer {
                    id,
                    prefetch,
                    sender,
                    unacked: BTreeMap::new(),
                });
            self.dispatch(&mut state, name);
            id
        };
        let queue = self.clone();
        let cancelled = cancel.clone();
        let name = name.to_owned();
        tokio::spawn(async move {
            cancelled.cancelled().await;
            queue.remove_consumer(&name, id);
        });
        Subscription::new(receiver, cancel)
    }
}

struct MemorySettle {
    queue: MemoryBus,
    name: String,
    consumer: u64,
    message: u64,
}

#[async_trait]
impl Settle for MemorySettle {
    async fn ack(&self) -> Result<(), BusError> {
        self.queue
            .settle(&self.name, self.consumer, self.message, false);
        Ok(())
    }

    async fn requeue(&self) -> Result<(), BusError> {
        self.queue
            .settle(&self.name, self.consumer, self.message, true);
        Ok(())
    }
}

#[async_trait]
impl JobQueue for MemoryBus {
    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn publish(&self, shard: u16, body: &[u8]) -> Result<(), BusError> {
        let mut state = self.lock();
        self.push(&mut state, &shard_queue(shard), body);
        Ok(())
    }

    async fn consume(&self, shard: u16, prefetch: u16) -> Result<Subscription, BusError> {
        Ok(self.subscribe(&shard_queue(shard), prefetch))
    }

    async fn dead_letter(&self, body: &[u8]) -> Result<(), BusError> {
        self.lock().dead.push(body.to_vec());
        Ok(())
    }
}

#[async_trait]
impl EventBus for MemoryBus {
    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn publish_event(&self, routing_key: &str, body: &[u8]) -> Result<(), BusError> {
        let mut state = self.lock();
        let targets: Vec<String> = state
            .bindings
            .iter()
            .filter(|(pattern, _)| topic_matches(pattern, routing_key))
            .map(|(_, queue)| queue.clone())
            .collect();
        if targets.is_empty() {
            // As the broker does with a mandatory publish nothing is bound to.
            return Err(BusError::Refused(format!(
                "nothing is bound to {routing_key:?}"
            )));
        }
        for target in targets {
            self.push(&mut state, &target, body);
        }
        Ok(())
    }

    async fn consume_events(
        &self,
        name: &str,
        pattern: &str,
        prefetch: u16,
    ) -> Result<Subscription, BusError> {
        let queue = event_queue(name);
        {
            let mut state = self.lock();
            state.queues.entry(queue.clone()).or_default();
            if !state
                .bindings
                .iter()
                .any(|(bound, target)| bound == pattern && *target == queue)
            {
                state.bindings.push((pattern.to_owned(), queue.clone()));
            }
        }
        Ok(self.subscribe(&queue, prefetch))
    }
}

#[cfg(test)]
mod tests {
    use super::topic_matches;

    #[test]
    fn topic_patterns_follow_rabbitmqs_rules() {
        assert!(topic_matches("#", "a.b.c"));
        assert!(topic_matches("a.*.c", "a.b.c"));
        assert!(!topic_matches("a.*.c", "a.b.b.c"));
        assert!(topic_matches("a.#.c", "a.c"));
        assert!(topic_matches("a.#.c", "a.b.b.c"));
        assert!(topic_matches("*.1.message.*", "u.1.message.new"));
        assert!(!topic_matches("*.1.message.*", "u.2.message.new"));
        assert!(!topic_matches("a.b", "a.b.c"));
    }
}
