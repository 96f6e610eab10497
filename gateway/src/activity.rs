//! Per-user activity for operators (`GET /admin/users/{user_id}/activity`): per user and
//! day (UTC), the API requests made with the user's token, those answered 4xx and 5xx,
//! the messages accepted for sending (`send_message`, `send_media` answered 202) and the
//! WebSocket connections opened; built-in accounts and external provider's users alike.
//!
//! Counted in this gateway's memory (ADR 0037): a request costs a lock and a map lookup,
//! no store write, and no allocation but for a user's first request in a flush period.
//! Every `operator.activity_flush_secs` the counts are taken out and added to the store in
//! one transaction ([`UserAdminStore::add_user_activity`]), so several gateways add up;
//! the same flush deletes days older than `operator.activity_retention_days`. A flush
//! that fails (store away) puts its counts back, to be added by the next one; at shutdown
//! a last flush runs.
//!
//! Bounds: at most [`MAX_ENTRIES`] user-days are held; what a user beyond them does is
//! not counted, and `talkapp_activity_dropped_total` says how often. No user id is a
//! metric label. Not counted: requests refused before the token is verified (they belong
//! to no user), operators' requests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actix_web::HttpMessage as _;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use talkapp_store::{ActivityCounts, ActivityDelta, UserAdminStore};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::state::AppState;

/// User-days held in memory at most between two flushes (about 100 bytes each).
pub const MAX_ENTRIES: usize = 100_000;

/// The routes whose 202 is a message accepted for sending.
const SEND_ROUTES: &[&str] = &[
    "/me/send_message/{user_id}/{session_index}",
    "/me/send_media/{user_id}/{session_index}",
];

/// The user a request's token was verified for (the authenticating extractors put it in
/// the request's extensions).
#[derive(Debug, Clone, Copy)]
pub struct CountedUser(pub Uuid);

/// This gateway's counts since the last flush.
pub struct Activity {
    entries: Mutex<HashMap<(Uuid, NaiveDate), ActivityCounts>>,
    capacity: usize,
}

impl Default for Activity {
    fn default() -> Self {
        Self::with_capacity(MAX_ENTRIES)
    }
}

impl Activity {
    /// Counts holding at most `capacity` user-days.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    fn count(&self, user_id: Uuid, at: DateTime<Utc>, change: impl FnOnce(&mut ActivityCounts)) {
        let key = (user_id, at.date_naive());
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(counts) = entries.get_mut(&key) {
            change(counts);
        } else if entries.len() < self.capacity {
            change(entries.entry(key).or_default());
        } else {
            drop(entries);
            metrics::counter!("talkapp_activity_dropped_total").increment(1);
        }
    }

    /// Counts a request of `user_id` answered `status`; `send` when it was a send accepted.
    pub fn request(&self, user_id: Uuid, at: DateTime<Utc>, status: u16, send: bool) {
        self.count(user_id, at, |counts| {
            counts.requests += 1;
            match status {
                400..=499 => counts.client_errors += 1,
                500..=599 => counts.server_errors += 1,
                _ => {}
            }
            if send {
                counts.sends += 1;
            }
        });
    }

    /// Counts a WebSocket connection `user_id` opened.
    pub fn socket_opened(&self, user_id: Uuid, at: DateTime<Utc>) {
        self.count(user_id, at, |counts| counts.sockets += 1);
    }

    /// Takes every count out (the map starts empty again).
    fn take(&self) -> Vec<ActivityDelta> {
        let taken =
            std::mem::take(&mut *self.entries.lock().unwrap_or_else(PoisonError::into_inner));
        taken
            .into_iter()
            .map(|((user_id, day), counts)| ActivityDelta {
                user_id,
                day,
                counts,
            })
            .collect()
    }

    /// Puts counts a failed flush took back, added to those counted meanwhile (within
    /// the capacity; what does not fit is dropped and counted as such).
    fn put_back(&self, deltas: Vec<ActivityDelta>) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let mut dropped = 0u64;
        for delta in deltas {
            let key = (delta.user_id, delta.day);
            if let Some(counts) = entries.get_mut(&key) {
                counts.add(&delta.counts);
            } else if entries.len() < self.capacity {
                entries.insert(key, delta.counts);
            } else {
                dropped += 1;
            }
        }
        drop(entries);
        if dropped > 0 {
            metrics::counter!("talkapp_activity_dropped_total").increment(dropped);
        }
    }

    /// Adds every count to `store` and deletes days older than `retention_days` (0: none)
    /// as of `now`. On failure the counts are kept for the next flush.
    pub async fn flush(
        &self,
        store: &dyn UserAdminStore,
        retention_days: u32,
        now: DateTime<Utc>,
    ) -> talkapp_store::Result<()> {
        let deltas = self.take();
        if let Err(error) = store.add_user_activity(&deltas).await {
            self.put_back(deltas);
            return Err(error);
        }
        if retention_days > 0 {
            let oldest_kept = now.date_naive() - TimeDelta::days(i64::from(retention_days));
            store.delete_activity_before(oldest_kept).await?;
        }
        Ok(())
    }
}

/// Flushes `activity` every `every` until `stop`, then once more.
pub async fn flush_every(
    activity: Arc<Activity>,
    store: Arc<dyn UserAdminStore>,
    every: Duration,
    retention_days: u32,
    stop: CancellationToken,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        let stopping = tokio::select! {
            () = stop.cancelled() => true,
            _ = ticks.tick() => false,
        };
        match activity
            .flush(&*store, retention_days, talkapp_store::now())
            .await
        {
            Ok(()) if std::mem::take(&mut failing) => {
                tracing::info!("per-user activity flushed again");
            }
            Ok(()) => {}
            Err(error) => {
                failing = true;
                metrics::counter!("talkapp_activity_flush_failures_total").increment(1);
                tracing::warn!(%error, "per-user activity not flushed; kept for the next flush");
            }
        }
        if stopping {
            return;
        }
    }
}

/// Counts each request whose token was verified for a user; see the module docs.
pub async fn count_requests(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let state = request.app_data::<web::Data<AppState>>().cloned();
    let response = next.call(request).await?;
    let user = response
        .request()
        .extensions()
        .get::<CountedUser>()
        .copied();
    if let (Some(state), Some(CountedUser(user_id))) = (state, user) {
        let status = response.status().as_u16();
        // Routed by now: the pattern is a walk along the matched resource, no new match.
        let send = status == 202
            && response.request().method() == actix_web::http::Method::POST
            && response
                .request()
                .match_pattern()
                .is_some_and(|pattern| SEND_ROUTES.contains(&pattern.as_str()));
        state
            .activity
            .request(user_id, talkapp_store::now(), status, send);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn requests_are_counted_per_user_and_day_with_errors_apart() {
        let activity = Activity::default();
        let (user, other) = (Uuid::new_v4(), Uuid::new_v4());
        activity.request(user, at("2026-03-01T23:59:59Z"), 200, false);
        activity.request(user, at("2026-03-01T10:00:00Z"), 202, true);
        activity.request(user, at("2026-03-01T10:00:00Z"), 404, false);
        activity.request(user, at("2026-03-01T10:00:00Z"), 503, false);
        activity.socket_opened(user, at("2026-03-01T10:00:00Z"));
        activity.request(user, at("2026-03-02T00:00:00Z"), 429, false);
        activity.request(other, at("2026-03-01T10:00:00Z"), 200, false);
        let mut deltas = activity.take();
        deltas.sort_by_key(|delta| (delta.user_id == other, delta.day));
        let view: Vec<_> = deltas
            .iter()
            .map(|delta| (delta.user_id, delta.day.to_string(), delta.counts))
            .collect();
        let counts = |requests, client_errors, server_errors, sends, sockets| ActivityCounts {
            requests,
            client_errors,
            server_errors,
            sends,
            sockets,
        };
        assert_eq!(
            view,
            [
                (user, "2026-03-01".to_owned(), counts(4, 1, 1, 1, 1)),
                (user, "2026-03-02".to_owned(), counts(1, 1, 0, 0, 0)),
                (other, "2026-03-01".to_owned(), counts(1, 0, 0, 0, 0)),
            ]
        );
        assert!(activity.take().is_empty(), "taken counts are gone");
    }

    #[test]
    fn users_beyond_the_capacity_are_not_held_and_put_back_counts_add_up() {
        let activity = Activity::with_capacity(2);
        let now = at("2026-03-01T10:00:00Z");
        let users = [Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4()];
        for user in users {
            activity.request(user, now, 200, false);
        }
        activity.request(users[0], now, 200, false);
        let taken = activity.take();
        assert_eq!(taken.len(), 2, "the third user is not held");
        activity.request(users[0], now, 200, false);
        activity.put_back(taken);
        let again = activity.take();
        let first = again
            .iter()
            .find(|delta| delta.user_id == users[0])
            .expect("kept");
        assert_eq!(first.counts.requests, 3, "put back and counted meanwhile");
    }
}
