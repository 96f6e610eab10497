//! The local Telegram sandbox inside the process: the embedded default's Telegram when no
//! real API credentials and no sandbox process are configured. It lives here, in the
//! all-in-one binary, so that the services' own binaries carry no test Telegram.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;

use async_trait::async_trait;
use secrecy::ExposeSecret as _;
use talkapp_chat_service::telegram::TelegramSetup;
use talkapp_common::config::{Config, TelegramMode};
use talkapp_telegram::endpoint::{AuthKeyIssuer, IssueError, Target, TelegramEndpoint};
use talkapp_tg_sandbox::{DemoScale, SANDBOX_DC_ID, Sandbox, SandboxHandle, SandboxOptions, Seed};

/// Keys from the sandbox in this process (saved in its state file before they are used).
struct InProcessIssuer(Arc<SandboxHandle>);

#[async_trait]
impl AuthKeyIssuer for InProcessIssuer {
    async fn issue_auth_key(&self) -> Result<[u8; 256], IssueError> {
        Ok(self.0.create_auth_key().await?.auth_key)
    }
}

/// Whether `config` asks for the sandbox inside this process: sandbox mode with no
/// sandbox process named.
pub fn wanted(config: &Config) -> bool {
    config.telegram.mode == TelegramMode::Sandbox && config.telegram.sandbox_address.is_empty()
}

/// Starts the sandbox on a private loopback port, its state under
/// `data/sandbox/state.json`: built from the seed (or the demo world) on the first start,
/// resumed from the state file, with the keys it issued, afterwards. Returns the chat
/// service's way to reach it, and the sandbox (saved by the caller on shutdown).
pub async fn start(config: &Config) -> anyhow::Result<(TelegramSetup, Arc<SandboxHandle>)> {
    let telegram = &config.telegram;
    let options = if telegram.sandbox_seed.is_empty() {
        SandboxOptions::seed(Seed::demo(DemoScale::default()))
    } else {
        let text = std::fs::read_to_string(&telegram.sandbox_seed).map_err(|error| {
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
    let setup = TelegramSetup {
        endpoint: TelegramEndpoint {
            api_id: telegram.api_id,
            api_hash: telegram.api_hash.expose_secret().to_owned(),
            target: Target::Preset {
                dc_id: SANDBOX_DC_ID,
                address,
                issuer: Arc::new(InProcessIssuer(Arc::clone(&sandbox))),
            },
        },
    };
    Ok((setup, sandbox))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_chat_service_and_the_sandbox_agree_on_the_sandbox_data_center() {
        assert_eq!(
            talkapp_telegram::endpoint::SANDBOX_DC_ID,
            talkapp_tg_sandbox::SANDBOX_DC_ID
        );
    }
}
