//! One gateway connection's stream of events: the log after the client's cursor, then the
//! log's tail as it grows. Reading always goes through the log by cursor, so events come
//! once each, in order, whatever the wake-ups do.

use std::sync::Arc;
use std::time::Duration;

use prost::Message as _;
use talkapp_eventlog::{AccountKey, EventLog, LogError, Replay};
use talkapp_proto::realtime::v1 as proto;
use talkapp_proto::tonic::Status;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::presence::{PRESENCE_REFRESH, Presence};

/// Events read from the log at once.
const PAGE: usize = 200;
/// How often the log is read even without a wake-up (a lost wake-up costs at most this).
const POLL: Duration = Duration::from_secs(5);

fn resync(account: AccountKey, event_id: i64, oldest_retained: i64) -> proto::Event {
    proto::Event {
        event_id,
        user_id: account.user_id.to_string(),
        session_index: account.session_index,
        r#type: "resync_required".to_owned(),
        at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        payload: Some(proto::event::Payload::Resync(proto::ResyncRequired {
            oldest_retained,
        })),
    }
}

/// Where a stream starts.
#[derive(Debug, Clone, Copy)]
pub enum Start {
    /// After a client's cursor, which the log must vouch for (else `resync_required`).
    After(i64),
    /// After an id resolved by the service itself (`None`: the start of the log), so
    /// nothing to vouch for.
    Resolved(Option<i64>),
}

pub(crate) fn unavailable(error: &LogError) -> Status {
    talkapp_common::ErrorCode::ServiceUnavailable
        .to_grpc_status(format!("the event log is not reachable: {error}"))
}

/// Streams the events of `account` after `start` into `out` until the receiver goes away
/// or `closing` fires (the service stops: the stream ends, and its gateway resumes it
/// from its last event).
pub async fn stream(
    log: Arc<dyn EventLog>,
    presence: Arc<Presence>,
    account: AccountKey,
    start: Start,
    connection_id: String,
    out: mpsc::Sender<Result<proto::Event, Status>>,
    closing: CancellationToken,
) {
    presence.connected(account.user_id, &connection_id).await;
    let outcome = tokio::select! {
        outcome = relay(log, &presence, account, start, &connection_id, &out) => outcome,
        () = closing.cancelled() => Ok(()),
    };
    if let Err(status) = outcome {
        // The gateway stopped reading this stream: nobody left to tell.
        let _ = out.send(Err(status)).await;
    }
    presence.disconnected(account.user_id, &connection_id).await;
}

async fn relay(
    log: Arc<dyn EventLog>,
    presence: &Presence,
    account: AccountKey,
    start: Start,
    connection_id: &str,
    out: &mpsc::Sender<Result<proto::Event, Status>>,
) -> Result<(), Status> {
    // The watch comes before the first read: an append in between is read by it.
    let mut watch = log.watch(account).await.map_err(|e| unavailable(&e))?;
    let (mut cursor, mut check_history) = match start {
        Start::After(since) => (Some(since), true),
        Start::Resolved(after) => (after, false),
    };
    let mut refresh = tokio::time::interval(PRESENCE_REFRESH);
    refresh.reset();
    loop {
        // Drain everything after the cursor.
        loop {
            match log
                .read_since(account, cursor, PAGE)
                .await
                .map_err(|e| unavailable(&e))?
            {
                Replay::Events(events) => {
                    check_history = false;
                    let full = events.len() == PAGE;
                    for logged in events {
                        let event = proto::Event::decode(logged.payload.as_slice())
                            .map_err(|error| Status::internal(error.to_string()))?;
                        if out.send(Ok(event)).await.is_err() {
                            return Ok(());
                        }
                        cursor = Some(logged.event_id);
                    }
                    if !full {
                        break;
                    }
                }
                Replay::TooOld {
                    retained_after,
                    oldest_retained,
                } => {
                    check_history = false;
                    if out
                        .send(Ok(resync(account, retained_after, oldest_retained)))
                        .await
                        .is_err()
                    {
                        return Ok(());
                    }
                    cursor = Some(retained_after);
                }
                Replay::NoHistory => {
                    // A cursor from before anything the log knows: it cannot vouch for
                    // what happened after it.
                    if check_history {
                        check_history = false;
                        if out.send(Ok(resync(account, 0, 0))).await.is_err() {
                            return Ok(());
                        }
                    }
                    cursor = None;
                    break;
                }
            }
        }
        tokio::select! {
            () = out.closed() => return Ok(()),
            changed = watch.changed() => {
                if changed.is_err() {
                    // The watch ended (Redis connection lost): watch again, then read.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    watch = log.watch(account).await.map_err(|e| unavailable(&e))?;
                }
            }
            _ = refresh.tick() => presence.connected(account.user_id, connection_id).await,
            () = tokio::time::sleep(POLL) => {}
        }
    }
}
