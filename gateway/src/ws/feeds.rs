//! One event subscription per linked account per gateway, shared by that account's
//! sockets here.
//!
//! A socket used to be its own subscription: its own gRPC stream from the realtime
//! service, its own reads of the event log by cursor, its own JSON of every event. With
//! ten sockets on one account (a user's tabs and devices) that was ten times the work of
//! one (BENCHMARKS.md, fan-out). Now the first socket of an account opens a [`Feed`]: one
//! upstream stream, whose events are turned into their JSON frame once and handed to
//! every member socket through a broadcast channel. The last socket to leave closes it.
//!
//! What a socket is owed is unchanged: every event after its start, once each, in order.
//! - A socket without `since` starts where the feed is (a new feed: at the log's newest
//!   event, fixed before the upgrade, as before).
//! - A socket with `since` is served from the feed's recent events when the feed holds
//!   everything after `since`; otherwise (an older cursor) it reads the log by its own
//!   stream from `since` ([`Mode::CatchUp`]) until the feed covers its cursor, then joins.
//! - A socket that falls more than the channel's capacity behind (it reads slowly) is not
//!   waited for: it loses its place in the channel and catches up by its own stream the
//!   same way. A client too slow even for that is closed by the connection's send timeout.
//! - When the feed's upstream breaks (the realtime service restarted), the feed resumes it
//!   after the last event it relayed: no member sees a gap or a repeat.
//!
//! Presence (the realtime service's count of a user's live connections, which decides
//! whether a push notification is sent) counts a feed as one connection: a user with a
//! socket open has at least one, a user with none has none.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use actix_web::web;
use bytestring::ByteString;
use talkapp_proto::realtime::v1 as realtime;
use talkapp_proto::tonic::Streaming;
use tokio::sync::broadcast;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::frames::event_json;
use crate::problem::ApiError;
use crate::state::AppState;

/// Events a feed keeps after relaying them, for sockets that join with a `since` just
/// behind (a reconnect). Small: a feed lives as long as a socket of its account, and a
/// socket further behind reads the log by its own stream anyway.
const RECENT: usize = 32;
/// Events the broadcast channel holds for a member before that member loses its place
/// (and catches up by its own stream). The channel allocates its slots at once, and each
/// slot keeps its last frame alive until overwritten: this is memory per account.
const CHANNEL: usize = 64;

/// Where the events a socket has not had yet begin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    /// After this id.
    After(i64),
    /// From the start of what the log holds (it was empty when the feed began).
    LogStart,
}

impl Cursor {
    fn last(self) -> Option<i64> {
        match self {
            Self::After(last) => Some(last),
            Self::LogStart => None,
        }
    }

    /// Whether a feed holding every event after `covered` has every event after `self`.
    fn is_covered_by(self, covered: Self) -> bool {
        match (self, covered) {
            (_, Self::LogStart) => true,
            (Self::LogStart, Self::After(_)) => false,
            (Self::After(mine), Self::After(covered)) => mine >= covered,
        }
    }
}

/// An event as relayed: its id, and its frame as the client sees it, made once.
#[derive(Debug, Clone)]
pub struct Relayed {
    /// The event's id (`resync_required`: the id after which the log resumes).
    pub event_id: i64,
    /// A `resync_required`, delivered whatever the member's cursor.
    resync: bool,
    /// The JSON text frame.
    pub frame: ByteString,
}

impl Relayed {
    fn new(event: realtime::Event) -> Self {
        let event_id = event.event_id;
        let resync = event.r#type == "resync_required";
        Self {
            event_id,
            resync,
            frame: event_json(event).to_string().into(),
        }
    }
}

/// A linked account's key.
type Account = (Uuid, u32);

/// Live feeds by account.
type FeedMap = Mutex<HashMap<Account, Arc<Feed>>>;

/// The gateway's feeds, one per linked account with a socket here.
#[derive(Debug, Default)]
pub struct Feeds {
    feeds: Arc<FeedMap>,
}

/// One account's shared subscription.
#[derive(Debug)]
pub struct Feed {
    account: Account,
    /// Where the feed is listed, to be taken out when its last member leaves.
    listed_in: Weak<FeedMap>,
    inner: Mutex<FeedState>,
    /// Ends the upstream pump.
    stop: CancellationToken,
}

#[derive(Debug)]
struct FeedState {
    /// Relayed events after `covered`, oldest first, at most [`RECENT`].
    recent: VecDeque<Relayed>,
    /// The feed holds (in `recent`) every event after this.
    covered: Cursor,
    /// The newest event relayed (or `covered` when none yet).
    newest: Cursor,
    sender: broadcast::Sender<Relayed>,
    members: usize,
    /// The last member left: no one joins this feed any more.
    closed: bool,
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn subscribe_request(
    account: Account,
    cursor: Option<Cursor>,
    connection_id: &str,
) -> realtime::SubscribeRequest {
    let (since, has_since, from_log_start) = match cursor {
        None => (0, false, false),
        Some(Cursor::After(after)) if after > 0 => (after, true, false),
        Some(Cursor::After(_) | Cursor::LogStart) => (0, false, true),
    };
    realtime::SubscribeRequest {
        user_id: account.0.to_string(),
        session_index: account.1,
        since,
        has_since,
        connection_id: connection_id.to_owned(),
        from_log_start,
    }
}

impl Feeds {
    /// Makes a new socket of `(user_id, session_index)` a member of its account's feed,
    /// opening the feed when it is the first. `since`: the client's last event (`None`:
    /// from now on). Once this returns the socket's start is fixed: every event after it
    /// reaches the member, including those appended while the upgrade completes.
    pub async fn join(
        &self,
        state: &web::Data<AppState>,
        user_id: Uuid,
        session_index: u32,
        since: Option<i64>,
    ) -> Result<Member, ApiError> {
        let account = (user_id, session_index);
        let start = since.map(Cursor::After);
        loop {
            let existing = locked(&self.feeds).get(&account).cloned();
            if let Some(feed) = existing {
                if let Some(member) = feed.admit(start) {
                    return Ok(member);
                }
                // Closing: not ours to join; a new one replaces it below.
                feed.unlist();
            }
            // The first socket of the account here: open its upstream before the upgrade.
            let connection_id = Uuid::new_v4().to_string();
            let (stream, start_after) = state
                .services
                .subscribe_events(subscribe_request(account, None, &connection_id))
                .await?;
            let covered = match start_after {
                Some(after) => Cursor::After(after),
                None => Cursor::LogStart,
            };
            let feed = {
                let mut feeds = locked(&self.feeds);
                if feeds.contains_key(&account) {
                    // Another socket opened it meanwhile: join that one (this stream
                    // closes as it is dropped).
                    continue;
                }
                let (sender, _) = broadcast::channel(CHANNEL);
                let feed = Arc::new(Feed {
                    account,
                    listed_in: Arc::downgrade(&self.feeds),
                    inner: Mutex::new(FeedState {
                        recent: VecDeque::new(),
                        covered,
                        newest: covered,
                        sender,
                        members: 0,
                        closed: false,
                    }),
                    stop: CancellationToken::new(),
                });
                feeds.insert(account, Arc::clone(&feed));
                feed
            };
            metrics::gauge!("talkapp_ws_feeds").increment(1.0);
            actix_web::rt::spawn(pump(
                state.clone(),
                Arc::clone(&feed),
                stream,
                covered,
                connection_id,
            ));
            if let Some(member) = feed.admit(start) {
                return Ok(member);
            }
        }
    }
}

impl Feed {
    /// A new member starting at `start` (`None`: where the feed is), unless the feed is
    /// closing.
    fn admit(self: &Arc<Self>, start: Option<Cursor>) -> Option<Member> {
        let mut state = locked(&self.inner);
        if state.closed {
            return None;
        }
        state.members += 1;
        let receiver = state.sender.subscribe();
        let cursor = start.unwrap_or(state.newest);
        let mode = if cursor.is_covered_by(state.covered) {
            Mode::Live {
                backlog: backlog_after(&state.recent, cursor),
                receiver,
            }
        } else {
            drop(receiver);
            Mode::CatchUp(CatchUp::default())
        };
        drop(state);
        Some(Member {
            feed: Arc::clone(self),
            cursor,
            mode,
        })
    }

    /// The member's way back to the channel once the feed covers `cursor`.
    fn rejoin(&self, cursor: Cursor) -> Option<Mode> {
        let state = locked(&self.inner);
        cursor.is_covered_by(state.covered).then(|| Mode::Live {
            backlog: backlog_after(&state.recent, cursor),
            receiver: state.sender.subscribe(),
        })
    }

    /// Keeps and hands out one event from upstream.
    fn relay(&self, relayed: Relayed) {
        let mut state = locked(&self.inner);
        if state.recent.len() == RECENT
            && let Some(oldest) = state.recent.pop_front()
        {
            state.covered = Cursor::After(oldest.event_id);
        }
        if !relayed.resync {
            state.newest = Cursor::After(relayed.event_id);
        }
        state.recent.push_back(relayed.clone());
        // No receiver: every member is catching up; they find it in `recent`.
        let _ = state.sender.send(relayed);
    }

    /// A member left; the last one closes the feed.
    fn leave(self: &Arc<Self>) {
        let mut state = locked(&self.inner);
        state.members = state.members.saturating_sub(1);
        if state.members == 0 {
            state.closed = true;
            drop(state);
            self.unlist();
            self.stop.cancel();
        }
    }

    /// Takes the feed out of the gateway's list if it is still the account's there.
    fn unlist(self: &Arc<Self>) {
        let Some(listed_in) = self.listed_in.upgrade() else {
            return;
        };
        let mut feeds = locked(&listed_in);
        if feeds
            .get(&self.account)
            .is_some_and(|current| Arc::ptr_eq(current, self))
        {
            feeds.remove(&self.account);
        }
    }
}

fn backlog_after(recent: &VecDeque<Relayed>, cursor: Cursor) -> VecDeque<Relayed> {
    match cursor.last() {
        None => recent.clone(),
        Some(last) => recent
            .iter()
            .filter(|relayed| relayed.event_id > last)
            .cloned()
            .collect(),
    }
}

/// Relays the account's events from the realtime service into the feed until it closes,
/// resuming after the last event whenever the stream breaks.
async fn pump(
    state: web::Data<AppState>,
    feed: Arc<Feed>,
    stream: Streaming<realtime::Event>,
    start: Cursor,
    connection_id: String,
) {
    let mut upstream = Upstream::new(feed.account, start, connection_id, Some(stream));
    loop {
        let next = tokio::select! {
            () = feed.stop.cancelled() => break,
            next = upstream.next(&state) => next,
        };
        feed.relay(next);
    }
    metrics::gauge!("talkapp_ws_feeds").decrement(1.0);
}

/// One subscription to the realtime service from a cursor, resumed after its last event
/// whenever it breaks: what a feed relays, and what a member catching up reads.
#[derive(Debug)]
struct Upstream {
    account: Account,
    cursor: Cursor,
    connection_id: String,
    stream: Option<Streaming<realtime::Event>>,
    failures: u32,
    retry_at: Option<Instant>,
}

impl Upstream {
    fn new(
        account: Account,
        cursor: Cursor,
        connection_id: String,
        stream: Option<Streaming<realtime::Event>>,
    ) -> Self {
        Self {
            account,
            cursor,
            connection_id,
            stream,
            failures: 0,
            retry_at: None,
        }
    }

    /// The next event after the cursor, waiting (and resubscribing) as long as it takes.
    /// Cancel-safe: dropped between awaits it loses nothing.
    async fn next(&mut self, state: &AppState) -> Relayed {
        loop {
            let Some(stream) = self.stream.as_mut() else {
                if let Some(at) = self.retry_at {
                    tokio::time::sleep_until(at).await;
                    self.retry_at = None;
                }
                let request =
                    subscribe_request(self.account, Some(self.cursor), &self.connection_id);
                match state.services.subscribe_events(request).await {
                    Ok((stream, _)) => {
                        self.failures = 0;
                        self.stream = Some(stream);
                    }
                    Err(error) => {
                        self.failures += 1;
                        if self.failures == 1 {
                            tracing::info!(%error, "event stream not available; retrying");
                        }
                        let pause = Duration::from_millis(200 * u64::from(self.failures.min(10)));
                        self.retry_at = Some(Instant::now() + pause);
                    }
                }
                continue;
            };
            let Ok(Some(event)) = stream.message().await else {
                // Resubscribe after the last event relayed.
                self.stream = None;
                continue;
            };
            let last = self.cursor.last();
            let resync = event.r#type == "resync_required";
            if last.is_some_and(|last| event.event_id <= last) && !resync {
                continue;
            }
            // A `since` this old means starting over: later ones follow it.
            self.cursor = Cursor::After(event.event_id.max(last.unwrap_or(0)));
            return Relayed::new(event);
        }
    }
}

/// A member catching up by its own stream.
#[derive(Debug, Default)]
struct CatchUp {
    upstream: Option<Box<Upstream>>,
}

#[derive(Debug)]
enum Mode {
    /// Served by the feed: first `backlog`, then the channel.
    Live {
        backlog: VecDeque<Relayed>,
        receiver: broadcast::Receiver<Relayed>,
    },
    /// Reading the log by its own stream until the feed covers its cursor.
    CatchUp(CatchUp),
}

/// One socket's place in its account's feed. Dropping it leaves the feed.
#[derive(Debug)]
pub struct Member {
    feed: Arc<Feed>,
    cursor: Cursor,
    mode: Mode,
}

impl Member {
    /// The next event for this socket: every event after its start, once each, in order.
    /// Cancel-safe (it is raced against the socket's other work).
    pub async fn next(&mut self, state: &AppState) -> Relayed {
        loop {
            let relayed = match &mut self.mode {
                Mode::Live { backlog, receiver } => {
                    if let Some(relayed) = backlog.pop_front() {
                        relayed
                    } else {
                        match receiver.recv().await {
                            Ok(relayed) => relayed,
                            Err(broadcast::error::RecvError::Lagged(_)) => {
                                metrics::counter!("talkapp_ws_feed_catch_ups_total").increment(1);
                                self.mode = Mode::CatchUp(CatchUp::default());
                                continue;
                            }
                            Err(broadcast::error::RecvError::Closed) => {
                                // The feed's sender lives as long as the feed, and this
                                // member holds the feed: never reached. Wait for the
                                // connection to end rather than spin.
                                std::future::pending::<()>().await;
                                continue;
                            }
                        }
                    }
                }
                Mode::CatchUp(catch_up) => {
                    if let Some(mode) = self.feed.rejoin(self.cursor) {
                        self.mode = mode;
                        continue;
                    }
                    let (user_id, session_index) = self.feed.account;
                    let cursor = self.cursor;
                    let upstream = catch_up.upstream.get_or_insert_with(|| {
                        Box::new(Upstream::new(
                            (user_id, session_index),
                            cursor,
                            Uuid::new_v4().to_string(),
                            None,
                        ))
                    });
                    upstream.next(state).await
                }
            };
            let last = self.cursor.last();
            if last.is_some_and(|last| relayed.event_id <= last) && !relayed.resync {
                continue;
            }
            self.cursor = Cursor::After(relayed.event_id.max(last.unwrap_or(0)));
            return relayed;
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.feed.leave();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relayed(event_id: i64) -> Relayed {
        Relayed {
            event_id,
            resync: false,
            frame: ByteString::from(event_id.to_string()),
        }
    }

    #[test]
    fn a_cursor_is_covered_only_from_where_the_feed_holds_everything() {
        assert!(Cursor::After(5).is_covered_by(Cursor::After(5)));
        assert!(Cursor::After(6).is_covered_by(Cursor::After(5)));
        assert!(!Cursor::After(4).is_covered_by(Cursor::After(5)));
        assert!(Cursor::After(1).is_covered_by(Cursor::LogStart));
        assert!(Cursor::LogStart.is_covered_by(Cursor::LogStart));
        assert!(!Cursor::LogStart.is_covered_by(Cursor::After(1)));
    }

    #[test]
    fn the_backlog_is_what_came_after_the_cursor() {
        let recent: VecDeque<Relayed> = [3, 5, 8].into_iter().map(relayed).collect();
        let ids = |backlog: VecDeque<Relayed>| {
            backlog
                .iter()
                .map(|relayed| relayed.event_id)
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(backlog_after(&recent, Cursor::After(4))), [5, 8]);
        assert_eq!(
            ids(backlog_after(&recent, Cursor::After(8))),
            Vec::<i64>::new()
        );
        assert_eq!(ids(backlog_after(&recent, Cursor::LogStart)), [3, 5, 8]);
    }

    #[test]
    fn a_full_feed_forgets_its_oldest_and_covers_less() {
        let (sender, _) = broadcast::channel(CHANNEL);
        let feed = Arc::new(Feed {
            account: (Uuid::new_v4(), 1),
            listed_in: Weak::new(),
            inner: Mutex::new(FeedState {
                recent: VecDeque::new(),
                covered: Cursor::After(100),
                newest: Cursor::After(100),
                sender,
                members: 0,
                closed: false,
            }),
            stop: CancellationToken::new(),
        });
        for id in 101..=(100 + RECENT as i64 + 2) {
            feed.relay(relayed(id));
        }
        let state = locked(&feed.inner);
        assert_eq!(state.covered, Cursor::After(102));
        assert_eq!(state.newest, Cursor::After(100 + RECENT as i64 + 2));
        assert_eq!(state.recent.len(), RECENT);
        drop(state);
        assert!(
            feed.rejoin(Cursor::After(101)).is_none(),
            "101 < 102: must catch up"
        );
        assert!(feed.rejoin(Cursor::After(102)).is_some());
    }
}
