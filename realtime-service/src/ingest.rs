//! Taking events from the bus into the log: every event of every account, in order per
//! account (accounts are spread over lanes that write concurrently), as the single
//! active consumer of the realtime queue. An event is acknowledged only once
//! the log holds it, so nothing is lost while the log (Redis) is away: the bus keeps it.
//! A new incoming message also goes to the user's browsers as a push notification when
//! the user has no live connection.
//!
//! Events can come again: redelivered, or replayed by their publisher after it lost its
//! broker connection (ADR 0045: its recent events again, in their order, before anything
//! newer). The log takes an id at or below the account's newest as a repeat, and only an
//! event the log appended is pushed, so a repeat reaches no socket and no browser twice.

use std::hash::{Hash as _, Hasher as _};
use std::sync::Arc;
use std::time::Duration;

use prost::Message as _;
use talkapp_bus::{Delivery, EventBus, REALTIME_EVENTS};
use talkapp_eventlog::{AccountKey, Appended, EventLog};
use talkapp_proto::realtime::v1 as proto;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::live::{Live, Pushed};
use crate::push::Notifier;

/// Events held unacknowledged at once.
const PREFETCH: u16 = 256;

/// Consumes the realtime queue until `stop` fires.
pub async fn run(
    bus: Arc<dyn EventBus>,
    log: Arc<dyn EventLog>,
    live: Arc<Live>,
    notifier: Option<Arc<Notifier>>,
    stop: CancellationToken,
) {
    let (name, pattern) = REALTIME_EVENTS;
    while let Some(mut subscription) = talkapp_bus::consume_events_until_stopped(
        bus.as_ref(),
        (name, pattern),
        PREFETCH,
        "events",
        &stop,
    )
    .await
    {
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
                Arc::clone(&live),
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
            let account = AccountKey::new(user_id, event.session_index);
            let lane = &lanes[lane_of(account)];
            if lane.send((delivery, event, account)).await.is_err() {
                // Only when stopping; the unacknowledged event comes again.
                return;
            }
        }
    }
}

/// What makes an event the same as one told before under another id: a message's
/// arrival, and its edit at one edit time. A producer that restarts tells again what it
/// told after its last saved Telegram state (its events are at least once); the log
/// keeps each of these once, so a socket gets one `message.new` of a message, and a
/// push notification goes out once. Other events (a status, a deletion, typing) are
/// harmless when repeated.
fn repeat_key(event: &proto::Event) -> Option<String> {
    let Some(proto::event::Payload::Message(message)) = &event.payload else {
        return None;
    };
    if message.id == 0 {
        return None;
    }
    match event.r#type.as_str() {
        "message.new" => Some(format!("new:{}:{}", message.chat_id, message.id)),
        // Telegram's edit times are whole seconds: two edits in one second differ by what
        // they say, so the edited message itself is part of the key.
        "message.edited" => Some(format!(
            "edited:{}:{}:{}:{:016x}",
            message.chat_id,
            message.id,
            message.edit_date.as_deref().unwrap_or_default(),
            fnv1a(&message.encode_to_vec())
        )),
        _ => None,
    }
}

/// FNV-1a (64 bits): a hash that stays the same across processes and Rust versions, as
/// keys kept in the log must.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Lanes the log writes are spread over.
const LANES: usize = 32;

fn lane_of(account: AccountKey) -> usize {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    account.hash(&mut hasher);
    usize::try_from(hasher.finish() % LANES as u64).unwrap_or(0)
}

/// Writes one lane's events to the log in order, acknowledging each once the log holds
/// it (an event the log refuses is held and tried again: the bus keeps it meanwhile),
/// and hands each appended event to this process's live streams of its account, in the
/// log's order (ADR 0053).
async fn run_lane(
    mut events: mpsc::Receiver<(Delivery, proto::Event, AccountKey)>,
    log: Arc<dyn EventLog>,
    live: Arc<Live>,
    notifier: Option<Arc<Notifier>>,
    stop: CancellationToken,
) {
    while let Some((delivery, event, account)) = events.recv().await {
        let key = repeat_key(&event);
        let appended = loop {
            let appended = log
                .append_after(account, event.event_id, &delivery.body, key.as_deref())
                .await;
            match appended {
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
        if let Appended::After { previous } = appended {
            if let Some(notifier) = &notifier {
                notifier.consider(&event);
            }
            live.publish(account, Pushed { previous, event });
        }
        if let Err(error) = delivery.ack().await {
            tracing::debug!(%error, "event acknowledgement lost; it will come again");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, chat_id: &str, id: i32, edit_date: &str) -> proto::Event {
        proto::Event {
            r#type: kind.to_owned(),
            payload: Some(proto::event::Payload::Message(
                talkapp_proto::chat::v1::Message {
                    id,
                    chat_id: chat_id.to_owned(),
                    edit_date: Some(edit_date.to_owned()).filter(|at| !at.is_empty()),
                    ..Default::default()
                },
            )),
            ..Default::default()
        }
    }

    #[test]
    fn a_message_and_each_of_its_edits_are_told_once_and_other_events_are_not_keyed() {
        let new = repeat_key(&event("message.new", "42", 7, "")).expect("keyed");
        assert_eq!(
            new,
            repeat_key(&event("message.new", "42", 7, "")).expect("keyed")
        );
        assert_ne!(
            new,
            repeat_key(&event("message.new", "43", 7, "")).expect("keyed")
        );
        assert_ne!(
            new,
            repeat_key(&event("message.new", "42", 8, "")).expect("keyed")
        );
        let edited = repeat_key(&event("message.edited", "42", 7, "2026-12-05T10:00:00Z"));
        assert!(edited.is_some());
        assert_ne!(edited.as_deref(), Some(new.as_str()));
        assert_ne!(
            edited,
            repeat_key(&event("message.edited", "42", 7, "2026-12-05T10:01:00Z")),
            "a later edit is news"
        );
        let mut same_second = event("message.edited", "42", 7, "2026-12-05T10:00:00Z");
        if let Some(proto::event::Payload::Message(message)) = &mut same_second.payload {
            message.text = "edited again within the second".to_owned();
        }
        assert_ne!(
            edited,
            repeat_key(&same_second),
            "a second edit within the same second is news"
        );
        assert_eq!(
            edited,
            repeat_key(&event("message.edited", "42", 7, "2026-12-05T10:00:00Z")),
            "the same edit told again is a repeat"
        );
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(repeat_key(&event("message.status", "42", 7, "")), None);
        assert_eq!(repeat_key(&event("message.new", "42", 0, "")), None);
        let typing = proto::Event {
            r#type: "typing".to_owned(),
            ..Default::default()
        };
        assert_eq!(repeat_key(&typing), None);
    }
}
