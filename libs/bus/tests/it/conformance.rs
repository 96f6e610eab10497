//! The behaviour every `JobQueue` must have.

use std::sync::Arc;
use std::time::Duration;

use talkapp_bus::{Delivery, EventBus, JobQueue, Subscription};

/// Long enough for a broker round trip on a loaded machine.
const WAIT: Duration = Duration::from_secs(10);
/// How long "nothing arrives" is watched for.
const QUIET: Duration = Duration::from_millis(400);

async fn next(subscription: &mut Subscription) -> Delivery {
    tokio::time::timeout(WAIT, subscription.next())
        .await
        .expect("a delivery within the wait")
        .expect("the subscription is alive")
}

async fn nothing_arrives(subscription: &mut Subscription) {
    if let Ok(Some(delivery)) = tokio::time::timeout(QUIET, subscription.next()).await {
        panic!(
            "unexpected delivery {:?}",
            String::from_utf8_lossy(&delivery.body)
        );
    }
}

fn text(delivery: &Delivery) -> String {
    String::from_utf8_lossy(&delivery.body).into_owned()
}

pub(crate) async fn published_messages_arrive_in_order_and_acknowledged_ones_are_gone(
    queues: Arc<dyn JobQueue>,
) {
    for n in 0..20 {
        queues
            .publish(3, format!("job {n}").as_bytes())
            .await
            .expect("published");
    }
    let mut subscription = queues.consume(3, 50).await.expect("consume");
    for n in 0..20 {
        let delivery = next(&mut subscription).await;
        assert_eq!(text(&delivery), format!("job {n}"));
        assert!(!delivery.redelivered);
        delivery.ack().await.expect("ack");
    }
    drop(subscription);

    let mut again = queues.consume(3, 50).await.expect("consume again");
    nothing_arrives(&mut again).await;
}

pub(crate) async fn unacknowledged_messages_come_back_in_order_when_the_consumer_goes(
    queues: Arc<dyn JobQueue>,
) {
    for n in 0..5 {
        queues
            .publish(4, format!("job {n}").as_bytes())
            .await
            .expect("published");
    }
    // Prefetch 2: the consumer never holds more than two (a broker pushes up to the
    // prefetch ahead, and those count as delivered).
    let mut first = queues.consume(4, 2).await.expect("consume");
    let zero = next(&mut first).await;
    assert_eq!(text(&zero), "job 0");
    zero.ack().await.expect("ack");
    // Two more are received but never acknowledged: their consumer dies.
    assert_eq!(text(&next(&mut first).await), "job 1");
    assert_eq!(text(&next(&mut first).await), "job 2");
    drop(first);

    let mut second = queues.consume(4, 10).await.expect("consume");
    let mut seen = Vec::new();
    for _ in 0..4 {
        let delivery = next(&mut second).await;
        seen.push((text(&delivery), delivery.redelivered));
        delivery.ack().await.expect("ack");
    }
    assert_eq!(
        seen,
        vec![
            ("job 1".to_owned(), true),
            ("job 2".to_owned(), true),
            ("job 3".to_owned(), false),
            ("job 4".to_owned(), false),
        ]
    );
    nothing_arrives(&mut second).await;
}

pub(crate) async fn a_requeued_message_is_delivered_again_as_redelivered(
    queues: Arc<dyn JobQueue>,
) {
    queues.publish(5, b"retry me").await.expect("published");
    let mut subscription = queues.consume(5, 1).await.expect("consume");
    let first = next(&mut subscription).await;
    assert!(!first.redelivered);
    first.requeue().await.expect("requeue");
    let again = next(&mut subscription).await;
    assert_eq!(text(&again), "retry me");
    assert!(again.redelivered);
    again.ack().await.expect("ack");
    nothing_arrives(&mut subscription).await;
}

pub(crate) async fn only_one_consumer_receives_and_the_next_takes_over(queues: Arc<dyn JobQueue>) {
    let mut active = queues.consume(6, 10).await.expect("first consumer");
    let mut waiting = queues.consume(6, 10).await.expect("second consumer");
    for n in 0..3 {
        queues
            .publish(6, format!("job {n}").as_bytes())
            .await
            .expect("published");
    }
    for n in 0..3 {
        let delivery = next(&mut active).await;
        assert_eq!(text(&delivery), format!("job {n}"));
        if n < 2 {
            delivery.ack().await.expect("ack");
        }
    }
    nothing_arrives(&mut waiting).await;

    drop(active);
    let taken_over = next(&mut waiting).await;
    assert_eq!(
        text(&taken_over),
        "job 2",
        "the unacknowledged one moves on"
    );
    taken_over.ack().await.expect("ack");
    queues.publish(6, b"job 3").await.expect("published");
    assert_eq!(text(&next(&mut waiting).await), "job 3");
}

pub(crate) async fn prefetch_bounds_what_a_consumer_holds(queues: Arc<dyn JobQueue>) {
    for n in 0..4 {
        queues
            .publish(7, format!("job {n}").as_bytes())
            .await
            .expect("published");
    }
    let mut subscription = queues.consume(7, 2).await.expect("consume");
    let first = next(&mut subscription).await;
    let second = next(&mut subscription).await;
    nothing_arrives(&mut subscription).await;
    first.ack().await.expect("ack");
    assert_eq!(text(&next(&mut subscription).await), "job 2");
    second.ack().await.expect("ack");
    assert_eq!(text(&next(&mut subscription).await), "job 3");
}

pub(crate) async fn shards_are_separate_queues(queues: Arc<dyn JobQueue>) {
    queues.publish(10, b"for ten").await.expect("published");
    queues.publish(11, b"for eleven").await.expect("published");
    let mut eleven = queues.consume(11, 5).await.expect("consume");
    assert_eq!(text(&next(&mut eleven).await), "for eleven");
    nothing_arrives(&mut eleven).await;
    let mut ten = queues.consume(10, 5).await.expect("consume");
    assert_eq!(text(&next(&mut ten).await), "for ten");
}

pub(crate) async fn dead_letters_are_taken(queues: Arc<dyn JobQueue>) {
    queues
        .dead_letter(b"{\"job_id\":\"x\",\"reason\":\"attempts_exhausted\"}")
        .await
        .expect("parked");
}

pub(crate) async fn events_wait_in_a_standing_queue_until_its_consumer_comes(
    backend: crate::Backend,
) {
    let events = crate::bus(backend.0).1;
    for n in 0..5 {
        events
            .publish_event(
                &format!("user-a.1.message.new.{n}"),
                format!("event {n}").as_bytes(),
            )
            .await
            .expect("published before anyone consumes");
    }
    let (name, pattern) = crate::STANDING;
    let mut log = events
        .consume_events(name, pattern, 10)
        .await
        .expect("consume");
    for n in 0..5 {
        let delivery = next(&mut log).await;
        assert_eq!(text(&delivery), format!("event {n}"));
        delivery.ack().await.expect("ack");
    }
    nothing_arrives(&mut log).await;
}

pub(crate) async fn events_reach_each_queue_whose_pattern_matches_in_order(
    backend: crate::Backend,
) {
    let events = crate::bus(backend.0).1;
    let mut statuses = events
        .consume_events("statuses", "*.*.message.status", 10)
        .await
        .expect("consume statuses");
    let mut user_b = events
        .consume_events("user-b", "user-b.#", 10)
        .await
        .expect("consume user b");
    let published = [
        ("user-a.1.message.new", "a new"),
        ("user-b.1.message.status", "b status"),
        ("user-a.2.message.status", "a status"),
        ("user-b.2.typing", "b typing"),
    ];
    for (key, body) in published {
        events
            .publish_event(key, body.as_bytes())
            .await
            .expect("published");
    }
    for expected in ["b status", "a status"] {
        let delivery = next(&mut statuses).await;
        assert_eq!(text(&delivery), expected);
        delivery.ack().await.expect("ack");
    }
    nothing_arrives(&mut statuses).await;
    for expected in ["b status", "b typing"] {
        let delivery = next(&mut user_b).await;
        assert_eq!(text(&delivery), expected);
        delivery.ack().await.expect("ack");
    }
    nothing_arrives(&mut user_b).await;
}

pub(crate) async fn an_event_no_queue_is_bound_to_is_refused(backend: crate::Backend) {
    let events: Arc<dyn EventBus> = crate::bus_with(backend.0, &[("narrow", "only.this")]).1;
    let refused = events.publish_event("something.else", b"lost").await;
    assert!(
        matches!(refused, Err(talkapp_bus::BusError::Refused(_))),
        "an unroutable event must not vanish silently: {refused:?}"
    );
    events
        .publish_event("only.this", b"kept")
        .await
        .expect("published");
    let mut narrow = events
        .consume_events("narrow", "only.this", 1)
        .await
        .expect("consume");
    assert_eq!(text(&next(&mut narrow).await), "kept");
}
