//! Test helpers for fault tests: servers a test owns, so that it may stop, restart or
//! stall them without disturbing anything else on the machine (the shared PostgreSQL,
//! Redis and RabbitMQ other test runs use are never touched).
//!
//! Each private server runs from a fresh temporary directory on free loopback ports and
//! is stopped and removed when its handle is dropped. They start fast (RabbitMQ in
//! about 4 s, PostgreSQL about 2 s, Redis at once) and use the packages the machine
//! already has (`rabbitmq-server`, `postgresql`, `redis-server`; `.ci/run` makes sure of
//! them). This crate is a dev-dependency only: nothing here reaches a production build.
//!
//! # Layout
//! - [`rabbitmq`]: [`PrivateRabbitMq`], a RabbitMQ node of its own (`stop_app` /
//!   `start_app` / a full restart).
//! - [`redis`]: [`PrivateRedis`], a `redis-server` of its own (restart, with or without
//!   its data).
//! - [`postgres`]: [`PrivatePostgres`], a PostgreSQL cluster of its own (`initdb` into a
//!   temporary directory; restart).
//! - [`proxy`]: [`StallingProxy`], a TCP proxy whose links can be cut, or stalled (kept
//!   open while nothing passes: a peer that stopped answering).
//! - [`s3_full`]: [`FullS3Proxy`], an HTTP proxy in front of an S3-compatible server that
//!   answers object writes as a full MinIO does (507 `XMinioStorageFull`), or as a server
//!   over its quota ([`Refusal`]: Ceph's 403 `QuotaExceeded`, MinIO's 400
//!   `XMinioAdminBucketQuotaExceeded`), while told to; or a completion or a copy with a
//!   `200` whose body is an error ([`InBody`]).
//! - [`tmpfs`]: [`Tmpfs`], a small filesystem mounted for a test to fill up (root only).
//! - [`voice`]: long voice notes made by `ffmpeg`, loud in the minutes a test picks.
//! - this file: free ports, temporary directories, waiting for a port.

#![allow(clippy::missing_panics_doc)]

pub mod postgres;
pub mod proxy;
pub mod rabbitmq;
pub mod redis;
pub mod s3_full;
pub mod tmpfs;
pub mod voice;

use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use postgres::PrivatePostgres;
pub use proxy::StallingProxy;
pub use rabbitmq::PrivateRabbitMq;
pub use redis::PrivateRedis;
pub use s3_full::{FullS3Proxy, InBody, Refusal};
pub use tmpfs::Tmpfs;

/// A loopback port nobody listens on (at the moment of asking).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// A fresh directory under the system's temporary directory, readable by its owner only.
pub fn temp_dir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    dir
}

/// Whether something accepts TCP connections on `127.0.0.1:port`.
pub fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

/// Waits until `ready` says yes, polling every 50 ms; panics naming `what` after
/// `within`.
pub async fn wait_until(what: &str, within: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "{what} not ready within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether this process runs as root (servers that refuse root are then started as
/// their own service user).
fn running_as_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
}
