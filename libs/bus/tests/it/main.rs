//! Conformance suite for `talkapp_bus::JobQueue`: every test runs against RabbitMQ
//! (`rabbitmq::<test>`, at `TALKAPP_TEST_AMQP_URL`, default
//! `amqp://guest:guest@127.0.0.1:5672/%2f`, with queues of a fresh prefix that the broker
//! deletes a minute after the test) and in process (`memory::<test>`).

mod conformance;
mod faults;

use std::sync::Arc;
use std::time::Duration;

use talkapp_bus::amqp::{AmqpBus, AmqpOptions, QueueType};
use talkapp_bus::memory::MemoryBus;
use talkapp_bus::{EventBus, JobQueue};

/// The event queue every bus of the suite has from the start.
pub(crate) const STANDING: (&str, &str) = ("log", "#");

/// A fresh bus of the named backend, as both its faces.
pub(crate) fn bus(backend: &str) -> (Arc<dyn JobQueue>, Arc<dyn EventBus>) {
    bus_with(backend, &[STANDING])
}

/// A fresh bus of the named backend with these standing event queues.
pub(crate) fn bus_with(
    backend: &str,
    standing: &[(&str, &str)],
) -> (Arc<dyn JobQueue>, Arc<dyn EventBus>) {
    match backend {
        "rabbitmq" => {
            let bus = Arc::new(AmqpBus::new(AmqpOptions {
                url: std::env::var("TALKAPP_TEST_AMQP_URL")
                    .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned()),
                prefix: format!("talkapp-test-{}", uuid::Uuid::new_v4().simple()),
                queue_type: QueueType::Quorum,
                queue_expires: Some(Duration::from_secs(60)),
                standing_event_queues: standing
                    .iter()
                    .map(|(name, pattern)| ((*name).to_owned(), (*pattern).to_owned()))
                    .collect(),
                ..AmqpOptions::default()
            }));
            (bus.clone(), bus)
        }
        _ => {
            let bus = Arc::new(MemoryBus::with_event_queues(standing));
            (bus.clone(), bus)
        }
    }
}

/// A fresh queue system of the named backend.
pub(crate) fn queues(backend: &str) -> Arc<dyn JobQueue> {
    bus(backend).0
}

/// The backend a test runs against (for tests that build their own bus).
pub(crate) struct Backend(pub(crate) &'static str);

macro_rules! conformance_tests {
    (jobs: [$($test:ident),* $(,)?], events: [$($event_test:ident),* $(,)?] $(,)?) => {
        mod rabbitmq {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    crate::conformance::$test(crate::queues("rabbitmq")).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $event_test() {
                    crate::conformance::$event_test(crate::Backend("rabbitmq")).await;
                }
            )*
        }
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    crate::conformance::$test(crate::queues("memory")).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $event_test() {
                    crate::conformance::$event_test(crate::Backend("memory")).await;
                }
            )*
        }
    };
}

conformance_tests! {
    jobs: [
        published_messages_arrive_in_order_and_acknowledged_ones_are_gone,
        unacknowledged_messages_come_back_in_order_when_the_consumer_goes,
        a_requeued_message_is_delivered_again_as_redelivered,
        only_one_consumer_receives_and_the_next_takes_over,
        prefetch_bounds_what_a_consumer_holds,
        shards_are_separate_queues,
        dead_letters_are_taken,
    ],
    events: [
        events_wait_in_a_standing_queue_until_its_consumer_comes,
        events_reach_each_queue_whose_pattern_matches_in_order,
        an_event_no_queue_is_bound_to_is_refused,
    ],
}
