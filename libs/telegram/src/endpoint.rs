//! Where Telegram is, and opening a grammers connection to it.

use std::net::SocketAddrV4;
use std::sync::Arc;

use async_trait::async_trait;
use grammers_client::Client;
use grammers_mtsender::{ConnectionParams, NoRetries, SenderPool};

use crate::session::StoredSession;

/// Gives out auth keys that a local data center knows (it cannot do Telegram's RSA key
/// exchange, whose public keys are compiled into grammers).
#[async_trait]
pub trait AuthKeyIssuer: Send + Sync {
    /// A fresh 2048-bit auth key, not yet bound to any account.
    async fn issue_auth_key(&self) -> Result<[u8; 256], IssueError>;
}

/// Why no key could be issued.
pub type IssueError = Box<dyn std::error::Error + Send + Sync>;

/// Which data center to talk to.
#[derive(Clone)]
pub enum Target {
    /// Telegram itself: grammers' known data centers and the normal key exchange.
    Telegram,
    /// A local data center at `address`, known as `dc_id`, whose keys come from `issuer`.
    Preset {
        /// The DC id sessions are homed on.
        dc_id: i32,
        /// Where it listens.
        address: SocketAddrV4,
        /// Where fresh keys come from.
        issuer: Arc<dyn AuthKeyIssuer>,
    },
}

/// How TalkApp reaches Telegram.
#[derive(Clone)]
pub struct TelegramEndpoint {
    /// The application's `api_id`.
    pub api_id: i32,
    /// The application's `api_hash`.
    pub api_hash: String,
    /// Which data center.
    pub target: Target,
}

impl TelegramEndpoint {
    /// A session for a new login: empty for Telegram (the key exchange happens on connect),
    /// or holding a freshly issued key for a local data center.
    pub async fn new_session(&self) -> Result<StoredSession, IssueError> {
        match &self.target {
            Target::Telegram => Ok(StoredSession::default()),
            Target::Preset {
                dc_id,
                address,
                issuer,
            } => Ok(StoredSession::with_preset_key(
                *dc_id,
                *address,
                issuer.issue_auth_key().await?,
            )),
        }
    }

    /// Opens a client over `session`. The runner drives the connection until the
    /// [`Connection`] is closed or dropped.
    pub fn connect(&self, session: Arc<StoredSession>) -> Connection {
        let pool = SenderPool::with_configuration(
            Arc::clone(&session),
            self.api_id,
            ConnectionParams {
                device_model: "TalkApp".into(),
                system_version: std::env::consts::OS.into(),
                app_version: env!("CARGO_PKG_VERSION").into(),
                // grammers' default sleeps through FLOOD_WAIT inside the call; TalkApp
                // surfaces it instead, so that jobs are rescheduled and no worker blocks.
                retry_policy: Box::new(NoRetries),
                ..ConnectionParams::default()
            },
        );
        let client = Client::new(pool.handle);
        let runner = tokio::spawn(pool.runner.run());
        Connection {
            client,
            session,
            runner,
        }
    }
}

/// An open grammers client and the session it uses.
pub struct Connection {
    /// The client.
    pub client: Client,
    /// Its session (snapshot it to persist).
    pub session: Arc<StoredSession>,
    runner: tokio::task::JoinHandle<()>,
}

impl Connection {
    /// Disconnects and waits for the runner to stop.
    pub async fn close(mut self) {
        self.client.disconnect();
        if let Err(error) = (&mut self.runner).await
            && error.is_panic()
        {
            tracing::warn!("telegram connection runner panicked");
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.runner.abort();
    }
}
