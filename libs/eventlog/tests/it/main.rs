//! Conformance suite for `talkapp_eventlog::EventLog`: every test runs against Redis
//! (`redis::<test>`, at `TALKAPP_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`, under
//! a fresh key prefix deleted after the test) and in process (`memory::<test>`). Time is
//! a `ManualClock` the tests move. Redis-only tests (`outage`) cut the connection to
//! Redis with a proxy; in-process-only ones are in `memory_only`.

mod conformance;
mod memory_only;
mod outage;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use talkapp_eventlog::memory::MemoryEventLog;
use talkapp_eventlog::redis::{RedisEventLog, RedisOptions};
use talkapp_eventlog::{EventLog, ManualClock, Retention};

/// The Redis the tests use.
pub(crate) fn redis_url() -> String {
    std::env::var("TALKAPP_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// Retention for a test: `max_events` per account, an hour old at most.
pub(crate) fn retention(max_events: usize) -> Retention {
    Retention {
        max_events_per_account: max_events,
        // Also the real TTL of the test's Redis keys: what a failed test leaves behind
        // (its clean-up does not run) is gone within the hour.
        max_age: Duration::from_secs(60 * 60),
    }
}

/// The logs of one test: one backend, one key prefix, one clock.
pub(crate) struct TestLogs {
    backend: &'static str,
    prefix: String,
    /// Drives retention; starts at the real time.
    pub(crate) clock: Arc<ManualClock>,
    memory: Mutex<Option<MemoryEventLog>>,
}

impl TestLogs {
    pub(crate) fn new(backend: &'static str) -> Self {
        Self {
            backend,
            prefix: format!("talkapp-test-{}", uuid::Uuid::new_v4().simple()),
            clock: Arc::new(ManualClock::new(SystemTime::now())),
            memory: Mutex::new(None),
        }
    }

    /// A handle on the logs, as one process has: for Redis a new `RedisEventLog` (with
    /// its own connections); in process, a clone of the one log of the test.
    pub(crate) fn open(&self, retention: Retention) -> Arc<dyn EventLog> {
        match self.backend {
            "redis" => Arc::new(self.redis(&redis_url(), retention)),
            _ => {
                let mut memory = self.memory.lock().expect("lock");
                let log = memory.get_or_insert_with(|| {
                    MemoryEventLog::new(retention).with_clock(self.clock.clone())
                });
                Arc::new(log.clone())
            }
        }
    }

    /// A Redis log of this test reaching Redis at `url`.
    pub(crate) fn redis(&self, url: &str, retention: Retention) -> RedisEventLog {
        RedisEventLog::new(RedisOptions {
            url: url.to_owned(),
            prefix: self.prefix.clone(),
            retention,
        })
        .expect("a valid redis url")
        .with_clock(self.clock.clone())
    }

    /// Deletes the test's keys.
    pub(crate) async fn clean_up(&self) {
        if self.backend != "redis" {
            return;
        }
        let client = ::redis::Client::open(redis_url()).expect("redis url");
        let mut connection = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect to redis");
        let keys: Vec<String> = ::redis::cmd("KEYS")
            .arg(format!("{}:*", self.prefix))
            .query_async(&mut connection)
            .await
            .expect("list the test's keys");
        if !keys.is_empty() {
            let _: () = ::redis::cmd("DEL")
                .arg(keys)
                .query_async(&mut connection)
                .await
                .expect("delete the test's keys");
        }
    }
}

macro_rules! conformance_tests {
    ($($test:ident),* $(,)?) => {
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let logs = crate::TestLogs::new("redis");
                    crate::conformance::$test(&logs).await;
                    logs.clean_up().await;
                }
            )*
        }
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let logs = crate::TestLogs::new("memory");
                    crate::conformance::$test(&logs).await;
                }
            )*
        }
    };
}

conformance_tests![
    appended_events_are_read_back_in_order_after_the_cursor,
    a_cursor_below_the_first_event_is_too_old,
    appending_an_id_already_logged_or_an_older_one_does_nothing,
    ids_span_the_whole_i64_range_but_its_minimum,
    reading_page_by_page_from_the_last_id_read_returns_every_event_once,
    a_cursor_before_events_trimmed_for_count_is_too_old,
    a_cursor_past_the_trimmed_events_is_complete_even_below_the_oldest_retained,
    a_cursor_before_events_trimmed_for_age_is_too_old,
    reading_from_the_start_is_complete_until_something_is_trimmed,
    a_session_idle_longer_than_max_age_is_forgotten_and_starts_afresh,
    a_session_without_events_has_no_history,
    sessions_are_isolated_from_each_other,
    a_watch_wakes_when_another_handle_appends,
    a_missed_wake_up_is_covered_by_reading_from_the_cursor,
    concurrent_appends_from_two_handles_end_up_strictly_ordered,
    two_handles_appending_the_same_events_log_each_exactly_once,
    an_event_whose_repeat_key_was_logged_is_a_repeat_while_the_key_is_kept,
    an_append_answers_the_event_it_follows_in_the_log,
];
