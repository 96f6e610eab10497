//! Which Telegram the chat service talks to, from the configuration: Telegram itself
//! (`telegram.mode = "telegram"`), a sandbox running as its own process
//! (`telegram.sandbox_address`), or a sandbox inside this process (the embedded default).

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;

use async_trait::async_trait;
use secrecy::ExposeSecret as _;
use talkapp_common::config::{Config, TelegramMode};
use talkapp_telegram::endpoint::{
    AuthKeyIssuer, IssueError, SandboxAdminIssuer, Target, TelegramEndpoint,
};
use talkapp_telegram::sealing::Sealer;
use talkapp_tg_sandbox::{DemoScale, SANDBOX_DC_ID, Sandbox, SandboxHandle, SandboxOptions, Seed};

/// Keys from a sandbox in this process (saved in its state file before they are used).
struct InProcessIssuer(Arc<SandboxHandle>);

#[async_trait]
impl AuthKeyIssuer for InProcessIssuer {
    async fn issue_auth_key(&self) -> Result<[u8; 256], IssueError> {
        Ok(self.0.create_auth_key().await?.auth_key)
    }
}

/// Where Telegram is, and the sandbox this process runs if it runs one.
pub struct TelegramSetup {
    /// How accounts are reached.
    pub endpoint: TelegramEndpoint,
    /// The in-process sandbox, when there is one.
    pub sandbox: Option<Arc<SandboxHandle>>,
}

impl TelegramSetup {
    /// Reads `telegram.*`: starts an in-process sandbox when the mode is `sandbox` and
    /// no external one is configured.
    pub async fn from_config(config: &Config) -> anyhow::Result<Self> {
        let telegram = &config.telegram;
        let api_hash = telegram.api_hash.expose_secret().to_owned();
        match telegram.mode {
            TelegramMode::Telegram => Ok(Self {
                endpoint: TelegramEndpoint {
                    api_id: telegram.api_id,
                    api_hash,
                    target: Target::Telegram,
                },
                sandbox: None,
            }),
            TelegramMode::Sandbox if !telegram.sandbox_address.is_empty() => {
                let address: SocketAddrV4 = telegram.sandbox_address.parse()?;
                let issuer = SandboxAdminIssuer::new(&telegram.sandbox_admin_url)
                    .map_err(|error| anyhow::anyhow!("sandbox admin client: {error}"))?;
                Ok(Self {
                    endpoint: TelegramEndpoint {
                        api_id: telegram.api_id,
                        api_hash,
                        target: Target::Preset {
                            dc_id: SANDBOX_DC_ID,
                            address,
                            issuer: Arc::new(issuer),
                        },
                    },
                    sandbox: None,
                })
            }
            TelegramMode::Sandbox => {
                // The world is built from the seed (or the demo) only on the first start;
                // afterwards it is resumed from the state file, with the keys it issued.
                let options = if telegram.sandbox_seed.is_empty() {
                    SandboxOptions::seed(Seed::demo(DemoScale::default()))
                } else {
                    let text =
                        std::fs::read_to_string(&telegram.sandbox_seed).map_err(|error| {
                            anyhow::anyhow!(
                                "telegram.sandbox_seed: cannot read {}: {error}",
                                telegram.sandbox_seed
                            )
                        })?;
                    SandboxOptions::seed(Seed::from_json(&text)?)
                };
                let state_file = config.data.dir.join("sandbox").join("state.json");
                if let Some(parent) = state_file.parent() {
                    talkapp_common::secrets::create_private_dir(parent)?;
                }
                let sandbox = Arc::new(
                    Sandbox::start_with(
                        options
                            .listen(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
                            .state_file(state_file),
                    )
                    .await?,
                );
                let address = SocketAddrV4::new(Ipv4Addr::LOCALHOST, sandbox.port());
                tracing::info!(%address, "telegram sandbox running in process");
                Ok(Self {
                    endpoint: TelegramEndpoint {
                        api_id: telegram.api_id,
                        api_hash,
                        target: Target::Preset {
                            dc_id: SANDBOX_DC_ID,
                            address,
                            issuer: Arc::new(InProcessIssuer(Arc::clone(&sandbox))),
                        },
                    },
                    sandbox: Some(sandbox),
                })
            }
        }
    }
}

/// The sealer of Telegram sessions: the configured key, or one generated once into the
/// data directory (a single process).
pub fn session_sealer(config: &Config) -> anyhow::Result<Sealer> {
    let key = talkapp_common::secrets::configured_or_generated(
        config.telegram_session_key().map(|key| key.to_vec()),
        &config.data.dir,
        "telegram-session.key",
        32,
    )?;
    let key: [u8; 32] = key
        .as_slice()
        .try_into()
        .map_err(|_| anyhow::anyhow!("the telegram session key must be 32 bytes"))?;
    Ok(Sealer::new(&key))
}
