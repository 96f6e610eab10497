//! What has ended, told to every gateway replica at once: a sign-in session (sign-out, a
//! reused refresh token), a linked account (unlinked), a user. Each gateway keeps the
//! recently ended sign-in sessions in memory, so checking a signed media link costs no
//! store read, and closes its own WebSockets of whatever ended
//! ([ADR 0017](../../docs/adr/0017-revocations-reach-every-gateway.md)).
//!
//! * **In memory**: ended sessions for [`KEEP`] (the longest a media link of theirs can
//!   still be valid), at most [`MAX_SESSIONS`] of them (oldest forgotten first, counted
//!   in `talkapp_revocations_forgotten_total`): bounded, whatever the sign-out rate.
//! * **Across gateways** (Redis configured): a revocation is `PUBLISH`ed on
//!   `<redis.prefix>:revoked`, and an ended session is also added to the sorted set
//!   `<redis.prefix>:revoked-sessions` (scored by when): a gateway that starts, or whose
//!   subscriber connection was lost and comes back, reads the set, so it misses none.
//! * **Redis away**: a revocation that cannot be told is kept (at most [`MAX_UNTOLD`])
//!   and told again every second (by [`Revocations::listen`]) until Redis takes it, so the
//!   other gateways' open sockets and media links of a user disabled meanwhile still end
//!   once it is back. **Not yet**: a user's or an account's revocation is only published,
//!   not kept in a set as ended sessions are, so a gateway whose own subscription comes
//!   back after it was told again misses it (its requests are refused from the store
//!   anyway; its open sockets of that user stay open). Keeping those needs a time on each
//!   revocation and on each socket (a user enabled again opens new ones), not built.
//! * Without Redis (the embedded default, one gateway), only this process is told.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How long an ended session is remembered: the longest lifetime of anything issued to
/// it (a lasting media link: `downloads.legacy_link_ttl_secs`, a day, plus its hour's
/// rounding; an access token lives 15 minutes).
pub const KEEP: Duration = Duration::from_secs(26 * 3600);

/// The most ended sessions remembered at once (about 100 bytes each: 20 MB at most).
pub const MAX_SESSIONS: usize = 200_000;

/// The most revocations kept to be told again while Redis is away (the oldest are
/// dropped first, counted in `talkapp_revocations_untold_dropped_total`; each gateway's
/// requests are refused anyway, from the store).
pub const MAX_UNTOLD: usize = 100_000;

/// How often revocations not told yet are told again.
const RETELL_EVERY: Duration = Duration::from_secs(1);

/// Something that ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
        }
    }

    fn decode(text: &str) -> Option<Self> {
        let (kind, rest) = text.split_once(':')?;
        match kind {
            "s" => Uuid::parse_str(rest).ok().map(Self::Session),
            "u" => Uuid::parse_str(rest).ok().map(Self::User),
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
    /// session `sign_in` (none for an external token), is ended by this.
    pub fn ends(self, user_id: Uuid, session_index: u32, sign_in: Option<Uuid>) -> bool {
        match self {
            Self::Session(id) => sign_in == Some(id),
            Self::Account {
                user_id: user,
                session_index: index,
            } => user == user_id && index == session_index,
            Self::User(user) => user == user_id,
        }
    }
}

/// Recently ended sessions, oldest first, bounded by age and count.
#[derive(Default)]
struct EndedSessions {
    at: HashMap<Uuid, Instant>,
    order: VecDeque<(Instant, Uuid)>,
}

impl EndedSessions {
    fn insert(&mut self, id: Uuid, at: Instant) {
        self.trim(Instant::now());
        if self.at.insert(id, at).is_none() {
            self.order.push_back((at, id));
        }
        while self.order.len() > MAX_SESSIONS {
            if let Some((_, oldest)) = self.order.pop_front() {
                self.at.remove(&oldest);
                metrics::counter!("talkapp_revocations_forgotten_total").increment(1);
            }
        }
    }

    fn trim(&mut self, now: Instant) {
        while let Some(&(at, id)) = self.order.front() {
            if now.duration_since(at) < KEEP {
                break;
            }
            self.order.pop_front();
            self.at.remove(&id);
        }
    }

    fn contains(&self, id: Uuid) -> bool {
        self.at.contains_key(&id)
    }
}

struct RedisLink {
    client: redis::Client,
    connection: redis::aio::ConnectionManager,
    channel: String,
    sessions_key: String,
    /// Told here, not yet to Redis (oldest first).
    untold: Mutex<VecDeque<Revoked>>,
}

/// The revocations this gateway knows of, and where new ones are told.
pub struct Revocations {
    ended: Mutex<EndedSessions>,
    told: broadcast::Sender<Revoked>,
    redis: Option<RedisLink>,
}

fn unix_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Revocations {
    /// Revocations of this process only (one gateway, no Redis).
    pub fn local() -> Arc<Self> {
        Arc::new(Self {
            ended: Mutex::new(EndedSessions::default()),
            told: broadcast::channel(1024).0,
            redis: None,
        })
    }

    /// Revocations shared through Redis under `prefix`; [`Self::listen`] receives those
    /// of the other gateways.
    pub fn redis(
        client: redis::Client,
        connection: redis::aio::ConnectionManager,
        prefix: &str,
    ) -> Arc<Self> {
        Arc::new(Self {
            ended: Mutex::new(EndedSessions::default()),
            told: broadcast::channel(1024).0,
            redis: Some(RedisLink {
                client,
                connection,
                channel: format!("{prefix}:revoked"),
                sessions_key: format!("{prefix}:revoked-sessions"),
                untold: Mutex::new(VecDeque::new()),
            }),
        })
    }

    fn apply(&self, revoked: Revoked) {
        if let Revoked::Session(id) = revoked {
            self.ended
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(id, Instant::now());
        }
        // No receiver (no socket open) is fine.
        let _ = self.told.send(revoked);
    }

    /// Ends `revoked` here at once, and tells the other gateways. When Redis cannot be
    /// told (away), the revocation is kept and told again until it can: the store has
    /// it, so the other gateways refuse its requests meanwhile; their open sockets and
    /// media links end once Redis is back.
    pub async fn revoke(&self, revoked: Revoked) {
        self.apply(revoked);
        metrics::counter!("talkapp_revocations_total").increment(1);
        let Some(redis) = &self.redis else {
            return;
        };
        // Redis known to be away (revocations wait already): no wait for its timeouts;
        // this one is told with the others later.
        let waiting = !redis
            .untold
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty();
        if !waiting {
            match Self::tell(redis, revoked).await {
                Ok(()) => return,
                Err(error) => {
                    tracing::warn!(%error, ?revoked, "revocation not told to the other gateways yet; told again once redis answers")
                }
            }
        }
        let mut untold = redis.untold.lock().unwrap_or_else(PoisonError::into_inner);
        untold.push_back(revoked);
        while untold.len() > MAX_UNTOLD {
            untold.pop_front();
            metrics::counter!("talkapp_revocations_untold_dropped_total").increment(1);
        }
    }

    /// Publishes `revoked` (and adds an ended session to the set a starting gateway reads).
    async fn tell(redis: &RedisLink, revoked: Revoked) -> Result<(), redis::RedisError> {
        let mut connection = redis.connection.clone();
        let mut pipeline = redis::pipe();
        if let Revoked::Session(id) = revoked {
            let now = unix_millis();
            let keep_millis = i64::try_from(KEEP.as_millis()).unwrap_or(i64::MAX);
            pipeline
                .cmd("ZADD")
                .arg(&redis.sessions_key)
                .arg(now)
                .arg(id.simple().to_string())
                .ignore()
                .cmd("ZREMRANGEBYSCORE")
                .arg(&redis.sessions_key)
                .arg("-inf")
                .arg(now - keep_millis)
                .ignore()
                .cmd("PEXPIRE")
                .arg(&redis.sessions_key)
                .arg(keep_millis)
                .ignore();
        }
        pipeline
            .cmd("PUBLISH")
            .arg(&redis.channel)
            .arg(revoked.encode())
            .ignore();
        pipeline.query_async::<()>(&mut connection).await
    }

    /// Tells Redis the revocations it could not take before, oldest first, until one
    /// fails again (kept for the next time).
    async fn tell_untold(redis: &RedisLink) {
        loop {
            let next = redis
                .untold
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .front()
                .copied();
            let Some(revoked) = next else { return };
            if Self::tell(redis, revoked).await.is_err() {
                return;
            }
            let mut untold = redis.untold.lock().unwrap_or_else(PoisonError::into_inner);
            if untold.front() == Some(&revoked) {
                untold.pop_front();
            }
        }
    }

    /// Whether sign-in session `id` ended (as far as this gateway was told).
    pub fn is_session_ended(&self, id: Uuid) -> bool {
        let mut ended = self.ended.lock().unwrap_or_else(PoisonError::into_inner);
        ended.trim(Instant::now());
        ended.contains(id)
    }

    /// Revocations from now on (a lagging receiver should check what it cares about
    /// with [`Self::is_session_ended`]).
    pub fn subscribe(&self) -> broadcast::Receiver<Revoked> {
        self.told.subscribe()
    }

    /// Receives the other gateways' revocations until `stop` (nothing to do without
    /// Redis): subscribes, then reads the set of ended sessions (so that none told while
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
        pubsub.subscribe(&redis.channel).await?;
        // Subscribed first, then the backlog: a revocation in between is in one or both.
        let mut connection = redis.connection.clone();
        let keep_millis = i64::try_from(KEEP.as_millis()).unwrap_or(i64::MAX);
        let recent: Vec<String> = redis::cmd("ZRANGEBYSCORE")
            .arg(&redis.sessions_key)
            .arg(unix_millis() - keep_millis)
            .arg("+inf")
            .query_async(&mut connection)
            .await?;
        {
            let mut ended = self.ended.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            for id in recent.iter().filter_map(|id| Uuid::parse_str(id).ok()) {
                if !ended.contains(id) {
                    ended.insert(id, now);
                    // No socket listening on this gateway is fine: nobody to tell.
                    let _ = self.told.send(Revoked::Session(id));
                }
            }
        }
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
            match Revoked::decode(&payload) {
                Some(revoked) => self.apply(revoked),
                None => tracing::warn!(payload, "unreadable revocation"),
            }
        }
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
            Revoked::Account {
                user_id,
                session_index: 3,
            },
        ] {
            assert_eq!(Revoked::decode(&revoked.encode()), Some(revoked));
        }
        assert_eq!(Revoked::decode("x:1"), None);
        assert_eq!(Revoked::decode("a:nope:1"), None);
    }

    #[test]
    fn ended_sessions_are_bounded_in_number() {
        let mut ended = EndedSessions::default();
        let now = Instant::now();
        let first = Uuid::new_v4();
        ended.insert(first, now);
        for _ in 0..MAX_SESSIONS {
            ended.insert(Uuid::new_v4(), now);
        }
        assert_eq!(ended.at.len(), MAX_SESSIONS);
        assert_eq!(ended.order.len(), MAX_SESSIONS);
        assert!(!ended.contains(first), "the oldest is forgotten first");
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
    }
}
