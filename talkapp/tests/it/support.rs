//! Set-ups the tests of Telegram actions share (groups, joins, members, pins, message
//! actions, photos, contacts): the sandbox's ids, Alice's socket and groups, posts with
//! an idempotency key (one gateway, or the gateway of split mode), and the audit log
//! read back. And the split-mode tests' set-up ([`SplitSetUp`]: a database, the sandbox,
//! the processes, Alice linked; torn down by [`SplitSetUp::finish`]), Bob writing
//! steadily, and a send awaited until it is sent.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use talkapp_tg_sandbox::{Peer, SandboxHandle};

use crate::chats::Alice;
use crate::helpers::{TestApp, TestDatabase, assert_problem};
use crate::linking::Linker;
use crate::realtime::{Socket, connect_with_token};
use crate::replicas::{Replicas, sandbox_with_admin};

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

/// The sandbox's user ids of Alice (`+9996620001`) and Bob (`+9996620002`) of the demo
/// world.
pub(crate) fn alice_and_bob(sandbox: &SandboxHandle) -> (i64, i64) {
    (
        sandbox_user(sandbox, "9996620001"),
        sandbox_user(sandbox, "9996620002"),
    )
}

/// Bob writes `count` messages `steady 00`, `steady 01`, ... to Alice, one every 100 ms,
/// in the background.
pub(crate) fn bob_writes_steadily(
    sandbox: &SandboxHandle,
    alice: i64,
    bob: i64,
    count: usize,
) -> tokio::task::JoinHandle<()> {
    let sandbox = sandbox.clone();
    tokio::spawn(async move {
        for n in 0..count {
            sandbox
                .send_message(bob, Peer::User(alice), &format!("steady {n:02}"))
                .expect("bob writes");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

/// Puts Bob's message `text` to Alice, dated a day ago, into Telegram with no update
/// telling of it (only Telegram's own search finds it).
pub(crate) fn old_message_from_bob(sandbox: &SandboxHandle, alice: i64, bob: i64, text: &str) {
    let old_date = i32::try_from(chrono::Utc::now().timestamp()).expect("date") - 86_400;
    sandbox.update_world(|world| {
        world
            .send_text_at(bob, Peer::User(alice), text, None, old_date)
            .expect("an old message")
    });
}

/// A split deployment in the making, as the split-mode tests start it: a fresh database
/// on the shared PostgreSQL (or one the test brings), the sandbox outside the processes
/// with its admin API, and [`Replicas`] over them with no process started yet; Alice's
/// and Bob's Telegram ids.
pub(crate) struct SplitSetUp {
    /// `None` when the test brought its own database.
    pub(crate) database: Option<TestDatabase>,
    pub(crate) sandbox: SandboxHandle,
    pub(crate) replicas: Replicas,
    pub(crate) alice: i64,
    pub(crate) bob: i64,
}

impl SplitSetUp {
    /// On a fresh database of the shared PostgreSQL.
    pub(crate) async fn new() -> Self {
        crate::helpers::init_test_tracing();
        let database = TestDatabase::create().await;
        let database_url = database.url_via("127.0.0.1:5432");
        Self::with_database(Some(database), &database_url).await
    }

    /// On the database at `database_url` (a server of the test's own, not dropped).
    pub(crate) async fn on(database_url: &str) -> Self {
        crate::helpers::init_test_tracing();
        Self::with_database(None, database_url).await
    }

    async fn with_database(database: Option<TestDatabase>, database_url: &str) -> Self {
        let (sandbox, admin) = sandbox_with_admin().await;
        let (alice, bob) = alice_and_bob(&sandbox);
        let replicas = Replicas::new(database_url, &sandbox, admin);
        Self {
            database,
            sandbox,
            replicas,
            alice,
            bob,
        }
    }

    /// The URL of the fresh database [`Self::new`] made (a test that brought its own
    /// database knows its URL).
    pub(crate) fn database_url(&self) -> String {
        self.database
            .as_ref()
            .expect("a database of its own")
            .url_via("127.0.0.1:5432")
    }

    /// Sets these variables for every process started from now on.
    pub(crate) fn set(&mut self, variables: &[(&str, &str)]) {
        self.replicas.environment.extend(
            variables
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned())),
        );
    }

    /// Chat-service replica `chat-a`, the realtime service when `realtime`, and the
    /// gateway in front of `chat-a`, serving; then `email` registered with Alice's account
    /// linked and its chat list cached: (user id, token) and the account's index.
    pub(crate) async fn alice_on_chat_a(
        &mut self,
        realtime: bool,
        email: &str,
    ) -> ((String, String), u64) {
        self.replicas.start_chat("chat-a");
        if realtime {
            self.replicas.start_realtime();
        }
        self.replicas.start_gateway("chat-a");
        self.alice_linked(email).await
    }

    /// Once the gateway serves: `email` registered with Alice's account linked and its
    /// chat list cached.
    pub(crate) async fn alice_linked(&self, email: &str) -> ((String, String), u64) {
        self.replicas.wait_until_serving().await;
        let user = self.replicas.user(email).await;
        let index = self.replicas.link(&user, "+9996620001").await;
        self.replicas.wait_for_chats(&user, index).await;
        (user, index)
    }

    /// What a test body works with: the sandbox, the processes, Alice's and Bob's ids.
    pub(crate) fn parts(&mut self) -> (&SandboxHandle, &mut Replicas, i64, i64) {
        (&self.sandbox, &mut self.replicas, self.alice, self.bob)
    }

    /// Stops every process, then the sandbox, and drops the database it created.
    pub(crate) async fn finish(self) {
        drop(self.replicas);
        self.sandbox.shutdown().await;
        if let Some(database) = self.database {
            database.drop_database().await;
        }
    }
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
    /// Waits until `user`'s send `job` on account `index` is `sent` (or fails after
    /// `within_secs`); the last status read.
    pub(crate) async fn wait_until_sent(
        &self,
        user: &(String, String),
        index: u64,
        job: &str,
        within_secs: u64,
    ) -> Value {
        let deadline = Instant::now() + Duration::from_secs(within_secs);
        loop {
            let status = self
                .get(
                    &format!("/me/message_status/{}/{index}/{job}", user.0),
                    &user.1,
                )
                .await;
            if status["status"] == "sent" {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "send {job} not sent within {within_secs} s: {status}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// A WebSocket of `user`'s account `index`, through the gateway.
    pub(crate) async fn socket(&self, user: &(String, String), index: u64) -> Socket {
        connect_with_token(
            &self.gateway_url,
            &format!("/ws/{}/{index}", user.0),
            &user.1,
        )
        .await
    }

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
