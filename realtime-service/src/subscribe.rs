//! One gateway connection's stream of events: the log after the client's cursor, then the
//! log's tail as it grows. The tail comes in memory from this process's ingest
//! ([`crate::live`]) when the stream's cursor is the event an appended one follows in the
//! log; otherwise (a gap, a lag, an append by another process, a lost wake-up) the stream
//! reads the log from its cursor. Either way an event is sent only right after its
//! predecessor in the log, so events come once each, in order (ADR 0053).

use std::sync::Arc;
use std::time::Duration;

use prost::Message as _;
use talkapp_eventlog::{AccountKey, EventLog, LogError, Replay};
use talkapp_proto::realtime::v1 as proto;
use talkapp_proto::tonic::Status;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::live::{Lagged, Live};
use crate::presence::{PRESENCE_REFRESH, Presence};

/// Events read from the log at once.
const PAGE: usize = 200;
/// How often the log is read even without a wake-up (a lost wake-up costs at most this).
/// A backstop only: a live stream learns of every append by its live copy or, for
/// appends of another process, by the log's watch, and of any loss of either (a lag, an
/// ended watch); so it is long, since every stream's read costs the log a call.
const POLL: Duration = Duration::from_secs(60);
/// How long an append the log's watch announced may take to arrive as its live copy
/// before the stream reads the log for it. The watch and the live copy race (both
/// leave the log at the append); a copy normally follows within a millisecond, and only
/// an append of another process (a replica that consumed meanwhile) waits this long.
const LIVE_GRACE: Duration = Duration::from_millis(250);

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
#[allow(clippy::too_many_arguments)]
pub async fn stream(
    log: Arc<dyn EventLog>,
    live: Arc<Live>,
    presence: Arc<Presence>,
    account: AccountKey,
    start: Start,
    connection_id: String,
    out: mpsc::Sender<Result<proto::Event, Status>>,
    closing: CancellationToken,
) {
    presence.connected(account.user_id, &connection_id).await;
    let outcome = tokio::select! {
        outcome = relay(log, &live, &presence, account, start, &connection_id, &out) => outcome,
        () = closing.cancelled() => Ok(()),
    };
    if let Err(status) = outcome {
        // The gateway stopped reading this stream: nobody left to tell.
        let _ = out.send(Err(status)).await;
    }
    presence.disconnected(account.user_id, &connection_id).await;
}

/// A stream's place in its account's log, and what it still owes its reader.
struct Cursor {
    /// The last event sent (or the client's cursor); `None`: from the log's start.
    at: Option<i64>,
    /// Whether `at` is the client's, which the log must vouch for.
    check_history: bool,
}

impl Cursor {
    /// Whether the stream has sent everything up to `event_id`.
    fn covers(&self, event_id: i64) -> bool {
        self.at.is_some_and(|at| at >= event_id)
    }
}

/// Sends everything the log holds after the cursor. `Err(None)`: the reader is gone.
async fn drain(
    log: &dyn EventLog,
    account: AccountKey,
    cursor: &mut Cursor,
    out: &mpsc::Sender<Result<proto::Event, Status>>,
) -> Result<(), Option<Status>> {
    loop {
        match log
            .read_since(account, cursor.at, PAGE)
            .await
            .map_err(|e| Some(unavailable(&e)))?
        {
            Replay::Events(events) => {
                cursor.check_history = false;
                let full = events.len() == PAGE;
                for logged in events {
                    let event = proto::Event::decode(logged.payload.as_slice())
                        .map_err(|error| Some(Status::internal(error.to_string())))?;
                    out.send(Ok(event)).await.map_err(|_| None)?;
                    cursor.at = Some(logged.event_id);
                }
                if !full {
                    return Ok(());
                }
            }
            Replay::TooOld {
                retained_after,
                oldest_retained,
            } => {
                cursor.check_history = false;
                out.send(Ok(resync(account, retained_after, oldest_retained)))
                    .await
                    .map_err(|_| None)?;
                cursor.at = Some(retained_after);
            }
            Replay::NoHistory => {
                // A cursor from before anything the log knows: it cannot vouch for
                // what happened after it.
                if cursor.check_history {
                    cursor.check_history = false;
                    out.send(Ok(resync(account, 0, 0)))
                        .await
                        .map_err(|_| None)?;
                }
                cursor.at = None;
                return Ok(());
            }
        }
    }
}

async fn relay(
    log: Arc<dyn EventLog>,
    live: &Arc<Live>,
    presence: &Presence,
    account: AccountKey,
    start: Start,
    connection_id: &str,
    out: &mpsc::Sender<Result<proto::Event, Status>>,
) -> Result<(), Status> {
    // The live events and the watch come before the first read: an append in between is
    // read by it (and its live copy dropped as already sent).
    let mut pushed_events = live.subscribe(account);
    let mut watch = log.watch(account).await.map_err(|e| unavailable(&e))?;
    let mut cursor = match start {
        Start::After(since) => Cursor {
            at: Some(since),
            check_history: true,
        },
        Start::Resolved(after) => Cursor {
            at: after,
            check_history: false,
        },
    };
    let mut refresh = tokio::time::interval(PRESENCE_REFRESH);
    refresh.reset();
    // The newest id the watch announced that the stream has not sent yet, and when the
    // log is read for it unless its live copy came first.
    let mut announced: Option<(i64, tokio::time::Instant)> = None;
    let mut read_log = true;
    loop {
        if read_log {
            read_log = false;
            announced = None;
            match drain(log.as_ref(), account, &mut cursor, out).await {
                Ok(()) => {}
                Err(None) => return Ok(()),
                Err(Some(status)) => return Err(status),
            }
        }
        let announced_deadline = announced.map(|(_, deadline)| deadline);
        tokio::select! {
            () = out.closed() => return Ok(()),
            pushed = pushed_events.next() => match pushed {
                Ok(pushed) => {
                    if cursor.covers(pushed.event.event_id) {
                        // Already read from the log.
                    } else if pushed.previous == cursor.at && !cursor.check_history {
                        // The next event after the cursor: nothing can be between them.
                        if out.send(Ok(pushed.event.clone())).await.is_err() {
                            return Ok(());
                        }
                        cursor.at = Some(pushed.event.event_id);
                        if announced.is_some_and(|(newest, _)| cursor.covers(newest)) {
                            announced = None;
                        }
                    } else {
                        // Something between the cursor and this event (appended by
                        // another process, or before this stream's reads caught up).
                        read_log = true;
                    }
                }
                Err(Lagged) => read_log = true,
            },
            changed = watch.changed() => match changed {
                Ok(newest) => {
                    if !cursor.covers(newest) && announced.is_none() {
                        // Appended by this process, its live copy is on its way; by
                        // another, only the log has it.
                        announced = Some((newest, tokio::time::Instant::now() + LIVE_GRACE));
                    } else if let Some((announced_newest, _)) = &mut announced {
                        *announced_newest = (*announced_newest).max(newest);
                    }
                }
                Err(_) => {
                    // The watch ended (Redis connection lost): watch again, then read.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    watch = log.watch(account).await.map_err(|e| unavailable(&e))?;
                    read_log = true;
                }
            },
            () = sleep_until_some(announced_deadline) => {
                if announced.is_some_and(|(newest, _)| !cursor.covers(newest)) {
                    read_log = true;
                }
                announced = None;
            }
            _ = refresh.tick() => presence.connected(account.user_id, connection_id).await,
            () = tokio::time::sleep(POLL) => read_log = true,
        }
    }
}

/// Sleeps until `deadline`; forever without one.
async fn sleep_until_some(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
