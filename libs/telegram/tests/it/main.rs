//! The Telegram adapter against the local sandbox, through the real grammers client.
//!
//! # Layout
//! - this file: a signed-in [`Account`] of a demo user ([`signed_in`]).
//! - `login`: the 2FA password step, and that its proof leaves the runtime free.
//! - `profiles`: the account's own profile and another user's (`users.getFullUser`).
//! - `search`: Telegram's search paged with its own offsets, in one chat and across chats.
//! - `send_media`: uploads in parts, photos, documents, voice notes, albums, what an
//!   account remembers of its uploads.

mod login;
mod profiles;
mod search;
mod send_media;

use std::net::SocketAddrV4;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use talkapp_telegram::account::{Account, AccountEvent, AccountOptions, AccountStatus};
use talkapp_telegram::endpoint::{
    AuthKeyIssuer, IssueError, SANDBOX_DC_ID, Target, TelegramEndpoint,
};
use talkapp_telegram::login::{AfterCode, Login};
use talkapp_tg_sandbox::{Sandbox, SandboxHandle, World};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

struct SandboxIssuer(Arc<SandboxHandle>);

#[async_trait]
impl AuthKeyIssuer for SandboxIssuer {
    async fn issue_auth_key(&self) -> Result<[u8; 256], IssueError> {
        Ok(self.0.create_auth_key().await?.auth_key)
    }
}

/// A demo world and one of its accounts, signed in and connected.
pub(crate) struct SignedIn {
    pub(crate) sandbox: Arc<SandboxHandle>,
    pub(crate) account: Account,
    stop: CancellationToken,
    _events: mpsc::Receiver<AccountEvent>,
}

impl Drop for SignedIn {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

pub(crate) async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), future)
        .await
        .unwrap_or_else(|_| panic!("{what} took more than 30 s"))
}

/// A sandbox with the demo world, and the endpoint that reaches it.
pub(crate) async fn demo_sandbox() -> (Arc<SandboxHandle>, TelegramEndpoint) {
    let sandbox = Arc::new(
        Sandbox::start(World::demo().expect("demo world"))
            .await
            .expect("sandbox"),
    );
    let address = match sandbox.addr() {
        std::net::SocketAddr::V4(address) => address,
        std::net::SocketAddr::V6(_) => SocketAddrV4::new([127, 0, 0, 1].into(), sandbox.port()),
    };
    let endpoint = TelegramEndpoint {
        api_id: 1,
        api_hash: "sandbox".into(),
        target: Target::Preset {
            dc_id: SANDBOX_DC_ID,
            address,
            issuer: Arc::new(SandboxIssuer(Arc::clone(&sandbox))),
        },
    };
    (sandbox, endpoint)
}

/// Signs `phone` in on a fresh demo world and connects the account; its chat list is
/// read once, so its peers are known.
pub(crate) async fn signed_in(phone: &str) -> SignedIn {
    let (sandbox, endpoint) = demo_sandbox().await;
    let login = Login::new(endpoint.clone());
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    let sent = within("send code", login.send_code(&digits))
        .await
        .expect("code sent");
    let after = within(
        "sign in",
        login.submit_code(sent.session, &digits, &sent.phone_code_hash, "22222"),
    )
    .await
    .expect("signed in");
    let AfterCode::SignedIn(logged_in) = after else {
        panic!("the account asks for a password");
    };
    let (events, receiver) = mpsc::channel(1024);
    let stop = CancellationToken::new();
    let (account, _task) = talkapp_telegram::account::start(
        &endpoint,
        logged_in.session,
        AccountOptions::default(),
        events,
        stop.clone(),
    );
    let mut status = account.watch_status();
    within("connected", async {
        while *status.borrow_and_update() != AccountStatus::Connected {
            status.changed().await.expect("status");
        }
    })
    .await;
    within("dialogs", account.dialogs(None, 100, false))
        .await
        .expect("dialogs");
    SignedIn {
        sandbox,
        account,
        stop,
        _events: receiver,
    }
}
