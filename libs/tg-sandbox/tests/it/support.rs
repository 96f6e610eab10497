//! Connecting grammers to a sandbox the way an embedder would.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddrV4, SocketAddrV6};
use std::sync::Arc;
use std::time::Duration;

use grammers_client::Client;
use grammers_client::sender::{ConnectionParams, SenderPool};
use grammers_session::SessionData;
use grammers_session::storages::MemorySession;
use grammers_session::types::DcOption;
use grammers_session::updates::UpdatesLike;
use talkapp_tg_sandbox::{
    AuthKeyGrant, DEMO_2FA_PHONE, DEMO_PHONE, Sandbox, SandboxHandle, UserId, World,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub(crate) const API_ID: i32 = 1;
pub(crate) const API_HASH: &str = "sandbox";

/// A grammers client connected to the sandbox, with what the tests need around it.
pub(crate) struct TestClient {
    pub(crate) client: Client,
    pub(crate) session: Arc<MemorySession>,
    pub(crate) updates: Option<mpsc::Receiver<UpdatesLike>>,
    runner: JoinHandle<()>,
}

impl Drop for TestClient {
    fn drop(&mut self) {
        self.client.disconnect();
        self.runner.abort();
    }
}

/// A session holding the preset key for DC 2 at the sandbox's address.
pub(crate) fn session_for(sandbox: &SandboxHandle, grant: &AuthKeyGrant) -> Arc<MemorySession> {
    let mut data = SessionData {
        home_dc: grant.dc_id,
        ..SessionData::default()
    };
    let ipv4 = SocketAddrV4::new(Ipv4Addr::LOCALHOST, sandbox.port());
    data.dc_options.insert(
        grant.dc_id,
        DcOption {
            id: grant.dc_id,
            ipv4,
            ipv6: SocketAddrV6::new(Ipv4Addr::LOCALHOST.to_ipv6_mapped(), sandbox.port(), 0, 0),
            auth_key: Some(grant.auth_key),
        },
    );
    Arc::new(MemorySession::from(data))
}

pub(crate) fn connect(sandbox: &SandboxHandle, grant: &AuthKeyGrant) -> TestClient {
    connect_session(session_for(sandbox, grant))
}

/// A new client (as after a restart) on an existing session.
pub(crate) fn connect_session(session: Arc<MemorySession>) -> TestClient {
    let params = ConnectionParams {
        updates_channel_capacity: std::num::NonZeroUsize::new(10_000).expect("non-zero"),
        ..ConnectionParams::default()
    };
    let SenderPool {
        runner,
        handle,
        updates,
    } = SenderPool::with_configuration(Arc::clone(&session), API_ID, params);
    let client = Client::new(handle);
    let runner = tokio::spawn(runner.run());
    TestClient {
        client,
        session,
        updates: Some(updates),
        runner,
    }
}

/// A client whose key was issued already signed in as `user`.
pub(crate) fn signed_in(sandbox: &SandboxHandle, user: UserId) -> TestClient {
    let grant = sandbox.issue_auth_key_for(user).expect("user exists");
    connect(sandbox, &grant)
}

pub(crate) struct Demo {
    pub(crate) sandbox: SandboxHandle,
    /// +9996620001, no 2FA.
    pub(crate) alice: UserId,
    /// +9996620002, 2FA.
    pub(crate) bob: UserId,
}

pub(crate) async fn demo() -> Demo {
    let world = World::demo().expect("demo world builds");
    let alice = world.user_by_phone(DEMO_PHONE).expect("alice");
    let bob = world.user_by_phone(DEMO_2FA_PHONE).expect("bob");
    let sandbox = Sandbox::start(world).await.expect("sandbox starts");
    Demo {
        sandbox,
        alice,
        bob,
    }
}

/// Fails the test instead of hanging when the client never gets an answer.
pub(crate) async fn within<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(60), future)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// A directory under the system's temporary directory, removed when dropped.
pub(crate) struct TempDir(pub(crate) std::path::PathBuf);

impl TempDir {
    pub(crate) fn new(name: &str) -> Self {
        let unique = format!("tg-sandbox-{name}-{}-{}", std::process::id(), rand_suffix());
        let path = std::env::temp_dir().join(unique);
        std::fs::create_dir_all(&path).expect("temporary directory");
        Self(path)
    }

    pub(crate) fn join(&self, name: &str) -> std::path::PathBuf {
        self.0.join(name)
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Logs in with the test-DC code on a fresh key, as a real client would.
pub(crate) async fn log_in(sandbox: &SandboxHandle, phone: &str) -> TestClient {
    let grant = sandbox.issue_auth_key();
    let client = connect(sandbox, &grant);
    let token = within(
        "send code",
        client.client.request_login_code(phone, API_HASH),
    )
    .await
    .expect("code sent");
    within("sign in", client.client.sign_in(&token, "22222"))
        .await
        .expect("signed in");
    client
}

/// The common box `pts` the client is told by `updates.getState`.
pub(crate) async fn box_pts(client: &Client) -> i32 {
    let grammers_tl_types::enums::updates::State::State(state) = within(
        "get state",
        client.invoke(&grammers_tl_types::functions::updates::GetState {}),
    )
    .await
    .expect("state");
    state.pts
}

/// An HTTP client for the admin API.
pub(crate) fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// A grant from the admin API's base64 answer.
pub(crate) fn grant_from_json(body: &serde_json::Value) -> AuthKeyGrant {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(body["auth_key"].as_str().expect("auth_key is a string"))
        .expect("base64");
    AuthKeyGrant {
        auth_key: bytes.try_into().expect("256 bytes"),
        dc_id: i32::try_from(body["dc_id"].as_i64().expect("dc_id")).expect("small"),
    }
}

/// Starts the client's update stream from the server's current state (as a resumed
/// session would) and forwards every update to the returned receiver.
pub(crate) async fn listen(
    client: &mut TestClient,
) -> (
    mpsc::UnboundedReceiver<grammers_client::update::Update>,
    JoinHandle<()>,
) {
    use grammers_session::Session;
    use grammers_session::types::{UpdateState, UpdatesState};
    let grammers_tl_types::enums::updates::State::State(state) = within(
        "get state",
        client
            .client
            .invoke(&grammers_tl_types::functions::updates::GetState {}),
    )
    .await
    .expect("state");
    client
        .session
        .set_update_state(UpdateState::All(UpdatesState {
            pts: state.pts,
            qts: state.qts,
            date: state.date,
            seq: state.seq,
            channels: Vec::new(),
        }))
        .await
        .expect("state saved");
    let mut stream = within(
        "stream",
        client.client.stream_updates(
            client.updates.take().expect("updates receiver"),
            grammers_client::sender::UpdatesConfiguration { catch_up: true },
        ),
    )
    .await
    .expect("update stream");
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        while let Ok(update) = stream.next().await {
            if tx.send(update).is_err() {
                break;
            }
        }
    });
    (rx, task)
}

/// Waits for the first update `pick` accepts, skipping others.
pub(crate) async fn next_matching<T>(
    updates: &mut mpsc::UnboundedReceiver<grammers_client::update::Update>,
    what: &str,
    mut pick: impl FnMut(&grammers_client::update::Update) -> Option<T>,
) -> T {
    within(what, async {
        loop {
            let update = updates.recv().await.expect("the update stream is open");
            if let Some(found) = pick(&update) {
                return found;
            }
        }
    })
    .await
}

/// The raw TL update of a `Update::Raw`.
pub(crate) fn raw(
    update: &grammers_client::update::Update,
) -> Option<&grammers_tl_types::enums::Update> {
    match update {
        grammers_client::update::Update::Raw(raw) => Some(&raw.raw),
        _ => None,
    }
}

/// The reference `client` holds for `peer`, found among its dialogs.
pub(crate) async fn dialog_ref(
    client: &Client,
    peer: talkapp_tg_sandbox::Peer,
) -> grammers_session::types::PeerRef {
    use grammers_session::types::PeerKind;
    let mut dialogs = client.iter_dialogs();
    while let Some(dialog) = within("dialogs", dialogs.next()).await.expect("dialogs") {
        let reference = dialog.peer_ref();
        let bare = reference.id.bare_id().expect("concrete");
        let this = match reference.id.kind() {
            PeerKind::User => talkapp_tg_sandbox::Peer::User(bare),
            PeerKind::Chat => talkapp_tg_sandbox::Peer::Chat(bare),
            PeerKind::Channel => talkapp_tg_sandbox::Peer::Channel(bare),
        };
        if this == peer {
            return reference;
        }
    }
    panic!("{peer:?} is not among the dialogs");
}

/// The raw dialog entry of `peer` (unread count, read positions).
pub(crate) async fn raw_dialog(
    client: &Client,
    peer: talkapp_tg_sandbox::Peer,
) -> grammers_tl_types::types::Dialog {
    let reference = dialog_ref(client, peer).await;
    let answer = within(
        "peer dialogs",
        client.invoke(&grammers_tl_types::functions::messages::GetPeerDialogs {
            peers: vec![
                grammers_tl_types::types::InputDialogPeer {
                    peer: reference.into(),
                }
                .into(),
            ],
        }),
    )
    .await
    .expect("peer dialogs");
    let grammers_tl_types::enums::messages::PeerDialogs::Dialogs(answer) = answer;
    match answer.dialogs.into_iter().next() {
        Some(grammers_tl_types::enums::Dialog::Dialog(dialog)) => dialog,
        other => panic!("unexpected dialog {other:?}"),
    }
}

/// A channel of the world by title.
pub(crate) fn channel_titled(sandbox: &SandboxHandle, title: &str) -> i64 {
    sandbox.world(|w| {
        w.channel_ids()
            .into_iter()
            .find(|id| w.title(talkapp_tg_sandbox::Peer::Channel(*id)) == Some(title))
            .unwrap_or_else(|| panic!("no channel titled {title}"))
    })
}

/// A basic group of the world by title.
pub(crate) fn group_titled(sandbox: &SandboxHandle, title: &str) -> i64 {
    sandbox.world(|w| {
        w.basic_group_ids()
            .into_iter()
            .find(|id| w.title(talkapp_tg_sandbox::Peer::Chat(*id)) == Some(title))
            .unwrap_or_else(|| panic!("no group titled {title}"))
    })
}
