//! Chat-service replicas as separate processes against the real PostgreSQL and RabbitMQ,
//! with Telegram (the sandbox) in the test process: sends survive a SIGKILL exactly once
//! and in order, and a dead replica's accounts move to the living one.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use talkapp_tg_sandbox::{Peer, Sandbox, SandboxHandle, World};
use tokio::process::Child;

use crate::helpers::{
    PASSWORD, SIGNING_SECRET, TcpProxy, TestDatabase, free_port, spawn_process, temp_dir,
    wait_until_healthy,
};
use crate::support::{SplitSetUp, bob_writes_steadily};

fn amqp_url() -> String {
    std::env::var("TALKAPP_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

fn redis_url() -> String {
    std::env::var("TALKAPP_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A gateway and chat-service replicas, each its own process.
pub(crate) struct Replicas {
    pub(crate) environment: HashMap<String, String>,
    processes: HashMap<String, Child>,
    pub(crate) chat_ports: HashMap<String, u16>,
    realtime_port: u16,
    search_port: u16,
    media_port: u16,
    /// The gateway requests go to.
    pub(crate) gateway_url: String,
    pub(crate) client: reqwest::Client,
}

impl Replicas {
    /// The environment every process shares: the database, the broker (queues of a
    /// prefix of their own), the sandbox outside.
    pub(crate) fn new(
        database_url: &str,
        sandbox: &SandboxHandle,
        admin: std::net::SocketAddr,
    ) -> Self {
        let data_dir = temp_dir("talkapp-replicas");
        let media_port = free_port();
        let environment: HashMap<String, String> = HashMap::from([
            // Where the media service listens when a test starts one (`start_media`).
            (
                "TALKAPP_SENDS__MEDIA_SERVICE_URL".into(),
                format!("http://127.0.0.1:{media_port}"),
            ),
            (
                "TALKAPP_GATEWAY__MEDIA_SERVICE_URL".into(),
                format!("http://127.0.0.1:{media_port}"),
            ),
            ("TALKAPP_DATABASE__URL".into(), database_url.into()),
            ("TALKAPP_AMQP__URL".into(), amqp_url()),
            (
                "TALKAPP_AMQP__PREFIX".into(),
                format!("talkapp-it-{}", uuid::Uuid::new_v4().simple()),
            ),
            // The broker deletes this deployment's queues once the test is over.
            ("TALKAPP_AMQP__QUEUE_EXPIRES_SECS".into(), "30".into()),
            // The realtime service's event log and the gateway's tickets in Redis, under
            // keys of this deployment's own.
            ("TALKAPP_REDIS__URL".into(), redis_url()),
            (
                "TALKAPP_REDIS__PREFIX".into(),
                format!("talkapp-it-{}", uuid::Uuid::new_v4().simple()),
            ),
            ("TALKAPP_AUTH__SIGNING_SECRET".into(), SIGNING_SECRET.into()),
            (
                "TALKAPP_TELEGRAM__SESSION_KEY".into(),
                // base64 of 32 bytes: every replica opens every sealed session.
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into(),
            ),
            (
                "TALKAPP_TELEGRAM__SANDBOX_ADDRESS".into(),
                sandbox.addr().to_string(),
            ),
            (
                "TALKAPP_TELEGRAM__SANDBOX_ADMIN_URL".into(),
                format!("http://{admin}"),
            ),
            ("TALKAPP_TELEGRAM__KEEPALIVE_SECS".into(), "2".into()),
            ("TALKAPP_DATA__DIR".into(), data_dir.display().to_string()),
            ("TALKAPP_PROBES__INTERVAL_MS".into(), "250".into()),
            ("TALKAPP_GATEWAY__WORKERS".into(), "1".into()),
            ("TALKAPP_RATE_LIMIT__ENABLED".into(), "false".into()),
            (
                "TALKAPP_LOG__FILTER".into(),
                std::env::var("TEST_LOG").unwrap_or_else(|_| "error".into()),
            ),
        ]);
        Self {
            environment,
            processes: HashMap::new(),
            chat_ports: HashMap::new(),
            realtime_port: free_port(),
            search_port: free_port(),
            media_port,
            gateway_url: String::new(),
            client: reqwest::Client::new(),
        }
    }

    fn spawn(&mut self, name: &str, role: &str, extra: &[(String, String)]) {
        let environment = self
            .environment
            .iter()
            .chain(extra.iter().map(|(key, value)| (key, value)));
        let child = spawn_process(role, environment);
        self.processes.insert(name.to_owned(), child);
    }

    /// Starts chat-service replica `name` (again on its old port when restarted).
    pub(crate) fn start_chat(&mut self, name: &str) {
        let port = *self
            .chat_ports
            .entry(name.to_owned())
            .or_insert_with(free_port);
        self.spawn(
            name,
            "chat-service",
            &[(
                "TALKAPP_CHAT_SERVICE__LISTEN".into(),
                format!("127.0.0.1:{port}"),
            )],
        );
    }

    /// Starts the media service (local storage under the shared data directory).
    pub(crate) fn start_media(&mut self) {
        let port = self.media_port;
        self.spawn(
            "media",
            "media-service",
            &[(
                "TALKAPP_MEDIA_SERVICE__LISTEN".into(),
                format!("127.0.0.1:{port}"),
            )],
        );
    }

    /// Uploads `bytes` as `token`'s user; the upload's reply.
    pub(crate) async fn upload(&self, token: &str, name: &str, bytes: &[u8]) -> Value {
        self.until_answered(201, "upload refused", || {
            self.client
                .post(self.url(&format!("/upload?filename={name}")))
                .bearer_auth(token)
                .body(bytes.to_vec())
        })
        .await
    }

    /// Sends what `request` builds until it is answered `status` (30 s at most; the
    /// failure says `what`); the answer's JSON.
    async fn until_answered(
        &self,
        status: u16,
        what: &str,
        request: impl Fn() -> reqwest::RequestBuilder,
    ) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let response = request().send().await.expect("sent");
            if response.status() == status {
                return response.json().await.expect("json");
            }
            assert!(Instant::now() < deadline, "{what}: {}", response.status());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Starts the realtime service (again on its old port when restarted).
    pub(crate) fn start_realtime(&mut self) {
        let port = self.realtime_port;
        self.spawn(
            "realtime",
            "realtime-service",
            &[(
                "TALKAPP_REALTIME_SERVICE__LISTEN".into(),
                format!("127.0.0.1:{port}"),
            )],
        );
    }

    /// Starts the search service (again on its old port when restarted); Telegram's own
    /// search and the contact list go to the first chat replica started (any replica
    /// passes them to the account's host).
    pub(crate) fn start_search(&mut self) {
        let port = self.search_port;
        let mut env = vec![(
            "TALKAPP_SEARCH_SERVICE__LISTEN".into(),
            format!("127.0.0.1:{port}"),
        )];
        if let Some(chat_port) = self.chat_ports.values().min() {
            env.push((
                "TALKAPP_SEARCH__CHAT_SERVICE_URL".into(),
                format!("http://127.0.0.1:{chat_port}"),
            ));
        }
        self.spawn("search", "search-service", &env);
    }

    /// Starts the search service asking chat replica `chat` for Telegram's search.
    pub(crate) fn start_search_towards(&mut self, chat: &str) {
        let env = [
            (
                "TALKAPP_SEARCH_SERVICE__LISTEN".into(),
                format!("127.0.0.1:{}", self.search_port),
            ),
            (
                "TALKAPP_SEARCH__CHAT_SERVICE_URL".into(),
                format!("http://127.0.0.1:{}", self.chat_ports[chat]),
            ),
        ];
        self.spawn("search", "search-service", &env);
    }

    /// Starts the gateway in front of replica `chat`.
    pub(crate) fn start_gateway(&mut self, chat: &str) {
        self.gateway_url = self.start_gateway_named("gateway", chat);
    }

    /// Starts gateway process `name` in front of replica `chat`; returns its URL.
    pub(crate) fn start_gateway_named(&mut self, name: &str, chat: &str) -> String {
        let port = free_port();
        let chat_port = self.chat_ports[chat];
        self.spawn(
            name,
            "gateway",
            &[
                (
                    "TALKAPP_GATEWAY__LISTEN".into(),
                    format!("127.0.0.1:{port}"),
                ),
                (
                    "TALKAPP_GATEWAY__CHAT_SERVICE_URL".into(),
                    format!("http://127.0.0.1:{chat_port}"),
                ),
                (
                    "TALKAPP_GATEWAY__REALTIME_SERVICE_URL".into(),
                    format!("http://127.0.0.1:{}", self.realtime_port),
                ),
                (
                    "TALKAPP_GATEWAY__SEARCH_SERVICE_URL".into(),
                    format!("http://127.0.0.1:{}", self.search_port),
                ),
            ],
        );
        format!("http://127.0.0.1:{port}")
    }

    /// Kills chat replica `chat` (SIGKILL) once `delivered()` reaches `at_least` (a
    /// minute at most), and starts it again; how many were delivered at the kill, fewer
    /// than `total` (the kill came in the middle of sending).
    pub(crate) async fn kill_chat_while_sending(
        &mut self,
        chat: &str,
        at_least: usize,
        total: usize,
        delivered: impl Fn() -> usize,
    ) -> usize {
        let deadline = Instant::now() + Duration::from_secs(60);
        while delivered() < at_least {
            assert!(Instant::now() < deadline, "sending never started");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.kill(chat).await;
        let at_kill = delivered();
        assert!(at_kill < total, "the kill came after everything was sent");
        self.start_chat(chat);
        at_kill
    }

    /// SIGKILL: no goodbye, no drain.
    pub(crate) async fn kill(&mut self, name: &str) {
        let mut child = self.processes.remove(name).expect("running");
        child.kill().await.expect("killed");
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway_url)
    }

    pub(crate) async fn wait_until_serving(&self) {
        wait_until_healthy(&self.client, &self.gateway_url).await;
    }

    /// Registers a user and signs in: (user id, token).
    pub(crate) async fn user(&self, email: &str) -> (String, String) {
        let registered = self
            .client
            .post(self.url("/auth/register"))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .expect("sent");
        assert_eq!(registered.status(), 201);
        let login: Value = self
            .client
            .post(self.url("/auth/login"))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("json");
        (
            login["user"]["id"].as_str().expect("id").to_owned(),
            login["access_token"].as_str().expect("token").to_owned(),
        )
    }

    /// One POST, not retried (a 503 is the answer).
    pub(crate) async fn client_post(
        &self,
        path: &str,
        token: &str,
        body: &Value,
    ) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("sent")
    }

    pub(crate) async fn post(&self, path: &str, token: &str, body: &Value) -> reqwest::Response {
        // Retried while the chat service behind the gateway is (re)starting.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let response = self
                .client
                .post(self.url(path))
                .bearer_auth(token)
                .json(body)
                .send()
                .await
                .expect("sent");
            if response.status() != 503 || Instant::now() > deadline {
                return response;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub(crate) async fn get(&self, path: &str, token: &str) -> Value {
        self.until_answered(200, &format!("GET {path}"), || {
            self.client.get(self.url(path)).bearer_auth(token)
        })
        .await
    }

    /// Links the sandbox account of `phone` (no 2FA) for `user`.
    pub(crate) async fn link(&self, user: &(String, String), phone: &str) -> u64 {
        let (user_id, token) = user;
        let started: Value = self
            .post(
                &format!("/me/sessions/{user_id}"),
                token,
                &json!({"phone": phone}),
            )
            .await
            .json()
            .await
            .expect("json");
        let login_id = started["login_id"].as_str().expect("login id");
        let digit = &phone[phone.len() - 5..phone.len() - 4];
        let response = self
            .post(
                &format!("/me/sessions/{user_id}/login/{login_id}/code"),
                token,
                &json!({"code": digit.repeat(5)}),
            )
            .await;
        assert_eq!(response.status(), 201, "linked {phone}");
        let session: Value = response.json().await.expect("json");
        session["session_index"].as_u64().expect("index")
    }

    /// Waits until the account's chat list is cached (its host connected it).
    pub(crate) async fn wait_for_chats(&self, user: &(String, String), index: u64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let chats = self
                .get(&format!("/me/chats/{}/{index}", user.0), &user.1)
                .await;
            if chats["chats"]
                .as_array()
                .is_some_and(|chats| !chats.is_empty())
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "chats of {} never cached",
                user.0
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Split mode as most split-mode tests want it: two chat-service replicas on a fresh
/// PostgreSQL database, a gateway that calls replica a, and a user whose account replica
/// b hosts (the first `{prefix}-{n}@example.com` whose shard b holds), linked to the
/// sandbox's `+9996620001` with its chat list cached.
pub(crate) struct OnReplicaB {
    pub(crate) database: TestDatabase,
    pub(crate) sandbox: SandboxHandle,
    pub(crate) replicas: Replicas,
    /// (user id, access token).
    pub(crate) user: (String, String),
    pub(crate) index: u64,
}

pub(crate) async fn user_on_replica_b(prefix: &str) -> OnReplicaB {
    let SplitSetUp {
        database,
        sandbox,
        mut replicas,
        ..
    } = SplitSetUp::new().await;
    let database = database.expect("a database of its own");
    let database_url = database.url_via("127.0.0.1:5432");
    replicas.start_chat("chat-a");
    replicas.start_chat("chat-b");
    replicas.start_gateway("chat-a");
    replicas.wait_until_serving().await;
    let host_b = format!("http://127.0.0.1:{}", replicas.chat_ports["chat-b"]);
    let owners = shards_shared(
        &database_url,
        &format!("http://127.0.0.1:{}", replicas.chat_ports["chat-a"]),
    )
    .await;
    let mut attempt = 0;
    let user = loop {
        let user = replicas
            .user(&format!("{prefix}-{attempt}@example.com"))
            .await;
        if owners[&shard_of(&user.0, 1)] == host_b {
            break user;
        }
        attempt += 1;
        assert!(attempt < 60, "no user landed on replica b");
    };
    let index = replicas.link(&user, "+9996620001").await;
    replicas.wait_for_chats(&user, index).await;
    OnReplicaB {
        database,
        sandbox,
        replicas,
        user,
        index,
    }
}

pub(crate) async fn sandbox_with_admin() -> (SandboxHandle, std::net::SocketAddr) {
    let sandbox = Sandbox::start(World::demo().expect("demo world"))
        .await
        .expect("sandbox starts");
    let admin = sandbox
        .serve_admin("127.0.0.1:0".parse().expect("address"))
        .await
        .expect("admin api");
    (sandbox, admin)
}

/// Sends `fault 000`, `fault 001`, ... to `bob` (`count` of them, client message ids
/// `{key}-{n}`), each retried while the gateway answers 503 and then accepted (202);
/// their jobs' ids, in order.
async fn fault_sends_accepted(
    replicas: &Replicas,
    user: &(String, String),
    index: u64,
    bob: i64,
    count: usize,
    key: &str,
) -> Vec<String> {
    let mut jobs = Vec::with_capacity(count);
    for n in 0..count {
        let response = replicas
            .post(
                &format!("/me/send_message/{}/{index}", user.0),
                &user.1,
                &json!({
                    "chat_id": bob,
                    "text": format!("fault {n:03}"),
                    "client_message_id": format!("{key}-{n}"),
                }),
            )
            .await;
        assert_eq!(response.status(), 202, "send {n} accepted");
        let job: Value = response.json().await.expect("json");
        jobs.push(job["job_id"].as_str().expect("job id").to_owned());
    }
    jobs
}

pub(crate) fn fault_texts_at_bob(sandbox: &SandboxHandle, alice: i64, bob: i64) -> Vec<String> {
    texts_at_bob(sandbox, alice, bob, "fault ")
}

/// The texts Bob has from Alice that start with `prefix`, in the order Telegram took them.
fn texts_at_bob(sandbox: &SandboxHandle, alice: i64, bob: i64, prefix: &str) -> Vec<String> {
    sandbox.world(|world| {
        let mut ids = world.message_ids(bob, Peer::User(alice));
        ids.sort_unstable();
        ids.iter()
            .filter_map(|id| world.message_text(bob, Peer::User(alice), *id))
            .filter(|text| text.starts_with(prefix))
            .map(str::to_owned)
            .collect()
    })
}

/// A send job's row as the store holds it: (status, attempts, announced by the relay).
async fn job_row(database_url: &str, job_id: &str) -> (String, i32, bool) {
    let (client, connection) = tokio_postgres::connect(database_url, tokio_postgres::NoTls)
        .await
        .expect("postgres");
    tokio::spawn(connection);
    let job_id = uuid::Uuid::parse_str(job_id).expect("uuid");
    let row = client
        .query_one(
            "SELECT status, attempts, published_at IS NOT NULL FROM send_jobs WHERE job_id = $1",
            &[&job_id],
        )
        .await
        .expect("the job's row");
    (row.get(0), row.get(1), row.get(2))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_sends_survive_a_sigkill_of_the_chat_service_exactly_once_and_in_order() {
    let mut split = SplitSetUp::new().await;
    let (user, index) = split.alice_on_chat_a(false, "fault@example.com").await;
    let (sandbox, replicas, alice, bob) = split.parts();

    // Telegram makes Alice wait: every send queues up behind the first.
    sandbox.set_flood_wait(alice, Some(2));
    const SENDS: usize = 300;
    let jobs = fault_sends_accepted(replicas, &user, index, bob, SENDS, "fault").await;
    sandbox.set_flood_wait(alice, None);

    // Kill the chat service in the middle of sending.
    let at_kill = replicas
        .kill_chat_while_sending("chat-a", 30, SENDS, || {
            fault_texts_at_bob(sandbox, alice, bob).len()
        })
        .await;
    replicas
        .wait_until_sent(&user, index, &jobs[SENDS - 1], 120)
        .await;

    let delivered = fault_texts_at_bob(sandbox, alice, bob);
    let expected: Vec<String> = (0..SENDS).map(|n| format!("fault {n:03}")).collect();
    assert_eq!(
        delivered, expected,
        "every send exactly once, in the order asked (killed after {at_kill})"
    );
    for job in &jobs {
        let status = replicas
            .get(
                &format!("/me/message_status/{}/{index}/{job}", user.0),
                &user.1,
            )
            .await;
        assert_eq!(status["status"], "sent", "{status}");
    }
    split.finish().await;
}

/// ADR 0060's window: a job accepted by the replica that consumes its shard is handed to
/// the account's worker in memory, with no announcement on the broker; the process dies
/// before the worker sent it. The next start (the pending scan when the account
/// connects, the relay's re-announcement and overdue check) sends it, once. Each of the
/// three covers it alone, and with none of them the test fails (checked by switching them
/// off locally).
///
/// The window is held open deterministically: Telegram makes Alice wait 60 s, so the
/// worker pauses on the first job (tried once, back to `queued`), and the second job,
/// accepted meanwhile, waits in the worker's hand-off (never claimed, never announced)
/// when the replica is SIGKILLed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_handed_to_its_worker_in_memory_is_sent_once_after_a_sigkill() {
    let mut split = SplitSetUp::new().await;
    let database_url = split.database_url();
    // One replica: it consumes every shard, so every job it accepts goes to the worker
    // in memory (ADR 0060).
    let (user, index) = split.alice_on_chat_a(false, "in-memory@example.com").await;
    let (sandbox, replicas, alice, bob) = split.parts();

    sandbox.set_flood_wait(alice, Some(60));
    let first = fault_sends_accepted_as(replicas, &user, index, bob, "held 0", "held-0").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, attempts, _) = job_row(&database_url, &first).await;
        if status == "queued" && attempts >= 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the first job was never tried");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let second = fault_sends_accepted_as(replicas, &user, index, bob, "held 1", "held-1").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        job_row(&database_url, &second).await,
        ("queued".to_owned(), 0, false),
        "the second job waits in the worker's hand-off: not tried, not announced"
    );

    replicas.kill("chat-a").await;
    sandbox.set_flood_wait(alice, None);
    replicas.start_chat("chat-a");

    for job in [&first, &second] {
        replicas.wait_until_sent(&user, index, job, 60).await;
    }
    assert_eq!(
        texts_at_bob(sandbox, alice, bob, "held "),
        ["held 0", "held 1"],
        "each job once, in the order asked"
    );
    split.finish().await;
}

/// The chat list and the history pages the cache covers are read by the gateway from the
/// store (ADR 0073): with the chat service killed they are still served, the same as
/// before; what only the chat service answers (a chat's details) is 503 at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chat_list_and_cached_history_are_served_with_the_chat_service_away() {
    let mut split = SplitSetUp::new().await;
    let (user, index) = split.alice_on_chat_a(false, "reads-away@example.com").await;
    let (_, replicas, _, bob) = split.parts();
    let (user_id, token) = &user;
    let list = format!("/me/chats/{user_id}/{index}");
    let history = format!("/me/chat/messages/{user_id}/{index}/{bob}?limit=2");
    // The backfill caches the chats before their messages: wait for Bob's.
    let deadline = Instant::now() + Duration::from_secs(30);
    let history_before = loop {
        let page = replicas.get(&history, token).await;
        if page["messages"]
            .as_array()
            .is_some_and(|messages| !messages.is_empty())
        {
            break page;
        }
        assert!(Instant::now() < deadline, "Bob's chat never cached: {page}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    replicas.kill("chat-a").await;
    let client = reqwest::Client::new();
    let read = |path: String| {
        let client = client.clone();
        let url = replicas.url(&path);
        async move {
            let response = client
                .get(url)
                .bearer_auth(token)
                .timeout(Duration::from_secs(10))
                .send()
                .await
                .expect("answered");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.expect("json"))
        }
    };
    let ids = |page: &Value| -> Vec<i64> {
        page["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|message| message["id"].as_i64().expect("id"))
            .collect()
    };
    let (status, chats) = read(list).await;
    assert_eq!(status, 200, "{chats}");
    assert!(
        chats["chats"]
            .as_array()
            .expect("chats")
            .iter()
            .any(|chat| chat["chat_id"].as_str().and_then(|id| id.parse().ok()) == Some(bob)),
        "{chats}"
    );
    let (status, page) = read(history).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(ids(&page), ids(&history_before));
    let (status, details) = read(format!("/me/chat/{user_id}/{index}/{bob}")).await;
    assert_eq!(status, 503, "{details}");
    split.finish().await;
}

/// Sends `text` from `user`'s account `index` to `bob` with client message id `key`,
/// retried while the gateway answers 503; the job's id once accepted (202).
async fn fault_sends_accepted_as(
    replicas: &Replicas,
    user: &(String, String),
    index: u64,
    bob: i64,
    text: &str,
    key: &str,
) -> String {
    let response = replicas
        .post(
            &format!("/me/send_message/{}/{index}", user.0),
            &user.1,
            &json!({"chat_id": bob, "text": text, "client_message_id": key}),
        )
        .await;
    assert_eq!(response.status(), 202, "{text} accepted");
    let job: Value = response.json().await.expect("json");
    job["job_id"].as_str().expect("job id").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_accepted_while_the_broker_is_away_are_delivered_once_it_is_back() {
    let mut split = SplitSetUp::new().await;
    let broker_target = amqp_url()
        .split_once('@')
        .and_then(|(_, rest)| rest.split_once('/'))
        .map_or_else(|| "127.0.0.1:5672".to_owned(), |(host, _)| host.to_owned());
    let broker = TcpProxy::start(&broker_target).await;
    split.set(&[(
        "TALKAPP_AMQP__URL",
        &format!("amqp://guest:guest@{}/%2f", broker.address()),
    )]);
    let (user, index) = split
        .alice_on_chat_a(false, "broker-away@example.com")
        .await;
    let (sandbox, replicas, alice, bob) = split.parts();

    // The broker goes away: the sends are still accepted (the store holds them).
    broker.cut();
    const SENDS: usize = 20;
    let jobs = fault_sends_accepted(replicas, &user, index, bob, SENDS, "away").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    broker.restore().await;

    // Once it is back, the relay announces them and every one goes out, once, in order.
    replicas
        .wait_until_sent(&user, index, &jobs[SENDS - 1], 90)
        .await;
    let expected: Vec<String> = (0..SENDS).map(|n| format!("fault {n:03}")).collect();
    assert_eq!(fault_texts_at_bob(sandbox, alice, bob), expected);
    split.finish().await;
}

/// Reads which replica (by address) holds each shard.
async fn shard_owners(database_url: &str) -> HashMap<i16, String> {
    let (client, connection) = tokio_postgres::connect(database_url, tokio_postgres::NoTls)
        .await
        .expect("postgres");
    tokio::spawn(connection);
    client
        .query("SELECT shard, address FROM shard_owners", &[])
        .await
        .map(|rows| rows.iter().map(|row| (row.get(0), row.get(1))).collect())
        .unwrap_or_default()
}

pub(crate) fn shard_of(user_id: &str, index: u64) -> i16 {
    let user = uuid::Uuid::parse_str(user_id).expect("uuid");
    i16::try_from(talkapp_store::shard_of(
        user,
        u32::try_from(index).expect("small"),
    ))
    .expect("shard")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_replicas_accounts_move_to_the_living_one_within_ten_seconds() {
    let mut split = SplitSetUp::new().await;
    let database_url = split.database_url();
    let replicas = &mut split.replicas;
    replicas.start_chat("chat-a");
    replicas.start_chat("chat-b");
    replicas.start_gateway("chat-a");
    replicas.wait_until_serving().await;
    let address_of =
        |name: &str, replicas: &Replicas| format!("http://127.0.0.1:{}", replicas.chat_ports[name]);

    // Both replicas take a share of the shards.
    let owners = shards_shared(&database_url, &address_of("chat-a", replicas)).await;

    // Accounts of several users, until at least one lives on each replica.
    let phones = [
        "+9996620001",
        "+9996620003",
        "+9996620004",
        "+9996620005",
        "+9996620006",
        "+9996620007",
        "+9996620008",
        "+9996620009",
    ];
    let mut linked: Vec<((String, String), u64, String)> = Vec::new();
    for (n, phone) in phones.iter().enumerate() {
        // Half the accounts on each replica: a user's first account (index 1) lives on
        // the shard its id hashes to, so users are registered until one falls right.
        let wanted = address_of(if n % 2 == 0 { "chat-a" } else { "chat-b" }, replicas);
        let mut attempt = 0;
        let user = loop {
            let user = replicas
                .user(&format!("replica{n}-{attempt}@example.com"))
                .await;
            if owners[&shard_of(&user.0, 1)] == wanted || attempt == 40 {
                break user;
            }
            attempt += 1;
        };
        let index = replicas.link(&user, phone).await;
        let host = owners[&shard_of(&user.0, index)].clone();
        linked.push((user, index, host));
    }
    let on_b: Vec<&((String, String), u64, String)> = linked
        .iter()
        .filter(|(_, _, host)| *host == address_of("chat-b", replicas))
        .collect();
    assert!(!on_b.is_empty(), "no account landed on replica b");
    assert!(on_b.len() < linked.len(), "no account landed on replica a");
    for (user, index, _) in &linked {
        replicas.wait_for_chats(user, *index).await;
    }

    replicas.kill("chat-b").await;
    let killed_at = Instant::now();
    loop {
        let owners = shard_owners(&database_url).await;
        if owners.len() == 64
            && owners
                .values()
                .all(|address| *address == address_of("chat-a", replicas))
        {
            break;
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(10),
            "shards not taken over within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let moved_after = killed_at.elapsed();

    // The moved accounts work again: a send through each is delivered.
    for (user, index, _) in on_b {
        let (user_id, token) = user;
        // Every account of these is in the demo's supergroup.
        let groups: Value = replicas
            .get(
                &format!("/me/chats/{user_id}/{index}?type=supergroup"),
                token,
            )
            .await;
        let chat_id = groups["chats"][0]["chat_id"]
            .as_str()
            .expect("a supergroup")
            .to_owned();
        let job: Value = replicas
            .post(
                &format!("/me/send_message/{user_id}/{index}"),
                token,
                &json!({"chat_id": chat_id, "text": "after the move"}),
            )
            .await
            .json()
            .await
            .expect("json");
        let job_id = job["job_id"].as_str().expect("job id");
        replicas.wait_until_sent(user, *index, job_id, 30).await;
    }
    eprintln!("shards moved {moved_after:?} after the kill");
    split.finish().await;
}

/// Waits until both replicas hold a share of the shards; returns the owners.
pub(crate) async fn shards_shared(database_url: &str, address_of_a: &str) -> HashMap<i16, String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let owners = shard_owners(database_url).await;
        let a = owners
            .values()
            .filter(|address| *address == address_of_a)
            .count();
        let b = owners.len() - a;
        if owners.len() == 64 && a >= 16 && b >= 16 {
            return owners;
        }
        assert!(
            Instant::now() < deadline,
            "shards never shared: {a} and {b} of {}",
            owners.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_telegram_search_and_contacts_asked_of_another_replica_are_done_by_the_accounts_host()
{
    let crate::replicas::OnReplicaB {
        database,
        sandbox,
        mut replicas,
        user,
        index,
    } = crate::replicas::user_on_replica_b("media-replica").await;
    let (alice, bob) = crate::support::alice_and_bob(&sandbox);
    let history = replicas
        .get(
            &format!("/me/chat/messages/{}/{index}/{bob}?limit=100", user.0),
            &user.1,
        )
        .await;
    let document = history["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .find(|message| message["media"]["kind"] == "document")
        .expect("the demo's document")
        .clone();
    let message_id = i32::try_from(document["id"].as_i64().expect("id")).expect("i32");
    let expected = sandbox
        .world(|world| world.message_file(alice, Peer::User(bob), message_id))
        .expect("the sandbox holds the file");
    let path = format!(
        "/me/media/{}/{index}/{}",
        user.0,
        document["media"]["file_id"].as_str().expect("file_id")
    );

    let response = replicas
        .client
        .get(replicas.url(&path))
        .bearer_auth(&user.1)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.expect("body").as_ref(), expected);
    let response = replicas
        .client
        .get(replicas.url(&path))
        .bearer_auth(&user.1)
        .header("range", "bytes=3-9")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 206);
    assert_eq!(
        response.bytes().await.expect("body").as_ref(),
        &expected[3..10]
    );
    let response = replicas
        .client
        .get(replicas.url(&format!("/me/media/{}/{index}/m:{bob}:999999", user.0)))
        .bearer_auth(&user.1)
        .send()
        .await
        .expect("sent");
    crate::helpers::assert_problem(response, 404, "not_found").await;

    // Telegram's own search and the contact list, asked of replica a by the search
    // process, are done by the host, b (AccountHost over gRPC).
    replicas.start_search_towards("chat-a");
    replicas.wait_until_serving().await;
    crate::support::old_message_from_bob(&sandbox, alice, bob, "Replikadan eski xabar");
    let search = format!("/me/search/messages/{}/{index}?q=replikadan", user.0);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let reply = replicas.get(&search, &user.1).await;
        if reply["hits"][0]["source"] == "telegram" {
            assert_eq!(reply["hits"][0]["message"]["text"], "Replikadan eski xabar");
            assert_eq!(reply["partial"], false);
            break;
        }
        assert!(Instant::now() < deadline, "never found through b: {reply}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let contacts = replicas
        .get(&format!("/me/contacts/{}/{index}?q=bob", user.0), &user.1)
        .await;
    assert_eq!(contacts["contacts"][0]["first_name"], "Bob", "{contacts}");

    drop(replicas);
    sandbox.shutdown().await;
    database.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connected_client_loses_no_event_when_the_realtime_service_or_the_gateway_dies() {
    use futures::StreamExt as _;

    let mut split = SplitSetUp::new().await;
    let (user, index) = split.alice_on_chat_a(true, "ws-kill@example.com").await;
    let (sandbox, replicas, alice, bob) = split.parts();
    let path = format!("/ws/{}/{index}", user.0);
    let mut socket =
        crate::realtime::connect_with_token(&replicas.gateway_url, &path, &user.1).await;

    // Bob writes steadily while the realtime service is killed and restarted.
    let writer = bob_writes_steadily(sandbox, alice, bob, 30);
    tokio::time::sleep(Duration::from_millis(800)).await;
    replicas.kill("realtime").await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    replicas.start_realtime();

    let mut texts = Vec::new();
    let mut last_id = 0;
    while texts.len() < 30 {
        let event = crate::realtime::next_event(&mut socket, Duration::from_secs(30)).await;
        let id = event["event_id"].as_i64().expect("id");
        assert!(id > last_id, "in order, never twice: {id} after {last_id}");
        last_id = id;
        if event["type"] == "message.new" {
            texts.push(event["data"]["text"].as_str().expect("text").to_owned());
        }
    }
    writer.await.expect("writer");
    let expected: Vec<String> = (0..30).map(|n| format!("steady {n:02}")).collect();
    assert_eq!(texts, expected, "every event exactly once, in order");

    // Now the gateway dies: the client reconnects to its successor with `since`.
    replicas.kill("gateway").await;
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(_)) = socket.next().await {}
    })
    .await;
    assert!(closed.is_ok(), "the socket ends with its gateway");
    for n in 0..5 {
        sandbox
            .send_message(bob, Peer::User(alice), &format!("while away {n}"))
            .expect("bob writes");
    }
    replicas.start_gateway("chat-a");
    replicas.wait_until_serving().await;
    let mut socket = crate::realtime::connect_with_token(
        &replicas.gateway_url,
        &format!("{path}?since={last_id}"),
        &user.1,
    )
    .await;
    let mut away = Vec::new();
    while away.len() < 5 {
        let event = crate::realtime::next_event(&mut socket, Duration::from_secs(30)).await;
        let id = event["event_id"].as_i64().expect("id");
        assert!(id > last_id, "nothing twice across the reconnect");
        last_id = id;
        if event["type"] == "message.new" {
            away.push(event["data"]["text"].as_str().expect("text").to_owned());
        }
    }
    assert_eq!(
        away,
        (0..5)
            .map(|n| format!("while away {n}"))
            .collect::<Vec<_>>()
    );
    split.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_on_one_gateway_closes_the_sessions_sockets_and_links_on_another() {
    let mut split = SplitSetUp::new().await;
    split.replicas.start_chat("chat-a");
    split.replicas.start_realtime();
    split.replicas.start_gateway("chat-a");
    let other_gateway = split.replicas.start_gateway_named("gateway-b", "chat-a");
    let (user, index) = split.alice_linked("signout-replicas@example.com").await;
    let replicas = &split.replicas;
    let client = reqwest::Client::new();
    wait_until_healthy(&client, &other_gateway).await;

    // A socket, a ticket and a media link, all from the other gateway.
    let path = format!("/ws/{}/{index}", user.0);
    let mut socket = crate::realtime::connect_with_token(&other_gateway, &path, &user.1).await;
    let ticket: Value = client
        .post(format!("{other_gateway}/ws/ticket"))
        .bearer_auth(&user.1)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let ticket = ticket["ticket"].as_str().expect("ticket").to_owned();
    let link: Value = client
        .post(format!(
            "{other_gateway}/me/media/{}/{index}/p:1:1/url",
            user.0
        ))
        .bearer_auth(&user.1)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let link = link["url"].as_str().expect("url").to_owned();
    let before = client
        .get(format!("{other_gateway}{link}"))
        .send()
        .await
        .expect("sent");
    assert_ne!(
        before.status(),
        401,
        "the link is accepted before the sign-out"
    );

    // Signed out through the first gateway.
    let logout = client
        .post(replicas.url("/auth/logout"))
        .bearer_auth(&user.1)
        .send()
        .await
        .expect("sent");
    assert_eq!(logout.status(), 204);

    assert_eq!(crate::realtime::close_code(&mut socket).await, 4001);
    let with_ticket = format!(
        "{}{path}?ticket={ticket}",
        other_gateway.replacen("http", "ws", 1)
    );
    assert!(
        tokio_tungstenite::connect_async(with_ticket).await.is_err(),
        "a ticket of an ended session opens nothing"
    );
    let after = client
        .get(format!("{other_gateway}{link}"))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        after.status(),
        401,
        "the link of an ended session is refused"
    );
    split.finish().await;
}
