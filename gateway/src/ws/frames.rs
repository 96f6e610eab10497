//! What travels on the WebSocket.
//!
//! Server to client, one JSON object per text frame:
//! `{"event_id": 42, "session_index": 1, "type": "message.new", "at": "...", "data": {...}}`
//! where `data` has the REST shapes: a message (`message.new`, `message.edited`), a send
//! job (`message.status`), a chat as listed (`chat.updated`), or `{chat_id, message_ids}`
//! (`message.deleted`), `{chat_id, message_ids, pinned}` (`message.pinned`: pinned or
//! unpinned, on any device or by another member), `{chat_id, user_id, joined}` (`chat.member`),
//! `{user_id, status, at}` (`user.status`), `{chat_id, sender_id, action}` (`typing`),
//! `{oldest_retained}` (`resync_required`: reload what you show, then carry on). Replies
//! to client frames are `{"type": "pong" | "ack" | "error", "id": ...}`.
//!
//! Client to server: `{"type": "typing", "chat_id": "...", "action": "typing"}` (told to
//! Telegram; `action` defaults to `typing`), `{"type": "read", "chat_id": "...",
//! "max_id": 123}` (marks read up to a message; 0 or absent: everything),
//! `{"type": "ping"}`; each may carry an `id`, echoed in the reply.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use talkapp_proto::realtime::v1 as realtime;

use crate::routes::chats::{ChatView, MessageView, SendJobView};

/// An event as the client sees it.
pub fn event_json(event: realtime::Event) -> Value {
    use realtime::event::Payload;
    let data = match event.payload {
        Some(Payload::Message(message)) => json!(MessageView::from(message)),
        Some(Payload::Job(job)) => json!(SendJobView::from(job)),
        Some(Payload::Chat(chat)) => json!(ChatView::from(chat)),
        Some(Payload::Deleted(deleted)) => json!({
            "chat_id": deleted.chat_id,
            "message_ids": deleted.message_ids,
        }),
        Some(Payload::Member(member)) => json!({
            "chat_id": member.chat_id,
            "user_id": member.user_id,
            "joined": member.joined,
        }),
        Some(Payload::UserStatus(status)) => json!({
            "user_id": status.user_id,
            "status": status.status,
            "at": status.at,
        }),
        Some(Payload::Typing(typing)) => json!({
            "chat_id": typing.chat_id,
            "sender_id": typing.sender_id,
            "action": typing.action,
        }),
        Some(Payload::Pinned(pinned)) => json!({
            "chat_id": pinned.chat_id,
            "message_ids": pinned.message_ids,
            "pinned": pinned.pinned,
        }),
        Some(Payload::Resync(resync)) => json!({ "oldest_retained": resync.oldest_retained }),
        None => Value::Null,
    };
    json!({
        "event_id": event.event_id,
        "session_index": event.session_index,
        "type": event.r#type,
        "at": event.at,
        "data": data,
    })
}

/// A frame a client sends.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    /// "I am typing" (or another action) in a chat.
    Typing {
        /// Echoed in the reply.
        #[serde(default)]
        id: Option<Value>,
        /// The chat.
        chat_id: Value,
        /// `typing` (default), `cancel`, `recording_voice`, ...
        #[serde(default)]
        action: Option<String>,
    },
    /// "I have read up to here".
    Read {
        /// Echoed in the reply.
        #[serde(default)]
        id: Option<Value>,
        /// The chat.
        chat_id: Value,
        /// Read up to this message (0: all).
        #[serde(default)]
        max_id: i32,
    },
    /// A ping at the application level.
    Ping {
        /// Echoed in the reply.
        #[serde(default)]
        id: Option<Value>,
    },
}

/// A reply to a client frame.
#[derive(Debug, Serialize)]
pub struct Reply {
    /// `pong`, `ack` or `error`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The client's `id`, when it gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Value>,
    /// For errors: a stable code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// For errors: what went wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Reply {
    /// An error reply.
    pub fn error(id: Option<Value>, code: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: "error",
            id,
            code: Some(code.to_owned()),
            detail: Some(detail.into()),
        }
    }

    /// A success reply of `kind`.
    pub fn ok(kind: &'static str, id: Option<Value>) -> Self {
        Self {
            kind,
            id,
            code: None,
            detail: None,
        }
    }
}

/// A chat id given as a string or a number.
pub fn chat_id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) if !text.is_empty() && text.len() <= 32 => Some(text.clone()),
        Value::Number(number) if number.is_i64() => Some(number.to_string()),
        _ => None,
    }
}
