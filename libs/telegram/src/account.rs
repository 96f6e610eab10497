//! One linked Telegram account, connected: a supervised task that keeps the connection,
//! streams its updates in order, and hands out the session whenever it changes; and an
//! [`Account`] handle that makes calls through it.
//!
//! What the task guarantees:
//! * **Updates are never dropped silently.** grammers' message box orders updates by
//!   `pts` and fetches any gap with `updates.getDifference`; the connection's buffer is
//!   large, and when it overflows anyway the next update reveals the gap. A dropped
//!   connection is a gap too: grammers reconnects and catches up.
//! * **The persisted update state never runs ahead of the updates handed over.** The
//!   session's update state is synchronised from the message box only when the stream
//!   has nothing buffered, i.e. after every update it covers went out on the events
//!   channel. A crash can therefore replay updates (consumers are idempotent) but never
//!   skip them.
//! * **Failures are survived.** Telegram unreachable: the status turns `connecting` and
//!   the task retries with capped back-off. FLOOD_WAIT: surfaced as
//!   [`TelegramError::FloodWait`] to the caller and as a status, never slept through
//!   inside a call. The authorisation ended: the status turns `logged_out` and the task
//!   stops.
//! * **A link that goes quiet is noticed.** A connection can stay open, answer calls and
//!   still deliver no updates. Whenever the stream has been idle for `keepalive`, the task
//!   asks Telegram for the account's update state (`updates.getState`, which also proves
//!   the link alive); when Telegram's common `pts`/`qts` is ahead of what the stream has
//!   applied and is still ahead `stall_grace` later, with nothing received meanwhile, the
//!   task ends with [`AccountExit::Stalled`] and the host opens a new link, which catches
//!   up from the persisted state (`updates.getDifference`). Channels keep their own `pts`,
//!   which `updates.getState` does not report: a link silent only for channel updates is
//!   not noticed this way (grammers' own no-updates deadline, 15 minutes, still applies).

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt as _;
use grammers_client::Client;
use grammers_client::sender::UpdatesConfiguration;
use grammers_client::session::Session as _;
use grammers_client::session::types::{PeerId, PeerInfo};
use grammers_client::tl;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::convert;
use crate::download::{ChunkPlan, DownloadSource, RawLocation, Trimmer, input_location};
use crate::endpoint::TelegramEndpoint;
use crate::error::TelegramError;
use crate::model::{
    ChatAction, ChatFullInfo, ChatId, ChatInfo, DialogInfo, DialogsPage, Message, MessagesPage,
    Presence, SentMessage, TelegramUpdate, TgUser,
};
use crate::session::{SessionSnapshot, StoredSession};

/// How an account's connection is run.
#[derive(Debug, Clone)]
pub struct AccountOptions {
    /// Updates buffered between the socket and the stream.
    pub updates_capacity: usize,
    /// How long session changes settle before a snapshot is handed out.
    pub persist_after: Duration,
    /// How often an idle connection is checked (and its update state compared with
    /// Telegram's).
    pub keepalive: Duration,
    /// How long Telegram's update state may stay ahead of the stream, with nothing
    /// received, before the link is judged silent and replaced.
    pub stall_grace: Duration,
    /// The longest pause between reconnection attempts.
    pub max_backoff: Duration,
    /// Where the account keeps the files it sent beyond its process (none: in memory only).
    pub sent_files: Option<Arc<dyn crate::send_media::SentFileMemory>>,
}

impl Default for AccountOptions {
    fn default() -> Self {
        Self {
            updates_capacity: 10_000,
            persist_after: Duration::from_millis(500),
            keepalive: Duration::from_secs(30),
            stall_grace: Duration::from_secs(10),
            max_backoff: Duration::from_secs(30),
            sent_files: None,
        }
    }
}

/// The connection state of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountStatus {
    /// Connecting, or reconnecting after a failure.
    Connecting,
    /// Connected and receiving updates.
    Connected,
    /// Telegram asked to wait until this Unix time before more calls.
    FloodWait {
        /// Unix seconds.
        until: i64,
    },
    /// The authorisation ended; the account must be linked again.
    LoggedOut,
}

/// What the account's task reports, in order.
#[derive(Debug, Clone)]
pub enum AccountEvent {
    /// The connection state changed.
    Status(AccountStatus),
    /// Telegram reported a change; `users` and `chats` are the ones it mentions.
    Update {
        /// The change (boxed: a message is large next to the other events).
        update: Box<TelegramUpdate>,
        /// Users it mentions (senders, added members).
        users: Vec<TgUser>,
        /// Chats it mentions.
        chats: Vec<ChatInfo>,
    },
    /// The session changed (update state, peers, keys): persist this snapshot. It never
    /// covers updates that were not handed over before it.
    Session(SessionSnapshot),
}

/// Why an account's task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountExit {
    /// It was asked to stop.
    Stopped,
    /// Telegram ended the authorisation.
    LoggedOut,
    /// The events receiver went away.
    Abandoned,
    /// The link stayed open but delivered no updates while Telegram's state moved on:
    /// start the account again on a new link (it catches up from the persisted state).
    Stalled,
}

/// Where a page of the chat list starts: after this chat, as the previous page ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DialogOffset {
    /// The last chat of the previous page.
    pub chat_id: ChatId,
    /// Its newest message's id.
    pub message_id: i32,
    /// Its newest message's date.
    pub date: i32,
}

/// Which part of a chat's history to fetch (Telegram's `messages.getHistory`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HistoryRequest {
    /// Messages older than this id (0: from the newest).
    pub offset_id: i32,
    /// Messages older than this date (0: any).
    pub offset_date: i32,
    /// Shift of the page from the offset (negative: newer messages).
    pub add_offset: i32,
    /// At most this many (Telegram caps it at 100).
    pub limit: i32,
    /// Only ids below this (0: no bound).
    pub max_id: i32,
    /// Only ids above this (0: no bound).
    pub min_id: i32,
}

/// A text message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingText {
    /// The chat.
    pub chat_id: ChatId,
    /// The text.
    pub text: String,
    /// Reply to this message.
    pub reply_to: Option<i32>,
    /// Without notification.
    pub silent: bool,
    /// Telegram's de-duplication key: the same id sends once.
    pub random_id: i64,
}

struct Shared {
    client: Client,
    session: Arc<StoredSession>,
    status: watch::Sender<AccountStatus>,
    /// What this account uploaded already (see [`crate::send_media`]).
    uploads: crate::send_media::UploadMemory,
}

/// A connected account; cheap to clone. Calls fail with
/// [`TelegramError::NotConnected`] once its task has stopped.
#[derive(Clone)]
pub struct Account {
    shared: Arc<Shared>,
    stopped: CancellationToken,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("status", &*self.shared.status.borrow())
            .finish_non_exhaustive()
    }
}

/// Starts the account's task over `snapshot`. Events (updates, status, session
/// snapshots) arrive on `events` in order; the task ends when `shutdown` fires, when
/// Telegram ends the authorisation, or when `events` is closed.
pub fn start(
    endpoint: &TelegramEndpoint,
    snapshot: SessionSnapshot,
    options: AccountOptions,
    events: mpsc::Sender<AccountEvent>,
    shutdown: CancellationToken,
) -> (Account, JoinHandle<AccountExit>) {
    let session = Arc::new(StoredSession::from_snapshot(snapshot));
    let mut connection =
        endpoint.connect_with_updates(Arc::clone(&session), options.updates_capacity);
    let updates = connection.updates.take();
    let (status, _) = watch::channel(AccountStatus::Connecting);
    let shared = Arc::new(Shared {
        client: connection.client.clone(),
        session,
        status,
        uploads: crate::send_media::UploadMemory::new(options.sent_files.clone()),
    });
    let stopped = CancellationToken::new();
    let account = Account {
        shared: Arc::clone(&shared),
        stopped: stopped.clone(),
    };
    let task = tokio::spawn(async move {
        let exit = match updates {
            Some(updates) => run(&shared, updates, &options, &events, &shutdown).await,
            None => AccountExit::Abandoned,
        };
        stopped.cancel();
        // Whatever the session holds now (the last update state) goes out last.
        if let Ok(snapshot) = shared.session.snapshot() {
            // A receiver that is gone has stopped the account: nobody is left to keep it.
            let _ = events.send(AccountEvent::Session(snapshot)).await;
        }
        connection.close().await;
        exit
    });
    (account, task)
}

fn backoff(attempt: u32, max: Duration) -> Duration {
    let millis = 200_u64.saturating_mul(1_u64 << attempt.min(16));
    Duration::from_millis(millis).min(max)
}

/// Runs until stopped; see the module docs for what it guarantees.
async fn run(
    shared: &Arc<Shared>,
    updates: mpsc::Receiver<grammers_client::session::updates::UpdatesLike>,
    options: &AccountOptions,
    events: &mpsc::Sender<AccountEvent>,
    shutdown: &CancellationToken,
) -> AccountExit {
    let mut status_changes = shared.status.subscribe();
    let mut session_changes = shared.session.subscribe();
    session_changes.mark_unchanged();

    // Check the authorisation before anything else, so a dead key is reported at once.
    let mut attempt = 0;
    loop {
        match shared
            .client
            .invoke(&tl::functions::updates::GetState {})
            .await
            .map_err(TelegramError::from)
        {
            Ok(_) => {
                set_status(shared, AccountStatus::Connected);
                break;
            }
            Err(TelegramError::LoggedOut(reason)) => {
                tracing::info!(%reason, "telegram authorisation ended");
                set_status(shared, AccountStatus::LoggedOut);
                // The account ends either way; a receiver that is gone needs no status.
                let _ = forward_status(&mut status_changes, events).await;
                return AccountExit::LoggedOut;
            }
            Err(error) => {
                tracing::debug!(%error, attempt, "telegram not reachable yet");
                set_status(shared, AccountStatus::Connecting);
                if !forward_status(&mut status_changes, events).await {
                    return AccountExit::Abandoned;
                }
                tokio::select! {
                    () = shutdown.cancelled() => return AccountExit::Stopped,
                    () = tokio::time::sleep(backoff(attempt, options.max_backoff)) => {}
                }
                attempt += 1;
            }
        }
    }
    if !forward_status(&mut status_changes, events).await {
        return AccountExit::Abandoned;
    }

    let stream = match shared
        .client
        .stream_updates(updates, UpdatesConfiguration { catch_up: true })
        .await
    {
        Ok(stream) => stream,
        Err(error) => {
            tracing::warn!(%error, "cannot open the update stream");
            return AccountExit::Abandoned;
        }
    };
    let stop_stream = shutdown.child_token();
    let mut stream_task = tokio::spawn(pump_updates(
        stream,
        Arc::clone(shared),
        events.clone(),
        options.clone(),
        stop_stream.clone(),
    ));
    // The pump stops with this loop, whichever ends first.
    let _stop_stream = stop_stream.drop_guard();

    let mut persist_due: Option<tokio::time::Instant> = None;
    loop {
        let persist_at = persist_due;
        tokio::select! {
            () = shutdown.cancelled() => return AccountExit::Stopped,
            exit = &mut stream_task => {
                // The account ends either way; a receiver that is gone needs no status.
                let _ = forward_status(&mut status_changes, events).await;
                return exit.unwrap_or(AccountExit::Abandoned);
            }
            _ = status_changes.changed() => {
                let status = *status_changes.borrow_and_update();
                if events.send(AccountEvent::Status(status)).await.is_err() {
                    return AccountExit::Abandoned;
                }
                if status == AccountStatus::LoggedOut {
                    return AccountExit::LoggedOut;
                }
            }
            changed = session_changes.changed() => {
                if changed.is_ok() && persist_due.is_none() {
                    persist_due = Some(tokio::time::Instant::now() + options.persist_after);
                }
            }
            () = sleep_until(persist_at) => {
                persist_due = None;
                session_changes.mark_unchanged();
                if let Ok(snapshot) = shared.session.snapshot()
                    && events.send(AccountEvent::Session(snapshot)).await.is_err()
                {
                    return AccountExit::Abandoned;
                }
            }
        }
    }
}

/// Telegram's update state, seen ahead of the stream's, to be checked again.
#[derive(Debug, Clone, Copy)]
struct Behind {
    pts: i32,
    qts: i32,
    recheck_at: tokio::time::Instant,
}

/// Owns the update stream: hands each update over in order, and records the stream's
/// state in the session only when it is drained, so the persisted state never covers an
/// update that was not handed over. While idle it probes the link (see the module docs).
async fn pump_updates(
    mut stream: grammers_client::client::UpdateStream,
    shared: Arc<Shared>,
    events: mpsc::Sender<AccountEvent>,
    options: AccountOptions,
    stop: CancellationToken,
) -> AccountExit {
    let max_backoff = options.max_backoff;
    let mut handed_over_since_sync = false;
    let mut failures: u32 = 0;
    let mut probe = tokio::time::interval(options.keepalive);
    probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    probe.reset();
    let mut behind: Option<Behind> = None;
    loop {
        // An update already buffered is taken without waiting. When none is, everything
        // the message box has applied was handed over: its state is safe to record.
        // (A not-ready poll dropped here may abandon a difference request grammers had
        // just sent; it sends it again on the next poll.)
        let next = match stream.next_raw().now_or_never() {
            Some(next) => next,
            None => {
                if handed_over_since_sync {
                    if let Err(error) = stream.sync_update_state().await {
                        tracing::warn!(%error, "cannot record the update state");
                    }
                    handed_over_since_sync = false;
                }
                tokio::select! {
                    () = stop.cancelled() => return AccountExit::Stopped,
                    next = stream.next_raw() => next,
                    _ = probe.tick() => {
                        if behind.is_none() {
                            behind = probe_link(&stream, &shared, options.stall_grace).await;
                        } else {
                            check_connection(&shared).await;
                        }
                        continue;
                    }
                    () = sleep_until(behind.map(|behind| behind.recheck_at)) => {
                        if let Some(seen) = behind.take()
                            && let Some((pts, qts)) = applied_state(&stream, &shared).await
                            && (pts < seen.pts || qts < seen.qts)
                        {
                            tracing::warn!(
                                applied_pts = pts,
                                telegram_pts = seen.pts,
                                applied_qts = qts,
                                telegram_qts = seen.qts,
                                "the telegram link delivers no updates; replacing it"
                            );
                            set_status(&shared, AccountStatus::Connecting);
                            return AccountExit::Stalled;
                        }
                        continue;
                    }
                }
            }
        };
        match next {
            Ok((update, _state, peers)) => {
                failures = 0;
                if *shared.status.borrow() == AccountStatus::Connecting {
                    set_status(&shared, AccountStatus::Connected);
                }
                for normalised in convert::update(&update) {
                    let (users, chats) = mentioned_peers(&normalised, &peers);
                    let event = AccountEvent::Update {
                        update: Box::new(normalised),
                        users,
                        chats,
                    };
                    if events.send(event).await.is_err() {
                        return AccountExit::Abandoned;
                    }
                }
                handed_over_since_sync = true;
            }
            Err(error) => match TelegramError::from(error) {
                TelegramError::LoggedOut(reason) => {
                    tracing::info!(%reason, "telegram authorisation ended");
                    set_status(&shared, AccountStatus::LoggedOut);
                    return AccountExit::LoggedOut;
                }
                error => {
                    // The difference could not be fetched (Telegram unreachable, or asks
                    // to wait): the message box keeps its place and asks again.
                    let pause = match error {
                        TelegramError::FloodWait { seconds } => {
                            Duration::from_secs(u64::from(seconds))
                        }
                        _ => backoff(failures, max_backoff),
                    };
                    tracing::debug!(%error, pause_ms = pause.as_millis() as u64, "update stream failed");
                    set_status(&shared, AccountStatus::Connecting);
                    failures = failures.saturating_add(1);
                    tokio::select! {
                        () = stop.cancelled() => return AccountExit::Stopped,
                        () = tokio::time::sleep(pause) => {}
                    }
                }
            },
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// The stream's applied `(pts, qts)`, recorded into the session first. Only called while
/// the stream has nothing buffered, so recording it covers only updates handed over.
async fn applied_state(
    stream: &grammers_client::client::UpdateStream,
    shared: &Shared,
) -> Option<(i32, i32)> {
    if let Err(error) = stream.sync_update_state().await {
        tracing::warn!(%error, "cannot record the update state");
        return None;
    }
    match shared.session.updates_state().await {
        Ok(state) => Some((state.pts, state.qts)),
        Err(error) => {
            tracing::warn!(%error, "cannot read the update state");
            None
        }
    }
}

/// Probes an idle link ([`check_connection`]) and compares Telegram's update state with
/// the stream's: `Some` when Telegram is ahead (to be checked again after `grace`).
async fn probe_link(
    stream: &grammers_client::client::UpdateStream,
    shared: &Shared,
    grace: Duration,
) -> Option<Behind> {
    let tl::enums::updates::State::State(telegram) = check_connection(shared).await?;
    let (pts, qts) = applied_state(stream, shared).await?;
    (telegram.pts > pts || telegram.qts > qts).then(|| Behind {
        pts: telegram.pts,
        qts: telegram.qts,
        recheck_at: tokio::time::Instant::now() + grace,
    })
}

/// A cheap call on an idle connection: proves it alive (or reconnects it) and notices an
/// authorisation that ended while nothing happened (the status change ends the task).
/// Returns Telegram's update state when the call succeeded.
async fn check_connection(shared: &Shared) -> Option<tl::enums::updates::State> {
    match shared
        .client
        .invoke(&tl::functions::updates::GetState {})
        .await
        .map_err(TelegramError::from)
    {
        Ok(state) => {
            if matches!(*shared.status.borrow(), AccountStatus::Connecting) {
                set_status(shared, AccountStatus::Connected);
            }
            Some(state)
        }
        Err(TelegramError::LoggedOut(reason)) => {
            tracing::info!(%reason, "telegram authorisation ended");
            set_status(shared, AccountStatus::LoggedOut);
            None
        }
        Err(TelegramError::FloodWait { .. }) => None,
        Err(error) => {
            tracing::debug!(%error, "keepalive failed");
            set_status(shared, AccountStatus::Connecting);
            None
        }
    }
}

fn set_status(shared: &Shared, status: AccountStatus) {
    shared.status.send_if_modified(|current| {
        let changed = *current != status;
        *current = status;
        changed
    });
}

/// Sends the status if it changed since last seen; false when the receiver is gone.
async fn forward_status(
    changes: &mut watch::Receiver<AccountStatus>,
    events: &mpsc::Sender<AccountEvent>,
) -> bool {
    if !changes.has_changed().unwrap_or(false) {
        return true;
    }
    let status = *changes.borrow_and_update();
    events.send(AccountEvent::Status(status)).await.is_ok()
}

/// The chats and users a normalised update refers to.
fn referenced_chat_ids(update: &TelegramUpdate) -> Vec<ChatId> {
    match update {
        TelegramUpdate::NewMessage { message } | TelegramUpdate::MessageEdited { message } => {
            let mut ids = vec![message.chat_id];
            ids.extend(message.sender_id);
            ids.extend(message.forward.as_ref().and_then(|forward| forward.from_id));
            ids
        }
        TelegramUpdate::MessagesDeleted { chat_id, .. } => chat_id.iter().copied().collect(),
        TelegramUpdate::ReadInbox { chat_id, .. }
        | TelegramUpdate::ReadOutbox { chat_id, .. }
        | TelegramUpdate::ChatChanged { chat_id }
        | TelegramUpdate::DialogPinned { chat_id, .. }
        | TelegramUpdate::MessagesPinned { chat_id, .. }
        | TelegramUpdate::NotifySettings { chat_id, .. } => vec![*chat_id],
        TelegramUpdate::UserStatus { user_id, .. } => vec![convert::user_chat_id(*user_id)],
        TelegramUpdate::Typing {
            chat_id, sender_id, ..
        } => vec![*chat_id, *sender_id],
        TelegramUpdate::ChatMember {
            chat_id, user_id, ..
        } => vec![*chat_id, convert::user_chat_id(*user_id)],
    }
}

/// The users and chats `update` refers to, from the peers that came with it.
fn mentioned_peers(
    update: &TelegramUpdate,
    peers: &grammers_client::peer::PeerMap,
) -> (Vec<TgUser>, Vec<ChatInfo>) {
    let mut users = Vec::new();
    let mut chats = Vec::new();
    for chat_id in referenced_chat_ids(update) {
        let Some(peer) = PeerId::from_bot_api_dialog_id(chat_id).and_then(|id| peers.get(id))
        else {
            continue;
        };
        match peer {
            grammers_client::peer::Peer::User(user) => {
                users.extend(convert::user(&user.raw));
            }
            grammers_client::peer::Peer::Group(group) => {
                chats.extend(convert::chat(&group.raw));
            }
            grammers_client::peer::Peer::Channel(channel) => {
                chats.extend(convert::chat(&tl::enums::Chat::Channel(
                    channel.raw.clone(),
                )));
            }
            // Communities are not chats TalkApp lists.
            grammers_client::peer::Peer::Community(_) => {}
        }
    }
    (users, chats)
}

/// The dialogs of a reply whose chat is among its `users` and `chats`.
pub(crate) fn dialog_infos(
    dialogs: &[tl::enums::Dialog],
    known_users: &[TgUser],
    known_chats: &[ChatInfo],
) -> Vec<DialogInfo> {
    dialogs
        .iter()
        .filter_map(|dialog| {
            let tl::enums::Dialog::Dialog(dialog) = dialog else {
                return None;
            };
            let chat_id = convert::chat_id_of(&dialog.peer);
            let chat = match convert::bare_peer(chat_id)? {
                convert::BarePeer::User(user_id) => known_users
                    .iter()
                    .find(|user| user.id == user_id)
                    .map(convert::private_chat)?,
                convert::BarePeer::Chat(_) | convert::BarePeer::Channel(_) => known_chats
                    .iter()
                    .find(|chat| chat.id == chat_id)
                    .cloned()?,
            };
            Some(convert::dialog(dialog, chat))
        })
        .collect()
}

impl Account {
    /// What this account uploaded already.
    pub(crate) fn uploads(&self) -> &crate::send_media::UploadMemory {
        &self.shared.uploads
    }

    /// The grammers client (for calls made concurrently, such as file parts).
    pub(crate) fn client(&self) -> &Client {
        &self.shared.client
    }

    /// Whether the account's task has stopped.
    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.is_cancelled()
    }

    /// The connection state now.
    pub fn status(&self) -> AccountStatus {
        *self.shared.status.borrow()
    }

    /// A receiver of connection-state changes.
    pub fn watch_status(&self) -> watch::Receiver<AccountStatus> {
        self.shared.status.subscribe()
    }

    pub(crate) async fn call<R: tl::RemoteCall>(
        &self,
        request: &R,
    ) -> Result<R::Return, TelegramError> {
        if self.stopped.is_cancelled() {
            return Err(TelegramError::NotConnected);
        }
        match self.shared.client.invoke(request).await {
            Ok(result) => Ok(result),
            Err(error) => Err(self.noted(TelegramError::from(error))),
        }
    }

    /// Reflects a failed call in the status (flood wait, logged out); returns it.
    fn noted(&self, error: TelegramError) -> TelegramError {
        match &error {
            TelegramError::FloodWait { seconds } => self.enter_flood_wait(*seconds),
            TelegramError::LoggedOut(_) => {
                set_status(&self.shared, AccountStatus::LoggedOut);
            }
            _ => {}
        }
        error
    }

    /// Shows `flood_wait` until the wait is over (unless something else happened since).
    fn enter_flood_wait(&self, seconds: u32) {
        let until = unix_now() + i64::from(seconds);
        set_status(&self.shared, AccountStatus::FloodWait { until });
        let shared = Arc::clone(&self.shared);
        let stopped = self.stopped.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = stopped.cancelled() => {}
                () = tokio::time::sleep(Duration::from_secs(u64::from(seconds))) => {
                    shared.status.send_if_modified(|current| {
                        let over = *current == AccountStatus::FloodWait { until };
                        if over {
                            *current = AccountStatus::Connected;
                        }
                        over
                    });
                }
            }
        });
    }

    /// Remembers the access hashes of the users and chats of a reply, so they can be
    /// addressed later (also after a restart: they are part of the session).
    pub(crate) async fn remember(&self, users: &[tl::enums::User], chats: &[tl::enums::Chat]) {
        let peers: Vec<PeerInfo> = users
            .iter()
            .cloned()
            .map(PeerInfo::from)
            .chain(chats.iter().cloned().map(PeerInfo::from))
            .collect();
        if let Err(error) = self.shared.session.cache_peers(peers).await {
            tracing::warn!(%error, "cannot cache peers");
        }
    }

    /// A reply of the `messages.Messages` kind (history, search, messages by id) as a page:
    /// its users and chats remembered, everything converted. `method` names the call in
    /// the error of a not-modified reply (an answer to a hash, and none is sent).
    pub(crate) async fn messages_page(
        &self,
        method: &str,
        reply: tl::enums::messages::Messages,
    ) -> Result<MessagesPage, TelegramError> {
        let (messages, chats, users, total) = match reply {
            tl::enums::messages::Messages::Messages(all) => {
                (all.messages, all.chats, all.users, None)
            }
            tl::enums::messages::Messages::Slice(slice) => {
                (slice.messages, slice.chats, slice.users, Some(slice.count))
            }
            tl::enums::messages::Messages::ChannelMessages(channel) => (
                channel.messages,
                channel.chats,
                channel.users,
                Some(channel.count),
            ),
            tl::enums::messages::Messages::NotModified(_) => {
                return Err(TelegramError::Internal(format!(
                    "{method} answered not-modified without a hash"
                )));
            }
        };
        self.remember(&users, &chats).await;
        Ok(MessagesPage {
            messages: messages.iter().filter_map(convert::message).collect(),
            users: users.iter().filter_map(convert::user).collect(),
            chats: chats.iter().filter_map(convert::chat).collect(),
            total,
        })
    }

    /// How to address a chat, from the session's peer cache.
    pub(crate) async fn input_peer(
        &self,
        chat_id: ChatId,
    ) -> Result<tl::enums::InputPeer, TelegramError> {
        let peer_id =
            PeerId::from_bot_api_dialog_id(chat_id).ok_or(TelegramError::UnknownChat(chat_id))?;
        let peer_ref = self
            .shared
            .session
            .peer_ref(peer_id)
            .await
            .map_err(|error| TelegramError::Internal(error.to_string()))?
            .ok_or(TelegramError::UnknownChat(chat_id))?;
        Ok(tl::enums::InputPeer::from(peer_ref))
    }

    /// The account's own user.
    pub async fn me(&self) -> Result<TgUser, TelegramError> {
        let users = self
            .call(&tl::functions::users::GetUsers {
                id: vec![tl::enums::InputUser::UserSelf],
            })
            .await?;
        self.remember(&users, &[]).await;
        users
            .iter()
            .find_map(convert::user)
            .ok_or_else(|| TelegramError::Internal("users.getUsers returned no user".into()))
    }

    /// A page of the chat list, newest activity first.
    pub async fn dialogs(
        &self,
        offset: Option<DialogOffset>,
        limit: i32,
        archived: bool,
    ) -> Result<DialogsPage, TelegramError> {
        let (offset_peer, offset_id, offset_date) = match offset {
            Some(offset) => (
                self.input_peer(offset.chat_id).await?,
                offset.message_id,
                offset.date,
            ),
            None => (tl::enums::InputPeer::Empty, 0, 0),
        };
        let limit = limit.clamp(1, 100);
        let reply = self
            .call(&tl::functions::messages::GetDialogs {
                exclude_pinned: false,
                folder_id: archived.then_some(1),
                offset_date,
                offset_id,
                offset_peer,
                limit,
                hash: 0,
            })
            .await?;
        let (dialogs, messages, chats, users, total) = match reply {
            tl::enums::messages::Dialogs::Dialogs(all) => {
                (all.dialogs, all.messages, all.chats, all.users, None)
            }
            tl::enums::messages::Dialogs::Slice(slice) => (
                slice.dialogs,
                slice.messages,
                slice.chats,
                slice.users,
                Some(slice.count),
            ),
            tl::enums::messages::Dialogs::NotModified(_) => {
                return Err(TelegramError::Internal(
                    "messages.getDialogs answered not-modified without a hash".into(),
                ));
            }
        };
        self.remember(&users, &chats).await;
        let known_users: Vec<TgUser> = users.iter().filter_map(convert::user).collect();
        let known_chats: Vec<ChatInfo> = chats.iter().filter_map(convert::chat).collect();
        let complete = total.is_none() || dialogs.len() < usize::try_from(limit).unwrap_or(0);
        let dialogs = dialog_infos(&dialogs, &known_users, &known_chats);
        Ok(DialogsPage {
            dialogs,
            messages: messages.iter().filter_map(convert::message).collect(),
            users: known_users,
            total,
            complete,
        })
    }

    /// A page of a chat's history, newest first.
    pub async fn history(
        &self,
        chat_id: ChatId,
        request: HistoryRequest,
    ) -> Result<MessagesPage, TelegramError> {
        let peer = self.input_peer(chat_id).await?;
        let reply = self
            .call(&tl::functions::messages::GetHistory {
                peer,
                offset_id: request.offset_id,
                offset_date: request.offset_date,
                add_offset: request.add_offset,
                limit: request.limit.clamp(1, 100),
                max_id: request.max_id,
                min_id: request.min_id,
                hash: 0,
            })
            .await?;
        self.messages_page("messages.getHistory", reply).await
    }

    /// Sends a text message. The same `random_id` sends once: a repeat returns the
    /// message the first call sent (or Telegram's `RANDOM_ID_DUPLICATE`, reported as
    /// [`TelegramError::Refused`], which the caller treats as sent).
    pub async fn send_text(&self, outgoing: &OutgoingText) -> Result<SentMessage, TelegramError> {
        let peer = self.input_peer(outgoing.chat_id).await?;
        let updates = self
            .call(&tl::functions::messages::SendMessage {
                no_webpage: false,
                silent: outgoing.silent,
                background: false,
                clear_draft: false,
                noforwards: false,
                update_stickersets_order: false,
                invert_media: false,
                allow_paid_floodskip: false,
                peer,
                reply_to: reply_header(outgoing.reply_to),
                message: outgoing.text.clone(),
                random_id: outgoing.random_id,
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
            })
            .await?;
        sent_message(&updates, outgoing.random_id).ok_or_else(|| {
            TelegramError::Internal("messages.sendMessage answered without the message".into())
        })
    }

    /// Marks the chat read up to `max_id` (0: everything).
    pub async fn read_history(&self, chat_id: ChatId, max_id: i32) -> Result<(), TelegramError> {
        let peer = self.input_peer(chat_id).await?;
        match peer {
            tl::enums::InputPeer::Channel(channel) => {
                self.call(&tl::functions::channels::ReadHistory {
                    channel: tl::enums::InputChannel::Channel(tl::types::InputChannel {
                        channel_id: channel.channel_id,
                        access_hash: channel.access_hash,
                    }),
                    max_id,
                })
                .await?;
            }
            peer => {
                self.call(&tl::functions::messages::ReadHistory { peer, max_id })
                    .await?;
            }
        }
        Ok(())
    }

    /// Tells the chat what the user is doing ("typing...").
    pub async fn set_typing(
        &self,
        chat_id: ChatId,
        action: ChatAction,
    ) -> Result<(), TelegramError> {
        let peer = self.input_peer(chat_id).await?;
        self.call(&tl::functions::messages::SetTyping {
            peer,
            top_msg_id: None,
            action: convert::send_action(action),
        })
        .await?;
        Ok(())
    }

    /// The details only the full objects carry (description, online count, pinned).
    pub async fn chat_full(&self, chat_id: ChatId) -> Result<ChatFullInfo, TelegramError> {
        let peer = self.input_peer(chat_id).await?;
        match peer {
            tl::enums::InputPeer::Channel(channel) => {
                let tl::enums::messages::ChatFull::Full(full) = self
                    .call(&tl::functions::channels::GetFullChannel {
                        channel: tl::enums::InputChannel::Channel(tl::types::InputChannel {
                            channel_id: channel.channel_id,
                            access_hash: channel.access_hash,
                        }),
                    })
                    .await?;
                self.remember(&full.users, &full.chats).await;
                Ok(full_info(&full.full_chat))
            }
            tl::enums::InputPeer::Chat(chat) => {
                let tl::enums::messages::ChatFull::Full(full) = self
                    .call(&tl::functions::messages::GetFullChat {
                        chat_id: chat.chat_id,
                    })
                    .await?;
                self.remember(&full.users, &full.chats).await;
                let mut info = full_info(&full.full_chat);
                // Telegram gives a basic group's members with their users, not a count.
                info.online_count = online_members(&full.full_chat, &full.users, unix_now());
                Ok(info)
            }
            tl::enums::InputPeer::User(user) => {
                let tl::enums::users::UserFull::Full(full) = self
                    .call(&tl::functions::users::GetFullUser {
                        id: tl::enums::InputUser::User(tl::types::InputUser {
                            user_id: user.user_id,
                            access_hash: user.access_hash,
                        }),
                    })
                    .await?;
                self.remember(&full.users, &full.chats).await;
                let tl::enums::UserFull::Full(user_full) = &full.full_user;
                Ok(ChatFullInfo {
                    about: user_full.about.clone().unwrap_or_default(),
                    pinned_message_id: user_full.pinned_msg_id,
                    ..ChatFullInfo::default()
                })
            }
            _ => Err(TelegramError::UnknownChat(chat_id)),
        }
    }

    /// Starts downloading `length` bytes (`None`: to the end) of `source` from `offset`,
    /// with `upload.getFile` in aligned chunks (see [`ChunkPlan`]), trimmed to the range.
    /// A stale file reference fails with `FILE_REFERENCE_EXPIRED` (as
    /// [`TelegramError::Refused`]): fetch the message again ([`Self::message`]) for a
    /// fresh location.
    pub async fn download(
        &self,
        source: &DownloadSource,
        offset: u64,
        length: Option<u64>,
    ) -> Result<Download, TelegramError> {
        if self.stopped.is_cancelled() {
            return Err(TelegramError::NotConnected);
        }
        let raw = match source {
            DownloadSource::File(location) => {
                let (location, dc_id) = input_location(location);
                RawLocation {
                    location,
                    dc_id: Some(dc_id),
                }
            }
            DownloadSource::ChatPhoto {
                chat_id,
                photo_id,
                big,
            } => RawLocation {
                location: tl::types::InputPeerPhotoFileLocation {
                    big: *big,
                    peer: self.input_peer(*chat_id).await?,
                    photo_id: *photo_id,
                }
                .into(),
                dc_id: None,
            },
        };
        let plan = ChunkPlan::new(offset, length);
        let chunks = self
            .shared
            .client
            .iter_download(&raw)
            .chunk_size(i32::try_from(plan.chunk_size).unwrap_or(i32::MAX))
            .skip_chunks(
                i32::try_from(plan.first_chunk)
                    .map_err(|_| TelegramError::Internal("download offset out of range".into()))?,
            );
        Ok(Download {
            account: self.clone(),
            chunks,
            trimmer: Trimmer::new(&plan),
            chunk_size: plan.chunk_size,
            finished: false,
        })
    }

    /// One message, fetched again from Telegram (for a fresh file reference); `None`
    /// when it is gone.
    pub async fn message(
        &self,
        chat_id: ChatId,
        message_id: i32,
    ) -> Result<Option<Message>, TelegramError> {
        let wanted = vec![tl::enums::InputMessage::Id(tl::types::InputMessageId {
            id: message_id,
        })];
        let reply = match self.input_peer(chat_id).await? {
            tl::enums::InputPeer::Channel(channel) => {
                self.call(&tl::functions::channels::GetMessages {
                    channel: tl::enums::InputChannel::Channel(tl::types::InputChannel {
                        channel_id: channel.channel_id,
                        access_hash: channel.access_hash,
                    }),
                    id: wanted,
                })
                .await?
            }
            _ => {
                self.call(&tl::functions::messages::GetMessages { id: wanted })
                    .await?
            }
        };
        let page = self.messages_page("messages.getMessages", reply).await?;
        Ok(page
            .messages
            .into_iter()
            .find(|message| message.id == message_id && message.chat_id == chat_id))
    }

    /// Ends the authorisation at Telegram. The task notices and stops.
    pub async fn log_out(&self) -> Result<(), TelegramError> {
        match self.call(&tl::functions::auth::LogOut {}).await {
            Ok(_) | Err(TelegramError::LoggedOut(_)) => Ok(()),
            Err(error) => Err(error),
        }
    }
}

/// A download under way (from [`Account::download`]).
pub struct Download {
    account: Account,
    chunks: grammers_client::client::DownloadIter,
    trimmer: Trimmer,
    chunk_size: u64,
    finished: bool,
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download")
            .field("chunk_size", &self.chunk_size)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl Download {
    /// The next bytes of the range, in order; `None` once it is all handed out (or the
    /// file ended before the range did).
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, TelegramError> {
        while !self.finished && !self.trimmer.is_done() {
            if self.account.stopped.is_cancelled() {
                return Err(TelegramError::NotConnected);
            }
            let chunk = match self.chunks.next().await {
                Ok(chunk) => chunk,
                Err(error) => return Err(self.account.noted(TelegramError::from(error))),
            };
            let Some(chunk) = chunk else {
                self.finished = true;
                break;
            };
            // A short chunk is the file's last.
            if (chunk.len() as u64) < self.chunk_size {
                self.finished = true;
            }
            let wanted = self.trimmer.take(chunk);
            if !wanted.is_empty() {
                return Ok(Some(wanted));
            }
        }
        Ok(None)
    }
}

fn full_info(full: &tl::enums::ChatFull) -> ChatFullInfo {
    match full {
        tl::enums::ChatFull::Full(group) => ChatFullInfo {
            about: group.about.clone(),
            members_count: match &group.participants {
                tl::enums::ChatParticipants::Participants(participants) => {
                    i32::try_from(participants.participants.len()).ok()
                }
                tl::enums::ChatParticipants::Forbidden(_) => None,
            },
            online_count: None,
            pinned_message_id: group.pinned_msg_id,
            linked_chat_id: None,
        },
        tl::enums::ChatFull::ChannelFull(channel) => ChatFullInfo {
            about: channel.about.clone(),
            members_count: channel.participants_count,
            online_count: channel.online_count,
            pinned_message_id: channel.pinned_msg_id,
            linked_chat_id: channel.linked_chat_id.map(convert::channel_chat_id),
        },
        // Communities are not chats TalkApp shows.
        tl::enums::ChatFull::CommunityFull(_) => ChatFullInfo::default(),
    }
}

/// How many of a basic group's members are online at `now`; `None` when Telegram did not
/// list the members.
fn online_members(full: &tl::enums::ChatFull, users: &[tl::enums::User], now: i64) -> Option<i32> {
    let tl::enums::ChatFull::Full(group) = full else {
        return None;
    };
    let tl::enums::ChatParticipants::Participants(participants) = &group.participants else {
        return None;
    };
    let members: std::collections::HashSet<i64> = participants
        .participants
        .iter()
        .map(|participant| match participant {
            tl::enums::ChatParticipant::Participant(p) => p.user_id,
            tl::enums::ChatParticipant::Creator(p) => p.user_id,
            tl::enums::ChatParticipant::Admin(p) => p.user_id,
        })
        .collect();
    let online = users
        .iter()
        .filter_map(convert::user)
        .filter(|user| members.contains(&user.id))
        .filter(|user| matches!(user.presence, Presence::Online { expires } if expires > now))
        .count();
    i32::try_from(online).ok()
}

/// The message a send produced, from the updates Telegram answered with.
/// A plain reply to a message of the same chat.
pub(crate) fn reply_header(reply_to: Option<i32>) -> Option<tl::enums::InputReplyTo> {
    reply_to.map(|reply_to_msg_id| {
        tl::enums::InputReplyTo::Message(tl::types::InputReplyToMessage {
            reply_to_msg_id,
            top_msg_id: None,
            reply_to_peer_id: None,
            quote_text: None,
            quote_entities: None,
            quote_offset: None,
            monoforum_peer_id: None,
            todo_item_id: None,
            poll_option: None,
        })
    })
}

pub(crate) fn sent_message(updates: &tl::enums::Updates, random_id: i64) -> Option<SentMessage> {
    match updates {
        tl::enums::Updates::UpdateShortSentMessage(sent) => Some(SentMessage {
            id: sent.id,
            date: i64::from(sent.date),
        }),
        tl::enums::Updates::Updates(tl::types::Updates { updates, date, .. })
        | tl::enums::Updates::Combined(tl::types::UpdatesCombined { updates, date, .. }) => {
            let id = updates.iter().find_map(|update| match update {
                tl::enums::Update::MessageId(assigned) if assigned.random_id == random_id => {
                    Some(assigned.id)
                }
                _ => None,
            })?;
            let message_date = updates.iter().find_map(|update| {
                let message = match update {
                    tl::enums::Update::NewMessage(new) => &new.message,
                    tl::enums::Update::NewChannelMessage(new) => &new.message,
                    _ => return None,
                };
                match message {
                    tl::enums::Message::Message(message) if message.id == id => {
                        Some(i64::from(message.date))
                    }
                    _ => None,
                }
            });
            Some(SentMessage {
                id,
                date: message_date.unwrap_or(i64::from(*date)),
            })
        }
        tl::enums::Updates::TooLong
        | tl::enums::Updates::UpdateShortMessage(_)
        | tl::enums::Updates::UpdateShortChatMessage(_)
        | tl::enums::Updates::UpdateShort(_) => None,
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
