//! Split mode: the gateway and each service as separate processes on loopback ports,
//! against the real PostgreSQL, Redis and RabbitMQ (reached through cuttable proxies).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::process::Child;

use crate::helpers::{
    PASSWORD, SIGNING_SECRET, TcpProxy, TestDatabase, free_port, spawn_process, temp_dir,
};

const SERVICES: [&str; 4] = [
    "chat-service",
    "media-service",
    "search-service",
    "realtime-service",
];

fn redis_address() -> String {
    std::env::var("TALKAPP_TEST_REDIS_ADDRESS").unwrap_or_else(|_| "127.0.0.1:6379".into())
}

fn amqp_address() -> String {
    std::env::var("TALKAPP_TEST_AMQP_ADDRESS").unwrap_or_else(|_| "127.0.0.1:5672".into())
}

fn postgres_address() -> String {
    std::env::var("TALKAPP_TEST_POSTGRES_ADDRESS").unwrap_or_else(|_| "127.0.0.1:5432".into())
}

/// The five processes of a split deployment.
struct SplitDeployment {
    environment: HashMap<String, String>,
    processes: HashMap<&'static str, Child>,
    gateway_url: String,
    client: reqwest::Client,
    /// The Telegram the chat service reaches (a sandbox outside its process, as in a
    /// real split deployment).
    _sandbox: talkapp_tg_sandbox::SandboxHandle,
}

impl SplitDeployment {
    async fn start(database_url: &str, redis: &str, amqp: &str) -> Self {
        Self::start_with(database_url, redis, amqp, &[]).await
    }

    async fn start_with(
        database_url: &str,
        redis: &str,
        amqp: &str,
        extra: &[(&str, &str)],
    ) -> Self {
        let data_dir = temp_dir("talkapp-split");
        let (sandbox, sandbox_admin) = crate::replicas::sandbox_with_admin().await;
        let mut environment: HashMap<String, String> = HashMap::from([
            (
                "TALKAPP_TELEGRAM__SANDBOX_ADDRESS".into(),
                sandbox.addr().to_string(),
            ),
            (
                "TALKAPP_TELEGRAM__SANDBOX_ADMIN_URL".into(),
                format!("http://{sandbox_admin}"),
            ),
            ("TALKAPP_DATABASE__URL".into(), database_url.into()),
            ("TALKAPP_DATABASE__CONNECT_TIMEOUT_MS".into(), "1000".into()),
            ("TALKAPP_REDIS__URL".into(), format!("redis://{redis}")),
            (
                "TALKAPP_AMQP__URL".into(),
                format!("amqp://guest:guest@{amqp}/%2f"),
            ),
            // Queues and Redis keys of this deployment's own, which the broker deletes
            // once the test is over.
            (
                "TALKAPP_AMQP__PREFIX".into(),
                format!("talkapp-it-{}", uuid::Uuid::new_v4().simple()),
            ),
            ("TALKAPP_AMQP__QUEUE_EXPIRES_SECS".into(), "30".into()),
            // Classic queues: these tests are about the processes, not about queue
            // durability (the replica tests and the bus suite run quorum queues), and the
            // broker on a test machine has few file descriptors for quorum queues' logs.
            ("TALKAPP_AMQP__QUEUE_TYPE".into(), "classic".into()),
            (
                "TALKAPP_REDIS__PREFIX".into(),
                format!("talkapp-it-{}", uuid::Uuid::new_v4().simple()),
            ),
            ("TALKAPP_AUTH__SIGNING_SECRET".into(), SIGNING_SECRET.into()),
            ("TALKAPP_DATA__DIR".into(), data_dir.display().to_string()),
            ("TALKAPP_PROBES__INTERVAL_MS".into(), "250".into()),
            ("TALKAPP_PROBES__TIMEOUT_MS".into(), "1000".into()),
            ("TALKAPP_GATEWAY__WORKERS".into(), "1".into()),
            // Each deployment its own rate-limit keys in the shared Redis.
            (
                "TALKAPP_RATE_LIMIT__REDIS_KEY_PREFIX".into(),
                format!("talkapp-it-{}", uuid::Uuid::new_v4().simple()),
            ),
            (
                "TALKAPP_LOG__FILTER".into(),
                std::env::var("TEST_LOG").unwrap_or_else(|_| "error".into()),
            ),
        ]);
        environment.extend(
            extra
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned())),
        );
        let gateway_port = free_port();
        environment.insert(
            "TALKAPP_GATEWAY__LISTEN".into(),
            format!("127.0.0.1:{gateway_port}"),
        );
        for service in SERVICES {
            let port = free_port();
            let section = service.replace('-', "_").to_uppercase();
            environment.insert(
                format!("TALKAPP_{section}__LISTEN"),
                format!("127.0.0.1:{port}"),
            );
            environment.insert(
                format!("TALKAPP_GATEWAY__{section}_URL"),
                format!("http://127.0.0.1:{port}"),
            );
        }
        let mut deployment = Self {
            environment,
            processes: HashMap::new(),
            gateway_url: format!("http://127.0.0.1:{gateway_port}"),
            client: reqwest::Client::new(),
            _sandbox: sandbox,
        };
        for role in SERVICES.into_iter().chain(["gateway"]) {
            deployment.start_process(role);
        }
        deployment
    }

    fn start_process(&mut self, role: &'static str) {
        let child = spawn_process(role, &self.environment);
        self.processes.insert(role, child);
    }

    async fn kill(&mut self, role: &'static str) {
        let mut child = self.processes.remove(role).expect("running");
        child.kill().await.expect("killed");
    }

    /// SIGTERM, then wait: the process must drain and exit 0.
    async fn stop_gracefully(&mut self, role: &'static str) {
        let mut child = self.processes.remove(role).expect("running");
        let pid = child.id().expect("pid");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let exit = tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .expect("stops within the grace period")
            .expect("exit status");
        assert!(exit.success(), "{role} exited with {exit}");
    }

    async fn readyz(&self) -> Option<(u16, Value)> {
        let response = self
            .client
            .get(format!("{}/readyz", self.gateway_url))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()?;
        let status = response.status().as_u16();
        Some((status, response.json().await.ok()?))
    }

    /// Polls `/readyz` until `accept` holds, or fails after `within`.
    async fn wait_for_readyz(
        &self,
        within: Duration,
        what: &str,
        accept: impl Fn(u16, &Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + within;
        let mut last = None;
        while Instant::now() < deadline {
            if let Some((status, body)) = self.readyz().await {
                if accept(status, &body) {
                    return body;
                }
                last = Some((status, body));
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        panic!("readyz never became {what}; last answer: {last:?}");
    }

    async fn wait_ready(&self) {
        self.wait_for_readyz(Duration::from_secs(60), "ready", |status, _| status == 200)
            .await;
    }

    async fn wait_down(&self, check: &str) -> Value {
        self.wait_for_readyz(
            Duration::from_secs(20),
            &format!("red for {check}"),
            |status, body| status == 503 && failing_checks(body).contains(&check.to_owned()),
        )
        .await
    }

    /// Registers `email` and signs in; the sign-in's answer.
    async fn signed_in(&self, email: &str) -> Value {
        assert_eq!(
            self.post(
                "/auth/register",
                &json!({"email": email, "password": PASSWORD})
            )
            .await
            .status(),
            201
        );
        self.post(
            "/auth/login",
            &json!({"email": email, "password": PASSWORD}),
        )
        .await
        .json()
        .await
        .expect("json")
    }

    /// Stops every process with SIGTERM, each draining and exiting 0.
    async fn stop_all_gracefully(&mut self) {
        for role in ["gateway"].into_iter().chain(SERVICES) {
            self.stop_gracefully(role).await;
        }
    }

    async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.gateway_url))
            .json(body)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .expect("sent")
    }
}

fn failing_checks(body: &Value) -> Vec<String> {
    body["checks"]
        .as_array()
        .map(|checks| {
            checks
                .iter()
                .filter(|check| check["ok"] == false)
                .filter_map(|check| check["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn split_processes_serve_the_api_and_readyz_follows_every_process_and_dependency() {
    crate::helpers::init_test_tracing();
    let database = TestDatabase::create().await;
    let postgres = TcpProxy::start(&postgres_address()).await;
    let redis = TcpProxy::start(&redis_address()).await;
    let amqp = TcpProxy::start(&amqp_address()).await;
    let mut deployment = SplitDeployment::start(
        &database.url_via(&postgres.address()),
        &redis.address(),
        &amqp.address(),
    )
    .await;
    deployment.wait_ready().await;

    // The whole auth flow, and a call that goes gateway -> chat-service -> PostgreSQL.
    let login = deployment.signed_in("split@example.com").await;
    let user_id = login["user"]["id"].as_str().expect("id");
    let sessions = deployment
        .client
        .get(format!("{}/me/sessions/{user_id}", deployment.gateway_url))
        .bearer_auth(login["access_token"].as_str().expect("token"))
        .send()
        .await
        .expect("sent");
    assert_eq!(sessions.status(), 200);

    // Every service serves Prometheus metrics on its gRPC port, counting the health calls
    // the gateway's readiness checks made.
    for service in SERVICES {
        let section = service.replace('-', "_").to_uppercase();
        let listen = &deployment.environment[&format!("TALKAPP_{section}__LISTEN")];
        let metrics = deployment
            .client
            .get(format!("http://{listen}/metrics"))
            .send()
            .await
            .expect("sent")
            .text()
            .await
            .expect("text");
        assert!(
            metrics.contains(r#"talkapp_grpc_server_requests_total{method="/grpc.health.v1.Health/Check",code="0"}"#),
            "{service}: {metrics}"
        );
        assert!(
            metrics.contains("talkapp_grpc_server_request_duration_seconds_bucket"),
            "{service}"
        );
    }

    // A service process dies: red, then green once it is back.
    deployment.kill("media-service").await;
    deployment.wait_down("media-service").await;
    deployment.start_process("media-service");
    deployment.wait_ready().await;

    // Each dependency goes away and comes back.
    for (proxy, check) in [(&amqp, "amqp"), (&redis, "redis"), (&postgres, "database")] {
        proxy.cut();
        let body = deployment.wait_down(check).await;
        assert_eq!(body["code"], "service_unavailable");
        proxy.restore().await;
        deployment.wait_ready().await;
    }

    // With the database away, a sign-in fails clearly and quickly, then works again.
    postgres.cut();
    let started = Instant::now();
    let refused = deployment
        .post(
            "/auth/login",
            &json!({"email": "split@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(refused.status(), 503);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    let problem: Value = refused.json().await.expect("json");
    assert_eq!(problem["code"], "service_unavailable");
    postgres.restore().await;
    deployment.wait_ready().await;
    let again = deployment
        .post(
            "/auth/login",
            &json!({"email": "split@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(again.status(), 200);

    // SIGTERM drains and exits cleanly.
    deployment.stop_all_gracefully().await;
    database.drop_database().await;
}

/// An OTLP/gRPC trace collector on loopback that keeps what it receives.
mod collector {
    use std::sync::{Arc, Mutex};

    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
        TraceService, TraceServiceServer,
    };
    use opentelemetry_proto::tonic::collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
    };
    use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
    use talkapp_proto::tonic::{self, Request, Response, Status};

    /// One received span: the service that sent it, its trace id, its name.
    #[derive(Debug, Clone)]
    pub(crate) struct ReceivedSpan {
        pub(crate) service: String,
        pub(crate) trace_id: Vec<u8>,
        pub(crate) name: String,
    }

    #[derive(Clone, Default)]
    struct Collector {
        spans: Arc<Mutex<Vec<ReceivedSpan>>>,
    }

    #[tonic::async_trait]
    impl TraceService for Collector {
        async fn export(
            &self,
            request: Request<ExportTraceServiceRequest>,
        ) -> Result<Response<ExportTraceServiceResponse>, Status> {
            let mut spans = self.spans.lock().expect("lock");
            for resource_spans in request.into_inner().resource_spans {
                let service = resource_spans
                    .resource
                    .iter()
                    .flat_map(|resource| resource.attributes.iter())
                    .find(|attribute| attribute.key == "service.name")
                    .and_then(|attribute| attribute.value.as_ref()?.value.clone())
                    .and_then(|value| match value {
                        AnyValue::StringValue(name) => Some(name),
                        _ => None,
                    })
                    .unwrap_or_default();
                for scope_spans in resource_spans.scope_spans {
                    for span in scope_spans.spans {
                        spans.push(ReceivedSpan {
                            service: service.clone(),
                            trace_id: span.trace_id,
                            name: span.name,
                        });
                    }
                }
            }
            Ok(Response::new(ExportTraceServiceResponse::default()))
        }
    }

    /// Starts a collector; returns its endpoint and what it has received so far.
    pub(crate) async fn start() -> (String, Arc<Mutex<Vec<ReceivedSpan>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let collector = Collector::default();
        let spans = Arc::clone(&collector.spans);
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(collector))
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        (endpoint, spans)
    }
}

#[tokio::test]
async fn a_callers_trace_continues_through_the_gateway_into_the_chat_service() {
    crate::helpers::init_test_tracing();
    let database = TestDatabase::create().await;
    let (collector_endpoint, received) = collector::start().await;
    let mut deployment = SplitDeployment::start_with(
        &database.url_via(&postgres_address()),
        &redis_address(),
        &amqp_address(),
        &[("TALKAPP_TELEMETRY__OTLP_ENDPOINT", &collector_endpoint)],
    )
    .await;
    deployment.wait_ready().await;
    let login = deployment.signed_in("trace@example.com").await;
    let trace_id_hex = "4bf92f3577b34da6a3ce929d0e0e4736";

    let response = deployment
        .client
        .get(format!(
            "{}/me/chat/{}/1/1",
            deployment.gateway_url,
            login["user"]["id"].as_str().expect("id")
        ))
        .bearer_auth(login["access_token"].as_str().expect("token"))
        .header(
            "traceparent",
            format!("00-{trace_id_hex}-00f067aa0ba902b7-01"),
        )
        .send()
        .await
        .expect("sent");
    // The chat service answers that the user has no such account: its span is in the
    // caller's trace all the same.
    assert_eq!(response.status(), 404);
    // A graceful stop flushes every process's spans to the collector.
    deployment.stop_all_gracefully().await;

    let trace_id: Vec<u8> = (0..trace_id_hex.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&trace_id_hex[at..at + 2], 16).expect("hex"))
        .collect();
    let in_trace: Vec<collector::ReceivedSpan> = received
        .lock()
        .expect("lock")
        .iter()
        .filter(|span| span.trace_id == trace_id)
        .cloned()
        .collect();
    assert!(
        in_trace.iter().any(|span| span.service == "gateway"
            && span
                .name
                .contains("/me/chat/{user_id}/{session_index}/{chat_id}")),
        "no gateway span in the caller's trace: {in_trace:?}"
    );
    assert!(
        in_trace
            .iter()
            .any(|span| span.service == "chat-service" && span.name.contains("GetChat")),
        "no chat-service span in the caller's trace: {in_trace:?}"
    );
    database.drop_database().await;
}

/// Each HTTP worker of the gateway has its own connection to the chat service (ADR 0055):
/// a chat service that goes away and comes back is reached again from every worker.
#[tokio::test]
async fn every_gateway_worker_reads_through_a_chat_service_restart() {
    crate::helpers::init_test_tracing();
    let database = TestDatabase::create().await;
    const WORKERS: usize = 3;
    let mut deployment = SplitDeployment::start_with(
        &database.url_via(&postgres_address()),
        &redis_address(),
        &amqp_address(),
        &[("TALKAPP_GATEWAY__WORKERS", &WORKERS.to_string())],
    )
    .await;
    deployment.wait_ready().await;
    let login = deployment.signed_in("workers@example.com").await;
    // A chat of an account the user has not linked: the chat service answers it (404
    // `not_found`), so each read is a call of the worker's chat connection.
    let url = format!(
        "{}/me/chat/{}/1/1",
        deployment.gateway_url,
        login["user"]["id"].as_str().expect("id")
    );
    let token = login["access_token"].as_str().expect("token").to_owned();
    // Each read on a new connection: actix hands new connections to its workers in turn,
    // so reads in a row reach every worker, each several times.
    let reads = || async {
        let mut statuses = Vec::new();
        for _ in 0..WORKERS * 3 {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .expect("client");
            let started = Instant::now();
            let response = client
                .get(&url)
                .bearer_auth(&token)
                .timeout(Duration::from_secs(10))
                .send()
                .await
                .expect("answered");
            statuses.push((response.status().as_u16(), started.elapsed()));
        }
        statuses
    };
    let before = reads().await;
    assert!(
        before.iter().all(|(status, _)| *status == 404),
        "{before:?}"
    );

    // Away: each worker's call fails at once (no connection to wait on), as 503.
    deployment.kill("chat-service").await;
    let away = reads().await;
    assert!(
        away.iter()
            .all(|(status, took)| *status == 503 && *took < Duration::from_secs(3)),
        "{away:?}"
    );

    // Back on the same address: every worker's next reads are served.
    deployment.start_process("chat-service");
    deployment.wait_ready().await;
    let after = reads().await;
    assert!(after.iter().all(|(status, _)| *status == 404), "{after:?}");

    deployment.stop_all_gracefully().await;
    database.drop_database().await;
}

/// `bytes` uploaded through the split deployment's gateway as a ZIP.
async fn upload_through_the_gateway(
    deployment: &SplitDeployment,
    token: &str,
    bytes: &[u8],
) -> reqwest::Result<reqwest::Response> {
    deployment
        .client
        .post(format!("{}/upload", deployment.gateway_url))
        .bearer_auth(token)
        .header("content-type", "application/zip")
        .body(bytes.to_vec())
        .timeout(Duration::from_secs(60))
        .send()
        .await
}

/// A full disk under the media service in its own process: the 507
/// `insufficient_storage` (and its `Retry-After`) reaches the client through the gRPC
/// hop to the gateway; once space is freed the same upload is stored.
#[tokio::test]
async fn a_full_disk_under_the_media_service_is_507_insufficient_storage_through_the_gateway() {
    crate::helpers::init_test_tracing();
    let Some((disk, filler)) = crate::uploads::half_full_disk() else {
        return;
    };
    let database = TestDatabase::create().await;
    let media_dir = disk.dir().display().to_string();
    let mut deployment = SplitDeployment::start_with(
        &database.url_via(&postgres_address()),
        &redis_address(),
        &amqp_address(),
        // The default limits (2 GiB a file, 1 GiB a user) leave the disk to run out.
        &[("TALKAPP_STORAGE__LOCAL_DIR", &media_dir)],
    )
    .await;
    deployment.wait_ready().await;
    let login = deployment.signed_in("full-disk@example.com").await;
    let token = login["access_token"].as_str().expect("token");
    let bytes = crate::uploads::incompressible_zip(12 * 1024 * 1024);
    let upload = || upload_through_the_gateway(&deployment, token, &bytes);

    let response = upload().await.expect("sent");
    crate::helpers::assert_storage_full(response).await;

    std::fs::remove_file(&filler).expect("filler removed");
    let response = upload().await.expect("sent");
    assert_eq!(response.status(), 201);
    let file: Value = response.json().await.expect("json");
    assert_eq!(file["size"], bytes.len());
    deployment.stop_all_gracefully().await;
    database.drop_database().await;
    let dir = disk.dir().to_owned();
    drop(disk);
    let _ = std::fs::remove_dir_all(dir);
}

/// An S3 server out of space under the media service in its own process (moto behind a
/// proxy that answers every object write as a full MinIO does: 507 `XMinioStorageFull`):
/// the client gets 507 `insufficient_storage` with its `Retry-After` through the gRPC hop
/// to the gateway, as for a full local disk, not a 503; once the server has space again
/// the same upload is stored.
#[tokio::test]
async fn an_s3_server_out_of_space_under_the_media_service_is_507_insufficient_storage_through_the_gateway()
 {
    crate::helpers::init_test_tracing();
    let (proxy, _, bucket) = crate::helpers::bucket_behind_a_proxy().await;
    proxy.fill_up("");
    let endpoint = proxy.endpoint();
    let database = TestDatabase::create().await;
    let mut deployment = SplitDeployment::start_with(
        &database.url_via(&postgres_address()),
        &redis_address(),
        &amqp_address(),
        &[
            ("TALKAPP_STORAGE__BACKEND", "s3"),
            ("TALKAPP_STORAGE__S3_ENDPOINT", &endpoint),
            ("TALKAPP_STORAGE__S3_BUCKET", &bucket),
            ("TALKAPP_STORAGE__S3_ALLOW_HTTP", "true"),
            ("TALKAPP_STORAGE__S3_ACCESS_KEY_ID", "testing"),
            ("TALKAPP_STORAGE__S3_SECRET_ACCESS_KEY", "testing"),
        ],
    )
    .await;
    deployment.wait_ready().await;
    let login = deployment.signed_in("full-s3@example.com").await;
    let token = login["access_token"].as_str().expect("token");
    let bytes = crate::uploads::incompressible_zip(12 * 1024 * 1024);
    let upload = || upload_through_the_gateway(&deployment, token, &bytes);

    let started = Instant::now();
    let response = upload().await.expect("sent");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "answered at once, not after the object store's retries: {:?}",
        started.elapsed()
    );
    crate::helpers::assert_storage_full(response).await;
    assert!(proxy.refused() >= 1, "the full server was asked");

    proxy.free_space();
    let response = upload().await.expect("sent");
    assert_eq!(response.status(), 201);
    let file: Value = response.json().await.expect("json");
    assert_eq!(file["size"], bytes.len());
    deployment.stop_all_gracefully().await;
    database.drop_database().await;
}
