//! Where Telegram is, and opening a grammers connection to it.

use std::net::SocketAddrV4;
use std::num::NonZeroUsize;
use std::sync::Arc;

use async_trait::async_trait;
use grammers_client::Client;
use grammers_mtsender::{ConnectionParams, NoRetries, SenderPool};
use grammers_session::updates::UpdatesLike;
use tokio::sync::mpsc;

use crate::session::{SessionSnapshot, StoredSession};

/// The smallest updates buffer a connection gets.
const MIN_UPDATES_CAPACITY: usize = 100;

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

/// The data center id a sandbox process serves (`talkapp_tg_sandbox::SANDBOX_DC_ID`; the
/// all-in-one binary's tests check that the two agree).
pub const SANDBOX_DC_ID: i32 = 2;

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

    /// `snapshot` made ready for this endpoint: for a local data center, the session's
    /// address of it is set to where it listens now (a sandbox may move between runs;
    /// the keys it issued stay valid). Telegram's own addresses are left as they are.
    pub fn adapt(&self, mut snapshot: SessionSnapshot) -> SessionSnapshot {
        if let Target::Preset { dc_id, address, .. } = &self.target {
            for option in &mut snapshot.dc_options {
                if option.id == *dc_id {
                    option.ipv4 = *address;
                    option.ipv6 = std::net::SocketAddrV6::new(
                        address.ip().to_ipv6_mapped(),
                        address.port(),
                        0,
                        0,
                    );
                }
            }
        }
        snapshot
    }

    /// Opens a client over `session`. The runner drives the connection until the
    /// [`Connection`] is closed or dropped. Updates are not listened to (a login's
    /// short-lived connection); see [`TelegramEndpoint::connect_with_updates`].
    pub fn connect(&self, session: Arc<StoredSession>) -> Connection {
        let mut connection = self.connect_with_updates(session, MIN_UPDATES_CAPACITY);
        // Dropping the receiver tells the sender to stop forwarding updates.
        connection.updates = None;
        connection
    }

    /// Opens a client over `session` whose updates arrive on [`Connection::updates`],
    /// buffered up to `updates_capacity` (grammers drops updates beyond that; the gap is
    /// then recovered through getDifference, at a cost, so the buffer should be ample).
    pub fn connect_with_updates(
        &self,
        session: Arc<StoredSession>,
        updates_capacity: usize,
    ) -> Connection {
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
                updates_channel_capacity: NonZeroUsize::new(
                    updates_capacity.max(MIN_UPDATES_CAPACITY),
                )
                .unwrap_or(NonZeroUsize::MIN),
                ..ConnectionParams::default()
            },
        );
        let client = Client::new(pool.handle);
        let runner = tokio::spawn(pool.runner.run());
        Connection {
            client,
            session,
            updates: Some(pool.updates),
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
    /// The updates Telegram pushes, for [`Client::stream_updates`] (taken once).
    pub updates: Option<mpsc::Receiver<UpdatesLike>>,
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

/// Tries of one key request to the sandbox's admin API.
const ISSUE_ATTEMPTS: u32 = 4;

/// Keys from a sandbox running as its own process, through its admin API
/// (`POST /v1/auth_keys`).
pub struct SandboxAdminIssuer {
    url: String,
    http: reqwest::Client,
}

impl SandboxAdminIssuer {
    /// An issuer asking the admin API at `admin_url` (`http://127.0.0.1:9444`).
    pub fn new(admin_url: &str) -> Result<Self, IssueError> {
        // reqwest is built without a default TLS crypto provider; pick one for the process
        // (a no-op when one is installed already).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .build()?;
        Ok(Self {
            url: format!("{}/v1/auth_keys", admin_url.trim_end_matches('/')),
            http,
        })
    }
}

#[derive(serde::Deserialize)]
struct IssuedKey {
    auth_key: String,
}

#[async_trait]
impl AuthKeyIssuer for SandboxAdminIssuer {
    async fn issue_auth_key(&self) -> Result<[u8; 256], IssueError> {
        use base64::Engine as _;
        // A burst of logins (a thousand at once in the benchmarks) can keep the admin API
        // busy past a request's timeout. Asking again is safe: a key issued but never
        // used is only an unused key.
        let mut attempt = 0_u32;
        let issued: IssuedKey = loop {
            attempt += 1;
            let answer = async {
                self.http
                    .post(&self.url)
                    .send()
                    .await?
                    .error_for_status()?
                    .json::<IssuedKey>()
                    .await
            }
            .await;
            match answer {
                Ok(issued) => break issued,
                Err(error)
                    if attempt < ISSUE_ATTEMPTS
                        && (error.is_connect() || error.is_timeout() || error.is_request()) =>
                {
                    tracing::debug!(%error, attempt, "sandbox admin api busy; asking again");
                    tokio::time::sleep(std::time::Duration::from_millis(200 * u64::from(attempt)))
                        .await;
                }
                Err(error) => return Err(error.into()),
            }
        };
        let bytes = base64::engine::general_purpose::STANDARD.decode(issued.auth_key)?;
        <[u8; 256]>::try_from(bytes.as_slice())
            .map_err(|_| format!("the sandbox issued a key of {} bytes", bytes.len()).into())
    }
}

#[cfg(test)]
mod tests {
    use grammers_session::updates::{MessageBoxes, UpdatesLike};
    use grammers_tl_types as tl;

    /// Slots in one block of a tokio mpsc channel (tokio's `BLOCK_CAP` on 64-bit targets).
    const TOKIO_BLOCK_SLOTS: usize = 32;

    /// The size of one slot of grammers' updates channel. Every connection (one per linked
    /// account) has that channel, and tokio allocates it in blocks of 32 slots, the first
    /// one at once: upstream's `UpdatesLike` of about 5.3 KiB made that 168.75 KiB per
    /// account, even idle. The patched grammers-session (`vendor/grammers-session`, ADR
    /// 0061) boxes the large payloads; this fails if an update of grammers undoes that.
    #[test]
    fn an_updates_channel_slot_is_a_few_dozen_bytes() {
        let slot = std::mem::size_of::<UpdatesLike>();
        eprintln!(
            "UpdatesLike: {slot} bytes; a channel block of {TOKIO_BLOCK_SLOTS}: {} bytes",
            slot * TOKIO_BLOCK_SLOTS
        );
        assert!(
            slot <= 64,
            "grammers' UpdatesLike is {slot} bytes, so each connection's updates channel \
             holds blocks of {} KiB (bound: 64 bytes a slot); see vendor/README.md",
            slot * TOKIO_BLOCK_SLOTS / 1024
        );
    }

    /// Real Telegram answers `messages.sendMessage` to a private chat with
    /// `updateShortSentMessage`, which grammers-mtsender pairs with the request into
    /// `UpdatesLike::ShortSentMessage` (boxed since ADR 0061; the sandbox never answers so,
    /// so nothing else here takes this path): it still becomes the sent message.
    #[test]
    fn a_short_sent_message_still_becomes_the_message_its_request_describes() {
        let mut boxes = MessageBoxes::new();
        boxes.set_state(tl::types::updates::State {
            pts: 10,
            qts: 0,
            date: 1_000,
            seq: 1,
            unread_count: 0,
        });
        let request = tl::functions::messages::SendMessage {
            no_webpage: false,
            silent: true,
            background: false,
            clear_draft: false,
            noforwards: false,
            update_stickersets_order: false,
            invert_media: false,
            allow_paid_floodskip: false,
            peer: tl::types::InputPeerUser {
                user_id: 7,
                access_hash: 0,
            }
            .into(),
            reply_to: None,
            message: "salom".into(),
            random_id: 1,
            reply_markup: None,
            entities: None,
            schedule_date: None,
            schedule_repeat_period: None,
            send_as: None,
            quick_reply_shortcut: None,
            effect: None,
            allow_paid_stars: None,
            suggested_post: None,
            rich_message: None,
        };
        let update = tl::types::UpdateShortSentMessage {
            out: true,
            id: 42,
            pts: 11,
            pts_count: 1,
            date: 1_001,
            media: None,
            entities: None,
            ttl_period: None,
        };
        let (updates, _, _) = boxes
            .process_updates(UpdatesLike::ShortSentMessage {
                request: Box::new(request),
                update: Box::new(update),
            })
            .expect("no gap: pts 10 + 1");
        let [(tl::enums::Update::NewMessage(new), _)] = updates.as_slice() else {
            panic!("one new message: {updates:?}");
        };
        let tl::enums::Message::Message(message) = &new.message else {
            panic!("a message: {new:?}");
        };
        assert_eq!(
            (
                message.id,
                message.message.as_str(),
                message.out,
                message.silent
            ),
            (42, "salom", true, true)
        );
        assert_eq!(
            message.peer_id,
            tl::enums::Peer::User(tl::types::PeerUser { user_id: 7 })
        );
        assert_eq!((new.pts, message.date), (11, 1_001));
    }
}
