//! What every TalkApp process shares.
//!
//! # Layout
//! - [`config`]: the one configuration (embedded defaults, optional file, `TALKAPP_*` env),
//!   validated at start with messages that name the bad key.
//! - [`telemetry`]: logs (text or JSON), the Prometheus recorder, OTLP trace export.
//! - [`error_code`]: the stable error codes shared by HTTP (problem+json) and gRPC.
//! - [`grpc`]: serving a tonic service with health, `/metrics`, request metrics and
//!   trace-context extraction; the client-side trace-context interceptor.
//! - [`grpc_server`]: one gRPC service with health and `/metrics` on one listener.
//! - [`per_thread`]: values each HTTP worker thread keeps a copy of its own (its
//!   connections: ADR 0055, 0075).
//! - [`probe`]: dependency probes (Redis, RabbitMQ, ...) used by health and `/readyz`.
//! - [`process`]: the shared thin `main` (config, telemetry, run, flush).
//! - [`secrets`]: configured secrets, or ones the embedded default generates and keeps.
//! - [`shutdown`]: the signal-to-`CancellationToken` bridge.

pub mod config;
pub mod error_code;
pub mod grpc;
pub mod grpc_server;
pub mod per_thread;
pub mod probe;
pub mod process;
pub mod secrets;
pub mod shutdown;
pub mod telemetry;

pub use error_code::ErrorCode;
