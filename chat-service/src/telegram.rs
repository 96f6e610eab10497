//! Which Telegram the chat service talks to, from the configuration: Telegram itself
//! (`telegram.mode = "telegram"`) or a sandbox running as its own process
//! (`telegram.sandbox_address`). The sandbox inside the process (the embedded default) is
//! not linked into this crate: the all-in-one binary (`talkapp`) starts it and hands the
//! chat service its [`TelegramSetup`], so a production chat-service carries no test
//! Telegram.

use std::net::SocketAddrV4;
use std::sync::Arc;

use secrecy::ExposeSecret as _;
use talkapp_common::config::{Config, TelegramMode};
use talkapp_telegram::endpoint::{SANDBOX_DC_ID, SandboxAdminIssuer, Target, TelegramEndpoint};
use talkapp_telegram::sealing::Sealer;

/// Where Telegram is.
pub struct TelegramSetup {
    /// How accounts are reached.
    pub endpoint: TelegramEndpoint,
}

impl TelegramSetup {
    /// Reads `telegram.*`. A sandbox inside the process is not started here: in sandbox
    /// mode `telegram.sandbox_address` names a sandbox process, or the caller (the
    /// all-in-one binary) builds the setup itself.
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let telegram = &config.telegram;
        let api_hash = telegram.api_hash.expose_secret().to_owned();
        match telegram.mode {
            TelegramMode::Telegram => Ok(Self {
                endpoint: TelegramEndpoint {
                    api_id: telegram.api_id,
                    api_hash,
                    target: Target::Telegram,
                },
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
                })
            }
            TelegramMode::Sandbox => anyhow::bail!(
                "configuration key `telegram.sandbox_address` is required in sandbox mode: \
                 the chat service reaches a sandbox process there (the sandbox inside the \
                 process runs only in the all-in-one binary, `talkapp`)"
            ),
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
