//! Set-ups the tests of Telegram actions share (groups, joins, members, pins, message
//! actions, photos, contacts): the sandbox's ids, Alice's socket and groups, posts with
//! an idempotency key (one gateway, or the gateway of split mode), and the audit log
//! read back.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde_json::{Value, json};
use talkapp_tg_sandbox::{Peer, SandboxHandle};

use crate::chats::Alice;
use crate::helpers::{TestApp, assert_problem};
use crate::linking::Linker;
use crate::realtime::{Socket, connect_with_token};
use crate::replicas::Replicas;

/// Telegram's Bot-API offset of supergroup and channel ids.
pub(crate) const CHANNEL_ID_OFFSET: i64 = 1_000_000_000_000;

/// The sandbox peer of a Bot-API chat id.
pub(crate) fn peer_of(chat_id: i64) -> Peer {
    if chat_id < -CHANNEL_ID_OFFSET {
        Peer::Channel(-chat_id - CHANNEL_ID_OFFSET)
    } else if chat_id < 0 {
        Peer::Chat(-chat_id)
    } else {
        Peer::User(chat_id)
    }
}

/// The Bot-API id of the demo chat (supergroup, channel or basic group) titled `title`.
pub(crate) fn demo_chat(sandbox: &SandboxHandle, title: &str) -> i64 {
    sandbox.world(|world| {
        world
            .channel_ids()
            .into_iter()
            .find(|id| world.title(Peer::Channel(*id)) == Some(title))
            .map(|id| -CHANNEL_ID_OFFSET - id)
            .or_else(|| {
                world
                    .basic_group_ids()
                    .into_iter()
                    .find(|id| world.title(Peer::Chat(*id)) == Some(title))
                    .map(|id| -id)
            })
            .unwrap_or_else(|| panic!("a demo chat titled {title}"))
    })
}

/// The sandbox's user id of the account of `phone` (digits only).
pub(crate) fn sandbox_user(sandbox: &SandboxHandle, phone: &str) -> i64 {
    sandbox.world(|world| {
        world
            .user_by_phone(phone)
            .unwrap_or_else(|| panic!("a sandbox user with phone {phone}"))
    })
}

/// The chat id of an answer that names a chat (`"chat_id": "-100..."`).
pub(crate) fn chat_id_of(answer: &Value) -> i64 {
    answer["chat_id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("a chat id in {answer}"))
}

/// Asserts Telegram's flood wait came through as a 429 `telegram_flood_wait` with its
/// seconds in `Retry-After`.
pub(crate) async fn assert_flood_wait(response: reqwest::Response, retry_after: &str) -> Value {
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok()),
        Some(retry_after)
    );
    assert_problem(response, 429, "telegram_flood_wait").await
}

/// One record of an audit log, as the tests compare them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Audited {
    pub(crate) action: String,
    pub(crate) outcome: String,
    pub(crate) status: u16,
}

impl TestApp {
    /// A POST with an `Idempotency-Key`, sent once.
    pub(crate) async fn post_keyed(
        &self,
        path: &str,
        token: &str,
        key: &str,
        body: &Value,
    ) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .header("idempotency-key", key)
            .json(body)
            .send()
            .await
            .expect("sent")
    }

    /// The chat ids (as strings) of the chat list of `linker`'s first account.
    pub(crate) async fn listed_chat_ids(&self, linker: &Linker) -> Vec<String> {
        let chats = self
            .get_json(
                &format!("/me/chats/{}/1?limit=100", linker.user_id),
                &linker.token,
            )
            .await;
        chats["chats"]
            .as_array()
            .expect("chats")
            .iter()
            .filter_map(|chat| chat["chat_id"].as_str().map(str::to_owned))
            .collect()
    }

    /// The records of `user_id`'s audit log that `query` (`?action=...`) selects.
    pub(crate) async fn audit_log(&self, user_id: &str, token: &str, query: &str) -> Vec<Value> {
        let page = self
            .get_json(&format!("/me/audit/{user_id}{query}"), token)
            .await;
        page["records"].as_array().expect("records").clone()
    }

    /// Waits (records are written in batches; ten seconds at most) until `user_id`'s
    /// audit log under `query` has a record of each `(action, status)` of `expected`;
    /// the records it then has.
    pub(crate) async fn wait_for_audit(
        &self,
        user_id: &str,
        token: &str,
        query: &str,
        expected: &[(&str, u16)],
    ) -> Vec<Audited> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let recorded: Vec<Audited> = self
                .audit_log(user_id, token, query)
                .await
                .iter()
                .map(|record| Audited {
                    action: record["action"].as_str().unwrap_or_default().to_owned(),
                    outcome: record["outcome"].as_str().unwrap_or_default().to_owned(),
                    status: record["status"]
                        .as_u64()
                        .and_then(|status| u16::try_from(status).ok())
                        .unwrap_or_default(),
                })
                .collect();
            let missing: Vec<_> = expected
                .iter()
                .filter(|(action, status)| {
                    !recorded
                        .iter()
                        .any(|record| record.action == *action && record.status == *status)
                })
                .collect();
            if missing.is_empty() {
                return recorded;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{missing:?} not in the audit log: {recorded:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Alice {
    /// A WebSocket of Alice's account.
    pub(crate) async fn socket(&self, app: &TestApp) -> Socket {
        connect_with_token(
            &app.address,
            &format!("/ws/{}/1", self.linker.user_id),
            &self.linker.token,
        )
        .await
    }

    /// Creates a group of `kind` titled `title` with `members` (ids, `@usernames` or
    /// `+phones`) through Alice's account; its chat id.
    pub(crate) async fn created_group(
        &self,
        app: &TestApp,
        kind: &str,
        title: &str,
        members: Value,
    ) -> i64 {
        let response = app
            .post_with_token(
                &format!("/me/create_group/{}/1", self.linker.user_id),
                &self.linker.token,
                &json!({"title": title, "kind": kind, "members": members}),
            )
            .await;
        let status = response.status();
        let created: Value = response.json().await.expect("json");
        assert_eq!(status, 201, "{created}");
        chat_id_of(&created)
    }
}

/// A POST on its way: see [`Replicas::keyed_poster`].
pub(crate) type PendingPost<'a> =
    Pin<Box<dyn Future<Output = reqwest::Result<reqwest::Response>> + Send + 'a>>;

impl Replicas {
    /// Posts of the user holding `token` through the gateway, each with an idempotency
    /// key and sent once: `post(path, key, body)`.
    pub(crate) fn keyed_poster<'a>(
        &'a self,
        token: &'a str,
    ) -> impl Fn(String, &str, Value) -> PendingPost<'a> + 'a {
        move |path, key, body| {
            Box::pin(
                self.client
                    .post(self.url(&path))
                    .bearer_auth(token)
                    .header("idempotency-key", key)
                    .json(&body)
                    .send(),
            )
        }
    }
}
