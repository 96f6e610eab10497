//! One WebSocket connection.

use std::time::{Duration, Instant};

use actix_web::web;
use actix_ws::{CloseCode, CloseReason, Message, MessageStream, Session};
use futures::StreamExt as _;
use talkapp_proto::chat::v1 as chat;
use tokio::sync::broadcast;
use uuid::Uuid;

use super::feeds::Member;
use super::frames::{ClientFrame, Reply, chat_id_text};
use crate::problem::ApiError;
use crate::state::AppState;

/// Limits and timings of connections.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The largest frame a client may send.
    pub max_frame_bytes: usize,
    /// Client frames a second, sustained.
    pub frames_per_second: f64,
    /// Client frames allowed in a burst.
    pub frame_burst: f64,
    /// How often the server pings.
    pub ping_interval: Duration,
    /// A connection silent this long (no frame, no pong) is closed.
    pub idle_timeout: Duration,
    /// An event the client does not take within this long closes the connection: a
    /// client that cannot keep up is let go instead of buffering without bound.
    pub send_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_frame_bytes: 4096,
            frames_per_second: 20.0,
            frame_burst: 40.0,
            ping_interval: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(45),
            send_timeout: Duration::from_secs(10),
        }
    }
}

/// Close code for a client that does not read its events fast enough.
pub const CLOSE_TOO_SLOW: u16 = 4008;
/// Close code for a client that sends frames too fast.
pub const CLOSE_TOO_MANY_FRAMES: u16 = 4029;
/// Close code for a socket whose sign-in session ended (sign-out, a revoked refresh
/// family) or whose user is gone: sign in again.
pub const CLOSE_SESSION_ENDED: u16 = 4001;
/// Close code for a socket whose linked account was unlinked.
pub const CLOSE_ACCOUNT_UNLINKED: u16 = 4004;

/// Who the connection serves.
#[derive(Debug, Clone)]
pub struct Subscriber {
    /// The TalkApp user.
    pub user_id: Uuid,
    /// The sign-in session the socket was opened in (none for an external token): its
    /// end closes the socket.
    pub sign_in: Option<Uuid>,
    /// The linked account.
    pub session_index: u32,
    /// Replay after this event (a reconnecting client's last one).
    pub since: Option<i64>,
    /// When it was let in (unix milliseconds): a user's or an account's revocation made
    /// before ends it, one made earlier and heard late (the user enabled again since)
    /// does not.
    pub opened_at: i64,
}

/// Makes a new connection a member of its account's event feed. Once this returns, its
/// start is fixed (the client's `since`, or where the feed is): every event after it
/// reaches the socket, including those appended while the upgrade completes.
pub async fn open_events(
    state: &web::Data<AppState>,
    subscriber: &Subscriber,
) -> Result<Member, ApiError> {
    state
        .ws_connections
        .feeds()
        .join(
            state,
            subscriber.user_id,
            subscriber.session_index,
            subscriber.since,
        )
        .await
}

/// A token bucket for client frames.
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn take(&mut self, limits: &Limits) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens
            + now.duration_since(self.at).as_secs_f64() * limits.frames_per_second)
            .min(limits.frame_burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What this gateway knows to have ended the connection, if anything.
fn ended(state: &AppState, subscriber: &Subscriber) -> Option<crate::revocations::Revoked> {
    state.revocations.ended_connection(
        subscriber.user_id,
        subscriber.session_index,
        subscriber.sign_in,
        subscriber.opened_at,
    )
}

/// How a socket ended by `revoked` is closed.
fn close_reason(revoked: crate::revocations::Revoked) -> CloseReason {
    match revoked {
        crate::revocations::Revoked::Account { .. } => CloseReason {
            code: CloseCode::Other(CLOSE_ACCOUNT_UNLINKED),
            description: Some("account_unlinked".into()),
        },
        _ => session_ended(),
    }
}

/// Runs a connection until either side ends it.
pub async fn run(
    state: web::Data<AppState>,
    // Held for the connection's life: its place in the user's count.
    _admission: crate::ws::registry::Admission,
    mut session: Session,
    messages: MessageStream,
    subscriber: Subscriber,
    mut events: Member,
    limits: Limits,
) {
    metrics::gauge!("talkapp_ws_connections").increment(1.0);
    state
        .activity
        .socket_opened(subscriber.user_id, talkapp_store::now());
    let mut messages = messages.max_frame_size(limits.max_frame_bytes);
    let mut bucket = Bucket {
        tokens: limits.frame_burst,
        at: Instant::now(),
    };
    let mut last_heard = Instant::now();
    let mut pings = tokio::time::interval(limits.ping_interval);
    pings.reset();
    let stopping = state.ws_connections.stopping();
    let mut revocations = state.revocations.subscribe();
    // Ended between the checks before the upgrade and the subscription just above.
    if let Some(revoked) = ended(&state, &subscriber) {
        // The client may be gone already; closing is all that is left to do either way.
        let _ = session.close(Some(close_reason(revoked))).await;
        metrics::gauge!("talkapp_ws_connections").decrement(1.0);
        return;
    }
    let close = loop {
        tokio::select! {
            () = stopping.cancelled() => {
                break Some(CloseReason {
                    code: CloseCode::Away,
                    description: Some("the server is restarting; reconnect with since".into()),
                });
            }
            revoked = revocations.recv() => {
                match revoked {
                    Ok(told) if told.ends(subscriber.user_id, subscriber.session_index, subscriber.sign_in, subscriber.opened_at) => {
                        break Some(close_reason(told.revoked));
                    }
                    Ok(_) => {}
                    // Missed some: whether this socket is ended by one of them is known.
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        if let Some(revoked) = ended(&state, &subscriber) {
                            break Some(close_reason(revoked));
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => {}
                }
            }
            event = events.next(&state) => {
                match tokio::time::timeout(limits.send_timeout, session.text(event.frame)).await {
                    Ok(Ok(())) => metrics::counter!("talkapp_ws_events_sent_total").increment(1),
                    Ok(Err(_)) => break None,
                    Err(_) => {
                        metrics::counter!("talkapp_ws_slow_clients_total").increment(1);
                        break Some(CloseReason {
                            code: CloseCode::Other(CLOSE_TOO_SLOW),
                            description: Some("the client does not read its events fast enough".into()),
                        });
                    }
                }
            }
            message = messages.next() => {
                let Some(message) = message else { break None };
                last_heard = Instant::now();
                match message {
                    Ok(Message::Text(text)) => {
                        if !bucket.take(&limits) {
                            break Some(CloseReason {
                                code: CloseCode::Other(CLOSE_TOO_MANY_FRAMES),
                                description: Some("too many frames".into()),
                            });
                        }
                        let reply = handle_frame(&state, &subscriber, &text).await;
                        if session.text(serde_json::to_string(&reply).unwrap_or_default()).await.is_err() {
                            break None;
                        }
                    }
                    Ok(Message::Ping(bytes)) => {
                        if session.pong(&bytes).await.is_err() {
                            break None;
                        }
                    }
                    Ok(Message::Pong(_)) => {}
                    Ok(Message::Close(_)) => break None,
                    Ok(Message::Binary(_) | Message::Continuation(_)) => {
                        break Some(CloseReason {
                            code: CloseCode::Unsupported,
                            description: Some("only JSON text frames are taken".into()),
                        });
                    }
                    Ok(Message::Nop) => {}
                    Err(actix_ws::ProtocolError::Overflow) => {
                        break Some(CloseReason {
                            code: CloseCode::Size,
                            description: Some(format!("frames are limited to {} bytes", limits.max_frame_bytes)),
                        });
                    }
                    Err(_) => {
                        break Some(CloseReason {
                            code: CloseCode::Protocol,
                            description: Some("protocol error".into()),
                        });
                    }
                }
            }
            _ = pings.tick() => {
                if last_heard.elapsed() > limits.idle_timeout {
                    break Some(CloseReason {
                        code: CloseCode::Away,
                        description: Some("no answer to pings".into()),
                    });
                }
                if session.ping(b"talkapp").await.is_err() {
                    break None;
                }
            }
        }
    };
    drop(events);
    // The client may be gone already; closing is all that is left to do either way.
    let _ = session.close(close).await;
    metrics::gauge!("talkapp_ws_connections").decrement(1.0);
}

fn session_ended() -> CloseReason {
    CloseReason {
        code: CloseCode::Other(CLOSE_SESSION_ENDED),
        description: Some("session_ended".into()),
    }
}

async fn handle_frame(state: &AppState, subscriber: &Subscriber, text: &str) -> Reply {
    let frame: ClientFrame = match serde_json::from_str(text) {
        Ok(frame) => frame,
        Err(error) => {
            return Reply::error(
                None,
                "validation_failed",
                format!("not a frame this socket takes: {error}"),
            );
        }
    };
    let account = chat::AccountRef {
        user_id: subscriber.user_id.to_string(),
        session_index: subscriber.session_index,
    };
    match frame {
        ClientFrame::Ping { id } => Reply::ok("pong", id),
        ClientFrame::Typing {
            id,
            chat_id,
            action,
        } => {
            let Some(chat_id) = chat_id_text(&chat_id) else {
                return Reply::error(id, "validation_failed", "chat_id must be a chat id");
            };
            let request = chat::SendChatActionRequest {
                account: Some(account),
                chat_id,
                action: action.unwrap_or_else(|| "typing".to_owned()),
            };
            match state.services.send_chat_action(request).await {
                Ok(()) => Reply::ok("ack", id),
                Err(error) => {
                    Reply::error(id, error.code.as_str(), error.detail.unwrap_or_default())
                }
            }
        }
        ClientFrame::Read {
            id,
            chat_id,
            max_id,
        } => {
            let Some(chat_id) = chat_id_text(&chat_id) else {
                return Reply::error(id, "validation_failed", "chat_id must be a chat id");
            };
            let request = chat::MarkReadRequest {
                account: Some(account),
                chat_id,
                max_id: (max_id > 0).then_some(max_id),
            };
            match state.services.mark_read(request).await {
                Ok(()) => Reply::ok("ack", id),
                Err(error) => {
                    Reply::error(id, error.code.as_str(), error.detail.unwrap_or_default())
                }
            }
        }
    }
}
