//! Starting and steering a sandbox: the listener, its accept loop, and the handle tests
//! and embedders hold.

use std::collections::HashSet;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::connection;
use crate::crypto::AuthKey;
use crate::persist::{self, Persister};
use crate::rpc::{Call, RpcError};
use crate::seed::Seed;
use crate::state::{Push, Shared, State};
use crate::world::{Peer, UserId, UserInfo, World};

/// The data center id the sandbox presents itself as. Sessions must have their home DC
/// set to it, pointing at [`SandboxHandle::addr`].
pub const SANDBOX_DC_ID: i32 = 2;

/// An authorization key issued out of band, in place of the key exchange the sandbox
/// cannot perform (grammers only trusts Telegram's compiled-in RSA keys). Put it in the
/// client's session as the key of DC [`AuthKeyGrant::dc_id`].
#[derive(Clone)]
pub struct AuthKeyGrant {
    pub auth_key: [u8; 256],
    pub dc_id: i32,
}

impl std::fmt::Debug for AuthKeyGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthKeyGrant")
            .field("dc_id", &self.dc_id)
            .finish_non_exhaustive()
    }
}

/// Where a sandbox's world comes from when there is no state file to resume from.
enum Origin {
    World(Box<World>),
    Seed(Seed),
}

/// How to start a sandbox: its world (or a seed to build one from), where to listen, and
/// optionally a state file that makes everything that happens survive a restart.
///
/// ```no_run
/// # async fn demo() -> anyhow::Result<()> {
/// use talkapp_tg_sandbox::{DemoScale, Sandbox, SandboxOptions, Seed};
///
/// let options = SandboxOptions::seed(Seed::demo(DemoScale::default()))
///     .listen("127.0.0.1:9443".parse()?)
///     .state_file("/var/lib/talkapp/tg-sandbox.json");
/// let sandbox = Sandbox::start_with(options).await?;
/// # let _ = sandbox;
/// # Ok(()) }
/// ```
pub struct SandboxOptions {
    origin: Origin,
    listen: SocketAddr,
    state_file: Option<PathBuf>,
    save_interval: Duration,
}

/// Changes are written to the state file at most this often (and on shutdown).
pub const DEFAULT_SAVE_INTERVAL: Duration = Duration::from_millis(200);

impl SandboxOptions {
    /// Starts from `world` (unless the state file exists), on an ephemeral loopback port.
    pub fn world(world: World) -> Self {
        Self::from_origin(Origin::World(Box::new(world)))
    }

    /// Starts from the world `seed` describes, built only when there is no state file.
    pub fn seed(seed: Seed) -> Self {
        Self::from_origin(Origin::Seed(seed))
    }

    fn from_origin(origin: Origin) -> Self {
        Self {
            origin,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            state_file: None,
            save_interval: DEFAULT_SAVE_INTERVAL,
        }
    }

    /// Where to listen for MTProto clients (default `127.0.0.1:0`).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Keeps the state in this file: loaded from it when it exists (instead of the world
    /// or seed), saved to it as things change. File contents go to `<path>.files/`.
    pub fn state_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.state_file = Some(path.into());
        self
    }

    /// How long changes may wait before being written (default 200 ms).
    pub fn save_interval(mut self, interval: Duration) -> Self {
        self.save_interval = interval;
        self
    }
}

/// A local Telegram data center.
pub struct Sandbox;

impl Sandbox {
    /// Serves `world` on an ephemeral port of 127.0.0.1.
    ///
    /// # Errors
    /// When the port cannot be bound.
    pub async fn start(world: World) -> anyhow::Result<SandboxHandle> {
        Self::start_with(SandboxOptions::world(world)).await
    }

    /// Serves `world` on `addr`.
    ///
    /// # Errors
    /// When the address cannot be bound.
    pub async fn start_on(world: World, addr: SocketAddr) -> anyhow::Result<SandboxHandle> {
        Self::start_with(SandboxOptions::world(world).listen(addr)).await
    }

    /// Starts a sandbox as `options` say. With a state file that exists, the world and
    /// the issued keys come from it; otherwise from the options' world or seed, and the
    /// state file is written right away.
    ///
    /// # Errors
    /// When the state file cannot be read or written, the seed does not build, or the
    /// address cannot be bound.
    pub async fn start_with(options: SandboxOptions) -> anyhow::Result<SandboxHandle> {
        let SandboxOptions {
            origin,
            listen,
            state_file,
            save_interval,
        } = options;
        let mut loaded = match &state_file {
            Some(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || persist::load(&path)).await??
            }
            None => None,
        };
        let on_disk: HashSet<u64> = loaded
            .as_ref()
            .map(|l| l.world.blobs.keys().copied().collect())
            .unwrap_or_default();
        let resumed = loaded.is_some();
        let persister = state_file.map(|path| {
            Arc::new(Persister::new(
                path,
                save_interval,
                on_disk,
                loaded.as_mut(),
            ))
        });
        let (world, keys) = match loaded {
            Some(loaded) => (loaded.world, loaded.keys),
            None => {
                let world = match origin {
                    Origin::World(world) => *world,
                    Origin::Seed(seed) => {
                        tokio::task::spawn_blocking(move || seed.build()).await??
                    }
                };
                (world, Vec::new())
            }
        };
        let mut state = State::new(world);
        for (key, user) in keys {
            state.register_key(key, user)?;
        }
        let shared = Arc::new(Shared::new(state, persister.clone()));

        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let cancel = CancellationToken::new();
        let tasks = TaskTracker::new();
        if let Some(persister) = &persister {
            // Written at once: the file must exist (with this world's access-hash secret)
            // before any client sees an id.
            persister.save(&shared).await?;
            tasks.spawn(Arc::clone(persister).run(Arc::clone(&shared), cancel.clone()));
            info!(path = %persister.path().display(), resumed, "telegram sandbox state file");
        }
        tasks.spawn(accept_loop(
            listener,
            Arc::clone(&shared),
            cancel.clone(),
            tasks.clone(),
        ));
        info!(%addr, "telegram sandbox listening");
        Ok(SandboxHandle {
            core: Arc::new(Core {
                addr,
                shared,
                cancel,
                tasks,
            }),
        })
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    cancel: CancellationToken,
    tasks: TaskTracker,
) {
    loop {
        let accepted = tokio::select! {
            () = cancel.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _)) => {
                // Only latency: a socket that refuses the option is served as it is.
                let _ = stream.set_nodelay(true);
                // A panic in a connection task ends that task only.
                tasks.spawn(connection::serve(
                    stream,
                    Arc::clone(&shared),
                    cancel.child_token(),
                ));
            }
            Err(error) => {
                // Typically out of file descriptors: back off instead of spinning.
                warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

struct Core {
    addr: SocketAddr,
    shared: Arc<Shared>,
    cancel: CancellationToken,
    tasks: TaskTracker,
}

/// Why a send through the handle or the admin API failed.
#[derive(Debug)]
pub(crate) enum SendFailure {
    /// Telegram would refuse it with this error.
    Refused(RpcError),
}

/// Controls a running sandbox; clones control the same one. Dropping every handle leaves
/// the sandbox running until the runtime stops; [`SandboxHandle::shutdown`] stops it,
/// saves its state and waits for its connections to close.
#[derive(Clone)]
pub struct SandboxHandle {
    core: Arc<Core>,
}

impl SandboxHandle {
    pub fn addr(&self) -> SocketAddr {
        self.core.addr
    }

    pub fn port(&self) -> u16 {
        self.core.addr.port()
    }

    /// The state file, when the sandbox keeps one.
    pub fn state_file(&self) -> Option<&Path> {
        self.core.shared.persister.as_ref().map(|p| p.path())
    }

    /// Writes the state file now (it is also written within the save interval of every
    /// change, and on shutdown). Does nothing without a state file.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub async fn save(&self) -> anyhow::Result<()> {
        self.core.shared.save().await
    }

    /// Saves a new key binding before it is handed out; logged, not fatal, on failure
    /// (the key still works until the sandbox restarts).
    fn save_key_binding(&self, key_id: u64) {
        if let Err(error) = self.core.shared.journal_keys_blocking(&[key_id]) {
            warn!(
                error = format!("{error:#}"),
                "saving an issued auth key failed"
            );
        }
    }

    /// A new key that is not signed in: the client must log in with it.
    ///
    /// With a state file, the key is saved before this returns (blocking on disk I/O).
    pub fn issue_auth_key(&self) -> AuthKeyGrant {
        let key = self.core.shared.lock().issue_key(None);
        self.save_key_binding(key.id());
        AuthKeyGrant {
            auth_key: key.bytes(),
            dc_id: SANDBOX_DC_ID,
        }
    }

    /// A new key already signed in as `user`, as if it had logged in.
    ///
    /// # Errors
    /// When the account does not exist.
    pub fn issue_auth_key_for(&self, user: UserId) -> anyhow::Result<AuthKeyGrant> {
        let key = {
            let mut state = self.core.shared.lock();
            anyhow::ensure!(state.world.user(user).is_some(), "no user {user}");
            state.issue_key(Some(user))
        };
        self.save_key_binding(key.id());
        Ok(AuthKeyGrant {
            auth_key: key.bytes(),
            dc_id: SANDBOX_DC_ID,
        })
    }

    /// Registers a key issued earlier (by a previous run of the sandbox, say), so that
    /// sessions holding it keep working; `user` is the account it is signed in as.
    ///
    /// # Errors
    /// When the account does not exist, or the key is already registered.
    pub fn register_auth_key(
        &self,
        auth_key: [u8; 256],
        user: Option<UserId>,
    ) -> anyhow::Result<()> {
        let key = AuthKey::new(auth_key);
        {
            let mut state = self.core.shared.lock();
            if let Some(user) = user {
                anyhow::ensure!(state.world.user(user).is_some(), "no user {user}");
            }
            state.register_key(key.clone(), user)?;
        }
        self.save_key_binding(key.id());
        Ok(())
    }

    /// The account a key is signed in as, if any.
    pub fn auth_key_user(&self, auth_key: &[u8; 256]) -> Option<UserId> {
        let id = AuthKey::new(*auth_key).id();
        self.core.shared.lock().keys.get(&id).and_then(|k| k.user)
    }

    /// Reads the world.
    pub fn world<R>(&self, read: impl FnOnce(&World) -> R) -> R {
        read(&self.core.shared.lock().world)
    }

    /// Files clients have uploaded parts of (`upload.saveFilePart`/`saveBigFilePart`)
    /// and that are still kept (a day): tests tell an upload from a send by reference.
    pub fn uploaded_file_count(&self) -> usize {
        self.core.shared.lock().uploads.len()
    }

    /// File parts received (`upload.saveFilePart` and `upload.saveBigFilePart`, a
    /// document's thumbnail included) since the sandbox started.
    pub fn saved_part_count(&self) -> u64 {
        self.core.shared.lock().saved_parts
    }

    /// Changes the world directly (for tests and embedders), marking it for saving. No
    /// client is told: use the other methods for changes clients must hear about.
    pub fn update_world<R>(&self, change: impl FnOnce(&mut World) -> R) -> R {
        let result = change(&mut self.core.shared.lock().world);
        self.core.shared.changed();
        result
    }

    /// The account with this phone number (any formatting).
    pub fn user_by_phone(&self, phone: &str) -> Option<UserInfo> {
        self.world(|w| w.user_by_phone(phone).and_then(|id| w.user(id)).cloned())
    }

    /// Sends a text message as `from`, exactly as if one of its clients had called
    /// `messages.sendMessage`: every connected client of every participant gets the
    /// update. Returns the message id the sender sees.
    ///
    /// # Errors
    /// With Telegram's error (e.g. `CHAT_WRITE_FORBIDDEN`) when the send is refused.
    pub fn send_message(&self, from: UserId, to: Peer, text: &str) -> anyhow::Result<i32> {
        self.send_message_as(from, to, text)
            .map_err(|failure| match failure {
                SendFailure::Refused(e) => anyhow::anyhow!("{} {}", e.code, e.message),
            })
    }

    pub(crate) fn send_message_as(
        &self,
        from: UserId,
        to: Peer,
        text: &str,
    ) -> Result<i32, SendFailure> {
        self.send_draft(from, to, |_| Ok(crate::world::Draft::text(text)))
    }

    /// Sends a file as a document as `from`, exactly as if one of its clients had
    /// uploaded it and called `messages.sendMedia`: every connected client of every
    /// participant gets the update. Returns the message id the sender sees.
    ///
    /// # Errors
    /// With Telegram's error when the send is refused.
    pub fn send_document(
        &self,
        from: UserId,
        to: Peer,
        file: crate::world::SeedFile,
        caption: &str,
    ) -> anyhow::Result<i32> {
        self.send_draft(from, to, |world| {
            world.check_can_write(from, to)?;
            let now = crate::world::unix_now();
            let document = world.create_document(
                file.bytes,
                file.mime_type,
                vec![crate::world::DocAttribute::Filename { name: file.name }],
                None,
                now,
            );
            Ok(crate::world::Draft {
                media: Some(crate::world::MessageMedia::Document(document)),
                ..crate::world::Draft::text(caption)
            })
        })
        .map_err(|failure| match failure {
            SendFailure::Refused(e) => anyhow::anyhow!("{} {}", e.code, e.message),
        })
    }

    /// Runs `tell` under the world's lock as the code that answers RPC calls runs, for a
    /// call of no connection (so every client of the users concerned is told, the actor's
    /// own included); when it succeeds, delivers the pushes it made and marks the world
    /// changed. A failure delivers nothing.
    fn tell_everyone<T, E>(
        &self,
        mut state: std::sync::MutexGuard<'_, State>,
        tell: impl FnOnce(&mut Call<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut call = Call::new(&mut state, 0, 0);
        let told = tell(&mut call)?;
        let pushes: Vec<Push> = std::mem::take(&mut call.pushes);
        for push in pushes {
            state.push(push);
        }
        drop(state);
        self.core.shared.changed();
        Ok(told)
    }

    /// Sends what `draft` builds (from the world, under its lock) and pushes the updates.
    fn send_draft(
        &self,
        from: UserId,
        to: Peer,
        draft: impl FnOnce(&mut World) -> Result<crate::world::Draft, crate::world::SendError>,
    ) -> Result<i32, SendFailure> {
        let mut state = self.core.shared.lock();
        let now = crate::world::unix_now();
        let draft = draft(&mut state.world).map_err(|e| SendFailure::Refused(RpcError::from(e)))?;
        let sent = state
            .world
            .send(from, to, draft, None, now)
            .map_err(|e| SendFailure::Refused(RpcError::from(e)))?;
        let id = sent.sender_message_id();
        let Ok(()) = self.tell_everyone(state, |call| {
            crate::rpc::announce_sent(call, from, &sent);
            Ok::<_, Infallible>(())
        });
        Ok(id)
    }

    /// Edits a message's text as `by`, exactly as if one of its clients had called
    /// `messages.editMessage`: every participant's clients get the edit update.
    ///
    /// # Errors
    /// With Telegram's error (e.g. `MESSAGE_AUTHOR_REQUIRED`) when the edit is refused.
    pub fn edit_message(&self, by: UserId, peer: Peer, id: i32, text: &str) -> anyhow::Result<()> {
        let mut state = self.core.shared.lock();
        let now = crate::world::unix_now();
        let edited = state.world.edit(by, peer, id, text, now).map_err(|e| {
            let error = RpcError::from(e);
            anyhow::anyhow!("{} {}", error.code, error.message)
        })?;
        let Ok(()) = self.tell_everyone(state, |call| {
            crate::rpc::announce_edited(call, by, &edited);
            Ok::<_, Infallible>(())
        });
        Ok(())
    }

    /// Deletes messages of `by`'s private chats and basic groups (ids as `by` sees them),
    /// for everyone when `revoke`, exactly as if one of its clients had called
    /// `messages.deleteMessages`: each box that lost a copy gets `updateDeleteMessages`.
    pub fn delete_messages(&self, by: UserId, ids: &[i32], revoke: bool) {
        let mut state = self.core.shared.lock();
        let change = state.world.delete_box_messages(by, ids, revoke);
        let Ok(()) = self.tell_everyone(state, |call| {
            crate::rpc::push_box_events(call, &change.events);
            Ok::<_, Infallible>(())
        });
    }

    /// Puts `user` online (for five minutes) or offline, exactly as if one of its
    /// clients had called `account.updateStatus`: the accounts that have it as a
    /// contact get `updateUserStatus`.
    ///
    /// # Errors
    /// When there is no such user.
    pub fn set_online(&self, user: UserId, online: bool) -> anyhow::Result<()> {
        let state = self.core.shared.lock();
        self.tell_everyone(state, |call| {
            crate::rpc::account::set_status(call, user, !online)
        })
        .map(drop)
        .map_err(|e| anyhow::anyhow!("{} {}", e.code, e.message))
    }

    /// [`SandboxHandle::issue_auth_key`] without blocking the runtime: the key is saved
    /// (with a state file) before it is returned, and a failed save is an error.
    ///
    /// # Errors
    /// When the state file cannot be written.
    pub async fn create_auth_key(&self) -> anyhow::Result<AuthKeyGrant> {
        let key = self.core.shared.lock().issue_key(None);
        self.core.shared.journal_keys(vec![key.id()]).await?;
        Ok(AuthKeyGrant {
            auth_key: key.bytes(),
            dc_id: SANDBOX_DC_ID,
        })
    }

    /// Serves the admin API (see the crate docs) on `addr` until the sandbox shuts down;
    /// returns the address it is bound to (`addr` may have port 0).
    ///
    /// # Errors
    /// When the address cannot be bound.
    pub async fn serve_admin(&self, addr: SocketAddr) -> anyhow::Result<SocketAddr> {
        crate::admin::serve(self, addr).await
    }

    /// Closes every connection signed in as `user` (clients will reconnect). Returns how
    /// many were closed.
    pub fn disconnect_user(&self, user: UserId) -> usize {
        self.core.shared.lock().disconnect_user(user)
    }

    /// Makes the connections now open as `user` go quiet: they stay open and answer every
    /// call (`updates.getState` included, so the account's state moves on), but no update
    /// is pushed to them any more. Connections opened afterwards get updates as usual.
    /// Returns how many were silenced. This is the failure of a long-lived link that
    /// gateways of this kind meet most: open, and delivering nothing.
    pub fn silence_updates(&self, user: UserId) -> usize {
        self.core.shared.lock().silence_user(user)
    }

    /// Makes every request of `user` (except staying in sync and logging out) fail with
    /// `420 FLOOD_WAIT_{seconds}`, or stops doing so with `None`.
    pub fn set_flood_wait(&self, user: UserId, seconds: Option<u32>) {
        let mut state = self.core.shared.lock();
        match seconds {
            Some(seconds) => {
                state
                    .flood_wait
                    .insert(user, i32::try_from(seconds).unwrap_or(i32::MAX));
            }
            None => {
                state.flood_wait.remove(&user);
            }
        }
    }

    /// How many client connections are open.
    pub fn connection_count(&self) -> usize {
        self.core.shared.lock().connections.len()
    }

    /// Stops accepting, closes every connection (and the admin API), saves the state
    /// file, and waits for all of it to finish.
    pub async fn shutdown(self) {
        self.core.cancel.cancel();
        self.core.tasks.close();
        self.core.tasks.wait().await;
    }

    pub(crate) fn cancel_token(&self) -> &CancellationToken {
        &self.core.cancel
    }

    pub(crate) fn tasks(&self) -> &TaskTracker {
        &self.core.tasks
    }
}
