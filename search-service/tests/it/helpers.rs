//! Fresh, throw-away backends for each test, and the search service on them.
//!
//! PostgreSQL: a new database `talkapp_search_test_<uuid>` on `TALKAPP_TEST_POSTGRES_URL`
//! (default `postgres://postgres@127.0.0.1:5432/postgres`), dropped at the end; with it
//! RabbitMQ (`TALKAPP_TEST_AMQP_URL`) under a fresh queue prefix the broker deletes
//! after the test. SQLite: a new temporary directory (the store's file and the index's),
//! with the in-process bus, removed at the end.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prost::Message as _;
use talkapp_bus::Bus;
use talkapp_bus::amqp::{AmqpOptions, QueueType};
use talkapp_common::config::{Config, ConfigSources};
use talkapp_proto::chat::v1 as chat;
use talkapp_proto::realtime::v1 as realtime;
use talkapp_proto::search::v1 as proto;
use talkapp_proto::search::v1::search_service_client::SearchServiceClient;
use talkapp_proto::tonic::transport::Channel;
use talkapp_search_service::index::SearchIndex;
use talkapp_search_service::index::postgres::PostgresIndex;
use talkapp_search_service::index::sqlite::SqliteIndex;
use talkapp_search_service::remote::TelegramSearch;
use talkapp_store::{
    AccountKey, CachedMessage, ChatProfile, DialogState, LinkStatus, Store, TelegramAccount,
};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Which backends a test runs on.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Backend {
    /// PostgreSQL store and index, RabbitMQ bus (split mode).
    Postgres,
    /// SQLite store and index, in-process bus (the embedded default).
    Sqlite,
}

fn postgres_admin_url() -> String {
    std::env::var("TALKAPP_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn amqp_url() -> String {
    std::env::var("TALKAPP_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// A test's databases: where they are and how to get rid of them.
pub(crate) struct TestPlace {
    pub(crate) backend: Backend,
    /// `database.url` for the store (and, for PostgreSQL, the index).
    pub(crate) database_url: String,
    /// The data directory (the SQLite files).
    pub(crate) data_dir: PathBuf,
    postgres_name: Option<String>,
}

impl TestPlace {
    pub(crate) async fn create(backend: Backend) -> Self {
        let data_dir =
            std::env::temp_dir().join(format!("talkapp-search-test-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&data_dir).expect("temp dir");
        match backend {
            Backend::Sqlite => Self {
                backend,
                database_url: format!("sqlite://{}/talkapp.db", data_dir.display()),
                data_dir,
                postgres_name: None,
            },
            Backend::Postgres => {
                let name = format!("talkapp_search_test_{}", Uuid::new_v4().simple());
                let (client, connection) =
                    tokio_postgres::connect(&postgres_admin_url(), tokio_postgres::NoTls)
                        .await
                        .expect("postgres is reachable (start it: see .ci/run)");
                tokio::spawn(connection);
                client
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("database created");
                let admin: tokio_postgres::Config =
                    postgres_admin_url().parse().expect("admin url");
                let host = match admin.get_hosts().first() {
                    Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
                    _ => "127.0.0.1".to_owned(),
                };
                let port = admin.get_ports().first().copied().unwrap_or(5432);
                Self {
                    backend,
                    database_url: format!("postgres://postgres@{host}:{port}/{name}"),
                    data_dir,
                    postgres_name: Some(name),
                }
            }
        }
    }

    /// A new index on this place's database (each call opens another on the same data).
    pub(crate) async fn open_index(&self) -> Arc<dyn SearchIndex> {
        match self.backend {
            Backend::Sqlite => Arc::new(
                SqliteIndex::open(&self.data_dir.join("search.sqlite"))
                    .await
                    .expect("open the SQLite index"),
            ),
            Backend::Postgres => Arc::new(
                PostgresIndex::connect(
                    &self.database_url,
                    4,
                    Duration::from_secs(5),
                    Duration::from_secs(5),
                )
                .await
                .expect("connect the PostgreSQL index"),
            ),
        }
    }

    pub(crate) fn config(&self) -> Config {
        Config::load(&ConfigSources {
            file: None,
            overrides: vec![
                ("database.url".into(), self.database_url.clone()),
                ("data.dir".into(), self.data_dir.display().to_string()),
                ("probes.interval_ms".into(), "200".into()),
            ],
            read_environment: false,
        })
        .expect("test config is valid")
    }

    pub(crate) fn bus(&self) -> Bus {
        match self.backend {
            Backend::Sqlite => Bus::new(None),
            Backend::Postgres => Bus::new(Some(AmqpOptions {
                url: amqp_url(),
                prefix: format!("talkapp-search-test-{}", Uuid::new_v4().simple()),
                queue_type: QueueType::Classic,
                // The broker deletes this test's queues once it is over.
                queue_expires: Some(Duration::from_secs(30)),
                ..AmqpOptions::default()
            })),
        }
    }

    pub(crate) async fn remove(self) {
        if let Some(name) = self.postgres_name
            && let Ok((client, connection)) =
                tokio_postgres::connect(&postgres_admin_url(), tokio_postgres::NoTls).await
        {
            tokio::spawn(connection);
            let _ = client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// Runs `body` on a fresh place of `backend`, removing it afterwards even when the body
/// panicked (the panic is then raised again).
pub(crate) async fn with_place<F, Fut>(backend: Backend, body: F)
where
    F: FnOnce(Arc<TestPlace>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let place = Arc::new(TestPlace::create(backend).await);
    let outcome = tokio::spawn(body(Arc::clone(&place))).await;
    if let Ok(place) = Arc::try_unwrap(place) {
        place.remove().await;
    }
    if let Err(error) = outcome {
        std::panic::resume_unwind(error.into_panic());
    }
}

/// The search service running on a test place, and its neighbours' doors: the store
/// (the chat cache it shows hits from) and the bus (where the account hosts publish).
pub(crate) struct SearchApp {
    pub(crate) client: SearchServiceClient<Channel>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) bus: Bus,
    pub(crate) index: Arc<dyn SearchIndex>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl SearchApp {
    pub(crate) async fn spawn(
        place: &TestPlace,
        telegram: Option<Arc<dyn TelegramSearch>>,
    ) -> Self {
        let config = place.config();
        let store = talkapp_store::connect(&config.database)
            .await
            .expect("store opens");
        let bus = place.bus();
        let index = place.open_index().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let app = talkapp_search_service::Application::build_with(
            &config,
            Arc::clone(&store) as Arc<dyn talkapp_store::SearchStore>,
            bus.clone(),
            Arc::clone(&index),
            telegram,
            listener,
        )
        .expect("search service builds");
        let port = app.port();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(app.run_until_stopped(shutdown.clone()));
        let client = SearchServiceClient::connect(format!("http://127.0.0.1:{port}"))
            .await
            .expect("search service answers");
        Self {
            client,
            store,
            bus,
            index,
            shutdown,
            task,
        }
    }

    pub(crate) async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.task.await;
    }

    /// A new TalkApp user with one linked Telegram account.
    pub(crate) async fn linked_account(&self) -> AccountKey {
        let user_id = Uuid::new_v4();
        self.link(user_id).await
    }

    /// Links one more Telegram account to `user_id` (created when new).
    pub(crate) async fn link(&self, user_id: Uuid) -> AccountKey {
        link_account(self.store.as_ref(), user_id).await
    }

    /// What an account's host does for a new message: the cache first, then the event
    /// (returned, to be told again).
    pub(crate) async fn new_message(
        &self,
        key: AccountKey,
        message: &CachedMessage,
    ) -> realtime::Event {
        self.store
            .upsert_messages(key, std::slice::from_ref(message), false)
            .await
            .expect("cached");
        self.publish(key, "message.new", message_payload(message))
            .await
    }

    /// An edit: the cache, then `message.edited`.
    pub(crate) async fn edited_message(
        &self,
        key: AccountKey,
        message: &CachedMessage,
    ) -> realtime::Event {
        self.store
            .upsert_messages(key, std::slice::from_ref(message), false)
            .await
            .expect("cached");
        self.publish(key, "message.edited", message_payload(message))
            .await
    }

    /// A deletion: the cache, then `message.deleted`.
    pub(crate) async fn deleted_messages(
        &self,
        key: AccountKey,
        chat_id: Option<i64>,
        ids: &[i32],
    ) -> realtime::Event {
        self.store
            .delete_messages(key, chat_id, ids)
            .await
            .expect("deleted from the cache");
        self.publish(
            key,
            "message.deleted",
            realtime::event::Payload::Deleted(realtime::MessagesDeleted {
                chat_id: chat_id.map(|id| id.to_string()),
                message_ids: ids.to_vec(),
            }),
        )
        .await
    }

    /// A chat in the account's list (the cache, then `chat.updated`).
    pub(crate) async fn chat(&self, key: AccountKey, chat: ChatProfile, top_date: i64) {
        self.store
            .upsert_dialogs(
                key,
                &[(
                    chat.clone(),
                    DialogState {
                        unread_count: 0,
                        read_inbox_max_id: 0,
                        read_outbox_max_id: 0,
                        top_message_id: 0,
                        top_date,
                        pinned: false,
                        archived: false,
                        muted_until: 0,
                    },
                )],
            )
            .await
            .expect("dialog cached");
        self.publish(
            key,
            "chat.updated",
            realtime::event::Payload::Chat(chat::Chat {
                chat_id: chat.chat_id.to_string(),
                kind: chat.kind,
                title: chat.title,
                username: Some(chat.username).filter(|username| !username.is_empty()),
                last_activity: chrono::DateTime::from_timestamp(top_date, 0)
                    .map(|at| at.to_rfc3339()),
                ..chat::Chat::default()
            }),
        )
        .await;
    }

    /// Publishes an event under the account's next event id, as its host does.
    async fn publish(
        &self,
        key: AccountKey,
        kind: &str,
        payload: realtime::event::Payload,
    ) -> realtime::Event {
        let event_id = self
            .store
            .next_event_ids(key, 1)
            .await
            .expect("event id")
            .expect("a linked account");
        let event = realtime::Event {
            event_id,
            user_id: key.user_id.to_string(),
            session_index: key.session_index,
            r#type: kind.to_owned(),
            at: chrono::Utc::now().to_rfc3339(),
            payload: Some(payload),
        };
        self.tell_again(&event).await;
        event
    }

    /// Publishes `event` as it is (its id too): what a publisher's replay does (ADR 0045).
    pub(crate) async fn tell_again(&self, event: &realtime::Event) {
        self.bus
            .events
            .publish_event(
                &format!("{}.{}.{}", event.user_id, event.session_index, event.r#type),
                &event.encode_to_vec(),
            )
            .await
            .expect("event published");
    }

    /// Searches messages (one account, or all of the user's when `session_index` is None).
    pub(crate) async fn search(
        &self,
        request: proto::SearchMessagesRequest,
    ) -> Result<proto::SearchMessagesResponse, talkapp_proto::tonic::Status> {
        self.client
            .clone()
            .search_messages(request)
            .await
            .map(talkapp_proto::tonic::Response::into_inner)
    }

    /// The ids of the hits of `query` in the account, newest first.
    pub(crate) async fn found_ids(&self, key: AccountKey, query: &str) -> Vec<i32> {
        self.search(request(key, query))
            .await
            .expect("search answers")
            .hits
            .iter()
            .filter_map(|hit| hit.message.as_ref().map(|message| message.id))
            .collect()
    }
}

/// A message search of one account.
pub(crate) fn request(key: AccountKey, query: &str) -> proto::SearchMessagesRequest {
    proto::SearchMessagesRequest {
        user_id: key.user_id.to_string(),
        session_index: Some(key.session_index),
        query: query.to_owned(),
        ..proto::SearchMessagesRequest::default()
    }
}

fn rand_u16() -> u16 {
    let bytes = Uuid::new_v4().into_bytes();
    u16::from_be_bytes([bytes[0], bytes[1]])
}

/// A text message as the cache keeps it.
pub(crate) fn text_message(chat_id: i64, message_id: i32, date: i64, text: &str) -> CachedMessage {
    CachedMessage {
        chat_id,
        message_id,
        date,
        edit_date: None,
        sender_id: Some(777),
        outgoing: false,
        text: text.to_owned(),
        reply_to: None,
        views: None,
        service: None,
        details: "{}".to_owned(),
    }
}

/// The event payload of a cached message (the shape chat-service publishes).
pub(crate) fn message_payload(message: &CachedMessage) -> realtime::event::Payload {
    let details: serde_json::Value = serde_json::from_str(&message.details).unwrap_or_default();
    let media = details.get("media").map(|media| chat::Media {
        kind: media
            .get("kind")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        file_name: media
            .get("file_name")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned),
        ..chat::Media::default()
    });
    let entities = details
        .get("entities")
        .and_then(serde_json::Value::as_array)
        .map(|entities| {
            entities
                .iter()
                .map(|entity| chat::Entity {
                    kind: entity
                        .get("kind")
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    ..chat::Entity::default()
                })
                .collect()
        })
        .unwrap_or_default();
    realtime::event::Payload::Message(chat::Message {
        id: message.message_id,
        chat_id: message.chat_id.to_string(),
        date: chrono::DateTime::from_timestamp(message.date, 0)
            .map(|at| at.to_rfc3339())
            .unwrap_or_default(),
        sender: message.sender_id.map(|id| chat::Sender {
            id: id.to_string(),
            kind: "user".into(),
            ..chat::Sender::default()
        }),
        text: message.text.clone(),
        entities,
        media,
        ..chat::Message::default()
    })
}

/// Links one more Telegram account to `user_id` (created when new) in `store`, as the
/// gateway does: the search service may be running or not.
pub(crate) async fn link_account(store: &dyn Store, user_id: Uuid) -> AccountKey {
    // Refused when the user exists already (a second account): that is the point.
    let _ = store
        .create_user(&talkapp_store::NewUser {
            id: user_id,
            email: format!("{}@example.com", user_id.simple()),
            email_normalized: format!("{}@example.com", user_id.simple()),
            password_hash: "$argon2id$test".into(),
            created_at: talkapp_store::now(),
        })
        .await;
    let linked = store
        .link_telegram_account(
            user_id,
            &TelegramAccount {
                telegram_user_id: i64::from(rand_u16()) + 10_000,
                first_name: "Test".into(),
                last_name: String::new(),
                username: String::new(),
                // Nine random digits: a user's accounts must differ in phone, and two of
                // 65,536 (a u16) once clashed in CI.
                phone: format!("99890{:09}", Uuid::new_v4().as_u128() % 1_000_000_000),
            },
            LinkStatus::Connected,
            b"sealed",
            talkapp_store::now(),
        )
        .await
        .expect("account linked");
    AccountKey {
        user_id,
        session_index: linked.session_index,
    }
}

/// Waits until `check` holds (polling), or fails after `within`.
pub(crate) async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if check().await {
            return started.elapsed();
        }
        assert!(started.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
