//! Starting the backend for a test, and request helpers.

use std::path::PathBuf;
use std::sync::Once;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use talkapp_common::config::{Config, ConfigSources};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The external provider's (Supabase's) HS256 secret in tests.
pub(crate) const SUPABASE_SECRET: &str = "super-secret-jwt-token-with-at-least-32-characters-long";
/// The external provider's issuer in tests.
pub(crate) const SUPABASE_ISSUER: &str = "https://test-project.supabase.co/auth/v1";
/// The built-in signing secret in tests (known so tests can mint expired or forged tokens).
pub(crate) const SIGNING_SECRET: &str = "test-signing-secret-0123456789abcdef0123456789";

pub(crate) const PASSWORD: &str = "correct horse battery";

static TRACING: Once = Once::new();

/// Logs for failing tests: `TEST_LOG=debug cargo nextest run`.
pub(crate) fn init_test_tracing() {
    TRACING.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
        if let Ok(filter) = std::env::var("TEST_LOG") {
            let _ = tracing_subscriber_init(&filter);
        }
    });
}

fn tracing_subscriber_init(filter: &str) -> anyhow::Result<()> {
    let config = Config::load(&ConfigSources {
        overrides: vec![("log.filter".into(), filter.into())],
        ..ConfigSources::default()
    })?;
    let guard = talkapp_common::telemetry::init("test", &config.log, &config.telemetry)?;
    std::mem::forget(guard);
    Ok(())
}

/// A fresh directory under the system temp dir.
pub(crate) fn temp_dir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{prefix}-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A running backend (all in one process) and a client for it.
pub(crate) struct TestApp {
    pub(crate) address: String,
    pub(crate) client: reqwest::Client,
    store: std::sync::Arc<dyn talkapp_store::Store>,
    pub(crate) hosted_accounts:
        std::sync::Arc<talkapp_chat_service::hosted_accounts::HostedAccounts>,
    pub(crate) sandbox: Option<std::sync::Arc<talkapp_tg_sandbox::SandboxHandle>>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    data_dir: PathBuf,
}

/// Starts the embedded default on SQLite, the gateway on a free port.
pub(crate) async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Like [`spawn_app`], with configuration overrides (`("auth.idle_timeout_secs", "1")`).
pub(crate) async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    init_test_tracing();
    let data_dir = temp_dir("talkapp-it");
    let database_url = format!("sqlite://{}/talkapp.db", data_dir.display());
    spawn_app_on(&database_url, data_dir, overrides).await
}

/// Starts the all-in-one backend with its store at `database_url`.
pub(crate) async fn spawn_app_on(
    database_url: &str,
    data_dir: PathBuf,
    overrides: &[(&str, &str)],
) -> TestApp {
    let mut settings: Vec<(String, String)> = vec![
        ("database.url".into(), database_url.into()),
        ("data.dir".into(), data_dir.display().to_string()),
        ("gateway.listen".into(), "127.0.0.1:0".into()),
        ("gateway.workers".into(), "1".into()),
        ("auth.signing_secret".into(), SIGNING_SECRET.into()),
        ("auth.external.hs256_secret".into(), SUPABASE_SECRET.into()),
        ("auth.external.issuer".into(), SUPABASE_ISSUER.into()),
        ("probes.interval_ms".into(), "200".into()),
    ];
    settings.extend(
        overrides
            .iter()
            .map(|(key, value)| ((*key).into(), (*value).into())),
    );
    let config = Config::load(&ConfigSources {
        file: None,
        overrides: settings,
        read_environment: false,
    })
    .expect("test config is valid");
    let backend = talkapp::Backend::build(&config)
        .await
        .expect("backend builds");
    let address = format!("http://127.0.0.1:{}", backend.port());
    let store = backend.store();
    let hosted_accounts = backend.hosted_accounts();
    let sandbox = backend.sandbox();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(backend.run_until_stopped(shutdown.clone()));
    TestApp {
        address,
        client: reqwest::Client::new(),
        store,
        hosted_accounts,
        sandbox,
        shutdown,
        task,
        data_dir,
    }
}

impl TestApp {
    /// The gateway's Prometheus text (`GET /metrics`).
    pub(crate) async fn metrics(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("sent")
            .text()
            .await
            .expect("text")
    }

    /// The store behind the backend (to arrange what no endpoint creates yet).
    pub(crate) fn store(&self) -> std::sync::Arc<dyn talkapp_store::Store> {
        std::sync::Arc::clone(&self.store)
    }

    /// The backend's data directory (SQLite file, local media under `media/`).
    pub(crate) fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub(crate) async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub(crate) async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request sent")
    }

    pub(crate) async fn get_with_token(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request sent")
    }

    pub(crate) async fn register(&self, email: &str) -> reqwest::Response {
        self.post_json(
            "/auth/register",
            &json!({"email": email, "password": PASSWORD}),
        )
        .await
    }

    /// Registers `email` and signs in; returns the login reply.
    pub(crate) async fn signed_in_user(&self, email: &str) -> Value {
        assert_eq!(self.register(email).await.status(), 201);
        let response = self
            .post_json(
                "/auth/login",
                &json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(response.status(), 200);
        response.json().await.expect("json")
    }

    /// The auth key of a linked account, read back from the store the way the chat
    /// service reads it (sealed with the generated key in the data directory).
    pub(crate) async fn telegram_auth_key(&self, user_id: &str, session_index: u32) -> [u8; 256] {
        let user_id = Uuid::parse_str(user_id).expect("uuid");
        let key_bytes =
            std::fs::read(self.data_dir.join("telegram-session.key")).expect("generated key");
        let key: [u8; 32] = key_bytes.as_slice().try_into().expect("32 bytes");
        let hosted = self
            .store
            .hosted_account(user_id, session_index)
            .await
            .expect("read")
            .expect("linked");
        let sealed = hosted.sealed_session.expect("keys kept");
        let opened = talkapp_telegram::sealing::Sealer::new(&key)
            .open(
                &sealed,
                &talkapp_chat_service::linking::session_seal_context(user_id),
            )
            .expect("opens for its owner");
        let snapshot =
            talkapp_telegram::session::SessionSnapshot::from_bytes(&opened).expect("snapshot");
        snapshot
            .dc_options
            .iter()
            .find_map(|option| option.auth_key)
            .expect("an auth key")
    }

    /// Stops the backend and waits for it to finish.
    pub(crate) async fn stop(self) {
        let data_dir = self.stop_keeping_data().await;
        let _ = std::fs::remove_dir_all(&data_dir);
    }

    /// Stops the backend, keeping its data directory (to start it again on it).
    pub(crate) async fn stop_keeping_data(self) -> PathBuf {
        self.shutdown.cancel();
        self.task
            .await
            .expect("backend task joins")
            .expect("backend stops cleanly");
        self.data_dir
    }
}

/// Reads a problem+json reply and checks its status and `code`.
pub(crate) async fn assert_problem(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.expect("problem body is json");
    assert_eq!(body["code"], code, "problem: {body}");
    assert_eq!(body["status"], status);
    body
}

/// A full storage's answer (ADR 0069): 507 `insufficient_storage` with `Retry-After: 60`;
/// returns the problem.
pub(crate) async fn assert_storage_full(response: reqwest::Response) -> Value {
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok()),
        Some("60")
    );
    assert_problem(response, 507, "insufficient_storage").await
}

/// Claims for a token minted by a test.
pub(crate) struct Mint<'a> {
    pub(crate) sub: String,
    pub(crate) iss: &'a str,
    pub(crate) aud: &'a str,
    pub(crate) expires_in_secs: i64,
    pub(crate) sid: Option<String>,
}

impl Mint<'_> {
    /// A Supabase-style access token for `sub`, valid for an hour.
    pub(crate) fn supabase(sub: Uuid) -> Self {
        Mint {
            sub: sub.to_string(),
            iss: SUPABASE_ISSUER,
            aud: "authenticated",
            expires_in_secs: 3600,
            sid: None,
        }
    }

    pub(crate) fn claims(&self) -> Value {
        let now = chrono::Utc::now().timestamp();
        let mut claims = json!({
            "sub": self.sub,
            "iss": self.iss,
            "aud": self.aud,
            "exp": now + self.expires_in_secs,
            "iat": now - 10,
            "email": "someone@example.com",
            "role": "authenticated",
        });
        if let Some(sid) = &self.sid {
            claims["sid"] = json!(sid);
        }
        claims
    }

    /// Signs with HS256 and `secret`.
    pub(crate) fn sign_hs256(&self, secret: &str) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &self.claims(),
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("token signs")
    }
}

/// Decodes a JWT's payload without checking it.
pub(crate) fn jwt_payload(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("jwt has a payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("payload is base64url");
    serde_json::from_slice(&bytes).expect("payload is json")
}

/// PostgreSQL admin URL for tests (`TALKAPP_TEST_POSTGRES_URL`).
pub(crate) fn postgres_admin_url() -> String {
    std::env::var("TALKAPP_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A fresh PostgreSQL database for one test.
pub(crate) struct TestDatabase {
    pub(crate) name: String,
}

impl TestDatabase {
    /// Creates `talkapp_it_<random>`.
    pub(crate) async fn create() -> Self {
        let name = format!("talkapp_it_{}", Uuid::new_v4().simple());
        let (client, connection) =
            tokio_postgres::connect(&postgres_admin_url(), tokio_postgres::NoTls)
                .await
                .expect("postgres is reachable (start it: see .ci/run)");
        tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("database created");
        Self { name }
    }

    /// Its URL through `host_port` (a proxy, or the server itself).
    pub(crate) fn url_via(&self, host_port: &str) -> String {
        format!("postgres://postgres@{host_port}/{}", self.name)
    }

    /// Drops it (connections are closed by force).
    pub(crate) async fn drop_database(self) {
        if let Ok((client, connection)) =
            tokio_postgres::connect(&postgres_admin_url(), tokio_postgres::NoTls).await
        {
            tokio::spawn(connection);
            let _ = client
                .batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                ))
                .await;
        }
    }
}

/// A TCP proxy on loopback whose link can be cut and restored (or stalled), to take a
/// dependency away from the processes under test without stopping the shared server
/// behind it.
pub(crate) use talkapp_testkit::StallingProxy as TcpProxy;

/// Starts `talkapp <role>` as a process of a split deployment: its environment is exactly
/// `environment` (nothing inherited), its output shown only with `TEST_LOG` (its errors
/// always), and it is killed when the handle is dropped.
pub(crate) fn spawn_process<K, V>(
    role: &str,
    environment: impl IntoIterator<Item = (K, V)>,
) -> tokio::process::Child
where
    K: AsRef<std::ffi::OsStr>,
    V: AsRef<std::ffi::OsStr>,
{
    use std::process::Stdio;
    tokio::process::Command::new(env!("CARGO_BIN_EXE_talkapp"))
        .arg(role)
        .env_clear()
        .envs(environment)
        .stdin(Stdio::null())
        .stdout(if std::env::var_os("TEST_LOG").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("process starts")
}

/// Waits (a minute at most) until `{base_url}/healthz` answers 200.
pub(crate) async fn wait_until_healthy(client: &reqwest::Client, base_url: &str) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Ok(response) = client.get(format!("{base_url}/healthz")).send().await
            && response.status() == 200
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{base_url} never served"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A free loopback port (bound and released; good enough on a test machine).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port()
}

/// A new bucket on the test S3 server (`TALKAPP_TEST_S3_ENDPOINT`, moto at
/// 127.0.0.1:9900 by default) and a `FullS3Proxy` in front of that server: the proxy, the
/// server's URL and the bucket.
pub(crate) async fn bucket_behind_a_proxy() -> (talkapp_testkit::FullS3Proxy, String, String) {
    let s3_server = std::env::var("TALKAPP_TEST_S3_ENDPOINT")
        .unwrap_or_else(|_| "http://127.0.0.1:9900".to_owned());
    let bucket = format!("talkapp-it-{}", uuid::Uuid::new_v4().simple());
    let created = reqwest::Client::new()
        .put(format!("{s3_server}/{bucket}"))
        .send()
        .await
        .unwrap_or_else(|error| {
            panic!(
                "no S3-compatible server at {s3_server} ({error}): start one with \
                 `python3 -m moto.server -p 9900`, as .ci/run does"
            )
        });
    assert!(created.status().is_success(), "{}", created.status());
    let proxy = talkapp_testkit::FullS3Proxy::start(s3_server.trim_start_matches("http://")).await;
    (proxy, s3_server, bucket)
}
