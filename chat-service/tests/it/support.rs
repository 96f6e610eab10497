//! A chat service on a fresh store, its sandbox, and a client.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use talkapp_bus::JobQueue;
use talkapp_chat_service::Application;
use talkapp_chat_service::telegram::TelegramSetup;
use talkapp_common::config::{Config, ConfigSources};
use talkapp_proto::chat::v1 as proto;
use talkapp_proto::chat::v1::account_host_client::AccountHostClient;
use talkapp_proto::chat::v1::chat_service_client::ChatServiceClient;
use talkapp_proto::media::v1::media_service_client::MediaServiceClient;
use talkapp_proto::tonic::transport::Channel;
use talkapp_store::AccountKey;
use talkapp_telegram::endpoint::{AuthKeyIssuer, IssueError, Target, TelegramEndpoint};
use talkapp_tg_sandbox::{Sandbox, SandboxHandle, World};
use talkapp_views::cached_reads::{CacheReads, ReadError, chat_to_proto};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The sandbox's login code for every account.
pub(crate) const LOGIN_CODE: &str = "22222";

struct SandboxIssuer(Arc<SandboxHandle>);

#[async_trait]
impl AuthKeyIssuer for SandboxIssuer {
    async fn issue_auth_key(&self) -> Result<[u8; 256], IssueError> {
        Ok(self.0.create_auth_key().await?.auth_key)
    }
}

/// Which store and bus the service runs on.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Backing {
    /// The embedded default: SQLite, the bus in process.
    Embedded,
    /// Split mode: PostgreSQL (a database of the test's own) and RabbitMQ (queues of the
    /// test's own prefix).
    Servers,
}

fn postgres_admin_url() -> String {
    std::env::var("TALKAPP_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A chat service under test.
pub(crate) struct ChatApp {
    pub(crate) client: ChatServiceClient<Channel>,
    pub(crate) host_client: AccountHostClient<Channel>,
    /// The media service media sends read their files from (on the same database).
    pub(crate) media_client: MediaServiceClient<Channel>,
    pub(crate) sandbox: Arc<SandboxHandle>,
    /// The chat cache's reads on the service's database, as the gateway runs them (the
    /// chat list is no call of the service's: ADR 0073).
    pub(crate) cache: CacheReads,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    media_task: tokio::task::JoinHandle<anyhow::Result<()>>,
    database: Option<String>,
}

impl ChatApp {
    /// Starts a chat service (with a sandbox of the demo world) on `backing`.
    pub(crate) async fn start(backing: Backing) -> Self {
        Self::start_with_world(backing, World::demo().expect("demo world")).await
    }

    /// Starts a chat service with a sandbox of `world` on `backing`.
    pub(crate) async fn start_with_world(backing: Backing, world: World) -> Self {
        Self::start_wrapping_jobs(backing, world, |jobs| jobs).await
    }

    /// Starts a chat service with a sandbox of `world` on `backing`, its send-job queues
    /// seen through `wrap` (a test counting what is published).
    pub(crate) async fn start_wrapping_jobs(
        backing: Backing,
        world: World,
        wrap: impl FnOnce(Arc<dyn JobQueue>) -> Arc<dyn JobQueue>,
    ) -> Self {
        let sandbox = Arc::new(Sandbox::start(world).await.expect("sandbox"));
        let data_dir = std::env::temp_dir().join(format!("talkapp-chat-{}", Uuid::new_v4()));
        let mut settings: Vec<(String, String)> = vec![
            ("data.dir".into(), data_dir.display().to_string()),
            ("probes.interval_ms".into(), "200".into()),
            ("telegram.keepalive_secs".into(), "2".into()),
        ];
        let database = match backing {
            Backing::Embedded => {
                settings.push((
                    "database.url".into(),
                    format!("sqlite://{}/talkapp.db", data_dir.display()),
                ));
                None
            }
            Backing::Servers => {
                let name = format!("talkapp_chat_{}", Uuid::new_v4().simple());
                let (client, connection) =
                    tokio_postgres::connect(&postgres_admin_url(), tokio_postgres::NoTls)
                        .await
                        .expect("postgres is reachable (start it: see .ci/run)");
                tokio::spawn(connection);
                client
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("database created");
                settings.push((
                    "database.url".into(),
                    format!("postgres://postgres@127.0.0.1:5432/{name}"),
                ));
                settings.push((
                    "amqp.url".into(),
                    "amqp://guest:guest@127.0.0.1:5672/%2f".into(),
                ));
                settings.push((
                    "amqp.prefix".into(),
                    format!("talkapp-test-{}", Uuid::new_v4().simple()),
                ));
                settings.push(("amqp.queue_type".into(), "classic".into()));
                settings.push(("amqp.queue_expires_secs".into(), "30".into()));
                Some(name)
            }
        };
        let media_listener =
            talkapp_common::grpc_server::bind("127.0.0.1:0".parse().expect("address"))
                .await
                .expect("listener");
        let media_url = format!(
            "http://127.0.0.1:{}",
            media_listener.local_addr().expect("address").port()
        );
        settings.push(("sends.media_service_url".into(), media_url.clone()));
        let config = Config::load(&ConfigSources {
            file: None,
            overrides: settings,
            read_environment: false,
        })
        .expect("test config is valid");
        let stores = talkapp_store::connect_stores(&config.database)
            .await
            .expect("store opens");
        let store = stores.store;
        let cache = CacheReads::new(Arc::clone(&store) as _);
        let media =
            talkapp_media_service::Application::build(&config, stores.media, media_listener)
                .expect("media service builds");
        let listener = talkapp_common::grpc_server::bind("127.0.0.1:0".parse().expect("address"))
            .await
            .expect("listener");
        let telegram = TelegramSetup {
            endpoint: TelegramEndpoint {
                api_id: config.telegram.api_id,
                api_hash: String::new(),
                target: Target::Preset {
                    dc_id: talkapp_tg_sandbox::SANDBOX_DC_ID,
                    address: match sandbox.addr() {
                        std::net::SocketAddr::V4(address) => address,
                        std::net::SocketAddr::V6(_) => panic!("the sandbox listens on IPv4"),
                    },
                    issuer: Arc::new(SandboxIssuer(Arc::clone(&sandbox))),
                },
            },
        };
        let bus = talkapp_bus::Bus::from_config(&config.amqp);
        let bus = talkapp_bus::Bus {
            jobs: wrap(bus.jobs),
            events: bus.events,
        };
        let app = Application::build_with(&config, store, bus, listener, telegram)
            .expect("chat service builds");
        let url = format!("http://127.0.0.1:{}", app.port());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(app.run_until_stopped(shutdown.clone()));
        let media_task = tokio::spawn(media.run_until_stopped(shutdown.clone()));
        let channel = Channel::from_shared(url).expect("url").connect_lazy();
        Self {
            client: ChatServiceClient::new(channel.clone()),
            host_client: AccountHostClient::new(channel),
            media_client: MediaServiceClient::new(
                Channel::from_shared(media_url).expect("url").connect_lazy(),
            ),
            sandbox,
            cache,
            shutdown,
            task,
            media_task,
            database,
        }
    }

    /// Stops the service (and drops its database).
    pub(crate) async fn stop(self) {
        self.shutdown.cancel();
        let stopped = tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("stops in time")
            .expect("task");
        stopped.expect("stops cleanly");
        let _ = tokio::time::timeout(Duration::from_secs(30), self.media_task).await;
        if let Some(name) = self.database
            && let Ok((client, connection)) =
                tokio_postgres::connect(&postgres_admin_url(), tokio_postgres::NoTls).await
        {
            tokio::spawn(connection);
            client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await
                .ok();
        }
    }

    /// Links the sandbox account of `phone` for a new TalkApp user; returns the account.
    pub(crate) async fn link(&self, phone: &str) -> proto::AccountRef {
        let user_id = Uuid::new_v4().to_string();
        let started = self
            .client
            .clone()
            .start_login(proto::StartLoginRequest {
                user_id: user_id.clone(),
                phone: phone.into(),
            })
            .await
            .expect("login starts")
            .into_inner();
        let step = self
            .client
            .clone()
            .submit_login_code(proto::SubmitLoginCodeRequest {
                user_id: user_id.clone(),
                login_id: Some(started.login_id),
                code: LOGIN_CODE.into(),
                phone: None,
            })
            .await
            .expect("the code is accepted")
            .into_inner();
        let Some(proto::login_step_response::Step::Account(account)) = step.step else {
            panic!("linked at once (no 2FA): {step:?}");
        };
        proto::AccountRef {
            user_id,
            session_index: account.session_index,
        }
    }

    /// A page of the account's chat list, read from the cache as the gateway reads it.
    pub(crate) async fn chat_page(
        &self,
        account: &proto::AccountRef,
        archived: Option<bool>,
        limit: Option<u32>,
    ) -> Result<proto::ListChatsResponse, ReadError> {
        let key = AccountKey {
            user_id: account.user_id.parse().expect("a user id"),
            session_index: account.session_index,
        };
        let page = self
            .cache
            .list_chats(key, None, archived, None, limit)
            .await?;
        Ok(proto::ListChatsResponse {
            chats: page.chats.into_iter().map(chat_to_proto).collect(),
            next_cursor: page.next_cursor,
        })
    }

    /// The account's chats once the backfill has cached some.
    pub(crate) async fn chats_once_cached(&self, account: &proto::AccountRef) -> Vec<proto::Chat> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let page = self
                .chat_page(account, None, Some(100))
                .await
                .expect("chats");
            if !page.chats.is_empty() {
                return page.chats;
            }
            assert!(Instant::now() < deadline, "no chat was cached in 20 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The stable code a status carries.
pub(crate) fn code_of(status: &talkapp_proto::tonic::Status) -> talkapp_common::ErrorCode {
    talkapp_common::ErrorCode::from_grpc_status(status)
}
