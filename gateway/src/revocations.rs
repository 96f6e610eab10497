//! What has ended, told to every gateway replica at once: a sign-in session (sign-out, a
//! reused refresh token), a linked account (unlinked), a user, an external provider's
//! subject disabled by an operator. Each gateway keeps what ended recently in memory, so
//! checking a signed media link or an external token costs no store read, and closes its
//! own WebSockets of whatever ended
//! ([ADR 0017](../../docs/adr/0017-revocations-reach-every-gateway.md),
//! [ADR 0033](../../docs/adr/0033-revocations-kept-with-their-time.md)).
//!
//! * **In memory**: ended sessions, and revoked users, accounts and subjects with the time
//!   of their revocation, for [`KEEP`] (the longest a media link of theirs can still be
//!   valid), at most [`MAX_SESSIONS`] of each (oldest forgotten first, counted in
//!   `talkapp_revocations_forgotten_total`): bounded, whatever the sign-out rate. And the
//!   external provider's subjects an operator disabled (loaded from the store at start by
//!   [`Revocations::load_disabled_subjects`], then fed by the revocations heard): their
//!   tokens are refused (403 `account_disabled`) with no store read.
//! * **Times**: each revocation carries when it was made (unix milliseconds, the clock of
//!   the gateway that made it), and each socket when it was opened. A session's end closes
//!   its sockets whenever they were opened (a session never comes back); a user's, an
//!   account's or a subject's closes only those opened before it (give or take
//!   [`CLOCK_SLACK`]): a user enabled again, an account linked again, open sockets that a
//!   late-heard revocation must not close.
//! * **Across gateways** (Redis configured): a revocation is `PUBLISH`ed on
//!   `<redis.prefix>:revoked` (`<what>@<millis>`), and also kept in a sorted set scored by
//!   its time, trimmed to [`KEEP`]: ended sessions in `<redis.prefix>:revoked-sessions`,
//!   users, accounts and subjects (disabled and enabled again) in
//!   `<redis.prefix>:revoked-users` (`ZADD GT`: Redis 6.2 or newer). A gateway that starts,
//!   or whose subscriber connection was lost and comes back, subscribes and then reads both
//!   sets: every session, and every other revocation since its previous subscription began
//!   (less a slack), so it misses none; what it reads again is harmless (times compared).
//! * **Redis away**: a revocation that cannot be told is kept (at most [`MAX_UNTOLD`]) and
//!   told again every second (by [`Revocations::listen`]) with its original time until
//!   Redis takes it, so the other gateways' open sockets and media links of a user
//!   disabled meanwhile still end once it is back, and a socket opened after the user was
//!   enabled again stays open.
//! * Without Redis (the embedded default, one gateway), only this process is told.
//!
//! Gateways' clocks are assumed to agree within [`CLOCK_SLACK`] (NTP does far better).

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use talkapp_store::UserAdminStore;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How long an ended session is remembered: the longest lifetime of anything issued to
/// it (a lasting media link: `downloads.legacy_link_ttl_secs`, a day, plus its hour's
/// rounding; an access token lives 15 minutes).
pub const KEEP: Duration = Duration::from_secs(26 * 3600);

/// The most ended sessions remembered at once (about 100 bytes each: 20 MB at most), and
/// likewise of revoked users and accounts.
pub const MAX_SESSIONS: usize = 200_000;

/// The most revocations kept to be told again while Redis is away (the oldest are
/// dropped first, counted in `talkapp_revocations_untold_dropped_total`; each gateway's
/// requests are refused anyway, from the store).
pub const MAX_UNTOLD: usize = 100_000;

/// How far gateways' clocks may disagree: a user's or an account's revocation also ends
/// sockets opened up to this long after its time (by the socket's gateway's clock). A
/// user enabled again (an account linked again) keeps sockets opened later than that.
pub const CLOCK_SLACK: Duration = Duration::from_secs(2);

/// How long before its previous subscription began a (re)subscribing gateway reads the
/// kept revocations back from (what it heard already is harmless to hear again).
const READ_BACK_SLACK_MILLIS: i64 = 10_000;

/// How often revocations not told yet are told again.
const RETELL_EVERY: Duration = Duration::from_secs(1);

/// How long to wait before reading the disabled subjects again when the store failed.
const LOAD_RETRY: Duration = Duration::from_secs(2);

/// Something that ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Revoked {
    /// A sign-in session (sign-out, a refresh family revoked).
    Session(Uuid),
    /// One linked account of a user (unlinked).
    Account {
        /// The TalkApp user.
        user_id: Uuid,
        /// The account.
        session_index: u32,
    },
    /// A user and everything of theirs.
    User(Uuid),
    /// An external provider's subject (a user with no account here) disabled by an
    /// operator: its sockets end, and every gateway refuses its tokens until
    /// [`Revoked::SubjectEnabled`].
    Subject(Uuid),
    /// An external provider's subject enabled again: ends nothing; every gateway accepts
    /// its tokens again.
    SubjectEnabled(Uuid),
}

impl Revoked {
    fn encode(self) -> String {
        match self {
            Self::Session(id) => format!("s:{}", id.simple()),
            Self::Account {
                user_id,
                session_index,
            } => format!("a:{}:{session_index}", user_id.simple()),
            Self::User(id) => format!("u:{}", id.simple()),
            Self::Subject(id) => format!("x:{}", id.simple()),
            Self::SubjectEnabled(id) => format!("e:{}", id.simple()),
        }
    }

    fn decode(text: &str) -> Option<Self> {
        let (kind, rest) = text.split_once(':')?;
        match kind {
            "s" => Uuid::parse_str(rest).ok().map(Self::Session),
            "u" => Uuid::parse_str(rest).ok().map(Self::User),
            "x" => Uuid::parse_str(rest).ok().map(Self::Subject),
            "e" => Uuid::parse_str(rest).ok().map(Self::SubjectEnabled),
            "a" => {
                let (user, index) = rest.split_once(':')?;
                Some(Self::Account {
                    user_id: Uuid::parse_str(user).ok()?,
                    session_index: index.parse().ok()?,
                })
            }
            _ => None,
        }
    }

    /// Whether a connection of `user_id`'s account `session_index`, opened in sign-in
    /// session `sign_in` (none for an external token), is one this names (whenever it
    /// was opened: see [`Told::ends`]).
    pub fn ends(self, user_id: Uuid, session_index: u32, sign_in: Option<Uuid>) -> bool {
        match self {
            Self::Session(id) => sign_in == Some(id),
            Self::Account {
                user_id: user,
                session_index: index,
            } => user == user_id && index == session_index,
            Self::User(user) | Self::Subject(user) => user == user_id,
            Self::SubjectEnabled(_) => false,
        }
    }
}

/// A revocation and when it was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Told {
    /// What ended.
    pub revoked: Revoked,
    /// When (unix milliseconds, by the clock of the gateway that made it).
    pub at: i64,
}

impl Told {
    fn encode(self) -> String {
        format!("{}@{}", self.revoked.encode(), self.at)
    }

    /// `<what>@<millis>`; a bare `<what>` (an older gateway's) counts as made `now`.
    fn decode(text: &str, now: i64) -> Option<Self> {
        match text.rsplit_once('@') {
            Some((what, at)) => Some(Self {
                revoked: Revoked::decode(what)?,
                at: at.parse().ok()?,
            }),
            None => Some(Self {
                revoked: Revoked::decode(text)?,
                at: now,
            }),
        }
    }

    /// Whether a connection of `user_id`'s account `session_index`, opened in sign-in
    /// session `sign_in` at `opened_at` (unix milliseconds, this gateway's clock), ends
    /// with this: a session's end ends it whenever it was opened; a user's, an account's
    /// or a subject's only if it was opened before (give or take [`CLOCK_SLACK`]).
    pub fn ends(
        self,
        user_id: Uuid,
        session_index: u32,
        sign_in: Option<Uuid>,
        opened_at: i64,
    ) -> bool {
        self.revoked.ends(user_id, session_index, sign_in)
            && (matches!(self.revoked, Revoked::Session(_))
                || opened_at <= self.at + slack_millis())
    }
}

fn slack_millis() -> i64 {
    i64::try_from(CLOCK_SLACK.as_millis()).unwrap_or(i64::MAX)
}

fn keep_millis() -> i64 {
    i64::try_from(KEEP.as_millis()).unwrap_or(i64::MAX)
}

/// Unix milliseconds now (the time of revocations and of sockets' opening).
pub fn unix_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Recently revoked things with their (latest) time, oldest first, bounded by age and
/// count.
struct Recent<K> {
    at: HashMap<K, i64>,
    order: VecDeque<(Instant, K)>,
}

impl<K> Default for Recent<K> {
    fn default() -> Self {
        Self {
            at: HashMap::new(),
            order: VecDeque::new(),
        }
    }
}

impl<K: Copy + Eq + Hash> Recent<K> {
    fn insert(&mut self, key: K, at: i64) {
        self.trim(Instant::now());
        match self.at.get_mut(&key) {
            Some(known) => *known = (*known).max(at),
            None => {
                self.at.insert(key, at);
                self.order.push_back((Instant::now(), key));
            }
        }
        while self.order.len() > MAX_SESSIONS {
            if let Some((_, oldest)) = self.order.pop_front() {
                self.at.remove(&oldest);
                metrics::counter!("talkapp_revocations_forgotten_total").increment(1);
            }
        }
    }

    fn trim(&mut self, now: Instant) {
        while let Some(&(at, key)) = self.order.front() {
            if now.duration_since(at) < KEEP {
                break;
            }
            self.order.pop_front();
            self.at.remove(&key);
        }
    }

    fn get(&self, key: K) -> Option<i64> {
        self.at.get(&key).copied()
    }
}

/// The external provider's subjects disabled now (with when), and those enabled again
/// (with when: a disablement heard late but made earlier does not undo it).
#[derive(Default)]
struct Subjects {
    disabled: HashMap<Uuid, i64>,
    enabled: HashMap<Uuid, i64>,
    /// Heard while the store's list is read, applied again on top of it.
    loading: Option<Vec<Told>>,
}

impl Subjects {
    fn hear(&mut self, told: Told) {
        if !matches!(
            told.revoked,
            Revoked::Subject(_) | Revoked::SubjectEnabled(_)
        ) {
            return;
        }
        if let Some(heard) = &mut self.loading
            && heard.len() < MAX_UNTOLD
        {
            heard.push(told);
        }
        self.apply(told);
    }

    fn apply(&mut self, told: Told) {
        match told.revoked {
            Revoked::Subject(id) => {
                if self.enabled.get(&id).is_some_and(|&at| at > told.at) {
                    return;
                }
                let at = self.disabled.entry(id).or_insert(told.at);
                *at = (*at).max(told.at);
            }
            Revoked::SubjectEnabled(id) => {
                if self.disabled.get(&id).is_some_and(|&at| at > told.at) {
                    return;
                }
                self.disabled.remove(&id);
                if self.enabled.len() >= MAX_SESSIONS {
                    self.enabled.clear();
                }
                let at = self.enabled.entry(id).or_insert(told.at);
                *at = (*at).max(told.at);
            }
            _ => {}
        }
    }
}

/// Members of a sorted set with their scores.
type Scored = Vec<(String, f64)>;

struct RedisLink {
    client: redis::Client,
    connection: redis::aio::ConnectionManager,
    channel: String,
    sessions_key: String,
    /// Users, accounts and subjects revoked (and subjects enabled again), by time.
    users_key: String,
    /// Told here, not yet to Redis (oldest first).
    untold: Mutex<VecDeque<Told>>,
}

/// The revocations this gateway knows of, and where new ones are told.
pub struct Revocations {
    ended: Mutex<Recent<Uuid>>,
    revoked: Mutex<Recent<Revoked>>,
    subjects: Mutex<Subjects>,
    told: broadcast::Sender<Told>,
    redis: Option<RedisLink>,
    /// Since when (unix milliseconds) this gateway has heard every revocation told
    /// through Redis: when it began listening, then when its last subscription began.
    heard_since: AtomicI64,
}

fn locked<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Revocations {
    fn new(redis: Option<RedisLink>) -> Arc<Self> {
        Arc::new(Self {
            ended: Mutex::new(Recent::default()),
            revoked: Mutex::new(Recent::default()),
            subjects: Mutex::new(Subjects::default()),
            told: broadcast::channel(1024).0,
            redis,
            heard_since: AtomicI64::new(unix_millis()),
        })
    }

    /// Revocations of this process only (one gateway, no Redis).
    pub fn local() -> Arc<Self> {
        Self::new(None)
    }

    /// Revocations shared through Redis under `prefix`; [`Self::listen`] receives those
    /// of the other gateways.
    pub fn redis(
        client: redis::Client,
        connection: redis::aio::ConnectionManager,
        prefix: &str,
    ) -> Arc<Self> {
        Self::new(Some(RedisLink {
            client,
            connection,
            channel: format!("{prefix}:revoked"),
            sessions_key: format!("{prefix}:revoked-sessions"),
            users_key: format!("{prefix}:revoked-users"),
            untold: Mutex::new(VecDeque::new()),
        }))
    }

    fn apply(&self, told: Told) {
        match told.revoked {
            Revoked::Session(id) => locked(&self.ended).insert(id, told.at),
            Revoked::SubjectEnabled(_) => {}
            other => locked(&self.revoked).insert(other, told.at),
        }
        locked(&self.subjects).hear(told);
        // No receiver (no socket open) is fine.
        let _ = self.told.send(told);
    }

    /// Ends `revoked` here at once, and tells the other gateways. When Redis cannot be
    /// told (away), the revocation is kept and told again until it can: the store has
    /// it, so the other gateways refuse its requests meanwhile; their open sockets and
    /// media links end once Redis is back.
    pub async fn revoke(&self, revoked: Revoked) {
        let told = Told {
            revoked,
            at: unix_millis(),
        };
        self.apply(told);
        metrics::counter!("talkapp_revocations_total").increment(1);
        let Some(redis) = &self.redis else {
            return;
        };
        // Redis known to be away (revocations wait already): no wait for its timeouts;
        // this one is told with the others later.
        let waiting = !locked(&redis.untold).is_empty();
        if !waiting {
            match Self::tell(redis, told).await {
                Ok(()) => return,
                Err(error) => {
                    tracing::warn!(%error, ?revoked, "revocation not told to the other gateways yet; told again once redis answers")
                }
            }
        }
        let mut untold = locked(&redis.untold);
        untold.push_back(told);
        while untold.len() > MAX_UNTOLD {
            untold.pop_front();
            metrics::counter!("talkapp_revocations_untold_dropped_total").increment(1);
        }
    }

    /// Keeps `told` in its sorted set (a gateway not listening now reads it later) and
    /// publishes it.
    async fn tell(redis: &RedisLink, told: Told) -> Result<(), redis::RedisError> {
        let mut connection = redis.connection.clone();
        let mut pipeline = redis::pipe();
        let key = match told.revoked {
            Revoked::Session(_) => &redis.sessions_key,
            _ => &redis.users_key,
        };
        let keep_millis = keep_millis();
        // GT: a revocation told again late does not move back a newer one's time.
        pipeline
            .cmd("ZADD")
            .arg(key)
            .arg("GT")
            .arg(told.at)
            .arg(match told.revoked {
                Revoked::Session(id) => id.simple().to_string(),
                other => other.encode(),
            })
            .ignore()
            .cmd("ZREMRANGEBYSCORE")
            .arg(key)
            .arg("-inf")
            .arg(unix_millis() - keep_millis)
            .ignore()
            .cmd("PEXPIRE")
            .arg(key)
            .arg(keep_millis)
            .ignore()
            .cmd("PUBLISH")
            .arg(&redis.channel)
            .arg(told.encode())
            .ignore();
        pipeline.query_async::<()>(&mut connection).await
    }

    /// Tells Redis the revocations it could not take before, oldest first, until one
    /// fails again (kept for the next time).
    async fn tell_untold(redis: &RedisLink) {
        loop {
            let next = locked(&redis.untold).front().copied();
            let Some(told) = next else { return };
            if Self::tell(redis, told).await.is_err() {
                return;
            }
            let mut untold = locked(&redis.untold);
            if untold.front() == Some(&told) {
                untold.pop_front();
            }
        }
    }

    /// Whether `told` (or a later one of the same) was heard here already.
    fn heard_already(&self, told: Told) -> bool {
        match told.revoked {
            Revoked::SubjectEnabled(id) => locked(&self.subjects)
                .enabled
                .get(&id)
                .is_some_and(|&at| at >= told.at),
            Revoked::Session(id) => self.is_session_ended(id),
            other => locked(&self.revoked)
                .get(other)
                .is_some_and(|at| at >= told.at),
        }
    }

    /// Whether sign-in session `id` ended (as far as this gateway was told).
    pub fn is_session_ended(&self, id: Uuid) -> bool {
        let mut ended = locked(&self.ended);
        ended.trim(Instant::now());
        ended.get(id).is_some()
    }

    /// Whether an operator disabled external subject `id` (as far as this gateway was
    /// told).
    pub fn is_subject_disabled(&self, id: Uuid) -> bool {
        locked(&self.subjects).disabled.contains_key(&id)
    }

    /// What ended a connection of `user_id`'s account `session_index`, opened in sign-in
    /// session `sign_in` at `opened_at` (unix milliseconds), if anything this gateway
    /// was told of did (for a socket that may have missed it: opened meanwhile, lagging).
    pub fn ended_connection(
        &self,
        user_id: Uuid,
        session_index: u32,
        sign_in: Option<Uuid>,
        opened_at: i64,
    ) -> Option<Revoked> {
        if let Some(id) = sign_in
            && self.is_session_ended(id)
        {
            return Some(Revoked::Session(id));
        }
        let enabled_at = {
            let subjects = locked(&self.subjects);
            if subjects.disabled.contains_key(&user_id) {
                return Some(Revoked::Subject(user_id));
            }
            subjects.enabled.get(&user_id).copied()
        };
        let mut revoked = locked(&self.revoked);
        revoked.trim(Instant::now());
        [
            Revoked::User(user_id),
            Revoked::Subject(user_id),
            Revoked::Account {
                user_id,
                session_index,
            },
        ]
        .into_iter()
        // A subject enabled again since its disabling: that disabling ends nothing more.
        .filter(|candidate| {
            !matches!(candidate, Revoked::Subject(_))
                || revoked
                    .get(*candidate)
                    .is_some_and(|at| enabled_at.is_none_or(|enabled| enabled < at))
        })
        .find(|&candidate| {
            revoked.get(candidate).is_some_and(|at| {
                Told {
                    revoked: candidate,
                    at,
                }
                .ends(user_id, session_index, sign_in, opened_at)
            })
        })
    }

    /// Revocations from now on (a lagging receiver should check what it cares about
    /// with [`Self::ended_connection`]).
    pub fn subscribe(&self) -> broadcast::Receiver<Told> {
        self.told.subscribe()
    }

    /// Reads the subjects an operator disabled from `store` (again every
    /// [`LOAD_RETRY`] while it fails) and knows them from then on; what is heard
    /// meanwhile is applied on top.
    pub async fn load_disabled_subjects(
        self: Arc<Self>,
        store: Arc<dyn UserAdminStore>,
        stop: CancellationToken,
    ) {
        let mut failures: u32 = 0;
        loop {
            locked(&self.subjects).loading = Some(Vec::new());
            match store.disabled_subjects().await {
                Ok(disabled) => {
                    let mut subjects = locked(&self.subjects);
                    let heard = subjects.loading.take().unwrap_or_default();
                    let mut loaded = Subjects {
                        enabled: std::mem::take(&mut subjects.enabled),
                        ..Subjects::default()
                    };
                    for (id, at) in disabled {
                        loaded.apply(Told {
                            revoked: Revoked::Subject(id),
                            at: at.timestamp_millis(),
                        });
                    }
                    for told in heard {
                        loaded.apply(told);
                    }
                    *subjects = loaded;
                    tracing::debug!(
                        disabled = subjects.disabled.len(),
                        "disabled subjects loaded"
                    );
                    return;
                }
                Err(error) => {
                    failures += 1;
                    if failures == 1 || failures.is_multiple_of(30) {
                        tracing::warn!(%error, failures, "disabled subjects not read; reading again");
                    }
                }
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(LOAD_RETRY) => {}
            }
        }
    }

    /// Receives the other gateways' revocations until `stop` (nothing to do without
    /// Redis): subscribes, then reads the kept revocations (so that none told while
    /// this gateway was not listening is missed), and again after each reconnection.
    pub async fn listen(self: Arc<Self>, stop: CancellationToken) {
        let Some(redis) = &self.redis else {
            return;
        };
        let mut failures: u32 = 0;
        while !stop.is_cancelled() {
            Self::tell_untold(redis).await;
            match self.listen_once(redis, &stop).await {
                Ok(()) => return,
                Err(error) => {
                    failures += 1;
                    if failures == 1 || failures.is_multiple_of(30) {
                        tracing::warn!(%error, failures, "revocation listener lost redis; retrying");
                    }
                }
            }
            let pause = Duration::from_millis(200 * u64::from(failures.min(10)));
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    async fn listen_once(
        &self,
        redis: &RedisLink,
        stop: &CancellationToken,
    ) -> Result<(), redis::RedisError> {
        let mut pubsub =
            tokio::time::timeout(Duration::from_secs(3), redis.client.get_async_pubsub())
                .await
                .map_err(|_| {
                    redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut))
                })??;
        let subscribing_at = unix_millis();
        pubsub.subscribe(&redis.channel).await?;
        // Subscribed first, then the backlog: a revocation in between is in one or both.
        self.read_back(redis).await?;
        self.heard_since.store(subscribing_at, Ordering::Relaxed);
        let mut messages = pubsub.into_on_message();
        let mut retell = tokio::time::interval(RETELL_EVERY);
        retell.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let message = tokio::select! {
                () = stop.cancelled() => return Ok(()),
                _ = retell.tick() => {
                    Self::tell_untold(redis).await;
                    continue;
                }
                message = messages.next() => message,
            };
            let Some(message) = message else {
                return Err(redis::RedisError::from(std::io::Error::from(
                    std::io::ErrorKind::ConnectionReset,
                )));
            };
            let payload: String = message.get_payload().unwrap_or_default();
            match Told::decode(&payload, unix_millis()) {
                Some(told) => self.apply(told),
                None => tracing::warn!(payload, "unreadable revocation"),
            }
        }
    }

    /// Reads what is kept in Redis: every ended session, and the users', accounts' and
    /// subjects' revocations since this gateway last began listening (less a slack).
    async fn read_back(&self, redis: &RedisLink) -> Result<(), redis::RedisError> {
        let mut connection = redis.connection.clone();
        let (sessions, others): (Scored, Scored) = redis::pipe()
            .cmd("ZRANGEBYSCORE")
            .arg(&redis.sessions_key)
            .arg(unix_millis() - keep_millis())
            .arg("+inf")
            .arg("WITHSCORES")
            .cmd("ZRANGEBYSCORE")
            .arg(&redis.users_key)
            .arg(self.heard_since.load(Ordering::Relaxed) - READ_BACK_SLACK_MILLIS)
            .arg("+inf")
            .arg("WITHSCORES")
            .query_async(&mut connection)
            .await?;
        for (id, at) in sessions {
            let Ok(id) = Uuid::parse_str(&id) else {
                continue;
            };
            // Known already: its sockets are closed; nothing to tell.
            if !self.is_session_ended(id) {
                self.apply(Told {
                    revoked: Revoked::Session(id),
                    at: at as i64,
                });
            }
        }
        // Oldest first: a subject disabled and enabled again ends enabled.
        for (what, at) in others {
            let Some(revoked) = Revoked::decode(&what) else {
                tracing::warn!(what, "unreadable kept revocation");
                continue;
            };
            let told = Told {
                revoked,
                at: at as i64,
            };
            if !self.heard_already(told) {
                self.apply(told);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revocations_read_back_as_written() {
        let user_id = Uuid::new_v4();
        for revoked in [
            Revoked::Session(Uuid::new_v4()),
            Revoked::User(user_id),
            Revoked::Subject(user_id),
            Revoked::SubjectEnabled(user_id),
            Revoked::Account {
                user_id,
                session_index: 3,
            },
        ] {
            assert_eq!(Revoked::decode(&revoked.encode()), Some(revoked));
            let told = Told {
                revoked,
                at: 1_764_000_000_123,
            };
            assert_eq!(Told::decode(&told.encode(), 7), Some(told));
            // An older gateway's message has no time: it counts as made when heard.
            assert_eq!(
                Told::decode(&revoked.encode(), 7),
                Some(Told { revoked, at: 7 })
            );
        }
        assert_eq!(Revoked::decode("x:1"), None);
        assert_eq!(Revoked::decode("a:nope:1"), None);
        assert_eq!(
            Told::decode(&format!("u:{}@soon", user_id.simple()), 7),
            None
        );
    }

    #[test]
    fn ended_sessions_are_bounded_in_number() {
        let mut ended = Recent::default();
        let first = Uuid::new_v4();
        ended.insert(first, 1);
        for _ in 0..MAX_SESSIONS {
            ended.insert(Uuid::new_v4(), 1);
        }
        assert_eq!(ended.at.len(), MAX_SESSIONS);
        assert_eq!(ended.order.len(), MAX_SESSIONS);
        assert!(ended.get(first).is_none(), "the oldest is forgotten first");
    }

    #[test]
    fn a_revocation_ends_what_it_names_only() {
        let (user, other) = (Uuid::new_v4(), Uuid::new_v4());
        let sign_in = Uuid::new_v4();
        assert!(Revoked::Session(sign_in).ends(user, 1, Some(sign_in)));
        assert!(!Revoked::Session(sign_in).ends(user, 1, None));
        assert!(!Revoked::Session(sign_in).ends(user, 1, Some(Uuid::new_v4())));
        let account = Revoked::Account {
            user_id: user,
            session_index: 2,
        };
        assert!(account.ends(user, 2, None));
        assert!(!account.ends(user, 1, None));
        assert!(!account.ends(other, 2, None));
        assert!(Revoked::User(user).ends(user, 5, Some(sign_in)));
        assert!(Revoked::Subject(user).ends(user, 5, None));
        assert!(!Revoked::SubjectEnabled(user).ends(user, 5, None));
    }

    #[test]
    fn a_users_revocation_ends_only_sockets_opened_before_it() {
        let user = Uuid::new_v4();
        let at = 1_000_000;
        let slack = slack_millis();
        let told = Told {
            revoked: Revoked::User(user),
            at,
        };
        assert!(told.ends(user, 1, None, at - 60_000));
        assert!(
            told.ends(user, 1, None, at + slack),
            "within the clocks' slack"
        );
        assert!(
            !told.ends(user, 1, None, at + slack + 1),
            "opened after (the user enabled again)"
        );
        let sign_in = Uuid::new_v4();
        let session = Told {
            revoked: Revoked::Session(sign_in),
            at,
        };
        assert!(
            session.ends(user, 1, Some(sign_in), at + 3_600_000),
            "an ended session never comes back"
        );
    }

    #[test]
    fn a_subjects_latest_disabling_or_enabling_wins_in_any_order() {
        let id = Uuid::new_v4();
        let disabled = |at| Told {
            revoked: Revoked::Subject(id),
            at,
        };
        let enabled = |at| Told {
            revoked: Revoked::SubjectEnabled(id),
            at,
        };
        let mut subjects = Subjects::default();
        subjects.hear(disabled(10));
        subjects.hear(enabled(20));
        assert!(!subjects.disabled.contains_key(&id));
        subjects.hear(disabled(15));
        assert!(
            !subjects.disabled.contains_key(&id),
            "an older disabling heard late"
        );
        subjects.hear(disabled(30));
        assert!(subjects.disabled.contains_key(&id));
        subjects.hear(enabled(25));
        assert!(
            subjects.disabled.contains_key(&id),
            "an older enabling heard late"
        );
    }
}
