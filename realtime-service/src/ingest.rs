//! Taking events from the bus into the log: every event of every account, in order per
//! account (accounts are spread over lanes that write concurrently), as the single
//! active consumer of the realtime queue. An event is acknowledged only once
//! the log holds it, so nothing is lost while the log (Redis) is away: the bus keeps it.
//! A new incoming message also goes to the user's browsers as a push notification when
//! the user has no live connection.

use std::hash::{Hash as _, Hasher as _};
use std::sync::Arc;
use std::time::Duration;

use prost::Message as _;
use talkapp_bus::{Delivery, EventBus, REALTIME_EVENTS};
use talkapp_eventlog::{EventLog, SessionKey};
use talkapp_proto::realtime::v1 as proto;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::push::Notifier;

/// Events held unacknowledged at once.
const PREFETCH: u16 = 256;

/// Consumes the realtime queue until `stop` fires.
pub async fn run(
    bus: Arc<dyn EventBus>,
    log: Arc<dyn EventLog>,
    notifier: Option<Arc<Notifier>>,
    stop: CancellationToken,
) {
    let (name, pattern) = REALTIME_EVENTS;
    let mut failures: u32 = 0;
    while !stop.is_cancelled() {
        let mut subscription = match bus.consume_events(name, pattern, PREFETCH).await {
            Ok(subscription) => {
                failures = 0;
                subscription
            }
            Err(error) => {
                if failures == 0 {
                    tracing::warn!(%error, "cannot consume events; retrying");
                }
                failures += 1;
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_millis(200 << failures.min(5))) => {}
                }
                continue;
            }
        };
        // One lane per stripe of accounts: an account's events stay in order (the bus
        // delivers them in order and one lane takes them all), while the log writes of
        // different accounts overlap instead of waiting on each other's round trips.
        let mut lanes = Vec::with_capacity(LANES);
        let mut lane_tasks = Vec::with_capacity(LANES);
        for _ in 0..LANES {
            let (sender, receiver) = mpsc::channel(usize::from(PREFETCH));
            lane_tasks.push(tokio::spawn(run_lane(
                receiver,
                Arc::clone(&log),
                notifier.clone(),
                stop.clone(),
            )));
            lanes.push(sender);
        }
        loop {
            let delivery = tokio::select! {
                () = stop.cancelled() => return,
                delivery = subscription.next() => delivery,
            };
            let Some(delivery) = delivery else {
                tracing::info!("event consumer ended; subscribing again");
                // What the lanes hold goes into the log before the next subscription's
                // events do (their acknowledgements fail: those come again, and the log
                // takes each id once).
                drop(lanes);
                for task in lane_tasks {
                    if let Err(error) = task.await {
                        tracing::error!(%error, "an event lane ended abnormally");
                    }
                }
                break;
            };
            let event = match proto::Event::decode(delivery.body.as_slice()) {
                Ok(event) => event,
                Err(error) => {
                    tracing::error!(%error, "unreadable event dropped");
                    // Unacknowledged, it would come back forever; a failed ack brings it
                    // back once more, to be dropped again.
                    let _redelivered_if_failed = delivery.ack().await;
                    continue;
                }
            };
            let Ok(user_id) = uuid::Uuid::parse_str(&event.user_id) else {
                tracing::error!(user_id = event.user_id, "event without a user dropped");
                let _redelivered_if_failed = delivery.ack().await;
                continue;
            };
            let session = SessionKey::new(user_id, event.session_index);
            let lane = &lanes[lane_of(session)];
            if lane.send((delivery, event, session)).await.is_err() {
                // Only when stopping; the unacknowledged event comes again.
                return;
            }
        }
    }
}

/// Lanes the log writes are spread over.
const LANES: usize = 32;

fn lane_of(session: SessionKey) -> usize {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    session.hash(&mut hasher);
    usize::try_from(hasher.finish() % LANES as u64).unwrap_or(0)
}

/// Writes one lane's events to the log in order, acknowledging each once the log holds
/// it (an event the log refuses is held and tried again: the bus keeps it meanwhile).
async fn run_lane(
    mut events: mpsc::Receiver<(Delivery, proto::Event, SessionKey)>,
    log: Arc<dyn EventLog>,
    notifier: Option<Arc<Notifier>>,
    stop: CancellationToken,
) {
    while let Some((delivery, event, session)) = events.recv().await {
        let appended = loop {
            match log.append(session, event.event_id, &delivery.body).await {
                Ok(appended) => break appended,
                Err(error) => {
                    tracing::warn!(%error, "event log unavailable; holding the event");
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(Duration::from_millis(500)) => {}
                    }
                }
            }
        };
        if appended && let Some(notifier) = &notifier {
            notifier.consider(&event);
        }
        if let Err(error) = delivery.ack().await {
            tracing::debug!(%error, "event acknowledgement lost; it will come again");
        }
    }
}
