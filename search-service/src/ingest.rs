//! Following the accounts' update events: `message.new`, `message.edited`,
//! `message.deleted` and `chat.updated` from the search queue on the bus (the same events
//! the WebSocket gets), applied to the index in batches. An event is acknowledged only
//! once the index holds it, so nothing is lost while the index is away: the bus keeps it,
//! and the queue holds events while search-service is down.
//!
//! Events can come again: redelivered, or replayed by their publisher after it lost its
//! broker connection (ADR 0045: its recent events again, in their order, before anything
//! newer). An account that moved to another host within the replay window has its old
//! host replay older events after the new host's newer ones. Every change carries its
//! event's id (strictly increasing per account, across hosts) and the index applies an
//! account's changes in id order whatever order they come in (ADR 0047): an upsert older
//! than the row's last write is skipped (counted in
//! `talkapp_search_stale_changes_skipped_total`), and a deletion is final.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt as _;
use prost::Message as _;
use talkapp_bus::{Delivery, EventBus, SEARCH_EVENTS};
use talkapp_proto::chat::v1 as chat;
use talkapp_proto::realtime::v1 as realtime;
use talkapp_store::{AccountKey, SearchStore};
use tokio_util::sync::CancellationToken;

use crate::index::{IndexChange, IndexedChat, IndexedMessage, SearchIndex, kind};
use crate::normalize;

/// Events held unacknowledged at once (and the largest batch written together).
const PREFETCH: u16 = 256;

fn unix_seconds(rfc3339: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .ok()
        .map(|at| at.timestamp())
}

/// The index record of a message as events carry it.
pub fn indexed_message(key: AccountKey, message: &chat::Message) -> Option<IndexedMessage> {
    let chat_id = message.chat_id.parse().ok()?;
    let media = message.media.as_ref();
    let mut text = message.text.clone();
    if let Some(media) = media {
        for extra in [&media.file_name, &media.title, &media.performer]
            .into_iter()
            .flatten()
        {
            if !extra.is_empty() {
                text.push(' ');
                text.push_str(extra);
            }
        }
    }
    Some(IndexedMessage {
        key,
        chat_id,
        message_id: message.id,
        date: unix_seconds(&message.date)?,
        sender_id: message
            .sender
            .as_ref()
            .and_then(|sender| sender.id.parse().ok()),
        kinds: kind::of_message(
            &message.text,
            media.map(|media| media.kind.as_str()),
            message.entities.iter().map(|entity| entity.kind.as_str()),
        ),
        terms: normalize::terms(&text),
    })
}

/// What one event changes in the index (nothing for the kinds search does not follow).
async fn changes_of(store: &dyn SearchStore, event: &realtime::Event) -> Vec<IndexChange> {
    let Ok(user_id) = uuid::Uuid::parse_str(&event.user_id) else {
        return Vec::new();
    };
    let key = AccountKey {
        user_id,
        session_index: event.session_index,
    };
    // Ids start at 1 (`EventIdStore::next_event_ids`); 0 is proto3's "not set": no order known.
    let event_id = Some(event.event_id).filter(|id| *id > 0);
    match (event.r#type.as_str(), &event.payload) {
        ("message.new" | "message.edited", Some(realtime::event::Payload::Message(message))) => {
            indexed_message(key, message)
                .map(|message| IndexChange::UpsertMessage { message, event_id })
                .into_iter()
                .collect()
        }
        ("message.deleted", Some(realtime::event::Payload::Deleted(deleted))) => {
            vec![IndexChange::DeleteMessages {
                key,
                chat_id: deleted
                    .chat_id
                    .as_deref()
                    .and_then(|chat_id| chat_id.parse().ok()),
                message_ids: deleted.message_ids.clone(),
                event_id,
            }]
        }
        ("chat.updated", Some(realtime::event::Payload::Chat(chat))) => {
            let Ok(chat_id) = chat.chat_id.parse::<i64>() else {
                return Vec::new();
            };
            // A private chat's id is the other person's: their phone, when cached.
            let phone = if chat_id > 0 {
                store
                    .cached_users(key, &[chat_id])
                    .await
                    .ok()
                    .and_then(|users| users.into_iter().next())
                    .map(|user| user.phone)
                    .unwrap_or_default()
            } else {
                String::new()
            };
            vec![IndexChange::UpsertChat {
                chat: IndexedChat {
                    key,
                    chat_id,
                    kind: chat.kind.clone(),
                    title: chat.title.clone(),
                    username: chat.username.clone().unwrap_or_default(),
                    phone,
                    top_date: chat
                        .last_activity
                        .as_deref()
                        .and_then(unix_seconds)
                        .unwrap_or(0),
                },
                event_id,
            }]
        }
        _ => Vec::new(),
    }
}

/// Consumes the search queue until `stop` fires.
pub async fn run(
    bus: Arc<dyn EventBus>,
    index: Arc<dyn SearchIndex>,
    store: Arc<dyn SearchStore>,
    stop: CancellationToken,
) {
    metrics::describe_counter!(
        "talkapp_search_stale_changes_skipped_total",
        "Index upserts skipped: older than the event that last wrote the row, or of a deleted message (ADR 0047)"
    );
    metrics::counter!("talkapp_search_stale_changes_skipped_total").increment(0);
    let (name, pattern) = SEARCH_EVENTS[0];
    while let Some(mut subscription) = talkapp_bus::consume_events_until_stopped(
        bus.as_ref(),
        (name, pattern),
        PREFETCH,
        "search events",
        &stop,
    )
    .await
    {
        loop {
            let first = tokio::select! {
                () = stop.cancelled() => return,
                delivery = subscription.next() => delivery,
            };
            let Some(first) = first else {
                tracing::info!("search event consumer ended; subscribing again");
                break;
            };
            // Whatever else is already here joins the batch: one transaction for all.
            let mut batch = vec![first];
            while batch.len() < usize::from(PREFETCH) {
                match subscription.next().now_or_never() {
                    Some(Some(delivery)) => batch.push(delivery),
                    _ => break,
                }
            }
            if !apply_batch(&batch, index.as_ref(), store.as_ref(), &stop).await {
                return;
            }
            for delivery in batch {
                if let Err(error) = delivery.ack().await {
                    tracing::debug!(%error, "event acknowledgement lost; it will come again");
                }
            }
        }
    }
}

/// Applies a batch's changes, retrying while the index is away; false when stopping.
async fn apply_batch(
    batch: &[Delivery],
    index: &dyn SearchIndex,
    store: &dyn SearchStore,
    stop: &CancellationToken,
) -> bool {
    let mut changes = Vec::new();
    for delivery in batch {
        match realtime::Event::decode(delivery.body.as_slice()) {
            Ok(event) => changes.extend(changes_of(store, &event).await),
            Err(error) => tracing::error!(%error, "unreadable event skipped"),
        }
    }
    let mut failures: u32 = 0;
    loop {
        match index.apply(&changes).await {
            Ok(applied) => {
                metrics::counter!("talkapp_search_indexed_changes_total")
                    .increment(u64::try_from(changes.len()).unwrap_or(0));
                if applied.skipped_stale > 0 {
                    metrics::counter!("talkapp_search_stale_changes_skipped_total")
                        .increment(applied.skipped_stale);
                    tracing::debug!(
                        skipped = applied.skipped_stale,
                        "changes older than the index's skipped"
                    );
                }
                return true;
            }
            Err(error) => {
                failures += 1;
                if failures == 1 || failures.is_multiple_of(20) {
                    tracing::warn!(%error, failures, "search index unavailable; holding the events");
                }
                tokio::select! {
                    () = stop.cancelled() => return false,
                    () = tokio::time::sleep(Duration::from_millis(100 << failures.min(4))) => {}
                }
            }
        }
    }
}
