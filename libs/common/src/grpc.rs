//! Serving and calling TalkApp gRPC services.
//!
//! [`serve`] runs a service's tonic routes together with gRPC health and an HTTP/1
//! `GET /metrics` on one port, wrapped in [`RequestTelemetryLayer`] (request counts,
//! latency histograms, errors by code, and a span whose parent is the caller's trace).
//! [`TraceContextInterceptor`] puts the caller's trace context into outgoing metadata.
//! [`Transport`] is how a client reaches a service: a network channel, or the service's
//! router in this process ([`InProcess`], the embedded default).

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use opentelemetry::propagation::{Extractor, Injector};
use talkapp_proto::tonic_health::ServingStatus;
use talkapp_proto::tonic_health::server::HealthReporter;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::config::ProbeConfig;
use crate::probe::{self, Probe};

/// Serves `routes` (plus `/metrics`) on `listener` until `shutdown` is cancelled, then
/// lets in-flight calls finish.
pub async fn serve(
    listener: TcpListener,
    routes: Routes,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let router = routes
        .into_axum_router()
        .route("/metrics", axum::routing::get(render_metrics));
    tonic::transport::Server::builder()
        // HTTP/1 only so that Prometheus can scrape `/metrics` on the same port.
        .accept_http1(true)
        .layer(RequestTelemetryLayer)
        .add_routes(Routes::from(router))
        .serve_with_incoming_shutdown(
            // Without TCP_NODELAY a reply written in more than one segment (headers, data,
            // trailers) waits for the peer's delayed ACK: about 40 ms per call on Linux.
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown.cancelled_owned(),
        )
        .await?;
    Ok(())
}

async fn render_metrics() -> String {
    crate::telemetry::prometheus().render()
}

/// Keeps `service_name`'s gRPC health in step with its dependencies: `SERVING` while
/// every probe answers, `NOT_SERVING` otherwise. The empty service name (the whole
/// server) follows the same status.
pub fn spawn_health_updates(
    reporter: HealthReporter,
    service_name: &'static str,
    probes: Vec<Arc<dyn Probe>>,
    config: ProbeConfig,
    shutdown: CancellationToken,
) {
    tokio::spawn(async move {
        let timeout = Duration::from_millis(config.timeout_ms);
        let mut tick = tokio::time::interval(Duration::from_millis(config.interval_ms));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last: Option<ServingStatus> = None;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = shutdown.cancelled() => {
                    reporter.set_service_status("", ServingStatus::NotServing).await;
                    reporter.set_service_status(service_name, ServingStatus::NotServing).await;
                    break;
                }
            }
            let outcomes = probe::check_all(&probes, timeout).await;
            let status = if outcomes.iter().all(|outcome| outcome.ok) {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            if last != Some(status) {
                for outcome in outcomes.iter().filter(|outcome| !outcome.ok) {
                    tracing::warn!(service = service_name, dependency = outcome.name, error = ?outcome.error, "dependency down");
                }
                tracing::info!(service = service_name, ?status, "health changed");
                reporter.set_service_status("", status).await;
                reporter.set_service_status(service_name, status).await;
                last = Some(status);
            }
        }
    });
}

/// Tower layer recording metrics and a trace span for every gRPC request.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestTelemetryLayer;

impl<S> tower::Layer<S> for RequestTelemetryLayer {
    type Service = RequestTelemetry<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestTelemetry { inner }
    }
}

/// The service made by [`RequestTelemetryLayer`].
#[derive(Debug, Clone)]
pub struct RequestTelemetry<S> {
    inner: S,
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for RequestTelemetry<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        // Take the ready service and leave a fresh clone behind (tower's clone-swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let is_grpc = request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("application/grpc"));
        if !is_grpc {
            return Box::pin(inner.call(request));
        }
        let path = request.uri().path().to_owned();
        let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.extract(&HeaderExtractor(request.headers()))
        });
        let span = tracing::info_span!(
            "grpc.server",
            otel.name = %path,
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.grpc.status_code = tracing::field::Empty,
        );
        // Without an OpenTelemetry layer the span takes no parent; the call is served the same.
        let _ = span.set_parent(parent);
        let started = Instant::now();
        Box::pin(
            async move {
                let result = inner.call(request).await;
                // Errors raised by a handler come back "trailers-only", with grpc-status in
                // the headers; a missing header means the call succeeded (status in the
                // trailers is 0).
                let status_code = match &result {
                    Ok(response) => response
                        .headers()
                        .get("grpc-status")
                        .and_then(|value| value.to_str().ok())
                        .unwrap_or("0")
                        .to_owned(),
                    Err(_) => "transport".to_owned(),
                };
                tracing::Span::current().record("rpc.grpc.status_code", status_code.as_str());
                let elapsed = started.elapsed().as_secs_f64();
                metrics::counter!("talkapp_grpc_server_requests_total", "method" => path.clone(), "code" => status_code)
                    .increment(1);
                metrics::histogram!("talkapp_grpc_server_request_duration_seconds", "method" => path)
                    .record(elapsed);
                result
            }
            .instrument(span),
        )
    }
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// Client interceptor that carries the current span's trace context to the service.
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceContextInterceptor;

impl tonic::service::Interceptor for TraceContextInterceptor {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        let context = tracing::Span::current().context();
        opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.inject_context(&context, &mut MetadataInjector(request.metadata_mut()));
        });
        Ok(request)
    }
}

struct MetadataInjector<'a>(&'a mut tonic::metadata::MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
            tonic::metadata::MetadataValue::try_from(value.as_str()),
        ) {
            self.0.insert(key, value);
        }
    }
}

/// How a client reaches a service: over the network (split mode), or the service's own
/// router in this process (the embedded default), with no socket, no HTTP/2 framing and
/// no connection tasks in between: the call is polled by the caller inside the service's
/// runtime's context (ADR 0058). Both carry the same gRPC messages, so the clients, the
/// adapters and their error mapping are the same code in both modes (ADR 0002).
#[derive(Clone)]
pub enum Transport {
    /// A channel to the service's address.
    Network(tonic::transport::Channel),
    /// The service's router in this process.
    InProcess(InProcess),
}

/// A service's router in this process.
#[derive(Clone)]
pub struct InProcess {
    routes: Routes,
    runtime: tokio::runtime::Handle,
    timeout: Option<Duration>,
}

impl std::fmt::Debug for InProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcess")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl InProcess {
    /// Calls `routes` in `runtime`'s context (the service's: what a call spawns, its
    /// sockets, timers and blocking work are that runtime's; the call itself is polled by
    /// the caller, ADR 0058), each bounded by `timeout` when given (the time to the
    /// reply's headers: a unary call's whole run, a stream's start). A call that panics
    /// answers an internal status.
    pub fn new(routes: Routes, runtime: tokio::runtime::Handle, timeout: Option<Duration>) -> Self {
        Self {
            routes,
            runtime,
            timeout,
        }
    }

    /// The same router with another bound per call.
    pub fn with_timeout(&self, timeout: Option<Duration>) -> Self {
        Self {
            timeout,
            ..self.clone()
        }
    }
}

type TransportFuture =
    BoxFuture<'static, Result<http::Response<tonic::body::Body>, tower::BoxError>>;

impl tower::Service<http::Request<tonic::body::Body>> for Transport {
    type Response = http::Response<tonic::body::Body>;
    type Error = tower::BoxError;
    type Future = TransportFuture;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match self {
            Self::Network(channel) => channel.poll_ready(context).map_err(Into::into),
            // The router is always ready; the service's own limits apply inside.
            Self::InProcess(_) => Poll::Ready(Ok(())),
        }
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        match self {
            Self::Network(channel) => {
                let call = channel.call(request);
                Box::pin(async move { call.await.map_err(Into::into) })
            }
            Self::InProcess(target) => {
                use futures::FutureExt as _;
                use tower::ServiceExt as _;
                let call = target.routes.clone().oneshot(request);
                let runtime = target.runtime.clone();
                let timeout = target.timeout;
                Box::pin(async move {
                    let call =
                        std::panic::AssertUnwindSafe(in_runtime(runtime, call)).catch_unwind();
                    let outcome = match timeout {
                        Some(limit) => tokio::time::timeout(limit, call).await.map_err(|_| {
                            tower::BoxError::from(tonic::Status::deadline_exceeded(
                                "the service did not answer in time",
                            ))
                        })?,
                        None => call.await,
                    };
                    match outcome {
                        Ok(Ok(response)) => Ok(response),
                        Ok(Err(never)) => match never {},
                        Err(_panic) => Err(tower::BoxError::from(tonic::Status::internal(
                            "the service's call failed",
                        ))),
                    }
                })
            }
        }
    }
}

/// Polls `call` on the caller's thread inside `runtime`'s context: what the call spawns,
/// its sockets, timers and blocking work belong to the service's runtime, as they would
/// if it ran there, but the call itself is not handed to another thread and back (two
/// wake-ups and two context switches per call, the largest single cost of a short read
/// in the embedded default: ADR 0058).
async fn in_runtime<F: std::future::Future>(runtime: tokio::runtime::Handle, call: F) -> F::Output {
    let mut call = std::pin::pin!(call);
    std::future::poll_fn(move |context| {
        let _entered = runtime.enter();
        call.as_mut().poll(context)
    })
    .await
}

/// An upload's messages (`start`, chunks, `end`) as the gateway sends them.
pub type UploadMessages =
    futures::stream::BoxStream<'static, talkapp_proto::media::v1::UploadRequest>;

/// The media service's `Upload` in this process (the embedded default), taking the
/// call's messages as values instead of through the router: no protobuf encoding of
/// every chunk on one side and decoding into a growing buffer on the other, which cost
/// about a quarter of an upload's CPU, all of it on the upload's task (ADR 0051). The
/// messages, their order and meaning, and the answer (the `FileInfo`, or a status with
/// the stable code) are those of the gRPC call; every other call of the media service
/// still goes through its router ([`InProcess`]).
pub trait InProcessUploads: Send + Sync + std::fmt::Debug {
    /// Stores the upload `messages` carry, as `MediaService/Upload` would: a stream that
    /// ends without `end` stores nothing.
    fn upload(
        &self,
        messages: UploadMessages,
    ) -> BoxFuture<'static, Result<talkapp_proto::media::v1::FileInfo, tonic::Status>>;
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use tonic::server::NamedService;
    use tower::ServiceExt as _;

    use super::*;

    /// A service that answers with the thread that polled its call and the thread its
    /// spawned task ran on, or panics when asked to.
    #[derive(Clone)]
    struct WhereAmI;

    impl NamedService for WhereAmI {
        const NAME: &'static str = "test.WhereAmI";
    }

    impl tower::Service<http::Request<tonic::body::Body>> for WhereAmI {
        type Response = http::Response<tonic::body::Body>;
        type Error = Infallible;
        type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
            let panics = request.uri().path().ends_with("/Panic");
            Box::pin(async move {
                assert!(!panics, "the service's call panicked");
                let polled_on = std::thread::current().name().unwrap_or("").to_owned();
                let spawned_on =
                    tokio::spawn(async { std::thread::current().name().unwrap_or("").to_owned() })
                        .await
                        .expect("the spawned task ran");
                Ok(http::Response::builder()
                    .header("polled-on", polled_on)
                    .header("spawned-on", spawned_on)
                    .body(tonic::body::Body::empty())
                    .expect("a valid response"))
            })
        }
    }

    fn service_runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("service")
            .enable_all()
            .build()
            .expect("a runtime")
    }

    fn call(
        transport: Transport,
        path: &str,
    ) -> Result<http::Response<tonic::body::Body>, tower::BoxError> {
        let caller = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let request = http::Request::builder()
            .method("POST")
            .uri(format!("http://in-process/test.WhereAmI/{path}"))
            .header("content-type", "application/grpc")
            .body(tonic::body::Body::empty())
            .expect("a valid request");
        caller.block_on(transport.oneshot(request))
    }

    #[test]
    fn an_in_process_call_is_polled_by_the_caller_and_spawns_on_the_services_runtime() {
        let service = service_runtime();
        let transport = Transport::InProcess(InProcess::new(
            Routes::new(WhereAmI),
            service.handle().clone(),
            Some(Duration::from_secs(5)),
        ));
        let caller = std::thread::Builder::new()
            .name("caller".into())
            .spawn(move || call(transport, "Where"))
            .expect("a thread");
        let response = caller.join().expect("the caller ran").expect("an answer");
        let header = |name: &str| response.headers()[name].to_str().expect("text").to_owned();
        assert_eq!(header("polled-on"), "caller");
        assert_eq!(header("spawned-on"), "service");
    }

    #[test]
    fn an_in_process_call_that_panics_answers_an_internal_status() {
        let service = service_runtime();
        let transport = Transport::InProcess(InProcess::new(
            Routes::new(WhereAmI),
            service.handle().clone(),
            None,
        ));
        let error = call(transport, "Panic").expect_err("the call failed");
        let status = error.downcast::<tonic::Status>().expect("a gRPC status");
        assert_eq!(status.code(), tonic::Code::Internal);
    }
}
