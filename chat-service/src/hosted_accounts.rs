//! The accounts this replica hosts (it is their *account host*, see
//! [`crate::account_host`]): each linked Telegram account of the shards this process
//! holds is connected from here, through its own supervised task (see
//! [`talkapp_telegram::account`]), and what its task reports is written down:
//!
//! * MTProto session snapshots (keys, update state), sealed for their owner, into the store (so a restart resumes
//!   where the account was, keys and update state included);
//! * connection states into the store (what `GET /me/sessions` shows);
//! * updates to the [`UpdateSink`], in order, retried until taken: a sink that fails
//!   (its database is away) holds the account's updates back instead of losing them.
//!
//! An account whose authorisation Telegram ended is marked `logged_out`, its keys are
//! erased, and it is not connected again. An account whose link went quiet
//! ([`AccountExit::Stalled`]) is connected again at once on a new link, from the session
//! its task handed out last; it is counted (`talkapp_telegram_links_replaced_total`) and
//! the time is recorded for `GET /me/sessions`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use talkapp_store::{ChatStore, HostedAccount, LinkStatus, StoreError};
use talkapp_telegram::account::{
    self, Account, AccountEvent, AccountExit, AccountOptions, AccountStatus,
};
use talkapp_telegram::endpoint::TelegramEndpoint;
use talkapp_telegram::model::{ChatInfo, TelegramUpdate, TgUser};
use talkapp_telegram::sealing::Sealer;
use talkapp_telegram::session::SessionSnapshot;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::linking::session_seal_context;

pub use talkapp_store::AccountKey;

/// An update of one hosted account, with the users and chats it mentions.
#[derive(Debug, Clone)]
pub struct HostedUpdate {
    /// Whose.
    pub key: AccountKey,
    /// What changed.
    pub update: TelegramUpdate,
    /// Users it mentions.
    pub users: Vec<TgUser>,
    /// Chats it mentions.
    pub chats: Vec<ChatInfo>,
}

/// Where hosted accounts' updates go (the chat cache, the event bus). Called in order per
/// account; an error makes [`HostedAccounts`] retry the same update later.
#[async_trait]
pub trait UpdateSink: Send + Sync + 'static {
    /// Takes one update.
    async fn apply(&self, update: &HostedUpdate) -> Result<(), StoreError>;
}

/// What else happens when an account is connected here or let go.
pub trait AccountHooks: Send + Sync + 'static {
    /// The account connected for the first time since it was hosted here (fill its
    /// cache, resume its sends). Must not block: spawn the work.
    fn connected(&self, key: AccountKey, account: Account);
    /// The account is no longer hosted here (released, logged out or shut down).
    fn released(&self, key: AccountKey);
}

/// A started account: its handle, its task, and what the task reports.
type Link = (
    Account,
    tokio::task::JoinHandle<AccountExit>,
    mpsc::Receiver<AccountEvent>,
);

struct Running {
    account: Account,
    stop: CancellationToken,
    done: CancellationToken,
}

/// The linked Telegram accounts this process hosts: connects and supervises them.
pub struct HostedAccounts {
    store: Arc<dyn ChatStore>,
    endpoint: TelegramEndpoint,
    sealer: Sealer,
    options: AccountOptions,
    sink: std::sync::OnceLock<Arc<dyn UpdateSink>>,
    hooks: std::sync::OnceLock<Arc<dyn AccountHooks>>,
    running: Mutex<HashMap<AccountKey, Running>>,
    updates: broadcast::Sender<HostedUpdate>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

/// How long a failed store or sink write waits before it is tried again.
const RETRY_PAUSE: Duration = Duration::from_millis(500);

/// Events buffered between an account's task and its writer.
const EVENTS_CAPACITY: usize = 1024;

fn link_status(status: AccountStatus) -> LinkStatus {
    match status {
        AccountStatus::Connecting => LinkStatus::Connecting,
        AccountStatus::Connected => LinkStatus::Connected,
        AccountStatus::FloodWait { .. } => LinkStatus::FloodWait,
        AccountStatus::LoggedOut => LinkStatus::LoggedOut,
    }
}

impl HostedAccounts {
    /// Hosted accounts connecting through `endpoint` and sealing with `sealer`; it stops every
    /// account when `shutdown` fires. Where updates go is set with
    /// [`HostedAccounts::set_handlers`] before anything is hosted.
    pub fn new(
        store: Arc<dyn ChatStore>,
        endpoint: TelegramEndpoint,
        sealer: Sealer,
        options: AccountOptions,
        shutdown: CancellationToken,
    ) -> Arc<Self> {
        let (updates, _) = broadcast::channel(4096);
        Arc::new(Self {
            store,
            endpoint,
            sealer,
            options,
            sink: std::sync::OnceLock::new(),
            hooks: std::sync::OnceLock::new(),
            running: Mutex::new(HashMap::new()),
            updates,
            shutdown,
            tasks: TaskTracker::new(),
        })
    }

    /// Sets where updates go and what else happens when accounts connect and go (once,
    /// before anything is hosted).
    pub fn set_handlers(&self, sink: Arc<dyn UpdateSink>, hooks: Arc<dyn AccountHooks>) {
        if self.sink.set(sink).is_err() || self.hooks.set(hooks).is_err() {
            tracing::warn!("host handlers were set already; keeping the first");
        }
    }

    fn hooks(&self) -> Option<&Arc<dyn AccountHooks>> {
        self.hooks.get()
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<AccountKey, Running>> {
        // A panic while holding the lock leaves a plain map: keep using it.
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every update of every hosted account, as it is written to the sink. Slow
    /// receivers miss updates (they are for observers; the sink is the durable path).
    pub fn subscribe(&self) -> broadcast::Receiver<HostedUpdate> {
        self.updates.subscribe()
    }

    /// The connected account, when it is hosted here.
    pub fn account(&self, key: AccountKey) -> Option<Account> {
        self.running()
            .get(&key)
            .filter(|running| !running.done.is_cancelled())
            .map(|running| running.account.clone())
    }

    /// How many accounts are connected from here.
    pub fn hosted_count(&self) -> usize {
        self.running()
            .values()
            .filter(|running| !running.done.is_cancelled())
            .count()
    }

    /// Connects every linked account of `shards` that still has its keys.
    pub async fn host_shards(self: &Arc<Self>, shards: &[u16]) -> Result<usize, StoreError> {
        let accounts = self.store.hosted_accounts_of(shards).await?;
        let mut started = 0;
        for hosted in accounts {
            if self.host(hosted) {
                started += 1;
            }
        }
        if started > 0 {
            tracing::info!(
                shards = shards.len(),
                accounts = started,
                "hosting accounts"
            );
        }
        Ok(started)
    }

    /// Connects one linked account (unless it is already connected here, or its keys
    /// are gone). Returns whether it was started.
    pub fn host(self: &Arc<Self>, hosted: HostedAccount) -> bool {
        let key = AccountKey {
            user_id: hosted.linked.user_id,
            session_index: hosted.linked.session_index,
        };
        let Some(sealed) = hosted.sealed_session else {
            return false;
        };
        if self.shutdown.is_cancelled() {
            return false;
        }
        let snapshot = match self
            .sealer
            .open(&sealed, &session_seal_context(key.user_id))
            .map_err(|error| error.to_string())
            .and_then(|bytes| {
                SessionSnapshot::from_bytes(&bytes).map_err(|error| error.to_string())
            }) {
            Ok(snapshot) => snapshot,
            Err(error) => {
                tracing::error!(user_id = %key.user_id, session_index = key.session_index, %error, "stored telegram session does not open; not connecting it");
                return false;
            }
        };
        let mut running = self.running();
        if running
            .get(&key)
            .is_some_and(|existing| !existing.done.is_cancelled())
        {
            return false;
        }
        let stop = self.shutdown.child_token();
        let done = CancellationToken::new();
        let (account, account_task, events) = self.start_link(key, snapshot, &stop);
        running.insert(
            key,
            Running {
                account: account.clone(),
                stop: stop.clone(),
                done: done.clone(),
            },
        );
        drop(running);
        let host = Arc::clone(self);
        self.tasks.spawn(async move {
            let (mut account, mut account_task, mut events) = (account, account_task, events);
            loop {
                let last_session = host.write_events(key, account, events).await;
                if let Some(hooks) = host.hooks() {
                    hooks.released(key);
                }
                let exit = match account_task.await {
                    Ok(exit) => exit,
                    Err(error) => {
                        tracing::error!(user_id = %key.user_id, session_index = key.session_index, %error, "account task failed");
                        break;
                    }
                };
                tracing::info!(user_id = %key.user_id, session_index = key.session_index, ?exit, "account disconnected");
                let (AccountExit::Stalled, Some(snapshot)) = (exit, last_session) else {
                    break;
                };
                if stop.is_cancelled() {
                    break;
                }
                (account, account_task, events) = host.replace_link(key, snapshot, &stop).await;
            }
            done.cancel();
        });
        tracing::info!(user_id = %key.user_id, session_index = key.session_index, "account connecting");
        true
    }

    /// Starts `key`'s account again on a new link after its link went quiet, and makes it
    /// the one [`HostedAccounts::account`] hands out.
    async fn replace_link(
        &self,
        key: AccountKey,
        snapshot: SessionSnapshot,
        stop: &CancellationToken,
    ) -> Link {
        metrics::counter!("talkapp_telegram_links_replaced_total", "reason" => "updates_stalled")
            .increment(1);
        tracing::warn!(user_id = %key.user_id, session_index = key.session_index, "telegram link delivered no updates; connecting again");
        self.retry("record the stalled link", key, || async {
            self.store
                .note_link_stalled(key.user_id, key.session_index, talkapp_store::now())
                .await
                .map(drop)
        })
        .await;
        let (account, account_task, events) = self.start_link(key, snapshot, stop);
        if let Some(running) = self.running().get_mut(&key) {
            running.account = account.clone();
        }
        (account, account_task, events)
    }

    /// Connects the account `key` from `snapshot` on a new link; its task stops with
    /// `stop`. The files it sent are remembered in the store.
    fn start_link(
        &self,
        key: AccountKey,
        snapshot: SessionSnapshot,
        stop: &CancellationToken,
    ) -> Link {
        let (events_sender, events) = mpsc::channel(EVENTS_CAPACITY);
        let options = AccountOptions {
            sent_files: Some(Arc::new(crate::sent_files::StoredSentFiles::new(
                Arc::clone(&self.store) as Arc<dyn talkapp_store::SentFileStore>,
                key,
            ))),
            ..self.options.clone()
        };
        let (account, account_task) = account::start(
            &self.endpoint,
            self.endpoint.adapt(snapshot),
            options,
            events_sender,
            stop.clone(),
        );
        (account, account_task, events)
    }

    /// Applies an update this replica caused and Telegram's answer does not tell (a
    /// private chat's or basic group's deletion names no message ids to the account's
    /// own update stream): to the sink (cache, events) and the observers, as if it had
    /// come from Telegram.
    pub async fn apply_own_update(&self, hosted: HostedUpdate) -> Result<(), StoreError> {
        if let Some(sink) = self.sink.get() {
            sink.apply(&hosted).await?;
        }
        // Nobody listening is fine.
        let _ = self.updates.send(hosted);
        Ok(())
    }

    /// Disconnects an account hosted here and waits until its last state is written.
    pub async fn release(&self, key: AccountKey) {
        let running = self.running().remove(&key);
        if let Some(running) = running {
            running.stop.cancel();
            running.done.cancelled().await;
        }
    }

    /// Disconnects every account of `shards` (ownership moved elsewhere).
    pub async fn release_shards(&self, shards: &[u16]) {
        let keys: Vec<AccountKey> = self
            .running()
            .keys()
            .filter(|key| shards.contains(&talkapp_store::shard_of(key.user_id, key.session_index)))
            .copied()
            .collect();
        for key in keys {
            self.release(key).await;
        }
    }

    /// Waits until every account task has ended (after `shutdown` fired).
    pub async fn stopped(&self) {
        self.tasks.close();
        self.tasks.wait().await;
    }

    /// Writes what an account's task reports until the task ends.
    /// Returns the last session snapshot it wrote.
    async fn write_events(
        &self,
        key: AccountKey,
        account: Account,
        mut events: mpsc::Receiver<AccountEvent>,
    ) -> Option<SessionSnapshot> {
        let mut told_connected = false;
        let mut last_session = None;
        while let Some(event) = events.recv().await {
            match event {
                AccountEvent::Status(status) => {
                    self.write_status(key, status).await;
                    if status == AccountStatus::Connected && !told_connected {
                        told_connected = true;
                        if let Some(hooks) = self.hooks() {
                            hooks.connected(key, account.clone());
                        }
                    }
                }
                AccountEvent::Session(snapshot) => {
                    self.write_session(key, &snapshot).await;
                    last_session = Some(snapshot);
                }
                AccountEvent::Update {
                    update,
                    users,
                    chats,
                } => {
                    let hosted = HostedUpdate {
                        key,
                        update: *update,
                        users,
                        chats,
                    };
                    if let Some(sink) = self.sink.get() {
                        self.retry("apply update", key, || sink.apply(&hosted))
                            .await;
                    }
                    // Nobody listening is fine.
                    let _ = self.updates.send(hosted);
                }
            }
        }
        last_session
    }

    async fn write_status(&self, key: AccountKey, status: AccountStatus) {
        tracing::info!(user_id = %key.user_id, session_index = key.session_index, ?status, "account status");
        let stored = link_status(status);
        metrics::counter!("talkapp_telegram_status_changes_total", "status" => stored.as_str())
            .increment(1);
        self.retry("record status", key, || async {
            self.store
                .set_link_status(key.user_id, key.session_index, stored, talkapp_store::now())
                .await
                .map(drop)
        })
        .await;
        if status == AccountStatus::LoggedOut {
            // The key no longer signs in: keeping it would only keep a secret around.
            self.retry("erase keys", key, || async {
                self.store
                    .save_sealed_session(key.user_id, key.session_index, None)
                    .await
                    .map(drop)
            })
            .await;
        }
    }

    async fn write_session(&self, key: AccountKey, snapshot: &SessionSnapshot) {
        let sealed = match snapshot
            .to_bytes()
            .map_err(|error| error.to_string())
            .and_then(|bytes| {
                self.sealer
                    .seal(&bytes, &session_seal_context(key.user_id))
                    .map_err(|error| error.to_string())
            }) {
            Ok(sealed) => sealed,
            Err(error) => {
                tracing::error!(%error, "cannot seal the telegram session");
                return;
            }
        };
        self.retry("save session", key, || async {
            self.store
                .save_sealed_session(key.user_id, key.session_index, Some(&sealed))
                .await
                .map(drop)
        })
        .await;
    }

    /// Runs `write` until it succeeds, pausing between tries; gives up only when the
    /// hosted accounts shut down (what was not written is then redone from the persisted state on
    /// the next start).
    async fn retry<F, Fut>(&self, what: &str, key: AccountKey, mut write: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<(), StoreError>>,
    {
        let mut failures: u32 = 0;
        loop {
            match write().await {
                Ok(()) => return,
                Err(StoreError::Conflict(_) | StoreError::Internal(_)) if failures >= 3 => {
                    tracing::error!(what, user_id = %key.user_id, session_index = key.session_index, "write keeps failing; skipped");
                    return;
                }
                Err(error) => {
                    failures += 1;
                    if failures == 1 || failures.is_multiple_of(20) {
                        tracing::warn!(what, user_id = %key.user_id, session_index = key.session_index, %error, failures, "write failed; retrying");
                    }
                }
            }
            if self.shutdown.is_cancelled() && failures > 3 {
                return;
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }
}
