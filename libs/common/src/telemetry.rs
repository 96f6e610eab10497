//! Logs, metrics and traces.
//!
//! [`init`] installs the global `tracing` subscriber (text or JSON lines, plus the
//! OpenTelemetry layer when an OTLP endpoint is configured) and the W3C trace-context
//! propagator. [`prometheus`] installs the process-wide Prometheus recorder once; every
//! `metrics::counter!`/`histogram!` in the process lands there and `/metrics` renders it.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogConfig, LogFormat, TelemetryConfig};

/// Latency buckets in seconds, fine below 100 ms where the targets are.
const LATENCY_BUCKETS_SECONDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Keeps the trace pipeline alive; [`TelemetryGuard::shutdown`] flushes it.
#[must_use = "dropping the guard without shutdown may lose the last spans"]
pub struct TelemetryGuard {
    tracer_provider: Option<SdkTracerProvider>,
}

impl TelemetryGuard {
    /// Flushes and stops the trace exporter, if any.
    pub fn shutdown(self) {
        if let Some(provider) = self.tracer_provider
            && let Err(error) = provider.shutdown()
        {
            eprintln!("trace exporter did not shut down cleanly: {error}");
        }
    }
}

/// Installs logging, tracing and the propagator for a process named `service_name`.
pub fn init(
    service_name: &'static str,
    log: &LogConfig,
    telemetry: &TelemetryConfig,
) -> anyhow::Result<TelemetryGuard> {
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let filter = EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new(&log.filter))?;

    let tracer_provider = if telemetry.otlp_endpoint.is_empty() {
        None
    } else {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(telemetry.otlp_endpoint.clone())
            .with_timeout(Duration::from_secs(5))
            .build()?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                telemetry.sample_ratio,
            ))))
            .with_resource(
                opentelemetry_sdk::Resource::builder()
                    .with_service_name(service_name)
                    .build(),
            )
            .build();
        opentelemetry::global::set_tracer_provider(provider.clone());
        Some(provider)
    };
    // Each layer has its own filter: quieter logs must not thin out the traces.
    let trace_filter = EnvFilter::try_new(&telemetry.filter)?;
    let otel_layer = tracer_provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer(service_name))
            .with_filter(trace_filter)
    });
    let log_layer = match log.format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_filter(filter)
            .boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .with_filter(filter)
            .boxed(),
    };
    tracing_subscriber::registry()
        .with(otel_layer)
        .with(log_layer)
        .try_init()?;
    Ok(TelemetryGuard { tracer_provider })
}

/// The process-wide Prometheus recorder, installed on first use.
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Suffix("_seconds".to_owned()),
                LATENCY_BUCKETS_SECONDS,
            )
            .expect("latency buckets are not empty");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (a test harness); then ours still
        // renders what is recorded through it directly, and the global one is left alone.
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed");
        }
        describe_metrics();
        handle
    })
}

/// The service-level metrics the dashboard (`deploy/grafana/`) and the alert rules
/// (`deploy/prometheus/rules.yaml`) use, described once, and those that count rare events
/// registered at zero so that every series exists from the start (a rate over a series
/// that appears only with its first event hides that first event).
fn describe_metrics() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "talkapp_http_requests_total",
        "HTTP requests by method, route and status"
    );
    describe_histogram!(
        "talkapp_http_request_duration_seconds",
        "HTTP request duration by method and route"
    );
    describe_counter!(
        "talkapp_http_errors_total",
        "HTTP error responses by problem code"
    );
    describe_gauge!("talkapp_ws_connections", "Open WebSocket connections");
    describe_gauge!(
        "talkapp_ws_feeds",
        "Linked accounts with a socket on this gateway: one event stream each"
    );
    describe_counter!(
        "talkapp_ws_feed_catch_ups_total",
        "Sockets that fell behind their account's feed and caught up by their own stream"
    );
    describe_gauge!(
        "talkapp_realtime_log_events",
        "Events the in-process replay log holds (embedded default)"
    );
    describe_gauge!(
        "talkapp_realtime_log_bytes",
        "Payload and repeat-key bytes the in-process replay log holds (embedded default)"
    );
    describe_gauge!(
        "talkapp_realtime_log_accounts",
        "Accounts the in-process replay log holds events of (embedded default)"
    );
    describe_gauge!("talkapp_users", "Built-in accounts");
    describe_gauge!(
        "talkapp_active_users",
        "Users whose sign-in was used within the window (1d, 7d)"
    );
    describe_gauge!(
        "talkapp_linked_accounts",
        "Linked Telegram accounts by connection status"
    );
    describe_gauge!(
        "talkapp_send_jobs_waiting",
        "Send jobs accepted and not final yet"
    );
    describe_gauge!(
        "talkapp_send_job_oldest_age_seconds",
        "Age of the oldest send job not final yet"
    );
    describe_counter!(
        "talkapp_sends_total",
        "Send jobs that reached sent or failed, by kind"
    );
    describe_counter!(
        "talkapp_messages_total",
        "New messages seen on linked accounts, by direction"
    );
    describe_counter!(
        "talkapp_telegram_flood_waits_total",
        "FLOOD_WAIT answers from Telegram, by call"
    );
    describe_counter!(
        "talkapp_telegram_status_changes_total",
        "Linked accounts' connection status changes, by new status"
    );
    describe_counter!("talkapp_audit_records_total", "Audit records stored");
    describe_counter!(
        "talkapp_bus_events_replayed_total",
        "Recent events published again on a new broker connection (ADR 0045)"
    );
    describe_counter!(
        "talkapp_bus_replay_window_dropped_total",
        "Events pushed out of the publisher's replay window by its count or byte bound"
    );
    describe_counter!(
        "talkapp_audit_logged_instead_total",
        "Audit records the store did not take, written to the log instead"
    );
    describe_counter!(
        "talkapp_media_write_failures_total",
        "Writes the media service could not make to its storage (uploads, previews), by reason: no_space (ENOSPC, or an S3 server out of space: 507), disk_quota (EDQUOT), storage_quota (an S3 bucket's or user's quota: Ceph's QuotaExceeded, MinIO's XMinioAdminBucketQuotaExceeded), io (an upload's other local write failures); no_space and disk_quota also count the preview tools' temporary directory found full"
    );
    for kind in ["text", "media"] {
        for outcome in ["sent", "failed"] {
            metrics::counter!("talkapp_sends_total", "kind" => kind, "outcome" => outcome)
                .increment(0);
        }
    }
    for direction in ["in", "out"] {
        metrics::counter!("talkapp_messages_total", "direction" => direction).increment(0);
    }
    metrics::counter!("talkapp_telegram_flood_waits_total", "call" => "send").increment(0);
    metrics::counter!("talkapp_bus_events_replayed_total").increment(0);
    metrics::counter!("talkapp_bus_replay_window_dropped_total").increment(0);
    for status in ["connected", "connecting", "logged_out", "flood_wait"] {
        metrics::counter!("talkapp_telegram_status_changes_total", "status" => status).increment(0);
    }
    metrics::counter!("talkapp_audit_records_total").increment(0);
    metrics::counter!("talkapp_audit_logged_instead_total").increment(0);
    for reason in ["no_space", "disk_quota", "storage_quota", "io"] {
        metrics::counter!("talkapp_media_write_failures_total", "reason" => reason).increment(0);
    }
}

/// Spawns the periodic upkeep the Prometheus recorder needs (histogram draining).
pub fn spawn_metrics_upkeep(shutdown: tokio_util::sync::CancellationToken) {
    let handle = prometheus().clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = tick.tick() => handle.run_upkeep(),
                () = shutdown.cancelled() => break,
            }
        }
    });
}
