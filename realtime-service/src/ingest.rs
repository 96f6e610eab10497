//! Taking events from the bus into the log: every event of every account, in order, as
//! the single active consumer of the realtime queue. An event is acknowledged only once
//! the log holds it, so nothing is lost while the log (Redis) is away: the bus keeps it.
//! A new incoming message also goes to the user's browsers as a push notification when
//! the user has no live connection.

use std::sync::Arc;
use std::time::Duration;

use prost::Message as _;
use talkapp_bus::{EventBus, REALTIME_EVENTS};
use talkapp_eventlog::{EventLog, SessionKey};
use talkapp_proto::realtime::v1 as proto;
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
        loop {
            let delivery = tokio::select! {
                () = stop.cancelled() => return,
                delivery = subscription.next() => delivery,
            };
            let Some(delivery) = delivery else {
                tracing::info!("event consumer ended; subscribing again");
                break;
            };
            let event = match proto::Event::decode(delivery.body.as_slice()) {
                Ok(event) => event,
                Err(error) => {
                    tracing::error!(%error, "unreadable event dropped");
                    let _ = delivery.ack().await;
                    continue;
                }
            };
            let Ok(user_id) = uuid::Uuid::parse_str(&event.user_id) else {
                tracing::error!(user_id = event.user_id, "event without a user dropped");
                let _ = delivery.ack().await;
                continue;
            };
            let session = SessionKey::new(user_id, event.session_index);
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
}
