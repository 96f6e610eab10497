//! The event publisher's replay window: every event published recently, kept so that it
//! can be published again on the next connection after the broker connection is lost.
//!
//! Why (ADR 0045): with classic queues, RabbitMQ can confirm messages a queue still
//! holds in memory when that queue's process exits during a broker shutdown
//! (rabbitmq-server#1877, #1893), so a publish confirmed during the shutdown can be gone
//! after it. The publisher cannot tell which; it publishes the whole recent window again,
//! first thing on the new connection, in the original order, and the consumers drop the
//! repeats (the realtime log by event id; the search index writes the same rows again).
//!
//! An event enters the window *before* it is published (so a confirm that arrives just as
//! the connection ends is never missed by the replay), leaves it when its publish fails
//! (the caller publishes it again, after the replay), and otherwise stays until it is
//! older than [`ReplayLimits::max_age`] or pushed out by [`ReplayLimits::max_events`] /
//! [`ReplayLimits::max_bytes`] (counted in `talkapp_bus_replay_window_dropped_total`, and
//! logged at warn). A replay does not take anything out: if its connection is lost too,
//! the next connection replays the whole window again.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How much the replay window keeps: the oldest event goes when any bound is passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayLimits {
    /// Events published longer ago than this are not replayed. A broker's shutdown takes
    /// seconds; the loss it can cause is of the publishes confirmed during it.
    pub max_age: Duration,
    /// At most this many events (at 1,000 events/s, 30 s is 30,000).
    pub max_events: usize,
    /// At most this many bytes of bodies and routing keys.
    pub max_bytes: usize,
}

impl Default for ReplayLimits {
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(30),
            max_events: 50_000,
            max_bytes: 64 * 1024 * 1024,
        }
    }
}

impl ReplayLimits {
    /// Nothing kept (any bound at zero).
    fn keeps_nothing(&self) -> bool {
        self.max_age.is_zero() || self.max_events == 0 || self.max_bytes == 0
    }
}

/// One event as it was published.
#[derive(Clone)]
pub(crate) struct Kept {
    /// Its place in publishing order.
    ticket: u64,
    published_at: Instant,
    pub(crate) routing_key: Arc<str>,
    pub(crate) body: Arc<[u8]>,
}

impl Kept {
    fn weight(&self) -> usize {
        self.routing_key.len() + self.body.len()
    }
}

#[derive(Default)]
struct Events {
    /// In publishing order (ascending tickets).
    kept: VecDeque<Kept>,
    bytes: usize,
    next_ticket: u64,
    /// Pushed out by the count or byte bound since the last warning.
    dropped_unreported: u64,
    last_warning: Option<Instant>,
}

/// The window; shared by every publish of one bus.
pub(crate) struct ReplayWindow {
    limits: ReplayLimits,
    events: Mutex<Events>,
}

/// A dropped event is logged at most this often (the metric counts each).
const WARNING_INTERVAL: Duration = Duration::from_secs(10);

impl ReplayWindow {
    pub(crate) fn new(limits: ReplayLimits) -> Self {
        Self {
            limits,
            events: Mutex::new(Events::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Events> {
        // Every mutation is a few container operations; a panic cannot leave them torn.
        self.events.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps an event about to be published; the answer names it for [`Self::forget`].
    /// `None` when the window keeps nothing.
    pub(crate) fn keep(&self, routing_key: &str, body: &[u8]) -> Option<u64> {
        self.keep_at(routing_key, body, Instant::now())
    }

    fn keep_at(&self, routing_key: &str, body: &[u8], now: Instant) -> Option<u64> {
        if self.limits.keeps_nothing() {
            return None;
        }
        let mut events = self.lock();
        let ticket = events.next_ticket;
        events.next_ticket += 1;
        let kept = Kept {
            ticket,
            published_at: now,
            routing_key: Arc::from(routing_key),
            // The one copy of the body this costs (the bus takes it borrowed).
            body: Arc::from(body),
        };
        events.bytes += kept.weight();
        events.kept.push_back(kept);
        let mut dropped: u64 = 0;
        while events.kept.len() > self.limits.max_events || events.bytes > self.limits.max_bytes {
            let Some(oldest) = events.kept.pop_front() else {
                break;
            };
            events.bytes -= oldest.weight();
            dropped += 1;
        }
        if dropped > 0 {
            metrics::counter!("talkapp_bus_replay_window_dropped_total").increment(dropped);
            events.dropped_unreported += dropped;
            if events
                .last_warning
                .is_none_or(|at| now.duration_since(at) >= WARNING_INTERVAL)
            {
                tracing::warn!(
                    dropped = events.dropped_unreported,
                    max_events = self.limits.max_events,
                    max_bytes = self.limits.max_bytes,
                    "the event replay window is full; its oldest events will not be \
                     replayed after a lost broker connection"
                );
                events.dropped_unreported = 0;
                events.last_warning = Some(now);
            }
        }
        Self::expire(&mut events, &self.limits, now);
        Some(ticket)
    }

    /// Takes out the event of `ticket`: its publish failed, and its caller publishes it
    /// again (after any replay). Nothing happens when it is gone already.
    pub(crate) fn forget(&self, ticket: u64) {
        let mut events = self.lock();
        if let Ok(index) = events
            .kept
            .binary_search_by_key(&ticket, |kept| kept.ticket)
            && let Some(kept) = events.kept.remove(index)
        {
            events.bytes -= kept.weight();
        }
    }

    /// What a new connection publishes before anything else: every event in the window,
    /// in publishing order.
    pub(crate) fn to_replay(&self) -> Vec<Kept> {
        self.to_replay_at(Instant::now())
    }

    fn to_replay_at(&self, now: Instant) -> Vec<Kept> {
        let mut events = self.lock();
        Self::expire(&mut events, &self.limits, now);
        events.kept.iter().cloned().collect()
    }

    fn expire(events: &mut Events, limits: &ReplayLimits, now: Instant) {
        while let Some(oldest) = events.kept.front() {
            if now.duration_since(oldest.published_at) <= limits.max_age {
                break;
            }
            let weight = oldest.weight();
            events.kept.pop_front();
            events.bytes -= weight;
        }
    }

    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bodies(window: &ReplayWindow, now: Instant) -> Vec<String> {
        window
            .to_replay_at(now)
            .iter()
            .map(|kept| {
                format!(
                    "{}={}",
                    kept.routing_key,
                    String::from_utf8_lossy(&kept.body)
                )
            })
            .collect()
    }

    #[test]
    fn events_are_replayed_in_publishing_order_and_a_failed_one_is_not() {
        let window = ReplayWindow::new(ReplayLimits::default());
        let now = Instant::now();
        window.keep_at("a.1.x", b"1", now).expect("kept");
        let failed = window.keep_at("b.1.x", b"2", now).expect("kept");
        window.keep_at("a.1.x", b"3", now).expect("kept");
        window.forget(failed);
        // Forgetting twice, or what is gone, changes nothing.
        window.forget(failed);
        window.forget(9_999);
        assert_eq!(bodies(&window, now), ["a.1.x=1", "a.1.x=3"]);
        assert_eq!(window.bytes(), 2 * ("a.1.x".len() + 1));
        // A replay takes nothing out: a second connection lost replays it all again.
        assert_eq!(bodies(&window, now), ["a.1.x=1", "a.1.x=3"]);
    }

    #[test]
    fn events_older_than_the_window_are_not_replayed() {
        let window = ReplayWindow::new(ReplayLimits {
            max_age: Duration::from_secs(30),
            ..ReplayLimits::default()
        });
        let start = Instant::now();
        window.keep_at("k", b"old", start).expect("kept");
        window
            .keep_at("k", b"newer", start + Duration::from_secs(20))
            .expect("kept");
        assert_eq!(
            bodies(&window, start + Duration::from_secs(30)),
            ["k=old", "k=newer"]
        );
        assert_eq!(
            bodies(&window, start + Duration::from_secs(31)),
            ["k=newer"]
        );
        assert_eq!(window.bytes(), "k".len() + "newer".len());
        assert!(bodies(&window, start + Duration::from_secs(51)).is_empty());
        assert_eq!(window.bytes(), 0);
    }

    #[test]
    fn a_full_window_drops_its_oldest_events_by_count_and_by_bytes() {
        let now = Instant::now();
        let by_count = ReplayWindow::new(ReplayLimits {
            max_events: 2,
            ..ReplayLimits::default()
        });
        for body in ["1", "2", "3"] {
            by_count.keep_at("k", body.as_bytes(), now).expect("kept");
        }
        assert_eq!(bodies(&by_count, now), ["k=2", "k=3"]);

        let by_bytes = ReplayWindow::new(ReplayLimits {
            // Two events of one-byte key and four-byte body.
            max_bytes: 10,
            ..ReplayLimits::default()
        });
        for body in ["aaaa", "bbbb", "cccc"] {
            by_bytes.keep_at("k", body.as_bytes(), now).expect("kept");
        }
        assert_eq!(bodies(&by_bytes, now), ["k=bbbb", "k=cccc"]);
        assert_eq!(by_bytes.bytes(), 10);
        // One larger than the whole window is not kept at all.
        by_bytes.keep_at("k", &[b'x'; 11], now).expect("ticket");
        assert!(bodies(&by_bytes, now).is_empty());
        assert_eq!(by_bytes.bytes(), 0);
    }

    #[test]
    fn a_window_bound_at_zero_keeps_nothing() {
        let window = ReplayWindow::new(ReplayLimits {
            max_events: 0,
            ..ReplayLimits::default()
        });
        assert_eq!(window.keep("k", b"1"), None);
        assert!(window.to_replay().is_empty());
    }
}
